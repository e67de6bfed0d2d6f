//! What the central system does with each OCPP 2.0.1 message: the same network, sessions
//! and prices as 1.6, with 2.0.1's shapes — EVSEs (one connector each, numbered as the
//! station's connectors), TransactionEvent for a session's start, updates and end, and
//! the station's own transaction ids.

use crate::central::{Central, Session, now_text, storage_failure};
use crate::ocpp::{self, CallError, ConnectorStatus, ErrorCode};
use crate::ocpp201::{self as v201, EventType};
use crate::store;
use crate::swap::{self, Battery, SwapEvent, SwapRefusal};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub(crate) async fn handle_call(
    central: &Central,
    station_id: &str,
    session: &mut Session,
    id: &str,
    action: &str,
    payload: &Value,
) -> Result<Value, CallError> {
    let internal = |error: store::ServiceError| storage_failure(id, station_id, &error);
    let db = &central.db;
    let known_evse = |evse: u32| {
        if session.connectors.contains(&evse) {
            Ok(())
        } else {
            Err(CallError::new(
                id,
                ErrorCode::PropertyConstraintViolation,
                format!("evseId {evse} is not registered for this station"),
            ))
        }
    };
    match action {
        "BootNotification" => {
            let boot: v201::BootNotification = ocpp::decode(id, payload)?;
            store::boot(
                db,
                station_id,
                &boot.charging_station.vendor_name,
                &boot.charging_station.model,
            )
            .await
            .map_err(internal)?;
            session.booted = true;
            Ok(json!({"currentTime": now_text(), "interval": 300, "status": "Accepted"}))
        }
        "Heartbeat" => {
            central.seen(station_id).await.map_err(internal)?;
            Ok(json!({"currentTime": now_text()}))
        }
        "StatusNotification" if session.swap_slots.is_some() => {
            // A slot's status: the packs in it say more, and swap events move them.
            let status: v201::StatusNotification = ocpp::decode(id, payload)?;
            let slots = session.swap_slots.unwrap_or_default();
            if !(1..=slots).contains(&status.evse_id) {
                return Err(CallError::new(
                    id,
                    ErrorCode::PropertyConstraintViolation,
                    format!("evseId {}: the station's slots are 1–{slots}", status.evse_id),
                ));
            }
            central.seen(station_id).await.map_err(internal)?;
            Ok(json!({}))
        }
        "StatusNotification" => {
            let status: v201::StatusNotification = ocpp::decode(id, payload)?;
            known_evse(status.evse_id)?;
            let as_16 = match status.connector_status {
                v201::ConnectorStatus::Available => ConnectorStatus::Available,
                v201::ConnectorStatus::Occupied => ConnectorStatus::Charging,
                v201::ConnectorStatus::Reserved => ConnectorStatus::Reserved,
                v201::ConnectorStatus::Unavailable => ConnectorStatus::Unavailable,
                v201::ConnectorStatus::Faulted => ConnectorStatus::Faulted,
            };
            store::set_status(db, station_id, status.evse_id, as_16)
                .await
                .map_err(internal)?;
            central.index_status(station_id, Some(status.evse_id), as_16.as_str());
            central.seen(station_id).await.map_err(internal)?;
            Ok(json!({}))
        }
        "Authorize" => {
            let authorize: v201::Authorize = ocpp::decode(id, payload)?;
            let status = store::token_status(db, station_id, &authorize.id_token.id_token)
                .await
                .map_err(internal)?;
            Ok(json!({"idTokenInfo": {"status": status}}))
        }
        "TransactionEvent" => transaction_event(central, station_id, session, id, payload)
            .await
            .map_err(|e| match e {
                Failure::Refused(error) => error,
                Failure::Store(error) => internal(error),
            }),
        "MeterValues" if session.swap_slots.is_some() => {
            // A swap station's EVSEs are its slots: a state of charge is its pack's.
            let values: v201::MeterValues = ocpp::decode(id, payload)?;
            if let Some(soc) = values.meter_value.iter().filter_map(v201::MeterValue::soc).next_back()
                && swap::slot_soc(db, station_id, values.evse_id, soc)
                    .await
                    .map_err(internal)?
            {
                central.index_pack(station_id, values.evse_id, Some(soc));
            }
            Ok(json!({}))
        }
        "MeterValues" => {
            let values: v201::MeterValues = ocpp::decode(id, payload)?;
            known_evse(values.evse_id)?;
            Ok(json!({}))
        }
        "BatterySwap" => battery_swap(central, station_id, id, payload).await,
        other => Err(CallError::new(
            id,
            ErrorCode::NotImplemented,
            format!("action '{other}' is not implemented"),
        )),
    }
}

enum Failure {
    Refused(CallError),
    Store(store::ServiceError),
}

impl From<CallError> for Failure {
    fn from(error: CallError) -> Self {
        Failure::Refused(error)
    }
}

impl From<store::ServiceError> for Failure {
    fn from(error: store::ServiceError) -> Self {
        Failure::Store(error)
    }
}

async fn transaction_event(
    central: &Central,
    station_id: &str,
    session: &mut Session,
    id: &str,
    payload: &Value,
) -> Result<Value, Failure> {
    let db = &central.db;
    let event: v201::TransactionEvent = ocpp::decode(id, payload)?;
    let tx_id = event.transaction_info.transaction_id.as_str();
    let reading = event
        .meter_value
        .iter()
        .flatten()
        .filter_map(v201::MeterValue::energy_wh)
        .max();
    let existing = store::session_by_ocpp_tx(db, station_id, tx_id).await?;
    let token = match &event.id_token {
        Some(token) => Some(store::token_status(db, station_id, &token.id_token).await?),
        None => None,
    };
    let token_info = |reply: Value| match &token {
        Some(status) => {
            let mut reply = reply;
            reply["idTokenInfo"] = json!({"status": status});
            reply
        }
        None => reply,
    };
    match (event.event_type, existing) {
        (EventType::Started, Some(_)) => Ok(token_info(json!({}))),
        (EventType::Started, None) | (EventType::Updated, None) => {
            let evse = event.evse.as_ref().map(|e| e.id).ok_or_else(|| {
                CallError::new(
                    id,
                    ErrorCode::OccurenceConstraintViolation,
                    "a transaction's first event names its evse",
                )
            })?;
            if !session.connectors.contains(&evse) {
                return Err(CallError::new(
                    id,
                    ErrorCode::PropertyConstraintViolation,
                    format!("evseId {evse} is not registered for this station"),
                )
                .into());
            }
            let id_tag = event.id_token.as_ref().map_or("", |t| t.id_token.as_str());
            store::start_session(db, station_id, evse, id_tag, reading.unwrap_or(0), Some(tx_id)).await?;
            Ok(token_info(json!({})))
        }
        (EventType::Updated, Some((session_id, connector, _, true))) => {
            if let Some(wh) = reading
                && session
                    .meter_written
                    .get(&session_id)
                    .is_none_or(|at| at.elapsed() >= Duration::from_secs(60))
            {
                store::meter(db, station_id, session_id, wh).await?;
                session.meter_written.insert(session_id, Instant::now());
            }
            if let Some(state) = event.transaction_info.charging_state.as_deref() {
                let status = match state {
                    "Charging" => Some(ConnectorStatus::Charging),
                    "SuspendedEV" | "EVConnected" | "Idle" => Some(ConnectorStatus::SuspendedEV),
                    "SuspendedEVSE" => Some(ConnectorStatus::SuspendedEVSE),
                    _ => None,
                };
                if let Some(status) = status {
                    store::set_status(db, station_id, connector, status).await?;
                    central.index_status(station_id, Some(connector), status.as_str());
                }
            }
            Ok(token_info(json!({})))
        }
        (EventType::Updated, Some(_)) => Ok(json!({})),
        (EventType::Ended, Some((session_id, _, meter_last, true))) => {
            let reason = event
                .transaction_info
                .stopped_reason
                .clone()
                .unwrap_or_else(|| "Local".into());
            let cdr = store::stop_session(db, station_id, session_id, reading.unwrap_or(meter_last), &reason).await?;
            session.meter_written.remove(&session_id);
            let total = cdr.map(|c| c.charge.total_fen).unwrap_or_default();
            // totalCost is in the tariff's currency: yuan.
            Ok(token_info(json!({"totalCost": total as f64 / 100.0})))
        }
        (EventType::Ended, _) => Err(CallError::new(
            id,
            ErrorCode::PropertyConstraintViolation,
            format!("transactionId {tx_id} is not an active transaction of this station"),
        )
        .into()),
    }
}

/// OCPP 2.1 BatterySwap: packs in or out of slots, the swap recorded and priced.
async fn battery_swap(central: &Central, station_id: &str, id: &str, payload: &Value) -> Result<Value, CallError> {
    let message: v201::BatterySwap = ocpp::decode(id, payload)?;
    let refused = |why: String| CallError::new(id, ErrorCode::PropertyConstraintViolation, why);
    let event = SwapEvent::parse(&message.event_type)
        .ok_or_else(|| refused(format!("eventType {} is not a swap event", message.event_type)))?;
    let batteries: Vec<Battery> = message
        .battery_data
        .iter()
        .map(|b| Battery {
            slot: b.evse_id,
            serial: b.serial_number.clone(),
            soc: b.soc,
            soh: b.soh,
        })
        .collect();
    let swap = swap::record_event(
        &central.db,
        station_id,
        message.request_id,
        &message.id_token.id_token,
        event,
        &batteries,
    )
    .await
    .map_err(|refusal| match refusal {
        SwapRefusal::NotASwapStation => refused("this station is not registered as a battery-swap station".into()),
        SwapRefusal::NoSuchSlot(slot, slots) => {
            refused(format!("batteryData.evseId {slot}: the station's slots are 1–{slots}"))
        }
        SwapRefusal::UnknownRequest(request) => {
            refused(format!("requestId {request}: no BatteryIn was reported for it"))
        }
        SwapRefusal::Store(error) => storage_failure(id, station_id, &error),
    })?;
    for b in &batteries {
        let soc = (event == SwapEvent::BatteryIn).then_some(b.soc);
        if event != SwapEvent::BatteryOutTimeout {
            central.index_pack(station_id, b.slot, soc);
        }
    }
    tracing::info!(station = %station_id, swap = swap.id, status = %swap.status, fee_fen = swap.fee_fen, "battery swap");
    Ok(json!({}))
}

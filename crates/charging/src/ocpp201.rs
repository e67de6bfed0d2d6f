//! OCPP 2.0.1 and 2.1 messages the central system receives from a charging station, the
//! subset it handles, as typed readers of payloads that already passed their version's
//! official schema (which refuses unknown fields and values): so these types ignore the
//! fields they do not use, and 2.1's additions read through the same types.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootNotification {
    pub charging_station: ChargingStation,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargingStation {
    pub model: String,
    pub vendor_name: String,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub enum ConnectorStatus {
    Available,
    Occupied,
    Reserved,
    Unavailable,
    Faulted,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusNotification {
    pub connector_status: ConnectorStatus,
    pub evse_id: u32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdToken {
    pub id_token: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorize {
    pub id_token: IdToken,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum EventType {
    Started,
    Updated,
    Ended,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionEvent {
    pub event_type: EventType,
    pub transaction_info: TransactionInfo,
    pub evse: Option<Evse>,
    pub id_token: Option<IdToken>,
    pub meter_value: Option<Vec<MeterValue>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionInfo {
    pub transaction_id: String,
    pub charging_state: Option<String>,
    pub stopped_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evse {
    pub id: u32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeterValues {
    pub evse_id: u32,
    pub meter_value: Vec<MeterValue>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeterValue {
    pub sampled_value: Vec<SampledValue>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SampledValue {
    pub value: f64,
    pub measurand: Option<String>,
    pub unit_of_measure: Option<UnitOfMeasure>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnitOfMeasure {
    pub unit: Option<String>,
    pub multiplier: Option<i32>,
}

/// OCPP 2.1: a pack went into or out of a slot of a swap station.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatterySwap {
    pub event_type: String,
    pub request_id: i64,
    pub id_token: IdToken,
    pub battery_data: Vec<BatteryData>,
}

#[derive(Debug, Deserialize)]
pub struct BatteryData {
    /// The slot.
    #[serde(rename = "evseId")]
    pub evse_id: u32,
    #[serde(rename = "serialNumber")]
    pub serial_number: String,
    #[serde(rename = "soC")]
    pub soc: f64,
    #[serde(rename = "soH")]
    pub soh: f64,
}

impl MeterValue {
    /// A state-of-charge reading (%), if this value carries one.
    pub fn soc(&self) -> Option<f64> {
        self.sampled_value
            .iter()
            .find(|s| s.measurand.as_deref() == Some("SoC") && s.value.is_finite())
            .map(|s| s.value.clamp(0.0, 100.0))
    }

    /// The imported energy register in Wh, if this value carries it.
    pub fn energy_wh(&self) -> Option<i64> {
        self.sampled_value.iter().find_map(|s| {
            let unit = s.unit_of_measure.as_ref();
            let scale = 10f64.powi(unit.and_then(|u| u.multiplier).unwrap_or(0).clamp(-3, 6));
            crate::ocpp::energy_reading_wh(
                s.measurand.as_deref(),
                s.value * scale,
                unit.and_then(|u| u.unit.as_deref()),
            )
        })
    }
}

/// Actions a CSMS may send in OCPP 2.0.1 (remote commands of this central system).
pub const REMOTE_ACTIONS: &[&str] = &[
    "RequestStartTransaction",
    "RequestStopTransaction",
    "Reset",
    "UnlockConnector",
    "ChangeAvailability",
    "GetVariables",
    "SetVariables",
];

/// OCPP 2.1 adds the battery-swap request to the same commands.
pub const REMOTE_ACTIONS_V21: &[&str] = &[
    "RequestStartTransaction",
    "RequestStopTransaction",
    "Reset",
    "UnlockConnector",
    "ChangeAvailability",
    "GetVariables",
    "SetVariables",
    "RequestBatterySwap",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocpp::{ErrorCode, decode};
    use serde_json::json;

    #[test]
    fn transaction_events_read_and_energy_is_in_wh() {
        let event: TransactionEvent = decode("1", &json!({
            "eventType": "Updated", "timestamp": "2026-11-28T10:05:00Z", "triggerReason": "MeterValuePeriodic", "seqNo": 2,
            "transactionInfo": {"transactionId": "tx-1", "chargingState": "Charging"},
            "meterValue": [{"timestamp": "2026-11-28T10:05:00Z", "sampledValue": [{"value": 1.5, "unitOfMeasure": {"unit": "kWh"}}]}]
        })).unwrap();
        assert_eq!(event.event_type, EventType::Updated);
        assert_eq!(event.meter_value.unwrap()[0].energy_wh(), Some(1500));
        let wrong = decode::<TransactionEvent>("1", &json!({"eventType": "Paused", "timestamp": "t", "triggerReason": "x", "seqNo": 1, "transactionInfo": {"transactionId": "a"}})).unwrap_err();
        assert_eq!(wrong.code, ErrorCode::TypeConstraintViolation);
    }
}

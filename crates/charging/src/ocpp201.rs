//! OCPP 2.0.1 messages the central system receives from a charging station, the subset
//! this central system handles (the list). Pure; every object also accepts the
//! schemas' optional `customData`.

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BootNotification {
    pub charging_station: ChargingStation,
    pub reason: BootReason,
    pub custom_data: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChargingStation {
    pub model: String,
    pub vendor_name: String,
    pub serial_number: Option<String>,
    pub firmware_version: Option<String>,
    pub modem: Option<Value>,
    pub custom_data: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub enum BootReason {
    ApplicationReset,
    FirmwareUpdate,
    LocalReset,
    PowerUp,
    RemoteReset,
    ScheduledReset,
    Triggered,
    Unknown,
    Watchdog,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Heartbeat {
    pub custom_data: Option<Value>,
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
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusNotification {
    pub timestamp: String,
    pub connector_status: ConnectorStatus,
    pub evse_id: u32,
    pub connector_id: u32,
    pub custom_data: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdToken {
    pub id_token: String,
    #[serde(rename = "type")]
    pub kind: IdTokenType,
    pub additional_info: Option<Vec<Value>>,
    pub custom_data: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub enum IdTokenType {
    Central,
    #[serde(rename = "eMAID")]
    EMaid,
    ISO14443,
    ISO15693,
    KeyCode,
    Local,
    MacAddress,
    NoAuthorization,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Authorize {
    pub id_token: IdToken,
    pub certificate: Option<String>,
    pub iso15118_certificate_hash_data: Option<Vec<Value>>,
    pub custom_data: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum EventType {
    Started,
    Updated,
    Ended,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransactionEvent {
    pub event_type: EventType,
    pub timestamp: String,
    pub trigger_reason: String,
    pub seq_no: u32,
    pub transaction_info: TransactionInfo,
    pub offline: Option<bool>,
    pub number_of_phases_used: Option<u32>,
    pub cable_max_current: Option<i64>,
    pub reservation_id: Option<i64>,
    pub evse: Option<Evse>,
    pub id_token: Option<IdToken>,
    pub meter_value: Option<Vec<MeterValue>>,
    pub custom_data: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransactionInfo {
    pub transaction_id: String,
    pub charging_state: Option<String>,
    pub time_spent_charging: Option<i64>,
    pub stopped_reason: Option<String>,
    pub remote_start_id: Option<i64>,
    pub custom_data: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Evse {
    pub id: u32,
    pub connector_id: Option<u32>,
    pub custom_data: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeterValues {
    pub evse_id: u32,
    pub meter_value: Vec<MeterValue>,
    pub custom_data: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeterValue {
    pub timestamp: String,
    pub sampled_value: Vec<SampledValue>,
    pub custom_data: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SampledValue {
    pub value: f64,
    pub context: Option<String>,
    pub measurand: Option<String>,
    pub phase: Option<String>,
    pub location: Option<String>,
    pub signed_meter_value: Option<Value>,
    pub unit_of_measure: Option<UnitOfMeasure>,
    pub custom_data: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnitOfMeasure {
    pub unit: Option<String>,
    pub multiplier: Option<i32>,
    pub custom_data: Option<Value>,
}

impl MeterValue {
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

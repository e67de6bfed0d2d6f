//! OCPP-J 1.6 framing and the core profile's messages: pure, no I/O. Every malformed
//! input becomes a CALLERROR with the right code; nothing here panics on input.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The largest frame accepted; larger ones get a CALLERROR, the connection stays.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// OCPP 1.6 CALLERROR codes (the spelling of `OccurenceConstraintViolation` is the spec's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    NotImplemented,
    NotSupported,
    InternalError,
    ProtocolError,
    SecurityError,
    FormationViolation,
    PropertyConstraintViolation,
    OccurenceConstraintViolation,
    TypeConstraintViolation,
    GenericError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotImplemented => "NotImplemented",
            ErrorCode::NotSupported => "NotSupported",
            ErrorCode::InternalError => "InternalError",
            ErrorCode::ProtocolError => "ProtocolError",
            ErrorCode::SecurityError => "SecurityError",
            ErrorCode::FormationViolation => "FormationViolation",
            ErrorCode::PropertyConstraintViolation => "PropertyConstraintViolation",
            ErrorCode::OccurenceConstraintViolation => "OccurenceConstraintViolation",
            ErrorCode::TypeConstraintViolation => "TypeConstraintViolation",
            ErrorCode::GenericError => "GenericError",
        }
    }
}

/// A refusal to send back as CALLERROR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    /// The message id it answers ("-1" when the frame had none).
    pub id: String,
    pub code: ErrorCode,
    pub description: String,
}

impl CallError {
    pub fn new(id: &str, code: ErrorCode, description: impl Into<String>) -> Self {
        CallError {
            id: id.to_string(),
            code,
            description: description.into(),
        }
    }

    pub fn frame(&self) -> String {
        json!([4, self.id, self.code.as_str(), self.description, {}]).to_string()
    }

    /// The same refusal in OCPP 2.0.1's words (it renamed two codes and added one).
    pub fn frame_v201(&self) -> String {
        let code = match self.code {
            ErrorCode::FormationViolation => "FormatViolation",
            ErrorCode::OccurenceConstraintViolation => "OccurrenceConstraintViolation",
            ErrorCode::ProtocolError if self.description.contains("message type") => "MessageTypeNotSupported",
            other => other.as_str(),
        };
        json!([4, self.id, code, self.description, {}]).to_string()
    }
}

/// One OCPP-J message.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Call {
        id: String,
        action: String,
        payload: Value,
    },
    Result {
        id: String,
        payload: Value,
    },
    Error {
        id: String,
        code: String,
        description: String,
    },
}

pub fn call(id: &str, action: &str, payload: &Value) -> String {
    json!([2, id, action, payload]).to_string()
}

pub fn result(id: &str, payload: &Value) -> String {
    json!([3, id, payload]).to_string()
}

/// Reads a frame: `[2, id, action, {..}]`, `[3, id, {..}]` or `[4, id, code, description, {..}]`.
pub fn parse(text: &str) -> Result<Frame, CallError> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(CallError::new(
            "-1",
            ErrorCode::FormationViolation,
            format!("frame larger than {MAX_FRAME_BYTES} bytes"),
        ));
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| CallError::new("-1", ErrorCode::FormationViolation, format!("not JSON: {e}")))?;
    let Some(items) = value.as_array() else {
        return Err(CallError::new(
            "-1",
            ErrorCode::FormationViolation,
            "a frame is a JSON array",
        ));
    };
    let id = match items.get(1).and_then(Value::as_str) {
        Some(id) if !id.is_empty() && id.len() <= 36 => id.to_string(),
        Some(_) => {
            return Err(CallError::new(
                "-1",
                ErrorCode::FormationViolation,
                "the message id is 1–36 characters",
            ));
        }
        None => {
            return Err(CallError::new(
                "-1",
                ErrorCode::FormationViolation,
                "the second element must be the message id (a string)",
            ));
        }
    };
    let bad = |why: &str| CallError::new(&id, ErrorCode::FormationViolation, why);
    match items.first().and_then(Value::as_u64) {
        Some(2) => {
            let [_, _, action, payload] = &items[..] else {
                return Err(bad("a CALL has 4 elements"));
            };
            let action = action.as_str().ok_or_else(|| bad("the action must be a string"))?;
            if !payload.is_object() {
                return Err(bad("the payload must be a JSON object"));
            }
            Ok(Frame::Call {
                id,
                action: action.to_string(),
                payload: payload.clone(),
            })
        }
        Some(3) => {
            let [_, _, payload] = &items[..] else {
                return Err(bad("a CALLRESULT has 3 elements"));
            };
            Ok(Frame::Result {
                id,
                payload: payload.clone(),
            })
        }
        Some(4) => {
            let [_, _, code, description, _details] = &items[..] else {
                return Err(bad("a CALLERROR has 5 elements"));
            };
            Ok(Frame::Error {
                id,
                code: code.as_str().unwrap_or_default().to_string(),
                description: description.as_str().unwrap_or_default().to_string(),
            })
        }
        _ => Err(CallError::new(
            &id,
            ErrorCode::ProtocolError,
            "the message type must be 2, 3 or 4",
        )),
    }
}

/// Reads a payload into its type; the error code says which rule it broke.
pub fn decode<T: DeserializeOwned>(id: &str, payload: &Value) -> Result<T, CallError> {
    serde_json::from_value(payload.clone()).map_err(|e| {
        let text = e.to_string();
        let code = if text.starts_with("missing field") {
            ErrorCode::OccurenceConstraintViolation
        } else if text.starts_with("unknown field") {
            ErrorCode::FormationViolation
        } else if text.starts_with("invalid type")
            || text.starts_with("invalid value")
            || text.starts_with("unknown variant")
        {
            ErrorCode::TypeConstraintViolation
        } else {
            ErrorCode::FormationViolation
        };
        CallError::new(id, code, text)
    })
}

// ---------------------------------------------------------------------------------------
// OCPP 1.6 core: what a charge point sends

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BootNotification {
    pub charge_point_vendor: String,
    pub charge_point_model: String,
    pub charge_point_serial_number: Option<String>,
    pub charge_box_serial_number: Option<String>,
    pub firmware_version: Option<String>,
    pub iccid: Option<String>,
    pub imsi: Option<String>,
    pub meter_type: Option<String>,
    pub meter_serial_number: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema)]
pub enum ConnectorStatus {
    Available,
    Preparing,
    Charging,
    SuspendedEVSE,
    SuspendedEV,
    Finishing,
    Reserved,
    Unavailable,
    Faulted,
}

impl ConnectorStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorStatus::Available => "Available",
            ConnectorStatus::Preparing => "Preparing",
            ConnectorStatus::Charging => "Charging",
            ConnectorStatus::SuspendedEVSE => "SuspendedEVSE",
            ConnectorStatus::SuspendedEV => "SuspendedEV",
            ConnectorStatus::Finishing => "Finishing",
            ConnectorStatus::Reserved => "Reserved",
            ConnectorStatus::Unavailable => "Unavailable",
            ConnectorStatus::Faulted => "Faulted",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_value(Value::String(text.to_string())).ok()
    }

    /// An EV occupies the connector without drawing power: idle time may be charged.
    pub fn is_idle(self) -> bool {
        matches!(self, ConnectorStatus::SuspendedEV | ConnectorStatus::Finishing)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusNotification {
    pub connector_id: u32,
    pub error_code: ChargePointErrorCode,
    pub status: ConnectorStatus,
    pub info: Option<String>,
    pub timestamp: Option<String>,
    pub vendor_id: Option<String>,
    pub vendor_error_code: Option<String>,
}

#[derive(Debug, Deserialize)]
pub enum ChargePointErrorCode {
    ConnectorLockFailure,
    EVCommunicationError,
    GroundFailure,
    HighTemperature,
    InternalError,
    LocalListConflict,
    NoError,
    OtherError,
    OverCurrentFailure,
    PowerMeterFailure,
    PowerSwitchFailure,
    ReaderFailure,
    ResetFailure,
    UnderVoltage,
    OverVoltage,
    WeakSignal,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Authorize {
    pub id_tag: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartTransaction {
    pub connector_id: u32,
    pub id_tag: String,
    pub meter_start: i64,
    pub reservation_id: Option<i64>,
    pub timestamp: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StopTransaction {
    pub id_tag: Option<String>,
    pub meter_stop: i64,
    pub timestamp: String,
    pub transaction_id: i64,
    pub reason: Option<StopReason>,
    pub transaction_data: Option<Vec<MeterValue>>,
}

#[derive(Debug, Deserialize)]
pub enum StopReason {
    EmergencyStop,
    EVDisconnected,
    HardReset,
    Local,
    Other,
    PowerLoss,
    Reboot,
    Remote,
    SoftReset,
    UnlockCommand,
    DeAuthorized,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeterValues {
    pub connector_id: u32,
    pub transaction_id: Option<i64>,
    pub meter_value: Vec<MeterValue>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeterValue {
    pub timestamp: String,
    pub sampled_value: Vec<SampledValue>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SampledValue {
    pub value: String,
    pub context: Option<String>,
    pub format: Option<String>,
    pub measurand: Option<String>,
    pub phase: Option<String>,
    pub location: Option<String>,
    pub unit: Option<String>,
}

impl MeterValue {
    /// The energy register reading in Wh, if the value carries one.
    pub fn energy_wh(&self) -> Option<i64> {
        self.sampled_value.iter().find_map(|s| {
            if s.format.as_deref() == Some("SignedData") {
                return None;
            }
            energy_reading_wh(s.measurand.as_deref(), s.value.trim().parse().ok()?, s.unit.as_deref())
        })
    }
}

/// A sampled value as Wh when it is the imported energy register (the default
/// measurand in both OCPP versions); kWh readings are converted, anything else is not
/// an energy reading.
pub fn energy_reading_wh(measurand: Option<&str>, value: f64, unit: Option<&str>) -> Option<i64> {
    if measurand.is_some_and(|m| m != "Energy.Active.Import.Register") || !value.is_finite() || value < 0.0 {
        return None;
    }
    let wh = match unit {
        None | Some("Wh") => value,
        Some("kWh") => value * 1000.0,
        Some(_) => return None,
    };
    (wh < 9.0e15).then_some(wh.round() as i64)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataTransfer {
    pub vendor_id: String,
    pub message_id: Option<String>,
    pub data: Option<String>,
}

/// Actions a central system may send in OCPP 1.6 core (remote commands).
pub const REMOTE_ACTIONS: &[&str] = &[
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "Reset",
    "UnlockConnector",
    "ChangeAvailability",
    "ChangeConfiguration",
    "GetConfiguration",
    "ClearCache",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_or_name_the_rule() {
        assert_eq!(
            parse(r#"[2,"1","Heartbeat",{}]"#).unwrap(),
            Frame::Call {
                id: "1".into(),
                action: "Heartbeat".into(),
                payload: json!({})
            }
        );
        assert!(matches!(
            parse(r#"[3,"9",{"status":"Accepted"}]"#).unwrap(),
            Frame::Result { .. }
        ));
        let cases = [
            ("not json", ErrorCode::FormationViolation, "-1"),
            ("{}", ErrorCode::FormationViolation, "-1"),
            (r#"[2]"#, ErrorCode::FormationViolation, "-1"),
            (r#"[2,"7","Heartbeat"]"#, ErrorCode::FormationViolation, "7"),
            (r#"[2,"7","Heartbeat",[]]"#, ErrorCode::FormationViolation, "7"),
            (r#"[9,"7","Heartbeat",{}]"#, ErrorCode::ProtocolError, "7"),
            (r#"[2,7,"Heartbeat",{}]"#, ErrorCode::FormationViolation, "-1"),
        ];
        for (text, code, id) in cases {
            let error = parse(text).unwrap_err();
            assert_eq!((error.code, error.id.as_str()), (code, id), "{text}");
            assert!(error.frame().starts_with("[4,"));
        }
        assert_eq!(
            parse(&"x".repeat(MAX_FRAME_BYTES + 1)).unwrap_err().code,
            ErrorCode::FormationViolation
        );
    }

    #[test]
    fn payload_errors_get_the_right_code() {
        let missing = decode::<StartTransaction>("1", &json!({"connectorId": 1, "idTag": "A"})).unwrap_err();
        assert_eq!(missing.code, ErrorCode::OccurenceConstraintViolation);
        let wrong_type = decode::<StartTransaction>(
            "1",
            &json!({"connectorId": "one", "idTag": "A", "meterStart": 0, "timestamp": "t"}),
        )
        .unwrap_err();
        assert_eq!(wrong_type.code, ErrorCode::TypeConstraintViolation);
        let extra = decode::<Heartbeat>("1", &json!({"x": 1})).unwrap_err();
        assert_eq!(extra.code, ErrorCode::FormationViolation);
        let status = decode::<StatusNotification>(
            "1",
            &json!({"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"}),
        )
        .unwrap_err();
        assert_eq!(status.code, ErrorCode::TypeConstraintViolation);
    }

    #[test]
    fn energy_readings_in_wh() {
        let value = |v: &str, unit: Option<&str>, measurand: Option<&str>| MeterValue {
            timestamp: "t".into(),
            sampled_value: vec![SampledValue {
                value: v.into(),
                context: None,
                format: None,
                measurand: measurand.map(str::to_string),
                phase: None,
                location: None,
                unit: unit.map(str::to_string),
            }],
        };
        assert_eq!(value("1500", None, None).energy_wh(), Some(1500));
        assert_eq!(value("1.5", Some("kWh"), None).energy_wh(), Some(1500));
        assert_eq!(value("7.2", Some("kW"), Some("Power.Active.Import")).energy_wh(), None);
        assert_eq!(value("-3", None, None).energy_wh(), None);
        assert_eq!(value("NaN", None, None).energy_wh(), None);
    }
}

//! The OCPP versions this central system speaks and, for each, the official JSON
//! schemas of the messages it sends and receives (vendored unchanged from the PyPI
//! package `ocpp` by `scripts/ocpp_schemas.sh`, embedded in the binary, compiled once).
//! Pure: no I/O.

use crate::ocpp::{CallError, ErrorCode};
use crate::schema::{Rule, Schema, Violation};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The OCPP version a station speaks, by the subprotocol it chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V16,
    V201,
    V21,
}

impl Version {
    /// Newest first: the handshake picks the first one the station offers.
    pub const ALL: [Version; 3] = [Version::V21, Version::V201, Version::V16];

    pub fn subprotocol(self) -> &'static str {
        match self {
            Version::V16 => "ocpp1.6",
            Version::V201 => "ocpp2.0.1",
            Version::V21 => "ocpp2.1",
        }
    }

    pub fn from_subprotocol(name: &str) -> Option<Version> {
        Version::ALL.into_iter().find(|v| v.subprotocol() == name)
    }

    /// The commands this version lets a central system send.
    pub fn remote_actions(self) -> &'static [&'static str] {
        match self {
            Version::V16 => crate::ocpp::REMOTE_ACTIONS,
            Version::V201 => crate::ocpp201::REMOTE_ACTIONS,
            Version::V21 => crate::ocpp201::REMOTE_ACTIONS_V21,
        }
    }

    /// A refusal in this version's words: 2.0.1 renamed two codes and added one.
    pub fn refusal(self, error: &CallError) -> String {
        match self {
            Version::V16 => error.frame(),
            Version::V201 | Version::V21 => error.frame_v201(),
        }
    }

    /// The schema of a request with this action, if the version defines it here.
    pub fn request_schema(self, action: &str) -> Option<&'static Schema> {
        catalogue().get(&self)?.get(action).map(|(request, _)| request)
    }

    /// The schema of the answer to a request with this action.
    pub fn response_schema(self, action: &str) -> Option<&'static Schema> {
        catalogue().get(&self)?.get(action).map(|(_, response)| response)
    }

    /// Checks a request this central system received, as its CALLERROR if it breaks
    /// the schema; an action without a schema here is `NotImplemented`.
    pub fn check_request(self, id: &str, action: &str, payload: &Value) -> Result<(), CallError> {
        let schema = self.request_schema(action).ok_or_else(|| {
            CallError::new(
                id,
                ErrorCode::NotImplemented,
                format!("action '{action}' is not implemented"),
            )
        })?;
        schema.validate(payload).map_err(|v| refusal(id, &v))
    }
}

/// The CALLERROR for a schema violation, by the OCPP-J definitions of the codes: a
/// missing field or a wrong number of items breaks an occurrence constraint; a wrong
/// JSON type, a value outside its enumeration, a string longer than its CiString type
/// or a malformed date breaks the data type; a number out of range breaks a property
/// constraint; an unknown field breaks the message's formation.
pub fn refusal(id: &str, violation: &Violation) -> CallError {
    let code = match violation.rule {
        Rule::Required | Rule::MinItems | Rule::MaxItems => ErrorCode::OccurenceConstraintViolation,
        Rule::Type | Rule::Enum | Rule::MaxLength | Rule::Format => ErrorCode::TypeConstraintViolation,
        Rule::Minimum | Rule::Maximum | Rule::MultipleOf => ErrorCode::PropertyConstraintViolation,
        Rule::AdditionalProperties => ErrorCode::FormationViolation,
    };
    CallError::new(id, code, violation.to_string())
}

type Catalogue = HashMap<Version, HashMap<&'static str, (Schema, Schema)>>;

/// (action, request schema, response schema) texts per version.
macro_rules! schemas {
    ($dir:literal, $suffix:literal: $($action:literal),* $(,)?) => {
        &[$((
            $action,
            include_str!(concat!("../schemas/", $dir, "/", $action, $suffix, ".json")),
            include_str!(concat!("../schemas/", $dir, "/", $action, "Response.json")),
        )),*]
    };
}

type Texts = &'static [(&'static str, &'static str, &'static str)];

const V16: Texts = schemas!("v16", "":
    "Authorize", "BootNotification", "DataTransfer", "Heartbeat", "MeterValues", "StartTransaction",
    "StatusNotification", "StopTransaction", "DiagnosticsStatusNotification", "FirmwareStatusNotification",
    "RemoteStartTransaction", "RemoteStopTransaction", "Reset", "UnlockConnector", "ChangeAvailability",
    "ChangeConfiguration", "GetConfiguration", "ClearCache",
);

const V201: Texts = schemas!("v201", "Request":
    "Authorize", "BootNotification", "DataTransfer", "Heartbeat", "MeterValues", "StatusNotification",
    "TransactionEvent", "FirmwareStatusNotification", "RequestStartTransaction", "RequestStopTransaction",
    "Reset", "UnlockConnector", "ChangeAvailability", "GetVariables", "SetVariables",
);

const V21: Texts = schemas!("v21", "Request":
    "Authorize", "BootNotification", "DataTransfer", "Heartbeat", "MeterValues", "StatusNotification",
    "TransactionEvent", "FirmwareStatusNotification", "RequestStartTransaction", "RequestStopTransaction",
    "Reset", "UnlockConnector", "ChangeAvailability", "GetVariables", "SetVariables",
    "BatterySwap", "RequestBatterySwap",
);

fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        let mut catalogue = HashMap::new();
        for (version, texts) in [(Version::V16, V16), (Version::V201, V201), (Version::V21, V21)] {
            let schemas: &mut HashMap<_, _> = catalogue.entry(version).or_default();
            for (action, request, response) in texts {
                // The texts are the package's files, checked by the tests below: a
                // failure here is a broken build, not bad input.
                let compile = |text: &str| Schema::from_text(text).unwrap_or_else(|e| panic!("{action}: {e}"));
                schemas.insert(*action, (compile(request), compile(response)));
            }
        }
        catalogue
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_vendored_schema_compiles_and_each_remote_action_has_one() {
        for (texts, version) in [(V16, Version::V16), (V201, Version::V201), (V21, Version::V21)] {
            for (action, request, response) in texts {
                Schema::from_text(request).unwrap_or_else(|e| panic!("{version:?} {action}: {e}"));
                Schema::from_text(response).unwrap_or_else(|e| panic!("{version:?} {action} response: {e}"));
            }
            for action in version.remote_actions() {
                assert!(version.request_schema(action).is_some(), "{version:?} {action}");
            }
        }
    }

    #[test]
    fn the_official_schemas_give_the_codes() {
        let check = |version: Version, action: &str, payload: Value| {
            version
                .check_request("1", action, &payload)
                .map_err(|e| (e.code, e.description))
        };
        assert!(check(Version::V16, "Heartbeat", json!({})).is_ok());
        assert_eq!(
            check(
                Version::V16,
                "StartTransaction",
                json!({"connectorId": 1, "idTag": "A"})
            )
            .unwrap_err(),
            (
                ErrorCode::OccurenceConstraintViolation,
                "meterStart: is required".into()
            )
        );
        assert_eq!(
            check(Version::V16, "Authorize", json!({"idTag": "x".repeat(21)}))
                .unwrap_err()
                .0,
            ErrorCode::TypeConstraintViolation
        );
        assert_eq!(
            check(Version::V16, "Heartbeat", json!({"x": 1})).unwrap_err().0,
            ErrorCode::FormationViolation
        );
        assert_eq!(
            check(Version::V16, "Teleport", json!({})).unwrap_err().0,
            ErrorCode::NotImplemented
        );
        let swap = json!({"eventType": "BatteryIn", "requestId": 7, "idToken": {"idToken": "CARD", "type": "ISO14443"},
            "batteryData": [{"evseId": 3, "serialNumber": "PACK-1", "soC": 101, "soH": 98}]});
        assert_eq!(
            check(Version::V21, "BatterySwap", swap).unwrap_err(),
            (
                ErrorCode::PropertyConstraintViolation,
                "batteryData[0].soC: must be at most 100".into()
            )
        );
        assert_eq!(
            check(Version::V201, "BatterySwap", json!({})).unwrap_err().0,
            ErrorCode::NotImplemented
        );
    }
}

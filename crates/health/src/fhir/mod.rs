//! The FHIR R4 side: structural validation, errors as OperationOutcome, and what each
//! resource type can be searched by.

pub mod search;
pub mod validate;

use serde_json::{Value, json};
use yrd_db::DbError;

pub const FHIR_VERSION: &str = "4.0.1";
pub const CONTENT_TYPE: &str = "application/fhir+json; charset=utf-8";
/// Where a hospital sends a national ID; it is replaced by its keyed hash before storage.
pub const NATIONAL_ID_SYSTEM: &str = "urn:yrd:sid:national-id";
/// What is stored instead of the national ID: HMAC-SHA256 under the platform's key.
pub const NATIONAL_ID_HASH_SYSTEM: &str = "urn:yrd:sid:national-id-hmac";
/// Identifies a jurisdiction by GB/T 2260 code, e.g. in a Consent actor covering a province.
pub const JURISDICTION_SYSTEM: &str = "urn:yrd:sid:jurisdiction";
pub const PURPOSE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
pub const LOINC: &str = "http://loinc.org";
pub const DICOM_MODALITY: &str = "http://dicom.nema.org/resources/ontology/DCM";
pub const SNOMED: &str = "http://snomed.info/sct";
/// Bundles larger than this are refused whole.
pub const MAX_BUNDLE_ENTRIES: usize = 200;

/// Why a FHIR interaction failed; each maps to an HTTP status and an OperationOutcome.
#[derive(Debug, thiserror::Error)]
pub enum FhirError {
    /// The resource does not conform (structure, cardinality, value sets).
    #[error("invalid resource")]
    Invalid(Vec<validate::Issue>),
    /// It conforms but breaks a rule of this server (references, tenancy).
    #[error("{1}")]
    Rule(String, String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    NotSupported(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for FhirError {
    fn from(error: sqlx::Error) -> Self {
        FhirError::Db(DbError::from(error))
    }
}

impl FhirError {
    pub fn rule(path: impl Into<String>, message: impl Into<String>) -> Self {
        FhirError::Rule(path.into(), message.into())
    }

    pub fn status(&self) -> u16 {
        match self {
            FhirError::Invalid(_) | FhirError::BadRequest(_) => 400,
            FhirError::Rule(..) => 422,
            FhirError::NotFound(_) => 404,
            FhirError::Unauthenticated(_) => 401,
            FhirError::Forbidden(_) => 403,
            FhirError::Conflict(_) => 409,
            FhirError::PreconditionFailed(_) => 412,
            FhirError::NotSupported(_) => 405,
            FhirError::TooLarge(_) => 413,
            FhirError::UnsupportedMediaType(_) => 415,
            FhirError::Db(_) => 500,
        }
    }

    /// The same error with every element path put under `prefix` (a bundle entry).
    pub fn within(self, prefix: &str) -> Self {
        match self {
            FhirError::Invalid(issues) => FhirError::Invalid(
                issues
                    .into_iter()
                    .map(|i| validate::Issue {
                        path: join_path(prefix, &i.path),
                        message: i.message,
                    })
                    .collect(),
            ),
            FhirError::Rule(path, message) => FhirError::Rule(join_path(prefix, &path), message),
            FhirError::BadRequest(m) => FhirError::BadRequest(format!("{prefix}: {m}")),
            FhirError::NotFound(m) => FhirError::NotFound(format!("{prefix}: {m}")),
            FhirError::Forbidden(m) => FhirError::Forbidden(format!("{prefix}: {m}")),
            FhirError::Conflict(m) => FhirError::Conflict(format!("{prefix}: {m}")),
            FhirError::PreconditionFailed(m) => FhirError::PreconditionFailed(format!("{prefix}: {m}")),
            FhirError::NotSupported(m) => FhirError::NotSupported(format!("{prefix}: {m}")),
            other => other,
        }
    }

    /// The OperationOutcome that tells the client what went wrong and where.
    pub fn outcome(&self) -> Value {
        let issue = |code: &str, diagnostics: &str, path: Option<&str>| {
            let mut issue = json!({"severity": "error", "code": code, "diagnostics": diagnostics});
            if let Some(path) = path.filter(|p| !p.is_empty()) {
                issue["expression"] = json!([path]);
            }
            issue
        };
        let issues = match self {
            FhirError::Invalid(issues) => issues
                .iter()
                .map(|i| {
                    let code = if i.message.contains("required") {
                        "required"
                    } else {
                        "structure"
                    };
                    issue(
                        code,
                        &format!("{}: {}", display_path(&i.path), i.message),
                        Some(&i.path),
                    )
                })
                .collect(),
            FhirError::Rule(path, message) => vec![issue(
                "business-rule",
                &format!("{}: {message}", display_path(path)),
                Some(path),
            )],
            FhirError::BadRequest(m) => vec![issue("invalid", m, None)],
            FhirError::NotFound(m) => vec![issue("not-found", m, None)],
            FhirError::Unauthenticated(m) => vec![issue("login", m, None)],
            FhirError::Forbidden(m) => vec![issue("forbidden", m, None)],
            FhirError::Conflict(m) | FhirError::PreconditionFailed(m) => vec![issue("conflict", m, None)],
            FhirError::NotSupported(m) | FhirError::UnsupportedMediaType(m) => vec![issue("not-supported", m, None)],
            FhirError::TooLarge(m) => vec![issue("too-costly", m, None)],
            FhirError::Db(error) => {
                tracing::error!(%error, "FHIR storage failed");
                vec![issue("exception", "the server could not complete the request", None)]
            }
        };
        json!({"resourceType": "OperationOutcome", "issue": issues})
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "(resource)" } else { path }
}

/// `Bundle.entry[3].resource` + `Observation.status` → `Bundle.entry[3].resource.status`.
fn join_path(prefix: &str, path: &str) -> String {
    let rest = match path.split_once('.') {
        Some((head, rest)) if head.starts_with(|c: char| c.is_ascii_uppercase()) => rest,
        _ if path.starts_with(|c: char| c.is_ascii_uppercase()) => "",
        _ => path,
    };
    if rest.is_empty() {
        prefix.to_string()
    } else {
        format!("{prefix}.{rest}")
    }
}

/// `Type/id` split, if the text is a relative literal reference to a supported type.
pub fn split_reference(reference: &str) -> Option<(&str, &str)> {
    let (kind, id) = reference.split_once('/')?;
    (validate::SUPPORTED.contains(&kind) && valid_id(id)).then_some((kind, id))
}

pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// A fresh logical id: 32 hex digits from the OS random source.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

//! The resource store: every write validated, versioned, indexed, owned by the
//! hospital that made it, placed in the patient's compartment and audited in the same
//! transaction. Reads here do not check access; `access` does, before anything leaves.

use crate::fhir::search::{self, Condition, Prefix, Query};
use crate::fhir::validate::{self, Reference};
use crate::fhir::{self, FhirError, NATIONAL_ID_HASH_SYSTEM, NATIONAL_ID_SYSTEM, split_reference};
use crate::mpi;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;
use yrd_db::{Conn, Db, Tx};
use yrd_kernel::JurisdictionCode;
use yrd_kernel::time::now_db;

pub const MODULE: &str = "health";

/// A hospital: an Organization with a jurisdiction and a qualification level.
#[derive(Debug, Clone, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Hospital {
    /// The id of its Organization resource.
    pub org_id: String,
    pub name: String,
    pub jurisdiction: JurisdictionCode,
    /// 1, 2 or 3 (一级, 二级, 三级).
    pub level: i64,
    /// 甲, 乙 or 丙.
    pub grade: String,
}

/// Who writes: a hospital's client, a patient through the portal, or the platform.
#[derive(Debug, Clone)]
pub enum Writer {
    Hospital { login: String, hospital: Hospital },
    Patient { login: String, person_id: String },
    Platform { actor: String },
}

impl Writer {
    pub fn actor(&self) -> &str {
        match self {
            Writer::Hospital { login, .. } | Writer::Patient { login, .. } => login,
            Writer::Platform { actor } => actor,
        }
    }

    fn org(&self) -> Option<&Hospital> {
        match self {
            Writer::Hospital { hospital, .. } => Some(hospital),
            _ => None,
        }
    }
}

/// One stored version of a resource with what the server knows about it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub res_type: String,
    pub id: String,
    pub version: i64,
    pub owner_org: Option<String>,
    pub person_id: Option<String>,
    pub resource: Value,
}

impl Stored {
    fn from_row(row: &AnyRow) -> Result<Self, FhirError> {
        let content: String = row.try_get("content")?;
        Ok(Stored {
            res_type: row.try_get("res_type")?,
            id: row.try_get("res_id")?,
            version: row.try_get("version")?,
            owner_org: row.try_get("owner_org")?,
            person_id: row.try_get("person_id")?,
            resource: serde_json::from_str(&content).unwrap_or(Value::Null),
        })
    }

    pub fn reference(&self) -> String {
        format!("{}/{}", self.res_type, self.id)
    }

    pub fn last_updated(&self) -> &str {
        self.resource["meta"]["lastUpdated"].as_str().unwrap_or_default()
    }
}

const COLUMNS: &str = "res_type, res_id, version, owner_org, person_id, content";

pub async fn read(db: &Db, res_type: &str, id: &str) -> Result<Option<Stored>, FhirError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM fhir_resources WHERE res_type = $1 AND res_id = $2"
    ))
    .bind(res_type)
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(Stored::from_row).transpose()
}

async fn read_in(conn: &mut Conn, res_type: &str, id: &str) -> Result<Option<Stored>, FhirError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM fhir_resources WHERE res_type = $1 AND res_id = $2"
    ))
    .bind(res_type)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(Stored::from_row).transpose()
}

/// Every version, newest first (the current row supplies owner and compartment).
pub async fn history(db: &Db, current: &Stored) -> Result<Vec<(Stored, String)>, FhirError> {
    let rows = sqlx::query(
        "SELECT version, method, content FROM fhir_versions WHERE res_type = $1 AND res_id = $2 ORDER BY version DESC",
    )
    .bind(&current.res_type)
    .bind(&current.id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let content: String = row.try_get("content")?;
            Ok((
                Stored {
                    version: row.try_get("version")?,
                    resource: serde_json::from_str(&content).unwrap_or(Value::Null),
                    ..current.clone()
                },
                row.try_get("method")?,
            ))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Hospitals, staff

pub async fn hospitals(db: &Db) -> Result<Vec<Hospital>, FhirError> {
    let rows = sqlx::query(
        "SELECT org_id, name, jurisdiction, level, grade FROM health_hospitals ORDER BY jurisdiction, org_id",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(hospital_from_row).collect()
}

fn hospital_from_row(row: &AnyRow) -> Result<Hospital, FhirError> {
    let code: String = row.try_get("jurisdiction")?;
    Ok(Hospital {
        org_id: row.try_get("org_id")?,
        name: row.try_get("name")?,
        jurisdiction: JurisdictionCode::parse(&code)
            .map_err(|e| FhirError::Db(yrd_db::DbError::Sql(sqlx::Error::Decode(e.into()))))?,
        level: row.try_get("level")?,
        grade: row.try_get("grade")?,
    })
}

pub async fn hospital(db: &Db, org_id: &str) -> Result<Option<Hospital>, FhirError> {
    let row = sqlx::query("SELECT org_id, name, jurisdiction, level, grade FROM health_hospitals WHERE org_id = $1")
        .bind(org_id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(hospital_from_row).transpose()
}

/// The hospital a login works for, if any.
pub async fn hospital_of(db: &Db, login: &str) -> Result<Option<Hospital>, FhirError> {
    let row = sqlx::query(
        "SELECT h.org_id, h.name, h.jurisdiction, h.level, h.grade FROM health_staff s JOIN health_hospitals h ON h.org_id = s.org_id WHERE s.login = $1",
    )
    .bind(login)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(hospital_from_row).transpose()
}

/// Registers or changes a hospital and its Organization resource, in one transaction.
pub async fn save_hospital(db: &Db, actor: &str, hospital: &Hospital) -> Result<(), FhirError> {
    if !fhir::valid_id(&hospital.org_id) {
        return Err(FhirError::rule("org_id", "1–64 letters, digits, '-' or '.'"));
    }
    if hospital.name.trim().is_empty() || hospital.name.len() > 200 {
        return Err(FhirError::rule("name", "a name of 1–200 characters"));
    }
    if !(1..=3).contains(&hospital.level) {
        return Err(FhirError::rule("level", "1, 2 or 3"));
    }
    if !matches!(hospital.grade.as_str(), "甲" | "乙" | "丙") {
        return Err(FhirError::rule("grade", "甲, 乙 or 丙"));
    }
    let keys = mpi::Keys::load(db).await?;
    let mut tx = db.begin().await?;
    let now = now_db();
    let updated = sqlx::query("UPDATE health_hospitals SET name = $2, jurisdiction = $3, level = $4, grade = $5, updated_at = $6 WHERE org_id = $1")
        .bind(&hospital.org_id)
        .bind(&hospital.name)
        .bind(hospital.jurisdiction.to_string())
        .bind(hospital.level)
        .bind(&hospital.grade)
        .bind(&now)
        .execute(tx.conn())
        .await?;
    if updated.rows_affected() == 0 {
        sqlx::query("INSERT INTO health_hospitals (org_id, name, jurisdiction, level, grade, updated_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&hospital.org_id)
            .bind(&hospital.name)
            .bind(hospital.jurisdiction.to_string())
            .bind(hospital.level)
            .bind(&hospital.grade)
            .bind(&now)
            .execute(tx.conn())
            .await?;
    }
    let organization = json!({
        "resourceType": "Organization",
        "id": hospital.org_id,
        "active": true,
        "identifier": [{"system": fhir::JURISDICTION_SYSTEM, "value": hospital.jurisdiction.to_string()}],
        "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "prov", "display": "Healthcare Provider"}]}],
        "name": hospital.name,
        "extension": [{"url": LEVEL_EXTENSION, "valueCode": format!("{}{}", hospital.level, hospital.grade)}],
        "address": [{"use": "work", "text": hospital.jurisdiction.jurisdiction().name_zh, "country": "CN"}]
    });
    let writer = Writer::Platform {
        actor: actor.to_string(),
    };
    let existing = read_in(tx.conn(), "Organization", &hospital.org_id).await?;
    let expect = existing
        .as_ref()
        .map_or(Expect::New, |s| Expect::Version(Some(s.version)));
    write(
        &mut tx,
        &keys,
        &writer,
        "Organization",
        Some(&hospital.org_id),
        organization,
        expect,
        &mut Vec::new(),
    )
    .await?;
    sqlx::query("UPDATE fhir_resources SET owner_org = $1 WHERE res_type = 'Organization' AND res_id = $1")
        .bind(&hospital.org_id)
        .execute(tx.conn())
        .await?;
    yrd_audit::log(
        &mut tx,
        MODULE,
        actor,
        "hospital.save",
        hospital.org_id.clone(),
        Some(hospital.jurisdiction),
        json!(hospital),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The extension carrying a hospital's qualification, e.g. `3甲`.
pub const LEVEL_EXTENSION: &str = "urn:yrd:fhir:StructureDefinition/hospital-level";

pub async fn save_staff(db: &Db, actor: &str, login: &str, org_id: &str) -> Result<(), FhirError> {
    let hospital = hospital(db, org_id)
        .await?
        .ok_or_else(|| FhirError::rule("org_id", format!("no hospital '{org_id}'")))?;
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM health_staff WHERE login = $1")
        .bind(login)
        .execute(tx.conn())
        .await?;
    sqlx::query("INSERT INTO health_staff (login, org_id, updated_at) VALUES ($1, $2, $3)")
        .bind(login)
        .bind(org_id)
        .bind(now_db())
        .execute(tx.conn())
        .await?;
    yrd_audit::log(
        &mut tx,
        MODULE,
        actor,
        "staff.save",
        login.to_string(),
        Some(hospital.jurisdiction),
        json!({"org_id": org_id}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Writes

/// What the caller expects of the current version.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// A create: the id must be new.
    New,
    /// An update: `Some(v)` from `If-Match`, `None` for "whatever is current".
    Version(Option<i64>),
}

/// Validates, checks the rules, stamps and stores one resource in `tx`. References are
/// appended to `pending` and must be checked with [`check_references`] before commit
/// (a transaction Bundle checks them once every entry is in).
#[allow(clippy::too_many_arguments)]
pub async fn write(
    tx: &mut Tx,
    keys: &mpi::Keys,
    writer: &Writer,
    res_type: &str,
    id: Option<&str>,
    mut resource: Value,
    expect: Expect,
    pending: &mut Vec<Reference>,
) -> Result<Stored, FhirError> {
    if resource.get("resourceType").and_then(Value::as_str) != Some(res_type) {
        return Err(FhirError::BadRequest(format!("the body must be a {res_type} resource")));
    }
    if matches!(writer, Writer::Patient { .. }) && res_type != "Consent" {
        return Err(FhirError::Forbidden("patients write consents only".into()));
    }
    let references = validate::validate(&resource).map_err(FhirError::Invalid)?;
    let current = match id {
        Some(id) => read_in(tx.conn(), res_type, id).await?,
        None => None,
    };
    let id = id.map_or_else(fhir::new_id, str::to_string);
    match (&current, expect) {
        (Some(_), Expect::New) => return Err(FhirError::Conflict(format!("{res_type}/{id} already exists"))),
        (None, Expect::Version(_)) => {
            return Err(FhirError::NotFound(format!(
                "{res_type}/{id} does not exist; create resources with POST (this server assigns ids)"
            )));
        }
        _ => {}
    }
    if let (Some(_), Some(_), "Organization") = (&current, writer.org(), res_type)
        && hospital_in(tx, &id).await?
    {
        return Err(FhirError::Forbidden(format!(
            "Organization/{id} is a registered hospital; its name, jurisdiction and level change through the hospital registry"
        )));
    }
    if let Some(given) = resource.get("id").and_then(Value::as_str)
        && given != id
        && current.is_some()
    {
        return Err(FhirError::BadRequest(format!(
            "the resource's id '{given}' differs from the id in the URL '{id}'"
        )));
    }
    if let (Some(current), Some(org)) = (&current, writer.org())
        && current.owner_org.as_deref() != Some(org.org_id.as_str())
    {
        return Err(FhirError::Forbidden(format!(
            "{res_type}/{id} belongs to another organisation; a hospital changes only its own data"
        )));
    }
    if let (Some(current), Expect::Version(Some(expected))) = (&current, expect)
        && current.version != expected
    {
        return Err(FhirError::PreconditionFailed(format!(
            "If-Match names version {expected} but {res_type}/{id} is at version {}",
            current.version
        )));
    }
    if let Some(path) = national_id_outside_patient(&resource, res_type, res_type) {
        return Err(FhirError::rule(
            path,
            "national IDs are accepted only in Patient.identifier, where they are replaced by a keyed hash",
        ));
    }

    let mut person_id = None;
    if res_type == "Patient" {
        let previous = current.as_ref().and_then(|c| c.person_id.clone());
        let previous_hash = current.as_ref().and_then(|c| mpi::stored_hash(&c.resource));
        let person = mpi::link(tx, keys, &mut resource, previous.clone(), previous_hash).await?;
        if previous.is_some_and(|p| p != person) && has_consents(tx, &id).await? {
            return Err(FhirError::Conflict(format!(
                "Patient/{id} has consents; matching it to another person would move them: withdraw them first"
            )));
        }
        person_id = Some(person);
    } else if res_type == "Provenance" {
        for reference in references.iter().filter(|r| r.path.starts_with("Provenance.target[")) {
            let Some(target) = read_in(tx.conn(), &reference.resource_type, &reference.id).await? else {
                continue; // refused with the other dangling references
            };
            let Some(person) = target.person_id else { continue };
            if let Some(org) = writer.org()
                && target.owner_org.as_deref() != Some(org.org_id.as_str())
            {
                return Err(FhirError::rule(
                    &reference.path,
                    "another hospital's data; a Provenance is about your own",
                ));
            }
            if person_id.as_ref().is_some_and(|p| *p != person) {
                return Err(FhirError::rule(
                    &reference.path,
                    "the targets of one Provenance are about one patient",
                ));
            }
            person_id = Some(person);
        }
    } else if let Some(path) = compartment_path(res_type) {
        if let Some(reference) = references
            .iter()
            .find(|r| r.path == path && r.resource_type == "Patient")
        {
            let patient = read_in(tx.conn(), "Patient", &reference.id)
                .await?
                .ok_or_else(|| FhirError::rule(&reference.path, format!("Patient/{} does not exist", reference.id)))?;
            if let Some(org) = writer.org()
                && patient.owner_org.as_deref() != Some(org.org_id.as_str())
            {
                return Err(FhirError::rule(
                    &reference.path,
                    format!(
                        "Patient/{} is another hospital's record; register the patient at your hospital (Patient/$match finds them) and refer to that",
                        reference.id
                    ),
                ));
            }
            person_id = patient.person_id;
        } else if required_compartment(res_type) {
            return Err(FhirError::rule(
                path,
                "required on this server: the Patient the data is about",
            ));
        }
    }
    if res_type == "Consent" {
        crate::access::check_consent_rules(&resource, writer)?;
    }
    if let Writer::Patient { person_id: own, .. } = writer
        && person_id.as_deref() != Some(own.as_str())
    {
        return Err(FhirError::Forbidden(
            "a patient records consent only for themself".into(),
        ));
    }

    let version = current.as_ref().map_or(1, |c| c.version + 1);
    let now = now_millis();
    let last_updated = fhir_instant(&now);
    let object = resource.as_object_mut().expect("validated as an object");
    object.insert("id".into(), json!(id));
    let mut meta = object.remove("meta").unwrap_or_else(|| json!({}));
    meta["versionId"] = json!(version.to_string());
    meta["lastUpdated"] = json!(last_updated);
    object.insert("meta".into(), meta);
    let content = serde_json::to_string(&resource).map_err(|e| FhirError::BadRequest(e.to_string()))?;
    let owner = current
        .as_ref()
        .map(|c| c.owner_org.clone())
        .unwrap_or_else(|| writer.org().map(|h| h.org_id.clone()));

    match &current {
        Some(current) => {
            let changed = sqlx::query(
                "UPDATE fhir_resources SET version = $3, person_id = $4, last_updated = $5, content = $6 WHERE res_type = $1 AND res_id = $2 AND version = $7",
            )
            .bind(res_type)
            .bind(&id)
            .bind(version)
            .bind(&person_id)
            .bind(&now)
            .bind(&content)
            .bind(current.version)
            .execute(tx.conn())
            .await?;
            if changed.rows_affected() != 1 {
                return Err(FhirError::Conflict(format!(
                    "{res_type}/{id} was changed by someone else meanwhile; read it again"
                )));
            }
            sqlx::query("DELETE FROM fhir_index WHERE res_type = $1 AND res_id = $2")
                .bind(res_type)
                .bind(&id)
                .execute(tx.conn())
                .await?;
        }
        None => {
            sqlx::query(
                "INSERT INTO fhir_resources (res_type, res_id, version, owner_org, person_id, last_updated, content) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(res_type)
            .bind(&id)
            .bind(version)
            .bind(&owner)
            .bind(&person_id)
            .bind(&now)
            .bind(&content)
            .execute(tx.conn())
            .await?;
        }
    }
    sqlx::query("INSERT INTO fhir_versions (res_type, res_id, version, last_updated, method, actor, content) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(res_type)
        .bind(&id)
        .bind(version)
        .bind(&now)
        .bind(if current.is_some() { "PUT" } else { "POST" })
        .bind(writer.actor())
        .bind(&content)
        .execute(tx.conn())
        .await?;
    for entry in search::index(res_type, &resource) {
        sqlx::query(
            "INSERT INTO fhir_index (res_type, res_id, param, sys, val, lo, hi) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(res_type)
        .bind(&id)
        .bind(entry.param)
        .bind(entry.system)
        .bind(entry.value)
        .bind(entry.lo)
        .bind(entry.hi)
        .execute(tx.conn())
        .await?;
    }
    if res_type == "Patient"
        && let (Some(current), Some(person)) = (&current, &person_id)
        && current.person_id.as_ref() != Some(person)
    {
        // The patient was matched to someone else: their data follows them.
        sqlx::query("UPDATE fhir_resources SET person_id = $1 WHERE res_id IN (SELECT res_id FROM fhir_index WHERE param = 'patient' AND val = $2)")
            .bind(person)
            .bind(format!("Patient/{id}"))
            .execute(tx.conn())
            .await?;
    }
    if res_type == "Consent" {
        crate::access::rebuild_grants(tx, &id, person_id.as_deref(), owner.as_deref(), &resource).await?;
    }
    let jurisdiction = writer.org().map(|h| h.jurisdiction);
    let action = if current.is_some() {
        "fhir.update"
    } else {
        "fhir.create"
    };
    yrd_audit::log(
        tx,
        MODULE,
        writer.actor(),
        action,
        format!("{res_type}/{id}/_history/{version}"),
        jurisdiction,
        json!({"owner": owner, "sha256": yrd_audit::sha256_hex(content.as_bytes())}),
    )
    .await?;
    pending.extend(references);
    Ok(Stored {
        res_type: res_type.to_string(),
        id,
        version,
        owner_org: owner,
        person_id,
        resource,
    })
}

/// Now, to the millisecond: `meta.lastUpdated` carries milliseconds, and `_lastUpdated`
/// searches compare with the stored column, so both must say the same instant.
fn now_millis() -> String {
    let at = chrono::Utc::now();
    let extra = i64::from(at.timestamp_subsec_nanos() % 1_000_000);
    yrd_kernel::time::to_db(at - chrono::Duration::nanoseconds(extra))
}

/// The path of an identifier with the national-ID system anywhere but Patient.identifier.
fn national_id_outside_patient(value: &Value, res_type: &str, path: &str) -> Option<String> {
    match value {
        Value::Object(map) => {
            if map.get("system").and_then(Value::as_str) == Some(NATIONAL_ID_SYSTEM)
                && !(res_type == "Patient" && path.starts_with("Patient.identifier[") && path.matches('.').count() == 1)
            {
                return Some(path.to_string());
            }
            map.iter()
                .find_map(|(key, child)| national_id_outside_patient(child, res_type, &format!("{path}.{key}")))
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, child)| national_id_outside_patient(child, res_type, &format!("{path}[{i}]"))),
        _ => None,
    }
}

async fn has_consents(tx: &mut Tx, patient_id: &str) -> Result<bool, FhirError> {
    let row = sqlx::query("SELECT 1 FROM fhir_index WHERE res_type = 'Consent' AND param = 'patient' AND val = $1")
        .bind(format!("Patient/{patient_id}"))
        .fetch_optional(tx.conn())
        .await?;
    Ok(row.is_some())
}

async fn hospital_in(tx: &mut Tx, org_id: &str) -> Result<bool, FhirError> {
    let row = sqlx::query("SELECT 1 FROM health_hospitals WHERE org_id = $1")
        .bind(org_id)
        .fetch_optional(tx.conn())
        .await?;
    Ok(row.is_some())
}

/// Every reference must point at a resource that exists (inside the transaction).
pub async fn check_references(tx: &mut Tx, references: &[Reference]) -> Result<(), FhirError> {
    for reference in references {
        let exists = sqlx::query("SELECT 1 FROM fhir_resources WHERE res_type = $1 AND res_id = $2")
            .bind(&reference.resource_type)
            .bind(&reference.id)
            .fetch_optional(tx.conn())
            .await?
            .is_some();
        if !exists {
            return Err(FhirError::rule(
                &reference.path,
                format!(
                    "{}/{} does not exist on this server",
                    reference.resource_type, reference.id
                ),
            ));
        }
    }
    Ok(())
}

/// Where a resource names the patient it is about.
pub fn compartment_path(res_type: &str) -> Option<&'static str> {
    match res_type {
        "Encounter" => Some("Encounter.subject"),
        "Observation" => Some("Observation.subject"),
        "DiagnosticReport" => Some("DiagnosticReport.subject"),
        "ImagingStudy" => Some("ImagingStudy.subject"),
        "Consent" => Some("Consent.patient"),
        _ => None,
    }
}

/// Clinical data on this server is always about a patient.
fn required_compartment(res_type: &str) -> bool {
    matches!(
        res_type,
        "Encounter" | "Observation" | "DiagnosticReport" | "ImagingStudy" | "Consent"
    )
}

/// `2024-05-01T02:00:00.123456Z` → the FHIR instant `2024-05-01T02:00:00.123Z`.
pub fn fhir_instant(stored: &str) -> String {
    match (stored.get(..23), stored.ends_with('Z')) {
        (Some(head), true) => format!("{head}Z"),
        _ => stored.to_string(),
    }
}

// ---------------------------------------------------------------------------------------
// Search

/// Whose data a search may return.
pub enum Visibility<'a> {
    /// Everything (an emergency override, or the platform itself).
    All,
    /// Only what this hospital wrote (conditional creates match nothing else).
    Own(&'a str),
    /// The reader's own data, directory data, and data of patients whose consent covers the reader.
    Reader {
        org_id: &'a str,
        jurisdiction: String,
        purpose: &'a str,
    },
}

struct Sql {
    text: String,
    binds: Vec<String>,
}

impl Sql {
    fn bind(&mut self, value: impl Into<String>) -> String {
        self.binds.push(value.into());
        format!("${}", self.binds.len())
    }
}

fn date_condition(sql: &mut Sql, prefix: Prefix, lo_col: &str, hi_col: &str, lo: &str, hi: &str) -> String {
    match prefix {
        Prefix::Eq => format!("{lo_col} >= {} AND {hi_col} <= {}", sql.bind(lo), sql.bind(hi)),
        Prefix::Ge => format!("{hi_col} >= {}", sql.bind(lo)),
        Prefix::Le => format!("{lo_col} <= {}", sql.bind(hi)),
        Prefix::Gt => format!("{hi_col} > {}", sql.bind(hi)),
        Prefix::Lt => format!("{lo_col} < {}", sql.bind(lo)),
    }
}

/// The SQL condition on `r` (a row of fhir_resources) for one visibility.
pub fn visibility_sql(visibility: &Visibility<'_>, bind: &mut dyn FnMut(String) -> String) -> String {
    match visibility {
        Visibility::All => "1 = 1".into(),
        Visibility::Own(org_id) => format!("r.owner_org = {}", bind(org_id.to_string())),
        Visibility::Reader {
            org_id,
            jurisdiction,
            purpose,
        } => {
            let org = bind(org_id.to_string());
            let place = bind(jurisdiction.to_string());
            let purpose = bind(purpose.to_string());
            let now = bind(now_db());
            format!(
                "(r.owner_org = {org} OR r.person_id IS NULL OR EXISTS (SELECT 1 FROM health_consent_grants g WHERE g.person_id = r.person_id \
                 AND (g.grantee_org = {org} OR {place} LIKE g.grantee_scope || '%') AND g.purpose = {purpose} \
                 AND (g.valid_from IS NULL OR g.valid_from <= {now}) AND (g.valid_to IS NULL OR g.valid_to >= {now}) \
                 AND (g.recorded_by IS NULL OR g.recorded_by = r.owner_org)))"
            )
        }
    }
}

/// One page of matches, newest first, and how many match in all.
pub async fn search(
    db: &Db,
    res_type: &str,
    query: &Query,
    visibility: &Visibility<'_>,
) -> Result<(i64, Vec<Stored>), FhirError> {
    let mut sql = Sql {
        text: String::new(),
        binds: Vec::new(),
    };
    let mut clauses = vec![format!("r.res_type = {}", sql.bind(res_type))];
    for condition in &query.conditions {
        let clause = match condition {
            Condition::Id(ids) => {
                let list: Vec<String> = ids.iter().map(|id| sql.bind(id.as_str())).collect();
                format!("r.res_id IN ({})", list.join(", "))
            }
            Condition::LastUpdated(prefix, lo, hi) => {
                date_condition(&mut sql, *prefix, "r.last_updated", "r.last_updated", lo, hi)
            }
            Condition::Token { param, values } => {
                let any: Vec<String> = values
                    .iter()
                    .map(|(system, value)| {
                        if let (Some(system), true) = (system, value.is_empty()) {
                            // `system|`: any code of that system.
                            return format!("(i.sys = {})", sql.bind(system.as_str()));
                        }
                        let mut test = format!("i.val = {}", sql.bind(value.as_str()));
                        if let Some(system) = system {
                            if system.is_empty() {
                                test.push_str(" AND i.sys IS NULL");
                            } else {
                                test.push_str(&format!(" AND i.sys = {}", sql.bind(system.as_str())));
                            }
                        }
                        format!("({test})")
                    })
                    .collect();
                index_exists(&mut sql, param, &any.join(" OR "))
            }
            Condition::Text { param, values } => {
                let any: Vec<String> = values
                    .iter()
                    .map(|v| format!("i.val LIKE {}", sql.bind(format!("{}%", v.replace(['%', '_'], "")))))
                    .collect();
                index_exists(&mut sql, param, &any.join(" OR "))
            }
            Condition::Date { param, prefix, lo, hi } => {
                let test = date_condition(&mut sql, *prefix, "i.lo", "i.hi", lo, hi);
                index_exists(&mut sql, param, &test)
            }
        };
        clauses.push(clause);
    }
    clauses.push(visibility_sql(visibility, &mut |v| sql.bind(v)));
    sql.text = clauses.join(" AND ");

    let count_sql = format!("SELECT COUNT(*) FROM fhir_resources r WHERE {}", sql.text);
    let mut count = sqlx::query(&count_sql);
    for bind in &sql.binds {
        count = count.bind(bind);
    }
    let total: i64 = count.fetch_one(db.pool()).await?.try_get(0)?;

    let page_sql = format!(
        "SELECT {COLUMNS} FROM fhir_resources r WHERE {} ORDER BY r.last_updated DESC, r.res_id LIMIT {} OFFSET {}",
        sql.text, query.count, query.offset
    );
    let mut page = sqlx::query(&page_sql);
    for bind in &sql.binds {
        page = page.bind(bind);
    }
    let rows = page.fetch_all(db.pool()).await?;
    let stored = rows.iter().map(Stored::from_row).collect::<Result<Vec<_>, _>>()?;
    Ok((total, stored))
}

fn index_exists(sql: &mut Sql, param: &str, test: &str) -> String {
    let param = sql.bind(param);
    format!(
        "EXISTS (SELECT 1 FROM fhir_index i WHERE i.res_type = r.res_type AND i.res_id = r.res_id AND i.param = {param} AND ({test}))"
    )
}

/// All resources of `res_type` in a person's compartment (for the recognition view).
pub async fn of_person(db: &Db, res_type: &str, person_id: &str) -> Result<Vec<Stored>, FhirError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM fhir_resources WHERE res_type = $1 AND person_id = $2 ORDER BY last_updated DESC"
    ))
    .bind(res_type)
    .bind(person_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(Stored::from_row).collect()
}

/// The hash the store keeps of a national ID given in a search or a match.
pub fn national_id_token(keys: &mpi::Keys, system: &str, value: &str) -> Option<(String, String)> {
    (system == NATIONAL_ID_SYSTEM).then(|| (NATIONAL_ID_HASH_SYSTEM.to_string(), keys.hash(value)))
}

/// A `Type/id` reference of this server, if it is one.
pub fn parse_reference(text: &str) -> Option<(String, String)> {
    split_reference(text).map(|(t, i)| (t.to_string(), i.to_string()))
}

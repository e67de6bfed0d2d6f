//! Mutual recognition of test results (检查检验结果互认): the catalogue of recognised
//! items, which of a visiting patient's results another hospital may reuse, the
//! doctor's signed decision, and what reuse saved.

use crate::access::{self, Reader};
use crate::fhir::{DICOM_MODALITY, FhirError, LOINC};
use crate::mpi::Keys;
use crate::store::{self, Hospital, Stored};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use chrono::NaiveDate;
use ed25519_dalek::Signer;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row;
use std::collections::BTreeMap;
use yrd_db::Db;
use yrd_kernel::JurisdictionCode;
use yrd_kernel::time::{now_db, shanghai, today};

/// One recognised test: a lab test by LOINC code, or imaging by DICOM modality and
/// SNOMED CT body site (`CT:51185008`).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub code: String,
    /// lab or imaging
    pub kind: String,
    pub name_zh: String,
    pub name_en: String,
    /// How many days after the test its result may be reused.
    pub validity_days: i64,
    /// The lowest hospital level (1–3) whose results are recognised.
    pub min_level: i64,
    /// What a repeat test would cost, in fen: the saving when the result is reused.
    pub fee_fen: i64,
}

pub async fn items(db: &Db) -> Result<Vec<Item>, FhirError> {
    let rows = sqlx::query("SELECT code, kind, name_zh, name_en, validity_days, min_level, fee_fen FROM health_recognition_items ORDER BY kind, code")
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Item {
                code: r.try_get(0)?,
                kind: r.try_get(1)?,
                name_zh: r.try_get(2)?,
                name_en: r.try_get(3)?,
                validity_days: r.try_get(4)?,
                min_level: r.try_get(5)?,
                fee_fen: r.try_get(6)?,
            })
        })
        .collect()
}

/// The catalogue shipped for a new installation (codes real, windows and fees illustrative).
pub const SHIPPED_CATALOGUE: &str = include_str!("../../../data/health/recognition.csv");

impl Item {
    /// The first field that breaks a rule, and the rule.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        let valid_code = match self.kind.as_str() {
            "lab" => {
                self.code.len() <= 10
                    && self.code.split_once('-').is_some_and(|(a, b)| {
                        !a.is_empty()
                            && a.bytes().all(|c| c.is_ascii_digit())
                            && b.len() == 1
                            && b.bytes().all(|c| c.is_ascii_digit())
                    })
            }
            "imaging" => self.code.split_once(':').is_some_and(|(m, site)| {
                matches!(m, "CT" | "MR" | "DX" | "CR" | "US" | "MG" | "PT" | "NM")
                    && !site.is_empty()
                    && site.len() <= 18
                    && site.bytes().all(|c| c.is_ascii_digit())
            }),
            _ => return Some(("kind", "lab or imaging".into())),
        };
        if !valid_code {
            return Some((
                "code",
                "a LOINC code such as 718-7 (lab), or a DICOM modality and SNOMED CT body site such as CT:51185008 (imaging)".into(),
            ));
        }
        if self.name_zh.trim().is_empty() || self.name_en.trim().is_empty() {
            return Some(("name_zh", "both names are required".into()));
        }
        if !(1..=3650).contains(&self.validity_days) {
            return Some(("validity_days", "1–3650 days".into()));
        }
        if !(1..=3).contains(&self.min_level) {
            return Some(("min_level", "1, 2 or 3".into()));
        }
        if !(0..=100_000_000).contains(&self.fee_fen) {
            return Some(("fee_fen", "0 to 1,000,000 yuan, in fen".into()));
        }
        None
    }
}

/// Reads a catalogue file (CSV: code, kind, name_zh, name_en, validity_days, min_level,
/// fee_fen; `#` comments; a header line). Every problem is reported with its line.
pub fn parse_catalogue(text: &str) -> Result<Vec<Item>, Vec<String>> {
    let mut items = Vec::new();
    let mut problems = Vec::new();
    let mut codes = std::collections::BTreeSet::new();
    let lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    for (n, line) in lines.skip(1) {
        let at = n + 1;
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [code, kind, name_zh, name_en, days, level, fee] = fields[..] else {
            problems.push(format!("line {at}: 7 fields expected (code, kind, name_zh, name_en, validity_days, min_level, fee_fen), found {}", fields.len()));
            continue;
        };
        let number = |field: &str, text: &str, problems: &mut Vec<String>| {
            text.parse::<i64>()
                .map_err(|_| problems.push(format!("line {at}, {field}: '{text}' is not a whole number")))
                .ok()
        };
        let (Some(validity_days), Some(min_level), Some(fee_fen)) = (
            number("validity_days", days, &mut problems),
            number("min_level", level, &mut problems),
            number("fee_fen", fee, &mut problems),
        ) else {
            continue;
        };
        let item = Item {
            code: code.into(),
            kind: kind.into(),
            name_zh: name_zh.into(),
            name_en: name_en.into(),
            validity_days,
            min_level,
            fee_fen,
        };
        if let Some((field, message)) = item.problem() {
            problems.push(format!("line {at}, {field}: {message}"));
        } else if !codes.insert(item.code.clone()) {
            problems.push(format!("line {at}, code: {} appears twice", item.code));
        } else {
            items.push(item);
        }
    }
    if items.is_empty() && problems.is_empty() {
        problems.push("the file has no items".into());
    }
    if problems.is_empty() { Ok(items) } else { Err(problems) }
}

/// Adds or changes every item of a catalogue, in one transaction.
pub async fn import_catalogue(db: &Db, actor: &str, items: &[Item]) -> Result<(), FhirError> {
    let mut tx = db.begin().await?;
    for item in items {
        write_item(&mut tx, item).await?;
    }
    yrd_audit::log(
        &mut tx,
        store::MODULE,
        actor,
        "recognition.import",
        "catalogue".into(),
        None,
        json!({"items": items.len()}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn write_item(tx: &mut yrd_db::Tx, item: &Item) -> Result<(), FhirError> {
    sqlx::query("DELETE FROM health_recognition_items WHERE code = $1")
        .bind(&item.code)
        .execute(tx.conn())
        .await?;
    sqlx::query("INSERT INTO health_recognition_items (code, kind, name_zh, name_en, validity_days, min_level, fee_fen) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(&item.code)
        .bind(&item.kind)
        .bind(item.name_zh.trim())
        .bind(item.name_en.trim())
        .bind(item.validity_days)
        .bind(item.min_level)
        .bind(item.fee_fen)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn save_item(db: &Db, actor: &str, item: &Item) -> Result<(), FhirError> {
    if let Some((field, message)) = item.problem() {
        return Err(FhirError::rule(field, message));
    }
    let mut tx = db.begin().await?;
    write_item(&mut tx, item).await?;
    yrd_audit::log(
        &mut tx,
        store::MODULE,
        actor,
        "recognition.item",
        item.code.clone(),
        None,
        json!(item),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A result of another hospital, and whether the reading hospital may reuse it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ResultView {
    /// `Observation/…` or `ImagingStudy/…`
    pub result: String,
    pub source_org: String,
    pub source_name: String,
    pub source_jurisdiction: String,
    pub source_level: String,
    pub item_code: Option<String>,
    pub item_name_zh: Option<String>,
    pub item_name_en: Option<String>,
    /// What the result says, e.g. `132 g/L`.
    pub summary: String,
    /// The day of the test (China time).
    pub date: Option<NaiveDate>,
    pub recognisable: bool,
    /// Why not, when it is not.
    pub why_not: Option<String>,
    pub fee_fen: i64,
    /// This hospital's decision so far: accepted or declined.
    pub decision: Option<String>,
}

/// The day a result was obtained.
fn result_date(stored: &Stored) -> Option<NaiveDate> {
    let r = &stored.resource;
    let text = r["effectiveDateTime"]
        .as_str()
        .or_else(|| r["effectivePeriod"]["start"].as_str())
        .or_else(|| r["effectiveInstant"].as_str())
        .or_else(|| r["started"].as_str())
        .or_else(|| r["issued"].as_str())?;
    match chrono::DateTime::parse_from_rfc3339(text) {
        Ok(at) => Some(at.with_timezone(&shanghai()).date_naive()),
        Err(_) => NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok(),
    }
}

/// The catalogue codes a result may be: LOINC codings of an Observation, or modality
/// and body site of each series of an ImagingStudy.
fn candidate_codes(stored: &Stored) -> Vec<String> {
    let r = &stored.resource;
    match stored.res_type.as_str() {
        "Observation" => r["code"]["coding"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["system"].as_str() == Some(LOINC))
            .filter_map(|c| c["code"].as_str().map(str::to_string))
            .collect(),
        "ImagingStudy" => r["series"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["modality"]["system"].as_str().is_none_or(|sys| sys == DICOM_MODALITY))
            .filter_map(|s| {
                Some(format!(
                    "{}:{}",
                    s["modality"]["code"].as_str()?,
                    s["bodySite"]["code"].as_str()?
                ))
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn summary(stored: &Stored) -> String {
    let r = &stored.resource;
    if let Some(q) = r.get("valueQuantity") {
        return format!(
            "{} {}",
            q["value"],
            q["unit"].as_str().or(q["code"].as_str()).unwrap_or_default()
        );
    }
    if let Some(text) = r["valueString"].as_str().or(r["valueCodeableConcept"]["text"].as_str()) {
        return text.to_string();
    }
    if stored.res_type == "ImagingStudy" {
        let series = r["series"].as_array().map_or(0, Vec::len);
        return format!("{} · {series} series", r["description"].as_str().unwrap_or("imaging"));
    }
    r["code"]["text"].as_str().unwrap_or_default().to_string()
}

fn final_status(stored: &Stored) -> bool {
    let status = stored.resource["status"].as_str().unwrap_or_default();
    match stored.res_type.as_str() {
        "Observation" => matches!(status, "final" | "amended" | "corrected"),
        "ImagingStudy" => status == "available",
        _ => false,
    }
}

/// Assesses one result against the catalogue for a reader on `on` (a day).
fn assess<'c>(
    stored: &Stored,
    source: &Hospital,
    catalogue: &'c [Item],
    on: NaiveDate,
) -> (Option<&'c Item>, Option<String>) {
    let codes = candidate_codes(stored);
    let Some(item) = catalogue.iter().find(|i| codes.contains(&i.code)) else {
        return (None, Some("not in the recognition catalogue".into()));
    };
    if !final_status(stored) {
        return (Some(item), Some("the result is not final".into()));
    }
    if source.level < item.min_level {
        return (
            Some(item),
            Some(format!(
                "the source is a level {} hospital; level {} or higher is required",
                source.level, item.min_level
            )),
        );
    }
    let Some(date) = result_date(stored) else {
        return (Some(item), Some("the result has no date".into()));
    };
    let age = (on - date).num_days();
    if age > item.validity_days {
        return (
            Some(item),
            Some(format!("{age} days old; recognised for {} days", item.validity_days)),
        );
    }
    if age < 0 {
        return (Some(item), Some("dated in the future".into()));
    }
    (Some(item), None)
}

/// The person behind one of the reader's own Patient records.
pub async fn own_patient(db: &Db, reader: &Reader, patient_id: &str) -> Result<Stored, FhirError> {
    let patient = store::read(db, "Patient", patient_id)
        .await?
        .filter(|p| p.owner_org.as_deref() == Some(reader.hospital.org_id.as_str()))
        .ok_or_else(|| {
            FhirError::NotFound(format!(
                "Patient/{patient_id} is not a patient of {}",
                reader.hospital.name
            ))
        })?;
    if patient.person_id.is_none() {
        return Err(FhirError::NotFound(format!(
            "Patient/{patient_id} is not in the patient index"
        )));
    }
    Ok(patient)
}

/// A visiting patient's results held by other hospitals, newest first, each with
/// whether it is recognisable here. The read is consent-checked and logged.
pub async fn results(db: &Db, reader: &Reader, patient_id: &str) -> Result<Vec<ResultView>, FhirError> {
    let patient = own_patient(db, reader, patient_id).await?;
    let person = patient.person_id.clone().unwrap_or_default();
    let mut held = Vec::new();
    for res_type in ["Observation", "ImagingStudy"] {
        held.extend(
            store::of_person(db, res_type, &person)
                .await?
                .into_iter()
                .filter(|s| s.owner_org.as_deref() != Some(reader.hospital.org_id.as_str())),
        );
    }
    // Each holding hospital's results are checked (and logged) on their own: a consent
    // recorded by one hospital opens only that hospital's data.
    let mut holders: Vec<Option<String>> = held.iter().map(|s| s.owner_org.clone()).collect();
    holders.sort();
    holders.dedup();
    let what = format!("recognisable results of Patient/{patient_id}");
    let mut refusal = None;
    let mut open = Vec::new();
    for holder in holders {
        match access::check(db, reader, &person, holder.as_deref(), &what).await {
            Ok(()) => open.push(holder),
            Err(FhirError::Forbidden(message)) => refusal = Some(FhirError::Forbidden(message)),
            Err(other) => return Err(other),
        }
    }
    if let (true, Some(refusal)) = (open.is_empty(), refusal) {
        return Err(refusal);
    }
    held.retain(|s| open.contains(&s.owner_org));
    let catalogue = items(db).await?;
    let hospitals: BTreeMap<String, Hospital> = store::hospitals(db)
        .await?
        .into_iter()
        .map(|h| (h.org_id.clone(), h))
        .collect();
    let decisions = decisions_of(db, &reader.hospital.org_id, &person).await?;
    let on = today();
    let mut out = Vec::new();
    for stored in &held {
        let Some(source) = stored.owner_org.as_ref().and_then(|o| hospitals.get(o)) else {
            continue;
        };
        let (item, why_not) = assess(stored, source, &catalogue, on);
        out.push(ResultView {
            result: stored.reference(),
            source_org: source.org_id.clone(),
            source_name: source.name.clone(),
            source_jurisdiction: source.jurisdiction.to_string(),
            source_level: format!("{}{}", source.level, source.grade),
            item_code: item.map(|i| i.code.clone()),
            item_name_zh: item.map(|i| i.name_zh.clone()),
            item_name_en: item.map(|i| i.name_en.clone()),
            summary: summary(stored),
            date: result_date(stored),
            recognisable: why_not.is_none(),
            why_not,
            fee_fen: item.map_or(0, |i| i.fee_fen),
            decision: decisions.get(&stored.reference()).cloned(),
        });
    }
    out.sort_by(|a, b| b.date.cmp(&a.date).then(a.result.cmp(&b.result)));
    Ok(out)
}

async fn decisions_of(db: &Db, org: &str, person: &str) -> Result<BTreeMap<String, String>, FhirError> {
    let rows = sqlx::query(
        "SELECT result, decision FROM health_decisions WHERE reader_org = $1 AND person_id = $2 ORDER BY at",
    )
    .bind(org)
    .bind(person)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// What a doctor decides about one result.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    /// The reader's own Patient record of the visiting patient.
    pub patient: String,
    /// `Observation/…` or `ImagingStudy/…` of another hospital.
    pub result: String,
    /// accepted or declined
    pub decision: String,
    /// Required when declining: why the test is repeated.
    pub reason: Option<String>,
}

/// The signed record of a decision.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Decision {
    pub id: String,
    pub at: String,
    pub reader_org: String,
    pub reader_login: String,
    pub source_org: String,
    pub result: String,
    pub item_code: String,
    pub decision: String,
    pub reason: Option<String>,
    pub fee_fen: i64,
    /// The record as a compact JWS (EdDSA, Ed25519) under the platform's key.
    pub jws: String,
}

pub async fn decide(db: &Db, keys: &Keys, reader: &Reader, input: &DecisionInput) -> Result<Decision, FhirError> {
    if !matches!(input.decision.as_str(), "accepted" | "declined") {
        return Err(FhirError::rule("decision", "accepted or declined"));
    }
    let reason = input.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    if input.decision == "declined" && reason.is_none() {
        return Err(FhirError::rule("reason", "say why the result is not accepted"));
    }
    if reason.is_some_and(|r| r.chars().count() > 500) {
        return Err(FhirError::rule("reason", "at most 500 characters"));
    }
    let views = results(db, reader, &input.patient).await?;
    let view = views.iter().find(|v| v.result == input.result).ok_or_else(|| {
        FhirError::rule(
            "result",
            format!(
                "{} is not a result of this patient held by another hospital",
                input.result
            ),
        )
    })?;
    let Some(item_code) = view.item_code.clone() else {
        return Err(FhirError::rule("result", "not in the recognition catalogue"));
    };
    if input.decision == "accepted" && !view.recognisable {
        return Err(FhirError::rule(
            "decision",
            format!(
                "the result cannot be recognised: {}",
                view.why_not.clone().unwrap_or_default()
            ),
        ));
    }
    if let Some(earlier) = &view.decision {
        return Err(FhirError::Conflict(format!(
            "{} was already {earlier} here; one decision per result and hospital",
            view.result
        )));
    }
    let patient = own_patient(db, reader, &input.patient).await?;
    let person = patient.person_id.unwrap_or_default();
    let at = store::fhir_instant(&now_db());
    let id = crate::fhir::new_id();
    let fee = if input.decision == "accepted" { view.fee_fen } else { 0 };
    let claims = json!({
        "iss": "yrd-health", "jti": id, "iat": chrono::Utc::now().timestamp(), "at": at, "reader_org": reader.hospital.org_id, "reader": reader.login,
        "source_org": view.source_org, "result": view.result, "item": item_code, "decision": input.decision,
        "reason": reason, "fee_fen": fee
    });
    let jws = sign(keys, &claims);
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO health_decisions (id, at, reader_org, reader_login, source_org, person_id, result, item_code, decision, reason, fee_fen, jws) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&id)
    .bind(&at)
    .bind(&reader.hospital.org_id)
    .bind(&reader.login)
    .bind(&view.source_org)
    .bind(&person)
    .bind(&view.result)
    .bind(&item_code)
    .bind(&input.decision)
    .bind(reason)
    .bind(fee)
        .bind(&jws)
    .execute(tx.conn())
    .await
    .map_err(|e| {
        if yrd_db::is_unique_violation(&e) {
            FhirError::Conflict(format!("{} was decided here meanwhile", view.result))
        } else {
            e.into()
        }
    })?;
    yrd_audit::log(
        &mut tx,
        store::MODULE,
        &reader.login,
        "recognition.decide",
        id.clone(),
        Some(reader.hospital.jurisdiction),
        claims,
    )
    .await?;
    tx.commit().await?;
    Ok(Decision {
        id,
        at,
        reader_org: reader.hospital.org_id.clone(),
        reader_login: reader.login.clone(),
        source_org: view.source_org.clone(),
        result: view.result.clone(),
        item_code,
        decision: input.decision.clone(),
        reason: reason.map(str::to_string),
        fee_fen: fee,
        jws,
    })
}

/// A compact JWS of the claims: header `{"alg":"EdDSA","kid":…}`.
fn sign(keys: &Keys, claims: &Value) -> String {
    let header = json!({"alg": "EdDSA", "kid": keys.key_id(), "typ": "JWT"});
    let input = format!(
        "{}.{}",
        B64URL.encode(header.to_string()),
        B64URL.encode(claims.to_string())
    );
    let signature = keys.signing.sign(input.as_bytes());
    format!("{input}.{}", B64URL.encode(signature.to_bytes()))
}

/// The public key as a JWK set, for anyone to verify decisions with.
pub fn jwks(keys: &Keys) -> Value {
    json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": keys.key_id(),
        "x": B64URL.encode(keys.signing.verifying_key().as_bytes())}]})
}

pub async fn decision(db: &Db, id: &str) -> Result<Option<Decision>, FhirError> {
    let row = sqlx::query(
        "SELECT id, at, reader_org, reader_login, source_org, result, item_code, decision, reason, fee_fen, jws FROM health_decisions WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        Ok(Decision {
            id: r.try_get(0)?,
            at: r.try_get(1)?,
            reader_org: r.try_get(2)?,
            reader_login: r.try_get(3)?,
            source_org: r.try_get(4)?,
            result: r.try_get(5)?,
            item_code: r.try_get(6)?,
            decision: r.try_get(7)?,
            reason: r.try_get(8)?,
            fee_fen: r.try_get(9)?,
            jws: r.try_get(10)?,
        })
    })
    .transpose()
}

/// Reuse between two provinces: results from `source` reused in `reader`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PairStat {
    pub source_province: String,
    pub reader_province: String,
    /// Distinct results accepted.
    pub results_reused: i64,
    /// Accepted decisions: tests not repeated.
    pub repeats_avoided: i64,
    pub declined: i64,
    /// Estimated fees saved, in fen.
    pub saved_fen: i64,
}

pub async fn stats(db: &Db) -> Result<Vec<PairStat>, FhirError> {
    let rows = sqlx::query(
        "SELECT s.jurisdiction, r.jurisdiction, d.decision, d.result, d.fee_fen FROM health_decisions d \
         JOIN health_hospitals s ON s.org_id = d.source_org JOIN health_hospitals r ON r.org_id = d.reader_org",
    )
    .fetch_all(db.pool())
    .await?;
    #[derive(Default)]
    struct Tally {
        results: std::collections::BTreeSet<String>,
        accepted: i64,
        declined: i64,
        saved: i64,
    }
    let mut pairs: BTreeMap<(String, String), Tally> = BTreeMap::new();
    for row in &rows {
        let province = |code: String| JurisdictionCode::parse(&code).map_or(code, |c| c.province().to_string());
        let tally = pairs.entry((province(row.get(0)), province(row.get(1)))).or_default();
        if row.get::<String, _>(2) == "accepted" {
            tally.results.insert(row.get(3));
            tally.accepted += 1;
            tally.saved += row.get::<i64, _>(4);
        } else {
            tally.declined += 1;
        }
    }
    Ok(pairs
        .into_iter()
        .map(|((source, reader), tally)| PairStat {
            source_province: source,
            reader_province: reader,
            results_reused: tally.results.len() as i64,
            repeats_avoided: tally.accepted,
            declined: tally.declined,
            saved_fen: tally.saved,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalogue_reads_and_bad_lines_are_named() {
        let items = parse_catalogue(SHIPPED_CATALOGUE).unwrap();
        assert!(items.iter().any(|i| i.code == "718-7" && i.kind == "lab"));
        assert!(items.iter().any(|i| i.code == "CT:51185008" && i.kind == "imaging"));
        let bad = "code,kind,name_zh,name_en,validity_days,min_level,fee_fen\n718-7,lab,血红蛋白,Haemoglobin,seven,2,1000\nXR:1,imaging,a,b,1,2,3\n718-7,lab,a,b,1,2\n";
        let problems = parse_catalogue(bad).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("line 2, validity_days"), "{problems:?}");
        assert!(problems[1].starts_with("line 3, code"), "{problems:?}");
        assert!(problems[2].starts_with("line 4: 7 fields"), "{problems:?}");
    }
}

//! Registries, filings, catalogues and policies, the point-of-care flow, the clearing
//! ledger and claim review. Each mutation is one transaction with its audit entry.

use crate::domain::{self, BillLine, CatalogueItem, Inputs, Policy, Settlement, VisitKind, YearToDate};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{Datelike, NaiveDate, Utc};
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::HashMap;
use yrd_audit::{canonical_json, sha256_hex};
use yrd_db::{Backend, Db, DbError, Tx};
use yrd_kernel::time::{now_db, to_db};
use yrd_kernel::{Fen, JurisdictionCode, national_id};

pub const MODULE: &str = "insurance";
/// The billing desks' role, apart from the funds': a grant of `insurance_desk` at write
/// over a jurisdiction lets its hospitals register, bill, settle, reverse and reconcile,
/// and nothing of the funds' (enrolment, filings, people); a fund grant gives no desk.
pub const DESK: &str = "insurance_desk";
/// Bounds that keep every ledger sum far inside i64.
pub const MAX_PREPAYMENT_FEN: i64 = 1_000_000_000_000;
pub const MAX_ACCOUNT_FEN: i64 = 10_000_000_000;
/// How long a quote holds its funds before it expires.
pub const QUOTE_MINUTES: i64 = 30;

pub use yrd_web::{ServiceError, invalid};

pub async fn audit(
    tx: &mut Tx,
    actor: &str,
    action: &str,
    entity: String,
    jurisdiction: Option<JurisdictionCode>,
    detail: Value,
) -> Result<(), DbError> {
    yrd_audit::log(tx, MODULE, actor, action, entity, jurisdiction, detail).await
}

// ---------------------------------------------------------------------------------------
// Keys: the national-ID hashing key and the statement signing key, made on first use.

async fn secret(db: &Db, name: &str) -> Result<Vec<u8>, DbError> {
    if let Some(row) = sqlx::query("SELECT secret FROM ins_keys WHERE name = $1")
        .bind(name)
        .fetch_optional(db.pool())
        .await?
    {
        return Ok(B64.decode(row.get::<String, _>(0)).unwrap_or_default());
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    let public = (name == "statements").then(|| B64.encode(SigningKey::from_bytes(&bytes).verifying_key().as_bytes()));
    let mut tx = db.begin().await?;
    // Another node may have made it meanwhile: keep the first.
    let exists = sqlx::query("SELECT secret FROM ins_keys WHERE name = $1")
        .bind(name)
        .fetch_optional(tx.conn())
        .await?;
    if let Some(row) = exists {
        tx.commit().await?;
        return Ok(B64.decode(row.get::<String, _>(0)).unwrap_or_default());
    }
    sqlx::query("INSERT INTO ins_keys (name, secret, public_key, created_at) VALUES ($1, $2, $3, $4)")
        .bind(name)
        .bind(B64.encode(bytes))
        .bind(public)
        .bind(now_db())
        .execute(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(bytes.to_vec())
}

/// HMAC-SHA256 of a national ID under the platform's key: IDs are never stored.
pub async fn id_hash(db: &Db, national_id: &str) -> Result<String, DbError> {
    let key = secret(db, "national-id").await?;
    Ok(yrd_audit::hmac_sha256_hex(
        &key,
        national_id::normalise(national_id).as_bytes(),
    ))
}

pub use national_id::{is_valid as valid_national_id, with_check_digit};

// ---------------------------------------------------------------------------------------
// Registries

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Fund {
    /// `<jurisdiction>-<E|R>`, e.g. `340100-E` for Hefei's employee scheme.
    pub code: String,
    pub jurisdiction: JurisdictionCode,
    /// employee or resident
    pub scheme: String,
    pub name_zh: String,
    pub name_en: String,
}

pub async fn save_fund(db: &Db, actor: &str, fund: &Fund) -> Result<(), ServiceError> {
    if !matches!(fund.scheme.as_str(), "employee" | "resident") {
        return Err(invalid("scheme", "employee or resident"));
    }
    let expected = format!(
        "{}-{}",
        fund.jurisdiction,
        if fund.scheme == "employee" { "E" } else { "R" }
    );
    if fund.code != expected {
        return Err(invalid(
            "code",
            format!("a fund's code is its jurisdiction and scheme: {expected}"),
        ));
    }
    let mut tx = db.begin().await?;
    sqlx::query(
        "DELETE FROM ins_funds WHERE code = $1 AND NOT EXISTS (SELECT 1 FROM ins_persons WHERE fund_code = $1)",
    )
    .bind(&fund.code)
    .execute(tx.conn())
    .await?;
    let exists = sqlx::query("SELECT 1 FROM ins_funds WHERE code = $1")
        .bind(&fund.code)
        .fetch_optional(tx.conn())
        .await?;
    if exists.is_none() {
        sqlx::query("INSERT INTO ins_funds (code, jurisdiction, scheme, name_zh, name_en) VALUES ($1, $2, $3, $4, $5)")
            .bind(&fund.code)
            .bind(fund.jurisdiction.to_string())
            .bind(&fund.scheme)
            .bind(&fund.name_zh)
            .bind(&fund.name_en)
            .execute(tx.conn())
            .await?;
    }
    for account in [
        format!("prepaid:{}", fund.code),
        format!("bank:{}", fund.code),
        format!("personal:{}", fund.code),
    ] {
        ensure_account(&mut tx, &account).await?;
    }
    audit(
        &mut tx,
        actor,
        "fund.save",
        fund.code.clone(),
        Some(fund.jurisdiction),
        serde_json::to_value(fund).unwrap_or_default(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn fund(db: &Db, code: &str) -> Result<Option<Fund>, DbError> {
    let row = sqlx::query("SELECT code, jurisdiction, scheme, name_zh, name_en FROM ins_funds WHERE code = $1")
        .bind(code)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.and_then(|r| {
        Some(Fund {
            code: r.get(0),
            jurisdiction: JurisdictionCode::parse(&r.get::<String, _>(1)).ok()?,
            scheme: r.get(2),
            name_zh: r.get(3),
            name_en: r.get(4),
        })
    }))
}

pub async fn funds(db: &Db) -> Result<Vec<Fund>, DbError> {
    let rows = sqlx::query("SELECT code, jurisdiction, scheme, name_zh, name_en FROM ins_funds ORDER BY code")
        .fetch_all(db.pool())
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(Fund {
                code: r.get(0),
                jurisdiction: JurisdictionCode::parse(&r.get::<String, _>(1)).ok()?,
                scheme: r.get(2),
                name_zh: r.get(3),
                name_en: r.get(4),
            })
        })
        .collect())
}

async fn ensure_account(tx: &mut Tx, code: &str) -> Result<(), DbError> {
    let kind = code.split(':').next().unwrap_or("other");
    if sqlx::query("SELECT 1 FROM ins_accounts WHERE code = $1")
        .bind(code)
        .fetch_optional(tx.conn())
        .await?
        .is_none()
    {
        sqlx::query("INSERT INTO ins_accounts (code, kind) VALUES ($1, $2)")
            .bind(code)
            .bind(kind)
            .execute(tx.conn())
            .await?;
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Institution {
    pub code: String,
    pub name: String,
    pub jurisdiction: JurisdictionCode,
    /// Hospital level 1–3.
    pub level: i64,
    /// general_outpatient, chronic_outpatient, inpatient, pharmacy
    pub types: Vec<String>,
    /// Connected for cross-province direct settlement.
    pub networked: bool,
    #[serde(default = "applied")]
    pub status: String,
}

fn applied() -> String {
    "applied".into()
}

pub const INSTITUTION_TYPES: [&str; 4] = ["general_outpatient", "chronic_outpatient", "inpatient", "pharmacy"];

/// The onboarding workflow: which status may follow which.
pub fn institution_transition_allowed(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("applied", "reviewing")
            | ("reviewing", "designated")
            | ("reviewing", "revoked")
            | ("designated", "suspended")
            | ("suspended", "designated")
            | ("designated", "revoked")
            | ("suspended", "revoked")
    )
}

pub async fn apply_institution(db: &Db, actor: &str, inst: &Institution) -> Result<(), ServiceError> {
    if inst.code.trim().is_empty() || inst.code.len() > 20 || !inst.code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(invalid("code", "1 to 20 letters and digits"));
    }
    if !(1..=3).contains(&inst.level) {
        return Err(invalid("level", "1, 2 or 3"));
    }
    if inst.types.is_empty() || inst.types.iter().any(|t| !INSTITUTION_TYPES.contains(&t.as_str())) {
        return Err(invalid("types", INSTITUTION_TYPES.join(", ")));
    }
    let mut tx = db.begin().await?;
    if sqlx::query("SELECT 1 FROM ins_institutions WHERE code = $1")
        .bind(&inst.code)
        .fetch_optional(tx.conn())
        .await?
        .is_some()
    {
        return Err(ServiceError::Conflict(format!("institution {} exists", inst.code)));
    }
    sqlx::query("INSERT INTO ins_institutions (code, name, jurisdiction, level, types, networked, status, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'applied', $7)")
        .bind(&inst.code)
        .bind(inst.name.trim())
        .bind(inst.jurisdiction.to_string())
        .bind(inst.level)
        .bind(inst.types.join(","))
        .bind(i64::from(inst.networked))
        .bind(now_db())
        .execute(tx.conn())
        .await?;
    sqlx::query("INSERT INTO ins_institution_events (code, from_status, to_status, actor, reason, at) VALUES ($1, NULL, 'applied', $2, NULL, $3)").bind(&inst.code).bind(actor).bind(now_db()).execute(tx.conn()).await?;
    ensure_account(&mut tx, &format!("institution:{}", inst.code)).await?;
    audit(
        &mut tx,
        actor,
        "institution.apply",
        inst.code.clone(),
        Some(inst.jurisdiction),
        serde_json::to_value(inst).unwrap_or_default(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn set_institution_status(
    db: &Db,
    actor: &str,
    code: &str,
    to: &str,
    reason: Option<&str>,
) -> Result<(), ServiceError> {
    let inst = institution(db, code)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("institution {code}")))?;
    if !institution_transition_allowed(&inst.status, to) {
        return Err(ServiceError::Conflict(format!(
            "an institution that is {} cannot become {to}",
            inst.status
        )));
    }
    if matches!(to, "suspended" | "revoked") && reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(invalid("reason", "say why"));
    }
    let mut tx = db.begin().await?;
    let changed =
        sqlx::query("UPDATE ins_institutions SET status = $1, updated_at = $2 WHERE code = $3 AND status = $4")
            .bind(to)
            .bind(now_db())
            .bind(code)
            .bind(&inst.status)
            .execute(tx.conn())
            .await?;
    if changed.rows_affected() == 0 {
        return Err(ServiceError::Conflict("changed meanwhile".into()));
    }
    sqlx::query("INSERT INTO ins_institution_events (code, from_status, to_status, actor, reason, at) VALUES ($1, $2, $3, $4, $5, $6)").bind(code).bind(&inst.status).bind(to).bind(actor).bind(reason).bind(now_db()).execute(tx.conn()).await?;
    audit(
        &mut tx,
        actor,
        &format!("institution.{to}"),
        code.into(),
        Some(inst.jurisdiction),
        json!({"from": inst.status, "to": to, "reason": reason}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Connects an institution to, or takes it off, the cross-province settlement network.
/// An application only asks for it; the bureau decides here.
pub async fn set_networked(db: &Db, actor: &str, code: &str, networked: bool) -> Result<(), ServiceError> {
    let inst = institution(db, code)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("institution {code}")))?;
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE ins_institutions SET networked = $1, updated_at = $2 WHERE code = $3")
        .bind(i64::from(networked))
        .bind(now_db())
        .bind(code)
        .execute(tx.conn())
        .await?;
    audit(
        &mut tx,
        actor,
        "institution.networked",
        code.into(),
        Some(inst.jurisdiction),
        json!({"from": inst.networked, "to": networked}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

fn institution_from_row(r: &yrd_db::AnyRow) -> Option<Institution> {
    Some(Institution {
        code: r.get(0),
        name: r.get(1),
        jurisdiction: JurisdictionCode::parse(&r.get::<String, _>(2)).ok()?,
        level: r.get(3),
        types: r.get::<String, _>(4).split(',').map(str::to_string).collect(),
        networked: r.get::<i64, _>(5) != 0,
        status: r.get(6),
    })
}

pub async fn institution(db: &Db, code: &str) -> Result<Option<Institution>, DbError> {
    let row = sqlx::query(
        "SELECT code, name, jurisdiction, level, types, networked, status FROM ins_institutions WHERE code = $1",
    )
    .bind(code)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.as_ref().and_then(institution_from_row))
}

pub async fn institutions(db: &Db, limit: i64) -> Result<Vec<Institution>, DbError> {
    let rows = sqlx::query(&format!("SELECT code, name, jurisdiction, level, types, networked, status FROM ins_institutions ORDER BY jurisdiction, code LIMIT {}", limit.clamp(1, 5000)))
        .fetch_all(db.pool())
        .await?;
    Ok(rows.iter().filter_map(institution_from_row).collect())
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Person {
    pub id: i64,
    pub name: String,
    pub fund: String,
    pub status: String,
    pub account_balance_fen: i64,
}

pub async fn enrol(
    db: &Db,
    actor: &str,
    national_id: &str,
    name: &str,
    fund_code: &str,
    account_balance_fen: i64,
) -> Result<Person, ServiceError> {
    if !valid_national_id(national_id) {
        return Err(invalid("national_id", "18 characters with a valid check character"));
    }
    if name.trim().is_empty() {
        return Err(invalid("name", "required"));
    }
    if !(0..=MAX_ACCOUNT_FEN).contains(&account_balance_fen) {
        return Err(invalid("account_balance_fen", "0 to ¥100,000,000"));
    }
    let f = fund(db, fund_code)
        .await?
        .ok_or_else(|| invalid("fund", format!("no fund '{fund_code}'")))?;
    let hash = id_hash(db, national_id).await?;
    let mut tx = db.begin().await?;
    if sqlx::query("SELECT 1 FROM ins_persons WHERE id_hash = $1")
        .bind(&hash)
        .fetch_optional(tx.conn())
        .await?
        .is_some()
    {
        return Err(ServiceError::Conflict("this person is insured already".into()));
    }
    let id: i64 = sqlx::query("INSERT INTO ins_persons (id_hash, name, fund_code, status, account_balance_fen) VALUES ($1, $2, $3, 'active', $4) RETURNING id")
        .bind(&hash)
        .bind(name.trim())
        .bind(fund_code)
        .bind(account_balance_fen)
        .fetch_one(tx.conn())
        .await?
        .get(0);
    audit(
        &mut tx,
        actor,
        "person.enrol",
        format!("person:{id}"),
        Some(f.jurisdiction),
        json!({"fund": fund_code}),
    )
    .await?;
    tx.commit().await?;
    Ok(Person {
        id,
        name: name.trim().into(),
        fund: fund_code.into(),
        status: "active".into(),
        account_balance_fen,
    })
}

pub async fn person_by_id(db: &Db, national_id: &str) -> Result<Option<Person>, DbError> {
    let hash = id_hash(db, national_id).await?;
    let row =
        sqlx::query("SELECT id, name, fund_code, status, account_balance_fen FROM ins_persons WHERE id_hash = $1")
            .bind(hash)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(|r| Person {
        id: r.get(0),
        name: r.get(1),
        fund: r.get(2),
        status: r.get(3),
        account_balance_fen: r.get(4),
    }))
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Filing {
    /// long_term (residence or work elsewhere) or temporary (referral, emergency)
    pub kind: String,
    /// Where treatment is filed for: a jurisdiction code (its whole area counts).
    pub destination: JurisdictionCode,
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
}

/// The jurisdiction in a fund code (`340100-E` → 340100).
fn fund_jurisdiction(fund: &str) -> Option<JurisdictionCode> {
    JurisdictionCode::parse(fund.split('-').next().unwrap_or("")).ok()
}

pub async fn file(db: &Db, actor: &str, person: &Person, filing: &Filing) -> Result<(), ServiceError> {
    if !matches!(filing.kind.as_str(), "long_term" | "temporary") {
        return Err(invalid("kind", "long_term or temporary"));
    }
    if filing.valid_to < filing.valid_from {
        return Err(invalid("valid_to", "before valid_from"));
    }
    let mut tx = db.begin().await?;
    sqlx::query("INSERT INTO ins_filings (person_id, kind, destination, valid_from, valid_to, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(person.id)
        .bind(&filing.kind)
        .bind(filing.destination.to_string())
        .bind(filing.valid_from.to_string())
        .bind(filing.valid_to.to_string())
        .bind(now_db())
        .execute(tx.conn())
        .await?;
    audit(
        &mut tx,
        actor,
        "filing.create",
        format!("person:{}", person.id),
        fund_jurisdiction(&person.fund),
        serde_json::to_value(filing).unwrap_or_default(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn filings(db: &Db, person: i64) -> Result<Vec<Filing>, DbError> {
    let rows =
        sqlx::query("SELECT kind, destination, valid_from, valid_to FROM ins_filings WHERE person_id = $1 ORDER BY id")
            .bind(person)
            .fetch_all(db.pool())
            .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(Filing {
                kind: r.get(0),
                destination: JurisdictionCode::parse(&r.get::<String, _>(1)).ok()?,
                valid_from: r.get::<String, _>(2).parse().ok()?,
                valid_to: r.get::<String, _>(3).parse().ok()?,
            })
        })
        .collect())
}

/// Whether a filing covers treatment in `place` on `date`.
pub fn filed_for(filings: &[Filing], place: JurisdictionCode, date: NaiveDate) -> bool {
    filings
        .iter()
        .any(|f| f.valid_from <= date && date <= f.valid_to && f.destination.scope().covers(place))
}

// ---------------------------------------------------------------------------------------
// Catalogue (place of treatment) and policies (insured place)

pub async fn save_catalogue(db: &Db, actor: &str, place: &str, items: &[CatalogueItem]) -> Result<usize, ServiceError> {
    for (i, item) in items.iter().enumerate() {
        if item.code.trim().is_empty() {
            return Err(invalid(&format!("items/{i}/code"), "required"));
        }
        if item.self_pay_permille > 1000 {
            return Err(invalid(&format!("items/{i}/self_pay_permille"), "at most 1000"));
        }
        if item.price_ceiling_fen.is_some_and(|c| c < 0) {
            return Err(invalid(&format!("items/{i}/price_ceiling_fen"), "must not be negative"));
        }
    }
    let mut tx = db.begin().await?;
    for item in items {
        sqlx::query("DELETE FROM ins_catalogue WHERE place = $1 AND code = $2")
            .bind(place)
            .bind(&item.code)
            .execute(tx.conn())
            .await?;
        sqlx::query("INSERT INTO ins_catalogue (place, code, item) VALUES ($1, $2, $3)")
            .bind(place)
            .bind(&item.code)
            .bind(serde_json::to_string(item).unwrap_or_default())
            .execute(tx.conn())
            .await?;
    }
    audit(
        &mut tx,
        actor,
        "catalogue.save",
        place.into(),
        JurisdictionCode::parse(&format!("{place:0<6}")).ok(),
        json!({"items": items.len()}),
    )
    .await?;
    tx.commit().await?;
    Ok(items.len())
}

/// The catalogue of the province where treatment happens.
pub async fn catalogue(db: &Db, place: JurisdictionCode) -> Result<HashMap<String, CatalogueItem>, DbError> {
    let province = &place.to_string()[..2];
    let rows = sqlx::query("SELECT item FROM ins_catalogue WHERE place = $1")
        .bind(province)
        .fetch_all(db.pool())
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| serde_json::from_str::<CatalogueItem>(&r.get::<String, _>(0)).ok())
        .map(|i| (i.code.clone(), i))
        .collect())
}

pub async fn save_policy(
    db: &Db,
    actor: &str,
    fund_code: &str,
    level: i64,
    kind: VisitKind,
    effective_from: NaiveDate,
    policy: &Policy,
) -> Result<(), ServiceError> {
    if let Some((field, message)) = policy.problems().into_iter().next() {
        return Err(invalid(&format!("policy/{field}"), message));
    }
    if !(1..=3).contains(&level) {
        return Err(invalid("level", "1, 2 or 3"));
    }
    let f = fund(db, fund_code)
        .await?
        .ok_or_else(|| invalid("fund", format!("no fund '{fund_code}'")))?;
    let kind_text = serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut tx = db.begin().await?;
    sqlx::query(
        "DELETE FROM ins_policies WHERE fund_code = $1 AND level = $2 AND visit_kind = $3 AND effective_from = $4",
    )
    .bind(fund_code)
    .bind(level)
    .bind(&kind_text)
    .bind(effective_from.to_string())
    .execute(tx.conn())
    .await?;
    sqlx::query(
        "INSERT INTO ins_policies (fund_code, level, visit_kind, effective_from, policy) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(fund_code)
    .bind(level)
    .bind(&kind_text)
    .bind(effective_from.to_string())
    .bind(serde_json::to_string(policy).unwrap_or_default())
    .execute(tx.conn())
    .await?;
    audit(
        &mut tx,
        actor,
        "policy.save",
        fund_code.into(),
        Some(f.jurisdiction),
        json!({"level": level, "kind": kind_text, "effective_from": effective_from, "policy": policy}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The policy version in force on `date`.
pub async fn policy_on(
    db: &Db,
    fund_code: &str,
    level: i64,
    kind: VisitKind,
    date: NaiveDate,
) -> Result<Option<Policy>, DbError> {
    let kind_text = serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let row = sqlx::query("SELECT policy FROM ins_policies WHERE fund_code = $1 AND level = $2 AND visit_kind = $3 AND effective_from <= $4 ORDER BY effective_from DESC LIMIT 1")
        .bind(fund_code)
        .bind(level)
        .bind(kind_text)
        .bind(date.to_string())
        .fetch_optional(db.pool())
        .await?;
    Ok(row.and_then(|r| serde_json::from_str(&r.get::<String, _>(0)).ok()))
}

// ---------------------------------------------------------------------------------------
// Idempotent point-of-care messages

/// A point-of-care message id, unique per institution.
pub struct MessageKey(String);

impl MessageKey {
    pub fn new(institution: &str, message_id: &str) -> Result<Self, ServiceError> {
        if message_id.trim().is_empty() || message_id.len() > 64 {
            return Err(invalid("message_id", "1 to 64 characters, unique per message"));
        }
        Ok(Self(format!("{institution}/{message_id}")))
    }
}

pub enum Claim {
    /// The id is new (or its earlier attempt was abandoned): run the call.
    Claimed,
    /// The same message was answered before: send the same answer.
    Answered(u16, Value),
}

/// How long an unanswered claim blocks its id; after that a retry takes it over (the
/// node that claimed it died mid-call).
const CLAIM_SECONDS: i64 = 120;

pub async fn claim(db: &Db, key: &MessageKey, endpoint: &str, body: &Value) -> Result<Claim, ServiceError> {
    let digest = sha256_hex(canonical_json(body).as_bytes());
    let inserted = sqlx::query("INSERT INTO ins_messages (message_id, endpoint, body_sha256, status, response, at) VALUES ($1, $2, $3, 0, '', $4) ON CONFLICT (message_id) DO NOTHING")
        .bind(&key.0)
        .bind(endpoint)
        .bind(&digest)
        .bind(now_db())
        .execute(db.pool())
        .await?;
    if inserted.rows_affected() == 1 {
        return Ok(Claim::Claimed);
    }
    let busy = || ServiceError::Conflict("message_id: this message is being processed; send it again shortly".into());
    // Gone again already: its first attempt was refused and released just now.
    let row = sqlx::query("SELECT endpoint, body_sha256, status, response, at FROM ins_messages WHERE message_id = $1")
        .bind(&key.0)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(busy)?;
    if row.get::<String, _>(0) != endpoint || row.get::<String, _>(1) != digest {
        return Err(ServiceError::Conflict(
            "message_id: this id was used for a different message".into(),
        ));
    }
    let status: i64 = row.get(2);
    if status != 0 {
        return Ok(Claim::Answered(
            status as u16,
            serde_json::from_str(&row.get::<String, _>(3)).unwrap_or(Value::Null),
        ));
    }
    let claimed_at: String = row.get(4);
    let stale = to_db(Utc::now() - chrono::Duration::seconds(CLAIM_SECONDS));
    let taken =
        sqlx::query("UPDATE ins_messages SET at = $1 WHERE message_id = $2 AND status = 0 AND at = $3 AND at < $4")
            .bind(now_db())
            .bind(&key.0)
            .bind(&claimed_at)
            .bind(&stale)
            .execute(db.pool())
            .await?;
    if taken.rows_affected() == 1 {
        return Ok(Claim::Claimed);
    }
    Err(busy())
}

pub async fn answer(db: &Db, key: &MessageKey, status: u16, response: &Value) -> Result<(), DbError> {
    sqlx::query("UPDATE ins_messages SET status = $1, response = $2, at = $3 WHERE message_id = $4")
        .bind(status as i64)
        .bind(response.to_string())
        .bind(now_db())
        .bind(&key.0)
        .execute(db.pool())
        .await?;
    Ok(())
}

pub async fn release(db: &Db, key: &MessageKey) -> Result<(), DbError> {
    sqlx::query("DELETE FROM ins_messages WHERE message_id = $1 AND status = 0")
        .bind(&key.0)
        .execute(db.pool())
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Visits and settlement

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Visit {
    pub id: i64,
    pub number: String,
    pub person_id: i64,
    pub institution: String,
    pub kind: VisitKind,
    pub treated_on: NaiveDate,
    pub lines: Vec<BillLine>,
    pub state: String,
}

pub async fn visit(db: &Db, number: &str) -> Result<Option<Visit>, DbError> {
    let row = sqlx::query(
        "SELECT id, number, person_id, institution, kind, treated_on, lines, state FROM ins_visits WHERE number = $1",
    )
    .bind(number)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.and_then(|r| {
        Some(Visit {
            id: r.get(0),
            number: r.get(1),
            person_id: r.get(2),
            institution: r.get(3),
            kind: serde_json::from_value(Value::String(r.get(4))).ok()?,
            treated_on: r.get::<String, _>(5).parse().ok()?,
            lines: r
                .get::<Option<String>, _>(6)
                .and_then(|l| serde_json::from_str(&l).ok())
                .unwrap_or_default(),
            state: r.get(7),
        })
    }))
}

/// A visit is registered on or after its treatment date, and no earlier than 2000.
pub fn check_treatment_date(treated_on: NaiveDate) -> Result<(), ServiceError> {
    let today = yrd_kernel::time::today();
    let earliest = NaiveDate::from_ymd_opt(2000, 1, 1).expect("a valid date");
    if treated_on > today || treated_on < earliest {
        return Err(invalid(
            "treated_on",
            format!("a date from 2000-01-01 to today ({today})"),
        ));
    }
    Ok(())
}

pub async fn register_visit(
    tx: &mut Tx,
    person: &Person,
    institution: &Institution,
    kind: VisitKind,
    treated_on: NaiveDate,
) -> Result<Visit, DbError> {
    let mut rnd = [0u8; 5];
    getrandom::fill(&mut rnd).expect("the OS random source works");
    let number = format!(
        "V{}{}",
        treated_on.format("%Y%m%d"),
        rnd.iter().map(|b| format!("{b:02X}")).collect::<String>()
    );
    let kind_text = serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let id: i64 = sqlx::query("INSERT INTO ins_visits (number, person_id, institution, kind, treated_on, state, created_at) VALUES ($1, $2, $3, $4, $5, 'registered', $6) RETURNING id")
        .bind(&number)
        .bind(person.id)
        .bind(&institution.code)
        .bind(kind_text)
        .bind(treated_on.to_string())
        .bind(now_db())
        .fetch_one(tx.conn())
        .await?
        .get(0);
    Ok(Visit {
        id,
        number,
        person_id: person.id,
        institution: institution.code.clone(),
        kind,
        treated_on,
        lines: Vec::new(),
        state: "registered".into(),
    })
}

/// Everything a settlement computation needs, read under the person's lock.
pub struct Context {
    pub person: Person,
    pub fund: Fund,
    pub institution: Institution,
    pub policy: Policy,
    pub catalogue: HashMap<String, CatalogueItem>,
    pub filed: bool,
}

pub async fn context(db: &Db, visit: &Visit) -> Result<Context, ServiceError> {
    let row = sqlx::query("SELECT id, name, fund_code, status, account_balance_fen FROM ins_persons WHERE id = $1")
        .bind(visit.person_id)
        .fetch_one(db.pool())
        .await?;
    let person = Person {
        id: row.get(0),
        name: row.get(1),
        fund: row.get(2),
        status: row.get(3),
        account_balance_fen: row.get(4),
    };
    let fund = fund(db, &person.fund)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("fund {}", person.fund)))?;
    let institution = institution(db, &visit.institution)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("institution {}", visit.institution)))?;
    // Checked again here: the bureau may have taken the institution off the network
    // since the visit was registered.
    if fund.jurisdiction.province() != institution.jurisdiction.province() && !institution.networked {
        return Err(ServiceError::Conflict(format!(
            "institution {} is not networked for cross-province settlement",
            institution.code
        )));
    }
    let policy = policy_on(db, &fund.code, institution.level, visit.kind, visit.treated_on)
        .await?
        .ok_or_else(|| {
            ServiceError::Conflict(format!(
                "fund {} has no policy for level {} in force on {}",
                fund.code, institution.level, visit.treated_on
            ))
        })?;
    let catalogue = catalogue(db, institution.jurisdiction).await?;
    let filed = fund.jurisdiction.province() == institution.jurisdiction.province()
        || filed_for(
            &filings(db, person.id).await?,
            institution.jurisdiction,
            visit.treated_on,
        );
    Ok(Context {
        person,
        fund,
        institution,
        policy,
        catalogue,
        filed,
    })
}

async fn lock_ytd(tx: &mut Tx, person: i64, year: i32) -> Result<YearToDate, DbError> {
    if sqlx::query("SELECT 1 FROM ins_ytd WHERE person_id = $1 AND year = $2")
        .bind(person)
        .bind(year as i64)
        .fetch_optional(tx.conn())
        .await?
        .is_none()
    {
        let insert = match tx.backend() {
            Backend::Postgres => {
                "INSERT INTO ins_ytd (person_id, year, deductible_paid_fen, fund_paid_fen) VALUES ($1, $2, 0, 0) ON CONFLICT DO NOTHING"
            }
            Backend::Sqlite => {
                "INSERT OR IGNORE INTO ins_ytd (person_id, year, deductible_paid_fen, fund_paid_fen) VALUES ($1, $2, 0, 0)"
            }
        };
        sqlx::query(insert)
            .bind(person)
            .bind(year as i64)
            .execute(tx.conn())
            .await?;
    }
    let lock = if tx.backend() == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let row = sqlx::query(&format!(
        "SELECT deductible_paid_fen, fund_paid_fen FROM ins_ytd WHERE person_id = $1 AND year = $2{lock}"
    ))
    .bind(person)
    .bind(year as i64)
    .fetch_one(tx.conn())
    .await?;
    Ok(YearToDate {
        deductible_paid_fen: row.get(0),
        fund_paid_fen: row.get(1),
    })
}

fn compute(ctx: &Context, visit: &Visit, ytd: YearToDate) -> Result<Settlement, ServiceError> {
    let balance = ctx.person.account_balance_fen;
    domain::settle(&Inputs {
        lines: &visit.lines,
        catalogue: &ctx.catalogue,
        policy: &ctx.policy,
        ytd,
        filed: ctx.filed,
        account_balance_fen: balance,
    })
    .map_err(|e| match e {
        domain::SettleError::UnknownItem(i, _) => invalid(&format!("lines/{i}/item"), e.to_string()),
        domain::SettleError::BadLine(i, _) => invalid(&format!("lines/{i}"), e.to_string()),
        other => invalid("lines", other.to_string()),
    })
}

/// The month in Shanghai now.
fn current_month() -> String {
    yrd_kernel::time::today().format("%Y-%m").to_string()
}

/// A settlement is cleared with its treatment month; if that month is already cleared
/// between the two funds' places, with the running month instead (never left out).
async fn settlement_month(tx: &mut Tx, ctx: &Context, visit: &Visit) -> Result<String, DbError> {
    let month = visit.treated_on.format("%Y-%m").to_string();
    let cleared =
        sqlx::query("SELECT 1 FROM ins_statements WHERE month = $1 AND debtor_fund = $2 AND creditor_place = $3")
            .bind(&month)
            .bind(&ctx.fund.code)
            .bind(ctx.institution.jurisdiction.province().to_string())
            .fetch_optional(tx.conn())
            .await?
            .is_some();
    Ok(if cleared { current_month() } else { month })
}

/// Releases the visit's pending quote hold, if any; a hold is resolved exactly once.
async fn void_quote_hold(tx: &mut Tx, visit_id: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE ins_postings SET state = 'voided', resolved_at = $1 WHERE id = (SELECT quote_posting FROM ins_visits WHERE id = $2) AND state = 'pending'")
        .bind(now_db())
        .bind(visit_id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

async fn post(
    tx: &mut Tx,
    kind: &str,
    reference: &str,
    state: &str,
    transfers: &[(String, String, i64)],
) -> Result<i64, DbError> {
    let expires = (state == "pending").then(|| to_db(Utc::now() + chrono::Duration::minutes(QUOTE_MINUTES)));
    let id: i64 = sqlx::query("INSERT INTO ins_postings (kind, reference, state, created_at, expires_at, resolved_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
        .bind(kind)
        .bind(reference)
        .bind(state)
        .bind(now_db())
        .bind(expires)
        .bind((state == "posted").then(now_db))
        .fetch_one(tx.conn())
        .await?
        .get(0);
    for (debit, credit, amount) in transfers.iter().filter(|t| t.2 > 0) {
        ensure_account(tx, debit).await?;
        ensure_account(tx, credit).await?;
        sqlx::query("INSERT INTO ins_transfers (posting_id, debit, credit, amount_fen) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(debit)
            .bind(credit)
            .bind(*amount)
            .execute(tx.conn())
            .await?;
    }
    Ok(id)
}

fn settlement_transfers(ctx: &Context, s: &Settlement) -> Vec<(String, String, i64)> {
    vec![
        (
            format!("prepaid:{}", ctx.fund.code),
            format!("institution:{}", ctx.institution.code),
            s.fund_fen,
        ),
        (
            format!("personal:{}", ctx.fund.code),
            format!("institution:{}", ctx.institution.code),
            s.account_fen,
        ),
    ]
}

/// A quote (pre-settlement): the numbers, with the fund's share held as a pending posting.
pub async fn quote(db: &Db, actor: &str, visit: &Visit) -> Result<(Settlement, i64), ServiceError> {
    if !matches!(visit.state.as_str(), "billed" | "quoted") {
        return Err(ServiceError::Conflict(format!(
            "visit {} is {}; quote a billed visit",
            visit.number, visit.state
        )));
    }
    let ctx = context(db, visit).await?;
    let mut tx = db.begin().await?;
    let ytd = lock_ytd(&mut tx, ctx.person.id, visit.treated_on.year()).await?;
    let s = compute(&ctx, visit, ytd)?;
    // A new quote replaces the previous hold, exactly once.
    void_quote_hold(&mut tx, visit.id).await?;
    let posting = post(
        &mut tx,
        "quote",
        &visit.number,
        "pending",
        &settlement_transfers(&ctx, &s),
    )
    .await?;
    sqlx::query("UPDATE ins_visits SET state = 'quoted', quote_posting = $1 WHERE id = $2")
        .bind(posting)
        .bind(visit.id)
        .execute(tx.conn())
        .await?;
    audit(
        &mut tx,
        actor,
        "visit.quote",
        visit.number.clone(),
        Some(ctx.institution.jurisdiction),
        json!({"fund": s.fund_fen, "account": s.account_fen, "cash": s.cash_fen}),
    )
    .await?;
    tx.commit().await?;
    Ok((s, posting))
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SettlementRecord {
    pub id: i64,
    pub visit: String,
    pub kind: String,
    pub insured_fund: String,
    pub institution: String,
    pub total_fen: i64,
    pub fund_fen: i64,
    pub account_fen: i64,
    pub cash_fen: i64,
    pub month: String,
    pub settled_at: String,
    pub result: Value,
    pub review: Option<String>,
}

/// Settles a visit: recomputed under the person's lock (so two settlements cannot both
/// spend the same ceiling), posted, the quote's hold resolved, the year's totals and the
/// personal account updated, review selection applied.
pub async fn settle(
    db: &Db,
    actor: &str,
    visit: &Visit,
    review_percent: u32,
) -> Result<(SettlementRecord, Settlement), ServiceError> {
    if !matches!(visit.state.as_str(), "billed" | "quoted") {
        return Err(ServiceError::Conflict(format!(
            "visit {} is {}; settle a billed or quoted visit",
            visit.number, visit.state
        )));
    }
    let ctx = context(db, visit).await?;
    if ctx.person.status != "active" {
        return Err(ServiceError::Conflict("the person's insurance is suspended".into()));
    }
    let mut tx = db.begin().await?;
    let changed =
        sqlx::query("UPDATE ins_visits SET state = 'settled' WHERE id = $1 AND state IN ('billed', 'quoted')")
            .bind(visit.id)
            .execute(tx.conn())
            .await?;
    if changed.rows_affected() == 0 {
        return Err(ServiceError::Conflict(format!(
            "visit {} was settled meanwhile",
            visit.number
        )));
    }
    let year = visit.treated_on.year();
    let ytd = lock_ytd(&mut tx, ctx.person.id, year).await?;
    let balance: i64 = sqlx::query("SELECT account_balance_fen FROM ins_persons WHERE id = $1")
        .bind(ctx.person.id)
        .fetch_one(tx.conn())
        .await?
        .get(0);
    let ctx = Context {
        person: Person {
            account_balance_fen: balance,
            ..ctx.person
        },
        ..ctx
    };
    let s = compute(&ctx, visit, ytd)?;
    void_quote_hold(&mut tx, visit.id).await?;
    let posting = post(
        &mut tx,
        "settlement",
        &visit.number,
        "posted",
        &settlement_transfers(&ctx, &s),
    )
    .await?;
    sqlx::query("UPDATE ins_ytd SET deductible_paid_fen = $1, fund_paid_fen = $2 WHERE person_id = $3 AND year = $4")
        .bind(s.ytd_after.deductible_paid_fen)
        .bind(s.ytd_after.fund_paid_fen)
        .bind(ctx.person.id)
        .bind(year as i64)
        .execute(tx.conn())
        .await?;
    sqlx::query("UPDATE ins_persons SET account_balance_fen = account_balance_fen - $1 WHERE id = $2")
        .bind(s.account_fen)
        .bind(ctx.person.id)
        .execute(tx.conn())
        .await?;
    let month = settlement_month(&mut tx, &ctx, visit).await?;
    let settled_at = now_db();
    let result = serde_json::to_value(&s).unwrap_or_default();
    let id: i64 = sqlx::query(
        "INSERT INTO ins_settlements (visit_id, kind, insured_fund, institution, treatment_place, total_fen, fund_fen, account_fen, cash_fen, result, posting_id, month, settled_at) \
         VALUES ($1, 'settlement', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(visit.id)
    .bind(&ctx.fund.code)
    .bind(&ctx.institution.code)
    .bind(ctx.institution.jurisdiction.to_string())
    .bind(s.total_fen)
    .bind(s.fund_fen)
    .bind(s.account_fen)
    .bind(s.cash_fen)
    .bind(result.to_string())
    .bind(posting)
    .bind(&month)
    .bind(&settled_at)
    .fetch_one(tx.conn())
    .await?
    .get(0);
    let deviations = compare_with_norms(&mut tx, ctx.institution.jurisdiction.province(), &s).await?;
    let review = review_reason(id, &s, &deviations, review_percent);
    if let Some(reason) = &review {
        sqlx::query("INSERT INTO ins_reviews (settlement_id, reason, state, at) VALUES ($1, $2, 'selected', $3)")
            .bind(id)
            .bind(reason)
            .bind(now_db())
            .execute(tx.conn())
            .await?;
    }
    audit(
        &mut tx,
        actor,
        "visit.settle",
        visit.number.clone(),
        Some(ctx.institution.jurisdiction),
        json!({"settlement": id, "fund": s.fund_fen, "account": s.account_fen, "cash": s.cash_fen, "review": review}),
    )
    .await?;
    tx.commit().await?;
    let record = SettlementRecord {
        id,
        visit: visit.number.clone(),
        kind: "settlement".into(),
        insured_fund: ctx.fund.code.clone(),
        institution: ctx.institution.code.clone(),
        total_fen: s.total_fen,
        fund_fen: s.fund_fen,
        account_fen: s.account_fen,
        cash_fen: s.cash_fen,
        month,
        settled_at,
        result,
        review: review.map(|_| "selected".into()),
    };
    Ok((record, s))
}

/// Compares each line with what the province of treatment has billed for the item so
/// far, then adds the line to the norm. Items are taken in order so that concurrent
/// settlements lock the norm rows in the same order.
async fn compare_with_norms(tx: &mut Tx, place: JurisdictionCode, s: &Settlement) -> Result<Vec<String>, DbError> {
    let mut lines: Vec<&domain::LineResult> = s.lines.iter().collect();
    lines.sort_by(|a, b| a.item.cmp(&b.item));
    let place = place.to_string();
    let mut deviations = Vec::new();
    for line in lines {
        let norm = sqlx::query("SELECT lines, amount_fen FROM ins_item_norms WHERE place = $1 AND item = $2")
            .bind(&place)
            .bind(&line.item)
            .fetch_optional(tx.conn())
            .await?
            .map(|r| domain::ItemNorm {
                lines: r.get(0),
                amount_fen: r.get(1),
            })
            .unwrap_or_default();
        if let Some((amount, mean)) = domain::deviation(line.amount_fen, norm) {
            deviations.push(format!("{} {} (norm {})", line.item, Fen(amount), Fen(mean)));
        }
        sqlx::query(
            "INSERT INTO ins_item_norms (place, item, lines, amount_fen) VALUES ($1, $2, 1, $3) \
             ON CONFLICT (place, item) DO UPDATE SET lines = ins_item_norms.lines + 1, amount_fen = ins_item_norms.amount_fen + excluded.amount_fen",
        )
        .bind(&place)
        .bind(&line.item)
        .bind(line.amount_fen)
        .execute(tx.conn())
        .await?;
    }
    Ok(deviations)
}

/// Claims chosen for medical review: large bills, lines far above the norm for their
/// item, and a share at random (by id, so the choice is reproducible from the record).
pub fn review_reason(id: i64, s: &Settlement, deviations: &[String], percent: u32) -> Option<String> {
    if s.total_fen >= 5_000_000 {
        return Some("amount: ¥50,000 or more".into());
    }
    if !deviations.is_empty() {
        return Some(format!(
            "deviation: at least {}× the norm for the item: {}",
            domain::NORM_DEVIATION_FACTOR,
            deviations.join("; ")
        ));
    }
    let draw = u64::from_le_bytes(Sha256::digest(id.to_le_bytes())[..8].try_into().expect("8 bytes")) % 100;
    (draw < percent as u64).then(|| format!("random ({percent}%)"))
}

pub async fn settlement(db: &Db, id: i64) -> Result<Option<SettlementRecord>, DbError> {
    let row = sqlx::query(
        "SELECT s.id, v.number, s.kind, s.insured_fund, s.institution, s.total_fen, s.fund_fen, s.account_fen, s.cash_fen, s.month, s.settled_at, s.result, r.state, s.reversed \
         FROM ins_settlements s JOIN ins_visits v ON v.id = s.visit_id LEFT JOIN ins_reviews r ON r.settlement_id = s.id WHERE s.id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| SettlementRecord {
        id: r.get(0),
        visit: r.get(1),
        kind: r.get(2),
        insured_fund: r.get(3),
        institution: r.get(4),
        total_fen: r.get(5),
        fund_fen: r.get(6),
        account_fen: r.get(7),
        cash_fen: r.get(8),
        month: r.get(9),
        settled_at: r.get(10),
        result: serde_json::from_str(&r.get::<String, _>(11)).unwrap_or_default(),
        review: r.get(12),
    }))
}

/// Reverses a settlement with opposite transfers (history is never edited) and gives
/// back the year's totals and the personal account.
pub async fn reverse(db: &Db, actor: &str, id: i64, reason: &str) -> Result<i64, ServiceError> {
    if reason.trim().is_empty() {
        return Err(invalid("reason", "say why"));
    }
    let record = settlement(db, id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("settlement {id}")))?;
    if record.kind != "settlement" {
        return Err(ServiceError::Conflict("a reversal cannot be reversed".into()));
    }
    let place = institution(db, &record.institution).await?.map(|i| i.jurisdiction);
    let mut tx = db.begin().await?;
    let changed = sqlx::query("UPDATE ins_settlements SET reversed = 1 WHERE id = $1 AND reversed = 0")
        .bind(id)
        .execute(tx.conn())
        .await?;
    if changed.rows_affected() == 0 {
        return Err(ServiceError::Conflict(format!("settlement {id} is already reversed")));
    }
    // A rejected claim has already given money back to the fund; reversing it too
    // would refund twice. (review() takes the same row lock, so one of the two wins.)
    if sqlx::query("SELECT 1 FROM ins_reviews WHERE settlement_id = $1 AND state = 'rejected'")
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .is_some()
    {
        return Err(ServiceError::Conflict(format!(
            "settlement {id} was rejected in review and corrected; it cannot be reversed"
        )));
    }
    let visit_row = sqlx::query("SELECT v.id, v.person_id, v.treated_on FROM ins_visits v JOIN ins_settlements s ON s.visit_id = v.id WHERE s.id = $1").bind(id).fetch_one(tx.conn()).await?;
    let (visit_id, person, treated_on): (i64, i64, String) = (visit_row.get(0), visit_row.get(1), visit_row.get(2));
    let year = NaiveDate::parse_from_str(&treated_on, "%Y-%m-%d").map_or(0, |d| d.year());
    let s: Settlement =
        serde_json::from_value(record.result.clone()).map_err(|e| ServiceError::Conflict(e.to_string()))?;
    let ytd = lock_ytd(&mut tx, person, year).await?;
    sqlx::query("UPDATE ins_ytd SET deductible_paid_fen = $1, fund_paid_fen = $2 WHERE person_id = $3 AND year = $4")
        .bind((ytd.deductible_paid_fen - s.deductible_fen).max(0))
        .bind((ytd.fund_paid_fen - s.fund_fen).max(0))
        .bind(person)
        .bind(year as i64)
        .execute(tx.conn())
        .await?;
    sqlx::query("UPDATE ins_persons SET account_balance_fen = account_balance_fen + $1 WHERE id = $2")
        .bind(s.account_fen)
        .bind(person)
        .execute(tx.conn())
        .await?;
    let transfers = vec![
        (
            format!("institution:{}", record.institution),
            format!("prepaid:{}", record.insured_fund),
            record.fund_fen,
        ),
        (
            format!("institution:{}", record.institution),
            format!("personal:{}", record.insured_fund),
            record.account_fen,
        ),
    ];
    let posting = post(&mut tx, "reversal", &record.visit, "posted", &transfers).await?;
    let reversal: i64 = sqlx::query(
        "INSERT INTO ins_settlements (visit_id, kind, original_id, insured_fund, institution, treatment_place, total_fen, fund_fen, account_fen, cash_fen, result, posting_id, month, settled_at, reversed) \
         SELECT visit_id, 'reversal', id, insured_fund, institution, treatment_place, -total_fen, -fund_fen, -account_fen, -cash_fen, result, $1, $4, $2, 1 FROM ins_settlements WHERE id = $3 RETURNING id",
    )
    .bind(posting)
    .bind(now_db())
    .bind(id)
    // In the month it happens: the original's month may already be cleared.
    .bind(current_month())
    .fetch_one(tx.conn())
    .await?
    .get(0);
    sqlx::query("UPDATE ins_visits SET state = 'reversed' WHERE id = $1")
        .bind(visit_id)
        .execute(tx.conn())
        .await?;
    audit(
        &mut tx,
        actor,
        "settlement.reverse",
        format!("settlement:{id}"),
        place,
        json!({"reversal": reversal, "reason": reason}),
    )
    .await?;
    tx.commit().await?;
    Ok(reversal)
}

/// Quotes older than their hold expire: the pending posting is resolved once, as expired.
pub async fn expire_quotes(db: &Db) -> Result<u64, DbError> {
    let mut tx = db.begin().await?;
    let n = sqlx::query(
        "UPDATE ins_postings SET state = 'expired', resolved_at = $1 WHERE state = 'pending' AND expires_at < $1",
    )
    .bind(now_db())
    .execute(tx.conn())
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(n)
}

// ---------------------------------------------------------------------------------------
// Ledger

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Balance {
    pub account: String,
    /// Credits minus debits of posted transfers.
    pub posted_fen: i64,
    /// The same for transfers still pending (quotes on hold).
    pub pending_fen: i64,
}

pub async fn balances(db: &Db, prefix: &str) -> Result<Vec<Balance>, DbError> {
    let rows = sqlx::query(
        "SELECT a.code, \
           COALESCE((SELECT CAST(SUM(t.amount_fen) AS BIGINT) FROM ins_transfers t JOIN ins_postings p ON p.id = t.posting_id WHERE t.credit = a.code AND p.state = 'posted'), 0) - \
           COALESCE((SELECT CAST(SUM(t.amount_fen) AS BIGINT) FROM ins_transfers t JOIN ins_postings p ON p.id = t.posting_id WHERE t.debit = a.code AND p.state = 'posted'), 0), \
           COALESCE((SELECT CAST(SUM(t.amount_fen) AS BIGINT) FROM ins_transfers t JOIN ins_postings p ON p.id = t.posting_id WHERE t.credit = a.code AND p.state = 'pending'), 0) - \
           COALESCE((SELECT CAST(SUM(t.amount_fen) AS BIGINT) FROM ins_transfers t JOIN ins_postings p ON p.id = t.posting_id WHERE t.debit = a.code AND p.state = 'pending'), 0) \
         FROM ins_accounts a WHERE a.code LIKE $1 ORDER BY a.code",
    )
    .bind(format!("{prefix}%"))
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .iter()
        .map(|r| Balance {
            account: r.get(0),
            posted_fen: r.get(1),
            pending_fen: r.get(2),
        })
        .collect())
}

/// The whole ledger balances: posted debits equal posted credits (a check for tests and operators).
pub async fn ledger_balances(db: &Db) -> Result<bool, DbError> {
    let total: i64 = balances(db, "").await?.iter().map(|b| b.posted_fen).sum();
    Ok(total == 0)
}

pub async fn prepay(db: &Db, actor: &str, fund_code: &str, amount_fen: i64) -> Result<(), ServiceError> {
    if !(1..=MAX_PREPAYMENT_FEN).contains(&amount_fen) {
        return Err(invalid("amount_fen", "1 fen to ¥10,000,000,000 in one prepayment"));
    }
    let f = fund(db, fund_code)
        .await?
        .ok_or_else(|| invalid("fund", format!("no fund '{fund_code}'")))?;
    let mut tx = db.begin().await?;
    post(
        &mut tx,
        "prepayment",
        fund_code,
        "posted",
        &[(format!("bank:{fund_code}"), format!("prepaid:{fund_code}"), amount_fen)],
    )
    .await?;
    audit(
        &mut tx,
        actor,
        "fund.prepay",
        fund_code.into(),
        Some(f.jurisdiction),
        json!({"amount": amount_fen}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Month-end clearing

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Statement {
    pub id: i64,
    pub month: String,
    /// The insured fund that owes.
    pub debtor_fund: String,
    /// The province where treatment happened (its clearing account is owed).
    pub creditor_place: String,
    pub total_fen: i64,
    pub settlements: i64,
    /// Header and one line per settlement, canonical JSON; the signature covers it.
    pub body: Value,
    pub kid: String,
    pub signature: String,
}

async fn signing_key(db: &Db) -> Result<SigningKey, DbError> {
    let bytes: [u8; 32] = secret(db, "statements").await?.try_into().unwrap_or([0; 32]);
    Ok(SigningKey::from_bytes(&bytes))
}

pub async fn statement_public_key(db: &Db) -> Result<String, DbError> {
    Ok(B64.encode(signing_key(db).await?.verifying_key().as_bytes()))
}

/// Month-end: one statement per (insured fund, province of treatment) with a line per
/// settlement (and reversal), signed by the platform. Running it again for the month
/// changes nothing.
pub async fn clear_month(db: &Db, actor: &str, month: &str) -> Result<Vec<Statement>, ServiceError> {
    if month.len() != 7 || NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").is_err() {
        return Err(invalid("month", "YYYY-MM"));
    }
    // The running month stays open, so a settlement arriving late always has a month to
    // go into (see settlement_month).
    let current = current_month();
    if month >= current.as_str() {
        return Err(invalid("month", format!("a month that has ended (before {current})")));
    }
    let key = signing_key(db).await?;
    let mut tx = db.begin().await?;
    if tx.backend() == Backend::Postgres {
        // Settlements being written now finish first, and wait until the month is
        // cleared: none can slip in between reading the month and writing its statements.
        sqlx::query("LOCK TABLE ins_settlements IN SHARE MODE")
            .execute(tx.conn())
            .await?;
    }
    let rows = sqlx::query(
        "SELECT s.id, s.kind, s.insured_fund, SUBSTR(s.treatment_place, 1, 2), s.institution, s.total_fen, s.fund_fen, s.account_fen, v.number \
         FROM ins_settlements s JOIN ins_visits v ON v.id = s.visit_id WHERE s.month = $1 AND SUBSTR(s.insured_fund, 1, 2) <> SUBSTR(s.treatment_place, 1, 2) ORDER BY s.insured_fund, s.id",
    )
    .bind(month)
    .fetch_all(tx.conn())
    .await?;
    let mut groups: std::collections::BTreeMap<(String, String), Vec<Value>> = Default::default();
    for r in &rows {
        let place: String = r.get(3);
        groups.entry((r.get(2), format!("{place}0000"))).or_default().push(json!({
            "settlement": r.get::<i64, _>(0), "kind": r.get::<String, _>(1), "institution": r.get::<String, _>(4), "visit": r.get::<String, _>(8),
            "total_fen": r.get::<i64, _>(5), "fund_fen": r.get::<i64, _>(6), "account_fen": r.get::<i64, _>(7)
        }));
    }
    let mut out = Vec::new();
    for ((debtor, creditor), lines) in groups {
        if sqlx::query("SELECT 1 FROM ins_statements WHERE month = $1 AND debtor_fund = $2 AND creditor_place = $3")
            .bind(month)
            .bind(&debtor)
            .bind(&creditor)
            .fetch_optional(tx.conn())
            .await?
            .is_some()
        {
            continue;
        }
        let total: i64 = lines
            .iter()
            .map(|l| l["fund_fen"].as_i64().unwrap_or(0) + l["account_fen"].as_i64().unwrap_or(0))
            .sum();
        let body = json!({"header": {"month": month, "debtor_fund": debtor, "creditor_place": creditor, "total_fen": total, "settlements": lines.len()}, "lines": lines});
        let canonical = canonical_json(&body);
        let signature = B64.encode(key.sign(canonical.as_bytes()).to_bytes());
        let id: i64 = sqlx::query("INSERT INTO ins_statements (month, debtor_fund, creditor_place, total_fen, settlements, body, kid, signature, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'statements', $7, $8) RETURNING id")
            .bind(month)
            .bind(&debtor)
            .bind(&creditor)
            .bind(total)
            .bind(lines.len() as i64)
            .bind(&canonical)
            .bind(&signature)
            .bind(now_db())
            .fetch_one(tx.conn())
            .await?
            .get(0);
        audit(
            &mut tx,
            actor,
            "clearing.statement",
            format!("statement:{id}"),
            JurisdictionCode::parse(&creditor).ok(),
            json!({"month": month, "debtor": debtor, "total": total, "sha256": sha256_hex(canonical.as_bytes())}),
        )
        .await?;
        out.push(Statement {
            id,
            month: month.into(),
            debtor_fund: debtor,
            creditor_place: creditor,
            total_fen: total,
            settlements: lines.len() as i64,
            body,
            kid: "statements".into(),
            signature,
        });
    }
    tx.commit().await?;
    Ok(out)
}

pub async fn statements(db: &Db, month: Option<&str>) -> Result<Vec<Statement>, DbError> {
    let rows = sqlx::query("SELECT id, month, debtor_fund, creditor_place, total_fen, settlements, body, kid, signature FROM ins_statements WHERE ($1 = '' OR month = $1) ORDER BY month, debtor_fund, creditor_place")
        .bind(month.unwrap_or(""))
        .fetch_all(db.pool())
        .await?;
    Ok(rows
        .iter()
        .map(|r| Statement {
            id: r.get(0),
            month: r.get(1),
            debtor_fund: r.get(2),
            creditor_place: r.get(3),
            total_fen: r.get(4),
            settlements: r.get(5),
            body: serde_json::from_str(&r.get::<String, _>(6)).unwrap_or_default(),
            kid: r.get(7),
            signature: r.get(8),
        })
        .collect())
}

/// Checks a statement's signature with the platform's public key.
pub fn verify_statement(statement: &Statement, public_key: &str) -> bool {
    let Some(key) = B64
        .decode(public_key)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .and_then(|b| VerifyingKey::from_bytes(&b).ok())
    else {
        return false;
    };
    let Some(sig) = B64
        .decode(&statement.signature)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
    else {
        return false;
    };
    key.verify(
        canonical_json(&statement.body).as_bytes(),
        &ed25519_dalek::Signature::from_bytes(&sig),
    )
    .is_ok()
}

/// Net positions between provinces for a month: what each province's funds owe each other.
pub async fn net_positions(db: &Db, month: &str) -> Result<Vec<(String, String, i64)>, DbError> {
    let mut by_pair: std::collections::BTreeMap<(String, String), i64> = Default::default();
    for s in statements(db, Some(month)).await? {
        let debtor_province = format!("{}0000", &s.debtor_fund[..2]);
        *by_pair.entry((debtor_province, s.creditor_place)).or_default() += s.total_fen;
    }
    let mut out = Vec::new();
    for ((a, b), amount) in &by_pair {
        if a < b {
            let back = by_pair.get(&(b.clone(), a.clone())).copied().unwrap_or(0);
            let net = amount - back;
            if net >= 0 {
                out.push((a.clone(), b.clone(), net))
            } else {
                out.push((b.clone(), a.clone(), -net))
            }
        } else if !by_pair.contains_key(&(b.clone(), a.clone())) {
            out.push((a.clone(), b.clone(), *amount));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Reconciliation (3201) and review

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InstitutionTotals {
    pub settlements: i64,
    pub total_fen: i64,
    pub fund_fen: i64,
    pub account_fen: i64,
    /// The institution's own list, to find each discrepancy: settlement id → fund share.
    #[serde(default)]
    pub lines: Vec<(i64, i64)>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Reconciliation {
    pub ledger: InstitutionTotals,
    pub matches: bool,
    pub discrepancies: Vec<String>,
}

pub async fn reconcile(
    db: &Db,
    institution: &str,
    from: NaiveDate,
    to: NaiveDate,
    theirs: &InstitutionTotals,
) -> Result<Reconciliation, DbError> {
    let rows = sqlx::query("SELECT s.id, s.total_fen, s.fund_fen, s.account_fen FROM ins_settlements s JOIN ins_visits v ON v.id = s.visit_id WHERE s.institution = $1 AND v.treated_on >= $2 AND v.treated_on <= $3")
        .bind(institution)
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all(db.pool())
        .await?;
    let ours: Vec<(i64, i64, i64, i64)> = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect();
    let ledger = InstitutionTotals {
        settlements: ours.len() as i64,
        total_fen: ours.iter().map(|o| o.1).sum(),
        fund_fen: ours.iter().map(|o| o.2).sum(),
        account_fen: ours.iter().map(|o| o.3).sum(),
        lines: ours.iter().map(|o| (o.0, o.2)).collect(),
    };
    let mut discrepancies = Vec::new();
    for (name, a, b) in [
        ("settlements", theirs.settlements, ledger.settlements),
        ("total_fen", theirs.total_fen, ledger.total_fen),
        ("fund_fen", theirs.fund_fen, ledger.fund_fen),
        ("account_fen", theirs.account_fen, ledger.account_fen),
    ] {
        if a != b {
            discrepancies.push(format!("{name}: institution {a}, ledger {b}"));
        }
    }
    if !theirs.lines.is_empty() {
        let mine: HashMap<i64, i64> = ledger.lines.iter().copied().collect();
        let their_map: HashMap<i64, i64> = theirs.lines.iter().copied().collect();
        for (id, fund) in &their_map {
            match mine.get(id) {
                None => discrepancies.push(format!("settlement {id}: not in the ledger")),
                Some(m) if m != fund => {
                    discrepancies.push(format!("settlement {id}: fund share institution {fund}, ledger {m}"))
                }
                _ => {}
            }
        }
        for id in mine.keys().filter(|id| !their_map.contains_key(id)) {
            discrepancies.push(format!("settlement {id}: missing from the institution's list"));
        }
    }
    discrepancies.sort();
    Ok(Reconciliation {
        matches: discrepancies.is_empty(),
        ledger,
        discrepancies,
    })
}

/// A reviewer confirms a claim, or rejects it with a correcting transfer back to the fund.
pub async fn review(
    db: &Db,
    actor: &str,
    settlement_id: i64,
    confirm: bool,
    note: &str,
    correction_fen: i64,
) -> Result<(), ServiceError> {
    let record = settlement(db, settlement_id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("settlement {settlement_id}")))?;
    if !confirm && !(1..=record.fund_fen).contains(&correction_fen) {
        return Err(invalid(
            "correction_fen",
            format!("1 to the fund's share ({})", record.fund_fen),
        ));
    }
    if note.trim().is_empty() {
        return Err(invalid("note", "required"));
    }
    let mut tx = db.begin().await?;
    let changed = sqlx::query("UPDATE ins_reviews SET state = $1, reviewer = $2, note = $3, correction_fen = $4, at = $5 WHERE settlement_id = $6 AND state = 'selected'")
        .bind(if confirm { "confirmed" } else { "rejected" })
        .bind(actor)
        .bind(note.trim())
        .bind((!confirm).then_some(correction_fen))
        .bind(now_db())
        .bind(settlement_id)
        .execute(tx.conn())
        .await?;
    if changed.rows_affected() == 0 {
        return Err(ServiceError::Conflict(format!(
            "settlement {settlement_id} is not awaiting review"
        )));
    }
    if !confirm {
        // Locks the settlement against a reversal running at the same time.
        let open = sqlx::query("UPDATE ins_settlements SET reversed = reversed WHERE id = $1 AND reversed = 0")
            .bind(settlement_id)
            .execute(tx.conn())
            .await?;
        if open.rows_affected() == 0 {
            return Err(ServiceError::Conflict(format!(
                "settlement {settlement_id} was reversed; the institution has already refunded it"
            )));
        }
    }
    if !confirm {
        post(
            &mut tx,
            "review_correction",
            &record.visit,
            "posted",
            &[(
                format!("institution:{}", record.institution),
                format!("prepaid:{}", record.insured_fund),
                correction_fen,
            )],
        )
        .await?;
    }
    audit(
        &mut tx,
        actor,
        if confirm { "review.confirm" } else { "review.reject" },
        format!("settlement:{settlement_id}"),
        fund_jurisdiction(&record.insured_fund),
        json!({"note": note, "correction": correction_fen}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PairStat {
    /// Province where insured.
    pub insured: String,
    /// Province where treated.
    pub treated: String,
    pub settlements: i64,
    pub total_fen: i64,
    pub fund_fen: i64,
}

pub async fn stats(db: &Db) -> Result<Vec<PairStat>, DbError> {
    let rows = sqlx::query(
        "SELECT SUBSTR(insured_fund, 1, 2), SUBSTR(treatment_place, 1, 2), COUNT(*), CAST(SUM(total_fen) AS BIGINT), CAST(SUM(fund_fen) AS BIGINT) FROM ins_settlements WHERE kind = 'settlement' AND reversed = 0 \
         GROUP BY SUBSTR(insured_fund, 1, 2), SUBSTR(treatment_place, 1, 2) ORDER BY 1, 2",
    )
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .iter()
        .map(|r| PairStat {
            insured: format!("{}0000", r.get::<String, _>(0)),
            treated: format!("{}0000", r.get::<String, _>(1)),
            settlements: r.get(2),
            total_fen: r.get(3),
            fund_fen: r.get(4),
        })
        .collect())
}

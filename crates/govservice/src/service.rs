//! Use cases of the government-services module. Callers have authorised the actor;
//! each function validates, then writes in one transaction with its audit entry.

use crate::catalogue::{Catalogue, Item};
use crate::domain::{Action, CaseState, Channel, Role, WorkCalendar, transition};
use crate::licence::{self, Bitstring, Jwk, PublishedKey, TrustBundle};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, NaiveDate, Utc};
use ed25519_dalek::SigningKey;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Row;
use std::sync::LazyLock;
use yrd_audit::{canonical_json, sha256_hex};
use yrd_db::{Backend, Db, DbError, Tx};
use yrd_kernel::JurisdictionCode;
use yrd_kernel::time::{now_db, shanghai, to_db};

pub const MODULE: &str = "govservice";
/// The issuer code of the region itself (the coordination office).
pub const REGION_ISSUER: &str = "000000";

pub static CALENDAR: LazyLock<WorkCalendar> = LazyLock::new(|| {
    WorkCalendar::parse(include_str!("../../../data/calendar/cn-2024-2026.csv")).expect("the shipped calendar is valid")
});

pub use yrd_kernel::time::today;

pub use yrd_web::{ServiceError, invalid};

/// Who does something, in which role, acting for which jurisdiction.
#[derive(Debug, Clone)]
pub struct Actor {
    pub login: String,
    pub role: Role,
    pub jurisdiction: JurisdictionCode,
}

pub async fn audit(
    tx: &mut Tx,
    actor: &str,
    action: &str,
    entity: String,
    jurisdiction: Option<JurisdictionCode>,
    detail: serde_json::Value,
) -> Result<(), DbError> {
    yrd_audit::log(tx, MODULE, actor, action, entity, jurisdiction, detail).await
}

// ---------------------------------------------------------------------------------------
// Catalogue

#[derive(Debug, Clone, Default, Serialize)]
pub struct CatalogueSummary {
    pub licence_types: usize,
    pub items: usize,
}

pub async fn import_catalogue(
    db: &Db,
    actor: &str,
    catalogue: &Catalogue,
    digest: &str,
) -> Result<CatalogueSummary, DbError> {
    let mut tx = db.begin().await?;
    for t in &catalogue.licence_types {
        sqlx::query("DELETE FROM gs_licence_types WHERE code = $1")
            .bind(&t.code)
            .execute(tx.conn())
            .await?;
        sqlx::query("INSERT INTO gs_licence_types (code, name_zh, name_en, validity_years) VALUES ($1, $2, $3, $4)")
            .bind(&t.code)
            .bind(&t.name_zh)
            .bind(&t.name_en)
            .bind(t.validity_years)
            .execute(tx.conn())
            .await?;
    }
    for item in &catalogue.items {
        let channels: Vec<&str> = item.channels.iter().map(|c| c.as_str()).collect();
        let offered: Vec<&str> = item.offered_in.iter().map(|s| s.as_str()).collect();
        let definition = serde_json::to_string(item).expect("items serialise");
        let updated = sqlx::query(
            "UPDATE gs_items SET name_zh = $2, name_en = $3, applicant = $4, time_limit_days = $5, channels = $6, \
             offered_in = $7, issues_licence = $8, definition = $9 WHERE code = $1",
        )
        .bind(&item.code)
        .bind(&item.name_zh)
        .bind(&item.name_en)
        .bind(
            serde_json::to_value(item.applicant)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string)),
        )
        .bind(item.time_limit_days)
        .bind(channels.join(","))
        .bind(offered.join(","))
        .bind(&item.issues_licence)
        .bind(&definition)
        .execute(tx.conn())
        .await?;
        if updated.rows_affected() == 0 {
            sqlx::query(
                "INSERT INTO gs_items (code, name_zh, name_en, applicant, time_limit_days, channels, offered_in, issues_licence, definition) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&item.code)
            .bind(&item.name_zh)
            .bind(&item.name_en)
            .bind(serde_json::to_value(item.applicant).ok().and_then(|v| v.as_str().map(str::to_string)))
            .bind(item.time_limit_days)
            .bind(channels.join(","))
            .bind(offered.join(","))
            .bind(&item.issues_licence)
            .bind(&definition)
            .execute(tx.conn())
            .await?;
        }
    }
    let summary = CatalogueSummary {
        licence_types: catalogue.licence_types.len(),
        items: catalogue.items.len(),
    };
    audit(
        &mut tx,
        actor,
        "catalogue.import",
        "catalogue".into(),
        None,
        json!({"sha256": digest, "items": summary.items, "licence_types": summary.licence_types}),
    )
    .await?;
    tx.commit().await?;
    Ok(summary)
}

pub async fn items(db: &Db) -> Result<Vec<Item>, DbError> {
    let rows = sqlx::query("SELECT definition FROM gs_items ORDER BY code")
        .fetch_all(db.pool())
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| serde_json::from_str(&r.get::<String, _>(0)).ok())
        .collect())
}

pub async fn item(db: &Db, code: &str) -> Result<Option<Item>, DbError> {
    let row = sqlx::query("SELECT definition FROM gs_items WHERE code = $1")
        .bind(code)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.and_then(|r| serde_json::from_str(&r.get::<String, _>(0)).ok()))
}

// ---------------------------------------------------------------------------------------
// Keys

fn parse_time(text: &str) -> DateTime<Utc> {
    yrd_kernel::time::from_db(text).unwrap_or_default()
}

pub async fn published_keys(db: &Db) -> Result<Vec<PublishedKey>, DbError> {
    let rows =
        sqlx::query("SELECT kid, issuer, public_key, not_before, retired_at FROM gs_keys ORDER BY issuer, not_before")
            .fetch_all(db.pool())
            .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let kid: String = r.get(0);
            PublishedKey {
                jwk: Jwk {
                    kty: "OKP".into(),
                    crv: "Ed25519".into(),
                    x: r.get(2),
                    kid: kid.clone(),
                },
                kid,
                issuer: r.get(1),
                not_before: parse_time(&r.get::<String, _>(3)),
                retired_at: r.get::<Option<String>, _>(4).as_deref().map(parse_time),
            }
        })
        .collect())
}

/// Creates a signing key for an issuer and retires its previous one. Private keys stay
/// in the database; deployments that need more put them in an HSM behind this function.
pub async fn rotate_key(db: &Db, actor: &str, issuer: &str) -> Result<String, DbError> {
    let mut tx = db.begin().await?;
    let kid = add_key(&mut tx, issuer).await?;
    audit(
        &mut tx,
        actor,
        "key.rotate",
        kid.clone(),
        JurisdictionCode::parse(issuer).ok(),
        json!({"issuer": issuer, "kid": kid}),
    )
    .await?;
    tx.commit().await?;
    Ok(kid)
}

async fn add_key(tx: &mut Tx, issuer: &str) -> Result<String, DbError> {
    let now = now_db();
    let count: i64 = sqlx::query("SELECT COUNT(*) FROM gs_keys WHERE issuer = $1")
        .bind(issuer)
        .fetch_one(tx.conn())
        .await?
        .get(0);
    let kid = format!("yrd:{issuer}:{}", count + 1);
    let key = licence::generate_key();
    sqlx::query("UPDATE gs_keys SET retired_at = $1 WHERE issuer = $2 AND retired_at IS NULL")
        .bind(&now)
        .bind(issuer)
        .execute(tx.conn())
        .await?;
    sqlx::query("INSERT INTO gs_keys (kid, issuer, public_key, private_key, not_before) VALUES ($1, $2, $3, $4, $5)")
        .bind(&kid)
        .bind(issuer)
        .bind(B64.encode(key.verifying_key().as_bytes()))
        .bind(B64.encode(key.to_bytes()))
        .bind(&now)
        .execute(tx.conn())
        .await?;
    Ok(kid)
}

pub async fn retire_key(db: &Db, actor: &str, kid: &str) -> Result<(), ServiceError> {
    let mut tx = db.begin().await?;
    let updated = sqlx::query("UPDATE gs_keys SET retired_at = $1 WHERE kid = $2 AND retired_at IS NULL")
        .bind(now_db())
        .bind(kid)
        .execute(tx.conn())
        .await?;
    if updated.rows_affected() == 0 {
        return Err(ServiceError::NotFound(format!("active key '{kid}'")));
    }
    audit(&mut tx, actor, "key.retire", kid.into(), None, json!({"kid": kid})).await?;
    tx.commit().await?;
    Ok(())
}

/// The issuer's key that signs now, created on first use.
async fn active_key(tx: &mut Tx, issuer: &str) -> Result<(String, SigningKey), DbError> {
    let row = sqlx::query("SELECT kid, private_key FROM gs_keys WHERE issuer = $1 AND retired_at IS NULL ORDER BY not_before DESC LIMIT 1")
        .bind(issuer)
        .fetch_optional(tx.conn())
        .await?;
    let (kid, private): (String, String) = match row {
        Some(r) => (r.get(0), r.get(1)),
        None => {
            let kid = add_key(tx, issuer).await?;
            let r = sqlx::query("SELECT private_key FROM gs_keys WHERE kid = $1")
                .bind(&kid)
                .fetch_one(tx.conn())
                .await?;
            (kid, r.get(0))
        }
    };
    let bytes: [u8; 32] = B64
        .decode(private)
        .ok()
        .and_then(|b| b.try_into().ok())
        .expect("stored keys are 32 bytes");
    Ok((kid, SigningKey::from_bytes(&bytes)))
}

// ---------------------------------------------------------------------------------------
// Cases

fn random_text(alphabet: &[u8], len: usize) -> String {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    bytes
        .iter()
        .map(|b| alphabet[*b as usize % alphabet.len()] as char)
        .collect()
}

/// Letters and digits that cannot be mistaken for one another when read aloud or typed.
const CLEAR: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

fn secret_hash(number: &str, secret: &str) -> String {
    sha256_hex(format!("{number}:{secret}").as_bytes())
}

#[derive(Debug, Clone)]
pub struct NewCase {
    pub item: Item,
    pub applicant_name: String,
    pub applicant_contact: String,
    pub language: String,
    pub channel: Channel,
    /// The window that received the application (remote or virtual windows).
    pub window: Option<(String, JurisdictionCode)>,
    /// Where the application belongs: decides the competent authority.
    pub home: JurisdictionCode,
    pub consent_sha256: Option<String>,
    pub bundle_id: Option<i64>,
    pub demo: bool,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Submitted {
    pub number: String,
    /// Given to the applicant once, with the case number, to follow the case.
    pub secret: String,
    pub authority: JurisdictionCode,
    pub authority_name: String,
}

/// The catalogue's rules for an application: someone decides it for the applicant's
/// home, through this channel, and it is offered where it is received. Returns the
/// competent authority.
pub fn check_new_case(new: &NewCase) -> Result<crate::catalogue::Authority, ServiceError> {
    let authority = new
        .item
        .authority_for(new.home)
        .ok_or_else(|| {
            invalid(
                "home",
                format!("no authority decides '{}' for {}", new.item.code, new.home),
            )
        })?
        .clone();
    if !new.item.channels.contains(&new.channel) {
        return Err(invalid(
            "channel",
            format!("'{}' is not offered through {}", new.item.code, new.channel.as_str()),
        ));
    }
    let received_in = new.window.as_ref().map_or(new.home, |(_, j)| *j);
    if !new.item.offered_in.iter().any(|s| s.covers(received_in)) {
        return Err(invalid(
            "window",
            format!("'{}' is not offered in {received_in}", new.item.code),
        ));
    }
    Ok(authority)
}

pub async fn create_case(db: &Db, actor: &Actor, new: NewCase) -> Result<Submitted, ServiceError> {
    let authority = check_new_case(&new)?;
    let received_in = new.window.as_ref().map_or(new.home, |(_, j)| *j);
    let number = format!("GS{}-{}", today().format("%Y%m%d"), random_text(CLEAR, 6));
    let secret = random_text(CLEAR, 8);
    let mut tx = db.begin().await?;
    let id: i64 = sqlx::query(
        "INSERT INTO gs_cases (number, secret_hash, item_code, applicant_type, applicant_name, applicant_contact, language, channel, \
         window_code, received_in, authority, authority_name, state, submitted_at, consent_signed_at, consent_sha256, bundle_id, demo) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'submitted', $13, $14, $15, $16, $17) RETURNING id",
    )
    .bind(&number)
    .bind(secret_hash(&number, &secret))
    .bind(&new.item.code)
    .bind(serde_json::to_value(new.item.applicant).ok().and_then(|v| v.as_str().map(str::to_string)))
    .bind(new.applicant_name.trim())
    .bind(new.applicant_contact.trim())
    .bind(&new.language)
    .bind(new.channel.as_str())
    .bind(new.window.as_ref().map(|(code, _)| code.clone()))
    .bind(received_in.to_string())
    .bind(authority.jurisdiction.to_string())
    .bind(&authority.name_zh)
    .bind(now_db())
    .bind(new.consent_sha256.as_ref().map(|_| now_db()))
    .bind(&new.consent_sha256)
    .bind(new.bundle_id)
    .bind(i64::from(new.demo))
    .fetch_one(tx.conn())
    .await?
    .get(0);
    record_event(&mut tx, id, "submit", None, CaseState::Submitted, actor, None).await?;
    if received_in.province() != authority.jurisdiction.province() {
        let body = json!({"case": number, "item": new.item.code, "channel": new.channel.as_str(), "consent_sha256": new.consent_sha256});
        append_handoff(&mut tx, id, "application", received_in, authority.jurisdiction, body).await?;
    }
    audit(
        &mut tx,
        &actor.login,
        "case.submit",
        number.clone(),
        Some(received_in),
        json!({"item": new.item.code, "authority": authority.jurisdiction, "channel": new.channel.as_str()}),
    )
    .await?;
    tx.commit().await?;
    Ok(Submitted {
        number,
        secret,
        authority: authority.jurisdiction,
        authority_name: authority.name_zh,
    })
}

async fn record_event(
    tx: &mut Tx,
    case: i64,
    action: &str,
    from: Option<CaseState>,
    to: CaseState,
    actor: &Actor,
    reason: Option<&str>,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO gs_case_events (case_id, action, from_state, to_state, actor, role, jurisdiction, reason, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(case)
    .bind(action)
    .bind(from.map(|s| s.as_str()))
    .bind(to.as_str())
    .bind(&actor.login)
    .bind(serde_json::to_value(actor.role).ok().and_then(|v| v.as_str().map(str::to_string)))
    .bind(actor.jurisdiction.to_string())
    .bind(reason)
    .bind(now_db())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A case as its pages need it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CaseView {
    #[serde(skip)]
    pub id: i64,
    pub number: String,
    pub item: String,
    pub item_name_zh: String,
    pub item_name_en: String,
    pub applicant_type: String,
    pub applicant_name: String,
    pub language: String,
    pub channel: String,
    pub window: Option<String>,
    pub received_in: JurisdictionCode,
    pub authority: JurisdictionCode,
    pub authority_name: String,
    pub state: CaseState,
    pub submitted_at: String,
    pub accepted_on: Option<NaiveDate>,
    pub deadline: Option<NaiveDate>,
    pub timeliness: Option<crate::domain::Timeliness>,
    pub delivery: Option<String>,
    pub consent_sha256: Option<String>,
    pub bundle: Option<String>,
    pub demo: bool,
}

const CASE_COLUMNS: &str = "c.id, c.number, c.item_code, i.name_zh, i.name_en, c.applicant_type, c.applicant_name, c.language, c.channel, \
    c.window_code, c.received_in, c.authority, c.authority_name, c.state, c.submitted_at, c.accepted_on, c.deadline, c.delivery, \
    c.consent_sha256, b.number, c.demo";

fn case_from_row(r: &yrd_db::AnyRow) -> CaseView {
    let state = CaseState::parse(&r.get::<String, _>(13)).unwrap_or(CaseState::Submitted);
    let deadline: Option<NaiveDate> = r.get::<Option<String>, _>(16).and_then(|d| d.parse().ok());
    CaseView {
        id: r.get(0),
        number: r.get(1),
        item: r.get(2),
        item_name_zh: r.get(3),
        item_name_en: r.get(4),
        applicant_type: r.get(5),
        applicant_name: r.get(6),
        language: r.get(7),
        channel: r.get(8),
        window: r.get(9),
        received_in: JurisdictionCode::parse(&r.get::<String, _>(10)).expect("stored codes are valid"),
        authority: JurisdictionCode::parse(&r.get::<String, _>(11)).expect("stored codes are valid"),
        authority_name: r.get(12),
        state,
        submitted_at: r.get(14),
        accepted_on: r.get::<Option<String>, _>(15).and_then(|d| d.parse().ok()),
        timeliness: deadline
            .filter(|_| state.is_open())
            .map(|d| crate::domain::timeliness(&CALENDAR, d, today())),
        deadline,
        delivery: r.get(17),
        consent_sha256: r.get(18),
        bundle: r.get(19),
        demo: r.get::<i64, _>(20) != 0,
    }
}

fn case_sql(filter: &str) -> String {
    format!(
        "SELECT {CASE_COLUMNS} FROM gs_cases c JOIN gs_items i ON i.code = c.item_code LEFT JOIN gs_bundles b ON b.id = c.bundle_id {filter}"
    )
}

pub async fn case(db: &Db, number: &str) -> Result<Option<CaseView>, DbError> {
    let row = sqlx::query(&case_sql("WHERE c.number = $1"))
        .bind(number)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.as_ref().map(case_from_row))
}

/// Cases received in or decided by jurisdictions with these code prefixes (`None`: all).
pub async fn cases(
    db: &Db,
    prefixes: Option<&[String]>,
    state: Option<CaseState>,
    limit: i64,
) -> Result<Vec<CaseView>, DbError> {
    let mut filter = String::from("WHERE 1 = 1");
    let mut args: Vec<String> = Vec::new();
    if let Some(prefixes) = prefixes {
        if prefixes.is_empty() {
            return Ok(Vec::new());
        }
        let clauses: Vec<String> = prefixes
            .iter()
            .map(|p| {
                args.push(format!("{p}%"));
                let n = args.len();
                format!("c.authority LIKE ${n} OR c.received_in LIKE ${n}")
            })
            .collect();
        filter.push_str(&format!(" AND ({})", clauses.join(" OR ")));
    }
    if let Some(state) = state {
        args.push(state.as_str().into());
        filter.push_str(&format!(" AND c.state = ${}", args.len()));
    }
    filter.push_str(&format!(" ORDER BY c.id DESC LIMIT {}", limit.clamp(1, 1000)));
    let sql = case_sql(&filter);
    let mut query = sqlx::query(&sql);
    for arg in &args {
        query = query.bind(arg);
    }
    Ok(query.fetch_all(db.pool()).await?.iter().map(case_from_row).collect())
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Event {
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub actor: String,
    pub role: String,
    pub jurisdiction: String,
    pub reason: Option<String>,
    pub at: String,
}

pub async fn events(db: &Db, case: i64) -> Result<Vec<Event>, DbError> {
    let rows = sqlx::query("SELECT action, from_state, to_state, actor, role, jurisdiction, reason, at FROM gs_case_events WHERE case_id = $1 ORDER BY id")
        .bind(case)
        .fetch_all(db.pool())
        .await?;
    Ok(rows
        .iter()
        .map(|r| Event {
            action: r.get(0),
            from_state: r.get(1),
            to_state: r.get(2),
            actor: r.get(3),
            role: r.get(4),
            jurisdiction: r.get(5),
            reason: r.get(6),
            at: r.get(7),
        })
        .collect())
}

/// Applies an action to a case. Accepting starts the working-day clock; a supplement
/// request stops it and the supplement restarts it with the days it lost.
pub async fn act(
    db: &Db,
    case: &CaseView,
    actor: &Actor,
    action: Action,
    reason: Option<&str>,
    delivery: Option<&str>,
) -> Result<CaseState, ServiceError> {
    let next = transition(case.state, action, actor.role).map_err(|e| match e {
        crate::domain::TransitionError::WrongRole { .. } => ServiceError::Forbidden(e.to_string()),
        crate::domain::TransitionError::NotAllowed { .. } => ServiceError::Conflict(e.to_string()),
    })?;
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if action.needs_reason() && reason.is_none() {
        return Err(invalid("reason", format!("say why ({})", action.as_str())));
    }
    if reason.is_some_and(|r| r.chars().count() > 2000) {
        return Err(invalid("reason", "at most 2000 characters"));
    }
    let today = today();
    let mut tx = db.begin().await?;
    // The state is re-checked in the update, so two clerks acting at once cannot both win.
    let changed = sqlx::query("UPDATE gs_cases SET state = $1 WHERE id = $2 AND state = $3")
        .bind(next.as_str())
        .bind(case.id)
        .bind(case.state.as_str())
        .execute(tx.conn())
        .await?;
    if changed.rows_affected() == 0 {
        return Err(ServiceError::Conflict(format!(
            "case {} changed meanwhile; reload it",
            case.number
        )));
    }
    match action {
        Action::Accept => {
            let item = item(db, &case.item)
                .await?
                .ok_or_else(|| ServiceError::NotFound(format!("item {}", case.item)))?;
            let deadline = CALENDAR.add_working_days(today, item.time_limit_days as u32);
            sqlx::query("UPDATE gs_cases SET accepted_on = $1, deadline = $2 WHERE id = $3")
                .bind(today.to_string())
                .bind(deadline.to_string())
                .bind(case.id)
                .execute(tx.conn())
                .await?;
        }
        Action::RequestSupplement => {
            sqlx::query("UPDATE gs_cases SET supplement_since = $1 WHERE id = $2")
                .bind(today.to_string())
                .bind(case.id)
                .execute(tx.conn())
                .await?;
        }
        Action::Supplement => {
            let row = sqlx::query("SELECT supplement_since, deadline FROM gs_cases WHERE id = $1")
                .bind(case.id)
                .fetch_one(tx.conn())
                .await?;
            let since: Option<NaiveDate> = row.get::<Option<String>, _>(0).and_then(|d| d.parse().ok());
            let deadline: Option<NaiveDate> = row.get::<Option<String>, _>(1).and_then(|d| d.parse().ok());
            if let (Some(since), Some(deadline)) = (since, deadline) {
                let paused = CALENDAR.working_days_between(since, today);
                sqlx::query("UPDATE gs_cases SET deadline = $1, supplement_since = NULL WHERE id = $2")
                    .bind(CALENDAR.add_working_days(deadline, paused).to_string())
                    .bind(case.id)
                    .execute(tx.conn())
                    .await?;
            }
        }
        Action::Approve | Action::Deny => {
            sqlx::query("UPDATE gs_cases SET decided_at = $1 WHERE id = $2")
                .bind(now_db())
                .bind(case.id)
                .execute(tx.conn())
                .await?;
            if case.received_in.province() != case.authority.province() {
                let body = json!({"case": case.number, "decision": action.as_str(), "reason": reason});
                append_handoff(&mut tx, case.id, "decision", case.authority, case.received_in, body).await?;
            }
        }
        Action::DeliverResult => {
            let delivery = delivery
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .ok_or_else(|| invalid("delivery", "the express tracking number, or issue an e-licence"))?;
            sqlx::query("UPDATE gs_cases SET delivery = $1 WHERE id = $2")
                .bind(delivery)
                .bind(case.id)
                .execute(tx.conn())
                .await?;
        }
        _ => {}
    }
    record_event(&mut tx, case.id, action.as_str(), Some(case.state), next, actor, reason).await?;
    let detail = json!({"from": case.state, "to": next, "reason": reason, "role": actor.role, "delivery": delivery});
    audit(
        &mut tx,
        &actor.login,
        &format!("case.{}", action.as_str()),
        case.number.clone(),
        Some(actor.jurisdiction),
        detail,
    )
    .await?;
    tx.commit().await?;
    Ok(next)
}

pub async fn add_review_note(db: &Db, case: &CaseView, actor: &Actor, note: &str) -> Result<(), ServiceError> {
    let note = note.trim();
    if note.is_empty() || note.chars().count() > 5000 {
        return Err(invalid("note", "1 to 5000 characters"));
    }
    let mut tx = db.begin().await?;
    sqlx::query("INSERT INTO gs_review_notes (case_id, author, note, at) VALUES ($1, $2, $3, $4)")
        .bind(case.id)
        .bind(&actor.login)
        .bind(note)
        .bind(now_db())
        .execute(tx.conn())
        .await?;
    audit(
        &mut tx,
        &actor.login,
        "case.note",
        case.number.clone(),
        Some(case.authority),
        json!({"sha256": sha256_hex(note.as_bytes())}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Note {
    pub author: String,
    pub note: String,
    pub at: String,
}

pub async fn review_notes(db: &Db, case: i64) -> Result<Vec<Note>, DbError> {
    let rows = sqlx::query("SELECT author, note, at FROM gs_review_notes WHERE case_id = $1 ORDER BY id")
        .bind(case)
        .fetch_all(db.pool())
        .await?;
    Ok(rows
        .iter()
        .map(|r| Note {
            author: r.get(0),
            note: r.get(1),
            at: r.get(2),
        })
        .collect())
}

/// Accepted attachment types, recognised by their first bytes, not by what the client says.
pub const ATTACHMENT_TYPES: [(&str, &[u8]); 3] = [
    ("application/pdf", b"%PDF-"),
    ("image/png", b"\x89PNG\r\n\x1a\n"),
    ("image/jpeg", b"\xff\xd8\xff"),
];
pub const MAX_ATTACHMENT_BYTES: usize = 512 * 1024;

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Attachment {
    pub id: i64,
    pub name: String,
    pub media_type: String,
    pub sha256: String,
    pub size_bytes: i64,
    pub uploaded_by: String,
    pub at: String,
}

pub async fn add_attachment(
    db: &Db,
    case: &CaseView,
    actor: &Actor,
    name: &str,
    media_type: &str,
    bytes: &[u8],
) -> Result<Attachment, ServiceError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(invalid("name", "1 to 200 characters"));
    }
    let Some((_, magic)) = ATTACHMENT_TYPES.iter().find(|(t, _)| *t == media_type) else {
        return Err(invalid("media_type", "application/pdf, image/png or image/jpeg"));
    };
    if bytes.is_empty() || bytes.len() > MAX_ATTACHMENT_BYTES {
        return Err(invalid(
            "content_base64",
            format!("1 byte to {} KiB", MAX_ATTACHMENT_BYTES / 1024),
        ));
    }
    if !bytes.starts_with(magic) {
        return Err(invalid("content_base64", format!("the file is not {media_type}")));
    }
    if case.state.is_final() {
        return Err(ServiceError::Conflict(format!(
            "case {} is {}",
            case.number, case.state
        )));
    }
    let sha256 = sha256_hex(bytes);
    let mut tx = db.begin().await?;
    let at = now_db();
    let id: i64 = sqlx::query(
        "INSERT INTO gs_attachments (case_id, name, media_type, sha256, size_bytes, content, uploaded_by, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(case.id)
    .bind(name)
    .bind(media_type)
    .bind(&sha256)
    .bind(bytes.len() as i64)
    .bind(bytes.to_vec())
    .bind(&actor.login)
    .bind(&at)
    .fetch_one(tx.conn())
    .await?
    .get(0);
    if case.received_in.province() != case.authority.province() {
        append_handoff(
            &mut tx,
            case.id,
            "material",
            case.received_in,
            case.authority,
            json!({"case": case.number, "name": name, "sha256": sha256, "size": bytes.len()}),
        )
        .await?;
    }
    audit(
        &mut tx,
        &actor.login,
        "case.attachment",
        case.number.clone(),
        Some(actor.jurisdiction),
        json!({"name": name, "sha256": sha256, "size": bytes.len()}),
    )
    .await?;
    tx.commit().await?;
    Ok(Attachment {
        id,
        name: name.into(),
        media_type: media_type.into(),
        sha256,
        size_bytes: bytes.len() as i64,
        uploaded_by: actor.login.clone(),
        at,
    })
}

pub async fn attachments(db: &Db, case: i64) -> Result<Vec<Attachment>, DbError> {
    let rows = sqlx::query("SELECT id, name, media_type, sha256, size_bytes, uploaded_by, at FROM gs_attachments WHERE case_id = $1 ORDER BY id")
        .bind(case)
        .fetch_all(db.pool())
        .await?;
    Ok(rows
        .iter()
        .map(|r| Attachment {
            id: r.get(0),
            name: r.get(1),
            media_type: r.get(2),
            sha256: r.get(3),
            size_bytes: r.get(4),
            uploaded_by: r.get(5),
            at: r.get(6),
        })
        .collect())
}

/// The paper originals' journey: shipped by the receiving window, received by the authority.
pub async fn originals(
    db: &Db,
    case: &CaseView,
    actor: &Actor,
    shipped: bool,
    tracking: Option<&str>,
) -> Result<(), ServiceError> {
    let mut tx = db.begin().await?;
    let exists = sqlx::query("SELECT shipped_at, received_at FROM gs_originals WHERE case_id = $1")
        .bind(case.id)
        .fetch_optional(tx.conn())
        .await?;
    if shipped {
        let tracking = tracking
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| invalid("tracking_number", "the express tracking number"))?;
        if exists.is_some() {
            return Err(ServiceError::Conflict("the originals were already shipped".into()));
        }
        sqlx::query("INSERT INTO gs_originals (case_id, shipped_at, tracking_number) VALUES ($1, $2, $3)")
            .bind(case.id)
            .bind(now_db())
            .bind(tracking)
            .execute(tx.conn())
            .await?;
        append_handoff(
            &mut tx,
            case.id,
            "originals_shipped",
            case.received_in,
            case.authority,
            json!({"case": case.number, "tracking_number": tracking}),
        )
        .await?;
    } else {
        match exists {
            Some(row) if row.get::<Option<String>, _>(1).is_none() => {
                sqlx::query("UPDATE gs_originals SET received_at = $1 WHERE case_id = $2")
                    .bind(now_db())
                    .bind(case.id)
                    .execute(tx.conn())
                    .await?;
                append_handoff(
                    &mut tx,
                    case.id,
                    "originals_received",
                    case.authority,
                    case.received_in,
                    json!({"case": case.number}),
                )
                .await?;
            }
            Some(_) => return Err(ServiceError::Conflict("the originals were already received".into())),
            None => return Err(ServiceError::Conflict("the originals have not been shipped".into())),
        }
    }
    let action = if shipped {
        "case.originals_shipped"
    } else {
        "case.originals_received"
    };
    audit(
        &mut tx,
        &actor.login,
        action,
        case.number.clone(),
        Some(actor.jurisdiction),
        json!({"tracking_number": tracking}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Originals {
    pub shipped_at: Option<String>,
    pub tracking_number: Option<String>,
    pub received_at: Option<String>,
}

pub async fn originals_status(db: &Db, case: i64) -> Result<Originals, DbError> {
    let row = sqlx::query("SELECT shipped_at, tracking_number, received_at FROM gs_originals WHERE case_id = $1")
        .bind(case)
        .fetch_optional(db.pool())
        .await?;
    Ok(row
        .map(|r| Originals {
            shipped_at: r.get(0),
            tracking_number: r.get(1),
            received_at: r.get(2),
        })
        .unwrap_or_default())
}

// ---------------------------------------------------------------------------------------
// Hand-off evidence: signed by the sending province, linked by hash.

/// Appends a signed, hash-linked entry for a hand-off between two jurisdictions.
pub async fn append_handoff(
    tx: &mut Tx,
    case: i64,
    kind: &str,
    from: JurisdictionCode,
    to: JurisdictionCode,
    body: Value,
) -> Result<(), DbError> {
    if tx.backend() == Backend::Postgres {
        sqlx::query("LOCK TABLE gs_handoffs IN SHARE ROW EXCLUSIVE MODE")
            .execute(tx.conn())
            .await?;
    }
    let head = sqlx::query("SELECT seq, hash FROM gs_handoffs ORDER BY seq DESC LIMIT 1")
        .fetch_optional(tx.conn())
        .await?;
    let (seq, prev_hash) = head.map_or((1, yrd_audit::GENESIS_HASH.to_string()), |r| {
        (r.get::<i64, _>(0) + 1, r.get(1))
    });
    let at = now_db();
    let body = canonical_json(&body);
    let (kid, key) = active_key(tx, &from.province().to_string()).await?;
    let signed = handoff_signing_input(seq, kind, from, to, &body, &prev_hash, &at);
    let hash = sha256_hex(signed.as_bytes());
    let signature = B64.encode(ed25519_dalek::Signer::sign(&key, hash.as_bytes()).to_bytes());
    sqlx::query(
        "INSERT INTO gs_handoffs (seq, case_id, kind, from_jurisdiction, to_jurisdiction, body, prev_hash, hash, kid, signature, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(seq)
    .bind(case)
    .bind(kind)
    .bind(from.to_string())
    .bind(to.to_string())
    .bind(&body)
    .bind(&prev_hash)
    .bind(&hash)
    .bind(&kid)
    .bind(&signature)
    .bind(&at)
    .execute(tx.conn())
    .await?;
    Ok(())
}

fn handoff_signing_input(
    seq: i64,
    kind: &str,
    from: JurisdictionCode,
    to: JurisdictionCode,
    body: &str,
    prev: &str,
    at: &str,
) -> String {
    canonical_json(
        &json!({"seq": seq, "kind": kind, "from": from, "to": to, "body": body, "prev_hash": prev, "at": at}),
    )
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Handoff {
    pub seq: i64,
    pub case: String,
    pub kind: String,
    pub from: String,
    pub to: String,
    pub body: String,
    pub hash: String,
    pub kid: String,
    pub at: String,
    /// Whether this entry's hash, link and signature check out.
    pub verified: bool,
    pub problem: Option<String>,
}

/// Hand-off entries (of one case, or all), each checked: hash over its content, link to
/// the previous entry, and the sending province's signature.
pub async fn handoffs(db: &Db, case_number: Option<&str>) -> Result<Vec<Handoff>, DbError> {
    let keys = published_keys(db).await?;
    let rows = sqlx::query(
        "SELECT h.seq, c.number, h.kind, h.from_jurisdiction, h.to_jurisdiction, h.body, h.prev_hash, h.hash, h.kid, h.signature, h.at \
         FROM gs_handoffs h JOIN gs_cases c ON c.id = h.case_id ORDER BY h.seq",
    )
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::new();
    let mut expected_prev = yrd_audit::GENESIS_HASH.to_string();
    for r in rows {
        let (seq, number, kind, from, to, body, prev, hash, kid, signature, at): (
            i64,
            String,
            String,
            String,
            String,
            String,
            String,
            String,
            String,
            String,
            String,
        ) = (
            r.get(0),
            r.get(1),
            r.get(2),
            r.get(3),
            r.get(4),
            r.get(5),
            r.get(6),
            r.get(7),
            r.get(8),
            r.get(9),
            r.get(10),
        );
        let problem = check_handoff(
            &keys,
            seq,
            &kind,
            &from,
            &to,
            &body,
            &prev,
            &hash,
            &kid,
            &signature,
            &at,
            &expected_prev,
        );
        expected_prev = hash.clone();
        if case_number.is_none_or(|n| n == number) {
            out.push(Handoff {
                seq,
                case: number,
                kind,
                from,
                to,
                body,
                hash,
                kid,
                at,
                verified: problem.is_none(),
                problem,
            });
        }
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn check_handoff(
    keys: &[PublishedKey],
    seq: i64,
    kind: &str,
    from: &str,
    to: &str,
    body: &str,
    prev: &str,
    hash: &str,
    kid: &str,
    signature: &str,
    at: &str,
    expected_prev: &str,
) -> Option<String> {
    if prev != expected_prev {
        return Some("the link to the previous entry is broken".into());
    }
    let (Ok(from_code), Ok(to_code)) = (JurisdictionCode::parse(from), JurisdictionCode::parse(to)) else {
        return Some("unknown jurisdiction".into());
    };
    if sha256_hex(handoff_signing_input(seq, kind, from_code, to_code, body, prev, at).as_bytes()) != hash {
        return Some("the content does not match its hash".into());
    }
    let Some(key) = keys.iter().find(|k| k.kid == kid) else {
        return Some(format!("unknown key {kid}"));
    };
    if key.issuer != from_code.province().to_string() {
        return Some("not signed by the sending province".into());
    }
    let ok = B64
        .decode(signature)
        .ok()
        .and_then(|s| <[u8; 64]>::try_from(s).ok())
        .zip(B64.decode(&key.jwk.x).ok().and_then(|x| <[u8; 32]>::try_from(x).ok()))
        .and_then(|(s, x)| {
            let verifying = ed25519_dalek::VerifyingKey::from_bytes(&x).ok()?;
            Some(
                ed25519_dalek::Verifier::verify(&verifying, hash.as_bytes(), &ed25519_dalek::Signature::from_bytes(&s))
                    .is_ok(),
            )
        })
        .unwrap_or(false);
    (!ok).then(|| "the signature does not match".into())
}

// ---------------------------------------------------------------------------------------
// E-licences

pub fn status_list_url(issuer: &str) -> String {
    format!("urn:yrd:status-list:{issuer}")
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct IssuedLicence {
    pub id: i64,
    pub case: String,
    pub licence_type: String,
    pub issuer: String,
    pub kid: String,
    pub token: String,
    pub issued_at: String,
    pub valid_until: Option<String>,
    pub revoked_at: Option<String>,
}

/// Issues the item's e-licence for an approved case, signed by the deciding province's
/// key, and delivers the result with it.
pub async fn issue_licence(
    db: &Db,
    case: &CaseView,
    actor: &Actor,
    subject: Value,
) -> Result<IssuedLicence, ServiceError> {
    if case.state != CaseState::Approved {
        return Err(ServiceError::Conflict(format!(
            "case {} is {}; licences are issued for approved cases",
            case.number, case.state
        )));
    }
    let item = item(db, &case.item)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("item {}", case.item)))?;
    let licence_type = item
        .issues_licence
        .clone()
        .ok_or_else(|| ServiceError::Conflict(format!("'{}' issues no e-licence", item.code)))?;
    let type_row = sqlx::query("SELECT name_zh, name_en, validity_years FROM gs_licence_types WHERE code = $1")
        .bind(&licence_type)
        .fetch_one(db.pool())
        .await?;
    let years: i64 = type_row.get(2);
    let issuer = case.authority.province().to_string();
    let now = Utc::now();
    let valid_until = (years > 0).then(|| now + chrono::Duration::days(365 * years));
    let mut tx = db.begin().await?;
    let index: i64 = sqlx::query("SELECT COUNT(*) FROM gs_licences WHERE issuer = $1")
        .bind(&issuer)
        .fetch_one(tx.conn())
        .await?
        .get(0);
    if index as usize >= licence::STATUS_LIST_BITS {
        return Err(ServiceError::Conflict("the issuer's status list is full".into()));
    }
    let (kid, key) = active_key(&mut tx, &issuer).await?;
    let secs = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut credential = json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": format!("urn:yrd:licence:{issuer}:{index}"),
        "type": ["VerifiableCredential", format!("YrdLicence:{licence_type}")],
        "name": type_row.get::<String, _>(0),
        "description": type_row.get::<String, _>(1),
        "issuer": licence::issuer_id(&issuer),
        "validFrom": secs(now),
        "credentialSubject": subject,
        "credentialStatus": {
            "id": format!("{}#{index}", status_list_url(&issuer)),
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": index.to_string(),
            "statusListCredential": status_list_url(&issuer)
        },
        "evidence": [{"case": case.number, "authority": case.authority_name}]
    });
    if let Some(until) = valid_until {
        credential["validUntil"] = json!(secs(until));
    }
    let token = licence::sign(&key, &kid, licence::MEDIA_TYPE, &credential);
    let issued_at = to_db(now);
    let id: i64 = sqlx::query(
        "INSERT INTO gs_licences (case_id, licence_type, issuer, kid, status_index, token, issued_at, valid_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(case.id)
    .bind(&licence_type)
    .bind(&issuer)
    .bind(&kid)
    .bind(index)
    .bind(&token)
    .bind(&issued_at)
    .bind(valid_until.map(to_db))
    .fetch_one(tx.conn())
    .await?
    .get(0);
    audit(
        &mut tx,
        &actor.login,
        "licence.issue",
        case.number.clone(),
        Some(case.authority),
        json!({"licence": id, "type": licence_type, "kid": kid, "sha256": sha256_hex(token.as_bytes())}),
    )
    .await?;
    tx.commit().await?;
    act(
        db,
        case,
        actor,
        Action::DeliverResult,
        None,
        Some(&format!("e-licence {id}")),
    )
    .await?;
    Ok(IssuedLicence {
        id,
        case: case.number.clone(),
        licence_type,
        issuer,
        kid,
        token,
        issued_at,
        valid_until: valid_until.map(to_db),
        revoked_at: None,
    })
}

const LICENCE_COLUMNS: &str =
    "l.id, c.number, l.licence_type, l.issuer, l.kid, l.token, l.issued_at, l.valid_until, l.revoked_at";

fn licence_from_row(r: &yrd_db::AnyRow) -> IssuedLicence {
    IssuedLicence {
        id: r.get(0),
        case: r.get(1),
        licence_type: r.get(2),
        issuer: r.get(3),
        kid: r.get(4),
        token: r.get(5),
        issued_at: r.get(6),
        valid_until: r.get(7),
        revoked_at: r.get(8),
    }
}

pub async fn licences_of_case(db: &Db, case: i64) -> Result<Vec<IssuedLicence>, DbError> {
    let rows = sqlx::query(&format!("SELECT {LICENCE_COLUMNS} FROM gs_licences l JOIN gs_cases c ON c.id = l.case_id WHERE l.case_id = $1 ORDER BY l.id"))
        .bind(case)
        .fetch_all(db.pool())
        .await?;
    Ok(rows.iter().map(licence_from_row).collect())
}

pub async fn licence(db: &Db, id: i64) -> Result<Option<IssuedLicence>, DbError> {
    let row = sqlx::query(&format!(
        "SELECT {LICENCE_COLUMNS} FROM gs_licences l JOIN gs_cases c ON c.id = l.case_id WHERE l.id = $1"
    ))
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.as_ref().map(licence_from_row))
}

pub async fn revoke_licence(db: &Db, actor: &Actor, licence: &IssuedLicence, reason: &str) -> Result<(), ServiceError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(invalid("reason", "say why the licence is revoked"));
    }
    let mut tx = db.begin().await?;
    let updated = sqlx::query("UPDATE gs_licences SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now_db())
        .bind(licence.id)
        .execute(tx.conn())
        .await?;
    if updated.rows_affected() == 0 {
        return Err(ServiceError::Conflict(format!(
            "licence {} is already revoked",
            licence.id
        )));
    }
    audit(
        &mut tx,
        &actor.login,
        "licence.revoke",
        licence.case.clone(),
        JurisdictionCode::parse(&licence.issuer).ok(),
        json!({"licence": licence.id, "reason": reason}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn revocation_bits(db: &Db, issuer: &str) -> Result<Bitstring, DbError> {
    let rows = sqlx::query("SELECT status_index FROM gs_licences WHERE issuer = $1 AND revoked_at IS NOT NULL")
        .bind(issuer)
        .fetch_all(db.pool())
        .await?;
    let mut bits = Bitstring::new();
    for r in rows {
        bits.set(r.get::<i64, _>(0) as usize);
    }
    Ok(bits)
}

/// The issuer's signed status list credential, as of now.
pub async fn status_list(db: &Db, issuer: &str) -> Result<String, DbError> {
    let bits = revocation_bits(db, issuer).await?;
    let mut tx = db.begin().await?;
    let (kid, key) = active_key(&mut tx, issuer).await?;
    tx.commit().await?;
    Ok(licence::status_list_credential(
        &key,
        &kid,
        issuer,
        &status_list_url(issuer),
        &bits,
        Utc::now(),
    ))
}

/// Everything an offline verifier needs: every issuer's keys and signed status list.
pub async fn trust_bundle(db: &Db) -> Result<TrustBundle, DbError> {
    let issuers: Vec<String> = sqlx::query("SELECT DISTINCT issuer FROM gs_keys ORDER BY issuer")
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut bundle = TrustBundle {
        exported_at: Some(Utc::now()),
        ..Default::default()
    };
    for issuer in &issuers {
        bundle
            .status_lists
            .insert(status_list_url(issuer), status_list(db, issuer).await?);
    }
    bundle.keys = published_keys(db).await?;
    Ok(bundle)
}

/// Verifies a licence against the registry and the live revocation state.
pub async fn verify_licence(db: &Db, token: &str) -> Result<Result<licence::Verified, licence::VerifyError>, DbError> {
    let keys = published_keys(db).await?;
    let mut revoked = std::collections::HashMap::new();
    for key in &keys {
        if !revoked.contains_key(&key.issuer) {
            revoked.insert(key.issuer.clone(), revocation_bits(db, &key.issuer).await?);
        }
    }
    Ok(licence::verify(token, &keys, Utc::now(), |url, index| {
        let issuer = url
            .strip_prefix("urn:yrd:status-list:")
            .ok_or_else(|| licence::VerifyError::StatusUnavailable(format!("unknown status list {url}")))?;
        let bits = revoked
            .get(issuer)
            .ok_or_else(|| licence::VerifyError::StatusUnavailable(format!("no status list for {issuer}")))?;
        bits.get(index)
            .ok_or_else(|| licence::VerifyError::StatusUnavailable(format!("index {index} out of range")))
    }))
}

// ---------------------------------------------------------------------------------------
// Applicants following their case

pub const MAX_LOOKUP_FAILURES: i64 = 5;

/// The case, if the secret matches. Five wrong secrets for a case number within 15
/// minutes lock its lookup for the rest of the window.
pub async fn lookup(db: &Db, number: &str, secret: &str) -> Result<Result<CaseView, &'static str>, DbError> {
    let since = to_db(Utc::now() - chrono::Duration::minutes(15));
    let failures: i64 = sqlx::query("SELECT COUNT(*) FROM gs_lookup_failures WHERE number = $1 AND at > $2")
        .bind(number)
        .bind(&since)
        .fetch_one(db.pool())
        .await?
        .get(0);
    if failures >= MAX_LOOKUP_FAILURES {
        return Ok(Err("throttled"));
    }
    let row = sqlx::query("SELECT secret_hash FROM gs_cases WHERE number = $1")
        .bind(number)
        .fetch_optional(db.pool())
        .await?;
    let matches = row.is_some_and(|r| r.get::<String, _>(0) == secret_hash(number, secret.trim()));
    if !matches {
        let mut tx = db.begin().await?;
        sqlx::query("INSERT INTO gs_lookup_failures (number, at) VALUES ($1, $2)")
            .bind(number.chars().take(40).collect::<String>())
            .bind(now_db())
            .execute(tx.conn())
            .await?;
        audit(
            &mut tx,
            "anonymous",
            "case.lookup_failed",
            number.chars().take(40).collect(),
            None,
            json!({}),
        )
        .await?;
        tx.commit().await?;
        return Ok(Err("no case with this number and secret"));
    }
    Ok(case(db, number).await?.ok_or("no case with this number and secret"))
}

// ---------------------------------------------------------------------------------------
// Statistics

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RouteStat {
    pub from: String,
    pub to: String,
    pub cases: i64,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ItemStat {
    pub item: String,
    pub cases: i64,
    pub decided: i64,
    pub on_time: i64,
    /// Average calendar days from submission to decision.
    pub average_days: Option<f64>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Stats {
    pub items_in_catalogue: i64,
    pub cases: i64,
    pub cross_province_cases: i64,
    pub decided: i64,
    pub on_time_rate: Option<f64>,
    pub routes: Vec<RouteStat>,
    pub items: Vec<ItemStat>,
}

pub async fn stats(db: &Db) -> Result<Stats, DbError> {
    let items_in_catalogue: i64 = sqlx::query("SELECT COUNT(*) FROM gs_items")
        .fetch_one(db.pool())
        .await?
        .get(0);
    let rows =
        sqlx::query("SELECT item_code, received_in, authority, submitted_at, decided_at, deadline FROM gs_cases")
            .fetch_all(db.pool())
            .await?;
    let mut routes: std::collections::BTreeMap<(String, String), i64> = Default::default();
    let mut per_item: std::collections::BTreeMap<String, (i64, i64, i64, f64)> = Default::default();
    let (mut cross, mut decided, mut on_time) = (0, 0, 0);
    for r in &rows {
        let (item, from, to): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        let from_p = format!("{}0000", &from[..2]);
        let to_p = format!("{}0000", &to[..2]);
        if from_p != to_p {
            cross += 1;
        }
        *routes.entry((from_p, to_p)).or_default() += 1;
        let entry = per_item.entry(item).or_default();
        entry.0 += 1;
        let submitted = parse_time(&r.get::<String, _>(3));
        if let Some(decided_at) = r.get::<Option<String>, _>(4).as_deref().map(parse_time) {
            decided += 1;
            entry.1 += 1;
            entry.3 += (decided_at - submitted).num_hours() as f64 / 24.0;
            let deadline: Option<NaiveDate> = r.get::<Option<String>, _>(5).and_then(|d| d.parse().ok());
            if deadline.is_none_or(|d| decided_at.with_timezone(&shanghai()).date_naive() <= d) {
                on_time += 1;
                entry.2 += 1;
            }
        }
    }
    Ok(Stats {
        items_in_catalogue,
        cases: rows.len() as i64,
        cross_province_cases: cross,
        decided,
        on_time_rate: (decided > 0).then(|| on_time as f64 / decided as f64),
        routes: routes
            .into_iter()
            .map(|((from, to), cases)| RouteStat { from, to, cases })
            .collect(),
        items: per_item
            .into_iter()
            .map(|(item, (cases, decided, on_time, days))| ItemStat {
                item,
                cases,
                decided,
                on_time,
                average_days: (decided > 0).then(|| days / decided as f64),
            })
            .collect(),
    })
}

// ---------------------------------------------------------------------------------------
// Windows and bundles

#[derive(Debug, Clone, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Window {
    pub code: String,
    pub jurisdiction: JurisdictionCode,
    pub name_zh: String,
    pub name_en: String,
    pub address: String,
    #[serde(default)]
    pub staff: Vec<String>,
}

pub async fn windows(db: &Db) -> Result<Vec<Window>, DbError> {
    let rows =
        sqlx::query("SELECT code, jurisdiction, name_zh, name_en, address FROM gs_windows ORDER BY jurisdiction, code")
            .fetch_all(db.pool())
            .await?;
    let staff = sqlx::query("SELECT window_code, login FROM gs_window_staff ORDER BY login")
        .fetch_all(db.pool())
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let code: String = r.get(0);
            Some(Window {
                jurisdiction: JurisdictionCode::parse(&r.get::<String, _>(1)).ok()?,
                name_zh: r.get(2),
                name_en: r.get(3),
                address: r.get(4),
                staff: staff
                    .iter()
                    .filter(|s| s.get::<String, _>(0) == code)
                    .map(|s| s.get(1))
                    .collect(),
                code,
            })
        })
        .collect())
}

pub async fn save_window(db: &Db, actor: &str, window: &Window) -> Result<(), ServiceError> {
    if window.code.trim().is_empty() || window.code.len() > 40 {
        return Err(invalid("code", "1 to 40 characters"));
    }
    if window.name_zh.trim().is_empty() || window.name_en.trim().is_empty() {
        return Err(invalid("name_zh", "both names are needed"));
    }
    let mut tx = db.begin().await?;
    let existing: Option<String> = sqlx::query("SELECT jurisdiction FROM gs_windows WHERE code = $1")
        .bind(&window.code)
        .fetch_optional(tx.conn())
        .await?
        .map(|r| r.get(0));
    match existing {
        // Cases refer to the window by code: it keeps its place and is changed in place.
        Some(place) if place != window.jurisdiction.to_string() => {
            return Err(invalid(
                "jurisdiction",
                format!(
                    "window {} is in {place}; a window stays where it was opened",
                    window.code
                ),
            ));
        }
        Some(_) => {
            sqlx::query("UPDATE gs_windows SET name_zh = $1, name_en = $2, address = $3 WHERE code = $4")
                .bind(window.name_zh.trim())
                .bind(window.name_en.trim())
                .bind(window.address.trim())
                .bind(&window.code)
                .execute(tx.conn())
                .await?;
        }
        None => {
            sqlx::query(
                "INSERT INTO gs_windows (code, jurisdiction, name_zh, name_en, address) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&window.code)
            .bind(window.jurisdiction.to_string())
            .bind(window.name_zh.trim())
            .bind(window.name_en.trim())
            .bind(window.address.trim())
            .execute(tx.conn())
            .await?;
        }
    }
    sqlx::query("DELETE FROM gs_window_staff WHERE window_code = $1")
        .bind(&window.code)
        .execute(tx.conn())
        .await?;
    for login in &window.staff {
        sqlx::query("INSERT INTO gs_window_staff (window_code, login) VALUES ($1, $2)")
            .bind(&window.code)
            .bind(login)
            .execute(tx.conn())
            .await?;
    }
    audit(
        &mut tx,
        actor,
        "window.save",
        window.code.clone(),
        Some(window.jurisdiction),
        serde_json::to_value(window).unwrap_or_default(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn create_bundle(db: &Db, actor: &str, name: &str) -> Result<(i64, String), DbError> {
    let number = format!("GB{}-{}", today().format("%Y%m%d"), random_text(CLEAR, 6));
    let mut tx = db.begin().await?;
    let id: i64 = sqlx::query("INSERT INTO gs_bundles (number, name, created_at) VALUES ($1, $2, $3) RETURNING id")
        .bind(&number)
        .bind(name)
        .bind(now_db())
        .fetch_one(tx.conn())
        .await?
        .get(0);
    audit(
        &mut tx,
        actor,
        "bundle.create",
        number.clone(),
        None,
        json!({"name": name}),
    )
    .await?;
    tx.commit().await?;
    Ok((id, number))
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct BundleView {
    pub number: String,
    pub name: String,
    /// Complete when every linked case is delivered or closed.
    pub complete: bool,
    pub cases: Vec<CaseView>,
}

pub async fn bundle(db: &Db, number: &str) -> Result<Option<BundleView>, DbError> {
    let Some(row) = sqlx::query("SELECT id, name FROM gs_bundles WHERE number = $1")
        .bind(number)
        .fetch_optional(db.pool())
        .await?
    else {
        return Ok(None);
    };
    let id: i64 = row.get(0);
    let rows = sqlx::query(&case_sql("WHERE c.bundle_id = $1 ORDER BY c.id"))
        .bind(id)
        .fetch_all(db.pool())
        .await?;
    let cases: Vec<CaseView> = rows.iter().map(case_from_row).collect();
    let complete = !cases.is_empty()
        && cases
            .iter()
            .all(|c| matches!(c.state, CaseState::ResultDelivered | CaseState::Closed));
    Ok(Some(BundleView {
        number: number.into(),
        name: row.get(1),
        complete,
        cases,
    }))
}

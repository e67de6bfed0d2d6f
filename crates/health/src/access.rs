//! Consent on every cross-hospital read: the rules a Consent must follow, the grants
//! it makes, the check, the emergency override and the access log a patient can read.

use crate::fhir::{FhirError, JURISDICTION_SYSTEM, PURPOSE_SYSTEM, search};
use crate::store::{self, Hospital, Stored, Writer};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Row;
use yrd_auth::Scopes;
use yrd_db::{Db, Tx};
use yrd_kernel::JurisdictionCode;
use yrd_kernel::time::now_db;

/// Purposes of use a reader may state (HL7 v3 ActReason); emergency treatment is only
/// by override.
pub const PURPOSES: &[&str] = &["TREAT", "HPAYMT", "HRESCH", "PUBHLTH"];
pub const EMERGENCY: &str = "ETREAT";

/// A hospital reading, and why.
#[derive(Debug, Clone)]
pub struct Reader {
    pub login: String,
    pub hospital: Hospital,
    pub purpose: String,
    /// An emergency override (break-glass) with its reason.
    pub break_glass: Option<String>,
}

impl Reader {
    pub fn visibility(&self) -> store::Visibility<'_> {
        if self.break_glass.is_some() {
            store::Visibility::All
        } else {
            store::Visibility::Reader {
                org_id: &self.hospital.org_id,
                jurisdiction: self.hospital.jurisdiction.to_string(),
                purpose: &self.purpose,
            }
        }
    }

    fn is_own(&self, stored: &Stored) -> bool {
        stored.owner_org.as_deref() == Some(self.hospital.org_id.as_str()) || stored.person_id.is_none()
    }
}

/// Consents a hospital records may not grant the hospital itself anything, and only
/// simple permits are understood.
pub fn check_consent_rules(consent: &Value, writer: &Writer) -> Result<(), FhirError> {
    let Some(provision) = consent.get("provision") else {
        return Ok(());
    };
    if provision.get("provision").is_some() {
        return Err(FhirError::rule(
            "Consent.provision.provision",
            "nested provisions are not supported; record one Consent per permit",
        ));
    }
    for element in ["data", "class", "code", "dataPeriod", "securityLabel"] {
        if provision.get(element).is_some() {
            return Err(FhirError::rule(
                format!("Consent.provision.{element}"),
                "restrictions by data, class, code, period or label are not supported; a permit covers the whole record",
            ));
        }
    }
    if let Some(actions) = provision.get("action").and_then(Value::as_array)
        && !actions.iter().any(|a| {
            a["coding"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["code"] == "access")
        })
    {
        return Err(FhirError::rule(
            "Consent.provision.action",
            "only permits that include the action 'access' are understood",
        ));
    }
    for (i, purpose) in provision["purpose"].as_array().into_iter().flatten().enumerate() {
        let known = purpose["system"].as_str() == Some(PURPOSE_SYSTEM)
            && purpose["code"].as_str().is_some_and(|code| PURPOSES.contains(&code));
        if !known {
            return Err(FhirError::rule(
                format!("Consent.provision.purpose[{i}]"),
                format!("a purpose of {PURPOSE_SYSTEM}: one of {}", PURPOSES.join(", ")),
            ));
        }
    }
    if let Writer::Hospital { hospital, .. } = writer {
        for (i, actor) in provision["actor"].as_array().into_iter().flatten().enumerate() {
            let reference = &actor["reference"];
            let own_org = reference["reference"].as_str() == Some(&format!("Organization/{}", hospital.org_id));
            let own_place = reference["identifier"]["system"].as_str() == Some(JURISDICTION_SYSTEM)
                && reference["identifier"]["value"]
                    .as_str()
                    .and_then(|code| JurisdictionCode::parse(code).ok())
                    .is_some_and(|code| code.scope().covers(hospital.jurisdiction));
            if own_org || own_place {
                return Err(FhirError::rule(
                    format!("Consent.provision.actor[{i}].reference"),
                    "a hospital cannot record consent for its own access; the patient gives it in the portal or at the hospital holding the data",
                ));
            }
        }
    }
    Ok(())
}

/// Replaces the grants made by one Consent: (person, grantee, purpose, period) rows
/// that the read check and the search filter look up. A consent the patient gave in the
/// portal (`recorded_by` None) covers their data at every hospital; one a hospital
/// recorded covers only that hospital's data.
pub async fn rebuild_grants(
    tx: &mut Tx,
    consent_id: &str,
    person_id: Option<&str>,
    recorded_by: Option<&str>,
    consent: &Value,
) -> Result<(), FhirError> {
    sqlx::query("DELETE FROM health_consent_grants WHERE consent_id = $1")
        .bind(consent_id)
        .execute(tx.conn())
        .await?;
    let (Some(person), Some("active")) = (person_id, consent["status"].as_str()) else {
        return Ok(());
    };
    let provision = &consent["provision"];
    if provision["type"].as_str() != Some("permit") {
        return Ok(());
    }
    let period = |key: &str, end: bool| {
        provision["period"][key]
            .as_str()
            .and_then(search::date_range)
            .map(|(lo, hi)| if end { hi } else { lo })
    };
    let (from, to) = (period("start", false), period("end", true));
    let mut purposes: Vec<String> = provision["purpose"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["system"].as_str() == Some(PURPOSE_SYSTEM))
        .filter_map(|c| c["code"].as_str().map(str::to_string))
        .collect();
    if purposes.is_empty() {
        purposes.push("TREAT".into());
    }
    for actor in provision["actor"].as_array().into_iter().flatten() {
        let reference = &actor["reference"];
        let org = reference["reference"]
            .as_str()
            .and_then(|r| r.strip_prefix("Organization/"));
        let scope = (reference["identifier"]["system"].as_str() == Some(JURISDICTION_SYSTEM))
            .then(|| reference["identifier"]["value"].as_str())
            .flatten()
            .and_then(|code| JurisdictionCode::parse(code).ok())
            .map(|code| code.scope().as_str().to_string());
        if org.is_none() && scope.is_none() {
            continue;
        }
        for purpose in &purposes {
            sqlx::query(
                "INSERT INTO health_consent_grants (consent_id, person_id, recorded_by, grantee_org, grantee_scope, purpose, valid_from, valid_to) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(consent_id)
            .bind(person)
            .bind(recorded_by)
            .bind(org)
            .bind(&scope)
            .bind(purpose)
            .bind(&from)
            .bind(&to)
            .execute(tx.conn())
            .await?;
        }
    }
    Ok(())
}

/// Whether an active consent of the person covers the reader for its purpose now, for
/// data held by `owner` (a hospital-recorded consent covers only that hospital's data).
pub async fn covered(db: &Db, reader: &Reader, person_id: &str, owner: Option<&str>) -> Result<bool, FhirError> {
    let now = now_db();
    let row = sqlx::query(
        "SELECT 1 FROM health_consent_grants g WHERE g.person_id = $1 AND (g.grantee_org = $2 OR $3 LIKE g.grantee_scope || '%') \
         AND g.purpose = $4 AND (g.valid_from IS NULL OR g.valid_from <= $5) AND (g.valid_to IS NULL OR g.valid_to >= $5) \
         AND (g.recorded_by IS NULL OR g.recorded_by = $6)",
    )
    .bind(person_id)
    .bind(&reader.hospital.org_id)
    .bind(reader.hospital.jurisdiction.to_string())
    .bind(&reader.purpose)
        .bind(now)
    .bind(owner)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.is_some())
}

/// Decides one cross-hospital read of a person's data held by `owner_org`, and logs it
/// either way.
pub async fn check(
    db: &Db,
    reader: &Reader,
    person_id: &str,
    owner_org: Option<&str>,
    what: &str,
) -> Result<(), FhirError> {
    if reader.break_glass.is_some() {
        log(db, reader, person_id, owner_org, what, true).await?;
        return Ok(());
    }
    if covered(db, reader, person_id, owner_org).await? {
        log(db, reader, person_id, owner_org, what, true).await?;
        return Ok(());
    }
    log(db, reader, person_id, owner_org, what, false).await?;
    Err(FhirError::Forbidden(format!(
        "no active consent of the patient covers {} ({}) for purpose {}; ask the patient to consent, or state an emergency override in X-Break-Glass-Reason",
        reader.hospital.name, reader.hospital.org_id, reader.purpose
    )))
}

/// The read check for one stored resource (own and directory data pass unlogged).
pub async fn check_resource(db: &Db, reader: &Reader, stored: &Stored) -> Result<(), FhirError> {
    if reader.is_own(stored) {
        return Ok(());
    }
    let person = stored.person_id.as_deref().unwrap_or_default();
    check(db, reader, person, stored.owner_org.as_deref(), &stored.reference()).await
}

/// Logs the cross-hospital part of a search result, one line per person and holder.
pub async fn log_results(db: &Db, reader: &Reader, results: &[Stored], what: &str) -> Result<(), FhirError> {
    let mut seen = std::collections::BTreeMap::new();
    for stored in results.iter().filter(|s| !reader.is_own(s)) {
        *seen
            .entry((stored.person_id.clone().unwrap_or_default(), stored.owner_org.clone()))
            .or_insert(0usize) += 1;
    }
    for ((person, owner), n) in seen {
        log(db, reader, &person, owner.as_deref(), &format!("{what} ({n})"), true).await?;
    }
    Ok(())
}

async fn log(
    db: &Db,
    reader: &Reader,
    person_id: &str,
    owner_org: Option<&str>,
    what: &str,
    allowed: bool,
) -> Result<(), FhirError> {
    let basis = match (&reader.break_glass, allowed) {
        (Some(_), _) => "break-glass",
        (None, true) => "consent",
        (None, false) => "no consent",
    };
    let purpose = if reader.break_glass.is_some() {
        EMERGENCY
    } else {
        reader.purpose.as_str()
    };
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO health_access_log (at, reader_org, reader_login, person_id, owner_org, what, purpose, outcome, basis, break_glass_reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(now_db())
    .bind(&reader.hospital.org_id)
    .bind(&reader.login)
    .bind(person_id)
    .bind(owner_org)
    .bind(what)
    .bind(purpose)
    .bind(if allowed { "allowed" } else { "refused" })
    .bind(basis)
    .bind(&reader.break_glass)
    .execute(tx.conn())
    .await?;
    if reader.break_glass.is_some() || !allowed {
        let action = if allowed {
            "access.break_glass"
        } else {
            "access.refused"
        };
        yrd_audit::log(
            &mut tx,
            store::MODULE,
            &reader.login,
            action,
            what.to_string(),
            Some(reader.hospital.jurisdiction),
            json!({"reader_org": reader.hospital.org_id, "owner_org": owner_org, "purpose": purpose, "reason": reader.break_glass}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// One line of the access log, as the patient and the reviewers see it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Access {
    pub id: i64,
    pub at: String,
    pub reader_org: String,
    pub reader_name: Option<String>,
    pub reader_login: String,
    pub owner_org: Option<String>,
    pub what: String,
    pub purpose: String,
    /// allowed or refused
    pub outcome: String,
    /// consent, break-glass or no consent
    pub basis: String,
    pub break_glass_reason: Option<String>,
    pub review_outcome: Option<String>,
    pub review_note: Option<String>,
    pub reviewed_by: Option<String>,
}

const ACCESS_COLUMNS: &str = "a.id, a.at, a.reader_org, h.name AS reader_name, a.reader_login, a.owner_org, a.what, a.purpose, a.outcome, a.basis, a.break_glass_reason, a.review_outcome, a.review_note, a.reviewed_by";

fn access_from_row(row: &sqlx::any::AnyRow) -> Result<Access, sqlx::Error> {
    Ok(Access {
        id: row.try_get("id")?,
        at: row.try_get("at")?,
        reader_org: row.try_get("reader_org")?,
        reader_name: row.try_get("reader_name")?,
        reader_login: row.try_get("reader_login")?,
        owner_org: row.try_get("owner_org")?,
        what: row.try_get("what")?,
        purpose: row.try_get("purpose")?,
        outcome: row.try_get("outcome")?,
        basis: row.try_get("basis")?,
        break_glass_reason: row.try_get("break_glass_reason")?,
        review_outcome: row.try_get("review_outcome")?,
        review_note: row.try_get("review_note")?,
        reviewed_by: row.try_get("reviewed_by")?,
    })
}

/// Who looked at a person's data, newest first.
pub async fn log_of_person(db: &Db, person_id: &str, limit: i64) -> Result<Vec<Access>, FhirError> {
    let rows = sqlx::query(&format!(
        "SELECT {ACCESS_COLUMNS} FROM health_access_log a LEFT JOIN health_hospitals h ON h.org_id = a.reader_org WHERE a.person_id = $1 ORDER BY a.id DESC LIMIT $2"
    ))
    .bind(person_id)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(access_from_row).collect::<Result<_, _>>()?)
}

/// Emergency overrides by readers within `scopes`, unreviewed first.
pub async fn break_glass(db: &Db, scopes: &Scopes) -> Result<Vec<(Access, String)>, FhirError> {
    let patterns: Vec<String> = match scopes {
        Scopes::All => vec!["%".into()],
        Scopes::Within(scopes) => scopes.iter().map(|s| s.like_pattern()).collect(),
        Scopes::Nothing => return Ok(Vec::new()),
    };
    let within: Vec<String> = (1..=patterns.len())
        .map(|i| format!("h.jurisdiction LIKE ${i}"))
        .collect();
    let sql = format!(
        "SELECT {ACCESS_COLUMNS}, h.jurisdiction FROM health_access_log a JOIN health_hospitals h ON h.org_id = a.reader_org \
         WHERE a.basis = 'break-glass' AND ({}) ORDER BY (CASE WHEN a.review_outcome IS NULL THEN 0 ELSE 1 END), a.id DESC LIMIT 500",
        within.join(" OR ")
    );
    let mut query = sqlx::query(&sql);
    for pattern in &patterns {
        query = query.bind(pattern);
    }
    let rows = query.fetch_all(db.pool()).await?;
    rows.iter()
        .map(|row| Ok((access_from_row(row)?, row.try_get::<String, _>("jurisdiction")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(FhirError::from)
}

/// The reader's jurisdiction of one logged emergency override.
pub async fn break_glass_place(db: &Db, id: i64) -> Result<Option<JurisdictionCode>, FhirError> {
    let row = sqlx::query(
        "SELECT h.jurisdiction FROM health_access_log a JOIN health_hospitals h ON h.org_id = a.reader_org WHERE a.id = $1 AND a.basis = 'break-glass'",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.and_then(|r| JurisdictionCode::parse(&r.get::<String, _>(0)).ok()))
}

/// Records the review of an emergency override, once.
pub async fn review(db: &Db, actor: &str, id: i64, outcome: &str, note: &str) -> Result<(), FhirError> {
    if !matches!(outcome, "justified" | "unjustified") {
        return Err(FhirError::rule("outcome", "justified or unjustified"));
    }
    if note.trim().is_empty() || note.len() > 2000 {
        return Err(FhirError::rule("note", "say why, in 1–2000 characters"));
    }
    let place = break_glass_place(db, id).await?;
    let mut tx = db.begin().await?;
    let changed = sqlx::query(
        "UPDATE health_access_log SET review_outcome = $2, review_note = $3, reviewed_by = $4, reviewed_at = $5 WHERE id = $1 AND basis = 'break-glass' AND review_outcome IS NULL",
    )
    .bind(id)
    .bind(outcome)
    .bind(note.trim())
    .bind(actor)
    .bind(now_db())
    .execute(tx.conn())
    .await?;
    if changed.rows_affected() != 1 {
        return Err(FhirError::Conflict(format!(
            "override {id} is unknown or already reviewed"
        )));
    }
    yrd_audit::log(
        &mut tx,
        store::MODULE,
        actor,
        "break_glass.review",
        id.to_string(),
        place,
        json!({"outcome": outcome, "note": note.trim()}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

//! The health JSON API under `/api/v1/health`: the hospital registry, the recognition
//! catalogue, a hospital's view of a visiting patient's results and its decisions, the
//! patient's consents and access log, emergency-override review and statistics.
//! FHIR itself is at `/fhir` (see `fhir_http`).

use crate::access::{self, PURPOSES, Reader};
use crate::fhir::{FhirError, JURISDICTION_SYSTEM, PURPOSE_SYSTEM};
use crate::mpi::Keys;
use crate::recognition::{self, Decision, DecisionInput, Item, PairStat, ResultView};
use crate::store::{self, Expect, Hospital, MODULE, Writer};
use axum::extract::Path;
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row;
use yrd_auth::Scopes;
use yrd_db::Db;
use yrd_kernel::time::now_db;
use yrd_kernel::{AccessLevel, JurisdictionCode, national_id};
use yrd_web::{ApiError, ApiResult, ApiRoutes, Auth, Doc, Json, Query};

impl From<FhirError> for ApiError {
    fn from(error: FhirError) -> Self {
        match error {
            FhirError::Invalid(issues) => match issues.first() {
                Some(issue) => ApiError::invalid(&issue.path, issue.message.clone()),
                None => ApiError::invalid("", "invalid"),
            },
            FhirError::Rule(path, message) => ApiError::invalid(&path, message),
            FhirError::BadRequest(m)
            | FhirError::NotSupported(m)
            | FhirError::TooLarge(m)
            | FhirError::UnsupportedMediaType(m) => ApiError::invalid("", m),
            FhirError::NotFound(m) => ApiError::NotFound(m),
            FhirError::Unauthenticated(m) => ApiError::Unauthenticated(m),
            FhirError::Forbidden(m) => ApiError::Forbidden(m),
            FhirError::Conflict(m) | FhirError::PreconditionFailed(m) => ApiError::Conflict(m),
            FhirError::Db(e) => ApiError::internal(e),
        }
    }
}

pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        .get("/hospitals", Doc::new("Hospitals on the exchange, with jurisdiction and level").response::<Vec<Hospital>>().public(), list_hospitals)
        .put("/hospitals/{org_id}", Doc::new("Register or change a hospital and its Organization resource (admin over its jurisdiction)").body::<HospitalInput>(), put_hospital)
        .put(
            "/hospitals/{org_id}/staff/{login}",
            Doc::new("Make a user staff (or the system) of a hospital: its tokens then read and write FHIR as that hospital (admin over the hospital's jurisdiction)"),
            put_staff,
        )
        .put(
            "/patient-accounts/{login}",
            Doc::new("Link a user to a person by national ID, for the patient portal (health admin of the region)").body::<AccountInput>(),
            put_account,
        )
        .get("/recognition/items", Doc::new("The catalogue of recognised tests").response::<Vec<Item>>().public(), list_items)
        .put("/recognition/items/{code}", Doc::new("Add or change a recognised test (health admin of the region)").body::<Item>(), put_item)
        .get(
            "/patients/{patient_id}/results",
            Doc::new("A visiting patient's results held by other hospitals, with whether each is recognisable here (hospital staff; consent-checked and logged)")
                .query::<ReadQuery>()
                .response::<Vec<ResultView>>(),
            patient_results,
        )
        .post("/decisions", Doc::new("Accept a recognisable result, or decline it with a reason: a signed, time-stamped record").body::<DecisionInput>().created::<Decision>(), decide)
        .get("/decisions/{id}", Doc::new("One decision with its JWS (staff of either hospital, or health read over either)").response::<Decision>(), get_decision)
        .get("/keys", Doc::new("The public key (JWK set) that verifies decisions").response::<Value>().public(), keys)
        .get("/me/consents", Doc::new("The signed-in patient's consents").response::<Vec<ConsentView>>(), my_consents)
        .post("/me/consents", Doc::new("Give a hospital, or every hospital of a province, access to my records").body::<ConsentInput>().created::<ConsentView>(), give_consent)
        .post("/me/consents/{id}/withdraw", Doc::new("Withdraw a consent: the next read by that hospital is refused"), withdraw_consent)
        .get("/me/access-log", Doc::new("Who read my records at another hospital, when and why").response::<Vec<access::Access>>(), my_access_log)
        .get("/break-glass", Doc::new("Emergency overrides by hospitals in the caller's scope, unreviewed first (approve)").response::<Vec<access::Access>>(), list_break_glass)
        .post("/break-glass/{id}/review", Doc::new("Review an emergency override (approve over the reading hospital's jurisdiction)").body::<ReviewInput>(), review_break_glass)
        .get("/stats", Doc::new("Results reused, repeat tests avoided and fees saved, by province pair (health read)").response::<Vec<PairStat>>(), stats)
}

async fn list_hospitals(auth: Auth) -> ApiResult<axum::Json<Vec<Hospital>>> {
    Ok(axum::Json(store::hospitals(auth.db()).await?))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HospitalInput {
    pub name: String,
    pub jurisdiction: JurisdictionCode,
    /// 1, 2 or 3
    pub level: i64,
    /// 甲, 乙 or 丙
    pub grade: String,
}

async fn put_hospital(
    auth: Auth,
    Path(org_id): Path<String>,
    Json(input): Json<HospitalInput>,
) -> ApiResult<StatusCode> {
    auth.require(MODULE, AccessLevel::Admin, Some(input.jurisdiction))
        .await?;
    if let Some(existing) = store::hospital(auth.db(), &org_id).await? {
        auth.require(MODULE, AccessLevel::Admin, Some(existing.jurisdiction))
            .await?;
    }
    let hospital = Hospital {
        org_id,
        name: input.name,
        jurisdiction: input.jurisdiction,
        level: input.level,
        grade: input.grade,
    };
    store::save_hospital(auth.db(), &auth.actor(), &hospital).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn put_staff(auth: Auth, Path((org_id, login)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let hospital = store::hospital(auth.db(), &org_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("hospital {org_id}")))?;
    auth.require(MODULE, AccessLevel::Admin, Some(hospital.jurisdiction))
        .await?;
    if yrd_auth::find_user(auth.db(), &login)
        .await
        .map_err(ApiError::internal)?
        .is_none()
    {
        return Err(ApiError::invalid("login", format!("no user '{login}'")));
    }
    store::save_staff(auth.db(), &auth.actor(), &login, &org_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountInput {
    pub national_id: String,
}

async fn put_account(auth: Auth, Path(login): Path<String>, Json(input): Json<AccountInput>) -> ApiResult<StatusCode> {
    auth.require(MODULE, AccessLevel::Admin, None).await?;
    if yrd_auth::find_user(auth.db(), &login)
        .await
        .map_err(ApiError::internal)?
        .is_none()
    {
        return Err(ApiError::invalid("login", format!("no user '{login}'")));
    }
    link_account(auth.db(), &auth.actor(), &login, &input.national_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Links a login to the person with this national ID (a person is made if the index has
/// no record of them yet, so consents can be given before the first visit).
pub async fn link_account(db: &Db, actor: &str, login: &str, national_id: &str) -> Result<(), FhirError> {
    let Some(birth) = national_id::birth_date(national_id) else {
        return Err(FhirError::rule(
            "national_id",
            "not a valid 18-character resident ID number",
        ));
    };
    let keys = Keys::load(db).await?;
    let hash = keys.hash(national_id);
    let mut tx = db.begin().await?;
    let demographics = crate::mpi::Demographics {
        family: None,
        birth_date: Some(birth.format("%Y-%m-%d").to_string()),
        gender: national_id::sex(national_id).map(str::to_string),
    };
    let person_id = crate::mpi::person_by_hash(&mut tx, &hash, &demographics).await?;
    sqlx::query("DELETE FROM health_patient_accounts WHERE login = $1")
        .bind(login)
        .execute(tx.conn())
        .await?;
    sqlx::query("INSERT INTO health_patient_accounts (login, person_id, updated_at) VALUES ($1, $2, $3)")
        .bind(login)
        .bind(&person_id)
        .bind(now_db())
        .execute(tx.conn())
        .await?;
    yrd_audit::log(
        &mut tx,
        MODULE,
        actor,
        "patient_account.link",
        login.to_string(),
        None,
        json!({"person_id": person_id}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn list_items(auth: Auth) -> ApiResult<axum::Json<Vec<Item>>> {
    Ok(axum::Json(recognition::items(auth.db()).await?))
}

async fn put_item(auth: Auth, Path(code): Path<String>, Json(mut item): Json<Item>) -> ApiResult<StatusCode> {
    auth.require(MODULE, AccessLevel::Admin, None).await?;
    item.code = code;
    recognition::save_item(auth.db(), &auth.actor(), &item).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadQuery {
    /// TREAT (default), HPAYMT, HRESCH or PUBHLTH
    pub purpose: Option<String>,
    /// An emergency override: the reason, reviewed afterwards.
    pub break_glass_reason: Option<String>,
}

/// The caller as a hospital reader (token or console session of hospital staff).
pub async fn staff_reader(auth: &Auth, query: &ReadQuery) -> Result<Reader, ApiError> {
    let user = auth.require_user()?;
    let hospital = store::hospital_of(auth.db(), &user.login)
        .await?
        .ok_or_else(|| ApiError::Forbidden(format!("'{}' is not staff of a hospital", user.login)))?;
    let purpose = query.purpose.clone().unwrap_or_else(|| "TREAT".into());
    if !PURPOSES.contains(&purpose.as_str()) {
        return Err(ApiError::invalid("purpose", format!("one of {}", PURPOSES.join(", "))));
    }
    let break_glass = query
        .break_glass_reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    if break_glass
        .as_ref()
        .is_some_and(|r| !(4..=500).contains(&r.chars().count()))
    {
        return Err(ApiError::invalid(
            "break_glass_reason",
            "give the emergency in 4–500 characters",
        ));
    }
    Ok(Reader {
        login: user.login.clone(),
        hospital,
        purpose,
        break_glass,
    })
}

async fn patient_results(
    auth: Auth,
    Path(patient_id): Path<String>,
    Query(query): Query<ReadQuery>,
) -> ApiResult<axum::Json<Vec<ResultView>>> {
    let reader = staff_reader(&auth, &query).await?;
    Ok(axum::Json(recognition::results(auth.db(), &reader, &patient_id).await?))
}

async fn decide(auth: Auth, Json(input): Json<DecisionInput>) -> ApiResult<(StatusCode, axum::Json<Decision>)> {
    let reader = staff_reader(&auth, &ReadQuery::default()).await?;
    let keys = Keys::load(auth.db()).await?;
    let decision = recognition::decide(auth.db(), &keys, &reader, &input).await?;
    Ok((StatusCode::CREATED, axum::Json(decision)))
}

async fn get_decision(auth: Auth, Path(id): Path<String>) -> ApiResult<axum::Json<Decision>> {
    let user = auth.require_user()?;
    let not_found = || ApiError::NotFound(format!("decision {id}"));
    let decision = recognition::decision(auth.db(), &id).await?.ok_or_else(not_found)?;
    let own = store::hospital_of(auth.db(), &user.login).await?;
    let involved = own.is_some_and(|h| h.org_id == decision.reader_org || h.org_id == decision.source_org);
    if !involved {
        let scopes = auth.principal.scopes(MODULE, AccessLevel::Read);
        let mut visible = false;
        for org in [&decision.reader_org, &decision.source_org] {
            if let Some(h) = store::hospital(auth.db(), org).await? {
                visible |= scopes.covers(h.jurisdiction);
            }
        }
        if !visible {
            return Err(not_found());
        }
    }
    Ok(axum::Json(decision))
}

async fn keys(auth: Auth) -> ApiResult<axum::Json<Value>> {
    let keys = Keys::load(auth.db()).await?;
    Ok(axum::Json(recognition::jwks(&keys)))
}

// ---------------------------------------------------------------------------------------
// The patient portal

/// The person behind a signed-in patient.
pub async fn patient_of(auth: &Auth) -> Result<(String, String), ApiError> {
    let user = auth.require_user()?;
    let row = sqlx::query("SELECT person_id FROM health_patient_accounts WHERE login = $1")
        .bind(&user.login)
        .fetch_optional(auth.db().pool())
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::Forbidden(format!("'{}' is not linked to a patient record", user.login)))?;
    Ok((user.login.clone(), row.get(0)))
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ConsentView {
    pub id: String,
    /// active or inactive (withdrawn)
    pub status: String,
    /// The hospital (Organization id) or province (jurisdiction code) it covers.
    pub grantee: String,
    pub grantee_name: String,
    pub purposes: Vec<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub recorded_by: String,
}

fn consent_view(stored: &store::Stored, hospitals: &[Hospital]) -> ConsentView {
    let r = &stored.resource;
    let actor = &r["provision"]["actor"][0]["reference"];
    let grantee = actor["reference"]
        .as_str()
        .map(|s| s.trim_start_matches("Organization/").to_string())
        .or_else(|| actor["identifier"]["value"].as_str().map(str::to_string))
        .unwrap_or_default();
    let grantee_name = hospitals
        .iter()
        .find(|h| h.org_id == grantee)
        .map(|h| h.name.clone())
        .or_else(|| {
            JurisdictionCode::parse(&grantee)
                .ok()
                .map(|c| c.jurisdiction().name_zh.clone())
        })
        .unwrap_or_default();
    ConsentView {
        id: stored.id.clone(),
        status: r["status"].as_str().unwrap_or_default().to_string(),
        grantee,
        grantee_name,
        purposes: r["provision"]["purpose"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["code"].as_str().map(str::to_string))
            .collect(),
        start: r["provision"]["period"]["start"].as_str().map(str::to_string),
        end: r["provision"]["period"]["end"].as_str().map(str::to_string),
        recorded_by: stored.owner_org.clone().unwrap_or_else(|| "patient".into()),
    }
}

pub async fn consents_of(db: &Db, person_id: &str) -> Result<Vec<ConsentView>, FhirError> {
    let hospitals = store::hospitals(db).await?;
    Ok(store::of_person(db, "Consent", person_id)
        .await?
        .iter()
        .map(|s| consent_view(s, &hospitals))
        .collect())
}

async fn my_consents(auth: Auth) -> ApiResult<axum::Json<Vec<ConsentView>>> {
    let (_, person) = patient_of(&auth).await?;
    Ok(axum::Json(consents_of(auth.db(), &person).await?))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentInput {
    /// A hospital's Organization id; or give `province`.
    pub hospital: Option<String>,
    /// A province's code (e.g. 310000): every hospital there.
    pub province: Option<JurisdictionCode>,
    /// TREAT (default), HPAYMT, HRESCH or PUBHLTH
    pub purpose: Option<String>,
    /// How many days it lasts (1–3650; default 365).
    pub days: Option<i64>,
}

/// Records a patient's consent as a FHIR Consent about their earliest Patient record.
pub async fn give(db: &Db, login: &str, person_id: &str, input: &ConsentInput) -> Result<store::Stored, FhirError> {
    let actor_reference = match (&input.hospital, input.province) {
        (Some(org), None) => {
            store::hospital(db, org)
                .await?
                .ok_or_else(|| FhirError::rule("hospital", format!("no hospital '{org}'")))?;
            json!({"reference": format!("Organization/{org}")})
        }
        (None, Some(province)) if province.province() == province => {
            json!({"identifier": {"system": JURISDICTION_SYSTEM, "value": province.to_string()}, "display": province.jurisdiction().name_zh})
        }
        (None, Some(_)) => return Err(FhirError::rule("province", "a province's code, e.g. 310000")),
        _ => return Err(FhirError::rule("hospital", "give a hospital or a province, not both")),
    };
    let purpose = input.purpose.clone().unwrap_or_else(|| "TREAT".into());
    if !PURPOSES.contains(&purpose.as_str()) {
        return Err(FhirError::rule("purpose", format!("one of {}", PURPOSES.join(", "))));
    }
    let days = input.days.unwrap_or(365);
    if !(1..=3650).contains(&days) {
        return Err(FhirError::rule("days", "1–3650"));
    }
    let patient = store::of_person(db, "Patient", person_id)
        .await?
        .into_iter()
        .last()
        .ok_or_else(|| {
            FhirError::rule(
                "patient",
                "no hospital has a record of you yet; consent once a hospital has registered you",
            )
        })?;
    let today = yrd_kernel::time::today();
    let end = today + chrono::Duration::days(days);
    let consent = json!({
        "resourceType": "Consent",
        "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}]}],
        "patient": {"reference": patient.reference()},
        "dateTime": store::fhir_instant(&now_db()),
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
        "provision": {
            "type": "permit",
            "period": {"start": today.to_string(), "end": end.to_string()},
            "actor": [{"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}]}, "reference": actor_reference}],
            "purpose": [{"system": PURPOSE_SYSTEM, "code": purpose}]
        }
    });
    let writer = Writer::Patient {
        login: login.to_string(),
        person_id: person_id.to_string(),
    };
    let keys = Keys::load(db).await?;
    let mut tx = db.begin().await?;
    let stored = store::write(
        &mut tx,
        &keys,
        &writer,
        "Consent",
        None,
        consent,
        Expect::New,
        &mut Vec::new(),
    )
    .await?;
    tx.commit().await?;
    Ok(stored)
}

/// Withdraws one of the person's consents (a new version with status inactive).
pub async fn withdraw(db: &Db, login: &str, person_id: &str, id: &str) -> Result<(), FhirError> {
    let stored = store::read(db, "Consent", id)
        .await?
        .filter(|s| s.person_id.as_deref() == Some(person_id))
        .ok_or_else(|| FhirError::NotFound(format!("consent {id}")))?;
    if stored.resource["status"] != "active" {
        return Err(FhirError::Conflict(format!("consent {id} is not active")));
    }
    let mut resource = stored.resource.clone();
    resource["status"] = json!("inactive");
    let writer = Writer::Patient {
        login: login.to_string(),
        person_id: person_id.to_string(),
    };
    let keys = Keys::load(db).await?;
    let mut tx = db.begin().await?;
    store::write(
        &mut tx,
        &keys,
        &writer,
        "Consent",
        Some(id),
        resource,
        Expect::Version(Some(stored.version)),
        &mut Vec::new(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn give_consent(auth: Auth, Json(input): Json<ConsentInput>) -> ApiResult<(StatusCode, axum::Json<ConsentView>)> {
    let (login, person) = patient_of(&auth).await?;
    let stored = give(auth.db(), &login, &person, &input).await?;
    let hospitals = store::hospitals(auth.db()).await?;
    Ok((StatusCode::CREATED, axum::Json(consent_view(&stored, &hospitals))))
}

async fn withdraw_consent(auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let (login, person) = patient_of(&auth).await?;
    withdraw(auth.db(), &login, &person, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn my_access_log(auth: Auth) -> ApiResult<axum::Json<Vec<access::Access>>> {
    let (_, person) = patient_of(&auth).await?;
    Ok(axum::Json(access::log_of_person(auth.db(), &person, 500).await?))
}

// ---------------------------------------------------------------------------------------
// Oversight

async fn list_break_glass(auth: Auth) -> ApiResult<axum::Json<Vec<access::Access>>> {
    auth.require_user()?;
    let scopes = auth.principal.scopes(MODULE, AccessLevel::Approve);
    let rows = access::break_glass(auth.db(), &scopes).await?;
    Ok(axum::Json(
        rows.into_iter()
            .filter(|(_, place)| JurisdictionCode::parse(place).is_ok_and(|c| scopes.covers(c)))
            .map(|(a, _)| a)
            .collect(),
    ))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewInput {
    /// justified or unjustified
    pub outcome: String,
    pub note: String,
}

async fn review_break_glass(auth: Auth, Path(id): Path<i64>, Json(input): Json<ReviewInput>) -> ApiResult<StatusCode> {
    auth.require_user()?;
    let place = access::break_glass_place(auth.db(), id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("emergency override {id}")))?;
    auth.require(MODULE, AccessLevel::Approve, Some(place)).await?;
    access::review(auth.db(), &auth.actor(), id, &input.outcome, &input.note).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The province pairs a reader may see: either side inside their health read scopes.
pub async fn visible_stats(db: &Db, scopes: &Scopes) -> Result<Vec<PairStat>, FhirError> {
    let within = |code: &str| JurisdictionCode::parse(code).is_ok_and(|c| scopes.covers(c));
    Ok(recognition::stats(db)
        .await?
        .into_iter()
        .filter(|p| within(&p.source_province) || within(&p.reader_province))
        .collect())
}

async fn stats(auth: Auth) -> ApiResult<axum::Json<Vec<PairStat>>> {
    auth.require_user()?;
    let scopes = auth.principal.scopes(MODULE, AccessLevel::Read);
    if scopes == Scopes::Nothing {
        auth.require(MODULE, AccessLevel::Read, None).await?;
    }
    Ok(axum::Json(visible_stats(auth.db(), &scopes).await?))
}

//! The government-services API, under `/api/v1/govservice`.

use crate::catalogue::{Item, LicenceType};
use crate::domain::{Action, CaseState, Channel, Role};
use crate::licence::{TrustBundle, Verified, VerifyError};
use crate::service::{self, Actor, CaseView, MODULE, NewCase, ServiceError};
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use yrd_auth::{Denied, Scopes};
use yrd_kernel::{AccessLevel, JurisdictionCode};
use yrd_web::{ApiError, ApiResult, ApiRoutes, Auth, Doc, Json, Query};

pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        .get("/items", Doc::new("The service catalogue").response::<Vec<Item>>().public(), list_items)
        .get("/items/{code}", Doc::new("One service item: authorities, materials, time limit").response::<Item>().public(), get_item)
        .get("/licence-types", Doc::new("The e-licence types").response::<Vec<LicenceType>>().public(), licence_types)
        .get("/windows", Doc::new("Cross-province service windows").response::<Vec<service::Window>>().public(), list_windows)
        .put("/windows/{code}", Doc::new("Create or change a window and its staff (admin over its jurisdiction)").body::<service::Window>(), put_window)
        .post(
            "/cases",
            Doc::new("Apply: online (no account) or at a window (a clerk on its staff)")
                .describe("Returns the case number and the secret with which the applicant follows the case; the secret is not shown again.")
                .body::<CaseInput>()
                .created::<service::Submitted>()
                .public(),
            create_case,
        )
        .get("/cases", Doc::new("Cases received or decided within the caller's scope").query::<CaseQuery>().response::<Vec<CaseView>>(), list_cases)
        .get("/cases/{number}", Doc::new("A case with its timeline; review notes for the deciding authority only").response::<CaseDetail>(), get_case)
        .post(
            "/cases/{number}/actions",
            Doc::new("Move a case: accept, refuse_at_intake, start_review, request_supplement, supplement, approve, deny, deliver_result, close, withdraw")
                .body::<ActionInput>()
                .response::<CaseView>()
                .public(),
            post_action,
        )
        .post("/cases/{number}/notes", Doc::new("An internal review note (deciding authority)").body::<NoteInput>(), post_note)
        .post(
            "/cases/{number}/attachments",
            Doc::new("A scanned material (PDF, PNG or JPEG, at most 512 KiB), stored with its SHA-256").body::<AttachmentInput>().created::<service::Attachment>().public(),
            post_attachment,
        )
        .post("/cases/{number}/originals", Doc::new("Paper originals shipped (window) or received (authority)").body::<OriginalsInput>(), post_originals)
        .post("/cases/{number}/licence", Doc::new("Issue the item's e-licence for an approved case").body::<LicenceInput>().created::<service::IssuedLicence>(), post_licence)
        .post("/lookup", Doc::new("Follow a case with its number and secret (throttled)").body::<LookupInput>().response::<LookupResult>().public(), lookup)
        .post("/bundles", Doc::new("一件事: one application that opens linked cases").body::<BundleInput>().created::<service::BundleView>().public(), create_bundle)
        .get("/bundles/{number}", Doc::new("A bundle and its cases").response::<service::BundleView>(), get_bundle)
        .post("/licences/verify", Doc::new("Verify an e-licence: signature, issuer key, validity, revocation").body::<VerifyInput>().response::<VerifyResult>().public(), verify)
        .post("/licences/{id}/revoke", Doc::new("Revoke an e-licence (approve over its issuer)").body::<RevokeInput>(), revoke)
        .get("/keys", Doc::new("The key registry: every issuer's public keys").response::<Vec<crate::licence::PublishedKey>>().public(), keys)
        .post("/keys/rotate", Doc::new("Start a new signing key for an issuer; its previous key retires").body::<RotateInput>(), rotate)
        .post("/keys/{kid}/retire", Doc::new("Retire a signing key"), retire)
        .get("/status-lists/{issuer}", Doc::new("The issuer's revocation status list (signed, vc+jwt)").produces("application/vc+jwt").public(), status_list)
        .get("/trust-bundle", Doc::new("Keys and status lists, for offline verification").response::<TrustBundle>().public(), trust_bundle)
        .get("/handoffs", Doc::new("Signed, hash-linked hand-off evidence, each entry verified").query::<HandoffQuery>().response::<Vec<service::Handoff>>(), handoffs)
        .get("/stats", Doc::new("Cases by route and item, on-time rate, average days").response::<service::Stats>(), stats)
}

async fn list_items(auth: Auth) -> ApiResult<axum::Json<Vec<Item>>> {
    Ok(axum::Json(service::items(auth.db()).await?))
}

async fn get_item(auth: Auth, Path(code): Path<String>) -> ApiResult<axum::Json<Item>> {
    Ok(axum::Json(
        service::item(auth.db(), &code)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("item {code}")))?,
    ))
}

async fn licence_types(auth: Auth) -> ApiResult<axum::Json<Vec<LicenceType>>> {
    let rows = sqlx::query("SELECT code, name_zh, name_en, validity_years FROM gs_licence_types ORDER BY code")
        .fetch_all(auth.db().pool())
        .await?;
    Ok(axum::Json(
        rows.iter()
            .map(|r| LicenceType {
                code: r.get(0),
                name_zh: r.get(1),
                name_en: r.get(2),
                validity_years: r.get(3),
            })
            .collect(),
    ))
}

async fn list_windows(auth: Auth) -> ApiResult<axum::Json<Vec<service::Window>>> {
    let mut windows = service::windows(auth.db()).await?;
    // Who staffs a window is for its administrators, not the public list.
    for window in &mut windows {
        if !auth
            .principal
            .allows(MODULE, AccessLevel::Admin, Some(window.jurisdiction))
        {
            window.staff.clear();
        }
    }
    Ok(axum::Json(windows))
}

async fn put_window(
    auth: Auth,
    Path(code): Path<String>,
    Json(mut window): Json<service::Window>,
) -> ApiResult<StatusCode> {
    auth.require(MODULE, AccessLevel::Admin, Some(window.jurisdiction))
        .await?;
    window.code = code;
    service::save_window(auth.db(), &auth.actor(), &window).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseInput {
    pub item: String,
    pub applicant_name: String,
    /// A phone number or address for the result.
    pub applicant_contact: String,
    /// Where the applicant's matter belongs (registered residence or business): decides the authority.
    pub home: JurisdictionCode,
    pub channel: Channel,
    /// The receiving window's code (remote and virtual windows).
    pub window: Option<String>,
    /// SHA-256 of the signed consent form (required at a window).
    pub consent_sha256: Option<String>,
    /// `zh` or `en`: the language of the applicant's status page.
    #[serde(default = "zh")]
    pub language: String,
}

fn zh() -> String {
    "zh".into()
}

/// Validates an application and works out who receives it.
async fn new_case(auth: &Auth, input: CaseInput, bundle_id: Option<i64>) -> ApiResult<(Actor, NewCase)> {
    let item = service::item(auth.db(), &input.item)
        .await?
        .ok_or_else(|| ApiError::invalid("item", format!("'{}' is not in the catalogue", input.item)))?;
    let mut errors = yrd_kernel::ValidationErrors::new();
    for (field, value, max) in [
        ("applicant_name", &input.applicant_name, 100),
        ("applicant_contact", &input.applicant_contact, 200),
    ] {
        if value.trim().is_empty() || value.chars().count() > max {
            errors.add(field, format!("1 to {max} characters"));
        }
    }
    if !matches!(input.language.as_str(), "zh" | "en") {
        errors.add("language", "zh or en");
    }
    errors.into_result()?;
    let (actor, window) = match input.channel {
        Channel::Online => {
            if input.window.is_some() {
                return Err(ApiError::invalid("window", "online applications have no window"));
            }
            (
                Actor {
                    login: "applicant".into(),
                    role: Role::Applicant,
                    jurisdiction: input.home,
                },
                None,
            )
        }
        Channel::RemoteWindow | Channel::VirtualWindow => {
            let code = input
                .window
                .clone()
                .ok_or_else(|| ApiError::invalid("window", "the receiving window's code"))?;
            let window = service::windows(auth.db())
                .await?
                .into_iter()
                .find(|w| w.code == code)
                .ok_or_else(|| ApiError::invalid("window", format!("no window '{code}'")))?;
            let user = auth.require_user()?;
            auth.require(MODULE, AccessLevel::Write, Some(window.jurisdiction))
                .await?;
            if !window.staff.contains(&user.login) {
                return Err(auth
                    .deny(Denied {
                        actor: auth.actor(),
                        module: MODULE.into(),
                        level: AccessLevel::Write,
                        jurisdiction: Some(window.jurisdiction),
                    })
                    .await);
            }
            let consent = input.consent_sha256.as_deref().unwrap_or("");
            if consent.len() != 64 || !consent.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ApiError::invalid(
                    "consent_sha256",
                    "the SHA-256 (hex) of the consent form the applicant signed",
                ));
            }
            (
                Actor {
                    login: user.login.clone(),
                    role: Role::IntakeClerk,
                    jurisdiction: window.jurisdiction,
                },
                Some((window.code, window.jurisdiction)),
            )
        }
    };
    let new = NewCase {
        item,
        applicant_name: input.applicant_name,
        applicant_contact: input.applicant_contact,
        language: input.language,
        channel: input.channel,
        window,
        home: input.home,
        consent_sha256: input.consent_sha256.map(|c| c.to_ascii_lowercase()),
        bundle_id,
        demo: false,
    };
    Ok((actor, new))
}

pub(crate) async fn create_case(
    auth: Auth,
    Json(input): Json<CaseInput>,
) -> ApiResult<(StatusCode, axum::Json<service::Submitted>)> {
    let (actor, new) = new_case(&auth, input, None).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(service::create_case(auth.db(), &actor, new).await?),
    ))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseQuery {
    pub state: Option<CaseState>,
    pub limit: Option<i64>,
}

fn scope_prefixes(scopes: &Scopes) -> Option<Vec<String>> {
    match scopes {
        Scopes::All => None,
        Scopes::Within(list) => Some(list.iter().map(|s| s.as_str().to_string()).collect()),
        Scopes::Nothing => Some(Vec::new()),
    }
}

async fn list_cases(auth: Auth, Query(query): Query<CaseQuery>) -> ApiResult<axum::Json<Vec<CaseView>>> {
    auth.require_user()?;
    let scopes = auth.principal.scopes(MODULE, AccessLevel::Read);
    if scopes == Scopes::Nothing {
        return Err(auth
            .deny(Denied {
                actor: auth.actor(),
                module: MODULE.into(),
                level: AccessLevel::Read,
                jurisdiction: None,
            })
            .await);
    }
    let prefixes = scope_prefixes(&scopes);
    Ok(axum::Json(
        service::cases(auth.db(), prefixes.as_deref(), query.state, query.limit.unwrap_or(200)).await?,
    ))
}

pub async fn load_case(auth: &Auth, number: &str) -> ApiResult<CaseView> {
    service::case(auth.db(), number)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("case {number}")))
}

/// Whether the caller decides this case (approve over the competent authority).
pub fn is_authority(auth: &Auth, case: &CaseView) -> bool {
    auth.principal
        .allows(MODULE, AccessLevel::Approve, Some(case.authority))
}

/// Read access: the receiving side, the deciding side, or a wider scope (the office).
async fn require_read(auth: &Auth, case: &CaseView) -> ApiResult<()> {
    if auth.principal.allows(MODULE, AccessLevel::Read, Some(case.received_in))
        || auth.principal.allows(MODULE, AccessLevel::Read, Some(case.authority))
    {
        return Ok(());
    }
    let refused = auth
        .deny(Denied {
            actor: auth.actor(),
            module: MODULE.into(),
            level: AccessLevel::Read,
            jurisdiction: Some(case.authority),
        })
        .await;
    // Audited as refused, answered as unknown: outsiders cannot tell which case numbers
    // exist (applicants follow their case by number and secret instead).
    match refused {
        ApiError::Forbidden(_) | ApiError::Unauthenticated(_) => {
            Err(ApiError::NotFound(format!("case {}", case.number)))
        }
        other => Err(other),
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CaseDetail {
    pub case: CaseView,
    pub events: Vec<service::Event>,
    pub attachments: Vec<service::Attachment>,
    pub originals: service::Originals,
    pub licences: Vec<service::IssuedLicence>,
    /// Internal to the deciding authority: absent for everyone else.
    pub review_notes: Option<Vec<service::Note>>,
}

pub async fn case_detail(auth: &Auth, case: CaseView) -> ApiResult<CaseDetail> {
    let db = auth.db();
    let review_notes = if is_authority(auth, &case) {
        Some(service::review_notes(db, case.id).await?)
    } else {
        None
    };
    Ok(CaseDetail {
        events: service::events(db, case.id).await?,
        attachments: service::attachments(db, case.id).await?,
        originals: service::originals_status(db, case.id).await?,
        licences: service::licences_of_case(db, case.id).await?,
        review_notes,
        case,
    })
}

async fn get_case(auth: Auth, Path(number): Path<String>) -> ApiResult<axum::Json<CaseDetail>> {
    let case = load_case(&auth, &number).await?;
    require_read(&auth, &case).await?;
    Ok(axum::Json(case_detail(&auth, case).await?))
}

/// The actor for a role on a case, after checking that the caller holds it.
pub async fn actor_for(auth: &Auth, case: &CaseView, role: Role, secret: Option<&str>) -> ApiResult<Actor> {
    let deny = |level, jurisdiction| Denied {
        actor: auth.actor(),
        module: MODULE.into(),
        level,
        jurisdiction: Some(jurisdiction),
    };
    match role {
        Role::Authority => {
            if !is_authority(auth, case) {
                return Err(auth.deny(deny(AccessLevel::Approve, case.authority)).await);
            }
            Ok(Actor {
                login: auth.actor(),
                role,
                jurisdiction: case.authority,
            })
        }
        Role::IntakeClerk => {
            let user = auth.require_user()?;
            let on_staff = match &case.window {
                Some(code) => service::windows(auth.db())
                    .await?
                    .iter()
                    .any(|w| &w.code == code && w.staff.contains(&user.login)),
                None => true,
            };
            if !on_staff
                || !auth
                    .principal
                    .allows(MODULE, AccessLevel::Write, Some(case.received_in))
            {
                return Err(auth.deny(deny(AccessLevel::Write, case.received_in)).await);
            }
            Ok(Actor {
                login: user.login.clone(),
                role,
                jurisdiction: case.received_in,
            })
        }
        Role::Applicant => match service::lookup(auth.db(), &case.number, secret.unwrap_or("")).await? {
            Ok(_) => Ok(Actor {
                login: "applicant".into(),
                role,
                jurisdiction: case.received_in,
            }),
            Err("throttled") => Err(ApiError::TooManyRequests { retry_after_secs: 900 }),
            Err(_) => Err(ApiError::Forbidden("the case secret does not match".into())),
        },
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionInput {
    pub action: Action,
    /// Who acts: `authority`, `intake_clerk` or `applicant` (with `secret`).
    pub role: Role,
    pub reason: Option<String>,
    /// For deliver_result: the express tracking number.
    pub delivery: Option<String>,
    /// The applicant's case secret.
    pub secret: Option<String>,
}

pub(crate) async fn post_action(
    auth: Auth,
    Path(number): Path<String>,
    Json(input): Json<ActionInput>,
) -> ApiResult<axum::Json<CaseView>> {
    let case = load_case(&auth, &number).await?;
    let actor = actor_for(&auth, &case, input.role, input.secret.as_deref()).await?;
    if let Err(error) = service::act(
        auth.db(),
        &case,
        &actor,
        input.action,
        input.reason.as_deref(),
        input.delivery.as_deref(),
    )
    .await
    {
        if let ServiceError::Conflict(message) | ServiceError::Forbidden(message) = &error {
            // Illegal transitions are refused and audited.
            let change = yrd_audit::Change {
                actor: actor.login.clone(),
                action: "case.refused_transition".into(),
                module: MODULE.into(),
                entity_id: case.number.clone(),
                jurisdiction: Some(actor.jurisdiction),
                detail: json!({"action": input.action, "state": case.state, "reason": message}),
            };
            yrd_audit::record(auth.db(), change).await?;
        }
        return Err(error.into());
    }
    Ok(axum::Json(load_case(&auth, &number).await?))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    pub note: String,
}

async fn post_note(auth: Auth, Path(number): Path<String>, Json(input): Json<NoteInput>) -> ApiResult<StatusCode> {
    let case = load_case(&auth, &number).await?;
    let actor = actor_for(&auth, &case, Role::Authority, None).await?;
    service::add_review_note(auth.db(), &case, &actor, &input.note).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentInput {
    pub name: String,
    /// application/pdf, image/png or image/jpeg; checked against the content.
    pub media_type: String,
    pub content_base64: String,
    /// `intake_clerk` (default) or `applicant` (with `secret`).
    #[serde(default = "clerk")]
    pub role: Role,
    pub secret: Option<String>,
}

fn clerk() -> Role {
    Role::IntakeClerk
}

async fn post_attachment(
    auth: Auth,
    Path(number): Path<String>,
    Json(input): Json<AttachmentInput>,
) -> ApiResult<(StatusCode, axum::Json<service::Attachment>)> {
    let case = load_case(&auth, &number).await?;
    if input.role == Role::Authority {
        return Err(ApiError::invalid(
            "role",
            "materials come from the applicant or the receiving window",
        ));
    }
    let actor = actor_for(&auth, &case, input.role, input.secret.as_deref()).await?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(input.content_base64.as_bytes())
        .map_err(|_| ApiError::invalid("content_base64", "not valid base64"))?;
    let attachment = service::add_attachment(auth.db(), &case, &actor, &input.name, &input.media_type, &bytes).await?;
    Ok((StatusCode::CREATED, axum::Json(attachment)))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OriginalsInput {
    /// `shipped` (by the receiving window) or `received` (by the authority).
    pub event: String,
    pub tracking_number: Option<String>,
}

async fn post_originals(
    auth: Auth,
    Path(number): Path<String>,
    Json(input): Json<OriginalsInput>,
) -> ApiResult<StatusCode> {
    let case = load_case(&auth, &number).await?;
    let (role, shipped) = match input.event.as_str() {
        "shipped" => (Role::IntakeClerk, true),
        "received" => (Role::Authority, false),
        _ => return Err(ApiError::invalid("event", "shipped or received")),
    };
    let actor = actor_for(&auth, &case, role, None).await?;
    service::originals(auth.db(), &case, &actor, shipped, input.tracking_number.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LicenceInput {
    /// What the licence says about its holder (name, registration number…).
    pub subject: serde_json::Map<String, serde_json::Value>,
}

async fn post_licence(
    auth: Auth,
    Path(number): Path<String>,
    Json(input): Json<LicenceInput>,
) -> ApiResult<(StatusCode, axum::Json<service::IssuedLicence>)> {
    let case = load_case(&auth, &number).await?;
    let actor = actor_for(&auth, &case, Role::Authority, None).await?;
    if input.subject.is_empty() || serde_json::to_string(&input.subject).map_or(true, |s| s.len() > 4000) {
        return Err(ApiError::invalid(
            "subject",
            "the holder's details, at most 4000 bytes of JSON",
        ));
    }
    let issued = service::issue_licence(auth.db(), &case, &actor, serde_json::Value::Object(input.subject)).await?;
    Ok((StatusCode::CREATED, axum::Json(issued)))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupInput {
    pub number: String,
    pub secret: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct LookupResult {
    pub number: String,
    pub item_name: String,
    pub state: CaseState,
    pub deadline: Option<chrono::NaiveDate>,
    pub delivery: Option<String>,
    /// The timeline in the applicant's language; internal notes never appear.
    pub timeline: Vec<TimelineEntry>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TimelineEntry {
    pub at: String,
    pub step: String,
    pub reason: Option<String>,
}

/// The applicant's view of a step, in their language.
pub fn step_name(action: &str, zh: bool) -> &'static str {
    match (action, zh) {
        ("submit", true) => "已提交申请",
        ("submit", false) => "Application submitted",
        ("accept", true) => "已受理",
        ("accept", false) => "Accepted for processing",
        ("refuse_at_intake", true) => "不予受理",
        ("refuse_at_intake", false) => "Not accepted",
        ("start_review", true) => "审查中",
        ("start_review", false) => "Under review",
        ("request_supplement", true) => "需要补正材料",
        ("request_supplement", false) => "More material requested",
        ("supplement", true) => "已补正材料",
        ("supplement", false) => "Material supplied",
        ("approve", true) => "已批准",
        ("approve", false) => "Approved",
        ("deny", true) => "不予批准",
        ("deny", false) => "Not approved",
        ("deliver_result", true) => "结果已送达",
        ("deliver_result", false) => "Result delivered",
        ("close", true) => "已办结",
        ("close", false) => "Closed",
        ("withdraw", true) => "已撤回",
        ("withdraw", false) => "Withdrawn",
        (_, true) => "处理中",
        (_, false) => "In progress",
    }
}

pub async fn lookup_result(auth: &Auth, number: &str, secret: &str) -> ApiResult<LookupResult> {
    let case = match service::lookup(auth.db(), number.trim(), secret).await? {
        Ok(case) => case,
        Err("throttled") => return Err(ApiError::TooManyRequests { retry_after_secs: 900 }),
        Err(message) => return Err(ApiError::NotFound(message.into())),
    };
    let zh = case.language == "zh";
    let timeline = service::events(auth.db(), case.id)
        .await?
        .into_iter()
        .map(|e| TimelineEntry {
            at: e.at,
            step: step_name(&e.action, zh).into(),
            reason: e.reason,
        })
        .collect();
    Ok(LookupResult {
        item_name: if zh {
            case.item_name_zh.clone()
        } else {
            case.item_name_en.clone()
        },
        number: case.number,
        state: case.state,
        deadline: case.deadline,
        delivery: case.delivery,
        timeline,
    })
}

async fn lookup(auth: Auth, Json(input): Json<LookupInput>) -> ApiResult<axum::Json<LookupResult>> {
    Ok(axum::Json(lookup_result(&auth, &input.number, &input.secret).await?))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BundleInput {
    pub name: String,
    /// One application per linked item; all share the applicant.
    pub cases: Vec<CaseInput>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct BundleCreated {
    pub number: String,
    pub cases: Vec<service::Submitted>,
}

async fn create_bundle(
    auth: Auth,
    Json(input): Json<BundleInput>,
) -> ApiResult<(StatusCode, axum::Json<BundleCreated>)> {
    if input.cases.len() < 2 || input.cases.len() > 10 {
        return Err(ApiError::invalid("cases", "2 to 10 linked applications"));
    }
    if input.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "name the bundle (e.g. 企业迁移一件事)"));
    }
    // Validate every application before opening any.
    let mut prepared = Vec::new();
    for (i, case) in input.cases.into_iter().enumerate() {
        let checked = match new_case(&auth, case, None).await {
            Ok(p) => service::check_new_case(&p.1).map(|_| p).map_err(ApiError::from),
            Err(e) => Err(e),
        };
        match checked {
            Ok(p) => prepared.push(p),
            Err(ApiError::Invalid(errors)) => {
                let mut prefixed = yrd_kernel::ValidationErrors::new();
                for e in errors.0 {
                    prefixed.add(format!("cases/{i}/{}", e.path), e.message);
                }
                return Err(ApiError::Invalid(prefixed));
            }
            Err(other) => return Err(other),
        }
    }
    let (id, number) = service::create_bundle(auth.db(), &auth.actor(), input.name.trim()).await?;
    let mut cases = Vec::new();
    for (actor, mut new) in prepared {
        new.bundle_id = Some(id);
        cases.push(service::create_case(auth.db(), &actor, new).await?);
    }
    Ok((StatusCode::CREATED, axum::Json(BundleCreated { number, cases })))
}

async fn get_bundle(auth: Auth, Path(number): Path<String>) -> ApiResult<axum::Json<service::BundleView>> {
    let bundle = service::bundle(auth.db(), &number)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("bundle {number}")))?;
    for case in &bundle.cases {
        require_read(&auth, case).await?;
    }
    Ok(axum::Json(bundle))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyInput {
    /// The licence: a compact JWS (header.payload.signature).
    pub token: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct VerifyResult {
    pub valid: bool,
    pub problem: Option<VerifyError>,
    pub message: String,
    pub licence: Option<Verified>,
}

pub fn verify_result(outcome: Result<Verified, VerifyError>) -> VerifyResult {
    match outcome {
        Ok(v) => VerifyResult {
            valid: true,
            problem: None,
            message: "valid".into(),
            licence: Some(v),
        },
        Err(e) => VerifyResult {
            valid: false,
            message: e.to_string(),
            problem: Some(e),
            licence: None,
        },
    }
}

async fn verify(auth: Auth, Json(input): Json<VerifyInput>) -> ApiResult<axum::Json<VerifyResult>> {
    if input.token.len() > 64 * 1024 {
        return Err(ApiError::invalid("token", "at most 64 KiB"));
    }
    let outcome = service::verify_licence(auth.db(), &input.token).await?;
    if let Err(problem) = &outcome {
        let change = yrd_audit::Change {
            actor: auth.actor(),
            action: "licence.rejected".into(),
            module: MODULE.into(),
            entity_id: yrd_audit::sha256_hex(input.token.as_bytes())[..16].to_string(),
            jurisdiction: None,
            detail: json!({"problem": problem}),
        };
        yrd_audit::record(auth.db(), change).await?;
    }
    Ok(axum::Json(verify_result(outcome)))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeInput {
    pub reason: String,
}

async fn revoke(auth: Auth, Path(id): Path<String>, Json(input): Json<RevokeInput>) -> ApiResult<StatusCode> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad_request("id", "a licence id is a number"))?;
    let licence = service::licence(auth.db(), id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("licence {id}")))?;
    let issuer = JurisdictionCode::parse(&licence.issuer).map_err(ApiError::internal)?;
    auth.require(MODULE, AccessLevel::Approve, Some(issuer)).await?;
    let actor = Actor {
        login: auth.actor(),
        role: Role::Authority,
        jurisdiction: issuer,
    };
    service::revoke_licence(auth.db(), &actor, &licence, &input.reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn keys(auth: Auth) -> ApiResult<axum::Json<Vec<crate::licence::PublishedKey>>> {
    Ok(axum::Json(service::published_keys(auth.db()).await?))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateInput {
    /// A province's code, or `000000` for the region.
    pub issuer: String,
}

fn issuer_scope(issuer: &str) -> ApiResult<Option<JurisdictionCode>> {
    if issuer == service::REGION_ISSUER {
        return Ok(None);
    }
    match JurisdictionCode::parse(issuer) {
        Ok(code) if code.province() == code => Ok(Some(code)),
        _ => Err(ApiError::invalid(
            "issuer",
            "a province's code or 000000 for the region",
        )),
    }
}

async fn rotate(auth: Auth, Json(input): Json<RotateInput>) -> ApiResult<(StatusCode, axum::Json<serde_json::Value>)> {
    let scope = issuer_scope(&input.issuer)?;
    auth.require(MODULE, AccessLevel::Admin, scope).await?;
    let kid = service::rotate_key(auth.db(), &auth.actor(), &input.issuer).await?;
    Ok((StatusCode::CREATED, axum::Json(json!({"kid": kid}))))
}

async fn retire(auth: Auth, Path(kid): Path<String>) -> ApiResult<StatusCode> {
    let key = service::published_keys(auth.db())
        .await?
        .into_iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| ApiError::NotFound(format!("key {kid}")))?;
    auth.require(MODULE, AccessLevel::Admin, issuer_scope(&key.issuer)?)
        .await?;
    service::retire_key(auth.db(), &auth.actor(), &kid).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn status_list(auth: Auth, Path(issuer): Path<String>) -> ApiResult<Response> {
    issuer_scope(&issuer).map_err(|_| ApiError::NotFound(format!("issuer {issuer}")))?;
    let jws = service::status_list(auth.db(), &issuer).await?;
    Ok(([(header::CONTENT_TYPE, "application/vc+jwt")], jws).into_response())
}

async fn trust_bundle(auth: Auth) -> ApiResult<axum::Json<TrustBundle>> {
    Ok(axum::Json(service::trust_bundle(auth.db()).await?))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoffQuery {
    /// Only this case's hand-offs.
    pub case: Option<String>,
}

async fn handoffs(auth: Auth, Query(query): Query<HandoffQuery>) -> ApiResult<axum::Json<Vec<service::Handoff>>> {
    match &query.case {
        Some(number) => {
            let case = load_case(&auth, number).await?;
            require_read(&auth, &case).await?;
        }
        None => auth.require(MODULE, AccessLevel::Read, None).await?,
    }
    Ok(axum::Json(service::handoffs(auth.db(), query.case.as_deref()).await?))
}

async fn stats(auth: Auth) -> ApiResult<axum::Json<service::Stats>> {
    auth.require(MODULE, AccessLevel::Read, None).await?;
    Ok(axum::Json(service::stats(auth.db()).await?))
}

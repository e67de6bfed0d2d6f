//! The insurance API, under `/api/v1/insurance`. The point-of-care calls mirror the
//! national interface: eligibility (1101), visit registration (2201), bill upload,
//! pre-settlement and settlement (22xx), reversal, reconciliation (3201). Each carries
//! the routing fields and a message id that makes retries safe.

use crate::domain::{BillLine, CatalogueItem, Policy, VisitKind};
use crate::service::{self, DESK, Filing, Fund, Institution, MODULE};
use axum::extract::Path;
use axum::http::StatusCode;
use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use yrd_auth::{Denied, Scopes};
use yrd_kernel::{AccessLevel, JurisdictionCode};
use yrd_web::{ApiError, ApiResult, ApiRoutes, Auth, Doc, Json, Query};

/// The share of settlements chosen at random for medical review, in per cent.
pub const REVIEW_PERCENT: u32 = 3;

pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        .get("/funds", Doc::new("Insurance funds (pooling regions and schemes)").response::<Vec<Fund>>().public(), list_funds)
        .put("/funds/{code}", Doc::new("Create or change a fund (admin over its jurisdiction)").body::<Fund>(), put_fund)
        .get("/institutions", Doc::new("Designated institutions").response::<Vec<Institution>>().public(), list_institutions)
        .post("/institutions", Doc::new("Apply for designation (write over the institution's jurisdiction); `networked` is ignored: the bureau sets it").body::<Institution>(), apply_institution)
        .post(
            "/institutions/{code}/status",
            Doc::new("Move an institution through review, designation, suspension, revocation (approve over its jurisdiction)").body::<StatusInput>(),
            institution_status,
        )
        .put(
            "/institutions/{code}/networked",
            Doc::new("Connect an institution to cross-province settlement or take it off; an application only asks for it (approve over its jurisdiction)").body::<NetworkedInput>(),
            institution_networked,
        )
        .post("/persons", Doc::new("Enrol an insured person (write over the fund's jurisdiction)").body::<PersonInput>().created::<service::Person>(), enrol)
        .post("/persons/lookup", Doc::new("Find an insured person by national ID (read over the fund's jurisdiction)").body::<LookupInput>().response::<PersonView>(), lookup_person)
        .post("/filings", Doc::new("File for treatment elsewhere (备案)").body::<FilingInput>(), file)
        .put("/catalogue/{place}", Doc::new("The catalogue of a province where treatment happens (admin over it)").body::<Vec<CatalogueItem>>(), put_catalogue)
        .put("/policies", Doc::new("A policy version of a fund (admin over its jurisdiction)").body::<PolicyInput>(), put_policy)
        .post("/eligibility", Doc::new("1101: look up an insured person at the billing desk").body::<EligibilityInput>().response::<Value>(), eligibility)
        .post("/visits", Doc::new("2201: register a visit").body::<VisitInput>().created::<Value>(), register_visit)
        .post("/visits/{number}/bill", Doc::new("Upload the bill lines of a visit").body::<BillInput>().response::<Value>(), bill)
        .post("/visits/{number}/quote", Doc::new("Pre-settlement: the numbers, with the fund's share held").body::<MessageInput>().response::<Value>(), quote)
        .post("/visits/{number}/settle", Doc::new("Settle a visit: the fund and personal account pay, the person pays the rest").body::<MessageInput>().response::<Value>(), settle)
        .post("/settlements/{id}/reverse", Doc::new("Reverse a settlement with opposite transfers").body::<ReverseInput>().response::<Value>(), reverse)
        .post("/reconciliation", Doc::new("3201: compare an institution's totals with the ledger").body::<ReconcileInput>().response::<service::Reconciliation>(), reconcile)
        .post("/prepayments", Doc::new("A fund prepays into clearing (admin over the fund's jurisdiction)").body::<PrepayInput>(), prepay)
        .get("/balances", Doc::new("Ledger balances (posted and pending)").query::<BalanceQuery>().response::<Vec<service::Balance>>(), balances)
        .post("/clearing/{month}", Doc::new("Month-end clearing: signed statements per fund and province of treatment (admin, whole region)").response::<Vec<service::Statement>>(), clear)
        .get("/statements", Doc::new("Clearing statements, with the platform's public key to verify them").query::<MonthQuery>().response::<StatementsView>(), statements)
        .get("/reviews", Doc::new("Settlements selected for medical review").response::<Vec<Value>>(), reviews)
        .post("/reviews/{settlement}", Doc::new("Confirm a claim, or reject it with a correcting transfer").body::<ReviewInput>(), review)
        .get("/stats", Doc::new("Settlements by province pair").response::<Vec<service::PairStat>>(), stats)
}

async fn require_fund(auth: &Auth, level: AccessLevel, fund_code: &str) -> ApiResult<Fund> {
    let fund = service::fund(auth.db(), fund_code)
        .await?
        .ok_or_else(|| ApiError::invalid("fund", format!("no fund '{fund_code}'")))?;
    auth.require(MODULE, level, Some(fund.jurisdiction)).await?;
    Ok(fund)
}

/// The person with this ID if the caller may act on their fund at `level`. Someone
/// insured in another fund answers like no one (the refusal is still audited), so IDs
/// cannot be probed across funds.
async fn person_in_scope(auth: &Auth, level: AccessLevel, national_id: &str) -> ApiResult<Option<service::Person>> {
    auth.require_user()?;
    let Some(person) = service::person_by_id(auth.db(), national_id).await? else {
        return Ok(None);
    };
    let Some(fund) = service::fund(auth.db(), &person.fund).await? else {
        return Ok(None);
    };
    match auth.require(MODULE, level, Some(fund.jurisdiction)).await {
        Ok(()) => Ok(Some(person)),
        Err(ApiError::Forbidden(_)) => Ok(None),
        Err(other) => Err(other),
    }
}

async fn list_funds(auth: Auth) -> ApiResult<axum::Json<Vec<Fund>>> {
    Ok(axum::Json(service::funds(auth.db()).await?))
}

async fn put_fund(auth: Auth, Path(code): Path<String>, Json(mut fund): Json<Fund>) -> ApiResult<StatusCode> {
    auth.require(MODULE, AccessLevel::Admin, Some(fund.jurisdiction))
        .await?;
    fund.code = code;
    service::save_fund(auth.db(), &auth.actor(), &fund).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_institutions(auth: Auth) -> ApiResult<axum::Json<Vec<Institution>>> {
    Ok(axum::Json(service::institutions(auth.db(), 5000).await?))
}

async fn apply_institution(auth: Auth, Json(mut inst): Json<Institution>) -> ApiResult<StatusCode> {
    auth.require(DESK, AccessLevel::Write, Some(inst.jurisdiction)).await?;
    // Only the bureau connects an institution to cross-province settlement.
    inst.networked = false;
    service::apply_institution(auth.db(), &auth.actor(), &inst).await?;
    Ok(StatusCode::CREATED)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusInput {
    /// reviewing, designated, suspended or revoked
    pub status: String,
    pub reason: Option<String>,
}

/// Checks the caller is the medical-insurance bureau over the institution.
async fn bureau_of(auth: &Auth, code: &str) -> ApiResult<()> {
    let inst = service::institution(auth.db(), code)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("institution {code}")))?;
    auth.require(MODULE, AccessLevel::Approve, Some(inst.jurisdiction))
        .await
}

async fn institution_status(
    auth: Auth,
    Path(code): Path<String>,
    Json(input): Json<StatusInput>,
) -> ApiResult<StatusCode> {
    bureau_of(&auth, &code).await?;
    service::set_institution_status(auth.db(), &auth.actor(), &code, &input.status, input.reason.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkedInput {
    pub networked: bool,
}

async fn institution_networked(
    auth: Auth,
    Path(code): Path<String>,
    Json(input): Json<NetworkedInput>,
) -> ApiResult<StatusCode> {
    bureau_of(&auth, &code).await?;
    service::set_networked(auth.db(), &auth.actor(), &code, input.networked).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonInput {
    /// 18 characters; stored only as a keyed hash.
    pub national_id: String,
    pub name: String,
    pub fund: String,
    #[serde(default)]
    pub account_balance_fen: i64,
}

async fn enrol(auth: Auth, Json(input): Json<PersonInput>) -> ApiResult<(StatusCode, axum::Json<service::Person>)> {
    require_fund(&auth, AccessLevel::Write, &input.fund).await?;
    let person = service::enrol(
        auth.db(),
        &auth.actor(),
        &input.national_id,
        &input.name,
        &input.fund,
        input.account_balance_fen,
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(person)))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupInput {
    pub national_id: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PersonView {
    pub person: service::Person,
    pub filings: Vec<Filing>,
}

async fn lookup_person(auth: Auth, Json(input): Json<LookupInput>) -> ApiResult<axum::Json<PersonView>> {
    let person = person_in_scope(&auth, AccessLevel::Read, &input.national_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no insured person with this ID in your funds".into()))?;
    let filings = service::filings(auth.db(), person.id).await?;
    Ok(axum::Json(PersonView { person, filings }))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilingInput {
    pub national_id: String,
    #[serde(flatten)]
    pub filing: Filing,
}

async fn file(auth: Auth, Json(input): Json<FilingInput>) -> ApiResult<StatusCode> {
    let person = person_in_scope(&auth, AccessLevel::Write, &input.national_id)
        .await?
        .ok_or_else(|| ApiError::invalid("national_id", "no insured person with this ID in your funds"))?;
    service::file(auth.db(), &auth.actor(), &person, &input.filing).await?;
    Ok(StatusCode::CREATED)
}

async fn put_catalogue(
    auth: Auth,
    Path(place): Path<String>,
    Json(items): Json<Vec<CatalogueItem>>,
) -> ApiResult<StatusCode> {
    let province = JurisdictionCode::parse(&format!("{place:0<6}"))
        .ok()
        .filter(|c| c.province() == *c && place.len() == 2)
        .ok_or_else(|| ApiError::bad_request("place", "a province's two-digit code"))?;
    auth.require(MODULE, AccessLevel::Admin, Some(province)).await?;
    service::save_catalogue(auth.db(), &auth.actor(), &place, &items).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    pub fund: String,
    pub level: i64,
    pub visit_kind: VisitKind,
    pub effective_from: NaiveDate,
    pub policy: Policy,
}

async fn put_policy(auth: Auth, Json(input): Json<PolicyInput>) -> ApiResult<StatusCode> {
    require_fund(&auth, AccessLevel::Admin, &input.fund).await?;
    service::save_policy(
        auth.db(),
        &auth.actor(),
        &input.fund,
        input.level,
        input.visit_kind,
        input.effective_from,
        &input.policy,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Routing fields of every point-of-care call, as in the national interface.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct Routing {
    pub message_id: String,
    /// Where the person is insured (参保地).
    pub insuplc_admdvs: String,
    /// Where the person is treated (就医地).
    pub mdtrtarea_admvs: String,
    /// The designated institution.
    pub fixmedins_code: String,
}

/// Checks the caller acts for a designated, networked institution in the treatment area.
async fn desk(auth: &Auth, routing: &Routing) -> ApiResult<Institution> {
    let inst = service::institution(auth.db(), &routing.fixmedins_code)
        .await?
        .ok_or_else(|| ApiError::invalid("fixmedins_code", format!("no institution '{}'", routing.fixmedins_code)))?;
    auth.require(DESK, AccessLevel::Write, Some(inst.jurisdiction)).await?;
    if routing.mdtrtarea_admvs != inst.jurisdiction.to_string() {
        return Err(ApiError::invalid(
            "mdtrtarea_admvs",
            format!("the institution is in {}", inst.jurisdiction),
        ));
    }
    if inst.status != "designated" {
        return Err(ApiError::Conflict(format!(
            "institution {} is {}, not designated",
            inst.code, inst.status
        )));
    }
    Ok(inst)
}

async fn person_for(
    auth: &Auth,
    routing: &Routing,
    national_id: &str,
    inst: &Institution,
) -> ApiResult<service::Person> {
    let person = service::person_by_id(auth.db(), national_id)
        .await?
        .ok_or_else(|| ApiError::invalid("national_id", "no insured person with this ID"))?;
    let fund = service::fund(auth.db(), &person.fund)
        .await?
        .ok_or_else(|| ApiError::internal("person without fund"))?;
    if routing.insuplc_admdvs != fund.jurisdiction.to_string() {
        return Err(ApiError::invalid(
            "insuplc_admdvs",
            format!("the person is insured in {}", fund.jurisdiction),
        ));
    }
    if fund.jurisdiction.province() != inst.jurisdiction.province() && !inst.networked {
        return Err(ApiError::Conflict(format!(
            "institution {} is not networked for cross-province settlement",
            inst.code
        )));
    }
    Ok(person)
}

/// Runs a point-of-care call once per message id of an institution. The caller must act
/// for the institution before anything, a stored answer included, is returned; the id is
/// claimed before the call runs, so two copies of one message sent together run once.
async fn once<F, Fut>(
    auth: &Auth,
    endpoint: &str,
    routing: &Routing,
    body: &Value,
    run: F,
) -> ApiResult<(StatusCode, axum::Json<Value>)>
where
    F: FnOnce(Institution) -> Fut,
    Fut: std::future::Future<Output = ApiResult<(StatusCode, Value)>>,
{
    let inst = desk(auth, routing).await?;
    let key = service::MessageKey::new(&routing.fixmedins_code, &routing.message_id)?;
    if let service::Claim::Answered(status, response) = service::claim(auth.db(), &key, endpoint, body).await? {
        return Ok((
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            axum::Json(response),
        ));
    }
    match run(inst).await {
        Ok((status, response)) => {
            service::answer(auth.db(), &key, status.as_u16(), &response).await?;
            Ok((status, axum::Json(response)))
        }
        Err(error) => {
            // A refused message may be corrected and sent again under the same id.
            service::release(auth.db(), &key).await?;
            Err(error)
        }
    }
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EligibilityInput {
    #[serde(flatten)]
    pub routing: Routing,
    pub national_id: String,
}

async fn eligibility(auth: Auth, Json(input): Json<EligibilityInput>) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    let body = serde_json::to_value(&input).unwrap_or_default();
    let (auth, input) = (&auth, &input);
    once(auth, "eligibility", &input.routing, &body, |inst| async move {
        let person = person_for(auth, &input.routing, &input.national_id, &inst).await?;
        let today = yrd_kernel::time::today();
        let filings = service::filings(auth.db(), person.id).await?;
        let filed = service::filed_for(&filings, inst.jurisdiction, today);
        Ok((StatusCode::OK, json!({"person": {"name": person.name, "fund": person.fund, "status": person.status, "account_balance_fen": person.account_balance_fen}, "filed_for_this_place": filed, "filings": filings})))
    })
    .await
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitInput {
    #[serde(flatten)]
    pub routing: Routing,
    pub national_id: String,
    pub kind: VisitKind,
    pub treated_on: NaiveDate,
}

async fn register_visit(auth: Auth, Json(input): Json<VisitInput>) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    let body = serde_json::to_value(&input).unwrap_or_default();
    let (auth, input) = (&auth, &input);
    once(auth, "visit", &input.routing, &body, |inst| async move {
        let person = person_for(auth, &input.routing, &input.national_id, &inst).await?;
        service::check_treatment_date(input.treated_on)?;
        let mut tx = auth.db().begin().await?;
        let visit = service::register_visit(&mut tx, &person, &inst, input.kind, input.treated_on).await?;
        service::audit(
            &mut tx,
            &auth.actor(),
            "visit.register",
            visit.number.clone(),
            Some(inst.jurisdiction),
            json!({"institution": inst.code, "kind": input.kind}),
        )
        .await?;
        tx.commit().await?;
        Ok((StatusCode::CREATED, json!({"visit": visit.number})))
    })
    .await
}

/// The visit, if it is the institution's.
async fn load_visit(auth: &Auth, number: &str, inst: &Institution) -> ApiResult<service::Visit> {
    let visit = service::visit(auth.db(), number)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("visit {number}")))?;
    if visit.institution != inst.code {
        return Err(ApiError::invalid(
            "fixmedins_code",
            "the visit belongs to another institution",
        ));
    }
    Ok(visit)
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BillInput {
    #[serde(flatten)]
    pub routing: Routing,
    pub lines: Vec<BillLine>,
}

async fn bill(
    auth: Auth,
    Path(number): Path<String>,
    Json(input): Json<BillInput>,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    let body = serde_json::to_value(&input).unwrap_or_default();
    let (auth, input, number) = (&auth, &input, &number);
    once(
        auth,
        &format!("bill:{number}"),
        &input.routing,
        &body,
        |inst| async move {
            let visit = load_visit(auth, number, &inst).await?;
            if !matches!(visit.state.as_str(), "registered" | "billed" | "quoted") {
                return Err(ApiError::Conflict(format!("visit {number} is {}", visit.state)));
            }
            if input.lines.is_empty() || input.lines.len() > 500 {
                return Err(ApiError::invalid("lines", "1 to 500 lines"));
            }
            let catalogue = service::catalogue(auth.db(), inst.jurisdiction).await?;
            for (i, line) in input.lines.iter().enumerate() {
                if !catalogue.contains_key(&line.item) {
                    return Err(ApiError::invalid(
                        &format!("lines/{i}/item"),
                        format!("'{}' is not in the catalogue of the place of treatment", line.item),
                    ));
                }
            }
            let mut tx = auth.db().begin().await?;
            sqlx::query("UPDATE ins_visits SET lines = $1, state = 'billed' WHERE id = $2")
                .bind(serde_json::to_string(&input.lines).unwrap_or_default())
                .bind(visit.id)
                .execute(tx.conn())
                .await?;
            service::audit(
                &mut tx,
                &auth.actor(),
                "visit.bill",
                number.clone(),
                Some(inst.jurisdiction),
                json!({"lines": input.lines.len()}),
            )
            .await?;
            tx.commit().await?;
            Ok((StatusCode::OK, json!({"visit": number, "lines": input.lines.len()})))
        },
    )
    .await
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageInput {
    #[serde(flatten)]
    pub routing: Routing,
}

async fn quote(
    auth: Auth,
    Path(number): Path<String>,
    Json(input): Json<MessageInput>,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    let body = serde_json::to_value(&input).unwrap_or_default();
    let (auth, input, number) = (&auth, &input, &number);
    once(
        auth,
        &format!("quote:{number}"),
        &input.routing,
        &body,
        |inst| async move {
            let visit = load_visit(auth, number, &inst).await?;
            let (settlement, posting) = service::quote(auth.db(), &auth.actor(), &visit).await?;
            Ok((
                StatusCode::OK,
                json!({"visit": number, "hold": posting, "settlement": settlement}),
            ))
        },
    )
    .await
}

async fn settle(
    auth: Auth,
    Path(number): Path<String>,
    Json(input): Json<MessageInput>,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    let body = serde_json::to_value(&input).unwrap_or_default();
    let (auth, input, number) = (&auth, &input, &number);
    once(
        auth,
        &format!("settle:{number}"),
        &input.routing,
        &body,
        |inst| async move {
            let visit = load_visit(auth, number, &inst).await?;
            let (record, settlement) = service::settle(auth.db(), &auth.actor(), &visit, REVIEW_PERCENT).await?;
            Ok((
                StatusCode::OK,
                json!({"settlement_id": record.id, "review": record.review, "settlement": settlement}),
            ))
        },
    )
    .await
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReverseInput {
    #[serde(flatten)]
    pub routing: Routing,
    pub reason: String,
}

async fn reverse(
    auth: Auth,
    Path(id): Path<String>,
    Json(input): Json<ReverseInput>,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad_request("id", "a settlement id is a number"))?;
    let body = serde_json::to_value(&input).unwrap_or_default();
    let (auth, input) = (&auth, &input);
    once(auth, &format!("reverse:{id}"), &input.routing, &body, |_| async move {
        let record = service::settlement(auth.db(), id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("settlement {id}")))?;
        if record.institution != input.routing.fixmedins_code {
            return Err(ApiError::invalid(
                "fixmedins_code",
                "the settlement belongs to another institution",
            ));
        }
        let reversal = service::reverse(auth.db(), &auth.actor(), id, &input.reason).await?;
        Ok((StatusCode::OK, json!({"reversal_id": reversal})))
    })
    .await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconcileInput {
    pub institution: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub totals: service::InstitutionTotals,
}

async fn reconcile(auth: Auth, Json(input): Json<ReconcileInput>) -> ApiResult<axum::Json<service::Reconciliation>> {
    let inst = service::institution(auth.db(), &input.institution)
        .await?
        .ok_or_else(|| ApiError::invalid("institution", "unknown institution"))?;
    auth.require(DESK, AccessLevel::Write, Some(inst.jurisdiction)).await?;
    Ok(axum::Json(
        service::reconcile(auth.db(), &inst.code, input.from, input.to, &input.totals).await?,
    ))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrepayInput {
    pub fund: String,
    pub amount_fen: i64,
}

async fn prepay(auth: Auth, Json(input): Json<PrepayInput>) -> ApiResult<StatusCode> {
    require_fund(&auth, AccessLevel::Admin, &input.fund).await?;
    service::prepay(auth.db(), &auth.actor(), &input.fund, input.amount_fen).await?;
    Ok(StatusCode::CREATED)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BalanceQuery {
    /// Accounts whose code starts with this (e.g. `prepaid:3401`).
    #[serde(default)]
    pub prefix: String,
}

async fn balances(auth: Auth, Query(q): Query<BalanceQuery>) -> ApiResult<axum::Json<Vec<service::Balance>>> {
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
    let all = service::balances(auth.db(), &q.prefix).await?;
    // An account's jurisdiction is in its code (fund or institution); the rest is the office's.
    let mut out = Vec::new();
    for b in all {
        let owner = b.account.split_once(':').map(|(_, rest)| rest).unwrap_or("");
        let code = match service::institution(auth.db(), owner).await? {
            Some(inst) => Some(inst.jurisdiction),
            None => JurisdictionCode::parse(owner.split('-').next().unwrap_or("")).ok(),
        };
        if matches!(scopes, Scopes::All) || code.is_some_and(|c| scopes.covers(c)) {
            out.push(b);
        }
    }
    Ok(axum::Json(out))
}

async fn clear(auth: Auth, Path(month): Path<String>) -> ApiResult<axum::Json<Vec<service::Statement>>> {
    auth.require(MODULE, AccessLevel::Admin, None).await?;
    Ok(axum::Json(
        service::clear_month(auth.db(), &auth.actor(), &month).await?,
    ))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MonthQuery {
    /// YYYY-MM
    pub month: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct StatementsView {
    /// The platform's Ed25519 public key (base64url) that signs every statement.
    pub public_key: String,
    pub statements: Vec<service::Statement>,
}

async fn statements(auth: Auth, Query(q): Query<MonthQuery>) -> ApiResult<axum::Json<StatementsView>> {
    auth.require_user()?;
    let scopes = auth.principal.scopes(MODULE, AccessLevel::Read);
    let list = service::statements(auth.db(), q.month.as_deref()).await?;
    let visible: Vec<_> = list
        .into_iter()
        .filter(|s| {
            matches!(scopes, Scopes::All)
                || JurisdictionCode::parse(s.debtor_fund.split('-').next().unwrap_or(""))
                    .is_ok_and(|c| scopes.covers(c))
                || JurisdictionCode::parse(&s.creditor_place).is_ok_and(|c| scopes.covers(c))
        })
        .collect();
    if visible.is_empty() && scopes == Scopes::Nothing {
        return Err(auth
            .deny(Denied {
                actor: auth.actor(),
                module: MODULE.into(),
                level: AccessLevel::Read,
                jurisdiction: None,
            })
            .await);
    }
    Ok(axum::Json(StatementsView {
        public_key: service::statement_public_key(auth.db()).await?,
        statements: visible,
    }))
}

async fn reviews(auth: Auth) -> ApiResult<axum::Json<Vec<Value>>> {
    auth.require_user()?;
    // A reviewer sees the claims on the funds inside their scopes; filtered before the
    // limit so that busy provinces cannot push another's claims off the list.
    let patterns = match auth.principal.scopes(MODULE, AccessLevel::Approve) {
        Scopes::All => vec!["%".to_string()],
        Scopes::Within(scopes) => scopes.iter().map(|s| s.like_pattern()).collect(),
        Scopes::Nothing => return Ok(axum::Json(Vec::new())),
    };
    let clauses: Vec<String> = (1..=patterns.len())
        .map(|n| format!("s.insured_fund LIKE ${n}"))
        .collect();
    let sql = format!(
        "SELECT r.settlement_id, r.reason, r.state, s.insured_fund, s.total_fen, s.fund_fen FROM ins_reviews r JOIN ins_settlements s ON s.id = r.settlement_id \
         WHERE {} ORDER BY r.settlement_id DESC LIMIT 500",
        clauses.join(" OR ")
    );
    let mut query = sqlx::query(&sql);
    for pattern in &patterns {
        query = query.bind(pattern);
    }
    let rows = query.fetch_all(auth.db().pool()).await?;
    use sqlx::Row;
    Ok(axum::Json(
        rows.iter()
            .map(|r| json!({"settlement": r.get::<i64, _>(0), "reason": r.get::<String, _>(1), "state": r.get::<String, _>(2), "fund": r.get::<String, _>(3), "total_fen": r.get::<i64, _>(4), "fund_fen": r.get::<i64, _>(5)}))
            .collect(),
    ))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewInput {
    /// confirm or reject
    pub decision: String,
    pub note: String,
    /// For a rejection: what the institution gives back to the fund.
    #[serde(default)]
    pub correction_fen: i64,
}

async fn review(auth: Auth, Path(settlement): Path<String>, Json(input): Json<ReviewInput>) -> ApiResult<StatusCode> {
    let id: i64 = settlement
        .parse()
        .map_err(|_| ApiError::bad_request("settlement", "a number"))?;
    let record = service::settlement(auth.db(), id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("settlement {id}")))?;
    require_fund(&auth, AccessLevel::Approve, &record.insured_fund).await?;
    let confirm = match input.decision.as_str() {
        "confirm" => true,
        "reject" => false,
        _ => return Err(ApiError::invalid("decision", "confirm or reject")),
    };
    service::review(auth.db(), &auth.actor(), id, confirm, &input.note, input.correction_fen).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn stats(auth: Auth) -> ApiResult<axum::Json<Vec<service::PairStat>>> {
    auth.require(MODULE, AccessLevel::Read, None).await?;
    Ok(axum::Json(service::stats(auth.db()).await?))
}

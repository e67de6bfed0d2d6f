//! The government-services console, at `/govservice`.

use crate::domain::{Action, CaseState, Role, Timeliness};
use crate::http::{self, ActionInput, case_detail, is_authority, load_case, lookup_result, verify_result};
use crate::service::{self, CaseView, MODULE};
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;
use yrd_kernel::AccessLevel;
use yrd_web::console::{Page, badge, percent_encode, table};
use yrd_web::{ApiError, Json, Query};

pub fn routes() -> Router {
    Router::new()
        .route("/", get(overview))
        .route("/catalogue", get(catalogue))
        .route("/cases/{number}", get(case_page))
        .route("/cases/{number}/act", post(act_form))
        .route("/lookup", get(lookup_page).post(lookup_form))
        .route("/verify", get(verify_page).post(verify_form))
        .route("/handoffs", get(handoffs_page))
        .route("/apply", get(apply_page).post(apply_form))
}

pub fn state_badge(page: &Page, state: CaseState) -> Markup {
    let kind = match state {
        CaseState::Approved | CaseState::ResultDelivered | CaseState::Closed => "done",
        CaseState::Denied | CaseState::RefusedAtIntake => "overdue",
        CaseState::SupplementRequested => "at-risk",
        CaseState::Withdrawn => "not-started",
        _ => "on-track",
    };
    badge(kind, page.t(&format!("gs.state.{}", state.as_str())))
}

fn timeliness_badge(page: &Page, t: Option<Timeliness>) -> Markup {
    match t {
        Some(Timeliness::Overdue) => badge("overdue", page.t("gs.overdue")),
        Some(Timeliness::NearlyDue) => badge("at-risk", page.t("gs.nearly_due")),
        Some(Timeliness::OnTime) => badge("on-track", page.t("gs.on_time")),
        None => html! {},
    }
}

fn place(page: &Page, code: yrd_kernel::JurisdictionCode) -> String {
    let j = code.jurisdiction();
    page.lang.pick(&j.name_zh, &j.name_en).to_string()
}

fn case_rows(page: &Page, cases: &[CaseView]) -> Markup {
    let rows = html! {
        @for c in cases {
            tr {
                td.mono { a href=(format!("/govservice/cases/{}", c.number)) { (c.number) } }
                td { (page.lang.pick(&c.item_name_zh, &c.item_name_en)) }
                td { (place(page, c.received_in)) " → " (place(page, c.authority)) }
                td { (state_badge(page, c.state)) }
                td { (c.deadline.map(|d| page.lang.date(d)).unwrap_or_default()) " " (timeliness_badge(page, c.timeliness)) }
            }
        }
    };
    table(
        &[
            page.t("gs.case"),
            page.t("gs.item"),
            page.t("gs.route"),
            page.t("gs.state"),
            page.t("gs.deadline"),
        ],
        rows,
    )
}

async fn overview(page: Page) -> Result<Response, ApiError> {
    let db = page.auth.db().clone();
    let stats = service::stats(&db).await?;
    let scopes = page.auth.principal.scopes(MODULE, AccessLevel::Read);
    // Region-wide totals for region-wide readers; each reader sees the routes that
    // touch their scopes; a visitor sees the catalogue only.
    let region_wide = scopes == yrd_auth::Scopes::All;
    let routes: Vec<_> = stats
        .routes
        .iter()
        .filter(|r| {
            [&r.from, &r.to]
                .iter()
                .any(|code| yrd_kernel::JurisdictionCode::parse(code).is_ok_and(|c| scopes.covers(c)))
        })
        .collect();
    let mine = match scopes.clone() {
        yrd_auth::Scopes::Nothing => None,
        scopes => {
            let prefixes: Option<Vec<String>> = match &scopes {
                yrd_auth::Scopes::All => None,
                yrd_auth::Scopes::Within(list) => Some(list.iter().map(|s| s.as_str().to_string()).collect()),
                yrd_auth::Scopes::Nothing => Some(Vec::new()),
            };
            Some(service::cases(&db, prefixes.as_deref(), None, 200).await?)
        }
    };
    let body = html! {
        p.lead { (page.t("gs.lead")) }
        p.totals {
            (page.t("gs.items")) ": " strong { (stats.items_in_catalogue) }
            @if region_wide {
                " · " (page.t("gs.cases")) ": " strong { (stats.cases) } " · "
                (page.t("gs.cross")) ": " strong { (stats.cross_province_cases) } " · "
                (page.t("gs.on_time_rate")) ": " strong { (stats.on_time_rate.map(|r| format!("{:.0}%", r * 100.0)).unwrap_or_else(|| "—".into())) }
            }
        }
        p { a href="/govservice/apply" { (page.t("gs.apply")) } " · " a href="/govservice/lookup" { (page.t("gs.lookup")) } " · " a href="/govservice/verify" { (page.t("gs.verify")) } " · " a href="/govservice/handoffs" { (page.t("gs.handoffs")) } " · " a href="/govservice/catalogue" { (page.t("gs.catalogue")) } }
        h2 { (page.t("gs.routes")) }
        (table(&[page.t("gs.from"), page.t("gs.to"), page.t("gs.cases")], html! {
            @for r in &routes { tr {
                td { (yrd_kernel::JurisdictionCode::parse(&r.from).map(|c| place(&page, c)).unwrap_or_default()) }
                td { (yrd_kernel::JurisdictionCode::parse(&r.to).map(|c| place(&page, c)).unwrap_or_default()) }
                td { (r.cases) }
            } }
        }))
        @match &mine {
            Some(cases) => { h2 { (page.t("gs.my_cases")) } (case_rows(&page, cases)) },
            None => { p { (page.t("gs.sign_in_for_cases")) } },
        }
    };
    Ok(page.render(page.t("gs.title"), body).into_response())
}

async fn catalogue(page: Page) -> Result<Response, ApiError> {
    let items = service::items(page.auth.db()).await?;
    let rows = html! {
        @for i in &items { tr {
            td.mono { (i.code) }
            td { (page.lang.pick(&i.name_zh, &i.name_en)) }
            td { (page.t(if matches!(i.applicant, crate::domain::ApplicantType::Person) { "gs.person" } else { "gs.business" })) }
            td { (i.time_limit_days) }
            td { (i.channels.iter().map(|c| page.t(&format!("gs.channel.{}", c.as_str())).to_string()).collect::<Vec<_>>().join(", ")) }
            td { (i.issues_licence.as_deref().unwrap_or("")) }
        } }
    };
    let body = html! {
        p.totals { (page.t("gs.items")) ": " strong { (items.len()) } " · " a href="/api/v1/govservice/items" { "JSON" } }
        (table(&[page.t("gs.code"), page.t("gs.item"), page.t("gs.applicant"), page.t("gs.time_limit"), page.t("gs.channels"), page.t("gs.licence")], rows))
    };
    Ok(page.render(page.t("gs.catalogue"), body).into_response())
}

async fn case_page(page: Page, Path(number): Path<String>) -> Response {
    case_page_with(page, number, None).await
}

async fn case_page_with(page: Page, number: String, error: Option<String>) -> Response {
    if let Err(redirect) = page.require_login() {
        return redirect;
    }
    let case = match load_case(&page.auth, &number).await {
        Ok(case) => case,
        Err(e) => return e.into_response(),
    };
    let readable = page
        .auth
        .principal
        .allows(MODULE, AccessLevel::Read, Some(case.received_in))
        || page
            .auth
            .principal
            .allows(MODULE, AccessLevel::Read, Some(case.authority));
    if !readable {
        let _ = page.auth.require(MODULE, AccessLevel::Read, Some(case.authority)).await;
        return page.forbidden();
    }
    let authority = is_authority(&page.auth, &case);
    let detail = match case_detail(&page.auth, case).await {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let case = &detail.case;
    let possible: Vec<(Action, Role)> = Action::ALL
        .iter()
        .flat_map(|a| [Role::Authority, Role::IntakeClerk].map(|r| (*a, r)))
        .filter(|(a, r)| crate::domain::transition(case.state, *a, *r).is_ok())
        .filter(|(_, r)| match r {
            Role::Authority => authority,
            _ => page
                .auth
                .principal
                .allows(MODULE, AccessLevel::Write, Some(case.received_in)),
        })
        .collect();
    let title = format!("{} {}", page.t("gs.case"), case.number);
    let body = html! {
        @if let Some(e) = &error { div.notice.error role="alert" { (e) } }
        @if case.demo { div.notice role="note" { (page.t("gs.demo_case")) } }
        p { (state_badge(&page, case.state)) " " (timeliness_badge(&page, case.timeliness)) }
        dl.facts {
            dt { (page.t("gs.item")) } dd { (page.lang.pick(&case.item_name_zh, &case.item_name_en)) " (" (case.item) ")" }
            dt { (page.t("gs.applicant")) } dd { (case.applicant_name) }
            dt { (page.t("gs.route")) } dd { (place(&page, case.received_in)) " → " (case.authority_name) " (" (place(&page, case.authority)) ")" }
            dt { (page.t("gs.channels")) } dd { (page.t(&format!("gs.channel.{}", case.channel))) @if let Some(w) = &case.window { " · " (w) } }
            dt { (page.t("gs.deadline")) } dd { (case.deadline.map(|d| page.lang.date(d)).unwrap_or_else(|| "—".into())) }
            dt { (page.t("gs.consent")) } dd.mono { (case.consent_sha256.as_deref().unwrap_or("—")) }
            dt { (page.t("gs.delivery")) } dd { (case.delivery.as_deref().unwrap_or("—")) }
            dt { (page.t("gs.originals")) } dd { (detail.originals.tracking_number.as_deref().unwrap_or("—")) @if detail.originals.received_at.is_some() { " · " (page.t("gs.received")) } }
        }
        @if !possible.is_empty() {
            form.card.narrow method="post" action=(format!("/govservice/cases/{}/act", case.number)) {
                (page.csrf_field())
                label { (page.t("gs.action")) select name="choice" {
                    @for (a, r) in &possible { option value=(format!("{}|{}", a.as_str(), if *r == Role::Authority { "authority" } else { "intake_clerk" })) { (page.t(&format!("gs.action.{}", a.as_str()))) } }
                } }
                label { (page.t("gs.reason")) input name="reason"; }
                label { (page.t("gs.delivery")) input name="delivery" placeholder="SF…"; }
                button type="submit" { (page.t("gs.do")) }
            }
        }
        h2 { (page.t("gs.timeline")) }
        (table(&[page.t("gs.at"), page.t("gs.action"), page.t("gs.state"), page.t("gs.by"), page.t("gs.reason")], html! {
            @for e in &detail.events { tr {
                td { (e.at.get(..16).unwrap_or(&e.at).replace('T', " ")) }
                td { (page.t(&format!("gs.action.{}", e.action))) }
                td { (page.t(&format!("gs.state.{}", e.to_state))) }
                td { (e.actor) " · " (e.jurisdiction) }
                td { (e.reason.as_deref().unwrap_or("")) }
            } }
        }))
        h2 { (page.t("gs.attachments")) }
        (table(&[page.t("gs.name"), page.t("gs.type"), "SHA-256", page.t("gs.size")], html! {
            @for a in &detail.attachments { tr { td { (a.name) } td { (a.media_type) } td.mono { (&a.sha256[..16]) "…" } td { (a.size_bytes) } } }
        }))
        @if let Some(notes) = &detail.review_notes {
            h2 { (page.t("gs.notes")) }
            ul { @for n in notes { li { (n.note) " — " (n.author) } } }
        }
        @for l in &detail.licences {
            h2 { (page.t("gs.licence")) " " (l.licence_type) @if l.revoked_at.is_some() { " " (badge("overdue", page.t("gs.revoked"))) } }
            div.licence {
                @if let Some(svg) = crate::licence::qr_svg(&l.token) { div.qr { (PreEscaped(svg)) } }
                p.mono.secret { (l.token) }
            }
        }
        p { a href=(format!("/govservice/handoffs?case={}", percent_encode(&case.number))) { (page.t("gs.handoffs")) " →" } }
    };
    page.render(&title, body).into_response()
}

#[derive(Deserialize)]
struct ActForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    choice: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    delivery: String,
}

async fn act_form(page: Page, Path(number): Path<String>, Form(form): Form<ActForm>) -> Response {
    if page.auth.principal.user_ref().is_none() {
        return Redirect::to("/login").into_response();
    }
    if !page.csrf_ok(&form.csrf) {
        return page.forbidden();
    }
    let parsed: Option<(Action, Role)> = form.choice.split_once('|').and_then(|(a, r)| {
        let action = serde_json::from_value(serde_json::Value::String(a.into())).ok()?;
        let role = serde_json::from_value(serde_json::Value::String(r.into())).ok()?;
        Some((action, role))
    });
    let Some((action, role)) = parsed else {
        return ApiError::invalid("action", "choose an action").into_response();
    };
    let input = ActionInput {
        action,
        role,
        reason: Some(form.reason).filter(|r| !r.trim().is_empty()),
        delivery: Some(form.delivery).filter(|d| !d.trim().is_empty()),
        secret: None,
    };
    let result = http::post_action(page.auth.clone(), Path(number.clone()), Json(input)).await;
    match result {
        Ok(_) => Redirect::to(&format!("/govservice/cases/{number}")).into_response(),
        Err(ApiError::Forbidden(_)) => page.forbidden(),
        Err(e @ (ApiError::Invalid(_) | ApiError::Conflict(_))) => {
            let message = match &e {
                ApiError::Invalid(errors) => errors.to_string(),
                other => other.to_string(),
            };
            let mut response = case_page_with(page, number, Some(message)).await;
            *response.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            response
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize, Default)]
struct LookupForm {
    #[serde(default)]
    number: String,
    #[serde(default)]
    secret: String,
}

fn lookup_body(page: &Page, form: &LookupForm, result: Option<Result<http::LookupResult, String>>) -> Markup {
    html! {
        p.lead { (page.t("gs.lookup_lead")) }
        form.card.narrow method="post" action="/govservice/lookup" {
            label { (page.t("gs.case")) input name="number" value=(form.number) required; }
            label { (page.t("gs.secret")) input name="secret" type="password" required autocomplete="off"; }
            button type="submit" { (page.t("gs.lookup")) }
        }
        @match result {
            Some(Ok(r)) => {
                h2 { (r.number) " · " (r.item_name) }
                p { (state_badge(page, r.state)) @if let Some(d) = r.deadline { " " (page.t("gs.deadline")) " " (page.lang.date(d)) } }
                ol.timeline { @for e in &r.timeline { li { (e.at.get(..16).unwrap_or(&e.at).replace('T', " ")) " — " (e.step) @if let Some(reason) = &e.reason { ": " (reason) } } } }
                @if let Some(d) = &r.delivery { p { (page.t("gs.delivery")) ": " (d) } }
            },
            Some(Err(message)) => { div.notice.error role="alert" { (message) } },
            None => {},
        }
    }
}

async fn lookup_page(page: Page) -> Response {
    page.render(page.t("gs.lookup"), lookup_body(&page, &LookupForm::default(), None))
        .into_response()
}

/// Public, like the API lookup: the number and secret are the credential, throttled per case.
async fn lookup_form(page: Page, Form(form): Form<LookupForm>) -> Response {
    let result = match lookup_result(&page.auth, &form.number, &form.secret).await {
        Ok(r) => Ok(r),
        Err(ApiError::TooManyRequests { .. }) => Err(page.t("gs.lookup_throttled").to_string()),
        Err(ApiError::NotFound(_)) => Err(page.t("gs.lookup_failed").to_string()),
        Err(e) => return e.into_response(),
    };
    page.render(page.t("gs.lookup"), lookup_body(&page, &form, Some(result)))
        .into_response()
}

#[derive(Deserialize, Default)]
struct VerifyForm {
    #[serde(default)]
    token: String,
}

fn verify_body(page: &Page, token: &str, result: Option<http::VerifyResult>) -> Markup {
    html! {
        p.lead { (page.t("gs.verify_lead")) }
        form.card method="post" action="/govservice/verify" {
            label { (page.t("gs.licence")) textarea name="token" rows="5" required { (token) } }
            button type="submit" { (page.t("gs.verify")) }
        }
        @if let Some(r) = result {
            @if r.valid {
                div.notice.success role="status" { (page.t("gs.valid")) }
                @if let Some(l) = &r.licence { pre.json { (serde_json::to_string_pretty(&l.credential).unwrap_or_default()) } }
            } @else {
                div.notice.error role="alert" { (page.t("gs.invalid")) ": " (r.message) }
            }
        }
    }
}

async fn verify_page(page: Page) -> Response {
    page.render(page.t("gs.verify"), verify_body(&page, "", None))
        .into_response()
}

async fn verify_form(page: Page, Form(form): Form<VerifyForm>) -> Response {
    match service::verify_licence(page.auth.db(), form.token.trim()).await {
        Ok(outcome) => page
            .render(
                page.t("gs.verify"),
                verify_body(&page, form.token.trim(), Some(verify_result(outcome))),
            )
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[derive(Deserialize)]
struct HandoffFilter {
    case: Option<String>,
}

async fn handoffs_page(page: Page, Query(filter): Query<HandoffFilter>) -> Response {
    if let Err(redirect) = page.require_login() {
        return redirect;
    }
    let case = filter.case.filter(|c| !c.trim().is_empty());
    let allowed = match &case {
        Some(number) => match load_case(&page.auth, number).await {
            Ok(c) => {
                page.auth
                    .principal
                    .allows(MODULE, AccessLevel::Read, Some(c.received_in))
                    || page.auth.principal.allows(MODULE, AccessLevel::Read, Some(c.authority))
            }
            Err(e) => return e.into_response(),
        },
        None => page.auth.principal.allows(MODULE, AccessLevel::Read, None),
    };
    if !allowed {
        return page.forbidden();
    }
    let entries = match service::handoffs(page.auth.db(), case.as_deref()).await {
        Ok(e) => e,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let intact = entries.iter().all(|e| e.verified);
    let body = html! {
        p.lead { (page.t("gs.handoffs_lead")) }
        form.filters method="get" action="/govservice/handoffs" {
            label { (page.t("gs.case")) input name="case" value=(case.clone().unwrap_or_default()); }
            button type="submit" { (page.t("table.filter")) }
        }
        p { @if intact { (badge("done", page.t("gs.chain_ok"))) } @else { (badge("overdue", page.t("gs.chain_broken"))) } " " (entries.len()) }
        (table(&["#", page.t("gs.case"), page.t("gs.kind"), page.t("gs.route"), page.t("gs.key"), page.t("gs.checked")], html! {
            @for e in &entries { tr {
                td { (e.seq) }
                td.mono { a href=(format!("/govservice/cases/{}", e.case)) { (e.case) } }
                td { (e.kind) }
                td { (e.from) " → " (e.to) }
                td.mono { (e.kid) }
                td { @if e.verified { (badge("done", page.t("gs.verified"))) } @else { (badge("overdue", e.problem.as_deref().unwrap_or(""))) } }
            } }
        }))
    };
    page.render(page.t("gs.handoffs"), body).into_response()
}

/// The windows the signed-in clerk staffs.
async fn my_windows(page: &Page) -> Result<Vec<service::Window>, ApiError> {
    let login = page
        .auth
        .principal
        .user_ref()
        .map(|u| u.login.clone())
        .unwrap_or_default();
    Ok(service::windows(page.auth.db())
        .await?
        .into_iter()
        .filter(|w| w.staff.contains(&login))
        .collect())
}

#[derive(Deserialize, Default)]
struct ApplyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    window: String,
    #[serde(default)]
    item: String,
    #[serde(default)]
    home: String,
    #[serde(default)]
    applicant_name: String,
    #[serde(default)]
    applicant_contact: String,
    /// The number printed on the signed consent form; its SHA-256 is recorded.
    #[serde(default)]
    consent_reference: String,
    #[serde(default)]
    language: String,
}

async fn apply_body(
    page: &Page,
    form: &ApplyForm,
    outcome: Option<Result<service::Submitted, String>>,
) -> Result<Markup, ApiError> {
    let windows = my_windows(page).await?;
    let items = service::items(page.auth.db()).await?;
    Ok(html! {
        p.lead { (page.t("gs.apply_lead")) }
        @match &outcome {
            Some(Ok(done)) => {
                div.notice.success role="status" {
                    p { (page.t("gs.receipt")) }
                    p { (page.t("gs.case")) ": " strong.mono { (done.number) } " · " (page.t("gs.secret")) ": " strong.mono { (done.secret) } }
                    p { (page.t("gs.route")) ": " (done.authority_name) " · " a href=(format!("/govservice/cases/{}", done.number)) { (page.t("gs.open_case")) } }
                }
            },
            Some(Err(message)) => { div.notice.error role="alert" { (message) } },
            None => {},
        }
        @if windows.is_empty() {
            p { (page.t("gs.no_window")) }
        } @else {
            form.card.narrow method="post" action="/govservice/apply" {
                (page.csrf_field())
                label { (page.t("gs.window")) select name="window" { @for w in &windows { option value=(w.code) selected[w.code == form.window] { (page.lang.pick(&w.name_zh, &w.name_en)) } } } }
                label { (page.t("gs.item")) select name="item" { @for i in &items { option value=(i.code) selected[i.code == form.item] { (i.code) " " (page.lang.pick(&i.name_zh, &i.name_en)) } } } }
                label { (page.t("gs.home")) select name="home" {
                    @for j in yrd_kernel::jurisdictions().all() { option value=(j.code) selected[j.code.to_string() == form.home] { (page.lang.pick(&j.name_zh, &j.name_en)) " " (j.code) } }
                } }
                label { (page.t("gs.applicant")) input name="applicant_name" value=(form.applicant_name) required maxlength="100"; }
                label { (page.t("gs.contact")) input name="applicant_contact" value=(form.applicant_contact) required maxlength="200"; }
                label { (page.t("gs.consent_reference")) input name="consent_reference" value=(form.consent_reference) required; }
                label { (page.t("gs.language")) select name="language" { option value="zh" { "中文" } option value="en" selected[form.language == "en"] { "English" } } }
                button type="submit" { (page.t("gs.submit")) }
            }
        }
    })
}

async fn apply_page(page: Page) -> Response {
    if let Err(redirect) = page.require_login() {
        return redirect;
    }
    match apply_body(&page, &ApplyForm::default(), None).await {
        Ok(body) => page.render(page.t("gs.apply"), body).into_response(),
        Err(e) => e.into_response(),
    }
}

/// A clerk registers an application received at their window (异地代收).
async fn apply_form(page: Page, Form(form): Form<ApplyForm>) -> Response {
    if let Err(redirect) = page.require_login() {
        return redirect;
    }
    if !page.csrf_ok(&form.csrf) {
        return page.forbidden();
    }
    let home = match yrd_kernel::JurisdictionCode::parse(&form.home) {
        Ok(home) => home,
        Err(e) => return ApiError::invalid("home", e.to_string()).into_response(),
    };
    let input = http::CaseInput {
        item: form.item.clone(),
        applicant_name: form.applicant_name.clone(),
        applicant_contact: form.applicant_contact.clone(),
        home,
        channel: crate::domain::Channel::RemoteWindow,
        window: Some(form.window.clone()),
        consent_sha256: Some(yrd_audit::sha256_hex(form.consent_reference.trim().as_bytes()))
            .filter(|_| !form.consent_reference.trim().is_empty()),
        language: if form.language == "en" {
            "en".into()
        } else {
            "zh".into()
        },
    };
    let outcome = match http::create_case(page.auth.clone(), Json(input)).await {
        Ok((_, axum::Json(done))) => Ok(done),
        Err(ApiError::Forbidden(_)) => return page.forbidden(),
        Err(ApiError::Invalid(errors)) => Err(errors.to_string()),
        Err(e) => return e.into_response(),
    };
    let status = if outcome.is_ok() {
        axum::http::StatusCode::CREATED
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    let keep = if outcome.is_ok() { ApplyForm::default() } else { form };
    match apply_body(&page, &keep, Some(outcome)).await {
        Ok(body) => (status, page.render(page.t("gs.apply"), body)).into_response(),
        Err(e) => e.into_response(),
    }
}

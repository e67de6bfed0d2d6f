//! The platform's own console pages: login, home, the user's page, audit, jobs,
//! jurisdictions, the language switch and the API reference.

use super::map::region_map;
use super::{Page, PageResult, badge, percent_encode, safe_back, table};
use crate::caller::SESSION_COOKIE;
use crate::core_api::{AuditQuery, JurisdictionQuery, filter_jurisdictions, token_expiry, visible_audit};
use crate::extract::Query;
use crate::problem::ApiError;
use axum::Form;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use yrd_kernel::jurisdictions;

const LOGIN_CSRF_COOKIE: &str = "yrd_login_csrf";

fn cookie_header(page: &Page, name: &str, value: &str, max_age: Option<i64>, http_only: bool) -> String {
    let mut cookie = format!("{name}={value}; Path=/; SameSite=Strict");
    if http_only {
        cookie.push_str("; HttpOnly");
    }
    if let Some(age) = max_age {
        cookie.push_str(&format!("; Max-Age={age}"));
    }
    if page.shell.secure_cookies {
        cookie.push_str("; Secure");
    }
    cookie
}

#[derive(Deserialize)]
pub struct Back {
    back: Option<String>,
}

/// `/lang/{zh|en}?back=/path`: remembers the language for a year and goes back.
pub async fn switch_language(page: Page, Path(code): Path<String>, Query(query): Query<Back>) -> Response {
    let lang = crate::i18n::Lang::parse(&code).unwrap_or(page.lang);
    let cookie = cookie_header(&page, super::LANG_COOKIE, lang.code(), Some(365 * 24 * 3600), false);
    (
        [(header::SET_COOKIE, cookie)],
        Redirect::to(&safe_back(query.back.as_deref())),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

fn login_form(page: &Page, csrf: &str, next: &str, error: Option<&str>) -> Markup {
    html! {
        @if let Some(error) = error { div.notice.error role="alert" { (error) } }
        form.card.narrow method="post" action="/login" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="next" value=(next);
            label { (page.t("login.login")) input name="login" autocomplete="username" required autofocus; }
            label { (page.t("login.password")) input name="password" type="password" autocomplete="current-password" required; }
            button type="submit" { (page.t("login.submit")) }
        }
    }
}

fn new_login_csrf() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The login form, with a double-submit CSRF token (there is no session yet).
pub async fn login_page(page: Page, Query(query): Query<Next>) -> Response {
    let csrf = new_login_csrf();
    let next = safe_back(query.next.as_deref());
    let body = login_form(&page, &csrf, &next, None);
    let cookie = cookie_header(&page, LOGIN_CSRF_COOKIE, &csrf, Some(3600), true);
    ([(header::SET_COOKIE, cookie)], page.render(page.t("login.title"), body)).into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
}

pub async fn login_submit(page: Page, headers: HeaderMap, Form(form): Form<LoginForm>) -> Response {
    let next = safe_back(Some(&form.next));
    let again = |status: StatusCode, message: &str| {
        let csrf = new_login_csrf();
        let cookie = cookie_header(&page, LOGIN_CSRF_COOKIE, &csrf, Some(3600), true);
        let body = login_form(&page, &csrf, &next, Some(message));
        (
            status,
            [(header::SET_COOKIE, cookie)],
            page.render(page.t("login.title"), body),
        )
            .into_response()
    };
    let expected = crate::caller::cookie(&headers, LOGIN_CSRF_COOKIE);
    if form.csrf.is_empty() || expected != Some(form.csrf.as_str()) {
        return again(StatusCode::FORBIDDEN, page.t("login.csrf"));
    }
    let db = page.auth.db().clone();
    match yrd_auth::login(&db, &form.login, &form.password).await {
        Ok(user) => match yrd_auth::create_session(&db, &user).await {
            Ok(session) => {
                let cookie = cookie_header(
                    &page,
                    SESSION_COOKIE,
                    &session.secret,
                    Some(yrd_auth::SESSION_HOURS * 3600),
                    true,
                );
                let clear = cookie_header(&page, LOGIN_CSRF_COOKIE, "", Some(0), true);
                let mut response = Redirect::to(&next).into_response();
                response
                    .headers_mut()
                    .append(header::SET_COOKIE, cookie.parse().expect("cookie is a valid header"));
                response
                    .headers_mut()
                    .append(header::SET_COOKIE, clear.parse().expect("cookie is a valid header"));
                response
            }
            Err(error) => ApiError::from(error).into_response(),
        },
        Err(yrd_auth::AuthError::Throttled { retry_after_secs }) => {
            let message = format!("{} ({} s)", page.t("login.throttled"), retry_after_secs);
            again(StatusCode::TOO_MANY_REQUESTS, &message)
        }
        Err(yrd_auth::AuthError::BadCredentials) => again(StatusCode::UNAUTHORIZED, page.t("login.failed")),
        Err(error) => ApiError::from(error).into_response(),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(page: Page, Form(form): Form<CsrfForm>) -> Response {
    if !page.csrf_ok(&form.csrf) {
        return (StatusCode::FORBIDDEN, page.render(page.t("error.csrf"), html! {})).into_response();
    }
    if let Some(secret) = &page.auth.session_secret
        && let Err(error) = yrd_auth::end_session(page.auth.db(), secret, &page.auth.actor()).await
    {
        return ApiError::from(error).into_response();
    }
    let clear = cookie_header(&page, SESSION_COOKIE, "", Some(0), true);
    ([(header::SET_COOKIE, clear)], Redirect::to("/login")).into_response()
}

/// The home page: the region map and one tile per module.
pub async fn home(page: Page) -> Markup {
    let body = html! {
        p.lead { (page.t("home.lead")) }
        div.home-grid {
            section.card {
                h2 { (page.t("home.map")) }
                (region_map(page.lang, |_| None))
            }
            section {
                h2 { (page.t("home.modules")) }
                div.tiles {
                    @for entry in &page.shell.nav {
                        a.tile href=(entry.path) {
                            strong { (page.lang.pick(entry.label.zh, entry.label.en)) }
                            span { (page.lang.pick(entry.blurb.zh, entry.blurb.en)) }
                        }
                    }
                    a.tile href="/jurisdictions" { strong { (page.t("nav.jurisdictions")) } span { (page.t("home.tile.jurisdictions")) } }
                    a.tile href="/audit" { strong { (page.t("nav.audit")) } span { (page.t("home.tile.audit")) } }
                    a.tile href="/api/docs" { strong { (page.t("nav.api")) } span { (page.t("home.tile.api")) } }
                }
            }
        }
    };
    page.render(page.t("home.title"), body)
}

pub async fn jurisdictions_page(page: Page) -> Markup {
    let table_rows = html! {
        @for j in jurisdictions().all() {
            tr {
                td.mono { (j.code) }
                td { (page.t(&format!("level.{}", j.level.as_str()))) }
                td { (j.name_zh) }
                td { (j.name_en) }
                td { @if let Some(parent) = j.parent { (page.lang.pick(&parent.jurisdiction().name_zh, &parent.jurisdiction().name_en)) } }
                td { (j.tags.join(", ")) }
            }
        }
    };
    let count = filter_jurisdictions(&JurisdictionQuery {
        level: None,
        parent: None,
        tag: None,
        format: None,
    })
    .len();
    let body = html! {
        p.totals { (page.t("jurisdictions.total")) ": " strong { (count) } " · " a href="/api/v1/jurisdictions?format=csv" download { (page.t("table.csv")) } }
        (table(&[page.t("jurisdictions.code"), page.t("jurisdictions.level"), "中文", "English", page.t("jurisdictions.parent"), page.t("jurisdictions.tags")], table_rows))
    };
    page.render(page.t("nav.jurisdictions"), body)
}

/// The user's page: who they are, their grants, and their API tokens.
pub async fn me_page(page: Page) -> PageResult {
    me_with(page, None, None).await
}

async fn me_with(page: Page, new_token: Option<yrd_auth::NewToken>, error: Option<String>) -> PageResult {
    let user = page.require_login()?.clone();
    let tokens = yrd_auth::list_tokens(page.auth.db(), &user.login)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let grant_rows = html! {
        @for grant in page.auth.principal.grants() {
            tr { td { (grant.module) } td { (grant.level) } td.mono { @if grant.scope.is_region() { (page.t("scope.region")) } @else { (grant.scope) } } }
        }
    };
    let token_rows = html! {
        @for token in &tokens {
            tr {
                td { (token.name) }
                td.mono { (token.prefix) "…" }
                td { (short_time(&token.created_at)) }
                td { (token.expires_at.as_deref().map(short_time).unwrap_or_else(|| page.t("tokens.never").to_string())) }
                td { (token.last_used_at.as_deref().map(short_time).unwrap_or_default()) }
                td {
                    @if token.revoked_at.is_some() { (badge("overdue", page.t("tokens.revoked"))) }
                    @else {
                        form.inline method="post" action=(format!("/me/tokens/{}/revoke", token.id)) {
                            (page.csrf_field())
                            button.link type="submit" { (page.t("tokens.revoke")) }
                        }
                    }
                }
            }
        }
    };
    let body = html! {
        p { (user.display_name) " · " span.mono { (user.login) } @if user.is_admin { " " (badge("done", page.t("me.admin"))) } }
        h2 { (page.t("me.grants")) }
        (table(&[page.t("grants.module"), page.t("grants.level"), page.t("grants.scope")], grant_rows))
        h2 { (page.t("me.tokens")) }
        @if let Some(token) = &new_token {
            div.notice.success role="status" {
                p { (page.t("tokens.shown_once")) }
                code.secret { (token.token) }
            }
        }
        @if let Some(error) = &error { div.notice.error role="alert" { (error) } }
        (table(&[page.t("tokens.name"), page.t("tokens.prefix"), page.t("tokens.created"), page.t("tokens.expires"), page.t("tokens.last_used"), ""], token_rows))
        form.card.narrow method="post" action="/me/tokens" {
            (page.csrf_field())
            label { (page.t("tokens.name")) input name="name" required maxlength="100"; }
            label { (page.t("tokens.expires_in_days")) input name="expires_in_days" type="number" min="1" max="366" value="90"; }
            button type="submit" { (page.t("tokens.create")) }
        }
    };
    Ok(page.render(page.t("me.title"), body).into_response())
}

fn short_time(stored: &str) -> String {
    yrd_kernel::time::from_db(stored)
        .map(|at| {
            at.with_timezone(&yrd_kernel::time::shanghai())
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|| stored.to_string())
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    expires_in_days: String,
}

pub async fn create_token_form(page: Page, Form(form): Form<TokenForm>) -> PageResult {
    let user = page.require_login()?.clone();
    if !page.csrf_ok(&form.csrf) {
        return Err((StatusCode::FORBIDDEN, page.render(page.t("error.csrf"), html! {})).into_response());
    }
    let days = match form.expires_in_days.trim() {
        "" => Ok(None),
        text => text
            .parse::<i64>()
            .map(Some)
            .map_err(|_| "expires_in_days: a whole number of days".to_string()),
    };
    let expiry = days.and_then(|d| token_expiry(d).map_err(|e| e.to_string()));
    let result = match expiry {
        Ok(expiry) => yrd_auth::create_token(page.auth.db(), &user.login, &user.login, &form.name, expiry)
            .await
            .map_err(|e| e.to_string()),
        Err(error) => Err(error),
    };
    match result {
        Ok(token) => me_with(page, Some(token), None).await,
        Err(error) => me_with(page, None, Some(error)).await,
    }
}

pub async fn revoke_token_form(page: Page, Path(id): Path<i64>, Form(form): Form<CsrfForm>) -> PageResult {
    let user = page.require_login()?.clone();
    if !page.csrf_ok(&form.csrf) {
        return Err((StatusCode::FORBIDDEN, page.render(page.t("error.csrf"), html! {})).into_response());
    }
    match yrd_auth::revoke_token(page.auth.db(), &user.login, id, Some(&user.login)).await {
        Ok(()) => Ok(Redirect::to("/me").into_response()),
        Err(error) => me_with(page, None, Some(error.to_string())).await,
    }
}

pub async fn audit_page(page: Page, Query(query): Query<AuditQuery>) -> PageResult {
    page.require_login()?;
    let entries = match visible_audit(&page.auth, &query).await {
        Ok(entries) => entries,
        Err(ApiError::Forbidden(_)) => return Err(page.forbidden()),
        Err(error) => return Err(error.into_response()),
    };
    let rows = html! {
        @for e in &entries {
            tr {
                td.mono { (e.seq) }
                td { (short_time(&e.at)) }
                td { (e.actor) }
                td { @if e.action == "access.denied" { (badge("overdue", &e.action)) } @else { (e.action) } }
                td { (e.module) }
                td.mono { (e.entity_id) }
                td.mono { (e.jurisdiction.as_deref().unwrap_or("")) }
                td.mono.hash title=(e.hash) { (&e.hash[..12]) "…" }
            }
        }
    };
    let older = entries
        .last()
        .filter(|_| entries.len() >= query.limit.unwrap_or(100) as usize)
        .map(|e| e.seq);
    let module = query.module.clone().unwrap_or_default();
    let body = html! {
        form.filters method="get" action="/audit" {
            label { (page.t("audit.module")) input name="module" value=(module); }
            button type="submit" { (page.t("table.filter")) }
        }
        (table(&["#", page.t("audit.at"), page.t("audit.actor"), page.t("audit.action"), page.t("audit.module"), page.t("audit.entity"), page.t("audit.jurisdiction"), page.t("audit.hash")], rows))
        @if let Some(seq) = older {
            p { a href=(format!("/audit?before={seq}{}", if module.is_empty() { String::new() } else { format!("&module={}", percent_encode(&module)) })) { (page.t("table.older")) " →" } }
        }
    };
    Ok(page.render(page.t("nav.audit"), body).into_response())
}

pub async fn jobs_page(page: Page) -> PageResult {
    page.require_login()?;
    if let Err(error) = page.auth.require_admin("jobs").await {
        return Err(match error {
            ApiError::Forbidden(_) => page.forbidden(),
            other => other.into_response(),
        });
    }
    let db = page.auth.db();
    let recent = yrd_jobs::recent(db, 50, false)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let failed = yrd_jobs::recent(db, 50, true)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let rows = |runs: &[yrd_jobs::JobRun]| {
        html! {
            @for run in runs {
                tr {
                    td.mono { (run.id) }
                    td { (run.kind) }
                    td { (badge(match run.status.as_str() { "done" => "done", "failed" => "overdue", "running" => "on-track", _ => "not-started" }, page.t(&format!("jobs.status.{}", run.status)))) }
                    td { (run.attempts) " / " (run.max_attempts) }
                    td { (short_time(&run.run_at)) }
                    td { (run.finished_at.as_deref().map(short_time).unwrap_or_default()) }
                    td { (run.last_error.as_deref().unwrap_or("")) }
                }
            }
        }
    };
    let headers = [
        page.t("jobs.id"),
        page.t("jobs.kind"),
        page.t("jobs.status"),
        page.t("jobs.attempts"),
        page.t("jobs.run_at"),
        page.t("jobs.finished"),
        page.t("jobs.error"),
    ];
    let body = html! {
        h2 { (page.t("jobs.failed")) }
        (table(&headers, rows(&failed)))
        h2 { (page.t("jobs.recent")) }
        (table(&headers, rows(&recent)))
    };
    Ok(page.render(page.t("nav.jobs"), body).into_response())
}

/// The API reference, rendered from the OpenAPI document (no CDN, no script).
pub fn api_docs(page: &Page, document: &serde_json::Value) -> Markup {
    let paths = document["paths"].as_object().cloned().unwrap_or_default();
    let body = html! {
        p { (page.t("api.lead")) " " a href="/api/openapi.json" { "openapi.json" } }
        @for tag in document["tags"].as_array().into_iter().flatten() {
            @let name = tag["name"].as_str().unwrap_or("");
            section.card {
                h2 id=(name) { (name) }
                p { (tag["description"].as_str().unwrap_or("")) }
                @for (path, item) in &paths {
                    @for (method, op) in item.as_object().into_iter().flatten() {
                        @if op["tags"][0].as_str() == Some(name) {
                            details.op {
                                summary { span class=(format!("method method-{method}")) { (method.to_uppercase()) } " " code { (path) } " — " (op["summary"].as_str().unwrap_or("")) }
                                @if let Some(description) = op["description"].as_str() { p { (description) } }
                                @let parameters = op["parameters"].as_array().cloned().unwrap_or_default();
                                @if !parameters.is_empty() {
                                    table.data {
                                        thead { tr { th { (page.t("api.param")) } th { (page.t("api.in")) } th { (page.t("api.required")) } th { (page.t("api.schema")) } } }
                                        tbody {
                                            @for p in &parameters {
                                                tr { td.mono { (p["name"].as_str().unwrap_or("")) } td { (p["in"].as_str().unwrap_or("")) } td { (p["required"].as_bool().unwrap_or(false)) } td.mono { (p["schema"].to_string()) } }
                                            }
                                        }
                                    }
                                }
                                @if let Some(body) = op.get("requestBody") { h4 { (page.t("api.body")) } (super::pretty_json(&body["content"]["application/json"]["schema"])) }
                                h4 { (page.t("api.responses")) }
                                ul { @for (code, response) in op["responses"].as_object().into_iter().flatten() { li { code { (code) } " " (response["description"].as_str().unwrap_or("")) } } }
                            }
                        }
                    }
                }
            }
        }
        section.card {
            h2 { (page.t("api.schemas")) }
            @for (name, schema) in document["components"]["schemas"].as_object().into_iter().flatten() {
                details { summary { code { (name) } } (super::pretty_json(schema)) }
            }
        }
    };
    page.render(page.t("nav.api"), body)
}

/// Unknown console paths.
pub async fn not_found(page: Page) -> Response {
    let body = html! { p { (page.t("error.not_found")) } p { a href="/" { (page.t("nav.home")) } } };
    (
        StatusCode::NOT_FOUND,
        page.render(page.t("error.not_found.title"), body),
    )
        .into_response()
}

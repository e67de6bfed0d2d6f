//! The health console: the regional picture, the hospital's view of a visiting
//! patient, the patient's consents and access log, and the recognition catalogue.

use crate::access::{self, Reader};
use crate::http::{self, ConsentInput, ReadQuery};
use crate::mpi::Keys;
use crate::recognition::{self, DecisionInput};
use crate::store::{self, MODULE};
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::html;
use serde::Deserialize;
use sqlx::Row;
use std::collections::BTreeMap;
use yrd_kernel::{AccessLevel, Fen, JurisdictionCode};
use yrd_web::console::map::shaded_region_map;
use yrd_web::console::{Page, badge, table};

pub fn routes() -> Router {
    Router::new()
        .route("/", get(overview))
        .route("/hospital", get(hospital_page))
        .route("/hospital/decide", post(decide_form))
        .route("/hospital/register", post(register_form))
        .route("/me", get(patient_page))
        .route("/me/consents", post(consent_form))
        .route("/me/consents/{id}/withdraw", post(withdraw_form))
        .route("/catalogue", get(catalogue_page))
        .route("/break-glass", get(break_glass_page))
        .route("/break-glass/{id}/review", post(review_form))
}

fn place_name(page: &Page, code: &str) -> String {
    JurisdictionCode::parse(code)
        .map(|c| {
            page.lang
                .pick(&c.jurisdiction().name_zh, &c.jurisdiction().name_en)
                .to_string()
        })
        .unwrap_or_else(|_| code.into())
}

/// What to tell a console user about a refusal: the rule they broke, but never the
/// database's own words (those go to the log).
fn said(error: crate::fhir::FhirError) -> String {
    match error {
        crate::fhir::FhirError::Db(e) => {
            tracing::error!(error = %e, "health console");
            "the request could not be completed; please try again".into()
        }
        crate::fhir::FhirError::Rule(path, message) => format!("{path}: {message}"),
        other => other.to_string(),
    }
}

fn failed(page: &Page, error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "health console");
    let body = html! { div.notice.error role="alert" { (page.t("health.failed")) } };
    (
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        page.render(page.t("health.title"), body),
    )
        .into_response()
}

async fn overview(page: Page) -> Response {
    let db = page.auth.db().clone();
    let hospitals = match store::hospitals(&db).await {
        Ok(h) => h,
        Err(e) => return failed(&page, e),
    };
    let scopes = page.auth.principal.scopes(MODULE, AccessLevel::Read);
    let pairs = match http::visible_stats(&db, &scopes).await {
        Ok(p) => p,
        Err(e) => return failed(&page, e),
    };
    // Share of decisions that accepted the result, by the reading hospital's city.
    let mut by_city: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    if scopes != yrd_auth::Scopes::Nothing
        && let Ok(rows) = sqlx::query(
            "SELECT h.jurisdiction, d.decision FROM health_decisions d JOIN health_hospitals h ON h.org_id = d.reader_org",
        )
        .fetch_all(db.pool())
        .await
    {
        for row in rows {
            let city: String = row.get(0);
            if JurisdictionCode::parse(&city).is_ok_and(|c| scopes.covers(c)) {
                let entry = by_city.entry(city).or_default();
                entry.1 += 1;
                if row.get::<String, _>(1) == "accepted" {
                    entry.0 += 1;
                }
            }
        }
    }
    let max_saved = pairs.iter().map(|p| p.saved_fen).max().unwrap_or(1).max(1);
    let mut per_province: BTreeMap<String, usize> = BTreeMap::new();
    for h in &hospitals {
        *per_province.entry(h.jurisdiction.province().to_string()).or_default() += 1;
    }
    let body = html! {
        p.lead { (page.t("health.lead")) }
        p {
            a href="/health/hospital" { (page.t("health.hospital_view")) " →" } " · "
            a href="/health/me" { (page.t("health.patient_view")) " →" } " · "
            a href="/health/catalogue" { (page.t("health.catalogue")) " →" } " · "
            a href="/health/break-glass" { (page.t("health.break_glass_title")) " →" } " · "
            a href="/fhir/metadata" { "FHIR CapabilityStatement →" }
        }
        p.totals {
            (page.t("health.hospitals")) ": " strong { (hospitals.len()) }
            @for (province, n) in &per_province { " · " (place_name(&page, province)) " " strong { (n) } }
        }
        @if scopes == yrd_auth::Scopes::Nothing {
            p { (page.t("health.sign_in_for_figures")) }
        } @else {
            h2 { (page.t("health.pairs")) }
            (table(&[page.t("health.source"), page.t("health.reader"), page.t("health.reused"), page.t("health.avoided"), page.t("health.declined"), page.t("health.saved"), ""], html! {
                @for p in &pairs { tr {
                    td { (place_name(&page, &p.source_province)) }
                    td { (place_name(&page, &p.reader_province)) }
                    td { (p.results_reused) }
                    td { (p.repeats_avoided) }
                    td { (p.declined) }
                    td { (Fen(p.saved_fen)) }
                    td { svg.bar viewBox="0 0 100 10" width="120" height="12" role="img" aria-label=(Fen(p.saved_fen).to_string()) {
                        rect x="0" y="0" height="10" width=(format!("{:.1}", p.saved_fen as f64 * 100.0 / max_saved as f64)) fill="var(--accent)" {}
                    } }
                } }
            }))
            h2 { (page.t("health.map")) }
            (shaded_region_map(page.lang, |_| None, |city| {
                by_city.get(&city.code.to_string()).filter(|(_, n)| *n > 0).map(|(accepted, n)| {
                    (*accepted as f64 / *n as f64, format!("{accepted}/{n}"))
                })
            }))
        }
    };
    page.render(page.t("health.title"), body).into_response()
}

#[derive(Deserialize, Default)]
struct HospitalQuery {
    patient: Option<String>,
    break_glass_reason: Option<String>,
    message: Option<String>,
}

async fn own_patients(db: &yrd_db::Db, org_id: &str) -> Result<Vec<(String, String, String)>, crate::fhir::FhirError> {
    let rows = sqlx::query("SELECT res_id, content FROM fhir_resources WHERE res_type = 'Patient' AND owner_org = $1 ORDER BY last_updated DESC LIMIT 100")
        .bind(org_id)
        .fetch_all(db.pool())
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let content: serde_json::Value = serde_json::from_str(&r.get::<String, _>(1)).unwrap_or_default();
            let name = content["name"][0]["text"].as_str().unwrap_or("—").to_string();
            let birth = content["birthDate"].as_str().unwrap_or_default().to_string();
            (r.get(0), name, birth)
        })
        .collect())
}

async fn hospital_page(page: Page, Query(query): Query<HospitalQuery>) -> Response {
    if let Err(r) = page.require_login() {
        return r;
    }
    let read = ReadQuery {
        purpose: None,
        break_glass_reason: query.break_glass_reason.clone(),
    };
    let reader = match http::staff_reader(&page.auth, &read).await {
        Ok(r) => r,
        Err(_) => {
            let body = html! { div.notice.error role="alert" { (page.t("health.not_staff")) } };
            return (
                axum::http::StatusCode::FORBIDDEN,
                page.render(page.t("health.hospital_view"), body),
            )
                .into_response();
        }
    };
    let db = page.auth.db().clone();
    let patients = match own_patients(&db, &reader.hospital.org_id).await {
        Ok(p) => p,
        Err(e) => return failed(&page, e),
    };
    let results = match &query.patient {
        Some(patient) => Some(recognition::results(&db, &reader, patient).await.map_err(said)),
        None => None,
    };
    let body = html! {
        p.lead { (reader.hospital.name) " · " (place_name(&page, &reader.hospital.jurisdiction.to_string())) " · " (reader.hospital.level) (reader.hospital.grade) }
        @if let Some(message) = &query.message { div.notice.success role="status" { (message) } }
        form.card.narrow method="get" action="/health/hospital" {
            label { (page.t("health.patient")) select name="patient" {
                @for (id, name, birth) in &patients { option value=(id) selected[query.patient.as_deref() == Some(id.as_str())] { (name) " · " (birth) " · " (id) } }
            } }
                        button type="submit" { (page.t("health.show_results")) }
        }
        details {
            summary { (page.t("health.register")) }
            form.card.narrow method="post" action="/health/hospital/register" {
                (page.csrf_field())
                label { (page.t("health.national_id")) input name="national_id" required autocomplete="off" pattern="[0-9]{17}[0-9Xx]"; }
                label { (page.t("health.family")) input name="family" required; }
                label { (page.t("health.given")) input name="given"; }
                button type="submit" { (page.t("health.register_go")) }
            }
        }
        @match &results {
            Some(Ok(views)) => {
                h2 { (page.t("health.results")) }
                @if views.is_empty() { p { (page.t("health.no_results")) } }
                @else {
                    (table(&[page.t("health.date"), page.t("health.test"), page.t("health.value"), page.t("health.source"), page.t("health.status"), page.t("health.decision")], html! {
                        @for v in views { tr {
                            td { (v.date.map(|d| d.to_string()).unwrap_or_default()) }
                            td { (page.lang.pick(v.item_name_zh.as_deref().unwrap_or("—"), v.item_name_en.as_deref().unwrap_or("—"))) br; small.mono { (v.result) } }
                            td { (v.summary) }
                            td { (v.source_name) " (" (v.source_level) ")" }
                            td { @if v.recognisable { (badge("ok", page.t("health.recognisable"))) } @else { (badge("warn", page.t("health.not_recognisable"))) br; small { (v.why_not.clone().unwrap_or_default()) } } }
                            td {
                                @match &v.decision {
                                    Some(d) => { (badge(if d == "accepted" { "ok" } else { "muted" }, page.t(if d == "accepted" { "health.accepted" } else { "health.declined_one" }))) },
                                    None => {
                                        @if v.item_code.is_some() {
                                            form.inline method="post" action="/health/hospital/decide" {
                                                (page.csrf_field())
                                                input type="hidden" name="patient" value=(query.patient.clone().unwrap_or_default());
                                                input type="hidden" name="result" value=(v.result);
                                                @if v.recognisable { button type="submit" name="decision" value="accepted" { (page.t("health.accept")) } " " }
                                                input name="reason" placeholder=(page.t("health.reason")) aria-label=(page.t("health.reason"));
                                                button type="submit" name="decision" value="declined" { (page.t("health.decline")) }
                                            }
                                        }
                                    },
                                }
                            }
                        } }
                    }))
                }
            },
            Some(Err(message)) => {
                div.notice.error role="alert" { (message) }
                form.card.narrow method="get" action="/health/hospital" {
                    input type="hidden" name="patient" value=(query.patient.clone().unwrap_or_default());
                    label { (page.t("health.break_glass")) input name="break_glass_reason" required minlength="4"; }
                    button type="submit" { (page.t("health.break_glass_go")) }
                }
            },
            None => {},
        }
    };
    page.render(page.t("health.hospital_view"), body).into_response()
}

#[derive(Deserialize, Default)]
struct DecideForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    patient: String,
    #[serde(default)]
    result: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    reason: String,
}

async fn decide_form(page: Page, Form(form): Form<DecideForm>) -> Response {
    if let Err(r) = page.require_login() {
        return r;
    }
    if !page.csrf_ok(&form.csrf) {
        return page.forbidden();
    }
    let reader: Reader = match http::staff_reader(&page.auth, &ReadQuery::default()).await {
        Ok(r) => r,
        Err(_) => return page.forbidden(),
    };
    let db = page.auth.db();
    let input = DecisionInput {
        patient: form.patient.clone(),
        result: form.result.clone(),
        decision: form.decision.clone(),
        reason: Some(form.reason.clone()).filter(|r| !r.trim().is_empty()),
    };
    let outcome = match Keys::load(db).await {
        Ok(keys) => recognition::decide(db, &keys, &reader, &input).await.map_err(said),
        Err(e) => Err(said(e.into())),
    };
    let message = match outcome {
        Ok(d) => format!("{} · {} · {}", d.result, d.decision, d.id),
        Err(e) => e,
    };
    Redirect::to(&format!(
        "/health/hospital?patient={}&message={}",
        yrd_web::console::percent_encode(&form.patient),
        yrd_web::console::percent_encode(&message)
    ))
    .into_response()
}

async fn patient_page(page: Page, Query(query): Query<HospitalQuery>) -> Response {
    if let Err(r) = page.require_login() {
        return r;
    }
    let Ok((_, person)) = http::patient_of(&page.auth).await else {
        let body = html! { div.notice.error role="alert" { (page.t("health.not_patient")) } };
        return (
            axum::http::StatusCode::FORBIDDEN,
            page.render(page.t("health.patient_view"), body),
        )
            .into_response();
    };
    let db = page.auth.db().clone();
    let (consents, log, hospitals) = match (
        http::consents_of(&db, &person).await,
        access::log_of_person(&db, &person, 200).await,
        store::hospitals(&db).await,
    ) {
        (Ok(c), Ok(l), Ok(h)) => (c, l, h),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return failed(&page, e),
    };
    let body = html! {
        p.lead { (page.t("health.patient_lead")) }
        @if let Some(message) = &query.message { div.notice role="status" { (message) } }
        h2 { (page.t("health.consents")) }
        (table(&[page.t("health.grantee"), page.t("health.purpose"), page.t("health.period"), page.t("health.status"), ""], html! {
            @for c in &consents { tr {
                td { (c.grantee_name) br; small.mono { (c.grantee) } }
                td { (c.purposes.join(", ")) }
                td { (c.start.clone().unwrap_or_default()) " – " (c.end.clone().unwrap_or_default()) }
                td { @if c.status == "active" { (badge("ok", page.t("health.active"))) } @else { (badge("muted", page.t("health.withdrawn"))) } }
                td { @if c.status == "active" {
                    form.inline method="post" action=(format!("/health/me/consents/{}/withdraw", c.id)) {
                        (page.csrf_field())
                        button type="submit" { (page.t("health.withdraw")) }
                    }
                } }
            } }
        }))
        form.card.narrow method="post" action="/health/me/consents" {
            (page.csrf_field())
            label { (page.t("health.grant_hospital")) select name="hospital" {
                option value="" { "—" }
                @for h in &hospitals { option value=(h.org_id) { (h.name) } }
            } }
            label { (page.t("health.grant_province")) select name="province" {
                option value="" { "—" }
                @for p in ["310000", "320000", "330000", "340000"] { option value=(p) { (place_name(&page, p)) } }
            } }
            label { (page.t("health.days")) input name="days" type="number" min="1" max="3650" value="365"; }
            button type="submit" { (page.t("health.give_consent")) }
        }
        h2 { (page.t("health.access_log")) }
        (table(&[page.t("health.when"), page.t("health.reader"), page.t("health.what"), page.t("health.purpose"), page.t("health.outcome")], html! {
            @for a in &log { tr {
                td { (a.at.get(..19).unwrap_or(&a.at).replace('T', " ")) " UTC" }
                td { (a.reader_name.clone().unwrap_or_else(|| a.reader_org.clone())) }
                td.mono { (a.what) }
                td { (a.purpose) @if let Some(reason) = &a.break_glass_reason { br; small { (page.t("health.emergency")) ": " (reason) } } }
                td { @if a.outcome == "allowed" { (badge("ok", &a.basis)) } @else { (badge("warn", page.t("health.refused"))) } }
            } }
        }))
    };
    page.render(page.t("health.patient_view"), body).into_response()
}

#[derive(Deserialize, Default)]
struct ConsentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    hospital: String,
    #[serde(default)]
    province: String,
    #[serde(default)]
    days: String,
}

async fn consent_form(page: Page, Form(form): Form<ConsentForm>) -> Response {
    if let Err(r) = page.require_login() {
        return r;
    }
    if !page.csrf_ok(&form.csrf) {
        return page.forbidden();
    }
    let Ok((login, person)) = http::patient_of(&page.auth).await else {
        return page.forbidden();
    };
    let province = match form.province.trim() {
        "" => Ok(None),
        code => JurisdictionCode::parse(code).map(Some).map_err(|e| e.to_string()),
    };
    let message = match province {
        Err(e) => e,
        Ok(province) => {
            let input = ConsentInput {
                hospital: Some(form.hospital.trim().to_string()).filter(|h| !h.is_empty()),
                province,
                purpose: None,
                days: form.days.trim().parse().ok(),
            };
            match http::give(page.auth.db(), &login, &person, &input).await {
                Ok(_) => page.t("health.consent_given").to_string(),
                Err(e) => said(e),
            }
        }
    };
    Redirect::to(&format!(
        "/health/me?message={}",
        yrd_web::console::percent_encode(&message)
    ))
    .into_response()
}

#[derive(Deserialize, Default)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn withdraw_form(page: Page, Path(id): Path<String>, Form(form): Form<CsrfOnly>) -> Response {
    if let Err(r) = page.require_login() {
        return r;
    }
    if !page.csrf_ok(&form.csrf) {
        return page.forbidden();
    }
    let Ok((login, person)) = http::patient_of(&page.auth).await else {
        return page.forbidden();
    };
    let message = match http::withdraw(page.auth.db(), &login, &person, &id).await {
        Ok(()) => page.t("health.consent_withdrawn").to_string(),
        Err(e) => said(e),
    };
    Redirect::to(&format!(
        "/health/me?message={}",
        yrd_web::console::percent_encode(&message)
    ))
    .into_response()
}

async fn catalogue_page(page: Page) -> Response {
    let items = match recognition::items(page.auth.db()).await {
        Ok(items) => items,
        Err(e) => return failed(&page, e),
    };
    let body = html! {
        p.lead { (page.t("health.catalogue_lead")) }
        (table(&[page.t("health.code"), page.t("health.test"), page.t("health.kind"), page.t("health.validity"), page.t("health.min_level"), page.t("health.fee")], html! {
            @for i in &items { tr {
                td.mono { (i.code) }
                td { (page.lang.pick(&i.name_zh, &i.name_en)) }
                td { (page.t(&format!("health.kind_{}", i.kind))) }
                td { (i.validity_days) }
                td { (i.min_level) }
                td { (Fen(i.fee_fen)) }
            } }
        }))
    };
    page.render(page.t("health.catalogue"), body).into_response()
}

/// Emergency overrides by hospitals in the reviewer's scope, with a review form each.
async fn break_glass_page(page: Page, Query(query): Query<HospitalQuery>) -> Response {
    if let Err(r) = page.require_login() {
        return r;
    }
    let scopes = page.auth.principal.scopes(MODULE, AccessLevel::Approve);
    if scopes == yrd_auth::Scopes::Nothing {
        let _ = page.auth.require(MODULE, AccessLevel::Approve, None).await;
        return page.forbidden();
    }
    let rows = match access::break_glass(page.auth.db(), &scopes).await {
        Ok(rows) => rows,
        Err(e) => return failed(&page, e),
    };
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|(_, place)| JurisdictionCode::parse(place).is_ok_and(|c| scopes.covers(c)))
        .collect();
    let body = html! {
        p.lead { (page.t("health.break_glass_lead")) }
        @if let Some(message) = &query.message { div.notice role="status" { (message) } }
        (table(&[page.t("health.when"), page.t("health.reader"), page.t("health.what"), page.t("health.emergency"), page.t("health.review")], html! {
            @for (a, place) in &rows { tr {
                td { (a.at.get(..19).unwrap_or(&a.at).replace('T', " ")) " UTC" }
                td { (a.reader_name.clone().unwrap_or_else(|| a.reader_org.clone())) br; small { (place_name(&page, place)) " · " (a.reader_login) } }
                td.mono { (a.what) }
                td { (a.break_glass_reason.clone().unwrap_or_default()) }
                td {
                    @match &a.review_outcome {
                        Some(outcome) => { (badge(if outcome == "justified" { "ok" } else { "warn" }, page.t(&format!("health.{outcome}")))) " " small { (a.review_note.clone().unwrap_or_default()) } },
                        None => {
                            form.inline method="post" action=(format!("/health/break-glass/{}/review", a.id)) {
                                (page.csrf_field())
                                input name="note" required placeholder=(page.t("health.review_note")) aria-label=(page.t("health.review_note"));
                                button type="submit" name="outcome" value="justified" { (page.t("health.justified")) }
                                " "
                                button type="submit" name="outcome" value="unjustified" { (page.t("health.unjustified")) }
                            }
                        },
                    }
                }
            } }
        }))
    };
    page.render(page.t("health.break_glass_title"), body).into_response()
}

#[derive(Deserialize, Default)]
struct ReviewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    note: String,
}

async fn review_form(page: Page, Path(id): Path<i64>, Form(form): Form<ReviewForm>) -> Response {
    if let Err(r) = page.require_login() {
        return r;
    }
    if !page.csrf_ok(&form.csrf) {
        return page.forbidden();
    }
    let place = match access::break_glass_place(page.auth.db(), id).await {
        Ok(Some(place)) => place,
        Ok(None) => return page.forbidden(),
        Err(e) => return failed(&page, e),
    };
    if page
        .auth
        .require(MODULE, AccessLevel::Approve, Some(place))
        .await
        .is_err()
    {
        return page.forbidden();
    }
    let message = match access::review(page.auth.db(), &page.auth.actor(), id, &form.outcome, &form.note).await {
        Ok(()) => page.t("health.reviewed").to_string(),
        Err(e) => said(e),
    };
    Redirect::to(&format!(
        "/health/break-glass?message={}",
        yrd_web::console::percent_encode(&message)
    ))
    .into_response()
}

#[derive(Deserialize, Default)]
struct RegisterForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    national_id: String,
    #[serde(default)]
    family: String,
    #[serde(default)]
    given: String,
}

/// Registers a visiting patient at the clerk's hospital (or finds the hospital's record
/// of them) and shows their results from other hospitals.
async fn register_form(page: Page, Form(form): Form<RegisterForm>) -> Response {
    if let Err(r) = page.require_login() {
        return r;
    }
    if !page.csrf_ok(&form.csrf) {
        return page.forbidden();
    }
    let Ok(reader) = http::staff_reader(&page.auth, &ReadQuery::default()).await else {
        return page.forbidden();
    };
    let back = |message: String| {
        Redirect::to(&format!(
            "/health/hospital?message={}",
            yrd_web::console::percent_encode(&message)
        ))
        .into_response()
    };
    let id = yrd_kernel::national_id::normalise(&form.national_id);
    let (Some(birth), Some(sex)) = (
        yrd_kernel::national_id::birth_date(&id),
        yrd_kernel::national_id::sex(&id),
    ) else {
        return back(format!(
            "{}: {}",
            page.t("health.national_id"),
            page.t("health.bad_national_id")
        ));
    };
    if form.family.trim().is_empty() {
        return back(format!("{}: {}", page.t("health.family"), page.t("health.required")));
    }
    let mut name = serde_json::json!({"use": "official", "family": form.family.trim(), "text": format!("{}{}", form.family.trim(), form.given.trim())});
    if !form.given.trim().is_empty() {
        name["given"] = serde_json::json!([form.given.trim()]);
    }
    let patient = serde_json::json!({
        "resourceType": "Patient",
        "identifier": [{"system": crate::fhir::NATIONAL_ID_SYSTEM, "value": id}],
        "name": [name],
        "gender": sex,
        "birthDate": birth.to_string()
    });
    match register(page.auth.db(), &reader, patient, &id).await {
        Ok(patient_id) => Redirect::to(&format!("/health/hospital?patient={patient_id}")).into_response(),
        Err(error) => back(said(error)),
    }
}

/// This hospital's record of the person with `national_id`, made if it has none.
async fn register(
    db: &yrd_db::Db,
    reader: &Reader,
    patient: serde_json::Value,
    national_id: &str,
) -> Result<String, crate::fhir::FhirError> {
    let keys = Keys::load(db).await?;
    let query = crate::fhir::search::Query {
        conditions: vec![crate::fhir::search::Condition::Token {
            param: "identifier",
            values: vec![(
                Some(crate::fhir::NATIONAL_ID_HASH_SYSTEM.into()),
                keys.hash(national_id),
            )],
        }],
        count: 1,
        offset: 0,
    };
    let (_, found) = store::search(db, "Patient", &query, &store::Visibility::Own(&reader.hospital.org_id)).await?;
    if let Some(existing) = found.into_iter().next() {
        return Ok(existing.id);
    }
    let writer = store::Writer::Hospital {
        login: reader.login.clone(),
        hospital: reader.hospital.clone(),
    };
    let mut tx = db.begin().await?;
    let stored = store::write(
        &mut tx,
        &keys,
        &writer,
        "Patient",
        None,
        patient,
        store::Expect::New,
        &mut Vec::new(),
    )
    .await?;
    tx.commit().await?;
    Ok(stored.id)
}

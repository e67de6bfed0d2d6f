//! The insurance console: the dashboard, the billing desk and the registry.

use crate::domain::{BillLine, VisitKind};
use crate::service::{self, DESK, MODULE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use maud::{Markup, html};
use serde::Deserialize;
use yrd_kernel::{AccessLevel, Fen, JurisdictionCode};
use yrd_web::ApiError;
use yrd_web::console::{Page, badge, table};

pub fn routes() -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/desk", get(desk_page).post(desk_form))
        .route("/institutions", get(registry))
}

fn province_name(page: &Page, code: &str) -> String {
    JurisdictionCode::parse(code)
        .map(|c| {
            page.lang
                .pick(&c.jurisdiction().name_zh, &c.jurisdiction().name_en)
                .to_string()
        })
        .unwrap_or_else(|_| code.into())
}

async fn dashboard(page: Page) -> Result<Response, ApiError> {
    let db = page.auth.db().clone();
    // Each reader sees the figures of the funds and places inside their scopes; a
    // visitor who is not signed in sees none.
    let scopes = page.auth.principal.scopes(MODULE, AccessLevel::Read);
    let within = |code: &str| JurisdictionCode::parse(code).is_ok_and(|c| scopes.covers(c));
    let fund_within = |fund: &str| within(fund.split('-').next().unwrap_or(""));
    let pairs: Vec<_> = service::stats(&db)
        .await?
        .into_iter()
        .filter(|p| within(&p.insured) || within(&p.treated))
        .collect();
    let statements: Vec<_> = service::statements(&db, None)
        .await?
        .into_iter()
        .filter(|s| fund_within(&s.debtor_fund) || within(&s.creditor_place))
        .collect();
    let total_prepaid: i64 = service::balances(&db, "prepaid:")
        .await?
        .iter()
        .filter(|b| fund_within(b.account.trim_start_matches("prepaid:")))
        .map(|b| b.posted_fen)
        .sum();
    let max = pairs.iter().map(|p| p.fund_fen).max().unwrap_or(1).max(1);
    let body = html! {
        p.lead { (page.t("ins.lead")) }
        p { a href="/insurance/desk" { (page.t("ins.desk")) " →" } " · " a href="/insurance/institutions" { (page.t("ins.registry")) " →" } }
        @if scopes == yrd_auth::Scopes::Nothing { p { (page.t("ins.sign_in_for_figures")) } }
        p.totals { (page.t("ins.prepaid_total")) ": " strong { (Fen(total_prepaid)) } " · " (page.t("ins.statements")) ": " strong { (statements.len()) } }
        h2 { (page.t("ins.pairs")) }
        (table(&[page.t("ins.insured_in"), page.t("ins.treated_in"), page.t("ins.settlements"), page.t("ins.total"), page.t("ins.fund_paid"), ""], html! {
            @for p in &pairs { tr {
                td { (province_name(&page, &p.insured)) }
                td { (province_name(&page, &p.treated)) }
                td { (p.settlements) }
                td { (Fen(p.total_fen)) }
                td { (Fen(p.fund_fen)) }
                td { svg.bar viewBox="0 0 100 10" width="120" height="12" role="img" aria-label=(Fen(p.fund_fen).to_string()) { rect x="0" y="0" height="10" width=(format!("{:.1}", p.fund_fen as f64 * 100.0 / max as f64)) fill="var(--accent)" {} } }
            } }
        }))
        h2 { (page.t("ins.statements")) }
        (table(&[page.t("ins.month"), page.t("ins.debtor"), page.t("ins.creditor"), page.t("ins.settlements"), page.t("ins.total")], html! {
            @for s in statements.iter().take(50) { tr { td { (s.month) } td.mono { (s.debtor_fund) } td { (province_name(&page, &s.creditor_place)) } td { (s.settlements) } td { (Fen(s.total_fen)) } } }
        }))
    };
    Ok(page.render(page.t("ins.title"), body).into_response())
}

#[derive(Deserialize, Default)]
struct DeskForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    institution: String,
    #[serde(default)]
    national_id: String,
    #[serde(default)]
    kind: String,
    /// One line per item: `code quantity unit-price-in-yuan`.
    #[serde(default)]
    lines: String,
    #[serde(default)]
    action: String,
}

fn desk_body(
    page: &Page,
    form: &DeskForm,
    outcome: Option<Result<(String, crate::domain::Settlement), String>>,
) -> Markup {
    html! {
        p.lead { (page.t("ins.desk_lead")) }
        @match &outcome {
            Some(Ok((what, s))) => {
                div.notice.success role="status" { (what) " · " (page.t("ins.fund_paid")) " " (Fen(s.fund_fen)) " · " (page.t("ins.account")) " " (Fen(s.account_fen)) " · " (page.t("ins.cash")) " " (Fen(s.cash_fen)) }
                (table(&[page.t("ins.item"), page.t("ins.total"), page.t("ins.fund_paid"), page.t("ins.account"), page.t("ins.cash"), page.t("ins.why")], html! {
                    @for l in &s.lines { tr { td.mono { (l.item) } td { (Fen(l.amount_fen)) } td { (Fen(l.fund_fen)) } td { (Fen(l.account_fen)) } td { (Fen(l.cash_fen)) } td { ul { @for e in &l.explanation { li { (e) } } } } } }
                }))
            },
            Some(Err(message)) => { div.notice.error role="alert" { (message) } },
            None => {},
        }
        form.card.narrow method="post" action="/insurance/desk" {
            (page.csrf_field())
            label { (page.t("ins.institution")) input name="institution" value=(form.institution) required; }
            label { (page.t("ins.national_id")) input name="national_id" value=(form.national_id) required autocomplete="off"; }
            label { (page.t("ins.kind")) select name="kind" { option value="outpatient" { (page.t("ins.outpatient")) } option value="inpatient" selected[form.kind == "inpatient"] { (page.t("ins.inpatient")) } } }
            label { (page.t("ins.lines")) textarea name="lines" rows="4" placeholder="S001 1 25\nD003 2 60" { (form.lines) } }
            button type="submit" name="action" value="quote" { (page.t("ins.quote")) }
            " "
            button type="submit" name="action" value="settle" { (page.t("ins.settle")) }
        }
    }
}

async fn desk_page(page: Page) -> Response {
    if let Err(r) = page.require_login() {
        return r;
    }
    page.render(page.t("ins.desk"), desk_body(&page, &DeskForm::default(), None))
        .into_response()
}

fn parse_lines(text: &str) -> Result<Vec<BillLine>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            let [code, qty, price] = parts[..] else {
                return Err(format!("line {}: code quantity price", i + 1));
            };
            let quantity = qty.parse().map_err(|_| format!("line {}: quantity", i + 1))?;
            let yuan: f64 = price.parse().map_err(|_| format!("line {}: price in yuan", i + 1))?;
            Ok(BillLine {
                item: code.to_string(),
                quantity,
                unit_price_fen: (yuan * 100.0).round() as i64,
            })
        })
        .collect()
}

/// The billing desk: register, bill and quote or settle a visit in one go.
async fn desk_form(page: Page, Form(form): Form<DeskForm>) -> Response {
    if let Err(r) = page.require_login() {
        return r;
    }
    if !page.csrf_ok(&form.csrf) {
        return page.forbidden();
    }
    let outcome = run_desk(&page, &form).await;
    let status = if outcome.is_ok() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    (
        status,
        page.render(page.t("ins.desk"), desk_body(&page, &form, Some(outcome))),
    )
        .into_response()
}

/// A refusal the desk can act on, in words; a database failure goes to the log and the
/// desk sees only that it failed.
fn refused(error: impl Into<service::ServiceError>) -> String {
    match error.into() {
        service::ServiceError::Db(e) => {
            tracing::error!(error = %e, "insurance desk");
            "the request could not be completed; please try again".into()
        }
        other => other.to_string(),
    }
}

async fn run_desk(page: &Page, form: &DeskForm) -> Result<(String, crate::domain::Settlement), String> {
    let db = page.auth.db();
    let inst = service::institution(db, form.institution.trim())
        .await
        .map_err(refused)?
        .ok_or("unknown institution")?;
    if !page
        .auth
        .principal
        .allows(DESK, AccessLevel::Write, Some(inst.jurisdiction))
    {
        let _ = page
            .auth
            .require(DESK, AccessLevel::Write, Some(inst.jurisdiction))
            .await;
        return Err(page.t("error.forbidden").into());
    }
    if inst.status != "designated" {
        return Err(format!("{} {}", inst.code, inst.status));
    }
    let person = service::person_by_id(db, &form.national_id)
        .await
        .map_err(refused)?
        .ok_or("no insured person with this ID")?;
    let fund = service::fund(db, &person.fund)
        .await
        .map_err(refused)?
        .ok_or("no fund")?;
    if fund.jurisdiction.province() != inst.jurisdiction.province() && !inst.networked {
        return Err(format!("{} is not networked for cross-province settlement", inst.code));
    }
    let lines = parse_lines(&form.lines)?;
    if lines.is_empty() || lines.len() > 500 {
        return Err("1 to 500 bill lines".into());
    }
    let kind = if form.kind == "inpatient" {
        VisitKind::Inpatient
    } else {
        VisitKind::Outpatient
    };
    let today = yrd_kernel::time::today();
    let catalogue = service::catalogue(db, inst.jurisdiction).await.map_err(refused)?;
    if let Some(unknown) = lines.iter().find(|l| !catalogue.contains_key(&l.item)) {
        return Err(format!("'{}' is not in the catalogue", unknown.item));
    }
    let mut tx = db.begin().await.map_err(refused)?;
    let visit = service::register_visit(&mut tx, &person, &inst, kind, today)
        .await
        .map_err(refused)?;
    sqlx::query("UPDATE ins_visits SET lines = $1, state = 'billed' WHERE id = $2")
        .bind(serde_json::to_string(&lines).unwrap_or_default())
        .bind(visit.id)
        .execute(tx.conn())
        .await
        .map_err(refused)?;
    service::audit(
        &mut tx,
        &page.auth.actor(),
        "visit.register",
        visit.number.clone(),
        Some(inst.jurisdiction),
        serde_json::json!({"lines": lines.len()}),
    )
    .await
    .map_err(refused)?;
    tx.commit().await.map_err(refused)?;
    let visit = service::visit(db, &visit.number)
        .await
        .map_err(refused)?
        .ok_or("visit vanished")?;
    if form.action == "settle" {
        let (record, s) = service::settle(db, &page.auth.actor(), &visit, crate::http::REVIEW_PERCENT)
            .await
            .map_err(refused)?;
        Ok((
            format!("{} {} · #{}", page.t("ins.settled"), visit.number, record.id),
            s,
        ))
    } else {
        let (s, _) = service::quote(db, &page.auth.actor(), &visit).await.map_err(refused)?;
        Ok((format!("{} {}", page.t("ins.quoted"), visit.number), s))
    }
}

async fn registry(page: Page) -> Result<Response, ApiError> {
    let list = service::institutions(page.auth.db(), 5000).await?;
    let body = html! {
        p.totals { (page.t("ins.registry")) ": " strong { (list.len()) } " · " (page.t("ins.networked")) ": " strong { (list.iter().filter(|i| i.networked && i.status == "designated").count()) } }
        (table(&[page.t("ins.code"), page.t("ins.name"), page.t("ins.place"), page.t("ins.level"), page.t("ins.status"), page.t("ins.networked")], html! {
            @for i in &list { tr {
                td.mono { (i.code) } td { (i.name) } td { (page.lang.pick(&i.jurisdiction.jurisdiction().name_zh, &i.jurisdiction.jurisdiction().name_en)) } td { (i.level) }
                td { (badge(match i.status.as_str() { "designated" => "done", "suspended" | "revoked" => "overdue", _ => "not-started" }, page.t(&format!("ins.status.{}", i.status)))) }
                td { @if i.networked { "✓" } }
            } }
        }))
    };
    Ok(page.render(page.t("ins.registry"), body).into_response())
}

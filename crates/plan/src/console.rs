//! The plan's console pages, at `/plan`.

use crate::domain::{Reason, RollupBy, Status, StatusCounts};
use crate::http::{
    self, Decision, KpiValueInput, MilestoneUpdate, ReportInput, ReviewInput, TaskQuery, compute_rollup, filter_tasks,
    load_task, may, plan_summary, today, visible_obligations,
};
use crate::store::{self, TaskView};
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::NaiveDate;
use maud::{Markup, html};
use serde::Deserialize;
use yrd_kernel::{AccessLevel, JurisdictionCode, JurisdictionLevel, jurisdictions};
use yrd_web::console::map::{shaded_region_map, share_colour};
use yrd_web::console::{Page, badge, percent_encode, table};
use yrd_web::i18n::Lang;
use yrd_web::{ApiError, AppContext, Json, Query};

pub fn routes(_ctx: &AppContext) -> Router {
    Router::new()
        .route("/", get(overview))
        .route("/tasks", get(task_list))
        .route("/aspects/{number}", get(aspect_page))
        .route("/tasks/{number}", get(task_page))
        .route("/tasks/{number}/reports", post(report_form))
        .route("/tasks/{number}/milestones/{seq}", post(milestone_form))
        .route("/tasks/{number}/kpis/{key}", post(kpi_form))
        .route("/reports/{id}/review", post(review_form))
        .route("/provinces", get(provinces))
        .route("/mine", get(mine))
        .route("/print", get(print))
}

pub fn status_badge(page: &Page, status: Status) -> Markup {
    let kind = match status {
        Status::Done => "done",
        Status::OnTrack => "on-track",
        Status::AtRisk => "at-risk",
        Status::Overdue => "overdue",
        Status::NotStarted => "not-started",
    };
    badge(kind, page.t(&format!("plan.status.{}", status.as_str())))
}

/// A stacked bar of status counts, with the numbers written out.
fn status_bar(page: &Page, counts: &StatusCounts) -> Markup {
    let total = counts.total().max(1);
    html! {
        div.status-bar role="img" aria-label=(Status::ALL.iter().map(|s| format!("{} {}", page.t(&format!("plan.status.{}", s.as_str())), counts.get(*s))).collect::<Vec<_>>().join(", ")) {
            @for status in [Status::Done, Status::OnTrack, Status::AtRisk, Status::Overdue, Status::NotStarted] {
                @let n = counts.get(status);
                @if n > 0 {
                    span class=(format!("seg seg-{}", status.as_str())) style=(format!("width: {:.2}%", f64::from(n) * 100.0 / f64::from(total))) title=(format!("{} {n}", page.t(&format!("plan.status.{}", status.as_str())))) { (n) }
                }
            }
        }
    }
}

fn name(lang: Lang, code: JurisdictionCode) -> String {
    let j = code.jurisdiction();
    lang.pick(&j.name_zh, &j.name_en).to_string()
}

fn names(lang: Lang, codes: &[JurisdictionCode]) -> String {
    codes
        .iter()
        .map(|c| name(lang, *c))
        .collect::<Vec<_>>()
        .join(lang.pick("、", ", "))
}

fn legend(page: &Page) -> Markup {
    html! {
        p.legend { @for status in Status::ALL { (status_badge(page, status)) " " } }
    }
}

async fn overview(page: Page) -> Result<Response, ApiError> {
    let (summary, tasks) = plan_summary(page.auth.db(), today()).await?;
    let Some(plan) = &summary.plan else {
        let body = html! { p { (page.t("plan.empty")) } pre { "yrd plan import data/plan/yrd-2024-2026.toml" } };
        return Ok(page.render(page.t("plan.title"), body).into_response());
    };
    let tags = compute_rollup(&tasks, RollupBy::Tag);
    let illustrative = tasks.iter().filter(|t| t.illustrative).count();
    let body = html! {
        p.lead { (page.lang.pick(&plan.name_zh, &plan.name_en)) " · " (page.lang.date(plan.start)) " – " (page.lang.date(plan.end)) }
        p.totals {
            (page.t("plan.total_tasks")) ": " strong { (summary.total.total()) }
            @if illustrative > 0 { " · " (page.t("plan.illustrative_count")) ": " (illustrative) }
            " · " a href="/api/v1/plan/tasks?format=csv" download { (page.t("table.csv")) }
            " · " a href="/plan/print" { (page.t("plan.print")) }
        }
        (legend(&page))
        div.table-wrap {
            table.data {
                thead { tr { th { "#" } th { (page.t("plan.aspect")) } th { (page.t("plan.tasks")) } th.wide { (page.t("plan.status")) } } }
                tbody {
                    @for a in &summary.aspects {
                        tr {
                            td { (a.aspect.number) }
                            td { a href=(format!("/plan/aspects/{}", a.aspect.number)) { (page.lang.pick(&a.aspect.title_zh, &a.aspect.title_en)) } }
                            td { (a.counts.total()) @if let Some(planned) = a.aspect.planned_tasks { " / " (planned) } }
                            td { (status_bar(&page, &a.counts)) }
                        }
                    }
                }
                tfoot { tr { td {} th { (page.t("plan.total")) } th { (summary.total.total()) } td { (status_bar(&page, &summary.total)) } } }
            }
        }
        h2 { (page.t("plan.by_module")) }
        div.table-wrap {
            table.data {
                thead { tr { th { (page.t("plan.module")) } th { (page.t("plan.tasks")) } th.wide { (page.t("plan.status")) } } }
                tbody { @for row in &tags { tr { td { a href=(format!("/plan/tasks?tag={}", row.key)) { (row.key) } } td { (row.counts.total()) } td { (status_bar(&page, &row.counts)) } } } }
            }
        }
        p { a href="/plan/provinces" { (page.t("plan.provinces")) " →" } " · " a href="/plan/mine" { (page.t("plan.mine")) " →" } }
    };
    Ok(page.render(page.t("plan.title"), body).into_response())
}

fn task_table(page: &Page, tasks: &[TaskView]) -> Markup {
    let rows = html! {
        @for t in tasks {
            tr {
                td { (t.number) }
                td {
                    a href=(format!("/plan/tasks/{}", t.number)) { (page.lang.pick(&t.title_zh, &t.title_en)) }
                    @if t.illustrative { " " span.tag { (page.t("plan.illustrative")) } }
                }
                td { (names(page.lang, &t.lead)) }
                td { (status_badge(page, t.assessment.status)) }
                td { (page.lang.date(t.due)) }
                td { (t.percent_complete.map(|p| format!("{p}%")).unwrap_or_default()) }
                td { (t.tags.join(", ")) }
            }
        }
    };
    table(
        &[
            "#",
            page.t("plan.task"),
            page.t("plan.lead"),
            page.t("plan.status"),
            page.t("plan.due"),
            page.t("plan.percent"),
            page.t("plan.module"),
        ],
        rows,
    )
}

async fn task_list(page: Page, Query(query): Query<TaskQuery>) -> Result<Response, ApiError> {
    let tasks = filter_tasks(store::tasks(page.auth.db(), today(), None).await?, &query);
    let status = query.status.map(|s| s.as_str()).unwrap_or("");
    let tag = query.tag.clone().unwrap_or_default();
    let jurisdiction = query.jurisdiction.map(|j| j.to_string()).unwrap_or_default();
    let csv = format!(
        "/api/v1/plan/tasks?format=csv&status={status}&tag={}&jurisdiction={jurisdiction}",
        percent_encode(&tag)
    );
    let body = html! {
        form.filters method="get" action="/plan/tasks" {
            label { (page.t("plan.status")) select name="status" {
                option value="" { "—" }
                @for s in Status::ALL { option value=(s.as_str()) selected[s.as_str() == status] { (page.t(&format!("plan.status.{}", s.as_str()))) } }
            } }
            label { (page.t("plan.module")) select name="tag" {
                option value="" { "—" }
                @for t in crate::domain::MODULE_TAGS { option value=(t) selected[t == tag] { (t) } }
            } }
            label { (page.t("plan.jurisdiction")) select name="jurisdiction" {
                option value="" { "—" }
                @for j in jurisdictions().all().filter(|j| j.level != JurisdictionLevel::District && j.level != JurisdictionLevel::County) {
                    option value=(j.code) selected[j.code.to_string() == jurisdiction] { (page.lang.pick(&j.name_zh, &j.name_en)) " " (j.code) }
                }
            } }
            @if let Some(aspect) = query.aspect { input type="hidden" name="aspect" value=(aspect); }
            button type="submit" { (page.t("table.filter")) }
        }
        p.totals { (page.t("plan.tasks")) ": " strong { (tasks.len()) } " · " a href=(csv) download { (page.t("table.csv")) } }
        (task_table(&page, &tasks))
    };
    Ok(page.render(page.t("plan.task_list"), body).into_response())
}

async fn aspect_page(page: Page, Path(number): Path<i64>) -> Result<Response, ApiError> {
    let aspect = store::aspects(page.auth.db())
        .await?
        .into_iter()
        .find(|a| a.number == number)
        .ok_or_else(|| ApiError::NotFound(format!("aspect {number}")))?;
    let tasks = filter_tasks(
        store::tasks(page.auth.db(), today(), None).await?,
        &TaskQuery {
            aspect: Some(number),
            ..Default::default()
        },
    );
    let mut counts = StatusCounts::default();
    tasks.iter().for_each(|t| counts.add(t.assessment.status));
    let title = format!(
        "{} {number} · {}",
        page.t("plan.aspect"),
        page.lang.pick(&aspect.title_zh, &aspect.title_en)
    );
    let body = html! {
        p.totals { (page.t("plan.tasks")) ": " strong { (tasks.len()) } @if let Some(planned) = aspect.planned_tasks { " / " (planned) " " (page.t("plan.published")) } }
        (status_bar(&page, &counts))
        (legend(&page))
        (task_table(&page, &tasks))
    };
    Ok(page.render(&title, body).into_response())
}

/// A KPI chart: the straight path from baseline to target (dashed) and the recorded values.
fn kpi_chart(page: &Page, task: &TaskView, kpi: &crate::domain::Kpi, history: &[(NaiveDate, f64)]) -> Markup {
    let (w, h, pad) = (480.0, 160.0, 28.0);
    let start = task.start;
    let span = (kpi.due - start).num_days().max(1) as f64;
    let mut low = kpi.baseline.min(kpi.target);
    let mut high = kpi.baseline.max(kpi.target);
    for (_, v) in history {
        low = low.min(*v);
        high = high.max(*v);
    }
    if (high - low).abs() < f64::EPSILON {
        high = low + 1.0;
    }
    let x = |d: NaiveDate| pad + ((d - start).num_days() as f64 / span).clamp(0.0, 1.0) * (w - 2.0 * pad);
    let y = |v: f64| h - pad - (v - low) / (high - low) * (h - 2.0 * pad);
    let points: Vec<String> = history
        .iter()
        .map(|(d, v)| format!("{:.1},{:.1}", x(*d), y(*v)))
        .collect();
    let name = page.lang.pick(&kpi.name_zh, &kpi.name_en);
    html! {
        figure.kpi {
            svg.chart viewBox=(format!("0 0 {w} {h}")) role="img" aria-label=(format!("{name}: {} {} → {} {}", kpi.baseline, kpi.unit, kpi.target, kpi.unit)) {
                line.axis x1=(pad) y1=(h - pad) x2=(w - pad) y2=(h - pad) {}
                line.path x1=(x(start)) y1=(y(kpi.baseline)) x2=(x(kpi.due)) y2=(y(kpi.target)) {}
                @if !points.is_empty() { polyline.values points=(points.join(" ")) {} }
                @for (d, v) in history { circle.value cx=(format!("{:.1}", x(*d))) cy=(format!("{:.1}", y(*v))) r="3" { title { (d) ": " (v) " " (kpi.unit) } } }
                text x=(pad) y=(h - 8.0) { (start) }
                text x=(w - pad) y=(h - 8.0) text-anchor="end" { (kpi.due) }
                text x=(x(kpi.due)) y=(y(kpi.target) - 6.0) text-anchor="end" { (page.t("plan.target")) " " (kpi.target) " " (kpi.unit) }
            }
            figcaption {
                strong { (name) } " · " (page.t("plan.baseline")) " " (kpi.baseline) " → " (page.t("plan.target")) " " (kpi.target) " " (kpi.unit)
                @if let Some((d, v)) = kpi.latest { " · " (page.t("plan.latest")) " " (v) " (" (d) ")" }
                @match &kpi.source { crate::domain::KpiSource::Indicator(key) => { " · " (page.t("plan.live_from")) " " code { (key) } }, _ => {} }
            }
        }
    }
}

fn milestone_timeline(page: &Page, task: &TaskView) -> Markup {
    let (w, h, pad) = (480.0, 56.0, 16.0);
    let span = (task.due - task.start).num_days().max(1) as f64;
    let x = |d: NaiveDate| pad + ((d - task.start).num_days() as f64 / span).clamp(0.0, 1.0) * (w - 2.0 * pad);
    let now = today();
    html! {
        svg.timeline viewBox=(format!("0 0 {w} {h}")) role="img" aria-label=(page.t("plan.milestones")) {
            line.axis x1=(pad) y1="28" x2=(w - pad) y2="28" {}
            @if now >= task.start && now <= task.due { line.today x1=(x(now)) y1="12" x2=(x(now)) y2="44" { title { (page.t("plan.today")) } } }
            @for m in &task.milestones {
                @let late = m.done.is_none() && m.due < now;
                circle class=(if m.done.is_some() { "ms done" } else if late { "ms late" } else { "ms open" }) cx=(format!("{:.1}", x(m.due))) cy="28" r="6" {
                    title { (page.lang.pick(&m.title_zh, &m.title_en)) " · " (m.due) }
                }
            }
            text x=(pad) y="54" { (task.start) }
            text x=(w - pad) y="54" text-anchor="end" { (task.due) }
        }
    }
}

fn reason_list(page: &Page, reasons: &[Reason]) -> Markup {
    html! { ul.reasons { @for r in reasons { li { (r.describe(page.lang == Lang::Zh)) } } } }
}

async fn task_page(page: Page, Path(number): Path<i64>) -> Result<Response, ApiError> {
    task_page_with(page, number, None).await
}

async fn task_page_with(page: Page, number: i64, error: Option<String>) -> Result<Response, ApiError> {
    let db = page.auth.db().clone();
    let task = load_task(&db, number).await?;
    let can_read = may(&page.auth, AccessLevel::Read, &task, false);
    let can_write = may(&page.auth, AccessLevel::Write, &task, false);
    let can_review = may(&page.auth, AccessLevel::Approve, &task, true);
    let reports = if can_read {
        let all = store::reports(&db, Some(number), None).await?;
        all.into_iter()
            .filter(|r| crate::http::report_visible(&page.auth.principal, r))
            .collect()
    } else {
        Vec::new()
    };
    let flags = if can_read {
        store::flags(&db, Some(number)).await?
    } else {
        Vec::new()
    };
    let mut charts = Vec::new();
    for kpi in &task.kpis {
        charts.push(kpi_chart(
            &page,
            &task,
            kpi,
            &store::kpi_history(&db, number, &kpi.key).await?,
        ));
    }
    let title = format!(
        "{} {} · {}",
        page.t("plan.task"),
        task.number,
        page.lang.pick(&task.title_zh, &task.title_en)
    );
    let body = html! {
        @if let Some(error) = &error { div.notice.error role="alert" { (error) } }
        @if task.illustrative { div.notice role="note" { (page.t("plan.illustrative_note")) } }
        div.card {
            p { (status_badge(&page, task.assessment.status)) " " @if let Some(p) = task.percent_complete { (page.t("plan.percent")) " " (p) "%" } }
            h3 { (page.t("plan.why")) }
            (reason_list(&page, &task.assessment.reasons))
        }
        dl.facts {
            dt { (page.t("plan.aspect")) } dd { a href=(format!("/plan/aspects/{}", task.aspect)) { (task.aspect) } }
            dt { (page.t("plan.lead")) } dd { (names(page.lang, &task.lead)) }
            dt { (page.t("plan.participants")) } dd { (names(page.lang, &task.participants)) }
            dt { (page.t("plan.agency")) } dd { (task.lead_agency) }
            dt { (page.t("plan.period")) } dd { (page.lang.date(task.start)) " – " (page.lang.date(task.due)) " · " (page.t(&format!("plan.cycle.{}", task.reporting.as_str()))) }
            dt { (page.t("plan.module")) } dd { (task.tags.join(", ")) }
            dt { (page.t("plan.provenance")) } dd { (task.provenance) }
        }
        @let description = page.lang.pick(&task.description_zh, &task.description_en);
        @if !description.is_empty() { p { (description) } }

        h2 { (page.t("plan.milestones")) }
        (milestone_timeline(&page, &task))
        div.table-wrap { table.data {
            thead { tr { th { "#" } th { (page.t("plan.milestone")) } th { (page.t("plan.due")) } th { (page.t("plan.done")) } th { (page.t("plan.evidence")) } @if can_write { th {} } } }
            tbody { @for m in &task.milestones { tr {
                td { (m.seq) }
                td { (page.lang.pick(&m.title_zh, &m.title_en)) }
                td { (page.lang.date(m.due)) }
                td { @if let Some(done) = m.done { (badge("done", &page.lang.date(done))) } @else if m.due < today() { (badge("overdue", page.t("plan.late"))) } }
                td { (m.evidence.as_deref().unwrap_or("")) }
                @if can_write { td { @if m.done.is_none() {
                    form.inline-form method="post" action=(format!("/plan/tasks/{}/milestones/{}", task.number, m.seq)) {
                        (page.csrf_field())
                        input type="date" name="done" value=(today()) required;
                        input name="evidence" placeholder=(page.t("plan.evidence")) required;
                        button type="submit" { (page.t("plan.mark_done")) }
                    }
                } } }
            } } }
        } }

        @if !task.kpis.is_empty() {
            h2 { (page.t("plan.kpis")) }
            div.charts { @for chart in &charts { (chart) } }
            @if can_write {
                @for kpi in task.kpis.iter().filter(|k| k.source == crate::domain::KpiSource::Manual) {
                    form.filters method="post" action=(format!("/plan/tasks/{}/kpis/{}", task.number, kpi.key)) {
                        (page.csrf_field())
                        label { (page.lang.pick(&kpi.name_zh, &kpi.name_en)) input type="number" step="any" name="value" required; }
                        label { (page.t("plan.on")) input type="date" name="on" value=(today()) required; }
                        button type="submit" { (page.t("plan.record_value")) }
                    }
                }
            }
        }

        h2 { (page.t("plan.reports")) }
        @if !can_read { p { (page.t("plan.reports_need_grant")) } }
        @else {
            div.table-wrap { table.data {
                thead { tr { th { (page.t("plan.period")) } th { (page.t("plan.percent")) } th { (page.t("plan.reporter")) } th { (page.t("plan.report_status")) } th { (page.t("plan.narrative")) } th { (page.t("plan.review")) } } }
                tbody { @for r in &reports { tr {
                    td { (r.period) }
                    td { (r.percent_complete) "%" }
                    td { (r.reporter) " · " (r.jurisdiction) }
                    td { (badge(match r.status.as_str() { "accepted" => "done", "returned" => "overdue", "submitted" => "on-track", _ => "not-started" }, page.t(&format!("plan.report.{}", r.status)))) }
                    td { (page.lang.pick(&r.narrative_zh, &r.narrative_en))
                        @for e in &r.evidence { br; span.mono { (e.name) " · sha256 " (&e.sha256[..12]) "…" } } }
                    td {
                        @if let Some(c) = &r.review_comment { (c) }
                        @if can_review && r.status == "submitted" {
                            form.inline-form method="post" action=(format!("/plan/reports/{}/review", r.id)) {
                                (page.csrf_field())
                                input name="comment" placeholder=(page.t("plan.comment"));
                                button type="submit" name="decision" value="accept" { (page.t("plan.accept")) }
                                " "
                                button type="submit" name="decision" value="return" { (page.t("plan.return")) }
                            }
                        }
                    }
                } } }
            } }
            @if can_write {
                form.card.narrow method="post" action=(format!("/plan/tasks/{}/reports", task.number)) {
                    h3 { (page.t("plan.new_report")) }
                    (page.csrf_field())
                    label { (page.t("plan.period")) input name="period" required placeholder=(crate::domain::Period::containing(task.reporting, today()).to_string()); }
                    label { (page.t("plan.percent")) input type="number" min="0" max="100" name="percent_complete" required; }
                    label { "中文进展" textarea name="narrative_zh" rows="3" required {} }
                    label { "Progress (English)" textarea name="narrative_en" rows="3" required {} }
                    button type="submit" { (page.t("plan.submit_report")) }
                }
            }
            h2 { (page.t("plan.flags")) }
            div.table-wrap { table.data {
                thead { tr { th { (page.t("plan.flag_kind")) } th { (page.t("plan.flag_text")) } th { (page.t("plan.flag_owner")) } th { (page.t("plan.report_status")) } } }
                tbody { @for f in &flags { tr { td { (page.t(&format!("plan.flag.{}", f.kind))) } td { (f.description) } td { (f.owner) } td { (f.status) } } } }
            } }
        }
    };
    Ok(page.render(&title, body).into_response())
}

#[derive(Deserialize)]
struct ReportForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    period: String,
    #[serde(default)]
    percent_complete: String,
    #[serde(default)]
    narrative_zh: String,
    #[serde(default)]
    narrative_en: String,
}

/// The outcome of a console form: back to the task page, with the error if there was one.
async fn after_form(page: Page, number: i64, result: Result<(), ApiError>) -> Response {
    match result {
        Ok(()) => Redirect::to(&format!("/plan/tasks/{number}")).into_response(),
        Err(ApiError::Forbidden(_)) => page.forbidden(),
        Err(error @ (ApiError::Invalid(_) | ApiError::BadRequest(_) | ApiError::Conflict(_))) => {
            let message = match &error {
                ApiError::Invalid(e) | ApiError::BadRequest(e) => e.to_string(),
                other => other.to_string(),
            };
            match task_page_with(page, number, Some(message)).await {
                Ok(page) => (axum::http::StatusCode::UNPROCESSABLE_ENTITY, page).into_response(),
                Err(error) => error.into_response(),
            }
        }
        Err(other) => other.into_response(),
    }
}

/// Anonymous callers go to the login page; a form without this session's CSRF token is refused.
fn refused(page: &Page, sent_csrf: &str) -> Option<Response> {
    if page.auth.principal.user_ref().is_none() {
        return Some(Redirect::to(&format!("/login?next={}", percent_encode(&page.here))).into_response());
    }
    (!page.csrf_ok(sent_csrf)).then(|| page.forbidden())
}

async fn report_form(page: Page, Path(number): Path<i64>, Form(form): Form<ReportForm>) -> Response {
    if let Some(refused) = refused(&page, &form.csrf) {
        return refused;
    }
    let result = match form.percent_complete.trim().parse::<i64>() {
        Err(_) => Err(ApiError::invalid("percent_complete", "a whole number from 0 to 100")),
        Ok(percent) => {
            let input = ReportInput {
                period: form.period.trim().to_string(),
                percent_complete: percent,
                narrative_zh: form.narrative_zh,
                narrative_en: form.narrative_en,
                evidence: Vec::new(),
                submit: true,
            };
            http::create_report(page.auth.clone(), Path(number.to_string()), Json(input))
                .await
                .map(|_| ())
        }
    };
    after_form(page, number, result).await
}

#[derive(Deserialize)]
struct MilestoneForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    done: String,
    #[serde(default)]
    evidence: String,
}

async fn milestone_form(
    page: Page,
    Path((number, seq)): Path<(i64, i64)>,
    Form(form): Form<MilestoneForm>,
) -> Response {
    if let Some(refused) = refused(&page, &form.csrf) {
        return refused;
    }
    let result = match NaiveDate::parse_from_str(form.done.trim(), "%Y-%m-%d") {
        Err(_) => Err(ApiError::invalid("done", "a date (YYYY-MM-DD)")),
        Ok(done) => {
            let update = MilestoneUpdate {
                done: Some(done),
                evidence: Some(form.evidence),
            };
            http::put_milestone(
                page.auth.clone(),
                Path((number.to_string(), seq.to_string())),
                Json(update),
            )
            .await
            .map(|_| ())
        }
    };
    after_form(page, number, result).await
}

#[derive(Deserialize)]
struct KpiForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    on: String,
    #[serde(default)]
    value: String,
}

async fn kpi_form(page: Page, Path((number, key)): Path<(i64, String)>, Form(form): Form<KpiForm>) -> Response {
    if let Some(refused) = refused(&page, &form.csrf) {
        return refused;
    }
    let on = NaiveDate::parse_from_str(form.on.trim(), "%Y-%m-%d")
        .map_err(|_| ApiError::invalid("on", "a date (YYYY-MM-DD)"));
    let value = form
        .value
        .trim()
        .parse::<f64>()
        .map_err(|_| ApiError::invalid("value", "a number"));
    let result = match (on, value) {
        (Ok(on), Ok(value)) => http::post_kpi_value(
            page.auth.clone(),
            Path((number.to_string(), key)),
            Json(KpiValueInput { on, value }),
        )
        .await
        .map(|_| ()),
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    after_form(page, number, result).await
}

#[derive(Deserialize)]
struct ReviewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    comment: String,
}

async fn review_form(page: Page, Path(id): Path<i64>, Form(form): Form<ReviewForm>) -> Response {
    if let Some(refused) = refused(&page, &form.csrf) {
        return refused;
    }
    let number = match store::reports(page.auth.db(), None, Some(id)).await {
        Ok(mut reports) => match reports.pop() {
            Some(report) => report.task,
            None => return ApiError::NotFound(format!("report {id}")).into_response(),
        },
        Err(error) => return ApiError::from(error).into_response(),
    };
    let decision = match form.decision.as_str() {
        "accept" => Decision::Accept,
        _ => Decision::Return,
    };
    let input = ReviewInput {
        decision,
        comment: Some(form.comment),
    };
    let result = http::review_report(page.auth.clone(), Path(id.to_string()), Json(input))
        .await
        .map(|_| ());
    after_form(page, number, result).await
}

async fn provinces(page: Page) -> Result<Response, ApiError> {
    let tasks = store::tasks(page.auth.db(), today(), None).await?;
    let by_province = compute_rollup(&tasks, RollupBy::Province);
    let share_of = |code: JurisdictionCode| {
        by_province
            .iter()
            .find(|r| r.key == code.to_string())
            .and_then(|r| r.counts.healthy_share())
    };
    let map = shaded_region_map(
        page.lang,
        |city| Some(format!("/plan/tasks?jurisdiction={}", city.code.province())),
        |city| share_of(city.code.province()).map(|s| (s, format!("{:.0}%", s * 100.0))),
    );
    let body = html! {
        p.lead { (page.t("plan.provinces_lead")) }
        div.home-grid {
            section.card { (map)
                p.legend { @for (label, share) in [("0%", 0.0), ("50%", 0.5), ("100%", 1.0)] { span.legend-item { span.swatch style=(format!("background: {}", share_colour(share))) {} (label) } } }
            }
            section {
                div.table-wrap { table.data {
                    thead { tr { th { (page.t("plan.province")) } th { (page.t("plan.tasks")) } th { (page.t("plan.healthy_share")) } th.wide { (page.t("plan.status")) } } }
                    tbody { @for row in &by_province {
                        @let code = JurisdictionCode::parse(&row.key).ok();
                        tr {
                            td { @if let Some(code) = code { a href=(format!("/plan/tasks?jurisdiction={code}")) { (name(page.lang, code)) } } }
                            td { (row.counts.total()) }
                            td { (row.counts.healthy_share().map(|s| format!("{:.0}%", s * 100.0)).unwrap_or_default()) }
                            td { (status_bar(&page, &row.counts)) }
                        }
                    } }
                } }
                (legend(&page))
            }
        }
    };
    Ok(page.render(page.t("plan.provinces"), body).into_response())
}

async fn mine(page: Page) -> Response {
    let user = match page.require_login() {
        Ok(user) => user.clone(),
        Err(redirect) => return redirect,
    };
    let obligations = match visible_obligations(&page.auth).await {
        Ok(list) => list,
        Err(ApiError::Forbidden(_)) => return page.forbidden(),
        Err(error) => return error.into_response(),
    };
    let tasks = match store::tasks(page.auth.db(), today(), None).await {
        Ok(tasks) => tasks,
        Err(error) => return ApiError::from(error).into_response(),
    };
    let mine: Vec<TaskView> = tasks
        .into_iter()
        .filter(|t| may(&page.auth, AccessLevel::Write, t, false))
        .collect();
    let rows = html! {
        @for o in &obligations {
            tr {
                td { a href=(format!("/plan/tasks/{}", o.task)) { (o.task) } }
                td { (o.period) }
                td { (page.lang.date(o.due)) }
                td { (badge(if o.state == "overdue" { "overdue" } else { "at-risk" }, page.t(&format!("plan.obligation.{}", o.state)))) }
            }
        }
    };
    let body = html! {
        p.lead { (user.display_name) }
        h2 { (page.t("plan.reports_owed")) " (" (obligations.len()) ")" }
        (table(&[page.t("plan.task"), page.t("plan.period"), page.t("plan.due"), page.t("plan.report_status")], rows))
        h2 { (page.t("plan.my_tasks")) " (" (mine.len()) ")" }
        (task_table(&page, &mine))
    };
    page.render(page.t("plan.mine"), body).into_response()
}

/// The quarterly report: one printed page per aspect.
async fn print(page: Page) -> Result<Response, ApiError> {
    let (summary, tasks) = plan_summary(page.auth.db(), today()).await?;
    let quarter = crate::domain::Period::containing(crate::domain::Cycle::Quarterly, today());
    let body = html! {
        p.lead { (page.t("plan.print_lead")) " " (quarter) " · " (page.lang.date(today())) }
        @for a in &summary.aspects {
            section.print-page {
                h2 { (a.aspect.number) ". " (page.lang.pick(&a.aspect.title_zh, &a.aspect.title_en)) }
                p { @for s in Status::ALL { (page.t(&format!("plan.status.{}", s.as_str()))) " " strong { (a.counts.get(s)) } " · " } (page.t("plan.total")) " " (a.counts.total()) }
                table.data {
                    thead { tr { th { "#" } th { (page.t("plan.task")) } th { (page.t("plan.lead")) } th { (page.t("plan.status")) } th { (page.t("plan.why")) } } }
                    tbody { @for t in tasks.iter().filter(|t| t.aspect == a.aspect.number) { tr {
                        td { (t.number) }
                        td { (page.lang.pick(&t.title_zh, &t.title_en)) }
                        td { (names(page.lang, &t.lead)) }
                        td { (status_badge(&page, t.assessment.status)) }
                        td { @if let Some(r) = t.assessment.reasons.first() { (r.describe(page.lang == Lang::Zh)) } }
                    } } }
                }
            }
        }
    };
    Ok(page.render(page.t("plan.print"), body).into_response())
}

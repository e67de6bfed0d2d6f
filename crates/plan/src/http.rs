//! The plan's JSON API, under `/api/v1/plan`.

use crate::domain::{RollupBy, RollupItem, Status, StatusCounts, rollup};
use crate::service::{self, MODULE, audit, check_period};
use crate::store::{self, Aspect, Flag, Obligation, PlanHeader, Report, TaskView};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use yrd_auth::{Denied, Scopes};
use yrd_db::Db;
use yrd_kernel::time::now_db;
use yrd_kernel::{AccessLevel, JurisdictionCode, ValidationErrors};
use yrd_web::core_api::csv_response;
use yrd_web::{ApiError, ApiResult, ApiRoutes, AppContext, Auth, Doc, Json, Query};

pub use yrd_kernel::time::today;

pub fn routes(_ctx: &AppContext) -> ApiRoutes {
    ApiRoutes::new()
        .get("/", Doc::new("The plan, its aspects and task counts by status").response::<PlanSummary>().public(), summary)
        .get(
            "/tasks",
            Doc::new("List key tasks with their status")
                .describe("Filters combine. `format=csv` gives CSV. Public: the published fields of every task.")
                .query::<TaskQuery>()
                .response::<Vec<TaskView>>()
                .public(),
            list_tasks,
        )
        .get("/tasks/{number}", Doc::new("One key task: milestones, KPIs and why it has its status").response::<TaskView>().public(), get_task)
        .patch(
            "/tasks/{number}",
            Doc::new("Change a task's description, agency or dates")
                .describe("Needs `plan` write in a jurisdiction that leads or joins the task.")
                .body::<TaskPatch>()
                .response::<TaskView>(),
            patch_task,
        )
        .put(
            "/tasks/{number}/milestones/{seq}",
            Doc::new("Mark a milestone done (or not), with evidence").body::<MilestoneUpdate>().response::<TaskView>(),
            put_milestone,
        )
        .post(
            "/tasks/{number}/kpis/{key}/values",
            Doc::new("Record a KPI value (KPIs with a manual source)").body::<KpiValueInput>().response::<TaskView>(),
            post_kpi_value,
        )
        .get(
            "/tasks/{number}/kpis/{key}/history",
            Doc::new("A KPI's recorded values, oldest first").response::<Vec<KpiPoint>>().public(),
            kpi_history,
        )
        .get("/tasks/{number}/reports", Doc::new("Progress reports of a task").response::<Vec<Report>>(), list_reports)
        .post(
            "/tasks/{number}/reports",
            Doc::new("Write a progress report (draft, or submitted at once)")
                .describe("Evidence files travel base64-encoded and are stored with their SHA-256.")
                .body::<ReportInput>()
                .created::<Report>(),
            create_report,
        )
        .post("/reports/{id}/submit", Doc::new("Submit a draft or returned report").response::<Report>(), submit_report)
        .post(
            "/reports/{id}/review",
            Doc::new("Accept a submitted report, or return it with comments")
                .describe("Needs `plan` approve over a lead jurisdiction of the task (the coordination office: the whole region).")
                .body::<ReviewInput>()
                .response::<Report>(),
            review_report,
        )
        .get("/tasks/{number}/flags", Doc::new("Risks and blockers of a task").response::<Vec<Flag>>(), list_flags)
        .post("/tasks/{number}/flags", Doc::new("Raise a risk or blocker").body::<FlagInput>().created::<Flag>(), create_flag)
        .post("/flags/{id}/close", Doc::new("Close a risk or blocker").response::<Flag>(), close_flag)
        .get(
            "/rollups",
            Doc::new("Task counts by status, by aspect, province, city or module tag").query::<RollupQuery>().response::<Vec<RollupRow>>().public(),
            rollups,
        )
        .get(
            "/obligations",
            Doc::new("Progress reports due or overdue, within the caller's scope").response::<Vec<Obligation>>(),
            list_obligations,
        )
        .get("/export", Doc::new("The plan as a plan file (TOML)").produces("application/toml"), export)
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PlanSummary {
    pub plan: Option<PlanHeader>,
    pub aspects: Vec<AspectSummary>,
    pub total: StatusCounts,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AspectSummary {
    #[serde(flatten)]
    pub aspect: Aspect,
    pub counts: StatusCounts,
}

pub async fn plan_summary(db: &Db, today: NaiveDate) -> ApiResult<(PlanSummary, Vec<TaskView>)> {
    let tasks = store::tasks(db, today, None).await?;
    let mut total = StatusCounts::default();
    let aspects = store::aspects(db)
        .await?
        .into_iter()
        .map(|aspect| {
            let mut counts = StatusCounts::default();
            for task in tasks.iter().filter(|t| t.aspect == aspect.number) {
                counts.add(task.assessment.status);
                total.add(task.assessment.status);
            }
            AspectSummary { aspect, counts }
        })
        .collect();
    Ok((
        PlanSummary {
            plan: store::header(db).await?,
            aspects,
            total,
        },
        tasks,
    ))
}

async fn summary(auth: Auth) -> ApiResult<axum::Json<PlanSummary>> {
    Ok(axum::Json(plan_summary(auth.db(), today()).await?.0))
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskQuery {
    pub aspect: Option<i64>,
    /// not_started, on_track, at_risk, overdue or done
    pub status: Option<Status>,
    /// Tasks led or joined by a jurisdiction inside this code's area.
    pub jurisdiction: Option<JurisdictionCode>,
    /// A module tag, e.g. `health`.
    pub tag: Option<String>,
    /// Due on or before this date (YYYY-MM-DD).
    pub due_before: Option<NaiveDate>,
    /// `json` (default) or `csv`.
    pub format: Option<yrd_web::core_api::Format>,
}

pub fn filter_tasks(tasks: Vec<TaskView>, query: &TaskQuery) -> Vec<TaskView> {
    tasks
        .into_iter()
        .filter(|t| query.aspect.is_none_or(|a| t.aspect == a))
        .filter(|t| query.status.is_none_or(|s| t.assessment.status == s))
        .filter(|t| {
            query
                .jurisdiction
                .is_none_or(|j| t.jurisdictions().iter().any(|c| j.scope().covers(*c)))
        })
        .filter(|t| query.tag.as_ref().is_none_or(|tag| t.tags.contains(tag)))
        .filter(|t| query.due_before.is_none_or(|d| t.due <= d))
        .collect()
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

pub fn tasks_csv(tasks: &[TaskView]) -> String {
    let mut out = String::from(
        "number,aspect,status,title_zh,title_en,lead,participants,start,due,percent_complete,tags,illustrative\n",
    );
    let codes = |list: &[JurisdictionCode]| list.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ");
    for t in tasks {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{}\n",
            t.number,
            t.aspect,
            t.assessment.status,
            csv_field(&t.title_zh),
            csv_field(&t.title_en),
            codes(&t.lead),
            codes(&t.participants),
            t.start,
            t.due,
            t.percent_complete.map(|p| p.to_string()).unwrap_or_default(),
            t.tags.join(" "),
            t.illustrative
        ));
    }
    out
}

async fn list_tasks(auth: Auth, Query(query): Query<TaskQuery>) -> ApiResult<Response> {
    let tasks = filter_tasks(store::tasks(auth.db(), today(), None).await?, &query);
    Ok(match query.format {
        Some(yrd_web::core_api::Format::Csv) => csv_response("plan-tasks.csv", tasks_csv(&tasks)),
        _ => axum::Json(tasks).into_response(),
    })
}

fn parse_number(text: &str) -> ApiResult<i64> {
    text.parse()
        .map_err(|_| ApiError::bad_request("number", "a task number is a whole number"))
}

pub async fn load_task(db: &Db, number: i64) -> ApiResult<TaskView> {
    store::tasks(db, today(), Some(number))
        .await?
        .pop()
        .ok_or_else(|| ApiError::NotFound(format!("task {number}")))
}

async fn get_task(auth: Auth, Path(number): Path<String>) -> ApiResult<axum::Json<TaskView>> {
    Ok(axum::Json(load_task(auth.db(), parse_number(&number)?).await?))
}

/// Whether the caller holds `level` over a jurisdiction of the task: any lead or
/// participant, or only the leads (`leads_only`, for approvals).
pub fn may(auth: &Auth, level: AccessLevel, task: &TaskView, leads_only: bool) -> bool {
    let codes = if leads_only {
        task.lead.clone()
    } else {
        task.jurisdictions()
    };
    codes.iter().any(|c| auth.principal.allows(MODULE, level, Some(*c)))
}

/// Refuses (and audits) unless [`may`]; the refusal is recorded under the first lead.
pub async fn require_task(auth: &Auth, level: AccessLevel, task: &TaskView, leads_only: bool) -> ApiResult<()> {
    if may(auth, level, task, leads_only) {
        return Ok(());
    }
    Err(auth
        .deny(Denied {
            actor: auth.actor(),
            module: MODULE.into(),
            level,
            jurisdiction: task.lead.first().copied(),
        })
        .await)
}

/// Audits a change the caller made with their write grant on the task, under the
/// jurisdiction they acted for.
async fn audit_write(
    tx: &mut yrd_db::Tx,
    auth: &Auth,
    task: &TaskView,
    action: &str,
    entity: String,
    detail: serde_json::Value,
) -> Result<(), yrd_db::DbError> {
    audit(
        tx,
        &auth.actor(),
        action,
        entity,
        acting_for(auth, AccessLevel::Write, task),
        detail,
    )
    .await
}

/// The first of the task's jurisdictions the caller may act for at `level`.
fn acting_for(auth: &Auth, level: AccessLevel, task: &TaskView) -> Option<JurisdictionCode> {
    task.jurisdictions()
        .into_iter()
        .find(|c| auth.principal.allows(MODULE, level, Some(*c)))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskPatch {
    pub description_zh: Option<String>,
    pub description_en: Option<String>,
    pub lead_agency: Option<String>,
    pub start: Option<NaiveDate>,
    pub due: Option<NaiveDate>,
}

async fn patch_task(
    auth: Auth,
    Path(number): Path<String>,
    Json(patch): Json<TaskPatch>,
) -> ApiResult<axum::Json<TaskView>> {
    let task = load_task(auth.db(), parse_number(&number)?).await?;
    require_task(&auth, AccessLevel::Write, &task, false).await?;
    let header = store::header(auth.db())
        .await?
        .ok_or_else(|| ApiError::NotFound("plan".into()))?;
    let mut errors = ValidationErrors::new();
    let start = patch.start.unwrap_or(task.start);
    let due = patch.due.unwrap_or(task.due);
    for (field, date) in [("start", start), ("due", due)] {
        if date < header.start || date > header.end {
            errors.add(
                field,
                format!("{date} is outside the plan period {} – {}", header.start, header.end),
            );
        }
    }
    if start > due {
        errors.add("due", format!("{due} is before the start {start}"));
    }
    for (field, value) in [
        ("description_zh", &patch.description_zh),
        ("description_en", &patch.description_en),
        ("lead_agency", &patch.lead_agency),
    ] {
        if value.as_ref().is_some_and(|v| v.chars().count() > 2000) {
            errors.add(field, "at most 2000 characters");
        }
    }
    errors.into_result()?;
    let mut tx = auth.db().begin().await?;
    sqlx::query(
        "UPDATE plan_tasks SET description_zh = $1, description_en = $2, lead_agency = $3, start_date = $4, due_date = $5, \
         updated_at = $6 WHERE number = $7",
    )
    .bind(patch.description_zh.as_deref().unwrap_or(&task.description_zh).trim())
    .bind(patch.description_en.as_deref().unwrap_or(&task.description_en).trim())
    .bind(patch.lead_agency.as_deref().unwrap_or(&task.lead_agency).trim())
    .bind(start.to_string())
    .bind(due.to_string())
    .bind(now_db())
    .bind(task.number)
    .execute(tx.conn())
    .await?;
    let detail = json!({"description_zh": patch.description_zh, "description_en": patch.description_en,
        "lead_agency": patch.lead_agency, "start": patch.start, "due": patch.due});
    audit(
        &mut tx,
        &auth.actor(),
        "task.update",
        format!("task:{}", task.number),
        task.lead.first().copied(),
        detail,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(load_task(auth.db(), task.number).await?))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MilestoneUpdate {
    /// The day it was done; null: not done.
    pub done: Option<NaiveDate>,
    /// What shows it was done (a document number, a link).
    pub evidence: Option<String>,
}

pub(crate) async fn put_milestone(
    auth: Auth,
    Path((number, seq)): Path<(String, String)>,
    Json(update): Json<MilestoneUpdate>,
) -> ApiResult<axum::Json<TaskView>> {
    let task = load_task(auth.db(), parse_number(&number)?).await?;
    require_task(&auth, AccessLevel::Write, &task, false).await?;
    let seq: i64 = seq
        .parse()
        .map_err(|_| ApiError::bad_request("seq", "a milestone number"))?;
    if !task.milestones.iter().any(|m| m.seq == seq) {
        return Err(ApiError::NotFound(format!("milestone {seq} of task {}", task.number)));
    }
    let mut errors = ValidationErrors::new();
    if update.done.is_some_and(|d| d > today()) {
        errors.add("done", "cannot be in the future");
    }
    if update.done.is_some() && update.evidence.as_deref().is_none_or(|e| e.trim().is_empty()) {
        errors.add("evidence", "say what shows the milestone was done");
    }
    errors.into_result()?;
    let mut tx = auth.db().begin().await?;
    sqlx::query("UPDATE plan_milestones SET done_date = $1, evidence = $2 WHERE seq = $3 AND task_id = (SELECT id FROM plan_tasks WHERE number = $4)")
        .bind(update.done.map(|d| d.to_string()))
        .bind(update.evidence.as_deref().map(str::trim))
        .bind(seq)
        .bind(task.number)
        .execute(tx.conn())
        .await?;
    let detail = json!({"seq": seq, "done": update.done, "evidence": update.evidence});
    audit_write(
        &mut tx,
        &auth,
        &task,
        "milestone.update",
        format!("task:{}", task.number),
        detail,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(load_task(auth.db(), task.number).await?))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KpiValueInput {
    /// The day the value was measured.
    pub on: NaiveDate,
    pub value: f64,
}

pub(crate) async fn post_kpi_value(
    auth: Auth,
    Path((number, key)): Path<(String, String)>,
    Json(input): Json<KpiValueInput>,
) -> ApiResult<axum::Json<TaskView>> {
    let task = load_task(auth.db(), parse_number(&number)?).await?;
    require_task(&auth, AccessLevel::Write, &task, false).await?;
    let kpi = task
        .kpis
        .iter()
        .find(|k| k.key == key)
        .ok_or_else(|| ApiError::NotFound(format!("KPI '{key}' of task {}", task.number)))?;
    let mut errors = ValidationErrors::new();
    if kpi.source != crate::domain::KpiSource::Manual {
        errors.add(
            "value",
            "this KPI is read live from another module; it takes no manual values",
        );
    }
    if !input.value.is_finite() {
        errors.add("value", "a finite number");
    }
    if input.on > today() || input.on < task.start {
        errors.add("on", format!("between the task's start {} and today", task.start));
    }
    errors.into_result()?;
    let mut tx = auth.db().begin().await?;
    let kpi_id: i64 = sqlx::query(
        "SELECT k.id FROM plan_kpis k JOIN plan_tasks t ON t.id = k.task_id WHERE t.number = $1 AND k.key = $2",
    )
    .bind(task.number)
    .bind(&key)
    .fetch_one(tx.conn())
    .await?
    .get(0);
    sqlx::query("DELETE FROM plan_kpi_values WHERE kpi_id = $1 AND on_date = $2")
        .bind(kpi_id)
        .bind(input.on.to_string())
        .execute(tx.conn())
        .await?;
    sqlx::query(
        "INSERT INTO plan_kpi_values (kpi_id, on_date, value, source, recorded_by) VALUES ($1, $2, $3, 'manual', $4)",
    )
    .bind(kpi_id)
    .bind(input.on.to_string())
    .bind(input.value)
    .bind(auth.actor())
    .execute(tx.conn())
    .await?;
    let detail = json!({"kpi": key, "on": input.on, "value": input.value});
    audit_write(
        &mut tx,
        &auth,
        &task,
        "kpi.value",
        format!("task:{}", task.number),
        detail,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(load_task(auth.db(), task.number).await?))
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct KpiPoint {
    pub on: NaiveDate,
    pub value: f64,
}

async fn kpi_history(auth: Auth, Path((number, key)): Path<(String, String)>) -> ApiResult<axum::Json<Vec<KpiPoint>>> {
    let task = load_task(auth.db(), parse_number(&number)?).await?;
    if !task.kpis.iter().any(|k| k.key == key) {
        return Err(ApiError::NotFound(format!("KPI '{key}' of task {}", task.number)));
    }
    let points = store::kpi_history(auth.db(), task.number, &key).await?;
    Ok(axum::Json(
        points.into_iter().map(|(on, value)| KpiPoint { on, value }).collect(),
    ))
}

async fn list_reports(auth: Auth, Path(number): Path<String>) -> ApiResult<axum::Json<Vec<Report>>> {
    let task = load_task(auth.db(), parse_number(&number)?).await?;
    require_task(&auth, AccessLevel::Read, &task, false).await?;
    let reports = store::reports(auth.db(), Some(task.number), None).await?;
    Ok(axum::Json(
        reports
            .into_iter()
            .filter(|r| report_visible(&auth.principal, r))
            .collect(),
    ))
}

/// A draft is its reporting jurisdiction's own until it is submitted.
pub(crate) fn report_visible(principal: &yrd_auth::Principal, report: &Report) -> bool {
    report.status != "draft"
        || JurisdictionCode::parse(&report.jurisdiction)
            .is_ok_and(|c| principal.allows(MODULE, AccessLevel::Write, Some(c)))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportInput {
    /// `2026-Q3` for quarterly tasks, `2026-09` for monthly ones.
    pub period: String,
    pub percent_complete: i64,
    pub narrative_zh: String,
    pub narrative_en: String,
    #[serde(default)]
    pub evidence: Vec<EvidenceInput>,
    /// Submit at once (default) or keep as a draft.
    #[serde(default = "yes")]
    pub submit: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceInput {
    pub name: String,
    pub media_type: String,
    /// The file, base64-encoded.
    pub content_base64: String,
}

pub const MAX_EVIDENCE_BYTES: usize = 512 * 1024;

pub(crate) async fn create_report(
    auth: Auth,
    Path(number): Path<String>,
    Json(input): Json<ReportInput>,
) -> ApiResult<(StatusCode, axum::Json<Report>)> {
    let task = load_task(auth.db(), parse_number(&number)?).await?;
    require_task(&auth, AccessLevel::Write, &task, false).await?;
    let mut errors = ValidationErrors::new();
    let period = check_period(&task, &input.period, &mut errors);
    if !(0..=100).contains(&input.percent_complete) {
        errors.add("percent_complete", "between 0 and 100");
    }
    for (field, text) in [
        ("narrative_zh", &input.narrative_zh),
        ("narrative_en", &input.narrative_en),
    ] {
        let chars = text.trim().chars().count();
        if chars == 0 || chars > 5000 {
            errors.add(field, "1 to 5000 characters");
        }
    }
    let mut files = Vec::new();
    for (i, file) in input.evidence.iter().enumerate() {
        if file.name.trim().is_empty() || file.name.len() > 200 {
            errors.add(format!("evidence/{i}/name"), "1 to 200 characters");
        }
        if !file.media_type.contains('/') {
            errors.add(
                format!("evidence/{i}/media_type"),
                "a media type such as application/pdf",
            );
        }
        match base64::engine::general_purpose::STANDARD.decode(file.content_base64.as_bytes()) {
            Ok(bytes) if bytes.is_empty() || bytes.len() > MAX_EVIDENCE_BYTES => errors.add(
                format!("evidence/{i}/content_base64"),
                format!("1 byte to {} KiB", MAX_EVIDENCE_BYTES / 1024),
            ),
            Ok(bytes) => files.push((file, bytes)),
            Err(_) => errors.add(format!("evidence/{i}/content_base64"), "not valid base64"),
        }
    }
    let Some(period) = period else {
        return Err(errors.into());
    };
    errors.into_result()?;
    let duplicate = sqlx::query("SELECT COUNT(*) FROM plan_reports r JOIN plan_tasks t ON t.id = r.task_id WHERE t.number = $1 AND r.period = $2 AND r.status IN ('submitted', 'accepted')")
        .bind(task.number)
        .bind(period.to_string())
        .fetch_one(auth.db().pool())
        .await?
        .get::<i64, _>(0);
    if duplicate > 0 {
        return Err(ApiError::Conflict(format!(
            "a report for {period} is already submitted"
        )));
    }
    let jurisdiction = acting_for(&auth, AccessLevel::Write, &task).expect("checked above");
    let now = now_db();
    let status = if input.submit { "submitted" } else { "draft" };
    let mut tx = auth.db().begin().await?;
    let task_id = service::task_id(&mut tx, task.number)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("task {}", task.number)))?;
    let id: i64 = sqlx::query(
        "INSERT INTO plan_reports (task_id, period, period_end, jurisdiction, reporter, percent_complete, narrative_zh, \
         narrative_en, status, created_at, submitted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(task_id)
    .bind(period.to_string())
    .bind(period.end().to_string())
    .bind(jurisdiction.to_string())
    .bind(auth.actor())
    .bind(input.percent_complete)
    .bind(input.narrative_zh.trim())
    .bind(input.narrative_en.trim())
    .bind(status)
    .bind(&now)
    .bind(input.submit.then_some(now.clone()))
    .fetch_one(tx.conn())
    .await?
    .get(0);
    let mut digests = Vec::new();
    for (file, bytes) in &files {
        let sha256 = yrd_audit::sha256_hex(bytes);
        sqlx::query("INSERT INTO plan_report_evidence (report_id, name, media_type, sha256, size_bytes, content) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(id)
            .bind(file.name.trim())
            .bind(&file.media_type)
            .bind(&sha256)
            .bind(bytes.len() as i64)
            .bind(bytes.clone())
            .execute(tx.conn())
            .await?;
        digests.push(json!({"name": file.name, "sha256": sha256}));
    }
    let detail =
        json!({"period": period.to_string(), "percent": input.percent_complete, "status": status, "evidence": digests});
    audit(
        &mut tx,
        &auth.actor(),
        "report.create",
        format!("report:{id}"),
        Some(jurisdiction),
        detail,
    )
    .await?;
    tx.commit().await?;
    let report = store::reports(auth.db(), None, Some(id))
        .await?
        .pop()
        .ok_or_else(|| ApiError::internal("report vanished"))?;
    Ok((StatusCode::CREATED, axum::Json(report)))
}

async fn load_report(db: &Db, id: &str) -> ApiResult<Report> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad_request("id", "a report id is a number"))?;
    store::reports(db, None, Some(id))
        .await?
        .pop()
        .ok_or_else(|| ApiError::NotFound(format!("report {id}")))
}

async fn set_report_status(
    auth: &Auth,
    report: &Report,
    status: &str,
    comment: Option<&str>,
    action: &str,
) -> ApiResult<Report> {
    let now = now_db();
    let mut tx = auth.db().begin().await?;
    let sql = if status == "submitted" {
        "UPDATE plan_reports SET status = $1, submitted_at = $2, review_comment = COALESCE($3, review_comment) WHERE id = $4"
    } else {
        "UPDATE plan_reports SET status = $1, reviewed_at = $2, review_comment = $3, reviewed_by = $5 WHERE id = $4"
    };
    sqlx::query(sql)
        .bind(status)
        .bind(&now)
        .bind(comment)
        .bind(report.id)
        .bind(auth.actor())
        .execute(tx.conn())
        .await?;
    let jurisdiction = JurisdictionCode::parse(&report.jurisdiction).ok();
    let detail = json!({"from": report.status, "to": status, "comment": comment});
    audit(
        &mut tx,
        &auth.actor(),
        action,
        format!("report:{}", report.id),
        jurisdiction,
        detail,
    )
    .await?;
    tx.commit().await?;
    store::reports(auth.db(), None, Some(report.id))
        .await?
        .pop()
        .ok_or_else(|| ApiError::internal("report vanished"))
}

async fn submit_report(auth: Auth, Path(id): Path<String>) -> ApiResult<axum::Json<Report>> {
    let report = load_report(auth.db(), &id).await?;
    let task = load_task(auth.db(), report.task).await?;
    require_task(&auth, AccessLevel::Write, &task, false).await?;
    // Only the jurisdiction that wrote the report submits it.
    let jurisdiction = JurisdictionCode::parse(&report.jurisdiction).map_err(ApiError::internal)?;
    auth.require(MODULE, AccessLevel::Write, Some(jurisdiction)).await?;
    if !matches!(report.status.as_str(), "draft" | "returned") {
        return Err(ApiError::Conflict(format!(
            "report {} is {}; only drafts and returned reports are submitted",
            report.id, report.status
        )));
    }
    Ok(axum::Json(
        set_report_status(&auth, &report, "submitted", None, "report.submit").await?,
    ))
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Accept,
    Return,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewInput {
    pub decision: Decision,
    /// Required when returning a report.
    pub comment: Option<String>,
}

pub(crate) async fn review_report(
    auth: Auth,
    Path(id): Path<String>,
    Json(input): Json<ReviewInput>,
) -> ApiResult<axum::Json<Report>> {
    let report = load_report(auth.db(), &id).await?;
    let task = load_task(auth.db(), report.task).await?;
    require_task(&auth, AccessLevel::Approve, &task, true).await?;
    if report.status != "submitted" {
        return Err(ApiError::Conflict(format!(
            "report {} is {}; only submitted reports are reviewed",
            report.id, report.status
        )));
    }
    let comment = input.comment.as_deref().map(str::trim).filter(|c| !c.is_empty());
    if matches!(input.decision, Decision::Return) && comment.is_none() {
        return Err(ApiError::invalid("comment", "say why the report is returned"));
    }
    if comment.is_some_and(|c| c.chars().count() > 2000) {
        return Err(ApiError::invalid("comment", "at most 2000 characters"));
    }
    let (status, action) = match input.decision {
        Decision::Accept => ("accepted", "report.accept"),
        Decision::Return => ("returned", "report.return"),
    };
    Ok(axum::Json(
        set_report_status(&auth, &report, status, comment, action).await?,
    ))
}

async fn list_flags(auth: Auth, Path(number): Path<String>) -> ApiResult<axum::Json<Vec<Flag>>> {
    let task = load_task(auth.db(), parse_number(&number)?).await?;
    require_task(&auth, AccessLevel::Read, &task, false).await?;
    Ok(axum::Json(store::flags(auth.db(), Some(task.number)).await?))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagInput {
    /// `risk` or `blocker`.
    pub kind: String,
    pub description: String,
    /// Who deals with it (a person or an office).
    pub owner: String,
}

async fn create_flag(
    auth: Auth,
    Path(number): Path<String>,
    Json(input): Json<FlagInput>,
) -> ApiResult<(StatusCode, axum::Json<Flag>)> {
    let task = load_task(auth.db(), parse_number(&number)?).await?;
    require_task(&auth, AccessLevel::Write, &task, false).await?;
    let mut errors = ValidationErrors::new();
    if !matches!(input.kind.as_str(), "risk" | "blocker") {
        errors.add("kind", "risk or blocker");
    }
    for (field, text, max) in [("description", &input.description, 2000), ("owner", &input.owner, 200)] {
        let chars = text.trim().chars().count();
        if chars == 0 || chars > max {
            errors.add(field, format!("1 to {max} characters"));
        }
    }
    errors.into_result()?;
    let mut tx = auth.db().begin().await?;
    let task_id = service::task_id(&mut tx, task.number)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("task {}", task.number)))?;
    let id: i64 = sqlx::query("INSERT INTO plan_flags (task_id, kind, description, owner, status, created_at) VALUES ($1, $2, $3, $4, 'open', $5) RETURNING id")
        .bind(task_id)
        .bind(&input.kind)
        .bind(input.description.trim())
        .bind(input.owner.trim())
        .bind(now_db())
        .fetch_one(tx.conn())
        .await?
        .get(0);
    let detail = json!({"kind": input.kind, "description": input.description.trim(), "owner": input.owner.trim()});
    audit_write(&mut tx, &auth, &task, "flag.create", format!("flag:{id}"), detail).await?;
    tx.commit().await?;
    let flag = store::flags(auth.db(), Some(task.number))
        .await?
        .into_iter()
        .find(|f| f.id == id)
        .ok_or_else(|| ApiError::internal("flag vanished"))?;
    Ok((StatusCode::CREATED, axum::Json(flag)))
}

async fn close_flag(auth: Auth, Path(id): Path<String>) -> ApiResult<axum::Json<Flag>> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad_request("id", "a flag id is a number"))?;
    let flag = store::flags(auth.db(), None)
        .await?
        .into_iter()
        .find(|f| f.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("flag {id}")))?;
    let task = load_task(auth.db(), flag.task).await?;
    require_task(&auth, AccessLevel::Write, &task, false).await?;
    if flag.status == "closed" {
        return Err(ApiError::Conflict(format!("flag {id} is already closed")));
    }
    let mut tx = auth.db().begin().await?;
    sqlx::query("UPDATE plan_flags SET status = 'closed', closed_at = $1 WHERE id = $2")
        .bind(now_db())
        .bind(id)
        .execute(tx.conn())
        .await?;
    audit_write(&mut tx, &auth, &task, "flag.close", format!("flag:{id}"), json!({})).await?;
    tx.commit().await?;
    let flag = store::flags(auth.db(), Some(task.number))
        .await?
        .into_iter()
        .find(|f| f.id == id)
        .ok_or_else(|| ApiError::internal("flag vanished"))?;
    Ok(axum::Json(flag))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RollupQuery {
    /// aspect, province, city or tag
    pub by: RollupBy,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RollupRow {
    pub key: String,
    pub counts: StatusCounts,
}

pub fn compute_rollup(tasks: &[TaskView], by: RollupBy) -> Vec<RollupRow> {
    let codes: Vec<Vec<JurisdictionCode>> = tasks.iter().map(TaskView::jurisdictions).collect();
    let items = tasks.iter().zip(&codes).map(|(t, c)| RollupItem {
        aspect: t.aspect,
        jurisdictions: c,
        tags: &t.tags,
        status: t.assessment.status,
    });
    rollup(items, by)
        .into_iter()
        .map(|(key, counts)| RollupRow { key, counts })
        .collect()
}

async fn rollups(auth: Auth, Query(query): Query<RollupQuery>) -> ApiResult<axum::Json<Vec<RollupRow>>> {
    let tasks = store::tasks(auth.db(), today(), None).await?;
    Ok(axum::Json(compute_rollup(&tasks, query.by)))
}

/// Reports owed by tasks the caller may write for (a department's to-do list).
pub async fn visible_obligations(auth: &Auth) -> ApiResult<Vec<Obligation>> {
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
    let tasks = store::tasks(auth.db(), today(), None).await?;
    let visible: std::collections::HashSet<i64> = tasks
        .iter()
        .filter(|t| t.jurisdictions().iter().any(|c| scopes.covers(*c)))
        .map(|t| t.number)
        .collect();
    Ok(store::obligations(auth.db())
        .await?
        .into_iter()
        .filter(|o| visible.contains(&o.task))
        .collect())
}

async fn list_obligations(auth: Auth) -> ApiResult<axum::Json<Vec<Obligation>>> {
    Ok(axum::Json(visible_obligations(&auth).await?))
}

async fn export(auth: Auth) -> ApiResult<Response> {
    auth.require(MODULE, AccessLevel::Read, None).await?;
    let file = service::export(auth.db(), today())
        .await?
        .ok_or_else(|| ApiError::NotFound("no plan imported yet".into()))?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/toml; charset=utf-8")],
        crate::planfile::render(&file),
    )
        .into_response())
}

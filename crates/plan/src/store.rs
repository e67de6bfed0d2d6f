//! Reading the plan: every task with its facts in a fixed handful of queries.

use crate::domain::{Assessment, Cycle, Direction, Kpi, KpiSource, Milestone, TaskFacts, assess};
use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::Serialize;
use sqlx::Row;
use std::collections::HashMap;
use yrd_db::{Db, DbError};
use yrd_kernel::JurisdictionCode;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PlanHeader {
    pub id: String,
    pub name_zh: String,
    pub name_en: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub source: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Aspect {
    pub number: i64,
    pub title_zh: String,
    pub title_en: String,
    pub planned_tasks: Option<i64>,
}

/// A task with everything its pages and its status need.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TaskView {
    #[serde(skip)]
    pub id: i64,
    pub number: i64,
    pub aspect: i64,
    pub title_zh: String,
    pub title_en: String,
    pub description_zh: String,
    pub description_en: String,
    pub lead: Vec<JurisdictionCode>,
    pub participants: Vec<JurisdictionCode>,
    pub lead_agency: String,
    pub start: NaiveDate,
    pub due: NaiveDate,
    pub reporting: Cycle,
    pub tags: Vec<String>,
    pub provenance: String,
    /// A demonstration task, not from the published plan.
    pub illustrative: bool,
    pub milestones: Vec<Milestone>,
    pub kpis: Vec<Kpi>,
    /// Percent complete of the latest accepted report.
    pub percent_complete: Option<i64>,
    /// The latest period with a submitted or accepted report.
    pub last_reported_period: Option<String>,
    pub assessment: Assessment,
}

impl TaskView {
    pub fn jurisdictions(&self) -> Vec<JurisdictionCode> {
        self.lead.iter().chain(&self.participants).copied().collect()
    }
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap_or_default()
}

fn opt_date(text: Option<String>) -> Option<NaiveDate> {
    text.as_deref().map(date)
}

pub async fn header(db: &Db) -> Result<Option<PlanHeader>, DbError> {
    let row = sqlx::query("SELECT id, name_zh, name_en, start_date, end_date, source FROM plan_info")
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|r| PlanHeader {
        id: r.get(0),
        name_zh: r.get(1),
        name_en: r.get(2),
        start: date(&r.get::<String, _>(3)),
        end: date(&r.get::<String, _>(4)),
        source: r.get(5),
    }))
}

pub async fn aspects(db: &Db) -> Result<Vec<Aspect>, DbError> {
    let rows = sqlx::query("SELECT number, title_zh, title_en, planned_tasks FROM plan_aspects ORDER BY number")
        .fetch_all(db.pool())
        .await?;
    Ok(rows
        .iter()
        .map(|r| Aspect {
            number: r.get(0),
            title_zh: r.get(1),
            title_en: r.get(2),
            planned_tasks: r.get(3),
        })
        .collect())
}

/// Every task (or the one numbered `only`), assessed on `today`.
pub async fn tasks(db: &Db, today: NaiveDate, only: Option<i64>) -> Result<Vec<TaskView>, DbError> {
    let filter = only.map_or(String::new(), |n| format!(" WHERE t.number = {n}"));
    let task_filter = only.map_or(String::new(), |n| {
        format!(" WHERE task_id IN (SELECT id FROM plan_tasks WHERE number = {n})")
    });
    let rows = sqlx::query(&format!(
        "SELECT t.id, t.number, t.aspect, t.title_zh, t.title_en, t.description_zh, t.description_en, t.lead_agency, \
         t.start_date, t.due_date, t.reporting, t.provenance, t.illustrative FROM plan_tasks t{filter} ORDER BY t.number"
    ))
    .fetch_all(db.pool())
    .await?;

    let mut lead: HashMap<i64, Vec<JurisdictionCode>> = HashMap::new();
    let mut participants: HashMap<i64, Vec<JurisdictionCode>> = HashMap::new();
    for r in sqlx::query(&format!(
        "SELECT task_id, jurisdiction, role FROM plan_task_jurisdictions{task_filter} ORDER BY jurisdiction"
    ))
    .fetch_all(db.pool())
    .await?
    {
        let Ok(code) = JurisdictionCode::parse(&r.get::<String, _>(1)) else {
            continue;
        };
        let list = if r.get::<String, _>(2) == "lead" {
            &mut lead
        } else {
            &mut participants
        };
        list.entry(r.get(0)).or_default().push(code);
    }
    let mut tags: HashMap<i64, Vec<String>> = HashMap::new();
    for r in sqlx::query(&format!(
        "SELECT task_id, tag FROM plan_task_tags{task_filter} ORDER BY tag"
    ))
    .fetch_all(db.pool())
    .await?
    {
        tags.entry(r.get(0)).or_default().push(r.get(1));
    }
    let mut milestones: HashMap<i64, Vec<Milestone>> = HashMap::new();
    for r in sqlx::query(&format!(
        "SELECT task_id, seq, title_zh, title_en, due_date, done_date, evidence FROM plan_milestones{task_filter} ORDER BY seq"
    ))
    .fetch_all(db.pool())
    .await?
    {
        milestones.entry(r.get(0)).or_default().push(Milestone {
            seq: r.get(1),
            title_zh: r.get(2),
            title_en: r.get(3),
            due: date(&r.get::<String, _>(4)),
            done: opt_date(r.get(5)),
            evidence: r.get(6),
        });
    }
    let mut kpis: HashMap<i64, Vec<Kpi>> = HashMap::new();
    for r in sqlx::query(&format!(
        "SELECT k.task_id, k.key, k.name_zh, k.name_en, k.unit, k.baseline, k.target, k.direction, k.due_date, k.source, \
         v.on_date, v.value FROM plan_kpis k LEFT JOIN plan_kpi_values v ON v.kpi_id = k.id \
         AND v.on_date = (SELECT MAX(on_date) FROM plan_kpi_values WHERE kpi_id = k.id){} ORDER BY k.key",
        only.map_or(String::new(), |n| format!(" WHERE k.task_id IN (SELECT id FROM plan_tasks WHERE number = {n})"))
    ))
    .fetch_all(db.pool())
    .await?
    {
        let latest = r.get::<Option<String>, _>(10).map(|d| (date(&d), r.get::<f64, _>(11)));
        kpis.entry(r.get(0)).or_default().push(Kpi {
            key: r.get(1),
            name_zh: r.get(2),
            name_en: r.get(3),
            unit: r.get(4),
            baseline: r.get(5),
            target: r.get(6),
            direction: if r.get::<String, _>(7) == "down" { Direction::Down } else { Direction::Up },
            due: date(&r.get::<String, _>(8)),
            source: KpiSource::parse(&r.get::<String, _>(9)).unwrap_or(KpiSource::Manual),
            latest,
        });
    }
    // The latest reported period (submitted or accepted) and the latest accepted percent,
    // one row per task each: the database picks them, so history does not travel.
    let latest = |statuses: &str| {
        format!(
            "SELECT r.task_id, r.period, r.period_end, r.percent_complete FROM plan_reports r \
             WHERE r.status IN ({statuses}) AND r.period_end = (SELECT MAX(x.period_end) FROM plan_reports x \
             WHERE x.task_id = r.task_id AND x.status IN ({statuses})){}",
            only.map_or(String::new(), |n| format!(
                " AND r.task_id IN (SELECT id FROM plan_tasks WHERE number = {n})"
            ))
        )
    };
    let mut reported: HashMap<i64, (String, String)> = HashMap::new();
    for r in sqlx::query(&latest("'submitted', 'accepted'"))
        .fetch_all(db.pool())
        .await?
    {
        reported.insert(r.get(0), (r.get(1), r.get(2)));
    }
    let mut accepted: HashMap<i64, i64> = HashMap::new();
    for r in sqlx::query(&latest("'accepted'")).fetch_all(db.pool()).await? {
        accepted.insert(r.get(0), r.get(3));
    }

    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id: i64 = r.get(0);
        let cycle = Cycle::parse(&r.get::<String, _>(10)).unwrap_or(Cycle::Quarterly);
        let facts = TaskFacts {
            start: date(&r.get::<String, _>(8)),
            due: date(&r.get::<String, _>(9)),
            cycle,
            milestones: milestones.remove(&id).unwrap_or_default(),
            kpis: kpis.remove(&id).unwrap_or_default(),
            last_reported_period_end: reported.get(&id).map(|(_, end)| date(end)),
            accepted_percent: accepted.get(&id).copied(),
        };
        let assessment = assess(&facts, today);
        out.push(TaskView {
            id,
            number: r.get(1),
            aspect: r.get(2),
            title_zh: r.get(3),
            title_en: r.get(4),
            description_zh: r.get(5),
            description_en: r.get(6),
            lead_agency: r.get(7),
            start: facts.start,
            due: facts.due,
            reporting: cycle,
            provenance: r.get(11),
            illustrative: r.get::<i64, _>(12) != 0,
            lead: lead.remove(&id).unwrap_or_default(),
            participants: participants.remove(&id).unwrap_or_default(),
            tags: tags.remove(&id).unwrap_or_default(),
            percent_complete: facts.accepted_percent,
            last_reported_period: reported.get(&id).map(|(p, _)| p.clone()),
            milestones: facts.milestones,
            kpis: facts.kpis,
            assessment,
        });
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Report {
    pub id: i64,
    pub task: i64,
    pub period: String,
    pub jurisdiction: String,
    pub reporter: String,
    pub percent_complete: i64,
    pub narrative_zh: String,
    pub narrative_en: String,
    pub status: String,
    pub review_comment: Option<String>,
    pub reviewed_by: Option<String>,
    pub created_at: String,
    pub submitted_at: Option<String>,
    pub reviewed_at: Option<String>,
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Evidence {
    pub id: i64,
    pub name: String,
    pub media_type: String,
    pub sha256: String,
    pub size_bytes: i64,
}

const REPORT_COLUMNS: &str = "r.id, t.number, r.period, r.jurisdiction, r.reporter, r.percent_complete, r.narrative_zh, \
    r.narrative_en, r.status, r.review_comment, r.reviewed_by, r.created_at, r.submitted_at, r.reviewed_at";

/// Reports of one task (`task`), or one report (`id`), newest period first.
pub async fn reports(db: &Db, task: Option<i64>, id: Option<i64>) -> Result<Vec<Report>, DbError> {
    let mut sql =
        format!("SELECT {REPORT_COLUMNS} FROM plan_reports r JOIN plan_tasks t ON t.id = r.task_id WHERE 1 = 1");
    if let Some(task) = task {
        sql.push_str(&format!(" AND t.number = {task}"));
    }
    if let Some(id) = id {
        sql.push_str(&format!(" AND r.id = {id}"));
    }
    sql.push_str(" ORDER BY r.period_end DESC, r.id DESC");
    let rows = sqlx::query(&sql).fetch_all(db.pool()).await?;
    let mut out: Vec<Report> = rows
        .iter()
        .map(|r| Report {
            id: r.get(0),
            task: r.get(1),
            period: r.get(2),
            jurisdiction: r.get(3),
            reporter: r.get(4),
            percent_complete: r.get(5),
            narrative_zh: r.get(6),
            narrative_en: r.get(7),
            status: r.get(8),
            review_comment: r.get(9),
            reviewed_by: r.get(10),
            created_at: r.get(11),
            submitted_at: r.get(12),
            reviewed_at: r.get(13),
            evidence: Vec::new(),
        })
        .collect();
    if out.is_empty() {
        return Ok(out);
    }
    let ids: Vec<String> = out.iter().map(|r| r.id.to_string()).collect();
    let evidence = sqlx::query(&format!(
        "SELECT report_id, id, name, media_type, sha256, size_bytes FROM plan_report_evidence WHERE report_id IN ({}) ORDER BY id",
        ids.join(",")
    ))
    .fetch_all(db.pool())
    .await?;
    for row in evidence {
        let report: i64 = row.get(0);
        if let Some(r) = out.iter_mut().find(|r| r.id == report) {
            r.evidence.push(Evidence {
                id: row.get(1),
                name: row.get(2),
                media_type: row.get(3),
                sha256: row.get(4),
                size_bytes: row.get(5),
            });
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Flag {
    pub id: i64,
    pub task: i64,
    pub kind: String,
    pub description: String,
    pub owner: String,
    pub status: String,
    pub created_at: String,
    pub closed_at: Option<String>,
}

pub async fn flags(db: &Db, task: Option<i64>) -> Result<Vec<Flag>, DbError> {
    let filter = task.map_or(String::new(), |n| format!(" WHERE t.number = {n}"));
    let rows = sqlx::query(&format!(
        "SELECT f.id, t.number, f.kind, f.description, f.owner, f.status, f.created_at, f.closed_at \
         FROM plan_flags f JOIN plan_tasks t ON t.id = f.task_id{filter} ORDER BY f.status DESC, f.id DESC"
    ))
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .iter()
        .map(|r| Flag {
            id: r.get(0),
            task: r.get(1),
            kind: r.get(2),
            description: r.get(3),
            owner: r.get(4),
            status: r.get(5),
            created_at: r.get(6),
            closed_at: r.get(7),
        })
        .collect())
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Obligation {
    pub task: i64,
    pub period: String,
    pub due: NaiveDate,
    pub state: String,
}

pub async fn obligations(db: &Db) -> Result<Vec<Obligation>, DbError> {
    let rows = sqlx::query(
        "SELECT t.number, o.period, o.due_date, o.state FROM plan_obligations o JOIN plan_tasks t ON t.id = o.task_id \
         WHERE o.state <> 'fulfilled' ORDER BY o.due_date, t.number",
    )
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .iter()
        .map(|r| Obligation {
            task: r.get(0),
            period: r.get(1),
            due: date(&r.get::<String, _>(2)),
            state: r.get(3),
        })
        .collect())
}

/// KPI history: `(date, value)` pairs, oldest first.
pub async fn kpi_history(db: &Db, task: i64, key: &str) -> Result<Vec<(NaiveDate, f64)>, DbError> {
    let rows = sqlx::query(
        "SELECT v.on_date, v.value FROM plan_kpi_values v JOIN plan_kpis k ON k.id = v.kpi_id \
         JOIN plan_tasks t ON t.id = k.task_id WHERE t.number = $1 AND k.key = $2 ORDER BY v.on_date",
    )
    .bind(task)
    .bind(key)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(|r| (date(&r.get::<String, _>(0)), r.get(1))).collect())
}

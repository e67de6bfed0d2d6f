//! Use cases that change the plan. Each one is validated, then written in one
//! transaction together with its audit entry.

use crate::domain::{Cycle, KpiSource, Period, REPORT_GRACE_DAYS};
use crate::planfile::{AspectDef, KpiDef, MilestoneDef, PlanFile, PlanInfo, TaskDef};
use crate::store::{self, TaskView};
use chrono::NaiveDate;
use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use yrd_db::{Db, DbError, Tx};
use yrd_kernel::time::now_db;
use yrd_kernel::{IndicatorSource, JurisdictionCode, ValidationErrors};

pub const MODULE: &str = "plan";

pub async fn audit(
    tx: &mut Tx,
    actor: &str,
    action: &str,
    entity: String,
    jurisdiction: Option<JurisdictionCode>,
    detail: serde_json::Value,
) -> Result<(), DbError> {
    yrd_audit::log(tx, MODULE, actor, action, entity, jurisdiction, detail).await
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    pub aspects: usize,
    pub tasks_created: usize,
    pub tasks_updated: usize,
    pub milestones: usize,
    pub kpis: usize,
    /// Tasks in the database that the file does not mention (kept, not deleted).
    pub tasks_not_in_file: usize,
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} aspects; tasks: {} created, {} updated; {} milestones; {} KPIs",
            self.aspects, self.tasks_created, self.tasks_updated, self.milestones, self.kpis
        )?;
        if self.tasks_not_in_file > 0 {
            write!(
                f,
                "; {} tasks in the database are not in the file and were kept",
                self.tasks_not_in_file
            )?;
        }
        Ok(())
    }
}

fn date_text(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// Imports a validated plan file in one transaction. Re-importing updates what is
/// there and never duplicates: aspects by number, tasks by number, milestones by
/// position, KPIs by key. Progress recorded since (milestones done, values, reports)
/// is kept unless the file states it.
pub async fn import(db: &Db, actor: &str, file: &PlanFile, digest: &str) -> Result<ImportSummary, DbError> {
    let mut tx = db.begin().await?;
    upsert_plan(&mut tx, &file.plan).await?;
    for aspect in &file.aspects {
        upsert_aspect(&mut tx, aspect).await?;
    }
    let mut summary = ImportSummary {
        aspects: file.aspects.len(),
        ..Default::default()
    };
    for task in &file.tasks {
        let (_, created) = upsert_task(&mut tx, task).await?;
        if created {
            summary.tasks_created += 1;
        } else {
            summary.tasks_updated += 1;
        }
        summary.milestones += task.milestones.len();
        summary.kpis += task.kpis.len();
    }
    let total: i64 = sqlx::query("SELECT COUNT(*) FROM plan_tasks")
        .fetch_one(tx.conn())
        .await?
        .get(0);
    summary.tasks_not_in_file = total as usize - file.tasks.len();
    audit(
        &mut tx,
        actor,
        "plan.import",
        file.plan.id.clone(),
        None,
        json!({"sha256": digest, "aspects": summary.aspects, "created": summary.tasks_created, "updated": summary.tasks_updated}),
    )
    .await?;
    tx.commit().await?;
    Ok(summary)
}

async fn upsert_plan(tx: &mut Tx, plan: &PlanInfo) -> Result<(), DbError> {
    sqlx::query("DELETE FROM plan_info WHERE id <> $1")
        .bind(&plan.id)
        .execute(tx.conn())
        .await?;
    let updated = sqlx::query(
        "UPDATE plan_info SET name_zh = $2, name_en = $3, start_date = $4, end_date = $5, source = $6 WHERE id = $1",
    )
    .bind(&plan.id)
    .bind(&plan.name_zh)
    .bind(&plan.name_en)
    .bind(date_text(plan.start))
    .bind(date_text(plan.end))
    .bind(&plan.source)
    .execute(tx.conn())
    .await?;
    if updated.rows_affected() == 0 {
        sqlx::query("INSERT INTO plan_info (id, name_zh, name_en, start_date, end_date, source) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&plan.id)
            .bind(&plan.name_zh)
            .bind(&plan.name_en)
            .bind(date_text(plan.start))
            .bind(date_text(plan.end))
            .bind(&plan.source)
            .execute(tx.conn())
            .await?;
    }
    Ok(())
}

async fn upsert_aspect(tx: &mut Tx, aspect: &AspectDef) -> Result<(), DbError> {
    let updated =
        sqlx::query("UPDATE plan_aspects SET title_zh = $2, title_en = $3, planned_tasks = $4 WHERE number = $1")
            .bind(aspect.number)
            .bind(&aspect.title_zh)
            .bind(&aspect.title_en)
            .bind(aspect.planned_tasks)
            .execute(tx.conn())
            .await?;
    if updated.rows_affected() == 0 {
        sqlx::query("INSERT INTO plan_aspects (number, title_zh, title_en, planned_tasks) VALUES ($1, $2, $3, $4)")
            .bind(aspect.number)
            .bind(&aspect.title_zh)
            .bind(&aspect.title_en)
            .bind(aspect.planned_tasks)
            .execute(tx.conn())
            .await?;
    }
    Ok(())
}

/// Returns the task's id and whether it was created.
async fn upsert_task(tx: &mut Tx, task: &TaskDef) -> Result<(i64, bool), DbError> {
    let existing = sqlx::query("SELECT id FROM plan_tasks WHERE number = $1")
        .bind(task.number)
        .fetch_optional(tx.conn())
        .await?;
    let values = |q: sqlx::query::Query<'static, yrd_db::Any, sqlx::any::AnyArguments<'static>>| {
        q.bind(task.number)
            .bind(task.aspect)
            .bind(task.title_zh.clone())
            .bind(task.title_en.clone())
            .bind(task.description_zh.clone())
            .bind(task.description_en.clone())
            .bind(task.lead_agency.clone())
            .bind(date_text(task.start))
            .bind(date_text(task.due))
            .bind(task.cycle.as_str())
            .bind(task.provenance.clone())
            .bind(i64::from(task.illustrative))
            .bind(now_db())
    };
    let (id, created) = match existing {
        Some(row) => {
            let id: i64 = row.get(0);
            values(sqlx::query(
                "UPDATE plan_tasks SET number = $1, aspect = $2, title_zh = $3, title_en = $4, description_zh = $5, \
                 description_en = $6, lead_agency = $7, start_date = $8, due_date = $9, reporting = $10, provenance = $11, \
                 illustrative = $12, updated_at = $13 WHERE number = $1",
            ))
            .execute(tx.conn())
            .await?;
            (id, false)
        }
        None => {
            let row = values(sqlx::query(
                "INSERT INTO plan_tasks (number, aspect, title_zh, title_en, description_zh, description_en, lead_agency, \
                 start_date, due_date, reporting, provenance, illustrative, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
            ))
            .fetch_one(tx.conn())
            .await?;
            (row.get(0), true)
        }
    };
    sqlx::query("DELETE FROM plan_task_jurisdictions WHERE task_id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    for (codes, role) in [(&task.lead, "lead"), (&task.participants, "participant")] {
        for code in codes {
            sqlx::query("INSERT INTO plan_task_jurisdictions (task_id, jurisdiction, role) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(code.to_string())
                .bind(role)
                .execute(tx.conn())
                .await?;
        }
    }
    sqlx::query("DELETE FROM plan_task_tags WHERE task_id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    for tag in &task.tags {
        sqlx::query("INSERT INTO plan_task_tags (task_id, tag) VALUES ($1, $2)")
            .bind(id)
            .bind(tag)
            .execute(tx.conn())
            .await?;
    }
    for (i, milestone) in task.milestones.iter().enumerate() {
        upsert_milestone(tx, id, i as i64 + 1, milestone).await?;
    }
    for kpi in &task.kpis {
        upsert_kpi(tx, id, kpi).await?;
    }
    Ok((id, created))
}

async fn upsert_milestone(tx: &mut Tx, task: i64, seq: i64, m: &MilestoneDef) -> Result<(), DbError> {
    let updated = sqlx::query(
        "UPDATE plan_milestones SET title_zh = $3, title_en = $4, due_date = $5, \
         done_date = COALESCE($6, done_date), evidence = COALESCE($7, evidence) WHERE task_id = $1 AND seq = $2",
    )
    .bind(task)
    .bind(seq)
    .bind(&m.title_zh)
    .bind(&m.title_en)
    .bind(date_text(m.due))
    .bind(m.done.map(date_text))
    .bind(&m.evidence)
    .execute(tx.conn())
    .await?;
    if updated.rows_affected() == 0 {
        sqlx::query(
            "INSERT INTO plan_milestones (task_id, seq, title_zh, title_en, due_date, done_date, evidence) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(task)
        .bind(seq)
        .bind(&m.title_zh)
        .bind(&m.title_en)
        .bind(date_text(m.due))
        .bind(m.done.map(date_text))
        .bind(&m.evidence)
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

async fn upsert_kpi(tx: &mut Tx, task: i64, k: &KpiDef) -> Result<(), DbError> {
    let direction = match k.direction {
        crate::domain::Direction::Up => "up",
        crate::domain::Direction::Down => "down",
    };
    let updated = sqlx::query(
        "UPDATE plan_kpis SET name_zh = $3, name_en = $4, unit = $5, baseline = $6, target = $7, direction = $8, \
         due_date = $9, source = $10 WHERE task_id = $1 AND key = $2",
    )
    .bind(task)
    .bind(&k.key)
    .bind(&k.name_zh)
    .bind(&k.name_en)
    .bind(&k.unit)
    .bind(k.baseline)
    .bind(k.target)
    .bind(direction)
    .bind(date_text(k.due))
    .bind(k.source.as_text())
    .execute(tx.conn())
    .await?;
    if updated.rows_affected() == 0 {
        sqlx::query(
            "INSERT INTO plan_kpis (task_id, key, name_zh, name_en, unit, baseline, target, direction, due_date, source) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(task)
        .bind(&k.key)
        .bind(&k.name_zh)
        .bind(&k.name_en)
        .bind(&k.unit)
        .bind(k.baseline)
        .bind(k.target)
        .bind(direction)
        .bind(date_text(k.due))
        .bind(k.source.as_text())
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

/// The plan as a plan file, for `yrd plan export` and the API.
pub async fn export(db: &Db, today: NaiveDate) -> Result<Option<PlanFile>, DbError> {
    let Some(header) = store::header(db).await? else {
        return Ok(None);
    };
    let aspects = store::aspects(db)
        .await?
        .into_iter()
        .map(|a| AspectDef {
            number: a.number,
            title_zh: a.title_zh,
            title_en: a.title_en,
            planned_tasks: a.planned_tasks,
        })
        .collect();
    let tasks = store::tasks(db, today, None).await?.into_iter().map(task_def).collect();
    Ok(Some(PlanFile {
        plan: PlanInfo {
            id: header.id,
            name_zh: header.name_zh,
            name_en: header.name_en,
            start: header.start,
            end: header.end,
            source: header.source,
        },
        aspects,
        tasks,
    }))
}

fn task_def(t: TaskView) -> TaskDef {
    TaskDef {
        number: t.number,
        aspect: t.aspect,
        title_zh: t.title_zh,
        title_en: t.title_en,
        description_zh: t.description_zh,
        description_en: t.description_en,
        lead: t.lead,
        participants: t.participants,
        lead_agency: t.lead_agency,
        start: t.start,
        due: t.due,
        cycle: t.reporting,
        tags: t.tags,
        provenance: t.provenance,
        illustrative: t.illustrative,
        milestones: t
            .milestones
            .into_iter()
            .map(|m| MilestoneDef {
                title_zh: m.title_zh,
                title_en: m.title_en,
                due: m.due,
                done: m.done,
                evidence: m.evidence,
            })
            .collect(),
        kpis: t
            .kpis
            .into_iter()
            .map(|k| KpiDef {
                key: k.key,
                name_zh: k.name_zh,
                name_en: k.name_en,
                unit: k.unit,
                baseline: k.baseline,
                target: k.target,
                direction: k.direction,
                due: k.due,
                source: k.source,
            })
            .collect(),
    }
}

pub async fn task_id(tx: &mut Tx, number: i64) -> Result<Option<i64>, DbError> {
    Ok(sqlx::query("SELECT id FROM plan_tasks WHERE number = $1")
        .bind(number)
        .fetch_optional(tx.conn())
        .await?
        .map(|r| r.get(0)))
}

/// Records the day's value of every KPI whose source is a live indicator. Returns how
/// many were recorded; an indicator that is not available is skipped.
pub async fn refresh_indicator_values(
    db: &Db,
    indicators: &[std::sync::Arc<dyn IndicatorSource>],
    today: NaiveDate,
) -> Result<usize, DbError> {
    let rows = sqlx::query("SELECT id, source FROM plan_kpis WHERE source LIKE 'indicator:%'")
        .fetch_all(db.pool())
        .await?;
    let mut recorded = 0;
    for row in rows {
        let id: i64 = row.get(0);
        let Some(KpiSource::Indicator(key)) = KpiSource::parse(&row.get::<String, _>(1)) else {
            continue;
        };
        let Some(source) = indicators.iter().find(|i| i.key() == key) else {
            continue;
        };
        let Ok(value) = source.current(None).await else {
            continue;
        };
        let mut tx = db.begin().await?;
        sqlx::query("DELETE FROM plan_kpi_values WHERE kpi_id = $1 AND on_date = $2")
            .bind(id)
            .bind(date_text(today))
            .execute(tx.conn())
            .await?;
        sqlx::query("INSERT INTO plan_kpi_values (kpi_id, on_date, value, source, recorded_by) VALUES ($1, $2, $3, $4, 'system')")
            .bind(id)
            .bind(date_text(today))
            .bind(value)
            .bind(format!("indicator:{key}"))
            .execute(tx.conn())
            .await?;
        audit(
            &mut tx,
            "system",
            "kpi.indicator_value",
            format!("kpi:{id}"),
            None,
            json!({"indicator": key, "value": value, "on": today}),
        )
        .await?;
        tx.commit().await?;
        recorded += 1;
    }
    Ok(recorded)
}

/// Brings the list of owed reports up to `today`: every ended period of every task is
/// due (within the grace days), overdue (after) or fulfilled (a report was submitted).
pub async fn refresh_obligations(db: &Db, today: NaiveDate) -> Result<(usize, usize), DbError> {
    let tasks = store::tasks(db, today, None).await?;
    let reported = sqlx::query("SELECT task_id, period FROM plan_reports WHERE status IN ('submitted', 'accepted')")
        .fetch_all(db.pool())
        .await?;
    let reported: std::collections::HashSet<(i64, String)> = reported.iter().map(|r| (r.get(0), r.get(1))).collect();
    let mut tx = db.begin().await?;
    let (mut due, mut overdue) = (0, 0);
    for task in &tasks {
        for period in Period::ended_between(task.reporting, task.start, task.due, today) {
            let name = period.to_string();
            let state = if reported.contains(&(task.id, name.clone())) {
                "fulfilled"
            } else if period.report_due() < today {
                overdue += 1;
                "overdue"
            } else {
                due += 1;
                "due"
            };
            sqlx::query("DELETE FROM plan_obligations WHERE task_id = $1 AND period = $2")
                .bind(task.id)
                .bind(&name)
                .execute(tx.conn())
                .await?;
            sqlx::query("INSERT INTO plan_obligations (task_id, period, due_date, state, updated_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(task.id)
                .bind(&name)
                .bind(date_text(period.report_due()))
                .bind(state)
                .bind(now_db())
                .execute(tx.conn())
                .await?;
        }
    }
    tx.commit().await?;
    Ok((due, overdue))
}

/// Checks a report period against a task's cycle and dates.
pub fn check_period(task: &TaskView, period: &str, errors: &mut ValidationErrors) -> Option<Period> {
    match Period::parse(period) {
        None => {
            let example = match task.reporting {
                Cycle::Quarterly => "2026-Q3",
                Cycle::Monthly => "2026-09",
            };
            errors.add(
                "period",
                format!(
                    "'{period}' is not a period; this task reports {}, e.g. {example}",
                    task.reporting.as_str()
                ),
            );
            None
        }
        Some(p) if p.cycle != task.reporting => {
            errors.add("period", format!("this task reports {}", task.reporting.as_str()));
            None
        }
        Some(p) if p.end() < task.start || p.start() > task.due => {
            errors.add(
                "period",
                format!("{p} is outside the task's dates {} – {}", task.start, task.due),
            );
            None
        }
        Some(p) => Some(p),
    }
}

/// Days of grace, exposed for the console's explanations.
pub const GRACE_DAYS: i64 = REPORT_GRACE_DAYS;

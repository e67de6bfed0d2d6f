//! The plan file: a TOML document holding the plan, its aspects and tasks with their
//! milestones and KPIs. Parsing validates everything and reports every problem with
//! its line, record and field; nothing is imported from a file with any problem.
//!
//! ```toml
//! [plan]
//! id = "yrd-2024-2026"
//! name_zh = "长三角地区一体化发展三年行动计划（2024—2026年）"
//! name_en = "Three-year action plan for the integrated development of the YRD (2024–2026)"
//! start = "2024-01-01"
//! end = "2026-12-31"
//! source = "Announced 2024-07-25 by the YRD Regional Cooperation Office"
//!
//! [[aspects]]
//! number = 1
//! title_zh = "加强长三角科技创新跨区域协同"
//! title_en = "Cross-regional collaboration in science, technology and innovation"
//! planned_tasks = 20
//!
//! [[tasks]]
//! number = 1
//! aspect = 1
//! title_zh = "…"
//! title_en = "…"
//! lead = ["310000", "340000"]
//! participants = ["320000", "330000"]
//! lead_agency = "…"
//! start = "2024-07-25"
//! due = "2026-12-31"
//! reporting = "quarterly"              # or "monthly"
//! tags = ["industry"]
//! provenance = "where the task text comes from"
//! illustrative = false                 # true for demonstration tasks
//!
//! [[tasks.milestones]]
//! title_zh = "…"
//! title_en = "…"
//! due = "2025-06-30"
//! done = "2025-06-20"                  # optional
//!
//! [[tasks.kpis]]
//! key = "joint_projects"
//! name_zh = "…"
//! name_en = "…"
//! unit = "项"
//! baseline = 0
//! target = 30
//! direction = "up"                     # or "down"
//! due = "2026-12-31"
//! source = "manual"                    # or "indicator:<module>.<name>"
//! ```

use crate::domain::{Cycle, Direction, Kpi, KpiSource};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use toml::Spanned;
use yrd_kernel::JurisdictionCode;
use yrd_kernel::validation::line_of;

#[derive(Debug, Clone, PartialEq)]
pub struct PlanFile {
    pub plan: PlanInfo,
    pub aspects: Vec<AspectDef>,
    pub tasks: Vec<TaskDef>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlanInfo {
    pub id: String,
    pub name_zh: String,
    pub name_en: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub source: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AspectDef {
    pub number: i64,
    pub title_zh: String,
    pub title_en: String,
    /// The published number of key tasks, where known.
    pub planned_tasks: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskDef {
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
    pub cycle: Cycle,
    pub tags: Vec<String>,
    pub provenance: String,
    pub illustrative: bool,
    pub milestones: Vec<MilestoneDef>,
    pub kpis: Vec<KpiDef>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MilestoneDef {
    pub title_zh: String,
    pub title_en: String,
    pub due: NaiveDate,
    pub done: Option<NaiveDate>,
    pub evidence: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KpiDef {
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
    pub unit: String,
    pub baseline: f64,
    pub target: f64,
    pub direction: Direction,
    pub due: NaiveDate,
    pub source: KpiSource,
}

/// One problem in a plan file.
pub type FileError = yrd_kernel::RecordError;

// The file as written, before validation: dates and codes are text here.

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    plan: RawPlan,
    #[serde(default)]
    aspects: Vec<Spanned<RawAspect>>,
    #[serde(default)]
    tasks: Vec<Spanned<RawTask>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    id: String,
    name_zh: String,
    name_en: String,
    start: String,
    end: String,
    #[serde(default)]
    source: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawAspect {
    number: i64,
    title_zh: String,
    title_en: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    planned_tasks: Option<i64>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawTask {
    number: i64,
    aspect: i64,
    title_zh: String,
    title_en: String,
    #[serde(default)]
    description_zh: String,
    #[serde(default)]
    description_en: String,
    lead: Vec<String>,
    #[serde(default)]
    participants: Vec<String>,
    #[serde(default)]
    lead_agency: String,
    start: String,
    due: String,
    #[serde(default = "quarterly")]
    reporting: String,
    #[serde(default)]
    tags: Vec<String>,
    provenance: String,
    #[serde(default)]
    illustrative: bool,
    #[serde(default)]
    milestones: Vec<RawMilestone>,
    #[serde(default)]
    kpis: Vec<RawKpi>,
}

fn quarterly() -> String {
    "quarterly".into()
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawMilestone {
    title_zh: String,
    title_en: String,
    due: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    done: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    evidence: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawKpi {
    key: String,
    name_zh: String,
    name_en: String,
    unit: String,
    baseline: f64,
    target: f64,
    direction: String,
    due: String,
    #[serde(default = "manual")]
    source: String,
}

fn manual() -> String {
    "manual".into()
}

/// Collects the problems of one record.
struct Checker<'a> {
    errors: &'a mut Vec<FileError>,
    line: Option<usize>,
    record: String,
}

impl Checker<'_> {
    fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FileError {
            line: self.line,
            record: self.record.clone(),
            field: field.to_string(),
            message: message.into(),
        });
    }

    fn text(&mut self, field: &str, value: &str, max: usize) -> String {
        let value = value.trim();
        if value.is_empty() {
            self.error(field, "must not be empty");
        } else if value.chars().count() > max {
            self.error(field, format!("at most {max} characters"));
        }
        value.to_string()
    }

    fn date(&mut self, field: &str, value: &str) -> Option<NaiveDate> {
        match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
            Ok(date) if value.len() == 10 => Some(date),
            _ => {
                self.error(field, format!("'{value}' is not a date (YYYY-MM-DD)"));
                None
            }
        }
    }

    fn date_in(&mut self, field: &str, value: &str, plan: Option<(NaiveDate, NaiveDate)>) -> Option<NaiveDate> {
        let date = self.date(field, value)?;
        if let Some((start, end)) = plan
            && (date < start || date > end)
        {
            self.error(field, format!("{date} is outside the plan period {start} – {end}"));
        }
        Some(date)
    }

    fn codes(&mut self, field: &str, values: &[String]) -> Vec<JurisdictionCode> {
        let mut out = Vec::new();
        for (i, value) in values.iter().enumerate() {
            match JurisdictionCode::parse(value) {
                Ok(code) if out.contains(&code) => {
                    self.error(&format!("{field}[{i}]"), format!("{code} is listed twice"))
                }
                Ok(code) => out.push(code),
                Err(error) => self.error(&format!("{field}[{i}]"), error.to_string()),
            }
        }
        out
    }
}

/// Parses and validates a plan file. Returns every problem found, or the plan.
pub fn parse(text: &str) -> Result<PlanFile, Vec<FileError>> {
    let raw: RawFile = toml::from_str(text).map_err(|error| {
        vec![FileError {
            line: error.span().map(|span| line_of(text, span.start)),
            record: "file".into(),
            field: "syntax".into(),
            message: error.message().to_string(),
        }]
    })?;
    let mut errors = Vec::new();

    let mut check = Checker {
        errors: &mut errors,
        line: None,
        record: "plan".into(),
    };
    let plan_start = check.date("start", &raw.plan.start);
    let plan_end = check.date("end", &raw.plan.end);
    if let (Some(start), Some(end)) = (plan_start, plan_end)
        && start >= end
    {
        check.error("end", "must be after start");
    }
    let period = plan_start.zip(plan_end);
    let plan = PlanInfo {
        id: check.text("id", &raw.plan.id, 64),
        name_zh: check.text("name_zh", &raw.plan.name_zh, 200),
        name_en: check.text("name_en", &raw.plan.name_en, 300),
        start: plan_start.unwrap_or_default(),
        end: plan_end.unwrap_or_default(),
        source: raw.plan.source.trim().to_string(),
    };

    let mut aspects = Vec::new();
    let mut aspect_numbers = HashSet::new();
    for spanned in &raw.aspects {
        let line = Some(line_of(text, spanned.span().start));
        let aspect = spanned.get_ref();
        let mut check = Checker {
            errors: &mut errors,
            line,
            record: format!("aspect {}", aspect.number),
        };
        if !(1..=99).contains(&aspect.number) {
            check.error("number", "between 1 and 99");
        }
        if !aspect_numbers.insert(aspect.number) {
            check.error("number", format!("aspect {} is defined twice", aspect.number));
        }
        if aspect.planned_tasks.is_some_and(|n| n < 0) {
            check.error("planned_tasks", "must not be negative");
        }
        aspects.push(AspectDef {
            number: aspect.number,
            title_zh: check.text("title_zh", &aspect.title_zh, 200),
            title_en: check.text("title_en", &aspect.title_en, 300),
            planned_tasks: aspect.planned_tasks,
        });
    }

    let mut tasks = Vec::new();
    let mut task_numbers = HashSet::new();
    for spanned in &raw.tasks {
        let line = Some(line_of(text, spanned.span().start));
        let task = spanned.get_ref();
        let mut check = Checker {
            errors: &mut errors,
            line,
            record: format!("task {}", task.number),
        };
        if task.number < 1 {
            check.error("number", "a positive whole number");
        }
        if !task_numbers.insert(task.number) {
            check.error("number", format!("task {} is defined twice", task.number));
        }
        if !aspect_numbers.contains(&task.aspect) {
            check.error("aspect", format!("aspect {} is not defined in this file", task.aspect));
        }
        let lead = check.codes("lead", &task.lead);
        if task.lead.is_empty() {
            check.error("lead", "at least one lead jurisdiction");
        }
        let participants = check.codes("participants", &task.participants);
        if let Some(code) = participants.iter().find(|c| lead.contains(c)) {
            check.error("participants", format!("{code} is already a lead"));
        }
        let start = check.date_in("start", &task.start, period);
        let due = check.date_in("due", &task.due, period);
        if let (Some(start), Some(due)) = (start, due)
            && start > due
        {
            check.error("due", format!("{due} is before the start {start}"));
        }
        let cycle = Cycle::parse(&task.reporting).unwrap_or_else(|| {
            check.error(
                "reporting",
                format!("'{}' is not a cycle: monthly or quarterly", task.reporting),
            );
            Cycle::Quarterly
        });
        for (i, tag) in task.tags.iter().enumerate() {
            if !crate::domain::MODULE_TAGS.contains(&tag.as_str()) {
                check.error(
                    &format!("tags[{i}]"),
                    format!(
                        "'{tag}' is not a platform module: {}",
                        crate::domain::MODULE_TAGS.join(", ")
                    ),
                );
            }
        }
        let title_zh = check.text("title_zh", &task.title_zh, 300);
        let title_en = check.text("title_en", &task.title_en, 400);
        let provenance = check.text("provenance", &task.provenance, 500);

        let mut milestones = Vec::new();
        for (i, m) in task.milestones.iter().enumerate() {
            let mut check = Checker {
                errors: &mut errors,
                line,
                record: format!("task {} milestone {}", task.number, i + 1),
            };
            let due = check.date_in("due", &m.due, period);
            let done = m.done.as_deref().and_then(|d| check.date("done", d));
            milestones.push(MilestoneDef {
                title_zh: check.text("title_zh", &m.title_zh, 300),
                title_en: check.text("title_en", &m.title_en, 400),
                due: due.unwrap_or_default(),
                done,
                evidence: m.evidence.clone(),
            });
        }

        let mut kpis = Vec::new();
        let mut kpi_keys = HashSet::new();
        for k in &task.kpis {
            let mut check = Checker {
                errors: &mut errors,
                line,
                record: format!("task {} kpi '{}'", task.number, k.key),
            };
            if k.key.is_empty()
                || !k
                    .key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                check.error("key", "lower-case letters, digits and '_'");
            }
            if !kpi_keys.insert(k.key.clone()) {
                check.error("key", "defined twice in this task");
            }
            let direction = match k.direction.as_str() {
                "up" => Direction::Up,
                "down" => Direction::Down,
                other => {
                    check.error("direction", format!("'{other}' is not a direction: up or down"));
                    Direction::Up
                }
            };
            if !k.baseline.is_finite() || !k.target.is_finite() {
                check.error("target", "baseline and target must be numbers");
            } else if matches!(k.direction.as_str(), "up" | "down")
                && !Kpi::direction_is_consistent(k.baseline, k.target, direction)
            {
                let want = if direction == Direction::Up { "above" } else { "below" };
                check.error(
                    "target",
                    format!(
                        "direction is {} but the target {} is not {want} the baseline {}",
                        k.direction, k.target, k.baseline
                    ),
                );
            }
            let source = KpiSource::parse(&k.source).unwrap_or_else(|| {
                check.error("source", format!("'{}': manual or indicator:<module>.<name>", k.source));
                KpiSource::Manual
            });
            let due = check.date_in("due", &k.due, period);
            kpis.push(KpiDef {
                key: k.key.clone(),
                name_zh: check.text("name_zh", &k.name_zh, 200),
                name_en: check.text("name_en", &k.name_en, 300),
                unit: check.text("unit", &k.unit, 32),
                baseline: k.baseline,
                target: k.target,
                direction,
                due: due.unwrap_or_default(),
                source,
            });
        }

        tasks.push(TaskDef {
            number: task.number,
            aspect: task.aspect,
            title_zh,
            title_en,
            description_zh: task.description_zh.trim().to_string(),
            description_en: task.description_en.trim().to_string(),
            lead,
            participants,
            lead_agency: task.lead_agency.trim().to_string(),
            start: start.unwrap_or_default(),
            due: due.unwrap_or_default(),
            cycle,
            tags: task.tags.clone(),
            provenance,
            illustrative: task.illustrative,
            milestones,
            kpis,
        });
    }

    if errors.is_empty() {
        Ok(PlanFile { plan, aspects, tasks })
    } else {
        Err(errors)
    }
}

/// Writes a plan back as a plan file that [`parse`] reads to the same plan.
pub fn render(file: &PlanFile) -> String {
    let date = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
    let codes = |list: &[JurisdictionCode]| list.iter().map(ToString::to_string).collect();
    let raw = RawFile {
        plan: RawPlan {
            id: file.plan.id.clone(),
            name_zh: file.plan.name_zh.clone(),
            name_en: file.plan.name_en.clone(),
            start: date(file.plan.start),
            end: date(file.plan.end),
            source: file.plan.source.clone(),
        },
        aspects: file
            .aspects
            .iter()
            .map(|a| {
                Spanned::new(
                    0..0,
                    RawAspect {
                        number: a.number,
                        title_zh: a.title_zh.clone(),
                        title_en: a.title_en.clone(),
                        planned_tasks: a.planned_tasks,
                    },
                )
            })
            .collect(),
        tasks: file
            .tasks
            .iter()
            .map(|t| {
                Spanned::new(
                    0..0,
                    RawTask {
                        number: t.number,
                        aspect: t.aspect,
                        title_zh: t.title_zh.clone(),
                        title_en: t.title_en.clone(),
                        description_zh: t.description_zh.clone(),
                        description_en: t.description_en.clone(),
                        lead: codes(&t.lead),
                        participants: codes(&t.participants),
                        lead_agency: t.lead_agency.clone(),
                        start: date(t.start),
                        due: date(t.due),
                        reporting: t.cycle.as_str().into(),
                        tags: t.tags.clone(),
                        provenance: t.provenance.clone(),
                        illustrative: t.illustrative,
                        milestones: t
                            .milestones
                            .iter()
                            .map(|m| RawMilestone {
                                title_zh: m.title_zh.clone(),
                                title_en: m.title_en.clone(),
                                due: date(m.due),
                                done: m.done.map(date),
                                evidence: m.evidence.clone(),
                            })
                            .collect(),
                        kpis: t
                            .kpis
                            .iter()
                            .map(|k| RawKpi {
                                key: k.key.clone(),
                                name_zh: k.name_zh.clone(),
                                name_en: k.name_en.clone(),
                                unit: k.unit.clone(),
                                baseline: k.baseline,
                                target: k.target,
                                direction: match k.direction {
                                    Direction::Up => "up".into(),
                                    Direction::Down => "down".into(),
                                },
                                due: date(k.due),
                                source: k.source.as_text(),
                            })
                            .collect(),
                    },
                )
            })
            .collect(),
    };
    toml::to_string(&raw).expect("a plan always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[plan]
id = "t"
name_zh = "测试计划"
name_en = "Test plan"
start = "2024-01-01"
end = "2026-12-31"

[[aspects]]
number = 1
title_zh = "科技创新"
title_en = "Innovation"
planned_tasks = 20

[[tasks]]
number = 1
aspect = 1
title_zh = "共建综合性国家科学中心"
title_en = "Joint science centres"
lead = ["310000", "340000"]
participants = ["320000"]
start = "2024-07-25"
due = "2026-12-31"
tags = ["industry"]
provenance = "public reporting"

[[tasks.milestones]]
title_zh = "签署合作协议"
title_en = "Agreement signed"
due = "2024-12-31"
done = "2024-11-30"

[[tasks.kpis]]
key = "joint_projects"
name_zh = "联合攻关项目"
name_en = "Joint projects"
unit = "项"
baseline = 0
target = 30
direction = "up"
due = "2026-12-31"
"#;

    fn errors_of(text: &str) -> Vec<String> {
        parse(text).unwrap_err().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_good_file_parses_and_round_trips() {
        let plan = parse(GOOD).unwrap();
        assert_eq!(plan.tasks.len(), 1);
        assert_eq!(plan.tasks[0].lead.len(), 2);
        assert_eq!(plan.tasks[0].cycle, Cycle::Quarterly);
        assert_eq!(plan.tasks[0].kpis[0].source, KpiSource::Manual);
        let again = parse(&render(&plan)).unwrap();
        assert_eq!(again, plan);
    }

    #[test]
    fn every_problem_is_reported_with_line_record_and_field() {
        let broken = GOOD
            .replace("lead = [\"310000\", \"340000\"]", "lead = [\"310000\", \"999999\"]")
            .replace("due = \"2026-12-31\"\ntags", "due = \"2027-03-31\"\ntags")
            .replace("direction = \"up\"", "direction = \"down\"")
            .replace("done = \"2024-11-30\"", "done = \"2024-13-01\"");
        let errors = errors_of(&broken);
        assert!(
            errors
                .iter()
                .any(|e| e.contains("line 15: task 1: lead[1]: '999999' is not a jurisdiction")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("task 1: due: 2027-03-31 is outside the plan period")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("task 1 kpi 'joint_projects': target: direction is down")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("task 1 milestone 1: done: '2024-13-01' is not a date")),
            "{errors:?}"
        );
    }

    #[test]
    fn duplicates_unknown_aspects_and_syntax_errors_are_refused() {
        let twice = format!(
            "{GOOD}\n[[tasks]]\nnumber = 1\naspect = 7\ntitle_zh = \"x\"\ntitle_en = \"x\"\nlead = [\"320500\"]\nstart = \"2024-01-01\"\ndue = \"2024-02-01\"\nprovenance = \"x\"\n"
        );
        let errors = errors_of(&twice);
        assert!(
            errors
                .iter()
                .any(|e| e.contains("task 1: number: task 1 is defined twice")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("task 1: aspect: aspect 7 is not defined")),
            "{errors:?}"
        );
        let syntax = errors_of("[plan]\nid = \"x\nname_zh = 1\n");
        assert_eq!(syntax.len(), 1);
        assert!(syntax[0].starts_with("line 2:"), "{syntax:?}");
        let unknown_field = errors_of(&GOOD.replace("planned_tasks = 20", "planned = 20"));
        assert!(unknown_field[0].contains("planned"), "{unknown_field:?}");
    }
}

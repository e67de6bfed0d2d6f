//! The action plan's types and rules. Pure: no I/O, no clock (callers pass `today`).

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;
use yrd_kernel::JurisdictionCode;

/// The platform's modules, which task tags name.
pub const MODULE_TAGS: [&str; 13] = [
    "plan",
    "govservice",
    "health",
    "insurance",
    "charging",
    "transit",
    "water",
    "waste",
    "carbon",
    "airspace",
    "compute",
    "industry",
    "culture",
];

/// How far a KPI may trail its linear path, as a share of the whole distance from
/// baseline to target, before the task is at risk.
pub const KPI_TOLERANCE: f64 = 0.10;
/// Days after a reporting period ends before its report is overdue.
pub const REPORT_GRACE_DAYS: i64 = 15;
/// Days a milestone may be late before the task counts as overdue (before that: at risk).
pub const MILESTONE_OVERDUE_DAYS: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    NotStarted,
    OnTrack,
    AtRisk,
    Overdue,
    Done,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::NotStarted,
        Status::OnTrack,
        Status::AtRisk,
        Status::Overdue,
        Status::Done,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::NotStarted => "not_started",
            Status::OnTrack => "on_track",
            Status::AtRisk => "at_risk",
            Status::Overdue => "overdue",
            Status::Done => "done",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Higher is better: the target is above the baseline.
    Up,
    /// Lower is better: the target is below the baseline.
    Down,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Cycle {
    Monthly,
    Quarterly,
}

impl Cycle {
    pub fn as_str(self) -> &'static str {
        match self {
            Cycle::Monthly => "monthly",
            Cycle::Quarterly => "quarterly",
        }
    }

    pub fn parse(text: &str) -> Option<Cycle> {
        match text {
            "monthly" => Some(Cycle::Monthly),
            "quarterly" => Some(Cycle::Quarterly),
            _ => None,
        }
    }
}

/// A reporting period: `2026-Q3` or `2026-10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    pub year: i32,
    pub cycle: Cycle,
    /// Month 1–12 or quarter 1–4.
    pub index: u32,
}

impl Period {
    pub fn parse(text: &str) -> Option<Period> {
        let (year, rest) = text.split_once('-')?;
        let year: i32 = year.parse().ok().filter(|y| (2000..=2100).contains(y))?;
        if let Some(q) = rest.strip_prefix('Q') {
            let index: u32 = q.parse().ok().filter(|q| (1..=4).contains(q))?;
            return Some(Period {
                year,
                cycle: Cycle::Quarterly,
                index,
            });
        }
        if rest.len() != 2 {
            return None;
        }
        let index: u32 = rest.parse().ok().filter(|m| (1..=12).contains(m))?;
        Some(Period {
            year,
            cycle: Cycle::Monthly,
            index,
        })
    }

    fn first_month(self) -> u32 {
        match self.cycle {
            Cycle::Monthly => self.index,
            Cycle::Quarterly => (self.index - 1) * 3 + 1,
        }
    }

    pub fn start(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.first_month(), 1).expect("valid period")
    }

    pub fn end(self) -> NaiveDate {
        self.next().start().pred_opt().expect("a day before")
    }

    pub fn next(self) -> Period {
        let last = match self.cycle {
            Cycle::Monthly => 12,
            Cycle::Quarterly => 4,
        };
        if self.index == last {
            Period {
                year: self.year + 1,
                index: 1,
                ..self
            }
        } else {
            Period {
                index: self.index + 1,
                ..self
            }
        }
    }

    /// The period of this cycle that contains `date`.
    pub fn containing(cycle: Cycle, date: NaiveDate) -> Period {
        use chrono::Datelike;
        let index = match cycle {
            Cycle::Monthly => date.month(),
            Cycle::Quarterly => (date.month() - 1) / 3 + 1,
        };
        Period {
            year: date.year(),
            cycle,
            index,
        }
    }

    /// When the report on this period is due.
    pub fn report_due(self) -> NaiveDate {
        self.end() + chrono::Duration::days(REPORT_GRACE_DAYS)
    }

    /// Every period of `cycle` that ended on or before `today`, from the one containing `from`.
    pub fn ended_between(cycle: Cycle, from: NaiveDate, until: NaiveDate, today: NaiveDate) -> Vec<Period> {
        let mut out = Vec::new();
        let mut period = Period::containing(cycle, from);
        while period.end() < today && period.start() <= until {
            out.push(period);
            period = period.next();
        }
        out
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cycle {
            Cycle::Quarterly => write!(f, "{}-Q{}", self.year, self.index),
            Cycle::Monthly => write!(f, "{}-{:02}", self.year, self.index),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Milestone {
    pub seq: i64,
    pub title_zh: String,
    pub title_en: String,
    pub due: NaiveDate,
    pub done: Option<NaiveDate>,
    pub evidence: Option<String>,
}

/// Where a KPI's values come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(tag = "kind", content = "indicator", rename_all = "lowercase")]
pub enum KpiSource {
    Manual,
    /// Read live from another module through its `IndicatorSource` key.
    Indicator(String),
}

impl KpiSource {
    pub fn parse(text: &str) -> Option<KpiSource> {
        match text {
            "manual" => Some(KpiSource::Manual),
            other => {
                let key = other.strip_prefix("indicator:")?;
                let ok = key.split_once('.').is_some_and(|(m, n)| !m.is_empty() && !n.is_empty());
                ok.then(|| KpiSource::Indicator(key.to_string()))
            }
        }
    }

    pub fn as_text(&self) -> String {
        match self {
            KpiSource::Manual => "manual".into(),
            KpiSource::Indicator(key) => format!("indicator:{key}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Kpi {
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
    pub unit: String,
    pub baseline: f64,
    pub target: f64,
    pub direction: Direction,
    pub due: NaiveDate,
    pub source: KpiSource,
    /// The latest recorded value and its date.
    pub latest: Option<(NaiveDate, f64)>,
}

impl Kpi {
    /// Whether baseline, target and direction agree.
    pub fn direction_is_consistent(baseline: f64, target: f64, direction: Direction) -> bool {
        match direction {
            Direction::Up => target > baseline,
            Direction::Down => target < baseline,
        }
    }

    /// Where the KPI should be on `date` on the straight path from the baseline at
    /// `start` to the target at the KPI's due date.
    pub fn expected_on(&self, start: NaiveDate, date: NaiveDate) -> f64 {
        let span = (self.due - start).num_days().max(1) as f64;
        let elapsed = ((date - start).num_days() as f64 / span).clamp(0.0, 1.0);
        self.baseline + (self.target - self.baseline) * elapsed
    }

    pub fn met(&self) -> bool {
        self.latest.is_some_and(|(_, value)| match self.direction {
            Direction::Up => value >= self.target,
            Direction::Down => value <= self.target,
        })
    }

    /// How far behind its path the latest value is, as a share of the whole distance
    /// (positive = behind); `None` without a value.
    pub fn shortfall(&self, start: NaiveDate) -> Option<f64> {
        let (date, value) = self.latest?;
        let distance = (self.target - self.baseline).abs().max(f64::EPSILON);
        let expected = self.expected_on(start, date);
        Some(match self.direction {
            Direction::Up => (expected - value) / distance,
            Direction::Down => (value - expected) / distance,
        })
    }
}

/// The facts a task's status is computed from.
#[derive(Debug, Clone)]
pub struct TaskFacts {
    pub start: NaiveDate,
    pub due: NaiveDate,
    pub cycle: Cycle,
    pub milestones: Vec<Milestone>,
    pub kpis: Vec<Kpi>,
    /// The end of the latest period with a submitted or accepted report.
    pub last_reported_period_end: Option<NaiveDate>,
    /// Percent complete of the latest accepted report.
    pub accepted_percent: Option<i64>,
}

/// Why a task has its status: each reason is shown to people.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    StartsLater {
        start: NaiveDate,
    },
    NoProgressYet,
    PastDue {
        due: NaiveDate,
        days: i64,
    },
    MilestoneLate {
        title_zh: String,
        title_en: String,
        due: NaiveDate,
        days: i64,
    },
    KpiBehind {
        name_zh: String,
        name_en: String,
        actual: f64,
        expected: f64,
        unit: String,
    },
    ReportMissing {
        period: String,
        due: NaiveDate,
    },
    AllMilestonesAndKpisMet,
    ReportedComplete,
    Progressing,
}

impl Reason {
    /// One sentence in the language asked for.
    pub fn describe(&self, zh: bool) -> String {
        match (self, zh) {
            (Reason::StartsLater { start }, true) => format!("任务计划于 {start} 开始"),
            (Reason::StartsLater { start }, false) => format!("The task starts on {start}"),
            (Reason::NoProgressYet, true) => "尚无里程碑完成、指标数值或进展报告".into(),
            (Reason::NoProgressYet, false) => "No milestone done, KPI value or progress report yet".into(),
            (Reason::PastDue { due, days }, true) => format!("任务截止日期 {due} 已过 {days} 天，尚未完成"),
            (Reason::PastDue { due, days }, false) => format!("Due on {due}, {days} days ago, and not done"),
            (
                Reason::MilestoneLate {
                    title_zh, due, days, ..
                },
                true,
            ) => {
                format!("里程碑“{title_zh}”应于 {due} 完成，已逾期 {days} 天")
            }
            (
                Reason::MilestoneLate {
                    title_en, due, days, ..
                },
                false,
            ) => {
                format!("Milestone \"{title_en}\" was due on {due}, {days} days ago")
            }
            (
                Reason::KpiBehind {
                    name_zh,
                    actual,
                    expected,
                    unit,
                    ..
                },
                true,
            ) => {
                format!("指标“{name_zh}”当前 {actual} {unit}，按计划路径应为 {expected:.1} {unit}")
            }
            (
                Reason::KpiBehind {
                    name_en,
                    actual,
                    expected,
                    unit,
                    ..
                },
                false,
            ) => {
                format!("KPI \"{name_en}\" is at {actual} {unit}; its path expects {expected:.1} {unit}")
            }
            (Reason::ReportMissing { period, due }, true) => format!("{period} 进展报告应于 {due} 前提交，尚未提交"),
            (Reason::ReportMissing { period, due }, false) => {
                format!("The progress report for {period} was due on {due} and has not been submitted")
            }
            (Reason::AllMilestonesAndKpisMet, true) => "全部里程碑已完成，全部指标已达标".into(),
            (Reason::AllMilestonesAndKpisMet, false) => "Every milestone done and every KPI met".into(),
            (Reason::ReportedComplete, true) => "已受理的进展报告显示完成 100%".into(),
            (Reason::ReportedComplete, false) => "An accepted progress report says 100% complete".into(),
            (Reason::Progressing, true) => "里程碑、指标和报告均按计划推进".into(),
            (Reason::Progressing, false) => "Milestones, KPIs and reports are on schedule".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Assessment {
    pub status: Status,
    pub reasons: Vec<Reason>,
}

/// The status of a task on `today`, with the reasons that decide it.
///
/// - done: every milestone done and every KPI met (at least one of either), or an
///   accepted report at 100%;
/// - not started: before the start date, or no milestone done, no KPI value and no report;
/// - overdue: past the due date, or a milestone more than 30 days late;
/// - at risk: a milestone late, a KPI more than 10% behind its path, or a report missing
///   more than 15 days after its period;
/// - on track: otherwise.
pub fn assess(task: &TaskFacts, today: NaiveDate) -> Assessment {
    let has_measures = !task.milestones.is_empty() || !task.kpis.is_empty();
    let all_met = task.milestones.iter().all(|m| m.done.is_some()) && task.kpis.iter().all(Kpi::met);
    if has_measures && all_met {
        return Assessment {
            status: Status::Done,
            reasons: vec![Reason::AllMilestonesAndKpisMet],
        };
    }
    if task.accepted_percent == Some(100) {
        return Assessment {
            status: Status::Done,
            reasons: vec![Reason::ReportedComplete],
        };
    }
    if today < task.start {
        return Assessment {
            status: Status::NotStarted,
            reasons: vec![Reason::StartsLater { start: task.start }],
        };
    }

    let mut overdue = Vec::new();
    let mut at_risk = Vec::new();
    if today > task.due {
        overdue.push(Reason::PastDue {
            due: task.due,
            days: (today - task.due).num_days(),
        });
    }
    for milestone in task.milestones.iter().filter(|m| m.done.is_none() && m.due < today) {
        let days = (today - milestone.due).num_days();
        let reason = Reason::MilestoneLate {
            title_zh: milestone.title_zh.clone(),
            title_en: milestone.title_en.clone(),
            due: milestone.due,
            days,
        };
        if days > MILESTONE_OVERDUE_DAYS {
            overdue.push(reason)
        } else {
            at_risk.push(reason)
        }
    }
    for kpi in &task.kpis {
        if let (Some(shortfall), Some((date, actual))) = (kpi.shortfall(task.start), kpi.latest)
            && shortfall > KPI_TOLERANCE
        {
            at_risk.push(Reason::KpiBehind {
                name_zh: kpi.name_zh.clone(),
                name_en: kpi.name_en.clone(),
                actual,
                expected: kpi.expected_on(task.start, date),
                unit: kpi.unit.clone(),
            });
        }
    }
    if let Some(missing) = Period::ended_between(task.cycle, task.start, task.due, today)
        .into_iter()
        .filter(|p| p.report_due() < today)
        .find(|p| task.last_reported_period_end.is_none_or(|last| last < p.end()))
    {
        at_risk.push(Reason::ReportMissing {
            period: missing.to_string(),
            due: missing.report_due(),
        });
    }
    if !overdue.is_empty() {
        overdue.extend(at_risk);
        return Assessment {
            status: Status::Overdue,
            reasons: overdue,
        };
    }
    if !at_risk.is_empty() {
        return Assessment {
            status: Status::AtRisk,
            reasons: at_risk,
        };
    }
    let progress = task.milestones.iter().any(|m| m.done.is_some())
        || task.kpis.iter().any(|k| k.latest.is_some())
        || task.last_reported_period_end.is_some();
    if !progress {
        return Assessment {
            status: Status::NotStarted,
            reasons: vec![Reason::NoProgressYet],
        };
    }
    Assessment {
        status: Status::OnTrack,
        reasons: vec![Reason::Progressing],
    }
}

/// Counts of tasks by status, for one group of a roll-up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct StatusCounts {
    pub not_started: u32,
    pub on_track: u32,
    pub at_risk: u32,
    pub overdue: u32,
    pub done: u32,
}

impl StatusCounts {
    pub fn add(&mut self, status: Status) {
        *self.slot(status) += 1;
    }

    fn slot(&mut self, status: Status) -> &mut u32 {
        match status {
            Status::NotStarted => &mut self.not_started,
            Status::OnTrack => &mut self.on_track,
            Status::AtRisk => &mut self.at_risk,
            Status::Overdue => &mut self.overdue,
            Status::Done => &mut self.done,
        }
    }

    pub fn get(&self, status: Status) -> u32 {
        match status {
            Status::NotStarted => self.not_started,
            Status::OnTrack => self.on_track,
            Status::AtRisk => self.at_risk,
            Status::Overdue => self.overdue,
            Status::Done => self.done,
        }
    }

    pub fn total(&self) -> u32 {
        Status::ALL.iter().map(|s| self.get(*s)).sum()
    }

    /// Share of tasks on track or done, 0–1 (`None` for an empty group).
    pub fn healthy_share(&self) -> Option<f64> {
        let total = self.total();
        (total > 0).then(|| f64::from(self.on_track + self.done) / f64::from(total))
    }
}

/// A task as roll-ups see it.
pub struct RollupItem<'a> {
    pub aspect: i64,
    pub jurisdictions: &'a [JurisdictionCode],
    pub tags: &'a [String],
    pub status: Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RollupBy {
    Aspect,
    Province,
    City,
    Tag,
}

/// Counts by group. A task counts once in each group it belongs to (a task led by
/// Shanghai and joined by Anhui counts for both provinces).
pub fn rollup<'a>(items: impl IntoIterator<Item = RollupItem<'a>>, by: RollupBy) -> Vec<(String, StatusCounts)> {
    let mut groups: std::collections::BTreeMap<String, StatusCounts> = Default::default();
    for item in items {
        let keys: Vec<String> = match by {
            RollupBy::Aspect => vec![item.aspect.to_string()],
            RollupBy::Province => {
                let mut provinces: Vec<String> = item.jurisdictions.iter().map(|c| c.province().to_string()).collect();
                provinces.sort();
                provinces.dedup();
                provinces
            }
            RollupBy::City => item
                .jurisdictions
                .iter()
                .filter(|c| c.jurisdiction().level != yrd_kernel::JurisdictionLevel::Province)
                .map(|c| city_of(*c).to_string())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
            RollupBy::Tag => item.tags.to_vec(),
        };
        for key in keys {
            groups.entry(key).or_default().add(item.status);
        }
    }
    groups.into_iter().collect()
}

/// The city a code belongs to (itself for a city; the parent for a district or county).
pub fn city_of(code: JurisdictionCode) -> JurisdictionCode {
    match code.jurisdiction().level {
        yrd_kernel::JurisdictionLevel::District | yrd_kernel::JurisdictionLevel::County => {
            code.jurisdiction().parent.unwrap_or(code)
        }
        _ => code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn milestone(due: &str, done: Option<&str>) -> Milestone {
        Milestone {
            seq: 1,
            title_zh: "里程碑".into(),
            title_en: "Milestone".into(),
            due: d(due),
            done: done.map(d),
            evidence: None,
        }
    }

    fn kpi(baseline: f64, target: f64, direction: Direction, latest: Option<(&str, f64)>) -> Kpi {
        Kpi {
            key: "k".into(),
            name_zh: "指标".into(),
            name_en: "KPI".into(),
            unit: "个".into(),
            baseline,
            target,
            direction,
            due: d("2026-12-31"),
            source: KpiSource::Manual,
            latest: latest.map(|(date, v)| (d(date), v)),
        }
    }

    fn facts() -> TaskFacts {
        TaskFacts {
            start: d("2025-01-01"),
            due: d("2026-12-31"),
            cycle: Cycle::Quarterly,
            milestones: vec![],
            kpis: vec![],
            last_reported_period_end: None,
            accepted_percent: None,
        }
    }

    #[test]
    fn not_started_before_the_start_or_without_any_progress() {
        let early = assess(&facts(), d("2024-12-01"));
        assert_eq!(early.status, Status::NotStarted);
        assert_eq!(early.reasons, vec![Reason::StartsLater { start: d("2025-01-01") }]);
        let quiet = assess(&facts(), d("2025-02-01"));
        assert_eq!(quiet.status, Status::NotStarted);
        assert_eq!(quiet.reasons, vec![Reason::NoProgressYet]);
    }

    #[test]
    fn on_track_with_progress_and_nothing_late() {
        let mut task = facts();
        task.milestones = vec![
            milestone("2025-03-01", Some("2025-02-20")),
            milestone("2026-06-30", None),
        ];
        task.kpis = vec![kpi(0.0, 100.0, Direction::Up, Some(("2025-07-02", 30.0)))];
        task.last_reported_period_end = Some(d("2025-06-30"));
        let a = assess(&task, d("2025-07-10"));
        assert_eq!(a.status, Status::OnTrack, "{:?}", a.reasons);
    }

    #[test]
    fn at_risk_when_a_milestone_is_late_a_kpi_trails_or_a_report_is_missing() {
        let mut late = facts();
        late.milestones = vec![milestone("2025-06-30", None)];
        late.last_reported_period_end = Some(d("2025-06-30"));
        let a = assess(&late, d("2025-07-10"));
        assert_eq!(a.status, Status::AtRisk);
        assert!(matches!(a.reasons[0], Reason::MilestoneLate { days: 10, .. }));

        let mut trailing = facts();
        // Half-way through, the path expects 50; 30 is 20% of the distance behind.
        trailing.kpis = vec![kpi(0.0, 100.0, Direction::Up, Some(("2026-01-01", 30.0)))];
        trailing.last_reported_period_end = Some(d("2025-12-31"));
        let a = assess(&trailing, d("2026-01-05"));
        assert_eq!(a.status, Status::AtRisk);
        match &a.reasons[0] {
            Reason::KpiBehind { actual, expected, .. } => {
                assert_eq!(*actual, 30.0);
                assert!((expected - 50.0).abs() < 1.0);
            }
            other => panic!("{other:?}"),
        }

        let mut silent = facts();
        silent.milestones = vec![
            milestone("2025-02-01", Some("2025-02-01")),
            milestone("2026-06-30", None),
        ];
        let a = assess(&silent, d("2025-04-20"));
        assert_eq!(a.status, Status::AtRisk);
        assert_eq!(
            a.reasons,
            vec![Reason::ReportMissing {
                period: "2025-Q1".into(),
                due: d("2025-04-15")
            }]
        );
        assert!(a.reasons[0].describe(true).contains("2025-Q1"));
        assert!(a.reasons[0].describe(false).contains("2025-04-15"));
    }

    #[test]
    fn a_falling_kpi_is_behind_when_it_falls_too_slowly() {
        let mut task = facts();
        task.kpis = vec![kpi(1.5, 1.25, Direction::Down, Some(("2026-01-01", 1.48)))];
        task.last_reported_period_end = Some(d("2025-12-31"));
        assert_eq!(assess(&task, d("2026-01-05")).status, Status::AtRisk);
        task.kpis = vec![kpi(1.5, 1.25, Direction::Down, Some(("2026-01-01", 1.37)))];
        assert_eq!(assess(&task, d("2026-01-05")).status, Status::OnTrack);
    }

    #[test]
    fn overdue_when_past_due_or_a_milestone_is_long_late() {
        let mut past = facts();
        past.milestones = vec![
            milestone("2026-06-30", Some("2026-06-01")),
            milestone("2026-12-01", None),
        ];
        let a = assess(&past, d("2027-01-10"));
        assert_eq!(a.status, Status::Overdue);
        assert!(matches!(a.reasons[0], Reason::PastDue { days: 10, .. }));

        let mut long_late = facts();
        long_late.milestones = vec![milestone("2025-03-01", None)];
        long_late.last_reported_period_end = Some(d("2025-03-31"));
        let a = assess(&long_late, d("2025-05-01"));
        assert_eq!(a.status, Status::Overdue);
    }

    #[test]
    fn done_when_everything_is_met_or_reported_complete() {
        let mut task = facts();
        task.milestones = vec![milestone("2025-03-01", Some("2025-03-01"))];
        task.kpis = vec![kpi(10.0, 20.0, Direction::Up, Some(("2025-09-01", 21.0)))];
        let a = assess(&task, d("2027-03-01"));
        assert_eq!(a.status, Status::Done, "done wins over past due");
        let mut reported = facts();
        reported.accepted_percent = Some(100);
        assert_eq!(assess(&reported, d("2025-06-01")).status, Status::Done);
    }

    #[test]
    fn periods_parse_print_and_bound() {
        let q = Period::parse("2026-Q3").unwrap();
        assert_eq!((q.start(), q.end()), (d("2026-07-01"), d("2026-09-30")));
        assert_eq!(q.to_string(), "2026-Q3");
        assert_eq!(Period::parse("2026-Q4").unwrap().next().to_string(), "2027-Q1");
        let m = Period::parse("2024-02").unwrap();
        assert_eq!(m.end(), d("2024-02-29"));
        for bad in ["2026-Q5", "2026-13", "2026-1", "26-01", "2026Q1", ""] {
            assert!(Period::parse(bad).is_none(), "{bad}");
        }
        let ended = Period::ended_between(Cycle::Quarterly, d("2025-02-10"), d("2026-12-31"), d("2025-10-01"));
        let names: Vec<String> = ended.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["2025-Q1", "2025-Q2", "2025-Q3"]);
    }

    #[test]
    fn kpi_direction_and_sources() {
        assert!(Kpi::direction_is_consistent(0.0, 10.0, Direction::Up));
        assert!(!Kpi::direction_is_consistent(10.0, 5.0, Direction::Up));
        assert!(Kpi::direction_is_consistent(1.5, 1.25, Direction::Down));
        assert_eq!(KpiSource::parse("manual"), Some(KpiSource::Manual));
        assert_eq!(
            KpiSource::parse("indicator:charging.public_chargers"),
            Some(KpiSource::Indicator("charging.public_chargers".into()))
        );
        assert_eq!(KpiSource::parse("indicator:nodot"), None);
        assert_eq!(KpiSource::parse("live"), None);
    }

    #[test]
    fn rollups_count_each_task_once_per_group() {
        let code = |c: &str| JurisdictionCode::parse(c).unwrap();
        let a = [code("310000"), code("340100")];
        let b = [code("320509"), code("320500")];
        let tags = vec!["health".to_string()];
        let items = vec![
            RollupItem {
                aspect: 3,
                jurisdictions: &a,
                tags: &tags,
                status: Status::OnTrack,
            },
            RollupItem {
                aspect: 3,
                jurisdictions: &b,
                tags: &[],
                status: Status::AtRisk,
            },
        ];
        let by_province = rollup(items, RollupBy::Province);
        let keys: Vec<&str> = by_province.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["310000", "320000", "340000"]);
        assert_eq!(by_province[1].1.at_risk, 1);
        let items = vec![RollupItem {
            aspect: 3,
            jurisdictions: &b,
            tags: &[],
            status: Status::AtRisk,
        }];
        let by_city = rollup(items, RollupBy::City);
        assert_eq!(by_city.len(), 1, "Wujiang counts for Suzhou once");
        assert_eq!(by_city[0].0, "320500");
        let mut counts = StatusCounts::default();
        counts.add(Status::Done);
        counts.add(Status::Overdue);
        assert_eq!(counts.healthy_share(), Some(0.5));
    }
}

//! The action plan module: the 9 aspects and 165 key tasks of the 2024–2026 plan, with
//! owners, milestones, KPIs, progress reports and their review, risks, status rules
//! that explain themselves, roll-ups, the plan file, and the console pages.

pub mod console;
pub mod demo;
pub mod domain;
pub mod http;
pub mod planfile;
pub mod service;
pub mod store;

use std::sync::Arc;
use yrd_db::{Migration, Migrations};
use yrd_jobs::{JobHandler, JobSpec};
use yrd_kernel::{Bilingual, BoxFuture};
use yrd_web::i18n::Catalogue;
use yrd_web::{ApiRoutes, AppContext, Module, NavEntry};

pub use service::MODULE;

/// The shipped plan file: the nine aspects and the key tasks known from public reporting.
pub const SHIPPED_PLAN: &str = include_str!("../../../data/plan/yrd-2024-2026.toml");

#[derive(Default)]
pub struct PlanModule;

impl PlanModule {
    pub fn new() -> Self {
        PlanModule
    }
}

impl Module for PlanModule {
    fn name(&self) -> &'static str {
        MODULE
    }

    fn nav(&self) -> NavEntry {
        NavEntry {
            label: Bilingual::new("行动计划", "Action plan"),
            blurb: Bilingual::new(
                "九个方面、165 项重点任务的牵头单位、里程碑、指标和进展",
                "Owners, milestones, KPIs and progress of the 9 aspects and 165 key tasks",
            ),
            path: "/plan",
        }
    }

    fn migrations(&self) -> Migrations {
        Migrations {
            module: MODULE,
            steps: vec![Migration {
                version: 1,
                name: "plan",
                sqlite: include_str!("../migrations/0001_plan.sqlite.sql"),
                postgres: include_str!("../migrations/0001_plan.postgres.sql"),
            }],
        }
    }

    fn api(&self, ctx: &AppContext) -> ApiRoutes {
        http::routes(ctx)
    }

    fn console(&self, ctx: &AppContext) -> axum::Router {
        console::routes(ctx)
    }

    fn messages(&self) -> Catalogue {
        Catalogue {
            zh: include_str!("../i18n/zh-CN.txt"),
            en: include_str!("../i18n/en.txt"),
        }
    }

    fn jobs(&self, ctx: &AppContext) -> Vec<JobSpec> {
        let hourly = Some(std::time::Duration::from_secs(3600));
        vec![
            JobSpec {
                handler: Arc::new(ReportObligations(ctx.clone())),
                every: hourly,
            },
            JobSpec {
                handler: Arc::new(IndicatorValues(ctx.clone())),
                every: hourly,
            },
        ]
    }

    fn demo<'a>(&'a self, ctx: &'a AppContext) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(demo::load(ctx))
    }
}

/// Marks the reports each task owes as due or overdue, for the departments' lists.
struct ReportObligations(AppContext);

impl JobHandler for ReportObligations {
    fn kind(&self) -> &'static str {
        "plan.report_obligations"
    }
    fn run(&self, _payload: serde_json::Value) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let (due, overdue) = service::refresh_obligations(&self.0.db, http::today())
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(due, overdue, "plan report obligations refreshed");
            Ok(())
        })
    }
}

/// Records today's value of every KPI that reads a live indicator of another module.
struct IndicatorValues(AppContext);

impl JobHandler for IndicatorValues {
    fn kind(&self) -> &'static str {
        "plan.indicator_values"
    }
    fn run(&self, _payload: serde_json::Value) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let recorded = service::refresh_indicator_values(&self.0.db, self.0.indicators(), http::today())
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(recorded, "plan KPI values read from live indicators");
            Ok(())
        })
    }
}

//! Cross-province medical insurance: registries (funds, designated institutions, insured
//! persons), filing, the place of treatment's catalogue and the insured place's policy,
//! the settlement engine, the point-of-care flow, a double-entry clearing ledger with
//! two-phase holds, month-end clearing statements, reconciliation and claim review.

pub mod console;
pub mod demo;
pub mod domain;
pub mod http;
pub mod service;

pub use service::MODULE;

use sqlx::Row;
use std::sync::Arc;
use yrd_db::{Db, Migration, Migrations};
use yrd_jobs::{JobHandler, JobSpec};
use yrd_kernel::{Bilingual, BoxFuture, IndicatorError, IndicatorSource, JurisdictionCode};
use yrd_web::i18n::Catalogue;
use yrd_web::{ApiRoutes, AppContext, Module, NavEntry};

#[derive(Default)]
pub struct InsuranceModule;

impl InsuranceModule {
    pub fn new() -> Self {
        InsuranceModule
    }
}

impl Module for InsuranceModule {
    fn name(&self) -> &'static str {
        MODULE
    }

    fn nav(&self) -> NavEntry {
        NavEntry {
            label: Bilingual::new("异地就医结算", "Insurance"),
            blurb: Bilingual::new(
                "跨省直接结算、基金清算和定点机构",
                "Cross-province direct settlement, clearing between funds, designated institutions",
            ),
            path: "/insurance",
        }
    }

    fn migrations(&self) -> Migrations {
        Migrations {
            module: MODULE,
            steps: vec![
                Migration {
                    version: 1,
                    name: "insurance",
                    sqlite: include_str!("../migrations/0001_insurance.sqlite.sql"),
                    postgres: include_str!("../migrations/0001_insurance.postgres.sql"),
                },
                Migration {
                    version: 2,
                    name: "item_norms",
                    sqlite: include_str!("../migrations/0002_item_norms.sqlite.sql"),
                    postgres: include_str!("../migrations/0002_item_norms.postgres.sql"),
                },
            ],
        }
    }

    fn api(&self, _ctx: &AppContext) -> ApiRoutes {
        http::routes()
    }

    fn console(&self, _ctx: &AppContext) -> axum::Router {
        console::routes()
    }

    fn messages(&self) -> Catalogue {
        Catalogue {
            zh: include_str!("../i18n/zh-CN.txt"),
            en: include_str!("../i18n/en.txt"),
        }
    }

    fn jobs(&self, ctx: &AppContext) -> Vec<JobSpec> {
        vec![JobSpec {
            handler: Arc::new(ExpireQuotes(ctx.db.clone())),
            every: Some(std::time::Duration::from_secs(300)),
        }]
    }

    fn indicators(&self, ctx: &AppContext) -> Vec<Arc<dyn IndicatorSource>> {
        vec![Arc::new(NetworkedInstitutions(ctx.db.clone()))]
    }

    fn demo<'a>(&'a self, ctx: &'a AppContext) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(demo::load(&ctx.db, demo::DEMO_SETTLEMENTS))
    }
}

/// Quotes whose hold ran out are resolved as expired, once.
struct ExpireQuotes(Db);

impl JobHandler for ExpireQuotes {
    fn kind(&self) -> &'static str {
        "insurance.expire_quotes"
    }
    fn run(&self, _payload: serde_json::Value) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let expired = service::expire_quotes(&self.0).await.map_err(|e| e.to_string())?;
            tracing::info!(expired, "insurance quotes expired");
            Ok(())
        })
    }
}

/// Designated institutions networked for cross-province settlement: a KPI of the plan.
struct NetworkedInstitutions(Db);

impl IndicatorSource for NetworkedInstitutions {
    fn key(&self) -> &'static str {
        "insurance.designated_institutions"
    }
    fn label(&self) -> Bilingual {
        Bilingual::new(
            "跨省联网定点医药机构",
            "Designated institutions networked across provinces",
        )
    }
    fn unit(&self) -> &'static str {
        "count"
    }
    fn current(&self, within: Option<JurisdictionCode>) -> BoxFuture<'_, Result<f64, IndicatorError>> {
        Box::pin(async move {
            let pattern = within.map_or_else(|| "%".to_string(), |c| c.scope().like_pattern());
            let row = sqlx::query("SELECT COUNT(*) FROM ins_institutions WHERE status = 'designated' AND networked = 1 AND jurisdiction LIKE $1")
                .bind(pattern)
                .fetch_one(self.0.pool())
                .await
                .map_err(|e| IndicatorError::Unavailable(e.to_string()))?;
            Ok(row.get::<i64, _>(0) as f64)
        })
    }
}

//! Health interconnectivity: a FHIR R4 exchange between the region's hospitals with
//! tenancy by hospital, a patient index across provinces, consent on every
//! cross-hospital read, and mutual recognition of test results.

pub mod access;
pub mod console;
pub mod demo;
pub mod fhir;
pub mod fhir_http;
pub mod http;
pub mod mpi;
pub mod recognition;
pub mod store;

pub use store::MODULE;

use sqlx::Row;
use std::sync::Arc;
use yrd_db::{Db, Migration, Migrations};
use yrd_kernel::{Bilingual, BoxFuture, IndicatorError, IndicatorSource, JurisdictionCode};
use yrd_web::i18n::Catalogue;
use yrd_web::{ApiRoutes, AppContext, Module, NavEntry};

#[derive(Default)]
pub struct HealthModule;

impl HealthModule {
    pub fn new() -> Self {
        HealthModule
    }
}

impl Module for HealthModule {
    fn name(&self) -> &'static str {
        MODULE
    }

    fn nav(&self) -> NavEntry {
        NavEntry {
            label: Bilingual::new("医疗互通", "Health"),
            blurb: Bilingual::new(
                "医院间 FHIR 数据交换、患者授权和检查检验结果互认",
                "FHIR exchange between hospitals, patient consent, mutual recognition of test results",
            ),
            path: "/health",
        }
    }

    fn migrations(&self) -> Migrations {
        Migrations {
            module: MODULE,
            steps: vec![Migration {
                version: 1,
                name: "health",
                sqlite: include_str!("../migrations/0001_health.sqlite.sql"),
                postgres: include_str!("../migrations/0001_health.postgres.sql"),
            }],
        }
    }

    fn api(&self, _ctx: &AppContext) -> ApiRoutes {
        http::routes()
    }

    fn endpoints(&self, _ctx: &AppContext) -> axum::Router {
        fhir_http::routes()
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

    fn indicators(&self, ctx: &AppContext) -> Vec<Arc<dyn IndicatorSource>> {
        vec![Arc::new(RepeatsAvoided(ctx.db.clone()))]
    }

    fn demo<'a>(&'a self, ctx: &'a AppContext) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(demo::load(&ctx.db))
    }
}

/// Tests not repeated because another hospital's result was accepted: a KPI of the plan.
struct RepeatsAvoided(Db);

impl IndicatorSource for RepeatsAvoided {
    fn key(&self) -> &'static str {
        "health.results_recognised"
    }
    fn label(&self) -> Bilingual {
        Bilingual::new("跨机构互认的检查检验结果", "Test results recognised across hospitals")
    }
    fn unit(&self) -> &'static str {
        "count"
    }
    fn current(&self, within: Option<JurisdictionCode>) -> BoxFuture<'_, Result<f64, IndicatorError>> {
        Box::pin(async move {
            let pattern = within.map_or_else(|| "%".to_string(), |c| c.scope().like_pattern());
            let row = sqlx::query(
                "SELECT COUNT(*) FROM health_decisions d JOIN health_hospitals h ON h.org_id = d.reader_org WHERE d.decision = 'accepted' AND h.jurisdiction LIKE $1",
            )
            .bind(pattern)
            .fetch_one(self.0.pool())
            .await
            .map_err(|e| IndicatorError::Unavailable(e.to_string()))?;
            Ok(row.get::<i64, _>(0) as f64)
        })
    }
}

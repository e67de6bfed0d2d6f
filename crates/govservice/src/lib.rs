//! Trans-provincial government services: apply anywhere, decided by the competent
//! authority, with e-licences that every province can verify.
//!
//! - `domain`: the case state machine and the working-day clock (pure);
//! - `catalogue`: the service catalogue file;
//! - `licence`: e-licences as signed credentials and their status lists (pure);
//! - `service`, `http`, `console`, `demo`: storage, API, pages, demonstration data.

pub mod catalogue;
pub mod console;
pub mod demo;
pub mod domain;
pub mod http;
pub mod licence;
pub mod service;

pub use service::MODULE;

use sqlx::Row;
use std::sync::Arc;
use yrd_db::{Db, Migration, Migrations};
use yrd_kernel::{Bilingual, BoxFuture, IndicatorError, IndicatorSource, JurisdictionCode};
use yrd_web::i18n::Catalogue;
use yrd_web::{ApiRoutes, AppContext, Module, NavEntry};

/// The shipped demonstration catalogue.
pub const SHIPPED_CATALOGUE: &str = include_str!("../../../data/govservice/catalogue.toml");

#[derive(Default)]
pub struct GovServiceModule;

impl GovServiceModule {
    pub fn new() -> Self {
        GovServiceModule
    }
}

impl Module for GovServiceModule {
    fn name(&self) -> &'static str {
        MODULE
    }

    fn nav(&self) -> NavEntry {
        NavEntry {
            label: Bilingual::new("跨省通办", "Gov services"),
            blurb: Bilingual::new(
                "异地申请、属地审批，电子证照全区域核验",
                "Apply anywhere, decided by the competent province; e-licences verified everywhere",
            ),
            path: "/govservice",
        }
    }

    fn migrations(&self) -> Migrations {
        Migrations {
            module: MODULE,
            steps: vec![Migration {
                version: 1,
                name: "govservice",
                sqlite: include_str!("../migrations/0001_govservice.sqlite.sql"),
                postgres: include_str!("../migrations/0001_govservice.postgres.sql"),
            }],
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

    fn indicators(&self, ctx: &AppContext) -> Vec<Arc<dyn IndicatorSource>> {
        vec![
            Arc::new(Count {
                db: ctx.db.clone(),
                key: "govservice.services_online",
                label: Bilingual::new("跨省通办事项", "Cross-province services online"),
                sql: "SELECT COUNT(*) FROM gs_items WHERE ($1 = '' OR offered_in = '' OR offered_in LIKE $1 || '%' OR $1 LIKE offered_in || '%')",
            }),
            Arc::new(Count {
                db: ctx.db.clone(),
                key: "govservice.cross_province_cases",
                label: Bilingual::new("跨省办理件数", "Cases handled across provinces"),
                sql: "SELECT COUNT(*) FROM gs_cases WHERE SUBSTR(received_in, 1, 2) <> SUBSTR(authority, 1, 2) AND ($1 = '' OR authority LIKE $1 || '%' OR received_in LIKE $1 || '%')",
            }),
        ]
    }

    fn demo<'a>(&'a self, ctx: &'a AppContext) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(demo::load(&ctx.db))
    }
}

/// A count for the plan module's KPIs, region-wide or within a jurisdiction.
struct Count {
    db: Db,
    key: &'static str,
    label: Bilingual,
    sql: &'static str,
}

impl IndicatorSource for Count {
    fn key(&self) -> &'static str {
        self.key
    }
    fn label(&self) -> Bilingual {
        self.label
    }
    fn unit(&self) -> &'static str {
        "count"
    }
    fn current(&self, within: Option<JurisdictionCode>) -> BoxFuture<'_, Result<f64, IndicatorError>> {
        Box::pin(async move {
            let prefix = within.map(|c| c.scope().as_str().to_string()).unwrap_or_default();
            let row = sqlx::query(self.sql)
                .bind(prefix)
                .fetch_one(self.db.pool())
                .await
                .map_err(|e| IndicatorError::Unavailable(e.to_string()))?;
            Ok(row.get::<i64, _>(0) as f64)
        })
    }
}

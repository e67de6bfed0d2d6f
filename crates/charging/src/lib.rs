//! NEV charging and battery swapping: the network model of operators, stations,
//! connectors, swap stations and their packs, tariffs and tokens; an OCPP 1.6, 2.0.1
//! and 2.1 central system over WebSocket with remote commands, every message checked
//! against the official schemas; sessions priced into charge detail records, swaps
//! priced per swap; the driver's finder on a live index; network statistics.

pub mod broker;
pub mod central;
mod central201;
pub mod console;
pub mod demo;
pub mod finder;
pub mod http;
pub mod nats;
pub mod ocpi;
pub mod ocpp;
pub mod ocpp201;
pub mod pricing;
pub mod protocol;
pub mod schema;
pub mod store;
pub mod swap;
mod swap_http;

pub use store::MODULE;

use central::{Central, CommandRoute};
use sqlx::Row;
use std::sync::{Arc, OnceLock};
use yrd_db::{Migration, Migrations};
use yrd_kernel::{Bilingual, BoxFuture, IndicatorError, IndicatorSource, JurisdictionCode};
use yrd_web::i18n::Catalogue;
use yrd_web::{ApiRoutes, AppContext, Module, NavEntry};

#[derive(Default)]
pub struct ChargingModule {
    central: OnceLock<Arc<Central>>,
    route: OnceLock<Arc<dyn CommandRoute>>,
    /// A NATS URL when several nodes share the database.
    broker: Option<String>,
}

impl ChargingModule {
    pub fn new() -> Self {
        ChargingModule::default()
    }

    /// Several nodes: commands reach stations on other nodes through this NATS broker.
    pub fn with_broker(url: impl Into<String>) -> Self {
        ChargingModule {
            broker: Some(url.into()),
            ..ChargingModule::default()
        }
    }

    /// Where remote commands go: this node's connections, or the broker route.
    fn route(&self, ctx: &AppContext) -> Arc<dyn CommandRoute> {
        self.route
            .get_or_init(|| {
                let central = self.central(ctx);
                match &self.broker {
                    Some(url) => broker::BrokerRoute::start(central, url),
                    None => central,
                }
            })
            .clone()
    }

    /// The one central system of this app (the endpoint and the API share it).
    fn central(&self, ctx: &AppContext) -> Arc<Central> {
        self.central.get_or_init(|| Central::new(ctx.db.clone())).clone()
    }
}

impl Module for ChargingModule {
    fn name(&self) -> &'static str {
        MODULE
    }

    fn nav(&self) -> NavEntry {
        NavEntry {
            label: Bilingual::new("充换电", "Charging"),
            blurb: Bilingual::new(
                "一张网的新能源汽车充电桩：找桩、会话与计费、OCPP 接入",
                "One regional network of NEV chargers: finder, sessions and billing, OCPP",
            ),
            path: "/charging",
        }
    }

    fn migrations(&self) -> Migrations {
        Migrations {
            module: MODULE,
            steps: vec![
                Migration {
                    version: 1,
                    name: "charging",
                    sqlite: include_str!("../migrations/0001_charging.sqlite.sql"),
                    postgres: include_str!("../migrations/0001_charging.postgres.sql"),
                },
                Migration {
                    version: 2,
                    name: "ocpi",
                    sqlite: include_str!("../migrations/0002_ocpi.sqlite.sql"),
                    postgres: include_str!("../migrations/0002_ocpi.postgres.sql"),
                },
                Migration {
                    version: 3,
                    name: "tariff_bands_and_durations",
                    sqlite: include_str!("../migrations/0003_tariff_bands.sqlite.sql"),
                    postgres: include_str!("../migrations/0003_tariff_bands.postgres.sql"),
                },
                Migration {
                    version: 4,
                    name: "battery_swap_node_locations_meter_readings",
                    sqlite: include_str!("../migrations/0004_swap.sqlite.sql"),
                    postgres: include_str!("../migrations/0004_swap.postgres.sql"),
                },
            ],
        }
    }

    fn api(&self, ctx: &AppContext) -> ApiRoutes {
        http::routes(self.central(ctx), self.route(ctx))
    }

    fn endpoints(&self, ctx: &AppContext) -> axum::Router {
        central::routes(self.central(ctx)).merge(ocpi::routes(ctx.db.clone()))
    }

    fn console(&self, ctx: &AppContext) -> axum::Router {
        console::routes(self.central(ctx))
    }

    fn messages(&self) -> Catalogue {
        Catalogue {
            zh: include_str!("../i18n/zh-CN.txt"),
            en: include_str!("../i18n/en.txt"),
        }
    }

    fn indicators(&self, ctx: &AppContext) -> Vec<Arc<dyn IndicatorSource>> {
        vec![
            Arc::new(PublicChargers(ctx.db.clone())),
            Arc::new(SwapStations(ctx.db.clone())),
        ]
    }

    fn demo<'a>(&'a self, ctx: &'a AppContext) -> BoxFuture<'a, Result<(), String>> {
        let central = self.central(ctx);
        Box::pin(async move {
            demo::load(&ctx.db).await?;
            central.reload_index().await.map_err(|e| e.to_string())
        })
    }
}

/// Public charging connectors registered on the network: a KPI of the plan.
struct PublicChargers(yrd_db::Db);

impl IndicatorSource for PublicChargers {
    fn key(&self) -> &'static str {
        "charging.public_chargers"
    }
    fn label(&self) -> Bilingual {
        Bilingual::new("公共充电桩（接口）", "Public charging connectors")
    }
    fn unit(&self) -> &'static str {
        "count"
    }
    fn current(&self, within: Option<JurisdictionCode>) -> BoxFuture<'_, Result<f64, IndicatorError>> {
        Box::pin(async move {
            let pattern = within.map_or_else(|| "%".to_string(), |c| c.scope().like_pattern());
            let row = sqlx::query("SELECT COUNT(*) FROM ch_connectors c JOIN ch_stations s ON s.id = c.station_id WHERE s.public = 1 AND s.jurisdiction LIKE $1")
                .bind(pattern)
                .fetch_one(self.0.pool())
                .await
                .map_err(|e| IndicatorError::Unavailable(e.to_string()))?;
            Ok(row.get::<i64, _>(0) as f64)
        })
    }
}

/// Battery-swap stations registered on the network: a KPI of the plan.
struct SwapStations(yrd_db::Db);

impl IndicatorSource for SwapStations {
    fn key(&self) -> &'static str {
        "charging.swap_stations"
    }
    fn label(&self) -> Bilingual {
        Bilingual::new("换电站", "Battery-swap stations")
    }
    fn unit(&self) -> &'static str {
        "count"
    }
    fn current(&self, within: Option<JurisdictionCode>) -> BoxFuture<'_, Result<f64, IndicatorError>> {
        Box::pin(async move {
            let pattern = within.map_or_else(|| "%".to_string(), |c| c.scope().like_pattern());
            let row = sqlx::query("SELECT COUNT(*) FROM ch_swap_stations w JOIN ch_stations s ON s.id = w.station_id WHERE s.jurisdiction LIKE $1")
                .bind(pattern)
                .fetch_one(self.0.pool())
                .await
                .map_err(|e| IndicatorError::Unavailable(e.to_string()))?;
            Ok(row.get::<i64, _>(0) as f64)
        })
    }
}

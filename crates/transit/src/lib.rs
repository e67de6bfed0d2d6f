//! Regional rail: GTFS feeds (import, validation, export), GTFS-Realtime delays and
//! cancellations, journey planning with RAPTOR (`yrd-raptor`), the G8388 loop line.

pub mod console;
pub mod gtfs;
pub mod http;
pub mod network;
pub mod realtime;
pub mod service;

pub use service::MODULE;

use std::sync::Arc;
use yrd_db::{Migration, Migrations};
use yrd_kernel::{Bilingual, BoxFuture, IndicatorError, IndicatorSource, JurisdictionCode};
use yrd_web::i18n::Catalogue;
use yrd_web::{ApiRoutes, AppContext, Module, NavEntry};

/// The shipped demonstration feed's folder, relative to the repository.
pub const DEMO_FEED: &str = "yrd-rail";

/// The demonstration feed's files, compiled in.
pub fn demo_feed_files() -> std::collections::BTreeMap<String, String> {
    macro_rules! file {
        ($name:literal) => {
            (
                $name.to_string(),
                include_str!(concat!("../../../data/transit/yrd-rail/", $name)).to_string(),
            )
        };
    }
    [
        file!("agency.txt"),
        file!("stops.txt"),
        file!("routes.txt"),
        file!("trips.txt"),
        file!("stop_times.txt"),
        file!("calendar.txt"),
        file!("calendar_dates.txt"),
        file!("transfers.txt"),
        file!("feed_info.txt"),
        file!("translations.txt"),
    ]
    .into_iter()
    .collect()
}

#[derive(Default)]
pub struct TransitModule {
    shared: service::Shared,
}

impl TransitModule {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Module for TransitModule {
    fn name(&self) -> &'static str {
        MODULE
    }

    fn nav(&self) -> NavEntry {
        NavEntry {
            label: Bilingual::new("城际铁路", "Rail"),
            blurb: Bilingual::new(
                "长三角环线和城际列车的时刻与行程规划",
                "Timetables and journey planning on the loop line and intercity trains",
            ),
            path: "/transit",
        }
    }

    fn migrations(&self) -> Migrations {
        Migrations {
            module: MODULE,
            steps: vec![Migration {
                version: 1,
                name: "transit",
                sqlite: include_str!("../migrations/0001_transit.sqlite.sql"),
                postgres: include_str!("../migrations/0001_transit.postgres.sql"),
            }],
        }
    }

    fn api(&self, _ctx: &AppContext) -> ApiRoutes {
        http::routes(self.shared.clone())
    }

    fn console(&self, _ctx: &AppContext) -> axum::Router {
        console::routes(self.shared.clone())
    }

    fn messages(&self) -> Catalogue {
        Catalogue {
            zh: include_str!("../i18n/zh-CN.txt"),
            en: include_str!("../i18n/en.txt"),
        }
    }

    fn indicators(&self, ctx: &AppContext) -> Vec<Arc<dyn IndicatorSource>> {
        vec![Arc::new(CitiesConnected {
            db: ctx.db.clone(),
            shared: self.shared.clone(),
        })]
    }

    fn demo<'a>(&'a self, ctx: &'a AppContext) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            if service::feeds(&ctx.db)
                .await
                .map_err(|e| e.to_string())?
                .iter()
                .any(|f| f.id == DEMO_FEED)
            {
                return Ok(());
            }
            service::import(&ctx.db, "system", DEMO_FEED, demo_feed_files())
                .await
                .map(|_| ())
                .map_err(|e| format!("{e:?}"))
        })
    }
}

/// Cities with at least one station in the loaded feeds.
struct CitiesConnected {
    db: yrd_db::Db,
    shared: service::Shared,
}

impl IndicatorSource for CitiesConnected {
    fn key(&self) -> &'static str {
        "transit.cities_connected"
    }
    fn label(&self) -> Bilingual {
        Bilingual::new("通达城际铁路的城市", "Cities on the intercity rail network")
    }
    fn unit(&self) -> &'static str {
        "count"
    }
    fn current(&self, within: Option<JurisdictionCode>) -> BoxFuture<'_, Result<f64, IndicatorError>> {
        Box::pin(async move {
            let network = self
                .shared
                .network(&self.db)
                .await
                .map_err(|e| IndicatorError::Unavailable(e.to_string()))?;
            let mut cities: Vec<JurisdictionCode> = network
                .stations
                .iter()
                .filter_map(|s| s.city())
                .filter(|c| within.is_none_or(|w| w.scope().covers(*c)))
                .collect();
            cities.sort();
            cities.dedup();
            Ok(cities.len() as f64)
        })
    }
}

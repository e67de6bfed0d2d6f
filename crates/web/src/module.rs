//! The seam between the platform and a module.

use crate::api::ApiRoutes;
use crate::i18n::Catalogue;
use axum::Router;
use std::sync::{Arc, OnceLock};
use yrd_db::{Db, Migrations};
use yrd_jobs::JobSpec;
use yrd_kernel::{Bilingual, BoxFuture, IndicatorSource};

/// A module's entry in the navigation and its tile on the home page.
#[derive(Debug, Clone)]
pub struct NavEntry {
    pub label: Bilingual,
    pub blurb: Bilingual,
    /// Console path of the module's first page, e.g. `/plan`.
    pub path: &'static str,
}

/// What a module contributes. `crates/yrd` holds the one list of modules.
pub trait Module: Send + Sync + 'static {
    /// URL segment, audit module and grant module name, e.g. `plan`.
    fn name(&self) -> &'static str;
    fn nav(&self) -> NavEntry;
    fn migrations(&self) -> Migrations;
    /// JSON API, mounted at `/api/v1/<name>`.
    fn api(&self, _ctx: &AppContext) -> ApiRoutes {
        ApiRoutes::new()
    }
    /// Protocol endpoints outside the JSON API (e.g. FHIR at `/fhir`), merged at the root.
    /// They answer in their protocol's own error format.
    fn endpoints(&self, _ctx: &AppContext) -> Router {
        Router::new()
    }
    /// Console pages, mounted at `/<name>`.
    fn console(&self, _ctx: &AppContext) -> Router {
        Router::new()
    }
    /// Console text in both languages (`key = text` lines; keys begin with the module name).
    fn messages(&self) -> Catalogue {
        Catalogue::default()
    }
    fn jobs(&self, _ctx: &AppContext) -> Vec<JobSpec> {
        Vec::new()
    }
    /// Live figures other modules may read.
    fn indicators(&self, _ctx: &AppContext) -> Vec<Arc<dyn IndicatorSource>> {
        Vec::new()
    }
    /// Loads the module's demonstration data; running it twice changes nothing.
    fn demo<'a>(&'a self, _ctx: &'a AppContext) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

/// Shared by every part of a running platform.
#[derive(Clone)]
pub struct AppContext {
    pub db: Db,
    pub config: Arc<Config>,
    indicators: Arc<OnceLock<Vec<Arc<dyn IndicatorSource>>>>,
}

/// Settings of a running server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Mark cookies `Secure` (behind HTTPS).
    pub secure_cookies: bool,
    /// Whether demonstration data is loaded (the console says so).
    pub demo: bool,
    pub request_timeout: std::time::Duration,
    pub body_limit: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            secure_cookies: false,
            demo: false,
            request_timeout: std::time::Duration::from_secs(30),
            body_limit: crate::extract::DEFAULT_BODY_LIMIT,
        }
    }
}

impl AppContext {
    pub fn new(db: Db, config: Config) -> Self {
        AppContext {
            db,
            config: Arc::new(config),
            indicators: Arc::new(OnceLock::new()),
        }
    }

    /// Every module's indicators (set once, when the app is assembled).
    pub fn indicators(&self) -> &[Arc<dyn IndicatorSource>] {
        self.indicators.get().map_or(&[], Vec::as_slice)
    }

    pub fn indicator(&self, key: &str) -> Option<Arc<dyn IndicatorSource>> {
        self.indicators().iter().find(|i| i.key() == key).cloned()
    }

    pub(crate) fn set_indicators(&self, indicators: Vec<Arc<dyn IndicatorSource>>) {
        let _ = self.indicators.set(indicators);
    }
}

/// Every migration set the platform needs, kernel first, then the modules'.
pub fn all_migrations(modules: &[Arc<dyn Module>]) -> Vec<Migrations> {
    let mut sets = vec![yrd_audit::migrations(), yrd_auth::migrations(), yrd_jobs::migrations()];
    sets.extend(modules.iter().map(|m| m.migrations()));
    sets
}

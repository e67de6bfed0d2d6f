//! The web shell: the [`Module`] trait, the API router that documents itself
//! (OpenAPI 3.1), problem+json errors, the caller and permission checks, metrics,
//! the bilingual console and the assembly of the whole platform.

pub mod api;
pub mod app;
pub mod caller;
pub mod console;
pub mod core_api;
pub mod extract;
pub mod i18n;
pub mod metrics;
pub mod module;
pub mod panic;
pub mod problem;
pub mod service_error;

pub use api::{ApiRoutes, Doc};
pub use app::{Platform, build, serve};
pub use caller::Auth;
pub use extract::{Json, Query};
pub use module::{AppContext, Config, Module, NavEntry, all_migrations};
pub use problem::{ApiError, ApiResult};
pub use service_error::{ServiceError, invalid};

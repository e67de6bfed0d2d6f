//! Trans-provincial government services.
pub mod domain;
pub mod licence;

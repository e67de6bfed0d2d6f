//! Trans-provincial government services.
pub mod catalogue;
pub mod domain;
pub mod licence;
pub mod service;

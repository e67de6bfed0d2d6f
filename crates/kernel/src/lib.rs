//! Pure shared types of the YRD Platform: jurisdictions and scopes, access levels,
//! money, validation errors, bilingual text and the cross-module indicator seam.
//!
//! Nothing here does I/O; every other crate may depend on this one.

pub mod access;
pub mod indicator;
pub mod jurisdiction;
pub mod money;
pub mod national_id;
pub mod text;
pub mod time;
pub mod validation;

pub use access::AccessLevel;
pub use indicator::{IndicatorError, IndicatorSource};
pub use jurisdiction::{Jurisdiction, JurisdictionCode, JurisdictionError, JurisdictionLevel, Scope, jurisdictions};
pub use money::Fen;
pub use text::Bilingual;
pub use validation::{FieldError, RecordError, ValidationErrors};

/// A boxed future, for the object-safe async seams between crates.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

//! The seam through which one module reads a live figure from another
//! (for example the plan module reading the number of public chargers).
//! Modules implement it; `crates/yrd` wires the sources together, so no module
//! depends on another.

use crate::{Bilingual, BoxFuture, JurisdictionCode};

#[derive(Debug, thiserror::Error)]
pub enum IndicatorError {
    #[error("indicator not available: {0}")]
    Unavailable(String),
}

pub trait IndicatorSource: Send + Sync {
    /// Stable key, `<module>.<name>`, e.g. `charging.public_chargers`.
    fn key(&self) -> &'static str;
    fn label(&self) -> Bilingual;
    /// Unit of the value, e.g. `count`, `percent`, `fen`.
    fn unit(&self) -> &'static str;
    /// The current value, for the whole region (`None`) or within one jurisdiction.
    fn current(&self, within: Option<JurisdictionCode>) -> BoxFuture<'_, Result<f64, IndicatorError>>;
}

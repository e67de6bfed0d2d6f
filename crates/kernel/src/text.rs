//! Text shown to people in both console languages.

use serde::Serialize;

/// A pair of Chinese and English strings for the same meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Bilingual {
    pub zh: &'static str,
    pub en: &'static str,
}

impl Bilingual {
    pub const fn new(zh: &'static str, en: &'static str) -> Self {
        Self { zh, en }
    }
}

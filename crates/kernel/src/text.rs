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

/// `1234567` → `1,234,567`.
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

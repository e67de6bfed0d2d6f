//! Money as integer fen (0.01 yuan). Never floating point.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fen(pub i64);

impl Fen {
    pub fn checked_add(self, other: Fen) -> Option<Fen> {
        self.0.checked_add(other.0).map(Fen)
    }
    pub fn checked_sub(self, other: Fen) -> Option<Fen> {
        self.0.checked_sub(other.0).map(Fen)
    }
}

/// `¥1,234.56`, with a leading minus for negative amounts.
impl fmt::Display for Fen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let grouped = crate::text::group_thousands(abs / 100);
        write!(f, "{sign}¥{grouped}.{:02}", abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::Fen;

    #[test]
    fn formats_yuan_with_two_decimals() {
        assert_eq!(Fen(0).to_string(), "¥0.00");
        assert_eq!(Fen(5).to_string(), "¥0.05");
        assert_eq!(Fen(123_456).to_string(), "¥1,234.56");
        assert_eq!(Fen(-100_000_001).to_string(), "-¥1,000,000.01");
        assert_eq!(Fen(i64::MIN).to_string(), "-¥92,233,720,368,547,758.08");
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(Fen(1).checked_add(Fen(2)), Some(Fen(3)));
        assert_eq!(Fen(i64::MAX).checked_add(Fen(1)), None);
        assert_eq!(Fen(i64::MIN).checked_sub(Fen(1)), None);
    }
}

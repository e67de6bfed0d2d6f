//! Time conventions: stored in UTC as RFC 3339 text, shown in Asia/Shanghai.

use chrono::{DateTime, FixedOffset, NaiveDate, SecondsFormat, Utc};

/// China Standard Time has been UTC+8 all year since 1991, so a fixed offset is exact.
pub fn shanghai() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// The canonical stored form of an instant: `2026-11-28T09:27:25.123456Z`.
/// Fixed width, so text order is time order on both database backends.
pub fn to_db(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Today's date in China Standard Time, the region's calendar.
pub fn today() -> NaiveDate {
    Utc::now().with_timezone(&shanghai()).date_naive()
}

pub fn now_db() -> String {
    to_db(Utc::now())
}

pub fn from_db(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|at| at.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_round_trips_and_sorts() {
        let a = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        let b = a + chrono::Duration::microseconds(1);
        assert_eq!(to_db(a), "2026-01-02T03:04:05.000000Z");
        assert_eq!(from_db(&to_db(b)), Some(b));
        assert!(to_db(a) < to_db(b));
        assert_eq!(a.with_timezone(&shanghai()).to_rfc3339(), "2026-01-02T11:04:05+08:00");
    }
}

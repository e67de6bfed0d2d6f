//! Search parameters: what is indexed for each resource type when it is written, and
//! how a search URL's parameters are read.

use super::FhirError;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;
use yrd_kernel::time::{shanghai, to_db};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Token,
    String,
    Date,
    Reference,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Token => "token",
            Kind::String => "string",
            Kind::Date => "date",
            Kind::Reference => "reference",
        }
    }
}

/// The parameters each type supports besides `_id`, `_lastUpdated` and `_count`.
pub fn params(res_type: &str) -> &'static [(&'static str, Kind)] {
    use Kind::*;
    match res_type {
        "Patient" => &[
            ("identifier", Token),
            ("name", String),
            ("family", String),
            ("birthdate", Date),
            ("gender", Token),
        ],
        "Organization" | "Practitioner" => &[("identifier", Token), ("name", String)],
        "Encounter" => &[
            ("identifier", Token),
            ("status", Token),
            ("class", Token),
            ("date", Date),
            ("subject", Reference),
            ("patient", Reference),
        ],
        "Observation" | "DiagnosticReport" => &[
            ("identifier", Token),
            ("status", Token),
            ("code", Token),
            ("category", Token),
            ("date", Date),
            ("subject", Reference),
            ("patient", Reference),
        ],
        "ImagingStudy" => &[
            ("identifier", Token),
            ("status", Token),
            ("modality", Token),
            ("bodysite", Token),
            ("started", Date),
            ("subject", Reference),
            ("patient", Reference),
        ],
        "Consent" => &[
            ("identifier", Token),
            ("status", Token),
            ("date", Date),
            ("patient", Reference),
            ("actor", Reference),
        ],
        "Provenance" => &[("target", Reference), ("patient", Reference), ("recorded", Date)],
        _ => &[],
    }
}

/// One row of the search index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub param: &'static str,
    pub system: Option<String>,
    pub value: Option<String>,
    pub lo: Option<String>,
    pub hi: Option<String>,
}

impl Entry {
    fn token(param: &'static str, system: Option<&str>, value: &str) -> Self {
        Entry {
            param,
            system: system.map(str::to_string),
            value: Some(value.to_string()),
            lo: None,
            hi: None,
        }
    }

    fn text(param: &'static str, value: &str) -> Self {
        Entry::token(param, None, &value.to_lowercase())
    }

    fn date(param: &'static str, (lo, hi): (String, String)) -> Self {
        Entry {
            param,
            system: None,
            value: None,
            lo: Some(lo),
            hi: Some(hi),
        }
    }
}

fn list<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    let item = value.get(key);
    let many = item.and_then(Value::as_array).map(|a| a.iter());
    let one = item.filter(|v| !v.is_array()).into_iter();
    many.into_iter().flatten().chain(one)
}

fn coding_entry(param: &'static str, coding: &Value) -> Option<Entry> {
    let code = coding.get("code")?.as_str()?;
    Some(Entry::token(param, coding.get("system").and_then(Value::as_str), code))
}

fn reference_entries(param: &'static str, resource: &Value, key: &str, out: &mut Vec<Entry>) {
    for reference in list(resource, key) {
        if let Some(text) = reference.get("reference").and_then(Value::as_str) {
            out.push(Entry::token(param, None, text));
        }
    }
}

fn date_entry(param: &'static str, resource: &Value, date_key: &str, period_key: Option<&str>, out: &mut Vec<Entry>) {
    if let Some(range) = resource.get(date_key).and_then(Value::as_str).and_then(date_range) {
        out.push(Entry::date(param, range));
    }
    if let Some(period) = period_key.and_then(|k| resource.get(k)) {
        let lo = period.get("start").and_then(Value::as_str).and_then(date_range);
        let hi = period.get("end").and_then(Value::as_str).and_then(date_range);
        if lo.is_some() || hi.is_some() {
            let lo = lo.map_or_else(|| MIN_INSTANT.to_string(), |r| r.0);
            let hi = hi.map_or_else(|| MAX_INSTANT.to_string(), |r| r.1);
            out.push(Entry::date(param, (lo, hi)));
        }
    }
}

/// Everything a stored resource can be found by.
pub fn index(res_type: &str, resource: &Value) -> Vec<Entry> {
    let mut out = Vec::new();
    for identifier in list(resource, "identifier") {
        if let Some(value) = identifier.get("value").and_then(Value::as_str) {
            out.push(Entry::token(
                "identifier",
                identifier.get("system").and_then(Value::as_str),
                value,
            ));
        }
    }
    if let Some(status) = resource.get("status").and_then(Value::as_str) {
        out.push(Entry::token("status", None, status));
    }
    match res_type {
        "Patient" | "Practitioner" => {
            for name in list(resource, "name") {
                for family in list(name, "family").filter_map(Value::as_str) {
                    out.push(Entry::text("family", family));
                    out.push(Entry::text("name", family));
                }
                for part in list(name, "given").chain(list(name, "text")).filter_map(Value::as_str) {
                    out.push(Entry::text("name", part));
                }
            }
            if let Some(gender) = resource.get("gender").and_then(Value::as_str) {
                out.push(Entry::token("gender", None, gender));
            }
            date_entry("birthdate", resource, "birthDate", None, &mut out);
        }
        "Organization" => {
            for name in list(resource, "name")
                .chain(list(resource, "alias"))
                .filter_map(Value::as_str)
            {
                out.push(Entry::text("name", name));
            }
        }
        "Encounter" => {
            if let Some(class) = resource.get("class").and_then(|c| coding_entry("class", c)) {
                out.push(class);
            }
            date_entry("date", resource, "", Some("period"), &mut out);
        }
        "Observation" | "DiagnosticReport" => {
            for key in ["code", "category"] {
                let param = if key == "code" { "code" } else { "category" };
                for concept in list(resource, key) {
                    out.extend(list(concept, "coding").filter_map(|c| coding_entry(param, c)));
                }
            }
            date_entry("date", resource, "effectiveDateTime", Some("effectivePeriod"), &mut out);
            date_entry("date", resource, "effectiveInstant", None, &mut out);
        }
        "ImagingStudy" => {
            out.extend(list(resource, "modality").filter_map(|c| coding_entry("modality", c)));
            for series in list(resource, "series") {
                out.extend(series.get("modality").and_then(|c| coding_entry("modality", c)));
                out.extend(series.get("bodySite").and_then(|c| coding_entry("bodysite", c)));
            }
            date_entry("started", resource, "started", None, &mut out);
        }
        "Consent" => {
            reference_entries("patient", resource, "patient", &mut out);
            date_entry("date", resource, "dateTime", None, &mut out);
            if let Some(provision) = resource.get("provision") {
                for actor in list(provision, "actor") {
                    if let Some(reference) = actor.get("reference") {
                        reference_entries("actor", &serde_json::json!({"r": reference}), "r", &mut out);
                    }
                }
            }
        }
        "Provenance" => {
            reference_entries("target", resource, "target", &mut out);
            for target in list(resource, "target") {
                if let Some(text) = target.get("reference").and_then(Value::as_str)
                    && text.starts_with("Patient/")
                {
                    out.push(Entry::token("patient", None, text));
                }
            }
            date_entry("recorded", resource, "recorded", None, &mut out);
        }
        _ => {}
    }
    if matches!(
        res_type,
        "Encounter" | "Observation" | "DiagnosticReport" | "ImagingStudy"
    ) {
        reference_entries("subject", resource, "subject", &mut out);
        for subject in list(resource, "subject") {
            if let Some(text) = subject.get("reference").and_then(Value::as_str)
                && text.starts_with("Patient/")
            {
                out.push(Entry::token("patient", None, text));
            }
        }
    }
    out
}

pub const MIN_INSTANT: &str = "0001-01-01T00:00:00.000000Z";
pub const MAX_INSTANT: &str = "9999-12-31T23:59:59.999999Z";

/// The span of instants a FHIR date, dateTime or instant stands for, in the stored
/// form (UTC, fixed width). A date without a zone is a day in China Standard Time.
pub fn date_range(text: &str) -> Option<(String, String)> {
    let local = |naive: NaiveDateTime| {
        shanghai()
            .from_local_datetime(&naive)
            .single()
            .map(|t| t.with_timezone(&Utc))
    };
    let span = |start: NaiveDate, end: NaiveDate| -> Option<(String, String)> {
        let lo = local(start.and_hms_opt(0, 0, 0)?)?;
        let hi = local(end.and_hms_opt(0, 0, 0)?)? - Duration::microseconds(1);
        Some((to_db(lo), to_db(hi)))
    };
    match text.len() {
        4 => {
            let year: i32 = text.parse().ok()?;
            span(
                NaiveDate::from_ymd_opt(year, 1, 1)?,
                NaiveDate::from_ymd_opt(year + 1, 1, 1)?,
            )
        }
        7 => {
            let start = NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d").ok()?;
            let next = if start.month() == 12 {
                NaiveDate::from_ymd_opt(start.year() + 1, 1, 1)?
            } else {
                NaiveDate::from_ymd_opt(start.year(), start.month() + 1, 1)?
            };
            span(start, next)
        }
        10 => {
            let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
            span(day, day.succ_opt()?)
        }
        _ => {
            // Seconds are optional in a search value (`2024-05-01T10:00+08:00`).
            let has_seconds = text.as_bytes().get(16) == Some(&b':');
            let full = match (has_seconds, text.get(..16), text.get(16..)) {
                (false, Some(head), Some(zone)) => format!("{head}:00{zone}"),
                _ => text.to_string(),
            };
            let at = DateTime::parse_from_rfc3339(&full).ok()?.with_timezone(&Utc);
            let precision = if has_seconds {
                Duration::seconds(1)
            } else {
                Duration::minutes(1)
            };
            let exact = text.contains('.');
            let hi = if exact {
                at
            } else {
                at + precision - Duration::microseconds(1)
            };
            Some((to_db(at), to_db(hi)))
        }
    }
}

/// A date comparison of a search value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    Eq,
    Ge,
    Le,
    Gt,
    Lt,
}

/// One condition of a search: all must hold; a condition with several values holds if
/// any of them does.
#[derive(Debug, Clone)]
pub enum Condition {
    Id(Vec<String>),
    LastUpdated(Prefix, String, String),
    Token {
        param: &'static str,
        values: Vec<(Option<String>, String)>,
    },
    Text {
        param: &'static str,
        values: Vec<String>,
    },
    Date {
        param: &'static str,
        prefix: Prefix,
        lo: String,
        hi: String,
    },
}

#[derive(Debug, Clone)]
pub struct Query {
    pub conditions: Vec<Condition>,
    pub count: usize,
    pub offset: usize,
}

pub const DEFAULT_COUNT: usize = 20;
pub const MAX_COUNT: usize = 100;
/// Deeper pages than this are refused: narrow the search instead.
pub const MAX_OFFSET: usize = 10_000;
/// Values of one parameter (`code=a,b,…`) and parameters of one search.
pub const MAX_VALUES: usize = 100;
pub const MAX_CONDITIONS: usize = 30;

fn date_value(name: &str, raw: &str) -> Result<(Prefix, String, String), FhirError> {
    let (prefix, text) = match raw.get(..2) {
        Some("eq") => (Prefix::Eq, &raw[2..]),
        Some("ge") => (Prefix::Ge, &raw[2..]),
        Some("le") => (Prefix::Le, &raw[2..]),
        Some("gt") => (Prefix::Gt, &raw[2..]),
        Some("lt") => (Prefix::Lt, &raw[2..]),
        _ => (Prefix::Eq, raw),
    };
    let (lo, hi) = date_range(text).ok_or_else(|| {
        FhirError::BadRequest(format!(
            "search parameter '{name}': '{raw}' is not a date (YYYY, YYYY-MM, YYYY-MM-DD or a date-time with zone), optionally prefixed eq, ge, le, gt or lt"
        ))
    })?;
    Ok((prefix, lo, hi))
}

/// Reads a search's parameters for `res_type`; unknown parameters are refused by name.
pub fn parse(res_type: &str, pairs: &[(String, String)]) -> Result<Query, FhirError> {
    let mut query = Query {
        conditions: Vec::new(),
        count: DEFAULT_COUNT,
        offset: 0,
    };
    let known = params(res_type);
    for (name, raw) in pairs {
        let bad = |why: &str| FhirError::BadRequest(format!("search parameter '{name}': {why}"));
        if raw.is_empty() {
            return Err(bad("has no value"));
        }
        if raw.split(',').count() > MAX_VALUES {
            return Err(bad(&format!("at most {MAX_VALUES} values")));
        }
        if query.conditions.len() >= MAX_CONDITIONS {
            return Err(bad(&format!("at most {MAX_CONDITIONS} conditions in one search")));
        }
        match name.as_str() {
            "_count" => {
                let n: usize = raw.parse().map_err(|_| bad("must be a whole number"))?;
                query.count = n.min(MAX_COUNT);
            }
            "_offset" => {
                query.offset = raw
                    .parse()
                    .ok()
                    .filter(|n| *n <= MAX_OFFSET)
                    .ok_or_else(|| bad(&format!("must be a whole number up to {MAX_OFFSET}")))?;
            }
            "_format" if raw.contains("json") => {}
            // Presentation hints this server may ignore: JSON is always compact, totals always given.
            "_pretty" | "_total" => {}
            "_id" => query
                .conditions
                .push(Condition::Id(raw.split(',').map(str::to_string).collect())),
            "_lastUpdated" => {
                let (prefix, lo, hi) = date_value(name, raw)?;
                query.conditions.push(Condition::LastUpdated(prefix, lo, hi));
            }
            _ => {
                let Some((param, kind)) = known.iter().find(|(p, _)| *p == name.as_str()) else {
                    let names: Vec<&str> = known.iter().map(|(p, _)| *p).collect();
                    return Err(bad(&format!(
                        "not supported for {res_type}; supported: _id, _lastUpdated, _count, {}",
                        names.join(", ")
                    )));
                };
                query.conditions.push(match kind {
                    Kind::Token => Condition::Token {
                        param,
                        values: raw
                            .split(',')
                            .map(|v| match v.split_once('|') {
                                Some((system, code)) => (Some(system.to_string()), code.to_string()),
                                None => (None, v.to_string()),
                            })
                            .collect(),
                    },
                    Kind::Reference => Condition::Token {
                        param,
                        values: raw
                            .split(',')
                            .map(|v| {
                                // An absolute reference to this server names the same resource.
                                let v = match v.rfind("/fhir/") {
                                    Some(at) if v.starts_with("http") => &v[at + "/fhir/".len()..],
                                    _ => v,
                                };
                                let reference = if v.contains('/') {
                                    v.to_string()
                                } else {
                                    let target = match *param {
                                        "patient" | "subject" => "Patient",
                                        "actor" => "Organization",
                                        _ => "Patient",
                                    };
                                    format!("{target}/{v}")
                                };
                                (None, reference)
                            })
                            .collect(),
                    },
                    Kind::String => Condition::Text {
                        param,
                        values: raw.split(',').map(str::to_lowercase).collect(),
                    },
                    Kind::Date => {
                        let (prefix, lo, hi) = date_value(name, raw)?;
                        Condition::Date { param, prefix, lo, hi }
                    }
                });
            }
        }
    }
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_become_spans_in_china_time() {
        assert_eq!(
            date_range("2024-05-01").unwrap(),
            (
                "2024-04-30T16:00:00.000000Z".into(),
                "2024-05-01T15:59:59.999999Z".into()
            )
        );
        let (lo, hi) = date_range("2024-02").unwrap();
        assert_eq!(
            (lo.as_str(), hi.as_str()),
            ("2024-01-31T16:00:00.000000Z", "2024-02-29T15:59:59.999999Z")
        );
        let (lo, hi) = date_range("2024-05-01T10:00:00+08:00").unwrap();
        assert_eq!(
            (lo.as_str(), hi.as_str()),
            ("2024-05-01T02:00:00.000000Z", "2024-05-01T02:00:00.999999Z")
        );
        let (lo, hi) = date_range("2024-05-01T10:00+08:00").unwrap();
        assert_eq!(
            (lo.as_str(), hi.as_str()),
            ("2024-05-01T02:00:00.000000Z", "2024-05-01T02:00:59.999999Z")
        );
        assert!(date_range("2024-13").is_none());
        assert!(date_range("yesterday").is_none());
    }

    #[test]
    fn observations_are_indexed_by_code_date_and_patient() {
        let observation = json!({
            "resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": "2024-05-01T09:00:00+08:00"
        });
        let entries = index("Observation", &observation);
        assert!(entries.contains(&Entry::token("code", Some("http://loinc.org"), "718-7")));
        assert!(entries.contains(&Entry::token("patient", None, "Patient/p1")));
        assert!(
            entries
                .iter()
                .any(|e| e.param == "date" && e.lo.as_deref() == Some("2024-05-01T01:00:00.000000Z"))
        );
    }

    #[test]
    fn unknown_parameters_and_bad_dates_are_named() {
        let pairs = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        let error = parse("Observation", &pairs("colour", "red")).unwrap_err();
        assert!(error.to_string().contains("'colour'"), "{error}");
        let error = parse("Observation", &pairs("date", "ge2024-99")).unwrap_err();
        assert!(error.to_string().contains("'date'"), "{error}");
        let query = parse("Observation", &pairs("patient", "p1")).unwrap();
        assert!(matches!(&query.conditions[0], Condition::Token { values, .. } if values[0].1 == "Patient/p1"));
        assert_eq!(parse("Patient", &pairs("_count", "1000")).unwrap().count, MAX_COUNT);
    }
}

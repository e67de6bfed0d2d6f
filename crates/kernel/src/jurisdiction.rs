//! The region's jurisdictions, identified by their GB/T 2260 administrative division
//! codes, and access scopes as code prefixes.
//!
//! The table ships inside the binary (`data/jurisdictions.csv`), so a
//! [`JurisdictionCode`] can only hold a code the platform knows.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

const TABLE: &str = include_str!("../../../data/jurisdictions.csv");

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JurisdictionError {
    #[error("'{0}' is not a 6-digit GB/T 2260 code")]
    Malformed(String),
    #[error("'{0}' is not a jurisdiction of the Yangtze River Delta region")]
    Unknown(String),
    #[error("'{0}' is not a scope: expected empty (whole region) or the first 2, 4 or 6 digits of a known code")]
    BadScope(String),
}

/// A known 6-digit GB/T 2260 code, e.g. `320500` (Suzhou, Jiangsu).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JurisdictionCode(u32);

impl JurisdictionCode {
    pub fn parse(text: &str) -> Result<Self, JurisdictionError> {
        let code = parse_six_digits(text)?;
        if jurisdictions().get(code).is_none() {
            return Err(JurisdictionError::Unknown(text.to_string()));
        }
        Ok(code)
    }

    pub fn as_u32(self) -> u32 {
        self.0
    }

    /// The six ASCII digits, without allocating.
    pub fn digits(self) -> [u8; 6] {
        let mut out = [b'0'; 6];
        let mut rest = self.0;
        for digit in out.iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        out
    }

    /// The jurisdiction this code names (always present: codes are checked on parse).
    pub fn jurisdiction(self) -> &'static Jurisdiction {
        jurisdictions()
            .get(self)
            .expect("a JurisdictionCode is only built from the shipped table")
    }

    /// The province this jurisdiction belongs to (itself for a province).
    pub fn province(self) -> JurisdictionCode {
        JurisdictionCode(self.0 / 10_000 * 10_000)
    }

    /// The narrowest scope that covers exactly this jurisdiction and what lies inside it.
    pub fn scope(self) -> Scope {
        let digits = self.to_string();
        let len = match self.jurisdiction().level {
            JurisdictionLevel::Province => 2,
            JurisdictionLevel::City => 4,
            JurisdictionLevel::District | JurisdictionLevel::County => 6,
        };
        Scope(digits[..len].to_string())
    }
}

fn parse_six_digits(text: &str) -> Result<JurisdictionCode, JurisdictionError> {
    if text.len() != 6 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(JurisdictionError::Malformed(text.to_string()));
    }
    let value = text
        .parse()
        .map_err(|_| JurisdictionError::Malformed(text.to_string()))?;
    Ok(JurisdictionCode(value))
}

impl fmt::Display for JurisdictionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06}", self.0)
    }
}

impl FromStr for JurisdictionCode {
    type Err = JurisdictionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for JurisdictionCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for JurisdictionCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for JurisdictionCode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "JurisdictionCode".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]{6}$",
            "description": "GB/T 2260 administrative division code of a jurisdiction in the region, e.g. 320500",
            "examples": ["320500"]
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum JurisdictionLevel {
    Province,
    City,
    District,
    County,
}

impl JurisdictionLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Province => "province",
            Self::City => "city",
            Self::District => "district",
            Self::County => "county",
        }
    }
}

impl FromStr for JurisdictionLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Province, Self::City, Self::District, Self::County]
            .into_iter()
            .find(|level| level.as_str() == s)
            .ok_or_else(|| format!("unknown level '{s}': expected province, city, district or county"))
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Jurisdiction {
    pub code: JurisdictionCode,
    pub level: JurisdictionLevel,
    pub parent: Option<JurisdictionCode>,
    pub name_zh: String,
    pub name_en: String,
    /// Approximate centre, WGS 84 degrees; provinces have none of their own.
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub tags: Vec<String>,
}

/// The shipped table of jurisdictions.
pub struct Jurisdictions {
    by_code: BTreeMap<JurisdictionCode, Jurisdiction>,
}

impl Jurisdictions {
    pub fn get(&self, code: JurisdictionCode) -> Option<&Jurisdiction> {
        self.by_code.get(&code)
    }

    pub fn all(&self) -> impl Iterator<Item = &Jurisdiction> {
        self.by_code.values()
    }

    pub fn provinces(&self) -> impl Iterator<Item = &Jurisdiction> {
        self.all().filter(|j| j.level == JurisdictionLevel::Province)
    }

    pub fn children(&self, parent: JurisdictionCode) -> impl Iterator<Item = &Jurisdiction> {
        self.all().filter(move |j| j.parent == Some(parent))
    }

    /// Everything a scope covers, itself included.
    pub fn within<'a>(&'a self, scope: &'a Scope) -> impl Iterator<Item = &'a Jurisdiction> {
        self.all().filter(move |j| scope.covers(j.code))
    }
}

/// The table, parsed once on first use.
pub fn jurisdictions() -> &'static Jurisdictions {
    static TABLE_PARSED: LazyLock<Jurisdictions> =
        LazyLock::new(|| parse_table(TABLE).unwrap_or_else(|error| panic!("data/jurisdictions.csv: {error}")));
    &TABLE_PARSED
}

/// Parses the shipped CSV: `code,level,parent,name_zh,name_en,lon,lat,tags` with `;`
/// between tags. The file is ours and checked by tests, so it has no quoting.
fn parse_table(text: &str) -> Result<Jurisdictions, String> {
    let mut by_code = BTreeMap::new();
    for (index, line) in text.lines().enumerate().skip(1) {
        let line_no = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != 8 {
            return Err(format!("line {line_no}: expected 8 fields, found {}", fields.len()));
        }
        let code = parse_six_digits(fields[0]).map_err(|e| format!("line {line_no}: {e}"))?;
        let parent = match fields[2] {
            "" => None,
            text => Some(parse_six_digits(text).map_err(|e| format!("line {line_no}: {e}"))?),
        };
        let coordinate = |text: &str, name: &str| -> Result<Option<f64>, String> {
            if text.is_empty() {
                return Ok(None);
            }
            text.parse()
                .map(Some)
                .map_err(|_| format!("line {line_no}: bad {name} '{text}'"))
        };
        let jurisdiction = Jurisdiction {
            code,
            level: fields[1].parse().map_err(|e| format!("line {line_no}: {e}"))?,
            parent,
            name_zh: fields[3].to_string(),
            name_en: fields[4].to_string(),
            lon: coordinate(fields[5], "lon")?,
            lat: coordinate(fields[6], "lat")?,
            tags: fields[7]
                .split(';')
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
        };
        if by_code.insert(code, jurisdiction).is_some() {
            return Err(format!("line {line_no}: duplicate code {code}"));
        }
    }
    for jurisdiction in by_code.values() {
        if let Some(parent) = jurisdiction.parent.filter(|p| !by_code.contains_key(p)) {
            return Err(format!("{}: unknown parent {parent}", jurisdiction.code));
        }
    }
    Ok(Jurisdictions { by_code })
}

/// An access scope: a prefix of jurisdiction codes. `""` is the whole region, `"32"`
/// Jiangsu, `"3205"` Suzhou (Jiangsu), `"320509"` Wujiang district.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Scope(String);

impl Scope {
    pub fn region() -> Self {
        Scope(String::new())
    }

    /// Accepts `""` or 2, 4 or 6 digits that begin at least one known code.
    pub fn parse(text: &str) -> Result<Self, JurisdictionError> {
        let bad = || JurisdictionError::BadScope(text.to_string());
        if !matches!(text.len(), 0 | 2 | 4 | 6) || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let scope = Scope(text.to_string());
        if jurisdictions().within(&scope).next().is_none() {
            return Err(bad());
        }
        Ok(scope)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_region(&self) -> bool {
        self.0.is_empty()
    }

    pub fn covers(&self, code: JurisdictionCode) -> bool {
        code.digits().starts_with(self.0.as_bytes())
    }

    /// Whether everything in `other` is also in `self`.
    pub fn contains_scope(&self, other: &Scope) -> bool {
        other.0.starts_with(&self.0)
    }

    /// The jurisdiction the scope names, if it is exactly one (`"32"` → 320000).
    pub fn jurisdiction(&self) -> Option<JurisdictionCode> {
        let padded = format!("{:0<6}", self.0);
        if self.0.is_empty() {
            return None;
        }
        JurisdictionCode::parse(&padded).ok()
    }

    /// SQL `LIKE` pattern matching the codes inside this scope.
    pub fn like_pattern(&self) -> String {
        format!("{}%", self.0)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Scope {
    type Err = JurisdictionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Scope {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Scope".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^([0-9]{2}){0,3}$",
            "description": "Jurisdiction code prefix: empty = whole region, 32 = Jiangsu, 3205 = Suzhou (Jiangsu)"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> JurisdictionCode {
        JurisdictionCode::parse(text).unwrap()
    }

    #[test]
    fn the_table_has_the_region() {
        let table = jurisdictions();
        assert_eq!(table.provinces().count(), 4);
        let cities = table.all().filter(|j| j.level == JurisdictionLevel::City).count();
        assert_eq!(cities, 41);
        assert_eq!(table.children(code("320000")).count(), 13);
        assert_eq!(table.children(code("330000")).count(), 11);
        assert_eq!(table.children(code("340000")).count(), 16);
        let zone: Vec<_> = table
            .all()
            .filter(|j| j.tags.iter().any(|t| t == "demonstration-zone"))
            .map(|j| j.name_en.as_str())
            .collect();
        assert_eq!(zone, ["Qingpu", "Wujiang", "Jiashan"]);
        for j in table.all() {
            if j.level != JurisdictionLevel::Province {
                assert!(j.lon.is_some() && j.lat.is_some(), "{} has coordinates", j.code);
            }
        }
    }

    #[test]
    fn two_suzhous_are_told_apart_by_code() {
        assert_eq!(code("320500").jurisdiction().name_zh, "苏州市");
        assert_eq!(code("341300").jurisdiction().name_zh, "宿州市");
        assert_eq!(code("320500").province(), code("320000"));
        assert_eq!(code("341300").province(), code("340000"));
    }

    #[test]
    fn bad_codes_are_rejected_with_the_reason() {
        assert_eq!(
            JurisdictionCode::parse("3205"),
            Err(JurisdictionError::Malformed("3205".into()))
        );
        assert_eq!(
            JurisdictionCode::parse("32050a"),
            Err(JurisdictionError::Malformed("32050a".into()))
        );
        assert_eq!(
            JurisdictionCode::parse("+32050"),
            Err(JurisdictionError::Malformed("+32050".into()))
        );
        assert_eq!(
            JurisdictionCode::parse("110000"),
            Err(JurisdictionError::Unknown("110000".into()))
        );
        assert!(serde_json::from_str::<JurisdictionCode>("\"999999\"").is_err());
        assert_eq!(
            serde_json::from_str::<JurisdictionCode>("\"330421\"").unwrap(),
            code("330421")
        );
    }

    #[test]
    fn scopes_are_code_prefixes() {
        let jiangsu = Scope::parse("32").unwrap();
        let suzhou = Scope::parse("3205").unwrap();
        assert!(Scope::region().covers(code("340100")));
        assert!(jiangsu.covers(code("320509")));
        assert!(!jiangsu.covers(code("330100")));
        assert!(suzhou.covers(code("320509")));
        assert!(
            !suzhou.covers(code("341300")),
            "Suzhou (Anhui) is not in Suzhou (Jiangsu)"
        );
        assert!(jiangsu.contains_scope(&suzhou));
        assert!(!suzhou.contains_scope(&jiangsu));
        assert_eq!(code("320000").scope(), jiangsu);
        assert_eq!(code("320500").scope(), suzhou);
        assert_eq!(code("320509").scope().as_str(), "320509");
        assert_eq!(jiangsu.jurisdiction(), Some(code("320000")));
        assert_eq!(suzhou.jurisdiction(), Some(code("320500")));
        assert_eq!(Scope::region().jurisdiction(), None);
        for bad in ["3", "11", "3299", "abc", "3205091"] {
            assert!(Scope::parse(bad).is_err(), "{bad}");
        }
    }
}

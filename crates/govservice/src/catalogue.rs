//! The service catalogue file (TOML): e-licence types and service items with their
//! competent authorities, materials, time limits and channels. Parsing validates
//! everything and reports every problem with its line, record and field.

use crate::domain::{ApplicantType, Channel};
use serde::Deserialize;
use std::collections::HashSet;
use toml::Spanned;
use yrd_kernel::validation::line_of;
use yrd_kernel::{JurisdictionCode, RecordError, Scope};

#[derive(Debug, Clone, PartialEq)]
pub struct Catalogue {
    pub licence_types: Vec<LicenceType>,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct LicenceType {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    /// Years a licence of this type is valid; 0 = until revoked.
    pub validity_years: i64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Item {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub applicant: ApplicantType,
    /// Legal time limit in working days, counted from acceptance.
    pub time_limit_days: i64,
    pub channels: Vec<Channel>,
    /// Where the item is offered (scopes; `""` is the whole region).
    pub offered_in: Vec<Scope>,
    /// The e-licence type an approval issues, if any.
    pub issues_licence: Option<String>,
    pub authorities: Vec<Authority>,
    pub materials: Vec<Material>,
}

impl Item {
    /// The competent authority for an applicant whose case belongs to `jurisdiction`:
    /// the most specific authority whose code covers it (a city's, else its province's).
    pub fn authority_for(&self, jurisdiction: JurisdictionCode) -> Option<&Authority> {
        self.authorities
            .iter()
            .filter(|a| a.jurisdiction.scope().covers(jurisdiction))
            .max_by_key(|a| a.jurisdiction.scope().as_str().len())
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Authority {
    pub jurisdiction: JurisdictionCode,
    pub name_zh: String,
    pub name_en: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Material {
    pub name_zh: String,
    pub name_en: String,
    pub original_required: bool,
    /// E-licence types that can be presented instead of the paper.
    pub accepted_licences: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    licence_types: Vec<Spanned<RawLicenceType>>,
    #[serde(default)]
    items: Vec<Spanned<RawItem>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLicenceType {
    code: String,
    name_zh: String,
    name_en: String,
    #[serde(default)]
    validity_years: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawItem {
    code: String,
    name_zh: String,
    name_en: String,
    applicant: String,
    time_limit_days: i64,
    channels: Vec<String>,
    #[serde(default)]
    offered_in: Vec<String>,
    issues_licence: Option<String>,
    #[serde(default)]
    authorities: Vec<RawAuthority>,
    #[serde(default)]
    materials: Vec<RawMaterial>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuthority {
    jurisdiction: String,
    name_zh: String,
    name_en: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMaterial {
    name_zh: String,
    name_en: String,
    #[serde(default)]
    original_required: bool,
    #[serde(default)]
    accepted_licences: Vec<String>,
}

struct Errors<'a> {
    list: &'a mut Vec<RecordError>,
    line: Option<usize>,
    record: String,
}

impl Errors<'_> {
    fn add(&mut self, field: &str, message: impl Into<String>) {
        self.list.push(RecordError {
            line: self.line,
            record: self.record.clone(),
            field: field.into(),
            message: message.into(),
        });
    }

    fn text(&mut self, field: &str, value: &str, max: usize) -> String {
        let value = value.trim();
        if value.is_empty() || value.chars().count() > max {
            self.add(field, format!("1 to {max} characters"));
        }
        value.to_string()
    }
}

fn is_code(text: &str) -> bool {
    !text.is_empty() && text.len() <= 64 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

pub fn parse(text: &str) -> Result<Catalogue, Vec<RecordError>> {
    let raw: RawFile = toml::from_str(text).map_err(|error| {
        vec![RecordError {
            line: error.span().map(|span| line_of(text, span.start)),
            record: "file".into(),
            field: "syntax".into(),
            message: error.message().to_string(),
        }]
    })?;
    let mut problems = Vec::new();
    let mut licence_types = Vec::new();
    let mut type_codes = HashSet::new();
    for spanned in &raw.licence_types {
        let t = spanned.get_ref();
        let mut e = Errors {
            list: &mut problems,
            line: Some(line_of(text, spanned.span().start)),
            record: format!("licence type '{}'", t.code),
        };
        if !is_code(&t.code) {
            e.add("code", "letters, digits, '_', '-' or '.'");
        }
        if !type_codes.insert(t.code.clone()) {
            e.add("code", "defined twice");
        }
        if !(0..=50).contains(&t.validity_years) {
            e.add("validity_years", "0 (until revoked) to 50");
        }
        licence_types.push(LicenceType {
            code: t.code.clone(),
            name_zh: e.text("name_zh", &t.name_zh, 100),
            name_en: e.text("name_en", &t.name_en, 200),
            validity_years: t.validity_years,
        });
    }
    let mut items = Vec::new();
    let mut item_codes = HashSet::new();
    for spanned in &raw.items {
        let raw_item = spanned.get_ref();
        let line = Some(line_of(text, spanned.span().start));
        let mut e = Errors {
            list: &mut problems,
            line,
            record: format!("item '{}'", raw_item.code),
        };
        if !is_code(&raw_item.code) {
            e.add("code", "letters, digits, '_', '-' or '.'");
        }
        if !item_codes.insert(raw_item.code.clone()) {
            e.add("code", "defined twice");
        }
        let applicant = match raw_item.applicant.as_str() {
            "person" => ApplicantType::Person,
            "business" => ApplicantType::Business,
            other => {
                e.add("applicant", format!("'{other}': person or business"));
                ApplicantType::Person
            }
        };
        if !(1..=120).contains(&raw_item.time_limit_days) {
            e.add("time_limit_days", "1 to 120 working days");
        }
        let mut channels = Vec::new();
        for (i, c) in raw_item.channels.iter().enumerate() {
            match Channel::parse(c) {
                Some(channel) if !channels.contains(&channel) => channels.push(channel),
                Some(_) => e.add(&format!("channels[{i}]"), "listed twice"),
                None => e.add(
                    &format!("channels[{i}]"),
                    format!("'{c}': online, remote_window or virtual_window"),
                ),
            }
        }
        if channels.is_empty() {
            e.add("channels", "at least one channel");
        }
        let mut offered_in = Vec::new();
        for (i, s) in raw_item.offered_in.iter().enumerate() {
            match Scope::parse(s) {
                Ok(scope) => offered_in.push(scope),
                Err(error) => e.add(&format!("offered_in[{i}]"), error.to_string()),
            }
        }
        if offered_in.is_empty() {
            offered_in.push(Scope::region());
        }
        if let Some(t) = &raw_item.issues_licence
            && !type_codes.contains(t)
        {
            e.add("issues_licence", format!("'{t}' is not a licence type of this file"));
        }
        let mut authorities = Vec::new();
        for (i, a) in raw_item.authorities.iter().enumerate() {
            let mut e = Errors {
                list: &mut problems,
                line,
                record: format!("item '{}' authority {}", raw_item.code, i + 1),
            };
            match JurisdictionCode::parse(&a.jurisdiction) {
                Ok(code) if authorities.iter().any(|x: &Authority| x.jurisdiction == code) => {
                    e.add("jurisdiction", "listed twice")
                }
                Ok(code) => authorities.push(Authority {
                    jurisdiction: code,
                    name_zh: e.text("name_zh", &a.name_zh, 100),
                    name_en: e.text("name_en", &a.name_en, 200),
                }),
                Err(error) => e.add("jurisdiction", error.to_string()),
            }
        }
        if authorities.is_empty() {
            Errors {
                list: &mut problems,
                line,
                record: format!("item '{}'", raw_item.code),
            }
            .add("authorities", "at least one competent authority");
        }
        let mut materials = Vec::new();
        for (i, m) in raw_item.materials.iter().enumerate() {
            let mut e = Errors {
                list: &mut problems,
                line,
                record: format!("item '{}' material {}", raw_item.code, i + 1),
            };
            for (j, t) in m.accepted_licences.iter().enumerate() {
                if !type_codes.contains(t) {
                    e.add(
                        &format!("accepted_licences[{j}]"),
                        format!("'{t}' is not a licence type of this file"),
                    );
                }
            }
            materials.push(Material {
                name_zh: e.text("name_zh", &m.name_zh, 100),
                name_en: e.text("name_en", &m.name_en, 200),
                original_required: m.original_required,
                accepted_licences: m.accepted_licences.clone(),
            });
        }
        let mut e = Errors {
            list: &mut problems,
            line,
            record: format!("item '{}'", raw_item.code),
        };
        items.push(Item {
            code: raw_item.code.clone(),
            name_zh: e.text("name_zh", &raw_item.name_zh, 100),
            name_en: e.text("name_en", &raw_item.name_en, 200),
            applicant,
            time_limit_days: raw_item.time_limit_days,
            channels,
            offered_in,
            issues_licence: raw_item.issues_licence.clone(),
            authorities,
            materials,
        });
    }
    if problems.is_empty() {
        Ok(Catalogue { licence_types, items })
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../../data/govservice/catalogue.toml");

    #[test]
    fn the_shipped_catalogue_is_valid_and_large_enough() {
        let catalogue = parse(SHIPPED).unwrap();
        assert_eq!(catalogue.licence_types.len(), 15);
        assert!(catalogue.items.len() >= 60);
        let item = &catalogue.items[0];
        let suzhou = JurisdictionCode::parse("320500").unwrap();
        assert_eq!(item.authority_for(suzhou).unwrap().jurisdiction.to_string(), "320000");
    }

    #[test]
    fn problems_are_reported_with_their_place() {
        let broken = SHIPPED
            .replacen("time_limit_days = 3", "time_limit_days = 0", 1)
            .replacen("jurisdiction = \"310000\"", "jurisdiction = \"310001\"", 1)
            .replacen("channels = [\"online\", \"remote_window\"]", "channels = [\"fax\"]", 1)
            .replacen(
                "accepted_licences = [\"business_licence\"]",
                "accepted_licences = [\"passport\"]",
                1,
            )
            .replacen("code = \"YRD-GS-002\"", "code = \"YRD-GS-001\"", 1);
        let errors: Vec<String> = parse(&broken).unwrap_err().iter().map(ToString::to_string).collect();
        for expected in [
            "item 'YRD-GS-001': time_limit_days: 1 to 120 working days",
            "item 'YRD-GS-001' authority 1: jurisdiction: '310001' is not a jurisdiction",
            "item 'YRD-GS-001': channels[0]: 'fax'",
            "accepted_licences[0]: 'passport' is not a licence type",
            "item 'YRD-GS-001': code: defined twice",
        ] {
            assert!(
                errors.iter().any(|e| e.contains(expected) && e.starts_with("line ")),
                "{expected} in {errors:#?}"
            );
        }
    }
}

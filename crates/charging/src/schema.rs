//! A JSON Schema validator for exactly the keywords the official OCPP schemas use
//! (drafts 04 and 06): `type`, `properties`, `required`, `additionalProperties`,
//! `items`, `minItems`, `maxItems`, `maxLength`, `enum`, `minimum`, `maximum`,
//! `multipleOf`, `format` (`date-time`, `uri`) and local `$ref`s. A schema with any
//! other keyword is refused when it is compiled, so nothing is silently not checked.
//! Pure: no I/O. Schemas are compiled once into an arena of nodes; validating walks the
//! payload and the nodes together and stops at the first violation, naming its path.

use serde_json::{Map, Value};
use std::collections::HashMap;

/// The rule a payload broke; OCPP maps each to a CALLERROR code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Type,
    Enum,
    MaxLength,
    Format,
    Minimum,
    Maximum,
    MultipleOf,
    Required,
    MinItems,
    MaxItems,
    AdditionalProperties,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// Where, as `meterValue[0].sampledValue[1].value`; empty for the payload itself.
    pub path: String,
    pub rule: Rule,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "payload: {}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
    Null,
}

impl Type {
    fn parse(name: &str) -> Option<Type> {
        Some(match name {
            "object" => Type::Object,
            "array" => Type::Array,
            "string" => Type::String,
            "integer" => Type::Integer,
            "number" => Type::Number,
            "boolean" => Type::Boolean,
            "null" => Type::Null,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Type::Object => "an object",
            Type::Array => "an array",
            Type::String => "a string",
            Type::Integer => "an integer",
            Type::Number => "a number",
            Type::Boolean => "true or false",
            Type::Null => "null",
        }
    }

    fn holds(self, value: &Value) -> bool {
        match self {
            Type::Object => value.is_object(),
            Type::Array => value.is_array(),
            Type::String => value.is_string(),
            Type::Integer => value.is_i64() || value.is_u64(),
            Type::Number => value.is_number(),
            Type::Boolean => value.is_boolean(),
            Type::Null => value.is_null(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    DateTime,
    Uri,
}

#[derive(Debug, Default)]
struct Node {
    /// A `$ref`: in these drafts its siblings are ignored.
    reference: Option<usize>,
    kind: Option<Type>,
    properties: Vec<(String, usize)>,
    required: Vec<String>,
    closed: bool,
    items: Option<usize>,
    min_items: Option<usize>,
    max_items: Option<usize>,
    max_length: Option<usize>,
    one_of: Option<Vec<Value>>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    multiple_of: Option<f64>,
    format: Option<Format>,
}

/// A compiled schema.
#[derive(Debug)]
pub struct Schema {
    nodes: Vec<Node>,
}

/// Keywords that only describe (they never make a payload invalid).
const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "id",
    "title",
    "description",
    "comment",
    "javaType",
    "default",
    "definitions",
    // Only meaningful when `items` is a list, which is refused below.
    "additionalItems",
];

impl Schema {
    /// Compiles a schema document; an unsupported keyword or a dangling `$ref` is an error.
    pub fn compile(document: &Value) -> Result<Schema, String> {
        let empty = Map::new();
        let definitions = document
            .get("definitions")
            .map(|d| d.as_object().ok_or("definitions must be an object"))
            .transpose()?
            .unwrap_or(&empty);
        let mut compiler = Compiler {
            nodes: Vec::new(),
            definitions,
            compiled: HashMap::new(),
        };
        let root = compiler.node(document, "#")?;
        debug_assert_eq!(root, 0);
        Ok(Schema { nodes: compiler.nodes })
    }

    /// Parses and compiles a schema's text.
    pub fn from_text(text: &str) -> Result<Schema, String> {
        let document: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        Schema::compile(&document)
    }

    pub fn validate(&self, value: &Value) -> Result<(), Violation> {
        let mut path = String::new();
        self.check(0, value, &mut path)
    }

    fn check(&self, at: usize, value: &Value, path: &mut String) -> Result<(), Violation> {
        let node = &self.nodes[at];
        if let Some(target) = node.reference {
            return self.check(target, value, path);
        }
        let fail = |path: &str, rule: Rule, message: String| {
            Err(Violation {
                path: path.to_string(),
                rule,
                message,
            })
        };
        if let Some(kind) = node.kind
            && !kind.holds(value)
        {
            return fail(path, Rule::Type, format!("must be {}", kind.name()));
        }
        if let Some(values) = &node.one_of
            && !values.contains(value)
        {
            let names: Vec<String> = values
                .iter()
                .take(12)
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect();
            let more = if values.len() > names.len() { ", …" } else { "" };
            return fail(path, Rule::Enum, format!("must be one of {}{more}", names.join(", ")));
        }
        match value {
            Value::String(text) => {
                if let Some(max) = node.max_length
                    && text.chars().count() > max
                {
                    return fail(path, Rule::MaxLength, format!("at most {max} characters"));
                }
                match node.format {
                    Some(Format::DateTime) if !is_date_time(text) => {
                        return fail(
                            path,
                            Rule::Format,
                            "must be a date and time (RFC 3339, e.g. 2026-11-28T10:00:00Z)".into(),
                        );
                    }
                    Some(Format::Uri) if !is_uri(text) => {
                        return fail(path, Rule::Format, "must be a URI".into());
                    }
                    _ => {}
                }
            }
            Value::Number(number) => {
                let n = number.as_f64().unwrap_or(f64::NAN);
                if let Some(min) = node.minimum
                    && n < min
                {
                    return fail(path, Rule::Minimum, format!("must be at least {min}"));
                }
                if let Some(max) = node.maximum
                    && n > max
                {
                    return fail(path, Rule::Maximum, format!("must be at most {max}"));
                }
                if let Some(step) = node.multiple_of {
                    let quotient = n / step;
                    if (quotient - quotient.round()).abs() > 1e-9 * quotient.abs().max(1.0) {
                        return fail(path, Rule::MultipleOf, format!("must be a multiple of {step}"));
                    }
                }
            }
            Value::Array(items) => {
                if let Some(min) = node.min_items
                    && items.len() < min
                {
                    return fail(path, Rule::MinItems, format!("needs at least {min} item(s)"));
                }
                if let Some(max) = node.max_items
                    && items.len() > max
                {
                    return fail(path, Rule::MaxItems, format!("takes at most {max} item(s)"));
                }
                if let Some(item) = node.items {
                    for (i, element) in items.iter().enumerate() {
                        let len = path.len();
                        path.push_str(&format!("[{i}]"));
                        self.check(item, element, path)?;
                        path.truncate(len);
                    }
                }
            }
            Value::Object(fields) => {
                if node.closed
                    && let Some(unknown) = fields
                        .keys()
                        .find(|k| !node.properties.iter().any(|(name, _)| name == *k))
                {
                    return fail(
                        &join(path, unknown),
                        Rule::AdditionalProperties,
                        "is not a field of this message".into(),
                    );
                }
                if let Some(missing) = node.required.iter().find(|name| !fields.contains_key(*name)) {
                    return fail(&join(path, missing), Rule::Required, "is required".into());
                }
                for (name, child) in &node.properties {
                    if let Some(field) = fields.get(name) {
                        let len = path.len();
                        if !path.is_empty() {
                            path.push('.');
                        }
                        path.push_str(name);
                        self.check(*child, field, path)?;
                        path.truncate(len);
                    }
                }
            }
            Value::Bool(_) | Value::Null => {}
        }
        Ok(())
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

struct Compiler<'a> {
    nodes: Vec<Node>,
    definitions: &'a Map<String, Value>,
    compiled: HashMap<String, usize>,
}

impl Compiler<'_> {
    fn node(&mut self, schema: &Value, at: &str) -> Result<usize, String> {
        let object = schema
            .as_object()
            .ok_or_else(|| format!("{at}: a schema is an object"))?;
        let id = self.nodes.len();
        self.nodes.push(Node::default());
        let mut node = Node::default();
        for (keyword, value) in object {
            let bad = |what: &str| format!("{at}/{keyword}: {what}");
            match keyword.as_str() {
                "$ref" => {
                    let name = value
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/definitions/"))
                        .ok_or_else(|| bad("only local #/definitions/ references are supported"))?;
                    node.reference = Some(self.definition(name)?);
                }
                "type" => {
                    let name = value.as_str().ok_or_else(|| bad("a single type name"))?;
                    node.kind = Some(Type::parse(name).ok_or_else(|| bad("unknown type"))?);
                }
                "properties" => {
                    let properties = value.as_object().ok_or_else(|| bad("an object"))?;
                    for (name, property) in properties {
                        let child = self.node(property, &format!("{at}/properties/{name}"))?;
                        node.properties.push((name.clone(), child));
                    }
                }
                "required" => {
                    node.required = value
                        .as_array()
                        .ok_or_else(|| bad("a list of names"))?
                        .iter()
                        .map(|n| n.as_str().map(str::to_string).ok_or_else(|| bad("a list of names")))
                        .collect::<Result<_, _>>()?;
                }
                "additionalProperties" => {
                    node.closed = !value.as_bool().ok_or_else(|| bad("only true or false is supported"))?;
                }
                "items" => {
                    if !value.is_object() {
                        return Err(bad("only a single item schema is supported"));
                    }
                    node.items = Some(self.node(value, &format!("{at}/items"))?);
                }
                "minItems" => node.min_items = Some(count(value).ok_or_else(|| bad("a count"))?),
                "maxItems" => node.max_items = Some(count(value).ok_or_else(|| bad("a count"))?),
                "maxLength" => node.max_length = Some(count(value).ok_or_else(|| bad("a count"))?),
                "enum" => node.one_of = Some(value.as_array().ok_or_else(|| bad("a list"))?.clone()),
                "minimum" => node.minimum = Some(value.as_f64().ok_or_else(|| bad("a number"))?),
                "maximum" => node.maximum = Some(value.as_f64().ok_or_else(|| bad("a number"))?),
                "multipleOf" => {
                    node.multiple_of = Some(
                        value
                            .as_f64()
                            .filter(|s| *s > 0.0)
                            .ok_or_else(|| bad("a positive number"))?,
                    );
                }
                "format" => {
                    node.format = Some(match value.as_str() {
                        Some("date-time") => Format::DateTime,
                        Some("uri") => Format::Uri,
                        _ => return Err(bad("only date-time and uri are supported")),
                    });
                }
                other if ANNOTATIONS.contains(&other) => {}
                _ => return Err(bad("unsupported keyword")),
            }
        }
        self.nodes[id] = node;
        Ok(id)
    }

    fn definition(&mut self, name: &str) -> Result<usize, String> {
        if let Some(id) = self.compiled.get(name) {
            return Ok(*id);
        }
        let schema = self
            .definitions
            .get(name)
            .ok_or_else(|| format!("#/definitions/{name} is not defined"))?;
        // Reserve the id first so that a definition may refer to itself.
        let id = self.nodes.len();
        self.compiled.insert(name.to_string(), id);
        let compiled = self.node(schema, &format!("#/definitions/{name}"))?;
        debug_assert_eq!(compiled, id);
        Ok(id)
    }
}

fn count(value: &Value) -> Option<usize> {
    value
        .as_u64()
        .or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        })
        .and_then(|n| usize::try_from(n).ok())
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM]`. A missing offset is accepted (and read
/// as UTC by the central system): many deployed stations send local-less timestamps,
/// and refusing them would stop their sessions for no gain.
pub fn is_date_time(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| b.get(range.clone()).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let number = |range: std::ops::Range<usize>| text.get(range).and_then(|s| s.parse::<u32>().ok()).unwrap_or(99);
    if b.len() < 19
        || !(digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10))
        || !matches!(b[10], b'T' | b't')
        || !(digits(11..13) && b[13] == b':' && digits(14..16) && b[16] == b':' && digits(17..19))
    {
        return false;
    }
    let (year, month, day) = (number(0..4) as i32, number(5..7), number(8..10));
    if chrono::NaiveDate::from_ymd_opt(year, month, day).is_none()
        || number(11..13) > 23
        || number(14..16) > 59
        || number(17..19) > 60
    {
        return false;
    }
    let mut rest = &b[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let n = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        rest = &fraction[n..];
    }
    match rest {
        [] | [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
                && (h1 - b'0') * 10 + (h2 - b'0') <= 23
                && (m1 - b'0') * 10 + (m2 - b'0') <= 59
        }
        _ => false,
    }
}

fn is_uri(text: &str) -> bool {
    text.split_once(':').is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    }) && !text.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Schema {
        Schema::compile(&json!({
            "$schema": "http://json-schema.org/draft-06/schema#",
            "definitions": {
                "Status": {"type": "string", "enum": ["Accepted", "Rejected"]},
                "Sample": {"type": "object", "additionalProperties": false,
                    "properties": {"value": {"type": "number", "minimum": 0, "multipleOf": 0.1}, "at": {"type": "string", "format": "date-time"}},
                    "required": ["value"]}
            },
            "type": "object", "additionalProperties": false,
            "properties": {
                "status": {"$ref": "#/definitions/Status"},
                "tag": {"type": "string", "maxLength": 5},
                "count": {"type": "integer", "maximum": 10},
                "samples": {"type": "array", "items": {"$ref": "#/definitions/Sample"}, "minItems": 1, "maxItems": 2}
            },
            "required": ["status"]
        }))
        .unwrap()
    }

    #[test]
    fn each_rule_names_the_path() {
        let s = schema();
        assert!(s.validate(&json!({"status": "Accepted", "tag": "abcde", "count": 10, "samples": [{"value": 0.3, "at": "2026-11-28T10:00:00.5+08:00"}]})).is_ok());
        let cases = [
            (json!([]), "", Rule::Type),
            (json!({}), "status", Rule::Required),
            (json!({"status": "Maybe"}), "status", Rule::Enum),
            (json!({"status": "Accepted", "x": 1}), "x", Rule::AdditionalProperties),
            (json!({"status": "Accepted", "tag": "abcdef"}), "tag", Rule::MaxLength),
            (json!({"status": "Accepted", "count": 1.5}), "count", Rule::Type),
            (json!({"status": "Accepted", "count": 11}), "count", Rule::Maximum),
            (json!({"status": "Accepted", "samples": []}), "samples", Rule::MinItems),
            (
                json!({"status": "Accepted", "samples": [{"value": 1}, {"value": 1}, {"value": 1}]}),
                "samples",
                Rule::MaxItems,
            ),
            (
                json!({"status": "Accepted", "samples": [{"value": 1}, {}]}),
                "samples[1].value",
                Rule::Required,
            ),
            (
                json!({"status": "Accepted", "samples": [{"value": -1}]}),
                "samples[0].value",
                Rule::Minimum,
            ),
            (
                json!({"status": "Accepted", "samples": [{"value": 0.35}]}),
                "samples[0].value",
                Rule::MultipleOf,
            ),
            (
                json!({"status": "Accepted", "samples": [{"value": 1, "at": "yesterday"}]}),
                "samples[0].at",
                Rule::Format,
            ),
        ];
        for (value, path, rule) in cases {
            let violation = s.validate(&value).unwrap_err();
            assert_eq!((violation.path.as_str(), violation.rule), (path, rule), "{value}");
        }
    }

    #[test]
    fn unsupported_keywords_are_refused_when_compiled() {
        assert!(Schema::compile(&json!({"type": "string", "pattern": "^a"})).is_err());
        assert!(Schema::compile(&json!({"$ref": "#/definitions/Nope"})).is_err());
        assert!(Schema::compile(&json!({"additionalProperties": {"type": "string"}})).is_err());
        assert!(Schema::compile(&json!({"items": [{"type": "string"}]})).is_err());
    }

    #[test]
    fn a_definition_may_refer_to_itself() {
        let s = Schema::compile(&json!({
            "definitions": {"Tree": {"type": "object", "properties": {"child": {"$ref": "#/definitions/Tree"}, "n": {"type": "integer"}}}},
            "$ref": "#/definitions/Tree"
        }))
        .unwrap();
        assert!(s.validate(&json!({"child": {"child": {"n": 1}}})).is_ok());
        assert_eq!(
            s.validate(&json!({"child": {"child": {"n": "1"}}})).unwrap_err().path,
            "child.child.n"
        );
    }

    #[test]
    fn dates_and_times() {
        for good in [
            "2026-11-28T10:00:00Z",
            "2026-11-28T10:00:00.123+08:00",
            "2024-02-29T23:59:60z",
            "2026-11-28T10:00:00",
        ] {
            assert!(is_date_time(good), "{good}");
        }
        for bad in [
            "t",
            "2026-02-30T10:00:00Z",
            "2026-11-28 10:00:00Z",
            "2026-11-28T24:00:00Z",
            "2026-11-28T10:00:00.Z",
            "2026-11-28T10:00:00+8",
            "２０２6-11-28T10:00:00Z",
        ] {
            assert!(!is_date_time(bad), "{bad}");
        }
        assert!(is_uri("https://example.com/fw.bin") && !is_uri("no scheme") && !is_uri("1http:x"));
    }
}

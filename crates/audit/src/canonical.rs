//! Canonical JSON: object keys sorted by their UTF-16 code units (as RFC 8785 does),
//! no insignificant whitespace, so the same value always gives the same bytes.

use serde_json::Value;

pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_value(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::canonical_json;
    use serde_json::json;

    #[test]
    fn numbers_survive_a_round_trip() {
        // Found by the canonical_json fuzz target: needs serde_json's float_roundtrip.
        let value: serde_json::Value = serde_json::from_str("99e91").unwrap();
        let once = canonical_json(&value);
        assert_eq!(canonical_json(&serde_json::from_str(&once).unwrap()), once);
    }

    #[test]
    fn keys_are_sorted_at_every_depth() {
        let value = json!({"b": 1, "a": {"z": [3, {"y": null, "x": "é"}], "m": true}});
        assert_eq!(
            canonical_json(&value),
            r#"{"a":{"m":true,"z":[3,{"x":"é","y":null}]},"b":1}"#
        );
    }
}

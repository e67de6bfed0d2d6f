//! FHIR resources and search URLs come from every hospital's systems: any JSON is
//! validated or refused with issues (never a panic); a valid resource indexes, and the
//! references it yields are well-formed; any search value parses or is refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yrd_health::fhir::{search, split_reference, validate};

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    for (name, value) in text.split('&').filter_map(|p| p.split_once('=')) {
        let _ = search::date_range(value);
        let _ = search::parse("Observation", &[(name.to_string(), value.to_string())]);
    }
    let Ok(resource) = serde_json::from_slice::<serde_json::Value>(bytes) else { return };
    match validate::validate(&resource) {
        Ok(references) => {
            let kind = resource["resourceType"].as_str().expect("a valid resource has a type");
            let _ = search::index(kind, &resource);
            for reference in references {
                let text = format!("{}/{}", reference.resource_type, reference.id);
                assert!(split_reference(&text).is_some(), "{text}");
            }
        }
        Err(issues) => assert!(!issues.is_empty() && issues.len() <= 50),
    }
});

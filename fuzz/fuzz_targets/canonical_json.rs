//! The audit digest depends on canonical JSON being stable: canonicalising twice, or
//! after a round trip through the parser, gives the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yrd_audit::canonical_json;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let once = canonical_json(&value);
        let reparsed: serde_json::Value = serde_json::from_str(&once).expect("canonical JSON parses");
        assert_eq!(canonical_json(&reparsed), once);
    }
});

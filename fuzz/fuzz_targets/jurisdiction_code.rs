//! Codes and scopes arrive in paths, query strings, bodies and import files.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yrd_kernel::{JurisdictionCode, Scope};

fuzz_target!(|text: &str| {
    if let Ok(code) = JurisdictionCode::parse(text) {
        assert_eq!(code.to_string(), text);
        assert!(code.scope().covers(code));
        assert!(Scope::region().covers(code));
    }
    if let Ok(scope) = Scope::parse(text) {
        assert_eq!(scope.as_str(), text);
    }
});

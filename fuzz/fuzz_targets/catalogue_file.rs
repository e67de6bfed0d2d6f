//! Service catalogues come from outside: any text gives a catalogue or problems, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Err(problems) = yrd_govservice::catalogue::parse(text) {
        assert!(!problems.is_empty());
    }
});

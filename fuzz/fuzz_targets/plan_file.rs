//! Plan files come from outside: any text gives a plan or a list of problems, never a
//! panic, and a plan that parses writes back to a file that reads the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yrd_plan::planfile::{parse, render};

fuzz_target!(|text: &str| {
    match parse(text) {
        Ok(plan) => assert_eq!(parse(&render(&plan)).expect("a rendered plan parses"), plan),
        Err(errors) => assert!(!errors.is_empty()),
    }
});

//! Request bodies: any bytes give a value, or a 400 or 422 that names a path; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yrd_web::ApiError;
use yrd_web::core_api::{GrantRequest, NewTokenRequest, NewUserRequest};
use yrd_web::extract::parse_json;

fn check<T: serde::de::DeserializeOwned>(data: &[u8]) {
    match parse_json::<T>(data) {
        Ok(_) => {}
        Err(ApiError::BadRequest(errors) | ApiError::Invalid(errors)) => assert!(!errors.0.is_empty()),
        Err(other) => panic!("unexpected error kind: {other}"),
    }
}

fuzz_target!(|data: &[u8]| {
    check::<GrantRequest>(data);
    check::<NewUserRequest>(data);
    check::<NewTokenRequest>(data);
});

//! E-licences arrive from anyone (QR codes, the verify API, the CLI): any text is
//! refused with a reason or verified, never a panic; and a valid licence with any
//! byte changed is refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yrd_govservice::licence::{Jwk, MEDIA_TYPE, PublishedKey, TrustBundle, sign, verify_offline};

fuzz_target!(|data: (&str, u16, u8)| {
    let (text, position, byte) = data;
    let key = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let epoch = chrono::DateTime::from_timestamp(0, 0).expect("epoch");
    let bundle = TrustBundle {
        keys: vec![PublishedKey {
            kid: "k".into(),
            issuer: "310000".into(),
            jwk: Jwk::ed25519("k", &key.verifying_key()),
            not_before: epoch,
            retired_at: None,
        }],
        ..Default::default()
    };
    let now = chrono::DateTime::from_timestamp(2_000_000_000, 0).expect("a time");
    let _ = verify_offline(text, &bundle, now);
    let payload = serde_json::json!({"issuer": "urn:yrd:issuer:310000", "validFrom": "2026-01-01T00:00:00Z", "credentialSubject": {"text": text}});
    let token = sign(&key, "k", MEDIA_TYPE, &payload);
    assert!(verify_offline(&token, &bundle, now).is_ok());
    let mut bytes = token.into_bytes();
    let i = position as usize % bytes.len();
    if bytes[i] != byte && byte.is_ascii() {
        bytes[i] = byte;
        if let Ok(altered) = String::from_utf8(bytes) {
            assert!(verify_offline(&altered, &bundle, now).is_err(), "an altered licence verified");
        }
    }
});

//! E-licences as W3C Verifiable Credentials 2.0 secured with JOSE: a compact JWS
//! (`alg: EdDSA`, Ed25519) whose payload is the credential, and revocation through a
//! Bitstring Status List credential signed the same way. Pure: keys and lists come in
//! as values, so the API and the offline CLI verify with the same code.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::fmt;
use std::io::{Read, Write};

pub const MEDIA_TYPE: &str = "vc+jwt";
/// Entries per status list: 131,072 bits, the minimum the specification asks for privacy.
pub const STATUS_LIST_BITS: usize = 131_072;

/// A public key of an issuer, as the registry publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PublishedKey {
    /// Key id, e.g. `yrd:310000:2026-1`.
    pub kid: String,
    /// The issuing jurisdiction's code (`000000` for the region).
    pub issuer: String,
    /// The public key as a JWK (OKP, Ed25519).
    pub jwk: Jwk,
    pub not_before: DateTime<Utc>,
    /// After this instant the key signs nothing more; what it signed before stays valid.
    pub retired_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub kid: String,
}

impl Jwk {
    pub fn ed25519(kid: &str, public: &VerifyingKey) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: B64.encode(public.as_bytes()),
            kid: kid.into(),
        }
    }

    fn verifying_key(&self) -> Option<VerifyingKey> {
        if self.kty != "OKP" || self.crv != "Ed25519" {
            return None;
        }
        let bytes: [u8; 32] = B64.decode(&self.x).ok()?.try_into().ok()?;
        VerifyingKey::from_bytes(&bytes).ok()
    }
}

/// Everything an offline verifier needs: the keys and each issuer's signed status list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TrustBundle {
    pub keys: Vec<PublishedKey>,
    /// Status list credentials (compact JWS), by their URL.
    pub status_lists: std::collections::BTreeMap<String, String>,
    pub exported_at: Option<DateTime<Utc>>,
}

/// Signs `payload` as a compact JWS with an Ed25519 key.
pub fn sign(key: &SigningKey, kid: &str, typ: &str, payload: &Value) -> String {
    let header = json!({"alg": "EdDSA", "kid": kid, "typ": typ});
    let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(payload.to_string()));
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", B64.encode(signature.to_bytes()))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(tag = "problem", content = "detail", rename_all = "snake_case")]
pub enum VerifyError {
    Malformed(String),
    UnknownKey(String),
    BadSignature,
    IssuerMismatch {
        key_issuer: String,
        credential_issuer: String,
    },
    KeyNotYetValid,
    SignedAfterKeyRetired {
        retired_at: DateTime<Utc>,
    },
    NotYetValid {
        valid_from: DateTime<Utc>,
    },
    Expired {
        valid_until: DateTime<Utc>,
    },
    Revoked,
    StatusUnavailable(String),
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Malformed(why) => write!(f, "not a licence: {why}"),
            VerifyError::UnknownKey(kid) => write!(f, "unknown signing key '{kid}'"),
            VerifyError::BadSignature => write!(f, "the signature does not match: the licence was altered or forged"),
            VerifyError::IssuerMismatch {
                key_issuer,
                credential_issuer,
            } => {
                write!(
                    f,
                    "signed with a key of {key_issuer}, but claims to be issued by {credential_issuer}"
                )
            }
            VerifyError::KeyNotYetValid => write!(f, "signed before the key was valid"),
            VerifyError::SignedAfterKeyRetired { retired_at } => {
                write!(f, "signed after its key was retired on {retired_at}")
            }
            VerifyError::NotYetValid { valid_from } => write!(f, "not valid before {valid_from}"),
            VerifyError::Expired { valid_until } => write!(f, "expired on {valid_until}"),
            VerifyError::Revoked => write!(f, "revoked by its issuer"),
            VerifyError::StatusUnavailable(why) => write!(f, "revocation status unknown: {why}"),
        }
    }
}

/// A compact JWS checked against a key: the header, the payload, and the key used.
struct Checked {
    payload: Value,
    key: PublishedKey,
}

fn check_jws(token: &str, keys: &[PublishedKey], typ: &str) -> Result<Checked, VerifyError> {
    let malformed = |why: &str| VerifyError::Malformed(why.to_string());
    let parts: Vec<&str> = token.trim().split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return Err(malformed("expected three dot-separated parts"));
    };
    let header: Value = B64
        .decode(header)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| malformed("the header is not base64url JSON"))?;
    if header["alg"] != "EdDSA" {
        return Err(malformed("the algorithm must be EdDSA"));
    }
    if header["typ"] != typ {
        return Err(malformed(&format!("the type must be {typ}")));
    }
    let kid = header["kid"]
        .as_str()
        .ok_or_else(|| malformed("the header names no key (kid)"))?;
    let key = keys
        .iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| VerifyError::UnknownKey(kid.to_string()))?;
    let verifying = key
        .jwk
        .verifying_key()
        .ok_or_else(|| VerifyError::UnknownKey(kid.to_string()))?;
    let signature: [u8; 64] = B64
        .decode(signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(VerifyError::BadSignature)?;
    let input = &token.trim()[..header_len(token.trim())];
    verifying
        .verify(input.as_bytes(), &Signature::from_bytes(&signature))
        .map_err(|_| VerifyError::BadSignature)?;
    let payload: Value = B64
        .decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| malformed("the payload is not base64url JSON"))?;
    Ok(Checked {
        payload,
        key: key.clone(),
    })
}

/// Length of `header.payload` (the signing input) in a compact JWS.
fn header_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(token.len())
}

fn instant(value: &Value, field: &str) -> Result<Option<DateTime<Utc>>, VerifyError> {
    match value.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => DateTime::parse_from_rfc3339(text)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| VerifyError::Malformed(format!("{field} is not an RFC 3339 time"))),
        Some(_) => Err(VerifyError::Malformed(format!("{field} is not a string"))),
    }
}

/// The claims of a verified licence.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Verified {
    pub kid: String,
    pub issuer: String,
    pub credential: Value,
}

/// Where a licence's revocation bit is: the status list URL and the index in it.
pub fn status_entry(credential: &Value) -> Option<(String, usize)> {
    let status = &credential["credentialStatus"];
    let url = status["statusListCredential"].as_str()?.to_string();
    let index = status["statusListIndex"].as_str()?.parse().ok()?;
    Some((url, index))
}

/// Verifies a licence: signature, issuer key, the key's validity at issuance, the
/// validity period at `now`, and revocation (`revoked(url, index)` answers from a
/// status list the caller trusts).
pub fn verify(
    token: &str,
    keys: &[PublishedKey],
    now: DateTime<Utc>,
    revoked: impl Fn(&str, usize) -> Result<bool, VerifyError>,
) -> Result<Verified, VerifyError> {
    let Checked { payload, key } = check_jws(token, keys, MEDIA_TYPE)?;
    let issuer = payload["issuer"]
        .as_str()
        .ok_or_else(|| VerifyError::Malformed("no issuer".into()))?;
    let expected_issuer = issuer_id(&key.issuer);
    if issuer != expected_issuer {
        return Err(VerifyError::IssuerMismatch {
            key_issuer: expected_issuer,
            credential_issuer: issuer.to_string(),
        });
    }
    let valid_from = instant(&payload, "validFrom")?.ok_or_else(|| VerifyError::Malformed("no validFrom".into()))?;
    // Credentials carry whole seconds; compare the key's times at the same precision.
    if valid_from.timestamp() < key.not_before.timestamp() {
        return Err(VerifyError::KeyNotYetValid);
    }
    if let Some(retired_at) = key.retired_at
        && valid_from.timestamp() > retired_at.timestamp()
    {
        return Err(VerifyError::SignedAfterKeyRetired { retired_at });
    }
    if now < valid_from {
        return Err(VerifyError::NotYetValid { valid_from });
    }
    if let Some(valid_until) = instant(&payload, "validUntil")?
        && now > valid_until
    {
        return Err(VerifyError::Expired { valid_until });
    }
    if let Some((url, index)) = status_entry(&payload)
        && revoked(&url, index)?
    {
        return Err(VerifyError::Revoked);
    }
    Ok(Verified {
        kid: key.kid,
        issuer: key.issuer,
        credential: payload,
    })
}

/// The issuer identifier written into credentials for a jurisdiction code.
pub fn issuer_id(code: &str) -> String {
    format!("urn:yrd:issuer:{code}")
}

/// A revocation bit list: bit `i` set = entry `i` revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitstring(Vec<u8>);

impl Bitstring {
    pub fn new() -> Self {
        Bitstring(vec![0; STATUS_LIST_BITS / 8])
    }

    pub fn set(&mut self, index: usize) {
        if let Some(byte) = self.0.get_mut(index / 8) {
            // Bit 0 is the left-most bit of the first byte, as the specification orders them.
            *byte |= 0x80 >> (index % 8);
        }
    }

    pub fn get(&self, index: usize) -> Option<bool> {
        self.0.get(index / 8).map(|byte| byte & (0x80 >> (index % 8)) != 0)
    }

    /// Multibase base64url (`u` prefix) of the GZIP-compressed bits.
    pub fn encode(&self) -> String {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&self.0).expect("writing to memory");
        format!("u{}", B64.encode(encoder.finish().expect("writing to memory")))
    }

    pub fn decode(text: &str) -> Option<Bitstring> {
        let compressed = B64.decode(text.strip_prefix('u')?).ok()?;
        let mut bits = Vec::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .take(16 * 1024 * 1024)
            .read_to_end(&mut bits)
            .ok()?;
        (!bits.is_empty()).then_some(Bitstring(bits))
    }
}

impl Default for Bitstring {
    fn default() -> Self {
        Self::new()
    }
}

pub const STATUS_LIST_TYPE: &str = "vc+jwt";

/// The status list credential of an issuer, signed.
pub fn status_list_credential(
    key: &SigningKey,
    kid: &str,
    issuer: &str,
    url: &str,
    bits: &Bitstring,
    now: DateTime<Utc>,
) -> String {
    let credential = json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer_id(issuer),
        "validFrom": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "credentialSubject": {"id": format!("{url}#list"), "type": "BitstringStatusList", "statusPurpose": "revocation", "encodedList": bits.encode()}
    });
    sign(key, kid, STATUS_LIST_TYPE, &credential)
}

/// Reads a signed status list (for the offline verifier), checking its signature.
pub fn read_status_list(token: &str, keys: &[PublishedKey]) -> Result<(String, Bitstring), VerifyError> {
    let Checked { payload, key } = check_jws(token, keys, STATUS_LIST_TYPE)?;
    if payload["issuer"].as_str() != Some(issuer_id(&key.issuer).as_str()) {
        return Err(VerifyError::StatusUnavailable(
            "the status list is not signed by its issuer".into(),
        ));
    }
    let url = payload["id"]
        .as_str()
        .ok_or_else(|| VerifyError::StatusUnavailable("the list has no id".into()))?;
    let bits = payload["credentialSubject"]["encodedList"]
        .as_str()
        .and_then(Bitstring::decode)
        .ok_or_else(|| VerifyError::StatusUnavailable("the list cannot be decoded".into()))?;
    Ok((url.to_string(), bits))
}

/// Verifies offline against a trust bundle: keys and signed status lists.
pub fn verify_offline(token: &str, bundle: &TrustBundle, now: DateTime<Utc>) -> Result<Verified, VerifyError> {
    let lists: Vec<(String, Bitstring)> = bundle
        .status_lists
        .values()
        .filter_map(|jws| read_status_list(jws, &bundle.keys).ok())
        .collect();
    verify(token, &bundle.keys, now, |url, index| {
        let (_, bits) = lists
            .iter()
            .find(|(id, _)| id == url)
            .ok_or_else(|| VerifyError::StatusUnavailable(format!("no status list {url} in the trust bundle")))?;
        bits.get(index)
            .ok_or_else(|| VerifyError::StatusUnavailable(format!("index {index} is outside the list")))
    })
}

/// A new random Ed25519 signing key.
pub fn generate_key() -> SigningKey {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("the OS random source works");
    SigningKey::from_bytes(&seed)
}

/// The QR code of a licence as an SVG image.
pub fn qr_svg(token: &str) -> Option<String> {
    let code = qrcode::QrCode::with_error_correction_level(token.as_bytes(), qrcode::EcLevel::L).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color>()
            .min_dimensions(240, 240)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn setup() -> (SigningKey, Vec<PublishedKey>) {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let published = PublishedKey {
            kid: "yrd:310000:1".into(),
            issuer: "310000".into(),
            jwk: Jwk::ed25519("yrd:310000:1", &key.verifying_key()),
            not_before: at("2024-01-01T00:00:00Z"),
            retired_at: None,
        };
        (key, vec![published])
    }

    fn licence(key: &SigningKey, issuer: &str, valid_from: &str) -> String {
        let credential = json!({
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiableCredential", "YrdBusinessLicence"],
            "issuer": issuer_id(issuer),
            "validFrom": valid_from,
            "validUntil": "2030-01-01T00:00:00Z",
            "credentialSubject": {"name": "上海某某贸易有限公司"},
            "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "revocation", "statusListIndex": "5", "statusListCredential": "urn:list:310000"}
        });
        sign(key, "yrd:310000:1", MEDIA_TYPE, &credential)
    }

    fn not_revoked(_: &str, _: usize) -> Result<bool, VerifyError> {
        Ok(false)
    }

    #[test]
    fn a_signed_licence_verifies_and_any_altered_byte_is_refused() {
        let (key, keys) = setup();
        let token = licence(&key, "310000", "2026-01-01T00:00:00Z");
        let now = at("2026-06-01T00:00:00Z");
        let ok = verify(&token, &keys, now, not_revoked).unwrap();
        assert_eq!(ok.issuer, "310000");
        for i in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let Ok(altered) = String::from_utf8(bytes) else {
                continue;
            };
            if altered == token {
                continue;
            }
            assert!(
                verify(&altered, &keys, now, not_revoked).is_err(),
                "byte {i} altered and still accepted"
            );
        }
    }

    #[test]
    fn keys_issuers_periods_and_revocation_are_checked() {
        let (key, mut keys) = setup();
        let now = at("2026-06-01T00:00:00Z");
        let foreign = licence(&key, "320000", "2026-01-01T00:00:00Z");
        assert!(matches!(
            verify(&foreign, &keys, now, not_revoked),
            Err(VerifyError::IssuerMismatch { .. })
        ));
        let token = licence(&key, "310000", "2026-01-01T00:00:00Z");
        assert_eq!(
            verify(&token, &keys, at("2025-06-01T00:00:00Z"), not_revoked)
                .unwrap_err()
                .to_string(),
            "not valid before 2026-01-01 00:00:00 UTC"
        );
        assert!(matches!(
            verify(&token, &keys, at("2031-01-01T00:00:00Z"), not_revoked),
            Err(VerifyError::Expired { .. })
        ));
        assert_eq!(verify(&token, &keys, now, |_, i| Ok(i == 5)), Err(VerifyError::Revoked));
        // Retired in March: what it signed in January stays valid, a later signature does not.
        keys[0].retired_at = Some(at("2026-03-01T00:00:00Z"));
        assert!(verify(&token, &keys, now, not_revoked).is_ok());
        let late = licence(&key, "310000", "2026-04-01T00:00:00Z");
        assert!(matches!(
            verify(&late, &keys, now, not_revoked),
            Err(VerifyError::SignedAfterKeyRetired { .. })
        ));
        keys[0].kid = "another".into();
        assert_eq!(
            verify(&token, &keys, now, not_revoked),
            Err(VerifyError::UnknownKey("yrd:310000:1".into()))
        );
        assert!(matches!(
            verify("abc", &keys, now, not_revoked),
            Err(VerifyError::Malformed(_))
        ));
    }

    #[test]
    fn status_lists_round_trip_signed() {
        let (key, keys) = setup();
        let mut bits = Bitstring::new();
        bits.set(5);
        bits.set(131_071);
        let jws = status_list_credential(
            &key,
            "yrd:310000:1",
            "310000",
            "urn:list:310000",
            &bits,
            at("2026-01-01T00:00:00Z"),
        );
        let (url, read) = read_status_list(&jws, &keys).unwrap();
        assert_eq!(url, "urn:list:310000");
        assert_eq!(read.get(5), Some(true));
        assert_eq!(read.get(6), Some(false));
        assert_eq!(read.get(131_071), Some(true));
        let mut bundle = TrustBundle {
            keys: keys.clone(),
            ..Default::default()
        };
        bundle.status_lists.insert(url, jws);
        let token = licence(&key, "310000", "2026-01-01T00:00:00Z");
        assert_eq!(
            verify_offline(&token, &bundle, at("2026-06-01T00:00:00Z")),
            Err(VerifyError::Revoked)
        );
        assert!(qr_svg(&token).unwrap().starts_with("<?xml"));
    }
}

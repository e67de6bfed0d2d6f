//! The patient index across hospitals: each hospital keeps its own Patient records and
//! identifiers; records with the same national ID are one person. The ID itself is
//! never stored, only its keyed hash.

use crate::fhir::{self, FhirError, NATIONAL_ID_HASH_SYSTEM, NATIONAL_ID_SYSTEM};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};
use sqlx::Row;
use yrd_db::{Db, DbError, Tx};
use yrd_kernel::national_id;
use yrd_kernel::time::now_db;

/// The platform's keys, made on first use: one for hashing national IDs, one for
/// signing recognition decisions.
#[derive(Clone)]
pub struct Keys {
    id_key: Vec<u8>,
    pub signing: SigningKey,
}

impl Keys {
    pub async fn load(db: &Db) -> Result<Keys, DbError> {
        let id_key = secret(db, "national-id").await?;
        let signing = secret(db, "decisions").await?;
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&signing[..32.min(signing.len())]);
        Ok(Keys {
            id_key,
            signing: SigningKey::from_bytes(&seed),
        })
    }

    pub fn hash(&self, national_id: &str) -> String {
        yrd_audit::hmac_sha256_hex(&self.id_key, national_id::normalise(national_id).as_bytes())
    }

    /// The signing key's id: the first 16 hex digits of the SHA-256 of its public half.
    pub fn key_id(&self) -> String {
        yrd_audit::sha256_hex(self.signing.verifying_key().as_bytes())[..16].to_string()
    }
}

async fn secret(db: &Db, name: &str) -> Result<Vec<u8>, DbError> {
    let find = || sqlx::query("SELECT secret FROM health_keys WHERE name = $1").bind(name);
    if let Some(row) = find().fetch_optional(db.pool()).await? {
        return Ok(B64.decode(row.get::<String, _>(0)).unwrap_or_default());
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    let public = (name == "decisions").then(|| B64.encode(SigningKey::from_bytes(&bytes).verifying_key().as_bytes()));
    let mut tx = db.begin().await?;
    // Another node may have made it meanwhile: keep the first.
    if let Some(row) = find().fetch_optional(tx.conn()).await? {
        tx.commit().await?;
        return Ok(B64.decode(row.get::<String, _>(0)).unwrap_or_default());
    }
    sqlx::query("INSERT INTO health_keys (name, secret, public_key, created_at) VALUES ($1, $2, $3, $4)")
        .bind(name)
        .bind(B64.encode(bytes))
        .bind(public)
        .bind(now_db())
        .execute(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(bytes.to_vec())
}

/// Demographics a person record keeps to check later matches against.
#[derive(Debug, Default)]
pub struct Demographics {
    pub family: Option<String>,
    pub birth_date: Option<String>,
    pub gender: Option<String>,
}

fn demographics(patient: &Value) -> Demographics {
    let family = patient["name"]
        .as_array()
        .and_then(|names| names.iter().find_map(|n| n["family"].as_str()))
        .map(str::to_string);
    Demographics {
        family,
        birth_date: patient["birthDate"].as_str().map(str::to_string),
        gender: patient["gender"].as_str().map(str::to_string),
    }
}

/// Replaces a national ID in the Patient by its hash, checks the demographics against
/// it, and returns the person the record belongs to (making one if needed). A hash
/// already in the record may stay only as it was in the current version: a hash is not
/// a credential to claim a person with.
pub async fn link(
    tx: &mut Tx,
    keys: &Keys,
    patient: &mut Value,
    previous: Option<String>,
    previous_hash: Option<String>,
) -> Result<String, FhirError> {
    let identifiers = patient["identifier"].as_array().cloned().unwrap_or_default();
    let mut found: Option<(usize, String, bool)> = None;
    for (i, identifier) in identifiers.iter().enumerate() {
        let system = identifier["system"].as_str().unwrap_or_default();
        if system != NATIONAL_ID_SYSTEM && system != NATIONAL_ID_HASH_SYSTEM {
            continue;
        }
        let path = format!("Patient.identifier[{i}].value");
        if found.is_some() {
            return Err(FhirError::rule(path, "a patient has one national ID"));
        }
        let value = identifier["value"].as_str().unwrap_or_default();
        if system == NATIONAL_ID_HASH_SYSTEM {
            // A record read back and sent again carries its own hash, unchanged.
            if previous_hash.as_deref() != Some(value) {
                return Err(FhirError::rule(
                    path,
                    "a national-ID hash may only stay as this record had it; send the national ID itself",
                ));
            }
            found = Some((i, value.to_string(), false));
            continue;
        }
        let Some(birth) = national_id::birth_date(value) else {
            return Err(FhirError::rule(
                path,
                "not a valid 18-character resident ID number (GB 11643 check character)",
            ));
        };
        if let Some(given) = patient["birthDate"].as_str()
            && given != birth.format("%Y-%m-%d").to_string()
        {
            return Err(FhirError::rule(
                "Patient.birthDate",
                "differs from the birth date in the national ID",
            ));
        }
        if let Some(given) = patient["gender"].as_str()
            && matches!(given, "male" | "female")
            && Some(given) != national_id::sex(value)
        {
            return Err(FhirError::rule(
                "Patient.gender",
                "differs from the sex in the national ID",
            ));
        }
        found = Some((i, keys.hash(value), true));
    }
    if let Some((i, hash, true)) = &found {
        patient["identifier"][*i] = json!({"use": "official", "system": NATIONAL_ID_HASH_SYSTEM, "value": hash});
    }
    let demo = demographics(patient);
    let hash = found.map(|(_, hash, _)| hash);
    if let Some(hash) = &hash {
        return Ok(person_by_hash(tx, hash, &demo).await?);
    }
    if hash.is_none()
        && let Some(previous) = previous
    {
        let local = sqlx::query("SELECT 1 FROM health_persons WHERE person_id = $1 AND id_hash IS NULL")
            .bind(&previous)
            .fetch_optional(tx.conn())
            .await?
            .is_some();
        if local {
            return Ok(previous);
        }
    }
    let person_id = fhir::new_id();
    sqlx::query("INSERT INTO health_persons (person_id, id_hash, family, birth_date, gender, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&person_id)
        .bind(&hash)
        .bind(&demo.family)
        .bind(&demo.birth_date)
        .bind(&demo.gender)
        .bind(now_db())
        .execute(tx.conn())
        .await?;
    Ok(person_id)
}

/// The national-ID hash a stored Patient carries, if any.
pub fn stored_hash(patient: &Value) -> Option<String> {
    patient["identifier"].as_array()?.iter().find_map(|id| {
        (id["system"].as_str() == Some(NATIONAL_ID_HASH_SYSTEM)).then(|| id["value"].as_str().map(str::to_string))?
    })
}

/// The person with this ID hash, made if there is none. Two hospitals registering the
/// same new person at once both end up with the one row (the insert yields to the other).
pub async fn person_by_hash(tx: &mut Tx, hash: &str, demo: &Demographics) -> Result<String, sqlx::Error> {
    sqlx::query(
        "INSERT INTO health_persons (person_id, id_hash, family, birth_date, gender, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (id_hash) DO NOTHING",
    )
    .bind(fhir::new_id())
    .bind(hash)
    .bind(&demo.family)
    .bind(&demo.birth_date)
    .bind(&demo.gender)
    .bind(now_db())
    .execute(tx.conn())
    .await?;
    let row = sqlx::query("SELECT person_id FROM health_persons WHERE id_hash = $1")
        .bind(hash)
        .fetch_one(tx.conn())
        .await?;
    row.try_get(0)
}

/// How sure a match is, in the words of FHIR's match-grade extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grade {
    /// Same national ID and the same family name and birth date.
    Certain,
    /// Same national ID, but the name differs (a transliteration, a typing error).
    Probable,
    /// No ID given: the same family name, birth date and sex.
    Possible,
}

impl Grade {
    pub fn code(self) -> &'static str {
        match self {
            Grade::Certain => "certain",
            Grade::Probable => "probable",
            Grade::Possible => "possible",
        }
    }

    pub fn score(self) -> f64 {
        match self {
            Grade::Certain => 1.0,
            Grade::Probable => 0.8,
            Grade::Possible => 0.5,
        }
    }
}

/// The persons a Patient resource (as sent to `$match`) may be.
pub async fn find(db: &Db, keys: &Keys, patient: &Value) -> Result<Vec<(String, Grade)>, FhirError> {
    let demo = demographics(patient);
    let national = patient["identifier"].as_array().and_then(|ids| {
        ids.iter().find_map(|id| match id["system"].as_str() {
            Some(NATIONAL_ID_SYSTEM) => id["value"].as_str().map(|v| keys.hash(v)),
            Some(NATIONAL_ID_HASH_SYSTEM) => id["value"].as_str().map(str::to_string),
            _ => None,
        })
    });
    if let Some(hash) = national {
        let row = sqlx::query("SELECT person_id, family, birth_date FROM health_persons WHERE id_hash = $1")
            .bind(&hash)
            .fetch_optional(db.pool())
            .await?;
        return Ok(row
            .map(|row| {
                let family: Option<String> = row.get(1);
                let birth: Option<String> = row.get(2);
                let agrees = |given: &Option<String>, known: &Option<String>| match (given, known) {
                    (Some(g), Some(k)) => g == k,
                    _ => true,
                };
                let grade = if agrees(&demo.family, &family) && agrees(&demo.birth_date, &birth) {
                    Grade::Certain
                } else {
                    Grade::Probable
                };
                (row.get(0), grade)
            })
            .into_iter()
            .collect());
    }
    let (Some(family), Some(birth), Some(gender)) = (&demo.family, &demo.birth_date, &demo.gender) else {
        return Err(FhirError::rule(
            "Parameters.parameter[resource].resource",
            "give the national ID, or the family name, birth date and gender",
        ));
    };
    let rows = sqlx::query(
        "SELECT person_id FROM health_persons WHERE family = $1 AND birth_date = $2 AND gender = $3 LIMIT 20",
    )
    .bind(family)
    .bind(birth)
    .bind(gender)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(|r| (r.get(0), Grade::Possible)).collect())
}

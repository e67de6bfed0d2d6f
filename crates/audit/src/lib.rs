//! The append-only, hash-chained audit log.
//!
//! Every mutation appends its entry inside the mutation's own transaction
//! ([`append`]), so a change and its record commit or vanish together. Each entry's
//! hash covers the previous entry's hash and the canonical form of the entry, so a row
//! altered or removed behind the database triggers' back breaks the chain, and
//! [`verify`] finds the first broken entry.

mod canonical;

pub use canonical::canonical_json;

use schemars::JsonSchema;
use serde::Serialize;
use sha2::{Digest, Sha256};
use yrd_db::{Backend, Db, DbError, Migration, Migrations, Row, Tx};
use yrd_kernel::{JurisdictionCode, Scope};

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub fn migrations() -> Migrations {
    Migrations {
        module: "audit",
        steps: vec![Migration {
            version: 1,
            name: "audit_log",
            sqlite: include_str!("../migrations/0001_audit_log.sqlite.sql"),
            postgres: include_str!("../migrations/0001_audit_log.postgres.sql"),
        }],
    }
}

/// What happened, as the caller describes it.
#[derive(Debug, Clone)]
pub struct Change {
    /// Login of the user, `system`, or `anonymous`.
    pub actor: String,
    /// Dotted verb, e.g. `user.grant`, `access.denied`.
    pub action: String,
    pub module: String,
    pub entity_id: String,
    pub jurisdiction: Option<JurisdictionCode>,
    /// The change itself (never secrets): stored as canonical JSON, digested.
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Entry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub module: String,
    pub entity_id: String,
    pub jurisdiction: Option<String>,
    /// Canonical JSON of the change.
    pub detail: String,
    /// SHA-256 of `detail`, hex.
    pub digest: String,
    pub prev_hash: String,
    pub hash: String,
}

impl Entry {
    /// SHA-256 over the previous hash and the canonical JSON of the entry's fields.
    fn compute_hash(&self) -> String {
        let body = serde_json::json!({
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "module": self.module,
            "entity_id": self.entity_id,
            "jurisdiction": self.jurisdiction,
            "digest": self.digest,
        });
        let mut hasher = Sha256::new();
        hasher.update(self.prev_hash.as_bytes());
        hasher.update(canonical_json(&body).as_bytes());
        hex(&hasher.finalize())
    }

    fn from_row(row: &yrd_db::AnyRow) -> Entry {
        Entry {
            seq: row.get("seq"),
            at: row.get("at"),
            actor: row.get("actor"),
            action: row.get("action"),
            module: row.get("module"),
            entity_id: row.get("entity_id"),
            jurisdiction: row.get("jurisdiction"),
            detail: row.get("detail"),
            digest: row.get("digest"),
            prev_hash: row.get("prev_hash"),
            hash: row.get("hash"),
        }
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// HMAC-SHA256 (RFC 2104) as hex: a keyed hash for identifiers that must never be
/// stored in the clear. Keys longer than the block are hashed first, as the RFC says.
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner: Vec<u8> = block.iter().map(|b| b ^ 0x36).chain(message.iter().copied()).collect();
    let inner = Sha256::digest(&inner);
    let outer: Vec<u8> = block.iter().map(|b| b ^ 0x5c).chain(inner.iter().copied()).collect();
    hex(&Sha256::digest(&outer))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const COLUMNS: &str = "seq, at, actor, action, module, entity_id, jurisdiction, detail, digest, prev_hash, hash";

/// Appends an entry inside the caller's transaction, after its change.
pub async fn append(tx: &mut Tx, change: Change) -> Result<Entry, DbError> {
    // The chain is one sequence: concurrent writers must take turns at its head. On
    // PostgreSQL this lock is held until commit and lets readers through; SQLite's
    // write transactions are already serial (BEGIN IMMEDIATE).
    if tx.backend() == Backend::Postgres {
        sqlx::query("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE")
            .execute(tx.conn())
            .await?;
    }
    let head = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(tx.conn())
        .await?;
    let (prev_seq, prev_hash) = match head {
        Some(row) => (row.get::<i64, _>(0), row.get::<String, _>(1)),
        None => (0, GENESIS_HASH.to_string()),
    };
    let detail = canonical_json(&change.detail);
    let mut entry = Entry {
        seq: prev_seq + 1,
        at: yrd_kernel::time::now_db(),
        actor: change.actor,
        action: change.action,
        module: change.module,
        entity_id: change.entity_id,
        jurisdiction: change.jurisdiction.map(|c| c.to_string()),
        digest: sha256_hex(detail.as_bytes()),
        detail,
        prev_hash,
        hash: String::new(),
    };
    entry.hash = entry.compute_hash();
    sqlx::query(&format!(
        "INSERT INTO audit_log ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(entry.seq)
    .bind(&entry.at)
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(&entry.module)
    .bind(&entry.entity_id)
    .bind(&entry.jurisdiction)
    .bind(&entry.detail)
    .bind(&entry.digest)
    .bind(&entry.prev_hash)
    .bind(&entry.hash)
    .execute(tx.conn())
    .await?;
    Ok(entry)
}

/// Appends an entry for `module`: the shorthand modules use inside their transactions.
pub async fn log(
    tx: &mut Tx,
    module: &str,
    actor: &str,
    action: &str,
    entity: String,
    jurisdiction: Option<JurisdictionCode>,
    detail: serde_json::Value,
) -> Result<(), DbError> {
    let change = Change {
        actor: actor.into(),
        action: action.into(),
        module: module.into(),
        entity_id: entity,
        jurisdiction,
        detail,
    };
    append(tx, change).await.map(|_| ())
}

/// Records one event that changes nothing else (a denial, a failed login) in its own
/// transaction.
pub async fn record(db: &Db, change: Change) -> Result<Entry, DbError> {
    let mut tx = db.begin().await?;
    let entry = append(&mut tx, change).await?;
    tx.commit().await?;
    Ok(entry)
}

/// Which entries to list: newest first, at most `limit`, before `before_seq`.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only entries of jurisdictions inside this scope; `None` = everything, including
    /// entries without a jurisdiction (platform admins only).
    pub scope: Option<Scope>,
    pub module: Option<String>,
    pub action: Option<String>,
    pub before_seq: Option<i64>,
    pub limit: i64,
}

pub const MAX_PAGE: i64 = 500;

pub async fn list(db: &Db, filter: &Filter) -> Result<Vec<Entry>, DbError> {
    let mut sql = format!("SELECT {COLUMNS} FROM audit_log WHERE 1 = 1");
    let mut args: Vec<String> = Vec::new();
    let mut arg = |sql: &mut String, clause: &str, value: String| {
        args.push(value);
        sql.push_str(&clause.replace('?', &format!("${}", args.len())));
    };
    if let Some(scope) = &filter.scope {
        arg(&mut sql, " AND jurisdiction LIKE ?", scope.like_pattern());
    }
    if let Some(module) = &filter.module {
        arg(&mut sql, " AND module = ?", module.clone());
    }
    if let Some(action) = &filter.action {
        arg(&mut sql, " AND action = ?", action.clone());
    }
    if let Some(before) = filter.before_seq {
        sql.push_str(&format!(" AND seq < {before}"));
    }
    sql.push_str(&format!(" ORDER BY seq DESC LIMIT {}", filter.limit.clamp(1, MAX_PAGE)));
    let mut query = sqlx::query(&sql);
    for value in &args {
        query = query.bind(value);
    }
    let rows = query.fetch_all(db.pool()).await?;
    Ok(rows.iter().map(Entry::from_row).collect())
}

/// The outcome of recomputing the chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    pub checked: i64,
    pub head: Option<String>,
    pub first_broken: Option<Broken>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Broken {
    pub seq: i64,
    pub reason: String,
}

/// Recomputes every digest and hash from the first entry on, in pages.
pub async fn verify(db: &Db) -> Result<Verification, DbError> {
    const PAGE: i64 = 1000;
    let mut expected_seq = 1;
    let mut prev_hash = GENESIS_HASH.to_string();
    let mut checked = 0;
    loop {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT {PAGE}"
        ))
        .bind(expected_seq)
        .fetch_all(db.pool())
        .await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let entry = Entry::from_row(row);
            let broken = |reason: String| Verification {
                checked,
                head: None,
                first_broken: Some(Broken { seq: entry.seq, reason }),
            };
            if entry.seq != expected_seq {
                return Ok(Verification {
                    checked,
                    head: None,
                    first_broken: Some(Broken {
                        seq: expected_seq,
                        reason: format!("entry {expected_seq} is missing (next is {})", entry.seq),
                    }),
                });
            }
            if entry.prev_hash != prev_hash {
                return Ok(broken("prev_hash does not match the previous entry's hash".into()));
            }
            if sha256_hex(entry.detail.as_bytes()) != entry.digest {
                return Ok(broken("digest does not match the recorded change".into()));
            }
            if entry.compute_hash() != entry.hash {
                return Ok(broken("hash does not match the entry's contents".into()));
            }
            prev_hash = entry.hash;
            expected_seq += 1;
            checked += 1;
        }
    }
    Ok(Verification {
        checked,
        head: (checked > 0).then_some(prev_hash),
        first_broken: None,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        assert_eq!(
            super::hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}

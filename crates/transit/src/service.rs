//! Storing feeds and real-time updates, and keeping each node's network in step with
//! the database.

use crate::gtfs::{self, Feed, Report};
use crate::network::Network;
use crate::realtime::{self, Updates};
use serde_json::json;
use sqlx::Row;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use yrd_audit::{Change, sha256_hex};
use yrd_db::{Db, DbError};
use yrd_kernel::time::now_db;

pub const MODULE: &str = "transit";

#[derive(Debug)]
pub enum ImportError {
    Invalid(Report),
    Db(DbError),
}

impl From<DbError> for ImportError {
    fn from(e: DbError) -> Self {
        ImportError::Db(e)
    }
}

impl From<sqlx::Error> for ImportError {
    fn from(e: sqlx::Error) -> Self {
        ImportError::Db(e.into())
    }
}

fn valid_feed_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 40 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks a feed and, if it has no errors, replaces the feed of that id in one
/// transaction. On any error nothing changes and the previous feed keeps serving.
pub async fn import(
    db: &Db,
    actor: &str,
    feed_id: &str,
    files: BTreeMap<String, String>,
) -> Result<Report, ImportError> {
    if !valid_feed_id(feed_id) {
        let issue = gtfs::Issue {
            file: "-".into(),
            line: None,
            field: "feed".into(),
            message: "a feed id: letters, digits, '-' or '_'".into(),
        };
        return Err(ImportError::Invalid(Report {
            errors: vec![issue],
            warnings: Vec::new(),
        }));
    }
    let (feed, report) = gtfs::parse(&files);
    let Some(feed) = feed else {
        return Err(ImportError::Invalid(report));
    };
    let digest = sha256_hex(
        files
            .iter()
            .map(|(n, t)| format!("{n}\n{t}"))
            .collect::<String>()
            .as_bytes(),
    );
    let summary = json!({"stops": feed.stops.len(), "routes": feed.routes.len(), "trips": feed.trips.len(), "warnings": report.warnings.len()});
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM transit_feed_files WHERE feed_id = $1")
        .bind(feed_id)
        .execute(tx.conn())
        .await?;
    sqlx::query("DELETE FROM transit_feeds WHERE id = $1")
        .bind(feed_id)
        .execute(tx.conn())
        .await?;
    sqlx::query("INSERT INTO transit_feeds (id, imported_at, sha256, summary) VALUES ($1, $2, $3, $4)")
        .bind(feed_id)
        .bind(now_db())
        .bind(&digest)
        .bind(summary.to_string())
        .execute(tx.conn())
        .await?;
    for (name, content) in &files {
        sqlx::query("INSERT INTO transit_feed_files (feed_id, name, content) VALUES ($1, $2, $3)")
            .bind(feed_id)
            .bind(name)
            .bind(content)
            .execute(tx.conn())
            .await?;
    }
    let change = Change {
        actor: actor.into(),
        action: "feed.import".into(),
        module: MODULE.into(),
        entity_id: feed_id.into(),
        jurisdiction: None,
        detail: json!({"sha256": digest, "summary": summary}),
    };
    yrd_audit::append(&mut tx, change).await?;
    tx.commit().await?;
    Ok(report)
}

pub async fn feed_files(db: &Db, feed_id: &str) -> Result<BTreeMap<String, String>, DbError> {
    let rows = sqlx::query("SELECT name, content FROM transit_feed_files WHERE feed_id = $1 ORDER BY name")
        .bind(feed_id)
        .fetch_all(db.pool())
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct FeedInfo {
    pub id: String,
    pub imported_at: String,
    pub sha256: String,
    pub summary: serde_json::Value,
}

pub async fn feeds(db: &Db) -> Result<Vec<FeedInfo>, DbError> {
    let rows = sqlx::query("SELECT id, imported_at, sha256, summary FROM transit_feeds ORDER BY id")
        .fetch_all(db.pool())
        .await?;
    Ok(rows
        .iter()
        .map(|r| FeedInfo {
            id: r.get(0),
            imported_at: r.get(1),
            sha256: r.get(2),
            summary: serde_json::from_str(&r.get::<String, _>(3)).unwrap_or_default(),
        })
        .collect())
}

/// Stores a TripUpdates feed after checking that it decodes; applies to the next query.
pub async fn post_realtime(db: &Db, actor: &str, bytes: &[u8], network: &Network) -> Result<usize, String> {
    let updates = realtime::decode(bytes, |trip, stop| network.stop_sequence(trip, stop))?;
    let mut tx = db.begin().await.map_err(|e| e.to_string())?;
    sqlx::query("DELETE FROM transit_realtime")
        .execute(tx.conn())
        .await
        .map_err(|e| e.to_string())?;
    sqlx::query("INSERT INTO transit_realtime (id, body, received_at) VALUES (1, $1, $2)")
        .bind(bytes.to_vec())
        .bind(now_db())
        .execute(tx.conn())
        .await
        .map_err(|e| e.to_string())?;
    let change = Change {
        actor: actor.into(),
        action: "realtime.post".into(),
        module: MODULE.into(),
        entity_id: "trip-updates".into(),
        jurisdiction: None,
        detail: json!({"trips": updates.trips.len(), "sha256": sha256_hex(bytes)}),
    };
    yrd_audit::append(&mut tx, change).await.map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;
    Ok(updates.trips.len())
}

/// The network every request plans on, rebuilt when the database holds newer feeds or
/// real-time updates than it was built from (so every node follows every import).
#[derive(Clone, Default)]
pub struct Shared {
    inner: Arc<RwLock<(String, Option<Arc<Network>>)>>,
}

impl Shared {
    pub async fn network(&self, db: &Db) -> Result<Arc<Network>, DbError> {
        let version: String = sqlx::query(
            "SELECT COALESCE((SELECT MAX(imported_at) FROM transit_feeds), '') || '/' || COALESCE((SELECT received_at FROM transit_realtime), '')",
        )
        .fetch_one(db.pool())
        .await?
        .get(0);
        if let Ok(guard) = self.inner.read()
            && guard.0 == version
            && let Some(net) = &guard.1
        {
            return Ok(net.clone());
        }
        let mut feeds: Vec<(String, Feed)> = Vec::new();
        for info in self::feeds(db).await? {
            let files = feed_files(db, &info.id).await?;
            if let (Some(feed), _) = gtfs::parse(&files) {
                feeds.push((info.id, feed));
            }
        }
        let mut network = Network::new(feeds, Updates::default());
        let body = sqlx::query("SELECT body FROM transit_realtime WHERE id = 1")
            .fetch_optional(db.pool())
            .await?;
        if let Some(row) = body
            && let Ok(updates) = realtime::decode(&row.get::<Vec<u8>, _>(0), |trip, stop| {
                network.stop_sequence(trip, stop)
            })
        {
            network = Network::new(network.feeds, updates);
        }
        let network = Arc::new(network);
        if let Ok(mut guard) = self.inner.write() {
            *guard = (version, Some(network.clone()));
        }
        Ok(network)
    }
}

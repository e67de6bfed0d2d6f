//! Storage: one [`Db`] handle over SQLite (embedded file) or PostgreSQL, per-module
//! migrations, write transactions, and isolated databases for tests.
//!
//! Queries are written once with `$1`-style parameters, which both backends accept.
//! Column types are kept to what both share: BIGINT/INTEGER, TEXT (timestamps as
//! RFC 3339 UTC, dates as `YYYY-MM-DD`, JSON as text), DOUBLE PRECISION/REAL.

mod migrate;
pub mod testing;

pub use migrate::{Migration, MigrationStatus, Migrations};
pub use sqlx::{Any, AnyPool, Row, any::AnyRow};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{ConnectOptions, Executor};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

pub type Conn = sqlx::AnyConnection;

/// A write transaction; knows its backend so that SQL can differ where it must.
pub struct Tx {
    inner: sqlx::Transaction<'static, Any>,
    backend: Backend,
    /// This process's SQLite write turn, held until commit or drop.
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Tx {
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection to run statements on: `query.execute(tx.conn())`.
    pub fn conn(&mut self) -> &mut Conn {
        &mut self.inner
    }

    pub async fn commit(self) -> Result<(), DbError> {
        self.inner.commit().await?;
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("database target '{0}': {1}")]
    Target(String, String),
    #[error("migration {module}/{version} ({name}): {source}")]
    Migration {
        module: String,
        version: u32,
        name: String,
        source: sqlx::Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Where the data lives: an SQLite file or a PostgreSQL URL, optionally inside one
/// schema (used to isolate tests).
#[derive(Debug, Clone)]
pub struct DbTarget {
    pub url: String,
    pub backend: Backend,
    pub schema: Option<String>,
}

impl DbTarget {
    /// `postgres://…` / `postgresql://…` is PostgreSQL; anything else is an SQLite file path
    /// (`sqlite://path` is accepted too). The file is created if missing.
    pub fn parse(target: &str) -> Result<Self, DbError> {
        if target.starts_with("postgres://") || target.starts_with("postgresql://") {
            return Ok(Self {
                url: target.to_string(),
                backend: Backend::Postgres,
                schema: None,
            });
        }
        let path = target.strip_prefix("sqlite://").unwrap_or(target);
        if path.is_empty() {
            return Err(DbError::Target(target.into(), "empty path".into()));
        }
        Ok(Self {
            url: format!("sqlite://{path}?mode=rwc"),
            backend: Backend::Sqlite,
            schema: None,
        })
    }
}

/// A pooled handle to the platform's database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// SQLite has one writer. Writers of this process queue here, in order, instead of
    /// in SQLite's busy handler, whose growing sleeps (up to 100 ms each) make the
    /// slowest writers very slow under load. Other processes on the same file still
    /// meet the busy timeout.
    writer: Arc<tokio::sync::Mutex<()>>,
}

impl Db {
    pub async fn connect(target: &str) -> Result<Db, DbError> {
        Self::connect_target(&DbTarget::parse(target)?).await
    }

    pub async fn connect_target(target: &DbTarget) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let options = AnyConnectOptions::from_str(&target.url)
            .map_err(|e| DbError::Target(redact(&target.url), e.to_string()))?
            .disable_statement_logging();
        let backend = target.backend;
        let schema = target.schema.clone();
        let pool_options = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(10))
            // A connection must never go back to the pool inside a transaction: closing it
            // rolls the transaction back and frees the write lock.
            .after_release(|conn, _meta| {
                Box::pin(async move {
                    // The ping lets a rollback queued by a dropped transaction run first.
                    sqlx::Connection::ping(conn).await?;
                    let depth =
                        <sqlx::any::AnyTransactionManager as sqlx::TransactionManager>::get_transaction_depth(conn);
                    if depth != 0 {
                        tracing::warn!(depth, "a connection came back inside a transaction; closing it");
                    }
                    Ok(depth == 0)
                })
            })
            .after_connect(move |conn, _meta| {
                let schema = schema.clone();
                Box::pin(async move {
                    match backend {
                        // WAL lets readers run beside the one writer; the busy timeout makes
                        // a second writer wait instead of failing.
                        Backend::Sqlite => {
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                        }
                        Backend::Postgres => {
                            if let Some(schema) = schema {
                                conn.execute(format!("SET search_path TO \"{schema}\"").as_str())
                                    .await?;
                            }
                        }
                    }
                    Ok(())
                })
            });
        let pool = pool_options
            .connect_with(options)
            .await
            .map_err(|e| DbError::Target(redact(&target.url), e.to_string()))?;
        Ok(Db {
            pool,
            backend,
            writer: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so two writers queue on the busy timeout instead of one
    /// failing when it upgrades from reading to writing.
    ///
    /// The BEGIN runs in its own task. sqlx's SQLite driver awaits once more after a
    /// custom BEGIN succeeds; a caller dropped at that point (a client that hung up, a
    /// timeout) would leave the connection inside a transaction nobody owns, holding the
    /// write lock, and every later BEGIN on it failing. In a task the BEGIN always
    /// finishes, and a transaction nobody is left to take is dropped, which rolls it back.
    pub async fn begin(&self) -> Result<Tx, DbError> {
        let pool = self.pool.clone();
        let backend = self.backend;
        // As long as SQLite's own busy timeout: a writer that waits longer fails the same way.
        let turn = match backend {
            Backend::Sqlite => Some(
                tokio::time::timeout(Duration::from_secs(10), self.writer.clone().lock_owned())
                    .await
                    .map_err(|_| {
                        DbError::Sql(sqlx::Error::Protocol(
                            "timed out waiting 10 s for the write turn".into(),
                        ))
                    })?,
            ),
            Backend::Postgres => None,
        };
        let inner = tokio::spawn(async move {
            match backend {
                Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
                Backend::Postgres => pool.begin().await,
            }
        })
        .await
        .map_err(|_| DbError::Sql(sqlx::Error::WorkerCrashed))??;
        Ok(Tx {
            inner,
            backend,
            _turn: turn,
        })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Tables and their columns (lower-case names, sorted), for comparing backends.
    pub async fn schema_columns(&self) -> Result<Vec<(String, String)>, DbError> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY 1, 2"
            }
            Backend::Postgres => {
                "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT) \
                 FROM information_schema.columns WHERE table_schema = current_schema() \
                 ORDER BY 1, 2"
            }
        };
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|row| {
                (
                    row.get::<String, _>(0).to_lowercase(),
                    row.get::<String, _>(1).to_lowercase(),
                )
            })
            .collect())
    }
}

/// Hides a password in a database URL before it reaches an error message or a log.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// Whether an error is a unique-constraint violation (for turning races into 409s).
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db.is_unique_violation(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_told_apart() {
        assert_eq!(DbTarget::parse("./yrd.db").unwrap().backend, Backend::Sqlite);
        assert_eq!(DbTarget::parse("./yrd.db").unwrap().url, "sqlite://./yrd.db?mode=rwc");
        assert_eq!(DbTarget::parse("postgres://u@h/db").unwrap().backend, Backend::Postgres);
        assert!(DbTarget::parse("").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://yrd:s3cret@db:5432/yrd"),
            "postgres://yrd:***@db:5432/yrd"
        );
        assert_eq!(redact("postgres://yrd@db/yrd"), "postgres://yrd@db/yrd");
        assert_eq!(redact("./yrd.db"), "./yrd.db");
    }
}

#[cfg(test)]
mod cancellation {
    use crate::testing::{TestDb, backends};
    use std::time::Duration;

    /// A request dropped while its transaction waits for the write lock (a client that
    /// hangs up, a timeout) must leave the pool healthy: every later transaction begins.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_begin_does_not_poison_the_pool() {
        for backend in backends() {
            let test_db = TestDb::create(backend).await.unwrap();
            let db = test_db.db.clone();
            // Begins that wait for the write lock and are dropped before they get it; the
            // lock is freed while they are still queued.
            for round in 0..5u64 {
                let holder = db.begin().await.unwrap();
                let waiting: Vec<_> = (0..12)
                    .map(|_| {
                        let db = db.clone();
                        tokio::spawn(async move {
                            let _ = tokio::time::timeout(Duration::from_millis(30 + round * 7), db.begin()).await;
                        })
                    })
                    .collect();
                tokio::time::sleep(Duration::from_millis(25 + round * 7)).await;
                drop(holder);
                for task in waiting {
                    task.await.unwrap();
                }
            }
            // Cancelled at every point of a transaction: begin, statement, commit.
            sqlx::query("CREATE TABLE IF NOT EXISTS cancel_probe (n BIGINT)")
                .execute(db.pool())
                .await
                .unwrap();
            let mut tasks = Vec::new();
            for n in 0..200u64 {
                let db = db.clone();
                tasks.push(tokio::spawn(async move {
                    let work = async {
                        let mut tx = db.begin().await?;
                        sqlx::query("INSERT INTO cancel_probe (n) VALUES ($1)")
                            .bind(n as i64)
                            .execute(tx.conn())
                            .await?;
                        tx.commit().await
                    };
                    let _ = tokio::time::timeout(Duration::from_micros(50 + (n * 37) % 3000), work).await;
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
            for i in 0..40 {
                let tx = tokio::time::timeout(Duration::from_secs(20), db.begin())
                    .await
                    .unwrap_or_else(|_| panic!("begin {i} timed out"))
                    .unwrap_or_else(|e| panic!("begin {i} after cancelled begins: {e}"));
                tx.commit().await.unwrap();
            }
            test_db.cleanup().await;
        }
    }
}

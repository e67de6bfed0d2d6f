//! Isolated databases for tests: every test gets its own SQLite file, and, when
//! `YRD_TEST_POSTGRES_URL` is set, its own PostgreSQL schema as well.

use crate::{Backend, Db, DbError, DbTarget};
use std::path::PathBuf;

pub const POSTGRES_URL_VAR: &str = "YRD_TEST_POSTGRES_URL";

/// The backends a storage test runs on: SQLite always, PostgreSQL when configured.
pub fn backends() -> Vec<Backend> {
    let mut out = vec![Backend::Sqlite];
    if std::env::var(POSTGRES_URL_VAR).is_ok_and(|url| !url.is_empty()) {
        out.push(Backend::Postgres);
    }
    out
}

/// A fresh, empty database that is removed again by [`TestDb::cleanup`].
pub struct TestDb {
    pub db: Db,
    pub target: DbTarget,
    cleanup: Cleanup,
}

enum Cleanup {
    File(PathBuf),
    Schema { admin_url: String, schema: String },
}

fn unique_suffix() -> String {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl TestDb {
    pub async fn create(backend: Backend) -> Result<TestDb, DbError> {
        let suffix = unique_suffix();
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("yrd-test-{suffix}.db"));
                let target = DbTarget::parse(path.to_str().expect("temp paths are UTF-8"))?;
                let db = Db::connect_target(&target).await?;
                Ok(TestDb {
                    db,
                    target,
                    cleanup: Cleanup::File(path),
                })
            }
            Backend::Postgres => {
                let admin_url = std::env::var(POSTGRES_URL_VAR)
                    .map_err(|_| DbError::Target(POSTGRES_URL_VAR.into(), "not set".into()))?;
                let schema = format!("yrd_test_{suffix}");
                let admin = Db::connect(&admin_url).await?;
                sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
                    .execute(admin.pool())
                    .await?;
                admin.close().await;
                let mut target = DbTarget::parse(&admin_url)?;
                target.schema = Some(schema.clone());
                let db = Db::connect_target(&target).await?;
                Ok(TestDb {
                    db,
                    target,
                    cleanup: Cleanup::Schema { admin_url, schema },
                })
            }
        }
    }

    /// Closes the pool and removes the file or schema.
    pub async fn cleanup(self) {
        self.db.close().await;
        match self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut name = path.clone().into_os_string();
                    name.push(suffix);
                    let _ = std::fs::remove_file(name);
                }
            }
            Cleanup::Schema { admin_url, schema } => {
                if let Ok(admin) = Db::connect(&admin_url).await {
                    let _ = sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                        .execute(admin.pool())
                        .await;
                    admin.close().await;
                }
            }
        }
    }
}

//! Per-module schema migrations, one SQL text per backend, applied in order and
//! recorded in `schema_migrations`.

use crate::{Backend, Db, DbError};
use sqlx::Row;

/// One step of a module's schema. Versions are numbered from 1 within the module.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

impl Migration {
    fn sql(&self, backend: Backend) -> &'static str {
        match backend {
            Backend::Sqlite => self.sqlite,
            Backend::Postgres => self.postgres,
        }
    }
}

/// A module's migrations. Module names are unique, so versions never collide.
#[derive(Debug, Clone)]
pub struct Migrations {
    pub module: &'static str,
    pub steps: Vec<Migration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    pub module: &'static str,
    pub version: u32,
    pub name: &'static str,
    pub applied: bool,
}

const LEDGER: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (\
    module TEXT NOT NULL, version BIGINT NOT NULL, name TEXT NOT NULL, applied_at TEXT NOT NULL, \
    PRIMARY KEY (module, version))";

impl Db {
    /// Applies every pending step, each in its own transaction with its ledger row.
    /// Returns the steps applied now.
    pub async fn migrate(&self, sets: &[Migrations]) -> Result<Vec<MigrationStatus>, DbError> {
        sqlx::query(LEDGER).execute(self.pool()).await?;
        let mut applied_now = Vec::new();
        for status in self.migration_status(sets).await? {
            if status.applied {
                continue;
            }
            let step = sets
                .iter()
                .find(|set| set.module == status.module)
                .and_then(|set| set.steps.iter().find(|s| s.version == status.version))
                .expect("status lists only known steps");
            let failed = |source| DbError::Migration {
                module: status.module.into(),
                version: status.version,
                name: status.name.into(),
                source,
            };
            let mut tx = self.begin().await?;
            sqlx::raw_sql(step.sql(self.backend()))
                .execute(tx.conn())
                .await
                .map_err(failed)?;
            sqlx::query("INSERT INTO schema_migrations (module, version, name, applied_at) VALUES ($1, $2, $3, $4)")
                .bind(status.module)
                .bind(i64::from(status.version))
                .bind(status.name)
                .bind(yrd_kernel::time::now_db())
                .execute(tx.conn())
                .await
                .map_err(failed)?;
            tx.commit().await?;
            tracing::info!(
                module = status.module,
                version = status.version,
                name = status.name,
                "migration applied"
            );
            applied_now.push(MigrationStatus {
                applied: true,
                ..status
            });
        }
        Ok(applied_now)
    }

    /// Every known step and whether it has been applied.
    pub async fn migration_status(&self, sets: &[Migrations]) -> Result<Vec<MigrationStatus>, DbError> {
        let applied: Vec<(String, i64)> = match sqlx::query("SELECT module, version FROM schema_migrations")
            .fetch_all(self.pool())
            .await
        {
            Ok(rows) => rows.iter().map(|r| (r.get(0), r.get(1))).collect(),
            // No ledger yet: nothing has been applied.
            Err(_) => Vec::new(),
        };
        let mut out = Vec::new();
        for set in sets {
            let mut steps = set.steps.clone();
            steps.sort_by_key(|s| s.version);
            for step in steps {
                out.push(MigrationStatus {
                    module: set.module,
                    version: step.version,
                    name: step.name,
                    applied: applied
                        .iter()
                        .any(|(m, v)| m == set.module && *v == i64::from(step.version)),
                });
            }
        }
        Ok(out)
    }
}

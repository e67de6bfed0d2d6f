//! Durable background jobs and schedules.
//!
//! A job is a row: enqueued (often inside the transaction of the change that asks for
//! it), claimed by exactly one worker under a lease (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL; SQLite's write transactions are serial), retried with exponential
//! backoff, and kept with its outcome for the console. A worker that dies leaves its
//! lease to expire, and another worker takes the job again.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use yrd_db::{Backend, Db, DbError, Migration, Migrations, Row, Tx};
use yrd_kernel::BoxFuture;
use yrd_kernel::time::{now_db, to_db};

pub fn migrations() -> Migrations {
    Migrations {
        module: "jobs",
        steps: vec![Migration {
            version: 1,
            name: "jobs",
            sqlite: include_str!("../migrations/0001_jobs.sqlite.sql"),
            postgres: include_str!("../migrations/0001_jobs.postgres.sql"),
        }],
    }
}

/// Work of one kind. A handler should be idempotent: after a crash, a job can run again.
pub trait JobHandler: Send + Sync {
    /// `<module>.<job>`, e.g. `plan.mark_reports_due`.
    fn kind(&self) -> &'static str;
    fn run(&self, payload: serde_json::Value) -> BoxFuture<'_, Result<(), String>>;
}

/// A handler, and how often to run it on its own (`None`: only when enqueued).
#[derive(Clone)]
pub struct JobSpec {
    pub handler: Arc<dyn JobHandler>,
    pub every: Option<std::time::Duration>,
}

pub const DEFAULT_MAX_ATTEMPTS: i64 = 5;

/// Queues a job inside the caller's transaction, so it exists only if the change commits.
pub async fn enqueue(
    tx: &mut Tx,
    kind: &str,
    payload: &serde_json::Value,
    run_at: DateTime<Utc>,
) -> Result<i64, DbError> {
    let row = sqlx::query(
        "INSERT INTO jobs (kind, payload, status, attempts, max_attempts, run_at, created_at) \
         VALUES ($1, $2, 'queued', 0, $3, $4, $5) RETURNING id",
    )
    .bind(kind)
    .bind(payload.to_string())
    .bind(DEFAULT_MAX_ATTEMPTS)
    .bind(to_db(run_at))
    .bind(now_db())
    .fetch_one(tx.conn())
    .await?;
    Ok(row.get(0))
}

/// Delay before the next try after `attempts` failed ones: 10 s, 20 s, 40 s … capped at an hour.
pub fn backoff(attempts: i64) -> Duration {
    let exponent = attempts.clamp(1, 16) - 1;
    Duration::seconds((10i64 << exponent).min(3600))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done { id: i64 },
    Retry { id: i64, error: String },
    Failed { id: i64, error: String },
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct JobRun {
    pub id: i64,
    pub kind: String,
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub last_error: Option<String>,
}

pub struct Worker {
    db: Db,
    id: String,
    handlers: HashMap<&'static str, Arc<dyn JobHandler>>,
    schedules: Vec<(&'static str, std::time::Duration)>,
    lease: Duration,
}

impl Worker {
    pub fn new(db: Db, id: impl Into<String>, specs: &[JobSpec]) -> Worker {
        Worker {
            db,
            id: id.into(),
            handlers: specs.iter().map(|s| (s.handler.kind(), s.handler.clone())).collect(),
            schedules: specs
                .iter()
                .filter_map(|s| Some((s.handler.kind(), s.every?)))
                .collect(),
            lease: Duration::minutes(5),
        }
    }

    pub fn with_lease(mut self, lease: Duration) -> Worker {
        self.lease = lease;
        self
    }

    /// Records the schedules so that every node agrees on them; the first run is due now.
    pub async fn register_schedules(&self) -> Result<(), DbError> {
        let mut tx = self.db.begin().await?;
        for (kind, every) in &self.schedules {
            let updated = sqlx::query("UPDATE job_schedules SET interval_secs = $1 WHERE name = $2")
                .bind(every.as_secs() as i64)
                .bind(*kind)
                .execute(tx.conn())
                .await?;
            if updated.rows_affected() == 0 {
                sqlx::query(
                    "INSERT INTO job_schedules (name, kind, interval_secs, next_run_at) VALUES ($1, $1, $2, $3)",
                )
                .bind(*kind)
                .bind(every.as_secs() as i64)
                .bind(now_db())
                .execute(tx.conn())
                .await?;
            }
        }
        tx.commit().await
    }

    /// Enqueues the scheduled jobs that are due. Each due time is taken by one node only:
    /// the conditional update of `next_run_at` succeeds for exactly one of them.
    pub async fn enqueue_due_schedules(&self) -> Result<usize, DbError> {
        let now = Utc::now();
        let due =
            sqlx::query("SELECT name, kind, interval_secs, next_run_at FROM job_schedules WHERE next_run_at <= $1")
                .bind(to_db(now))
                .fetch_all(self.db.pool())
                .await?;
        let mut enqueued = 0;
        for row in due {
            let (name, kind): (String, String) = (row.get(0), row.get(1));
            let interval = Duration::seconds(row.get::<i64, _>(2).max(1));
            let seen_next: String = row.get(3);
            let mut tx = self.db.begin().await?;
            let taken = sqlx::query(
                "UPDATE job_schedules SET next_run_at = $1, last_run_at = $2 WHERE name = $3 AND next_run_at = $4",
            )
            .bind(to_db(now + interval))
            .bind(to_db(now))
            .bind(&name)
            .bind(&seen_next)
            .execute(tx.conn())
            .await?;
            if taken.rows_affected() == 1 {
                enqueue(&mut tx, &kind, &serde_json::json!({"scheduled": seen_next}), now).await?;
                enqueued += 1;
            }
            tx.commit().await?;
        }
        Ok(enqueued)
    }

    /// Claims one due job (or one whose lease ran out), runs it, records the outcome.
    pub async fn run_once(&self) -> Result<Option<Outcome>, DbError> {
        let now = Utc::now();
        let pick = "SELECT id FROM jobs WHERE (status = 'queued' AND run_at <= $3) \
                    OR (status = 'running' AND lease_until < $3) ORDER BY run_at, id LIMIT 1";
        let sql = format!(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_until = $1, worker = $2, started_at = $3 \
             WHERE id = ({pick}{}) RETURNING id, kind, payload, attempts, max_attempts",
            match self.db.backend() {
                Backend::Postgres => " FOR UPDATE SKIP LOCKED",
                Backend::Sqlite => "",
            }
        );
        let mut tx = self.db.begin().await?;
        let claimed = sqlx::query(&sql)
            .bind(to_db(now + self.lease))
            .bind(&self.id)
            .bind(to_db(now))
            .fetch_optional(tx.conn())
            .await?;
        tx.commit().await?;
        let Some(row) = claimed else { return Ok(None) };
        let id: i64 = row.get("id");
        let kind: String = row.get("kind");
        let attempts: i64 = row.get("attempts");
        let max_attempts: i64 = row.get("max_attempts");
        let payload = serde_json::from_str(&row.get::<String, _>("payload")).unwrap_or(serde_json::Value::Null);
        let result = match self.handlers.get(kind.as_str()) {
            Some(handler) => handler.run(payload).await,
            None => Err(format!("no handler for job kind '{kind}' on this node")),
        };
        let finished = now_db();
        let outcome = match result {
            Ok(()) => {
                sqlx::query("UPDATE jobs SET status = 'done', finished_at = $1, lease_until = NULL, last_error = NULL WHERE id = $2 AND worker = $3")
                    .bind(&finished).bind(id).bind(&self.id).execute(self.db.pool()).await?;
                Outcome::Done { id }
            }
            Err(error) if attempts < max_attempts => {
                let retry_at = Utc::now() + backoff(attempts);
                sqlx::query("UPDATE jobs SET status = 'queued', run_at = $1, lease_until = NULL, last_error = $2 WHERE id = $3 AND worker = $4")
                    .bind(to_db(retry_at)).bind(&error).bind(id).bind(&self.id).execute(self.db.pool()).await?;
                tracing::warn!(job = id, kind, attempts, %error, "job failed; will retry");
                Outcome::Retry { id, error }
            }
            Err(error) => {
                sqlx::query("UPDATE jobs SET status = 'failed', finished_at = $1, lease_until = NULL, last_error = $2 WHERE id = $3 AND worker = $4")
                    .bind(&finished).bind(&error).bind(id).bind(&self.id).execute(self.db.pool()).await?;
                tracing::error!(job = id, kind, attempts, %error, "job failed for good");
                Outcome::Failed { id, error }
            }
        };
        Ok(Some(outcome))
    }

    /// Runs until `shutdown` turns true: schedules, then every due job, then a pause.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>, poll: std::time::Duration) {
        if let Err(error) = self.register_schedules().await {
            tracing::error!(%error, "could not register job schedules");
        }
        while !*shutdown.borrow() {
            if let Err(error) = self.enqueue_due_schedules().await {
                tracing::error!(%error, "could not enqueue scheduled jobs");
            }
            loop {
                match self.run_once().await {
                    Ok(Some(_)) if !*shutdown.borrow() => continue,
                    Ok(_) => break,
                    Err(error) => {
                        tracing::error!(%error, "job worker could not claim work");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// The most recent job runs, newest first; `failed_only` for the console's second table.
pub async fn recent(db: &Db, limit: i64, failed_only: bool) -> Result<Vec<JobRun>, DbError> {
    let filter = if failed_only { "WHERE status = 'failed'" } else { "" };
    let rows = sqlx::query(&format!(
        "SELECT id, kind, status, attempts, max_attempts, run_at, started_at, finished_at, last_error \
         FROM jobs {filter} ORDER BY id DESC LIMIT {}",
        limit.clamp(1, 500)
    ))
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .iter()
        .map(|row| JobRun {
            id: row.get("id"),
            kind: row.get("kind"),
            status: row.get("status"),
            attempts: row.get("attempts"),
            max_attempts: row.get("max_attempts"),
            run_at: row.get("run_at"),
            started_at: row.get("started_at"),
            finished_at: row.get("finished_at"),
            last_error: row.get("last_error"),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(1).num_seconds(), 10);
        assert_eq!(backoff(2).num_seconds(), 20);
        assert_eq!(backoff(3).num_seconds(), 40);
        assert_eq!(backoff(20).num_seconds(), 3600);
    }
}

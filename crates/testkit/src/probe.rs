//! A minimal module with jurisdiction-scoped records: enough to exercise the
//! `Module` seam (migrations, API, pages, jobs, indicators, demo data) and the
//! scope checks, without depending on any real module.

use axum::extract::Path;
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use std::sync::Arc;
use yrd_db::{Db, Migration, Migrations};
use yrd_jobs::{JobHandler, JobSpec};
use yrd_kernel::{
    AccessLevel, Bilingual, BoxFuture, IndicatorError, IndicatorSource, JurisdictionCode, ValidationErrors,
};
use yrd_web::{ApiError, ApiResult, ApiRoutes, AppContext, Auth, Doc, Json, Module, NavEntry};

pub const NAME: &str = "probe";

#[derive(Default)]
pub struct ProbeModule;

impl ProbeModule {
    pub fn new() -> Self {
        ProbeModule
    }
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Note {
    pub id: i64,
    pub jurisdiction: JurisdictionCode,
    pub text: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    pub jurisdiction: JurisdictionCode,
    pub text: String,
}

fn validate(input: &NoteInput) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    if input.text.trim().is_empty() || input.text.chars().count() > 200 {
        errors.add("text", "1 to 200 characters");
    }
    errors.into_result()
}

async fn load(db: &Db, id: i64) -> ApiResult<Note> {
    let row = sqlx::query("SELECT id, jurisdiction, text FROM probe_notes WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("note {id}")))?;
    Ok(Note {
        id: row.get(0),
        jurisdiction: JurisdictionCode::parse(&row.get::<String, _>(1)).map_err(ApiError::internal)?,
        text: row.get(2),
    })
}

async fn create(auth: Auth, Json(input): Json<NoteInput>) -> ApiResult<(StatusCode, axum::Json<Note>)> {
    auth.require(NAME, AccessLevel::Write, Some(input.jurisdiction)).await?;
    validate(&input)?;
    let mut tx = auth.db().begin().await?;
    let row = sqlx::query("INSERT INTO probe_notes (jurisdiction, text, updated_at) VALUES ($1, $2, $3) RETURNING id")
        .bind(input.jurisdiction.to_string())
        .bind(&input.text)
        .bind(yrd_kernel::time::now_db())
        .fetch_one(tx.conn())
        .await?;
    let id: i64 = row.get(0);
    yrd_audit::append(
        &mut tx,
        yrd_audit::Change {
            actor: auth.actor(),
            action: "note.create".into(),
            module: NAME.into(),
            entity_id: id.to_string(),
            jurisdiction: Some(input.jurisdiction),
            detail: json!({"text": input.text}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Note {
            id,
            jurisdiction: input.jurisdiction,
            text: input.text,
        }),
    ))
}

fn parse_id(id: &str) -> ApiResult<i64> {
    id.parse()
        .map_err(|_| ApiError::bad_request("id", "a note id is a number"))
}

async fn read(auth: Auth, Path(id): Path<String>) -> ApiResult<axum::Json<Note>> {
    let note = load(auth.db(), parse_id(&id)?).await?;
    auth.require(NAME, AccessLevel::Read, Some(note.jurisdiction)).await?;
    Ok(axum::Json(note))
}

async fn update(auth: Auth, Path(id): Path<String>, Json(input): Json<NoteInput>) -> ApiResult<axum::Json<Note>> {
    let note = load(auth.db(), parse_id(&id)?).await?;
    // Both where it is now and where it would move to must be the caller's.
    auth.require(NAME, AccessLevel::Write, Some(note.jurisdiction)).await?;
    auth.require(NAME, AccessLevel::Write, Some(input.jurisdiction)).await?;
    validate(&input)?;
    let mut tx = auth.db().begin().await?;
    sqlx::query("UPDATE probe_notes SET jurisdiction = $1, text = $2, updated_at = $3 WHERE id = $4")
        .bind(input.jurisdiction.to_string())
        .bind(&input.text)
        .bind(yrd_kernel::time::now_db())
        .bind(note.id)
        .execute(tx.conn())
        .await?;
    yrd_audit::append(
        &mut tx,
        yrd_audit::Change {
            actor: auth.actor(),
            action: "note.update".into(),
            module: NAME.into(),
            entity_id: note.id.to_string(),
            jurisdiction: Some(input.jurisdiction),
            detail: json!({"text": input.text, "from": note.jurisdiction}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(Note {
        id: note.id,
        jurisdiction: input.jurisdiction,
        text: input.text,
    }))
}

struct NoteCount(Db);

impl IndicatorSource for NoteCount {
    fn key(&self) -> &'static str {
        "probe.notes"
    }
    fn label(&self) -> Bilingual {
        Bilingual::new("测试记录数", "Probe notes")
    }
    fn unit(&self) -> &'static str {
        "count"
    }
    fn current(&self, within: Option<JurisdictionCode>) -> BoxFuture<'_, Result<f64, IndicatorError>> {
        Box::pin(async move {
            let pattern = within.map_or_else(|| "%".to_string(), |c| c.scope().like_pattern());
            let row = sqlx::query("SELECT COUNT(*) FROM probe_notes WHERE jurisdiction LIKE $1")
                .bind(pattern)
                .fetch_one(self.0.pool())
                .await
                .map_err(|e| IndicatorError::Unavailable(e.to_string()))?;
            Ok(row.get::<i64, _>(0) as f64)
        })
    }
}

/// A job that fails until the note it names exists: for retry tests.
struct TouchNote(Db);

impl JobHandler for TouchNote {
    fn kind(&self) -> &'static str {
        "probe.touch"
    }
    fn run(&self, payload: serde_json::Value) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let id = payload["id"].as_i64().ok_or("payload.id missing")?;
            let updated = sqlx::query("UPDATE probe_notes SET updated_at = $1 WHERE id = $2")
                .bind(yrd_kernel::time::now_db())
                .bind(id)
                .execute(self.0.pool())
                .await
                .map_err(|e| e.to_string())?;
            if updated.rows_affected() == 0 {
                Err(format!("note {id} does not exist"))
            } else {
                Ok(())
            }
        })
    }
}

impl Module for ProbeModule {
    fn name(&self) -> &'static str {
        NAME
    }

    fn nav(&self) -> NavEntry {
        NavEntry {
            label: Bilingual::new("测试模块", "Probe"),
            blurb: Bilingual::new("用于测试的模块", "A module for tests"),
            path: "/probe",
        }
    }

    fn migrations(&self) -> Migrations {
        Migrations {
            module: NAME,
            steps: vec![Migration {
                version: 1,
                name: "probe_notes",
                sqlite: include_str!("../migrations/0001_probe.sqlite.sql"),
                postgres: include_str!("../migrations/0001_probe.postgres.sql"),
            }],
        }
    }

    fn api(&self, _ctx: &AppContext) -> ApiRoutes {
        ApiRoutes::new()
            .post(
                "/notes",
                Doc::new("Create a note").body::<NoteInput>().created::<Note>(),
                create,
            )
            .get("/notes/{id}", Doc::new("Read a note").response::<Note>(), read)
            .put(
                "/notes/{id}",
                Doc::new("Change a note").body::<NoteInput>().response::<Note>(),
                update,
            )
    }

    fn jobs(&self, ctx: &AppContext) -> Vec<JobSpec> {
        vec![JobSpec {
            handler: Arc::new(TouchNote(ctx.db.clone())),
            every: None,
        }]
    }

    fn indicators(&self, ctx: &AppContext) -> Vec<Arc<dyn IndicatorSource>> {
        vec![Arc::new(NoteCount(ctx.db.clone()))]
    }
}

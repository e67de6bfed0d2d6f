//! The platform's own API: jurisdictions, the audit log, the caller, tokens, users
//! and jobs.

use crate::api::{ApiRoutes, Doc};
use crate::caller::Auth;
use crate::extract::{Json, Query};
use crate::problem::{ApiError, ApiResult};
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use yrd_auth::{Grant, NewToken, NewUser, Scopes, TokenInfo, UserRef, UserSummary};
use yrd_kernel::{
    AccessLevel, Jurisdiction, JurisdictionCode, JurisdictionLevel, Scope, ValidationErrors, jurisdictions,
};

pub const AUDIT_MODULE: &str = "audit";

pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        .get(
            "/jurisdictions",
            Doc::new("List the region's jurisdictions")
                .describe("The 4 provinces, 41 cities and the demonstration-zone districts, by GB/T 2260 code. `format=csv` gives CSV.")
                .query::<JurisdictionQuery>()
                .response::<Vec<Jurisdiction>>()
                .public(),
            list_jurisdictions,
        )
        .get("/jurisdictions/{code}", Doc::new("One jurisdiction").response::<Jurisdiction>().public(), get_jurisdiction)
        .get(
            "/audit",
            Doc::new("List audit entries, newest first")
                .describe("Platform admins see every entry; holders of an `audit` read grant see the entries of jurisdictions inside their scope.")
                .query::<AuditQuery>()
                .response::<Vec<yrd_audit::Entry>>(),
            list_audit,
        )
        .get("/me", Doc::new("The caller and their grants").response::<Me>(), me)
        .get("/me/tokens", Doc::new("The caller's API tokens").response::<Vec<TokenInfo>>(), my_tokens)
        .post(
            "/me/tokens",
            Doc::new("Create an API token for the caller")
                .describe("The token is in the response once; only its hash is stored.")
                .body::<NewTokenRequest>()
                .created::<NewToken>(),
            create_my_token,
        )
        .delete("/me/tokens/{id}", Doc::new("Revoke one of the caller's tokens"), revoke_my_token)
        .get("/users", Doc::new("List users and their grants (platform admins)").response::<Vec<UserSummary>>(), list_users)
        .post("/users", Doc::new("Create a user (platform admins)").body::<NewUserRequest>().created::<UserRef>(), create_user)
        .put(
            "/users/{login}/grants",
            Doc::new("Grant a level in a module within a scope (platform admins)").body::<GrantRequest>(),
            put_grant,
        )
        .delete(
            "/users/{login}/grants",
            Doc::new("Revoke a grant (platform admins)").query::<RevokeQuery>(),
            delete_grant,
        )
        .get("/jobs", Doc::new("Recent background job runs (platform admins)").query::<JobsQuery>().response::<Vec<yrd_jobs::JobRun>>(), list_jobs)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JurisdictionQuery {
    /// province, city, district or county
    pub level: Option<JurisdictionLevel>,
    /// Only the children of this code.
    pub parent: Option<JurisdictionCode>,
    /// Only those with this tag (`g60`, `demonstration-zone`).
    pub tag: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<Format>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Json,
    Csv,
}

pub fn filter_jurisdictions(query: &JurisdictionQuery) -> Vec<&'static Jurisdiction> {
    jurisdictions()
        .all()
        .filter(|j| query.level.is_none_or(|level| j.level == level))
        .filter(|j| query.parent.is_none_or(|parent| j.parent == Some(parent)))
        .filter(|j| query.tag.as_ref().is_none_or(|tag| j.tags.contains(tag)))
        .collect()
}

pub fn jurisdictions_csv(list: &[&Jurisdiction]) -> String {
    let mut out = String::from("code,level,parent,name_zh,name_en,lon,lat,tags\n");
    for j in list {
        let coordinate = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            j.code,
            j.level.as_str(),
            j.parent.map(|p| p.to_string()).unwrap_or_default(),
            j.name_zh,
            j.name_en,
            coordinate(j.lon),
            coordinate(j.lat),
            j.tags.join(";")
        ));
    }
    out
}

pub fn csv_response(filename: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

async fn list_jurisdictions(Query(query): Query<JurisdictionQuery>) -> Response {
    let list = filter_jurisdictions(&query);
    match query.format {
        Some(Format::Csv) => csv_response("jurisdictions.csv", jurisdictions_csv(&list)),
        _ => axum::Json(list).into_response(),
    }
}

async fn get_jurisdiction(Path(code): Path<String>) -> ApiResult<axum::Json<&'static Jurisdiction>> {
    match JurisdictionCode::parse(&code) {
        Ok(code) => Ok(axum::Json(code.jurisdiction())),
        Err(error @ yrd_kernel::JurisdictionError::Unknown(_)) => Err(ApiError::NotFound(error.to_string())),
        Err(error) => Err(ApiError::bad_request("code", error.to_string())),
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only entries of this module.
    pub module: Option<String>,
    /// Only entries with this action, e.g. `access.denied`.
    pub action: Option<String>,
    /// Only entries of jurisdictions inside this scope (a code prefix).
    pub scope: Option<Scope>,
    /// Entries before this sequence number (the next page).
    pub before: Option<i64>,
    /// At most this many (1–500, default 100).
    pub limit: Option<i64>,
}

/// The audit entries the caller may see, after the filters.
pub async fn visible_audit(auth: &Auth, query: &AuditQuery) -> ApiResult<Vec<yrd_audit::Entry>> {
    auth.require_user()?;
    let allowed = auth.principal.scopes(AUDIT_MODULE, AccessLevel::Read);
    let scopes: Vec<Option<Scope>> = match (&allowed, &query.scope) {
        (Scopes::All, asked) => vec![asked.clone()],
        (Scopes::Nothing, _) => return Err(auth.deny(denied_audit(auth)).await),
        (Scopes::Within(mine), None) => mine.iter().cloned().map(Some).collect(),
        (Scopes::Within(mine), Some(asked)) => {
            // The narrower of the asked scope and each granted one, where they overlap.
            let narrowed: Vec<_> = mine
                .iter()
                .filter_map(|m| {
                    if m.contains_scope(asked) {
                        Some(asked.clone())
                    } else if asked.contains_scope(m) {
                        Some(m.clone())
                    } else {
                        None
                    }
                })
                .map(Some)
                .collect();
            if narrowed.is_empty() {
                return Err(auth.deny(denied_audit(auth)).await);
            }
            narrowed
        }
    };
    let limit = query.limit.unwrap_or(100);
    if !(1..=yrd_audit::MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("between 1 and {}", yrd_audit::MAX_PAGE),
        ));
    }
    let mut entries = Vec::new();
    for scope in scopes {
        let filter = yrd_audit::Filter {
            scope,
            module: query.module.clone(),
            action: query.action.clone(),
            before_seq: query.before,
            limit,
        };
        entries.extend(yrd_audit::list(auth.db(), &filter).await?);
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.seq));
    entries.dedup_by_key(|e| e.seq);
    entries.truncate(limit as usize);
    Ok(entries)
}

fn denied_audit(auth: &Auth) -> yrd_auth::Denied {
    yrd_auth::Denied {
        actor: auth.actor(),
        module: AUDIT_MODULE.into(),
        level: AccessLevel::Read,
        jurisdiction: None,
    }
}

async fn list_audit(auth: Auth, Query(query): Query<AuditQuery>) -> ApiResult<axum::Json<Vec<yrd_audit::Entry>>> {
    Ok(axum::Json(visible_audit(&auth, &query).await?))
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Me {
    pub user: UserRef,
    pub grants: Vec<Grant>,
}

async fn me(auth: Auth) -> ApiResult<axum::Json<Me>> {
    let user = auth.require_user()?.clone();
    Ok(axum::Json(Me {
        user,
        grants: auth.principal.grants().to_vec(),
    }))
}

async fn my_tokens(auth: Auth) -> ApiResult<axum::Json<Vec<TokenInfo>>> {
    let user = auth.require_user()?;
    Ok(axum::Json(yrd_auth::list_tokens(auth.db(), &user.login).await?))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenRequest {
    /// What the token is for, e.g. `nightly export`.
    pub name: String,
    /// Days until it expires (1–366); absent: it never expires.
    pub expires_in_days: Option<i64>,
}

pub fn token_expiry(days: Option<i64>) -> Result<Option<chrono::DateTime<Utc>>, ValidationErrors> {
    match days {
        None => Ok(None),
        Some(days @ 1..=366) => Ok(Some(Utc::now() + Duration::days(days))),
        Some(_) => Err(ValidationErrors::single("expires_in_days", "between 1 and 366")),
    }
}

async fn create_my_token(
    auth: Auth,
    Json(request): Json<NewTokenRequest>,
) -> ApiResult<(StatusCode, axum::Json<NewToken>)> {
    let user = auth.require_user()?;
    let expires = token_expiry(request.expires_in_days)?;
    let token = yrd_auth::create_token(auth.db(), &user.login, &user.login, &request.name, expires).await?;
    Ok((StatusCode::CREATED, axum::Json(token)))
}

async fn revoke_my_token(auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let user = auth.require_user()?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad_request("id", "a token id is a number"))?;
    yrd_auth::revoke_token(auth.db(), &user.login, id, Some(&user.login)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_users(auth: Auth) -> ApiResult<axum::Json<Vec<UserSummary>>> {
    auth.require_admin("auth").await?;
    Ok(axum::Json(yrd_auth::list_users(auth.db()).await?))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    pub login: String,
    pub display_name: String,
    /// Absent for accounts that use API tokens only.
    pub password: Option<String>,
    #[serde(default)]
    pub is_admin: bool,
}

async fn create_user(auth: Auth, Json(request): Json<NewUserRequest>) -> ApiResult<(StatusCode, axum::Json<UserRef>)> {
    auth.require_admin("auth").await?;
    let user = yrd_auth::create_user(
        auth.db(),
        &auth.actor(),
        NewUser {
            login: request.login,
            display_name: request.display_name,
            password: request.password,
            is_admin: request.is_admin,
            is_demo: false,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(user)))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    /// A module name, or `*` for every module.
    pub module: String,
    pub level: AccessLevel,
    pub scope: Scope,
}

async fn put_grant(auth: Auth, Path(login): Path<String>, Json(request): Json<GrantRequest>) -> ApiResult<StatusCode> {
    auth.require_admin("auth").await?;
    yrd_auth::grant(
        auth.db(),
        &auth.actor(),
        &login,
        &request.module,
        request.level,
        &request.scope,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeQuery {
    pub module: String,
    pub scope: Scope,
}

async fn delete_grant(
    auth: Auth,
    Path(login): Path<String>,
    Query(query): Query<RevokeQuery>,
) -> ApiResult<StatusCode> {
    auth.require_admin("auth").await?;
    yrd_auth::revoke(auth.db(), &auth.actor(), &login, &query.module, &query.scope).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobsQuery {
    /// Only failed runs.
    #[serde(default)]
    pub failed: bool,
    pub limit: Option<i64>,
}

async fn list_jobs(auth: Auth, Query(query): Query<JobsQuery>) -> ApiResult<axum::Json<Vec<yrd_jobs::JobRun>>> {
    auth.require_admin("jobs").await?;
    Ok(axum::Json(
        yrd_jobs::recent(auth.db(), query.limit.unwrap_or(100), query.failed).await?,
    ))
}

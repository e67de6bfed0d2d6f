//! Use cases on identities: each mutation is validated, then committed in one
//! transaction with its audit entry.

use crate::ANY_MODULE;
use crate::principal::{Grant, Principal, UserRef};
use crate::secret::{hash_password, new_secret, secret_hash, verify_password};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;
use yrd_audit::Change;
use yrd_db::{Db, DbError, Row, Tx};
use yrd_kernel::time::{from_db, now_db, to_db};
use yrd_kernel::{AccessLevel, Scope, ValidationErrors};

pub const TOKEN_PREFIX: &str = "yrd_";
pub const SESSION_PREFIX: &str = "yrds_";
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Consecutive failed logins within the window after which a login is refused.
pub const MAX_LOGIN_FAILURES: i64 = 5;
pub const LOGIN_FAILURE_WINDOW_MINUTES: i64 = 15;
pub const SESSION_HOURS: i64 = 12;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid input: {0}")]
    Invalid(ValidationErrors),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("wrong login or password")]
    BadCredentials,
    #[error("too many failed logins; try again in {retry_after_secs} s")]
    Throttled { retry_after_secs: i64 },
    #[error("the token is {0}")]
    BadToken(TokenProblem),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for AuthError {
    fn from(error: sqlx::Error) -> Self {
        AuthError::Db(error.into())
    }
}

impl From<ValidationErrors> for AuthError {
    fn from(errors: ValidationErrors) -> Self {
        AuthError::Invalid(errors)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenProblem {
    Unknown,
    Expired,
    Revoked,
}

impl std::fmt::Display for TokenProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenProblem::Unknown => "unknown",
            TokenProblem::Expired => "expired",
            TokenProblem::Revoked => "revoked",
        })
    }
}

/// A request to create a user. The password is absent for token-only accounts.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub login: String,
    pub display_name: String,
    pub password: Option<String>,
    pub is_admin: bool,
    pub is_demo: bool,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct UserSummary {
    #[serde(flatten)]
    pub user: UserRef,
    pub is_demo: bool,
    pub created_at: String,
    pub grants: Vec<Grant>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    /// The first characters of the token, to recognise it by; the rest is never stored.
    pub prefix: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
}

/// A token as created: the secret is shown this once.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct NewToken {
    #[serde(flatten)]
    pub info: TokenInfo,
    pub token: String,
}

fn validate_login(login: &str, errors: &mut ValidationErrors) {
    let ok_chars = login
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if !(3..=64).contains(&login.len()) || !ok_chars {
        errors.add(
            "login",
            "3 to 64 characters: lower-case letters, digits, '.', '_' or '-'",
        );
    }
}

fn validate_password(password: &str, errors: &mut ValidationErrors) {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        errors.add("password", format!("at least {MIN_PASSWORD_CHARS} characters"));
    }
    if password.len() > 1024 {
        errors.add("password", "at most 1024 bytes");
    }
}

async fn audit(tx: &mut Tx, actor: &str, action: &str, entity: &str, detail: serde_json::Value) -> Result<(), DbError> {
    yrd_audit::append(
        tx,
        Change {
            actor: actor.to_string(),
            action: action.to_string(),
            module: "auth".to_string(),
            entity_id: entity.to_string(),
            jurisdiction: None,
            detail,
        },
    )
    .await?;
    Ok(())
}

/// Argon2 takes tens of milliseconds on purpose: keep it off the async workers.
async fn hash_off_thread(password: String) -> String {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .expect("hashing does not panic")
}

pub async fn create_user(db: &Db, actor: &str, new: NewUser) -> Result<UserRef, AuthError> {
    let mut errors = ValidationErrors::new();
    validate_login(&new.login, &mut errors);
    let display_name = new.display_name.trim();
    if display_name.is_empty() || display_name.chars().count() > 100 {
        errors.add("display_name", "1 to 100 characters");
    }
    if let Some(password) = &new.password {
        validate_password(password, &mut errors);
    }
    errors.into_result()?;
    let password_hash = match new.password {
        Some(password) => Some(hash_off_thread(password).await),
        None => None,
    };
    let mut tx = db.begin().await?;
    let exists = sqlx::query("SELECT id FROM users WHERE login = $1")
        .bind(&new.login)
        .fetch_optional(tx.conn())
        .await?;
    if exists.is_some() {
        return Err(AuthError::Conflict(format!("login '{}' is taken", new.login)));
    }
    let row = sqlx::query(
        "INSERT INTO users (login, display_name, password_hash, is_admin, is_demo, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(&new.login)
    .bind(display_name)
    .bind(password_hash)
    .bind(i64::from(new.is_admin))
    .bind(i64::from(new.is_demo))
    .bind(now_db())
    .fetch_one(tx.conn())
    .await?;
    let id: i64 = row.get(0);
    audit(
        &mut tx,
        actor,
        "user.create",
        &new.login,
        json!({"login": new.login, "display_name": display_name, "is_admin": new.is_admin, "is_demo": new.is_demo}),
    )
    .await?;
    tx.commit().await?;
    Ok(UserRef {
        id,
        login: new.login,
        display_name: display_name.to_string(),
        is_admin: new.is_admin,
    })
}

pub async fn set_password(db: &Db, actor: &str, login: &str, password: String) -> Result<(), AuthError> {
    let mut errors = ValidationErrors::new();
    validate_password(&password, &mut errors);
    errors.into_result()?;
    let hash = hash_off_thread(password).await;
    let mut tx = db.begin().await?;
    let updated = sqlx::query("UPDATE users SET password_hash = $1 WHERE login = $2")
        .bind(hash)
        .bind(login)
        .execute(tx.conn())
        .await?;
    if updated.rows_affected() == 0 {
        return Err(AuthError::NotFound(format!("user '{login}'")));
    }
    // A new password ends every open console session of the user.
    sqlx::query("DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE login = $1)")
        .bind(login)
        .execute(tx.conn())
        .await?;
    audit(&mut tx, actor, "user.set_password", login, json!({"login": login})).await?;
    tx.commit().await?;
    Ok(())
}

fn validate_module(module: &str, errors: &mut ValidationErrors) {
    let ok = module == ANY_MODULE
        || (!module.is_empty() && module.len() <= 32 && module.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
    if !ok {
        errors.add(
            "module",
            "a module name (lower-case letters and '_') or '*' for every module",
        );
    }
}

async fn user_id(tx: &mut Tx, login: &str) -> Result<i64, AuthError> {
    sqlx::query("SELECT id FROM users WHERE login = $1")
        .bind(login)
        .fetch_optional(tx.conn())
        .await?
        .map(|row| row.get(0))
        .ok_or_else(|| AuthError::NotFound(format!("user '{login}'")))
}

/// Grants `level` in `module` within `scope`, replacing the level of an existing grant
/// for the same module and scope.
pub async fn grant(
    db: &Db,
    actor: &str,
    login: &str,
    module: &str,
    level: AccessLevel,
    scope: &Scope,
) -> Result<(), AuthError> {
    let mut errors = ValidationErrors::new();
    validate_module(module, &mut errors);
    errors.into_result()?;
    let mut tx = db.begin().await?;
    let id = user_id(&mut tx, login).await?;
    sqlx::query("DELETE FROM grants WHERE user_id = $1 AND module = $2 AND scope = $3")
        .bind(id)
        .bind(module)
        .bind(scope.as_str())
        .execute(tx.conn())
        .await?;
    sqlx::query(
        "INSERT INTO grants (user_id, module, scope, level, granted_at, granted_by) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(module)
    .bind(scope.as_str())
    .bind(level.as_str())
    .bind(now_db())
    .bind(actor)
    .execute(tx.conn())
    .await?;
    audit(
        &mut tx,
        actor,
        "user.grant",
        login,
        json!({"login": login, "module": module, "level": level, "scope": scope}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn revoke(db: &Db, actor: &str, login: &str, module: &str, scope: &Scope) -> Result<(), AuthError> {
    let mut tx = db.begin().await?;
    let id = user_id(&mut tx, login).await?;
    let deleted = sqlx::query("DELETE FROM grants WHERE user_id = $1 AND module = $2 AND scope = $3")
        .bind(id)
        .bind(module)
        .bind(scope.as_str())
        .execute(tx.conn())
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(AuthError::NotFound(format!(
            "grant of '{module}' in scope '{scope}' to '{login}'"
        )));
    }
    audit(
        &mut tx,
        actor,
        "user.revoke",
        login,
        json!({"login": login, "module": module, "scope": scope}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

fn user_from_row(row: &yrd_db::AnyRow) -> UserRef {
    UserRef {
        id: row.get("id"),
        login: row.get("login"),
        display_name: row.get("display_name"),
        is_admin: row.get::<i64, _>("is_admin") != 0,
    }
}

async fn grants_of(db: &Db, user_id: i64) -> Result<Vec<Grant>, AuthError> {
    let rows = sqlx::query("SELECT module, level, scope FROM grants WHERE user_id = $1 ORDER BY module, scope")
        .bind(user_id)
        .fetch_all(db.pool())
        .await?;
    // Rows were validated on the way in; a row that no longer parses grants nothing.
    Ok(rows
        .iter()
        .filter_map(|row| {
            Some(Grant {
                module: row.get("module"),
                level: row.get::<String, _>("level").parse().ok()?,
                scope: Scope::parse(&row.get::<String, _>("scope")).ok()?,
            })
        })
        .collect())
}

pub async fn principal_for(db: &Db, user: UserRef) -> Result<Principal, AuthError> {
    let grants = grants_of(db, user.id).await?;
    Ok(Principal::user(user, grants))
}

pub async fn list_users(db: &Db) -> Result<Vec<UserSummary>, AuthError> {
    let rows = sqlx::query("SELECT id, login, display_name, is_admin, is_demo, created_at FROM users ORDER BY login")
        .fetch_all(db.pool())
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let user = user_from_row(row);
        let grants = grants_of(db, user.id).await?;
        out.push(UserSummary {
            user,
            is_demo: row.get::<i64, _>("is_demo") != 0,
            created_at: row.get("created_at"),
            grants,
        });
    }
    Ok(out)
}

pub async fn find_user(db: &Db, login: &str) -> Result<Option<UserRef>, AuthError> {
    let row = sqlx::query("SELECT id, login, display_name, is_admin FROM users WHERE login = $1")
        .bind(login)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.as_ref().map(user_from_row))
}

/// Checks a password, throttling a login after repeated failures. Every failure is
/// audited (without the password).
pub async fn login(db: &Db, login: &str, password: &str) -> Result<UserRef, AuthError> {
    let since = to_db(Utc::now() - Duration::minutes(LOGIN_FAILURE_WINDOW_MINUTES));
    let recent = sqlx::query("SELECT COUNT(*), MIN(at) FROM login_failures WHERE login = $1 AND at > $2")
        .bind(login)
        .bind(&since)
        .fetch_one(db.pool())
        .await?;
    let failures: i64 = recent.get(0);
    if failures >= MAX_LOGIN_FAILURES {
        let oldest = recent
            .get::<Option<String>, _>(1)
            .as_deref()
            .and_then(from_db)
            .unwrap_or_else(Utc::now);
        let retry_after = (oldest + Duration::minutes(LOGIN_FAILURE_WINDOW_MINUTES) - Utc::now())
            .num_seconds()
            .max(1);
        yrd_audit::record(db, failure_change(login, "throttled")).await?;
        return Err(AuthError::Throttled {
            retry_after_secs: retry_after,
        });
    }
    let row = sqlx::query("SELECT id, login, display_name, is_admin, password_hash FROM users WHERE login = $1")
        .bind(login)
        .fetch_optional(db.pool())
        .await?;
    let stored: Option<String> = row.as_ref().and_then(|r| r.get("password_hash"));
    let candidate = password.to_string();
    let ok = tokio::task::spawn_blocking(move || match stored {
        Some(phc) => verify_password(&candidate, &phc),
        None => {
            // Spend the same time for unknown logins, so timing does not reveal them.
            let _ = verify_password(&candidate, &DUMMY_PHC);
            false
        }
    })
    .await
    .expect("verification does not panic");
    match row {
        Some(row) if ok => {
            let mut tx = db.begin().await?;
            sqlx::query("DELETE FROM login_failures WHERE login = $1")
                .bind(login)
                .execute(tx.conn())
                .await?;
            tx.commit().await?;
            Ok(user_from_row(&row))
        }
        _ => {
            let mut tx = db.begin().await?;
            sqlx::query("INSERT INTO login_failures (login, at) VALUES ($1, $2)")
                .bind(login)
                .bind(now_db())
                .execute(tx.conn())
                .await?;
            yrd_audit::append(&mut tx, failure_change(login, "bad_credentials")).await?;
            tx.commit().await?;
            Err(AuthError::BadCredentials)
        }
    }
}

/// An argon2id hash of a random password nobody knows.
static DUMMY_PHC: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| hash_password(&new_secret("")));

fn failure_change(login: &str, reason: &str) -> Change {
    Change {
        actor: "anonymous".into(),
        action: "auth.login_failed".into(),
        module: "auth".into(),
        entity_id: login.chars().take(64).collect(),
        jurisdiction: None,
        detail: json!({"reason": reason}),
    }
}

fn token_from_row(row: &yrd_db::AnyRow) -> TokenInfo {
    TokenInfo {
        id: row.get("id"),
        name: row.get("name"),
        prefix: row.get("prefix"),
        created_at: row.get("created_at"),
        expires_at: row.get("expires_at"),
        revoked_at: row.get("revoked_at"),
        last_used_at: row.get("last_used_at"),
    }
}

const TOKEN_COLUMNS: &str = "id, name, prefix, created_at, expires_at, revoked_at, last_used_at";

/// Creates an API token for `login`. The secret is returned once and stored only as a hash.
pub async fn create_token(
    db: &Db,
    actor: &str,
    login: &str,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
) -> Result<NewToken, AuthError> {
    let mut errors = ValidationErrors::new();
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        errors.add("name", "1 to 100 characters");
    }
    if expires_at.is_some_and(|at| at <= Utc::now()) {
        errors.add("expires_at", "must be in the future");
    }
    errors.into_result()?;
    let secret = new_secret(TOKEN_PREFIX);
    let prefix: String = secret.chars().take(TOKEN_PREFIX.len() + 6).collect();
    let mut tx = db.begin().await?;
    let user = user_id(&mut tx, login).await?;
    let row = sqlx::query(&format!(
        "INSERT INTO api_tokens (user_id, name, token_hash, prefix, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {TOKEN_COLUMNS}"
    ))
    .bind(user)
    .bind(name)
    .bind(secret_hash(&secret))
    .bind(&prefix)
    .bind(now_db())
    .bind(expires_at.map(to_db))
    .fetch_one(tx.conn())
    .await?;
    let info = token_from_row(&row);
    audit(
        &mut tx,
        actor,
        "token.create",
        login,
        json!({"login": login, "token_id": info.id, "name": name, "expires_at": info.expires_at}),
    )
    .await?;
    tx.commit().await?;
    Ok(NewToken { info, token: secret })
}

pub async fn list_tokens(db: &Db, login: &str) -> Result<Vec<TokenInfo>, AuthError> {
    let rows = sqlx::query(&format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = (SELECT id FROM users WHERE login = $1) ORDER BY id DESC"
    ))
    .bind(login)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(token_from_row).collect())
}

/// Revokes token `id`; `owner` limits it to that user's tokens (None: any, for admins).
pub async fn revoke_token(db: &Db, actor: &str, id: i64, owner: Option<&str>) -> Result<(), AuthError> {
    let mut tx = db.begin().await?;
    let row = sqlx::query(
        "SELECT u.login FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = $1 AND t.revoked_at IS NULL",
    )
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    let login: String = match row {
        Some(row) => row.get(0),
        None => return Err(AuthError::NotFound(format!("active token {id}"))),
    };
    if owner.is_some_and(|owner| owner != login) {
        return Err(AuthError::NotFound(format!("active token {id}")));
    }
    sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2")
        .bind(now_db())
        .bind(id)
        .execute(tx.conn())
        .await?;
    audit(
        &mut tx,
        actor,
        "token.revoke",
        &login,
        json!({"login": login, "token_id": id}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The principal behind a bearer token.
pub async fn authenticate_token(db: &Db, secret: &str) -> Result<Principal, AuthError> {
    let row = sqlx::query(
        "SELECT t.id AS token_id, t.expires_at, t.revoked_at, t.last_used_at, u.id, u.login, u.display_name, u.is_admin \
         FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1",
    )
    .bind(secret_hash(secret))
    .fetch_optional(db.pool())
    .await?
    .ok_or(AuthError::BadToken(TokenProblem::Unknown))?;
    if row.get::<Option<String>, _>("revoked_at").is_some() {
        return Err(AuthError::BadToken(TokenProblem::Revoked));
    }
    let expires: Option<String> = row.get("expires_at");
    if expires.as_deref().and_then(from_db).is_some_and(|at| at <= Utc::now()) {
        return Err(AuthError::BadToken(TokenProblem::Expired));
    }
    // Stamped at most once a minute, so that reading with a token does not make every
    // request a write; best effort, as a busy database must not fail the request over it.
    let last_used: Option<String> = row.get("last_used_at");
    let stale = last_used
        .as_deref()
        .and_then(from_db)
        .is_none_or(|at| Utc::now() - at > Duration::minutes(1));
    if stale {
        let _ = sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now_db())
            .bind(row.get::<i64, _>("token_id"))
            .execute(db.pool())
            .await;
    }
    principal_for(db, user_from_row(&row)).await
}

/// A new console session: the secret for the cookie and the CSRF token for forms.
pub struct NewSession {
    pub secret: String,
    pub csrf_token: String,
}

pub async fn create_session(db: &Db, user: &UserRef) -> Result<NewSession, AuthError> {
    let secret = new_secret(SESSION_PREFIX);
    let csrf_token = new_secret("");
    let now = Utc::now();
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
        .bind(to_db(now))
        .execute(tx.conn())
        .await?;
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(secret_hash(&secret))
    .bind(user.id)
    .bind(&csrf_token)
    .bind(to_db(now))
    .bind(to_db(now + Duration::hours(SESSION_HOURS)))
    .execute(tx.conn())
    .await?;
    audit(
        &mut tx,
        &user.login,
        "session.login",
        &user.login,
        json!({"login": user.login}),
    )
    .await?;
    tx.commit().await?;
    Ok(NewSession { secret, csrf_token })
}

/// The principal and CSRF token of a live session.
pub async fn session(db: &Db, secret: &str) -> Result<Option<(Principal, String)>, AuthError> {
    let row = sqlx::query(
        "SELECT s.csrf_token, s.expires_at, u.id, u.login, u.display_name, u.is_admin \
         FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1",
    )
    .bind(secret_hash(secret))
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let expires: String = row.get("expires_at");
    if from_db(&expires).is_none_or(|at| at <= Utc::now()) {
        return Ok(None);
    }
    let csrf: String = row.get("csrf_token");
    Ok(Some((principal_for(db, user_from_row(&row)).await?, csrf)))
}

pub async fn end_session(db: &Db, secret: &str, actor: &str) -> Result<(), AuthError> {
    let mut tx = db.begin().await?;
    let deleted = sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(secret_hash(secret))
        .execute(tx.conn())
        .await?;
    if deleted.rows_affected() > 0 {
        audit(&mut tx, actor, "session.logout", actor, json!({"login": actor})).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Whether any user exists (to tell a new installation how to begin).
pub async fn has_users(db: &Db) -> Result<bool, AuthError> {
    let row = sqlx::query("SELECT COUNT(*) FROM users").fetch_one(db.pool()).await?;
    Ok(row.get::<i64, _>(0) > 0)
}

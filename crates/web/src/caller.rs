//! Who is calling: resolved once per request from a bearer token or the console
//! session cookie, then asked by handlers through [`Auth`].

use crate::problem::ApiError;
use axum::extract::{FromRequestParts, Request};
use axum::http::{Method, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use yrd_audit::Change;
use yrd_auth::{Denied, Principal};
use yrd_db::Db;
use yrd_kernel::{AccessLevel, JurisdictionCode};

pub const SESSION_COOKIE: &str = "yrd_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Anonymous,
    Token,
    Session,
}

/// The caller of the current request, with what handlers need to check and audit.
#[derive(Clone)]
pub struct Auth {
    pub principal: Principal,
    pub credential: Credential,
    /// The session's CSRF token (console sessions only).
    pub csrf_token: Option<String>,
    /// The raw session secret, to end the session on logout.
    pub session_secret: Option<String>,
    db: Db,
    route: String,
}

impl Auth {
    pub fn actor(&self) -> String {
        self.principal.actor()
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Checks a permission; a denial is audited and becomes a 401 (anonymous) or 403.
    pub async fn require(
        &self,
        module: &str,
        level: AccessLevel,
        jurisdiction: Option<JurisdictionCode>,
    ) -> Result<(), ApiError> {
        match self.principal.require(module, level, jurisdiction) {
            Ok(()) => Ok(()),
            Err(denied) => Err(self.deny(denied).await),
        }
    }

    /// Only platform administrators.
    pub async fn require_admin(&self, module: &str) -> Result<(), ApiError> {
        if self.principal.is_admin() {
            return Ok(());
        }
        Err(self
            .deny(Denied {
                actor: self.actor(),
                module: module.into(),
                level: AccessLevel::Admin,
                jurisdiction: None,
            })
            .await)
    }

    /// Only signed-in callers.
    pub fn require_user(&self) -> Result<&yrd_auth::UserRef, ApiError> {
        self.principal
            .user_ref()
            .ok_or_else(|| ApiError::Unauthenticated("sign in or send a bearer token".into()))
    }

    /// Records the denial, then returns the error to send.
    pub async fn deny(&self, denied: Denied) -> ApiError {
        let change = Change {
            actor: denied.actor.clone(),
            action: "access.denied".into(),
            module: denied.module.clone(),
            entity_id: self.route.clone(),
            jurisdiction: denied.jurisdiction,
            detail: json!({"level": denied.level, "route": self.route}),
        };
        if let Err(error) = yrd_audit::record(&self.db, change).await {
            tracing::error!(%error, "could not audit a denial");
        }
        tracing::info!(actor = %denied.actor, module = %denied.module, level = %denied.level, "access denied");
        if self.principal.user_ref().is_none() {
            ApiError::Unauthenticated("sign in or send a bearer token".into())
        } else {
            ApiError::Forbidden(denied.to_string())
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Auth>()
            .cloned()
            .ok_or_else(|| ApiError::internal("the caller middleware is not installed on this route"))
    }
}

pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Middleware: resolves the caller and refuses bad credentials outright. A session
/// cookie on an unsafe API method needs the session's CSRF token in `X-CSRF-Token`.
pub async fn resolve(db: Db, mut request: Request, next: Next) -> Response {
    let route = request.uri().path().to_string();
    let headers = request.headers();
    // Other schemes belong to protocol endpoints that check them themselves (OCPP's
    // HTTP Basic); on the API they are refused with a clear word.
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
                .map(str::trim)
        })
        .filter(|token| token.is_some() || route.starts_with("/api/"));
    let auth = match bearer {
        Some(Some(secret)) => match yrd_auth::authenticate_token(&db, secret).await {
            Ok(principal) => Auth {
                principal,
                credential: Credential::Token,
                csrf_token: None,
                session_secret: None,
                db,
                route,
            },
            Err(yrd_auth::AuthError::BadToken(problem)) => {
                let change = Change {
                    actor: "anonymous".into(),
                    action: "auth.token_rejected".into(),
                    module: "auth".into(),
                    entity_id: route.clone(),
                    jurisdiction: None,
                    detail: json!({"reason": problem}),
                };
                if let Err(error) = yrd_audit::record(&db, change).await {
                    tracing::error!(%error, "could not audit a rejected token");
                }
                return ApiError::Unauthenticated(format!("the bearer token is {problem}")).into_response();
            }
            Err(error) => return ApiError::from(error).into_response(),
        },
        Some(None) => {
            return ApiError::Unauthenticated("the Authorization header must be 'Bearer <token>'".into())
                .into_response();
        }
        None => {
            let secret = cookie(headers, SESSION_COOKIE).map(str::to_string);
            let session = match &secret {
                Some(secret) => match yrd_auth::session(&db, secret).await {
                    Ok(session) => session,
                    Err(error) => return ApiError::from(error).into_response(),
                },
                None => None,
            };
            match session {
                Some((principal, csrf)) => Auth {
                    principal,
                    credential: Credential::Session,
                    csrf_token: Some(csrf),
                    session_secret: secret,
                    db,
                    route,
                },
                None => Auth {
                    principal: Principal::anonymous(),
                    credential: Credential::Anonymous,
                    csrf_token: None,
                    session_secret: None,
                    db,
                    route,
                },
            }
        }
    };
    let unsafe_method = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if auth.credential == Credential::Session && unsafe_method && request.uri().path().starts_with("/api/") {
        let sent = request.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        if sent.is_none() || sent != auth.csrf_token.as_deref() {
            let denied = Denied {
                actor: auth.actor(),
                module: "auth".into(),
                level: AccessLevel::Write,
                jurisdiction: None,
            };
            let _ = auth.deny(denied).await;
            return ApiError::Forbidden(format!("a console session must send its CSRF token in {CSRF_HEADER}"))
                .into_response();
        }
    }
    request.extensions_mut().insert(auth);
    next.run(request).await
}

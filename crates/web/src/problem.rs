//! Errors as RFC 9457 `application/problem+json`, with the bad fields named.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use yrd_kernel::{FieldError, ValidationErrors};

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The input parsed but breaks a rule: 422.
    #[error("validation failed: {0}")]
    Invalid(ValidationErrors),
    /// The input could not be read (malformed JSON, wrong type, bad query): 400.
    #[error("bad request: {0}")]
    BadRequest(ValidationErrors),
    #[error("authentication required: {0}")]
    Unauthenticated(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("request body larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("too many requests; retry after {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: i64 },
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("the request took too long")]
    Timeout,
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A device or system the request went through answered outside its protocol: 502.
    #[error("bad gateway: {0}")]
    BadGateway(String),
    /// A fault of ours; the detail goes to the log, never to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(path: &str, message: impl Into<String>) -> Self {
        ApiError::Invalid(ValidationErrors::single(path, message))
    }

    pub fn bad_request(path: &str, message: impl Into<String>) -> Self {
        ApiError::BadRequest(ValidationErrors::single(path, message))
    }

    pub fn internal(error: impl std::fmt::Display) -> Self {
        ApiError::Internal(error.to_string())
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation", "Validation failed"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request", "Bad request"),
            ApiError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated", "Authentication required"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            ApiError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too-large", "Request body too large"),
            ApiError::TooManyRequests { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "too-many-requests", "Too many requests")
            }
            ApiError::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            ApiError::Timeout => (StatusCode::SERVICE_UNAVAILABLE, "timeout", "Request timed out"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Service unavailable"),
            ApiError::BadGateway(_) => (StatusCode::BAD_GATEWAY, "bad-gateway", "Bad gateway"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error"),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.parts().0
    }
}

/// The body of a problem response.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, slug, title) = self.parts();
        let (detail, errors) = match &self {
            ApiError::Invalid(errors) | ApiError::BadRequest(errors) => (errors.to_string(), errors.0.clone()),
            ApiError::Internal(message) => {
                tracing::error!(error = %message, "internal error");
                (
                    "An internal error occurred; it has been logged.".to_string(),
                    Vec::new(),
                )
            }
            other => (other.to_string(), Vec::new()),
        };
        let body = Problem {
            type_: format!("urn:yrd:problem:{slug}"),
            title: title.into(),
            status: status.as_u16(),
            detail,
            errors,
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        match &self {
            ApiError::Unauthenticated(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"yrd\""),
                );
            }
            ApiError::TooManyRequests { retry_after_secs } => {
                if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    headers.insert(header::RETRY_AFTER, value);
                }
            }
            _ => {}
        }
        response
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        ApiError::Invalid(errors)
    }
}

impl From<yrd_db::DbError> for ApiError {
    fn from(error: yrd_db::DbError) -> Self {
        ApiError::Internal(error.to_string())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        ApiError::Internal(error.to_string())
    }
}

impl From<yrd_auth::AuthError> for ApiError {
    fn from(error: yrd_auth::AuthError) -> Self {
        use yrd_auth::AuthError;
        match error {
            AuthError::Invalid(errors) => ApiError::Invalid(errors),
            AuthError::NotFound(what) => ApiError::NotFound(what),
            AuthError::Conflict(what) => ApiError::Conflict(what),
            AuthError::BadCredentials => ApiError::Unauthenticated("wrong login or password".into()),
            AuthError::Throttled { retry_after_secs } => ApiError::TooManyRequests { retry_after_secs },
            AuthError::BadToken(problem) => ApiError::Unauthenticated(format!("the bearer token is {problem}")),
            AuthError::Db(error) => ApiError::Internal(error.to_string()),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

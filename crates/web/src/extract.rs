//! Request extractors whose rejections are problem+json naming the bad field.

use crate::problem::ApiError;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use serde::de::DeserializeOwned;

/// The upper bound of any request body, unless a route sets its own.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// A JSON body. Malformed JSON and wrong types are 400s that give the path of the
/// offending field (`tasks[2].due`).
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                let essence = v.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
                essence == "application/json" || essence.ends_with("+json")
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "expected Content-Type: application/json".into(),
            ));
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::TooLarge {
                        limit: DEFAULT_BODY_LIMIT,
                    }
                } else {
                    ApiError::bad_request("body", rejection.body_text())
                }
            })?;
        parse_json(&bytes).map(Json)
    }
}

/// Parses a JSON body. Bytes that are not JSON are a 400; JSON whose values do not fit
/// (a wrong type, an unknown code, a missing or unknown field) is a 422 naming the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let path = if path == "." || path.is_empty() {
            "body".to_string()
        } else {
            path
        };
        let inner = error.into_inner();
        // serde_json appends the position; the path already says where.
        let message = inner.to_string();
        let message = match message.rfind(" at line ") {
            Some(at) if inner.line() > 0 => message[..at].to_string(),
            _ => message,
        };
        match inner.classify() {
            serde_json::error::Category::Data => ApiError::invalid(&path, message),
            _ => ApiError::bad_request(&path, message),
        }
    })
}

/// Query parameters; a parameter of the wrong form is a 400 naming it.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let deserializer = serde_urlencoded_deserializer(query);
        serde_path_to_error::deserialize(deserializer)
            .map(Query)
            .map_err(|error| {
                let path = error.path().to_string();
                let path = if path == "." { "query".to_string() } else { path };
                ApiError::bad_request(&path, error.into_inner().to_string())
            })
    }
}

fn serde_urlencoded_deserializer(query: &str) -> serde_urlencoded::Deserializer<'_> {
    serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()))
}

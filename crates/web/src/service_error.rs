//! The error a module's service layer returns: what went wrong in words a caller can act
//! on, turned into the matching problem response by `From<ServiceError> for ApiError`.

use crate::problem::ApiError;
use yrd_db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Db(#[from] DbError),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    Conflict(String),
    /// The action is not this role's to take.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
}

impl From<sqlx::Error> for ServiceError {
    fn from(error: sqlx::Error) -> Self {
        ServiceError::Db(error.into())
    }
}

/// A field that breaks a rule, and the rule.
pub fn invalid(field: &str, message: impl Into<String>) -> ServiceError {
    ServiceError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Db(e) => ApiError::internal(e),
            ServiceError::Invalid { field, message } => ApiError::invalid(&field, message),
            ServiceError::Conflict(m) => ApiError::Conflict(m),
            ServiceError::Forbidden(m) => ApiError::Forbidden(m),
            ServiceError::NotFound(m) => ApiError::NotFound(m),
        }
    }
}

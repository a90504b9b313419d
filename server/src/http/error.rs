//! The one place domain errors become the contract's JSON errors, in the one error
//! body (`wire::ErrorBody`): `{"error": "<stable_snake_case_code>", "message": "...",
//! "fields"?: [...]}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use tracing::error;

use crate::registry::{FieldError, RegistryError};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub fields: Vec<FieldError>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "authentication required: send an API key in X-API-Key or Authorization: Bearer",
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message)
    }

    pub fn internal(context: &str, e: impl std::fmt::Display) -> Self {
        error!(error = %e, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            format!("{context}; see the server log"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = wire::ErrorBody {
            error: self.code.to_string(),
            message: self.message,
            fields: self
                .fields
                .into_iter()
                .map(|f| wire::FieldMessage {
                    field: f.field.to_string(),
                    message: f.message,
                })
                .collect(),
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        let message = e.to_string();
        match e {
            RegistryError::Invalid(fields) => ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "validation_failed",
                message,
                fields,
            },
            RegistryError::Duplicate { .. } => {
                ApiError::new(StatusCode::CONFLICT, "dvr_exists", message)
            }
            RegistryError::SoftLimit { .. } => {
                ApiError::new(StatusCode::CONFLICT, "dvr_limit_reached", message)
            }
            RegistryError::NotFound(_) => ApiError::not_found(message),
            RegistryError::Managed { .. } => {
                ApiError::new(StatusCode::CONFLICT, "dvr_managed_externally", message)
            }
            RegistryError::Storage(e) => ApiError::internal("database error", e),
        }
    }
}

impl From<storage::StorageError> for ApiError {
    fn from(e: storage::StorageError) -> Self {
        ApiError::internal("database error", e)
    }
}

impl From<crate::edit::EditError> for ApiError {
    fn from(e: crate::edit::EditError) -> Self {
        match e {
            crate::edit::EditError::Invalid(m) => ApiError::invalid(m),
            crate::edit::EditError::Storage(s) => s.into(),
        }
    }
}

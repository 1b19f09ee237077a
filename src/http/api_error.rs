//! The staff API's error body: `{"error": {"code": "...", "message": "..."}}` with a stable
//! code per kind, the right status, and never a database message or a backtrace.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::crm::CrmError;

/// An error answer of the staff API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// For the person reading it.
    pub message: String,
}

impl ApiError {
    /// An error with its status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 for a query string or body that does not parse or validate.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 500, logged here with the cause; the body says only that it failed.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "staff API request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the request failed on the server; it has been logged",
        )
    }
}

impl From<CrmError> for ApiError {
    fn from(e: CrmError) -> Self {
        match e {
            CrmError::NotFound { .. } => ApiError::not_found(e.to_string()),
            CrmError::NotChangeable { .. } => {
                ApiError::new(StatusCode::CONFLICT, "not_changeable", e.to_string())
            }
            CrmError::Invalid(m) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", m)
            }
            CrmError::Db(ref db) => ApiError::internal(db),
            other => ApiError::new(StatusCode::CONFLICT, "rejected", other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(json!({ "error": { "code": self.code, "message": self.message } })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"callbridge staff API\""),
            );
        }
        response
    }
}

//! Errors as HTTP responses: `{"id","message","detailed_error","request_id","status_code"}`
//! with `Content-Type: application/json` exactly.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chorus_model::{AppError, ErrorId};

/// An [`AppError`] on its way out (a newtype so axum's trait can be implemented here).
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        ApiError(error)
    }
}

/// A catalogue entry, straight into a response.
impl From<ErrorId> for ApiError {
    fn from(entry: ErrorId) -> Self {
        ApiError(AppError::from(entry))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = self.0;
        error.request_id = crate::REQUEST_ID.try_with(Clone::clone).unwrap_or_default();
        let status =
            StatusCode::from_u16(error.status_code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(id = %error.id, detail = %error.detailed_error, status = error.status_code, "request failed");
        }
        (status, Json(error)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

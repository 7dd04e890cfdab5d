//! The one error shape clients see: `{"id","message","detailed_error","request_id","status_code"}`.

use serde::Serialize;

/// An error as it leaves the server. Every subsystem has its own typed errors; they are
/// converted into this once, in `app`, and written out by `api`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AppError {
    /// Mattermost-style translation id, e.g. `api.user.login.invalid_credentials_email_username`.
    pub id: String,
    pub message: String,
    pub detailed_error: String,
    pub request_id: String,
    pub status_code: u16,
}

impl AppError {
    pub fn new(status_code: u16, id: impl Into<String>, message: impl Into<String>) -> Self {
        AppError {
            id: id.into(),
            message: message.into(),
            detailed_error: String::new(),
            request_id: String::new(),
            status_code,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detailed_error = detail.into();
        self
    }

    pub fn bad_request(id: &str, message: impl Into<String>) -> Self {
        Self::new(400, id, message)
    }

    pub fn unauthorized(id: &str, message: impl Into<String>) -> Self {
        Self::new(401, id, message)
    }

    pub fn forbidden(id: &str, message: impl Into<String>) -> Self {
        Self::new(403, id, message)
    }

    pub fn not_found(id: &str, message: impl Into<String>) -> Self {
        Self::new(404, id, message)
    }

    pub fn internal(id: &str, message: impl Into<String>) -> Self {
        Self::new(500, id, message)
    }

    /// A parameter in the path, query or body is missing or malformed.
    pub fn invalid_param(name: &str) -> Self {
        Self::new(
            400,
            "api.context.invalid_param.app_error",
            format!("Invalid or missing {name} parameter in request URL or body."),
        )
    }

    /// The caller lacks a permission: Mattermost's generic 403.
    pub fn no_permission() -> Self {
        Self::new(
            403,
            "api.context.permissions.app_error",
            "You do not have the appropriate permissions.",
        )
    }

    pub fn session_expired() -> Self {
        Self::new(
            401,
            "api.context.session_expired.app_error",
            "Invalid or expired session, please login again.",
        )
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.id, self.message)?;
        if !self.detailed_error.is_empty() {
            write!(f, " ({})", self.detailed_error)?;
        }
        Ok(())
    }
}

impl std::error::Error for AppError {}

//! The one error shape clients see: `{"id","message","detailed_error","request_id","status_code"}`.

use crate::catalogue::ErrorId;
use serde::Serialize;

/// An error as it leaves the server: a catalogue entry ([`ErrorId`]) with its detail. Every
/// subsystem has its own typed errors; they convert into this with `?` (see
/// [`crate::catalogue::Catalogued`]) and `api` writes it out.
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
    /// A free-form error. Code answering a client names a catalogue entry instead
    /// (`AppError::from(ErrorId::PostNotFound)`); this and the status helpers below remain only
    /// for the code not yet moved onto the catalogue (realtime and the websocket-continuity files
    /// of `app`), and go once it is.
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

    /// Fills the message's `{name}` placeholder (see [`ErrorId::message`]).
    pub fn with_param(mut self, name: &str, value: impl std::fmt::Display) -> Self {
        self.message = self
            .message
            .replace(&format!("{{{name}}}"), &value.to_string());
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
        ErrorId::InvalidParam.with_param("name", name)
    }

    /// The caller lacks a permission: Mattermost's generic 403.
    pub fn no_permission() -> Self {
        AppError::from(ErrorId::NoPermission)
    }

    pub fn session_expired() -> Self {
        AppError::from(ErrorId::SessionExpired)
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

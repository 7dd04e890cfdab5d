//! Users, statuses and personal access tokens.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// System roles a user can hold (space-separated in `roles`, as in Mattermost).
pub const ROLE_SYSTEM_USER: &str = "system_user";
pub const ROLE_SYSTEM_ADMIN: &str = "system_admin";

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct User {
    pub id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub username: String,
    /// Never serialised back to clients: only accepted on create.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub password: String,
    pub auth_data: Option<String>,
    pub auth_service: String,
    pub email: String,
    pub email_verified: bool,
    pub nickname: String,
    pub first_name: String,
    pub last_name: String,
    pub position: String,
    pub roles: String,
    pub props: Map<String, Value>,
    pub notify_props: Map<String, Value>,
    pub last_password_update: i64,
    pub last_picture_update: i64,
    pub failed_attempts: i64,
    pub locale: String,
    pub timezone: Map<String, Value>,
    pub mfa_active: bool,
    pub is_bot: bool,
    pub bot_description: String,
    pub disable_welcome_email: bool,
}

impl User {
    pub fn is_system_admin(&self) -> bool {
        self.roles
            .split_whitespace()
            .any(|role| role == ROLE_SYSTEM_ADMIN)
    }

    /// Display name used as `sender_name` in `posted` events (Mattermost uses `@username`).
    pub fn sender_name(&self) -> String {
        format!("@{}", self.username)
    }
}

/// Body of PUT /users/{id}/patch: only the fields present change.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct UserPatch {
    pub username: Option<String>,
    pub email: Option<String>,
    pub nickname: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub position: Option<String>,
    pub locale: Option<String>,
    pub props: Option<Map<String, Value>>,
    pub notify_props: Option<Map<String, Value>>,
    pub timezone: Option<Map<String, Value>>,
}

pub const STATUS_ONLINE: &str = "online";
pub const STATUS_AWAY: &str = "away";
pub const STATUS_OFFLINE: &str = "offline";
pub const STATUS_DND: &str = "dnd";

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct Status {
    pub user_id: String,
    pub status: String,
    pub manual: bool,
    pub last_activity_at: i64,
    pub dnd_end_time: i64,
}

/// A personal access token. `token` is present only in the answer to its creation.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct UserAccessToken {
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub token: String,
    pub user_id: String,
    pub description: String,
    pub is_active: bool,
}

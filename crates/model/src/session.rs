//! Login sessions. A session's token authenticates every request and websocket.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct Session {
    pub id: String,
    pub token: String,
    pub create_at: i64,
    /// 0 means the session never expires (personal access tokens).
    pub expires_at: i64,
    pub last_activity_at: i64,
    pub user_id: String,
    pub device_id: String,
    pub roles: String,
    pub is_oauth: bool,
    pub props: Map<String, Value>,
    pub local: bool,
}

impl Session {
    pub fn is_expired(&self, now_millis: i64) -> bool {
        self.expires_at > 0 && self.expires_at <= now_millis
    }

    pub fn is_system_admin(&self) -> bool {
        self.roles
            .split_whitespace()
            .any(|role| role == crate::ROLE_SYSTEM_ADMIN)
    }

    /// Sessions created for a personal access token carry this prop (Mattermost's `type`).
    pub fn is_access_token(&self) -> bool {
        self.props.get("type").and_then(Value::as_str) == Some("UserAccessToken")
    }
}

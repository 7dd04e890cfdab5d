//! Roles (Mattermost's `Role`): named sets of permissions that users, team members and channel
//! members hold. Chorus's roles are built in and never change.

use serde::{Deserialize, Serialize};

pub const ROLE_SYSTEM_GUEST: &str = "system_guest";
pub const ROLE_TEAM_GUEST: &str = "team_guest";
pub const ROLE_TEAM_USER: &str = "team_user";
pub const ROLE_TEAM_ADMIN: &str = "team_admin";
pub const ROLE_CHANNEL_GUEST: &str = "channel_guest";
pub const ROLE_CHANNEL_USER: &str = "channel_user";
pub const ROLE_CHANNEL_ADMIN: &str = "channel_admin";
pub const ROLE_SYSTEM_USER_ACCESS_TOKEN: &str = "system_user_access_token";

/// Longest role name (Mattermost's `RoleNameMaxLength`).
pub const ROLE_NAME_MAX_LENGTH: usize = 64;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub permissions: Vec<String>,
    pub scheme_managed: bool,
    pub built_in: bool,
    pub scheme_id: Option<String>,
}

/// Mattermost's `IsValidRoleName`: 1 to 64 of `a-z`, `0-9` and `_`.
pub fn is_valid_role_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= ROLE_NAME_MAX_LENGTH
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

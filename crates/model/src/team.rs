//! Teams and team membership.

use serde::{Deserialize, Serialize};

pub const TEAM_OPEN: &str = "O";
pub const TEAM_INVITE: &str = "I";

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct Team {
    pub id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub display_name: String,
    pub name: String,
    pub description: String,
    pub email: String,
    #[serde(rename = "type")]
    pub team_type: String,
    pub company_name: String,
    pub allowed_domains: String,
    pub invite_id: String,
    pub allow_open_invite: bool,
    pub scheme_id: Option<String>,
    pub group_constrained: Option<bool>,
    /// When the team icon was last set (0: none), as Mattermost sends it: only when set.
    #[serde(skip_serializing_if = "is_zero")]
    pub last_team_icon_update: i64,
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

impl Team {
    /// What team members may see of a team in events (Mattermost's `Team.Sanitize`): no
    /// email, no invite id.
    pub fn sanitized(&self) -> Team {
        Team {
            email: String::new(),
            invite_id: String::new(),
            ..self.clone()
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct TeamPatch {
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub company_name: Option<String>,
    pub allowed_domains: Option<String>,
    pub allow_open_invite: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct TeamMember {
    pub team_id: String,
    pub user_id: String,
    pub roles: String,
    pub delete_at: i64,
    pub scheme_guest: bool,
    pub scheme_user: bool,
    pub scheme_admin: bool,
    pub explicit_roles: String,
}

impl TeamMember {
    pub fn is_team_admin(&self) -> bool {
        self.scheme_admin
            || self
                .roles
                .split_whitespace()
                .any(|role| role == "team_admin")
    }
}

/// GET /teams/{id}/stats.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct TeamStats {
    pub team_id: String,
    pub total_member_count: i64,
    pub active_member_count: i64,
}

//! Sidebar categories (Mattermost's `SidebarCategoryWithChannels` and
//! `OrderedSidebarCategories`): how a user groups and orders their channels in a team.

use serde::{Deserialize, Serialize};

pub const SIDEBAR_CATEGORY_FAVORITES: &str = "favorites";
pub const SIDEBAR_CATEGORY_CHANNELS: &str = "channels";
pub const SIDEBAR_CATEGORY_DIRECT_MESSAGES: &str = "direct_messages";
pub const SIDEBAR_CATEGORY_CUSTOM: &str = "custom";

/// Mattermost's `MinimalSidebarSortDistance`: the gap between neighbours' `sort_order`.
pub const SIDEBAR_SORT_DISTANCE: i64 = 10;

/// One category and the ids of its channels, in order.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct SidebarCategory {
    pub id: String,
    pub user_id: String,
    pub team_id: String,
    pub sort_order: i64,
    pub sorting: String,
    #[serde(rename = "type")]
    pub category_type: String,
    pub display_name: String,
    pub muted: bool,
    pub collapsed: bool,
    pub channel_ids: Vec<String>,
}

impl SidebarCategory {
    /// The deterministic id of a default category (Mattermost's `<type>_<user>_<team>`).
    pub fn default_id(category_type: &str, user_id: &str, team_id: &str) -> String {
        format!("{category_type}_{user_id}_{team_id}")
    }
}

/// GET /users/{id}/teams/{team_id}/channels/categories.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct OrderedSidebarCategories {
    pub categories: Vec<SidebarCategory>,
    pub order: Vec<String>,
}

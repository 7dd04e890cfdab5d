//! Channels (public, private, direct, group), memberships and unread counts.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const CHANNEL_OPEN: &str = "O";
pub const CHANNEL_PRIVATE: &str = "P";
pub const CHANNEL_DIRECT: &str = "D";
pub const CHANNEL_GROUP: &str = "G";

pub const DEFAULT_CHANNEL: &str = "town-square";
pub const OFF_TOPIC_CHANNEL: &str = "off-topic";

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct Channel {
    pub id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub team_id: String,
    #[serde(rename = "type")]
    pub channel_type: String,
    pub display_name: String,
    pub name: String,
    pub header: String,
    pub purpose: String,
    pub last_post_at: i64,
    pub total_msg_count: i64,
    pub extra_update_at: i64,
    pub creator_id: String,
    pub scheme_id: Option<String>,
    pub props: Option<Map<String, Value>>,
    pub group_constrained: Option<bool>,
    pub shared: Option<bool>,
    pub total_msg_count_root: i64,
    pub last_root_post_at: i64,
}

impl Channel {
    pub fn is_direct_or_group(&self) -> bool {
        self.channel_type == CHANNEL_DIRECT || self.channel_type == CHANNEL_GROUP
    }

    /// The name Mattermost gives a direct channel: both user ids, sorted, joined by "__".
    pub fn direct_channel_name(user_a: &str, user_b: &str) -> String {
        if user_a < user_b {
            format!("{user_a}__{user_b}")
        } else {
            format!("{user_b}__{user_a}")
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct ChannelPatch {
    pub display_name: Option<String>,
    pub name: Option<String>,
    pub header: Option<String>,
    pub purpose: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct ChannelMember {
    pub channel_id: String,
    pub user_id: String,
    pub roles: String,
    pub last_viewed_at: i64,
    pub msg_count: i64,
    pub mention_count: i64,
    pub mention_count_root: i64,
    pub urgent_mention_count: i64,
    pub msg_count_root: i64,
    pub notify_props: Map<String, Value>,
    pub last_update_at: i64,
    pub scheme_guest: bool,
    pub scheme_user: bool,
    pub scheme_admin: bool,
    pub explicit_roles: String,
}

/// GET /users/{user_id}/channels/{channel_id}/unread.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct ChannelUnread {
    pub team_id: String,
    pub channel_id: String,
    pub msg_count: i64,
    pub mention_count: i64,
    pub mention_count_root: i64,
    pub urgent_mention_count: i64,
    pub msg_count_root: i64,
    pub notify_props: Map<String, Value>,
}

/// Answer of POST /channels/members/{user_id}/view.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct ChannelViewResponse {
    pub status: String,
    pub last_viewed_at_times: std::collections::BTreeMap<String, i64>,
}

/// GET /channels/{id}/stats.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct ChannelStats {
    pub channel_id: String,
    pub member_count: i64,
    pub guest_count: i64,
    pub pinnedpost_count: i64,
    pub files_count: i64,
}

/// One entry of GET /users/{id}/teams/unread.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct TeamUnread {
    pub team_id: String,
    pub msg_count: i64,
    pub mention_count: i64,
    pub mention_count_root: i64,
    pub msg_count_root: i64,
    pub urgent_mention_count: i64,
    pub thread_count: i64,
    pub thread_mention_count: i64,
    pub thread_urgent_mention_count: i64,
}

//! Websocket events as clients receive them: `{event, data, broadcast, seq}`.
//!
//! `seq` is not part of [`WebSocketEvent`]: it belongs to a connection, and is added by the
//! connection's writer when the event is actually sent, so that events dropped under pressure
//! never leave a gap in the sequence.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Event names (Mattermost's `WebsocketEvent*` constants) that Chorus emits.
pub mod event_names {
    pub const HELLO: &str = "hello";
    pub const POSTED: &str = "posted";
    pub const POST_EDITED: &str = "post_edited";
    pub const POST_DELETED: &str = "post_deleted";
    pub const TYPING: &str = "typing";
    pub const STATUS_CHANGE: &str = "status_change";
    pub const REACTION_ADDED: &str = "reaction_added";
    pub const REACTION_REMOVED: &str = "reaction_removed";
    pub const CHANNEL_VIEWED: &str = "channel_viewed";
    pub const CHANNEL_CREATED: &str = "channel_created";
    pub const CHANNEL_DELETED: &str = "channel_deleted";
    pub const CHANNEL_UPDATED: &str = "channel_updated";
    pub const USER_ADDED: &str = "user_added";
    pub const USER_REMOVED: &str = "user_removed";
    pub const USER_UPDATED: &str = "user_updated";
    pub const DIRECT_ADDED: &str = "direct_added";
    pub const GROUP_ADDED: &str = "group_added";
    pub const ADDED_TO_TEAM: &str = "added_to_team";
    pub const LEAVE_TEAM: &str = "leave_team";
    pub const UPDATE_TEAM: &str = "update_team";
    pub const NEW_USER: &str = "new_user";
    pub const CONFIG_CHANGED: &str = "config_changed";
    pub const PREFERENCES_CHANGED: &str = "preferences_changed";
    pub const PREFERENCES_DELETED: &str = "preferences_deleted";
    pub const SIDEBAR_CATEGORY_CREATED: &str = "sidebar_category_created";
    pub const SIDEBAR_CATEGORY_UPDATED: &str = "sidebar_category_updated";
    pub const SIDEBAR_CATEGORY_DELETED: &str = "sidebar_category_deleted";
    pub const SIDEBAR_CATEGORY_ORDER_UPDATED: &str = "sidebar_category_order_updated";
    /// Replaced `channel_viewed` in Mattermost 9.0: `data.channel_times` maps each channel
    /// marked read to its new last viewed time.
    pub const MULTIPLE_CHANNELS_VIEWED: &str = "multiple_channels_viewed";
    pub const CHANNEL_MEMBER_UPDATED: &str = "channel_member_updated";
    pub const CHANNEL_RESTORED: &str = "channel_restored";
    pub const CHANNEL_CONVERTED: &str = "channel_converted";
    pub const DELETE_TEAM: &str = "delete_team";
    pub const RESTORE_TEAM: &str = "restore_team";
    pub const MEMBERROLE_UPDATED: &str = "memberrole_updated";
    pub const POST_UNREAD: &str = "post_unread";
    pub const EMOJI_ADDED: &str = "emoji_added";
    pub const THREAD_UPDATED: &str = "thread_updated";
    pub const THREAD_FOLLOW_CHANGED: &str = "thread_follow_changed";
    pub const THREAD_READ_CHANGED: &str = "thread_read_changed";
    /// A message only the user sees (slash command answers); never stored.
    pub const EPHEMERAL_MESSAGE: &str = "ephemeral_message";
}

/// The `data` key of membership events (`user_added`, `user_removed`, `added_to_team`,
/// `leave_team`, `channel_created`, `direct_added`, `group_added`) that says when the database
/// recorded the change (ms since the epoch). Chorus's own: it lets a websocket rebuilt from the
/// membership history tell which of these events its client already received.
pub const MEMBERSHIP_CHANGED_AT: &str = "changed_at";

/// Who receives an event. Exactly Mattermost's rules: `user_id` set → only that user's
/// connections; else `channel_id` set → the channel's members; else `team_id` set → the team's
/// members; else everyone. `omit_users` are skipped in every case.
///
/// An event that exists in copies for different readers says which copy it is, as
/// Mattermost's `WebsocketBroadcast` does: `contains_sanitized_data` (what any user may see of
/// someone else) goes to everyone but system admins, `contains_sensitive_data` (what an admin
/// may see) only to system admins; both set reaches nobody. On the wire only when set
/// (Mattermost's `omitempty`), so the envelope clients parse is unchanged otherwise; nodes
/// forward them to each other in the event's JSON.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Broadcast {
    pub omit_users: Option<BTreeMap<String, bool>>,
    pub user_id: String,
    pub channel_id: String,
    pub team_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub connection_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub omit_connection_id: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub contains_sanitized_data: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub contains_sensitive_data: bool,
}

impl Broadcast {
    pub fn to_user(user_id: &str) -> Self {
        Broadcast {
            user_id: user_id.to_string(),
            ..Default::default()
        }
    }

    pub fn to_channel(channel_id: &str) -> Self {
        Broadcast {
            channel_id: channel_id.to_string(),
            ..Default::default()
        }
    }

    pub fn to_team(team_id: &str) -> Self {
        Broadcast {
            team_id: team_id.to_string(),
            ..Default::default()
        }
    }

    pub fn to_everyone() -> Self {
        Broadcast::default()
    }

    pub fn omitting(mut self, user_id: &str) -> Self {
        self.omit_users
            .get_or_insert_with(BTreeMap::new)
            .insert(user_id.to_string(), true);
        self
    }

    /// The copy of an event that system admins must not receive (they get the
    /// [`Broadcast::with_sensitive_data`] copy).
    pub fn with_sanitized_data(mut self) -> Self {
        self.contains_sanitized_data = true;
        self
    }

    /// The copy of an event that only system admins may receive.
    pub fn with_sensitive_data(mut self) -> Self {
        self.contains_sensitive_data = true;
        self
    }

    /// Whether a connection of a user who is (or is not) a system admin may receive this
    /// copy of an event, by its sanitized/sensitive flags alone.
    pub fn is_for_reader(&self, reader_is_system_admin: bool) -> bool {
        if self.contains_sanitized_data && reader_is_system_admin {
            return false;
        }
        if self.contains_sensitive_data && !reader_is_system_admin {
            return false;
        }
        true
    }

    pub fn omits(&self, user_id: &str) -> bool {
        self.omit_users
            .as_ref()
            .is_some_and(|omitted| omitted.contains_key(user_id))
    }
}

/// One event before it is given a per-connection `seq`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebSocketEvent {
    pub event: String,
    pub data: Map<String, Value>,
    pub broadcast: Broadcast,
}

impl WebSocketEvent {
    pub fn new(event: &str, broadcast: Broadcast) -> Self {
        WebSocketEvent {
            event: event.to_string(),
            data: Map::new(),
            broadcast,
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.data.insert(key.to_string(), value.into());
        self
    }

    /// Events a client can live without (Mattermost drops these first under back-pressure).
    pub fn is_droppable(&self) -> bool {
        matches!(
            self.event.as_str(),
            event_names::TYPING
                | event_names::STATUS_CHANGE
                | event_names::CHANNEL_VIEWED
                | event_names::MULTIPLE_CHANNELS_VIEWED
        )
    }
}

/// A client's request over the socket: `{"action","seq","data"}`.
#[derive(Debug, Clone, Deserialize)]
pub struct WebSocketRequest {
    pub action: String,
    #[serde(default)]
    pub seq: i64,
    #[serde(default)]
    pub data: Map<String, Value>,
}

/// The answer to a [`WebSocketRequest`]: `{"status","seq_reply","data"?,"error"?}`.
#[derive(Debug, Clone, Serialize)]
pub struct WebSocketResponse {
    pub status: String,
    pub seq_reply: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

impl WebSocketResponse {
    pub fn ok(seq_reply: i64, data: Option<Value>) -> Self {
        WebSocketResponse {
            status: "OK".to_string(),
            seq_reply,
            data,
            error: None,
        }
    }

    pub fn fail(seq_reply: i64, error: &crate::AppError) -> Self {
        WebSocketResponse {
            status: "FAIL".to_string(),
            seq_reply,
            data: None,
            error: Some(serde_json::json!({
                "id": error.id,
                "message": error.message,
                "detailed_error": error.detailed_error,
                "status_code": error.status_code,
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_flags_are_on_the_wire_only_when_set_and_survive_a_trip_between_nodes() {
        let plain = serde_json::to_value(Broadcast::to_everyone()).unwrap();
        assert!(plain.get("contains_sanitized_data").is_none(), "{plain}");
        assert!(plain.get("contains_sensitive_data").is_none(), "{plain}");

        let sanitized = Broadcast::to_everyone()
            .omitting("u1")
            .with_sanitized_data();
        let json = serde_json::to_value(&sanitized).unwrap();
        assert_eq!(json["contains_sanitized_data"], true, "{json}");
        assert_eq!(
            serde_json::from_value::<Broadcast>(json).unwrap(),
            sanitized
        );

        let sensitive = Broadcast::to_everyone().with_sensitive_data();
        let json = serde_json::to_string(&sensitive).unwrap();
        assert_eq!(serde_json::from_str::<Broadcast>(&json).unwrap(), sensitive);
    }

    #[test]
    fn each_copy_is_for_its_readers_only() {
        let plain = Broadcast::to_everyone();
        assert!(plain.is_for_reader(true) && plain.is_for_reader(false));
        let sanitized = Broadcast::to_everyone().with_sanitized_data();
        assert!(!sanitized.is_for_reader(true) && sanitized.is_for_reader(false));
        let sensitive = Broadcast::to_everyone().with_sensitive_data();
        assert!(sensitive.is_for_reader(true) && !sensitive.is_for_reader(false));
        let both = sanitized.with_sensitive_data();
        assert!(!both.is_for_reader(true) && !both.is_for_reader(false));
    }
}

//! The websocket events that announce membership changes, built here both for the live path
//! (the app's `channels` and `teams`) and for a websocket rebuilt from the membership history (`rebuild`),
//! so that the two are the same frames. Each carries the time the database recorded the change
//! (`data.changed_at`, [`MEMBERSHIP_CHANGED_AT`]), which `realtime::change_of` keys it by.

use chorus_model::{event_names, Broadcast, WebSocketEvent, MEMBERSHIP_CHANGED_AT};

/// `user_added`, to the channel's members (the added user included).
pub fn user_added(channel_id: &str, team_id: &str, user_id: &str, at: i64) -> WebSocketEvent {
    WebSocketEvent::new(event_names::USER_ADDED, Broadcast::to_channel(channel_id))
        .with("user_id", user_id.to_string())
        .with("team_id", team_id.to_string())
        .with(MEMBERSHIP_CHANGED_AT, at)
}

/// `user_removed`, to the channel's remaining members.
pub fn user_removed(channel_id: &str, user_id: &str, remover_id: &str, at: i64) -> WebSocketEvent {
    WebSocketEvent::new(event_names::USER_REMOVED, Broadcast::to_channel(channel_id))
        .with("user_id", user_id.to_string())
        .with("remover_id", remover_id.to_string())
        .with(MEMBERSHIP_CHANGED_AT, at)
}

/// `user_removed`, to the removed user (no longer a member, so the channel broadcast misses
/// them).
pub fn removed_from_channel(
    channel_id: &str,
    user_id: &str,
    remover_id: &str,
    at: i64,
) -> WebSocketEvent {
    WebSocketEvent::new(event_names::USER_REMOVED, Broadcast::to_user(user_id))
        .with("channel_id", channel_id.to_string())
        .with("remover_id", remover_id.to_string())
        .with(MEMBERSHIP_CHANGED_AT, at)
}

/// `user_removed`, to the channel's remaining members, when the user left the channel's team.
pub fn user_removed_with_team(
    channel_id: &str,
    user_id: &str,
    remover_id: &str,
    at: i64,
) -> WebSocketEvent {
    WebSocketEvent::new(event_names::USER_REMOVED, Broadcast::to_channel(channel_id))
        .with("user_id", user_id.to_string())
        .with("remover_id", remover_id.to_string())
        .with("channel_id", channel_id.to_string())
        .with(MEMBERSHIP_CHANGED_AT, at)
}

/// `added_to_team`, to the user who joined.
pub fn added_to_team(team_id: &str, user_id: &str, at: i64) -> WebSocketEvent {
    WebSocketEvent::new(event_names::ADDED_TO_TEAM, Broadcast::to_user(user_id))
        .with("team_id", team_id.to_string())
        .with("user_id", user_id.to_string())
        .with(MEMBERSHIP_CHANGED_AT, at)
}

/// `leave_team`, to the team's remaining members.
pub fn leave_team(team_id: &str, user_id: &str, at: i64) -> WebSocketEvent {
    leave_team_to(Broadcast::to_team(team_id), team_id, user_id, at)
}

/// `leave_team`, to the user who left (no longer a member, so the team broadcast misses them).
pub fn left_team(team_id: &str, user_id: &str, at: i64) -> WebSocketEvent {
    leave_team_to(Broadcast::to_user(user_id), team_id, user_id, at)
}

fn leave_team_to(broadcast: Broadcast, team_id: &str, user_id: &str, at: i64) -> WebSocketEvent {
    WebSocketEvent::new(event_names::LEAVE_TEAM, broadcast)
        .with("team_id", team_id.to_string())
        .with("user_id", user_id.to_string())
        .with(MEMBERSHIP_CHANGED_AT, at)
}

/// `channel_created`, to the user who created the channel.
pub fn channel_created(
    creator_id: &str,
    channel_id: &str,
    team_id: &str,
    at: i64,
) -> WebSocketEvent {
    WebSocketEvent::new(event_names::CHANNEL_CREATED, Broadcast::to_user(creator_id))
        .with("channel_id", channel_id.to_string())
        .with("team_id", team_id.to_string())
        .with(MEMBERSHIP_CHANGED_AT, at)
}

/// `direct_added`, to one user of a new direct channel; `teammate_id` is the other user (or
/// the same one for a channel with oneself).
pub fn direct_added(
    member_id: &str,
    teammate_id: &str,
    channel_id: &str,
    at: i64,
) -> WebSocketEvent {
    WebSocketEvent::new(event_names::DIRECT_ADDED, Broadcast::to_user(member_id))
        .with("teammate_id", teammate_id.to_string())
        .with("channel_id", channel_id.to_string())
        .with(MEMBERSHIP_CHANGED_AT, at)
}

/// `group_added`, to one user of a new group channel of `member_ids` (sorted).
pub fn group_added(
    member_id: &str,
    member_ids: &[String],
    channel_id: &str,
    at: i64,
) -> WebSocketEvent {
    WebSocketEvent::new(event_names::GROUP_ADDED, Broadcast::to_user(member_id))
        .with(
            "teammate_ids",
            serde_json::to_string(member_ids).unwrap_or_default(),
        )
        .with("channel_id", channel_id.to_string())
        .with(MEMBERSHIP_CHANGED_AT, at)
}

/// The teammate of `member_id` in a direct channel of `member_ids`.
pub fn direct_teammate<'a>(member_id: &'a str, member_ids: &'a [String]) -> &'a str {
    member_ids
        .iter()
        .map(String::as_str)
        .find(|id| *id != member_id)
        .unwrap_or(member_id)
}

/// The `(user, channel)` a membership event adds the user to, for the events that add one:
/// `user_added`, `channel_created`, `direct_added`, `group_added`.
pub(crate) fn joined_channel(event: &WebSocketEvent) -> Option<(String, String)> {
    let text = |key: &str| {
        event
            .data
            .get(key)
            .and_then(|value| value.as_str())
            .map(str::to_string)
    };
    match event.event.as_str() {
        event_names::USER_ADDED => Some((text("user_id")?, event.broadcast.channel_id.clone())),
        event_names::CHANNEL_CREATED | event_names::DIRECT_ADDED | event_names::GROUP_ADDED => {
            Some((event.broadcast.user_id.clone(), text("channel_id")?))
        }
        _ => None,
    }
    .filter(|(user_id, channel_id)| !user_id.is_empty() && !channel_id.is_empty())
}

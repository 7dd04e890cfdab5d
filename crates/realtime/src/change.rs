//! Which stored change an event announces, so that a connection whose node died can be rebuilt
//! from the database without repeating what its client already received.
//!
//! A [`Change`] names the change (`key`) and says when the database recorded it (`at`, the
//! `createat`/`editat`/`deleteat` of the row, or the membership history's join or leave time,
//! which membership events carry in `data.changed_at`). The same function reads the key of a
//! live event and of an event rebuilt from the database, so the two compare equal by
//! construction. Keys: `posted:<id>`, `post_edited:<id>:<editat>`, `post_deleted:<id>`,
//! `reaction_added|removed:<post>:<user>:<emoji>:<time>`, and
//! `<membership event>:<channel or team>:<user>:<time>` for `user_added`, `user_removed`,
//! `added_to_team`, `leave_team`, `channel_created`, `direct_added` and `group_added`.
//!
//! It sits at the bottom of the crate because every event is read once, when it is serialized
//! (`frame`); checkpoints, overlaps, recent changes and drains then use what it found.

use chorus_model::{event_names, WebSocketEvent, MEMBERSHIP_CHANGED_AT};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

/// A stored change an event announces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Change {
    /// What changed, e.g. `posted:<post id>` or `post_edited:<post id>:<editat>`.
    pub key: String,
    /// When the database recorded it (milliseconds since the epoch, the row's own timestamp).
    pub at: i64,
}

/// The change key of the `posted` event of `post_id` (see [`change_of`]).
pub fn posted_key(post_id: &str) -> String {
    format!("posted:{post_id}")
}

/// The change `event` announces, if it is one a rebuild can reproduce: posts created, edited
/// or deleted, reactions added or removed, and membership changes of channels and teams.
pub fn change_of(event: &WebSocketEvent) -> Option<Change> {
    match event.event.as_str() {
        event_names::POSTED | event_names::POST_EDITED | event_names::POST_DELETED => {
            let post: PostStamps = embedded_object(event, "post")?;
            let post_id = post.id;
            let (at, key) = match event.event.as_str() {
                event_names::POSTED => (positive(post.create_at)?, posted_key(&post_id)),
                event_names::POST_EDITED => {
                    let edit_at = positive(post.edit_at)?;
                    (edit_at, format!("post_edited:{post_id}:{edit_at}"))
                }
                _ => (positive(post.delete_at)?, format!("post_deleted:{post_id}")),
            };
            Some(Change { key, at })
        }
        event_names::REACTION_ADDED | event_names::REACTION_REMOVED => {
            let reaction: ReactionStamps = embedded_object(event, "reaction")?;
            let at = positive(if event.event == event_names::REACTION_ADDED {
                reaction.create_at
            } else {
                reaction.delete_at
            })?;
            Some(Change {
                key: format!(
                    "{}:{}:{}:{}:{at}",
                    event.event, reaction.post_id, reaction.user_id, reaction.emoji_name
                ),
                at,
            })
        }
        event_names::USER_ADDED
        | event_names::USER_REMOVED
        | event_names::ADDED_TO_TEAM
        | event_names::LEAVE_TEAM
        | event_names::CHANNEL_CREATED
        | event_names::DIRECT_ADDED
        | event_names::GROUP_ADDED => membership_change(event),
        _ => None,
    }
}

/// `<event>:<channel or team>:<member>:<time>` of a membership event. The channel is the
/// broadcast's or `data.channel_id` (`user_removed` sent to the removed user), else the team is
/// `data.team_id`; the member is `data.user_id`, else the user the event is sent to.
fn membership_change(event: &WebSocketEvent) -> Option<Change> {
    let at = event
        .data
        .get(MEMBERSHIP_CHANGED_AT)?
        .as_i64()
        .filter(|at| *at > 0)?;
    let data_text = |field: &str| event.data.get(field).and_then(Value::as_str);
    let broadcast = &event.broadcast;
    let subject = [
        Some(broadcast.channel_id.as_str()),
        data_text("channel_id"),
        data_text("team_id"),
    ]
    .into_iter()
    .flatten()
    .find(|id| !id.is_empty())?;
    let member = [data_text("user_id"), Some(broadcast.user_id.as_str())]
        .into_iter()
        .flatten()
        .find(|id| !id.is_empty())?;
    Some(Change {
        key: format!("{}:{subject}:{member}:{at}", event.event),
        at,
    })
}

/// The fields of an embedded post that name its change. Read into this rather than a `Value`:
/// serde skips the other fields without building them, and every event is read here once.
#[derive(Deserialize)]
struct PostStamps {
    id: String,
    #[serde(default)]
    create_at: i64,
    #[serde(default)]
    edit_at: i64,
    #[serde(default)]
    delete_at: i64,
}

/// The fields of an embedded reaction that name its change.
#[derive(Deserialize)]
struct ReactionStamps {
    post_id: String,
    user_id: String,
    emoji_name: String,
    #[serde(default)]
    create_at: i64,
    #[serde(default)]
    delete_at: i64,
}

/// `data[field]`, a JSON object sent as a string (as Mattermost sends posts and reactions).
fn embedded_object<T: DeserializeOwned>(event: &WebSocketEvent, field: &str) -> Option<T> {
    let encoded = event.data.get(field)?.as_str()?;
    serde_json::from_str(encoded).ok()
}

/// A row's timestamp, when it is set (0 is "never").
fn positive(at: i64) -> Option<i64> {
    (at > 0).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chorus_model::Broadcast;
    use serde_json::json;

    fn event(name: &str, field: &str, object: Value) -> WebSocketEvent {
        WebSocketEvent::new(name, Broadcast::to_channel("c1")).with(field, object.to_string())
    }

    #[test]
    fn posts_are_keyed_by_id_and_the_edit_by_its_time() {
        let post = json!({"id": "p1", "create_at": 10, "edit_at": 20, "delete_at": 30});
        let posted = change_of(&event("posted", "post", post.clone())).unwrap();
        assert_eq!((posted.key.as_str(), posted.at), ("posted:p1", 10));
        let edited = change_of(&event("post_edited", "post", post.clone())).unwrap();
        assert_eq!((edited.key.as_str(), edited.at), ("post_edited:p1:20", 20));
        let deleted = change_of(&event("post_deleted", "post", post)).unwrap();
        assert_eq!((deleted.key.as_str(), deleted.at), ("post_deleted:p1", 30));
    }

    #[test]
    fn reactions_are_keyed_by_post_user_emoji_and_time() {
        let reaction = json!({"post_id": "p1", "user_id": "u1", "emoji_name": "smile",
            "create_at": 5, "delete_at": 9});
        let added = change_of(&event("reaction_added", "reaction", reaction.clone())).unwrap();
        assert_eq!(added.key, "reaction_added:p1:u1:smile:5");
        let removed = change_of(&event("reaction_removed", "reaction", reaction)).unwrap();
        assert_eq!(
            (removed.key.as_str(), removed.at),
            ("reaction_removed:p1:u1:smile:9", 9)
        );
    }

    #[test]
    fn membership_changes_are_keyed_by_channel_or_team_member_and_time() {
        let added = WebSocketEvent::new("user_added", Broadcast::to_channel("c1"))
            .with("user_id", "u1")
            .with("team_id", "t1")
            .with("changed_at", 7);
        let added = change_of(&added).unwrap();
        assert_eq!((added.key.as_str(), added.at), ("user_added:c1:u1:7", 7));
        let removed_to_user = WebSocketEvent::new("user_removed", Broadcast::to_user("u1"))
            .with("channel_id", "c1")
            .with("remover_id", "u2")
            .with("changed_at", 8);
        assert_eq!(
            change_of(&removed_to_user).unwrap().key,
            "user_removed:c1:u1:8"
        );
        let left_team = WebSocketEvent::new("leave_team", Broadcast::to_team("t1"))
            .with("team_id", "t1")
            .with("user_id", "u1")
            .with("changed_at", 9);
        assert_eq!(change_of(&left_team).unwrap().key, "leave_team:t1:u1:9");
        let direct = WebSocketEvent::new("direct_added", Broadcast::to_user("u1"))
            .with("teammate_id", "u2")
            .with("channel_id", "c2")
            .with("changed_at", 10);
        assert_eq!(change_of(&direct).unwrap().key, "direct_added:c2:u1:10");
        let untimed =
            WebSocketEvent::new("user_added", Broadcast::to_channel("c1")).with("user_id", "u1");
        assert_eq!(
            change_of(&untimed),
            None,
            "an older node's event cannot be rebuilt"
        );
    }

    #[test]
    fn preference_changes_cannot_be_rebuilt() {
        // Like channel_updated: the rows keep only the latest state (a deleted preference is
        // gone), so a connection that was sent one resyncs rather than being rebuilt.
        for name in ["preferences_changed", "preferences_deleted"] {
            let event = WebSocketEvent::new(name, Broadcast::to_user("u1")).with(
                "preferences",
                r#"[{"user_id":"u1","category":"c","name":"n"}]"#,
            );
            assert_eq!(change_of(&event), None);
            assert!(!event.is_droppable());
        }
    }

    #[test]
    fn other_events_and_malformed_ones_announce_nothing() {
        let typing = WebSocketEvent::new("typing", Broadcast::to_channel("c1"));
        assert_eq!(change_of(&typing), None);
        let broken = WebSocketEvent::new("posted", Broadcast::to_channel("c1")).with("post", "{");
        assert_eq!(change_of(&broken), None);
        let unedited = event("post_edited", "post", json!({"id": "p1", "edit_at": 0}));
        assert_eq!(change_of(&unedited), None);
    }
}

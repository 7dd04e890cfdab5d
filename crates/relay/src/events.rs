//! The websocket events that announce posts and reactions, built here both for the live path
//! (the app's use cases) and for events read back from the database (a gap in a channel's post
//! order, a rebuilt connection), so that the two are the same frames; and `user_updated`, whose
//! copies for different readers are built here so that each goes only to its readers.

use crate::Directory;
use chorus_model::{event_names, Broadcast, Channel, Post, Reaction, User, WebSocketEvent};

/// A changed user as each kind of reader may see it (the app sanitizes each copy exactly as
/// its REST answers to that reader).
pub struct UserUpdatedCopies {
    /// For the user themselves.
    pub own: User,
    /// For system admins other than the user.
    pub for_system_admins: User,
    /// For every other user.
    pub for_everyone_else: User,
}

/// `user_updated` in Mattermost's three copies (`sendUpdatedUserEvent`): the admins' copy to
/// everyone but the user, flagged so that only system admins receive it
/// (`contains_sensitive_data`); everyone else's copy to everyone but the user, flagged so that
/// system admins skip it (`contains_sanitized_data`); the user's own copy to the user's
/// connections. Each connection receives exactly one of them.
pub fn user_updated(copies: &UserUpdatedCopies) -> [WebSocketEvent; 3] {
    let user_id = copies.own.id.as_str();
    let for_system_admins = WebSocketEvent::new(
        event_names::USER_UPDATED,
        Broadcast::to_everyone()
            .omitting(user_id)
            .with_sensitive_data(),
    )
    .with("user", user_json(&copies.for_system_admins));
    let for_everyone_else = WebSocketEvent::new(
        event_names::USER_UPDATED,
        Broadcast::to_everyone()
            .omitting(user_id)
            .with_sanitized_data(),
    )
    .with("user", user_json(&copies.for_everyone_else));
    let own = WebSocketEvent::new(event_names::USER_UPDATED, Broadcast::to_user(user_id))
        .with("user", user_json(&copies.own));
    [for_system_admins, for_everyone_else, own]
}

/// A user as an object in the event's data (Mattermost's shape; posts travel as strings).
fn user_json(user: &User) -> serde_json::Value {
    serde_json::to_value(user).unwrap_or_default()
}

/// An event about a post (`post_edited`, `post_deleted`, ...), carrying it as a JSON string
/// (Mattermost's shape), to the post's channel.
pub fn post_event(name: &str, post: &Post) -> WebSocketEvent {
    WebSocketEvent::new(name, Broadcast::to_channel(&post.channel_id))
        .with("post", serde_json::to_string(post).unwrap_or_default())
}

/// The `posted` event of a new post.
pub fn posted_event(
    post: &Post,
    channel: &Channel,
    sender: &User,
    mentioned_user_ids: &[String],
) -> WebSocketEvent {
    let mut event = post_event(event_names::POSTED, post)
        .with("channel_display_name", channel.display_name.clone())
        .with("channel_name", channel.name.clone())
        .with("channel_type", channel.channel_type.clone())
        .with("sender_name", sender.sender_name())
        .with("team_id", channel.team_id.clone())
        .with("set_online", true);
    if !mentioned_user_ids.is_empty() {
        event = event.with(
            "mentions",
            serde_json::to_string(mentioned_user_ids).unwrap_or_default(),
        );
    }
    event
}

/// `reaction_added` or `reaction_removed`, to the reaction's channel.
pub fn reaction_event(name: &str, reaction: &Reaction) -> WebSocketEvent {
    WebSocketEvent::new(name, Broadcast::to_channel(&reaction.channel_id)).with(
        "reaction",
        serde_json::to_string(reaction).unwrap_or_default(),
    )
}

/// The `posted` event of a stored post as it was created (before any edit or deletion);
/// None when its channel, sender or mentions cannot be read.
pub(crate) async fn posted_as_created(
    directory: &dyn Directory,
    post: &Post,
) -> Option<WebSocketEvent> {
    let channel = directory.channel(post.channel_id.clone()).await?;
    let sender = directory.user(post.user_id.clone()).await?;
    let mentioned = directory
        .mentioned_user_ids(post.user_id.clone(), channel.clone(), post.message.clone())
        .await?;
    let as_created = Post {
        update_at: post.create_at,
        edit_at: 0,
        delete_at: 0,
        ..post.clone()
    };
    Some(posted_event(&as_created, &channel, &sender, &mentioned))
}

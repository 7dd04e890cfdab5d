//! Custom emoji (Mattermost's `Emoji`) and collapsed reply threads (`ThreadResponse`,
//! `Threads`): the JSON shapes clients read.

use crate::{Post, User};
use serde::{Deserialize, Serialize};

/// Longest custom emoji name (Mattermost's `EmojiNameMaxLength`).
pub const EMOJI_NAME_MAX_LENGTH: usize = 64;
/// `GET /emoji?sort=name`; any other non-empty sort is refused.
pub const EMOJI_SORT_BY_NAME: &str = "name";

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Emoji {
    pub id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub creator_id: String,
    pub name: String,
}

/// Body of POST /emoji/search.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct EmojiSearch {
    pub term: String,
    pub prefix_only: bool,
}

/// Mattermost's `IsValidAlphaNumHyphenUnderscorePlus` within the length limit: the shape of a
/// custom emoji's name (and of any emoji name a reaction may carry).
pub fn is_valid_emoji_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= EMOJI_NAME_MAX_LENGTH
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
}

/// One thread as its follower sees it (Mattermost's `ThreadResponse`).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct ThreadResponse {
    /// The root post's id.
    pub id: String,
    pub reply_count: i64,
    pub last_reply_at: i64,
    pub last_viewed_at: i64,
    /// Users who replied (or wrote the root), oldest first; only ids unless `extended`.
    pub participants: Vec<User>,
    pub post: Post,
    pub unread_replies: i64,
    pub unread_mentions: i64,
    pub is_urgent: bool,
    pub delete_at: i64,
}

/// GET /users/{id}/teams/{team_id}/threads (Mattermost's `Threads`).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct Threads {
    pub total: i64,
    pub total_unread_threads: i64,
    pub total_unread_mentions: i64,
    pub total_unread_urgent_mentions: i64,
    pub threads: Vec<ThreadResponse>,
}

//! Posts, post lists, reactions and search parameters.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Longest message Mattermost accepts (runes); longer posts get 400.
pub const POST_MESSAGE_MAX_RUNES: usize = 16383;

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct Post {
    pub id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub edit_at: i64,
    pub delete_at: i64,
    pub is_pinned: bool,
    pub user_id: String,
    pub channel_id: String,
    pub root_id: String,
    pub original_id: String,
    pub message: String,
    #[serde(rename = "type")]
    pub post_type: String,
    pub props: Map<String, Value>,
    pub hashtags: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pending_post_id: String,
    pub reply_count: i64,
    pub last_reply_at: i64,
    pub participants: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub file_ids: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub has_reactions: bool,
    pub metadata: PostMetadata,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct PostMetadata {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
}

/// Body of PUT /posts/{id}/patch.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct PostPatch {
    pub is_pinned: Option<bool>,
    pub message: Option<String>,
    pub props: Option<Map<String, Value>>,
    pub file_ids: Option<Vec<String>>,
    pub has_reactions: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct PostList {
    pub order: Vec<String>,
    pub posts: BTreeMap<String, Post>,
    pub next_post_id: String,
    pub prev_post_id: String,
    pub has_next: bool,
}

impl PostList {
    pub fn push(&mut self, post: Post) {
        self.order.push(post.id.clone());
        self.posts.insert(post.id.clone(), post);
    }

    /// Adds a post to `posts` without listing it in `order` (threads' roots and replies).
    pub fn add_related(&mut self, post: Post) {
        self.posts.entry(post.id.clone()).or_insert(post);
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct Reaction {
    pub user_id: String,
    pub post_id: String,
    pub emoji_name: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub remote_id: String,
    pub channel_id: String,
}

/// POST /teams/{id}/posts/search.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct SearchParameter {
    pub terms: String,
    pub is_or_search: bool,
    pub time_zone_offset: i64,
    pub include_deleted_channels: bool,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

/// Answer of a post search: a PostList with `matches`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct PostSearchResults {
    #[serde(flatten)]
    pub list: PostList,
    pub matches: Option<BTreeMap<String, Vec<String>>>,
}

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
    /// The live files the post's `file_ids` name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<crate::FileInfo>,
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

impl Post {
    /// What clients may see of a post: a deleted one keeps its id, times and props but not its
    /// text, files or metadata (Mattermost's `PreparePostForClient`). Every answer and event
    /// that carries a deleted post goes through this.
    pub fn shown_to_clients(mut self) -> Post {
        if self.delete_at != 0 {
            self.message = String::new();
            self.hashtags = String::new();
            self.file_ids = Vec::new();
            self.metadata = Default::default();
        }
        self
    }
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

/// Most search items (words, phrases, prefixes, exclusions, `from:`, `in:`) one search may
/// hold: each becomes a full-text condition, so the query's cost grows with their number.
pub const MAX_SEARCH_TERMS: usize = 64;
/// Longest search item, in characters. PostgreSQL refuses tsquery words over 2 KiB with an
/// error; 256 characters (at most 1 KiB of UTF-8) stays clear of it.
pub const MAX_SEARCH_TERM_LENGTH: usize = 256;

/// Search terms parsed from Mattermost's syntax: words, "quoted phrases", `prefix*`,
/// `-excluded`, `from:username`, `in:channel-name`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostSearch {
    pub words: Vec<String>,
    pub phrases: Vec<String>,
    pub prefixes: Vec<String>,
    pub excluded_words: Vec<String>,
    pub from_usernames: Vec<String>,
    pub in_channels: Vec<String>,
    pub is_or_search: bool,
}

impl PostSearch {
    pub fn parse(terms: &str, is_or_search: bool) -> PostSearch {
        let mut search = PostSearch {
            is_or_search,
            ..Default::default()
        };
        let mut rest = terms.trim();
        while !rest.is_empty() {
            if let Some(after_quote) = rest.strip_prefix('"') {
                let (phrase, remaining) = match after_quote.find('"') {
                    Some(end) => (&after_quote[..end], &after_quote[end + 1..]),
                    None => (after_quote, ""),
                };
                let phrase = phrase.trim();
                if !phrase.is_empty() {
                    search.phrases.push(phrase.to_string());
                }
                rest = remaining.trim_start();
                continue;
            }
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let token = &rest[..end];
            rest = rest[end..].trim_start();
            search.add_token(token);
        }
        search
    }

    fn add_token(&mut self, token: &str) {
        let lowered = token.to_lowercase();
        if let Some(username) = lowered.strip_prefix("from:") {
            let username = username.trim_start_matches('@');
            if !username.is_empty() {
                self.from_usernames.push(username.to_string());
            }
            return;
        }
        if let Some(channel) = lowered
            .strip_prefix("in:")
            .or_else(|| lowered.strip_prefix("channel:"))
        {
            let channel = channel.trim_start_matches('~');
            if !channel.is_empty() {
                self.in_channels.push(channel.to_string());
            }
            return;
        }
        if let Some(excluded) = lowered.strip_prefix('-') {
            let cleaned = clean_word(excluded);
            if !cleaned.is_empty() {
                self.excluded_words.push(cleaned);
            }
            return;
        }
        if let Some(prefix) = lowered.strip_suffix('*') {
            let cleaned = clean_word(prefix);
            if !cleaned.is_empty() {
                self.prefixes.push(cleaned);
            }
            return;
        }
        let cleaned = clean_word(&lowered);
        if !cleaned.is_empty() {
            self.words.push(cleaned);
        }
    }

    /// Refuses a search with more than [`MAX_SEARCH_TERMS`] items or an item longer than
    /// [`MAX_SEARCH_TERM_LENGTH`] with 400 `api.context.invalid_param.app_error` (terms), as
    /// Mattermost answers terms it cannot use, before any of it reaches the database.
    pub fn check_limits(&self) -> Result<(), crate::AppError> {
        let lists = [
            &self.words,
            &self.phrases,
            &self.prefixes,
            &self.excluded_words,
            &self.from_usernames,
            &self.in_channels,
        ];
        let mut count = 0;
        for list in lists {
            count += list.len();
            for term in list.iter() {
                if term.chars().count() > MAX_SEARCH_TERM_LENGTH {
                    return Err(crate::AppError::invalid_param("terms").with_detail(format!(
                        "a search term is longer than {MAX_SEARCH_TERM_LENGTH} characters"
                    )));
                }
            }
        }
        if count > MAX_SEARCH_TERMS {
            return Err(crate::AppError::invalid_param("terms").with_detail(format!(
                "{count} search terms, more than {MAX_SEARCH_TERMS}"
            )));
        }
        Ok(())
    }

    /// True when nothing would restrict the search (Mattermost answers an empty list).
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
            && self.phrases.is_empty()
            && self.prefixes.is_empty()
            && self.excluded_words.is_empty()
            && self.from_usernames.is_empty()
            && self.in_channels.is_empty()
    }
}

/// Keeps letters, digits, `_` and `-` inside a word; everything else separates or is dropped.
fn clean_word(word: &str) -> String {
    word.chars()
        .filter(|character| character.is_alphanumeric() || *character == '_' || *character == '-')
        .collect::<String>()
        .trim_matches('-')
        .to_string()
}

#[cfg(test)]
mod search_tests {
    use super::*;

    #[test]
    fn parses_words_phrases_and_modifiers() {
        let search = PostSearch::parse(
            r#"deploy "release notes" from:@Alice in:~town-square rel* -draft"#,
            false,
        );
        assert_eq!(search.words, vec!["deploy"]);
        assert_eq!(search.phrases, vec!["release notes"]);
        assert_eq!(search.from_usernames, vec!["alice"]);
        assert_eq!(search.in_channels, vec!["town-square"]);
        assert_eq!(search.prefixes, vec!["rel"]);
        assert_eq!(search.excluded_words, vec!["draft"]);
    }

    #[test]
    fn unterminated_quote_and_punctuation_are_harmless() {
        let search = PostSearch::parse(r#""open ended  'x'); DROP TABLE posts;--"#, true);
        assert_eq!(search.phrases.len(), 1);
        assert!(search.words.is_empty());
        assert!(PostSearch::parse("   ", false).is_empty());
    }

    #[test]
    fn too_many_or_too_long_terms_are_refused() {
        let many: Vec<String> = (0..=MAX_SEARCH_TERMS)
            .map(|index| format!("w{index}"))
            .collect();
        let error = PostSearch::parse(&many.join(" "), false)
            .check_limits()
            .unwrap_err();
        assert_eq!(
            (error.status_code, error.id.as_str()),
            (400, "api.context.invalid_param.app_error")
        );
        let long_prefix = format!("{}*", "a".repeat(MAX_SEARCH_TERM_LENGTH + 1));
        assert!(PostSearch::parse(&long_prefix, false)
            .check_limits()
            .is_err());
        let enough: Vec<String> = (0..MAX_SEARCH_TERMS)
            .map(|index| format!("w{index}"))
            .collect();
        assert!(PostSearch::parse(&enough.join(" "), false)
            .check_limits()
            .is_ok());
    }
}

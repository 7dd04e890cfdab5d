//! Integrations with Mattermost's JSON shapes: bots, incoming and outgoing webhooks, the
//! payload an outgoing webhook POSTs and the answer it may give.

use serde::{Deserialize, Serialize};

/// A bot account (`/api/v4/bots`): a user row with `is_bot` plus its owner.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct Bot {
    pub user_id: String,
    pub username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub owner_id: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub last_icon_update: i64,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

/// Body of PUT /bots/{id}: absent fields stay as they are.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct BotPatch {
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub description: Option<String>,
}

/// Mattermost's IncomingWebhook.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct IncomingWebhook {
    pub id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub user_id: String,
    pub channel_id: String,
    pub team_id: String,
    pub display_name: String,
    pub description: String,
    pub username: String,
    pub icon_url: String,
    pub channel_locked: bool,
}

/// Mattermost's OutgoingWebhook. `trigger_when`: 0 = the first word is a trigger word,
/// 1 = the first word starts with one.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct OutgoingWebhook {
    pub id: String,
    pub token: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub creator_id: String,
    pub channel_id: String,
    pub team_id: String,
    pub trigger_words: Vec<String>,
    pub trigger_when: i32,
    pub callback_urls: Vec<String>,
    pub display_name: String,
    pub description: String,
    pub content_type: String,
    pub username: String,
    pub icon_url: String,
}

pub const TRIGGER_WORDS_EXACT_MATCH: i32 = 0;
pub const TRIGGER_WORDS_STARTS_WITH: i32 = 1;
pub const CONTENT_TYPE_JSON: &str = "application/json";
pub const CONTENT_TYPE_FORM: &str = "application/x-www-form-urlencoded";

impl OutgoingWebhook {
    /// The trigger word a message's first word matched, as Mattermost reports it in the
    /// payload (`""` for a channel hook without trigger words).
    pub fn trigger_word_for(&self, first_word: &str) -> String {
        self.trigger_words
            .iter()
            .find(|word| {
                !word.is_empty()
                    && match self.trigger_when {
                        TRIGGER_WORDS_STARTS_WITH => first_word.starts_with(word.as_str()),
                        _ => first_word == word.as_str(),
                    }
            })
            .cloned()
            .unwrap_or_default()
    }
}

/// What an outgoing webhook POSTs to its callback URLs (JSON, or the same keys as a form).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct OutgoingWebhookPayload {
    pub token: String,
    pub team_id: String,
    pub team_domain: String,
    pub channel_id: String,
    pub channel_name: String,
    pub timestamp: i64,
    pub user_id: String,
    pub user_name: String,
    pub post_id: String,
    pub text: String,
    pub trigger_word: String,
    pub file_ids: String,
}

impl OutgoingWebhookPayload {
    /// The form keys and values, in Mattermost's order.
    pub fn form_fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("token", self.token.clone()),
            ("team_id", self.team_id.clone()),
            ("team_domain", self.team_domain.clone()),
            ("channel_id", self.channel_id.clone()),
            ("channel_name", self.channel_name.clone()),
            ("timestamp", self.timestamp.to_string()),
            ("user_id", self.user_id.clone()),
            ("user_name", self.user_name.clone()),
            ("post_id", self.post_id.clone()),
            ("text", self.text.clone()),
            ("trigger_word", self.trigger_word.clone()),
            ("file_ids", self.file_ids.clone()),
        ]
    }
}

/// What a callback may answer: its text is posted back in the channel as the hook's creator.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct OutgoingWebhookResponse {
    pub text: Option<String>,
    pub username: String,
    pub icon_url: String,
    pub props: serde_json::Map<String, serde_json::Value>,
    pub attachments: Option<serde_json::Value>,
    #[serde(rename = "type")]
    pub post_type: String,
    pub response_type: String,
}

/// Body of POST /hooks/{id} (JSON, or the `payload` form field). Slack's field names.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct IncomingWebhookRequest {
    pub text: String,
    pub username: String,
    pub icon_url: String,
    #[serde(rename = "channel")]
    pub channel_name: String,
    pub props: serde_json::Map<String, serde_json::Value>,
    pub attachments: Option<serde_json::Value>,
    #[serde(rename = "type")]
    pub post_type: String,
    pub icon_emoji: String,
}

/// A custom slash command (`/api/v4/commands`), or a built-in one as autocomplete lists it.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct Command {
    pub id: String,
    pub token: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub creator_id: String,
    pub team_id: String,
    pub trigger: String,
    /// "P" (POST a form) or "G" (GET with the fields in the query).
    pub method: String,
    pub username: String,
    pub icon_url: String,
    pub auto_complete: bool,
    pub auto_complete_desc: String,
    pub auto_complete_hint: String,
    pub display_name: String,
    pub description: String,
    pub url: String,
}

pub const COMMAND_METHOD_POST: &str = "P";
pub const COMMAND_METHOD_GET: &str = "G";

impl Command {
    /// What users other than its managers see: no token, creator or URL (Mattermost's
    /// `Sanitize`).
    pub fn sanitized(mut self) -> Command {
        self.token.clear();
        self.creator_id.clear();
        self.method.clear();
        self.url.clear();
        self.username.clear();
        self.icon_url.clear();
        self
    }
}

/// Body of POST /commands/execute.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct CommandArgs {
    pub command: String,
    pub channel_id: String,
    pub team_id: String,
    pub root_id: String,
    pub parent_id: String,
}

pub const COMMAND_RESPONSE_EPHEMERAL: &str = "ephemeral";
pub const COMMAND_RESPONSE_IN_CHANNEL: &str = "in_channel";

/// What a command answers (built-in, or a custom command's URL).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct CommandResponse {
    pub response_type: String,
    pub text: String,
    pub username: String,
    pub channel_id: String,
    pub icon_url: String,
    #[serde(rename = "type")]
    pub post_type: String,
    pub props: serde_json::Map<String, serde_json::Value>,
    pub goto_location: String,
    pub trigger_id: String,
    pub skip_slack_parsing: bool,
    pub attachments: Option<serde_json::Value>,
    pub extra_responses: Option<Vec<CommandResponse>>,
}

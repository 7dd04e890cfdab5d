//! Slash commands (issue 16): POST /commands/execute runs a team's custom command (a call to
//! its URL) or a built-in one; /commands manages custom commands; autocomplete lists both.
//!
//! Custom commands live in the database and are read from the master at each execution, so
//! one installed through any node runs on every node at once. An `ephemeral` answer goes to
//! the caller's connections only, on every node (`ephemeral_message`, never stored; the
//! user's `ephemeralsent` stamp makes a websocket rebuilt from the database resync instead
//! of missing it); an `in_channel` answer is a post of the caller's.

use crate::integrations::slack_links_to_markdown;
use crate::{App, AppResult};
use chorus_model::{
    event_names, is_valid_id, new_id, now_millis, AppError, Broadcast, Channel, ChannelPatch,
    Command, CommandArgs, CommandResponse, ErrorId, Post, Session, WebSocketEvent, CHANNEL_OPEN,
    COMMAND_METHOD_GET, COMMAND_METHOD_POST, COMMAND_RESPONSE_IN_CHANNEL,
};
use chorus_store::integrations as integration_store;
use chorus_store::{teams as team_store, users as user_store, StoreError};
use serde::Deserialize;
use std::sync::Arc;

/// Query of GET /commands.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CommandListQuery {
    pub team_id: Option<String>,
    pub custom_only: Option<bool>,
}

/// The built-in commands: trigger, autocomplete hint, description.
const BUILT_INS: &[(&str, &str, &str)] = &[
    ("away", "", "Set your status away"),
    ("dnd", "", "Do not disturb: no notifications"),
    (
        "echo",
        "\"message\" [delay in seconds]",
        "Echo back text from your account",
    ),
    ("header", "[text]", "Edit the channel header"),
    ("help", "", "Show the built-in commands"),
    (
        "invite",
        "@[username] ~[channel]",
        "Invite a user to a channel",
    ),
    ("join", "~[channel]", "Join the open channel"),
    ("kick", "@[username]", "Remove a member from the channel"),
    ("leave", "", "Leave the current channel"),
    ("me", "[message]", "Do an action"),
    (
        "msg",
        "@[username] [message]",
        "Send a direct message to a user",
    ),
    (
        "mute",
        "~[channel]",
        "Turn off notifications for the current or specified channel",
    ),
    ("offline", "", "Set your status offline"),
    ("online", "", "Set your status online"),
    ("purpose", "[text]", "Edit the channel purpose"),
    ("remove", "@[username]", "Remove a member from the channel"),
    ("rename", "[text]", "Rename the channel"),
    ("shrug", "[message]", "Adds ¯\\_(ツ)_/¯ to your message"),
];

fn built_in_command(trigger: &str) -> Option<Command> {
    BUILT_INS
        .iter()
        .find(|(name, ..)| *name == trigger)
        .map(|(name, hint, description)| Command {
            trigger: name.to_string(),
            auto_complete: true,
            auto_complete_desc: description.to_string(),
            auto_complete_hint: hint.to_string(),
            display_name: name.to_string(),
            description: description.to_string(),
            ..Default::default()
        })
}

fn ephemeral(text: impl Into<String>) -> CommandResponse {
    CommandResponse {
        text: text.into(),
        ..Default::default()
    }
}

fn in_channel(text: impl Into<String>) -> CommandResponse {
    CommandResponse {
        response_type: COMMAND_RESPONSE_IN_CHANNEL.to_string(),
        text: text.into(),
        ..Default::default()
    }
}

/// The first word (without `@` or `~`) and the rest.
fn first_word(message: &str, sigil: char) -> (String, String) {
    let message = message.trim();
    let (word, rest) = message
        .split_once(char::is_whitespace)
        .unwrap_or((message, ""));
    (
        word.trim_start_matches(sigil).to_lowercase(),
        rest.trim().to_string(),
    )
}

/// One suggestion of [`App::command_suggestions`], with Mattermost's JSON names.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AutocompleteSuggestion {
    #[serde(rename = "Complete")]
    pub complete: String,
    #[serde(rename = "Suggestion")]
    pub suggestion: String,
    #[serde(rename = "Hint")]
    pub hint: String,
    #[serde(rename = "Description")]
    pub description: String,
    #[serde(rename = "IconData")]
    pub icon_data: String,
}

impl App {
    fn require_commands(&self) -> AppResult<()> {
        if self.config().service_settings.enable_commands {
            Ok(())
        } else {
            Err(ErrorId::CommandsDisabled.into())
        }
    }

    // ---- custom commands ----

    /// POST /commands: by a team admin of `team_id`.
    pub async fn create_command(
        &self,
        session: &Session,
        mut command: Command,
    ) -> AppResult<Command> {
        self.require_commands()?;
        if !is_valid_id(&command.team_id) {
            return Err(AppError::invalid_param("team_id"));
        }
        self.require_team_admin(session, &command.team_id).await?;
        self.check_command(&mut command, None).await?;
        let now = now_millis();
        command.id = new_id();
        command.token = new_id();
        command.creator_id = session.user_id.clone();
        command.create_at = now;
        command.update_at = now;
        command.delete_at = 0;
        let db = self.store().master().await?;
        integration_store::insert_command(&db, &command).await?;
        Ok(command)
    }

    /// Mattermost's checks: a trigger (lowercased) no built-in or other team command uses, an
    /// http(s) URL, method P or G, and its field limits.
    async fn check_command(&self, command: &mut Command, own_id: Option<&str>) -> AppResult<()> {
        command.trigger = command.trigger.trim().to_lowercase();
        if command.trigger.is_empty()
            || command.trigger.chars().count() > 128
            || command.trigger.starts_with('/')
            || command.trigger.contains(char::is_whitespace)
        {
            return Err(ErrorId::CommandTriggerInvalid.into());
        }
        if command.method.is_empty() {
            command.method = COMMAND_METHOD_POST.to_string();
        }
        if command.method != COMMAND_METHOD_POST && command.method != COMMAND_METHOD_GET {
            return Err(ErrorId::CommandMethodInvalid.into());
        }
        crate::outbox::check_callback_url(&command.url)
            .map_err(|reason| ErrorId::CommandUrlInvalid.with_param("reason", reason))?;
        let too_long = command.display_name.chars().count() > 64
            || command.description.chars().count() > 128
            || command.username.chars().count() > 64
            || command.icon_url.len() > 1024
            || command.auto_complete_desc.chars().count() > 1024
            || command.auto_complete_hint.chars().count() > 1024;
        if too_long {
            return Err(ErrorId::CommandTextInvalid.into());
        }
        if built_in_command(&command.trigger).is_some() {
            return Err(ErrorId::CommandDuplicateTrigger.into());
        }
        let db = self.store().master().await?;
        let taken = integration_store::commands_of_team(&db, &command.team_id)
            .await?
            .iter()
            .any(|other| other.trigger == command.trigger && Some(other.id.as_str()) != own_id);
        if taken {
            return Err(ErrorId::CommandDuplicateTrigger.into());
        }
        Ok(())
    }

    async fn managed_command(&self, session: &Session, command_id: &str) -> AppResult<Command> {
        self.require_commands()?;
        if !is_valid_id(command_id) {
            return Err(AppError::invalid_param("command_id"));
        }
        let db = self.store().master().await?;
        let command = integration_store::get_command(&db, command_id).await?;
        drop(db);
        self.require_team_admin(session, &command.team_id).await?;
        Ok(command)
    }

    pub async fn get_command(&self, session: &Session, command_id: &str) -> AppResult<Command> {
        self.managed_command(session, command_id).await
    }

    /// GET /commands?team_id=: with `custom_only`, the team's commands (team admins);
    /// otherwise the built-ins and the team's commands, sanitized (team members).
    pub async fn list_commands(
        &self,
        session: &Session,
        query: CommandListQuery,
    ) -> AppResult<Vec<Command>> {
        let team_id = query.team_id.unwrap_or_default();
        if !is_valid_id(&team_id) {
            return Err(AppError::invalid_param("team_id"));
        }
        let custom_only = query.custom_only.unwrap_or(false);
        if custom_only {
            self.require_commands()?;
            self.require_team_admin(session, &team_id).await?;
            let db = self.store().master().await?;
            return Ok(integration_store::commands_of_team(&db, &team_id).await?);
        }
        self.require_team_member(session, &team_id).await?;
        self.team_commands(&team_id, false).await
    }

    /// GET /teams/{id}/commands/autocomplete.
    pub async fn autocomplete_commands(
        &self,
        session: &Session,
        team_id: &str,
    ) -> AppResult<Vec<Command>> {
        self.require_team_member(session, team_id).await?;
        self.team_commands(team_id, true).await
    }

    /// GET /teams/{id}/commands/autocomplete_suggestions?user_input=…: what the message box
    /// offers while a command is typed (Mattermost's `AutocompleteSuggestion`s). While the
    /// first word is typed, the commands whose trigger starts with it; once it is complete
    /// and followed by a space, that command's hint for its arguments.
    pub async fn command_suggestions(
        &self,
        session: &Session,
        team_id: &str,
        user_input: &str,
    ) -> AppResult<Vec<AutocompleteSuggestion>> {
        if user_input.is_empty() {
            return Err(AppError::invalid_param("userInput"));
        }
        let input = user_input.strip_prefix('/').unwrap_or(user_input);
        let commands = self.autocomplete_commands(session, team_id).await?;
        let (word, rest) = match input.split_once(' ') {
            Some((word, rest)) => (word.to_lowercase(), Some(rest)),
            None => (input.to_lowercase(), None),
        };
        let mut suggestions: Vec<AutocompleteSuggestion> = match rest {
            None => commands
                .iter()
                .filter(|command| command.trigger.starts_with(&word))
                .map(|command| AutocompleteSuggestion {
                    complete: command.trigger.clone(),
                    suggestion: format!("/{}", command.trigger),
                    hint: command.auto_complete_hint.clone(),
                    description: command.auto_complete_desc.clone(),
                    icon_data: String::new(),
                })
                .collect(),
            Some(rest) => commands
                .iter()
                .filter(|command| command.trigger == word && !command.auto_complete_hint.is_empty())
                .map(|command| AutocompleteSuggestion {
                    complete: format!("{} {rest}", command.trigger),
                    suggestion: String::new(),
                    hint: command.auto_complete_hint.clone(),
                    description: command.auto_complete_desc.clone(),
                    icon_data: String::new(),
                })
                .collect(),
        };
        suggestions.sort_by(|a, b| a.complete.cmp(&b.complete));
        suggestions.dedup_by(|a, b| a.complete == b.complete);
        Ok(suggestions)
    }

    /// Built-ins, then the team's custom commands (with EnableCommands), sanitized.
    async fn team_commands(
        &self,
        team_id: &str,
        autocomplete_only: bool,
    ) -> AppResult<Vec<Command>> {
        let mut commands: Vec<Command> = BUILT_INS
            .iter()
            .filter_map(|(trigger, ..)| built_in_command(trigger))
            .collect();
        if self.config().service_settings.enable_commands {
            let db = self.store().master().await?;
            for command in integration_store::commands_of_team(&db, team_id).await? {
                if !autocomplete_only || command.auto_complete {
                    commands.push(command.sanitized());
                }
            }
        }
        Ok(commands)
    }

    pub async fn update_command(
        &self,
        session: &Session,
        command_id: &str,
        mut command: Command,
    ) -> AppResult<Command> {
        let old = self.managed_command(session, command_id).await?;
        if !command.id.is_empty() && command.id != command_id {
            return Err(AppError::invalid_param("command_id"));
        }
        command.id = old.id.clone();
        command.team_id = old.team_id.clone();
        self.check_command(&mut command, Some(&old.id)).await?;
        command.token = old.token.clone();
        command.update_at = now_millis();
        let db = self.store().master().await?;
        Ok(integration_store::update_command(&db, &command).await?)
    }

    pub async fn delete_command(&self, session: &Session, command_id: &str) -> AppResult<()> {
        self.managed_command(session, command_id).await?;
        let db = self.store().master().await?;
        Ok(integration_store::delete_command(&db, command_id, now_millis()).await?)
    }

    /// PUT /commands/{id}/regen_token: the new token.
    pub async fn regenerate_command_token(
        &self,
        session: &Session,
        command_id: &str,
    ) -> AppResult<String> {
        let mut command = self.managed_command(session, command_id).await?;
        command.token = new_id();
        command.update_at = now_millis();
        let db = self.store().master().await?;
        Ok(integration_store::update_command(&db, &command)
            .await?
            .token)
    }

    // ---- execution ----

    /// POST /commands/execute: a team's custom command overrides a built-in of the same
    /// trigger, as in Mattermost.
    pub async fn execute_command(
        &self,
        session: &Session,
        args: CommandArgs,
    ) -> AppResult<CommandResponse> {
        self.require_commands()?;
        let command_line = args.command.trim_start();
        let (trigger, message) = match command_line.split_once(char::is_whitespace) {
            Some((trigger, message)) => (trigger.to_lowercase(), message.to_string()),
            None => (command_line.to_lowercase(), String::new()),
        };
        let Some(trigger) = trigger.strip_prefix('/').map(str::to_string) else {
            return Err(ErrorId::CommandFormat.into());
        };
        if !is_valid_id(&args.channel_id) {
            return Err(AppError::invalid_param("channel_id"));
        }
        let channel = self
            .require_channel_member(session, &args.channel_id)
            .await
            .map_err(|_| AppError::from(ErrorId::CommandNoPermission))?;
        let team_id = if args.team_id.is_empty() {
            channel.team_id.clone()
        } else {
            args.team_id.clone()
        };
        let root_id = if args.root_id.is_empty() {
            args.parent_id.clone()
        } else {
            args.root_id.clone()
        };
        let custom = if is_valid_id(&team_id) {
            let db = self.store().master().await?;
            integration_store::commands_of_team(&db, &team_id)
                .await?
                .into_iter()
                .find(|command| command.trigger == trigger)
        } else {
            None
        };
        let response = match &custom {
            Some(command) => {
                self.call_custom_command(session, command, &channel, &message, &root_id)
                    .await?
            }
            None => match self
                .run_built_in(session, &channel, &team_id, &trigger, &message)
                .await?
            {
                Some(response) => response,
                None => {
                    let shown: String = trigger.chars().take(512).collect();
                    return Err(ErrorId::CommandTriggerNotFound.with_param("trigger", shown));
                }
            },
        };
        self.handle_command_response(session, &channel, &root_id, custom.as_ref(), &response)
            .await?;
        for extra in response.extra_responses.iter().flatten() {
            self.handle_command_response(session, &channel, &root_id, custom.as_ref(), extra)
                .await?;
        }
        Ok(response)
    }

    /// Posts an `in_channel` answer as the caller, or sends an ephemeral one to the caller.
    async fn handle_command_response(
        &self,
        session: &Session,
        channel: &Arc<Channel>,
        root_id: &str,
        custom: Option<&Command>,
        response: &CommandResponse,
    ) -> AppResult<()> {
        let service = self.config().service_settings.clone();
        let channel = if response.channel_id.is_empty() || response.channel_id == channel.id {
            channel.clone()
        } else {
            self.require_channel_member(session, &response.channel_id)
                .await?
        };
        let mut props = response.props.clone();
        for key in [
            "from_webhook",
            "override_username",
            "override_icon_url",
            "override_icon_emoji",
        ] {
            props.remove(key);
        }
        let mut is_bot_post = custom.is_some();
        if service.enable_post_username_override {
            let username = custom
                .map(|command| command.username.clone())
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| response.username.clone());
            if !username.is_empty() {
                props.insert("override_username".to_string(), username.into());
                is_bot_post = true;
            }
        }
        if service.enable_post_icon_override {
            let icon_url = custom
                .map(|command| command.icon_url.clone())
                .filter(|url| !url.is_empty())
                .unwrap_or_else(|| response.icon_url.clone());
            if !icon_url.is_empty() {
                props.insert("override_icon_url".to_string(), icon_url.into());
                is_bot_post = true;
            }
        }
        if is_bot_post {
            props.insert("from_webhook".to_string(), "true".into());
        }
        let has_attachments = response
            .attachments
            .as_ref()
            .is_some_and(|value| !value.is_null());
        if let Some(attachments) = response
            .attachments
            .clone()
            .filter(|value| !value.is_null())
        {
            props.insert("attachments".to_string(), attachments);
        }
        if response.post_type.starts_with("system_") {
            return Err(AppError::invalid_param("post.type"));
        }
        let message = if response.skip_slack_parsing {
            response.text.clone()
        } else {
            slack_links_to_markdown(&response.text)
        };
        let post = Post {
            channel_id: channel.id.clone(),
            root_id: root_id.to_string(),
            user_id: session.user_id.clone(),
            message,
            post_type: response.post_type.clone(),
            props,
            ..Default::default()
        };
        if response.response_type == COMMAND_RESPONSE_IN_CHANNEL {
            if post.message.trim().is_empty() && !has_attachments {
                return Ok(());
            }
            let sender = self.cached_user(&session.user_id).await?;
            self.create_integration_post(sender, channel, post, true)
                .await?;
        } else if !response.text.is_empty() || has_attachments {
            self.send_ephemeral(&session.user_id, post).await?;
        }
        Ok(())
    }

    /// An `ephemeral_message` to the user's connections on every node. Stamped first, so a
    /// websocket rebuilt after this node's death knows it may have missed one.
    pub(crate) async fn send_ephemeral(&self, user_id: &str, mut post: Post) -> AppResult<()> {
        let now = now_millis();
        post.id = new_id();
        post.create_at = now;
        post.update_at = now;
        post.user_id = user_id.to_string();
        post.post_type = "system_ephemeral".to_string();
        let db = self.store().master().await?;
        integration_store::note_ephemeral_sent(&db, user_id, now).await?;
        drop(db);
        let mut broadcast = Broadcast::to_user(user_id);
        broadcast.channel_id = post.channel_id.clone();
        self.publish(
            WebSocketEvent::new(event_names::EPHEMERAL_MESSAGE, broadcast)
                .with("post", serde_json::to_string(&post).unwrap_or_default()),
        );
        Ok(())
    }

    /// Calls a custom command's URL (Mattermost's fields, `Authorization: Token <token>`),
    /// under the same address rules, timeout and answer size limit as outgoing webhooks.
    async fn call_custom_command(
        &self,
        session: &Session,
        command: &Command,
        channel: &Channel,
        message: &str,
        root_id: &str,
    ) -> AppResult<CommandResponse> {
        let failed = |detail: String| {
            ErrorId::CommandFailed
                .with_param("trigger", &command.trigger)
                .with_detail(detail)
        };
        let db = self.store().master().await?;
        let team = team_store::get(&db, &command.team_id).await?;
        let user = user_store::get(&db, &session.user_id).await?;
        drop(db);
        let fields: Vec<(&str, String)> = vec![
            ("token", command.token.clone()),
            ("team_id", command.team_id.clone()),
            ("team_domain", team.name.clone()),
            ("channel_id", channel.id.clone()),
            ("channel_name", channel.name.clone()),
            ("user_id", user.id.clone()),
            ("user_name", user.username.clone()),
            ("command", format!("/{}", command.trigger)),
            ("text", message.to_string()),
            ("trigger_id", String::new()),
            ("root_id", root_id.to_string()),
        ];
        let service = self.config().service_settings.clone();
        let addresses = crate::outbox::allowed_addresses(
            &command.url,
            &service.allowed_untrusted_internal_connections,
        )
        .await
        .map_err(failed)?;
        let url = reqwest::Url::parse(&command.url).map_err(|error| failed(error.to_string()))?;
        let host = url.host_str().unwrap_or_default().to_string();
        let timeout = std::time::Duration::from_secs(
            service.outgoing_integration_requests_timeout.clamp(1, 300) as u64,
        );
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .resolve_to_addrs(&host, &addresses)
            .build()
            .map_err(|error| failed(error.to_string()))?;
        let request = if command.method == COMMAND_METHOD_GET {
            client.get(url).query(&fields)
        } else {
            client.post(url).form(&fields)
        };
        let mut answer = request
            .header("Accept", "application/json")
            .header("Authorization", format!("Token {}", command.token))
            .send()
            .await
            .map_err(|error| failed(error.to_string()))?;
        let status = answer.status();
        let content_type = answer
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let mut body = Vec::new();
        while let Some(chunk) = answer
            .chunk()
            .await
            .map_err(|error| failed(error.to_string()))?
        {
            let room = crate::outbox::MAX_RESPONSE_BYTES.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if room <= chunk.len() {
                break;
            }
        }
        if status != reqwest::StatusCode::OK {
            return Err(ErrorId::CommandFailedResponse
                .with_param("trigger", &command.trigger)
                .with_param("status", status)
                .with_detail(String::from_utf8_lossy(&body).into_owned()));
        }
        if content_type.starts_with("application/json") {
            let parsed: Option<CommandResponse> =
                serde_json::from_slice(&body).map_err(|error| failed(error.to_string()))?;
            parsed
                .ok_or_else(|| ErrorId::CommandFailedEmpty.with_param("trigger", &command.trigger))
        } else {
            Ok(ephemeral(String::from_utf8_lossy(&body).into_owned()))
        }
    }

    /// A built-in command's answer; None when there is no such built-in.
    async fn run_built_in(
        &self,
        session: &Session,
        channel: &Arc<Channel>,
        team_id: &str,
        trigger: &str,
        message: &str,
    ) -> AppResult<Option<CommandResponse>> {
        let response = match trigger {
            "me" => CommandResponse {
                post_type: "me".to_string(),
                ..in_channel(format!("*{message}*"))
            },
            "shrug" => {
                let shrug = "¯\\\\\\_(ツ)\\_/¯";
                in_channel(if message.is_empty() {
                    shrug.to_string()
                } else {
                    format!("{message} {shrug}")
                })
            }
            "echo" => self.echo(session, channel, message).await?,
            "help" => ephemeral(help_text()),
            "away" | "online" | "dnd" | "offline" => {
                self.set_status_manually(session, &session.user_id, trigger, 0)
                    .await?;
                ephemeral(match trigger {
                    "away" => "You are now away",
                    "online" => "You are now online",
                    "dnd" => "Do Not Disturb is enabled. You will not receive desktop or mobile notifications until Do Not Disturb is turned off.",
                    _ => "You are now offline",
                })
            }
            "header" | "purpose" | "rename" => {
                if message.trim().is_empty() {
                    return Ok(Some(ephemeral(format!(
                        "A message must be provided with the /{trigger} command."
                    ))));
                }
                let text = Some(message.to_string());
                let patch = match trigger {
                    "header" => ChannelPatch {
                        header: text,
                        ..Default::default()
                    },
                    "purpose" => ChannelPatch {
                        purpose: text,
                        ..Default::default()
                    },
                    _ => ChannelPatch {
                        display_name: text,
                        ..Default::default()
                    },
                };
                match self.patch_channel(session, &channel.id, patch).await {
                    Ok(_) => CommandResponse::default(),
                    Err(error) => ephemeral(error.message),
                }
            }
            "join" => self.join_command(session, team_id, message).await?,
            "leave" => {
                let team = self.team_name(team_id).await;
                match self
                    .remove_channel_member(session, &channel.id, &session.user_id)
                    .await
                {
                    Ok(()) => CommandResponse {
                        goto_location: format!("/{team}/channels/town-square"),
                        ..Default::default()
                    },
                    Err(error) => ephemeral(error.message),
                }
            }
            "msg" => self.msg_command(session, team_id, message).await?,
            "invite" => {
                self.invite_command(session, channel, team_id, message)
                    .await?
            }
            "kick" | "remove" => {
                let (username, _) = first_word(message, '@');
                match self.user_by_name(&username).await? {
                    None => ephemeral("We couldn't find the user."),
                    Some(user) => match self
                        .remove_channel_member(session, &channel.id, &user.id)
                        .await
                    {
                        Ok(()) => CommandResponse::default(),
                        Err(error) => ephemeral(error.message),
                    },
                }
            }
            "mute" => {
                self.mute_command(session, channel, team_id, message)
                    .await?
            }
            _ => return Ok(None),
        };
        Ok(Some(response))
    }

    async fn team_name(&self, team_id: &str) -> String {
        match self.store().master().await {
            Ok(db) => team_store::get(&db, team_id)
                .await
                .map(|team| team.name)
                .unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    async fn user_by_name(&self, username: &str) -> AppResult<Option<chorus_model::User>> {
        let db = self.store().master().await?;
        match user_store::get_by_username(&db, username).await {
            Ok(user) if user.delete_at == 0 => Ok(Some(user)),
            Ok(_) | Err(StoreError::NotFound(_)) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    async fn channel_in_team(&self, team_id: &str, name: &str) -> AppResult<Option<Channel>> {
        let db = self.store().master().await?;
        match chorus_store::channels::get_by_name(&db, team_id, name).await {
            Ok(channel) if channel.delete_at == 0 => Ok(Some(channel)),
            Ok(_) | Err(StoreError::NotFound(_)) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    /// /echo "message" [delay]: the message posted as the caller, after up to 10000 s.
    async fn echo(
        &self,
        session: &Session,
        channel: &Arc<Channel>,
        message: &str,
    ) -> AppResult<CommandResponse> {
        let message = message.trim();
        if message.is_empty() {
            return Ok(ephemeral(
                "A message must be provided with the /echo command.",
            ));
        }
        let (text, delay) = match message
            .strip_prefix('"')
            .and_then(|rest| rest.rsplit_once('"'))
        {
            Some((text, after)) => (text.to_string(), after.trim().parse::<u64>().unwrap_or(0)),
            None => (message.to_string(), 0),
        };
        if delay > 10_000 {
            return Ok(ephemeral("Delays must be under 10000 seconds."));
        }
        if delay == 0 {
            return Ok(in_channel(text));
        }
        let app = self.clone();
        let user_id = session.user_id.clone();
        let channel = channel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(delay)).await;
            let Ok(sender) = app.cached_user(&user_id).await else {
                return;
            };
            let post = Post {
                message: text,
                ..Default::default()
            };
            if let Err(error) = app
                .create_integration_post(sender, channel, post, true)
                .await
            {
                tracing::info!(error = %error.message, "a delayed /echo was not posted");
            }
        });
        Ok(CommandResponse::default())
    }

    async fn join_command(
        &self,
        session: &Session,
        team_id: &str,
        message: &str,
    ) -> AppResult<CommandResponse> {
        let (name, _) = first_word(message, '~');
        if name.is_empty() {
            return Ok(ephemeral(
                "A channel name must be provided with the /join command.",
            ));
        }
        let Some(target) = self.channel_in_team(team_id, &name).await? else {
            return Ok(ephemeral("Unable to find the channel."));
        };
        if target.channel_type != CHANNEL_OPEN
            && !self
                .channel_member_ids(&target.id)
                .await?
                .contains(&session.user_id)
        {
            return Ok(ephemeral("Unable to find the channel."));
        }
        if let Err(error) = self
            .add_channel_member(session, &target.id, &session.user_id)
            .await
        {
            return Ok(ephemeral(error.message));
        }
        let team = self.team_name(team_id).await;
        Ok(CommandResponse {
            goto_location: format!("/{team}/channels/{}", target.name),
            ..Default::default()
        })
    }

    async fn msg_command(
        &self,
        session: &Session,
        team_id: &str,
        message: &str,
    ) -> AppResult<CommandResponse> {
        let (username, text) = first_word(message, '@');
        let Some(user) = self.user_by_name(&username).await? else {
            return Ok(ephemeral("We couldn't find the user."));
        };
        let direct = self
            .create_direct_channel(session, vec![session.user_id.clone(), user.id.clone()])
            .await?;
        if !text.is_empty() {
            let post = Post {
                channel_id: direct.id.clone(),
                message: text,
                ..Default::default()
            };
            self.create_post(session, post).await?;
        }
        let team = self.team_name(team_id).await;
        Ok(CommandResponse {
            goto_location: format!("/{team}/messages/@{}", user.username),
            ..Default::default()
        })
    }

    async fn invite_command(
        &self,
        session: &Session,
        channel: &Arc<Channel>,
        team_id: &str,
        message: &str,
    ) -> AppResult<CommandResponse> {
        let (username, rest) = first_word(message, '@');
        if username.is_empty() {
            return Ok(ephemeral(
                "A user must be provided with the /invite command.",
            ));
        }
        let Some(user) = self.user_by_name(&username).await? else {
            return Ok(ephemeral("We couldn't find the user."));
        };
        let (channel_name, _) = first_word(&rest, '~');
        let target = if channel_name.is_empty() {
            (**channel).clone()
        } else {
            match self.channel_in_team(team_id, &channel_name).await? {
                Some(target) => target,
                None => return Ok(ephemeral("Unable to find the channel.")),
            }
        };
        Ok(
            match self.add_channel_member(session, &target.id, &user.id).await {
                Ok(_) => ephemeral(format!(
                    "@{} added to {} channel.",
                    user.username, target.display_name
                )),
                Err(error) => ephemeral(error.message),
            },
        )
    }

    /// /mute toggles the channel's `mark_unread` between `mention` (muted) and `all`.
    async fn mute_command(
        &self,
        session: &Session,
        channel: &Arc<Channel>,
        team_id: &str,
        message: &str,
    ) -> AppResult<CommandResponse> {
        let (channel_name, _) = first_word(message, '~');
        let target = if channel_name.is_empty() {
            (**channel).clone()
        } else {
            match self.channel_in_team(team_id, &channel_name).await? {
                Some(target) => target,
                None => return Ok(ephemeral("Unable to find the channel.")),
            }
        };
        let member = match self
            .get_channel_member(session, &target.id, &session.user_id)
            .await
        {
            Ok(member) => member,
            Err(_) => return Ok(ephemeral("You are not a member of that channel.")),
        };
        let muted = member
            .notify_props
            .get("mark_unread")
            .and_then(|value| value.as_str())
            == Some("mention");
        let mut changes = serde_json::Map::new();
        changes.insert(
            "mark_unread".to_string(),
            (if muted { "all" } else { "mention" }).into(),
        );
        self.update_channel_notify_props(session, &target.id, &session.user_id, changes)
            .await?;
        Ok(ephemeral(if muted {
            format!("~{} is no longer muted.", target.name)
        } else {
            format!(
                "You will not receive notifications for ~{} until channel mute is turned off.",
                target.name
            )
        }))
    }
}

fn help_text() -> String {
    let mut text = String::from("Built-in slash commands:\n");
    for (trigger, hint, description) in BUILT_INS {
        text.push_str(&format!("- `/{trigger} {hint}` {description}\n"));
    }
    text
}

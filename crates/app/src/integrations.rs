//! Integrations (issue 16): bot accounts, incoming webhooks (a POST to /hooks/{id} becomes a
//! post) and outgoing webhooks (their deliveries are queued with the triggering post and made
//! by `outbox`). Everything lives in the database and is read from the master at each use, so
//! an integration created, changed or deleted through one node is live on every node at once,
//! and a restarted node has nothing to reload.
//!
//! Permissions follow Mattermost's default roles: bots are created by system admins (and only
//! with EnableBotAccountCreation), read and managed by their owner or a system admin;
//! webhooks are managed by team admins of their team and system admins.

use crate::cache::{self, ReadFrom};
use crate::{require_system_admin, App, AppResult};
use chorus_cluster::ClusterMessage;
use chorus_model::{
    event_names, is_valid_id, new_id, now_millis, AppError, Bot, BotPatch, Broadcast, Channel,
    ErrorId, IncomingWebhook, IncomingWebhookRequest, OutgoingWebhook, Post, Session, User,
    WebSocketEvent, CHANNEL_OPEN, CONTENT_TYPE_FORM, CONTENT_TYPE_JSON, ROLE_SYSTEM_USER,
    TRIGGER_WORDS_EXACT_MATCH, TRIGGER_WORDS_STARTS_WITH,
};
use chorus_store::integrations::{self as integration_store, BotFilter};
use chorus_store::StoreError;
use chorus_store::{channels as channel_store, sessions as session_store, users as user_store};
use serde::Deserialize;
use std::sync::Arc;

/// Query of GET /bots.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BotListQuery {
    pub page: Option<i64>,
    pub per_page: Option<i64>,
    pub include_deleted: Option<bool>,
    pub only_orphaned: Option<bool>,
}

/// Query of GET /hooks/incoming and GET /hooks/outgoing.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct HookListQuery {
    pub page: Option<i64>,
    pub per_page: Option<i64>,
    pub team_id: Option<String>,
    pub channel_id: Option<String>,
}

/// Body of POST /bots/{id}/convert_to_user (a user patch with the new password).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BotToUserRequest {
    pub password: Option<String>,
    pub email: Option<String>,
    pub username: Option<String>,
}

/// Mattermost's name for posts a webhook makes when no username is given.
const DEFAULT_WEBHOOK_USERNAME: &str = "webhook";

impl App {
    // ---- bots ----

    /// POST /bots.
    pub async fn create_bot(&self, session: &Session, request: Bot) -> AppResult<Bot> {
        if !self.config().service_settings.enable_bot_account_creation {
            return Err(ErrorId::BotCreationDisabled.into());
        }
        require_system_admin(session)?;
        let username = request.username.trim().to_lowercase();
        crate::users::validate_username(&username)
            .map_err(|_| AppError::from(ErrorId::BotUsernameInvalid))?;
        validate_bot_texts(Some(&request.display_name), Some(&request.description))?;
        let now = now_millis();
        let user = User {
            id: new_id(),
            create_at: now,
            update_at: now,
            username: username.clone(),
            email: format!("{username}@localhost"),
            email_verified: true,
            first_name: request.display_name.clone(),
            roles: ROLE_SYSTEM_USER.to_string(),
            locale: "en".to_string(),
            notify_props: crate::users::default_notify_props(&username),
            is_bot: true,
            bot_description: request.description.clone(),
            ..Default::default()
        };
        let bot = Bot {
            user_id: user.id.clone(),
            username,
            display_name: request.display_name,
            description: request.description,
            owner_id: session.user_id.clone(),
            create_at: now,
            update_at: now,
            ..Default::default()
        };
        let mut db = self.store().master().await?;
        match integration_store::create_bot(&mut db, &user, &bot).await {
            Ok(()) => {}
            Err(StoreError::Conflict(constraint)) => {
                return Err(if constraint.contains("email") {
                    ErrorId::EmailTaken
                } else {
                    ErrorId::UsernameTaken
                }
                .into())
            }
            Err(other) => return Err(other.into()),
        }
        self.publish(
            WebSocketEvent::new(event_names::NEW_USER, Broadcast::to_everyone())
                .with("user_id", user.id.clone()),
        );
        Ok(bot)
    }

    /// A bot the caller may manage: its owner or a system admin (others see "not found", as
    /// Mattermost answers when the caller may not read it).
    async fn managed_bot(
        &self,
        session: &Session,
        bot_user_id: &str,
        include_deleted: bool,
    ) -> AppResult<Bot> {
        if !is_valid_id(bot_user_id) {
            return Err(AppError::invalid_param("bot_user_id"));
        }
        let db = self.store().master().await?;
        let bot = integration_store::get_bot(&db, bot_user_id, include_deleted).await?;
        if bot.owner_id != session.user_id && !session.is_system_admin() {
            return Err(ErrorId::BotNotFound.into());
        }
        Ok(bot)
    }

    /// GET /bots/{id}.
    pub async fn get_bot(
        &self,
        session: &Session,
        bot_user_id: &str,
        include_deleted: bool,
    ) -> AppResult<Bot> {
        self.managed_bot(session, bot_user_id, include_deleted)
            .await
    }

    /// GET /bots: a system admin sees every bot, anyone else their own.
    pub async fn list_bots(&self, session: &Session, query: BotListQuery) -> AppResult<Vec<Bot>> {
        let (offset, limit) = crate::page_window(query.page, query.per_page, 60, 200)?;
        let filter = BotFilter {
            owner_id: (!session.is_system_admin()).then(|| session.user_id.clone()),
            include_deleted: query.include_deleted.unwrap_or(false),
            only_orphaned: query.only_orphaned.unwrap_or(false),
            offset,
            limit,
        };
        let db = self.store().master().await?;
        Ok(integration_store::list_bots(&db, &filter).await?)
    }

    /// PUT /bots/{id}.
    pub async fn patch_bot(
        &self,
        session: &Session,
        bot_user_id: &str,
        mut patch: BotPatch,
    ) -> AppResult<Bot> {
        self.managed_bot(session, bot_user_id, true).await?;
        if let Some(username) = &mut patch.username {
            *username = username.trim().to_lowercase();
            crate::users::validate_username(username)
                .map_err(|_| AppError::from(ErrorId::BotUsernameInvalid))?;
        }
        validate_bot_texts(patch.display_name.as_ref(), patch.description.as_ref())?;
        let mut db = self.store().master().await?;
        let bot =
            match integration_store::patch_bot(&mut db, bot_user_id, &patch, now_millis()).await {
                Ok(bot) => bot,
                Err(StoreError::Conflict(_)) => return Err(ErrorId::UsernameTaken.into()),
                Err(other) => return Err(other.into()),
            };
        drop(db);
        self.forget_bot_user(bot_user_id);
        Ok(bot)
    }

    /// POST /bots/{id}/disable and /enable: the bot's user is deactivated or reactivated with
    /// it; a disabled bot's sessions (its tokens' sessions) end on every node.
    pub async fn set_bot_active(
        &self,
        session: &Session,
        bot_user_id: &str,
        active: bool,
    ) -> AppResult<Bot> {
        self.managed_bot(session, bot_user_id, true).await?;
        let mut db = self.store().master().await?;
        let bot =
            integration_store::set_bot_active(&mut db, bot_user_id, active, now_millis()).await?;
        let ended = if active {
            Vec::new()
        } else {
            session_store::delete_for_user(&db, bot_user_id).await?
        };
        drop(db);
        self.forget_sessions(&ended);
        self.forget_bot_user(bot_user_id);
        Ok(bot)
    }

    /// POST /bots/{id}/assign/{user_id}.
    pub async fn assign_bot(
        &self,
        session: &Session,
        bot_user_id: &str,
        owner_id: &str,
    ) -> AppResult<Bot> {
        self.managed_bot(session, bot_user_id, true).await?;
        if !is_valid_id(owner_id) {
            return Err(AppError::invalid_param("user_id"));
        }
        let db = self.store().master().await?;
        match user_store::get(&db, owner_id).await {
            Ok(_) => {}
            Err(StoreError::NotFound(_)) => return Err(ErrorId::BotOwnerNotFound.into()),
            Err(other) => return Err(other.into()),
        }
        Ok(integration_store::assign_bot_owner(&db, bot_user_id, owner_id, now_millis()).await?)
    }

    /// POST /users/{id}/convert_to_bot (system admins): the person's sessions end, since a
    /// bot signs in with tokens only.
    pub async fn convert_user_to_bot(&self, session: &Session, user_id: &str) -> AppResult<Bot> {
        require_system_admin(session)?;
        if !is_valid_id(user_id) {
            return Err(AppError::invalid_param("user_id"));
        }
        let mut db = self.store().master().await?;
        let bot = integration_store::convert_user_to_bot(&mut db, user_id, now_millis()).await?;
        let ended = session_store::delete_for_user(&db, user_id).await?;
        drop(db);
        self.forget_sessions(&ended);
        self.forget_bot_user(user_id);
        Ok(bot)
    }

    /// POST /bots/{id}/convert_to_user (system admins): a password is required; email and
    /// username may be given; `set_system_admin` makes the person a system admin.
    pub async fn convert_bot_to_user(
        &self,
        session: &Session,
        bot_user_id: &str,
        patch: BotToUserRequest,
        set_system_admin: bool,
    ) -> AppResult<User> {
        require_system_admin(session)?;
        if !is_valid_id(bot_user_id) {
            return Err(AppError::invalid_param("bot_user_id"));
        }
        let password = patch
            .password
            .clone()
            .filter(|password| !password.is_empty())
            .ok_or_else(|| AppError::from(ErrorId::BotConversionNeedsPassword))?;
        let email = patch
            .email
            .as_ref()
            .map(|email| email.trim().to_lowercase());
        let username = patch
            .username
            .as_ref()
            .map(|name| name.trim().to_lowercase());
        if let Some(username) = &username {
            crate::users::validate_username(username)?;
        }
        let hash = crate::password::hash_password(password).await;
        let roles = set_system_admin
            .then(|| format!("{} {ROLE_SYSTEM_USER}", chorus_model::ROLE_SYSTEM_ADMIN));
        let mut db = self.store().master().await?;
        let user = match integration_store::convert_bot_to_user(
            &mut db,
            bot_user_id,
            &hash,
            email.as_deref(),
            username.as_deref(),
            roles.as_deref(),
            now_millis(),
        )
        .await
        {
            Ok(user) => user,
            Err(StoreError::Conflict(constraint)) => {
                return Err(if constraint.contains("email") {
                    ErrorId::EmailTaken
                } else {
                    ErrorId::UsernameTaken
                }
                .into())
            }
            Err(other) => return Err(other.into()),
        };
        drop(db);
        self.forget_bot_user(bot_user_id);
        Ok(crate::users::sanitize(user, session))
    }

    fn forget_bot_user(&self, user_id: &str) {
        self.invalidate(ClusterMessage::UserChanged {
            user_id: user_id.to_string(),
        });
    }

    // ---- incoming webhooks ----

    fn require_incoming_webhooks(&self) -> AppResult<()> {
        if self.config().service_settings.enable_incoming_webhooks {
            Ok(())
        } else {
            Err(ErrorId::IncomingWebhooksDisabled.into())
        }
    }

    /// POST /hooks/incoming: by a team admin of the channel's team who may read the channel;
    /// a system admin may create it for another user (`user_id`).
    pub async fn create_incoming_webhook(
        &self,
        session: &Session,
        mut hook: IncomingWebhook,
    ) -> AppResult<IncomingWebhook> {
        self.require_incoming_webhooks()?;
        if !is_valid_id(&hook.channel_id) {
            return Err(AppError::invalid_param("channel_id"));
        }
        let channel = self.require_channel_read(session, &hook.channel_id).await?;
        self.require_team_admin(session, &channel.team_id).await?;
        if hook.user_id.is_empty() || !session.is_system_admin() {
            hook.user_id = session.user_id.clone();
        } else if !is_valid_id(&hook.user_id) {
            return Err(AppError::invalid_param("user_id"));
        }
        self.clean_incoming(&mut hook, None)?;
        let now = now_millis();
        hook.id = new_id();
        hook.create_at = now;
        hook.update_at = now;
        hook.delete_at = 0;
        hook.team_id = channel.team_id.clone();
        let db = self.store().master().await?;
        integration_store::insert_incoming(&db, &hook).await?;
        Ok(hook)
    }

    /// Applies EnablePostUsernameOverride / EnablePostIconOverride (a hook keeps `old`'s name
    /// and picture when they are off) and Mattermost's field limits.
    fn clean_incoming(
        &self,
        hook: &mut IncomingWebhook,
        old: Option<&IncomingWebhook>,
    ) -> AppResult<()> {
        let service = &self.config().service_settings;
        if !service.enable_post_username_override {
            hook.username = old.map(|old| old.username.clone()).unwrap_or_default();
        }
        if !service.enable_post_icon_override {
            hook.icon_url = old.map(|old| old.icon_url.clone()).unwrap_or_default();
        }
        if !hook.username.is_empty() && crate::users::validate_username(&hook.username).is_err() {
            return Err(ErrorId::IncomingWebhookUsernameInvalid.into());
        }
        if hook.display_name.chars().count() > 64 {
            return Err(ErrorId::IncomingWebhookDisplayNameInvalid.into());
        }
        if hook.description.chars().count() > 500 {
            return Err(ErrorId::IncomingWebhookDescriptionInvalid.into());
        }
        if hook.icon_url.len() > 1024 {
            return Err(ErrorId::IncomingWebhookIconUrlInvalid.into());
        }
        Ok(())
    }

    /// A live incoming webhook the caller manages (a team admin of its team).
    async fn managed_incoming(
        &self,
        session: &Session,
        hook_id: &str,
    ) -> AppResult<IncomingWebhook> {
        self.require_incoming_webhooks()?;
        if !is_valid_id(hook_id) {
            return Err(AppError::invalid_param("hook_id"));
        }
        let db = self.store().master().await?;
        let hook = integration_store::get_incoming(&db, hook_id).await?;
        drop(db);
        self.require_team_admin(session, &hook.team_id).await?;
        Ok(hook)
    }

    pub async fn get_incoming_webhook(
        &self,
        session: &Session,
        hook_id: &str,
    ) -> AppResult<IncomingWebhook> {
        self.managed_incoming(session, hook_id).await
    }

    /// GET /hooks/incoming: a team's hooks (team admins), or every hook (system admins).
    pub async fn list_incoming_webhooks(
        &self,
        session: &Session,
        query: HookListQuery,
    ) -> AppResult<Vec<IncomingWebhook>> {
        self.require_incoming_webhooks()?;
        let (offset, limit) = crate::page_window(query.page, query.per_page, 60, 200)?;
        let team_id = query.team_id.filter(|id| !id.is_empty());
        match &team_id {
            Some(team_id) => {
                if !is_valid_id(team_id) {
                    return Err(AppError::invalid_param("team_id"));
                }
                self.require_team_admin(session, team_id).await?;
            }
            None => require_system_admin(session)?,
        }
        let db = self.store().master().await?;
        Ok(integration_store::list_incoming(&db, team_id.as_deref(), None, offset, limit).await?)
    }

    /// PUT /hooks/incoming/{id}: the whole hook; its id, creator, team and times stay.
    pub async fn update_incoming_webhook(
        &self,
        session: &Session,
        hook_id: &str,
        mut hook: IncomingWebhook,
    ) -> AppResult<IncomingWebhook> {
        let old = self.managed_incoming(session, hook_id).await?;
        if !hook.id.is_empty() && hook.id != hook_id {
            return Err(AppError::invalid_param("hook_id"));
        }
        if hook.channel_id.is_empty() {
            hook.channel_id = old.channel_id.clone();
        }
        if hook.channel_id != old.channel_id {
            if !is_valid_id(&hook.channel_id) {
                return Err(AppError::invalid_param("channel_id"));
            }
            let channel = self.require_channel_read(session, &hook.channel_id).await?;
            if channel.team_id != old.team_id {
                return Err(AppError::invalid_param("channel_id"));
            }
        }
        self.clean_incoming(&mut hook, Some(&old))?;
        hook.id = old.id.clone();
        hook.update_at = now_millis();
        let db = self.store().master().await?;
        Ok(integration_store::update_incoming(&db, &hook).await?)
    }

    pub async fn delete_incoming_webhook(&self, session: &Session, hook_id: &str) -> AppResult<()> {
        self.managed_incoming(session, hook_id).await?;
        let db = self.store().master().await?;
        Ok(integration_store::delete_incoming(&db, hook_id, now_millis()).await?)
    }

    /// POST /hooks/{id}: the request becomes a post of the hook's creator, marked
    /// `from_webhook`, in the hook's channel or the one the request names (`town-square`,
    /// `#town-square`, or `@username` for a direct message from the creator) unless the hook
    /// is locked to its channel. No session: knowing the hook id is the credential.
    pub async fn execute_incoming_webhook(
        &self,
        hook_id: &str,
        request: IncomingWebhookRequest,
    ) -> AppResult<Post> {
        let service = self.config().service_settings.clone();
        if !service.enable_incoming_webhooks {
            return Err(ErrorId::IncomingWebhookPostsDisabled.into());
        }
        let has_attachments = request
            .attachments
            .as_ref()
            .is_some_and(|attachments| !attachments.is_null());
        if request.text.is_empty() && !has_attachments {
            return Err(ErrorId::IncomingWebhookNoText.into());
        }
        if !is_valid_id(hook_id) {
            return Err(ErrorId::IncomingWebhookInvalid.into());
        }
        let db = self.store().master().await?;
        let hook = match integration_store::get_incoming(&db, hook_id).await {
            Ok(hook) => hook,
            Err(StoreError::NotFound(_)) => return Err(ErrorId::IncomingWebhookInvalid.into()),
            Err(other) => return Err(other.into()),
        };
        let creator = match user_store::get(&db, &hook.user_id).await {
            Ok(user) if user.delete_at == 0 => Arc::new(user),
            Ok(_) | Err(StoreError::NotFound(_)) => {
                return Err(ErrorId::IncomingWebhookCreatorGone.into())
            }
            Err(other) => return Err(other.into()),
        };
        drop(db);
        let channel = self.webhook_channel(&hook, &request.channel_name).await?;
        if hook.channel_locked && channel.id != hook.channel_id {
            return Err(ErrorId::IncomingWebhookChannelLocked.into());
        }
        if channel.channel_type != CHANNEL_OPEN
            && !self
                .channel_member_ids(&channel.id)
                .await?
                .contains(&hook.user_id)
        {
            return Err(ErrorId::IncomingWebhookNoChannelPermission.into());
        }
        if request.post_type.starts_with("system_") {
            return Err(AppError::invalid_param("post.type"));
        }

        let mut props = request.props;
        props.insert(
            "webhook_display_name".to_string(),
            hook.display_name.clone().into(),
        );
        let mut post_type = request.post_type;
        if let Some(attachments) = request.attachments.filter(|value| !value.is_null()) {
            props.insert("attachments".to_string(), attachments);
            post_type = "slack_attachment".to_string();
        }
        let username = if request.username.is_empty() {
            hook.username.clone()
        } else {
            request.username
        };
        let icon_url = if request.icon_url.is_empty() {
            hook.icon_url.clone()
        } else {
            request.icon_url
        };
        webhook_post_props(
            &mut props,
            &service,
            &username,
            &icon_url,
            &request.icon_emoji,
        );
        let post = Post {
            message: slack_links_to_markdown(&request.text),
            post_type,
            props,
            ..Default::default()
        };
        let created = self
            .create_integration_post(creator, channel, post, false)
            .await?;
        self.metrics().webhook_post();
        Ok(created)
    }

    /// The channel a webhook request posts to.
    async fn webhook_channel(
        &self,
        hook: &IncomingWebhook,
        channel_name: &str,
    ) -> AppResult<Arc<Channel>> {
        if channel_name.is_empty() {
            return self.cached_channel(&hook.channel_id).await;
        }
        if let Some(username) = channel_name.strip_prefix('@') {
            let db = self.store().master().await?;
            let user = match user_store::get_by_username(&db, username).await {
                Ok(user) => user,
                Err(StoreError::NotFound(_)) => {
                    return Err(ErrorId::IncomingWebhookUserNotFound.into())
                }
                Err(other) => return Err(other.into()),
            };
            drop(db);
            let as_creator = Session {
                user_id: hook.user_id.clone(),
                ..Default::default()
            };
            let direct = self
                .create_direct_channel(&as_creator, vec![hook.user_id.clone(), user.id])
                .await?;
            return self.cached_channel(&direct.id).await;
        }
        let name = channel_name.strip_prefix('#').unwrap_or(channel_name);
        let db = self.store().master().await?;
        match channel_store::get_by_name(&db, &hook.team_id, name).await {
            Ok(channel) => Ok(Arc::new(channel)),
            Err(StoreError::NotFound(_)) => Err(ErrorId::IncomingWebhookChannelNotFound.into()),
            Err(other) => Err(other.into()),
        }
    }

    // ---- outgoing webhooks ----

    fn require_outgoing_webhooks(&self) -> AppResult<()> {
        if self.config().service_settings.enable_outgoing_webhooks {
            Ok(())
        } else {
            Err(ErrorId::OutgoingWebhooksDisabled.into())
        }
    }

    /// POST /hooks/outgoing: by a team admin of `team_id`.
    pub async fn create_outgoing_webhook(
        &self,
        session: &Session,
        mut hook: OutgoingWebhook,
    ) -> AppResult<OutgoingWebhook> {
        self.require_outgoing_webhooks()?;
        if !is_valid_id(&hook.team_id) {
            return Err(AppError::invalid_param("team_id"));
        }
        self.require_team_admin(session, &hook.team_id).await?;
        if hook.creator_id.is_empty() || !session.is_system_admin() {
            hook.creator_id = session.user_id.clone();
        } else if !is_valid_id(&hook.creator_id) {
            return Err(AppError::invalid_param("creator_id"));
        }
        self.check_outgoing(session, &mut hook).await?;
        let now = now_millis();
        hook.id = new_id();
        hook.token = new_id();
        hook.create_at = now;
        hook.update_at = now;
        hook.delete_at = 0;
        let db = self.store().master().await?;
        integration_store::insert_outgoing(&db, &hook).await?;
        self.forget_outgoing_webhooks_of(&hook.team_id);
        Ok(hook)
    }

    /// Mattermost's checks of an outgoing webhook: valid fields, an open channel of the
    /// hook's team or trigger words, and no other hook of the channel sharing both a trigger
    /// word and a callback URL.
    async fn check_outgoing(&self, session: &Session, hook: &mut OutgoingWebhook) -> AppResult<()> {
        if hook.content_type.is_empty() {
            hook.content_type = CONTENT_TYPE_FORM.to_string();
        }
        if hook.content_type != CONTENT_TYPE_FORM && hook.content_type != CONTENT_TYPE_JSON {
            return Err(ErrorId::OutgoingWebhookContentTypeInvalid.into());
        }
        if hook.trigger_when != TRIGGER_WORDS_EXACT_MATCH
            && hook.trigger_when != TRIGGER_WORDS_STARTS_WITH
        {
            return Err(ErrorId::OutgoingWebhookTriggerWhenInvalid.into());
        }
        hook.trigger_words = hook
            .trigger_words
            .iter()
            .map(|word| word.trim().to_string())
            .collect();
        if hook
            .trigger_words
            .iter()
            .any(|word| word.is_empty() || word.chars().count() > 64)
        {
            return Err(ErrorId::OutgoingWebhookTriggerWordsInvalid.into());
        }
        if hook.display_name.chars().count() > 64 {
            return Err(ErrorId::OutgoingWebhookDisplayNameInvalid.into());
        }
        if hook.description.chars().count() > 500 {
            return Err(ErrorId::OutgoingWebhookDescriptionInvalid.into());
        }
        if hook.callback_urls.is_empty() {
            return Err(ErrorId::OutgoingWebhookCallbacksInvalid
                .with_param("reason", "at least one callback URL is required"));
        }
        for url in &hook.callback_urls {
            crate::outbox::check_callback_url(url).map_err(|reason| {
                ErrorId::OutgoingWebhookCallbacksInvalid.with_param("reason", reason)
            })?;
        }
        if !hook.channel_id.is_empty() {
            if !is_valid_id(&hook.channel_id) {
                return Err(AppError::invalid_param("channel_id"));
            }
            let channel = self.require_channel_read(session, &hook.channel_id).await?;
            if channel.channel_type != CHANNEL_OPEN {
                return Err(ErrorId::OutgoingWebhookChannelNotOpen.into());
            }
            if channel.team_id != hook.team_id {
                return Err(ErrorId::OutgoingWebhookChannelOfOtherTeam.into());
            }
        } else if hook.trigger_words.is_empty() {
            return Err(ErrorId::OutgoingWebhookNoTriggers.into());
        }
        let db = self.store().master().await?;
        let others =
            integration_store::list_outgoing(&db, Some(&hook.team_id), None, None, 0, i64::MAX)
                .await?;
        let intersects = others.iter().any(|other| {
            other.id != hook.id
                && other.channel_id == hook.channel_id
                && other
                    .callback_urls
                    .iter()
                    .any(|url| hook.callback_urls.contains(url))
                && other
                    .trigger_words
                    .iter()
                    .any(|word| hook.trigger_words.contains(word))
        });
        if intersects {
            return Err(ErrorId::OutgoingWebhookIntersects.into());
        }
        Ok(())
    }

    async fn managed_outgoing(
        &self,
        session: &Session,
        hook_id: &str,
    ) -> AppResult<OutgoingWebhook> {
        self.require_outgoing_webhooks()?;
        if !is_valid_id(hook_id) {
            return Err(AppError::invalid_param("hook_id"));
        }
        let db = self.store().master().await?;
        let hook = integration_store::get_outgoing(&db, hook_id, false).await?;
        drop(db);
        self.require_team_admin(session, &hook.team_id).await?;
        Ok(hook)
    }

    pub async fn get_outgoing_webhook(
        &self,
        session: &Session,
        hook_id: &str,
    ) -> AppResult<OutgoingWebhook> {
        self.managed_outgoing(session, hook_id).await
    }

    /// GET /hooks/outgoing: by channel or team (team admins), or all (system admins).
    pub async fn list_outgoing_webhooks(
        &self,
        session: &Session,
        query: HookListQuery,
    ) -> AppResult<Vec<OutgoingWebhook>> {
        self.require_outgoing_webhooks()?;
        let (offset, limit) = crate::page_window(query.page, query.per_page, 60, 200)?;
        let channel_id = query.channel_id.filter(|id| !id.is_empty());
        let mut team_id = query.team_id.filter(|id| !id.is_empty());
        if let Some(channel_id) = &channel_id {
            if !is_valid_id(channel_id) {
                return Err(AppError::invalid_param("channel_id"));
            }
            let channel = self.require_channel_read(session, channel_id).await?;
            team_id = Some(channel.team_id.clone());
        }
        match &team_id {
            Some(team_id) => {
                if !is_valid_id(team_id) {
                    return Err(AppError::invalid_param("team_id"));
                }
                self.require_team_admin(session, team_id).await?;
            }
            None => require_system_admin(session)?,
        }
        let db = self.store().master().await?;
        Ok(integration_store::list_outgoing(
            &db,
            team_id.as_deref(),
            channel_id.as_deref(),
            None,
            offset,
            limit,
        )
        .await?)
    }

    /// PUT /hooks/outgoing/{id}: the whole hook; id, token, creator, team and times stay.
    pub async fn update_outgoing_webhook(
        &self,
        session: &Session,
        hook_id: &str,
        mut hook: OutgoingWebhook,
    ) -> AppResult<OutgoingWebhook> {
        let old = self.managed_outgoing(session, hook_id).await?;
        if !hook.id.is_empty() && hook.id != hook_id {
            return Err(AppError::invalid_param("hook_id"));
        }
        hook.id = old.id.clone();
        hook.team_id = old.team_id.clone();
        self.check_outgoing(session, &mut hook).await?;
        hook.token = old.token.clone();
        hook.update_at = now_millis();
        let db = self.store().master().await?;
        let updated = integration_store::update_outgoing(&db, &hook).await?;
        self.forget_outgoing_webhooks_of(&hook.team_id);
        Ok(updated)
    }

    pub async fn delete_outgoing_webhook(&self, session: &Session, hook_id: &str) -> AppResult<()> {
        let hook = self.managed_outgoing(session, hook_id).await?;
        let db = self.store().master().await?;
        integration_store::delete_outgoing(&db, hook_id, now_millis()).await?;
        self.forget_outgoing_webhooks_of(&hook.team_id);
        Ok(())
    }

    /// Whether posts of `team_id` may trigger an outgoing webhook: cached, forgotten on every
    /// node when one of the team's hooks changes. Read from the master (a hook created a
    /// moment ago must fire).
    pub(crate) async fn team_has_outgoing_webhooks(&self, team_id: &str) -> AppResult<bool> {
        let has = cache::fill(
            &self.inner.caches.teams_with_outgoing_webhooks,
            &team_id.to_string(),
            self.store(),
            ReadFrom::Master,
            |db| async move { Ok(integration_store::team_has_outgoing(&db, team_id).await?) },
        )
        .await?;
        Ok(*has)
    }

    fn forget_outgoing_webhooks_of(&self, team_id: &str) {
        self.invalidate(ClusterMessage::OutgoingWebhooksChanged {
            team_id: team_id.to_string(),
        });
    }

    /// POST /hooks/outgoing/{id}/regen_token.
    pub async fn regenerate_outgoing_token(
        &self,
        session: &Session,
        hook_id: &str,
    ) -> AppResult<OutgoingWebhook> {
        let mut hook = self.managed_outgoing(session, hook_id).await?;
        hook.token = new_id();
        hook.update_at = now_millis();
        let db = self.store().master().await?;
        Ok(integration_store::update_outgoing(&db, &hook).await?)
    }
}

fn validate_bot_texts(
    display_name: Option<&String>,
    description: Option<&String>,
) -> AppResult<()> {
    if display_name.is_some_and(|name| name.chars().count() > 64) {
        return Err(ErrorId::BotDisplayNameInvalid.into());
    }
    if description.is_some_and(|text| text.chars().count() > 1024) {
        return Err(ErrorId::BotDescriptionInvalid.into());
    }
    Ok(())
}

/// The props every webhook post carries: `from_webhook`, and the name and picture it shows
/// when EnablePostUsernameOverride / EnablePostIconOverride allow (Mattermost's
/// `CreateWebhookPost`). A sender's own values of these keys never pass.
pub(crate) fn webhook_post_props(
    props: &mut serde_json::Map<String, serde_json::Value>,
    service: &chorus_config::ServiceSettings,
    username: &str,
    icon_url: &str,
    icon_emoji: &str,
) {
    for key in [
        "from_webhook",
        "override_username",
        "override_icon_url",
        "override_icon_emoji",
    ] {
        props.remove(key);
    }
    props.insert("from_webhook".to_string(), "true".into());
    if service.enable_post_username_override {
        let shown = if username.is_empty() {
            DEFAULT_WEBHOOK_USERNAME
        } else {
            username
        };
        props.insert("override_username".to_string(), shown.into());
    }
    if service.enable_post_icon_override {
        if !icon_url.is_empty() {
            props.insert("override_icon_url".to_string(), icon_url.into());
        }
        if !icon_emoji.is_empty() {
            props.insert("override_icon_emoji".to_string(), icon_emoji.into());
        }
    }
}

/// Slack's `<url|text>` links become Markdown `[text](url)`, as Mattermost converts them.
pub(crate) fn slack_links_to_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let converted = after.find('>').and_then(|end| {
            let inner = &after[..end];
            let (url, label) = inner.split_once('|')?;
            let clean = |part: &str| !part.is_empty() && !part.contains(['\n', '<', '|']);
            (clean(url) && clean(label)).then(|| (format!("[{label}]({url})"), end))
        });
        match converted {
            Some((link, end)) => {
                out.push_str(&link);
                rest = &after[end + 1..];
            }
            None => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::slack_links_to_markdown;

    #[test]
    fn slack_links_become_markdown_links() {
        assert_eq!(
            slack_links_to_markdown("see <https://x.io/a|the build> and <b>"),
            "see [the build](https://x.io/a) and <b>"
        );
        assert_eq!(slack_links_to_markdown("a < b"), "a < b");
    }
}

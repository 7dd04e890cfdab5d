//! Posts: create (idempotent, ordered, durable before acknowledged), read, edit, delete,
//! threads, reactions and search.

use crate::mentions::mentioned_names;
use crate::{App, AppResult};
use chorus_model::{
    event_names, is_valid_id, new_id, now_millis, AppError, Channel, ErrorId, Post, PostList,
    PostPatch, PostSearch, PostSearchResults, Reaction, SearchParameter, Session, User,
    CHANNEL_DIRECT, POST_MESSAGE_MAX_RUNES,
};
use chorus_relay::events::{post_event, posted_event, reaction_event};
use chorus_store::posts::{
    self as post_store, CreateOutcome, CreatePostError, NewPost, PostChanges, PostWindow,
};
use chorus_store::{reactions as reaction_store, users as user_store, StoreError};
use serde::Deserialize;
use std::sync::Arc;

/// Body of POST /posts.
pub type CreatePostRequest = Post;

/// Query of GET /channels/{id}/posts.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct ChannelPostsQuery {
    pub page: Option<i64>,
    pub per_page: Option<i64>,
    pub since: Option<i64>,
    pub before: Option<String>,
    pub after: Option<String>,
}

fn validate_message(message: &str) -> AppResult<()> {
    if message.chars().count() > POST_MESSAGE_MAX_RUNES {
        return Err(ErrorId::PostMessageTooLong.with_param("maximum", POST_MESSAGE_MAX_RUNES));
    }
    Ok(())
}

fn validate_props(props: &serde_json::Map<String, serde_json::Value>) -> AppResult<()> {
    let size = serde_json::to_string(props)
        .map(|json| json.len())
        .unwrap_or(usize::MAX);
    if size > 800_000 {
        return Err(AppError::from(ErrorId::PostPropsTooLarge));
    }
    Ok(())
}

fn validate_file_ids(file_ids: &[String]) -> AppResult<()> {
    let distinct: std::collections::HashSet<&String> = file_ids.iter().collect();
    if file_ids.len() > 10
        || distinct.len() != file_ids.len()
        || !file_ids.iter().all(|id| is_valid_id(id))
    {
        return Err(AppError::from(ErrorId::PostFileIdsInvalid));
    }
    Ok(())
}

/// Props only the server sets: Mattermost's marks of posts by bots (set here for bot
/// accounts), plugins and OAuth apps (Chorus has neither) and the props its `SanitizeProps`
/// removes from every new post.
const SERVER_ONLY_PROPS: [&str; 5] = [
    "from_bot",
    "from_plugin",
    "from_oauth_app",
    "add_channel_member",
    "force_notification",
];

/// Props Mattermost reserves for integrations (`ContainsIntegrationsReservedProps`): a post made
/// through a personal access token may carry them, as an integration posting like a webhook
/// does; a person's own session may not, or anyone could post under another name and picture
/// marked as a webhook's. (EnablePostUsernameOverride and EnablePostIconOverride apply to
/// webhooks only, in Mattermost too: see `integrations`.)
const INTEGRATION_PROPS: [&str; 5] = [
    "from_webhook",
    "override_username",
    "override_icon_url",
    "override_icon_emoji",
    "webhook_display_name",
];

/// Props a client sent, without those the caller may not set. On an edit, `stored` are the
/// post's props: its own values of those keys are kept, so an edit can neither add, change nor
/// remove them.
fn props_from_client(
    session: &Session,
    mut props: serde_json::Map<String, serde_json::Value>,
    stored: Option<&serde_json::Map<String, serde_json::Value>>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut protected_keys: Vec<&str> = SERVER_ONLY_PROPS.to_vec();
    if !session.is_access_token() {
        protected_keys.extend(INTEGRATION_PROPS);
    }
    for key in protected_keys {
        props.remove(key);
        if let Some(stored_value) = stored.and_then(|stored| stored.get(key)) {
            props.insert(key.to_string(), stored_value.clone());
        }
    }
    props
}

/// Which request edits a post: Mattermost answers an edit in an archived channel with an error
/// id of its own for each.
#[derive(Clone, Copy)]
pub enum PostEdit {
    /// PUT /posts/{id}/patch
    Patch,
    /// PUT /posts/{id}
    Update,
}

impl App {
    pub async fn create_post(
        &self,
        session: &Session,
        request: CreatePostRequest,
    ) -> AppResult<Post> {
        if !is_valid_id(&request.channel_id) {
            return Err(AppError::invalid_param("channel_id"));
        }
        if !request.root_id.is_empty() && !is_valid_id(&request.root_id) {
            return Err(AppError::invalid_param("root_id"));
        }
        if request.pending_post_id.len() > 64 {
            return Err(AppError::invalid_param("pending_post_id"));
        }
        if !request.post_type.is_empty() && !request.post_type.starts_with("custom_") {
            return Err(AppError::from(ErrorId::PostTypeNotCustom));
        }
        validate_message(&request.message)?;
        validate_props(&request.props)?;
        validate_file_ids(&request.file_ids)?;
        if request.message.trim().is_empty() && request.file_ids.is_empty() {
            return Err(AppError::from(ErrorId::PostEmpty));
        }
        let channel = self
            .require_channel_member(session, &request.channel_id)
            .await?;
        if channel.delete_at != 0 {
            return Err(AppError::from(ErrorId::PostToArchivedChannel));
        }
        let mentioned_user_ids = self
            .resolve_mentions(&session.user_id, &channel, &request.message)
            .await?;

        let post_hashtags = hashtags(&request.message);
        let sender = self.cached_user(&session.user_id).await?;
        let mut props = props_from_client(session, request.props, None);
        if sender.is_bot {
            // Mattermost marks every post of a bot account, whoever's client sent it.
            props.insert("from_bot".to_string(), "true".into());
        }
        let outgoing_trigger = self
            .outgoing_trigger(&request.message, &props, &channel)
            .await;
        let post = Post {
            id: new_id(),
            create_at: now_millis(),
            user_id: session.user_id.clone(),
            channel_id: request.channel_id,
            root_id: request.root_id,
            message: request.message,
            post_type: request.post_type,
            props,
            hashtags: post_hashtags,
            pending_post_id: request.pending_post_id,
            file_ids: request.file_ids,
            ..Default::default()
        };
        self.spawn_commit_and_publish(post, mentioned_user_ids, channel, sender, outgoing_trigger)
            .await
    }

    /// A post made by an integration (a webhook's post, a callback's answer, a command's
    /// answer) as `sender`, in a channel already checked by the caller. Webhook posts never
    /// trigger outgoing webhooks (`trigger_outgoing` false), as in Mattermost, so two
    /// integrations cannot call each other for ever. `pending_post_id` makes a repeated call
    /// (a delivery retried after its node died) store the post once.
    pub(crate) async fn create_integration_post(
        &self,
        sender: Arc<User>,
        channel: Arc<Channel>,
        mut post: Post,
        trigger_outgoing: bool,
    ) -> AppResult<Post> {
        validate_message(&post.message)?;
        validate_props(&post.props)?;
        if post.message.trim().is_empty() && !post.props.contains_key("attachments") {
            return Err(AppError::from(ErrorId::PostEmpty));
        }
        if channel.delete_at != 0 {
            return Err(AppError::from(ErrorId::PostToArchivedChannel));
        }
        if sender.is_bot {
            post.props.insert("from_bot".to_string(), "true".into());
        }
        let mentioned_user_ids = self
            .resolve_mentions(&sender.id, &channel, &post.message)
            .await?;
        post.id = new_id();
        post.create_at = now_millis();
        post.user_id = sender.id.clone();
        post.channel_id = channel.id.clone();
        post.hashtags = hashtags(&post.message);
        let outgoing_trigger = if trigger_outgoing {
            self.outgoing_trigger(&post.message, &post.props, &channel)
                .await
        } else {
            None
        };
        self.spawn_commit_and_publish(post, mentioned_user_ids, channel, sender, outgoing_trigger)
            .await
    }

    /// The first word of a message when a new post with these props may trigger outgoing
    /// webhooks: EnableOutgoingWebhooks, never a webhook's own post, only in public channels
    /// (as in Mattermost) of a team that has outgoing webhooks. Whether it does is cached; when
    /// it cannot be read, the post's statement decides.
    async fn outgoing_trigger(
        &self,
        message: &str,
        props: &serde_json::Map<String, serde_json::Value>,
        channel: &Channel,
    ) -> Option<String> {
        if !self.config().service_settings.enable_outgoing_webhooks
            || props.contains_key("from_webhook")
            || channel.channel_type != chorus_model::CHANNEL_OPEN
        {
            return None;
        }
        if let Ok(false) = self.team_has_outgoing_webhooks(&channel.team_id).await {
            return None;
        }
        Some(
            message
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string(),
        )
    }

    /// A task of its own, so that a client hanging up cannot stop a post between its commit
    /// and its event.
    async fn spawn_commit_and_publish(
        &self,
        post: Post,
        mentioned_user_ids: Vec<String>,
        channel: Arc<Channel>,
        sender: Arc<User>,
        outgoing_trigger: Option<String>,
    ) -> AppResult<Post> {
        let app = self.clone();
        tokio::spawn(async move {
            let (created, thread_followers) = app
                .commit_and_publish(
                    post,
                    mentioned_user_ids,
                    channel.clone(),
                    sender,
                    outgoing_trigger,
                )
                .await?;
            if !thread_followers.is_empty() {
                // Each follower's view of the thread takes a few reads: the author does not
                // wait for them.
                let announcer = app.clone();
                let reply = created.clone();
                tokio::spawn(async move {
                    announcer
                        .announce_thread_reply(&reply, &channel, &thread_followers)
                        .await
                });
            }
            Ok(created)
        })
        .await
        .map_err(|_| AppError::from(ErrorId::PostCreateFailed))?
    }

    /// Commits a new post and hands its event to the hub under the channel's lock, so events
    /// of a channel leave in create_at order. Also returns who follows the thread of a reply
    /// (empty for a root post or a retry).
    async fn commit_and_publish(
        &self,
        post: Post,
        mentioned_user_ids: Vec<String>,
        channel: Arc<Channel>,
        sender: Arc<User>,
        outgoing_trigger: Option<String>,
    ) -> AppResult<(Post, Vec<String>)> {
        let _ordering = self.inner.channel_locks.lock(&post.channel_id).await;
        let new_post = NewPost {
            post,
            mentioned_user_ids: mentioned_user_ids.clone(),
            outgoing_trigger,
        };
        let outcome = self.write_post(new_post).await;
        let (created, previous_post_at, thread_followers, deliveries) = match outcome {
            Ok(CreateOutcome::Created {
                post,
                previous_post_at,
                thread_followers,
                deliveries,
            }) => (post, previous_post_at, thread_followers, deliveries),
            Ok(CreateOutcome::AlreadyExisted(post)) => return Ok((post, Vec::new())),
            Err(CreatePostError::ChannelNotFound) => {
                return Err(AppError::from(ErrorId::ExistingChannelNotFound))
            }
            Err(CreatePostError::ChannelArchived) => {
                self.forget_channel(&channel.id);
                return Err(AppError::from(ErrorId::PostToArchivedChannel));
            }
            Err(CreatePostError::InvalidRoot) => {
                return Err(AppError::from(ErrorId::PostRootInvalid))
            }
            Err(CreatePostError::InvalidFileIds(refused)) => {
                return Err(ErrorId::PostFilesRefused
                    .with_detail(format!("file ids refused: {}", refused.join(", "))))
            }
            Err(CreatePostError::Store(error)) => return Err(error.into()),
        };

        self.publish_post(
            posted_event(&created, &channel, &sender, &mentioned_user_ids),
            &created,
            previous_post_at,
        );
        if deliveries > 0 {
            // This node's workers start at once; the others find the rows when they poll.
            self.wake_outbox();
        }
        Ok((created, thread_followers))
    }

    /// Channel members a message mentions, never the author. In a direct channel the other
    /// person is always mentioned.
    pub(crate) async fn resolve_mentions(
        &self,
        author_id: &str,
        channel: &Channel,
        message: &str,
    ) -> AppResult<Vec<String>> {
        let members = self.channel_member_ids(&channel.id).await?;
        if channel.channel_type == CHANNEL_DIRECT {
            return Ok(members
                .iter()
                .filter(|id| *id != author_id)
                .cloned()
                .collect());
        }
        let names = mentioned_names(message);
        if names.mentions_everyone {
            let mut everyone: Vec<String> = members
                .iter()
                .filter(|id| *id != author_id)
                .cloned()
                .collect();
            everyone.sort();
            return Ok(everyone);
        }
        if names.usernames.is_empty() {
            return Ok(Vec::new());
        }
        let usernames: Vec<String> = names.usernames.into_iter().collect();
        // Members added a moment ago are mentioned too.
        let db = self
            .store()
            .replica_for(&[chorus_store::FreshKey::Channel(channel.id.clone())])
            .await?;
        let found = user_store::channel_members_by_username(&db, &channel.id, &usernames).await?;
        Ok(found
            .into_iter()
            .map(|(user_id, _)| user_id)
            .filter(|user_id| user_id != author_id)
            .collect())
    }

    /// A live post the caller may read.
    pub(crate) async fn readable_post(&self, session: &Session, post_id: &str) -> AppResult<Post> {
        let (post, _channel) = self.readable_post_and_channel(session, post_id).await?;
        Ok(post)
    }

    /// A live post the caller may read, and its channel.
    pub(crate) async fn readable_post_and_channel(
        &self,
        session: &Session,
        post_id: &str,
    ) -> AppResult<(Post, Arc<Channel>)> {
        if !is_valid_id(post_id) {
            return Err(AppError::invalid_param("post_id"));
        }
        let post = self
            .post_with_master_fallback(&session.user_id, post_id)
            .await?;
        if post.delete_at != 0 {
            return Err(AppError::from(ErrorId::PostDeleted));
        }
        let channel = self
            .require_channel_member(session, &post.channel_id)
            .await?;
        Ok((post, channel))
    }

    pub async fn get_post(&self, session: &Session, post_id: &str) -> AppResult<Post> {
        let mut post = self.permalink_post(session, post_id).await?;
        if post.has_reactions {
            let db = self
                .fresh_read(&session.user_id, Some(&post.channel_id))
                .await?;
            post.metadata.reactions = reaction_store::list_for_post(&db, post_id).await?;
        }
        if !post.file_ids.is_empty() {
            let db = self.store().master().await?;
            post.metadata.files = chorus_store::files::for_post(&db, post_id).await?;
        }
        Ok(post)
    }

    /// PUT /posts/{id}/patch and PUT /posts/{id} (which sends the whole post, as a patch of
    /// every field).
    pub async fn patch_post(
        &self,
        session: &Session,
        post_id: &str,
        patch: PostPatch,
        edit: PostEdit,
    ) -> AppResult<Post> {
        let (existing, channel) = self.readable_post_and_channel(session, post_id).await?;
        if existing.user_id != session.user_id && !session.is_system_admin() {
            return Err(AppError::from(ErrorId::EditOthersPost));
        }
        if channel.delete_at != 0 {
            return Err(AppError::from(match edit {
                PostEdit::Patch => ErrorId::PatchPostInArchivedChannel,
                PostEdit::Update => ErrorId::UpdatePostInArchivedChannel,
            }));
        }
        self.check_post_edit_time_limit(&existing, &patch)?;
        if let Some(message) = &patch.message {
            validate_message(message)?;
        }
        if let Some(props) = &patch.props {
            validate_props(props)?;
        }
        // An edit keeps the post's files: `file_ids` in a patch is ignored (as in Mattermost),
        // since files are attached, with their checks, only when a post is created.
        let changes = PostChanges {
            message: patch.message,
            is_pinned: patch.is_pinned,
            props: patch
                .props
                .map(|props| props_from_client(session, props, Some(&existing.props))),
            file_ids: None,
        };
        let _ordering = self.inner.channel_locks.lock(&existing.channel_id).await;
        let db = self.store().master().await?;
        let mut updated = post_store::update(&db, post_id, &changes, now_millis()).await?;
        if !updated.file_ids.is_empty() {
            updated.metadata.files = chorus_store::files::for_post(&db, post_id).await?;
        }
        drop(db);
        self.publish(post_event(event_names::POST_EDITED, &updated));
        Ok(updated)
    }

    /// ServiceSettings.PostEditTimeLimit (seconds after creation, -1 for ever) bounds changes
    /// to the message, as in Mattermost; pinning stays possible.
    fn check_post_edit_time_limit(&self, existing: &Post, patch: &PostPatch) -> AppResult<()> {
        let limit_seconds = self.config().service_settings.post_edit_time_limit;
        let changes_message = patch
            .message
            .as_ref()
            .is_some_and(|message| *message != existing.message);
        if limit_seconds < 0 || !changes_message {
            return Ok(());
        }
        if now_millis() > existing.create_at + limit_seconds * 1000 {
            return Err(ErrorId::PostEditTimeLimit.with_param("seconds", limit_seconds));
        }
        Ok(())
    }

    pub async fn delete_post(&self, session: &Session, post_id: &str) -> AppResult<()> {
        let (existing, channel) = self.readable_post_and_channel(session, post_id).await?;
        if existing.user_id != session.user_id && !session.is_system_admin() {
            return Err(AppError::from(ErrorId::DeleteOthersPost));
        }
        if channel.delete_at != 0 {
            return Err(ErrorId::DeletePostInArchivedChannel.into());
        }
        let _ordering = self.inner.channel_locks.lock(&existing.channel_id).await;
        let mut db = self.store().master().await?;
        let deleted = post_store::delete(&mut db, post_id, now_millis()).await?;
        drop(db);
        self.publish(
            post_event(event_names::POST_DELETED, &deleted.shown_to_clients())
                .with("delete_by", session.user_id.clone()),
        );
        Ok(())
    }

    pub async fn channel_posts(
        &self,
        session: &Session,
        channel_id: &str,
        query: ChannelPostsQuery,
    ) -> AppResult<PostList> {
        if !is_valid_id(channel_id) {
            return Err(AppError::invalid_param("channel_id"));
        }
        self.require_channel_member(session, channel_id).await?;
        let (offset, limit) = crate::page_window(query.page, query.per_page, 60, 200)?;
        let window = if let Some(since) = query.since.filter(|since| *since > 0) {
            PostWindow::Since { since }
        } else if let Some(before) = query.before.filter(|id| !id.is_empty()) {
            if !is_valid_id(&before) {
                return Err(AppError::invalid_param("before"));
            }
            PostWindow::Before {
                post_id: before,
                offset,
                limit,
            }
        } else if let Some(after) = query.after.filter(|id| !id.is_empty()) {
            if !is_valid_id(&after) {
                return Err(AppError::invalid_param("after"));
            }
            PostWindow::After {
                post_id: after,
                offset,
                limit,
            }
        } else {
            PostWindow::Page { offset, limit }
        };
        // The caller may have just posted, here or through another node: a replica only if it
        // has the caller's and the channel's latest writes.
        let db = self.fresh_read(&session.user_id, Some(channel_id)).await?;
        let mut list = post_store::list_channel(&db, channel_id, &window).await?;
        // Only `since` lists deleted posts (so clients learn of deletions they missed).
        list.posts = list
            .posts
            .into_iter()
            .map(|(id, post)| (id, post.shown_to_clients()))
            .collect();
        Ok(list)
    }

    pub async fn post_thread(&self, session: &Session, post_id: &str) -> AppResult<PostList> {
        // Opening a permalink loads its thread: readable where the post is.
        let post = self.permalink_post(session, post_id).await?;
        let root_id = if post.root_id.is_empty() {
            post.id
        } else {
            post.root_id
        };
        let db = self
            .fresh_read(&session.user_id, Some(&post.channel_id))
            .await?;
        Ok(post_store::thread(&db, &root_id).await?)
    }

    pub async fn search_posts(
        &self,
        session: &Session,
        team_id: &str,
        parameters: SearchParameter,
    ) -> AppResult<PostSearchResults> {
        self.search_posts_in(session, Some(team_id), parameters)
            .await
    }

    /// A post search in one team, or in all the caller's teams (`None`).
    pub(crate) async fn search_posts_in(
        &self,
        session: &Session,
        team_id: Option<&str>,
        parameters: SearchParameter,
    ) -> AppResult<PostSearchResults> {
        let config = self.config();
        if !config.service_settings.enable_post_search
            || config.sql_settings.disable_database_search
        {
            return Err(ErrorId::PostSearchDisabled.into());
        }
        self.require_not_busy()?;
        if let Some(team_id) = team_id {
            self.require_team_member(session, team_id).await?;
        }
        let (offset, limit) = crate::page_window(parameters.page, parameters.per_page, 60, 200)?;
        let search = PostSearch::parse(&parameters.terms, parameters.is_or_search);
        search.check_limits()?;
        if search.is_empty() {
            return Ok(PostSearchResults {
                list: PostList::default(),
                matches: None,
            });
        }
        let db = self
            .store()
            .search_for(&[chorus_store::FreshKey::User(session.user_id.clone())])
            .await?;
        let list =
            post_store::search(&db, &session.user_id, team_id, &search, offset, limit).await?;
        Ok(PostSearchResults {
            list,
            matches: None,
        })
    }

    // ---- reactions ----

    pub async fn add_reaction(
        &self,
        session: &Session,
        mut reaction: Reaction,
    ) -> AppResult<Reaction> {
        if reaction.user_id != session.user_id {
            return Err(AppError::from(ErrorId::SaveReactionForOther));
        }
        validate_emoji_name(&reaction.emoji_name)?;
        let (post, channel) = self
            .readable_post_and_channel(session, &reaction.post_id)
            .await?;
        self.require_known_emoji(session, &reaction.emoji_name)
            .await?;
        if channel.delete_at != 0 {
            return Err(ErrorId::ReactInArchivedChannel.into());
        }
        reaction.channel_id = post.channel_id.clone();
        reaction.create_at = now_millis();
        let _ordering = self.inner.channel_locks.lock(&post.channel_id).await;
        let mut db = self.store().master().await?;
        let saved = reaction_store::save(&mut db, &reaction).await?;
        drop(db);
        self.publish(reaction_event(event_names::REACTION_ADDED, &saved));
        Ok(saved)
    }

    pub async fn remove_reaction(
        &self,
        session: &Session,
        user_id: &str,
        post_id: &str,
        emoji_name: &str,
    ) -> AppResult<()> {
        if user_id != session.user_id && !session.is_system_admin() {
            return Err(AppError::from(ErrorId::DeleteReactionForOther));
        }
        validate_emoji_name(emoji_name)?;
        let (post, channel) = self.readable_post_and_channel(session, post_id).await?;
        if channel.delete_at != 0 {
            return Err(ErrorId::UnreactInArchivedChannel.into());
        }
        let _ordering = self.inner.channel_locks.lock(&post.channel_id).await;
        let mut db = self.store().master().await?;
        let removed =
            reaction_store::delete(&mut db, user_id, post_id, emoji_name, now_millis()).await?;
        drop(db);
        if let Some(reaction) = removed {
            self.publish(reaction_event(event_names::REACTION_REMOVED, &reaction));
        }
        Ok(())
    }

    pub async fn list_reactions(
        &self,
        session: &Session,
        post_id: &str,
    ) -> AppResult<Vec<Reaction>> {
        let post = self.readable_post(session, post_id).await?;
        let db = self
            .fresh_read(&session.user_id, Some(&post.channel_id))
            .await?;
        match reaction_store::list_for_post(&db, post_id).await {
            Ok(reactions) => Ok(reactions),
            Err(StoreError::NotFound(_)) => Ok(Vec::new()),
            Err(other) => Err(other.into()),
        }
    }
}

fn validate_emoji_name(name: &str) -> AppResult<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'));
    if !valid {
        return Err(AppError::from(ErrorId::EmojiNameInvalid));
    }
    Ok(())
}

/// Mattermost's `hashtags` column: the #words of a message, space-separated.
fn hashtags(message: &str) -> String {
    let mut found: Vec<String> = Vec::new();
    for word in message.split_whitespace() {
        let trimmed = word.trim_end_matches(|c: char| !c.is_alphanumeric() && c != '_');
        if let Some(tag) = trimmed.strip_prefix('#') {
            let valid = tag.len() >= 2
                && tag.chars().next().is_some_and(char::is_alphabetic)
                && tag
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.');
            if valid && !found.iter().any(|existing| existing == trimmed) {
                found.push(trimmed.to_string());
            }
        }
    }
    let mut joined = found.join(" ");
    joined.truncate(1000);
    joined
}

//! Collapsed reply threads: who follows which thread, what they have read of it, and the
//! events that tell their clients (`thread_updated`, `thread_follow_changed`,
//! `thread_read_changed`, to the user's connections on every node).
//!
//! Memberships are kept whatever `ServiceSettings.CollapsedThreads` says (Mattermost's
//! auto-follow: a reply makes its author, the root's author and the users it mentions follow;
//! see `chorus_store::threads::record_reply`, run in the reply's transaction); the events are
//! sent only when it is not "disabled". A user reads and changes their own threads; a system
//! admin anyone's (Mattermost's `SessionHasPermissionToUser`).

use crate::{App, AppResult};
use chorus_model::{
    event_names, is_valid_id, now_millis, AppError, Broadcast, Channel, ErrorId, Post, Session,
    ThreadResponse, Threads, User, WebSocketEvent,
};
use chorus_store::threads::{self as thread_store, ThreadFilter, ThreadMembership};
use chorus_store::{posts as post_store, users as user_store, GenericClient, StoreError};
use serde::Deserialize;
use std::sync::Arc;

/// Query of GET /users/{id}/teams/{team_id}/threads (Mattermost's names, camelCase included).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ThreadsQuery {
    pub since: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub per_page: Option<i64>,
    pub unread: Option<String>,
    pub extended: Option<String>,
    pub deleted: Option<String>,
    #[serde(rename = "totalsOnly")]
    pub totals_only: Option<String>,
    #[serde(rename = "threadsOnly")]
    pub threads_only: Option<String>,
}

/// Go's `strconv.ParseBool`, false when absent or unparsable (as Mattermost reads these).
fn flag(value: &Option<String>) -> bool {
    matches!(
        value.as_deref().map(str::to_ascii_lowercase).as_deref(),
        Some("1" | "t" | "true")
    )
}

fn require_self_or_admin(session: &Session, user_id: &str) -> AppResult<()> {
    if session.user_id == user_id || session.is_system_admin() {
        Ok(())
    } else {
        Err(AppError::no_permission())
    }
}

fn require_ids(user_id: &str, team_id: &str, thread_id: Option<&str>) -> AppResult<()> {
    if !is_valid_id(user_id) {
        return Err(ErrorId::InvalidUrlParam.with_param("name", "user_id"));
    }
    if !is_valid_id(team_id) {
        return Err(ErrorId::InvalidUrlParam.with_param("name", "team_id"));
    }
    if thread_id.is_some_and(|id| !is_valid_id(id)) {
        return Err(ErrorId::InvalidUrlParam.with_param("name", "thread_id"));
    }
    Ok(())
}

impl App {
    fn collapsed_threads_on(&self) -> bool {
        self.config().service_settings.collapsed_threads != "disabled"
    }

    /// The thread as `membership`'s user sees it, reading its participants and unread replies.
    async fn thread_response(
        &self,
        db: &impl GenericClient,
        root: Post,
        membership: &ThreadMembership,
        extended: bool,
    ) -> AppResult<ThreadResponse> {
        let participant_ids = thread_store::participants(db, std::slice::from_ref(&root.id))
            .await?
            .remove(&root.id)
            .unwrap_or_default();
        let unread_replies =
            thread_store::unread_replies(db, &root.id, &membership.user_id, membership.last_viewed)
                .await?;
        self.thread_view(root, membership, participant_ids, unread_replies, extended)
            .await
    }

    /// The thread as `membership`'s user sees it. Participants carry only their ids unless
    /// `extended`.
    async fn thread_view(
        &self,
        root: Post,
        membership: &ThreadMembership,
        participant_ids: Vec<String>,
        unread_replies: i64,
        extended: bool,
    ) -> AppResult<ThreadResponse> {
        let participants: Vec<User> = if extended {
            let mut users = Vec::new();
            for user_id in &participant_ids {
                if let Ok(user) = self.cached_user(user_id).await {
                    users.push(crate::users::sanitize_for(
                        (*user).clone(),
                        crate::users::UserReader::Other,
                    ));
                }
            }
            users
        } else {
            participant_ids
                .into_iter()
                .map(|id| User {
                    id,
                    ..Default::default()
                })
                .collect()
        };
        Ok(ThreadResponse {
            id: root.id.clone(),
            reply_count: root.reply_count,
            last_reply_at: root.last_reply_at,
            last_viewed_at: membership.last_viewed,
            participants,
            unread_replies,
            unread_mentions: membership.unread_mentions,
            is_urgent: false,
            delete_at: root.delete_at,
            post: root.shown_to_clients(),
        })
    }

    /// A thread's root in a team (its channel is the team's, or a direct or group channel).
    async fn thread_root_in_team(
        &self,
        db: &impl GenericClient,
        team_id: &str,
        thread_id: &str,
    ) -> AppResult<(Post, Arc<Channel>)> {
        let root = match post_store::get(db, thread_id).await {
            Ok(post) => post,
            Err(StoreError::NotFound(_)) => return Err(ErrorId::ThreadNotFound.into()),
            Err(other) => return Err(other.into()),
        };
        if !root.root_id.is_empty() {
            return Err(ErrorId::ThreadNotFound.into());
        }
        let channel = self.cached_channel(&root.channel_id).await?;
        if !channel.team_id.is_empty() && channel.team_id != team_id {
            return Err(ErrorId::ThreadNotFound.into());
        }
        Ok((root, channel))
    }

    /// GET /users/{id}/teams/{team_id}/threads.
    pub async fn user_threads(
        &self,
        session: &Session,
        user_id: &str,
        team_id: &str,
        query: ThreadsQuery,
    ) -> AppResult<Threads> {
        require_ids(user_id, team_id, None)?;
        require_self_or_admin(session, user_id)?;
        let since = match query.since.as_deref().filter(|since| !since.is_empty()) {
            Some(text) => text
                .parse::<u64>()
                .ok()
                .and_then(|since| i64::try_from(since).ok())
                .ok_or_else(|| AppError::invalid_param("since"))?,
            None => 0,
        };
        let before = query.before.filter(|id| !id.is_empty());
        let after = query.after.filter(|id| !id.is_empty());
        if before.is_some() && after.is_some() {
            return Err(ErrorId::ThreadsBadParams.into());
        }
        for cursor in [&before, &after].into_iter().flatten() {
            if !is_valid_id(cursor) {
                return Err(AppError::invalid_param("before"));
            }
        }
        let totals_only = flag(&query.totals_only);
        let threads_only = flag(&query.threads_only);
        if totals_only && threads_only {
            return Err(ErrorId::ThreadsBadOnlyParams.into());
        }
        let (_, limit) = crate::page_window(Some(0), query.per_page, 60, 200)?;
        let extended = flag(&query.extended);
        let filter = ThreadFilter {
            since,
            unread_only: flag(&query.unread),
            include_deleted: flag(&query.deleted),
            before,
            after,
            limit,
        };
        let db = self.fresh_read(user_id, None).await?;
        let mut result = Threads::default();
        if !threads_only {
            let (total, unread_threads, unread_mentions) =
                thread_store::totals(&db, user_id, team_id).await?;
            result.total = total;
            result.total_unread_threads = unread_threads;
            result.total_unread_mentions = unread_mentions;
        }
        if totals_only {
            return Ok(result);
        }
        let followed = thread_store::list_followed(&db, user_id, team_id, &filter).await?;
        let root_ids: Vec<String> = followed
            .iter()
            .map(|thread| thread.membership.post_id.clone())
            .collect();
        let roots = post_store::get_many(&db, &root_ids).await?;
        let mut participants = thread_store::participants(&db, &root_ids).await?;
        for thread in followed {
            let Some(root) = roots
                .iter()
                .find(|root| root.id == thread.membership.post_id)
            else {
                continue;
            };
            let participant_ids = participants.remove(&root.id).unwrap_or_default();
            let response = self
                .thread_view(
                    root.clone(),
                    &thread.membership,
                    participant_ids,
                    thread.unread_replies,
                    extended,
                )
                .await?;
            result.threads.push(response);
        }
        Ok(result)
    }

    /// GET /users/{id}/teams/{team_id}/threads/{thread_id}: needs a membership (followed or
    /// not), as Mattermost's `GetThreadMembershipForUser`.
    pub async fn user_thread(
        &self,
        session: &Session,
        user_id: &str,
        team_id: &str,
        thread_id: &str,
        extended: bool,
    ) -> AppResult<ThreadResponse> {
        require_ids(user_id, team_id, Some(thread_id))?;
        require_self_or_admin(session, user_id)?;
        let db = self.fresh_read(user_id, None).await?;
        let membership = thread_store::get(&db, thread_id, user_id).await?;
        let (root, _channel) = self.thread_root_in_team(&db, team_id, thread_id).await?;
        self.thread_response(&db, root, &membership, extended).await
    }

    /// PUT (follow) and DELETE (unfollow) .../threads/{thread_id}/following. Following needs
    /// read access to the thread's channel and marks the thread read, as Mattermost does.
    pub async fn set_thread_following(
        &self,
        session: &Session,
        user_id: &str,
        team_id: &str,
        thread_id: &str,
        following: bool,
    ) -> AppResult<()> {
        require_ids(user_id, team_id, Some(thread_id))?;
        require_self_or_admin(session, user_id)?;
        let db = self.store().master().await?;
        let (root, channel) = self.thread_root_in_team(&db, team_id, thread_id).await?;
        if following {
            self.require_channel_read(session, &root.channel_id).await?;
        }
        let now = now_millis();
        thread_store::set_following(&db, thread_id, user_id, following, now).await?;
        if following {
            thread_store::set_viewed(&db, thread_id, user_id, now, 0, now).await?;
        }
        drop(db);
        if self.collapsed_threads_on() {
            self.publish(
                WebSocketEvent::new(
                    event_names::THREAD_FOLLOW_CHANGED,
                    user_broadcast(user_id, &channel.team_id),
                )
                .with("thread_id", thread_id)
                .with("state", following)
                .with("reply_count", root.reply_count),
            );
        }
        Ok(())
    }

    /// PUT .../threads/{thread_id}/read/{timestamp}: the user has read the thread up to
    /// `timestamp` (ms); mentions in later replies stay unread.
    pub async fn read_thread(
        &self,
        session: &Session,
        user_id: &str,
        team_id: &str,
        thread_id: &str,
        timestamp: i64,
    ) -> AppResult<ThreadResponse> {
        require_ids(user_id, team_id, Some(thread_id))?;
        require_self_or_admin(session, user_id)?;
        if timestamp < 0 {
            return Err(ErrorId::InvalidUrlParam.with_param("name", "timestamp"));
        }
        let db = self.store().master().await?;
        let (root, channel) = self.thread_root_in_team(&db, team_id, thread_id).await?;
        self.require_channel_read(session, &root.channel_id).await?;
        self.set_thread_read_at(db, user_id, root, &channel, timestamp)
            .await
    }

    /// POST .../threads/{thread_id}/set_unread/{post_id}: the thread is unread from `post_id`
    /// (the root or one of its replies) on.
    pub async fn set_thread_unread(
        &self,
        session: &Session,
        user_id: &str,
        team_id: &str,
        thread_id: &str,
        post_id: &str,
    ) -> AppResult<ThreadResponse> {
        require_ids(user_id, team_id, Some(thread_id))?;
        if !is_valid_id(post_id) {
            return Err(ErrorId::InvalidUrlParam.with_param("name", "post_id"));
        }
        require_self_or_admin(session, user_id)?;
        let db = self.store().master().await?;
        let (root, channel) = self.thread_root_in_team(&db, team_id, thread_id).await?;
        self.require_channel_read(session, &root.channel_id).await?;
        let post = match post_store::get(&db, post_id).await {
            Ok(post) if post.delete_at == 0 => post,
            Ok(_) | Err(StoreError::NotFound(_)) => {
                return Err(AppError::from(ErrorId::PostNotFound))
            }
            Err(other) => return Err(other.into()),
        };
        if post.id != root.id && post.root_id != root.id {
            return Err(AppError::invalid_param("post_id"));
        }
        self.set_thread_read_at(db, user_id, root, &channel, post.create_at - 1)
            .await
    }

    async fn set_thread_read_at(
        &self,
        db: chorus_store::Connection,
        user_id: &str,
        root: Post,
        channel: &Channel,
        timestamp: i64,
    ) -> AppResult<ThreadResponse> {
        let previous = match thread_store::get(&db, &root.id, user_id).await {
            Ok(membership) => Some(membership),
            Err(StoreError::NotFound(_)) => None,
            Err(other) => return Err(other.into()),
        };
        let previous_unread_replies = match &previous {
            Some(membership) => {
                thread_store::unread_replies(&db, &root.id, user_id, membership.last_viewed).await?
            }
            None => 0,
        };
        let user = user_store::get(&db, user_id).await?;
        let unread_mentions =
            thread_store::mentions_after(&db, &root.id, &user.username, timestamp).await?;
        let membership = thread_store::set_viewed(
            &db,
            &root.id,
            user_id,
            timestamp,
            unread_mentions,
            now_millis(),
        )
        .await?;
        let thread = self.thread_response(&db, root, &membership, false).await?;
        drop(db);
        if self.collapsed_threads_on() {
            self.publish(
                WebSocketEvent::new(
                    event_names::THREAD_READ_CHANGED,
                    user_broadcast(user_id, &channel.team_id),
                )
                .with("thread_id", thread.id.clone())
                .with("timestamp", timestamp)
                .with("unread_mentions", thread.unread_mentions)
                .with("unread_replies", thread.unread_replies)
                .with(
                    "previous_unread_mentions",
                    previous.as_ref().map_or(0, |m| m.unread_mentions),
                )
                .with("previous_unread_replies", previous_unread_replies)
                .with("channel_id", channel.id.clone()),
            );
        }
        Ok(thread)
    }

    /// PUT /users/{id}/teams/{team_id}/threads/read: every followed thread read now.
    pub async fn read_all_threads(
        &self,
        session: &Session,
        user_id: &str,
        team_id: &str,
    ) -> AppResult<()> {
        require_ids(user_id, team_id, None)?;
        require_self_or_admin(session, user_id)?;
        let now = now_millis();
        let db = self.store().master().await?;
        thread_store::mark_all_read(&db, user_id, team_id, now).await?;
        drop(db);
        if self.collapsed_threads_on() {
            self.publish(
                WebSocketEvent::new(
                    event_names::THREAD_READ_CHANGED,
                    user_broadcast(user_id, team_id),
                )
                .with("timestamp", now),
            );
        }
        Ok(())
    }

    /// `thread_updated` to each follower of the thread `reply` went to (after its commit and
    /// its `posted`), with the thread as that follower sees it.
    pub(crate) async fn announce_thread_reply(
        &self,
        reply: &Post,
        channel: &Channel,
        followers: &[String],
    ) {
        if followers.is_empty() || !self.collapsed_threads_on() {
            return;
        }
        let announced = async {
            let db = self.store().master().await?;
            let root = post_store::get(&db, &reply.root_id).await?;
            let participant_ids = thread_store::participants(&db, std::slice::from_ref(&root.id))
                .await?
                .remove(&root.id)
                .unwrap_or_default();
            let memberships =
                thread_store::memberships_with_unread(&db, &root.id, followers).await?;
            drop(db);
            for followed in memberships {
                let follower = followed.membership.user_id.clone();
                let thread = self
                    .thread_view(
                        root.clone(),
                        &followed.membership,
                        participant_ids.clone(),
                        followed.unread_replies,
                        false,
                    )
                    .await?;
                self.publish(
                    WebSocketEvent::new(
                        event_names::THREAD_UPDATED,
                        user_broadcast(&follower, &channel.team_id),
                    )
                    .with("thread", serde_json::to_string(&thread).unwrap_or_default()),
                );
            }
            Ok::<(), AppError>(())
        };
        if let Err(error) = announced.await {
            tracing::warn!(post_id = %reply.id, error = %error.detailed_error, "thread_updated not sent");
        }
    }
}

/// To one user's connections, naming the team as Mattermost's thread events do.
fn user_broadcast(user_id: &str, team_id: &str) -> Broadcast {
    let mut broadcast = Broadcast::to_user(user_id);
    broadcast.team_id = team_id.to_string();
    broadcast
}

//! A user's channels and unreads across teams, and a channel's settings beyond its name:
//! archive restore, privacy, stats, a member's notify props (mute) and roles, and marking
//! channels read. Mattermost's permissions: a user's own memberships (or a system admin),
//! channel admins for roles, team admins for restore and privacy.

use crate::{App, AppResult};
use chorus_model::{
    event_names, now_millis, AppError, Broadcast, Channel, ChannelMember, ChannelStats,
    ChannelViewResponse, ErrorId, PostList, Session, TeamUnread, WebSocketEvent, CHANNEL_OPEN,
    CHANNEL_PRIVATE, DEFAULT_CHANNEL,
};
use chorus_store::channels::{self as channel_store, MemberRoles};
use chorus_store::posts::{self as post_store, PostWindow};
use chorus_store::StoreError;
use serde_json::{Map, Value};

fn require_self_or_admin(session: &Session, user_id: &str) -> AppResult<()> {
    if session.user_id == user_id || session.is_system_admin() {
        Ok(())
    } else {
        Err(AppError::no_permission())
    }
}

/// The notify props a member may set (Mattermost's `UpdateChannelMemberNotifyProps`).
const NOTIFY_PROPS: [&str; 10] = [
    "desktop",
    "mark_unread",
    "push",
    "email",
    "ignore_channel_mentions",
    "channel_auto_follow_threads",
    "desktop_threads",
    "push_threads",
    "desktop_sound",
    "desktop_notification_sound",
];

/// Mattermost's `ChannelMember.IsValid` on notify props: each known prop within its levels.
fn validate_notify_props(props: &Map<String, Value>) -> AppResult<()> {
    let level_of = |name: &str| props.get(name).and_then(Value::as_str);
    let checks: [(&str, &[&str], ErrorId); 5] = [
        (
            "desktop",
            &["default", "all", "mention", "none"],
            ErrorId::ChannelNotifyLevelInvalid,
        ),
        (
            "mark_unread",
            &["all", "mention"],
            ErrorId::ChannelUnreadLevelInvalid,
        ),
        (
            "push",
            &["default", "all", "mention", "none"],
            ErrorId::ChannelPushLevelInvalid,
        ),
        (
            "email",
            &["default", "true", "false"],
            ErrorId::ChannelEmailValueInvalid,
        ),
        (
            "ignore_channel_mentions",
            &["default", "off", "on"],
            ErrorId::ChannelIgnoreMentionsInvalid,
        ),
    ];
    for (name, levels, error) in checks {
        let present = props.get(name);
        let valid = match (present, level_of(name)) {
            (None, _) => true,
            (Some(_), Some(level)) => levels.contains(&level),
            (Some(_), None) => false,
        };
        if !valid {
            return Err(error.into());
        }
    }
    if serde_json::to_string(props).unwrap_or_default().len() > 800 {
        return Err(ErrorId::ChannelNotifyPropsTooLarge.into());
    }
    Ok(())
}

/// `channel_member_updated` to the member's connections, the member as a JSON string.
fn member_updated_event(member: &ChannelMember) -> WebSocketEvent {
    WebSocketEvent::new(
        event_names::CHANNEL_MEMBER_UPDATED,
        Broadcast::to_user(&member.user_id),
    )
    .with(
        "channelMember",
        serde_json::to_string(member).unwrap_or_default(),
    )
}

impl App {
    /// GET /users/{id}/channels: the user's channels in every team, and direct and group ones.
    pub async fn channels_for_user(
        &self,
        session: &Session,
        user_id: &str,
        include_deleted: bool,
        last_delete_at: i64,
    ) -> AppResult<Vec<Channel>> {
        require_self_or_admin(session, user_id)?;
        let db = self.fresh_read(user_id, None).await?;
        Ok(channel_store::list_for_user(&db, user_id, include_deleted, last_delete_at).await?)
    }

    /// GET /users/{id}/channel_members: the user's memberships in every team, a page of them
    /// when `page` is given (all of them for no page or -1, as Mattermost streams them).
    pub async fn channel_members_for_user(
        &self,
        session: &Session,
        user_id: &str,
        page: Option<i64>,
        per_page: Option<i64>,
    ) -> AppResult<Vec<ChannelMember>> {
        require_self_or_admin(session, user_id)?;
        let window = match page {
            None | Some(-1) => None,
            Some(_) => Some(crate::page_window(page, per_page, 60, 200)?),
        };
        let db = self.fresh_read(user_id, None).await?;
        Ok(channel_store::list_members_for_user(&db, user_id, window).await?)
    }

    /// GET /users/{id}/teams/unread.
    pub async fn team_unreads(
        &self,
        session: &Session,
        user_id: &str,
        exclude_team_id: &str,
    ) -> AppResult<Vec<TeamUnread>> {
        require_self_or_admin(session, user_id)?;
        if !exclude_team_id.is_empty() && !chorus_model::is_valid_id(exclude_team_id) {
            return Err(AppError::invalid_param("exclude_team"));
        }
        let db = self.fresh_read(user_id, None).await?;
        Ok(channel_store::team_unreads(&db, user_id, exclude_team_id).await?)
    }

    /// GET /channels/{id}/stats.
    pub async fn channel_stats(
        &self,
        session: &Session,
        channel_id: &str,
    ) -> AppResult<ChannelStats> {
        self.require_channel_read(session, channel_id).await?;
        let db = self.fresh_read(&session.user_id, Some(channel_id)).await?;
        Ok(channel_store::stats(&db, channel_id).await?)
    }

    /// POST /channels/{id}/restore: team admins unarchive a channel (`channel_restored` to
    /// the team).
    pub async fn restore_channel(&self, session: &Session, channel_id: &str) -> AppResult<Channel> {
        let db = self.store().master().await?;
        let channel = channel_store::get(&db, channel_id).await?;
        drop(db);
        self.require_team_admin(session, &channel.team_id).await?;
        let now = now_millis();
        let db = self.store().master().await?;
        if !channel_store::restore(&db, channel_id, now).await? {
            return Err(ErrorId::ChannelNotArchived.into());
        }
        let restored = channel_store::get(&db, channel_id).await?;
        drop(db);
        self.forget_channel(channel_id);
        self.publish(
            WebSocketEvent::new(
                event_names::CHANNEL_RESTORED,
                Broadcast::to_team(&channel.team_id),
            )
            .with("channel_id", channel_id.to_string()),
        );
        Ok(restored)
    }

    /// PUT /channels/{id}/privacy: team admins make a channel public or private; channel admins
    /// may make a public channel private (Mattermost's default roles). `channel_updated` to
    /// the channel, `channel_converted` to the team.
    pub async fn set_channel_privacy(
        &self,
        session: &Session,
        channel_id: &str,
        privacy: &str,
    ) -> AppResult<Channel> {
        if privacy != CHANNEL_OPEN && privacy != CHANNEL_PRIVATE {
            return Err(ErrorId::InvalidBodyParam.with_param("name", "privacy"));
        }
        let channel = self.cached_channel(channel_id).await?;
        if channel.is_direct_or_group() {
            return Err(ErrorId::InvalidBodyParam.with_param("name", "privacy"));
        }
        let team_admin = self
            .require_team_admin(session, &channel.team_id)
            .await
            .is_ok();
        let channel_admin = privacy == CHANNEL_PRIVATE
            && self.is_channel_admin(&session.user_id, channel_id).await?;
        if !team_admin && !channel_admin {
            return Err(AppError::no_permission());
        }
        if channel.name == DEFAULT_CHANNEL && privacy == CHANNEL_PRIVATE {
            return Err(ErrorId::DefaultChannelToPrivate.into());
        }
        let db = self.store().master().await?;
        let updated = channel_store::set_type(&db, channel_id, privacy, now_millis()).await?;
        drop(db);
        self.forget_channel(channel_id);
        self.publish(
            WebSocketEvent::new(
                event_names::CHANNEL_UPDATED,
                Broadcast::to_channel(channel_id),
            )
            .with(
                "channel",
                serde_json::to_string(&updated).unwrap_or_default(),
            ),
        );
        self.publish(
            WebSocketEvent::new(
                event_names::CHANNEL_CONVERTED,
                Broadcast::to_team(&updated.team_id),
            )
            .with("channel_id", channel_id.to_string()),
        );
        Ok(updated)
    }

    async fn is_channel_admin(&self, user_id: &str, channel_id: &str) -> AppResult<bool> {
        let db = self.store().master().await?;
        match channel_store::get_member(&db, channel_id, user_id).await {
            Ok(member) => Ok(member.scheme_admin),
            Err(StoreError::NotFound(_)) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }

    /// PUT /channels/{id}/members/{user_id}/notify_props: merges the given props into the
    /// member's (mute is `mark_unread: mention`); `channel_member_updated` to the member.
    pub async fn update_channel_notify_props(
        &self,
        session: &Session,
        channel_id: &str,
        user_id: &str,
        changes: Map<String, Value>,
    ) -> AppResult<ChannelMember> {
        require_self_or_admin(session, user_id)?;
        let db = self.store().master().await?;
        let member = match channel_store::get_member(&db, channel_id, user_id).await {
            Ok(member) => member,
            Err(StoreError::NotFound(_)) => return Err(ErrorId::ChannelMemberMissing.into()),
            Err(other) => return Err(other.into()),
        };
        drop(db);
        // Only the props Mattermost knows; clients send the member's ids in the same object.
        let mut props = member.notify_props.clone();
        for (name, value) in changes {
            if NOTIFY_PROPS.contains(&name.as_str()) {
                props.insert(name, value);
            }
        }
        validate_notify_props(&props)?;
        self.save_notify_props(channel_id, user_id, props).await
    }

    async fn save_notify_props(
        &self,
        channel_id: &str,
        user_id: &str,
        props: Map<String, Value>,
    ) -> AppResult<ChannelMember> {
        let mut db = self.store().master().await?;
        let transaction = db.transaction().await.map_err(StoreError::from)?;
        let updated = channel_store::set_notify_props(
            &transaction,
            channel_id,
            user_id,
            &Value::Object(props),
            now_millis(),
        )
        .await?;
        transaction.commit().await.map_err(StoreError::from)?;
        drop(db);
        self.publish(member_updated_event(&updated));
        Ok(updated)
    }

    /// Mutes (`mark_unread: mention`) or unmutes a channel for its member, as a muted sidebar
    /// category does.
    pub(crate) async fn set_channel_muted(
        &self,
        user_id: &str,
        channel_id: &str,
        muted: bool,
    ) -> AppResult<()> {
        let db = self.store().master().await?;
        let member = channel_store::get_member(&db, channel_id, user_id).await?;
        drop(db);
        let level = if muted { "mention" } else { "all" };
        if member
            .notify_props
            .get("mark_unread")
            .and_then(Value::as_str)
            == Some(level)
        {
            return Ok(());
        }
        let mut props = member.notify_props;
        props.insert("mark_unread".to_string(), Value::from(level));
        self.save_notify_props(channel_id, user_id, props).await?;
        Ok(())
    }

    /// PUT /channels/{id}/members/{user_id}/roles: channel admins, team admins and system
    /// admins set `channel_user` / `channel_admin`; `channel_member_updated` to the member.
    pub async fn update_channel_member_roles(
        &self,
        session: &Session,
        channel_id: &str,
        user_id: &str,
        roles: &str,
    ) -> AppResult<ChannelMember> {
        let channel = self.cached_channel(channel_id).await?;
        let allowed = session.is_system_admin()
            || self.is_channel_admin(&session.user_id, channel_id).await?
            || (!channel.team_id.is_empty()
                && self
                    .require_team_admin(session, &channel.team_id)
                    .await
                    .is_ok());
        if !allowed {
            return Err(AppError::no_permission());
        }
        let mut member_roles = MemberRoles::default();
        for role in roles.split_whitespace() {
            match role {
                "channel_user" => member_roles.scheme_user = true,
                "channel_admin" => member_roles.scheme_admin = true,
                "channel_guest" => member_roles.scheme_guest = true,
                other => {
                    return Err(ErrorId::ChannelMemberSchemeRole.with_param("role", other));
                }
            }
        }
        if member_roles.scheme_user && member_roles.scheme_guest {
            return Err(ErrorId::ChannelMemberGuestAndUser.into());
        }
        let mut db = self.store().master().await?;
        let transaction = db.transaction().await.map_err(StoreError::from)?;
        let updated = match channel_store::set_roles(
            &transaction,
            channel_id,
            user_id,
            &member_roles,
            now_millis(),
        )
        .await
        {
            Ok(updated) => updated,
            Err(StoreError::NotFound(_)) => return Err(ErrorId::ChannelMemberMissing.into()),
            Err(other) => return Err(other.into()),
        };
        transaction.commit().await.map_err(StoreError::from)?;
        drop(db);
        self.publish(member_updated_event(&updated));
        Ok(updated)
    }

    /// GET /users/{id}/channels/{channel_id}/posts/unread: the posts around the user's last
    /// view of the channel, or its newest `limit_before` posts when nothing is unread.
    pub async fn posts_around_last_unread(
        &self,
        session: &Session,
        user_id: &str,
        channel_id: &str,
        limit_before: i64,
        limit_after: i64,
    ) -> AppResult<PostList> {
        require_self_or_admin(session, user_id)?;
        self.require_channel_read(session, channel_id).await?;
        if limit_after == 0 {
            return Err(ErrorId::InvalidUrlParam.with_param("name", "limit_after"));
        }
        let db = self.fresh_read(user_id, Some(channel_id)).await?;
        let member = match channel_store::get_member(&db, channel_id, user_id).await {
            Ok(member) => member,
            Err(StoreError::NotFound(_)) => return Err(ErrorId::ChannelMemberMissing.into()),
            Err(other) => return Err(other.into()),
        };
        let current = channel_store::get(&db, channel_id).await?;
        let nothing_unread =
            member.last_viewed_at == 0 || current.last_post_at <= member.last_viewed_at;
        let window = if nothing_unread {
            PostWindow::Page {
                offset: 0,
                limit: limit_before,
            }
        } else {
            PostWindow::Around {
                time: member.last_viewed_at,
                limit_before,
                limit_after,
            }
        };
        Ok(post_store::list_channel(&db, channel_id, &window).await?)
    }

    /// POST /channels/members/{user_id}/view: marks the channel being viewed and the one
    /// left (`prev_channel_id`) read; `multiple_channels_viewed` to the user.
    pub async fn view_channels(
        &self,
        session: &Session,
        user_id: &str,
        channel_id: &str,
        prev_channel_id: &str,
    ) -> AppResult<ChannelViewResponse> {
        require_self_or_admin(session, user_id)?;
        let mut channel_ids = Vec::new();
        if !channel_id.is_empty() {
            self.require_channel_member(session, channel_id).await?;
            channel_ids.push(channel_id.to_string());
        }
        if !prev_channel_id.is_empty() && prev_channel_id != channel_id {
            channel_ids.push(prev_channel_id.to_string());
        }
        if channel_ids.is_empty() {
            return Ok(ChannelViewResponse {
                status: "OK".to_string(),
                last_viewed_at_times: Default::default(),
            });
        }
        let db = self.store().master().await?;
        let times = channel_store::view_many(&db, &channel_ids, user_id, now_millis()).await?;
        drop(db);
        if !times.is_empty() {
            self.publish(
                WebSocketEvent::new(
                    event_names::MULTIPLE_CHANNELS_VIEWED,
                    Broadcast::to_user(user_id),
                )
                .with(
                    "channel_times",
                    serde_json::to_value(&times).unwrap_or_default(),
                ),
            );
        }
        Ok(ChannelViewResponse {
            status: "OK".to_string(),
            last_viewed_at_times: times,
        })
    }
}

//! Issue 13 (misc): whole-object updates of teams and channels, members by ids, team member
//! roles, lookups by name and invite id, archived channels, member counts and timezones.
//! Permissions follow Mattermost's defaults; see each method.

use crate::{App, AppResult};
use chorus_model::{
    event_names, new_id, now_millis, AppError, Broadcast, Channel, ChannelMember, ChannelPatch,
    ChannelViewResponse, ErrorId, Session, Team, TeamMember, TeamPatch, WebSocketEvent, TEAM_OPEN,
};
use chorus_store::channels::ChannelScope;
use chorus_store::{
    channels as channel_store, teams as team_store, users as user_store, FreshKey, StoreError,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Mattermost caps the ids of one by-ids request; more is a bad request, not a slow query.
const MAXIMUM_IDS: usize = 1000;

fn require_ids(ids: &[String], name: &str) -> AppResult<()> {
    if ids.is_empty() || ids.len() > MAXIMUM_IDS || ids.iter().any(|id| id.len() != 26) {
        return Err(ErrorId::InvalidParam.with_param("name", name));
    }
    Ok(())
}

/// A user's preferred timezone as Mattermost reads it from the timezone map.
fn preferred_timezone(timezone: &Value) -> String {
    let automatic = timezone.get("useAutomaticTimezone").and_then(Value::as_str) == Some("true");
    let key = if automatic {
        "automaticTimezone"
    } else {
        "manualTimezone"
    };
    timezone
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

impl App {
    /// PUT /teams/{id}: the team's editable fields replaced (team admins); `update_team`.
    pub async fn update_team(
        &self,
        session: &Session,
        team_id: &str,
        team: Team,
    ) -> AppResult<Team> {
        if team.id != team_id {
            return Err(ErrorId::InvalidParam.with_param("name", "id"));
        }
        let patch = TeamPatch {
            display_name: Some(team.display_name),
            description: Some(team.description),
            company_name: Some(team.company_name),
            allowed_domains: Some(team.allowed_domains),
            allow_open_invite: Some(team.allow_open_invite),
        };
        self.patch_team(session, team_id, patch).await
    }

    /// PUT /channels/{id}: the channel's editable fields replaced (members); `channel_updated`.
    pub async fn update_channel(
        &self,
        session: &Session,
        channel_id: &str,
        channel: Channel,
    ) -> AppResult<Channel> {
        if channel.id != channel_id {
            return Err(ErrorId::InvalidParam.with_param("name", "channel_id"));
        }
        let existing = self.require_channel_member(session, channel_id).await?;
        // Direct and group channels keep their generated names; only the header changes.
        let renamable = !existing.is_direct_or_group();
        let patch = ChannelPatch {
            display_name: renamable.then_some(channel.display_name),
            name: renamable.then_some(channel.name),
            header: Some(channel.header),
            purpose: Some(channel.purpose),
        };
        self.patch_channel(session, channel_id, patch).await
    }

    /// POST /channels/{id}/members/ids: those of the users who are members, for readers of the
    /// channel.
    pub async fn channel_members_by_ids(
        &self,
        session: &Session,
        channel_id: &str,
        user_ids: &[String],
    ) -> AppResult<Vec<ChannelMember>> {
        require_ids(user_ids, "user_ids")?;
        self.require_channel_read(session, channel_id).await?;
        let db = self.fresh_read(&session.user_id, Some(channel_id)).await?;
        Ok(channel_store::members_by_ids(&db, channel_id, user_ids).await?)
    }

    /// POST /teams/{id}/members/ids: those of the users who are members, for team members.
    pub async fn team_members_by_ids(
        &self,
        session: &Session,
        team_id: &str,
        user_ids: &[String],
    ) -> AppResult<Vec<TeamMember>> {
        require_ids(user_ids, "user_ids")?;
        self.require_team_member(session, team_id).await?;
        let db = self
            .store()
            .replica_for(&[FreshKey::Team(team_id.to_string())])
            .await?;
        Ok(team_store::members_by_ids(&db, team_id, user_ids).await?)
    }

    /// PUT /teams/{id}/members/{user_id}/roles: team admins set `team_user` / `team_admin` /
    /// `team_guest`; `memberrole_updated` to the member.
    pub async fn update_team_member_roles(
        &self,
        session: &Session,
        team_id: &str,
        user_id: &str,
        roles: &str,
    ) -> AppResult<TeamMember> {
        self.require_team_admin(session, team_id).await?;
        let (mut guest, mut user, mut admin) = (false, false, false);
        for role in roles.split_whitespace() {
            match role {
                "team_guest" => guest = true,
                "team_user" => user = true,
                "team_admin" => admin = true,
                other => return Err(ErrorId::TeamMemberSchemeRole.with_param("role", other)),
            }
        }
        if guest && user {
            return Err(ErrorId::TeamMemberGuestAndUser.into());
        }
        let mut db = self.store().master().await?;
        let transaction = db.transaction().await.map_err(StoreError::from)?;
        let previous = match team_store::get_member(&transaction, team_id, user_id).await {
            Ok(member) => member,
            Err(StoreError::NotFound(_)) => return Err(ErrorId::TeamMemberMissing.into()),
            Err(other) => return Err(other.into()),
        };
        if previous.scheme_guest != guest {
            return Err(ErrorId::TeamMemberChangingGuestRole.into());
        }
        let member = team_store::set_member_roles(
            &transaction,
            team_id,
            user_id,
            (guest, user, admin),
            now_millis(),
        )
        .await?;
        transaction.commit().await.map_err(StoreError::from)?;
        drop(db);
        self.publish(
            WebSocketEvent::new(event_names::MEMBERROLE_UPDATED, Broadcast::to_user(user_id))
                .with("member", serde_json::to_string(&member).unwrap_or_default()),
        );
        Ok(member)
    }

    /// GET /teams/name/{name}/channels/name/{channel_name}: a channel the caller may read.
    pub async fn channel_by_team_and_channel_name(
        &self,
        session: &Session,
        team_name: &str,
        channel_name: &str,
        include_deleted: bool,
    ) -> AppResult<Channel> {
        let team = self.get_team_by_name(session, team_name).await?;
        self.get_channel_by_name(session, &team.id, channel_name, include_deleted)
            .await
    }

    /// GET /teams/name/{name}/exists: true when the team exists and the caller may see it
    /// (a member, an open team, or an admin); never an error for a missing team.
    pub async fn team_exists(&self, session: &Session, name: &str) -> AppResult<Value> {
        let db = self.store().master().await?;
        let exists = match team_store::get_by_name(&db, name).await {
            Ok(team) => {
                drop(db);
                team.allow_open_invite
                    || session.is_system_admin()
                    || self.is_team_member(&team.id, &session.user_id).await?
            }
            Err(StoreError::NotFound(_)) => false,
            Err(other) => return Err(other.into()),
        };
        Ok(json!({ "exists": exists }))
    }

    /// POST /channels/stats/member_count: active members per channel, for channels the caller
    /// may read (one it may not makes the whole request a 403, as in Mattermost).
    pub async fn channels_member_counts(
        &self,
        session: &Session,
        channel_ids: &[String],
    ) -> AppResult<BTreeMap<String, i64>> {
        require_ids(channel_ids, "channel_ids")?;
        for channel_id in channel_ids {
            if self
                .require_channel_read(session, channel_id)
                .await
                .is_err()
            {
                return Err(AppError::no_permission());
            }
        }
        let db = self.fresh_read(&session.user_id, None).await?;
        Ok(channel_store::member_counts(&db, channel_ids).await?)
    }

    /// GET /channels/{id}/timezones: the distinct preferred timezones of its active members.
    pub async fn channel_member_timezones(
        &self,
        session: &Session,
        channel_id: &str,
    ) -> AppResult<Vec<String>> {
        self.require_channel_read(session, channel_id).await?;
        let db = self.fresh_read(&session.user_id, Some(channel_id)).await?;
        let mut timezones: Vec<String> = channel_store::member_timezones(&db, channel_id)
            .await?
            .iter()
            .map(preferred_timezone)
            .filter(|timezone| !timezone.is_empty())
            .collect();
        timezones.sort();
        timezones.dedup();
        Ok(timezones)
    }

    /// GET /teams/{id}/channels/deleted: archived public channels and the caller's archived
    /// private ones, for team members.
    pub async fn archived_channels(
        &self,
        session: &Session,
        team_id: &str,
        page: Option<i64>,
        per_page: Option<i64>,
    ) -> AppResult<Vec<Channel>> {
        self.require_team_member(session, team_id).await?;
        let (offset, limit) = crate::page_window(page, per_page, 60, 200)?;
        let db = self
            .store()
            .replica_for(&[
                FreshKey::User(session.user_id.clone()),
                FreshKey::Team(team_id.to_string()),
            ])
            .await?;
        Ok(channel_store::list_archived(&db, team_id, &session.user_id, offset, limit).await?)
    }

    /// POST /teams/{id}/regenerate_invite_id (team admins): old invite links stop working;
    /// `update_team`.
    pub async fn regenerate_invite_id(&self, session: &Session, team_id: &str) -> AppResult<Team> {
        self.require_team_admin(session, team_id).await?;
        let db = self.store().master().await?;
        let team = team_store::set_invite_id(&db, team_id, &new_id(), now_millis()).await?;
        drop(db);
        self.announce_team_update(&team);
        Ok(team)
    }

    /// GET /teams/invite/{invite_id}: what an invite link leads to, for any signed-in user;
    /// only open teams answer.
    pub async fn team_invite_info(&self, invite_id: &str) -> AppResult<Value> {
        let db = self.store().master().await?;
        let team = match team_store::get_by_invite_id(&db, invite_id).await {
            Ok(team) if team.delete_at == 0 => team,
            Ok(_) | Err(StoreError::NotFound(_)) => {
                return Err(AppError::from(ErrorId::TeamInviteNotFound))
            }
            Err(other) => return Err(other.into()),
        };
        if team.team_type != TEAM_OPEN {
            return Err(AppError::from(ErrorId::TeamInviteNotOpen));
        }
        Ok(json!({
            "id": team.id,
            "name": team.name,
            "display_name": team.display_name,
            "description": team.description,
        }))
    }
}

/// An ILIKE pattern for names starting with `term` (its wildcards taken literally).
fn prefix_pattern(term: &str) -> String {
    let escaped = term
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("{escaped}%")
}

/// An ILIKE pattern for names containing `term`.
fn contains_pattern(term: &str) -> String {
    format!("%{}", prefix_pattern(term))
}

impl App {
    /// Marks the user's `channel_ids` read (others are ignored), stamps a personal change (a
    /// resumed websocket that missed the event resyncs) and sends `multiple_channels_viewed`.
    async fn mark_read(
        &self,
        user_id: &str,
        channel_ids: &[String],
    ) -> AppResult<ChannelViewResponse> {
        let now = now_millis();
        let mut db = self.store().master().await?;
        let transaction = db.transaction().await.map_err(StoreError::from)?;
        let times = channel_store::view_many(&transaction, channel_ids, user_id, now).await?;
        if !times.is_empty() {
            chorus_store::sidebar::stamp_change(&transaction, user_id, now).await?;
        }
        transaction.commit().await.map_err(StoreError::from)?;
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

    /// POST /channels/members/me/mark_read: the caller's channels among `channel_ids` read.
    pub async fn read_channels(
        &self,
        session: &Session,
        channel_ids: &[String],
    ) -> AppResult<ChannelViewResponse> {
        require_ids(channel_ids, "channel_ids")?;
        self.mark_read(&session.user_id, channel_ids).await
    }

    /// PUT /users/{id}/teams/{team_id}/read: every channel of the user in the team read (the
    /// user or an admin).
    pub async fn read_team_channels(
        &self,
        session: &Session,
        user_id: &str,
        team_id: &str,
    ) -> AppResult<ChannelViewResponse> {
        if session.user_id != user_id {
            crate::require_system_admin(session)?;
        }
        let db = self.store().master().await?;
        let channel_ids = channel_store::member_channel_ids_in(&db, user_id, Some(team_id)).await?;
        drop(db);
        self.mark_read(user_id, &channel_ids).await
    }

    /// PUT /channels/members/{user_id}/direct/read: every direct and group channel of the user
    /// read (the user or an admin).
    pub async fn read_direct_channels(
        &self,
        session: &Session,
        user_id: &str,
    ) -> AppResult<ChannelViewResponse> {
        if session.user_id != user_id {
            crate::require_system_admin(session)?;
        }
        let db = self.store().master().await?;
        let channel_ids = channel_store::member_channel_ids_in(&db, user_id, None).await?;
        drop(db);
        self.mark_read(user_id, &channel_ids).await
    }

    /// GET /channels/{id}/common_teams: the teams every member of a direct or group channel is in, for
    /// its readers.
    pub async fn group_channel_common_teams(
        &self,
        session: &Session,
        channel_id: &str,
    ) -> AppResult<Vec<Team>> {
        let channel = self.require_channel_read(session, channel_id).await?;
        // Mattermost answers a 400 for channels other than direct and group messages.
        if !channel.is_direct_or_group() {
            return Err(ErrorId::InvalidUrlParam.with_param("name", "channel_id"));
        }
        let db = self.fresh_read(&session.user_id, Some(channel_id)).await?;
        Ok(team_store::common_to_channel_members(&db, channel_id).await?)
    }

    /// POST /teams/search: teams by name or display name; admins see all, others open teams
    /// and their own.
    pub async fn search_teams(
        &self,
        session: &Session,
        term: &str,
        include_deleted: bool,
    ) -> AppResult<Vec<Team>> {
        let visible_to = (!session.is_system_admin()).then_some(session.user_id.as_str());
        let include_deleted = include_deleted && visible_to.is_none();
        let db = self
            .store()
            .replica_for(&[FreshKey::User(session.user_id.clone())])
            .await?;
        let mut teams =
            team_store::search(&db, &contains_pattern(term), visible_to, include_deleted).await?;
        if !session.is_system_admin() {
            for team in &mut teams {
                team.email = String::new();
                team.invite_id = String::new();
            }
        }
        Ok(teams)
    }

    /// For team members: POST /teams/{id}/channels/search (public channels), GET
    /// .../autocomplete (public and the caller's private ones) and .../search_autocomplete (the
    /// caller's own, for `in:` in searches).
    pub async fn search_team_channels(
        &self,
        session: &Session,
        team_id: &str,
        term: &str,
        scope: ChannelScope,
    ) -> AppResult<Vec<Channel>> {
        self.require_team_member(session, team_id).await?;
        let db = self
            .store()
            .replica_for(&[
                FreshKey::User(session.user_id.clone()),
                FreshKey::Team(team_id.to_string()),
            ])
            .await?;
        // A search finds the term anywhere; autocompletes by prefix.
        let (pattern, limit) = if scope == ChannelScope::Public {
            (contains_pattern(term), 100)
        } else {
            (prefix_pattern(term), 50)
        };
        Ok(
            channel_store::search_in_team(&db, team_id, &session.user_id, &pattern, scope, limit)
                .await?,
        )
    }

    /// POST /channels/group/search: the caller's group channels with a member whose username
    /// contains the term.
    pub async fn search_group_channels(
        &self,
        session: &Session,
        term: &str,
    ) -> AppResult<Vec<Channel>> {
        let db = self.fresh_read(&session.user_id, None).await?;
        Ok(
            channel_store::search_group_channels(&db, &session.user_id, &contains_pattern(term))
                .await?,
        )
    }

    /// GET /users/known: ids of the users who share a channel with the caller.
    pub async fn known_user_ids(&self, session: &Session) -> AppResult<Vec<String>> {
        let db = self.fresh_read(&session.user_id, None).await?;
        Ok(user_store::known_user_ids(&db, &session.user_id).await?)
    }
}

/// The Systems row that says the first admin finished the onboarding.
const FIRST_ADMIN_SETUP_COMPLETE: &str = "FirstAdminSetupComplete";

impl App {
    /// GET /channels: public and private channels of every team with their team's names, for
    /// admins; `{channels, total_count}` with `include_total_count`.
    pub async fn all_channels(
        &self,
        session: &Session,
        query: AllChannelsQuery,
    ) -> AppResult<Value> {
        crate::require_system_admin(session)?;
        let (offset, limit) = crate::page_window(query.page, query.per_page, 60, 200)?;
        // The System Console's list: it must show what the admin just changed (archived,
        // restored, made public) through whichever node took the change, and nothing notes
        // those writes under the admin. Admins only, so the master can take it.
        let db = self.store().master().await?;
        let (rows, total) = channel_store::list_all_with_teams(
            &db,
            query.include_deleted,
            query.exclude_default_channels,
            offset,
            limit,
        )
        .await?;
        let channels: Vec<Value> = rows
            .into_iter()
            .map(|(channel, team_display_name, team_name, team_update_at)| {
                let mut value = serde_json::to_value(channel).unwrap_or_default();
                if let Some(object) = value.as_object_mut() {
                    object.insert("team_display_name".into(), team_display_name.into());
                    object.insert("team_name".into(), team_name.into());
                    object.insert("team_update_at".into(), team_update_at.into());
                }
                value
            })
            .collect();
        Ok(if query.include_total_count {
            json!({"channels": channels, "total_count": total})
        } else {
            Value::Array(channels)
        })
    }

    /// GET /posts/{id}/info: where a post lives and whether the caller has joined it, for a
    /// caller who could open it (a member, or able to join the team and a public channel);
    /// anyone else gets the not-found answer, as in Mattermost.
    pub async fn post_info(&self, session: &Session, post_id: &str) -> AppResult<Value> {
        let not_found = || AppError::from(ErrorId::PostNotFound);
        let post = match self
            .post_with_master_fallback(&session.user_id, post_id)
            .await
        {
            Ok(post) if post.delete_at == 0 => post,
            Ok(_) => return Err(not_found()),
            Err(error) => return Err(error),
        };
        let channel = self.cached_channel(&post.channel_id).await?;
        let team = if channel.team_id.is_empty() {
            None
        } else {
            let db = self.store().master().await?;
            Some(team_store::get(&db, &channel.team_id).await?)
        };
        let joined_team = match &team {
            Some(team) => self.is_team_member(&team.id, &session.user_id).await?,
            None => true,
        };
        // join_public_teams is everyone's; join_private_teams only admins'.
        let may_reach_team = joined_team
            || session.is_system_admin()
            || team.as_ref().is_some_and(|team| team.allow_open_invite);
        if !may_reach_team {
            return Err(not_found());
        }
        let joined_channel = self
            .channel_member_ids(&channel.id)
            .await?
            .contains(&session.user_id);
        let may_reach_channel = joined_channel
            || session.is_system_admin()
            || channel.channel_type == chorus_model::CHANNEL_OPEN;
        if !may_reach_channel {
            return Err(not_found());
        }
        let mut info = json!({
            "channel_id": channel.id,
            "channel_type": channel.channel_type,
            "channel_display_name": channel.display_name,
            "has_joined_channel": joined_channel,
        });
        if let (Some(team), Some(object)) = (team, info.as_object_mut()) {
            object.insert("team_id".into(), team.id.into());
            object.insert("team_type".into(), team.team_type.into());
            object.insert("team_display_name".into(), team.display_name.into());
            object.insert("has_joined_team".into(), joined_team.into());
        }
        Ok(info)
    }

    /// GET /system/onboarding/complete: whether the first admin finished the onboarding.
    pub async fn onboarding_complete(&self) -> AppResult<Value> {
        let db = self.store().master().await?;
        let value = chorus_store::system::get(&db, FIRST_ADMIN_SETUP_COMPLETE)
            .await?
            .unwrap_or_else(|| "false".to_string());
        Ok(json!({"name": FIRST_ADMIN_SETUP_COMPLETE, "value": value}))
    }

    /// POST /system/onboarding/complete: admins (manage_system) mark it finished. Chorus has
    /// no plugins to install, so `install_plugins` is accepted and ignored.
    pub async fn complete_onboarding(&self, session: &Session) -> AppResult<()> {
        crate::require_system_admin(session)?;
        let db = self.store().master().await?;
        chorus_store::system::set(&db, FIRST_ADMIN_SETUP_COMPLETE, "true").await?;
        Ok(())
    }
}

impl App {
    /// POST /users/{id}/posts/{post_id}/set_unread: the channel unread from the post on, for
    /// the user (or an admin) who may read it; `post_unread` to the user. Mentions are counted
    /// as when the posts were made: every post of the other person in a direct channel, else
    /// `@username` and channel-wide mentions by others.
    pub async fn set_unread_from_post(
        &self,
        session: &Session,
        user_id: &str,
        post_id: &str,
    ) -> AppResult<Value> {
        if session.user_id != user_id {
            crate::require_system_admin(session)?;
        }
        let (post, channel) = self.readable_post_and_channel(session, post_id).await?;
        if !self
            .channel_member_ids(&channel.id)
            .await?
            .contains(user_id)
        {
            return Err(ErrorId::ChannelMemberMissing.into());
        }
        let db = self.store().master().await?;
        let username = user_store::get(&db, user_id).await?.username.to_lowercase();
        let mut unread = channel_store::UnreadFrom {
            last_viewed_at: post.create_at - 1,
            ..Default::default()
        };
        let direct = channel.channel_type == chorus_model::CHANNEL_DIRECT;
        for (author_id, root_id, message) in
            channel_store::posts_since(&db, &channel.id, post.create_at).await?
        {
            let is_root = root_id.is_empty();
            unread.unread_msgs += 1;
            unread.unread_root_msgs += i64::from(is_root);
            if author_id == user_id {
                continue;
            }
            let names = crate::mentions::mentioned_names(&message);
            if direct || names.mentions_everyone || names.usernames.contains(&username) {
                unread.mentions += 1;
                unread.root_mentions += i64::from(is_root);
            }
        }
        drop(db);
        let now = now_millis();
        let mut db = self.store().master().await?;
        let transaction = db.transaction().await.map_err(StoreError::from)?;
        let member =
            channel_store::set_unread(&transaction, &channel.id, user_id, unread, now).await?;
        transaction.commit().await.map_err(StoreError::from)?;
        drop(db);
        let broadcast = Broadcast {
            channel_id: channel.id.clone(),
            team_id: channel.team_id.clone(),
            ..Broadcast::to_user(user_id)
        };
        self.publish(
            WebSocketEvent::new(event_names::POST_UNREAD, broadcast)
                .with("msg_count", member.msg_count)
                .with("msg_count_root", member.msg_count_root)
                .with("mention_count", member.mention_count)
                .with("mention_count_root", member.mention_count_root)
                .with("urgent_mention_count", 0)
                .with("last_viewed_at", member.last_viewed_at)
                .with("post_id", post_id),
        );
        Ok(json!({
            "team_id": channel.team_id,
            "channel_id": channel.id,
            "user_id": user_id,
            "msg_count": member.msg_count,
            "mention_count": member.mention_count,
            "mention_count_root": member.mention_count_root,
            "urgent_mention_count": 0,
            "msg_count_root": member.msg_count_root,
            "last_viewed_at": member.last_viewed_at,
            "notify_props": member.notify_props,
        }))
    }
}

impl App {
    /// POST /users/group_channels: the members of each group channel among `channel_ids`, as
    /// the caller may see them; every channel must be readable by the caller.
    pub async fn group_channel_members(
        &self,
        session: &Session,
        channel_ids: &[String],
    ) -> AppResult<BTreeMap<String, Vec<chorus_model::User>>> {
        require_ids(channel_ids, "channel_ids")?;
        for channel_id in channel_ids {
            if self
                .require_channel_read(session, channel_id)
                .await
                .is_err()
            {
                return Err(AppError::no_permission());
            }
        }
        let db = self.fresh_read(&session.user_id, None).await?;
        let pairs = channel_store::group_channel_member_ids(&db, channel_ids).await?;
        let mut user_ids: Vec<String> = pairs.iter().map(|(_, user_id)| user_id.clone()).collect();
        user_ids.sort();
        user_ids.dedup();
        let users: BTreeMap<String, chorus_model::User> = user_store::get_many(&db, &user_ids)
            .await?
            .into_iter()
            .map(|user| (user.id.clone(), crate::users::sanitize(user, session)))
            .collect();
        let mut members: BTreeMap<String, Vec<chorus_model::User>> = BTreeMap::new();
        for (channel_id, user_id) in pairs {
            if let Some(user) = users.get(&user_id) {
                members.entry(channel_id).or_default().push(user.clone());
            }
        }
        Ok(members)
    }
}

impl App {
    /// GET /config/environment: which settings the environment sets, as `{Section: {Key:
    /// true}}`. Mattermost shows each section only to readers of its System Console page; every
    /// page is an admin's, so others get `{}`.
    pub fn environment_config(&self, session: &Session) -> Value {
        if !session.is_system_admin() {
            return json!({});
        }
        let keys = match self.inner.config_store.lock().as_ref() {
            Some(store) => store.env_overridden_keys(),
            None => Vec::new(),
        };
        environment_tree(&keys)
    }
}

/// `["Section.Key", …]` as Mattermost's `{Section: {Key: true}}`.
fn environment_tree(dotted_keys: &[String]) -> Value {
    let mut sections = serde_json::Map::new();
    for dotted in dotted_keys {
        if let Some((section, key)) = dotted.split_once('.') {
            let entry = sections
                .entry(section.to_string())
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            if let Some(keys) = entry.as_object_mut() {
                keys.insert(key.to_string(), Value::Bool(true));
            }
        }
    }
    Value::Object(sections)
}

/// The query of GET /channels.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct AllChannelsQuery {
    pub page: Option<i64>,
    pub per_page: Option<i64>,
    pub include_deleted: bool,
    pub exclude_default_channels: bool,
    pub include_total_count: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preferred_timezone_follows_the_automatic_flag() {
        let automatic = json!({"useAutomaticTimezone": "true", "automaticTimezone": "Europe/Paris", "manualTimezone": "UTC"});
        assert_eq!(preferred_timezone(&automatic), "Europe/Paris");
        let manual = json!({"useAutomaticTimezone": "false", "automaticTimezone": "Europe/Paris", "manualTimezone": "UTC"});
        assert_eq!(preferred_timezone(&manual), "UTC");
        assert_eq!(preferred_timezone(&json!({})), "");
    }

    #[test]
    fn ids_must_be_present_and_well_formed() {
        assert!(require_ids(&[], "user_ids").is_err());
        assert!(require_ids(&["short".to_string()], "user_ids").is_err());
        assert!(require_ids(&["a".repeat(26)], "user_ids").is_ok());
    }

    #[test]
    fn environment_keys_are_grouped_by_section() {
        let keys = vec![
            "SqlSettings.DataSource".to_string(),
            "SqlSettings.DriverName".to_string(),
            "ServiceSettings.SiteURL".to_string(),
        ];
        assert_eq!(
            environment_tree(&keys),
            json!({"SqlSettings": {"DataSource": true, "DriverName": true}, "ServiceSettings": {"SiteURL": true}})
        );
    }

    #[test]
    fn search_terms_match_their_wildcards_literally() {
        assert_eq!(prefix_pattern("off"), "off%");
        assert_eq!(contains_pattern("a_b%"), "%a\\_b\\%%");
    }
}

//! Channels: public and private channels, direct and group messages, membership, views and
//! unread counts.

use crate::cache::{self, ReadFrom};
use crate::{App, AppResult};
use chorus_model::{
    event_names, new_id, now_millis, AppError, Broadcast, Channel, ChannelMember, ChannelPatch,
    ChannelUnread, ErrorId, Session, WebSocketEvent, CHANNEL_DIRECT, CHANNEL_GROUP, CHANNEL_OPEN,
    CHANNEL_PRIVATE, DEFAULT_CHANNEL,
};
use chorus_relay::membership;
use chorus_store::history::JoinedBy;
use chorus_store::{
    channels as channel_store, teams as team_store, users as user_store, FreshKey, StoreError,
};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::Arc;

/// Body of POST /channels/direct (two user ids) or /channels/group (3 to 8).
pub type DirectChannelRequest = Vec<String>;

fn validate_channel_name(name: &str) -> AppResult<()> {
    let valid_characters = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    let looks_like_direct = name.contains("__");
    if name.is_empty() || name.len() > 64 || !valid_characters || looks_like_direct {
        return Err(AppError::from(ErrorId::ChannelNameInvalid));
    }
    Ok(())
}

fn validate_channel_text(channel: &Channel) -> AppResult<()> {
    let display_length = channel.display_name.trim().chars().count();
    if display_length == 0 || display_length > 64 {
        return Err(AppError::from(ErrorId::ChannelDisplayNameInvalid));
    }
    if channel.header.chars().count() > 1024 {
        return Err(AppError::from(ErrorId::ChannelHeaderTooLong));
    }
    if channel.purpose.chars().count() > 250 {
        return Err(AppError::from(ErrorId::ChannelPurposeTooLong));
    }
    Ok(())
}

impl App {
    // ---- cached lookups used by every permission check ----

    /// Member user ids of a channel, cached; the cache entry is dropped on every membership
    /// change on this node (and, with the cluster, on every node).
    pub(crate) async fn channel_member_ids(
        &self,
        channel_id: &str,
    ) -> AppResult<Arc<HashSet<String>>> {
        let members = cache::fill(
            &self.inner.caches.channel_members,
            &channel_id.to_string(),
            self.store(),
            ReadFrom::Master,
            |db| async move {
                let member_ids = channel_store::member_ids(&db, channel_id).await?;
                Ok(member_ids.into_iter().collect::<HashSet<String>>())
            },
        )
        .await?;
        Ok(members)
    }

    /// The channels any of these users is a member of, from a replica: only a hint of which
    /// channels' posts this node's websockets want (see `chorus_relay`'s `interest`).
    pub(crate) async fn channels_of_users(&self, user_ids: &[String]) -> AppResult<Vec<String>> {
        let db = self.store().replica().await?;
        Ok(channel_store::channel_ids_for_users(&db, user_ids).await?)
    }

    pub(crate) async fn cached_channel(&self, channel_id: &str) -> AppResult<Arc<Channel>> {
        cache::fill(
            &self.inner.caches.channels,
            &channel_id.to_string(),
            self.store(),
            ReadFrom::Master,
            |db| async move { Ok(channel_store::get(&db, channel_id).await?) },
        )
        .await
    }

    pub(crate) fn forget_channel(&self, channel_id: &str) {
        self.invalidate(chorus_cluster::ClusterMessage::ChannelChanged {
            channel_id: channel_id.to_string(),
        });
    }

    pub(crate) fn forget_channel_members(&self, channel_id: &str) {
        self.invalidate(chorus_cluster::ClusterMessage::ChannelMembersChanged {
            channel_id: channel_id.to_string(),
        });
    }

    /// The caller must be a member of the channel (admins may read anything).
    pub(crate) async fn require_channel_member(
        &self,
        session: &Session,
        channel_id: &str,
    ) -> AppResult<Arc<Channel>> {
        let channel = self.cached_channel(channel_id).await?;
        if self
            .channel_member_ids(channel_id)
            .await?
            .contains(&session.user_id)
        {
            return Ok(channel);
        }
        if session.is_system_admin() {
            return Ok(channel);
        }
        Err(AppError::from(ErrorId::NotChannelMember))
    }

    /// The caller may see the channel: a member, or a team member for a public channel.
    pub(crate) async fn require_channel_read(
        &self,
        session: &Session,
        channel_id: &str,
    ) -> AppResult<Arc<Channel>> {
        let channel = self.cached_channel(channel_id).await?;
        if session.is_system_admin()
            || self
                .channel_member_ids(channel_id)
                .await?
                .contains(&session.user_id)
        {
            return Ok(channel);
        }
        if channel.channel_type == CHANNEL_OPEN
            && self
                .is_team_member(&channel.team_id, &session.user_id)
                .await?
        {
            return Ok(channel);
        }
        Err(AppError::no_permission())
    }

    // ---- creation ----

    pub async fn create_channel(
        &self,
        session: &Session,
        mut channel: Channel,
    ) -> AppResult<Channel> {
        if channel.channel_type != CHANNEL_OPEN && channel.channel_type != CHANNEL_PRIVATE {
            return Err(AppError::from(ErrorId::DirectChannelThroughCreate));
        }
        if channel.team_id.is_empty() || !chorus_model::is_valid_id(&channel.team_id) {
            return Err(AppError::invalid_param("team_id"));
        }
        validate_channel_name(&channel.name)?;
        validate_channel_text(&channel)?;
        self.require_team_member(session, &channel.team_id).await?;

        let now = now_millis();
        channel.id = new_id();
        channel.create_at = now;
        channel.update_at = now;
        channel.delete_at = 0;
        channel.creator_id = session.user_id.clone();
        channel.last_post_at = now;
        channel.total_msg_count = 0;
        channel.total_msg_count_root = 0;

        let mut db = self.store().master().await?;
        let transaction = db.transaction().await.map_err(StoreError::from)?;
        // Counted in the transaction that inserts; two creations racing for the last place
        // may both pass, as in Mattermost.
        let maximum_channels = self.config().team_settings.max_channels_per_team;
        if channel_store::count_in_team(&transaction, &channel.team_id).await? >= maximum_channels {
            return Err(ErrorId::ChannelsPerTeamLimit.into());
        }
        match channel_store::insert(&transaction, &channel).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(AppError::from(ErrorId::ChannelNameTaken)),
            Err(other) => return Err(other.into()),
        }
        channel_store::add_member(
            &transaction,
            &channel.id,
            &session.user_id,
            true,
            now,
            JoinedBy::Created,
        )
        .await?;
        transaction.commit().await.map_err(StoreError::from)?;
        channel.last_root_post_at = now;

        self.publish(membership::channel_created(
            &session.user_id,
            &channel.id,
            &channel.team_id,
            now,
        ));
        Ok(channel)
    }

    /// POST /channels/direct: the one direct channel between two users, created on first use.
    pub async fn create_direct_channel(
        &self,
        session: &Session,
        user_ids: DirectChannelRequest,
    ) -> AppResult<Channel> {
        let unique: Vec<String> = user_ids
            .iter()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let is_self_channel = unique.len() == 1 && user_ids.len() == 2;
        if user_ids.len() != 2
            || (unique.len() != 2 && !is_self_channel)
            || !unique.iter().all(|id| chorus_model::is_valid_id(id))
        {
            return Err(AppError::from(ErrorId::DirectChannelNeedsTwoUsers));
        }
        if !unique.contains(&session.user_id) && !session.is_system_admin() {
            return Err(AppError::no_permission());
        }
        let first = &unique[0];
        let second = unique.get(1).unwrap_or(first);
        let name = Channel::direct_channel_name(first, second);
        if !is_self_channel {
            self.check_direct_message_restriction(session, &name, first, second)
                .await?;
        }
        self.create_or_get_members_only_channel(
            session,
            CHANNEL_DIRECT,
            name,
            String::new(),
            &unique,
        )
        .await
    }

    /// TeamSettings.RestrictDirectMessage "team": a new direct channel needs the two users to
    /// share a team, unless the caller is a system admin or one of them is a bot (as in
    /// Mattermost). An existing conversation stays open.
    async fn check_direct_message_restriction(
        &self,
        session: &Session,
        channel_name: &str,
        first_user_id: &str,
        second_user_id: &str,
    ) -> AppResult<()> {
        if self.config().team_settings.restrict_direct_message != "team"
            || session.is_system_admin()
        {
            return Ok(());
        }
        let db = self.store().master().await?;
        if channel_store::get_by_name(&db, "", channel_name)
            .await
            .is_ok()
        {
            return Ok(());
        }
        let users = user_store::get_many(
            &db,
            &[first_user_id.to_string(), second_user_id.to_string()],
        )
        .await?;
        if users.iter().any(|user| user.is_bot) {
            return Ok(());
        }
        let first_teams: HashSet<String> = team_store::list_for_user(&db, first_user_id)
            .await?
            .into_iter()
            .map(|team| team.id)
            .collect();
        let second_teams = team_store::list_for_user(&db, second_user_id).await?;
        if second_teams
            .iter()
            .any(|team| first_teams.contains(&team.id))
        {
            return Ok(());
        }
        Err(ErrorId::DirectMessageTeamRestricted.into())
    }

    /// POST /channels/group: the one group channel of 3 to 8 users.
    pub async fn create_group_channel(
        &self,
        session: &Session,
        mut user_ids: DirectChannelRequest,
    ) -> AppResult<Channel> {
        if !user_ids.contains(&session.user_id) {
            user_ids.push(session.user_id.clone());
        }
        let unique: Vec<String> = user_ids
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !(3..=8).contains(&unique.len())
            || !unique.iter().all(|id| chorus_model::is_valid_id(id))
        {
            return Err(AppError::from(ErrorId::GroupChannelSize));
        }
        // Users created a moment ago may not have replicated yet.
        let wanted = unique.len();
        let unique_ids = &unique;
        let users = self
            .read_fresh_or_master(
                &[],
                |users: &Vec<chorus_model::User>| users.len() >= wanted,
                |db| async move { Ok(user_store::get_many(&db, unique_ids).await?) },
            )
            .await?;
        if users.len() != unique.len() {
            return Err(AppError::from(ErrorId::GroupChannelUserMissing));
        }
        let display_name = users
            .iter()
            .map(|user| user.username.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let digest = Sha256::digest(unique.join(",").as_bytes());
        let name: String = digest
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect::<String>()[..40]
            .to_string();
        self.create_or_get_members_only_channel(session, CHANNEL_GROUP, name, display_name, &unique)
            .await
    }

    async fn create_or_get_members_only_channel(
        &self,
        session: &Session,
        channel_type: &str,
        name: String,
        display_name: String,
        member_ids: &[String],
    ) -> AppResult<Channel> {
        let db = self.store().master().await?;
        if let Ok(existing) = channel_store::get_by_name(&db, "", &name).await {
            return Ok(existing);
        }
        let users = user_store::get_many(&db, member_ids).await?;
        if users.len() != member_ids.len() {
            return Err(AppError::from(ErrorId::DirectChannelUserMissing));
        }
        drop(db);
        let now = now_millis();
        let channel = Channel {
            id: new_id(),
            create_at: now,
            update_at: now,
            channel_type: channel_type.to_string(),
            display_name,
            name: name.clone(),
            creator_id: session.user_id.clone(),
            last_post_at: now,
            last_root_post_at: now,
            ..Default::default()
        };
        let mut db = self.store().master().await?;
        let transaction = db.transaction().await.map_err(StoreError::from)?;
        match channel_store::insert(&transaction, &channel).await {
            Ok(()) => {}
            // Both users opened the conversation at the same moment: the other insert won.
            Err(StoreError::Conflict(_)) => {
                drop(transaction);
                return Ok(channel_store::get_by_name(&db, "", &name).await?);
            }
            Err(other) => return Err(other.into()),
        }
        for member_id in member_ids {
            channel_store::add_member(
                &transaction,
                &channel.id,
                member_id,
                false,
                now,
                JoinedBy::Created,
            )
            .await?;
        }
        transaction.commit().await.map_err(StoreError::from)?;

        for member_id in member_ids {
            let event = if channel_type == CHANNEL_DIRECT {
                let teammate = membership::direct_teammate(member_id, member_ids);
                membership::direct_added(member_id, teammate, &channel.id, now)
            } else {
                membership::group_added(member_id, member_ids, &channel.id, now)
            };
            self.publish(event);
        }
        Ok(channel)
    }

    // ---- reads ----

    pub async fn get_channel(&self, session: &Session, channel_id: &str) -> AppResult<Channel> {
        self.require_channel_read(session, channel_id).await?;
        // The cached copy's counters may be behind; answer with the row.
        let db = self.fresh_read(&session.user_id, Some(channel_id)).await?;
        Ok(channel_store::get(&db, channel_id).await?)
    }

    pub async fn get_channel_by_name(
        &self,
        session: &Session,
        team_id: &str,
        name: &str,
        include_deleted: bool,
    ) -> AppResult<Channel> {
        let db = self
            .store()
            .replica_for(&[
                FreshKey::User(session.user_id.clone()),
                FreshKey::Team(team_id.to_string()),
            ])
            .await?;
        let found = match channel_store::get_by_name(&db, team_id, name).await {
            // Somebody may have created it a moment ago through another node.
            Err(StoreError::NotFound(_)) => {
                drop(db);
                let db = self.store().master().await?;
                channel_store::get_by_name(&db, team_id, name).await
            }
            other => other,
        };
        let channel = match found {
            Ok(channel) => channel,
            Err(StoreError::NotFound(_)) => return Err(channel_not_found()),
            Err(other) => return Err(other.into()),
        };
        if channel.delete_at != 0 && !include_deleted {
            return Err(channel_not_found());
        }
        // A private channel stays invisible to non-members: same answer as a missing one.
        if self
            .require_channel_read(session, &channel.id)
            .await
            .is_err()
        {
            return Err(channel_not_found());
        }
        Ok(channel)
    }

    pub async fn list_public_channels(
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
        Ok(channel_store::list_public(&db, team_id, offset, limit).await?)
    }

    pub async fn channels_for_user_in_team(
        &self,
        session: &Session,
        user_id: &str,
        team_id: &str,
        include_deleted: bool,
    ) -> AppResult<Vec<Channel>> {
        if session.user_id != user_id {
            crate::require_system_admin(session)?;
        }
        let db = self
            .store()
            .replica_for(&[
                FreshKey::User(user_id.to_string()),
                FreshKey::Team(team_id.to_string()),
            ])
            .await?;
        Ok(channel_store::list_for_user_in_team(&db, user_id, team_id, include_deleted).await?)
    }

    pub async fn channel_members_for_user_in_team(
        &self,
        session: &Session,
        user_id: &str,
        team_id: &str,
    ) -> AppResult<Vec<ChannelMember>> {
        if session.user_id != user_id {
            crate::require_system_admin(session)?;
        }
        let db = self
            .store()
            .replica_for(&[
                FreshKey::User(user_id.to_string()),
                FreshKey::Team(team_id.to_string()),
            ])
            .await?;
        Ok(channel_store::list_members_for_user_in_team(&db, user_id, team_id).await?)
    }

    pub async fn list_channel_members(
        &self,
        session: &Session,
        channel_id: &str,
        page: Option<i64>,
        per_page: Option<i64>,
    ) -> AppResult<Vec<ChannelMember>> {
        self.require_channel_read(session, channel_id).await?;
        let (offset, limit) = crate::page_window(page, per_page, 60, 200)?;
        let db = self.fresh_read(&session.user_id, Some(channel_id)).await?;
        Ok(channel_store::list_members(&db, channel_id, offset, limit).await?)
    }

    pub async fn get_channel_member(
        &self,
        session: &Session,
        channel_id: &str,
        user_id: &str,
    ) -> AppResult<ChannelMember> {
        self.require_channel_read(session, channel_id).await?;
        let db = self.fresh_read(&session.user_id, Some(channel_id)).await?;
        Ok(channel_store::get_member(&db, channel_id, user_id).await?)
    }

    pub async fn channel_unread(
        &self,
        session: &Session,
        user_id: &str,
        channel_id: &str,
    ) -> AppResult<ChannelUnread> {
        if session.user_id != user_id {
            crate::require_system_admin(session)?;
        }
        self.require_channel_member(session, channel_id).await?;
        let db = self.fresh_read(user_id, Some(channel_id)).await?;
        Ok(channel_store::unread(&db, channel_id, user_id).await?)
    }

    // ---- changes ----

    pub async fn patch_channel(
        &self,
        session: &Session,
        channel_id: &str,
        patch: ChannelPatch,
    ) -> AppResult<Channel> {
        let channel = self.require_channel_member(session, channel_id).await?;
        if channel.is_direct_or_group() && (patch.name.is_some() || patch.display_name.is_some()) {
            return Err(AppError::from(ErrorId::DirectChannelPatchNotHeader));
        }
        if let Some(name) = &patch.name {
            validate_channel_name(name)?;
        }
        let mut preview = (*channel).clone();
        preview.display_name = patch.display_name.clone().unwrap_or(preview.display_name);
        preview.header = patch.header.clone().unwrap_or(preview.header);
        preview.purpose = patch.purpose.clone().unwrap_or(preview.purpose);
        if !channel.is_direct_or_group() {
            validate_channel_text(&preview)?;
        }
        let db = self.store().master().await?;
        let updated = match channel_store::patch(&db, channel_id, &patch, now_millis()).await {
            Ok(updated) => updated,
            Err(StoreError::Conflict(_)) => {
                return Err(AppError::from(ErrorId::ChannelNameTakenOnUpdate))
            }
            Err(other) => return Err(other.into()),
        };
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
        Ok(updated)
    }

    /// DELETE /channels/{id}: archives the channel (posts stay readable).
    pub async fn archive_channel(&self, session: &Session, channel_id: &str) -> AppResult<()> {
        let channel = self.require_channel_member(session, channel_id).await?;
        if channel.is_direct_or_group() {
            return Err(AppError::from(ErrorId::DeleteDirectChannel));
        }
        if channel.name == DEFAULT_CHANNEL {
            return Err(AppError::from(ErrorId::DeleteDefaultChannel));
        }
        if channel.delete_at != 0 {
            return Err(AppError::from(ErrorId::ChannelAlreadyDeleted));
        }
        let now = now_millis();
        let db = self.store().master().await?;
        channel_store::archive(&db, channel_id, now).await?;
        self.forget_channel(channel_id);
        self.publish(
            WebSocketEvent::new(
                event_names::CHANNEL_DELETED,
                Broadcast::to_team(&channel.team_id),
            )
            .with("channel_id", channel_id.to_string())
            .with("delete_at", now),
        );
        Ok(())
    }

    /// POST /channels/{id}/members. Team members may join public channels and add other team
    /// members; private channels take new members from their existing members.
    pub async fn add_channel_member(
        &self,
        session: &Session,
        channel_id: &str,
        user_id: &str,
    ) -> AppResult<ChannelMember> {
        if !chorus_model::is_valid_id(user_id) {
            return Err(AppError::invalid_param("user_id"));
        }
        let channel = self.require_channel_read(session, channel_id).await?;
        if channel.is_direct_or_group() {
            return Err(AppError::from(ErrorId::AddUserToDirectChannel));
        }
        if channel.delete_at != 0 {
            return Err(AppError::from(ErrorId::AddUserToArchivedChannel));
        }
        let caller_is_member = self
            .channel_member_ids(channel_id)
            .await?
            .contains(&session.user_id);
        if channel.channel_type == CHANNEL_PRIVATE
            && !caller_is_member
            && !session.is_system_admin()
        {
            return Err(AppError::no_permission());
        }
        if session.user_id != user_id && !caller_is_member && !session.is_system_admin() {
            return Err(AppError::no_permission());
        }
        if !self.is_team_member(&channel.team_id, user_id).await? {
            return Err(AppError::from(ErrorId::AddNonTeamMemberToChannel));
        }
        let now = now_millis();
        let db = self.store().master().await?;
        let added =
            channel_store::add_member(&db, channel_id, user_id, false, now, JoinedBy::Added)
                .await?;
        let member = channel_store::get_member(&db, channel_id, user_id).await?;
        drop(db);
        if added {
            self.forget_channel_members(channel_id);
            self.publish(membership::user_added(
                channel_id,
                &channel.team_id,
                user_id,
                now,
            ));
        }
        Ok(member)
    }

    pub async fn remove_channel_member(
        &self,
        session: &Session,
        channel_id: &str,
        user_id: &str,
    ) -> AppResult<()> {
        let channel = self.cached_channel(channel_id).await?;
        if channel.is_direct_or_group() {
            return Err(AppError::from(ErrorId::RemoveUserFromDirectChannel));
        }
        if channel.name == DEFAULT_CHANNEL {
            return Err(AppError::from(ErrorId::RemoveUserFromDefaultChannel));
        }
        if session.user_id != user_id {
            self.require_channel_member(session, channel_id).await?;
        }
        let now = now_millis();
        let db = self.store().master().await?;
        if !channel_store::remove_member(&db, channel_id, user_id, now, &session.user_id).await? {
            return Err(AppError::from(ErrorId::ChannelMemberMissing));
        }
        drop(db);
        self.forget_channel_members(channel_id);
        self.publish(membership::user_removed(
            channel_id,
            user_id,
            &session.user_id,
            now,
        ));
        self.publish(membership::removed_from_channel(
            channel_id,
            user_id,
            &session.user_id,
            now,
        ));
        Ok(())
    }
}

fn channel_not_found() -> AppError {
    AppError::from(ErrorId::ChannelNameNotFound)
}

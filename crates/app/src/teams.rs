//! Teams: creation with their default channels, membership, lookups.

use crate::cache::{self, ReadFrom};
use crate::{require_system_admin, App, AppResult};
use chorus_model::{
    new_id, now_millis, AppError, Channel, ErrorId, Session, Team, TeamMember, TeamPatch,
    CHANNEL_OPEN, DEFAULT_CHANNEL, OFF_TOPIC_CHANNEL, TEAM_INVITE, TEAM_OPEN,
};
use chorus_relay::membership;
use chorus_store::history::JoinedBy;
use chorus_store::{channels as channel_store, teams as team_store, StoreError};
use std::collections::HashSet;
use std::sync::Arc;

const RESERVED_TEAM_NAMES: [&str; 12] = [
    "admin", "api", "channel", "claim", "error", "files", "help", "login", "oauth", "plug", "post",
    "signup",
];

fn validate_team_name(name: &str) -> AppResult<()> {
    let valid_characters = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let edges_alphanumeric = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if !(2..=64).contains(&name.len())
        || !valid_characters
        || !edges_alphanumeric
        || RESERVED_TEAM_NAMES.contains(&name)
    {
        return Err(AppError::from(ErrorId::TeamNameInvalid));
    }
    Ok(())
}

fn validate_display_name(display_name: &str, id: ErrorId) -> AppResult<()> {
    let length = display_name.trim().chars().count();
    if length == 0 || length > 64 {
        return Err(AppError::from(id));
    }
    Ok(())
}

impl App {
    pub async fn create_team(&self, session: &Session, mut team: Team) -> AppResult<Team> {
        validate_team_name(&team.name)?;
        validate_display_name(&team.display_name, ErrorId::TeamDisplayNameInvalid)?;
        if team.team_type.is_empty() {
            team.team_type = TEAM_OPEN.to_string();
        }
        if team.team_type != TEAM_OPEN && team.team_type != TEAM_INVITE {
            return Err(AppError::from(ErrorId::TeamTypeInvalid));
        }
        if team.description.chars().count() > 255 {
            return Err(AppError::from(ErrorId::TeamDescriptionInvalid));
        }
        let now = now_millis();
        team.id = new_id();
        team.create_at = now;
        team.update_at = now;
        team.delete_at = 0;
        team.invite_id = new_id();
        if team.team_type == TEAM_OPEN {
            team.allow_open_invite = true;
        }

        let mut db = self.store().master().await?;
        let transaction = db
            .transaction()
            .await
            .map_err(chorus_store::StoreError::from)?;
        match team_store::insert(&transaction, &team).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(AppError::from(ErrorId::TeamNameTaken)),
            Err(other) => return Err(other.into()),
        }
        let mut default_channel_ids = Vec::new();
        for (name, display_name) in [
            (DEFAULT_CHANNEL, "Town Square"),
            (OFF_TOPIC_CHANNEL, "Off-Topic"),
        ] {
            let channel = Channel {
                id: new_id(),
                create_at: now,
                update_at: now,
                team_id: team.id.clone(),
                channel_type: CHANNEL_OPEN.to_string(),
                display_name: display_name.to_string(),
                name: name.to_string(),
                ..Default::default()
            };
            channel_store::insert(&transaction, &channel).await?;
            default_channel_ids.push(channel.id);
        }
        team_store::upsert_member(&transaction, &team.id, &session.user_id, true, now).await?;
        for channel_id in &default_channel_ids {
            channel_store::add_member(
                &transaction,
                channel_id,
                &session.user_id,
                false,
                now,
                JoinedBy::TeamCreated,
            )
            .await?;
        }
        transaction
            .commit()
            .await
            .map_err(chorus_store::StoreError::from)?;

        self.publish(membership::added_to_team(&team.id, &session.user_id, now));
        Ok(team)
    }

    pub(crate) async fn team_member_ids(&self, team_id: &str) -> AppResult<Arc<HashSet<String>>> {
        cache::fill(
            &self.inner.caches.team_members,
            &team_id.to_string(),
            self.store(),
            ReadFrom::Master,
            |db| async move {
                let member_ids = team_store::member_ids(&db, team_id).await?;
                Ok(member_ids.into_iter().collect::<HashSet<String>>())
            },
        )
        .await
    }

    pub(crate) async fn is_team_member(&self, team_id: &str, user_id: &str) -> AppResult<bool> {
        Ok(self.team_member_ids(team_id).await?.contains(user_id))
    }

    pub(crate) async fn require_team_member(
        &self,
        session: &Session,
        team_id: &str,
    ) -> AppResult<()> {
        if session.is_system_admin() || self.is_team_member(team_id, &session.user_id).await? {
            return Ok(());
        }
        Err(AppError::from(ErrorId::NotTeamMember))
    }

    pub(crate) async fn require_team_admin(
        &self,
        session: &Session,
        team_id: &str,
    ) -> AppResult<()> {
        if session.is_system_admin() {
            return Ok(());
        }
        let db = self.store().master().await?;
        match team_store::get_member(&db, team_id, &session.user_id).await {
            Ok(member) if member.is_team_admin() => Ok(()),
            Ok(_) | Err(StoreError::NotFound(_)) => Err(AppError::no_permission()),
            Err(other) => Err(other.into()),
        }
    }

    pub async fn get_team(&self, session: &Session, team_id: &str) -> AppResult<Team> {
        // Fresh for the team (an announced rename), and from the master if it was created a
        // moment ago on another node.
        let team = self
            .read_fresh_or_master(
                &[chorus_store::FreshKey::Team(team_id.to_string())],
                |_| true,
                |db| async move { Ok(team_store::get(&db, team_id).await?) },
            )
            .await?;
        self.require_team_visible(session, &team).await?;
        Ok(team)
    }

    pub async fn get_team_by_name(&self, session: &Session, name: &str) -> AppResult<Team> {
        let team = self
            .read_fresh_or_master(
                &[],
                |_| true,
                |db| async move { Ok(team_store::get_by_name(&db, name).await?) },
            )
            .await?;
        self.require_team_visible(session, &team).await?;
        Ok(team)
    }

    /// Open teams are visible to every user; invite-only teams to members and admins.
    async fn require_team_visible(&self, session: &Session, team: &Team) -> AppResult<()> {
        if team.allow_open_invite {
            return Ok(());
        }
        self.require_team_member(session, &team.id).await
    }

    pub async fn list_teams(
        &self,
        session: &Session,
        page: Option<i64>,
        per_page: Option<i64>,
        include_deleted: bool,
    ) -> AppResult<Vec<Team>> {
        let (offset, limit) = crate::page_window(page, per_page, 60, 200)?;
        let visible_to = if session.is_system_admin() {
            None
        } else {
            Some(session.user_id.as_str())
        };
        // Archived teams are listed for system admins who ask (others never see them).
        let include_deleted = include_deleted && visible_to.is_none();
        let db = if include_deleted {
            // The System Console's list: it must show the archive or restore the admin just
            // made through whichever node, which nothing notes under the admin.
            self.store().master().await?
        } else {
            // The caller's own teams (joined or created a moment ago) are noted under their
            // user.
            self.store()
                .replica_for(&[chorus_store::FreshKey::User(session.user_id.clone())])
                .await?
        };
        Ok(team_store::list(&db, visible_to, include_deleted, offset, limit).await?)
    }

    pub async fn patch_team(
        &self,
        session: &Session,
        team_id: &str,
        patch: TeamPatch,
    ) -> AppResult<Team> {
        self.require_team_admin(session, team_id).await?;
        if let Some(display_name) = &patch.display_name {
            validate_display_name(display_name, ErrorId::TeamDisplayNameInvalid)?;
        }
        let db = self.store().master().await?;
        let team = team_store::patch(&db, team_id, &patch, now_millis()).await?;
        self.announce_team_update(&team);
        Ok(team)
    }

    /// Adds a user to a team and to its default channels. Users may join open teams
    /// themselves; members may add others; admins may add anyone.
    pub async fn add_team_member(
        &self,
        session: &Session,
        team_id: &str,
        user_id: &str,
    ) -> AppResult<TeamMember> {
        let db = self.store().master().await?;
        let team = team_store::get(&db, team_id).await?;
        drop(db);
        let joining_self = session.user_id == user_id;
        let allowed = session.is_system_admin()
            || self.is_team_member(team_id, &session.user_id).await?
            || (joining_self && team.allow_open_invite);
        if !allowed {
            return Err(AppError::from(ErrorId::AddToTeamForbidden));
        }
        self.join_team(team_id, user_id).await
    }

    /// Adds a user whom the caller may add to a team and to its default channels.
    pub(crate) async fn join_team(&self, team_id: &str, user_id: &str) -> AppResult<TeamMember> {
        let db = self.store().master().await?;
        let target = chorus_store::users::get(&db, user_id).await?;
        drop(db);
        if target.delete_at != 0 {
            return Err(AppError::from(ErrorId::AddDeactivatedUserToTeam));
        }
        let members = self.team_member_ids(team_id).await?;
        if members.contains(user_id) {
            let db = self.store().master().await?;
            return Ok(team_store::get_member(&db, team_id, user_id).await?);
        }
        let maximum_members = self.config().team_settings.max_users_per_team;
        if maximum_members > 0 && members.len() as i64 >= maximum_members {
            return Err(AppError::from(ErrorId::TeamFull));
        }

        let now = now_millis();
        let mut db = self.store().master().await?;
        let transaction = db.transaction().await.map_err(StoreError::from)?;
        let member = team_store::upsert_member(&transaction, team_id, user_id, false, now).await?;
        let mut joined_channels = Vec::new();
        for name in [DEFAULT_CHANNEL, OFF_TOPIC_CHANNEL] {
            if let Ok(channel) = channel_store::get_by_name(&transaction, team_id, name).await {
                if channel.delete_at == 0
                    && channel_store::add_member(
                        &transaction,
                        &channel.id,
                        user_id,
                        false,
                        now,
                        JoinedBy::Added,
                    )
                    .await?
                {
                    joined_channels.push(channel.id);
                }
            }
        }
        transaction.commit().await.map_err(StoreError::from)?;
        // In the order a websocket rebuilt from the membership history gives them.
        joined_channels.sort();

        self.invalidate(chorus_cluster::ClusterMessage::TeamMembersChanged {
            team_id: team_id.to_string(),
        });
        for channel_id in &joined_channels {
            self.forget_channel_members(channel_id);
        }
        self.publish(membership::added_to_team(team_id, user_id, now));
        for channel_id in joined_channels {
            self.publish(membership::user_added(&channel_id, team_id, user_id, now));
        }
        Ok(member)
    }

    /// Removes a user from a team and from its channels. Users may leave; team admins and
    /// system admins may remove others.
    pub async fn remove_team_member(
        &self,
        session: &Session,
        team_id: &str,
        user_id: &str,
    ) -> AppResult<()> {
        if session.user_id != user_id {
            self.require_team_admin(session, team_id).await?;
        }
        let now = now_millis();
        let mut db = self.store().master().await?;
        let transaction = db.transaction().await.map_err(StoreError::from)?;
        if !team_store::remove_member(&transaction, team_id, user_id, now).await? {
            return Err(AppError::from(ErrorId::TeamMemberMissing));
        }
        let left_channels = channel_store::remove_member_from_team_channels(
            &transaction,
            team_id,
            user_id,
            now,
            &session.user_id,
        )
        .await?;
        chorus_store::sidebar::clear_team(&transaction, user_id, team_id).await?;
        transaction.commit().await.map_err(StoreError::from)?;

        self.invalidate(chorus_cluster::ClusterMessage::TeamMembersChanged {
            team_id: team_id.to_string(),
        });
        for channel_id in &left_channels {
            self.forget_channel_members(channel_id);
            self.publish(membership::user_removed_with_team(
                channel_id,
                user_id,
                &session.user_id,
                now,
            ));
        }
        self.publish(membership::leave_team(team_id, user_id, now));
        self.publish(membership::left_team(team_id, user_id, now));
        Ok(())
    }

    pub async fn get_team_member(
        &self,
        session: &Session,
        team_id: &str,
        user_id: &str,
    ) -> AppResult<TeamMember> {
        self.require_team_member(session, team_id).await?;
        let db = self.store().master().await?;
        Ok(team_store::get_member(&db, team_id, user_id).await?)
    }

    pub async fn list_team_members(
        &self,
        session: &Session,
        team_id: &str,
        page: Option<i64>,
        per_page: Option<i64>,
    ) -> AppResult<Vec<TeamMember>> {
        self.require_team_member(session, team_id).await?;
        let (offset, limit) = crate::page_window(page, per_page, 60, 200)?;
        let db = self
            .store()
            .replica_for(&[chorus_store::FreshKey::Team(team_id.to_string())])
            .await?;
        Ok(team_store::list_members(&db, team_id, offset, limit).await?)
    }

    pub async fn teams_for_user(&self, session: &Session, user_id: &str) -> AppResult<Vec<Team>> {
        if session.user_id != user_id {
            require_system_admin(session)?;
        }
        let db = self.store().master().await?;
        Ok(team_store::list_for_user(&db, user_id).await?)
    }

    pub async fn team_members_for_user(
        &self,
        session: &Session,
        user_id: &str,
    ) -> AppResult<Vec<TeamMember>> {
        if session.user_id != user_id {
            require_system_admin(session)?;
        }
        let db = self.store().master().await?;
        Ok(team_store::list_members_for_user(&db, user_id).await?)
    }
}

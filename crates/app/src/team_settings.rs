//! A team's life beyond its members: archive and restore (team admins; `delete_team` and
//! `restore_team` to everyone, as Mattermost sends them), stats, joining by invite id, and the
//! team icon (in the shared file store, so every node serves it).

use crate::people::RenderFailure;
use crate::{App, AppResult};
use bytes::Bytes;
use chorus_files::FileError;
use chorus_model::{
    event_names, now_millis, AppError, Broadcast, ErrorId, Session, Team, TeamMember, TeamStats,
    WebSocketEvent,
};
use chorus_store::{teams as team_store, StoreError};

/// Icons are 128×128 PNGs of a few KB; a stored one larger than this is not ours.
const MAX_TEAM_ICON_BYTES: u64 = 8 * 1024 * 1024;

fn team_icon_path(team_id: &str) -> String {
    format!("teams/{team_id}/teamIcon.png")
}

/// A team icon to serve: the PNG and its ETag (when it was set).
pub struct TeamIcon {
    pub png: Bytes,
    pub etag: String,
}

impl App {
    /// DELETE /teams/{id}: archives the team (its rows stay).
    pub async fn archive_team(&self, session: &Session, team_id: &str) -> AppResult<()> {
        self.set_team_archived(session, team_id, true).await?;
        Ok(())
    }

    /// POST /teams/{id}/restore.
    pub async fn restore_team(&self, session: &Session, team_id: &str) -> AppResult<Team> {
        self.set_team_archived(session, team_id, false).await
    }

    async fn set_team_archived(
        &self,
        session: &Session,
        team_id: &str,
        archived: bool,
    ) -> AppResult<Team> {
        self.require_team_admin(session, team_id).await?;
        let db = self.store().master().await?;
        let team = team_store::set_archived(&db, team_id, archived, now_millis()).await?;
        drop(db);
        let name = if archived {
            event_names::DELETE_TEAM
        } else {
            event_names::RESTORE_TEAM
        };
        let mut sanitized = team.clone();
        sanitized.email = String::new();
        sanitized.invite_id = String::new();
        sanitized.allowed_domains = String::new();
        self.publish(WebSocketEvent::new(name, Broadcast::default()).with(
            "team",
            serde_json::to_string(&sanitized).unwrap_or_default(),
        ));
        Ok(team)
    }

    /// GET /teams/{id}/stats: team members may read it.
    pub async fn team_stats(&self, session: &Session, team_id: &str) -> AppResult<TeamStats> {
        self.require_team_member(session, team_id).await?;
        let db = self
            .store()
            .replica_for(&[chorus_store::FreshKey::Team(team_id.to_string())])
            .await?;
        Ok(team_store::stats(&db, team_id).await?)
    }

    /// POST /teams/members/invite?invite_id=: the caller joins the team whose invite id it
    /// holds, open or invite-only.
    pub async fn join_team_by_invite(
        &self,
        session: &Session,
        invite_id: &str,
    ) -> AppResult<TeamMember> {
        if invite_id.is_empty() {
            return Err(ErrorId::InvalidBodyParam.with_param("name", "token or invite_id"));
        }
        let db = self.store().master().await?;
        let team = match team_store::get_by_invite_id(&db, invite_id).await {
            Ok(team) if team.delete_at == 0 => team,
            Ok(_) | Err(StoreError::NotFound(_)) => {
                return Err(AppError::from(ErrorId::TeamInviteNotFound))
            }
            Err(other) => return Err(other.into()),
        };
        drop(db);
        self.join_team(&team.id, &session.user_id).await
    }

    /// GET /teams/{id}/image: members, or anyone for an open team that allows joining.
    pub async fn team_icon(&self, session: &Session, team_id: &str) -> AppResult<TeamIcon> {
        let db = self.store().replica().await?;
        let team = team_store::get(&db, team_id).await?;
        drop(db);
        let open = team.team_type == chorus_model::TEAM_OPEN && team.allow_open_invite;
        if !open {
            self.require_team_member(session, team_id).await?;
        }
        if team.last_team_icon_update <= 0 {
            return Err(AppError::from(ErrorId::TeamIconNotFound));
        }
        let png = self
            .file_backend()?
            .read_all(&team_icon_path(team_id), MAX_TEAM_ICON_BYTES)
            .await
            .map_err(|error| ErrorId::TeamIconNotFound.with_detail(error.to_string()))?;
        Ok(TeamIcon {
            png,
            etag: team.last_team_icon_update.to_string(),
        })
    }

    /// Refuses a team icon upload before its body is read: team admins only, at most
    /// FileSettings.MaxFileSize.
    pub async fn check_team_icon_upload(
        &self,
        session: &Session,
        team_id: &str,
        content_length: Option<u64>,
    ) -> AppResult<u64> {
        self.require_team_admin(session, team_id).await?;
        let maximum = self.max_profile_image_bytes();
        if content_length.is_some_and(|length| length > maximum) {
            return Err(ErrorId::TeamIconTooLarge.with_param("maximum", maximum));
        }
        Ok(maximum)
    }

    /// POST /teams/{id}/image: the picture's middle square at 128×128, stored in the shared
    /// file store; `update_team` to the team.
    pub async fn set_team_icon(
        &self,
        session: &Session,
        team_id: &str,
        content: Bytes,
    ) -> AppResult<Team> {
        self.require_team_admin(session, team_id).await?;
        let png = self
            .render_square_image(content)
            .await
            .map_err(|failure| match failure {
                RenderFailure::TooManyPixels(maximum) => {
                    ErrorId::TeamIconTooManyPixels.with_param("maximum", maximum)
                }
                RenderFailure::Undecodable(detail) => {
                    ErrorId::TeamIconUndecodable.with_detail(detail)
                }
                RenderFailure::Failed(detail) => ErrorId::TeamIconStoreFailed.with_detail(detail),
            })?;
        self.file_backend()?
            .put(&team_icon_path(team_id), png)
            .await
            .map_err(|error| ErrorId::TeamIconStoreFailed.with_detail(error.to_string()))?;
        let now = now_millis();
        let db = self.store().master().await?;
        let team = team_store::set_last_team_icon_update(&db, team_id, now, now).await?;
        drop(db);
        self.announce_team_update(&team);
        Ok(team)
    }

    /// DELETE /teams/{id}/image: no icon any more; `update_team` to the team.
    pub async fn remove_team_icon(&self, session: &Session, team_id: &str) -> AppResult<Team> {
        self.require_team_admin(session, team_id).await?;
        let db = self.store().master().await?;
        let team = team_store::set_last_team_icon_update(&db, team_id, 0, now_millis()).await?;
        drop(db);
        match self.file_backend()?.delete(&team_icon_path(team_id)).await {
            Ok(()) | Err(FileError::NotFound(_)) => {}
            Err(error) => {
                tracing::warn!(team_id, error = %error, "could not delete a removed team icon")
            }
        }
        self.announce_team_update(&team);
        Ok(team)
    }

    /// `update_team` with what members may see of the team.
    pub(crate) fn announce_team_update(&self, team: &Team) {
        self.publish(
            WebSocketEvent::new(event_names::UPDATE_TEAM, Broadcast::to_team(&team.id)).with(
                "team",
                serde_json::to_string(&team.sanitized()).unwrap_or_default(),
            ),
        );
    }
}

//! A team's life beyond its members: archive and restore (team admins; `delete_team` and
//! `restore_team` to everyone, as Mattermost sends them), stats, and joining by invite id.

use crate::{App, AppResult};
use chorus_model::{
    event_names, now_millis, AppError, Broadcast, ErrorId, Session, Team, TeamMember, TeamStats,
    WebSocketEvent,
};
use chorus_store::{teams as team_store, StoreError};

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
}

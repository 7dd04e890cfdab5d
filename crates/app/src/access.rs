//! Issue 13 (misc): ending sessions in bulk, failed login attempts, personal access tokens
//! (read, enable, disable) and the applied schema migrations. Ended sessions are dropped from
//! every node's cache and their websockets closed (`forget_sessions`).

use crate::{require_system_admin, App, AppResult};
use chorus_model::{ErrorId, Session, UserAccessToken};
use chorus_store::{sessions as session_store, users as user_store};
use serde_json::{json, Value};
use std::collections::BTreeMap;

impl App {
    /// POST /users/{id}/sessions/revoke/all: the user or an admin.
    pub async fn revoke_all_user_sessions(
        &self,
        session: &Session,
        user_id: &str,
    ) -> AppResult<()> {
        if session.user_id != user_id {
            require_system_admin(session)?;
        }
        let db = self.store().master().await?;
        let ended = session_store::delete_for_user(&db, user_id).await?;
        self.forget_sessions(&ended);
        Ok(())
    }

    /// POST /users/sessions/revoke/all: admins end everyone's sessions, their own included.
    pub async fn revoke_all_sessions(&self, session: &Session) -> AppResult<()> {
        require_system_admin(session)?;
        let db = self.store().master().await?;
        let ended = session_store::delete_all(&db).await?;
        // `forget_sessions` announces one user's sessions at a time.
        let mut by_user: BTreeMap<String, Vec<Session>> = BTreeMap::new();
        for ended in ended {
            by_user
                .entry(ended.user_id.clone())
                .or_default()
                .push(ended);
        }
        for sessions in by_user.values() {
            self.forget_sessions(sessions);
        }
        Ok(())
    }

    /// POST /users/{id}/reset_failed_attempts: admins (Mattermost's
    /// sysconsole_write_user_management_users) unlock a user locked out by failed logins.
    pub async fn reset_failed_attempts(&self, session: &Session, user_id: &str) -> AppResult<()> {
        require_system_admin(session)?;
        let db = self.store().master().await?;
        if !user_store::reset_failed_attempts(&db, user_id).await? {
            return Err(ErrorId::UserNotFound.into());
        }
        Ok(())
    }

    /// GET /users/tokens: every user's tokens, for admins (manage_system).
    pub async fn list_all_access_tokens(
        &self,
        session: &Session,
        page: Option<i64>,
        per_page: Option<i64>,
    ) -> AppResult<Vec<UserAccessToken>> {
        require_system_admin(session)?;
        let (offset, limit) = crate::page_window(page, per_page, 60, 200)?;
        let db = self.store().master().await?;
        Ok(user_store::list_all_access_tokens(&db, offset, limit).await?)
    }

    /// GET /users/tokens/{token_id}: read_user_access_token, which Mattermost grants to admins.
    pub async fn get_access_token(
        &self,
        session: &Session,
        token_id: &str,
    ) -> AppResult<UserAccessToken> {
        require_system_admin(session)?;
        let db = self.store().master().await?;
        Ok(user_store::get_access_token(&db, token_id).await?)
    }

    /// POST /users/tokens/disable and /enable (revoke_ and create_user_access_token: admins).
    /// Disabling ends the session built on the token, on every node.
    pub async fn set_access_token_active(
        &self,
        session: &Session,
        token_id: &str,
        active: bool,
    ) -> AppResult<()> {
        if token_id.is_empty() {
            return Err(ErrorId::InvalidParam.with_param("name", "token_id"));
        }
        require_system_admin(session)?;
        let db = self.store().master().await?;
        let secret = user_store::set_access_token_active(&db, token_id, active).await?;
        if !active {
            if let Ok(token_session) = session_store::get_by_token(&db, &secret).await {
                session_store::delete(&db, &token_session.id).await?;
                self.forget_sessions(&[token_session]);
            }
        }
        Ok(())
    }

    /// GET /system/schema/version: the applied migrations, newest first, for admins.
    pub async fn schema_versions(&self, session: &Session) -> AppResult<Vec<Value>> {
        require_system_admin(session)?;
        let db = self.store().master().await?;
        Ok(chorus_store::system::schema_versions(&db)
            .await?
            .into_iter()
            .map(|(version, name)| json!({"version": version, "name": name}))
            .collect())
    }
}

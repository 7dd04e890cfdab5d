//! Login, logout and turning a token into a [`Session`].

use crate::cache::{self, ReadFrom};
use crate::{App, AppResult};
use chorus_model::{new_id, now_millis, AppError, ErrorId, Session, User};
use chorus_store::{sessions as session_store, users as user_store, StoreError};
use parking_lot::Mutex;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A session's `last_activity_at` is written at most this often (Mattermost's
/// `SessionActivityTimeout`), which is the precision of the idle timeout.
const SESSION_ACTIVITY_INTERVAL_MILLIS: i64 = 5 * 60_000;

/// A hash of no one's password (of random bytes, thrown away), in the current format and work
/// factor: an unknown login is checked against it, so that it costs what a wrong password does.
const UNKNOWN_USER_HASH: &str =
    "$pbkdf2$f=SHA256,w=600000,l=32$bB07CZUE/JRbQqfdYtRQkw$E2hmmrWUjSy99ftyMOgMEOHpAVsUWT7YeHwDxH65Z9Y";

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct LoginRequest {
    /// Login by id (Client4.loginById) …
    pub id: String,
    /// … or by username or email.
    pub login_id: String,
    pub password: String,
    pub device_id: String,
    #[serde(rename = "deviceId")]
    pub device_id_camel: String,
    pub token: String,
}

pub struct LoginResult {
    pub user: User,
    pub session: Session,
}

/// How long a failure is remembered by [`LoginThrottle`].
const FAILURE_MEMORY: Duration = Duration::from_secs(300);

/// Slows down repeated wrong passwords on this node: once a failure is recorded, its answer
/// waits 250 ms for each failure before it in the last five minutes (at most 2 s). Keyed once:
/// by user id for an account, whichever of id, username or email was typed, and by the
/// lowercased login for an unknown one, so that both are slowed down alike.
///
/// Per node on purpose; what holds across the cluster is the lock at MaximumLoginAttempts,
/// counted in the database (`user_store::record_failed_attempt`).
#[derive(Default)]
pub(crate) struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginThrottle {
    /// Records a failure and returns how long its answer waits.
    fn record_failure(&self, key: &str) -> Duration {
        let mut failures = self.failures.lock();
        if failures.len() > 100_000 {
            failures.clear();
        }
        let now = Instant::now();
        let (count, last_failure) = failures.entry(key.to_string()).or_insert((0, now));
        if now.duration_since(*last_failure) >= FAILURE_MEMORY {
            *count = 0;
        }
        let earlier_failures = *count;
        *count += 1;
        *last_failure = now;
        Duration::from_millis(250 * u64::from(earlier_failures.min(8)))
    }

    fn record_success(&self, key: &str) {
        self.failures.lock().remove(key);
    }
}

fn invalid_credentials() -> AppError {
    AppError::from(ErrorId::InvalidCredentials)
}

pub(crate) fn account_locked() -> AppError {
    AppError::from(ErrorId::TooManyLoginAttempts)
}

/// What [`App::check_password`] found.
pub(crate) enum PasswordCheck {
    Right,
    /// Wrong, and counted; the answer should wait this long (the throttle).
    Wrong(Duration),
    /// The account is locked at MaximumLoginAttempts (before this attempt, or by others
    /// during it).
    Locked,
}

impl App {
    pub async fn login(&self, request: LoginRequest) -> AppResult<LoginResult> {
        let result = self.check_login(request).await;
        self.metrics().login(result.is_ok());
        result
    }

    async fn check_login(&self, request: LoginRequest) -> AppResult<LoginResult> {
        let login_key = if request.id.is_empty() {
            request.login_id.to_lowercase()
        } else {
            request.id.clone()
        };
        if login_key.is_empty() || request.password.is_empty() {
            return Err(AppError::from(ErrorId::BlankPassword));
        }

        let db = self.store().master().await?;
        let found = if request.id.is_empty() {
            user_store::get_for_login(&db, &request.login_id).await
        } else {
            user_store::get_with_hash(&db, &request.id).await
        };
        drop(db);
        let account = match found {
            Ok(account) => account,
            Err(StoreError::NotFound(_)) => {
                // Costs what a wrong password costs, so timing does not tell which logins exist.
                self.verify_password_hash(request.password, UNKNOWN_USER_HASH.to_string())
                    .await;
                let delay = self.inner.login_throttle.record_failure(&login_key);
                tokio::time::sleep(delay).await;
                return Err(invalid_credentials());
            }
            Err(other) => return Err(other.into()),
        };
        let user = account.user;
        if user.delete_at != 0 {
            return Err(AppError::from(ErrorId::AccountDeactivated));
        }
        if user.is_bot {
            // Bots authenticate with personal access tokens only, as in Mattermost.
            return Err(ErrorId::BotLoginForbidden.into());
        }
        match self
            .check_password(&user, request.password, account.password_hash)
            .await?
        {
            PasswordCheck::Right => {}
            PasswordCheck::Locked => return Err(account_locked()),
            PasswordCheck::Wrong(delay) => {
                tokio::time::sleep(delay).await;
                return Err(invalid_credentials());
            }
        }
        let device_id = if request.device_id.is_empty() {
            request.device_id_camel
        } else {
            request.device_id
        };
        let db = self.store().master().await?;
        let session = self.create_session(&db, &user, device_id).await?;
        Ok(LoginResult { user, session })
    }

    /// Checks a user's password and keeps Mattermost's failed-attempts counter, atomically
    /// across nodes: a wrong password adds one in the database and the count that comes back
    /// decides; a right one clears it unless wrong guesses elsewhere locked the account since
    /// `user` was read. A locked account is refused without hashing, as in Mattermost.
    pub(crate) async fn check_password(
        &self,
        user: &User,
        password: String,
        password_hash: String,
    ) -> AppResult<PasswordCheck> {
        let maximum_attempts = self.config().service_settings.maximum_login_attempts;
        let locked = |attempts: i64| maximum_attempts > 0 && attempts >= maximum_attempts;
        if locked(user.failed_attempts) {
            return Ok(PasswordCheck::Locked);
        }
        let right = self.verify_password_hash(password, password_hash).await;
        let db = self.store().master().await?;
        if !right {
            let attempts = user_store::record_failed_attempt(&db, &user.id).await?;
            drop(db);
            // Over the maximum: others locked the account while this guess was being hashed.
            if maximum_attempts > 0 && attempts > maximum_attempts {
                return Ok(PasswordCheck::Locked);
            }
            let delay = self.inner.login_throttle.record_failure(&user.id);
            return Ok(PasswordCheck::Wrong(delay));
        }
        let attempts_left =
            user_store::clear_failed_attempts_unless_locked(&db, &user.id, maximum_attempts)
                .await?;
        if locked(attempts_left) {
            return Ok(PasswordCheck::Locked);
        }
        self.inner.login_throttle.record_success(&user.id);
        Ok(PasswordCheck::Right)
    }

    /// Hashes `password` to compare with `stored_hash`, on the blocking pool, and counts it.
    async fn verify_password_hash(&self, password: String, stored_hash: String) -> bool {
        self.inner
            .password_checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        crate::password::verify_password(password, stored_hash).await
    }

    /// How many passwords this node has hashed to check them (logins, password changes),
    /// unknown logins included.
    pub fn password_checks(&self) -> u64 {
        self.inner
            .password_checks
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn create_session(
        &self,
        db: &impl chorus_store::GenericClient,
        user: &User,
        device_id: String,
    ) -> AppResult<Session> {
        let settings = &self.config().service_settings;
        let hours = if device_id.is_empty() {
            settings.session_length_web_in_hours
        } else {
            settings.session_length_mobile_in_hours
        };
        let now = now_millis();
        let mut props = serde_json::Map::new();
        // The MMCSRF cookie's value: cookie-authenticated writes must echo it in X-CSRF-Token.
        props.insert("csrf".into(), new_id().into());
        let session = Session {
            props,
            id: new_id(),
            token: new_id(),
            create_at: now,
            expires_at: now + hours.max(1) * 3_600_000,
            last_activity_at: now,
            user_id: user.id.clone(),
            device_id,
            roles: user.roles.clone(),
            ..Default::default()
        };
        session_store::insert(db, &session).await?;
        // Logging in is a write of the user's: from now on this node reads their data from a
        // replica only once it has replayed the login, and so everything committed before it
        // (an admin may have added them to a team through another node a moment ago, and the
        // cluster message that notes that write here may still be on its way).
        self.store()
            .note_write(&[chorus_store::FreshKey::User(user.id.clone())]);
        Ok(session)
    }

    /// The session a token stands for, from the cache or the master (a session created a
    /// moment ago on another node must be found, so never a replica). Personal access
    /// tokens get a session on first use.
    pub async fn session_from_token(&self, token: &str) -> AppResult<Arc<Session>> {
        let session = self.cached_or_stored_session(token).await?;
        self.apply_session_settings(token, session).await
    }

    /// The settings that can end a session already in use, checked on every request:
    /// `EnableUserAccessTokens` turned off ends the sessions of personal access tokens, and
    /// `SessionIdleTimeoutInMinutes` ends a web session idle for longer (only when
    /// `ExtendSessionLengthWithActivity` is off, as in Mattermost). Activity is recorded at
    /// most every [`SESSION_ACTIVITY_INTERVAL_MILLIS`].
    async fn apply_session_settings(
        &self,
        token: &str,
        session: Arc<Session>,
    ) -> AppResult<Arc<Session>> {
        let settings = &self.config().service_settings;
        if session.is_access_token() && !settings.enable_user_access_tokens {
            return Err(ErrorId::AccessTokenInvalid.into());
        }
        let now = now_millis();
        let idle_timeout_millis = settings.session_idle_timeout_in_minutes * 60_000;
        let idle_timeout_applies = idle_timeout_millis > 0
            && !settings.extend_session_length_with_activity
            && !session.is_access_token()
            && !session.is_oauth
            && session.device_id.is_empty();
        if idle_timeout_applies && now - session.last_activity_at > idle_timeout_millis {
            // The cached copy may be older than activity recorded through another node.
            let db = self.store().master().await?;
            let stored = session_store::get(&db, &session.id).await;
            drop(db);
            let still_idle = stored.as_ref().map_or(true, |stored| {
                now - stored.last_activity_at > idle_timeout_millis
            });
            if still_idle {
                self.revoke_session(session.id.clone()).await?;
                return Err(ErrorId::SessionIdle.with_detail("idle timeout"));
            }
        }
        if now - session.last_activity_at <= SESSION_ACTIVITY_INTERVAL_MILLIS {
            return Ok(session);
        }
        let db = self.store().master().await?;
        session_store::touch(&db, &session.id, now).await?;
        let touched = Arc::new(Session {
            last_activity_at: now,
            ..(*session).clone()
        });
        let read_at = self.inner.caches.sessions.generation();
        self.inner
            .caches
            .sessions
            .insert(token.to_string(), touched.clone(), read_at);
        Ok(touched)
    }

    async fn cached_or_stored_session(&self, token: &str) -> AppResult<Arc<Session>> {
        if token.is_empty() || token.len() > 64 {
            return Err(AppError::from(ErrorId::SessionExpired));
        }
        let now = now_millis();
        if let Some(session) = self.inner.caches.sessions.get(&token.to_string()) {
            if !session.is_expired(now) {
                return Ok(session);
            }
            self.inner.caches.sessions.remove(&token.to_string());
        }
        cache::fill(
            &self.inner.caches.sessions,
            &token.to_string(),
            self.store(),
            ReadFrom::Master,
            |db| async move {
                let session = match session_store::get_by_token(&db, token).await {
                    Ok(session) => session,
                    Err(StoreError::NotFound(_)) => {
                        self.session_for_access_token(&db, token).await?
                    }
                    Err(other) => return Err(other.into()),
                };
                if session.is_expired(now) {
                    let _ = session_store::delete(&db, &session.id).await;
                    return Err(AppError::session_expired());
                }
                Ok(session)
            },
        )
        .await
    }

    async fn session_for_access_token(
        &self,
        db: &impl chorus_store::GenericClient,
        token: &str,
    ) -> AppResult<Session> {
        let access_token = match user_store::get_access_token_by_secret(db, token).await {
            Ok(access_token) => access_token,
            Err(StoreError::NotFound(_)) => return Err(AppError::session_expired()),
            Err(other) => return Err(other.into()),
        };
        if !access_token.is_active || !self.config().service_settings.enable_user_access_tokens {
            return Err(AppError::from(ErrorId::AccessTokenInvalid));
        }
        let user = user_store::get(db, &access_token.user_id).await?;
        if user.delete_at != 0 {
            return Err(AppError::session_expired());
        }
        let now = now_millis();
        let mut props = serde_json::Map::new();
        props.insert("type".into(), "UserAccessToken".into());
        props.insert(
            "user_access_token_id".into(),
            access_token.id.clone().into(),
        );
        let session = Session {
            id: new_id(),
            token: token.to_string(),
            create_at: now,
            expires_at: 0,
            last_activity_at: now,
            user_id: user.id.clone(),
            roles: user.roles.clone(),
            props,
            ..Default::default()
        };
        match session_store::insert(db, &session).await {
            Ok(()) => Ok(session),
            // Two requests raced to create it: use the one that won.
            Err(StoreError::Conflict(_)) => Ok(session_store::get_by_token(db, token).await?),
            Err(other) => Err(other.into()),
        }
    }

    pub async fn logout(&self, session: &Session) -> AppResult<()> {
        self.revoke_session(session.id.clone()).await
    }

    /// Deletes a session everywhere it is known: the database, the cache, open sockets.
    pub async fn revoke_session(&self, session_id: String) -> AppResult<()> {
        let db = self.store().master().await?;
        match session_store::delete(&db, &session_id).await {
            Ok(session) => self.forget_sessions(&[session]),
            Err(StoreError::NotFound(_)) => {}
            Err(other) => return Err(other.into()),
        }
        Ok(())
    }

    pub async fn list_sessions(&self, session: &Session, user_id: &str) -> AppResult<Vec<Session>> {
        if session.user_id != user_id {
            crate::require_system_admin(session)?;
        }
        let db = self.store().master().await?;
        let mut sessions = session_store::list_for_user(&db, user_id).await?;
        for listed in &mut sessions {
            listed.token = String::new();
        }
        Ok(sessions)
    }

    pub async fn revoke_user_session(
        &self,
        session: &Session,
        user_id: &str,
        session_id: &str,
    ) -> AppResult<()> {
        if session.user_id != user_id {
            crate::require_system_admin(session)?;
        }
        let db = self.store().master().await?;
        let target = session_store::get(&db, session_id).await?;
        if target.user_id != user_id {
            return Err(AppError::from(ErrorId::SessionOfAnotherUser));
        }
        drop(db);
        self.revoke_session(session_id.to_string()).await
    }
}

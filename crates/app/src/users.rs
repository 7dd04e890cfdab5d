//! Users: sign-up, lookups, profile changes, passwords, personal access tokens.

use crate::cache::{self, ReadFrom};
use crate::sessions::{account_locked, PasswordCheck};
use crate::{require_system_admin, App, AppResult};
use chorus_model::{
    event_names, new_id, now_millis, AppError, Broadcast, ErrorId, Session, User, UserAccessToken,
    UserPatch, WebSocketEvent, ROLE_SYSTEM_ADMIN, ROLE_SYSTEM_USER,
};
use chorus_store::{sessions as session_store, users as user_store, FreshKey, StoreError};
use serde::Deserialize;
use std::sync::Arc;

/// Body of POST /users: a user with a plain-text password.
pub type CreateUserRequest = User;

/// GET /users query.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct UserListQuery {
    pub page: Option<i64>,
    pub per_page: Option<i64>,
    pub in_team: Option<String>,
    pub not_in_team: Option<String>,
    pub in_channel: Option<String>,
    pub not_in_channel: Option<String>,
    pub active: Option<bool>,
    /// Only deactivated users (Mattermost's `inactive=true`).
    pub inactive: Option<bool>,
    /// Only users with this system role (`system_admin`, `system_user`, …).
    pub role: Option<String>,
}

const RESERVED_USERNAMES: [&str; 6] =
    ["all", "channel", "here", "matterbot", "system", "surveybot"];

pub(crate) fn validate_username(username: &str) -> AppResult<()> {
    let valid_characters = username
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'));
    let starts_with_letter = username
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase());
    if !(3..=22).contains(&username.len())
        || !valid_characters
        || !starts_with_letter
        || RESERVED_USERNAMES.contains(&username)
    {
        return Err(AppError::from(ErrorId::UsernameInvalid));
    }
    Ok(())
}

fn validate_email(email: &str) -> AppResult<()> {
    let parts: Vec<&str> = email.split('@').collect();
    let looks_valid = parts.len() == 2
        && !parts[0].is_empty()
        && parts[1].contains('.')
        && !email.contains(char::is_whitespace);
    if email.len() > 128 || !looks_valid {
        return Err(AppError::from(ErrorId::EmailInvalid));
    }
    Ok(())
}

/// PasswordSettings' rules, with Mattermost's error id and a sentence saying what is needed.
fn check_password_policy(
    settings: &chorus_config::PasswordSettings,
    password: &str,
) -> AppResult<()> {
    let Err(error_id) = settings.check(password) else {
        return Ok(());
    };
    let mut requirements = vec![format!("at least {} characters", settings.minimum_length)];
    for (required, what) in [
        (settings.lowercase, "a lowercase letter"),
        (settings.uppercase, "an uppercase letter"),
        (settings.number, "a number"),
        (settings.symbol, "a symbol"),
    ] {
        if required {
            requirements.push(what.to_string());
        }
    }
    Err(error_id.with_param("requirements", requirements.join(", ")))
}

fn check_profile_lengths(user: &User) -> AppResult<()> {
    let too_long = [
        (user.nickname.chars().count(), 64, ErrorId::NicknameTooLong),
        (
            user.first_name.chars().count(),
            64,
            ErrorId::FirstNameTooLong,
        ),
        (user.last_name.chars().count(), 64, ErrorId::LastNameTooLong),
        (user.position.chars().count(), 128, ErrorId::PositionTooLong),
    ];
    for (length, maximum, error_id) in too_long {
        if length > maximum {
            return Err(error_id.with_param("maximum", maximum));
        }
    }
    Ok(())
}

/// Mattermost's `UserTimezoneMaxRunes`: the timezone map, as JSON, in characters.
const TIMEZONE_MAX_RUNES: usize = 256;
/// The most `props` or `notify_props` may hold, as JSON, in characters. Mattermost's own cap
/// (1 MiB per map, from its database layer) is larger than a request may be; this one keeps
/// every `user_updated` event, which goes to every connected user, small.
const PROPS_MAX_RUNES: usize = 32 * 1024;

/// The size limits on a user's free-form maps, each with its error id in Mattermost's format
/// (`timezone_limit` is Mattermost's own).
fn check_map_sizes(
    props: Option<&serde_json::Map<String, serde_json::Value>>,
    notify_props: Option<&serde_json::Map<String, serde_json::Value>>,
    timezone: Option<&serde_json::Map<String, serde_json::Value>>,
) -> AppResult<()> {
    let limited = [
        (props, PROPS_MAX_RUNES, ErrorId::UserPropsTooLarge, "props"),
        (
            notify_props,
            PROPS_MAX_RUNES,
            ErrorId::UserNotifyPropsTooLarge,
            "notify_props",
        ),
        (
            timezone,
            TIMEZONE_MAX_RUNES,
            ErrorId::UserTimezoneTooLarge,
            "timezone",
        ),
    ];
    for (map, maximum_runes, entry, field) in limited {
        let Some(map) = map else { continue };
        let runes = serde_json::to_string(map)
            .map(|json| json.chars().count())
            .unwrap_or(usize::MAX);
        if runes > maximum_runes {
            return Err(entry
                .with_param("maximum", maximum_runes)
                .with_detail(format!("{field}={runes} characters")));
        }
    }
    Ok(())
}

/// TeamSettings.RestrictCreationToDomains as Mattermost reads it: domains separated by commas
/// or spaces, an optional leading `@`, compared without case; "" allows every address.
fn email_domain_allowed(email: &str, restrict_to_domains: &str) -> bool {
    let lowered = restrict_to_domains.to_lowercase().replace([',', '@'], " ");
    let mut domains = lowered.split_whitespace().peekable();
    if domains.peek().is_none() {
        return true;
    }
    let email = email.to_lowercase();
    domains.any(|domain| email.ends_with(&format!("@{domain}")))
}

/// Mattermost's `UserLocaleMaxLength`.
fn validate_locale(locale: &str) -> AppResult<()> {
    if locale.chars().count() > 5 {
        return Err(AppError::from(ErrorId::LocaleTooLong));
    }
    Ok(())
}

/// The checks of a profile change, made before anything is written.
fn check_patch(patch: &UserPatch) -> AppResult<()> {
    if let Some(username) = &patch.username {
        validate_username(&username.to_lowercase())?;
    }
    if let Some(email) = &patch.email {
        validate_email(&email.to_lowercase())?;
    }
    if let Some(locale) = &patch.locale {
        validate_locale(locale)?;
    }
    check_map_sizes(
        patch.props.as_ref(),
        patch.notify_props.as_ref(),
        patch.timezone.as_ref(),
    )?;
    let changed_profile = User {
        nickname: patch.nickname.clone().unwrap_or_default(),
        first_name: patch.first_name.clone().unwrap_or_default(),
        last_name: patch.last_name.clone().unwrap_or_default(),
        position: patch.position.clone().unwrap_or_default(),
        ..Default::default()
    };
    check_profile_lengths(&changed_profile)
}

impl App {
    /// Sign-up (no session) or creation by an admin. The first user of a server becomes
    /// system admin.
    pub async fn create_user(
        &self,
        caller: Option<&Session>,
        request: CreateUserRequest,
    ) -> AppResult<User> {
        let config = self.config();
        let caller_is_admin = caller.is_some_and(Session::is_system_admin);
        let mut user = request;
        user.username = user.username.trim().to_lowercase();
        user.email = user.email.trim().to_lowercase();
        validate_username(&user.username)?;
        validate_email(&user.email)?;
        check_profile_lengths(&user)?;
        validate_locale(&user.locale)?;
        check_map_sizes(
            Some(&user.props),
            Some(&user.notify_props),
            Some(&user.timezone),
        )?;
        check_password_policy(&config.password_settings, &user.password)?;

        if !caller_is_admin
            && !email_domain_allowed(
                &user.email,
                &config.team_settings.restrict_creation_to_domains,
            )
        {
            return Err(ErrorId::EmailDomainNotAccepted.into());
        }

        let db = self.store().master().await?;
        let is_first_user = user_store::count(&db).await? == 0;
        if !is_first_user && !caller_is_admin {
            if !config.team_settings.enable_user_creation {
                return Err(AppError::from(ErrorId::SignUpDisabled));
            }
            if !config.email_settings.enable_sign_up_with_email {
                return Err(ErrorId::SignUpDisabled.into());
            }
            if !config.team_settings.enable_open_server {
                return Err(AppError::from(ErrorId::NoOpenServer));
            }
        }

        let now = now_millis();
        user.id = new_id();
        user.create_at = now;
        user.update_at = now;
        user.delete_at = 0;
        user.roles = if is_first_user {
            format!("{ROLE_SYSTEM_ADMIN} {ROLE_SYSTEM_USER}")
        } else {
            ROLE_SYSTEM_USER.to_string()
        };
        user.auth_service.clear();
        user.auth_data = None;
        user.email_verified = caller_is_admin && user.email_verified;
        user.last_password_update = now;
        user.is_bot = false;
        if user.locale.is_empty() {
            user.locale = "en".to_string();
        }
        if user.notify_props.is_empty() {
            user.notify_props = default_notify_props(&user.username);
        }
        let plain_password = std::mem::take(&mut user.password);
        user.password = crate::password::hash_password(plain_password).await;
        match user_store::insert(&db, &user).await {
            Ok(()) => {}
            Err(StoreError::Conflict(constraint)) => {
                let taken = if constraint.contains("email") {
                    ErrorId::EmailTaken
                } else {
                    ErrorId::UsernameTaken
                };
                return Err(taken.into());
            }
            Err(other) => return Err(other.into()),
        }
        user.password.clear();
        self.publish(
            WebSocketEvent::new(event_names::NEW_USER, Broadcast::to_everyone())
                .with("user_id", user.id.clone()),
        );
        Ok(user)
    }

    /// EmailSettings.EnableSignInWithEmail / EnableSignInWithUsername: a login id of a
    /// disabled kind (an email has `@`, a username cannot) matches no account, as in
    /// Mattermost, whose login lookup leaves that column out. A login by user id is not
    /// concerned. Checked before the login itself.
    pub fn check_sign_in_method(&self, login_id: &str) -> AppResult<()> {
        if login_id.is_empty() {
            return Ok(());
        }
        let email_settings = &self.config().email_settings;
        let allowed = if login_id.contains('@') {
            email_settings.enable_sign_in_with_email
        } else {
            email_settings.enable_sign_in_with_username
        };
        if allowed {
            return Ok(());
        }
        Err(ErrorId::InvalidCredentials.into())
    }

    /// A user by id, through the cache.
    pub(crate) async fn cached_user(&self, user_id: &str) -> AppResult<Arc<User>> {
        // Fresh for the user: after a rename announced to this node, a lagging replica must
        // not put the old user back into the cache.
        cache::fill(
            &self.inner.caches.users,
            &user_id.to_string(),
            self.store(),
            ReadFrom::FreshFor(vec![FreshKey::User(user_id.to_string())]),
            |db| async move { Ok(user_store::get(&db, user_id).await?) },
        )
        .await
    }

    pub async fn get_user(&self, session: &Session, user_id: &str) -> AppResult<User> {
        let db = self.store().master().await?;
        let user = user_store::get(&db, user_id).await?;
        Ok(sanitize(user, session))
    }

    pub async fn get_user_by_username(&self, session: &Session, username: &str) -> AppResult<User> {
        // A user created a moment ago (announced by `new_user`) may not have replicated yet.
        let user = self
            .read_fresh_or_master(
                &[],
                |_| true,
                |db| async move { Ok(user_store::get_by_username(&db, username).await?) },
            )
            .await?;
        Ok(sanitize(user, session))
    }

    pub async fn get_user_by_email(&self, session: &Session, email: &str) -> AppResult<User> {
        let user = self
            .read_fresh_or_master(
                &[],
                |_| true,
                |db| async move { Ok(user_store::get_by_email(&db, email).await?) },
            )
            .await?;
        Ok(sanitize(user, session))
    }

    pub async fn get_users_by_ids(
        &self,
        session: &Session,
        user_ids: Vec<String>,
    ) -> AppResult<Vec<User>> {
        if user_ids.len() > 1000 {
            return Err(AppError::from(ErrorId::TooManyUserIds));
        }
        // Clients fetch the users an event names (`new_user`, a new member): those written
        // since the replica's position are read again from the master; so are users whose
        // announced changes the replica has not replayed.
        let keys: Vec<FreshKey> = user_ids.iter().cloned().map(FreshKey::User).collect();
        let wanted = user_ids
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len();
        let user_ids = &user_ids;
        let users = self
            .read_fresh_or_master(
                &keys,
                |users: &Vec<User>| users.len() >= wanted,
                |db| async move { Ok(user_store::get_many(&db, user_ids).await?) },
            )
            .await?;
        Ok(users
            .into_iter()
            .map(|user| sanitize(user, session))
            .collect())
    }

    pub async fn get_users_by_usernames(
        &self,
        session: &Session,
        usernames: Vec<String>,
    ) -> AppResult<Vec<User>> {
        if usernames.len() > 1000 {
            return Err(AppError::from(ErrorId::TooManyUsernames));
        }
        let wanted = usernames
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len();
        let usernames = &usernames;
        let users = self
            .read_fresh_or_master(
                &[],
                |users: &Vec<User>| users.len() >= wanted,
                |db| async move { Ok(user_store::get_many_by_username(&db, usernames).await?) },
            )
            .await?;
        Ok(users
            .into_iter()
            .map(|user| sanitize(user, session))
            .collect())
    }

    pub async fn list_users(
        &self,
        session: &Session,
        query: UserListQuery,
    ) -> AppResult<Vec<User>> {
        let (offset, limit) = crate::page_window(query.page, query.per_page, 60, 200)?;
        if let Some(team_id) = query.in_team.as_ref().or(query.not_in_team.as_ref()) {
            self.require_team_member(session, team_id).await?;
        }
        if let Some(channel_id) = query.in_channel.as_ref().or(query.not_in_channel.as_ref()) {
            self.require_channel_read(session, channel_id).await?;
        }
        // A list filtered by team or channel must show the members announced there.
        let mut keys = Vec::new();
        if let Some(team_id) = query.in_team.as_ref().or(query.not_in_team.as_ref()) {
            keys.push(FreshKey::Team(team_id.clone()));
        }
        if let Some(channel_id) = query.in_channel.as_ref().or(query.not_in_channel.as_ref()) {
            keys.push(FreshKey::Channel(channel_id.clone()));
        }
        let filter = user_store::UserListFilter {
            in_team: query.in_team,
            not_in_team: query.not_in_team,
            in_channel: query.in_channel,
            not_in_channel: query.not_in_channel,
            active_only: query.active.unwrap_or(false),
            inactive_only: query.inactive.unwrap_or(false),
            role: query.role.filter(|role| !role.is_empty()),
            offset,
            limit,
        };
        // The System Console's filters (deactivated users, admins) must show the change the
        // admin just made through whichever node, which nothing notes under the admin.
        let db = if filter.inactive_only || filter.role.is_some() {
            self.store().master().await?
        } else {
            self.store().replica_for(&keys).await?
        };
        let users = user_store::list(&db, &filter).await?;
        Ok(users
            .into_iter()
            .map(|user| sanitize(user, session))
            .collect())
    }

    pub async fn patch_user(
        &self,
        session: &Session,
        user_id: &str,
        patch: UserPatch,
    ) -> AppResult<User> {
        if session.user_id != user_id {
            require_system_admin(session)?;
        }
        check_patch(&patch)?;
        let db = self.store().master().await?;
        let user = match user_store::patch(&db, user_id, &patch, now_millis()).await {
            Ok(user) => user,
            Err(StoreError::Conflict(_)) => {
                return Err(AppError::from(ErrorId::UsernameOrEmailTaken))
            }
            Err(other) => return Err(other.into()),
        };
        self.invalidate(chorus_cluster::ClusterMessage::UserChanged {
            user_id: user.id.clone(),
        });
        // Each reader gets the copy REST would give them (Mattermost's sendUpdatedUserEvent).
        let copies = chorus_relay::events::UserUpdatedCopies {
            own: sanitize_for(user.clone(), UserReader::Themselves),
            for_system_admins: sanitize_for(user.clone(), UserReader::SystemAdmin),
            for_everyone_else: sanitize_for(user.clone(), UserReader::Other),
        };
        for event in chorus_relay::events::user_updated(&copies) {
            self.publish(event);
        }
        Ok(sanitize(user, session))
    }

    /// PUT /users/{id}/password. Users give their current password; admins changing someone
    /// else's do not. Every other session of the user is revoked.
    pub async fn update_password(
        &self,
        session: &Session,
        user_id: &str,
        current_password: &str,
        new_password: &str,
    ) -> AppResult<()> {
        let changing_own = session.user_id == user_id;
        if !changing_own {
            require_system_admin(session)?;
        }
        check_password_policy(&self.config().password_settings, new_password)?;
        let db = self.store().master().await?;
        let account = user_store::get_with_hash(&db, user_id).await?;
        drop(db);
        if changing_own {
            // Counted like a login (Mattermost's DoubleCheckPassword): a stolen session must
            // not be a way to guess the password without limit.
            let check = self
                .check_password(
                    &account.user,
                    current_password.to_string(),
                    account.password_hash,
                )
                .await?;
            match check {
                PasswordCheck::Right => {}
                PasswordCheck::Locked => return Err(account_locked()),
                PasswordCheck::Wrong(delay) => {
                    tokio::time::sleep(delay).await;
                    return Err(ErrorId::CurrentPasswordIncorrect.into());
                }
            }
        }
        let new_hash = crate::password::hash_password(new_password.to_string()).await;
        let db = self.store().master().await?;
        user_store::update_password(&db, user_id, &new_hash, now_millis()).await?;
        let keep = if changing_own {
            session.id.as_str()
        } else {
            ""
        };
        let revoked = session_store::delete_for_user_except(&db, user_id, keep).await?;
        self.forget_sessions(&revoked);
        Ok(())
    }

    pub async fn update_user_roles(
        &self,
        session: &Session,
        user_id: &str,
        roles: &str,
    ) -> AppResult<()> {
        require_system_admin(session)?;
        let valid = roles
            .split_whitespace()
            .all(|role| role == ROLE_SYSTEM_USER || role == ROLE_SYSTEM_ADMIN);
        if !valid || !roles.contains(ROLE_SYSTEM_USER) {
            return Err(AppError::invalid_param("roles"));
        }
        let db = self.store().master().await?;
        user_store::get(&db, user_id).await?;
        user_store::set_roles(&db, user_id, roles, now_millis()).await?;
        session_store::update_roles_for_user(&db, user_id, roles).await?;
        self.forget_user_sessions(user_id);
        self.invalidate(chorus_cluster::ClusterMessage::UserChanged {
            user_id: user_id.to_string(),
        });
        Ok(())
    }

    // ---- personal access tokens ----

    pub async fn create_access_token(
        &self,
        session: &Session,
        user_id: &str,
        description: String,
    ) -> AppResult<UserAccessToken> {
        if !self.config().service_settings.enable_user_access_tokens {
            return Err(AppError::from(ErrorId::AccessTokensDisabled));
        }
        if session.user_id != user_id {
            require_system_admin(session)?;
        } else if !session.is_system_admin() {
            // Mattermost grants create_user_access_token to admins by default only.
            return Err(AppError::no_permission());
        }
        if description.trim().is_empty() || description.len() > 255 {
            return Err(AppError::from(ErrorId::AccessTokenDescriptionInvalid));
        }
        let db = self.store().master().await?;
        user_store::get(&db, user_id).await?;
        let token = UserAccessToken {
            id: new_id(),
            token: new_id(),
            user_id: user_id.to_string(),
            description,
            is_active: true,
        };
        user_store::insert_access_token(&db, &token).await?;
        Ok(token)
    }

    pub async fn list_access_tokens(
        &self,
        session: &Session,
        user_id: &str,
    ) -> AppResult<Vec<UserAccessToken>> {
        if session.user_id != user_id {
            require_system_admin(session)?;
        }
        // Tokens are written on the master a moment before their owner lists them.
        let db = self.store().master().await?;
        Ok(user_store::list_access_tokens(&db, user_id).await?)
    }

    pub async fn revoke_access_token(&self, session: &Session, token_id: &str) -> AppResult<()> {
        let db = self.store().master().await?;
        let token = user_store::get_access_token(&db, token_id).await?;
        if session.user_id != token.user_id {
            require_system_admin(session)?;
        }
        let secret = user_store::delete_access_token(&db, token_id).await?;
        if let Ok(token_session) = session_store::get_by_token(&db, &secret).await {
            session_store::delete(&db, &token_session.id).await?;
            self.forget_sessions(&[token_session]);
        }
        Ok(())
    }
}

pub(crate) fn default_notify_props(username: &str) -> serde_json::Map<String, serde_json::Value> {
    let value = serde_json::json!({
        "channel": "true", "comments": "never", "desktop": "mention", "desktop_sound": "true",
        "email": "true", "first_name": "false", "mention_keys": username, "push": "mention",
        "push_status": "away"
    });
    match value {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// Who reads a user: what they may see of it depends on it (REST answers and the copies of
/// `user_updated` are sanitized the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UserReader {
    /// The user themselves.
    Themselves,
    /// A system admin reading someone else.
    SystemAdmin,
    /// Any other user.
    Other,
}

impl UserReader {
    fn of(viewer: &Session, user_id: &str) -> Self {
        if viewer.user_id == user_id {
            UserReader::Themselves
        } else if viewer.is_system_admin() {
            UserReader::SystemAdmin
        } else {
            UserReader::Other
        }
    }
}

/// What `reader` may see of a user: admins and the user themselves see everything but the
/// password hash (which never leaves the store); others see neither the login data
/// (`auth_data`, `failed_attempts`) nor the notification settings.
pub(crate) fn sanitize_for(mut user: User, reader: UserReader) -> User {
    user.password.clear();
    if reader == UserReader::Other {
        user.auth_data = None;
        user.failed_attempts = 0;
        user.notify_props = serde_json::Map::new();
    }
    user
}

/// What the caller of a REST request may see of a user.
pub(crate) fn sanitize(user: User, viewer: &Session) -> User {
    let reader = UserReader::of(viewer, &user.id);
    sanitize_for(user, reader)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creation_is_restricted_to_the_listed_domains() {
        assert!(email_domain_allowed("a@anything.org", ""));
        assert!(email_domain_allowed("a@Example.com", "example.com"));
        assert!(email_domain_allowed("a@corp.io", "@example.com, corp.io"));
        assert!(!email_domain_allowed("a@evil-example.com", "example.com"));
        assert!(!email_domain_allowed("a@example.com.evil", "example.com"));
    }

    #[test]
    fn oversized_maps_are_refused_with_mattermosts_ids() {
        let mut timezone = serde_json::Map::new();
        timezone.insert(
            "manualTimezone".into(),
            "x".repeat(TIMEZONE_MAX_RUNES).into(),
        );
        let error = check_map_sizes(None, None, Some(&timezone)).unwrap_err();
        assert_eq!(error.id, "model.user.is_valid.timezone_limit.app_error");
        let mut props = serde_json::Map::new();
        props.insert("blob".into(), "x".repeat(PROPS_MAX_RUNES).into());
        let error = check_map_sizes(Some(&props), None, None).unwrap_err();
        assert_eq!(error.id, "model.user.is_valid.props_limit.app_error");
        let error = check_map_sizes(None, Some(&props), None).unwrap_err();
        assert_eq!(error.id, "model.user.is_valid.notify_props_limit.app_error");
        assert!(check_map_sizes(None, None, None).is_ok());
    }
}

//! People (issue 13): deactivation, profile images, custom statuses, and finding users
//! (search, autocomplete, stats).
//!
//! Every change here bumps the user's `updateat` and is announced with `user_updated` (the
//! three copies of `users::sanitize_for`) after a `UserChanged` invalidation, like a profile
//! patch: a websocket rebuilt from the database sees a user changed and makes its client
//! resync (`chorus_relay::rebuild`). Profile images live in the shared file store
//! (`users/{id}/profile.png`, Mattermost's path), so every node serves the same picture.

use crate::users::{sanitize, sanitize_for, UserReader};
use crate::{require_system_admin, App, AppResult};
use bytes::Bytes;
use chorus_files::{avatars, images::ImageError, FileError};
use chorus_model::{
    is_valid_id, now_millis, AppError, ErrorId, Session, Status, User, STATUS_OFFLINE,
};
use chorus_store::users::UserSearchFilter;
use chorus_store::{sessions as session_store, users as user_store};
use serde::{Deserialize, Serialize};

/// Mattermost's `UserSearchDefaultLimit` and `UserSearchMaxLimit`.
const USER_SEARCH_DEFAULT_LIMIT: i64 = 100;
const USER_SEARCH_MAX_LIMIT: i64 = 100;
/// Mattermost's `CustomStatusTextMaxRunes`.
const CUSTOM_STATUS_TEXT_MAX_RUNES: usize = 100;
/// The user prop Mattermost keeps the custom status in, as a JSON string.
const CUSTOM_STATUS_PROP: &str = "customStatus";
/// Most bytes of a profile picture held in memory, whatever `MaxFileSize` allows.
const MAX_PROFILE_IMAGE_BYTES: u64 = 32 * 1024 * 1024;
/// Cache lifetimes Mattermost gives profile images: a day, or five minutes when the stored
/// picture could not be read and the default stands in for it.
const IMAGE_MAX_AGE_SECONDS: u64 = 24 * 3600;
const FALLBACK_IMAGE_MAX_AGE_SECONDS: u64 = 5 * 60;

/// A profile image on its way to a client.
pub struct ProfileImage {
    pub png: Bytes,
    /// Set when the image may be cached and revalidated (not for a stand-in).
    pub etag: Option<String>,
    pub max_age_seconds: u64,
}

/// Body of PUT /users/{id}/status/custom (Mattermost's `CustomStatus`).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct CustomStatus {
    pub emoji: String,
    pub text: String,
    pub duration: String,
    pub expires_at: String,
}

/// Body of POST /users/search (Mattermost's `UserSearch`).
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct UserSearchRequest {
    pub term: String,
    pub team_id: String,
    pub not_in_team_id: String,
    pub in_channel_id: String,
    pub not_in_channel_id: String,
    pub allow_inactive: bool,
    pub limit: i64,
}

/// Query of GET /users/autocomplete.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct AutocompleteQuery {
    pub in_team: String,
    pub in_channel: String,
    pub name: String,
    pub limit: Option<i64>,
}

/// Answer of GET /users/autocomplete.
#[derive(Debug, Serialize, Default)]
pub struct UserAutocomplete {
    pub users: Vec<User>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_of_channel: Option<Vec<User>>,
}

/// Answer of GET /users/stats.
#[derive(Debug, Serialize, Default)]
pub struct UsersStats {
    pub total_users_count: i64,
}

/// Query of GET /users/stats/filtered, as Mattermost reads it: booleans that do not parse
/// are false, role lists are comma-separated.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct FilteredUsersStatsQuery {
    pub in_team: String,
    pub in_channel: String,
    pub include_deleted: String,
    pub include_bots: String,
    pub roles: String,
    pub team_roles: String,
    pub channel_roles: String,
}

/// Answer of GET /limits/server (Mattermost's camelCase keys). Chorus limits neither users nor
/// message history, so every limit is 0, which the apps read as "none".
#[derive(Debug, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ServerLimits {
    pub active_user_count: i64,
    pub max_users_limit: i64,
    pub max_users_hard_limit: i64,
    pub last_accessible_post_time: i64,
    pub post_history_limit: i64,
}

/// Why an uploaded picture could not be rendered; each caller has its own error ids.
pub(crate) enum RenderFailure {
    TooManyPixels(u64),
    Undecodable(String),
    Failed(String),
}

fn profile_image_path(user_id: &str) -> String {
    format!("users/{user_id}/profile.png")
}

/// Go's strconv.ParseBool, with anything else false (as Mattermost ignores its error).
fn parse_bool_lenient(value: &str) -> bool {
    matches!(value, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

/// A comma-separated list of role names (Mattermost's CleanRoleNames: trimmed, each of
/// lower-case letters, digits and underscores, at most 64 long).
fn role_names(value: &str, name: &str) -> AppResult<Vec<String>> {
    if value.is_empty() {
        return Ok(Vec::new());
    }
    value
        .split(',')
        .map(|role| {
            let role = role.trim();
            let valid = !role.is_empty()
                && role.len() <= 64
                && role
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if valid {
                Ok(role.to_string())
            } else {
                Err(ErrorId::InvalidUrlParam.with_param("name", name))
            }
        })
        .collect()
}

/// Empty ids are "not given"; others must be ids.
fn optional_id(value: &str, name: &str) -> AppResult<Option<String>> {
    if value.is_empty() {
        return Ok(None);
    }
    if !is_valid_id(value) {
        return Err(AppError::invalid_param(name));
    }
    Ok(Some(value.to_string()))
}

impl App {
    /// Announces a changed user to every node's caches and to every client, each reader
    /// getting the copy REST would give them.
    pub(crate) fn announce_user_change(&self, user: &User) {
        self.invalidate(chorus_cluster::ClusterMessage::UserChanged {
            user_id: user.id.clone(),
        });
        let copies = chorus_relay::events::UserUpdatedCopies {
            own: sanitize_for(user.clone(), UserReader::Themselves),
            for_system_admins: sanitize_for(user.clone(), UserReader::SystemAdmin),
            for_everyone_else: sanitize_for(user.clone(), UserReader::Other),
        };
        for event in chorus_relay::events::user_updated(&copies) {
            self.publish(event);
        }
    }

    /// The caller is the user or a system admin (Mattermost's `SessionHasPermissionToUser`).
    fn require_self_or_admin(session: &Session, user_id: &str) -> AppResult<()> {
        if session.user_id == user_id {
            return Ok(());
        }
        require_system_admin(session)
    }

    // ---- deactivation ----

    /// PUT /users/{id}/active. Admins may (de)activate anyone; a user may deactivate
    /// themselves when TeamSettings.EnableUserDeactivation is on.
    pub async fn update_user_active(
        &self,
        session: &Session,
        user_id: &str,
        active: bool,
    ) -> AppResult<()> {
        let deactivating_self = !active && session.user_id == user_id;
        if !deactivating_self && !session.is_system_admin() {
            return Err(ErrorId::DeactivationNotAllowed.with_detail(format!("userId={user_id}")));
        }
        if deactivating_self
            && !session.is_system_admin()
            && !self.config().team_settings.enable_user_deactivation
        {
            return Err(ErrorId::SelfDeactivationDisabled.into());
        }
        self.set_user_active(user_id, active).await
    }

    /// DELETE /users/{id}: deactivates (Mattermost's soft delete; `permanent` is not offered).
    pub async fn deactivate_user(&self, session: &Session, user_id: &str) -> AppResult<()> {
        Self::require_self_or_admin(session, user_id)?;
        if session.user_id == user_id
            && !session.is_system_admin()
            && !self.config().team_settings.enable_user_deactivation
        {
            return Err(ErrorId::SelfDeactivationDisabled.into());
        }
        self.set_user_active(user_id, false).await
    }

    /// Sets `delete_at`; deactivation also deletes every session of the user (their caches
    /// and websockets go on every node, through `SessionRevoked`) and sets them offline.
    /// Login is refused from then on (`sessions::login` reads `delete_at`).
    async fn set_user_active(&self, user_id: &str, active: bool) -> AppResult<()> {
        let db = self.store().master().await?;
        let existing = user_store::get(&db, user_id).await?;
        if (existing.delete_at == 0) == active {
            return Ok(());
        }
        let delete_at = if active { 0 } else { now_millis() };
        let user = user_store::set_delete_at(&db, user_id, delete_at, now_millis()).await?;
        let revoked = if active {
            Vec::new()
        } else {
            session_store::delete_for_user_except(&db, user_id, "").await?
        };
        drop(db);
        self.forget_sessions(&revoked);
        self.forget_user_sessions(user_id);
        self.announce_user_change(&user);
        if !active {
            let offline = Status {
                user_id: user_id.to_string(),
                status: STATUS_OFFLINE.to_string(),
                manual: false,
                last_activity_at: now_millis(),
                dnd_end_time: 0,
            };
            if let Err(error) = self.save_status(offline).await {
                tracing::warn!(user_id, error = %error, "could not set a deactivated user offline");
            }
        }
        Ok(())
    }

    // ---- profile images ----

    /// GET /users/{id}/image: the uploaded picture, or the generated default.
    pub async fn profile_image(
        &self,
        _session: &Session,
        user_id: &str,
    ) -> AppResult<ProfileImage> {
        let user = self.cached_user(user_id).await?;
        if user.last_picture_update > 0 {
            let backend = self.file_backend()?;
            match backend
                .read_all(&profile_image_path(user_id), MAX_PROFILE_IMAGE_BYTES)
                .await
            {
                Ok(png) => {
                    return Ok(ProfileImage {
                        png,
                        etag: Some(user.last_picture_update.to_string()),
                        max_age_seconds: IMAGE_MAX_AGE_SECONDS,
                    })
                }
                Err(error) => {
                    tracing::warn!(user_id, error = %error, "profile image unreadable; serving the default")
                }
            }
            return Ok(ProfileImage {
                png: avatars::default_profile_image(&user.username, &user.id),
                etag: None,
                max_age_seconds: FALLBACK_IMAGE_MAX_AGE_SECONDS,
            });
        }
        // The default changes with the username's initial, so the tag names it too.
        let initial = user.username.chars().next().unwrap_or('_');
        Ok(ProfileImage {
            png: avatars::default_profile_image(&user.username, &user.id),
            etag: Some(format!("{}.{initial}", user.last_picture_update)),
            max_age_seconds: IMAGE_MAX_AGE_SECONDS,
        })
    }

    /// GET /users/{id}/image/default.
    pub async fn default_profile_image(
        &self,
        _session: &Session,
        user_id: &str,
    ) -> AppResult<Bytes> {
        let user = self.cached_user(user_id).await?;
        Ok(avatars::default_profile_image(&user.username, &user.id))
    }

    /// The most bytes a profile picture upload may have: `MaxFileSize`, held in memory at
    /// most [`MAX_PROFILE_IMAGE_BYTES`].
    pub fn max_profile_image_bytes(&self) -> u64 {
        (self.config().file_settings.max_file_size.max(0) as u64).min(MAX_PROFILE_IMAGE_BYTES)
    }

    /// Refuses a profile image upload before its body is read (permission, declared size).
    pub fn check_profile_image_upload(
        &self,
        session: &Session,
        user_id: &str,
        content_length: Option<u64>,
    ) -> AppResult<()> {
        Self::require_self_or_admin(session, user_id)?;
        let maximum = self.max_profile_image_bytes();
        if content_length.is_some_and(|length| length > maximum) {
            return Err(ErrorId::ProfileImageTooLarge.with_param("maximum", maximum));
        }
        Ok(())
    }

    /// POST /users/{id}/image: decodes the picture (on the blocking pool, within the image
    /// decoders' bound), stores its 128×128 PNG and announces the user.
    pub async fn set_profile_image(
        &self,
        session: &Session,
        user_id: &str,
        content: Bytes,
    ) -> AppResult<()> {
        Self::require_self_or_admin(session, user_id)?;
        let db = self.store().master().await?;
        user_store::get(&db, user_id).await?;
        drop(db);
        let png = self
            .render_square_image(content)
            .await
            .map_err(|failure| match failure {
                RenderFailure::TooManyPixels(maximum) => {
                    ErrorId::ProfileImageTooManyPixels.with_param("maximum", maximum)
                }
                RenderFailure::Undecodable(detail) => {
                    ErrorId::ProfileImageUndecodable.with_detail(detail)
                }
                RenderFailure::Failed(detail) => {
                    ErrorId::ProfileImageStoreFailed.with_detail(detail)
                }
            })?;
        let backend = self.file_backend()?;
        backend
            .put(&profile_image_path(user_id), png)
            .await
            .map_err(|error| ErrorId::ProfileImageStoreFailed.with_detail(error.to_string()))?;
        let db = self.store().master().await?;
        let now = now_millis();
        let user = user_store::set_last_picture_update(&db, user_id, now, now).await?;
        drop(db);
        self.announce_user_change(&user);
        Ok(())
    }

    /// An uploaded picture as a 128×128 PNG (its middle square), decoded on the blocking pool
    /// within the image decoders' bound and FileSettings.MaxImageResolution: profile images
    /// and team icons alike.
    pub(crate) async fn render_square_image(&self, content: Bytes) -> Result<Bytes, RenderFailure> {
        let file_settings = self.config().file_settings.clone();
        let max_pixels = file_settings.max_image_resolution.max(1) as u64;
        let decoders = self.inner.files.image_decoders(&file_settings);
        let _permit = decoders
            .acquire_owned()
            .await
            .map_err(|error| RenderFailure::Failed(error.to_string()))?;
        let rendered =
            tokio::task::spawn_blocking(move || avatars::profile_image(&content, max_pixels))
                .await
                .map_err(|error| RenderFailure::Failed(error.to_string()))?;
        match rendered {
            Ok(png) => Ok(png),
            Err(ImageError::TooManyPixels { .. }) => Err(RenderFailure::TooManyPixels(max_pixels)),
            Err(error) => Err(RenderFailure::Undecodable(error.to_string())),
        }
    }

    /// DELETE /users/{id}/image: back to the generated default. `last_picture_update` becomes
    /// negative, as Mattermost's `ResetLastPictureUpdate` makes it, so clients reload it.
    pub async fn reset_profile_image(&self, session: &Session, user_id: &str) -> AppResult<()> {
        Self::require_self_or_admin(session, user_id)?;
        let db = self.store().master().await?;
        user_store::get(&db, user_id).await?;
        drop(db);
        let backend = self.file_backend()?;
        match backend.delete(&profile_image_path(user_id)).await {
            Ok(()) | Err(FileError::NotFound(_)) => {}
            Err(error) => {
                return Err(ErrorId::ProfileImageStoreFailed.with_detail(error.to_string()))
            }
        }
        let db = self.store().master().await?;
        let now = now_millis();
        let user = user_store::set_last_picture_update(&db, user_id, -now, now).await?;
        drop(db);
        self.announce_user_change(&user);
        Ok(())
    }

    // ---- custom status ----

    fn require_custom_statuses(&self) -> AppResult<()> {
        if self.config().team_settings.enable_custom_user_statuses {
            return Ok(());
        }
        Err(ErrorId::CustomStatusDisabled.into())
    }

    /// PUT /users/{id}/status/custom: kept in the user's props as Mattermost keeps it (a JSON
    /// string under `customStatus`), so clients read it from the user.
    pub async fn set_custom_status(
        &self,
        session: &Session,
        user_id: &str,
        mut status: CustomStatus,
    ) -> AppResult<()> {
        Self::require_self_or_admin(session, user_id)?;
        self.require_custom_statuses()?;
        if status.emoji.is_empty() && status.text.is_empty() {
            return Err(ErrorId::CustomStatusEmpty.into());
        }
        if status.text.chars().count() > CUSTOM_STATUS_TEXT_MAX_RUNES {
            status.text = status
                .text
                .chars()
                .take(CUSTOM_STATUS_TEXT_MAX_RUNES)
                .collect();
        }
        if status.emoji.chars().count() > 64 {
            return Err(AppError::invalid_param("emoji"));
        }
        let value = serde_json::to_string(&status).map_err(|error| {
            AppError::invalid_param("custom_status").with_detail(error.to_string())
        })?;
        self.set_user_prop(user_id, Some(&value)).await
    }

    /// DELETE /users/{id}/status/custom.
    pub async fn remove_custom_status(&self, session: &Session, user_id: &str) -> AppResult<()> {
        Self::require_self_or_admin(session, user_id)?;
        self.require_custom_statuses()?;
        self.set_user_prop(user_id, None).await
    }

    async fn set_user_prop(&self, user_id: &str, value: Option<&str>) -> AppResult<()> {
        let db = self.store().master().await?;
        let user =
            user_store::set_prop(&db, user_id, CUSTOM_STATUS_PROP, value, now_millis()).await?;
        drop(db);
        self.announce_user_change(&user);
        Ok(())
    }

    // ---- finding users ----

    /// POST /users/search.
    pub async fn search_users(
        &self,
        session: &Session,
        request: UserSearchRequest,
    ) -> AppResult<Vec<User>> {
        self.require_not_busy()?;
        let limit = if request.limit == 0 {
            USER_SEARCH_DEFAULT_LIMIT
        } else {
            request.limit
        };
        if request.term.is_empty() {
            return Err(AppError::invalid_param("term"));
        }
        if request.team_id.is_empty() && !request.not_in_channel_id.is_empty() {
            return Err(AppError::invalid_param("team_id"));
        }
        let in_team = optional_id(&request.team_id, "team_id")?;
        let not_in_team = optional_id(&request.not_in_team_id, "not_in_team_id")?;
        let in_channel = optional_id(&request.in_channel_id, "in_channel_id")?;
        let not_in_channel = optional_id(&request.not_in_channel_id, "not_in_channel_id")?;
        for channel_id in [&in_channel, &not_in_channel].into_iter().flatten() {
            self.require_channel_read(session, channel_id).await?;
        }
        for team_id in [&in_team, &not_in_team].into_iter().flatten() {
            self.require_team_member(session, team_id).await?;
        }
        if limit <= 0 || limit > USER_SEARCH_MAX_LIMIT {
            return Err(AppError::invalid_param("limit"));
        }
        let filter = UserSearchFilter {
            in_team,
            not_in_team,
            in_channel,
            not_in_channel,
            allow_inactive: request.allow_inactive,
            allow_emails: session.is_system_admin(),
            allow_full_names: true,
            limit,
        };
        self.find_users(session, &request.term, &filter).await
    }

    /// GET /users/autocomplete: in a channel (with those of its team outside it), in a team,
    /// or among everyone. Never matches e-mail addresses, as in Mattermost.
    pub async fn autocomplete_users(
        &self,
        session: &Session,
        query: AutocompleteQuery,
    ) -> AppResult<UserAutocomplete> {
        self.require_not_busy()?;
        let limit = query
            .limit
            .filter(|limit| *limit > 0)
            .unwrap_or(USER_SEARCH_DEFAULT_LIMIT)
            .min(USER_SEARCH_MAX_LIMIT);
        let in_team = optional_id(&query.in_team, "in_team")?;
        let in_channel = optional_id(&query.in_channel, "in_channel")?;
        if let Some(channel_id) = &in_channel {
            self.require_channel_read(session, channel_id).await?;
        }
        if let Some(team_id) = &in_team {
            self.require_team_member(session, team_id).await?;
        }
        let base = UserSearchFilter {
            allow_full_names: true,
            limit,
            ..UserSearchFilter::default()
        };
        match (in_channel, in_team) {
            (Some(channel_id), Some(team_id)) => {
                let users = self
                    .find_users(
                        session,
                        &query.name,
                        &UserSearchFilter {
                            in_channel: Some(channel_id.clone()),
                            ..base
                        },
                    )
                    .await?;
                let out_of_channel = self
                    .find_users(
                        session,
                        &query.name,
                        &UserSearchFilter {
                            in_team: Some(team_id),
                            not_in_channel: Some(channel_id),
                            allow_full_names: true,
                            limit,
                            ..UserSearchFilter::default()
                        },
                    )
                    .await?;
                Ok(UserAutocomplete {
                    users,
                    out_of_channel: Some(out_of_channel),
                })
            }
            (Some(channel_id), None) => {
                Err(ErrorId::AutocompleteWithoutTeam.with_detail(format!("channelId={channel_id}")))
            }
            (None, in_team) => {
                let filter = UserSearchFilter { in_team, ..base };
                Ok(UserAutocomplete {
                    users: self.find_users(session, &query.name, &filter).await?,
                    out_of_channel: None,
                })
            }
        }
    }

    /// Users matching a term, from a search replica that has the members announced in the
    /// team or channel looked in.
    async fn find_users(
        &self,
        session: &Session,
        term: &str,
        filter: &UserSearchFilter,
    ) -> AppResult<Vec<User>> {
        let mut keys = Vec::new();
        for team_id in [&filter.in_team, &filter.not_in_team].into_iter().flatten() {
            keys.push(chorus_store::FreshKey::Team(team_id.clone()));
        }
        for channel_id in [&filter.in_channel, &filter.not_in_channel]
            .into_iter()
            .flatten()
        {
            keys.push(chorus_store::FreshKey::Channel(channel_id.clone()));
        }
        let db = self.store().search_for(&keys).await?;
        let users = user_store::search(&db, term, filter).await?;
        Ok(users
            .into_iter()
            .map(|user| sanitize(user, session))
            .collect())
    }

    /// GET /users/stats: any user may ask (Chorus has no view restrictions).
    pub async fn users_stats(&self, _session: &Session) -> AppResult<UsersStats> {
        let db = self.store().replica().await?;
        Ok(UsersStats {
            total_users_count: user_store::count_active(&db).await?,
        })
    }

    /// GET /users/stats/filtered: the System Console's user counts (system admins only).
    pub async fn filtered_users_stats(
        &self,
        session: &Session,
        query: &FilteredUsersStatsQuery,
    ) -> AppResult<UsersStats> {
        require_system_admin(session)?;
        let team_id = optional_id(&query.in_team, "in_team")?;
        let channel_id = optional_id(&query.in_channel, "in_channel")?;
        let filter = user_store::UserCountFilter {
            include_deleted: parse_bool_lenient(&query.include_deleted),
            include_bots: parse_bool_lenient(&query.include_bots),
            roles: role_names(&query.roles, "roles")?,
            team_roles: match team_id {
                Some(_) => role_names(&query.team_roles, "team_roles")?,
                None => Vec::new(),
            },
            channel_roles: match channel_id {
                Some(_) => role_names(&query.channel_roles, "channel_roles")?,
                None => Vec::new(),
            },
            team_id,
            channel_id,
        };
        let db = self.store().replica().await?;
        Ok(UsersStats {
            total_users_count: user_store::count_filtered(&db, &filter).await?,
        })
    }

    /// GET /limits/server, which the web app loads at start for every user: the active user
    /// count only for system admins, as Mattermost does, so the count stays off ordinary
    /// users' start-up.
    pub async fn server_limits(&self, session: &Session) -> AppResult<ServerLimits> {
        if !session.is_system_admin() {
            return Ok(ServerLimits::default());
        }
        let db = self.store().replica().await?;
        Ok(ServerLimits {
            active_user_count: user_store::count_active(&db).await?,
            ..ServerLimits::default()
        })
    }
}

//! Preferences and saved (flagged) posts: a user reads and writes their own, a system admin
//! anyone's (Mattermost's `SessionHasPermissionToUser`). Changes are announced to the user's
//! connections on every node (`preferences_changed` / `preferences_deleted`, the preferences
//! as a JSON string in `data.preferences`).

use crate::{App, AppResult};
use chorus_model::{
    event_names, now_millis, AppError, Broadcast, ErrorId, PostList, Preference, Session,
    WebSocketEvent, PREFERENCE_CATEGORY_FLAGGED_POST,
};
use chorus_store::preferences::{self as preference_store, FlaggedIn};
use chorus_store::{posts as post_store, StoreError};
use serde::Deserialize;
use std::collections::HashMap;

/// Query of GET /users/{id}/posts/flagged.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FlaggedPostsQuery {
    pub channel_id: Option<String>,
    pub team_id: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

/// The caller may act for `user_id`: it is the caller, or the caller is a system admin.
fn require_self_or_admin(session: &Session, user_id: &str) -> AppResult<()> {
    if session.user_id == user_id || session.is_system_admin() {
        Ok(())
    } else {
        Err(AppError::no_permission())
    }
}

impl App {
    pub async fn get_preferences(
        &self,
        session: &Session,
        user_id: &str,
    ) -> AppResult<Vec<Preference>> {
        require_self_or_admin(session, user_id)?;
        let db = self.fresh_read(user_id, None).await?;
        Ok(preference_store::get_all(&db, user_id).await?)
    }

    pub async fn get_preferences_in_category(
        &self,
        session: &Session,
        user_id: &str,
        category: &str,
    ) -> AppResult<Vec<Preference>> {
        require_self_or_admin(session, user_id)?;
        let db = self.fresh_read(user_id, None).await?;
        let preferences = preference_store::get_category(&db, user_id, category).await?;
        if preferences.is_empty() {
            return Err(ErrorId::PreferenceCategoryEmpty.into());
        }
        Ok(preferences)
    }

    pub async fn get_preference(
        &self,
        session: &Session,
        user_id: &str,
        category: &str,
        name: &str,
    ) -> AppResult<Preference> {
        require_self_or_admin(session, user_id)?;
        let db = self.fresh_read(user_id, None).await?;
        match preference_store::get(&db, user_id, category, name).await {
            Ok(preference) => Ok(preference),
            Err(StoreError::NotFound(_)) => Err(ErrorId::PreferenceNotFound.into()),
            Err(other) => Err(other.into()),
        }
    }

    /// PUT /users/{id}/preferences: saves all of them or none.
    pub async fn save_preferences(
        &self,
        session: &Session,
        user_id: &str,
        mut preferences: Vec<Preference>,
    ) -> AppResult<()> {
        require_self_or_admin(session, user_id)?;
        for preference in &preferences {
            if preference.category == PREFERENCE_CATEGORY_FLAGGED_POST {
                self.require_flaggable_post(session, &preference.name)
                    .await?;
            }
        }
        for preference in &mut preferences {
            if preference.user_id != user_id {
                return Err(ErrorId::PreferenceSetOtherUser.with_detail(format!(
                    "userId={user_id}, preference.UserId={}",
                    preference.user_id
                )));
            }
            preference.sanitize_theme();
            preference.validate()?;
        }
        if preferences.is_empty() {
            return Ok(());
        }
        let mut db = self.store().master().await?;
        preference_store::save(&mut db, user_id, &preferences, now_millis()).await?;
        drop(db);
        self.publish(preferences_event(
            event_names::PREFERENCES_CHANGED,
            user_id,
            &preferences,
        ));
        Ok(())
    }

    /// POST /users/{id}/preferences/delete.
    pub async fn delete_preferences(
        &self,
        session: &Session,
        user_id: &str,
        preferences: Vec<Preference>,
    ) -> AppResult<()> {
        require_self_or_admin(session, user_id)?;
        for preference in &preferences {
            if preference.user_id != user_id {
                return Err(ErrorId::PreferenceDeleteOtherUser.with_detail(format!(
                    "userId={user_id}, preference.UserId={}",
                    preference.user_id
                )));
            }
        }
        if preferences.is_empty() {
            return Ok(());
        }
        let mut db = self.store().master().await?;
        preference_store::delete(&mut db, user_id, &preferences, now_millis()).await?;
        drop(db);
        self.publish(preferences_event(
            event_names::PREFERENCES_DELETED,
            user_id,
            &preferences,
        ));
        Ok(())
    }

    /// A post may be saved by whoever may read it (Mattermost: 400 naming `preference.name`
    /// when there is no such live post).
    async fn require_flaggable_post(&self, session: &Session, post_id: &str) -> AppResult<()> {
        if !chorus_model::is_valid_id(post_id) {
            return Err(AppError::invalid_param("preference.name"));
        }
        let post = match self
            .post_with_master_fallback(&session.user_id, post_id)
            .await
        {
            Ok(post) if post.delete_at == 0 => post,
            Ok(_) | Err(_) => return Err(AppError::invalid_param("preference.name")),
        };
        self.require_channel_read(session, &post.channel_id).await?;
        Ok(())
    }

    /// GET /users/{id}/posts/flagged: the user's saved posts, newest first, in channels the
    /// caller may read.
    pub async fn flagged_posts(
        &self,
        session: &Session,
        user_id: &str,
        query: FlaggedPostsQuery,
    ) -> AppResult<PostList> {
        require_self_or_admin(session, user_id)?;
        let (offset, limit) = crate::page_window(query.page, query.per_page, 60, 200)?;
        let channel_id = query.channel_id.filter(|id| !id.is_empty());
        let team_id = query.team_id.filter(|id| !id.is_empty());
        let scope = match (channel_id, team_id) {
            (Some(channel_id), _) => {
                if !chorus_model::is_valid_id(&channel_id) {
                    return Err(AppError::invalid_param("channel_id"));
                }
                FlaggedIn::Channel(channel_id)
            }
            (None, Some(team_id)) => {
                if !chorus_model::is_valid_id(&team_id) {
                    return Err(AppError::invalid_param("team_id"));
                }
                FlaggedIn::Team(team_id)
            }
            (None, None) => FlaggedIn::Everywhere,
        };
        let db = self.fresh_read(user_id, None).await?;
        let post_ids =
            preference_store::flagged_post_ids(&db, user_id, &scope, offset, limit).await?;
        let mut posts = post_store::get_many(&db, &post_ids).await?;
        drop(db);
        posts.sort_by(|first, second| {
            second
                .create_at
                .cmp(&first.create_at)
                .then_with(|| first.id.cmp(&second.id))
        });
        let mut readable_channels: HashMap<String, bool> = HashMap::new();
        let mut list = PostList::default();
        for post in posts {
            let readable = match readable_channels.get(&post.channel_id) {
                Some(readable) => *readable,
                None => {
                    let readable = self
                        .require_channel_read(session, &post.channel_id)
                        .await
                        .is_ok();
                    readable_channels.insert(post.channel_id.clone(), readable);
                    readable
                }
            };
            if readable {
                list.push(post);
            }
        }
        Ok(list)
    }
}

/// `preferences_changed` / `preferences_deleted` to the user's connections; Mattermost sends
/// the preferences as a JSON string.
fn preferences_event(name: &str, user_id: &str, preferences: &[Preference]) -> WebSocketEvent {
    WebSocketEvent::new(name, Broadcast::to_user(user_id)).with(
        "preferences",
        serde_json::to_string(preferences).unwrap_or_default(),
    )
}

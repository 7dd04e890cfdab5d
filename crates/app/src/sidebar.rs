//! Sidebar categories: how a user groups and orders their channels in each team. A user reads
//! and writes their own, a system admin anyone's (Mattermost's `SessionHasPermissionToUser`
//! and `SessionHasPermissionToCategory`). The default categories are created on first read, as
//! Mattermost does; changes are announced to the user's connections (`sidebar_category_*`,
//! broadcast to the user within the team).

use crate::{App, AppResult};
use chorus_model::{
    event_names, new_id, now_millis, AppError, Broadcast, ErrorId, OrderedSidebarCategories,
    Session, SidebarCategory, WebSocketEvent, SIDEBAR_CATEGORY_CUSTOM,
};
use chorus_store::{channels as channel_store, sidebar as sidebar_store, StoreError};
use std::collections::HashSet;

fn require_self_or_admin(session: &Session, user_id: &str) -> AppResult<()> {
    if session.user_id == user_id || session.is_system_admin() {
        Ok(())
    } else {
        Err(AppError::no_permission())
    }
}

/// The event for a change of the user's categories of a team.
fn category_event(name: &str, user_id: &str, team_id: &str) -> WebSocketEvent {
    let mut broadcast = Broadcast::to_user(user_id);
    broadcast.team_id = team_id.to_string();
    WebSocketEvent::new(name, broadcast)
}

impl App {
    /// GET /users/{id}/teams/{team_id}/channels/categories.
    pub async fn sidebar_categories(
        &self,
        session: &Session,
        user_id: &str,
        team_id: &str,
    ) -> AppResult<OrderedSidebarCategories> {
        require_self_or_admin(session, user_id)?;
        let db = self.fresh_read(user_id, None).await?;
        let categories = sidebar_store::list(&db, user_id, team_id).await?;
        drop(db);
        if !categories.categories.is_empty() {
            return Ok(categories);
        }
        // A user outside the team has no categories there (Mattermost lists them through
        // the team membership), and none are made for them.
        if !self.is_team_member(team_id, user_id).await? {
            return Ok(categories);
        }
        let mut db = self.store().master().await?;
        let transaction = db.transaction().await.map_err(StoreError::from)?;
        sidebar_store::create_defaults(&transaction, user_id, team_id).await?;
        let categories = sidebar_store::list(&transaction, user_id, team_id).await?;
        transaction.commit().await.map_err(StoreError::from)?;
        Ok(categories)
    }

    /// GET …/categories/order.
    pub async fn sidebar_category_order(
        &self,
        session: &Session,
        user_id: &str,
        team_id: &str,
    ) -> AppResult<Vec<String>> {
        Ok(self
            .sidebar_categories(session, user_id, team_id)
            .await?
            .order)
    }

    /// Mattermost's `SessionHasPermissionToCategory`: a system admin, or the category's own
    /// user, asking within the category's team.
    async fn owned_category(
        &self,
        session: &Session,
        user_id: &str,
        team_id: &str,
        category_id: &str,
    ) -> Option<SidebarCategory> {
        let db = self.fresh_read(user_id, None).await.ok()?;
        let category = match sidebar_store::get(&db, category_id).await {
            Ok(category) => category,
            Err(_) => {
                drop(db);
                let db = self.store().master().await.ok()?;
                sidebar_store::get(&db, category_id).await.ok()?
            }
        };
        let owned = category.user_id == user_id && category.team_id == team_id;
        let allowed = session.is_system_admin() || (owned && category.user_id == session.user_id);
        (allowed && owned).then_some(category)
    }

    /// GET …/categories/{category_id}.
    pub async fn sidebar_category(
        &self,
        session: &Session,
        user_id: &str,
        team_id: &str,
        category_id: &str,
    ) -> AppResult<SidebarCategory> {
        self.owned_category(session, user_id, team_id, category_id)
            .await
            .ok_or_else(AppError::no_permission)
    }

    /// Only the user's channels of the team (and their direct and group channels) may be
    /// placed; others are dropped silently, as Mattermost does.
    async fn keep_own_channels(
        &self,
        user_id: &str,
        team_id: &str,
        categories: &mut [SidebarCategory],
    ) -> AppResult<()> {
        let db = self.store().master().await?;
        let own: HashSet<String> =
            channel_store::list_for_user_in_team(&db, user_id, team_id, true)
                .await?
                .into_iter()
                .map(|channel| channel.id)
                .collect();
        for category in categories.iter_mut() {
            category
                .channel_ids
                .retain(|channel_id| own.contains(channel_id));
        }
        Ok(())
    }

    /// POST …/categories: a custom category, placed after favorites.
    pub async fn create_sidebar_category(
        &self,
        session: &Session,
        user_id: &str,
        team_id: &str,
        mut category: SidebarCategory,
    ) -> AppResult<SidebarCategory> {
        require_self_or_admin(session, user_id)?;
        if category.user_id != user_id || category.team_id != team_id {
            return Err(ErrorId::InvalidBodyParam.with_param("name", "category"));
        }
        validate_display_name(&category)?;
        // The defaults come first, so that the new category has a place among them.
        if self
            .sidebar_categories(session, user_id, team_id)
            .await?
            .categories
            .is_empty()
        {
            return Err(ErrorId::SidebarCategoryNotFound.into());
        }
        self.keep_own_channels(user_id, team_id, std::slice::from_mut(&mut category))
            .await?;
        category.id = new_id();
        category.category_type = SIDEBAR_CATEGORY_CUSTOM.to_string();
        // Mattermost creates a category expanded, whatever the request says.
        category.collapsed = false;
        let mut db = self.store().master().await?;
        let transaction = db.transaction().await.map_err(StoreError::from)?;
        let created = sidebar_store::create_custom(&transaction, &category, now_millis()).await?;
        transaction.commit().await.map_err(StoreError::from)?;
        drop(db);
        self.publish(
            category_event(event_names::SIDEBAR_CATEGORY_CREATED, user_id, team_id)
                .with("category_id", created.id.clone()),
        );
        Ok(created)
    }

    /// PUT …/categories/order.
    pub async fn update_sidebar_category_order(
        &self,
        session: &Session,
        user_id: &str,
        team_id: &str,
        order: Vec<String>,
    ) -> AppResult<Vec<String>> {
        require_self_or_admin(session, user_id)?;
        for category_id in &order {
            if self
                .owned_category(session, user_id, team_id, category_id)
                .await
                .is_none()
            {
                return Err(ErrorId::InvalidBodyParam.with_param("name", "category"));
            }
        }
        let mut db = self.store().master().await?;
        let transaction = db.transaction().await.map_err(StoreError::from)?;
        if !sidebar_store::update_order(&transaction, user_id, team_id, &order, now_millis())
            .await?
        {
            return Err(ErrorId::SidebarCategoryOrderInvalid.into());
        }
        transaction.commit().await.map_err(StoreError::from)?;
        drop(db);
        self.publish(
            category_event(
                event_names::SIDEBAR_CATEGORY_ORDER_UPDATED,
                user_id,
                team_id,
            )
            .with("order", order.clone()),
        );
        Ok(order)
    }

    /// PUT …/categories: several categories at once (moving a channel between categories
    /// names both).
    pub async fn update_sidebar_categories(
        &self,
        session: &Session,
        user_id: &str,
        team_id: &str,
        mut categories: Vec<SidebarCategory>,
    ) -> AppResult<Vec<SidebarCategory>> {
        require_self_or_admin(session, user_id)?;
        for category in &categories {
            if self
                .owned_category(session, user_id, team_id, &category.id)
                .await
                .is_none()
            {
                return Err(ErrorId::InvalidBodyParam.with_param("name", "category"));
            }
            validate_display_name(category)?;
        }
        self.keep_own_channels(user_id, team_id, &mut categories)
            .await?;
        let now = now_millis();
        let mut db = self.store().master().await?;
        let transaction = db.transaction().await.map_err(StoreError::from)?;
        let changed = sidebar_store::update(&transaction, user_id, &categories, now).await?;
        transaction.commit().await.map_err(StoreError::from)?;
        drop(db);
        let updated: Vec<SidebarCategory> =
            changed.iter().map(|(_, updated)| updated.clone()).collect();
        self.publish(
            category_event(event_names::SIDEBAR_CATEGORY_UPDATED, user_id, team_id).with(
                "updatedCategories",
                serde_json::to_string(&updated).unwrap_or_default(),
            ),
        );
        self.mute_channels_of_categories(user_id, &changed).await;
        Ok(updated)
    }

    /// PUT …/categories/{category_id}.
    pub async fn update_sidebar_category(
        &self,
        session: &Session,
        user_id: &str,
        team_id: &str,
        category_id: &str,
        mut category: SidebarCategory,
    ) -> AppResult<SidebarCategory> {
        if self
            .owned_category(session, user_id, team_id, category_id)
            .await
            .is_none()
        {
            return Err(AppError::no_permission());
        }
        if category.user_id != user_id || category.team_id != team_id {
            return Err(ErrorId::InvalidBodyParam.with_param("name", "category"));
        }
        category.id = category_id.to_string();
        let mut updated = self
            .update_sidebar_categories(session, user_id, team_id, vec![category])
            .await?;
        Ok(updated.remove(0))
    }

    /// DELETE …/categories/{category_id}: only custom categories; their channels go back to
    /// the channels and direct messages categories.
    pub async fn delete_sidebar_category(
        &self,
        session: &Session,
        user_id: &str,
        team_id: &str,
        category_id: &str,
    ) -> AppResult<()> {
        let category = self
            .owned_category(session, user_id, team_id, category_id)
            .await
            .ok_or_else(AppError::no_permission)?;
        let mut db = self.store().master().await?;
        let transaction = db.transaction().await.map_err(StoreError::from)?;
        if !sidebar_store::delete_custom(&transaction, &category, now_millis()).await? {
            return Err(ErrorId::SidebarCategoryNotCustom.into());
        }
        transaction.commit().await.map_err(StoreError::from)?;
        drop(db);
        self.publish(
            category_event(event_names::SIDEBAR_CATEGORY_DELETED, user_id, team_id)
                .with("category_id", category_id.to_string()),
        );
        Ok(())
    }

    /// Mattermost mutes the channels of a category that was muted (and unmutes those of one
    /// unmuted), and a channel moved between a muted and an unmuted category follows its new
    /// category. Best effort, after the categories are saved, as in Mattermost.
    async fn mute_channels_of_categories(
        &self,
        user_id: &str,
        changed: &[(SidebarCategory, SidebarCategory)],
    ) {
        let mut mute = Vec::new();
        let mut unmute = Vec::new();
        for (original, updated) in changed {
            if updated.muted && !original.muted {
                mute.extend(updated.channel_ids.iter().cloned());
            } else if !updated.muted && original.muted {
                unmute.extend(updated.channel_ids.iter().cloned());
            }
        }
        for (_, to) in changed {
            for channel_id in &to.channel_ids {
                let from = changed
                    .iter()
                    .find(|(original, _)| original.channel_ids.contains(channel_id));
                if let Some((from, _)) = from {
                    if from.id != to.id && to.muted && !from.muted {
                        mute.push(channel_id.clone());
                    } else if from.id != to.id && !to.muted && from.muted {
                        unmute.push(channel_id.clone());
                    }
                }
            }
        }
        for (channel_ids, muted) in [(mute, true), (unmute, false)] {
            for channel_id in channel_ids {
                if let Err(error) = self.set_channel_muted(user_id, &channel_id, muted).await {
                    tracing::warn!(%user_id, %channel_id, error = %error.message, "could not mute a channel to match its category");
                }
            }
        }
    }
}

/// Mattermost's column holds 64 characters; a custom category needs a name.
fn validate_display_name(category: &SidebarCategory) -> AppResult<()> {
    let length = category.display_name.chars().count();
    let custom =
        category.category_type.is_empty() || category.category_type == SIDEBAR_CATEGORY_CUSTOM;
    if length > 64 || (custom && length == 0 && category.id.is_empty()) {
        return Err(ErrorId::InvalidBodyParam.with_param("name", "category"));
    }
    Ok(())
}

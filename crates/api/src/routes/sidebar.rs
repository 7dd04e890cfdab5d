//! /users/{id}/teams/{team_id}/channels/categories: a user's sidebar categories of a team.

use super::status_ok;
use crate::error::ApiResult;
use crate::extract::{require_id, user_id_or_me, Caller, JsonBody, Path};
use axum::extract::State;
use axum::Json;
use chorus_app::App;
use chorus_model::{AppError, ErrorId, OrderedSidebarCategories, Session, SidebarCategory};
use serde_json::Value;

/// Mattermost's `IsValidCategoryId`: a 26-character id (custom categories) or a default
/// category's `<type>_<user id>_<team id>`.
fn require_category_id(category_id: &str) -> Result<(), AppError> {
    let valid = chorus_model::is_valid_id(category_id)
        || ["favorites_", "channels_", "direct_messages_"]
            .iter()
            .any(|prefix| {
                category_id.strip_prefix(prefix).is_some_and(|rest| {
                    rest.split_once('_').is_some_and(|(user_id, team_id)| {
                        chorus_model::is_valid_id(user_id) && chorus_model::is_valid_id(team_id)
                    })
                })
            });
    if valid {
        Ok(())
    } else {
        Err(ErrorId::InvalidUrlParam.with_param("name", "category_id"))
    }
}

fn user_and_team(session: &Session, user_id: &str, team_id: &str) -> ApiResult<(String, String)> {
    let user_id = user_id_or_me(user_id, session)?;
    require_id(team_id, "team_id")?;
    Ok((user_id, team_id.to_string()))
}

pub(crate) async fn list(
    State(app): State<App>,
    Caller(session): Caller,
    Path((user_id, team_id)): Path<(String, String)>,
) -> ApiResult<Json<OrderedSidebarCategories>> {
    let (user_id, team_id) = user_and_team(&session, &user_id, &team_id)?;
    Ok(Json(
        app.sidebar_categories(&session, &user_id, &team_id).await?,
    ))
}

pub(crate) async fn create(
    State(app): State<App>,
    Caller(session): Caller,
    Path((user_id, team_id)): Path<(String, String)>,
    JsonBody(category): JsonBody<SidebarCategory>,
) -> ApiResult<Json<SidebarCategory>> {
    let (user_id, team_id) = user_and_team(&session, &user_id, &team_id)?;
    Ok(Json(
        app.create_sidebar_category(&session, &user_id, &team_id, category)
            .await?,
    ))
}

pub(crate) async fn update_many(
    State(app): State<App>,
    Caller(session): Caller,
    Path((user_id, team_id)): Path<(String, String)>,
    JsonBody(categories): JsonBody<Vec<SidebarCategory>>,
) -> ApiResult<Json<Vec<SidebarCategory>>> {
    let (user_id, team_id) = user_and_team(&session, &user_id, &team_id)?;
    Ok(Json(
        app.update_sidebar_categories(&session, &user_id, &team_id, categories)
            .await?,
    ))
}

pub(crate) async fn order(
    State(app): State<App>,
    Caller(session): Caller,
    Path((user_id, team_id)): Path<(String, String)>,
) -> ApiResult<Json<Vec<String>>> {
    let (user_id, team_id) = user_and_team(&session, &user_id, &team_id)?;
    Ok(Json(
        app.sidebar_category_order(&session, &user_id, &team_id)
            .await?,
    ))
}

pub(crate) async fn update_order(
    State(app): State<App>,
    Caller(session): Caller,
    Path((user_id, team_id)): Path<(String, String)>,
    JsonBody(order): JsonBody<Vec<String>>,
) -> ApiResult<Json<Vec<String>>> {
    let (user_id, team_id) = user_and_team(&session, &user_id, &team_id)?;
    Ok(Json(
        app.update_sidebar_category_order(&session, &user_id, &team_id, order)
            .await?,
    ))
}

pub(crate) async fn get(
    State(app): State<App>,
    Caller(session): Caller,
    Path((user_id, team_id, category_id)): Path<(String, String, String)>,
) -> ApiResult<Json<SidebarCategory>> {
    let (user_id, team_id) = user_and_team(&session, &user_id, &team_id)?;
    require_category_id(&category_id)?;
    Ok(Json(
        app.sidebar_category(&session, &user_id, &team_id, &category_id)
            .await?,
    ))
}

pub(crate) async fn update(
    State(app): State<App>,
    Caller(session): Caller,
    Path((user_id, team_id, category_id)): Path<(String, String, String)>,
    JsonBody(category): JsonBody<SidebarCategory>,
) -> ApiResult<Json<SidebarCategory>> {
    let (user_id, team_id) = user_and_team(&session, &user_id, &team_id)?;
    require_category_id(&category_id)?;
    Ok(Json(
        app.update_sidebar_category(&session, &user_id, &team_id, &category_id, category)
            .await?,
    ))
}

pub(crate) async fn delete(
    State(app): State<App>,
    Caller(session): Caller,
    Path((user_id, team_id, category_id)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let (user_id, team_id) = user_and_team(&session, &user_id, &team_id)?;
    require_category_id(&category_id)?;
    app.delete_sidebar_category(&session, &user_id, &team_id, &category_id)
        .await?;
    Ok(status_ok())
}

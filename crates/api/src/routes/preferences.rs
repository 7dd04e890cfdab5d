//! /users/{id}/preferences and /users/{id}/posts/flagged.

use super::status_ok;
use crate::error::ApiResult;
use crate::extract::{user_id_or_me, Caller, JsonBody, Path, Query};
use axum::extract::State;
use axum::Json;
use chorus_app::{App, FlaggedPostsQuery};
use chorus_model::{AppError, ErrorId, PostList, Preference};
use serde_json::Value;

/// Mattermost's route pattern for categories and names: `[A-Za-z0-9_]+`.
fn require_preference_word(value: &str, name: &str) -> Result<(), AppError> {
    let valid = !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(ErrorId::InvalidUrlParam.with_param("name", name))
    }
}

pub(crate) async fn list(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Vec<Preference>>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    Ok(Json(app.get_preferences(&session, &user_id).await?))
}

pub(crate) async fn in_category(
    State(app): State<App>,
    Caller(session): Caller,
    Path((user_id, category)): Path<(String, String)>,
) -> ApiResult<Json<Vec<Preference>>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    require_preference_word(&category, "category")?;
    Ok(Json(
        app.get_preferences_in_category(&session, &user_id, &category)
            .await?,
    ))
}

pub(crate) async fn by_name(
    State(app): State<App>,
    Caller(session): Caller,
    Path((user_id, category, name)): Path<(String, String, String)>,
) -> ApiResult<Json<Preference>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    require_preference_word(&category, "category")?;
    require_preference_word(&name, "preference_name")?;
    Ok(Json(
        app.get_preference(&session, &user_id, &category, &name)
            .await?,
    ))
}

pub(crate) async fn save(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
    JsonBody(preferences): JsonBody<Vec<Preference>>,
) -> ApiResult<Json<Value>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    app.save_preferences(&session, &user_id, preferences)
        .await?;
    Ok(status_ok())
}

pub(crate) async fn delete(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
    JsonBody(preferences): JsonBody<Vec<Preference>>,
) -> ApiResult<Json<Value>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    app.delete_preferences(&session, &user_id, preferences)
        .await?;
    Ok(status_ok())
}

pub(crate) async fn flagged_posts(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
    Query(query): Query<FlaggedPostsQuery>,
) -> ApiResult<Json<PostList>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    Ok(Json(app.flagged_posts(&session, &user_id, query).await?))
}

//! Posts by ids, pinned posts and pinning, search in all teams, file search (issue 13).

use crate::error::ApiResult;
use crate::extract::{require_id, Caller, JsonBody, Path};
use axum::extract::State;
use axum::Json;
use chorus_app::App;
use chorus_model::{FileInfoList, Post, PostList, PostSearchResults, SearchParameter};
use serde_json::Value;

/// POST /posts/ids.
pub(crate) async fn by_ids(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(post_ids): JsonBody<Vec<String>>,
) -> ApiResult<Json<Vec<Post>>> {
    Ok(Json(app.posts_by_ids(&session, post_ids).await?))
}

/// GET /channels/{id}/pinned.
pub(crate) async fn pinned(
    State(app): State<App>,
    Caller(session): Caller,
    Path(channel_id): Path<String>,
) -> ApiResult<Json<PostList>> {
    require_id(&channel_id, "channel_id")?;
    Ok(Json(app.pinned_posts(&session, &channel_id).await?))
}

/// POST /posts/{id}/pin.
pub(crate) async fn pin(
    State(app): State<App>,
    Caller(session): Caller,
    Path(post_id): Path<String>,
) -> ApiResult<Json<Value>> {
    require_id(&post_id, "post_id")?;
    app.set_post_pinned(&session, &post_id, true).await?;
    Ok(super::status_ok())
}

/// POST /posts/{id}/unpin.
pub(crate) async fn unpin(
    State(app): State<App>,
    Caller(session): Caller,
    Path(post_id): Path<String>,
) -> ApiResult<Json<Value>> {
    require_id(&post_id, "post_id")?;
    app.set_post_pinned(&session, &post_id, false).await?;
    Ok(super::status_ok())
}

/// POST /posts/search: every team of the caller.
pub(crate) async fn search_all_teams(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(parameters): JsonBody<SearchParameter>,
) -> ApiResult<Json<PostSearchResults>> {
    Ok(Json(
        app.search_posts_in_all_teams(&session, parameters).await?,
    ))
}

/// POST /teams/{id}/files/search.
pub(crate) async fn search_files(
    State(app): State<App>,
    Caller(session): Caller,
    Path(team_id): Path<String>,
    JsonBody(parameters): JsonBody<SearchParameter>,
) -> ApiResult<Json<FileInfoList>> {
    require_id(&team_id, "team_id")?;
    Ok(Json(
        app.search_files(&session, &team_id, parameters).await?,
    ))
}

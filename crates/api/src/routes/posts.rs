//! /posts, a channel's posts, reactions and search.

use crate::error::ApiResult;
use crate::extract::{require_id, user_id_or_me, Caller, JsonBody, Path, Query};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chorus_app::{App, ChannelPostsQuery, CreatePostRequest, PostEdit};
use chorus_model::{Post, PostList, PostPatch, PostSearchResults, Reaction, SearchParameter};
use serde_json::Value;

pub(crate) async fn create(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(post): JsonBody<CreatePostRequest>,
) -> ApiResult<(StatusCode, Json<Post>)> {
    Ok((
        StatusCode::CREATED,
        Json(app.create_post(&session, post).await?),
    ))
}

pub(crate) async fn get(
    State(app): State<App>,
    Caller(session): Caller,
    Path(post_id): Path<String>,
) -> ApiResult<Json<Post>> {
    require_id(&post_id, "post_id")?;
    Ok(Json(app.get_post(&session, &post_id).await?))
}

pub(crate) async fn patch(
    State(app): State<App>,
    Caller(session): Caller,
    Path(post_id): Path<String>,
    JsonBody(patch): JsonBody<PostPatch>,
) -> ApiResult<Json<Post>> {
    require_id(&post_id, "post_id")?;
    Ok(Json(
        app.patch_post(&session, &post_id, patch, PostEdit::Patch)
            .await?,
    ))
}

/// PUT /posts/{id} carries the whole post; the editable fields are applied.
pub(crate) async fn update(
    State(app): State<App>,
    Caller(session): Caller,
    Path(post_id): Path<String>,
    JsonBody(post): JsonBody<Post>,
) -> ApiResult<Json<Post>> {
    require_id(&post_id, "post_id")?;
    let patch = PostPatch {
        is_pinned: Some(post.is_pinned),
        message: Some(post.message),
        props: Some(post.props),
        file_ids: Some(post.file_ids),
        has_reactions: None,
    };
    Ok(Json(
        app.patch_post(&session, &post_id, patch, PostEdit::Update)
            .await?,
    ))
}

pub(crate) async fn delete(
    State(app): State<App>,
    Caller(session): Caller,
    Path(post_id): Path<String>,
) -> ApiResult<Json<Value>> {
    require_id(&post_id, "post_id")?;
    app.delete_post(&session, &post_id).await?;
    Ok(super::status_ok())
}

pub(crate) async fn for_channel(
    State(app): State<App>,
    Caller(session): Caller,
    Path(channel_id): Path<String>,
    Query(query): Query<ChannelPostsQuery>,
) -> ApiResult<Json<PostList>> {
    require_id(&channel_id, "channel_id")?;
    Ok(Json(app.channel_posts(&session, &channel_id, query).await?))
}

pub(crate) async fn thread(
    State(app): State<App>,
    Caller(session): Caller,
    Path(post_id): Path<String>,
) -> ApiResult<Json<PostList>> {
    require_id(&post_id, "post_id")?;
    Ok(Json(app.post_thread(&session, &post_id).await?))
}

pub(crate) async fn search(
    State(app): State<App>,
    Caller(session): Caller,
    Path(team_id): Path<String>,
    JsonBody(parameters): JsonBody<SearchParameter>,
) -> ApiResult<Json<PostSearchResults>> {
    require_id(&team_id, "team_id")?;
    Ok(Json(
        app.search_posts(&session, &team_id, parameters).await?,
    ))
}

pub(crate) async fn reactions(
    State(app): State<App>,
    Caller(session): Caller,
    Path(post_id): Path<String>,
) -> ApiResult<Json<Vec<Reaction>>> {
    require_id(&post_id, "post_id")?;
    Ok(Json(app.list_reactions(&session, &post_id).await?))
}

pub(crate) async fn add_reaction(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(reaction): JsonBody<Reaction>,
) -> ApiResult<Json<Reaction>> {
    require_id(&reaction.post_id, "post_id")?;
    require_id(&reaction.user_id, "user_id")?;
    Ok(Json(app.add_reaction(&session, reaction).await?))
}

pub(crate) async fn remove_reaction(
    State(app): State<App>,
    Caller(session): Caller,
    Path((user_id, post_id, emoji_name)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    require_id(&post_id, "post_id")?;
    app.remove_reaction(&session, &user_id, &post_id, &emoji_name)
        .await?;
    Ok(super::status_ok())
}

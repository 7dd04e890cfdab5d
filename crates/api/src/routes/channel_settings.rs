//! A user's channels and unreads across teams; a channel's stats, restore and privacy; a
//! member's notify props and roles; marking channels viewed.

use super::status_ok;
use super::teams::Paging;
use crate::error::ApiResult;
use crate::extract::{require_id, user_id_or_me, Caller, JsonBody, Path, Query};
use axum::extract::State;
use axum::Json;
use chorus_app::App;
use chorus_model::{
    AppError, Channel, ChannelMember, ChannelStats, ChannelViewResponse, ErrorId, PostList,
    TeamUnread,
};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct ChannelsForUserQuery {
    include_deleted: bool,
    last_delete_at: i64,
}

pub(crate) async fn for_user(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
    Query(query): Query<ChannelsForUserQuery>,
) -> ApiResult<Json<Vec<Channel>>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    Ok(Json(
        app.channels_for_user(
            &session,
            &user_id,
            query.include_deleted,
            query.last_delete_at,
        )
        .await?,
    ))
}

pub(crate) async fn members_for_user(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Vec<ChannelMember>>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    Ok(Json(
        app.channel_members_for_user(&session, &user_id, paging.page, paging.per_page)
            .await?,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct TeamUnreadQuery {
    exclude_team: String,
}

pub(crate) async fn team_unreads(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
    Query(query): Query<TeamUnreadQuery>,
) -> ApiResult<Json<Vec<TeamUnread>>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    Ok(Json(
        app.team_unreads(&session, &user_id, &query.exclude_team)
            .await?,
    ))
}

pub(crate) async fn stats(
    State(app): State<App>,
    Caller(session): Caller,
    Path(channel_id): Path<String>,
) -> ApiResult<Json<ChannelStats>> {
    require_id(&channel_id, "channel_id")?;
    Ok(Json(app.channel_stats(&session, &channel_id).await?))
}

pub(crate) async fn restore(
    State(app): State<App>,
    Caller(session): Caller,
    Path(channel_id): Path<String>,
) -> ApiResult<Json<Channel>> {
    require_id(&channel_id, "channel_id")?;
    Ok(Json(app.restore_channel(&session, &channel_id).await?))
}

pub(crate) async fn privacy(
    State(app): State<App>,
    Caller(session): Caller,
    Path(channel_id): Path<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Channel>> {
    require_id(&channel_id, "channel_id")?;
    let privacy = body
        .get("privacy")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Ok(Json(
        app.set_channel_privacy(&session, &channel_id, privacy)
            .await?,
    ))
}

pub(crate) async fn notify_props(
    State(app): State<App>,
    Caller(session): Caller,
    Path((channel_id, user_id)): Path<(String, String)>,
    JsonBody(props): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    require_id(&channel_id, "channel_id")?;
    let user_id = user_id_or_me(&user_id, &session)?;
    app.update_channel_notify_props(&session, &channel_id, &user_id, props)
        .await?;
    Ok(status_ok())
}

#[derive(Deserialize)]
pub(crate) struct RolesBody {
    roles: Option<String>,
}

pub(crate) async fn roles(
    State(app): State<App>,
    Caller(session): Caller,
    Path((channel_id, user_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<RolesBody>,
) -> ApiResult<Json<Value>> {
    require_id(&channel_id, "channel_id")?;
    let user_id = user_id_or_me(&user_id, &session)?;
    let Some(roles) = body.roles else {
        return Err(AppError::invalid_param("roles").into());
    };
    app.update_channel_member_roles(&session, &channel_id, &user_id, &roles)
        .await?;
    Ok(status_ok())
}

#[derive(Deserialize)]
pub(crate) struct ViewRequest {
    #[serde(default)]
    channel_id: String,
    #[serde(default)]
    prev_channel_id: String,
}

pub(crate) async fn view(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
    JsonBody(request): JsonBody<ViewRequest>,
) -> ApiResult<Json<ChannelViewResponse>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    if !request.channel_id.is_empty() && !chorus_model::is_valid_id(&request.channel_id) {
        return Err(ErrorId::InvalidBodyParam
            .with_param("name", "channel_view.channel_id")
            .into());
    }
    if !request.prev_channel_id.is_empty() && !chorus_model::is_valid_id(&request.prev_channel_id) {
        return Err(ErrorId::InvalidBodyParam
            .with_param("name", "channel_view.prev_channel_id")
            .into());
    }
    Ok(Json(
        app.view_channels(
            &session,
            &user_id,
            &request.channel_id,
            &request.prev_channel_id,
        )
        .await?,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct UnreadPostsQuery {
    limit_before: Option<String>,
    limit_after: Option<String>,
}

/// Mattermost's `limit_before` / `limit_after`: 60 when missing or not a number, at most 200.
fn post_limit(value: Option<&str>) -> i64 {
    match value.map(str::parse::<i64>) {
        Some(Ok(limit)) if limit >= 0 => limit.min(200),
        _ => 60,
    }
}

pub(crate) async fn posts_around_last_unread(
    State(app): State<App>,
    Caller(session): Caller,
    Path((user_id, channel_id)): Path<(String, String)>,
    Query(query): Query<UnreadPostsQuery>,
) -> ApiResult<Json<PostList>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    require_id(&channel_id, "channel_id")?;
    Ok(Json(
        app.posts_around_last_unread(
            &session,
            &user_id,
            &channel_id,
            post_limit(query.limit_before.as_deref()),
            post_limit(query.limit_after.as_deref()),
        )
        .await?,
    ))
}

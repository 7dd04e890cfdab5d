//! /channels and a user's channels in a team.

use super::teams::Paging;
use crate::error::ApiResult;
use crate::extract::{require_id, user_id_or_me, Caller, JsonBody, Path, Query};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chorus_app::{App, DirectChannelRequest};
use chorus_model::{Channel, ChannelMember, ChannelPatch, ChannelUnread};
use serde::Deserialize;
use serde_json::Value;

pub(crate) async fn create(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(channel): JsonBody<Channel>,
) -> ApiResult<(StatusCode, Json<Channel>)> {
    Ok((
        StatusCode::CREATED,
        Json(app.create_channel(&session, channel).await?),
    ))
}

pub(crate) async fn create_direct(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(user_ids): JsonBody<DirectChannelRequest>,
) -> ApiResult<(StatusCode, Json<Channel>)> {
    Ok((
        StatusCode::CREATED,
        Json(app.create_direct_channel(&session, user_ids).await?),
    ))
}

pub(crate) async fn create_group(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(user_ids): JsonBody<DirectChannelRequest>,
) -> ApiResult<(StatusCode, Json<Channel>)> {
    Ok((
        StatusCode::CREATED,
        Json(app.create_group_channel(&session, user_ids).await?),
    ))
}

pub(crate) async fn get(
    State(app): State<App>,
    Caller(session): Caller,
    Path(channel_id): Path<String>,
) -> ApiResult<Json<Channel>> {
    require_id(&channel_id, "channel_id")?;
    Ok(Json(app.get_channel(&session, &channel_id).await?))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct ByNameQuery {
    include_deleted: bool,
}

pub(crate) async fn by_name(
    State(app): State<App>,
    Caller(session): Caller,
    Path((team_id, name)): Path<(String, String)>,
    Query(query): Query<ByNameQuery>,
) -> ApiResult<Json<Channel>> {
    require_id(&team_id, "team_id")?;
    Ok(Json(
        app.get_channel_by_name(&session, &team_id, &name, query.include_deleted)
            .await?,
    ))
}

pub(crate) async fn patch(
    State(app): State<App>,
    Caller(session): Caller,
    Path(channel_id): Path<String>,
    JsonBody(patch): JsonBody<ChannelPatch>,
) -> ApiResult<Json<Channel>> {
    require_id(&channel_id, "channel_id")?;
    Ok(Json(app.patch_channel(&session, &channel_id, patch).await?))
}

pub(crate) async fn archive(
    State(app): State<App>,
    Caller(session): Caller,
    Path(channel_id): Path<String>,
) -> ApiResult<Json<Value>> {
    require_id(&channel_id, "channel_id")?;
    app.archive_channel(&session, &channel_id).await?;
    Ok(super::status_ok())
}

pub(crate) async fn public_in_team(
    State(app): State<App>,
    Caller(session): Caller,
    Path(team_id): Path<String>,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Vec<Channel>>> {
    require_id(&team_id, "team_id")?;
    Ok(Json(
        app.list_public_channels(&session, &team_id, paging.page, paging.per_page)
            .await?,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct IncludeDeleted {
    include_deleted: bool,
}

pub(crate) async fn for_user_in_team(
    State(app): State<App>,
    Caller(session): Caller,
    Path((user_id, team_id)): Path<(String, String)>,
    Query(query): Query<IncludeDeleted>,
) -> ApiResult<Json<Vec<Channel>>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    require_id(&team_id, "team_id")?;
    Ok(Json(
        app.channels_for_user_in_team(&session, &user_id, &team_id, query.include_deleted)
            .await?,
    ))
}

pub(crate) async fn members_for_user_in_team(
    State(app): State<App>,
    Caller(session): Caller,
    Path((user_id, team_id)): Path<(String, String)>,
) -> ApiResult<Json<Vec<ChannelMember>>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    require_id(&team_id, "team_id")?;
    Ok(Json(
        app.channel_members_for_user_in_team(&session, &user_id, &team_id)
            .await?,
    ))
}

pub(crate) async fn unread(
    State(app): State<App>,
    Caller(session): Caller,
    Path((user_id, channel_id)): Path<(String, String)>,
) -> ApiResult<Json<ChannelUnread>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    require_id(&channel_id, "channel_id")?;
    Ok(Json(
        app.channel_unread(&session, &user_id, &channel_id).await?,
    ))
}

#[derive(Deserialize)]
pub(crate) struct NewChannelMember {
    user_id: String,
}

pub(crate) async fn add_member(
    State(app): State<App>,
    Caller(session): Caller,
    Path(channel_id): Path<String>,
    JsonBody(member): JsonBody<NewChannelMember>,
) -> ApiResult<(StatusCode, Json<ChannelMember>)> {
    require_id(&channel_id, "channel_id")?;
    require_id(&member.user_id, "user_id")?;
    Ok((
        StatusCode::CREATED,
        Json(
            app.add_channel_member(&session, &channel_id, &member.user_id)
                .await?,
        ),
    ))
}

pub(crate) async fn members(
    State(app): State<App>,
    Caller(session): Caller,
    Path(channel_id): Path<String>,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Vec<ChannelMember>>> {
    require_id(&channel_id, "channel_id")?;
    Ok(Json(
        app.list_channel_members(&session, &channel_id, paging.page, paging.per_page)
            .await?,
    ))
}

pub(crate) async fn member(
    State(app): State<App>,
    Caller(session): Caller,
    Path((channel_id, user_id)): Path<(String, String)>,
) -> ApiResult<Json<ChannelMember>> {
    require_id(&channel_id, "channel_id")?;
    let user_id = user_id_or_me(&user_id, &session)?;
    Ok(Json(
        app.get_channel_member(&session, &channel_id, &user_id)
            .await?,
    ))
}

pub(crate) async fn remove_member(
    State(app): State<App>,
    Caller(session): Caller,
    Path((channel_id, user_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    require_id(&channel_id, "channel_id")?;
    let user_id = user_id_or_me(&user_id, &session)?;
    app.remove_channel_member(&session, &channel_id, &user_id)
        .await?;
    Ok(super::status_ok())
}

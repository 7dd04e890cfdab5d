//! Issue 13 (misc): team and channel updates, members by ids, lookups by name and invite id,
//! archived channels, member counts and timezones, sessions and tokens in bulk, schema version.

use super::status_ok;
use super::teams::Paging;
use crate::error::ApiResult;
use crate::extract::{require_id, user_id_or_me, Caller, JsonBody, Path, Query};
use axum::extract::State;
use axum::Json;
use chorus_app::ChannelScope;
use chorus_app::{AllChannelsQuery, App};
use chorus_model::{
    AppError, Channel, ChannelMember, ChannelViewResponse, Team, TeamMember, UserAccessToken,
};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

pub(crate) async fn update_team(
    State(app): State<App>,
    Caller(session): Caller,
    Path(team_id): Path<String>,
    JsonBody(team): JsonBody<Team>,
) -> ApiResult<Json<Team>> {
    require_id(&team_id, "team_id")?;
    Ok(Json(app.update_team(&session, &team_id, team).await?))
}

pub(crate) async fn update_channel(
    State(app): State<App>,
    Caller(session): Caller,
    Path(channel_id): Path<String>,
    JsonBody(channel): JsonBody<Channel>,
) -> ApiResult<Json<Channel>> {
    require_id(&channel_id, "channel_id")?;
    Ok(Json(
        app.update_channel(&session, &channel_id, channel).await?,
    ))
}

pub(crate) async fn channel_members_by_ids(
    State(app): State<App>,
    Caller(session): Caller,
    Path(channel_id): Path<String>,
    JsonBody(user_ids): JsonBody<Vec<String>>,
) -> ApiResult<Json<Vec<ChannelMember>>> {
    require_id(&channel_id, "channel_id")?;
    Ok(Json(
        app.channel_members_by_ids(&session, &channel_id, &user_ids)
            .await?,
    ))
}

pub(crate) async fn team_members_by_ids(
    State(app): State<App>,
    Caller(session): Caller,
    Path(team_id): Path<String>,
    JsonBody(user_ids): JsonBody<Vec<String>>,
) -> ApiResult<Json<Vec<TeamMember>>> {
    require_id(&team_id, "team_id")?;
    Ok(Json(
        app.team_members_by_ids(&session, &team_id, &user_ids)
            .await?,
    ))
}

#[derive(Deserialize)]
pub(crate) struct RolesBody {
    roles: Option<String>,
}

pub(crate) async fn team_member_roles(
    State(app): State<App>,
    Caller(session): Caller,
    Path((team_id, user_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<RolesBody>,
) -> ApiResult<Json<Value>> {
    require_id(&team_id, "team_id")?;
    let user_id = user_id_or_me(&user_id, &session)?;
    let Some(roles) = body.roles else {
        return Err(AppError::invalid_param("roles").into());
    };
    app.update_team_member_roles(&session, &team_id, &user_id, &roles)
        .await?;
    Ok(status_ok())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct IncludeDeleted {
    include_deleted: bool,
}

pub(crate) async fn channel_by_names(
    State(app): State<App>,
    Caller(session): Caller,
    Path((team_name, channel_name)): Path<(String, String)>,
    Query(query): Query<IncludeDeleted>,
) -> ApiResult<Json<Channel>> {
    Ok(Json(
        app.channel_by_team_and_channel_name(
            &session,
            &team_name,
            &channel_name,
            query.include_deleted,
        )
        .await?,
    ))
}

pub(crate) async fn team_exists(
    State(app): State<App>,
    Caller(session): Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(app.team_exists(&session, &name).await?))
}

pub(crate) async fn member_counts(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(channel_ids): JsonBody<Vec<String>>,
) -> ApiResult<Json<BTreeMap<String, i64>>> {
    Ok(Json(
        app.channels_member_counts(&session, &channel_ids).await?,
    ))
}

pub(crate) async fn timezones(
    State(app): State<App>,
    Caller(session): Caller,
    Path(channel_id): Path<String>,
) -> ApiResult<Json<Vec<String>>> {
    require_id(&channel_id, "channel_id")?;
    Ok(Json(
        app.channel_member_timezones(&session, &channel_id).await?,
    ))
}

pub(crate) async fn archived_channels(
    State(app): State<App>,
    Caller(session): Caller,
    Path(team_id): Path<String>,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Vec<Channel>>> {
    require_id(&team_id, "team_id")?;
    Ok(Json(
        app.archived_channels(&session, &team_id, paging.page, paging.per_page)
            .await?,
    ))
}

pub(crate) async fn regenerate_invite_id(
    State(app): State<App>,
    Caller(session): Caller,
    Path(team_id): Path<String>,
) -> ApiResult<Json<Team>> {
    require_id(&team_id, "team_id")?;
    Ok(Json(app.regenerate_invite_id(&session, &team_id).await?))
}

pub(crate) async fn invite_info(
    State(app): State<App>,
    Caller(_session): Caller,
    Path(invite_id): Path<String>,
) -> ApiResult<Json<Value>> {
    require_id(&invite_id, "invite_id")?;
    Ok(Json(app.team_invite_info(&invite_id).await?))
}

// ---- sessions and tokens ----

pub(crate) async fn revoke_user_sessions(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    app.revoke_all_user_sessions(&session, &user_id).await?;
    Ok(status_ok())
}

pub(crate) async fn revoke_all_sessions(
    State(app): State<App>,
    Caller(session): Caller,
) -> ApiResult<Json<Value>> {
    app.revoke_all_sessions(&session).await?;
    Ok(status_ok())
}

pub(crate) async fn reset_failed_attempts(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    app.reset_failed_attempts(&session, &user_id).await?;
    Ok(status_ok())
}

pub(crate) async fn all_tokens(
    State(app): State<App>,
    Caller(session): Caller,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Vec<UserAccessToken>>> {
    Ok(Json(
        app.list_all_access_tokens(&session, paging.page, paging.per_page)
            .await?,
    ))
}

pub(crate) async fn token(
    State(app): State<App>,
    Caller(session): Caller,
    Path(token_id): Path<String>,
) -> ApiResult<Json<UserAccessToken>> {
    require_id(&token_id, "token_id")?;
    Ok(Json(app.get_access_token(&session, &token_id).await?))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct TokenIdBody {
    token_id: String,
}

pub(crate) async fn disable_token(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(body): JsonBody<TokenIdBody>,
) -> ApiResult<Json<Value>> {
    require_id(&body.token_id, "token_id")?;
    app.set_access_token_active(&session, &body.token_id, false)
        .await?;
    Ok(status_ok())
}

pub(crate) async fn enable_token(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(body): JsonBody<TokenIdBody>,
) -> ApiResult<Json<Value>> {
    require_id(&body.token_id, "token_id")?;
    app.set_access_token_active(&session, &body.token_id, true)
        .await?;
    Ok(status_ok())
}

pub(crate) async fn schema_version(
    State(app): State<App>,
    Caller(session): Caller,
) -> ApiResult<Json<Vec<Value>>> {
    Ok(Json(app.schema_versions(&session).await?))
}

// ---- read state ----

pub(crate) async fn mark_read(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(channel_ids): JsonBody<Vec<String>>,
) -> ApiResult<Json<ChannelViewResponse>> {
    Ok(Json(app.read_channels(&session, &channel_ids).await?))
}

pub(crate) async fn read_team(
    State(app): State<App>,
    Caller(session): Caller,
    Path((user_id, team_id)): Path<(String, String)>,
) -> ApiResult<Json<ChannelViewResponse>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    require_id(&team_id, "team_id")?;
    Ok(Json(
        app.read_team_channels(&session, &user_id, &team_id).await?,
    ))
}

pub(crate) async fn read_direct(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
) -> ApiResult<Json<ChannelViewResponse>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    Ok(Json(app.read_direct_channels(&session, &user_id).await?))
}

// ---- searches ----

pub(crate) async fn common_teams(
    State(app): State<App>,
    Caller(session): Caller,
    Path(channel_id): Path<String>,
) -> ApiResult<Json<Vec<Team>>> {
    require_id(&channel_id, "channel_id")?;
    Ok(Json(
        app.group_channel_common_teams(&session, &channel_id)
            .await?,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct TermBody {
    term: Option<String>,
}

impl TermBody {
    /// Mattermost's SetInvalidParam("term") when it is missing.
    fn term(self) -> Result<String, AppError> {
        self.term.ok_or_else(|| AppError::invalid_param("term"))
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct TeamSearchBody {
    term: Option<String>,
    /// Archived teams too (system admins).
    include_deleted: bool,
}

pub(crate) async fn search_teams(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(body): JsonBody<TeamSearchBody>,
) -> ApiResult<Json<Vec<Team>>> {
    let term = body.term.ok_or_else(|| AppError::invalid_param("term"))?;
    Ok(Json(
        app.search_teams(&session, &term, body.include_deleted)
            .await?,
    ))
}

pub(crate) async fn search_channels(
    State(app): State<App>,
    Caller(session): Caller,
    Path(team_id): Path<String>,
    JsonBody(body): JsonBody<TermBody>,
) -> ApiResult<Json<Vec<Channel>>> {
    require_id(&team_id, "team_id")?;
    Ok(Json(
        app.search_team_channels(&session, &team_id, &body.term()?, ChannelScope::Public)
            .await?,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct NameQuery {
    name: String,
}

pub(crate) async fn autocomplete_channels(
    State(app): State<App>,
    Caller(session): Caller,
    Path(team_id): Path<String>,
    Query(query): Query<NameQuery>,
) -> ApiResult<Json<Vec<Channel>>> {
    require_id(&team_id, "team_id")?;
    Ok(Json(
        app.search_team_channels(&session, &team_id, &query.name, ChannelScope::Visible)
            .await?,
    ))
}

pub(crate) async fn autocomplete_joined_channels(
    State(app): State<App>,
    Caller(session): Caller,
    Path(team_id): Path<String>,
    Query(query): Query<NameQuery>,
) -> ApiResult<Json<Vec<Channel>>> {
    require_id(&team_id, "team_id")?;
    Ok(Json(
        app.search_team_channels(&session, &team_id, &query.name, ChannelScope::Joined)
            .await?,
    ))
}

pub(crate) async fn search_group_channels(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(body): JsonBody<TermBody>,
) -> ApiResult<Json<Vec<Channel>>> {
    Ok(Json(
        app.search_group_channels(&session, &body.term()?).await?,
    ))
}

pub(crate) async fn known_users(
    State(app): State<App>,
    Caller(session): Caller,
) -> ApiResult<Json<Vec<String>>> {
    Ok(Json(app.known_user_ids(&session).await?))
}

// ---- admin and system ----

pub(crate) async fn all_channels(
    State(app): State<App>,
    Caller(session): Caller,
    Query(query): Query<AllChannelsQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(app.all_channels(&session, query).await?))
}

pub(crate) async fn post_info(
    State(app): State<App>,
    Caller(session): Caller,
    Path(post_id): Path<String>,
) -> ApiResult<Json<Value>> {
    require_id(&post_id, "post_id")?;
    Ok(Json(app.post_info(&session, &post_id).await?))
}

pub(crate) async fn onboarding(
    State(app): State<App>,
    Caller(_session): Caller,
) -> ApiResult<Json<Value>> {
    Ok(Json(app.onboarding_complete().await?))
}

/// Mattermost's CompleteOnboardingRequest; Chorus keeps only that it happened.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct OnboardingRequest {
    #[allow(dead_code)]
    organization: String,
    #[allow(dead_code)]
    install_plugins: Vec<String>,
}

pub(crate) async fn complete_onboarding(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(_request): JsonBody<OnboardingRequest>,
) -> ApiResult<Json<Value>> {
    app.complete_onboarding(&session).await?;
    Ok(status_ok())
}

pub(crate) async fn set_unread(
    State(app): State<App>,
    Caller(session): Caller,
    Path((user_id, post_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    Ok(Json(
        app.set_unread_from_post(&session, &user_id, &post_id)
            .await?,
    ))
}

pub(crate) async fn group_channel_members(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(channel_ids): JsonBody<Vec<String>>,
) -> ApiResult<Json<BTreeMap<String, Vec<chorus_model::User>>>> {
    Ok(Json(
        app.group_channel_members(&session, &channel_ids).await?,
    ))
}

pub(crate) async fn environment_config(
    State(app): State<App>,
    Caller(session): Caller,
) -> Json<Value> {
    Json(app.environment_config(&session))
}

//! /teams and a user's teams.

use crate::error::ApiResult;
use crate::extract::{require_id, user_id_or_me, Caller, JsonBody, Path, Query};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chorus_app::App;
use chorus_model::{AppError, ErrorId, Team, TeamMember, TeamPatch};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct Paging {
    pub(crate) page: Option<i64>,
    pub(crate) per_page: Option<i64>,
}

pub(crate) async fn create(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(team): JsonBody<Team>,
) -> ApiResult<(StatusCode, Json<Team>)> {
    Ok((
        StatusCode::CREATED,
        Json(app.create_team(&session, team).await?),
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct TeamListQuery {
    page: Option<i64>,
    per_page: Option<i64>,
    /// Archived teams too (system admins; the System Console's Teams page).
    include_deleted: bool,
}

pub(crate) async fn list(
    State(app): State<App>,
    Caller(session): Caller,
    Query(query): Query<TeamListQuery>,
) -> ApiResult<Json<Vec<Team>>> {
    Ok(Json(
        app.list_teams(&session, query.page, query.per_page, query.include_deleted)
            .await?,
    ))
}

pub(crate) async fn get(
    State(app): State<App>,
    Caller(session): Caller,
    Path(team_id): Path<String>,
) -> ApiResult<Json<Team>> {
    require_id(&team_id, "team_id")?;
    Ok(Json(app.get_team(&session, &team_id).await?))
}

pub(crate) async fn by_name(
    State(app): State<App>,
    Caller(session): Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Team>> {
    Ok(Json(app.get_team_by_name(&session, &name).await?))
}

pub(crate) async fn patch(
    State(app): State<App>,
    Caller(session): Caller,
    Path(team_id): Path<String>,
    JsonBody(patch): JsonBody<TeamPatch>,
) -> ApiResult<Json<Team>> {
    require_id(&team_id, "team_id")?;
    Ok(Json(app.patch_team(&session, &team_id, patch).await?))
}

#[derive(Deserialize)]
pub(crate) struct NewTeamMember {
    #[serde(default)]
    team_id: String,
    user_id: String,
}

pub(crate) async fn add_member(
    State(app): State<App>,
    Caller(session): Caller,
    Path(team_id): Path<String>,
    JsonBody(member): JsonBody<NewTeamMember>,
) -> ApiResult<(StatusCode, Json<TeamMember>)> {
    require_id(&team_id, "team_id")?;
    require_id(&member.user_id, "user_id")?;
    if !member.team_id.is_empty() && member.team_id != team_id {
        return Err(AppError::from(ErrorId::TeamIdMismatch).into());
    }
    Ok((
        StatusCode::CREATED,
        Json(
            app.add_team_member(&session, &team_id, &member.user_id)
                .await?,
        ),
    ))
}

pub(crate) async fn members(
    State(app): State<App>,
    Caller(session): Caller,
    Path(team_id): Path<String>,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Vec<TeamMember>>> {
    require_id(&team_id, "team_id")?;
    Ok(Json(
        app.list_team_members(&session, &team_id, paging.page, paging.per_page)
            .await?,
    ))
}

pub(crate) async fn member(
    State(app): State<App>,
    Caller(session): Caller,
    Path((team_id, user_id)): Path<(String, String)>,
) -> ApiResult<Json<TeamMember>> {
    require_id(&team_id, "team_id")?;
    let user_id = user_id_or_me(&user_id, &session)?;
    Ok(Json(
        app.get_team_member(&session, &team_id, &user_id).await?,
    ))
}

pub(crate) async fn remove_member(
    State(app): State<App>,
    Caller(session): Caller,
    Path((team_id, user_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    require_id(&team_id, "team_id")?;
    let user_id = user_id_or_me(&user_id, &session)?;
    app.remove_team_member(&session, &team_id, &user_id).await?;
    Ok(super::status_ok())
}

pub(crate) async fn for_user(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Vec<Team>>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    Ok(Json(app.teams_for_user(&session, &user_id).await?))
}

pub(crate) async fn members_for_user(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Vec<TeamMember>>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    Ok(Json(app.team_members_for_user(&session, &user_id).await?))
}

//! A team's archive and restore, its stats, and joining a team by invite id.

use super::status_ok;
use crate::error::ApiResult;
use crate::extract::{require_id, Caller, Path, Query};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chorus_app::App;
use chorus_model::{Team, TeamMember, TeamStats};
use serde::Deserialize;
use serde_json::Value;

pub(crate) async fn archive(
    State(app): State<App>,
    Caller(session): Caller,
    Path(team_id): Path<String>,
) -> ApiResult<Json<Value>> {
    require_id(&team_id, "team_id")?;
    app.archive_team(&session, &team_id).await?;
    Ok(status_ok())
}

pub(crate) async fn restore(
    State(app): State<App>,
    Caller(session): Caller,
    Path(team_id): Path<String>,
) -> ApiResult<Json<Team>> {
    require_id(&team_id, "team_id")?;
    Ok(Json(app.restore_team(&session, &team_id).await?))
}

pub(crate) async fn stats(
    State(app): State<App>,
    Caller(session): Caller,
    Path(team_id): Path<String>,
) -> ApiResult<Json<TeamStats>> {
    require_id(&team_id, "team_id")?;
    Ok(Json(app.team_stats(&session, &team_id).await?))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct InviteQuery {
    invite_id: String,
}

pub(crate) async fn join_by_invite(
    State(app): State<App>,
    Caller(session): Caller,
    Query(query): Query<InviteQuery>,
) -> ApiResult<(StatusCode, Json<TeamMember>)> {
    Ok((
        StatusCode::CREATED,
        Json(app.join_team_by_invite(&session, &query.invite_id).await?),
    ))
}

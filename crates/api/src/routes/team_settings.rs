//! A team's archive and restore, its stats, joining a team by invite id, and its icon.

use super::people::{content_length, image_response, read_image_field, ImageUploadErrors};
use super::status_ok;
use crate::error::ApiResult;
use crate::extract::{require_id, Caller, Path, Query};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use chorus_app::{App, ProfileImage};
use chorus_model::{ErrorId, Team, TeamMember, TeamStats};
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

/// GET /teams/{id}/image: the icon with its ETag (304 when the client has it).
pub(crate) async fn icon(
    State(app): State<App>,
    Caller(session): Caller,
    Path(team_id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    require_id(&team_id, "team_id")?;
    let icon = app.team_icon(&session, &team_id).await?;
    let image = ProfileImage {
        png: icon.png,
        etag: Some(icon.etag),
        max_age_seconds: 24 * 3600,
    };
    Ok(image_response(image, &headers))
}

/// POST /teams/{id}/image: multipart with the picture under `image`.
pub(crate) async fn set_icon(
    State(app): State<App>,
    Caller(session): Caller,
    Path(team_id): Path<String>,
    request: Request,
) -> ApiResult<Json<Value>> {
    require_id(&team_id, "team_id")?;
    let maximum = app
        .check_team_icon_upload(&session, &team_id, content_length(&request))
        .await?;
    let ids = ImageUploadErrors {
        unreadable: ErrorId::TeamIconUnreadable,
        missing: ErrorId::TeamIconMissing,
        too_large: ErrorId::TeamIconTooLarge,
    };
    let image = read_image_field(request, &app, maximum, &ids).await?;
    app.set_team_icon(&session, &team_id, image).await?;
    Ok(status_ok())
}

/// DELETE /teams/{id}/image.
pub(crate) async fn remove_icon(
    State(app): State<App>,
    Caller(session): Caller,
    Path(team_id): Path<String>,
) -> ApiResult<Json<Value>> {
    require_id(&team_id, "team_id")?;
    app.remove_team_icon(&session, &team_id).await?;
    Ok(status_ok())
}

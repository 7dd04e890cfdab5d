//! /users (issue 13): profile images, deactivation, custom status, search, autocomplete and
//! stats.

use super::status_ok;
use crate::error::ApiResult;
use crate::extract::{user_id_or_me, Caller, JsonBody, Path, Query};
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chorus_app::{
    App, AutocompleteQuery, CustomStatus, FilteredUsersStatsQuery, ProfileImage, ServerLimits,
    UserAutocomplete, UserSearchRequest, UsersStats,
};
use chorus_model::{AppError, ErrorId, User};
use serde_json::Value;

/// GET /users/{id}/image: PNG, with an ETag that If-None-Match revalidates (304).
pub(crate) async fn image(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let user_id = user_id_or_me(&user_id, &session)?;
    let image = app.profile_image(&session, &user_id).await?;
    Ok(image_response(image, &headers))
}

/// GET /users/{id}/image/default: the generated image, whatever was uploaded.
pub(crate) async fn default_image(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
) -> ApiResult<Response> {
    let user_id = user_id_or_me(&user_id, &session)?;
    let png = app.default_profile_image(&session, &user_id).await?;
    Ok(png_response(png, 24 * 3600, None))
}

pub(crate) fn image_response(image: ProfileImage, request_headers: &HeaderMap) -> Response {
    if let Some(etag) = &image.etag {
        let client_tag = request_headers
            .get(header::IF_NONE_MATCH)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.trim().trim_start_matches("W/").trim_matches('"'));
        if client_tag == Some(etag.as_str()) {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            if let Ok(value) = HeaderValue::from_str(etag) {
                response.headers_mut().insert(header::ETAG, value);
            }
            return response;
        }
    }
    png_response(image.png, image.max_age_seconds, image.etag.as_deref())
}

fn png_response(png: Bytes, max_age_seconds: u64, etag: Option<&str>) -> Response {
    let mut response = png.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    if let Ok(value) = HeaderValue::from_str(&format!("max-age={max_age_seconds}, private")) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    if let Some(value) = etag.and_then(|etag| HeaderValue::from_str(etag).ok()) {
        headers.insert(header::ETAG, value);
    }
    response
}

/// The error ids an image upload answers with (profile images and team icons have their own).
pub(crate) struct ImageUploadErrors {
    pub unreadable: ErrorId,
    pub missing: ErrorId,
    pub too_large: ErrorId,
}

/// The declared Content-Length, to refuse an oversize upload before reading it.
pub(crate) fn content_length(request: &Request) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok())
}

/// The first multipart field named `image`, read into memory up to `maximum` bytes.
pub(crate) async fn read_image_field(
    request: Request,
    app: &App,
    maximum: u64,
    ids: &ImageUploadErrors,
) -> ApiResult<Bytes> {
    let unreadable = |detail: String| AppError::from(ids.unreadable).with_detail(detail);
    let mut multipart = Multipart::from_request(request, app)
        .await
        .map_err(|rejection| unreadable(rejection.body_text()))?;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|error| unreadable(error.body_text()))?
    {
        if field.name() != Some("image") {
            continue;
        }
        let mut content: Vec<u8> = Vec::new();
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|error| unreadable(error.body_text()))?
        {
            if (content.len() + chunk.len()) as u64 > maximum {
                return Err(ids.too_large.with_param("maximum", maximum).into());
            }
            content.extend_from_slice(&chunk);
        }
        return Ok(Bytes::from(content));
    }
    Err(AppError::from(ids.missing).into())
}

/// POST /users/{id}/image: multipart with the picture under `image`, read into memory up to
/// `App::max_profile_image_bytes`.
pub(crate) async fn set_image(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
    request: Request,
) -> ApiResult<Json<Value>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    app.check_profile_image_upload(&session, &user_id, content_length(&request))?;
    let ids = ImageUploadErrors {
        unreadable: ErrorId::ProfileImageUnreadable,
        missing: ErrorId::ProfileImageMissing,
        too_large: ErrorId::ProfileImageTooLarge,
    };
    let image = read_image_field(request, &app, app.max_profile_image_bytes(), &ids).await?;
    app.set_profile_image(&session, &user_id, image).await?;
    Ok(status_ok())
}

/// DELETE /users/{id}/image.
pub(crate) async fn reset_image(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    app.reset_profile_image(&session, &user_id).await?;
    Ok(status_ok())
}

/// PUT /users/{id}/active `{"active": bool}`.
pub(crate) async fn set_active(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    let Some(active) = body.get("active").and_then(Value::as_bool) else {
        return Err(AppError::invalid_param("active").into());
    };
    app.update_user_active(&session, &user_id, active).await?;
    Ok(status_ok())
}

/// DELETE /users/{id}: deactivation.
pub(crate) async fn deactivate(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    app.deactivate_user(&session, &user_id).await?;
    Ok(status_ok())
}

/// PUT /users/{id}/status/custom.
pub(crate) async fn set_custom_status(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
    JsonBody(status): JsonBody<CustomStatus>,
) -> ApiResult<Json<Value>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    app.set_custom_status(&session, &user_id, status).await?;
    Ok(status_ok())
}

/// DELETE /users/{id}/status/custom.
pub(crate) async fn remove_custom_status(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    app.remove_custom_status(&session, &user_id).await?;
    Ok(status_ok())
}

/// POST /users/search.
pub(crate) async fn search(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(request): JsonBody<UserSearchRequest>,
) -> ApiResult<Json<Vec<User>>> {
    Ok(Json(app.search_users(&session, request).await?))
}

/// GET /users/autocomplete?in_team=&in_channel=&name=&limit=.
pub(crate) async fn autocomplete(
    State(app): State<App>,
    Caller(session): Caller,
    Query(query): Query<AutocompleteQuery>,
) -> ApiResult<Json<UserAutocomplete>> {
    Ok(Json(app.autocomplete_users(&session, query).await?))
}

/// GET /users/stats.
pub(crate) async fn stats(
    State(app): State<App>,
    Caller(session): Caller,
) -> ApiResult<Json<UsersStats>> {
    Ok(Json(app.users_stats(&session).await?))
}

/// GET /users/stats/filtered.
pub(crate) async fn filtered_stats(
    State(app): State<App>,
    Caller(session): Caller,
    Query(query): Query<FilteredUsersStatsQuery>,
) -> ApiResult<Json<UsersStats>> {
    Ok(Json(app.filtered_users_stats(&session, &query).await?))
}

/// GET /limits/server.
pub(crate) async fn server_limits(
    State(app): State<App>,
    Caller(session): Caller,
) -> ApiResult<Json<ServerLimits>> {
    Ok(Json(app.server_limits(&session).await?))
}

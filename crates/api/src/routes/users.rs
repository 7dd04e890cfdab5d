//! /users: sign-up, login, lookups, profile, password, tokens, sessions, status.

use super::status_ok;
use crate::error::ApiResult;
use crate::extract::{
    require_id, user_id_or_me, Caller, JsonBody, MaybeCaller, Path, Query, AUTH_COOKIE,
    CSRF_COOKIE, USER_COOKIE,
};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chorus_app::{App, CreateUserRequest, LoginRequest, UserListQuery};
use chorus_model::{AppError, ErrorId, Session, Status, User, UserAccessToken, UserPatch};
use serde::Deserialize;
use serde_json::Value;

pub(crate) async fn create(
    State(app): State<App>,
    MaybeCaller(caller): MaybeCaller,
    JsonBody(request): JsonBody<CreateUserRequest>,
) -> ApiResult<(StatusCode, Json<User>)> {
    let user = app.create_user(caller.as_deref(), request).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

pub(crate) async fn login(
    State(app): State<App>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<LoginRequest>,
) -> ApiResult<Response> {
    if request.id.is_empty() {
        app.check_sign_in_method(&request.login_id)?;
    }
    let result = app.login(request).await?;
    let session = &result.session;
    let max_age = ((session.expires_at - session.create_at) / 1000).max(0);
    let secure = app
        .config()
        .service_settings
        .site_url
        .starts_with("https://")
        || headers
            .get("x-forwarded-proto")
            .and_then(|value| value.to_str().ok())
            == Some("https");
    let secure_flag = if secure { "; Secure" } else { "" };
    let csrf = session
        .props
        .get("csrf")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let cookies = [
        format!(
            "{AUTH_COOKIE}={}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure_flag}",
            session.token
        ),
        format!(
            "{USER_COOKIE}={}; Path=/; Max-Age={max_age}; SameSite=Lax{secure_flag}",
            session.user_id
        ),
        format!("{CSRF_COOKIE}={csrf}; Path=/; Max-Age={max_age}; SameSite=Lax{secure_flag}"),
    ];
    let mut response = Json(result.user).into_response();
    let response_headers = response.headers_mut();
    if let Ok(token) = HeaderValue::from_str(&session.token) {
        response_headers.insert("token", token);
    }
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response_headers.append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

pub(crate) async fn logout(
    State(app): State<App>,
    MaybeCaller(caller): MaybeCaller,
) -> ApiResult<Response> {
    if let Some(session) = caller {
        app.logout(&session).await?;
    }
    let mut response = status_ok().into_response();
    for name in [AUTH_COOKIE, USER_COOKIE, CSRF_COOKIE] {
        if let Ok(value) = HeaderValue::from_str(&format!("{name}=; Path=/; Max-Age=0")) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

pub(crate) async fn get(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
) -> ApiResult<Json<User>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    Ok(Json(app.get_user(&session, &user_id).await?))
}

pub(crate) async fn by_username(
    State(app): State<App>,
    Caller(session): Caller,
    Path(username): Path<String>,
) -> ApiResult<Json<User>> {
    Ok(Json(app.get_user_by_username(&session, &username).await?))
}

pub(crate) async fn by_email(
    State(app): State<App>,
    Caller(session): Caller,
    Path(email): Path<String>,
) -> ApiResult<Json<User>> {
    Ok(Json(app.get_user_by_email(&session, &email).await?))
}

pub(crate) async fn by_ids(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(user_ids): JsonBody<Vec<String>>,
) -> ApiResult<Json<Vec<User>>> {
    Ok(Json(app.get_users_by_ids(&session, user_ids).await?))
}

pub(crate) async fn by_usernames(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(usernames): JsonBody<Vec<String>>,
) -> ApiResult<Json<Vec<User>>> {
    Ok(Json(app.get_users_by_usernames(&session, usernames).await?))
}

pub(crate) async fn list(
    State(app): State<App>,
    Caller(session): Caller,
    Query(query): Query<UserListQuery>,
) -> ApiResult<Json<Vec<User>>> {
    for (value, name) in [
        (&query.in_team, "in_team"),
        (&query.in_channel, "in_channel"),
        (&query.not_in_channel, "not_in_channel"),
        (&query.not_in_team, "not_in_team"),
    ] {
        if let Some(id) = value {
            require_id(id, name)?;
        }
    }
    Ok(Json(app.list_users(&session, query).await?))
}

pub(crate) async fn patch(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
    JsonBody(patch): JsonBody<UserPatch>,
) -> ApiResult<Json<User>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    Ok(Json(app.patch_user(&session, &user_id, patch).await?))
}

/// PUT /users/{id}: Mattermost replaces the profile; Chorus applies the profile fields given.
pub(crate) async fn update(
    state: State<App>,
    caller: Caller,
    user_id: Path<String>,
    body: JsonBody<UserPatch>,
) -> ApiResult<Json<User>> {
    patch(state, caller, user_id, body).await
}

#[derive(Deserialize)]
pub(crate) struct PasswordChange {
    #[serde(default)]
    current_password: String,
    new_password: String,
}

pub(crate) async fn password(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
    JsonBody(change): JsonBody<PasswordChange>,
) -> ApiResult<Json<Value>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    app.update_password(
        &session,
        &user_id,
        &change.current_password,
        &change.new_password,
    )
    .await?;
    Ok(status_ok())
}

#[derive(Deserialize)]
pub(crate) struct RolesChange {
    roles: String,
}

pub(crate) async fn roles(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
    JsonBody(change): JsonBody<RolesChange>,
) -> ApiResult<Json<Value>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    app.update_user_roles(&session, &user_id, &change.roles)
        .await?;
    Ok(status_ok())
}

#[derive(Deserialize)]
pub(crate) struct TokenRequest {
    #[serde(default)]
    description: String,
}

pub(crate) async fn create_token(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
    JsonBody(request): JsonBody<TokenRequest>,
) -> ApiResult<Json<UserAccessToken>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    Ok(Json(
        app.create_access_token(&session, &user_id, request.description)
            .await?,
    ))
}

pub(crate) async fn list_tokens(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Vec<UserAccessToken>>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    Ok(Json(app.list_access_tokens(&session, &user_id).await?))
}

#[derive(Deserialize)]
pub(crate) struct TokenRevoke {
    token_id: String,
}

pub(crate) async fn revoke_token(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(request): JsonBody<TokenRevoke>,
) -> ApiResult<Json<Value>> {
    require_id(&request.token_id, "token_id")?;
    app.revoke_access_token(&session, &request.token_id).await?;
    Ok(status_ok())
}

pub(crate) async fn sessions(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Vec<Session>>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    Ok(Json(app.list_sessions(&session, &user_id).await?))
}

#[derive(Deserialize)]
pub(crate) struct SessionRevoke {
    session_id: String,
}

pub(crate) async fn revoke_session(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
    JsonBody(request): JsonBody<SessionRevoke>,
) -> ApiResult<Json<Value>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    require_id(&request.session_id, "session_id")?;
    app.revoke_user_session(&session, &user_id, &request.session_id)
        .await?;
    Ok(status_ok())
}

pub(crate) async fn status(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Status>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    Ok(Json(app.get_status(&user_id).await?))
}

#[derive(Deserialize)]
pub(crate) struct StatusChange {
    #[serde(default)]
    user_id: String,
    status: String,
    #[serde(default)]
    dnd_end_time: i64,
}

pub(crate) async fn set_status(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
    JsonBody(change): JsonBody<StatusChange>,
) -> ApiResult<Json<Status>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    if !change.user_id.is_empty() && change.user_id != user_id {
        return Err(AppError::from(ErrorId::StatusUserIdMismatch).into());
    }
    Ok(Json(
        app.set_status_manually(&session, &user_id, &change.status, change.dnd_end_time)
            .await?,
    ))
}

pub(crate) async fn statuses_by_ids(
    State(app): State<App>,
    Caller(_session): Caller,
    JsonBody(user_ids): JsonBody<Vec<String>>,
) -> ApiResult<Json<Vec<Status>>> {
    Ok(Json(app.get_statuses(&user_ids).await?))
}

//! Extractors: who is calling (token from header, cookie or query), and input parsing whose
//! failures become 400/413 Mattermost errors instead of axum's plain-text rejections.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, Method};
use chorus_app::App;
use chorus_model::{AppError, ErrorId, Session};
use serde::de::DeserializeOwned;
use std::sync::Arc;

pub const AUTH_COOKIE: &str = "MMAUTHTOKEN";
pub const USER_COOKIE: &str = "MMUSERID";
pub const CSRF_COOKIE: &str = "MMCSRF";

/// Where a request's token came from: cookie-authenticated writes need a CSRF proof, and
/// cookie-authenticated websocket upgrades an origin of our own.
#[derive(PartialEq, Eq)]
pub(crate) enum TokenSource {
    Header,
    Query,
    Cookie,
}

fn cookie_value<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    for header_value in parts.headers.get_all(header::COOKIE) {
        let Ok(cookies) = header_value.to_str() else {
            continue;
        };
        for cookie in cookies.split(';') {
            if let Some((key, value)) = cookie.trim().split_once('=') {
                if key == name {
                    return Some(value);
                }
            }
        }
    }
    None
}

fn find_token(parts: &Parts) -> Option<(String, TokenSource)> {
    if let Some(value) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
    {
        if let Some((scheme, token)) = value.trim().split_once(' ') {
            if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
                return Some((token.trim().to_string(), TokenSource::Header));
            }
        }
    }
    if let Some(query) = parts.uri.query() {
        for pair in query.split('&') {
            if let Some(token) = pair.strip_prefix("access_token=") {
                return Some((token.to_string(), TokenSource::Query));
            }
        }
    }
    cookie_value(parts, AUTH_COOKIE).map(|token| (token.to_string(), TokenSource::Cookie))
}

/// The token a request carries, wherever it came from.
pub(crate) fn request_token(parts: &Parts) -> Option<String> {
    find_token(parts).map(|(token, _source)| token)
}

/// The token a websocket upgrade carries, if any (the socket can also authenticate later),
/// and where it came from.
pub(crate) fn upgrade_token(parts: &Parts) -> Option<(String, TokenSource)> {
    find_token(parts)
}

/// An authenticated caller.
pub struct Caller(pub Arc<Session>);

impl FromRequestParts<App> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let Some((token, source)) = find_token(parts) else {
            return Err(AppError::from(ErrorId::SessionExpired)
                .with_detail("token not provided")
                .into());
        };
        let session = app.session_from_token(&token).await?;
        if let Some(user_rate_limit) = parts
            .extensions
            .get::<Arc<crate::rate_limit::UserRateLimit>>()
        {
            user_rate_limit.check(&session.user_id)?;
        }
        if source == TokenSource::Cookie
            && parts.method != Method::GET
            && parts.method != Method::HEAD
        {
            check_csrf(parts, &session)?;
        }
        Ok(Caller(session))
    }
}

/// Cookie-authenticated writes must prove they come from our page: the `X-CSRF-Token` header
/// must match the session's token (or, as Mattermost tolerates, `X-Requested-With:
/// XMLHttpRequest`, which a cross-site form cannot set).
fn check_csrf(parts: &Parts, session: &Session) -> Result<(), ApiError> {
    let expected = session
        .props
        .get("csrf")
        .and_then(|value| value.as_str())
        .unwrap_or_default();
    let provided = parts
        .headers
        .get("x-csrf-token")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if !expected.is_empty() && provided == expected {
        return Ok(());
    }
    let requested_with = parts
        .headers
        .get("x-requested-with")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if requested_with.eq_ignore_ascii_case("XMLHttpRequest") {
        return Ok(());
    }
    Err(AppError::from(ErrorId::SessionExpired)
        .with_detail("missing or wrong CSRF token")
        .into())
}

/// A caller who may or may not be logged in (sign-up, logout, client config). An invalid or
/// expired token counts as not logged in.
pub struct MaybeCaller(pub Option<Arc<Session>>);

impl FromRequestParts<App> for MaybeCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        if find_token(parts).is_none() {
            return Ok(MaybeCaller(None));
        }
        Ok(MaybeCaller(
            Caller::from_request_parts(parts, app)
                .await
                .ok()
                .map(|caller| caller.0),
        ))
    }
}

/// A JSON body. Malformed, mistyped or missing → 400 naming the problem; too large → 413.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<App> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, app: &App) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, app)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::from(ErrorId::BodyTooLarge)
                } else {
                    AppError::from(ErrorId::UnreadableBody).with_detail(rejection.body_text())
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(AppError::from(ErrorId::EmptyBody).into());
        }
        let invalid = |error: serde_json::Error| -> ApiError {
            ErrorId::InvalidBody.with_param("reason", error).into()
        };
        let mut tree: serde_json::Value = serde_json::from_slice(&bytes).map_err(invalid)?;
        if contains_nul_character(&tree) {
            return Err(ErrorId::NulCharacterInBody.into());
        }
        drop_nulls(&mut tree);
        serde_json::from_value(tree).map(JsonBody).map_err(invalid)
    }
}

/// PostgreSQL text cannot hold U+0000, so a NUL anywhere in the input is refused up front
/// instead of failing in the database.
pub(crate) fn contains_nul_character(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => text.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(contains_nul_character),
        serde_json::Value::Object(members) => members
            .iter()
            .any(|(key, member)| key.contains('\0') || contains_nul_character(member)),
        _ => false,
    }
}

/// A percent-encoded NUL (`%00`) in a path or query.
fn has_encoded_nul(raw: &str) -> bool {
    raw.contains("%00")
}

/// Go clients (and Go's decoder, which Mattermost uses) treat `null` as "the zero value";
/// removing null members lets our defaults play that role for every request type.
pub(crate) fn drop_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(members) => {
            members.retain(|_, member| !member.is_null());
            members.values_mut().for_each(drop_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Query parameters; a malformed value → 400 naming it.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> FromRequestParts<App> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _app: &App) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        if has_encoded_nul(query) {
            return Err(ErrorId::NulCharacterInUrl.into());
        }
        serde_urlencoded_from_str(query)
            .map(Query)
            .map_err(|message| ErrorId::InvalidQuery.with_param("reason", message).into())
    }
}

pub(crate) fn serde_urlencoded_from_str<T: DeserializeOwned>(query: &str) -> Result<T, String> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{query}")
            .parse()
            .map_err(|_| "unparseable query".to_string())?,
    )
    .map(|axum::extract::Query(value)| value)
    .map_err(|rejection| rejection.body_text())
}

/// Path parameters; a malformed value → 400.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<App> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        if has_encoded_nul(parts.uri.path()) {
            return Err(ErrorId::NulCharacterInUrl.into());
        }
        axum::extract::Path::<T>::from_request_parts(parts, app)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(|rejection| {
                ErrorId::InvalidPath
                    .with_param("reason", rejection.body_text())
                    .into()
            })
    }
}

/// Refuses a malformed id before it reaches the store.
pub fn require_id(value: &str, name: &str) -> Result<(), ApiError> {
    if chorus_model::is_valid_id(value) {
        Ok(())
    } else {
        Err(AppError::invalid_param(name).into())
    }
}

/// Resolves Mattermost's `me` alias and checks the id.
pub fn user_id_or_me(value: &str, caller: &Session) -> Result<String, ApiError> {
    if value == "me" {
        return Ok(caller.user_id.clone());
    }
    require_id(value, "user_id")?;
    Ok(value.to_string())
}

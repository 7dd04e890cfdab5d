//! /emoji: custom emoji (issue 13).

use super::status_ok;
use crate::error::ApiResult;
use crate::extract::{Caller, JsonBody, Path, Query};
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chorus_app::App;
use chorus_model::{is_valid_emoji_name, is_valid_id, AppError, Emoji, EmojiSearch, ErrorId};
use serde::Deserialize;
use serde_json::Value;

/// The `emoji` field is a small JSON object; anything much larger is not one.
const MAX_EMOJI_FIELD_BYTES: usize = 4096;

/// Mattermost's `RequireEmojiId`.
fn require_emoji_id(emoji_id: &str) -> Result<(), AppError> {
    if is_valid_id(emoji_id) {
        Ok(())
    } else {
        Err(ErrorId::InvalidUrlParam.with_param("name", "emoji_id"))
    }
}

/// POST /emoji: multipart with the picture under `image` and the emoji as JSON under `emoji`,
/// read into memory up to Mattermost's `MaxEmojiFileSize`.
pub(crate) async fn create(
    State(app): State<App>,
    Caller(session): Caller,
    request: Request,
) -> ApiResult<Json<Emoji>> {
    let content_length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    app.check_emoji_upload(content_length)?;
    let maximum = chorus_app::MAX_EMOJI_FILE_SIZE;
    let unreadable =
        |detail: String| AppError::from(ErrorId::EmojiFormUnreadable).with_detail(detail);
    let mut multipart = Multipart::from_request(request, &app)
        .await
        .map_err(|rejection| unreadable(rejection.body_text()))?;
    let mut image: Option<Bytes> = None;
    let mut emoji_field: Option<Vec<u8>> = None;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|error| unreadable(error.body_text()))?
    {
        let wanted = match field.name() {
            Some("image") if image.is_none() => true,
            Some("emoji") if emoji_field.is_none() => false,
            _ => continue,
        };
        let limit = if wanted {
            maximum as usize
        } else {
            MAX_EMOJI_FIELD_BYTES
        };
        let mut content: Vec<u8> = Vec::new();
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|error| unreadable(error.body_text()))?
        {
            if content.len() + chunk.len() > limit {
                return Err(if wanted {
                    app.emoji_too_large().into()
                } else {
                    AppError::invalid_param("emoji").into()
                });
            }
            content.extend_from_slice(&chunk);
        }
        if wanted {
            image = Some(Bytes::from(content));
        } else {
            emoji_field = Some(content);
        }
    }
    let Some(emoji_field) = emoji_field else {
        return Err(AppError::invalid_param("emoji").into());
    };
    let emoji: Emoji = serde_json::from_slice(&emoji_field)
        .map_err(|error| AppError::invalid_param("emoji").with_detail(error.to_string()))?;
    Ok(Json(app.create_emoji(&session, emoji, image).await?))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct ListQuery {
    page: Option<i64>,
    per_page: Option<i64>,
    sort: String,
}

/// GET /emoji?page&per_page&sort=name
pub(crate) async fn list(
    State(app): State<App>,
    Caller(session): Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Vec<Emoji>>> {
    Ok(Json(
        app.list_emoji(&session, query.page, query.per_page, &query.sort)
            .await?,
    ))
}

/// GET /emoji/{emoji_id}
pub(crate) async fn get(
    State(app): State<App>,
    Caller(session): Caller,
    Path(emoji_id): Path<String>,
) -> ApiResult<Json<Emoji>> {
    require_emoji_id(&emoji_id)?;
    Ok(Json(app.get_emoji(&session, &emoji_id).await?))
}

/// DELETE /emoji/{emoji_id}
pub(crate) async fn delete(
    State(app): State<App>,
    Caller(session): Caller,
    Path(emoji_id): Path<String>,
) -> ApiResult<Json<Value>> {
    require_emoji_id(&emoji_id)?;
    app.delete_emoji(&session, &emoji_id).await?;
    Ok(status_ok())
}

/// GET /emoji/name/{emoji_name}
pub(crate) async fn by_name(
    State(app): State<App>,
    Caller(session): Caller,
    Path(emoji_name): Path<String>,
) -> ApiResult<Json<Emoji>> {
    if !is_valid_emoji_name(&emoji_name) {
        return Err(ErrorId::InvalidUrlParam
            .with_param("name", "emoji_name")
            .into());
    }
    Ok(Json(app.get_emoji_by_name(&session, &emoji_name).await?))
}

/// POST /emoji/names `["name", ...]`
pub(crate) async fn by_names(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(names): JsonBody<Vec<String>>,
) -> ApiResult<Json<Vec<Emoji>>> {
    Ok(Json(app.get_emoji_by_names(&session, names).await?))
}

/// GET /emoji/{emoji_id}/image: the stored picture, cached for 30 days as Mattermost does.
pub(crate) async fn image(
    State(app): State<App>,
    Caller(session): Caller,
    Path(emoji_id): Path<String>,
) -> ApiResult<Response> {
    require_emoji_id(&emoji_id)?;
    let image = app.emoji_image(&session, &emoji_id).await?;
    let mut response = image.content.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&format!("image/{}", image.kind)) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=2592000, private"),
    );
    Ok(response)
}

/// POST /emoji/search `{"term", "prefix_only"}`
pub(crate) async fn search(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(search): JsonBody<EmojiSearch>,
) -> ApiResult<Json<Vec<Emoji>>> {
    if search.term.is_empty() {
        return Err(AppError::invalid_param("term").into());
    }
    Ok(Json(
        app.search_emoji(&session, &search.term, search.prefix_only, false)
            .await?,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct AutocompleteQuery {
    name: String,
}

/// GET /emoji/autocomplete?name=
pub(crate) async fn autocomplete(
    State(app): State<App>,
    Caller(session): Caller,
    Query(query): Query<AutocompleteQuery>,
) -> ApiResult<Json<Vec<Emoji>>> {
    if query.name.is_empty() {
        return Err(ErrorId::InvalidUrlParam.with_param("name", "name").into());
    }
    Ok(Json(
        app.search_emoji(&session, &query.name, true, true).await?,
    ))
}

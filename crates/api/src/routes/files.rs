//! /files: upload (multipart, or a raw body with `?channel_id=&filename=`), download, info,
//! thumbnail, preview; and /posts/{id}/files/info.
//!
//! The upload handler only adapts HTTP to `App`: it walks the multipart fields as they arrive
//! and hands each file's body, chunk by chunk, to `FileUpload::add_file`; nothing buffers a
//! whole file.

use crate::error::{ApiError, ApiResult};
use crate::extract::{require_id, Caller, Path, Query};
use axum::body::Body;
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chorus_app::{App, FileContent, FileRendition, FileUpload};
use chorus_model::{AppError, ErrorId, FileInfo, FileUploadResponse, Session};
use futures_util::StreamExt;
use serde::Deserialize;

/// Longest accepted value of a text field (`channel_id`, `client_ids`).
const MAX_TEXT_FIELD_BYTES: usize = 1024;

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct UploadQuery {
    channel_id: Option<String>,
    filename: Option<String>,
    client_id: Option<String>,
}

/// POST /files → 201 `{file_infos, client_ids}`.
pub(crate) async fn upload(
    State(app): State<App>,
    Caller(session): Caller,
    Query(query): Query<UploadQuery>,
    request: Request,
) -> ApiResult<(StatusCode, Json<FileUploadResponse>)> {
    let content_length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
    // What a refused upload leaves unread is drained by the router (`body::drain_unread`).
    let outcome = async {
        app.check_upload_request(content_length)?;
        if is_multipart {
            upload_multipart(&app, &session, query, request).await
        } else {
            upload_raw(&app, &session, query, request).await
        }
    }
    .await;
    let response = outcome?;
    Ok((StatusCode::CREATED, Json(response)))
}

/// Fields in order: `channel_id` (or `?channel_id=`) must come before the first file, each
/// `client_ids` value pairs with one file.
async fn upload_multipart(
    app: &App,
    session: &Session,
    query: UploadQuery,
    request: Request,
) -> ApiResult<FileUploadResponse> {
    let mut multipart = Multipart::from_request(request, app)
        .await
        .map_err(|rejection| {
            AppError::from(ErrorId::UploadUnreadable).with_detail(rejection.body_text())
        })?;
    let mut channel_id = query.channel_id.filter(|id| !id.is_empty());
    let mut client_ids: Vec<String> = Vec::new();
    let mut upload: Option<FileUpload> = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name().unwrap_or_default() {
            "channel_id" => {
                let value = small_text(field).await?;
                if let Some(started) = &upload {
                    if started.channel_id() != value {
                        return Err(AppError::from(ErrorId::UploadToSeveralChannels).into());
                    }
                }
                channel_id = Some(value);
            }
            "client_ids" => client_ids.push(small_text(field).await?),
            "files" => {
                if upload.is_none() {
                    let Some(channel_id) = &channel_id else {
                        return Err(AppError::invalid_param("channel_id")
                            .with_detail("channel_id must come before the files")
                            .into());
                    };
                    upload = Some(app.begin_file_upload(session, channel_id).await?);
                }
                let started = upload.as_mut().expect("set above");
                let file_name = field.file_name().unwrap_or_default().to_string();
                let mut field = field;
                let body = (&mut field).map(|chunk| chunk.map_err(multipart_error_to_app));
                let added = started.add_file(&file_name, Box::pin(body)).await;
                if let Err(error) = added {
                    if error.status_code == 413 {
                        crate::body::drain(
                            (&mut field).map(|chunk| chunk.map(|bytes| bytes.len())),
                        )
                        .await;
                        drop(field);
                        drain_fields(&mut multipart).await;
                    }
                    return Err(error.into());
                }
            }
            // Other fields are read past, unread.
            _ => {}
        }
    }
    let Some(upload) = upload else {
        return Err(AppError::from(ErrorId::UploadWithoutFile).into());
    };
    Ok(upload.finish(client_ids)?)
}

/// Drains the remaining multipart fields (bounded like [`drain`]).
async fn drain_fields(multipart: &mut Multipart) {
    let remaining = async {
        let mut drained: u64 = 0;
        while let Ok(Some(mut field)) = multipart.next_field().await {
            while let Ok(Some(chunk)) = field.chunk().await {
                drained += chunk.len() as u64;
                if drained > crate::body::DRAIN_LIMIT {
                    return;
                }
            }
        }
    };
    let _ = tokio::time::timeout(crate::body::DRAIN_TIME, remaining).await;
}

/// Mattermost's simple upload: the body is the file.
async fn upload_raw(
    app: &App,
    session: &Session,
    query: UploadQuery,
    request: Request,
) -> ApiResult<FileUploadResponse> {
    let Some(channel_id) = query.channel_id.filter(|id| !id.is_empty()) else {
        return Err(AppError::invalid_param("channel_id").into());
    };
    let Some(file_name) = query.filename.filter(|name| !name.is_empty()) else {
        return Err(AppError::invalid_param("filename").into());
    };
    let mut upload = app.begin_file_upload(session, &channel_id).await?;
    let body = request.into_body().into_data_stream().map(|chunk| {
        chunk.map_err(|error| {
            AppError::from(ErrorId::UploadUnreadable).with_detail(error.to_string())
        })
    });
    upload.add_file(&file_name, Box::pin(body)).await?;
    let client_ids = query.client_id.into_iter().collect();
    Ok(upload.finish(client_ids)?)
}

/// A short text field, read without trusting its declared size.
async fn small_text(mut field: Field<'_>) -> ApiResult<String> {
    let name = field.name().unwrap_or_default().to_string();
    let mut value = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        value.extend_from_slice(&chunk);
        if value.len() > MAX_TEXT_FIELD_BYTES {
            return Err(AppError::invalid_param(&name).into());
        }
    }
    String::from_utf8(value)
        .map(|text| text.trim().to_string())
        .map_err(|_| AppError::invalid_param(&name).into())
}

fn multipart_error(error: MultipartError) -> ApiError {
    multipart_error_to_app(error).into()
}

fn multipart_error_to_app(error: MultipartError) -> AppError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return AppError::from(ErrorId::UploadRequestTooLarge).with_detail(error.body_text());
    }
    AppError::from(ErrorId::UploadUnreadable).with_detail(error.body_text())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct DownloadQuery {
    /// `1` or `true` forces `Content-Disposition: attachment` (Go's strconv.ParseBool).
    download: String,
}

impl DownloadQuery {
    fn forced(&self) -> bool {
        matches!(
            self.download.to_ascii_lowercase().as_str(),
            "1" | "t" | "true"
        )
    }
}

/// GET /files/{id}
pub(crate) async fn download(
    State(app): State<App>,
    Caller(session): Caller,
    Path(file_id): Path<String>,
    Query(query): Query<DownloadQuery>,
) -> ApiResult<Response> {
    serve_rendition(app, &session, &file_id, &query, FileRendition::Original).await
}

/// GET /files/{id}/thumbnail
pub(crate) async fn thumbnail(
    State(app): State<App>,
    Caller(session): Caller,
    Path(file_id): Path<String>,
    Query(query): Query<DownloadQuery>,
) -> ApiResult<Response> {
    serve_rendition(app, &session, &file_id, &query, FileRendition::Thumbnail).await
}

/// GET /files/{id}/preview
pub(crate) async fn preview(
    State(app): State<App>,
    Caller(session): Caller,
    Path(file_id): Path<String>,
    Query(query): Query<DownloadQuery>,
) -> ApiResult<Response> {
    serve_rendition(app, &session, &file_id, &query, FileRendition::Preview).await
}

/// The bytes of one rendition of a file, as a download response.
async fn serve_rendition(
    app: App,
    session: &Session,
    file_id: &str,
    query: &DownloadQuery,
    rendition: FileRendition,
) -> ApiResult<Response> {
    require_id(file_id, "file_id")?;
    let content = app.file_content(session, file_id, rendition).await?;
    Ok(file_response(content, query.forced()))
}

/// GET /files/{id}/info
pub(crate) async fn info(
    State(app): State<App>,
    Caller(session): Caller,
    Path(file_id): Path<String>,
) -> ApiResult<Json<FileInfo>> {
    require_id(&file_id, "file_id")?;
    Ok(Json(app.file_info(&session, &file_id).await?))
}

/// GET /posts/{id}/files/info
pub(crate) async fn for_post(
    State(app): State<App>,
    Caller(session): Caller,
    Path(post_id): Path<String>,
) -> ApiResult<Json<Vec<FileInfo>>> {
    require_id(&post_id, "post_id")?;
    Ok(Json(app.post_file_infos(&session, &post_id).await?))
}

/// Types a browser may show inline; anything else downloads (Mattermost's MediaContentTypes).
const INLINE_TYPES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/bmp",
    "image/gif",
    "image/tiff",
    "video/avi",
    "video/mpeg",
    "video/mp4",
    "audio/mpeg",
    "audio/wav",
];

/// Types served as text/plain so a file cannot run script on our origin.
const UNSAFE_TYPE_PREFIXES: &[&str] = &[
    "application/javascript",
    "application/ecmascript",
    "text/javascript",
    "text/ecmascript",
    "application/x-javascript",
    "text/html",
];

/// Mattermost's `writeFileResponse`: streamed body, safe content type, disposition, and
/// headers that keep the file out of frames and MIME sniffing.
fn file_response(content: FileContent, force_download: bool) -> Response {
    let mut content_type = if content.mime_type.is_empty() {
        "application/octet-stream".to_string()
    } else {
        content.mime_type.clone()
    };
    if UNSAFE_TYPE_PREFIXES
        .iter()
        .any(|unsafe_type| content_type.starts_with(unsafe_type))
    {
        content_type = "text/plain".to_string();
    }
    let inline = !force_download && INLINE_TYPES.contains(&content_type.as_str());
    let escaped_name = path_escape(&content.info.name);
    let disposition = format!(
        "{};filename=\"{escaped_name}\"; filename*=UTF-8''{escaped_name}",
        if inline { "inline" } else { "attachment" }
    );

    let mut response = Body::from_stream(content.stream).into_response();
    let headers = response.headers_mut();
    let mut set = |name: header::HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(header::CONTENT_TYPE, &content_type);
    set(header::CONTENT_LENGTH, &content.size.to_string());
    set(header::CONTENT_DISPOSITION, &disposition);
    set(header::CACHE_CONTROL, "private, no-cache");
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::CONTENT_SECURITY_POLICY, "Frame-ancestors 'none'");
    response
}

/// Go's url.PathEscape: everything but unreserved characters and a few sub-delimiters is
/// percent-encoded, so the header stays ASCII and quotes cannot break out.
fn path_escape(name: &str) -> String {
    let mut escaped = String::with_capacity(name.len());
    for byte in name.bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b'-' | b'_' | b'.' | b'~' | b'$' | b'&' | b'+' | b',' | b':' | b'=' | b'@'
            );
        if keep {
            escaped.push(byte as char);
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    escaped
}

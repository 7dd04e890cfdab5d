//! GET /api/v4/websocket: upgrade and hand the socket to the hub. An upgrade authenticated by
//! the session cookie must come from a page of our own origin (`cors::websocket_origin_allowed`).

use crate::cors;
use crate::error::ApiError;
use crate::extract::{upgrade_token, Query, TokenSource};
use axum::extract::{FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chorus_app::App;
use chorus_model::ErrorId;
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct ResumeQuery {
    connection_id: String,
    sequence_number: Option<i64>,
}

pub(crate) async fn connect(
    State(app): State<App>,
    Query(resume): Query<ResumeQuery>,
    request: Request,
) -> Response {
    let (mut parts, _body) = request.into_parts();
    let token = match upgrade_token(&parts) {
        Some((token, TokenSource::Cookie)) => {
            if let Some(origin) = parts.headers.get(header::ORIGIN) {
                let origin = origin.to_str().unwrap_or_default();
                let host = parts
                    .headers
                    .get(header::HOST)
                    .and_then(|host| host.to_str().ok());
                if !cors::websocket_origin_allowed(&app.config().service_settings, origin, host) {
                    tracing::warn!(
                        origin,
                        "websocket upgrade with the session cookie from a foreign origin refused"
                    );
                    return ApiError::from(ErrorId::WebSocketOriginRefused).into_response();
                }
            }
            Some(token)
        }
        Some((token, TokenSource::Header | TokenSource::Query)) => Some(token),
        None => None,
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &app).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    // A token on the upgrade authenticates at once; without one (or with a bad one) the
    // client may still send an authentication_challenge.
    let identity = match token {
        Some(token) => app.connection_identity(&token).await,
        None => None,
    };
    let resume = match (resume.connection_id.is_empty(), resume.sequence_number) {
        (false, Some(sequence_number)) => Some((resume.connection_id, sequence_number)),
        _ => None,
    };
    let hub = app.hub().clone();
    chorus_realtime::websocket_config(upgrade)
        .on_upgrade(move |socket| async move { hub.serve(socket, identity, resume).await })
}

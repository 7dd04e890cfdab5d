//! GET /api/v4/websocket: upgrade and hand the socket to the hub.

use crate::extract::{upgrade_token, Query};
use axum::extract::{FromRequestParts, Request, State, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use chorus_app::App;
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
    let token = upgrade_token(&parts);
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

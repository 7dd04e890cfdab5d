//! Health, config and caches.

use crate::error::ApiResult;
use crate::extract::{Caller, JsonBody, MaybeCaller, Query};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chorus_app::App;
use chorus_model::{AppError, ErrorId};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct PingQuery {
    get_server_status: bool,
    use_rest_semantics: bool,
}

pub(crate) async fn ping(State(app): State<App>, Query(query): Query<PingQuery>) -> Response {
    let report = app.ping(query.get_server_status).await;
    // 503 when this node cannot serve (draining, database unreachable, or a failed
    // get_server_status check), so NGINX and other balancers route around it.
    let status = if report.healthy || query.use_rest_semantics {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut response = (status, Json(report.body.clone())).into_response();
    for key in ["status", "database_status", "filestore_status"] {
        if let Some(value) = report.body.get(key).and_then(Value::as_str) {
            if let Ok(header_value) = HeaderValue::from_str(value) {
                response.headers_mut().insert(
                    key.replace('_', "-")
                        .parse::<axum::http::HeaderName>()
                        .expect("static header name"),
                    header_value,
                );
            }
        }
    }
    response
}

/// GET /api/v3/general/ping: what very old clients and balancers call.
pub(crate) async fn legacy_ping(State(app): State<App>) -> Json<Value> {
    Json(
        json!({"version": chorus_model::SERVER_VERSION, "server_time": chorus_model::now_millis().to_string(), "node_id": app.node().node_id}),
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct ClientConfigQuery {
    format: String,
}

/// GET /config/client?format=old. Logged-out callers get the limited subset.
pub(crate) async fn client_config(
    State(app): State<App>,
    MaybeCaller(caller): MaybeCaller,
    Query(query): Query<ClientConfigQuery>,
) -> ApiResult<Json<BTreeMap<String, String>>> {
    if query.format != "old" {
        return Err(AppError::from(ErrorId::ClientConfigNewFormat).into());
    }
    Ok(Json(if caller.is_some() {
        app.client_config()
    } else {
        app.limited_client_config()
    }))
}

pub(crate) async fn get_config(
    State(app): State<App>,
    Caller(session): Caller,
) -> ApiResult<Json<Value>> {
    Ok(Json(app.admin_config(&session)?))
}

pub(crate) async fn put_config(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    Ok(Json(app.save_config(&session, body).await?))
}

pub(crate) async fn reload_config(
    State(app): State<App>,
    Caller(session): Caller,
) -> ApiResult<Json<Value>> {
    app.reload_config(&session).await?;
    Ok(super::status_ok())
}

pub(crate) async fn recycle_database(
    State(app): State<App>,
    Caller(session): Caller,
) -> ApiResult<Json<Value>> {
    app.recycle_database(&session)?;
    Ok(super::status_ok())
}

pub(crate) async fn database_status(
    State(app): State<App>,
    Caller(session): Caller,
) -> ApiResult<Json<chorus_app::DatabaseStatus>> {
    Ok(Json(app.database_status(&session)?))
}

pub(crate) async fn invalidate_caches(
    State(app): State<App>,
    Caller(session): Caller,
) -> ApiResult<Json<Value>> {
    app.invalidate_caches(&session)?;
    Ok(super::status_ok())
}

/// GET /cluster/status: every node, alive or not, the leader, and config/version mismatches.
pub(crate) async fn cluster_status(
    State(app): State<App>,
    Caller(session): Caller,
) -> ApiResult<Json<Vec<Value>>> {
    Ok(Json(app.cluster_status(&session).await?))
}

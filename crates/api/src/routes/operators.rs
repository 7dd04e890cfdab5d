//! Operators' tools (issue 13): /config/patch, /server_busy, /logs.

use crate::error::ApiResult;
use crate::extract::{Caller, JsonBody, Query};
use axum::extract::State;
use axum::Json;
use chorus_app::{App, LogFilter, ServerBusyState};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// PUT /config/patch: the patched config, masked as GET /config shows it.
pub(crate) async fn patch_config(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(patch): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    Ok(Json(app.patch_config(&session, patch).await?))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct BusyQuery {
    seconds: Option<String>,
}

/// POST /server_busy?seconds=N.
pub(crate) async fn set_busy(
    State(app): State<App>,
    Caller(session): Caller,
    Query(query): Query<BusyQuery>,
) -> ApiResult<Json<Value>> {
    app.set_server_busy(&session, query.seconds.as_deref())?;
    Ok(super::status_ok())
}

/// GET /server_busy.
pub(crate) async fn busy(
    State(app): State<App>,
    Caller(session): Caller,
) -> ApiResult<Json<ServerBusyState>> {
    Ok(Json(app.server_busy_state(&session)?))
}

/// DELETE /server_busy.
pub(crate) async fn clear_busy(
    State(app): State<App>,
    Caller(session): Caller,
) -> ApiResult<Json<Value>> {
    app.clear_server_busy(&session)?;
    Ok(super::status_ok())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct LogsQuery {
    page: Option<i64>,
    logs_per_page: Option<i64>,
}

/// GET /logs: this node's recent lines, a JSON array of strings.
pub(crate) async fn logs(
    State(app): State<App>,
    Caller(session): Caller,
    Query(query): Query<LogsQuery>,
) -> ApiResult<Json<Vec<String>>> {
    Ok(Json(app.recent_logs(
        &session,
        query.page,
        query.logs_per_page,
    )?))
}

/// POST /logs/query: this node's lines that pass the filter, parsed, under its hostname.
pub(crate) async fn query_logs(
    State(app): State<App>,
    Caller(session): Caller,
    Query(query): Query<LogsQuery>,
    JsonBody(filter): JsonBody<LogFilter>,
) -> ApiResult<Json<BTreeMap<String, Vec<Value>>>> {
    Ok(Json(app.query_logs(
        &session,
        query.page,
        query.logs_per_page,
        filter,
    )?))
}

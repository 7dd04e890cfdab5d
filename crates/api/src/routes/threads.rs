//! /users/{id}/teams/{team_id}/threads: collapsed reply threads (issue 13).

use super::status_ok;
use crate::error::ApiResult;
use crate::extract::{user_id_or_me, Caller, Path, Query};
use axum::extract::State;
use axum::Json;
use chorus_app::{App, ThreadsQuery};
use chorus_model::{ErrorId, ThreadResponse, Threads};
use serde::Deserialize;
use serde_json::Value;

/// GET .../threads?since&before&after&per_page&unread&extended&deleted&totalsOnly&threadsOnly
pub(crate) async fn list(
    State(app): State<App>,
    Caller(session): Caller,
    Path((user_id, team_id)): Path<(String, String)>,
    Query(query): Query<ThreadsQuery>,
) -> ApiResult<Json<Threads>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    Ok(Json(
        app.user_threads(&session, &user_id, &team_id, query)
            .await?,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct ThreadQuery {
    extended: String,
}

/// GET .../threads/{thread_id}?extended
pub(crate) async fn get(
    State(app): State<App>,
    Caller(session): Caller,
    Path((user_id, team_id, thread_id)): Path<(String, String, String)>,
    Query(query): Query<ThreadQuery>,
) -> ApiResult<Json<ThreadResponse>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    let extended = matches!(
        query.extended.to_ascii_lowercase().as_str(),
        "1" | "t" | "true"
    );
    Ok(Json(
        app.user_thread(&session, &user_id, &team_id, &thread_id, extended)
            .await?,
    ))
}

/// PUT .../threads/{thread_id}/following
pub(crate) async fn follow(
    State(app): State<App>,
    Caller(session): Caller,
    Path((user_id, team_id, thread_id)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    app.set_thread_following(&session, &user_id, &team_id, &thread_id, true)
        .await?;
    Ok(status_ok())
}

/// DELETE .../threads/{thread_id}/following
pub(crate) async fn unfollow(
    State(app): State<App>,
    Caller(session): Caller,
    Path((user_id, team_id, thread_id)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    app.set_thread_following(&session, &user_id, &team_id, &thread_id, false)
        .await?;
    Ok(status_ok())
}

/// PUT .../threads/{thread_id}/read/{timestamp}
pub(crate) async fn read(
    State(app): State<App>,
    Caller(session): Caller,
    Path((user_id, team_id, thread_id, timestamp)): Path<(String, String, String, String)>,
) -> ApiResult<Json<ThreadResponse>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    let Ok(timestamp) = timestamp.parse::<i64>() else {
        return Err(ErrorId::InvalidUrlParam
            .with_param("name", "timestamp")
            .into());
    };
    Ok(Json(
        app.read_thread(&session, &user_id, &team_id, &thread_id, timestamp)
            .await?,
    ))
}

/// POST .../threads/{thread_id}/set_unread/{post_id}
pub(crate) async fn set_unread(
    State(app): State<App>,
    Caller(session): Caller,
    Path((user_id, team_id, thread_id, post_id)): Path<(String, String, String, String)>,
) -> ApiResult<Json<ThreadResponse>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    Ok(Json(
        app.set_thread_unread(&session, &user_id, &team_id, &thread_id, &post_id)
            .await?,
    ))
}

/// PUT .../threads/read
pub(crate) async fn read_all(
    State(app): State<App>,
    Caller(session): Caller,
    Path((user_id, team_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let user_id = user_id_or_me(&user_id, &session)?;
    app.read_all_threads(&session, &user_id, &team_id).await?;
    Ok(status_ok())
}

//! /jobs: background jobs (system admins).

use crate::error::ApiResult;
use crate::extract::{require_id, Caller, JsonBody, Path, Query};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chorus_app::{App, JobListQuery};
use chorus_model::{ErrorId, Job, JobRequest};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct JobsQuery {
    page: Option<i64>,
    per_page: Option<i64>,
    job_type: Option<String>,
    status: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct Paging {
    page: Option<i64>,
    per_page: Option<i64>,
}

pub(crate) async fn create(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(request): JsonBody<JobRequest>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    Ok((
        StatusCode::CREATED,
        Json(app.create_job(&session, request).await?),
    ))
}

pub(crate) async fn list(
    State(app): State<App>,
    Caller(session): Caller,
    Query(query): Query<JobsQuery>,
) -> ApiResult<Json<Vec<Job>>> {
    let query = JobListQuery {
        page: query.page,
        per_page: query.per_page,
        job_type: query.job_type,
        status: query.status,
    };
    Ok(Json(app.list_jobs(&session, query).await?))
}

pub(crate) async fn by_type(
    State(app): State<App>,
    Caller(session): Caller,
    Path(job_type): Path<String>,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Vec<Job>>> {
    if job_type.is_empty() || job_type.len() > 32 {
        return Err(ErrorId::InvalidUrlParam
            .with_param("name", "job_type")
            .into());
    }
    Ok(Json(
        app.jobs_by_type(&session, &job_type, paging.page, paging.per_page)
            .await?,
    ))
}

pub(crate) async fn get(
    State(app): State<App>,
    Caller(session): Caller,
    Path(job_id): Path<String>,
) -> ApiResult<Json<Job>> {
    require_id(&job_id, "job_id")?;
    Ok(Json(app.get_job(&session, &job_id).await?))
}

pub(crate) async fn cancel(
    State(app): State<App>,
    Caller(session): Caller,
    Path(job_id): Path<String>,
) -> ApiResult<Json<Value>> {
    require_id(&job_id, "job_id")?;
    app.cancel_job(&session, &job_id).await?;
    Ok(super::status_ok())
}

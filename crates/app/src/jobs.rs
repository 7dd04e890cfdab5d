//! Jobs for the REST API (system admins only): create, list, get, cancel. Running them is the
//! job server's business (`chorus-jobs`, started by the binary); here they are rows.

use crate::{require_system_admin, App, AppResult};
use chorus_model::{
    is_known_job_type, new_id, AppError, ErrorId, Job, JobRequest, Session, JOB_STATUS_CANCELED,
    JOB_STATUS_CANCEL_REQUESTED, JOB_STATUS_ERROR, JOB_STATUS_IN_PROGRESS, JOB_STATUS_PENDING,
    JOB_STATUS_SUCCESS, JOB_STATUS_WARNING,
};
use chorus_store::jobs::{self as job_store, Cancellation};

const JOB_STATUSES: [&str; 7] = [
    JOB_STATUS_PENDING,
    JOB_STATUS_IN_PROGRESS,
    JOB_STATUS_SUCCESS,
    JOB_STATUS_ERROR,
    JOB_STATUS_CANCEL_REQUESTED,
    JOB_STATUS_CANCELED,
    JOB_STATUS_WARNING,
];

/// Filters of GET /api/v4/jobs.
#[derive(Debug, Clone, Default)]
pub struct JobListQuery {
    pub page: Option<i64>,
    pub per_page: Option<i64>,
    pub job_type: Option<String>,
    pub status: Option<String>,
}

fn incorrect_job_type() -> AppError {
    AppError::from(ErrorId::JobTypeIncorrect)
}

impl App {
    /// POST /api/v4/jobs: a pending job any node's workers will pick up.
    pub async fn create_job(&self, session: &Session, request: JobRequest) -> AppResult<Job> {
        if !is_known_job_type(&request.job_type) {
            return Err(incorrect_job_type().with_detail(format!("type={}", request.job_type)));
        }
        require_system_admin(session)?;
        let db = self.store().master().await?;
        let job = job_store::insert(&db, &new_id(), &request.job_type, &request.data).await?;
        tracing::info!(job_id = %job.id, job_type = %job.job_type, user_id = %session.user_id, "job created");
        Ok(job)
    }

    /// GET /api/v4/jobs, newest first, optionally of one type and/or status.
    pub async fn list_jobs(&self, session: &Session, query: JobListQuery) -> AppResult<Vec<Job>> {
        let job_type = query.job_type.filter(|job_type| !job_type.is_empty());
        if let Some(job_type) = &job_type {
            if !is_known_job_type(job_type) {
                return Err(ErrorId::InvalidUrlParam.with_param("name", "job_type"));
            }
        }
        let status = query.status.filter(|status| !status.is_empty());
        if let Some(status) = &status {
            if !JOB_STATUSES.contains(&status.as_str()) {
                return Err(AppError::from(ErrorId::JobStatusInvalid));
            }
        }
        require_system_admin(session)?;
        let (offset, limit) = crate::page_window(query.page, query.per_page, 60, 200)?;
        // Job progress changes every few seconds; an admin watching it wants the master's view.
        let db = self.store().master().await?;
        Ok(job_store::list(&db, job_type.as_deref(), status.as_deref(), offset, limit).await?)
    }

    /// GET /api/v4/jobs/type/{type}.
    pub async fn jobs_by_type(
        &self,
        session: &Session,
        job_type: &str,
        page: Option<i64>,
        per_page: Option<i64>,
    ) -> AppResult<Vec<Job>> {
        if !is_known_job_type(job_type) {
            return Err(AppError::from(ErrorId::JobTypeNotRetrievable)
                .with_detail(format!("type={job_type}")));
        }
        require_system_admin(session)?;
        let (offset, limit) = crate::page_window(page, per_page, 60, 200)?;
        let db = self.store().master().await?;
        Ok(job_store::list(&db, Some(job_type), None, offset, limit).await?)
    }

    /// GET /api/v4/jobs/{job_id}.
    pub async fn get_job(&self, session: &Session, job_id: &str) -> AppResult<Job> {
        require_system_admin(session)?;
        let db = self.store().master().await?;
        Ok(job_store::get(&db, job_id).await?)
    }

    /// POST /api/v4/jobs/{job_id}/cancel: a pending job is canceled at once; a running one is
    /// asked to stop, and its worker marks it canceled at its next checkpoint.
    pub async fn cancel_job(&self, session: &Session, job_id: &str) -> AppResult<Job> {
        require_system_admin(session)?;
        let db = self.store().master().await?;
        match job_store::request_cancellation(&db, job_id).await? {
            Cancellation::Canceled(job) | Cancellation::Requested(job) => {
                tracing::info!(job_id = %job.id, status = %job.status, user_id = %session.user_id, "job cancellation requested");
                Ok(job)
            }
            Cancellation::AlreadyFinished(job) => Err(AppError::from(ErrorId::JobNotCancelable)
                .with_detail(format!("id={} status={}", job.id, job.status))),
        }
    }
}

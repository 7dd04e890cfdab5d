//! What each job type does, and the context a running job reports through.
//!
//! A job body calls [`JobContext::checkpoint`] between batches: it records progress, proves the
//! job is still this node's, and is where cancellation and shutdown take effect. Bodies must be
//! safe to run again from the start (a job whose node died runs again elsewhere).

use crate::settings::Shared;
use chorus_config::Config;
use chorus_model::{
    now_millis, Job, JOB_STATUS_CANCEL_REQUESTED, JOB_TYPE_CLUSTER_DISCOVERY_CLEANUP,
    JOB_TYPE_DATA_RETENTION, JOB_TYPE_EXPIRED_SESSIONS,
};
use chorus_store::jobs::{self as job_store, ClaimedJob};
use chorus_store::{cluster, sessions, StoreResult};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::watch;

const DAY_MILLIS: i64 = 24 * 3600 * 1000;

/// Why a job body stopped before completing.
#[derive(Debug)]
pub(crate) enum Stop {
    /// Cancellation was requested: the job ends `canceled`.
    Canceled,
    /// The job is no longer this node's (presumed dead and handed over): drop it silently.
    Lost,
    /// This node is shutting down: hand the job back for another node.
    ShuttingDown,
    /// The job ends `error` with this message.
    Failed(String),
}

impl From<chorus_store::StoreError> for Stop {
    fn from(error: chorus_store::StoreError) -> Self {
        Stop::Failed(error.to_string())
    }
}

/// Entries merged into the job's `data` when it succeeds.
pub(crate) type JobData = BTreeMap<String, String>;

pub(crate) struct JobContext {
    shared: Shared,
    /// The configuration when the job started (a job sees one consistent config).
    config: Arc<Config>,
    claimed: ClaimedJob,
    shutdown: watch::Receiver<bool>,
}

impl JobContext {
    pub(crate) fn new(
        shared: Shared,
        config: Arc<Config>,
        claimed: ClaimedJob,
        shutdown: watch::Receiver<bool>,
    ) -> JobContext {
        JobContext {
            shared,
            config,
            claimed,
            shutdown,
        }
    }

    pub(crate) fn job(&self) -> &Job {
        &self.claimed.job
    }

    pub(crate) fn attempt(&self) -> i32 {
        self.claimed.attempt
    }

    /// Records progress (0-100) and decides whether to go on.
    pub(crate) async fn checkpoint(&self, progress: i64) -> Result<(), Stop> {
        if *self.shutdown.borrow() {
            return Err(Stop::ShuttingDown);
        }
        let db = self.shared.store.master().await?;
        let status = job_store::heartbeat(
            &db,
            &self.claimed.job.id,
            &self.shared.node_id,
            self.claimed.attempt,
            Some(progress),
        )
        .await?;
        match status.as_deref() {
            None => Err(Stop::Lost),
            Some(JOB_STATUS_CANCEL_REQUESTED) => Err(Stop::Canceled),
            Some(_) => Ok(()),
        }
    }

    /// Reports the job alive every heartbeat interval; returns only once the job is no longer
    /// this node's.
    pub(crate) async fn heartbeat_until_lost(&self) {
        let mut ticker = tokio::time::interval(self.shared.options.heartbeat_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let beat = async {
                let db = self.shared.store.master().await?;
                job_store::heartbeat(
                    &db,
                    &self.claimed.job.id,
                    &self.shared.node_id,
                    self.claimed.attempt,
                    None,
                )
                .await
            };
            match beat.await {
                Ok(Some(_)) => {}
                Ok(None) => return,
                Err(error) => {
                    tracing::warn!(job_id = %self.claimed.job.id, error = %error, "job heartbeat failed")
                }
            }
        }
    }

    pub(crate) async fn finish(
        &self,
        status: &str,
        progress: Option<i64>,
        data: &JobData,
    ) -> StoreResult<bool> {
        let db = self.shared.store.master().await?;
        job_store::finish(
            &db,
            &self.claimed.job.id,
            &self.shared.node_id,
            self.claimed.attempt,
            status,
            progress,
            data,
        )
        .await
    }

    pub(crate) async fn give_back(&self) -> StoreResult<bool> {
        let db = self.shared.store.master().await?;
        job_store::give_back(
            &db,
            &self.claimed.job.id,
            &self.shared.node_id,
            self.claimed.attempt,
        )
        .await
    }
}

/// Runs the body of the claimed job's type.
pub(crate) async fn run(context: &JobContext) -> Result<JobData, Stop> {
    match context.job().job_type.as_str() {
        JOB_TYPE_DATA_RETENTION => data_retention(context).await,
        JOB_TYPE_EXPIRED_SESSIONS => expired_sessions(context).await,
        JOB_TYPE_CLUSTER_DISCOVERY_CLEANUP => cluster_discovery_cleanup(context).await,
        other => Err(Stop::Failed(format!("no worker for job type {other}"))),
    }
}

/// Permanently deletes posts older than MessageRetentionDays, with their reactions, in batches of
/// DataRetentionSettings.BatchSize, as Mattermost's global retention policy does.
async fn data_retention(context: &JobContext) -> Result<JobData, Stop> {
    let settings = &context.config.data_retention_settings;
    if !settings.enable_message_deletion {
        return Ok(JobData::from([(
            "skipped".to_string(),
            "DataRetentionSettings.EnableMessageDeletion is off".to_string(),
        )]));
    }
    let cutoff = now_millis() - settings.message_retention_days.max(1) * DAY_MILLIS;
    let batch_size = settings.batch_size.max(1);
    context.checkpoint(0).await?;
    let total = {
        let db = context.shared.store.master().await?;
        job_store::count_posts_before(&db, cutoff).await?
    };
    let mut deleted: i64 = 0;
    loop {
        let progress = if total == 0 {
            0
        } else {
            (deleted * 100 / total).min(99)
        };
        context.checkpoint(progress).await?;
        let batch_deleted = {
            let db = context.shared.store.master().await?;
            job_store::delete_posts_batch_before(&db, cutoff, batch_size).await? as i64
        };
        deleted += batch_deleted;
        if batch_deleted < batch_size {
            break;
        }
    }
    tracing::info!(job_id = %context.job().id, deleted_posts = deleted, cutoff, "data retention deleted old posts");
    Ok(JobData::from([
        ("deleted_posts".to_string(), deleted.to_string()),
        ("cutoff".to_string(), cutoff.to_string()),
    ]))
}

async fn expired_sessions(context: &JobContext) -> Result<JobData, Stop> {
    context.checkpoint(0).await?;
    let db = context.shared.store.master().await?;
    // Session expiry times are written with node clocks; so is the comparison.
    let deleted = sessions::delete_expired(&db, now_millis()).await?;
    Ok(JobData::from([(
        "deleted_sessions".to_string(),
        deleted.to_string(),
    )]))
}

/// Deletes ClusterDiscovery rows of nodes that stopped pinging (staleness by the database clock).
async fn cluster_discovery_cleanup(context: &JobContext) -> Result<JobData, Stop> {
    context.checkpoint(0).await?;
    let stale_after = context.shared.options.cluster_discovery_stale_after;
    let db = context.shared.store.master().await?;
    let deleted = cluster::delete_stale(
        &db,
        cluster::DISCOVERY_TYPE_APP,
        stale_after.as_millis() as i64,
    )
    .await?;
    Ok(JobData::from([(
        "deleted_rows".to_string(),
        deleted.to_string(),
    )]))
}

//! The job server of one node: workers that claim and run jobs (JobSettings.RunJobs), and the
//! scheduler that creates recurring jobs and recovers orphaned ones (JobSettings.RunScheduler,
//! and only while this node leads).

use crate::leader::LeaderLease;
use crate::settings::{ConfigSnapshot, JobServerOptions, Shared};
use crate::work::{self, JobContext, Stop};
use chorus_config::Config;
use chorus_model::{
    new_id, now_millis, JOB_STATUS_CANCELED, JOB_STATUS_ERROR, JOB_STATUS_SUCCESS, JOB_TYPES,
    JOB_TYPE_CLUSTER_DISCOVERY_CLEANUP, JOB_TYPE_DATA_RETENTION, JOB_TYPE_EXPIRED_SESSIONS,
};
use chorus_store::jobs::{self as job_store, ClaimedJob, Schedule};
use chorus_store::{Store, StoreResult};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// Handle to the job server of this node.
#[derive(Clone)]
pub struct JobServer {
    inner: Arc<ServerInner>,
}

struct ServerInner {
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    active: ActiveJobs,
}

/// Jobs running on this node, by type (for metrics).
type ActiveJobs = Arc<Mutex<BTreeMap<String, i64>>>;

impl JobServer {
    /// Starts the workers and the scheduler with the default timing.
    pub fn start(
        store: Store,
        config: ConfigSnapshot,
        node_id: impl Into<String>,
        leader: LeaderLease,
    ) -> JobServer {
        JobServer::start_with_options(store, config, node_id, leader, JobServerOptions::default())
    }

    pub fn start_with_options(
        store: Store,
        config: ConfigSnapshot,
        node_id: impl Into<String>,
        leader: LeaderLease,
        options: JobServerOptions,
    ) -> JobServer {
        let shared = Shared {
            store,
            config,
            node_id: node_id.into(),
            options,
        };
        let (shutdown, _) = watch::channel(false);
        let active = ActiveJobs::default();
        let workers = tokio::spawn(run_workers(
            shared.clone(),
            shutdown.subscribe(),
            active.clone(),
        ));
        let scheduler = tokio::spawn(run_scheduler(shared, leader, shutdown.subscribe()));
        JobServer {
            inner: Arc::new(ServerInner {
                shutdown,
                tasks: Mutex::new(vec![workers, scheduler]),
                active,
            }),
        }
    }

    /// Jobs running on this node now, by type; every known type is listed (0 when idle).
    pub fn active_jobs(&self) -> Vec<(String, i64)> {
        let active = self.inner.active.lock();
        chorus_model::JOB_TYPES
            .iter()
            .map(|job_type| {
                let count = active.get(*job_type).copied().unwrap_or(0);
                (job_type.to_string(), count)
            })
            .collect()
    }

    /// Stops claiming and scheduling; running jobs stop at their next checkpoint and go back to
    /// pending for another node (within `shutdown_grace`; a job still running then is left to the
    /// orphan recovery). Call before [`LeaderLease::step_down`].
    pub async fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
        let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut *self.inner.tasks.lock());
        for task in tasks {
            let _ = task.await;
        }
    }

    /// Stops every task at once, handing nothing back, as if the process had died. For tests.
    #[doc(hidden)]
    pub fn kill(&self) {
        for task in self.inner.tasks.lock().drain(..) {
            task.abort();
        }
    }
}

async fn run_workers(shared: Shared, mut shutdown: watch::Receiver<bool>, active: ActiveJobs) {
    let mut running: JoinSet<()> = JoinSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let config = (shared.config)();
        if config.job_settings.run_jobs {
            while running.len() < shared.options.max_concurrent_jobs.max(1) {
                match claim(&shared).await {
                    Ok(Some(claimed)) => {
                        let context = JobContext::new(
                            shared.clone(),
                            (shared.config)(),
                            claimed,
                            shutdown.clone(),
                        );
                        let job_type = context.job().job_type.clone();
                        *active.lock().entry(job_type.clone()).or_insert(0) += 1;
                        let active = active.clone();
                        running.spawn(async move {
                            run_job(context).await;
                            *active.lock().entry(job_type).or_insert(1) -= 1;
                        });
                    }
                    Ok(None) => break,
                    Err(error) => {
                        tracing::warn!(error = %error, "could not claim a job");
                        break;
                    }
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(shared.options.poll_interval) => {}
            // A slot freed up: look for more work at once.
            Some(_) = running.join_next(), if !running.is_empty() => {}
            _ = shutdown.changed() => {}
        }
    }
    let drained = tokio::time::timeout(shared.options.shutdown_grace, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            jobs = running.len(),
            "jobs still running after the shutdown grace period; other nodes retry them"
        );
        running.abort_all();
    }
}

async fn claim(shared: &Shared) -> StoreResult<Option<ClaimedJob>> {
    let db = shared.store.master().await?;
    job_store::claim_next(&db, &shared.node_id, &JOB_TYPES).await
}

/// Runs one claimed job to its end and records how it ended.
async fn run_job(context: JobContext) {
    let job_id = context.job().id.clone();
    let job_type = context.job().job_type.clone();
    tracing::info!(job_id = %job_id, job_type = %job_type, attempt = context.attempt(), "job started");
    let outcome = tokio::select! {
        outcome = work::run(&context) => outcome,
        () = context.heartbeat_until_lost() => Err(Stop::Lost),
    };
    let (status, progress, data) = match outcome {
        Ok(data) => (JOB_STATUS_SUCCESS, Some(100), data),
        Err(Stop::Canceled) => (JOB_STATUS_CANCELED, None, BTreeMap::new()),
        Err(Stop::Failed(message)) => {
            tracing::warn!(job_id = %job_id, job_type = %job_type, error = %message, "job failed");
            (
                JOB_STATUS_ERROR,
                None,
                BTreeMap::from([("error".to_string(), message)]),
            )
        }
        Err(Stop::ShuttingDown) => {
            match context.give_back().await {
                Ok(true) => tracing::info!(job_id = %job_id, "job handed back for another node"),
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(job_id = %job_id, error = %error, "could not hand the job back; it is retried once orphaned")
                }
            }
            return;
        }
        Err(Stop::Lost) => {
            tracing::warn!(job_id = %job_id, "job was taken from this node (presumed dead); dropping it");
            return;
        }
    };
    match context.finish(status, progress, &data).await {
        Ok(true) => tracing::info!(job_id = %job_id, job_type = %job_type, status, "job ended"),
        Ok(false) => {
            tracing::warn!(job_id = %job_id, "job was taken from this node before it ended")
        }
        Err(error) => {
            tracing::warn!(job_id = %job_id, error = %error, "could not record the end of the job; it runs again once orphaned")
        }
    }
}

async fn run_scheduler(shared: Shared, leader: LeaderLease, mut shutdown: watch::Receiver<bool>) {
    let mut leading = leader.watch();
    loop {
        if *shutdown.borrow() {
            break;
        }
        if leader.is_leader() {
            if let Err(error) = scheduler_tick(&shared, &leader).await {
                tracing::warn!(error = %error, "scheduler tick failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(shared.options.scheduler_interval) => {}
            // Became leader (or stopped): act at once rather than at the next tick.
            changed = leading.changed() => {
                if changed.is_err() {
                    tokio::time::sleep(shared.options.scheduler_interval).await;
                }
            }
            _ = shutdown.changed() => {}
        }
    }
}

/// One pass of the leader: put orphaned jobs back, create due recurring jobs, clean up old ones.
async fn scheduler_tick(shared: &Shared, leader: &LeaderLease) -> StoreResult<()> {
    let config = (shared.config)();
    let db = shared.store.master().await?;
    let recovered = job_store::recover_orphaned(
        &db,
        shared.options.orphaned_after,
        shared.options.max_attempts,
    )
    .await?;
    for job in recovered {
        tracing::warn!(job_id = %job.id, job_type = %job.job_type, previous_worker = %job.previous_worker, status = %job.status, "recovered an orphaned job");
    }

    if !config.job_settings.run_scheduler {
        return Ok(());
    }
    for (job_type, schedule) in due_schedules(&config, &shared.options) {
        // Checked right before each write (and again by the fence in the database).
        if !leader.is_leader() {
            return Ok(());
        }
        let fence = leader.fence();
        if fence.is_none() && !leader.is_standalone() {
            return Ok(());
        }
        let mut data = BTreeMap::from([("scheduled_by".to_string(), shared.node_id.clone())]);
        if let Some(fence) = &fence {
            data.insert("leader_term".to_string(), fence.term.to_string());
        }
        let created =
            job_store::create_scheduled(&db, &new_id(), job_type, schedule, &data, fence.as_ref())
                .await?;
        if let Some(job) = created {
            tracing::info!(job_id = %job.id, job_type, "scheduled a recurring job");
        }
    }

    let threshold_days = config.job_settings.cleanup_jobs_threshold_days;
    if threshold_days >= 0 {
        let cutoff = now_millis() - threshold_days * 24 * 3600 * 1000;
        let removed = job_store::delete_finished_before(&db, cutoff).await?;
        if removed > 0 {
            tracing::info!(removed, "removed old finished jobs");
        }
    }
    Ok(())
}

/// The recurring job types enabled by `config`, with their schedules.
fn due_schedules(config: &Config, options: &JobServerOptions) -> Vec<(&'static str, Schedule)> {
    let mut schedules = vec![(
        JOB_TYPE_EXPIRED_SESSIONS,
        Schedule {
            period: options.expired_sessions_every,
            offset: Duration::ZERO,
        },
    )];
    if config.cluster_settings.enable {
        schedules.push((
            JOB_TYPE_CLUSTER_DISCOVERY_CLEANUP,
            Schedule {
                period: options.cluster_discovery_cleanup_every,
                offset: Duration::ZERO,
            },
        ));
    }
    if config.data_retention_settings.enable_message_deletion {
        let schedule = match options.data_retention_every {
            Some(period) => Schedule {
                period,
                offset: Duration::ZERO,
            },
            None => Schedule {
                period: Duration::from_secs(24 * 3600),
                offset: clock_time_of_day(&config.data_retention_settings.deletion_job_start_time),
            },
        };
        schedules.push((JOB_TYPE_DATA_RETENTION, schedule));
    }
    schedules
}

/// "HH:MM" as a time of day (UTC); midnight when it does not parse (config validation refuses
/// such values, so this only guards against a config that skipped validation).
fn clock_time_of_day(text: &str) -> Duration {
    let parsed = text.split_once(':').and_then(|(hours, minutes)| {
        let hours: u64 = hours.trim().parse().ok()?;
        let minutes: u64 = minutes.trim().parse().ok()?;
        (hours < 24 && minutes < 60).then_some(hours * 3600 + minutes * 60)
    });
    Duration::from_secs(parsed.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletion_start_time_is_an_offset_into_the_day() {
        assert_eq!(clock_time_of_day("02:00"), Duration::from_secs(7200));
        assert_eq!(clock_time_of_day("23:59"), Duration::from_secs(86340));
        assert_eq!(clock_time_of_day("nonsense"), Duration::ZERO);
    }

    #[test]
    fn only_enabled_recurring_jobs_are_scheduled() {
        let mut config = Config::default();
        let options = JobServerOptions::default();
        let types = |config: &Config| -> Vec<&str> {
            due_schedules(config, &options)
                .into_iter()
                .map(|(job_type, _)| job_type)
                .collect()
        };
        assert_eq!(types(&config), vec![JOB_TYPE_EXPIRED_SESSIONS]);
        config.cluster_settings.enable = true;
        config.data_retention_settings.enable_message_deletion = true;
        assert_eq!(
            types(&config),
            vec![
                JOB_TYPE_EXPIRED_SESSIONS,
                JOB_TYPE_CLUSTER_DISCOVERY_CLEANUP,
                JOB_TYPE_DATA_RETENTION
            ]
        );
        let retention = due_schedules(&config, &options).pop().expect("retention").1;
        assert_eq!(retention.period, Duration::from_secs(86400));
        assert_eq!(retention.offset, Duration::from_secs(7200));
    }
}

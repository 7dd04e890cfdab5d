//! What the job server's parts share: its timing options, the config snapshot and the handle
//! the scheduler, the workers and a running job ([`crate::work::JobContext`]) read from.

use chorus_config::Config;
use chorus_store::Store;
use std::sync::Arc;
use std::time::Duration;

/// The running configuration, read afresh at every scheduler tick and job start.
pub type ConfigSnapshot = Arc<dyn Fn() -> Arc<Config> + Send + Sync>;

/// Timing of the job server. config.json has no keys for these (Mattermost hard-codes its
/// intervals); tests shorten them.
#[derive(Debug, Clone)]
pub struct JobServerOptions {
    /// How often an idle node looks for pending jobs (Mattermost: 15 s).
    pub poll_interval: Duration,
    /// Jobs this node runs at the same time.
    pub max_concurrent_jobs: usize,
    /// How often a running job reports it is alive.
    pub heartbeat_interval: Duration,
    /// A running job silent for this long is presumed orphaned (its node died) and runs again.
    pub orphaned_after: Duration,
    /// Claims of one job before it is marked `error` instead of retried.
    pub max_attempts: i32,
    /// How often the leader's scheduler looks for due jobs (Mattermost: 1 min).
    pub scheduler_interval: Duration,
    pub expired_sessions_every: Duration,
    pub cluster_discovery_cleanup_every: Duration,
    /// A ClusterDiscovery row not pinged for this long is deleted (Mattermost: 30 min).
    pub cluster_discovery_stale_after: Duration,
    /// None: daily at DataRetentionSettings.DeletionJobStartTime (UTC).
    pub data_retention_every: Option<Duration>,
    /// On shutdown, how long running jobs get to reach a checkpoint and hand their job back.
    pub shutdown_grace: Duration,
}

impl Default for JobServerOptions {
    fn default() -> Self {
        JobServerOptions {
            poll_interval: Duration::from_secs(1),
            max_concurrent_jobs: 2,
            heartbeat_interval: Duration::from_secs(5),
            orphaned_after: Duration::from_secs(30),
            max_attempts: 3,
            scheduler_interval: Duration::from_secs(10),
            expired_sessions_every: Duration::from_secs(3600),
            cluster_discovery_cleanup_every: Duration::from_secs(600),
            cluster_discovery_stale_after: Duration::from_secs(30 * 60),
            data_retention_every: None,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// What the scheduler and the workers share.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) config: ConfigSnapshot,
    pub(crate) node_id: String,
    pub(crate) options: JobServerOptions,
}

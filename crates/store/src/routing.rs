//! Which PostgreSQL server a query goes to: the master (`SqlSettings.DataSource`), the read
//! replicas (`DataSourceReplicas`) or the search replicas (`DataSourceSearchReplicas`), each with
//! a pool of its own and, for replicas, a health record the monitor keeps up to date.
//!
//! A [`Sources`] is one generation of pools built from one `SqlSettings`; reload and recycle
//! build a new generation and swap it in (see `Store`), so a request that already holds a
//! connection of the old generation finishes on it undisturbed.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chorus_config::SqlSettings;
use deadpool_postgres::{
    HookError, Manager, ManagerConfig, Pool, PoolConfig, RecyclingMethod, Runtime, Timeouts,
};
use parking_lot::Mutex;
use tokio_postgres::NoTls;

use crate::{StoreError, StoreResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Master,
    Replica,
    SearchReplica,
}

/// One data source: its pool and what the monitor last learned about it.
pub(crate) struct Source {
    pub(crate) role: Role,
    /// `host:port/database` of the connection string, without user or password.
    pub(crate) label: String,
    pub(crate) pool: Pool,
    pub(crate) health: Health,
}

/// What the monitor last saw of a source. Replicas start out of rotation: the first successful
/// probe (a fraction of a second after start) puts them in.
#[derive(Default)]
pub(crate) struct Health {
    pub(crate) reachable: AtomicBool,
    pub(crate) in_rotation: AtomicBool,
    pub(crate) in_recovery: AtomicBool,
    /// WAL position replayed (replicas) or written (master), as a byte offset.
    pub(crate) lsn: AtomicU64,
    pub(crate) lag_bytes: AtomicU64,
    pub(crate) lag_millis: AtomicU64,
    pub(crate) last_error: Mutex<Option<String>>,
    /// An unreachable replica is probed again only after this (ReplicaMonitorIntervalSeconds).
    pub(crate) next_probe: Mutex<Option<Instant>>,
    /// Connections handed to queries (not to the monitor): how reads spread.
    pub(crate) checkouts: AtomicU64,
    /// Microseconds queries waited for a connection of this pool, in total: a pool too small
    /// (MaxOpenConns) or a slow server shows here first.
    pub(crate) checkout_wait_micros: AtomicU64,
    /// Round trip of the monitor's last successful probe query, in microseconds: the query
    /// latency of this source as a trivial query sees it.
    pub(crate) probe_micros: AtomicU64,
}

/// The master's WAL position, and when the query that read it started: every transaction that
/// committed before `started` is at or below `lsn`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MasterSample {
    pub(crate) started: Instant,
    pub(crate) lsn: u64,
}

/// One generation of pools.
pub(crate) struct Sources {
    pub(crate) master: Source,
    pub(crate) replicas: Vec<Source>,
    pub(crate) search_replicas: Vec<Source>,
    next_replica: AtomicUsize,
    next_search_replica: AtomicUsize,
    pub(crate) limits: PoolLimits,
    pub(crate) master_sample: Mutex<Option<MasterSample>>,
}

/// The pool settings of `SqlSettings` in the units the code uses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct PoolLimits {
    pub(crate) max_open: usize,
    pub(crate) max_idle: usize,
    pub(crate) max_lifetime: Option<Duration>,
    pub(crate) max_idle_time: Option<Duration>,
    pub(crate) max_replica_lag: Option<Duration>,
    pub(crate) monitor_interval: Duration,
}

impl PoolLimits {
    fn from_settings(settings: &SqlSettings) -> PoolLimits {
        let positive_millis =
            |millis: i64| (millis > 0).then(|| Duration::from_millis(millis as u64));
        PoolLimits {
            max_open: settings.max_open_conns.max(1) as usize,
            max_idle: settings.max_idle_conns.max(0) as usize,
            max_lifetime: positive_millis(settings.conn_max_lifetime_milliseconds),
            max_idle_time: positive_millis(settings.conn_max_idle_time_milliseconds),
            max_replica_lag: positive_millis(settings.replica_max_lag_seconds.saturating_mul(1000)),
            monitor_interval: Duration::from_secs(
                settings.replica_monitor_interval_seconds.max(1) as u64
            ),
        }
    }
}

/// What a read requires of a replica (see `freshness`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Requirement {
    /// Any replica in rotation will do.
    Any,
    /// The replica must have replayed at least this WAL position.
    ReplayedAtLeast(u64),
    /// Something the read depends on was written so recently that no master position covers
    /// it yet: only the master is sure to have it.
    MasterOnly,
}

impl Sources {
    pub(crate) fn build(settings: &SqlSettings) -> StoreResult<Sources> {
        let limits = PoolLimits::from_settings(settings);
        let master = Source::new(Role::Master, &settings.data_source, settings, limits)?;
        // The master counts as reachable until a probe says otherwise: it answered the
        // migrations a moment ago.
        master.health.reachable.store(true, Ordering::Relaxed);
        master.health.in_rotation.store(true, Ordering::Relaxed);
        let replicas = settings
            .data_source_replicas
            .iter()
            .map(|url| Source::new(Role::Replica, url, settings, limits))
            .collect::<StoreResult<Vec<_>>>()?;
        let search_replicas = settings
            .data_source_search_replicas
            .iter()
            .map(|url| Source::new(Role::SearchReplica, url, settings, limits))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Sources {
            master,
            replicas,
            search_replicas,
            next_replica: AtomicUsize::new(0),
            next_search_replica: AtomicUsize::new(0),
            limits,
            master_sample: Mutex::new(None),
        })
    }

    /// Replicas first, then search replicas: every source the monitor probes besides the master.
    pub(crate) fn all_replicas(&self) -> impl Iterator<Item = &Source> {
        self.replicas.iter().chain(self.search_replicas.iter())
    }

    /// Read replicas that meet `requirement`, starting at the next one in round-robin order.
    pub(crate) fn replica_candidates(&self, requirement: Requirement) -> Vec<&Source> {
        round_robin(&self.replicas, &self.next_replica, requirement)
    }

    /// Search replicas first, then read replicas, each group in round-robin order.
    pub(crate) fn search_candidates(&self, requirement: Requirement) -> Vec<&Source> {
        let mut candidates = round_robin(
            &self.search_replicas,
            &self.next_search_replica,
            requirement,
        );
        candidates.extend(self.replica_candidates(requirement));
        candidates
    }

    /// The lowest position every replica (in rotation or not) has replayed; `None` without
    /// replicas. Freshness entries at or below it no longer constrain anything.
    pub(crate) fn min_replayed(&self) -> Option<u64> {
        self.all_replicas()
            .map(|source| source.health.lsn.load(Ordering::Relaxed))
            .min()
    }
}

fn round_robin<'a>(
    sources: &'a [Source],
    counter: &AtomicUsize,
    requirement: Requirement,
) -> Vec<&'a Source> {
    if sources.is_empty() || requirement == Requirement::MasterOnly {
        return Vec::new();
    }
    let start = counter.fetch_add(1, Ordering::Relaxed);
    (0..sources.len())
        .map(|offset| &sources[(start + offset) % sources.len()])
        .filter(|source| source.serves(requirement))
        .collect()
}

impl Source {
    fn new(
        role: Role,
        url: &str,
        settings: &SqlSettings,
        limits: PoolLimits,
    ) -> StoreResult<Source> {
        let config = parse_data_source(url, role)?;
        Ok(Source {
            role,
            label: label_of(&config),
            pool: build_pool(config, settings, limits)?,
            health: Health::default(),
        })
    }

    pub(crate) async fn checkout(&self) -> StoreResult<deadpool_postgres::Object> {
        let started = Instant::now();
        let connection = self.pool.get().await?;
        self.health.checkouts.fetch_add(1, Ordering::Relaxed);
        self.health
            .checkout_wait_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        Ok(connection)
    }

    fn serves(&self, requirement: Requirement) -> bool {
        if !self.health.in_rotation.load(Ordering::Relaxed) {
            return false;
        }
        match requirement {
            Requirement::Any => true,
            Requirement::ReplayedAtLeast(lsn) => self.health.lsn.load(Ordering::Relaxed) >= lsn,
            Requirement::MasterOnly => false,
        }
    }

    /// Takes the source out of rotation after a failure seen outside the monitor (a failed
    /// checkout); the monitor puts it back once a probe succeeds.
    pub(crate) fn mark_unreachable(&self, error: &str) {
        let was_reachable = self.health.reachable.swap(false, Ordering::Relaxed);
        self.health.in_rotation.store(false, Ordering::Relaxed);
        *self.health.last_error.lock() = Some(error.to_string());
        if was_reachable {
            tracing::warn!(role = ?self.role, source = %self.label, error, "database source unreachable; taken out of rotation");
        }
    }

    /// Drops idle connections that are past ConnMaxIdleTimeMilliseconds or beyond
    /// MaxIdleConns (the newest idle ones are kept).
    pub(crate) fn trim_idle(&self, limits: &PoolLimits) {
        let mut kept = 0usize;
        self.pool.retain(|_, metrics| {
            let fresh = limits
                .max_idle_time
                .is_none_or(|limit| metrics.last_used() < limit);
            let keep = fresh && kept < limits.max_idle;
            if keep {
                kept += 1;
            }
            keep
        });
    }

    /// Closes every idle connection, so the next checkout connects anew (and, with a
    /// multi-host DataSource, picks whichever host takes writes now).
    pub(crate) fn drop_idle(&self) {
        self.pool.retain(|_, _| false);
    }
}

pub(crate) fn parse_data_source(url: &str, role: Role) -> StoreResult<tokio_postgres::Config> {
    let key = match role {
        Role::Master => "SqlSettings.DataSource",
        Role::Replica => "SqlSettings.DataSourceReplicas",
        Role::SearchReplica => "SqlSettings.DataSourceSearchReplicas",
    };
    url.parse::<tokio_postgres::Config>()
        .map_err(|error| StoreError::Unavailable(format!("invalid {key}: {error}")))
}

/// `host:port[,host:port…]/database`, never the user or password.
fn label_of(config: &tokio_postgres::Config) -> String {
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(index, host)| {
            let host = match host {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            };
            let port = ports.get(index).or(ports.first()).copied().unwrap_or(5432);
            format!("{host}:{port}")
        })
        .collect();
    format!("{}/{}", hosts.join(","), config.get_dbname().unwrap_or(""))
}

fn build_pool(
    mut config: tokio_postgres::Config,
    settings: &SqlSettings,
    limits: PoolLimits,
) -> StoreResult<Pool> {
    if settings.query_timeout > 0 {
        // The server cancels a statement that runs too long, so a slow query frees its
        // connection instead of piling up behind it.
        config.options(format!(
            "-c statement_timeout={}",
            settings.query_timeout * 1000
        ));
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    config.application_name("chorus");
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let max_lifetime = limits.max_lifetime;
    let mut pool_config = PoolConfig::new(limits.max_open);
    pool_config.timeouts = Timeouts {
        wait: Some(Duration::from_secs(10)),
        create: Some(Duration::from_secs(5)),
        recycle: Some(Duration::from_secs(5)),
    };
    Pool::builder(manager)
        .config(pool_config)
        .runtime(Runtime::Tokio1)
        // ConnMaxLifetimeMilliseconds: an old connection is closed when it comes back for
        // reuse, and the checkout opens a new one.
        .pre_recycle(deadpool_postgres::Hook::sync_fn(
            move |_, metrics| match max_lifetime {
                Some(limit) if metrics.age() >= limit => Err(HookError::message(
                    "connection reached ConnMaxLifetimeMilliseconds",
                )),
                _ => Ok(()),
            },
        ))
        .build()
        .map_err(|error| StoreError::Unavailable(error.to_string()))
}

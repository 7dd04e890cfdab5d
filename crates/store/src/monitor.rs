//! The database monitor of one node: every 100 ms (once a second without replicas) it samples
//! the master's WAL position and each replica's replay position, takes a replica out of rotation when it cannot be reached or lags
//! more than `ReplicaMaxLagSeconds`, puts it back when healthy, trims idle connections, and
//! notices a master that stopped taking writes. It logs state changes, not every probe.

use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::{Duration, Instant};

use crate::routing::{MasterSample, Role, Source, Sources};
use crate::StoreInner;

/// How often positions are sampled. Reads of a key written less than this ago go to the master.
pub(crate) const SAMPLE_INTERVAL: Duration = Duration::from_millis(100);
/// Without replicas the master is probed every this many samples (once a second).
const MASTER_ONLY_EVERY: u64 = 10;
/// A probe that takes longer counts as a failure (a frozen or unreachable server).
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

pub(crate) async fn run(store: Weak<StoreInner>) {
    let mut ticker = tokio::time::interval(SAMPLE_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tick: u64 = 0;
    loop {
        ticker.tick().await;
        tick += 1;
        let Some(inner) = store.upgrade() else {
            return;
        };
        let sources = inner.sources.load_full();
        drop(inner);
        // Positions matter only to route reads to replicas; without any, the master is probed
        // just often enough to notice it stopped taking writes.
        let has_replicas = sources.all_replicas().next().is_some();
        if has_replicas || tick.is_multiple_of(MASTER_ONLY_EVERY) {
            probe_master(&sources).await;
        }
        let master_lsn = sources.master.health.lsn.load(Ordering::Relaxed);
        for replica in sources.all_replicas() {
            probe_replica(replica, master_lsn, &sources).await;
        }
        if let Some(inner) = store.upgrade() {
            let sample = *sources.master_sample.lock();
            inner.freshness.prune(sample, sources.min_replayed());
        }
        sources.master.trim_idle(&sources.limits);
        for replica in sources.all_replicas() {
            replica.trim_idle(&sources.limits);
        }
    }
}

async fn probe_master(sources: &Sources) {
    let master = &sources.master;
    let started = Instant::now();
    let probe = async {
        let connection = master.pool.get().await?;
        let row = connection
            .query_one(
                "SELECT pg_is_in_recovery(), \
                 CASE WHEN pg_is_in_recovery() THEN 0 \
                      ELSE (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint END",
                &[],
            )
            .await?;
        Ok::<_, crate::StoreError>((row.get::<_, bool>(0), row.get::<_, i64>(1)))
    };
    match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
        Ok(Ok((false, lsn))) => {
            master
                .health
                .probe_micros
                .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
            let lsn = lsn as u64;
            master.health.lsn.store(lsn, Ordering::Relaxed);
            *sources.master_sample.lock() = Some(MasterSample { started, lsn });
            *master.health.last_error.lock() = None;
            master.health.in_recovery.store(false, Ordering::Relaxed);
            if !master.health.reachable.swap(true, Ordering::Relaxed) {
                tracing::info!(source = %master.label, "database master takes writes again");
            }
        }
        Ok(Ok((true, _))) => {
            // Connected to a standby: after a failover the old host may come back read-only.
            // Close idle connections so new ones pick the host that takes writes.
            master.health.in_recovery.store(true, Ordering::Relaxed);
            master_unavailable(master, "the master data source is a read-only standby");
        }
        Ok(Err(error)) => master_unavailable(master, &error.to_string()),
        Err(_) => master_unavailable(master, "probe timed out"),
    }
}

fn master_unavailable(master: &Source, reason: &str) {
    *master.health.last_error.lock() = Some(reason.to_string());
    master.drop_idle();
    if master.health.reachable.swap(false, Ordering::Relaxed) {
        tracing::error!(source = %master.label, error = reason, "database master does not take writes; retrying");
    }
}

async fn probe_replica(replica: &Source, master_lsn: u64, sources: &Sources) {
    let now = Instant::now();
    if let Some(next) = *replica.health.next_probe.lock() {
        if now < next {
            return;
        }
    }
    let probe = async {
        let connection = replica.pool.get().await?;
        let row = connection
            .query_one(
                "SELECT pg_is_in_recovery(), \
                 (COALESCE(pg_last_wal_replay_lsn(), pg_current_wal_lsn()) - '0/0'::pg_lsn)::bigint, \
                 COALESCE((EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) * 1000)::bigint, 0)",
                &[],
            )
            .await?;
        Ok::<_, crate::StoreError>((
            row.get::<_, bool>(0),
            row.get::<_, i64>(1) as u64,
            row.get::<_, i64>(2).max(0) as u64,
        ))
    };
    let outcome = tokio::time::timeout(PROBE_TIMEOUT, probe).await;
    let health = &replica.health;
    match outcome {
        Ok(Ok((in_recovery, replayed, since_last_replay_ms))) => {
            health
                .probe_micros
                .store(now.elapsed().as_micros() as u64, Ordering::Relaxed);
            *health.next_probe.lock() = None;
            health.in_recovery.store(in_recovery, Ordering::Relaxed);
            health.lsn.store(replayed, Ordering::Relaxed);
            let lag_bytes = master_lsn.saturating_sub(replayed);
            // With nothing left to replay the replica is current, however long ago the last
            // transaction was.
            let lag_millis = if lag_bytes == 0 {
                0
            } else {
                since_last_replay_ms
            };
            health.lag_bytes.store(lag_bytes, Ordering::Relaxed);
            health.lag_millis.store(lag_millis, Ordering::Relaxed);
            let too_far_behind = sources
                .limits
                .max_replica_lag
                .is_some_and(|limit| lag_millis > limit.as_millis() as u64);
            let was_reachable = health.reachable.swap(true, Ordering::Relaxed);
            let was_in_rotation = health.in_rotation.swap(!too_far_behind, Ordering::Relaxed);
            *health.last_error.lock() = too_far_behind
                .then(|| format!("replica lags {lag_millis} ms, more than ReplicaMaxLagSeconds"));
            if !was_reachable || was_in_rotation == too_far_behind {
                if too_far_behind {
                    tracing::warn!(role = ?replica.role, source = %replica.label, lag_millis, lag_bytes, "replica lags too far behind; taken out of rotation");
                } else {
                    tracing::info!(role = ?replica.role, source = %replica.label, lag_millis, "replica healthy; in rotation");
                }
            }
        }
        Ok(Err(error)) => replica_unreachable(replica, &error.to_string(), sources),
        Err(_) => replica_unreachable(replica, "probe timed out", sources),
    }
}

fn replica_unreachable(replica: &Source, reason: &str, sources: &Sources) {
    debug_assert_ne!(replica.role, Role::Master);
    replica.mark_unreachable(reason);
    replica.drop_idle();
    *replica.health.next_probe.lock() = Some(Instant::now() + sources.limits.monitor_interval);
}

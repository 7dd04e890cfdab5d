//! Leader lease and job server tests against a real PostgreSQL (one shared throwaway server per
//! test process, a fresh database per test). Each simulated node has its own `Store` (its own
//! pool), as separate processes would.
//!
//! Leader timings printed by `leader::failover_time_with_default_timing` are the figures quoted
//! in reports: `cargo test -p chorus-jobs --test it failover_time -- --nocapture`.

mod jobs;
mod leader;
mod proxy;

use chorus_config::SqlSettings;
use chorus_store::Store;
use chorus_testkit::PgServer;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// A migrated, empty database; returns its settings.
pub async fn fresh_database() -> SqlSettings {
    init_logging();
    let url = tokio::task::spawn_blocking(|| {
        PgServer::shared()
            .create_database()
            .expect("creating a test database")
    })
    .await
    .expect("creating a test database");
    let settings = SqlSettings {
        data_source: url,
        max_open_conns: 10,
        ..SqlSettings::default()
    };
    Store::migrate(&settings).await.expect("migrating");
    settings
}

/// The pools of one simulated node.
pub fn node_store(settings: &SqlSettings) -> Store {
    Store::connect(settings).expect("configuring pools")
}

/// `RUST_LOG=chorus_jobs=debug` shows what the leases and workers do.
fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Polls `check` every 10 ms until it holds; panics naming `what` after `timeout`.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let give_up_at = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        if Instant::now() > give_up_at {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

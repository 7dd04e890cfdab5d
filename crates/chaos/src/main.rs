//! `chorus-chaos`: proves that nothing is lost while faults are injected into a running cluster.
//!
//! It starts a PostgreSQL primary and streaming replica, three `chorus` nodes (each in a network
//! namespace of its own) and NGINX in front of them; simulated users post steadily through NGINX
//! and listen on websockets that reconnect and resume; the faults of `--faults` are injected one
//! after the other; then a checker compares what users were told and received with the
//! database. It prints a report and exits 1 when anything was lost, duplicated or disordered.
//!
//! It owns no server code: it runs the `chorus` binary as processes (chorus-testkit's Sandbox,
//! the launcher of the tests and the benchmark) and drives them from outside, like an operator
//! and users would. It needs root (network namespaces) and everything it starts stops when it
//! ends, also on Ctrl-C. See docs/chaos.md.

mod api;
mod check;
mod db_bridge;
mod faults;
mod journal;
mod net;
mod sandbox;
mod users;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::sync::{mpsc, watch};

use crate::faults::{Fault, Schedule, ALL_FAULTS};
use crate::journal::{ClientLog, Clock, PosterLog};
use crate::sandbox::{Replication, Sandbox};
use crate::users::{Placement, Target};

const NODE_COUNT: usize = 3;
/// Posting before the first fault, so every fault hits a cluster under load.
const WARM_UP: Duration = Duration::from_secs(3);
/// After the posters stop, how long listeners wait for the last events.
const DRAIN: Duration = Duration::from_secs(3);
const LISTENERS_READY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Parser)]
#[command(
    version,
    about = "Chaos suite: faults injected into a Chorus cluster under load; checks nothing is lost",
    // scripts/chaos.sh passes its form's options first; the caller's own come last and win.
    args_override_self = true
)]
struct Args {
    /// Keep injecting faults (cycling through --faults) while less than this many seconds have
    /// passed since the first one; every fault runs at least once.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Comma-separated faults, injected in this order.
    #[arg(long, default_value = ALL_FAULTS)]
    faults: String,
    /// Seed for the choice of nodes to hit (printed, to repeat a run).
    #[arg(long)]
    seed: Option<u64>,
    /// Users; each posts and holds --listeners-per-user websockets.
    #[arg(long, default_value_t = 6)]
    users: usize,
    #[arg(long, default_value_t = 2)]
    listeners_per_user: usize,
    /// Shared channels every user is in.
    #[arg(long, default_value_t = 3)]
    channels: usize,
    /// Posts per second, all posters together.
    #[arg(long, default_value_t = 15.0)]
    rate: f64,
    /// Quiet seconds after each fault is undone.
    #[arg(long, default_value_t = 5)]
    settle: u64,
    /// Print every listener's connection history in the report.
    #[arg(long)]
    timeline: bool,
    /// How PostgreSQL replicates to the standby that `pg-failover` promotes.
    #[arg(long, value_enum, default_value_t = Replication::Synchronous)]
    replication: Replication,
    /// Keep the node logs in this directory (default: a temp directory removed at the end).
    #[arg(long)]
    logs: Option<PathBuf>,
    /// The nodes' log filter (RUST_LOG syntax, e.g. `warn,chorus_realtime=debug`; default: WARN).
    #[arg(long)]
    node_log_filter: Option<String>,
    /// The chorus binary (default: `chorus` next to this program).
    #[arg(long, env = "CHORUS_BIN")]
    chorus_bin: Option<PathBuf>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    let outcome = tokio::select! {
        outcome = run(args) => outcome,
        _ = interrupted() => Err(anyhow::anyhow!("interrupted; everything started was stopped")),
    };
    match outcome {
        Ok(0) => {}
        Ok(_) => std::process::exit(1),
        Err(error) => {
            eprintln!("chorus-chaos: {error:#}");
            std::process::exit(2);
        }
    }
}

async fn interrupted() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

/// Returns the number of failures the checker found.
async fn run(args: Args) -> Result<usize> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("network namespaces need root: run as root (scripts/chaos.sh)");
    }
    let rate_is_positive = args.rate.is_finite() && args.rate > 0.0;
    if !rate_is_positive || args.users == 0 || args.channels == 0 {
        bail!("--rate, --users and --channels must be positive");
    }
    let faults = args
        .faults
        .split(',')
        .map(str::parse)
        .collect::<Result<Vec<Fault>>>()?;
    let seed = args.seed.unwrap_or_else(rand::random);
    let chorus_binary = locate_chorus(args.chorus_bin.as_deref())?;
    println!(
        "chorus-chaos: seed {seed}, faults {}, duration {}s, {} users × {} listeners, {} posts/s in {} channels, {:?} replication",
        args.faults,
        args.duration,
        args.users,
        args.listeners_per_user,
        args.rate,
        args.channels,
        args.replication
    );

    let mut sandbox = Sandbox::start(
        &chorus_binary,
        NODE_COUNT,
        args.replication,
        args.logs.as_deref(),
        args.node_log_filter.as_deref(),
    )
    .await?;
    let workspace = api::create_workspace(
        &sandbox.http,
        &sandbox.nginx().base_url(),
        args.users,
        args.channels,
    )
    .await
    .context("creating users, team and channels")?;
    println!(
        "cluster of {NODE_COUNT} nodes behind NGINX at {} on PostgreSQL {}",
        sandbox.nginx().base_url(),
        sandbox.data_source()
    );

    let clock = Clock::start();
    println!(
        "run time 0.0s = {} ms since the epoch (the node logs' clock)",
        clock.started_epoch_ms()
    );
    let target = Target {
        base_url: sandbox.nginx().base_url(),
        websocket_url: sandbox.nginx().websocket_url(),
        channel_ids: workspace.channel_ids.clone(),
        node_names: sandbox.node_names(),
        clock,
        placement: Placement::default(),
    };
    let (stop_listeners, listeners_stopped) = watch::channel(false);
    let listener_count = workspace.accounts.len() * args.listeners_per_user;
    let (ready, mut listeners_ready) = mpsc::channel(listener_count);
    let mut listeners = Vec::new();
    for account in &workspace.accounts {
        for number in 0..args.listeners_per_user {
            listeners.push(tokio::spawn(users::listen(
                target.clone(),
                account.clone(),
                format!("{}/ws{number}", account.username),
                listeners_stopped.clone(),
                ready.clone(),
            )));
        }
    }
    wait_for_listeners(&mut listeners_ready, listener_count).await?;

    let (stop_posters, posters_stopped) = watch::channel(false);
    let poster_interval = Duration::from_secs_f64(workspace.accounts.len() as f64 / args.rate);
    let mut posters = Vec::new();
    for (index, account) in workspace.accounts.iter().enumerate() {
        let first_delay = poster_interval.mul_f64(index as f64 / workspace.accounts.len() as f64);
        posters.push(tokio::spawn(users::post_steadily(
            target.clone(),
            account.clone(),
            poster_interval,
            first_delay,
            posters_stopped.clone(),
        )));
    }

    tokio::time::sleep(WARM_UP).await;
    let schedule = Schedule {
        faults,
        duration: Duration::from_secs(args.duration),
        settle: Duration::from_secs(args.settle),
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let fault_records = faults::inject(
        &mut sandbox,
        &schedule,
        &clock,
        &mut rng,
        &target.placement,
        &workspace.accounts[0].token,
    )
    .await;

    stop_posters.send_replace(true);
    let mut poster_logs: Vec<PosterLog> = Vec::new();
    for poster in posters {
        poster_logs.push(poster.await.context("a poster task")?);
    }
    tokio::time::sleep(DRAIN).await;
    stop_listeners.send_replace(true);
    let mut client_logs: Vec<ClientLog> = Vec::new();
    for listener in listeners {
        client_logs.push(listener.await.context("a listener task")?);
    }
    let run_length = clock.now();

    let stored = check::load_posts(&sandbox.primary_url(), &workspace.channel_ids).await?;
    let failures = check::check(&check::Evidence {
        posters: &poster_logs,
        clients: &client_logs,
        faults: &fault_records,
        stored: &stored,
        run_length,
        clock: &clock,
        timeline: args.timeline,
    });
    println!(
        "run took {:.0}s; seed {seed}; node logs: {}",
        run_length.as_secs_f64(),
        match &args.logs {
            Some(directory) => directory.display().to_string(),
            None => "removed with the run's temp directory (keep them with --logs DIR)".to_string(),
        }
    );
    Ok(failures)
}

/// Waits until every listener has had its first `hello`, so none misses the first posts.
async fn wait_for_listeners(ready: &mut mpsc::Receiver<()>, count: usize) -> Result<()> {
    let all_ready = async {
        for _ in 0..count {
            ready.recv().await;
        }
    };
    tokio::time::timeout(LISTENERS_READY_TIMEOUT, all_ready)
        .await
        .with_context(|| {
            format!("{count} websockets did not all connect within {LISTENERS_READY_TIMEOUT:?}")
        })
}

/// `explicit` (--chorus-bin / $CHORUS_BIN), else `chorus` next to this program (same target
/// directory and profile).
fn locate_chorus(explicit: Option<&Path>) -> Result<PathBuf> {
    let candidate = match explicit {
        Some(path) => path.to_path_buf(),
        None => std::env::current_exe()
            .context("locating this program")?
            .with_file_name("chorus"),
    };
    if !candidate.is_file() {
        bail!(
            "no chorus binary at {}: build it (cargo build -p chorus) or pass --chorus-bin",
            candidate.display()
        );
    }
    Ok(candidate)
}

//! The `chorus` binary: runs a node (`chorus` or `chorus server`), and the admin commands
//! `chorus version`, `chorus db migrate`, `chorus config validate`.
//!
//! It only wires the crates together: config → store (migrations) → app → HTTP router, and
//! handles signals (SIGTERM/SIGINT drain the node: websockets are told to go away, in-flight
//! requests finish).

use anyhow::Context;
use chorus_app::{App, ClusterRuntime, NodeInfo};
use chorus_cluster::{Cluster, ClusterOptions, Readiness};
use chorus_config::{Config, ConfigStore};
use chorus_jobs::{JobServer, LeaderLease, LeaderOptions};
use chorus_store::Store;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "chorus",
    about = "A Mattermost-compatible, highly available team-chat server"
)]
struct Cli {
    /// Path of config.json (created with defaults when missing).
    #[arg(
        long,
        global = true,
        env = "MM_CONFIG",
        default_value = "./config/config.json"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node (the default).
    Server,
    /// Print the version.
    Version,
    /// Database commands.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Apply pending schema migrations and exit.
    Migrate,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Load and validate the config (file plus MM_* environment overrides) and exit.
    Validate,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(run(cli));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("chorus: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Server) {
        Command::Version => {
            println!(
                "Chorus {} (schema version {})",
                chorus_model::SERVER_VERSION,
                chorus_store::schema_version()
            );
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Validate,
        } => {
            let config_store = load_config(&cli.config)?;
            println!(
                "{}: valid (config hash {})",
                cli.config.display(),
                config_store.config().hash()
            );
            Ok(())
        }
        Command::Db {
            command: DbCommand::Migrate,
        } => {
            let config_store = load_config(&cli.config)?;
            init_logging(config_store.config());
            Store::migrate(&config_store.config().sql_settings)
                .await
                .context("migrating the database")?;
            println!(
                "database schema is at version {}",
                chorus_store::schema_version()
            );
            Ok(())
        }
        Command::Server => serve(&cli.config).await,
    }
}

fn load_config(path: &std::path::Path) -> anyhow::Result<ConfigStore> {
    ConfigStore::load(path).with_context(|| format!("invalid configuration in {}", path.display()))
}

fn init_logging(config: &Config) {
    let level = config.log_settings.console_level.to_lowercase();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{level},tokio_postgres=warn,tower_http=warn"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if config.log_settings.console_json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Migrates (retrying while the master is unreachable, with backoff and one log line per
/// attempt), then serves until SIGTERM or SIGINT.
async fn serve(config_path: &std::path::Path) -> anyhow::Result<()> {
    let config_store = load_config(config_path)?;
    let config = config_store.config().clone();
    init_logging(&config);

    let mut delay = Duration::from_millis(500);
    loop {
        match Store::migrate(&config.sql_settings).await {
            Ok(()) => break,
            Err(chorus_store::StoreError::Unavailable(reason)) => {
                tracing::error!(error = %reason, retry_in_ms = delay.as_millis() as u64, "database master unreachable at start; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
            Err(other) => return Err(other).context("migrating the database"),
        }
    }
    let store = Store::connect(&config.sql_settings).context("configuring database pools")?;
    let hostname = hostname::get()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "localhost".to_string());
    let node = NodeInfo {
        node_id: chorus_model::new_id(),
        hostname,
    };
    let listen_address = config.listen_address();
    let socket = bind_http(&listen_address)
        .await
        .with_context(|| format!("binding ServiceSettings.ListenAddress {listen_address}"))?;
    let local_address = socket.local_addr()?;

    let cluster_settings = config.cluster_settings.clone();
    let config_hash = config.hash();
    let app = App::new(config, Some(config_store), store.clone(), node.clone());
    app.start_health_probe();

    // Clustering: gossip membership and node-to-node messages, then leadership (which runs
    // the job scheduler). A node without clustering still takes the database lease, so a
    // stray second node can never double-schedule jobs.
    let cluster = if cluster_settings.enable {
        let options = ClusterOptions::from_settings(
            &cluster_settings,
            &node.node_id,
            &local_address.to_string(),
            chorus_model::SERVER_VERSION,
            chorus_store::schema_version(),
            &config_hash,
        );
        let cluster = Cluster::start(options, store.clone(), app.cluster_handler())
            .await
            .context("starting cluster membership (ClusterSettings)")?;
        Some(cluster)
    } else {
        None
    };
    let alive_nodes: chorus_jobs::AliveNodes = match &cluster {
        Some(cluster) => {
            let cluster = cluster.clone();
            Arc::new(move || cluster.alive_node_ids())
        }
        None => {
            let own_id = node.node_id.clone();
            Arc::new(move || vec![own_id.clone()])
        }
    };
    let lease_name = if cluster_settings.cluster_name.trim().is_empty() {
        "chorus".to_string()
    } else {
        format!("cluster:{}", cluster_settings.cluster_name.trim())
    };
    let lease = LeaderLease::start(
        store.clone(),
        node.node_id.clone(),
        LeaderOptions {
            lease_name,
            ..Default::default()
        },
        alive_nodes,
    );
    if let Some(cluster) = &cluster {
        app.attach_cluster(ClusterRuntime {
            cluster: cluster.clone(),
            lease: lease.clone(),
            cluster_name: cluster_settings.cluster_name.trim().to_string(),
        });
    }
    let config_app = app.clone();
    let jobs = JobServer::start(
        store.clone(),
        Arc::new(move || config_app.config()),
        node.node_id.clone(),
        lease.clone(),
    );

    // A node that served before its links to every peer are up would publish events that
    // miss those peers' clients, and miss theirs. Until then its port refuses connections, so
    // balancers and clients go to another node.
    if let Some(cluster) = &cluster {
        cluster.wait_until_linked(CLUSTER_LINK_WAIT).await;
    }
    let listener = socket
        .listen(HTTP_BACKLOG)
        .with_context(|| format!("listening on {local_address}"))?;
    let router = chorus_api::router(app.clone());
    tracing::info!(address = %local_address, node_id = %node.node_id, version = chorus_model::SERVER_VERSION, clustered = cluster.is_some(), "chorus node serving");
    println!("chorus listening on http://{local_address}");

    let draining_app = app.clone();
    let draining_cluster = cluster.clone();
    // Peer addresses: the rate limiter keys on them (chorus_api::router's doc).
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        // Drain: ping answers 503 at once and gossip says "draining", websockets get a
        // close frame (clients reconnect through the balancer to another node) and no new
        // ones are accepted; axum then stops accepting connections and lets in-flight
        // requests finish.
        tracing::info!("draining: ping 503, closing websockets, finishing in-flight requests");
        draining_app.start_draining();
        if let Some(cluster) = &draining_cluster {
            cluster.set_readiness(Readiness::Draining);
        }
        draining_app.hub().shutdown();
        // Keep serving a moment with `Connection: close` on every answer, so the balancer
        // drops its idle connections to this node and sends new requests elsewhere before
        // the listener closes: a POST on a connection closed under it is not retried.
        tokio::time::sleep(DRAIN_GRACE).await;
    })
    .await
    .context("serving HTTP")?;
    // The websockets closed by the drain park here; their clients reconnect to other nodes,
    // which ask this one for them. Stay until they have; after that they resume from the
    // database, except those missing an event the database cannot give, which resync.
    if cluster.is_some() {
        wait_for_parked_websockets(&app, DRAIN_RESUME_WAIT).await;
        app.hub().end_parked_that_cannot_be_rebuilt();
    }
    // Hand jobs and leadership over at once instead of letting others wait for the lease to
    // expire, then leave gossip and delete this node's discovery row.
    jobs.shutdown().await;
    lease.step_down().await;
    if let Some(cluster) = &cluster {
        cluster.shutdown().await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// How long a draining node keeps answering (with `Connection: close`) before it stops
/// accepting connections.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How long a starting node waits for its links to every live peer before serving anyway.
const CLUSTER_LINK_WAIT: Duration = Duration::from_secs(10);

/// How long a draining node waits for the clients of its websockets to resume elsewhere.
const DRAIN_RESUME_WAIT: Duration = Duration::from_secs(5);

const HTTP_BACKLOG: u32 = 1024;

/// Binds the HTTP port without listening yet: until the node listens, connections to the
/// port are refused rather than left waiting.
async fn bind_http(listen_address: &str) -> anyhow::Result<tokio::net::TcpSocket> {
    let address = tokio::net::lookup_host(listen_address)
        .await?
        .next()
        .context("no address")?;
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    Ok(socket)
}

async fn wait_for_parked_websockets(app: &App, limit: Duration) {
    let started = tokio::time::Instant::now();
    while app.hub().parked_connection_count() > 0 && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracing::info!(
        left = app.hub().parked_connection_count(),
        "websockets of this node resumed elsewhere"
    );
}

async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

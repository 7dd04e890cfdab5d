//! A Chorus node: the start and drain sequence, the one way to run a node. The `chorus` binary
//! calls [`Node::start`] and, on SIGTERM/SIGINT, [`Node::drain`]; the test sandbox
//! (chorus-testkit) calls the same two in-process, or runs the binary.
//!
//! Start: migrate (retrying while the master is unreachable), open the pools, build the app,
//! join the cluster (gossip, links to peers), take part in leadership and run the job server,
//! wait until linked with every live peer, and only then listen. Drain: ping answers 503 and
//! gossip says "draining", websockets are closed (clients reconnect elsewhere), the node keeps
//! answering with `Connection: close` for [`DRAIN_GRACE`], waits for its parked websockets to
//! be taken over by other nodes, then hands jobs and leadership over and leaves the cluster.
//!
//! It only wires the crates together; it knows no route, no SQL and no cluster message.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chorus_app::{App, ClusterRuntime, NodeInfo};
use chorus_cluster::{Cluster, ClusterOptions, Readiness};
use chorus_config::{Config, ConfigStore};
use chorus_jobs::{JobServer, LeaderLease, LeaderOptions};
use chorus_store::Store;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

mod http;
mod limits;
pub mod logging;
mod metrics;

pub use http::HttpLimits;
pub use limits::{raise_open_file_limit, OpenFileLimit};

/// How long a draining node keeps answering (with `Connection: close`) before it stops
/// accepting connections.
pub const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How long a starting node waits for its links to every live peer before serving anyway.
const CLUSTER_LINK_WAIT: Duration = Duration::from_secs(10);

/// How long a draining node waits for the clients of its websockets to resume elsewhere.
const DRAIN_RESUME_WAIT: Duration = Duration::from_secs(5);

const HTTP_BACKLOG: u32 = 1024;

/// Where a node's configuration comes from.
pub enum NodeConfig {
    /// config.json or the database's `configurations`, with the `MM_*` environment on top:
    /// PUT /config and reload work.
    File(ConfigStore),
    /// A config built in memory (tests): PUT /config and reload are refused.
    InMemory(Config),
}

impl NodeConfig {
    pub fn config(&self) -> &Config {
        match self {
            NodeConfig::File(store) => store.config(),
            NodeConfig::InMemory(config) => config,
        }
    }
}

impl From<ConfigStore> for NodeConfig {
    fn from(store: ConfigStore) -> NodeConfig {
        NodeConfig::File(store)
    }
}

impl From<Config> for NodeConfig {
    fn from(config: Config) -> NodeConfig {
        NodeConfig::InMemory(config)
    }
}

/// What a node takes besides its configuration.
#[derive(Clone, Debug, Default)]
pub struct NodeOptions {
    /// The hostname the node reports (websocket `hello`, cluster status); the machine's when
    /// None. Lets several in-process nodes tell themselves apart.
    pub hostname: Option<String>,
}

/// A serving node. [`Node::drain`] stops it gracefully; dropping it instead stops serving at
/// once, like a crash inside this process (its background tasks end with the runtime).
pub struct Node {
    app: App,
    address: SocketAddr,
    /// Where Prometheus scrapes this node, when MetricsSettings.Enable.
    metrics_address: Option<SocketAddr>,
    metrics_server: Option<JoinHandle<()>>,
    cluster: Option<Cluster>,
    lease: LeaderLease,
    jobs: JobServer,
    /// The outbox worker (outgoing webhook deliveries).
    outbox: JoinHandle<()>,
    start_drain: Option<oneshot::Sender<()>>,
    http: Option<JoinHandle<std::io::Result<()>>>,
}

impl Node {
    /// Runs the start sequence; returns once the node listens.
    pub async fn start(
        config: impl Into<NodeConfig>,
        options: NodeOptions,
    ) -> anyhow::Result<Node> {
        let config_source = config.into();
        let config = config_source.config().clone();
        match raise_open_file_limit() {
            Ok(limit) => tracing::info!(
                soft = limit.soft,
                hard = limit.hard,
                soft_before = limit.soft_before,
                "open file limit (RLIMIT_NOFILE)"
            ),
            Err(error) => {
                tracing::warn!(error = %error, "could not raise the open file limit (RLIMIT_NOFILE)")
            }
        }
        migrate_with_retry(&config).await?;
        let store = Store::connect(&config.sql_settings).context("configuring database pools")?;
        let hostname = options.hostname.unwrap_or_else(|| {
            hostname::get()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "localhost".to_string())
        });
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
        let config_store = match config_source {
            NodeConfig::File(store) => Some(store),
            NodeConfig::InMemory(_) => None,
        };
        let app = App::new(config, config_store, store.clone(), node.clone());
        app.start_health_probe();
        app.start_config_watch();
        // Log levels follow the config on every node, without a restart.
        app.on_config_change(Box::new(|config| logging::apply(&config.log_settings)));
        // Bound before the cluster starts, so a taken port fails the start with nothing to undo.
        let (metrics_address, metrics_server) = if app.config().metrics_settings.enable {
            let metrics_listen_address = app.config().metrics_listen_address();
            let (address, server) = metrics::serve(&metrics_listen_address, app.metrics().clone())
                .await
                .with_context(|| {
                    format!("binding MetricsSettings.ListenAddress {metrics_listen_address}")
                })?;
            tracing::info!(address = %address, "metrics (Prometheus) serving at /metrics");
            (Some(address), Some(server))
        } else {
            (None, None)
        };

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
        app.metrics()
            .add_sampler(metrics::jobs_and_leadership(jobs.clone(), lease.clone()));
        // Outgoing webhook deliveries: any node's worker may make any post's (the outbox).
        let outbox = app.start_outbox_worker();

        // A node that served before its links to every peer are up would publish events that
        // miss those peers' clients, and miss theirs. Until then its port refuses connections,
        // so balancers and clients go to another node.
        if let Some(cluster) = &cluster {
            cluster.wait_until_linked(CLUSTER_LINK_WAIT).await;
        }
        let listener = socket
            .listen(HTTP_BACKLOG)
            .with_context(|| format!("listening on {local_address}"))?;
        let router = chorus_api::router(app.clone());
        let http_limits = HttpLimits::from_settings(&app.config().service_settings);
        tracing::info!(address = %local_address, node_id = %node.node_id, version = chorus_model::SERVER_VERSION, clustered = cluster.is_some(), "chorus node serving");

        let (start_drain, drain_started) = oneshot::channel::<()>();
        let draining_app = app.clone();
        let draining_cluster = cluster.clone();
        let http = tokio::spawn(async move {
            http::serve(listener, router, http_limits, async move {
                // A dropped sender (the Node dropped without a drain) ends nothing here:
                // the task is aborted instead.
                if drain_started.await.is_err() {
                    std::future::pending::<()>().await;
                }
                // Drain: ping answers 503 at once and gossip says "draining", websockets
                // get a close frame (clients reconnect through the balancer to another
                // node) and no new ones are accepted; the server then stops accepting
                // connections and lets in-flight requests finish.
                tracing::info!(
                    "draining: ping 503, closing websockets, finishing in-flight requests"
                );
                draining_app.start_draining();
                if let Some(cluster) = &draining_cluster {
                    cluster.set_readiness(Readiness::Draining);
                }
                draining_app.hub().shutdown();
                // Keep serving a moment with `Connection: close` on every answer, so the
                // balancer drops its idle connections to this node and sends new requests
                // elsewhere before the listener closes: a POST on a connection closed
                // under it is not retried.
                tokio::time::sleep(DRAIN_GRACE).await;
            })
            .await
        });
        Ok(Node {
            app,
            address: local_address,
            metrics_address,
            metrics_server,
            cluster,
            lease,
            jobs,
            outbox,
            start_drain: Some(start_drain),
            http: Some(http),
        })
    }

    /// The address the node listens on (the port chosen when ListenAddress asked for 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Where the node serves `/metrics`, when MetricsSettings.Enable.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics_address
    }

    pub fn node_id(&self) -> &str {
        &self.app.node().node_id
    }

    /// The node's app, for tests that look inside a node of their own process.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// The drain sequence; returns once the node has stopped.
    pub async fn drain(mut self) -> anyhow::Result<()> {
        if let Some(start_drain) = self.start_drain.take() {
            let _ = start_drain.send(());
        }
        if let Some(http) = self.http.take() {
            http.await
                .context("the HTTP server task")?
                .context("serving HTTP")?;
        }
        // The websockets closed by the drain park here; their clients reconnect to other
        // nodes, which ask this one for them. Stay until they have; after that they resume
        // from the database, except those missing an event the database cannot give, which
        // resync.
        if self.cluster.is_some() {
            wait_for_parked_websockets(&self.app, DRAIN_RESUME_WAIT).await;
            self.app.hub().end_parked_that_cannot_be_rebuilt();
        }
        // Hand jobs and leadership over at once instead of letting others wait for the lease
        // to expire, then leave gossip and delete this node's discovery row.
        // Deliveries in flight are left to their leases: another node takes them over.
        self.outbox.abort();
        self.jobs.shutdown().await;
        self.lease.step_down().await;
        if let Some(cluster) = &self.cluster {
            cluster.shutdown().await;
        }
        if let Some(metrics_server) = self.metrics_server.take() {
            metrics_server.abort();
        }
        tracing::info!("stopped");
        Ok(())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(metrics_server) = self.metrics_server.take() {
            metrics_server.abort();
        }
        if let Some(http) = self.http.take() {
            self.app.hub().shutdown();
            http.abort();
        }
    }
}

/// Migrates, retrying while the master is unreachable (with backoff and one log line per
/// attempt): nodes may start before the database does.
async fn migrate_with_retry(config: &Config) -> anyhow::Result<()> {
    let mut delay = Duration::from_millis(500);
    loop {
        match Store::migrate(&config.sql_settings).await {
            Ok(()) => return Ok(()),
            Err(chorus_store::StoreError::Unavailable(reason)) => {
                tracing::error!(error = %reason, retry_in_ms = delay.as_millis() as u64, "database master unreachable at start; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
            Err(other) => return Err(other).context("migrating the database"),
        }
    }
}

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

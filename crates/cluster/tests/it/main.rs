//! Cluster tests: several `Cluster`s in one process, on distinct 127.0.0.1 ports, sharing one
//! throwaway PostgreSQL database (one per test).

mod discovery;
mod membership;
mod messages;
mod security;

use chorus_cluster::{Cluster, ClusterMessage, ClusterOptions, MembershipEvent, MessageHandler};
use chorus_config::SqlSettings;
use chorus_store::Store;
use chorus_testkit::PgServer;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A migrated, empty database of its own.
pub async fn fresh_store() -> Store {
    init_tracing();
    let url = PgServer::shared()
        .create_database()
        .expect("create database");
    let settings = SqlSettings {
        data_source: url,
        ..SqlSettings::default()
    };
    Store::migrate(&settings).await.expect("migrate");
    Store::connect(&settings).expect("pools")
}

/// A port free on 127.0.0.1 for both UDP and TCP a moment ago.
pub fn free_gossip_port() -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind tcp");
        let port = tcp.local_addr().expect("address").port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub fn options(cluster_name: &str) -> ClusterOptions {
    let port = free_gossip_port();
    ClusterOptions {
        cluster_name: cluster_name.to_string(),
        node_id: chorus_model::new_id(),
        hostname: "127.0.0.1".to_string(),
        bind_address: "127.0.0.1".to_string(),
        gossip_port: port,
        api_address: format!("127.0.0.1:{}", port + 1),
        version: "10.5.0".to_string(),
        schema_version: 3,
        config_hash: "hash-1".to_string(),
        discovery_ping_interval: Duration::from_millis(500),
        ..ClusterOptions::default()
    }
}

/// Records every message a node receives.
#[derive(Default)]
pub struct Recorder {
    messages: Mutex<Vec<(String, ClusterMessage)>>,
    /// Senders that reported lost messages, once per gap.
    losses: Mutex<Vec<String>>,
}

impl MessageHandler for Recorder {
    fn handle(&self, from_node: &str, message: ClusterMessage) {
        self.messages
            .lock()
            .unwrap()
            .push((from_node.to_string(), message));
    }

    fn messages_lost(&self, from_node: &str) {
        self.losses.lock().unwrap().push(from_node.to_string());
    }
}

impl Recorder {
    pub fn messages(&self) -> Vec<(String, ClusterMessage)> {
        self.messages.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.messages.lock().unwrap().len()
    }

    pub fn losses(&self) -> Vec<String> {
        self.losses.lock().unwrap().clone()
    }
}

pub struct Node {
    pub cluster: Cluster,
    pub received: Arc<Recorder>,
}

impl Node {
    pub fn id(&self) -> String {
        self.cluster.node_id().to_string()
    }
}

pub async fn start_node(store: &Store, options: ClusterOptions) -> Node {
    let received = Arc::new(Recorder::default());
    let cluster = Cluster::start(options, store.clone(), received.clone())
        .await
        .expect("cluster starts");
    Node { cluster, received }
}

/// Starts a node, retrying for a while when its port is still held by a node that was just
/// stopped.
pub async fn start_node_retrying(store: &Store, options: ClusterOptions) -> Node {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let received = Arc::new(Recorder::default());
        match Cluster::start(options.clone(), store.clone(), received.clone()).await {
            Ok(cluster) => return Node { cluster, received },
            Err(error) if Instant::now() < deadline => {
                eprintln!("retrying start: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("cluster does not start: {error}"),
        }
    }
}

/// Starts `count` nodes of one cluster and waits until each sees all of them alive.
pub async fn start_cluster(store: &Store, cluster_name: &str, count: usize) -> Vec<Node> {
    let mut nodes = Vec::new();
    for _ in 0..count {
        nodes.push(start_node(store, options(cluster_name)).await);
    }
    wait_for_convergence(&nodes, count).await;
    nodes
}

pub async fn wait_for_convergence(nodes: &[Node], expected_alive: usize) {
    let converged = wait_until(Duration::from_secs(15), || {
        nodes
            .iter()
            .all(|node| node.cluster.alive_node_ids().len() == expected_alive)
    })
    .await;
    let views: Vec<Vec<String>> = nodes
        .iter()
        .map(|node| node.cluster.alive_node_ids())
        .collect();
    assert!(converged, "membership did not converge: {views:?}");
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
pub async fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The first event matching `predicate` within `timeout`, with when it arrived.
pub async fn next_event(
    events: &mut broadcast::Receiver<MembershipEvent>,
    timeout: Duration,
    mut predicate: impl FnMut(&MembershipEvent) -> bool,
) -> Option<(MembershipEvent, Instant)> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Err(_) => return None,
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
            Ok(Err(broadcast::error::RecvError::Closed)) => return None,
            Ok(Ok(event)) => {
                if predicate(&event) {
                    return Some((event, Instant::now()));
                }
            }
        }
    }
}

pub fn is_down(event: &MembershipEvent, node_id: &str) -> bool {
    matches!(event, MembershipEvent::Down(member) if member.node_id == node_id)
}

//! The cluster: which nodes exist and are alive, and messages between them.
//!
//! Owns membership and failure detection (chitchat gossip over UDP, `membership`), discovery
//! through the `clusterdiscovery` table (`discovery`), the cluster key (`key`), and
//! node-to-node messages over TCP streams (`links` send, `inbound` receives, `wire` is the
//! only place that knows the format). Gossip and streams share one port number
//! (`ClusterSettings.GossipPort`, UDP and TCP), and both are encrypted and authenticated with
//! keys derived from the cluster key, which lives in the database.
//!
//! Deliberately not here: what messages mean (the app registers a [`MessageHandler`] and
//! decides what to publish), leadership and jobs (`chorus-jobs`, arbitrated by the database),
//! and SQL (`chorus-store`).

mod discovery;
mod error;
mod faults;
mod inbound;
mod key;
mod links;
mod membership;
mod message;
mod options;
mod stats;
mod transport;
mod wire;

pub use error::ClusterError;
pub use faults::FaultInjector;
pub use key::{load_or_create_cluster_key, ClusterKey};
pub use links::PeerQueue;
pub use membership::{MemberInfo, MembershipEvent};
pub use message::{
    ClusterMessage, ConnectionCheckpoint, ConnectionRecord, HandedOverEvent, MessageHandler,
    ResumeAnswer,
};
pub use options::{advertise_host, bind_address, ClusterOptions, Readiness};
pub use stats::ClusterStats;
pub use transport::GossipTransport;

use chitchat::{spawn_chitchat, ChitchatConfig, ChitchatHandle, ChitchatId, FailureDetectorConfig};
use chorus_store::cluster::{DiscoveryRow, DISCOVERY_TYPE_APP};
use chorus_store::Store;
use discovery::Discovery;
use faults::FaultState;
use inbound::Inbound;
use links::{LinkContext, Links};
use membership::MembershipView;
use parking_lot::{Mutex, RwLock};
use stats::Stats;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use wire::StreamSecrets;

/// Capacity of the membership event channel; a subscriber that lags loses the oldest events
/// (and can resynchronise with [`Cluster::members`]).
const MEMBERSHIP_EVENT_CAPACITY: usize = 1024;
/// How long a clean stop waits for queued reliable messages to be acknowledged.
const SHUTDOWN_FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

/// A running cluster member. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    options: ClusterOptions,
    gossip_address: SocketAddr,
    chitchat: Arc<ChitchatHandle>,
    view: Arc<RwLock<MembershipView>>,
    events: broadcast::Sender<MembershipEvent>,
    links: Arc<Links>,
    inbound: Arc<Inbound>,
    /// Peers listed in the discovery table when this node started.
    discovered: Vec<String>,
    self_updates: mpsc::UnboundedSender<(&'static str, String)>,
    discovery: Arc<Discovery>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    faults: Arc<FaultState>,
    stats: Arc<Stats>,
    secrets: StreamSecrets,
    stopped: AtomicBool,
}

impl Drop for Inner {
    /// The last handle going away without [`Cluster::shutdown`] stops everything at once, as a
    /// crash would: peers see this node go down.
    fn drop(&mut self) {
        let _ = self.stop_tasks();
    }
}

impl Inner {
    /// Aborts every task; returns them so a caller can wait until their sockets are closed.
    fn stop_tasks(&self) -> Vec<JoinHandle<()>> {
        let tasks: Vec<JoinHandle<()>> = self.tasks.lock().drain(..).collect();
        for task in &tasks {
            task.abort();
        }
        self.links.stop_all();
        self.chitchat.abort();
        tasks
    }
}

impl Cluster {
    /// Joins the cluster.
    ///
    /// Loads or creates (race-free, once per database) the cluster key, binds the stream
    /// listener (TCP) and gossip (UDP) on `bind_address:gossip_port`, starts gossip with the
    /// peers of the same cluster name found in the discovery table, registers this node there,
    /// and starts the discovery ping/cleanup loop. Returns once this node listens; peers appear
    /// in [`Cluster::members`] within a few gossip rounds.
    pub async fn start(
        options: ClusterOptions,
        store: Store,
        handler: Arc<dyn MessageHandler>,
    ) -> Result<Cluster, ClusterError> {
        validate(&options)?;
        let key = load_or_create_cluster_key(&store).await?;

        let advertise_ip = discovery::resolve(&options.hostname, options.gossip_port)
            .await
            .map(|address| address.ip())
            .ok_or_else(|| ClusterError::Resolve {
                host: options.hostname.clone(),
                detail: "no address".to_string(),
            })?;
        let gossip_address = SocketAddr::new(advertise_ip, options.gossip_port);
        let bind_ip: IpAddr = match options.bind_address.parse() {
            Ok(ip) => ip,
            Err(_) => discovery::resolve(&options.bind_address, options.gossip_port)
                .await
                .map(|address| address.ip())
                .ok_or_else(|| ClusterError::Resolve {
                    host: options.bind_address.clone(),
                    detail: "not an address".to_string(),
                })?,
        };
        let listen_address = SocketAddr::new(bind_ip, options.gossip_port);
        let listener = tokio::net::TcpListener::bind(listen_address)
            .await
            .map_err(|source| ClusterError::Bind {
                address: format!("{listen_address}/tcp"),
                source,
            })?;

        let discovery = Arc::new(Discovery {
            store: store.clone(),
            row: DiscoveryRow {
                id: options.node_id.clone(),
                kind: DISCOVERY_TYPE_APP.to_string(),
                cluster_name: options.cluster_name.clone(),
                hostname: options.hostname.clone(),
                gossip_port: i32::from(options.gossip_port),
                port: i32::from(options.gossip_port),
                create_at: 0,
                last_ping_at: 0,
            },
            ping_interval: options.discovery_ping_interval,
            stale_after: options.discovery_stale_after,
        });
        let discovered = discovery.peers().await?;

        let stats = Arc::new(Stats::default());
        let faults = Arc::new(FaultState::new());
        let gossip_key = options.enable_gossip_encryption.then_some(&key);
        let transport = GossipTransport::with_hooks(
            gossip_key,
            &options.cluster_name,
            options.enable_gossip_compression,
            stats.clone(),
            faults.clone(),
        );
        let chitchat_id = ChitchatId::new(
            options.node_id.clone(),
            chorus_model::now_millis().max(0) as u64,
            gossip_address,
        );
        let chitchat_config = ChitchatConfig {
            chitchat_id: chitchat_id.clone(),
            cluster_id: options.cluster_name.clone(),
            gossip_interval: options.gossip_interval,
            listen_addr: listen_address,
            seed_nodes: discovered
                .iter()
                .map(|(_, address)| address.to_string())
                .chain(options.static_seeds.iter().cloned())
                .collect(),
            failure_detector_config: chitchat_failure_detector(&options),
            marked_for_deletion_grace_period: Duration::from_secs(3600),
            catchup_callback: None,
            extra_liveness_predicate: None,
        };
        let self_info = MemberInfo {
            node_id: options.node_id.clone(),
            hostname: options.hostname.clone(),
            ip: advertise_ip.to_string(),
            gossip_address: gossip_address.to_string(),
            api_address: options.api_address.clone(),
            version: options.version.clone(),
            schema_version: options.schema_version,
            config_hash: options.config_hash.clone(),
            readiness: Readiness::Serving,
            alive: true,
            last_seen_at: chorus_model::now_millis(),
            is_self: true,
        };
        let initial_state = vec![
            (
                membership::KEY_NODE_ID.to_string(),
                self_info.node_id.clone(),
            ),
            (
                membership::KEY_VERSION.to_string(),
                self_info.version.clone(),
            ),
            (
                membership::KEY_SCHEMA_VERSION.to_string(),
                self_info.schema_version.to_string(),
            ),
            (
                membership::KEY_CONFIG_HASH.to_string(),
                self_info.config_hash.clone(),
            ),
            (
                membership::KEY_API_ADDRESS.to_string(),
                self_info.api_address.clone(),
            ),
            (
                membership::KEY_HOSTNAME.to_string(),
                self_info.hostname.clone(),
            ),
            (membership::KEY_IP.to_string(), self_info.ip.clone()),
            (
                membership::KEY_READINESS.to_string(),
                Readiness::Serving.as_str().to_string(),
            ),
        ];
        let chitchat = spawn_chitchat(chitchat_config, initial_state, &transport)
            .await
            .map_err(|error| ClusterError::Gossip(format!("{error:#}")))?;
        let chitchat = Arc::new(chitchat);

        if let Err(error) = discovery.register().await {
            chitchat.abort();
            return Err(error.into());
        }

        let secrets =
            StreamSecrets::new(key.stream_psk(&options.cluster_name), &options.cluster_name);
        let links = Arc::new(Links::new(Arc::new(LinkContext {
            self_node_id: options.node_id.clone(),
            secrets: secrets.clone(),
            max_queued: options.max_queued_messages_per_peer.max(1),
            stats: stats.clone(),
            faults: faults.clone(),
        })));
        let inbound = Arc::new(Inbound::new(
            options.node_id.clone(),
            secrets.clone(),
            handler,
            stats.clone(),
            faults.clone(),
        ));
        let update_interval = (options.gossip_interval / 4)
            .clamp(Duration::from_millis(10), Duration::from_millis(50));
        let view = Arc::new(RwLock::new(MembershipView::new(
            self_info,
            chitchat_id,
            options.failure_timeout,
            options.gossip_interval,
            options.dead_node_grace_period,
            update_interval,
        )));
        let (events, _) = broadcast::channel(MEMBERSHIP_EVENT_CAPACITY);
        let (self_updates, self_update_receiver) = mpsc::unbounded_channel();

        let tasks = vec![
            tokio::spawn(run_view(ViewTask {
                chitchat: chitchat.clone(),
                view: view.clone(),
                links: links.clone(),
                inbound: inbound.clone(),
                events: events.clone(),
                self_updates: self_update_receiver,
                interval: update_interval,
                stats: stats.clone(),
            })),
            tokio::spawn(inbound::run_listener(listener, inbound.clone())),
            tokio::spawn(discovery::run(discovery.clone(), chitchat.clone())),
        ];
        tracing::info!(
            node_id = %options.node_id,
            cluster_name = %options.cluster_name,
            gossip_address = %gossip_address,
            seeds = discovered.len(),
            encrypted_gossip = options.enable_gossip_encryption,
            "joined the cluster"
        );
        Ok(Cluster {
            inner: Arc::new(Inner {
                options,
                gossip_address,
                chitchat,
                view,
                events,
                links,
                inbound,
                discovered: discovered.into_iter().map(|(node_id, _)| node_id).collect(),
                self_updates,
                discovery,
                tasks: Mutex::new(tasks),
                faults,
                stats,
                secrets,
                stopped: AtomicBool::new(false),
            }),
        })
    }

    pub fn node_id(&self) -> &str {
        &self.inner.options.node_id
    }

    pub fn options(&self) -> &ClusterOptions {
        &self.inner.options
    }

    /// Where this node's gossip and streams are reached (`ip:port`).
    pub fn gossip_address(&self) -> SocketAddr {
        self.inner.gossip_address
    }

    /// Every node known, this one first: alive ones and those down for less than the grace
    /// period (`alive: false`). Nodes that left cleanly are not listed.
    pub fn members(&self) -> Vec<MemberInfo> {
        self.inner.view.read().members()
    }

    pub fn member(&self, node_id: &str) -> Option<MemberInfo> {
        self.inner.view.read().member(node_id)
    }

    /// Ids of the nodes alive now, this one included.
    pub fn alive_node_ids(&self) -> Vec<String> {
        self.members()
            .into_iter()
            .filter(|member| member.alive)
            .map(|member| member.node_id)
            .collect()
    }

    /// How long this node has had no open stream to the peer (`None` while it has one). A
    /// killed node's streams close at once (its kernel resets them), long before gossip
    /// declares it dead.
    pub fn unlinked_for(&self, node_id: &str) -> Option<Duration> {
        self.inner.links.unlinked_for(node_id)
    }

    /// Waits until messages flow both ways between this node and every live peer: each node
    /// alive in gossip has a connected stream from here and an open one to here (so it has a
    /// link to this node). Until then a message sent "to every peer" would miss some, so a
    /// node must not serve before. Peers of the discovery table not seen alive yet are waited
    /// for up to `failure_timeout` (a killed node's row outlives it). Gives up after `limit`
    /// (a peer cut off from this one); returns whether every link is up.
    pub async fn wait_until_linked(&self, limit: Duration) -> bool {
        let started = tokio::time::Instant::now();
        loop {
            let waited = started.elapsed();
            if self.linked_with_every_peer(waited) {
                tracing::info!(
                    waited_ms = waited.as_millis() as u64,
                    "linked with every live peer"
                );
                return true;
            }
            if waited >= limit {
                tracing::warn!(
                    waited_ms = waited.as_millis() as u64,
                    "not linked with every live peer in time, serving anyway"
                );
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn linked_with_every_peer(&self, waited: Duration) -> bool {
        let inner = &self.inner;
        let alive_peers: Vec<String> = self
            .members()
            .into_iter()
            .filter(|member| !member.is_self && member.alive)
            .map(|member| member.node_id)
            .collect();
        let discovered_not_seen = inner
            .discovered
            .iter()
            .any(|node_id| !alive_peers.contains(node_id));
        if discovered_not_seen && waited < inner.options.failure_timeout {
            return false;
        }
        alive_peers.iter().all(|node_id| {
            inner.links.is_connected(node_id) && inner.inbound.has_stream_from(node_id)
        })
    }

    /// Publishes this node's readiness in gossip.
    pub fn set_readiness(&self, readiness: Readiness) {
        self.inner.view.write().self_info.readiness = readiness;
        let _ = self
            .inner
            .self_updates
            .send((membership::KEY_READINESS, readiness.as_str().to_string()));
    }

    /// Publishes this node's config hash in gossip (after a config reload).
    pub fn set_config_hash(&self, hash: &str) {
        self.inner.view.write().self_info.config_hash = hash.to_string();
        let _ = self
            .inner
            .self_updates
            .send((membership::KEY_CONFIG_HASH, hash.to_string()));
    }

    /// Sends to every peer: acknowledged, retried, in order per sender, delivered exactly
    /// once, surviving a broken connection (unacknowledged messages are resent on the next
    /// one). Peers that are down keep their queue for `dead_node_grace_period`. A message
    /// dropped all the same (queue full, peer forgotten) leaves a gap in the numbering that
    /// the receiver reports to its handler (`MessageHandler::messages_lost`).
    pub fn send_reliable(&self, message: ClusterMessage) {
        self.inner.links.send_reliable(None, encode(&message));
    }

    /// [`Cluster::send_reliable`] to one node. Dropped (debug log) if the node is not known.
    pub fn send_reliable_to(&self, node_id: &str, message: ClusterMessage) {
        self.inner
            .links
            .send_reliable(Some(node_id), encode(&message));
    }

    /// Fire and forget to every connected peer, on the same streams (so in order with the
    /// reliable messages sent before it). Dropped for a peer that is not connected, when its
    /// buffer is full, or when its connection breaks.
    /// [`Cluster::send_reliable`] (or best effort, `reliable` false) of one message in two
    /// forms: `full` to the peers `wants_full` picks, `short` (if any) to the others. `full`
    /// is built and each form encoded only if some peer gets it; `full` None sends nothing
    /// to those peers.
    pub fn send_choosing(
        &self,
        reliable: bool,
        full: impl FnOnce() -> Option<ClusterMessage>,
        short: Option<&ClusterMessage>,
        wants_full: impl Fn(&str) -> bool,
    ) {
        self.inner.links.send_choosing(
            reliable,
            || full().as_ref().map(encode),
            short.map(encode),
            wants_full,
        );
    }

    pub fn send_best_effort(&self, message: ClusterMessage) {
        self.inner.links.send_best_effort(None, encode(&message));
    }

    pub fn send_best_effort_to(&self, node_id: &str, message: ClusterMessage) {
        self.inner
            .links
            .send_best_effort(Some(node_id), encode(&message));
    }

    /// Sends raw payload bytes reliably, as a newer version's message would look. For tests of
    /// compatibility only.
    #[doc(hidden)]
    pub fn send_reliable_raw_to(&self, node_id: &str, payload: Vec<u8>) {
        self.inner
            .links
            .send_reliable(Some(node_id), payload.into());
    }

    /// Membership changes from now on (joined, down, up, left, updated).
    pub fn membership_events(&self) -> broadcast::Receiver<MembershipEvent> {
        self.inner.events.subscribe()
    }

    pub fn stats(&self) -> ClusterStats {
        self.inner.stats.snapshot()
    }

    /// The outgoing queue of each peer.
    pub fn peer_queues(&self) -> Vec<PeerQueue> {
        self.inner.links.queues()
    }

    /// Fault hooks (tests, fault harness).
    pub fn faults(&self) -> FaultInjector {
        FaultInjector {
            state: self.inner.faults.clone(),
        }
    }

    /// Tries a stream handshake with `address` using this node's secrets. For diagnostics.
    pub async fn probe_stream(&self, address: SocketAddr) -> Result<(), String> {
        wire::probe(address, &self.inner.secrets)
            .await
            .map_err(|error| error.to_string())
    }

    /// Clean stop: publishes `draining` and leaving, gives queued reliable messages a moment
    /// to be acknowledged, deletes the discovery row, leaves gossip and closes the streams.
    /// Peers report this node as left (not down) within a gossip round or two.
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        if inner.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        inner.view.write().self_info.readiness = Readiness::Draining;
        let peers: Vec<SocketAddr> = self
            .members()
            .into_iter()
            .filter(|member| !member.is_self && member.alive)
            .filter_map(|member| member.gossip_address.parse().ok())
            .collect();
        inner
            .chitchat
            .with_chitchat(|chitchat| {
                let state = chitchat.self_node_state();
                state.set(membership::KEY_READINESS, Readiness::Draining.as_str());
                state.set(membership::KEY_LEAVING, "true");
            })
            .await;
        for peer in &peers {
            let _ = inner.chitchat.gossip(*peer);
        }
        let started = tokio::time::Instant::now();
        let spread_time = inner.options.gossip_interval * 3;
        loop {
            let elapsed = started.elapsed();
            let flushed = inner.links.drained() || elapsed >= SHUTDOWN_FLUSH_TIMEOUT;
            if flushed && elapsed >= spread_time {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Err(error) = inner.discovery.deregister().await {
            tracing::warn!(error = %error, "cannot delete this node's discovery row");
        }
        let _ = inner.chitchat.initiate_shutdown();
        let _ = tokio::time::timeout(Duration::from_secs(1), inner.chitchat.termination_watcher())
            .await;
        for task in inner.stop_tasks() {
            let _ = task.await;
        }
        tracing::info!(node_id = %inner.options.node_id, "left the cluster");
    }

    /// Stops everything at once without telling anyone, as SIGKILL would: the discovery row
    /// stays, peers detect the silence. For tests and the fault harness.
    pub fn abort(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        let _ = self.inner.stop_tasks();
    }
}

fn validate(options: &ClusterOptions) -> Result<(), ClusterError> {
    if options.cluster_name.trim().is_empty() {
        return Err(ClusterError::EmptyClusterName);
    }
    if options.node_id.is_empty() {
        return Err(ClusterError::InvalidOptions("node_id is empty".into()));
    }
    if options.gossip_port == 0 {
        return Err(ClusterError::InvalidOptions(
            "gossip_port must be a fixed port (UDP and TCP share it)".into(),
        ));
    }
    if options.gossip_interval.is_zero() || options.failure_timeout <= options.gossip_interval {
        return Err(ClusterError::InvalidOptions(
            "failure_timeout must be longer than gossip_interval".into(),
        ));
    }
    Ok(())
}

/// Chitchat's own phi-accrual detector only picks gossip targets here (membership uses the
/// heartbeat timeout in `membership`); it is tuned to be no quicker than that timeout, and
/// to forget dead nodes after the same grace period.
fn chitchat_failure_detector(options: &ClusterOptions) -> FailureDetectorConfig {
    // Chitchat declares a node dead after phi_threshold × mean heartbeat interval, and
    // heartbeats arrive between one and three times per gossip interval.
    let rounds = options.failure_timeout.as_secs_f64() / options.gossip_interval.as_secs_f64();
    FailureDetectorConfig {
        phi_threshold: (rounds * 3.0).max(8.0),
        sampling_window_size: 100,
        max_interval: options.failure_timeout,
        initial_interval: options.gossip_interval,
        dead_node_grace_period: options.dead_node_grace_period,
    }
}

fn encode(message: &ClusterMessage) -> Arc<[u8]> {
    postcard::to_stdvec(message)
        .expect("serializing a cluster message into memory cannot fail")
        .into()
}

struct ViewTask {
    chitchat: Arc<ChitchatHandle>,
    view: Arc<RwLock<MembershipView>>,
    links: Arc<Links>,
    inbound: Arc<Inbound>,
    events: broadcast::Sender<MembershipEvent>,
    self_updates: mpsc::UnboundedReceiver<(&'static str, String)>,
    interval: Duration,
    stats: Arc<Stats>,
}

/// Keeps the membership view in step with chitchat, applies changes of this node's published
/// state, and opens or drops peer links as members come and go.
async fn run_view(mut task: ViewTask) {
    let mut ticker = tokio::time::interval(task.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            update = task.self_updates.recv() => {
                let Some((key, value)) = update else { return };
                task.chitchat
                    .with_chitchat(|chitchat| chitchat.self_node_state().set(key, &value))
                    .await;
                continue;
            }
        }
        let events = {
            let chitchat = task.chitchat.chitchat();
            let chitchat = chitchat.lock().await;
            let mut view = task.view.write();
            view.update(&chitchat, tokio::time::Instant::now())
        };
        for event in events {
            match &event {
                MembershipEvent::Joined(member) | MembershipEvent::Up(member) => {
                    match member.gossip_address.parse() {
                        Ok(address) => task.links.ensure(&member.node_id, address),
                        Err(_) => {
                            tracing::warn!(peer = %member.node_id, address = %member.gossip_address, "peer address unusable")
                        }
                    }
                    tracing::info!(peer = %member.node_id, address = %member.gossip_address, event = if matches!(event, MembershipEvent::Joined(_)) { "joined" } else { "up" }, "cluster member alive");
                }
                MembershipEvent::Down(member) => {
                    stats::bump(&task.stats.failure_detections);
                    tracing::warn!(peer = %member.node_id, address = %member.gossip_address, "cluster member down");
                }
                MembershipEvent::Left { member, clean } => {
                    task.links.remove(&member.node_id, !clean);
                    if *clean {
                        task.inbound.forget_sender(&member.node_id);
                    }
                    tracing::info!(peer = %member.node_id, clean, "cluster member left");
                }
                MembershipEvent::Updated(member) => {
                    tracing::debug!(peer = %member.node_id, readiness = %member.readiness, config_hash = %member.config_hash, "cluster member updated");
                }
            }
            let _ = task.events.send(event);
        }
    }
}

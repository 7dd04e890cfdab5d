//! The hub handle: configuration, publishing, registration and presence, closing.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::ws::WebSocket;
use chorus_model::WebSocketEvent;
use parking_lot::{Mutex, RwLock};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::info;

use crate::checkpoint::ConnectionCheckpoint;
use crate::checkpoint::{self, CheckpointLog};
use crate::connection::{self, close_code};
use crate::delegate::{ConnectionIdentity, Continuity, HubDelegate, ResumeRequest, ResumeSource};
use crate::dispatch;
use crate::frame::ConnectionState;
use crate::recent::RecentChanges;
use crate::registry::{ConnectionHandle, Registry};
use crate::resume::{self, Overlap};

/// A connection without a socket: its handle stays registered (events keep queuing) and its
/// numbering state waits here for the next socket.
struct Parked {
    handle: Arc<ConnectionHandle>,
    state: ConnectionState,
    /// Queued events its frames already announced (it parked while still skipping them).
    overlap: Overlap,
    since: Instant,
}

/// How the hub behaves; the defaults are Mattermost's.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// For `hello`: `<version>.<build>.<confighash>.<licensed>`, given by the caller.
    pub server_version: String,
    pub server_hostname: String,
    /// Events queued per connection before it counts as too slow (droppable events are
    /// skipped from half full; a full queue closes the connection).
    pub send_queue_size: usize,
    /// How long a socket may stay open without authenticating.
    pub unauthenticated_timeout: Duration,
    /// How often the server sends websocket ping frames.
    pub ping_interval: Duration,
    /// A connection from which nothing (pong or otherwise) arrived for this long is closed.
    pub pong_timeout: Duration,
    /// Dispatcher tasks; events are spread over them by user, channel or team.
    pub dispatch_shards: usize,
    /// Events kept for a parked connection (socket gone, waiting for a resume) before it is
    /// given up; never less than `send_queue_size + 1`, so a connection closed because its
    /// queue was full keeps everything it was sent.
    pub parked_queue_size: usize,
    /// How long a parked connection waits for its client to resume.
    pub resume_retention: Duration,
    /// Parked connections kept on this node at most; a connection parked beyond that is
    /// dropped (its client resyncs).
    pub max_parked_connections: usize,
    /// When set (clustered nodes), writers record what they send and wait for it to be handed
    /// to `Continuity::checkpoint`, which runs this often, before writing.
    pub checkpoint_interval: Option<Duration>,
    /// How long after a stored change's timestamp its frame is surely written to every
    /// connection meant to receive it (commit, cluster, ordering and queues, and the nodes'
    /// clocks agreeing): a connection's checkpoint horizon trails the last ping its client
    /// answered by this much, or now by this plus the pong timeout.
    pub change_delivery_bound: Duration,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            server_version: chorus_model::SERVER_VERSION.to_string(),
            server_hostname: String::new(),
            send_queue_size: 256,
            unauthenticated_timeout: Duration::from_secs(5),
            ping_interval: Duration::from_secs(60),
            pong_timeout: Duration::from_secs(100),
            dispatch_shards: std::thread::available_parallelism().map_or(1, usize::from),
            parked_queue_size: 1024,
            resume_retention: Duration::from_secs(5 * 60),
            max_parked_connections: 100_000,
            checkpoint_interval: None,
            change_delivery_bound: Duration::from_secs(30),
        }
    }
}

/// What connection tasks and dispatchers share.
pub(crate) struct Shared {
    pub(crate) config: HubConfig,
    pub(crate) delegate: Arc<dyn HubDelegate>,
    /// Set once, after the hub is built (see [`Hub::set_continuity`]).
    continuity: OnceLock<Arc<dyn Continuity>>,
    pub(crate) registry: RwLock<Registry>,
    /// Connections whose socket is gone, by connection id, waiting for a resume.
    parked: Mutex<HashMap<String, Parked>>,
    /// Held across a registry change and its presence callback, so `user_connected` and
    /// `user_disconnected` reach the delegate in the order the registry changed.
    presence: Mutex<()>,
    /// Present when `checkpoint_interval` is set.
    pub(crate) checkpoints: Option<CheckpointLog>,
    /// Present when `checkpoint_interval` is set (clustered nodes, where connections are
    /// handed over between nodes).
    pub(crate) recent: Option<RecentChanges>,
}

impl Shared {
    /// Asks the continuity where a connection this node lacks is; unknown without one.
    pub(crate) async fn resume_elsewhere(&self, request: ResumeRequest) -> ResumeSource {
        match self.continuity.get() {
            Some(continuity) => continuity.resume_elsewhere(request).await,
            None => ResumeSource::Unknown,
        }
    }

    /// Hands checkpoints to the continuity; dropped without one.
    pub(crate) fn send_checkpoints(&self, batch: Vec<ConnectionCheckpoint>) {
        if let Some(continuity) = self.continuity.get() {
            continuity.checkpoint(batch);
        }
    }

    pub(crate) fn is_accepting(&self) -> bool {
        self.registry.read().is_accepting()
    }

    /// Registers an authenticated connection; false when the hub is shutting down.
    pub(crate) fn register(&self, handle: &Arc<ConnectionHandle>) -> bool {
        self.register_marked(handle).is_some()
    }

    /// [`Shared::register`], returning the [`RecentChanges::mark`] at the moment the connection
    /// was registered (0 without `recent`); None when the hub is shutting down.
    pub(crate) fn register_marked(&self, handle: &Arc<ConnectionHandle>) -> Option<u64> {
        let _presence = self.presence.lock();
        let (first_of_user, mark) = {
            let mut registry = self.registry.write();
            if !registry.is_accepting() {
                return None;
            }
            let mark = self.recent.as_ref().map_or(0, RecentChanges::mark);
            (registry.insert(Arc::clone(handle)), mark)
        };
        if first_of_user {
            self.delegate.user_connected(handle.user_id().to_string());
        }
        Some(mark)
    }

    /// Unregisters a connection for good; safe to call more than once.
    pub(crate) fn unregister(&self, handle: &Arc<ConnectionHandle>) {
        if let Some(checkpoints) = &self.checkpoints {
            checkpoints.forget(handle);
        }
        self.unregister_handed_over(handle);
    }

    /// Unregisters a connection that carries on at another node.
    pub(crate) fn unregister_handed_over(&self, handle: &Arc<ConnectionHandle>) {
        let _presence = self.presence.lock();
        let removal = self.registry.write().remove(handle);
        if removal == Some(true) {
            self.delegate
                .user_disconnected(handle.user_id().to_string());
        }
    }

    /// Stops delivering to a connection at once and tells its task to close with `code`; it
    /// cannot be resumed.
    pub(crate) fn evict(&self, handle: &Arc<ConnectionHandle>, code: u16) {
        handle.request_close(code);
        self.unregister(handle);
    }

    /// Keeps a connection whose socket ended for a resume: still registered, so events keep
    /// queuing, but not counted as present. Connections beyond `max_parked_connections`, or
    /// whose queue was already lost, are unregistered instead.
    pub(crate) fn park(
        &self,
        handle: &Arc<ConnectionHandle>,
        state: ConnectionState,
        overlap: Overlap,
    ) {
        let mut parked = self.parked.lock();
        if parked.len() >= self.config.max_parked_connections {
            drop(parked);
            self.unregister(handle);
            return;
        }
        let _presence = self.presence.lock();
        let Some(last_active) = self.registry.write().park(handle) else {
            drop(_presence);
            drop(parked);
            self.unregister(handle);
            return;
        };
        parked.insert(
            handle.connection_id.clone(),
            Parked {
                handle: Arc::clone(handle),
                state,
                overlap,
                since: Instant::now(),
            },
        );
        if last_active {
            self.delegate
                .user_disconnected(handle.user_id().to_string());
        }
    }

    /// Takes up a parked connection of the session of `identity` for a new socket: active again, with its
    /// numbering state. None when there is no such parked connection or it cannot be resumed
    /// without loss (then it is gone).
    pub(crate) fn unpark(
        &self,
        connection_id: &str,
        identity: &ConnectionIdentity,
    ) -> Option<(Arc<ConnectionHandle>, ConnectionState, Overlap)> {
        let user_id = identity.user_id.as_str();
        let parked = {
            let mut parked = self.parked.lock();
            if parked.get(connection_id)?.handle.identity.session_id != identity.session_id {
                return None;
            }
            parked.remove(connection_id)?
        };
        let _presence = self.presence.lock();
        let first_active = self.registry.write().unpark(&parked.handle);
        drop(_presence);
        match first_active {
            Some(first_active) => {
                if first_active {
                    self.delegate.user_connected(user_id.to_string());
                }
                parked.handle.reopen();
                Some((parked.handle, parked.state, parked.overlap))
            }
            None => {
                self.unregister(&parked.handle);
                None
            }
        }
    }

    /// A parked connection whose queue overflowed its limit: it can no longer be resumed.
    pub(crate) fn forget_parked(&self, handle: &Arc<ConnectionHandle>) {
        self.parked.lock().remove(&handle.connection_id);
        self.unregister(handle);
    }

    /// What the client of this session's connection `connection_id` here has acknowledged
    /// holding (see `ConnectionHandle::acknowledged_next_seq`).
    pub(crate) fn acknowledged_next_seq(
        &self,
        connection_id: &str,
        identity: &ConnectionIdentity,
    ) -> Option<i64> {
        self.registry
            .read()
            .session_connections(identity, connection_id)
            .map(|handle| handle.acknowledged_next_seq())
            .max()
    }

    /// Asks the active connection `connection_id` of this session on this node, if any, to close
    /// so that it parks; true when there was one. A client that resumes while its old socket
    /// still looks open here (a half-open TCP connection) gets its state this way.
    pub(crate) fn close_for_takeover(
        &self,
        connection_id: &str,
        identity: &ConnectionIdentity,
    ) -> bool {
        let registry = self.registry.read();
        let Some(handle) = registry
            .session_connections(identity, connection_id)
            .find(|handle| !handle.is_parked())
            .cloned()
        else {
            return false;
        };
        drop(registry);
        handle.request_close(close_code::GOING_AWAY);
        true
    }

    /// Drops parked connections older than the retention.
    fn reap_parked(&self) {
        let retention = self.config.resume_retention;
        let expired: Vec<Arc<ConnectionHandle>> = {
            let mut parked = self.parked.lock();
            let expired_ids: Vec<String> = parked
                .iter()
                .filter(|(_, entry)| entry.since.elapsed() >= retention)
                .map(|(connection_id, _)| connection_id.clone())
                .collect();
            expired_ids
                .iter()
                .filter_map(|connection_id| parked.remove(connection_id))
                .map(|entry| entry.handle)
                .collect()
        };
        for handle in expired {
            self.unregister(&handle);
        }
    }

    pub(crate) fn parked_count(&self) -> usize {
        self.parked.lock().len()
    }

    fn evict_matching(&self, code: u16, wanted: impl FnMut(&ConnectionHandle) -> bool) {
        let handles: Vec<Arc<ConnectionHandle>> =
            self.registry.read().matching(wanted).cloned().collect();
        for handle in handles {
            self.evict(&handle, code);
        }
    }
}

struct HubInner {
    shared: Arc<Shared>,
    /// Dropping these (with the last `Hub` clone) ends the dispatcher tasks.
    shards: Vec<mpsc::UnboundedSender<WebSocketEvent>>,
}

/// The websocket hub of this node. Cheap to clone.
#[derive(Clone)]
pub struct Hub(Arc<HubInner>);

impl Hub {
    /// Starts the dispatcher tasks; must be called inside a tokio runtime.
    pub fn new(config: HubConfig, delegate: Arc<dyn HubDelegate>) -> Hub {
        let shard_count = config.dispatch_shards.max(1);
        let checkpoints = config
            .checkpoint_interval
            .map(|_| CheckpointLog::new(config.pong_timeout + config.change_delivery_bound));
        let recent = config.checkpoint_interval.map(|_| RecentChanges::new());
        let shared = Arc::new(Shared {
            checkpoints,
            recent,
            config,
            delegate,
            continuity: OnceLock::new(),
            registry: RwLock::new(Registry::new()),
            parked: Mutex::new(HashMap::new()),
            presence: Mutex::new(()),
        });
        tokio::spawn(reap_parked_connections(Arc::downgrade(&shared)));
        if let Some(interval) = shared.config.checkpoint_interval {
            tokio::spawn(checkpoint::run_flusher(Arc::downgrade(&shared), interval));
        }
        let mut shards = Vec::with_capacity(shard_count);
        for _ in 0..shard_count {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(dispatch::run_shard(Arc::clone(&shared), receiver));
            shards.push(sender);
        }
        Hub(Arc::new(HubInner { shared, shards }))
    }

    /// Gives the hub what keeps its connections going across nodes (resumes from elsewhere,
    /// checkpoints). Called once, right after [`Hub::new`], before the first socket is served:
    /// whoever implements it needs the hub handle first.
    ///
    /// # Panics
    /// When a continuity was already set.
    pub fn set_continuity(&self, continuity: Arc<dyn Continuity>) {
        if self.0.shared.continuity.set(continuity).is_err() {
            panic!("Hub::set_continuity called twice");
        }
    }

    /// Delivers `event` to every matching connection on this node. Never waits: the event is
    /// queued for a dispatcher. Events for the same channel (or the same user, or team) reach
    /// each connection in publish order.
    pub fn publish(&self, event: WebSocketEvent) {
        let shard = dispatch::shard_index(&event.broadcast, self.0.shards.len());
        // Sending fails only if the dispatcher is gone, which happens only at runtime shutdown.
        let _ = self.0.shards[shard].send(event);
    }

    /// Runs one accepted websocket until it closes.
    ///
    /// `identity` is Some when the upgrade request carried a valid token (cookie or header);
    /// otherwise the client has `unauthenticated_timeout` to send an
    /// `authentication_challenge`, and a bad token closes the socket. `resume` is the
    /// `(connection_id, sequence_number)` of the query string, if any; for now every
    /// connection starts fresh with a new connection id and `hello`, which tells the client to
    /// resync (Mattermost's answer when the missed events are gone).
    pub async fn serve(
        &self,
        socket: WebSocket,
        identity: Option<ConnectionIdentity>,
        resume: Option<(String, i64)>,
    ) {
        connection::serve(&self.0.shared, socket, identity, resume).await;
    }

    /// Authenticated connections on this node.
    pub fn connection_count(&self) -> usize {
        self.0.shared.registry.read().connection_count()
    }

    pub fn user_connection_count(&self, user_id: &str) -> usize {
        self.0.shared.registry.read().user_connection_count(user_id)
    }

    /// Closes every connection of a session (logout, revoke).
    pub fn close_session(&self, session_id: &str) {
        self.0.shared.evict_matching(close_code::NORMAL, |handle| {
            handle.identity.session_id == session_id
        });
    }

    /// Closes every connection of a user (deactivation, all sessions revoked).
    pub fn close_user(&self, user_id: &str) {
        self.0
            .shared
            .evict_matching(close_code::NORMAL, |handle| handle.user_id() == user_id);
    }

    /// Ends every connection of this node, parked ones too, for good: events meant for them
    /// were lost on the way here, so their clients must resync (they reconnect, and their
    /// connection id is no longer known anywhere).
    pub fn resync_everyone(&self) {
        let shared = &self.0.shared;
        let parked: Vec<Arc<ConnectionHandle>> = shared
            .parked
            .lock()
            .drain()
            .map(|(_, entry)| entry.handle)
            .collect();
        info!(
            parked = parked.len(),
            "ending every websocket: events meant for them were lost"
        );
        for handle in parked {
            shared.unregister(&handle);
        }
        shared.evict_matching(close_code::GOING_AWAY, |_| true);
    }

    /// Before a draining node leaves: parked connections whose queue holds an event that a
    /// rebuild from the database cannot give (e.g. `channel_updated`) end for good, so their
    /// clients resync instead of missing it; the others stay checkpointed, to be rebuilt on
    /// another node.
    pub fn end_parked_that_cannot_be_rebuilt(&self) {
        let shared = &self.0.shared;
        let ended: Vec<Arc<ConnectionHandle>> = {
            let mut parked = shared.parked.lock();
            let ids: Vec<String> = parked
                .iter()
                .filter(|(_, entry)| entry.handle.queues_unrebuildable())
                .map(|(connection_id, _)| connection_id.clone())
                .collect();
            ids.iter()
                .filter_map(|connection_id| parked.remove(connection_id))
                .map(|entry| entry.handle)
                .collect()
        };
        for handle in ended {
            shared.unregister(&handle);
        }
    }

    /// Graceful drain: every connection gets a close frame with 1001 (going away) so its client
    /// reconnects to another node, and sockets served from now on are closed the same way.
    pub fn shutdown(&self) {
        let shared = &self.0.shared;
        let handles = {
            let _presence = shared.presence.lock();
            shared.registry.write().stop_accepting()
        };
        info!(connections = handles.len(), "websocket hub draining");
        // Closed, not evicted: they park, so that until this node is gone their clients can
        // resume elsewhere from the state kept here.
        for handle in handles {
            handle.request_close(close_code::GOING_AWAY);
        }
    }

    /// Hands a connection of this node over to the node where its client reconnected (see
    /// `Continuity::resume_elsewhere`): it leaves this node, and the answer carries what the
    /// client missed.
    pub async fn hand_over(&self, request: &ResumeRequest) -> ResumeSource {
        resume::hand_over(&self.0.shared, request).await
    }

    /// Connections parked on this node, waiting for their client to resume.
    pub fn parked_connection_count(&self) -> usize {
        self.0.shared.parked_count()
    }
}

/// Runs until the hub is dropped, checking parked connections a few times per retention.
async fn reap_parked_connections(shared: std::sync::Weak<Shared>) {
    let period = match shared.upgrade() {
        Some(shared) => (shared.config.resume_retention / 8).max(Duration::from_millis(100)),
        None => return,
    };
    let mut ticker = tokio::time::interval(period);
    loop {
        ticker.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        shared.reap_parked();
    }
}

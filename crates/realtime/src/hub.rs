//! The hub handle: configuration, publishing, registration and presence, closing.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::WebSocket;
use chorus_model::WebSocketEvent;
use parking_lot::{Mutex, RwLock};
use tokio::sync::mpsc;
use tracing::info;

use crate::connection::{self, close_code};
use crate::delegate::{ConnectionIdentity, HubDelegate};
use crate::dispatch;
use crate::registry::{ConnectionHandle, Registry};

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
        }
    }
}

/// What connection tasks and dispatchers share.
pub(crate) struct Shared {
    pub(crate) config: HubConfig,
    pub(crate) delegate: Arc<dyn HubDelegate>,
    pub(crate) registry: RwLock<Registry>,
    /// Held across a registry change and its presence callback, so `user_connected` and
    /// `user_disconnected` reach the delegate in the order the registry changed.
    presence: Mutex<()>,
}

impl Shared {
    pub(crate) fn is_accepting(&self) -> bool {
        self.registry.read().is_accepting()
    }

    /// Registers an authenticated connection; false when the hub is shutting down.
    pub(crate) fn register(&self, handle: &Arc<ConnectionHandle>) -> bool {
        let _presence = self.presence.lock();
        let first_of_user = {
            let mut registry = self.registry.write();
            if !registry.is_accepting() {
                return false;
            }
            registry.insert(Arc::clone(handle))
        };
        if first_of_user {
            self.delegate.user_connected(handle.user_id().to_string());
        }
        true
    }

    /// Unregisters a connection; safe to call more than once.
    pub(crate) fn unregister(&self, handle: &Arc<ConnectionHandle>) {
        let _presence = self.presence.lock();
        let removal = self.registry.write().remove(handle);
        if removal == Some(true) {
            self.delegate
                .user_disconnected(handle.user_id().to_string());
        }
    }

    /// Stops delivering to a connection at once and tells its task to close with `code`.
    pub(crate) fn evict(&self, handle: &Arc<ConnectionHandle>, code: u16) {
        handle.request_close(code);
        self.unregister(handle);
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
        let shared = Arc::new(Shared {
            config,
            delegate,
            registry: RwLock::new(Registry::new()),
            presence: Mutex::new(()),
        });
        let mut shards = Vec::with_capacity(shard_count);
        for _ in 0..shard_count {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(dispatch::run_shard(Arc::clone(&shared), receiver));
            shards.push(sender);
        }
        Hub(Arc::new(HubInner { shared, shards }))
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

    /// Graceful drain: every connection gets a close frame with 1001 (going away) so its client
    /// reconnects to another node, and sockets served from now on are closed the same way.
    pub fn shutdown(&self) {
        let shared = &self.0.shared;
        let handles = {
            let _presence = shared.presence.lock();
            shared.registry.write().stop_accepting()
        };
        info!(connections = handles.len(), "websocket hub draining");
        for handle in handles {
            shared.evict(&handle, close_code::GOING_AWAY);
        }
    }
}

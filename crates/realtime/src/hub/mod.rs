//! The hub: the public handle of this node's websockets, and the tasks behind it.
//!
//! `state` holds what they share; `dispatch` delivers published events to connection queues;
//! `socket` drives one socket from upgrade to close; `resume` attaches a reconnecting client to
//! its connection (parked here, still open here, or elsewhere) and hands connections over to
//! other nodes. Two background tasks run per hub: one reaps parked connections past their
//! retention, one (clustered nodes) flushes checkpoints every `HubConfig::checkpoint_interval`.

mod dispatch;
mod resume;
mod socket;
mod state;

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::extract::ws::WebSocket;
use chorus_model::WebSocketEvent;
use tokio::sync::mpsc;
use tracing::info;

use self::state::HubState;
use crate::config::HubConfig;
use crate::connection::close_code;
use crate::continuity::{Continuity, ResumeRequest, ResumeSource};
use crate::delegate::{ConnectionIdentity, HubDelegate};

struct HubInner {
    state: Arc<HubState>,
    /// Dropping these (with the last `Hub` clone) ends the dispatcher tasks.
    shards: Vec<mpsc::UnboundedSender<WebSocketEvent>>,
}

/// How resume attempts ended: every frame replayed from this node's own state (`local`),
/// from another node's hand-over, rebuilt from the database, or a new connection that makes
/// the client resync.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResumeCounts {
    pub local: u64,
    pub handed_over: u64,
    pub rebuilt: u64,
    pub resync: u64,
}

/// The websocket hub of this node. Cheap to clone.
#[derive(Clone)]
pub struct Hub(Arc<HubInner>);

impl Hub {
    /// Starts the dispatcher tasks; must be called inside a tokio runtime.
    pub fn new(config: HubConfig, delegate: Arc<dyn HubDelegate>) -> Hub {
        let shard_count = config.dispatch_shards.max(1);
        let checkpoint_interval = config.checkpoint_interval;
        let state = Arc::new(HubState::new(config, delegate));
        tokio::spawn(reap_parked_connections(Arc::downgrade(&state)));
        if let Some(interval) = checkpoint_interval {
            tokio::spawn(flush_checkpoints(Arc::downgrade(&state), interval));
        }
        let mut shards = Vec::with_capacity(shard_count);
        for _ in 0..shard_count {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(dispatch::run_shard(Arc::clone(&state), receiver));
            shards.push(sender);
        }
        Hub(Arc::new(HubInner { state, shards }))
    }

    /// Gives the hub what keeps its connections going across nodes (resumes from elsewhere,
    /// checkpoints). Called once, right after [`Hub::new`], before the first socket is served:
    /// whoever implements it needs the hub handle first.
    ///
    /// # Panics
    /// When a continuity was already set.
    pub fn set_continuity(&self, continuity: Arc<dyn Continuity>) {
        if !self.0.state.set_continuity(continuity) {
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
    /// `(connection_id, sequence_number)` of the query string, if any: the client resumes that
    /// connection when every frame it missed can be given (see `hub::resume`), else it starts
    /// fresh with a new connection id and `hello`, which tells it to resync.
    pub async fn serve(
        &self,
        socket: WebSocket,
        identity: Option<ConnectionIdentity>,
        resume: Option<(String, i64)>,
    ) {
        socket::serve(&self.0.state, socket, identity, resume).await;
    }

    /// How resume attempts on this node ended, since it started.
    pub fn resume_counts(&self) -> ResumeCounts {
        use std::sync::atomic::Ordering::Relaxed;
        let counters = self.0.state.resumes();
        ResumeCounts {
            local: counters.local.load(Relaxed),
            handed_over: counters.handed_over.load(Relaxed),
            rebuilt: counters.rebuilt.load(Relaxed),
            resync: counters.resync.load(Relaxed),
        }
    }

    /// Authenticated connections on this node.
    pub fn connection_count(&self) -> usize {
        self.0.state.registry().connection_count()
    }

    /// Whether an event for these users would reach a connection here: any of them has one
    /// registered, parked ones included (they still collect events for a resume).
    pub fn reaches_any_of(&self, user_ids: &HashSet<String>) -> bool {
        self.0.state.registry().has_any_of(user_ids)
    }

    pub fn user_connection_count(&self, user_id: &str) -> usize {
        self.0.state.registry().user_connection_count(user_id)
    }

    /// Closes every connection of a session (logout, revoke).
    pub fn close_session(&self, session_id: &str) {
        self.0.state.evict_matching(close_code::NORMAL, |handle| {
            handle.session_id() == session_id
        });
    }

    /// The user's roles changed: their connections here (parked ones too) receive from the
    /// next event on the copies meant for a system admin, or for everyone else (Mattermost
    /// re-reads the session of its connections when the user's sessions are invalidated).
    pub fn set_system_admin(&self, user_id: &str, is_system_admin: bool) {
        let registry = self.0.state.registry();
        for handle in registry.matching(|handle| handle.user_id() == user_id) {
            handle.set_system_admin(is_system_admin);
        }
    }

    /// Closes every connection of a user (deactivation, all sessions revoked).
    pub fn close_user(&self, user_id: &str) {
        self.0
            .state
            .evict_matching(close_code::NORMAL, |handle| handle.user_id() == user_id);
    }

    /// Ends every connection of this node, parked ones too, for good: events meant for them
    /// were lost on the way here, so their clients must resync (they reconnect, and their
    /// connection id is no longer known anywhere).
    pub fn resync_everyone(&self) {
        let state = &self.0.state;
        let parked = state.end_all_parked();
        info!(
            parked,
            "ending every websocket: events meant for them were lost"
        );
        state.evict_matching(close_code::GOING_AWAY, |_| true);
    }

    /// Before a draining node leaves: parked connections whose queue holds an event that a
    /// rebuild from the database cannot give (e.g. `channel_updated`) end for good, so their
    /// clients resync instead of missing it; the others stay checkpointed, to be rebuilt on
    /// another node.
    pub fn end_parked_that_cannot_be_rebuilt(&self) {
        self.0.state.end_parked_that_cannot_be_rebuilt();
    }

    /// Graceful drain: every connection gets a close frame with 1001 (going away) so its client
    /// reconnects to another node, and sockets served from now on are closed the same way.
    pub fn shutdown(&self) {
        let handles = self.0.state.stop_accepting();
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
        resume::hand_over(&self.0.state, request).await
    }

    /// Connections parked on this node, waiting for their client to resume.
    pub fn parked_connection_count(&self) -> usize {
        self.0.state.parked_count()
    }
}

/// Runs until the hub is dropped, checking parked connections a few times per retention.
async fn reap_parked_connections(state: Weak<HubState>) {
    let period = match state.upgrade() {
        Some(state) => (state.config().resume_retention / 8).max(Duration::from_millis(100)),
        None => return,
    };
    let mut ticker = tokio::time::interval(period);
    loop {
        ticker.tick().await;
        let Some(state) = state.upgrade() else {
            return;
        };
        state.reap_parked();
    }
}

/// Runs until the hub is dropped: every `interval`, hands what the writers recorded to the
/// continuity, then lets the writers waiting for it go.
async fn flush_checkpoints(state: Weak<HubState>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(state) = state.upgrade() else {
            return;
        };
        state.flush_checkpoints();
    }
}

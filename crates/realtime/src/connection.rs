//! One connection as the hub holds it: who it is, its event queue, how to tell its task to
//! close, and what its client has acknowledged holding.
//!
//! The handle outlives its socket: a connection whose socket dropped stays registered while
//! parked (see `continuity::parking`), so its queue keeps collecting what a resume must
//! deliver. The task that drives a socket is `hub::socket`.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU16, Ordering};
use std::sync::Arc;

use chorus_model::now_millis;
use tokio::sync::Notify;

use crate::delegate::ConnectionIdentity;
use crate::queue::EventQueue;

/// Websocket close codes the hub sends (RFC 6455 section 7.4.1).
pub(crate) mod close_code {
    /// Session closed (logout, revoke, user deactivated).
    pub const NORMAL: u16 = 1000;
    /// Node draining or client silent: reconnect, possibly elsewhere.
    pub const GOING_AWAY: u16 = 1001;
    /// Missing, invalid or expired authentication.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// The client sent a message over the inbound size limit.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The client did not keep up with its events (send queue full).
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// The hub's side of one registered connection.
#[derive(Debug)]
pub(crate) struct ConnectionHandle {
    connection_id: String,
    identity: ConnectionIdentity,
    /// Starts as `identity.is_system_admin`; changes when the user's roles do
    /// (`Hub::set_system_admin`), so the next event is routed by the current role.
    system_admin: AtomicBool,
    queue: EventQueue,
    /// 0 while open; otherwise the websocket close code the task should send.
    close_code: AtomicU16,
    close_requested: Notify,
    /// When this connection started here with `hello` (ms), or 0 when it continues a
    /// connection that started elsewhere.
    started_at: i64,
    /// Every stored change recorded at or before this time (ms) that the connection was meant
    /// to receive has reached its client, which said so by answering a ping (see
    /// `liveness::AckProbes`); 0 until it first does.
    acknowledged_horizon: AtomicI64,
    /// The client holds every frame before this `seq` (it answered a ping sent after them): a
    /// resume from an earlier `sequence_number` is a stale attempt of that client.
    acknowledged_next_seq: AtomicI64,
}

impl ConnectionHandle {
    /// A connection that starts here (with `hello`). `queue_size` and `parked_queue_size` bound
    /// its queue (see [`EventQueue::new`]).
    pub(crate) fn new(
        connection_id: String,
        identity: ConnectionIdentity,
        queue_size: usize,
        parked_queue_size: usize,
    ) -> Arc<Self> {
        Self::build(
            connection_id,
            identity,
            queue_size,
            parked_queue_size,
            now_millis(),
        )
    }

    /// A connection that started on another node and continues here.
    pub(crate) fn continued(
        connection_id: String,
        identity: ConnectionIdentity,
        queue_size: usize,
        parked_queue_size: usize,
    ) -> Arc<Self> {
        Self::build(connection_id, identity, queue_size, parked_queue_size, 0)
    }

    fn build(
        connection_id: String,
        identity: ConnectionIdentity,
        queue_size: usize,
        parked_queue_size: usize,
        started_at: i64,
    ) -> Arc<Self> {
        Arc::new(ConnectionHandle {
            connection_id,
            system_admin: AtomicBool::new(identity.is_system_admin),
            identity,
            queue: EventQueue::new(queue_size, parked_queue_size),
            close_code: AtomicU16::new(0),
            close_requested: Notify::new(),
            started_at,
            acknowledged_horizon: AtomicI64::new(0),
            acknowledged_next_seq: AtomicI64::new(0),
        })
    }

    pub(crate) fn connection_id(&self) -> &str {
        &self.connection_id
    }

    pub(crate) fn identity(&self) -> &ConnectionIdentity {
        &self.identity
    }

    pub(crate) fn user_id(&self) -> &str {
        &self.identity.user_id
    }

    /// Whether the user is a system admin (see `ConnectionIdentity::is_system_admin`).
    pub(crate) fn is_system_admin(&self) -> bool {
        self.system_admin.load(Ordering::Relaxed)
    }

    pub(crate) fn set_system_admin(&self, is_system_admin: bool) {
        self.system_admin.store(is_system_admin, Ordering::Relaxed);
    }

    pub(crate) fn session_id(&self) -> &str {
        &self.identity.session_id
    }

    /// Whether this is connection `connection_id` of the session of `identity`.
    pub(crate) fn is_session_connection(
        &self,
        identity: &ConnectionIdentity,
        connection_id: &str,
    ) -> bool {
        self.connection_id == connection_id && self.identity.session_id == identity.session_id
    }

    pub(crate) fn queue(&self) -> &EventQueue {
        &self.queue
    }

    /// Whether the connection is parked (no socket, waiting for a resume).
    pub(crate) fn is_parked(&self) -> bool {
        self.queue.is_parked()
    }

    pub(crate) fn started_at(&self) -> i64 {
        self.started_at
    }

    pub(crate) fn acknowledged_horizon(&self) -> i64 {
        self.acknowledged_horizon.load(Ordering::Relaxed)
    }

    pub(crate) fn acknowledged_next_seq(&self) -> i64 {
        self.acknowledged_next_seq.load(Ordering::Relaxed)
    }

    /// The client answered a ping sent when `next_seq` was the next frame, whose horizon was
    /// `horizon`.
    pub(crate) fn acknowledge(&self, next_seq: i64, horizon: i64) {
        self.acknowledged_next_seq
            .fetch_max(next_seq, Ordering::Relaxed);
        self.acknowledged_horizon
            .fetch_max(horizon, Ordering::Relaxed);
    }

    /// Asks the connection's task to send a close frame with `code` and end. The first request
    /// wins; later ones are ignored.
    pub(crate) fn request_close(&self, code: u16) {
        debug_assert_ne!(code, 0);
        let _ = self
            .close_code
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
        self.close_requested.notify_one();
    }

    fn close_requested(&self) -> Option<u16> {
        match self.close_code.load(Ordering::Acquire) {
            0 => None,
            code => Some(code),
        }
    }

    /// Resolves with the close code once [`ConnectionHandle::request_close`] has been called.
    pub(crate) async fn closed(&self) -> u16 {
        loop {
            if let Some(code) = self.close_requested() {
                return code;
            }
            self.close_requested.notified().await;
        }
    }

    /// Forgets a close request, for a parked connection taken up by a new socket.
    pub(crate) fn reopen(&self) {
        self.close_code.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_close_request_wins() {
        let identity = ConnectionIdentity {
            user_id: "alice".to_string(),
            session_id: "session-alice".to_string(),
            session_token: "token-alice".to_string(),
            expires_at: 0,
            is_system_admin: false,
        };
        let handle = ConnectionHandle::new("a1".into(), identity, 4, 8);
        handle.request_close(1001);
        handle.request_close(1000);
        assert_eq!(handle.closed().await, 1001);
        assert_eq!(handle.closed().await, 1001, "stays closed");
    }
}

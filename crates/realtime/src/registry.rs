//! Who is connected to this node, and which of those connections an event is for.
//!
//! Only authenticated connections are ever registered, so unauthenticated sockets can never
//! receive an event.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

use chorus_model::Broadcast;
use tokio::sync::{mpsc, Notify};

use crate::delegate::ConnectionIdentity;
use crate::frame::PreparedEvent;

/// The hub's side of one registered connection: where to queue its events and how to tell its
/// task to close. Its task holds the other ends.
#[derive(Debug)]
pub(crate) struct ConnectionHandle {
    pub(crate) connection_id: String,
    pub(crate) identity: ConnectionIdentity,
    queue: mpsc::Sender<Arc<PreparedEvent>>,
    /// 0 while open; otherwise the websocket close code the task should send.
    close_code: AtomicU16,
    wake: Notify,
}

/// What became of an event offered to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    Queued,
    /// A droppable event skipped because the connection's queue is at least half full.
    Dropped,
    /// The queue is full: the client does not keep up and must be disconnected.
    Overflow,
    /// The connection's task has already gone.
    Closed,
}

impl ConnectionHandle {
    pub(crate) fn new(
        connection_id: String,
        identity: ConnectionIdentity,
        queue_size: usize,
    ) -> (Arc<Self>, mpsc::Receiver<Arc<PreparedEvent>>) {
        let (sender, receiver) = mpsc::channel(queue_size.max(1));
        let handle = ConnectionHandle {
            connection_id,
            identity,
            queue: sender,
            close_code: AtomicU16::new(0),
            wake: Notify::new(),
        };
        (Arc::new(handle), receiver)
    }

    pub(crate) fn user_id(&self) -> &str {
        &self.identity.user_id
    }

    /// Queues `event` without waiting. Droppable events are skipped once the queue is half
    /// full, so that under pressure the room left goes to events that matter.
    pub(crate) fn offer(&self, event: &Arc<PreparedEvent>) -> Offer {
        let capacity = self.queue.max_capacity();
        let queued = capacity - self.queue.capacity();
        if event.is_droppable() && queued * 2 >= capacity {
            return Offer::Dropped;
        }
        match self.queue.try_send(Arc::clone(event)) {
            Ok(()) => Offer::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => Offer::Overflow,
            Err(mpsc::error::TrySendError::Closed(_)) => Offer::Closed,
        }
    }

    /// Asks the connection's task to send a close frame with `code` and end. The first request
    /// wins; later ones are ignored.
    pub(crate) fn request_close(&self, code: u16) {
        debug_assert_ne!(code, 0);
        let _ = self
            .close_code
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
        self.wake.notify_one();
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
            self.wake.notified().await;
        }
    }
}

/// Who an event is addressed to, by Mattermost's precedence: user, else channel, else team,
/// else everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience<'a> {
    User(&'a str),
    Channel(&'a str),
    Team(&'a str),
    Everyone,
}

impl<'a> Audience<'a> {
    pub(crate) fn of(broadcast: &'a Broadcast) -> Self {
        if !broadcast.user_id.is_empty() {
            Audience::User(&broadcast.user_id)
        } else if !broadcast.channel_id.is_empty() {
            Audience::Channel(&broadcast.channel_id)
        } else if !broadcast.team_id.is_empty() {
            Audience::Team(&broadcast.team_id)
        } else {
            Audience::Everyone
        }
    }
}

/// The registered connections of this node, indexed by user.
#[derive(Debug)]
pub(crate) struct Registry {
    by_user: HashMap<String, Vec<Arc<ConnectionHandle>>>,
    connection_count: usize,
    accepting: bool,
}

impl Registry {
    pub(crate) fn new() -> Self {
        Registry {
            by_user: HashMap::new(),
            connection_count: 0,
            accepting: true,
        }
    }

    pub(crate) fn is_accepting(&self) -> bool {
        self.accepting
    }

    /// Stops registering new connections and returns every registered one.
    pub(crate) fn stop_accepting(&mut self) -> Vec<Arc<ConnectionHandle>> {
        self.accepting = false;
        self.by_user.values().flatten().cloned().collect()
    }

    /// Adds a connection; true when it is its user's first on this node.
    pub(crate) fn insert(&mut self, handle: Arc<ConnectionHandle>) -> bool {
        let connections = self
            .by_user
            .entry(handle.user_id().to_string())
            .or_default();
        connections.push(handle);
        self.connection_count += 1;
        connections.len() == 1
    }

    /// Removes this very connection if it is still registered. Returns None when it was not
    /// (already removed), else whether it was its user's last connection on this node.
    pub(crate) fn remove(&mut self, handle: &Arc<ConnectionHandle>) -> Option<bool> {
        let connections = self.by_user.get_mut(handle.user_id())?;
        let position = connections
            .iter()
            .position(|other| Arc::ptr_eq(other, handle))?;
        connections.swap_remove(position);
        self.connection_count -= 1;
        if connections.is_empty() {
            self.by_user.remove(handle.user_id());
            return Some(true);
        }
        Some(false)
    }

    pub(crate) fn connection_count(&self) -> usize {
        self.connection_count
    }

    pub(crate) fn user_connection_count(&self, user_id: &str) -> usize {
        self.by_user.get(user_id).map_or(0, Vec::len)
    }

    pub(crate) fn matching<'a>(
        &'a self,
        mut wanted: impl FnMut(&ConnectionHandle) -> bool + 'a,
    ) -> impl Iterator<Item = &'a Arc<ConnectionHandle>> + 'a {
        self.by_user
            .values()
            .flatten()
            .filter(move |handle| wanted(handle))
    }

    /// Calls `deliver` for every connection `broadcast` selects. `members` are the user ids of
    /// the channel or team for channel and team audiences (None → nobody); they are ignored
    /// for user and everyone audiences.
    pub(crate) fn for_each_recipient(
        &self,
        broadcast: &Broadcast,
        members: Option<&HashSet<String>>,
        mut deliver: impl FnMut(&Arc<ConnectionHandle>),
    ) {
        let mut deliver_if_wanted = |connections: &[Arc<ConnectionHandle>]| {
            for handle in connections {
                if is_wanted(broadcast, handle) {
                    deliver(handle);
                }
            }
        };
        match Audience::of(broadcast) {
            Audience::User(user_id) => {
                if let Some(connections) = self.by_user.get(user_id) {
                    deliver_if_wanted(connections);
                }
            }
            Audience::Channel(_) | Audience::Team(_) => {
                let Some(members) = members else { return };
                // Walk the smaller side: a big channel on a node with few users, or a node
                // with many users and a small channel.
                if members.len() <= self.by_user.len() {
                    for member in members {
                        if let Some(connections) = self.by_user.get(member) {
                            deliver_if_wanted(connections);
                        }
                    }
                } else {
                    for (user_id, connections) in &self.by_user {
                        if members.contains(user_id) {
                            deliver_if_wanted(connections);
                        }
                    }
                }
            }
            Audience::Everyone => {
                for connections in self.by_user.values() {
                    deliver_if_wanted(connections);
                }
            }
        }
    }
}

/// The per-connection filters every audience shares: omitted users, an omitted connection, and
/// an event meant for one connection only.
fn is_wanted(broadcast: &Broadcast, handle: &ConnectionHandle) -> bool {
    if broadcast.omits(handle.user_id()) {
        return false;
    }
    if !broadcast.omit_connection_id.is_empty()
        && broadcast.omit_connection_id == handle.connection_id
    {
        return false;
    }
    if !broadcast.connection_id.is_empty() && broadcast.connection_id != handle.connection_id {
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use chorus_model::{event_names, WebSocketEvent};

    fn identity(user_id: &str) -> ConnectionIdentity {
        ConnectionIdentity {
            user_id: user_id.to_string(),
            session_id: format!("session-{user_id}"),
            session_token: format!("token-{user_id}"),
            expires_at: 0,
        }
    }

    fn handle(connection_id: &str, user_id: &str) -> Arc<ConnectionHandle> {
        ConnectionHandle::new(connection_id.to_string(), identity(user_id), 8).0
    }

    /// A node with alice (two connections), bob and carol.
    fn registry() -> Registry {
        let mut registry = Registry::new();
        for (connection_id, user_id) in [
            ("a1", "alice"),
            ("a2", "alice"),
            ("b1", "bob"),
            ("c1", "carol"),
        ] {
            registry.insert(handle(connection_id, user_id));
        }
        registry
    }

    fn recipients(
        registry: &Registry,
        broadcast: &Broadcast,
        members: Option<&HashSet<String>>,
    ) -> Vec<String> {
        let mut connection_ids = Vec::new();
        registry.for_each_recipient(broadcast, members, |handle| {
            connection_ids.push(handle.connection_id.clone())
        });
        connection_ids.sort();
        connection_ids
    }

    fn members(user_ids: &[&str]) -> HashSet<String> {
        user_ids.iter().map(|user_id| user_id.to_string()).collect()
    }

    #[test]
    fn user_broadcast_reaches_only_that_users_connections() {
        let registry = registry();
        assert_eq!(
            recipients(&registry, &Broadcast::to_user("alice"), None),
            ["a1", "a2"]
        );
        assert!(recipients(&registry, &Broadcast::to_user("nobody"), None).is_empty());
    }

    #[test]
    fn user_takes_precedence_over_channel_and_team() {
        let registry = registry();
        let broadcast = Broadcast {
            user_id: "bob".into(),
            channel_id: "town-square".into(),
            team_id: "team".into(),
            ..Default::default()
        };
        let everyone = members(&["alice", "bob", "carol"]);
        assert_eq!(recipients(&registry, &broadcast, Some(&everyone)), ["b1"]);
    }

    #[test]
    fn channel_broadcast_reaches_connected_members_either_way_round() {
        let registry = registry();
        let broadcast = Broadcast::to_channel("town-square");
        // Fewer members than connected users: walks the members.
        let small = members(&["alice"]);
        assert_eq!(
            recipients(&registry, &broadcast, Some(&small)),
            ["a1", "a2"]
        );
        // More members than connected users: walks the connected users.
        let large = members(&["bob", "carol", "dave", "erin", "frank"]);
        assert_eq!(
            recipients(&registry, &broadcast, Some(&large)),
            ["b1", "c1"]
        );
    }

    #[test]
    fn channel_or_team_without_members_reaches_nobody() {
        let registry = registry();
        assert!(recipients(&registry, &Broadcast::to_channel("gone"), None).is_empty());
        assert!(recipients(&registry, &Broadcast::to_team("gone"), None).is_empty());
    }

    #[test]
    fn team_broadcast_reaches_team_members() {
        let registry = registry();
        let team = members(&["bob", "carol"]);
        assert_eq!(
            recipients(&registry, &Broadcast::to_team("t"), Some(&team)),
            ["b1", "c1"]
        );
    }

    #[test]
    fn everyone_broadcast_reaches_all_connections() {
        let registry = registry();
        assert_eq!(
            recipients(&registry, &Broadcast::to_everyone(), None),
            ["a1", "a2", "b1", "c1"]
        );
    }

    #[test]
    fn omitted_users_and_connections_are_skipped() {
        let registry = registry();
        let broadcast = Broadcast::to_everyone().omitting("alice");
        assert_eq!(recipients(&registry, &broadcast, None), ["b1", "c1"]);

        let broadcast = Broadcast {
            omit_connection_id: "a1".into(),
            ..Broadcast::to_user("alice")
        };
        assert_eq!(recipients(&registry, &broadcast, None), ["a2"]);

        let typing = Broadcast::to_channel("town-square").omitting("bob");
        let everyone = members(&["alice", "bob", "carol"]);
        assert_eq!(
            recipients(&registry, &typing, Some(&everyone)),
            ["a1", "a2", "c1"]
        );
    }

    #[test]
    fn connection_id_targets_one_connection() {
        let registry = registry();
        let broadcast = Broadcast {
            connection_id: "a2".into(),
            ..Broadcast::to_user("alice")
        };
        assert_eq!(recipients(&registry, &broadcast, None), ["a2"]);
    }

    #[test]
    fn insert_and_remove_report_first_and_last_connection_of_a_user() {
        let mut registry = Registry::new();
        let first = handle("a1", "alice");
        let second = handle("a2", "alice");
        assert!(registry.insert(first.clone()));
        assert!(!registry.insert(second.clone()));
        assert_eq!(registry.connection_count(), 2);
        assert_eq!(registry.user_connection_count("alice"), 2);
        assert_eq!(registry.remove(&first), Some(false));
        assert_eq!(registry.remove(&first), None, "removing twice is a no-op");
        assert_eq!(registry.remove(&second), Some(true));
        assert_eq!(registry.connection_count(), 0);
        assert_eq!(registry.user_connection_count("alice"), 0);
    }

    #[test]
    fn stop_accepting_returns_every_connection() {
        let mut registry = registry();
        assert!(registry.is_accepting());
        assert_eq!(registry.stop_accepting().len(), 4);
        assert!(!registry.is_accepting());
    }

    fn prepared(event_name: &str) -> Arc<PreparedEvent> {
        Arc::new(PreparedEvent::new(&WebSocketEvent::new(
            event_name,
            Broadcast::to_everyone(),
        )))
    }

    #[test]
    fn droppable_events_are_skipped_from_half_full_and_the_rest_overflow_when_full() {
        let (handle, mut queue) = ConnectionHandle::new("a1".into(), identity("alice"), 4);
        let posted = prepared(event_names::POSTED);
        let typing = prepared(event_names::TYPING);
        let status = prepared(event_names::STATUS_CHANGE);

        assert_eq!(
            handle.offer(&typing),
            Offer::Queued,
            "empty queue takes anything"
        );
        assert_eq!(handle.offer(&posted), Offer::Queued);
        assert_eq!(
            handle.offer(&status),
            Offer::Dropped,
            "2 of 4 queued: half full"
        );
        assert_eq!(handle.offer(&posted), Offer::Queued);
        assert_eq!(handle.offer(&posted), Offer::Queued);
        assert_eq!(handle.offer(&posted), Offer::Overflow);

        let _ = queue.try_recv();
        let _ = queue.try_recv();
        assert_eq!(handle.offer(&typing), Offer::Dropped, "still half full");
        let _ = queue.try_recv();
        assert_eq!(handle.offer(&typing), Offer::Queued, "below half again");

        drop(queue);
        assert_eq!(handle.offer(&posted), Offer::Closed);
    }

    #[tokio::test]
    async fn the_first_close_request_wins() {
        let (handle, _queue) = ConnectionHandle::new("a1".into(), identity("alice"), 4);
        handle.request_close(1001);
        handle.request_close(1000);
        assert_eq!(handle.closed().await, 1001);
        assert_eq!(handle.closed().await, 1001, "stays closed");
    }
}

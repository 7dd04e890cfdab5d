//! Who is connected to this node, and which of those connections an event is for.
//!
//! Only authenticated connections are ever registered, so unauthenticated sockets can never
//! receive an event.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU16, Ordering};
use std::sync::Arc;

use chorus_model::{now_millis, Broadcast};
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::delegate::ConnectionIdentity;
use crate::frame::PreparedEvent;

/// The hub's side of one registered connection: its queue of events not yet sent, and how to
/// tell its task to close. A connection whose socket dropped stays registered while parked
/// (see `hub::Shared::park`), so its queue keeps collecting what a resume must deliver.
#[derive(Debug)]
pub(crate) struct ConnectionHandle {
    pub(crate) connection_id: String,
    pub(crate) identity: ConnectionIdentity,
    queue: Mutex<EventQueue>,
    queue_ready: Notify,
    /// 0 while open; otherwise the websocket close code the task should send.
    close_code: AtomicU16,
    close_requested: Notify,
    /// When this connection started here with `hello` (ms), or 0 when it continues a
    /// connection that started elsewhere.
    started_at: i64,
    /// Every stored change recorded at or before this time (ms) that the connection was meant
    /// to receive has reached its client, which said so by answering a ping (see
    /// `connection::AckProbes`); 0 until it first does.
    acknowledged_horizon: AtomicI64,
    /// The client holds every frame before this `seq` (it answered a ping sent after them): a
    /// resume from an earlier `sequence_number` is a stale attempt of that client.
    acknowledged_next_seq: AtomicI64,
}

/// Events waiting for the connection's writer, with the two bounds that keep it honest.
#[derive(Debug)]
struct EventQueue {
    events: VecDeque<Arc<PreparedEvent>>,
    /// While a socket is attached: past this many the client is too slow and is disconnected
    /// (the event is still kept, so nothing is lost).
    active_limit: usize,
    /// While parked: past this many the connection can no longer be resumed without loss.
    parked_limit: usize,
    parked: bool,
    /// Events were dropped for good: a resume must resync (new connection id).
    lost: bool,
}

/// What became of an event offered to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    Queued,
    /// A droppable event skipped because the connection's queue is at least half full.
    Dropped,
    /// Queued, but the queue is over its active limit: the client does not keep up and must be
    /// disconnected (its events wait for a resume).
    Overflow,
    /// A parked connection went past its limit: its queue is gone, it cannot be resumed.
    Lost,
}

impl ConnectionHandle {
    /// `queue_size` bounds the queue while a socket is attached, `parked_queue_size` while
    /// parked (at least one more than `queue_size`, so a queue that closed its connection for
    /// being full still fits).
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
        let active_limit = queue_size.max(1);
        Arc::new(ConnectionHandle {
            connection_id,
            identity,
            queue: Mutex::new(EventQueue {
                events: VecDeque::new(),
                active_limit,
                parked_limit: parked_queue_size.max(active_limit + 1),
                parked: false,
                lost: false,
            }),
            queue_ready: Notify::new(),
            close_code: AtomicU16::new(0),
            close_requested: Notify::new(),
            started_at,
            acknowledged_horizon: AtomicI64::new(0),
            acknowledged_next_seq: AtomicI64::new(0),
        })
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

    pub(crate) fn user_id(&self) -> &str {
        &self.identity.user_id
    }

    /// Queues `event` without waiting. Droppable events are skipped once the queue is half
    /// full (of its active limit), so that under pressure the room left goes to events that
    /// matter; the others are never dropped while the connection can still be resumed.
    pub(crate) fn offer(&self, event: &Arc<PreparedEvent>) -> Offer {
        let mut queue = self.queue.lock();
        if queue.lost {
            return Offer::Lost;
        }
        let queued = queue.events.len();
        if event.is_droppable() && queued * 2 >= queue.active_limit {
            return Offer::Dropped;
        }
        if queue.parked && queued >= queue.parked_limit {
            queue.lost = true;
            queue.events = VecDeque::new();
            return Offer::Lost;
        }
        queue.events.push_back(Arc::clone(event));
        let overflowed = !queue.parked && queued >= queue.active_limit;
        drop(queue);
        self.queue_ready.notify_one();
        if overflowed {
            Offer::Overflow
        } else {
            Offer::Queued
        }
    }

    /// The next queued event, waiting for one. Only the connection's task calls this.
    pub(crate) async fn next_event(&self) -> Arc<PreparedEvent> {
        loop {
            if let Some(event) = self.queue.lock().events.pop_front() {
                return event;
            }
            self.queue_ready.notified().await;
        }
    }

    /// The next queued event, if one is waiting.
    pub(crate) fn try_next_event(&self) -> Option<Arc<PreparedEvent>> {
        self.queue.lock().events.pop_front()
    }

    /// Takes every queued event (a connection handed to another node).
    pub(crate) fn take_queued(&self) -> Vec<Arc<PreparedEvent>> {
        self.queue.lock().events.drain(..).collect()
    }

    /// Whether a queued event could not be rebuilt from the database (e.g. `channel_updated`).
    pub(crate) fn queues_unrebuildable(&self) -> bool {
        self.queue
            .lock()
            .events
            .iter()
            .any(|event| event.change().is_none() && !event.is_droppable())
    }

    pub(crate) fn is_parked(&self) -> bool {
        self.queue.lock().parked
    }

    /// Marks the connection parked (no socket) or attached again. False when its queue was
    /// lost, which makes it useless to resume.
    pub(crate) fn set_parked(&self, parked: bool) -> bool {
        let mut queue = self.queue.lock();
        queue.parked = parked;
        !queue.lost
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

    /// Adds a connection (with a socket); true when it is its user's first active one here.
    pub(crate) fn insert(&mut self, handle: Arc<ConnectionHandle>) -> bool {
        let user_id = handle.user_id().to_string();
        self.by_user
            .entry(user_id.clone())
            .or_default()
            .push(handle);
        self.connection_count += 1;
        self.user_connection_count(&user_id) == 1
    }

    /// Removes this very connection if it is still registered. Returns None when it was not
    /// (already removed), else whether its user has no active connection here any more
    /// because of it.
    pub(crate) fn remove(&mut self, handle: &Arc<ConnectionHandle>) -> Option<bool> {
        let connections = self.by_user.get_mut(handle.user_id())?;
        let position = connections
            .iter()
            .position(|other| Arc::ptr_eq(other, handle))?;
        connections.swap_remove(position);
        if connections.is_empty() {
            self.by_user.remove(handle.user_id());
        }
        if handle.is_parked() {
            return Some(false);
        }
        self.connection_count -= 1;
        Some(self.user_connection_count(handle.user_id()) == 0)
    }

    /// Parks a registered, active connection (its socket is gone; events still queue).
    /// Returns whether that was its user's last active connection here, None when the
    /// connection is not registered, already parked, or its queue was lost.
    pub(crate) fn park(&mut self, handle: &Arc<ConnectionHandle>) -> Option<bool> {
        if !self.contains(handle) || handle.is_parked() || !handle.set_parked(true) {
            return None;
        }
        self.connection_count -= 1;
        Some(self.user_connection_count(handle.user_id()) == 0)
    }

    /// Makes a parked connection active again. Returns whether it is its user's first active
    /// connection here, None when it is not registered and parked, or its queue was lost.
    pub(crate) fn unpark(&mut self, handle: &Arc<ConnectionHandle>) -> Option<bool> {
        if !self.contains(handle) || !handle.is_parked() || !handle.set_parked(false) {
            return None;
        }
        self.connection_count += 1;
        Some(self.user_connection_count(handle.user_id()) == 1)
    }

    fn contains(&self, handle: &Arc<ConnectionHandle>) -> bool {
        self.by_user
            .get(handle.user_id())
            .is_some_and(|connections| connections.iter().any(|other| Arc::ptr_eq(other, handle)))
    }

    /// Connections with a socket attached (parked ones are not counted).
    pub(crate) fn connection_count(&self) -> usize {
        self.connection_count
    }

    /// A user's connections with a socket attached.
    pub(crate) fn user_connection_count(&self, user_id: &str) -> usize {
        self.by_user.get(user_id).map_or(0, |connections| {
            connections
                .iter()
                .filter(|handle| !handle.is_parked())
                .count()
        })
    }

    /// The connections `connection_id` of the session of `identity` (parked or not): only that
    /// user's connections are looked at.
    pub(crate) fn session_connections<'a>(
        &'a self,
        identity: &'a ConnectionIdentity,
        connection_id: &'a str,
    ) -> impl Iterator<Item = &'a Arc<ConnectionHandle>> + 'a {
        self.by_user
            .get(&identity.user_id)
            .into_iter()
            .flatten()
            .filter(move |handle| {
                handle.connection_id == connection_id
                    && handle.identity.session_id == identity.session_id
            })
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

/// Whether an event with `broadcast` is for `handle`: its audience (`members` of the channel or
/// team, as for [`Registry::for_each_recipient`]) and the per-connection filters.
pub(crate) fn is_for(
    broadcast: &Broadcast,
    members: Option<&HashSet<String>>,
    handle: &ConnectionHandle,
) -> bool {
    let in_audience = match Audience::of(broadcast) {
        Audience::User(user_id) => user_id == handle.user_id(),
        Audience::Channel(_) | Audience::Team(_) => {
            members.is_some_and(|members| members.contains(handle.user_id()))
        }
        Audience::Everyone => true,
    };
    in_audience && is_wanted(broadcast, handle)
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
        ConnectionHandle::new(connection_id.to_string(), identity(user_id), 8, 16)
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

    fn take_one(handle: &ConnectionHandle) {
        assert!(handle.queue.lock().events.pop_front().is_some());
    }

    #[test]
    fn droppable_events_are_skipped_from_half_full_and_a_full_queue_overflows_keeping_the_event() {
        let handle = ConnectionHandle::new("a1".into(), identity("alice"), 4, 6);
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
        assert_eq!(
            handle.take_queued().len(),
            5,
            "the overflowing event is kept"
        );

        for _ in 0..3 {
            handle.offer(&posted);
        }
        take_one(&handle);
        assert_eq!(handle.offer(&typing), Offer::Dropped, "still half full");
        take_one(&handle);
        assert_eq!(handle.offer(&typing), Offer::Queued, "below half again");
    }

    #[test]
    fn a_parked_queue_grows_to_its_own_limit_then_is_lost() {
        let handle = ConnectionHandle::new("a1".into(), identity("alice"), 4, 6);
        let posted = prepared(event_names::POSTED);
        assert!(handle.set_parked(true));
        for _ in 0..6 {
            assert_eq!(
                handle.offer(&posted),
                Offer::Queued,
                "no overflow while parked"
            );
        }
        assert_eq!(handle.offer(&posted), Offer::Lost);
        assert!(handle.take_queued().is_empty(), "a lost queue is freed");
        assert_eq!(handle.offer(&posted), Offer::Lost);
        assert!(!handle.set_parked(false), "cannot be resumed");
    }

    #[test]
    fn parked_connections_still_receive_but_do_not_count_as_present() {
        let mut registry = Registry::new();
        let laptop = handle("a1", "alice");
        let phone = handle("a2", "alice");
        assert!(registry.insert(laptop.clone()));
        assert!(!registry.insert(phone.clone()));
        assert_eq!(registry.park(&laptop), Some(false));
        assert_eq!(registry.park(&laptop), None, "already parked");
        assert_eq!(registry.park(&phone), Some(true), "alice's last active one");
        assert_eq!(registry.connection_count(), 0);
        assert_eq!(registry.user_connection_count("alice"), 0);
        assert_eq!(
            recipients(&registry, &Broadcast::to_user("alice"), None),
            ["a1", "a2"]
        );
        assert_eq!(registry.unpark(&phone), Some(true));
        assert_eq!(
            registry.remove(&laptop),
            Some(false),
            "a parked one leaves quietly"
        );
        assert_eq!(registry.remove(&phone), Some(true));
    }

    #[tokio::test]
    async fn the_first_close_request_wins() {
        let handle = ConnectionHandle::new("a1".into(), identity("alice"), 4, 8);
        handle.request_close(1001);
        handle.request_close(1000);
        assert_eq!(handle.closed().await, 1001);
        assert_eq!(handle.closed().await, 1001, "stays closed");
    }
}

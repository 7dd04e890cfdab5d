//! The stored changes this node dispatched lately, for connections resumed from another node.
//!
//! An event reaches the nodes of a cluster at different moments: a post waits on one node for
//! the post before it, a dispatcher waits for a channel's members, one link is slower than
//! another. So when a connection is handed over, this node may have dispatched an event just
//! before the connection was registered here (not queuing it for the connection) while the old
//! node had not queued it yet (and no longer will once it let the connection go): the client
//! would silently miss it. Knowing which changes the client already holds
//! (`ReceivedChanges`), [`RecentChanges::missed_by`] finds those
//! events, and the resume delivers them after the handed-over ones.
//!
//! Only on clustered nodes: the changes dispatched in the last 10 s, with their audience, at
//! most 20 000.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chorus_model::Broadcast;
use parking_lot::Mutex;
use tokio::time::Instant;

use crate::connection::ConnectionHandle;
use crate::frame::PreparedEvent;
use crate::registry::is_for;

/// How long a dispatched change is kept: far longer than an event takes to reach every node
/// (a post held for its predecessor waits half a second before that one is read from the
/// database).
const WINDOW: Duration = Duration::from_secs(10);

/// Changes kept at most, whatever the window (about 200 bytes each besides the event, which
/// the connection queues share).
const CAPACITY: usize = 20_000;

pub(crate) struct RecentChanges {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: VecDeque<Entry>,
    /// The position the next recorded change gets.
    next_position: u64,
}

struct Entry {
    position: u64,
    dispatched: Instant,
    event: Arc<PreparedEvent>,
    broadcast: Broadcast,
    /// The channel's or team's members when it was dispatched.
    members: Option<Arc<HashSet<String>>>,
}

impl RecentChanges {
    pub(crate) fn new() -> Self {
        RecentChanges {
            state: Mutex::new(State::default()),
        }
    }

    /// Records an event announcing a stored change, just dispatched to the connections of this
    /// node. Called with the registry read-locked, so that a registration (write-locked) falls
    /// cleanly between two changes (see [`RecentChanges::mark`]).
    pub(crate) fn record(
        &self,
        event: &Arc<PreparedEvent>,
        broadcast: &Broadcast,
        members: Option<&Arc<HashSet<String>>>,
    ) {
        debug_assert!(event.change().is_some());
        let now = Instant::now();
        let mut state = self.state.lock();
        while let Some(oldest) = state.entries.front() {
            let expired = now.duration_since(oldest.dispatched) >= WINDOW;
            if !expired && state.entries.len() < CAPACITY {
                break;
            }
            state.entries.pop_front();
        }
        let position = state.next_position;
        state.next_position += 1;
        state.entries.push_back(Entry {
            position,
            dispatched: now,
            event: Arc::clone(event),
            broadcast: broadcast.clone(),
            members: members.cloned(),
        });
    }

    /// Where the record stands. Read with the registry write-locked while a connection is
    /// registered: the changes before the mark were dispatched without that connection.
    pub(crate) fn mark(&self) -> u64 {
        self.state.lock().next_position
    }

    /// The changes dispatched before `mark` that were for `handle` and that its client does not
    /// hold: recorded after `complete_after` (ms) and not in `known` (change keys), in the
    /// order they were dispatched.
    pub(crate) fn missed_by(
        &self,
        handle: &ConnectionHandle,
        mark: u64,
        complete_after: i64,
        known: &HashSet<&str>,
    ) -> Vec<Arc<PreparedEvent>> {
        let state = self.state.lock();
        state
            .entries
            .iter()
            .filter(|entry| entry.position < mark)
            .filter(|entry| {
                entry.event.change().is_some_and(|change| {
                    change.at > complete_after && !known.contains(change.key.as_str())
                })
            })
            .filter(|entry| is_for(&entry.broadcast, entry.members.as_deref(), handle))
            .map(|entry| Arc::clone(&entry.event))
            .collect()
    }
}

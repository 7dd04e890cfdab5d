//! Resuming a connection: a client that reconnects with `connection_id` and `sequence_number`
//! (the next `seq` it expects, as Mattermost's clients send it) gets every frame it missed, in
//! order and with their original `seq`, and no `hello`; then the connection carries on.
//!
//! The state comes from this node when the connection is parked here (or still open here on a
//! half-open socket, which is then closed so it parks). When the client cannot be given every
//! missed frame, it gets a fresh connection and `hello` with a new connection id, which tells
//! it to resync: never a silent loss.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{sleep, Instant};
use tracing::debug;

use crate::delegate::ConnectionIdentity;
use crate::frame::{ConnectionState, PreparedEvent};
use crate::hub::Shared;
use crate::registry::ConnectionHandle;

/// How long a resume waits for a still-open connection of the same id to close and park.
const TAKEOVER_TIMEOUT: Duration = Duration::from_secs(3);

/// How a new socket starts.
pub(crate) enum Attached {
    /// A new connection: new id, `hello`.
    Fresh,
    /// An existing connection taken up again.
    Resumed {
        handle: Arc<ConnectionHandle>,
        state: ConnectionState,
        /// The frames the client missed, with their `seq`, to send before anything else.
        replay: Vec<String>,
        /// Events that may arrive in the queue although the replay already holds them.
        overlap: Overlap,
    },
    /// The hub no longer accepts connections.
    Refused,
}

/// Finds the state of `connection_id` for a client of `identity` that expects
/// `sequence_number` next.
pub(crate) async fn attach(
    shared: &Arc<Shared>,
    identity: &ConnectionIdentity,
    connection_id: String,
    sequence_number: i64,
) -> Attached {
    let Some((handle, state)) = take_local(shared, identity, &connection_id).await else {
        debug!(%connection_id, sequence_number, "unknown connection, starting a fresh one");
        return Attached::Fresh;
    };
    match state.frames_since(sequence_number) {
        Some(replay) => {
            debug!(%connection_id, sequence_number, missed = replay.len(), "websocket resumed");
            Attached::Resumed {
                handle,
                state,
                replay,
                overlap: Overlap::none(),
            }
        }
        None => {
            debug!(
                %connection_id,
                sequence_number,
                next_seq = state.next_seq(),
                "missed frames no longer kept, starting a fresh connection"
            );
            shared.unregister(&handle);
            Attached::Fresh
        }
    }
}

/// The parked connection `connection_id` of this session on this node, closing it first if
/// its socket still looks open.
async fn take_local(
    shared: &Arc<Shared>,
    identity: &ConnectionIdentity,
    connection_id: &str,
) -> Option<(Arc<ConnectionHandle>, ConnectionState)> {
    if let Some(found) = shared.unpark(connection_id, identity) {
        return Some(found);
    }
    if !shared.close_for_takeover(connection_id, identity) {
        return None;
    }
    let deadline = Instant::now() + TAKEOVER_TIMEOUT;
    while Instant::now() < deadline {
        sleep(Duration::from_millis(5)).await;
        if let Some(found) = shared.unpark(connection_id, identity) {
            return Some(found);
        }
    }
    None
}

/// Events a resumed connection must not send twice: the ones handed over with it that may
/// also reach its new queue, because they were published while both the old and the new
/// place of the connection were receiving. Each key is skipped once, within a short window.
#[derive(Debug, Default)]
pub(crate) struct Overlap {
    keys: HashMap<Box<str>, usize>,
    until: Option<Instant>,
}

/// Long enough for any event published before the handover to have reached this node.
const OVERLAP_WINDOW: Duration = Duration::from_secs(10);

impl Overlap {
    pub(crate) fn none() -> Self {
        Overlap::default()
    }

    pub(crate) fn of<'a>(events: impl IntoIterator<Item = &'a PreparedEvent>) -> Self {
        let mut keys: HashMap<Box<str>, usize> = HashMap::new();
        for event in events {
            *keys.entry(event.open_object().into()).or_default() += 1;
        }
        Overlap {
            keys,
            until: Some(Instant::now() + OVERLAP_WINDOW),
        }
    }

    /// Whether `event` was already handed over (and so is not sent again).
    pub(crate) fn skips(&mut self, event: &PreparedEvent) -> bool {
        if self.keys.is_empty() {
            return false;
        }
        if self.until.is_some_and(|until| Instant::now() >= until) {
            self.keys = HashMap::new();
            return false;
        }
        let Some(count) = self.keys.get_mut(event.open_object()) else {
            return false;
        };
        *count -= 1;
        if *count == 0 {
            self.keys.remove(event.open_object());
        }
        true
    }
}

//! Resuming a connection: a client that reconnects with `connection_id` and `sequence_number`
//! (the next `seq` it expects, as Mattermost's clients send it) gets every frame it missed, in
//! order and with their original `seq`, and no `hello`; then the connection carries on.
//!
//! The state comes from this node when the connection is parked here (or still open here on a
//! half-open socket, which is then closed so it parks); otherwise from wherever the
//! continuity finds it (`Continuity::resume_elsewhere`: another node hands its parked connection over
//! with [`hand_over`]). When the client cannot be given every missed frame, it gets a fresh
//! connection and `hello` with a new connection id, which tells it to resync: never a silent
//! loss.
//!
//! A connection resumed from elsewhere is registered here *before* it is asked for, so nothing
//! published from then on is missed; what both places received in that moment is sent once
//! ([`Overlap`]). Events reach the two nodes at different moments, though: with the changes the
//! client already holds (`ReceivedChanges`, from the continuity), what this node dispatched just
//! before the registration and the old node had not yet queued is delivered after the
//! handed-over frames (`recent`), and what the client holds is not sent again when this node
//! dispatches it late.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{sleep, Instant};
use tracing::debug;

use crate::delegate::{
    ConnectionIdentity, HandedOverEvent, ReceivedChanges, ResumeRequest, ResumeSource,
};
use crate::frame::{ConnectionState, PreparedEvent};
use crate::hub::Shared;
use crate::registry::ConnectionHandle;

/// How long a resume waits for a still-open connection of the same id to close and park.
const TAKEOVER_TIMEOUT: Duration = Duration::from_secs(1);

/// How a new socket starts.
pub(crate) enum Attached {
    /// A new connection: new id, `hello`. `superseded` is a connection registered for the
    /// resume attempt, to unregister once the new one is registered (so the user does not
    /// flap offline and online).
    Fresh {
        superseded: Option<Arc<ConnectionHandle>>,
    },
    /// An existing connection taken up again.
    Resumed {
        handle: Arc<ConnectionHandle>,
        state: ConnectionState,
        /// The events the client missed, with their `seq`, to send before anything else.
        replay: Vec<(i64, Arc<PreparedEvent>)>,
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
    if is_stale(shared, identity, &connection_id, sequence_number) {
        return Attached::Fresh { superseded: None };
    }
    let Some((handle, state, overlap)) = take_local(shared, identity, &connection_id).await else {
        return attach_from_elsewhere(shared, identity, connection_id, sequence_number).await;
    };
    match state.events_since(sequence_number) {
        Some(replay) => {
            debug!(%connection_id, sequence_number, missed = replay.len(), "websocket resumed");
            Attached::Resumed {
                handle,
                state,
                replay,
                overlap,
            }
        }
        None => {
            debug!(
                %connection_id,
                sequence_number,
                next_seq = state.next_seq(),
                "missed frames no longer kept, starting a fresh connection"
            );
            Attached::Fresh {
                superseded: Some(handle),
            }
        }
    }
}

/// Registers the connection here, then asks the continuity where its state is.
async fn attach_from_elsewhere(
    shared: &Arc<Shared>,
    identity: &ConnectionIdentity,
    connection_id: String,
    sequence_number: i64,
) -> Attached {
    let handle = ConnectionHandle::continued(
        connection_id.clone(),
        identity.clone(),
        shared.config.send_queue_size,
        shared.config.parked_queue_size,
    );
    let Some(registered_at) = shared.register_marked(&handle) else {
        return Attached::Refused;
    };
    let request = ResumeRequest {
        connection_id: connection_id.clone(),
        user_id: identity.user_id.clone(),
        session_id: identity.session_id.clone(),
        sequence_number,
    };
    match shared.resume_elsewhere(request).await {
        ResumeSource::HandedOver {
            sent,
            queued,
            next_seq,
            received,
        } => {
            let sent_count = sent.len() as i64;
            if sequence_number + sent_count != next_seq {
                debug!(%connection_id, sequence_number, next_seq, "inconsistent handover");
                return Attached::Fresh {
                    superseded: Some(handle),
                };
            }
            let sent: Vec<(i64, Arc<PreparedEvent>)> = sent
                .into_iter()
                .enumerate()
                .map(|(index, event)| (sequence_number + index as i64, prepared(event)))
                .collect();
            let queued: Vec<Arc<PreparedEvent>> = queued.into_iter().map(prepared).collect();
            let handed_over: Vec<&PreparedEvent> = sent
                .iter()
                .map(|(_, event)| event.as_ref())
                .chain(queued.iter().map(Arc::as_ref))
                .collect();
            let late = match &received {
                Some(received) => {
                    missed_meanwhile(shared, &handle, registered_at, received, &handed_over)
                }
                None => Vec::new(),
            };
            let mut overlap =
                Overlap::of(handed_over.into_iter().chain(late.iter().map(Arc::as_ref)));
            if let Some(received) = &received {
                // This node may deliver them after the client got them from the old node.
                overlap.also_skip(received.keys.iter().map(String::as_str));
            }
            let late_count = late.len();
            let mut replay = sent.clone();
            let mut state = ConnectionState::resumed(connection_id.clone(), sent, next_seq);
            for event in queued.into_iter().chain(late) {
                replay.push((state.number(Arc::clone(&event)), event));
            }
            debug!(%connection_id, sequence_number, missed = replay.len(), late = late_count, "websocket resumed from another node");
            Attached::Resumed {
                handle,
                state,
                replay,
                overlap,
            }
        }
        ResumeSource::Rebuilt { events, received } => {
            let rebuilt: Vec<Arc<PreparedEvent>> = events
                .iter()
                .map(|event| Arc::new(PreparedEvent::new(event)))
                .collect();
            let mut overlap = Overlap::of(rebuilt.iter().map(Arc::as_ref));
            overlap.also_skip(received.keys.iter().map(String::as_str));
            let mut state =
                ConnectionState::resumed(connection_id.clone(), Vec::new(), sequence_number);
            let replay: Vec<(i64, Arc<PreparedEvent>)> = rebuilt
                .into_iter()
                .map(|event| (state.number(Arc::clone(&event)), event))
                .collect();
            debug!(%connection_id, sequence_number, missed = replay.len(), "websocket resumed from the database");
            Attached::Resumed {
                handle,
                state,
                replay,
                overlap,
            }
        }
        ResumeSource::Unknown | ResumeSource::Lost => {
            debug!(%connection_id, sequence_number, "connection not resumable, starting a fresh one");
            Attached::Fresh {
                superseded: Some(handle),
            }
        }
    }
}

/// What this node dispatched before the connection was registered here (`registered_at`), for
/// it, that its client does not hold and the old node had not queued for it (`handed_over`):
/// the old node would have queued it after letting the connection go (see `recent`).
fn missed_meanwhile(
    shared: &Shared,
    handle: &ConnectionHandle,
    registered_at: u64,
    received: &ReceivedChanges,
    handed_over: &[&PreparedEvent],
) -> Vec<Arc<PreparedEvent>> {
    let Some(recent) = &shared.recent else {
        return Vec::new();
    };
    let mut known: HashSet<&str> = received.keys.iter().map(String::as_str).collect();
    known.extend(
        handed_over
            .iter()
            .filter_map(|event| event.change())
            .map(|change| change.key.as_str()),
    );
    recent.missed_by(handle, registered_at, received.complete_after, &known)
}

fn prepared(event: HandedOverEvent) -> Arc<PreparedEvent> {
    Arc::new(PreparedEvent::from_open_object(
        event.open_object,
        event.droppable,
    ))
}

/// Gives up a connection parked on this node (or closes and then gives up one still open here)
/// to another node where its client reconnected: the frames sent from `request.sequence_number`
/// on and the events queued (what the client received before is for the asking node's
/// continuity to tell its hub). The connection is gone from this node afterwards.
pub(crate) async fn hand_over(shared: &Arc<Shared>, request: &ResumeRequest) -> ResumeSource {
    let identity = ConnectionIdentity {
        user_id: request.user_id.clone(),
        session_id: request.session_id.clone(),
        session_token: String::new(),
        expires_at: 0,
    };
    if is_stale(
        shared,
        &identity,
        &request.connection_id,
        request.sequence_number,
    ) {
        return ResumeSource::Lost;
    }
    let Some((handle, state, mut overlap)) =
        take_local(shared, &identity, &request.connection_id).await
    else {
        return ResumeSource::Unknown;
    };
    // Unregistered first: from here on, events reach only the connection's new node.
    shared.unregister_handed_over(&handle);
    let Some(sent) = state.events_since(request.sequence_number) else {
        debug!(connection_id = %request.connection_id, sequence_number = request.sequence_number, next_seq = state.next_seq(), "parked websocket lacks frames the client missed, not handed over");
        shared.unregister(&handle);
        return ResumeSource::Lost;
    };
    // A connection that parked while skipping events its frames had announced (it was just
    // resumed here, then its client gave up on that attempt) must not hand them over again.
    let queued: Vec<Arc<PreparedEvent>> = handle
        .take_queued()
        .into_iter()
        .filter(|event| !overlap.skips(event))
        .collect();
    debug!(connection_id = %request.connection_id, sequence_number = request.sequence_number, next_seq = state.next_seq(), sent = sent.len(), queued = queued.len(), "websocket handed over to another node");
    ResumeSource::HandedOver {
        sent: sent.iter().map(|(_, event)| handed_over(event)).collect(),
        queued: queued.iter().map(|event| handed_over(event)).collect(),
        next_seq: state.next_seq(),
        received: None,
    }
}

fn handed_over(event: &PreparedEvent) -> HandedOverEvent {
    HandedOverEvent {
        open_object: event.open_object().to_string(),
        droppable: event.is_droppable(),
    }
}

/// Whether the connection's client already acknowledged frames from `sequence_number` on:
/// then this is an attempt it gave up on (a storm, a slow admission) and has since resumed
/// elsewhere. Taking the connection over would replay from there, frames the client holds.
/// The attempt's client, if still listening, gets a fresh connection.
fn is_stale(
    shared: &Shared,
    identity: &ConnectionIdentity,
    connection_id: &str,
    sequence_number: i64,
) -> bool {
    let acknowledged = shared.acknowledged_next_seq(connection_id, identity);
    let stale = acknowledged.is_some_and(|next_seq| sequence_number < next_seq);
    if stale {
        debug!(%connection_id, sequence_number, ?acknowledged, "stale websocket resume refused");
    }
    stale
}

/// The parked connection `connection_id` of this session on this node, closing it first if
/// its socket still looks open.
async fn take_local(
    shared: &Arc<Shared>,
    identity: &ConnectionIdentity,
    connection_id: &str,
) -> Option<(Arc<ConnectionHandle>, ConnectionState, Overlap)> {
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

/// Events a resumed connection must not send twice: the ones handed over with it (or rebuilt
/// from the database) that may also reach its new queue, because they were published while
/// both the old and the new place of the connection were receiving. An event is known by the
/// stored change it announces, else by its JSON; each key is skipped once, within a short
/// window.
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
            *keys.entry(overlap_key(event).into()).or_default() += 1;
        }
        Overlap {
            keys,
            until: Some(Instant::now() + OVERLAP_WINDOW),
        }
    }

    /// Also skips, once each, the events announcing these changes (the client holds them).
    pub(crate) fn also_skip<'a>(&mut self, change_keys: impl IntoIterator<Item = &'a str>) {
        for key in change_keys {
            *self.keys.entry(key.into()).or_default() += 1;
        }
        if !self.keys.is_empty() && self.until.is_none() {
            self.until = Some(Instant::now() + OVERLAP_WINDOW);
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
        let key = overlap_key(event);
        let Some(count) = self.keys.get_mut(key) else {
            return false;
        };
        *count -= 1;
        if *count == 0 {
            self.keys.remove(key);
        }
        true
    }
}

fn overlap_key(event: &PreparedEvent) -> &str {
    match event.change() {
        Some(change) => &change.key,
        None => event.open_object(),
    }
}

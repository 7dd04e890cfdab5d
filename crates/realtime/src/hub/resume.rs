//! Resuming a connection, Mattermost's reliable-websocket contract as its server and
//! `@mattermost/client` implement it: the client reconnects with `connection_id` (from
//! `hello`) and `sequence_number`, the next `seq` it expects. If every frame from that `seq` on
//! can be delivered, they come first with their original `seq`, no `hello`, and the connection
//! carries on with the same id; otherwise (unknown or another session's id, a `seq` ahead of
//! what was sent or older than the 128 frames kept, state expired) the client gets a fresh
//! connection with a new id and `hello` at `seq` 0, which makes it resync over REST: never a
//! silent loss. A malformed id is treated as unknown (Mattermost closes the socket, and its
//! client retries forever).
//!
//! Where the state comes from, in order:
//!
//! - **Parked here** (`continuity::parking`): taken up again.
//! - **Still open here, on a half-open socket**: the resume closes that socket (1001) and waits
//!   up to 1 s for it to park. Not when the resume is stale: a client's pong records which
//!   frames it holds (`ConnectionHandle::acknowledged_next_seq`; the server pings right after a
//!   resume's replay and after every 64 frames, see `liveness::AckProbes`), and an attempt from
//!   an earlier `sequence_number` — one its client gave up on in a storm, admitted late — gets a
//!   fresh connection instead of replaying frames the client has ([`is_stale`]).
//! - **Elsewhere** (`Continuity::resume_elsewhere`): another node hands its connection over
//!   with [`hand_over`] (`ResumeSource::HandedOver`), or the continuity rebuilds what the client
//!   missed from the database (`ResumeSource::Rebuilt`).
//!
//! A connection resumed from elsewhere is registered here *before* the continuity is asked, so
//! nothing published from then on is missed; what both places received in that moment is sent
//! once (`continuity::overlap`). Events reach the two nodes at different moments, though (a
//! post held for its predecessor, a slower link), so the cut is not clean by itself: with the
//! changes the client already holds (`ReceivedChanges`, which the continuity reads from the old
//! node's checkpoints), what this node dispatched just before the registration and the old node
//! had not yet queued is delivered after the handed-over frames (`continuity::recent`), and
//! what the client holds is not sent again when this node dispatches it late. A rebuild from
//! the database skips those too.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{sleep, Instant};
use tracing::debug;

use super::state::{HubState, ResumeCounters};
use crate::connection::ConnectionHandle;
use crate::continuity::overlap::Overlap;
use crate::continuity::parking::Parked;
use crate::continuity::{HandedOverEvent, ReceivedChanges, ResumeRequest, ResumeSource};
use crate::delegate::ConnectionIdentity;
use crate::frame::{ConnectionState, PreparedEvent};

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
    hub: &HubState,
    identity: &ConnectionIdentity,
    connection_id: String,
    sequence_number: i64,
) -> Attached {
    if is_stale(hub, identity, &connection_id, sequence_number) {
        return Attached::Fresh { superseded: None };
    }
    let Some(Parked {
        handle,
        state,
        overlap,
    }) = take_local(hub, identity, &connection_id).await
    else {
        return attach_from_elsewhere(hub, identity, connection_id, sequence_number).await;
    };
    match state.events_since(sequence_number) {
        Some(replay) => {
            debug!(%connection_id, sequence_number, missed = replay.len(), "websocket resumed");
            ResumeCounters::bump(&hub.resumes().local);
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
    hub: &HubState,
    identity: &ConnectionIdentity,
    connection_id: String,
    sequence_number: i64,
) -> Attached {
    let handle = ConnectionHandle::continued(
        connection_id.clone(),
        identity.clone(),
        hub.config().send_queue_size,
        hub.config().parked_queue_size,
    );
    let Some(registered_at) = hub.register_marked(&handle) else {
        return Attached::Refused;
    };
    let request = ResumeRequest {
        connection_id: connection_id.clone(),
        user_id: identity.user_id.clone(),
        session_id: identity.session_id.clone(),
        sequence_number,
    };
    match hub.resume_elsewhere(request).await {
        ResumeSource::HandedOver {
            sent,
            queued,
            next_seq,
            received,
            passed,
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
                .map(|(index, event)| (sequence_number + index as i64, event.prepare()))
                .collect();
            let queued: Vec<Arc<PreparedEvent>> =
                queued.into_iter().map(HandedOverEvent::prepare).collect();
            let handed_over: Vec<&PreparedEvent> = sent
                .iter()
                .map(|(_, event)| event.as_ref())
                .chain(queued.iter().map(Arc::as_ref))
                .collect();
            let mut late = match &received {
                Some(received) => {
                    missed_meanwhile(hub, &handle, registered_at, received, &handed_over)
                }
                None => Vec::new(),
            };
            late.extend(passed_and_missed(
                &handle,
                passed,
                received.as_ref(),
                &handed_over,
                &late,
            ));
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
            ResumeCounters::bump(&hub.resumes().handed_over);
            Attached::Resumed {
                handle,
                state,
                replay,
                overlap,
            }
        }
        ResumeSource::Rebuilt { events, received } => {
            // Rebuilt for this user, but not routed: the copy of an event meant for admins (or
            // for everyone else) still goes only to them, as the live path would have sent it.
            let rebuilt: Vec<Arc<PreparedEvent>> = events
                .iter()
                .filter(|event| event.broadcast.is_for_reader(handle.is_system_admin()))
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
            ResumeCounters::bump(&hub.resumes().rebuilt);
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
/// the old node would have queued it after letting the connection go (see `continuity::recent`).
fn missed_meanwhile(
    hub: &HubState,
    handle: &ConnectionHandle,
    registered_at: u64,
    received: &ReceivedChanges,
    handed_over: &[&PreparedEvent],
) -> Vec<Arc<PreparedEvent>> {
    let Some(recent) = hub.recent() else {
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

/// Of the events this node was told of only in passing (see `ResumeSource::HandedOver`),
/// those for this connection that its client neither holds (`received`) nor gets in
/// `handed_over` or `late` already.
fn passed_and_missed(
    handle: &ConnectionHandle,
    passed: Vec<chorus_model::WebSocketEvent>,
    received: Option<&ReceivedChanges>,
    handed_over: &[&PreparedEvent],
    late: &[Arc<PreparedEvent>],
) -> Vec<Arc<PreparedEvent>> {
    if passed.is_empty() {
        return Vec::new();
    }
    let complete_after = received.map_or(i64::MIN, |received| received.complete_after);
    let mut known: HashSet<String> = received
        .map(|received| received.keys.iter().cloned().collect())
        .unwrap_or_default();
    known.extend(
        handed_over
            .iter()
            .copied()
            .chain(late.iter().map(Arc::as_ref))
            .filter_map(|event| event.change())
            .map(|change| change.key.clone()),
    );
    passed
        .iter()
        .filter(|event| event.broadcast.is_for_reader(handle.is_system_admin()))
        .map(|event| Arc::new(PreparedEvent::new(event)))
        .filter(|event| {
            event.change().is_some_and(|change| {
                change.at > complete_after && known.insert(change.key.clone())
            })
        })
        .collect()
}

/// Gives up a connection parked on this node (or closes and then gives up one still open here)
/// to another node where its client reconnected: the frames sent from `request.sequence_number`
/// on and the events queued (what the client received before is for the asking node's
/// continuity to tell its hub). The connection is gone from this node afterwards.
pub(crate) async fn hand_over(hub: &HubState, request: &ResumeRequest) -> ResumeSource {
    let identity = ConnectionIdentity {
        user_id: request.user_id.clone(),
        session_id: request.session_id.clone(),
        session_token: String::new(),
        expires_at: 0,
        is_system_admin: false,
    };
    if is_stale(
        hub,
        &identity,
        &request.connection_id,
        request.sequence_number,
    ) {
        return ResumeSource::Lost;
    }
    let Some(Parked {
        handle,
        state,
        mut overlap,
    }) = take_local(hub, &identity, &request.connection_id).await
    else {
        return ResumeSource::Unknown;
    };
    // Unregistered first: from here on, events reach only the connection's new node.
    hub.unregister_handed_over(&handle);
    let Some(sent) = state.events_since(request.sequence_number) else {
        debug!(connection_id = %request.connection_id, sequence_number = request.sequence_number, next_seq = state.next_seq(), "parked websocket lacks frames the client missed, not handed over");
        hub.unregister(&handle);
        return ResumeSource::Lost;
    };
    // A connection that parked while skipping events its frames had announced (it was just
    // resumed here, then its client gave up on that attempt) must not hand them over again.
    let queued: Vec<Arc<PreparedEvent>> = handle
        .queue()
        .take_all()
        .into_iter()
        .filter(|event| !overlap.skips(event))
        .collect();
    debug!(connection_id = %request.connection_id, sequence_number = request.sequence_number, next_seq = state.next_seq(), sent = sent.len(), queued = queued.len(), "websocket handed over to another node");
    ResumeSource::HandedOver {
        sent: sent
            .iter()
            .map(|(_, event)| HandedOverEvent::of(event))
            .collect(),
        queued: queued
            .iter()
            .map(|event| HandedOverEvent::of(event))
            .collect(),
        next_seq: state.next_seq(),
        received: None,
        passed: Vec::new(),
    }
}

/// Whether the connection's client already acknowledged frames from `sequence_number` on:
/// then this is an attempt it gave up on (a storm, a slow admission) and has since resumed
/// elsewhere. Taking the connection over would replay from there, frames the client holds.
/// The attempt's client, if still listening, gets a fresh connection.
fn is_stale(
    hub: &HubState,
    identity: &ConnectionIdentity,
    connection_id: &str,
    sequence_number: i64,
) -> bool {
    let acknowledged = hub.acknowledged_next_seq(connection_id, identity);
    let stale = acknowledged.is_some_and(|next_seq| sequence_number < next_seq);
    if stale {
        debug!(%connection_id, sequence_number, ?acknowledged, "stale websocket resume refused");
    }
    stale
}

/// The parked connection `connection_id` of this session on this node, closing it first if
/// its socket still looks open.
async fn take_local(
    hub: &HubState,
    identity: &ConnectionIdentity,
    connection_id: &str,
) -> Option<Parked> {
    if let Some(found) = hub.unpark(connection_id, identity) {
        return Some(found);
    }
    if !hub.close_for_takeover(connection_id, identity) {
        return None;
    }
    let deadline = Instant::now() + TAKEOVER_TIMEOUT;
    while Instant::now() < deadline {
        sleep(Duration::from_millis(5)).await;
        if let Some(found) = hub.unpark(connection_id, identity) {
            return Some(found);
        }
    }
    None
}

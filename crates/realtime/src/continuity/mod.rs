//! Per-connection continuity: what lets a client's connection outlive its socket and its
//! node. The hub uses these pieces; the `relay` crate (through [`Continuity`], and
//! `Hub::hand_over`) uses them to serve resumes across nodes.
//!
//! - `parking`: a connection whose socket ended waits here, still receiving, for a resume.
//! - `overlap`: what a resumed connection must not send twice.
//! - `recent`: the changes this node dispatched lately, for what a hand-over would miss.
//! - `checkpoint`: what each connection was sent, told to the other nodes before it is written.
//! - this module: the seam to whoever keeps connections going across nodes ([`Continuity`])
//!   and what crosses it ([`ResumeRequest`], [`ResumeSource`], [`HandedOverEvent`],
//!   [`ReceivedChanges`], `checkpoint::ConnectionCheckpoint`).
//!
//! (Which stored change an event announces, `change`, is read once per event with its frame,
//! one layer down.) The resume itself — taking a parked connection up, or asking elsewhere —
//! is the hub's (`hub::resume`): it needs the registry and the parking lot together.

pub(crate) mod checkpoint;
pub(crate) mod overlap;
pub(crate) mod parking;
pub(crate) mod recent;

use std::sync::Arc;

use chorus_model::WebSocketEvent;
use futures_util::future::BoxFuture;

use crate::frame::PreparedEvent;
use checkpoint::ConnectionCheckpoint;

/// What the hub needs from whoever keeps connections going across nodes (the `relay` crate):
/// given to a running hub with `Hub::set_continuity`. A hub
/// without one is alone in the world: a connection it does not have is unknown, and its
/// checkpoints go nowhere.
pub trait Continuity: Send + Sync + 'static {
    /// Looks for a connection that is not on this node (the other nodes, the database). The
    /// hub has already registered the connection here, so events published from now on queue
    /// for it.
    fn resume_elsewhere(&self, request: ResumeRequest) -> BoxFuture<'static, ResumeSource>;

    /// What connections of this node are about to be sent (see `HubConfig::checkpoint_interval`),
    /// for the other nodes. Called every few milliseconds from one task; must not block.
    fn checkpoint(&self, batch: Vec<ConnectionCheckpoint>);
}

/// A client asks to resume a connection this node does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeRequest {
    pub connection_id: String,
    pub user_id: String,
    pub session_id: String,
    /// The next `seq` the client expects.
    pub sequence_number: i64,
}

/// One event of a connection handed from one node to another: its JSON without the closing
/// brace (as the hub serializes it, `seq` not included) and whether it may be dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandedOverEvent {
    pub open_object: String,
    pub droppable: bool,
}

impl HandedOverEvent {
    pub(crate) fn of(event: &PreparedEvent) -> Self {
        HandedOverEvent {
            open_object: event.open_object().to_string(),
            droppable: event.is_droppable(),
        }
    }

    /// The event as this node's writers send it.
    pub(crate) fn prepare(self) -> Arc<PreparedEvent> {
        Arc::new(PreparedEvent::from_open_object(
            self.open_object,
            self.droppable,
        ))
    }
}

/// Where the state of a connection to resume was found.
#[derive(Debug, Clone, PartialEq)]
pub enum ResumeSource {
    /// Nowhere: the client gets a new connection id and `hello`, and resyncs.
    Unknown,
    /// Known, but some missed frames are gone: the client must resync.
    Lost,
    /// Another node handed the connection over: the frames it sent from the client's
    /// `sequence_number` on (numbered from there), the events it had queued but not sent, and
    /// the `seq` its next frame would have had. `received`: the stored changes the client
    /// holds already, when the continuity knows them (from the old node's checkpoints); with
    /// them the hub also gives the client what this node delivered before the connection
    /// came and the old node had not yet, and sends nothing it already has twice.
    HandedOver {
        sent: Vec<HandedOverEvent>,
        queued: Vec<HandedOverEvent>,
        next_seq: i64,
        received: Option<ReceivedChanges>,
        /// Events of stored changes this node was told of only in passing (no client here
        /// wanted them then), read back for this client: the hub gives the ones the client
        /// lacks after the handed-over frames, as it does with what it dispatched itself
        /// before the connection came.
        passed: Vec<WebSocketEvent>,
    },
    /// The connection's node is gone; these are the stored changes its client missed, rebuilt
    /// from the database, in order: they continue from the client's `sequence_number`.
    /// `received`: the changes the client holds, not sent again when this node dispatches them
    /// late.
    Rebuilt {
        events: Vec<WebSocketEvent>,
        received: ReceivedChanges,
    },
}

impl ResumeSource {
    /// A hand-over, told what its client holds (see [`ResumeSource::HandedOver`]); any other
    /// source as it is.
    pub fn with_received(mut self, received: Option<ReceivedChanges>) -> ResumeSource {
        if let ResumeSource::HandedOver { received: slot, .. } = &mut self {
            *slot = received;
        }
        self
    }

    /// A hand-over, given the events of changes this node was told of only in passing (see
    /// [`ResumeSource::HandedOver`]); any other source as it is.
    pub fn with_passed(mut self, passed: Vec<WebSocketEvent>) -> ResumeSource {
        if let ResumeSource::HandedOver { passed: slot, .. } = &mut self {
            *slot = passed;
        }
        self
    }
}

/// The stored changes a client holds, as checkpoints recorded them: every change recorded at or
/// before `complete_after` that it was meant to receive (ms, the database row's time), and
/// `keys` (see `Change`) after it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceivedChanges {
    pub complete_after: i64,
    pub keys: Vec<String>,
}

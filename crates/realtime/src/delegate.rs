//! The hub's only ways into the rest of the server: [`HubDelegate`] (the app: who a token is,
//! who is in a channel, client actions, presence) and [`Continuity`] (whoever serves resumes
//! across nodes: where a connection this node lacks is, and what each connection was sent).

use std::collections::HashSet;
use std::sync::Arc;

use chorus_model::{WebSocketEvent, WebSocketRequest};

use crate::checkpoint::ConnectionCheckpoint;
use futures_util::future::BoxFuture;

/// Who is on the other end of an authenticated connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionIdentity {
    pub user_id: String,
    pub session_id: String,
    pub session_token: String,
    /// Milliseconds since the epoch; 0 means the session never expires. The connection is
    /// closed when it passes.
    pub expires_at: i64,
}

/// What the hub needs from the server around it; implemented by `app`.
///
/// The synchronous callbacks (`user_connected`, `user_disconnected`) run while the hub holds
/// its registration lock, so that they are seen in the order connections came and went: they
/// must return quickly (spawn any I/O) and must not open or close connections themselves.
/// Reading the hub (`Hub::user_connection_count`, `Hub::publish`) from them is fine.
pub trait HubDelegate: Send + Sync + 'static {
    /// token → identity, None when invalid/expired (used for `authentication_challenge`).
    fn authenticate(&self, token: String) -> BoxFuture<'static, Option<ConnectionIdentity>>;

    /// User ids of a channel's members (the delegate caches; the hub calls this per channel
    /// event). None: the channel is unknown, and the event goes to nobody.
    fn channel_member_ids(
        &self,
        channel_id: String,
    ) -> BoxFuture<'static, Option<Arc<HashSet<String>>>>;

    /// User ids of a team's members, like [`HubDelegate::channel_member_ids`].
    fn team_member_ids(&self, team_id: String) -> BoxFuture<'static, Option<Arc<HashSet<String>>>>;

    /// A client action other than `authentication_challenge` and `ping` (e.g. `user_typing`,
    /// `get_statuses`). `Ok(data)` → `{"status":"OK","seq_reply":n,"data":..}`; `Err` → a
    /// FAIL response carrying the error.
    fn handle_action(
        &self,
        identity: ConnectionIdentity,
        connection_id: String,
        request: WebSocketRequest,
    ) -> BoxFuture<'static, Result<Option<serde_json::Value>, ActionError>>;

    /// The first connection of a user on this node opened (status online).
    fn user_connected(&self, user_id: String);

    /// The last connection of a user on this node closed (status offline, once other nodes
    /// agree).
    fn user_disconnected(&self, user_id: String);
}

/// Why a client action failed, as the FAIL reply carries it:
/// `{"status":"FAIL","seq_reply":n,"error":{"id","message","detailed_error","status_code"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionError {
    /// Mattermost-style translation id, e.g. `api.web_socket_router.bad_seq.app_error`.
    pub id: String,
    pub message: String,
    pub detailed_error: String,
    /// The HTTP status the same failure would have on the REST API.
    pub status_code: u16,
}

impl ActionError {
    pub fn new(status_code: u16, id: impl Into<String>, message: impl Into<String>) -> Self {
        ActionError {
            id: id.into(),
            message: message.into(),
            detailed_error: String::new(),
            status_code,
        }
    }
}

/// What the hub needs from whoever keeps connections going across nodes (the `relay` crate):
/// given to a running hub with [`Hub::set_continuity`](crate::Hub::set_continuity). A hub
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
    pub fn with_received(self, received: Option<ReceivedChanges>) -> ResumeSource {
        match self {
            ResumeSource::HandedOver {
                sent,
                queued,
                next_seq,
                received: _,
            } => ResumeSource::HandedOver {
                sent,
                queued,
                next_seq,
                received,
            },
            other => other,
        }
    }
}

/// The stored changes a client holds, as checkpoints recorded them: every change recorded at or
/// before `complete_after` that it was meant to receive (ms, the database row's time), and
/// `keys` (see [`crate::Change`]) after it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceivedChanges {
    pub complete_after: i64,
    pub keys: Vec<String>,
}

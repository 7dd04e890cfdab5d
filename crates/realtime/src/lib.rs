//! The websocket hub of one node: it owns the live websocket connections on this node,
//! authenticates them (upgrade identity or `authentication_challenge`), greets them with
//! `hello`, answers `ping`, and delivers every published
//! [`WebSocketEvent`](chorus_model::WebSocketEvent) to the connections its
//! [`Broadcast`](chorus_model::Broadcast) selects, each with its own gap-free `seq`.
//!
//! It deliberately knows nothing of SQL, HTTP routing, sessions or other nodes. Everything it
//! needs from the rest of the server — checking a token, a channel's or team's members, running
//! a client action such as `user_typing`, presence changes — goes through the [`HubDelegate`]
//! trait, which the `app` crate implements. Events from other nodes are fed to [`Hub::publish`]
//! exactly like local ones, so the hub does not care where an event came from.
//!
//! Code map: `hub` (the public handle, registration, presence), `registry` (who is connected,
//! who an event is for, back-pressure per connection), `dispatch` (sharded delivery tasks that
//! keep per-channel and per-user order), `connection` (one task per socket: auth, hello,
//! writer with `seq`, pings), `frame` (serialize once, splice `seq` per connection, the
//! per-connection state a resume needs), `resume` (parking, resuming here or from elsewhere),
//! `recent` (changes dispatched lately, for what a hand-over between nodes would miss),
//! `checkpoint` (what each connection was sent, for the other nodes), `change` (which stored
//! change an event announces).

mod change;
mod checkpoint;
mod connection;
mod delegate;
mod dispatch;
mod frame;
mod hub;
mod recent;
mod registry;
mod resume;

pub use change::{change_of, Change};
pub use checkpoint::ConnectionCheckpoint;
pub use delegate::{
    ActionError, ConnectionIdentity, Continuity, HandedOverEvent, HubDelegate, ReceivedChanges,
    ResumeRequest, ResumeSource,
};
pub use hub::{Hub, HubConfig};

use axum::extract::ws::WebSocketUpgrade;

/// Initial capacity of a connection's read buffer, allocated for every connection. Clients
/// send small frames (`ping`, `user_typing`, a challenge); a larger frame reserves its own
/// length, so this only sets what an idle connection costs. With 1 KiB an idle connection
/// measured about 6 KB of heap on the server side (tungstenite's default, 128 KiB, would be
/// twenty times that; 4 KiB would already pass the 8 KiB budget).
pub const READ_BUFFER_SIZE: usize = 1024;

/// The largest message a client may send. Mattermost allows 8 KiB; this leaves headroom.
pub const MAX_INBOUND_MESSAGE_SIZE: usize = 64 * 1024;

/// Applies the hub's socket limits to an upgrade. The `api` crate calls this on every
/// `GET /api/v4/websocket` before `on_upgrade`.
///
/// A write buffer size of 0 writes each frame out at once instead of collecting 128 KiB per
/// connection first; the hub sends one frame at a time anyway.
pub fn websocket_config(upgrade: WebSocketUpgrade) -> WebSocketUpgrade {
    upgrade
        .read_buffer_size(READ_BUFFER_SIZE)
        .write_buffer_size(0)
        .max_message_size(MAX_INBOUND_MESSAGE_SIZE)
        .max_frame_size(MAX_INBOUND_MESSAGE_SIZE)
}

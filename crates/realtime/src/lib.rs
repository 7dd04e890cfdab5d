//! The websocket hub of one node. It owns this node's live websocket connections: it
//! authenticates them (the upgrade's identity or an `authentication_challenge`), greets them
//! with `hello`, answers `ping`, pings them and closes the silent and the expired, and
//! delivers every published [`WebSocketEvent`](chorus_model::WebSocketEvent) to the
//! connections its [`Broadcast`](chorus_model::Broadcast) selects, each with its own gap-free
//! `seq`, without a slow client holding anyone else up (back-pressure per connection). An
//! event published in copies for different readers goes by its broadcast's flags: the
//! `contains_sensitive_data` copy only to connections of system admins, the
//! `contains_sanitized_data` copy only to the others (the connection's
//! [`ConnectionIdentity::is_system_admin`], kept current with [`Hub::set_system_admin`]); so
//! does an event rebuilt for a resumed connection.
//!
//! It also offers per-connection continuity hooks, which the `relay` crate uses to serve
//! resumes across nodes: a connection whose socket ends parks here, still receiving, until its
//! client resumes (here, or on another node that asks for it with [`Hub::hand_over`]); on
//! clustered nodes every connection checkpoints what it is about to be sent
//! ([`ConnectionCheckpoint`]) and the hub keeps the stored changes it dispatched lately, so a
//! connection resumed from elsewhere misses nothing and receives nothing twice; [`change_of`]
//! names the stored change an event announces.
//!
//! Two seams reach the rest of the server. [`HubDelegate`], implemented by `app`: who a token
//! stands for, a channel's or team's members, client actions such as `user_typing`, presence.
//! [`Continuity`], given with [`Hub::set_continuity`]: where a connection this node lacks is,
//! and where checkpoints go; a hub without one is alone in the world. Events from other nodes
//! are fed to [`Hub::publish`] exactly like local ones. The hub must never know SQL, HTTP
//! routing (the `api` crate upgrades the request and calls [`Hub::serve`]), sessions (a token
//! is the delegate's to check) or the node-to-node wire format (what crosses [`Continuity`] is
//! plain Rust; the relay puts it on the wire).
//!
//! Code map, bottom-up: each module imports only modules listed before it, so there are no
//! import circles (a folder's `mod.rs` declares the modules in it, nothing more).
//!
//! 1. Seams and settings: `delegate` ([`HubDelegate`], [`ConnectionIdentity`],
//!    [`ActionError`]), `config` ([`HubConfig`]), `change` (which stored change an event
//!    announces).
//! 2. Frames and queues: `frame` (an event serialized once, `seq` spliced in per connection;
//!    a connection's numbering and its last 128 frames), `queue` (a connection's pending events
//!    and back-pressure).
//! 3. A connection: `connection` (the hub's handle of one: identity, queue, close request,
//!    what its client acknowledged), `liveness` (pings, silence, expiry, pongs as
//!    acknowledgements), `protocol` (requests, replies, `hello`, close reasons).
//! 4. The registry: `registry` (who is connected, who an event is for), `presence` (the
//!    registry behind its locks; presence callbacks in the order it changed).
//! 5. Continuity: `continuity` (the [`Continuity`] seam and what crosses it), with `parking`,
//!    `overlap`, `recent` and `checkpoint`.
//! 6. The hub: `hub::state` (what the tasks share; every change of a connection's place),
//!    `hub::dispatch` (sharded delivery, in order per channel, user or team), `hub::resume`
//!    (attaching a reconnecting client, handing a connection over), `hub::socket` (one task per
//!    socket), and `hub` itself ([`Hub`], the public handle).

mod change;
mod config;
mod connection;
mod continuity;
mod delegate;
mod frame;
mod hub;
mod liveness;
mod presence;
mod protocol;
mod queue;
mod registry;

pub use change::{change_of, posted_key, Change};
pub use config::HubConfig;
pub use continuity::checkpoint::ConnectionCheckpoint;
pub use continuity::{Continuity, HandedOverEvent, ReceivedChanges, ResumeRequest, ResumeSource};
pub use delegate::{ActionError, ConnectionIdentity, HubDelegate};
pub use hub::{Hub, ResumeCounts};

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

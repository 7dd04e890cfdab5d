//! Websocket continuity across nodes: every websocket event a node publishes reaches the
//! interested clients of every node, in order, and a client whose connection moved to another
//! node — or whose node died — gets every frame it missed, or is told to resync. The `app`
//! crate decides *what* happened and calls [`Relay::publish`]; this crate decides *how* the
//! event reaches every client, now and after a reconnect.
//!
//! What it owns (the hub reaches it through `chorus_realtime::Continuity`, see
//! [`Relay::continuity`]):
//! - publishing: the local hub, and forwarding to the other nodes (reliable, or best effort for
//!   typing, status and views), and publishing what the other nodes forward (`delivery`);
//! - the order of `posted` events of a channel across nodes (`post_order`);
//! - which peers get a channel's posts in full, and what a post passed without its event
//!   means here (`interest`);
//! - what every node's connections were sent (`checkpoints`: the `CheckpointBook` of peers'
//!   checkpoints and records);
//! - resuming a connection that is not on this node: asking the peers, admission in a storm
//!   (`resume`), and rebuilding a dead node's connection from the database (`rebuild`, with the
//!   membership history of `membership_history`, its reads batched across the rebuilds of a
//!   storm by `rebuild_reads`);
//! - the events that announce changes, built once for the live path and the rebuild
//!   (`events`, `membership`), so both send the same frames, and the copies of `user_updated`
//!   for the user, for system admins and for everyone else (`events::user_updated`: the app
//!   sanitizes each copy, the hub routes each to its readers only);
//! - what a lost cluster message means for websockets (every client of this node resyncs).
//!
//! Invariants:
//! - `posted` events of a channel reach this node's clients in `create_at` order, whichever
//!   node created them (gaps read from the database after [`post_order::GAP_WAIT`]);
//! - a resume never loses silently: either every frame from the client's `sequence_number` on
//!   is delivered, in order, once, with its `seq`, or the client gets a new connection id;
//! - checkpoints travel on the same ordered link as the events and answers of their node, so a
//!   node that answers a resume has told its checkpoints first.
//!
//! What it must never know: HTTP, sessions and permissions (the [`Directory`] answers what it
//! needs of users, channels and mentions, from the app's caches), SQL text (it calls `store`
//! functions), the node-to-node wire format (`cluster` owns [`chorus_cluster::ClusterMessage`]),
//! and how a single connection is served (`realtime` owns frames, `seq` and parking).

mod checkpoints;
mod continuity;
mod delivery;
pub mod events;
mod interest;
pub mod membership;
mod membership_history;
pub mod post_order;
mod rebuild;
mod rebuild_reads;
mod replay;
mod resume;

pub use checkpoints::CHECKPOINT_INTERVAL;
pub use interest::ForwardingCounts;

use chorus_cluster::{Cluster, ResumeAnswer};
use chorus_model::{Channel, User, WebSocketEvent};
use chorus_realtime::Hub;
use chorus_store::Store;
use futures_util::future::BoxFuture;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

/// What the relay asks of the app: the channels, users and mentions a `posted` event carries,
/// as the live path sees them (the app answers from its caches), and what an event arriving
/// from another node makes stale here.
pub trait Directory: Send + Sync + 'static {
    /// A channel, None when it cannot be read.
    fn channel(&self, channel_id: String) -> BoxFuture<'static, Option<Arc<Channel>>>;

    /// A user, None when it cannot be read.
    fn user(&self, user_id: String) -> BoxFuture<'static, Option<Arc<User>>>;

    /// The members of `channel` that a message by `author_id` mentions, as the live path
    /// resolves them; None when they cannot be read.
    fn mentioned_user_ids(
        &self,
        author_id: String,
        channel: Arc<Channel>,
        message: String,
    ) -> BoxFuture<'static, Option<Vec<String>>>;

    /// An event from another node is about to reach this node's clients: forget what it
    /// makes stale here (a membership event's cached members) and note the write behind it,
    /// so that reads it prompts see that write.
    fn arrived_from_another_node(&self, event: &WebSocketEvent);

    /// The members of a channel if they are cached (no I/O).
    fn cached_channel_member_ids(&self, channel_id: &str) -> Option<Arc<HashSet<String>>>;

    /// The members of a channel, read when not cached; None when they cannot be read.
    fn channel_member_ids(
        &self,
        channel_id: String,
    ) -> BoxFuture<'static, Option<Arc<HashSet<String>>>>;

    /// The channels any of these users is a member of; None when they cannot be read.
    fn channels_of_users(&self, user_ids: Vec<String>) -> BoxFuture<'static, Option<Vec<String>>>;

    /// Another node stored a post in this channel (told without its event): reads of the
    /// channel must see it, as after the event.
    fn note_channel_write(&self, channel_id: &str);
}

/// The relay of one node. Cheap to clone.
#[derive(Clone)]
pub struct Relay {
    inner: Arc<RelayInner>,
}

struct RelayInner {
    store: Store,
    hub: Hub,
    directory: Arc<dyn Directory>,
    /// Set once at start on clustered nodes.
    cluster: OnceLock<Cluster>,
    /// Other nodes' websocket connections (and this node's own), from their checkpoints.
    checkpoint_book: checkpoints::CheckpointBook,
    /// Puts `posted` events of a channel in `create_at` order before they reach the hub.
    post_order: post_order::PostOrder,
    /// Which channels' posts go in full to which peers (see `interest`).
    interest: interest::Interest,
    /// Permits for resumes that need other nodes (see `resume`).
    resume_admission: tokio::sync::Semaphore,
    /// Rebuilds waiting for their database reads, read in batches (see `rebuild_reads`).
    rebuild_reads: rebuild_reads::RebuildReads,
    /// Websocket resumes this node is asking the others about, by request id.
    resume_queries: parking_lot::Mutex<
        HashMap<String, tokio::sync::mpsc::UnboundedSender<(String, ResumeAnswer)>>,
    >,
}

impl Relay {
    /// A relay publishing to `hub`, reading from `store`. Alone until
    /// [`Relay::attach_cluster`].
    pub fn new(store: Store, hub: Hub, directory: Arc<dyn Directory>) -> Relay {
        Relay {
            inner: Arc::new(RelayInner {
                store,
                hub,
                directory,
                cluster: OnceLock::new(),
                checkpoint_book: checkpoints::CheckpointBook::default(),
                post_order: post_order::PostOrder::default(),
                interest: interest::Interest::default(),
                resume_admission: tokio::sync::Semaphore::new(resume::RESUMES_AT_ONCE),
                rebuild_reads: rebuild_reads::RebuildReads::default(),
                resume_queries: parking_lot::Mutex::new(HashMap::new()),
            }),
        }
    }

    fn cluster(&self) -> Option<&Cluster> {
        self.inner.cluster.get()
    }
}

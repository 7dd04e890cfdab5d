//! Read-your-writes: which writes a read depends on, and which writes an event or a cache
//! invalidation announces. The store routes a read to a replica only if that replica has
//! replayed every write noted for the read's keys (see `chorus_store::FreshKey`).
//!
//! Writes are noted where they are announced — an event published after commit, a cache
//! invalidation — on the node that wrote and, when the announcement arrives over the cluster,
//! on every other node before it publishes the event to its own clients. So a client that
//! reacts to an event by reading, on any node, sees the write behind the event.

use std::future::Future;

use chorus_cluster::ClusterMessage;
use chorus_model::{event_names, Post, WebSocketEvent};
use chorus_store::{Connection, FreshKey, StoreError};

use crate::{App, AppResult};

impl App {
    /// Notes the writes an event announces (all but typing, which writes nothing). A status
    /// change is noted under its user: the status is read back from the database.
    pub(crate) fn note_event_writes(&self, event: &WebSocketEvent) {
        if event.event == event_names::TYPING {
            return;
        }
        let broadcast = &event.broadcast;
        let mut keys = Vec::with_capacity(3);
        if !broadcast.user_id.is_empty() {
            keys.push(FreshKey::User(broadcast.user_id.clone()));
        }
        if !broadcast.channel_id.is_empty() {
            keys.push(FreshKey::Channel(broadcast.channel_id.clone()));
        }
        if !broadcast.team_id.is_empty() {
            keys.push(FreshKey::Team(broadcast.team_id.clone()));
        }
        self.store().note_write(&keys);
    }

    /// Notes the writes a cache invalidation announces.
    pub(crate) fn note_invalidation_writes(&self, message: &ClusterMessage) {
        let key = match message {
            ClusterMessage::ChannelMembersChanged { channel_id }
            | ClusterMessage::ChannelChanged { channel_id } => {
                FreshKey::Channel(channel_id.clone())
            }
            ClusterMessage::TeamMembersChanged { team_id } => FreshKey::Team(team_id.clone()),
            ClusterMessage::UserChanged { user_id }
            | ClusterMessage::UserSessionsChanged { user_id } => FreshKey::User(user_id.clone()),
            _ => return,
        };
        self.store().note_write(&[key]);
    }

    /// A connection for a read by `user_id`, optionally about `channel_id`, that sees the
    /// user's own writes and every announced write to the channel.
    pub(crate) async fn fresh_read(
        &self,
        user_id: &str,
        channel_id: Option<&str>,
    ) -> AppResult<Connection> {
        let mut keys = vec![FreshKey::User(user_id.to_string())];
        if let Some(channel_id) = channel_id {
            keys.push(FreshKey::Channel(channel_id.to_string()));
        }
        Ok(self.store().replica_for(&keys).await?)
    }

    /// Reads a post from a replica that has the reader's own writes and, if it is not there
    /// (somebody posted it a moment ago and it has not replicated yet), from the master:
    /// replies to brand-new posts must not fail on lag.
    pub(crate) async fn post_with_master_fallback(
        &self,
        user_id: &str,
        post_id: &str,
    ) -> AppResult<Post> {
        let db = self.fresh_read(user_id, None).await?;
        match chorus_store::posts::get(&db, post_id).await {
            Err(StoreError::NotFound(_)) => {
                drop(db);
                let db = self.store().master().await?;
                Ok(chorus_store::posts::get(&db, post_id).await?)
            }
            other => Ok(other?),
        }
    }

    /// Reads with `read` on a replica that has replayed every noted write of `keys`, and again
    /// on the master when the replica's answer is not found or not `complete`: an object
    /// created a moment ago on another node, or by a write nobody noted under `keys`, has not
    /// replicated yet (Mattermost's lazy fallback). Reads whose answer is there are not slowed.
    pub(crate) async fn read_fresh_or_master<Value, Read, ReadFuture>(
        &self,
        keys: &[FreshKey],
        complete: impl Fn(&Value) -> bool,
        read: Read,
    ) -> AppResult<Value>
    where
        // The read owns its connection, as in `cache::fill`.
        Read: Fn(Connection) -> ReadFuture,
        ReadFuture: Future<Output = AppResult<Value>>,
    {
        match read(self.store().replica_for(keys).await?).await {
            Ok(value) if complete(&value) => Ok(value),
            Ok(_) => read(self.store().master().await?).await,
            Err(error) if error.status_code == 404 => read(self.store().master().await?).await,
            Err(error) => Err(error),
        }
    }
}

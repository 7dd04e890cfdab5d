//! Checkpoints: what every connection of this node has been sent, told to the other nodes
//! *before* the frames go out, so that if this node dies its peers know every `seq` a client
//! may hold and which stored changes those frames announced.
//!
//! Writers record their frames here ([`CheckpointLog::record`]) and wait for the next flush
//! (every `HubConfig::checkpoint_interval`, about 2 ms) before writing them; the flush hands
//! one [`ConnectionCheckpoint`] per connection that wrote to the [`Continuity`](crate::Continuity), which sends it to
//! the peers. A connection that ends for good is flushed as `gone`.

use std::collections::HashMap;
use std::sync::Weak;
use std::time::Duration;

use chorus_model::now_millis;
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::change::Change;
use crate::frame::PreparedEvent;
use crate::hub::Shared;
use crate::registry::ConnectionHandle;

/// What one connection sent since the last flush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionCheckpoint {
    pub connection_id: String,
    pub user_id: String,
    pub session_id: String,
    /// Every stored change recorded at or before this time (ms, the database row's timestamp)
    /// that this connection was meant to receive has reached its client (see
    /// `CheckpointLog::horizon`): a rebuild looks only at later changes.
    pub horizon: i64,
    /// The lowest `seq` in this checkpoint. A peer forgets what it knew of this connection from
    /// this `seq` on (a resumed connection numbers again from the client's `sequence_number`);
    /// 0 (the `hello`) starts a new record.
    pub first_seq: i64,
    /// The `seq` of the connection's next frame.
    pub next_seq: i64,
    /// Frames that announced a stored change: `(seq, change)`.
    pub changes: Vec<(i64, Change)>,
    /// Frames that matter but cannot be rebuilt from the database (e.g. `channel_updated`): a
    /// client that missed one of them cannot resume exactly after this node died.
    pub unrebuildable_seqs: Vec<i64>,
    /// The connection ended for good (or was superseded): forget it.
    pub gone: bool,
}

/// The checkpoints waiting for the next flush, and the number of flushes so far.
pub(crate) struct CheckpointLog {
    pending: Mutex<Pending>,
    flushed: watch::Sender<u64>,
    /// How far behind now a connection's horizon stays: longer than a dead socket can go
    /// unnoticed (pong timeout) plus a write timeout, so a frame written into a socket whose
    /// client was already gone is never behind the horizon.
    horizon_lag: i64,
}

#[derive(Default)]
struct Pending {
    batch: HashMap<String, ConnectionCheckpoint>,
    /// The flush that will carry `batch`.
    epoch: u64,
}

impl Pending {
    /// The checkpoint of `handle` in this batch, started at `next_seq` when it has none yet.
    fn entry(
        &mut self,
        handle: &ConnectionHandle,
        horizon: i64,
        next_seq: i64,
    ) -> &mut ConnectionCheckpoint {
        self.batch
            .entry(handle.connection_id.clone())
            .or_insert_with(|| ConnectionCheckpoint {
                connection_id: handle.connection_id.clone(),
                user_id: handle.identity.user_id.clone(),
                session_id: handle.identity.session_id.clone(),
                horizon,
                first_seq: next_seq,
                next_seq,
                changes: Vec::new(),
                unrebuildable_seqs: Vec::new(),
                gone: false,
            })
    }
}

impl CheckpointLog {
    pub(crate) fn new(horizon_lag: Duration) -> Self {
        CheckpointLog {
            pending: Mutex::new(Pending {
                batch: HashMap::new(),
                epoch: 1,
            }),
            flushed: watch::Sender::new(0),
            horizon_lag: horizon_lag.as_millis() as i64,
        }
    }

    /// Records frames about to be written to `handle`'s socket, numbered `next_seq - len..`;
    /// returns the flush to wait for before writing them.
    pub(crate) fn record<'a>(
        &self,
        handle: &ConnectionHandle,
        frames: impl IntoIterator<Item = (i64, &'a PreparedEvent)>,
        next_seq: i64,
    ) -> u64 {
        let horizon = self.horizon(handle);
        let mut pending = self.pending.lock();
        let epoch = pending.epoch;
        let checkpoint = pending.entry(handle, horizon, next_seq);
        checkpoint.horizon = horizon;
        checkpoint.next_seq = next_seq;
        for (seq, event) in frames {
            checkpoint.first_seq = checkpoint.first_seq.min(seq);
            match event.change() {
                Some(change) => checkpoint.changes.push((seq, change.clone())),
                None if !event.is_droppable() => checkpoint.unrebuildable_seqs.push(seq),
                None => {}
            }
        }
        epoch
    }

    /// The client of `handle` answered a ping: its horizon moved, which the peers learn even
    /// if no frame follows. `next_seq` is the connection's next frame now (not when the ping
    /// went out: the peers forget what they knew from a checkpoint's `first_seq` on).
    pub(crate) fn acknowledge(&self, handle: &ConnectionHandle, next_seq: i64) {
        let horizon = self.horizon(handle);
        let mut pending = self.pending.lock();
        let checkpoint = pending.entry(handle, horizon, next_seq);
        checkpoint.horizon = checkpoint.horizon.max(horizon);
    }

    /// Stored changes recorded at or before this time cannot still be unread by the client:
    /// they were written before the client's last acknowledged ping, or so long ago that a
    /// client that had not read them would have been found silent and the socket closed.
    fn horizon(&self, handle: &ConnectionHandle) -> i64 {
        handle
            .started_at()
            .max(now_millis() - self.horizon_lag)
            .max(handle.acknowledged_horizon())
    }

    /// `connection_id` ended for good: the peers forget it.
    pub(crate) fn forget(&self, handle: &ConnectionHandle) {
        let mut pending = self.pending.lock();
        let checkpoint = pending.entry(handle, 0, 0);
        checkpoint.gone = true;
    }

    /// Waits until the flush `epoch` has been handed to the continuity.
    pub(crate) async fn flushed(&self, epoch: u64) {
        let mut flushed = self.flushed.subscribe();
        // Fails only if the sender is gone, which it is not while `self` lives.
        let _ = flushed.wait_for(|done| *done >= epoch).await;
    }

    fn take(&self) -> (u64, Vec<ConnectionCheckpoint>) {
        let mut pending = self.pending.lock();
        let epoch = pending.epoch;
        pending.epoch += 1;
        let batch = std::mem::take(&mut pending.batch);
        (epoch, batch.into_values().collect())
    }
}

/// Runs until the hub is dropped: every `interval`, hands what was recorded to the continuity,
/// then lets the writers waiting for it go.
pub(crate) async fn run_flusher(shared: Weak<Shared>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let Some(log) = shared.checkpoints.as_ref() else {
            return;
        };
        let (epoch, batch) = log.take();
        if !batch.is_empty() {
            shared.send_checkpoints(batch);
        }
        log.flushed.send_replace(epoch);
    }
}

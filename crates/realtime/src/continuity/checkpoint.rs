//! Checkpoints: what every connection of this node has been sent, told to the other nodes
//! *before* the frames go out, so that if this node dies its peers know every `seq` a client
//! may hold and which stored changes those frames announced — enough for the continuity to
//! rebuild what the client missed from the database, or to tell a hand-over what it holds.
//!
//! On a clustered node (`HubConfig::checkpoint_interval` set, 2 ms in `app`) every writer
//! records the frames it is about to write ([`CheckpointLog::record`]) and waits for the next
//! flush before writing them; writers batch up to 64 queued events per wait. A flush hands one
//! [`ConnectionCheckpoint`] per connection that wrote (or whose client answered a ping) to
//! `Continuity::checkpoint`, which sends it to the peers. A checkpoint carries, per connection:
//!
//! - user, session, `first_seq` (peers forget what they knew from there on; 0, the `hello`,
//!   starts a new record) and `next_seq`;
//! - a *horizon*: every stored change recorded at or before it that the connection was meant
//!   to receive has reached its client, `max(start, now − (pong timeout + change delivery
//!   bound), last answered ping − change delivery bound)`. The bound
//!   (`HubConfig::change_delivery_bound`, 30 s) is how late after its timestamp a change's
//!   frame may be written. Pings double as acknowledgements: a client answers a ping only after
//!   reading the frames before it, so besides the 60 s liveness ping a connection that wrote 64
//!   frames pings again, at most every 2 s (`liveness::AckProbes`), and a pong moves the
//!   horizon even if no frame follows ([`CheckpointLog::acknowledge`]). The horizon of a busy
//!   connection so trails by about 32 s;
//! - `(seq, change)` of the frames that announced a stored change (`change::change_of`: key
//!   and database time);
//! - the `seq` of frames that matter but cannot be rebuilt (`channel_updated`, …);
//! - `gone`, when the connection ended for good (or was superseded).
//!
//! What the peers keep of these (their book and its bounds) is the continuity's business, not
//! the hub's. Cost: see the `checkpoint_overhead` benchmark in `tests/it/checkpoint.rs`.

use std::collections::HashMap;
use std::time::Duration;

use chorus_model::now_millis;
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::change::Change;
use crate::connection::ConnectionHandle;
use crate::frame::PreparedEvent;

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
            .entry(handle.connection_id().to_string())
            .or_insert_with(|| ConnectionCheckpoint {
                connection_id: handle.connection_id().to_string(),
                user_id: handle.user_id().to_string(),
                session_id: handle.session_id().to_string(),
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

    /// Waits until the flush `epoch` has been handed on.
    pub(crate) async fn flushed(&self, epoch: u64) {
        let mut flushed = self.flushed.subscribe();
        // Fails only if the sender is gone, which it is not while `self` lives.
        let _ = flushed.wait_for(|done| *done >= epoch).await;
    }

    /// Hands what was recorded since the last flush to `send` (when anything was), then lets
    /// the writers waiting for this flush go. The hub calls this every
    /// `HubConfig::checkpoint_interval`.
    pub(crate) fn flush(&self, send: impl FnOnce(Vec<ConnectionCheckpoint>)) {
        let (epoch, batch) = {
            let mut pending = self.pending.lock();
            let epoch = pending.epoch;
            pending.epoch += 1;
            let batch = std::mem::take(&mut pending.batch);
            (epoch, batch.into_values().collect::<Vec<_>>())
        };
        if !batch.is_empty() {
            send(batch);
        }
        self.flushed.send_replace(epoch);
    }
}

//! What every node's websocket connections were sent, so that a connection whose node died
//! can be rebuilt from the database on another node (see `rebuild`).
//!
//! On a clustered node every connection's writer records the frames it is about to write
//! (`realtime::CheckpointLog::record`) and waits for the next flush (every
//! [`CHECKPOINT_INTERVAL`]: the hub hands the batch to [`Relay::send_checkpoints`], which sends
//! `ClusterMessage::ConnectionCheckpoints` reliably to every peer, on the link that carries this
//! node's events and resume answers) before writing them; writers batch up to 64 queued events
//! per wait. A checkpoint carries, per connection: user, session, `next_seq`, `first_seq`, a
//! *horizon* — every stored change recorded at or before it that the connection was meant to
//! receive has reached its client: `max(start, now − (pong timeout + 30 s), last answered
//! ping − 30 s)`, 30 s being `HubConfig::change_delivery_bound`, how late after its timestamp a
//! change's frame may be written (pings double as acknowledgements: a client answers a ping only
//! after reading the frames before it) — the `(seq, change key, time)` of frames that announced
//! a stored change (`realtime::change_of`), the `seq` of frames that cannot be rebuilt, or
//! `gone`. The peers keep that in a [`CheckpointBook`]. Records start at `hello` (`first_seq` 0); a resumed connection's checkpoints replace
//! what was known from its `first_seq` on; changes at or before the horizon are dropped (and past
//! [`MAX_CHANGES_PER_CONNECTION`] the oldest, which makes the record unrebuildable but still
//! tells a hand-over what the client holds); a change checkpointed when the horizon had already
//! passed it (written later than the bound promised) counts as unrebuildable.
//!
//! A node that started after a connection did missed how it started, so checkpoints alone are
//! not enough: every node keeps its own connections' records in its book too and sends them to
//! a node that joins (`ClusterMessage::ConnectionRecords`, on the link that then carries their
//! checkpoints), and peers that have a record answer a resume request they cannot serve with it
//! (`ResumeAnswer::Recorded`). So after a rolling restart the connections that lived through it
//! can still be rebuilt.
//!
//! Bounds: records of a dead node's connections are kept [`RECORD_RETENTION`] after their last
//! checkpoint; at most 1024 changes (~60 B each) and 64 unrebuildable seqs per connection,
//! [`MAX_RECORDS`] records per node (~100 B each when idle).

use crate::Relay;
use chorus_cluster::{ClusterMessage, ConnectionCheckpoint, ConnectionRecord};
use chorus_realtime::{ReceivedChanges, ResumeRequest};
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

/// How often a node sends its connections' checkpoints (and how long a frame waits for it).
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(2);

/// Changes remembered per connection after its horizon (about 60 bytes each); a busier
/// connection can no longer be rebuilt (its client resyncs). A client that answers pings keeps
/// its horizon about 32 s behind, so this holds ~30 changes a second.
const MAX_CHANGES_PER_CONNECTION: usize = 1024;

/// Unrebuildable frames remembered per connection; an older one still counts (as a floor).
const MAX_UNREBUILDABLE_PER_CONNECTION: usize = 64;

/// Connections a node keeps records of (all nodes' connections together).
const MAX_RECORDS: usize = 200_000;

/// How long the record of a connection whose node is gone is kept after its last checkpoint:
/// as long as a parked connection waits for its client.
const RECORD_RETENTION: Duration = Duration::from_secs(5 * 60);

/// Records per `ConnectionRecords` message sent to a node that joined.
const RECORDS_PER_MESSAGE: usize = 500;

/// What this node knows of one connection of another node (or of its own).
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) owner: String,
    pub(crate) user_id: String,
    pub(crate) session_id: String,
    pub(crate) horizon: i64,
    pub(crate) next_seq: i64,
    /// `(seq, change key, change time)`, in `seq` order, only changes after the horizon.
    pub(crate) changes: VecDeque<(i64, String, i64)>,
    unrebuildable_seqs: VecDeque<i64>,
    /// Frames up to this `seq` may include unrebuildable ones no longer listed.
    unrebuildable_floor: i64,
    /// More changes after the horizon than kept: this connection cannot be rebuilt.
    overflowed: bool,
    /// The latest change time among the changes no longer kept (the oldest ones, dropped on
    /// overflow): `changes` lists every change after it (and after the horizon).
    forgotten_up_to: i64,
    /// `changes` holds nothing at or before this time (so pruning at an unchanged horizon,
    /// which most checkpoints bring, can be skipped: it walked up to 1,024 changes each time).
    pruned_to: i64,
    updated: Instant,
}

/// Other nodes' connections, from their checkpoints.
#[derive(Default)]
pub(crate) struct CheckpointBook {
    records: parking_lot::Mutex<HashMap<String, Record>>,
    /// Held while this node's own checkpoints, or its records for a node that joined, are
    /// taken and sent: the joining node gets every checkpoint either inside the records or
    /// after them, never before them (where it would be dropped, lacking a record).
    sending_own: parking_lot::Mutex<()>,
}

impl CheckpointBook {
    pub(crate) fn apply(&self, from_node: &str, checkpoints: Vec<ConnectionCheckpoint>) {
        let mut records = self.records.lock();
        for checkpoint in checkpoints {
            if checkpoint.gone {
                records.remove(&checkpoint.connection_id);
                continue;
            }
            if checkpoint.first_seq == 0 {
                if records.len() >= MAX_RECORDS {
                    continue;
                }
                records.insert(
                    checkpoint.connection_id.clone(),
                    Record {
                        owner: from_node.to_string(),
                        user_id: checkpoint.user_id.clone(),
                        session_id: checkpoint.session_id.clone(),
                        horizon: checkpoint.horizon,
                        next_seq: 0,
                        changes: VecDeque::new(),
                        unrebuildable_seqs: VecDeque::new(),
                        unrebuildable_floor: -1,
                        overflowed: false,
                        forgotten_up_to: i64::MIN,
                        pruned_to: i64::MIN,
                        updated: Instant::now(),
                    },
                );
            }
            // A connection that started before this node knew of it cannot be rebuilt here.
            let Some(record) = records.get_mut(&checkpoint.connection_id) else {
                continue;
            };
            record.add(from_node, checkpoint);
        }
    }

    /// The records of `owner`'s connections.
    fn owned_by(&self, owner: &str) -> Vec<(String, Record)> {
        self.records
            .lock()
            .iter()
            .filter(|(_, record)| record.owner == owner)
            .map(|(connection_id, record)| (connection_id.clone(), record.clone()))
            .collect()
    }

    pub(crate) fn find(&self, connection_id: &str) -> Option<Record> {
        self.records.lock().get(connection_id).cloned()
    }

    /// A record another node had of a connection, kept unless this node's own says more: this
    /// node may have started after the connection did, or the connection's node may have died
    /// before its last checkpoints reached here while they reached the peer. Returns the
    /// owner of the record kept.
    fn adopt(&self, connection_id: &str, record: ConnectionRecord) -> Option<String> {
        let mut records = self.records.lock();
        if let Some(own) = records.get(connection_id) {
            if own.next_seq >= record.next_seq {
                return Some(own.owner.clone());
            }
        } else if records.len() >= MAX_RECORDS {
            return None;
        }
        // The horizon of an overflowed record covers what it forgot, except from a node that
        // kept none of its changes on overflow (an older version): then nothing counts as
        // complete.
        let forgotten_up_to = if record.overflowed && record.changes.is_empty() {
            i64::MAX
        } else {
            i64::MIN
        };
        let owner = record.owner.clone();
        records.insert(
            connection_id.to_string(),
            Record {
                owner: record.owner,
                user_id: record.user_id,
                session_id: record.session_id,
                horizon: record.horizon,
                next_seq: record.next_seq,
                changes: record.changes.into(),
                unrebuildable_seqs: record.unrebuildable_seqs.into(),
                unrebuildable_floor: record.unrebuildable_floor,
                overflowed: record.overflowed,
                forgotten_up_to,
                pruned_to: i64::MIN,
                updated: Instant::now(),
            },
        );
        Some(owner)
    }

    /// Forgets records of dead nodes' connections past their retention.
    pub(crate) fn reap(&self, alive_node_ids: &HashSet<String>) {
        self.records.lock().retain(|_, record| {
            alive_node_ids.contains(&record.owner) || record.updated.elapsed() < RECORD_RETENTION
        });
    }
}

impl Record {
    fn to_wire(&self) -> ConnectionRecord {
        ConnectionRecord {
            owner: self.owner.clone(),
            user_id: self.user_id.clone(),
            session_id: self.session_id.clone(),
            // An overflowed record is never rebuilt: its horizon can say up to when the changes
            // it forgot go, so that the node adopting it knows which changes it lists in full.
            horizon: if self.overflowed {
                self.horizon.max(self.forgotten_up_to)
            } else {
                self.horizon
            },
            next_seq: self.next_seq,
            changes: self.changes.iter().cloned().collect(),
            unrebuildable_seqs: self.unrebuildable_seqs.iter().copied().collect(),
            unrebuildable_floor: self.unrebuildable_floor,
            overflowed: self.overflowed,
        }
    }

    fn add(&mut self, from_node: &str, checkpoint: ConnectionCheckpoint) {
        // A resumed connection numbers again from its client's sequence_number: what was
        // known from there on was not received. (Every seq kept is below `next_seq`, so a
        // checkpoint that goes on from there drops nothing.)
        if checkpoint.first_seq < self.next_seq {
            self.changes
                .retain(|(seq, _, _)| *seq < checkpoint.first_seq);
            self.unrebuildable_seqs
                .retain(|seq| *seq < checkpoint.first_seq);
        }
        self.owner = from_node.to_string();
        self.horizon = self.horizon.max(checkpoint.horizon);
        self.next_seq = checkpoint.next_seq;
        self.updated = Instant::now();
        let horizon = self.horizon;
        if horizon > self.pruned_to {
            self.changes.retain(|(_, _, at)| *at > horizon);
            self.pruned_to = horizon;
        }
        for (seq, key, at) in checkpoint.changes {
            if at > horizon {
                self.changes.push_back((seq, key, at));
            } else {
                // Written later than the horizon promised: a rebuild would not find it, so a
                // client that missed it must resync.
                self.unrebuildable_seqs.push_back(seq);
            }
        }
        while self.changes.len() > MAX_CHANGES_PER_CONNECTION {
            self.overflowed = true;
            if let Some((_, _, at)) = self.changes.pop_front() {
                self.forgotten_up_to = self.forgotten_up_to.max(at);
            }
        }
        self.unrebuildable_seqs
            .extend(checkpoint.unrebuildable_seqs);
        while self.unrebuildable_seqs.len() > MAX_UNREBUILDABLE_PER_CONNECTION {
            if let Some(seq) = self.unrebuildable_seqs.pop_front() {
                self.unrebuildable_floor = self.unrebuildable_floor.max(seq);
            }
        }
    }

    /// The stored changes the client of `request` holds: those of the frames before its
    /// `sequence_number`, and every one up to the horizon or the last change forgotten.
    fn received_by(&self, request: &ResumeRequest) -> Option<ReceivedChanges> {
        let same_client = request.user_id == self.user_id && request.session_id == self.session_id;
        if !same_client || request.sequence_number > self.next_seq {
            return None;
        }
        let complete_after = self.horizon.max(self.forgotten_up_to);
        if complete_after == i64::MAX {
            return None;
        }
        let keys = self
            .changes
            .iter()
            .filter(|(seq, _, _)| *seq < request.sequence_number)
            .map(|(_, key, _)| key.clone())
            .collect();
        Some(ReceivedChanges {
            complete_after,
            keys,
        })
    }

    /// Whether a client holding the frames before `sequence_number` can be given exactly the
    /// rest from the database.
    pub(crate) fn rebuildable_from(&self, request: &ResumeRequest) -> bool {
        let sequence_number = request.sequence_number;
        request.user_id == self.user_id
            && request.session_id == self.session_id
            && !self.overflowed
            && sequence_number >= 1
            && sequence_number <= self.next_seq
            && sequence_number > self.unrebuildable_floor
            && self
                .unrebuildable_seqs
                .iter()
                .all(|seq| *seq < sequence_number)
    }
}

impl Relay {
    /// This node's checkpoints, to every other node (reliably: in order with the events), and
    /// to this node's own book, from which a node that joins later gets them.
    pub(crate) fn send_checkpoints(&self, batch: Vec<chorus_realtime::ConnectionCheckpoint>) {
        let Some(cluster) = self.cluster() else {
            return;
        };
        let checkpoints = batch
            .into_iter()
            .map(|checkpoint| ConnectionCheckpoint {
                connection_id: checkpoint.connection_id,
                user_id: checkpoint.user_id,
                session_id: checkpoint.session_id,
                horizon: checkpoint.horizon,
                first_seq: checkpoint.first_seq,
                next_seq: checkpoint.next_seq,
                changes: checkpoint
                    .changes
                    .into_iter()
                    .map(|(seq, change)| (seq, change.key, change.at))
                    .collect(),
                unrebuildable_seqs: checkpoint.unrebuildable_seqs,
                gone: checkpoint.gone,
            })
            .collect::<Vec<ConnectionCheckpoint>>();
        let _sending = self.inner.checkpoint_book.sending_own.lock();
        self.inner
            .checkpoint_book
            .apply(cluster.node_id(), checkpoints.clone());
        cluster.send_reliable(ClusterMessage::ConnectionCheckpoints { checkpoints });
    }

    /// Tells a node that just joined what this node knows of its own connections (in
    /// batches), on the link that then carries their checkpoints: it could not rebuild them
    /// from checkpoints alone, having missed how they started.
    pub(crate) fn send_own_records(&self, node_id: &str) {
        let Some(cluster) = self.cluster() else {
            return;
        };
        let _sending = self.inner.checkpoint_book.sending_own.lock();
        let own = self.inner.checkpoint_book.owned_by(cluster.node_id());
        for batch in own.chunks(RECORDS_PER_MESSAGE) {
            let records = batch
                .iter()
                .map(|(connection_id, record)| (connection_id.clone(), record.to_wire()))
                .collect();
            cluster.send_reliable_to(node_id, ClusterMessage::ConnectionRecords { records });
        }
    }

    /// Records of another node's connections, sent when this node joined.
    pub(crate) fn receive_records(&self, records: Vec<(String, ConnectionRecord)>) {
        for (connection_id, record) in records {
            self.inner.checkpoint_book.adopt(&connection_id, record);
        }
    }

    /// The node of a connection this node has a record of, if any.
    pub(crate) fn checkpointed_owner(&self, connection_id: &str) -> Option<String> {
        self.inner
            .checkpoint_book
            .find(connection_id)
            .map(|record| record.owner)
    }

    /// What this node knows of a connection, for a node that knows nothing.
    pub(crate) fn connection_record(&self, connection_id: &str) -> Option<ConnectionRecord> {
        let record = self.inner.checkpoint_book.find(connection_id)?;
        Some(record.to_wire())
    }

    /// Keeps a peer's record of a connection when this node has none or an older one (see
    /// `CheckpointBook::adopt`); returns the owner of the record kept.
    pub(crate) fn adopt_connection_record(
        &self,
        connection_id: &str,
        record: ConnectionRecord,
    ) -> Option<String> {
        self.inner.checkpoint_book.adopt(connection_id, record)
    }

    /// The stored changes the client resuming `request` holds, from this node's record of
    /// its connection; None when there is no record of it (or of its start).
    pub(crate) fn received_changes(&self, request: &ResumeRequest) -> Option<ReceivedChanges> {
        self.inner
            .checkpoint_book
            .find(&request.connection_id)?
            .received_by(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(
        horizon: i64,
        first_seq: i64,
        changes: Vec<(i64, &str, i64)>,
    ) -> ConnectionCheckpoint {
        let next_seq = changes.last().map_or(first_seq, |(seq, _, _)| seq + 1);
        ConnectionCheckpoint {
            connection_id: "c".into(),
            user_id: "u".into(),
            session_id: "s".into(),
            horizon,
            first_seq,
            next_seq,
            changes: changes
                .into_iter()
                .map(|(seq, key, at)| (seq, key.to_string(), at))
                .collect(),
            unrebuildable_seqs: Vec::new(),
            gone: false,
        }
    }

    fn resume_at(sequence_number: i64) -> ResumeRequest {
        ResumeRequest {
            connection_id: "c".into(),
            user_id: "u".into(),
            session_id: "s".into(),
            sequence_number,
        }
    }

    #[test]
    fn a_moving_horizon_forgets_changes_behind_it() {
        let book = CheckpointBook::default();
        book.apply("a", vec![checkpoint(100, 0, vec![(0, "hello", 100)])]);
        book.apply(
            "a",
            vec![checkpoint(
                100,
                1,
                vec![(1, "posted:p1", 150), (2, "posted:p2", 250)],
            )],
        );
        book.apply("a", vec![checkpoint(200, 3, vec![])]);
        let record = book.find("c").unwrap();
        assert_eq!(record.horizon, 200);
        let kept: Vec<i64> = record.changes.iter().map(|(seq, _, _)| *seq).collect();
        assert_eq!(kept, vec![2]);
        assert!(record.rebuildable_from(&resume_at(2)));
    }

    #[test]
    fn a_change_written_after_the_horizon_passed_it_cannot_be_rebuilt() {
        let book = CheckpointBook::default();
        book.apply("a", vec![checkpoint(100, 0, vec![])]);
        book.apply("a", vec![checkpoint(300, 1, vec![(1, "posted:late", 250)])]);
        let record = book.find("c").unwrap();
        assert!(record.changes.is_empty());
        assert!(
            !record.rebuildable_from(&resume_at(1)),
            "the client missed it"
        );
        assert!(record.rebuildable_from(&resume_at(2)), "the client has it");
    }

    /// Connection `c` (started at 1000) sent a `hello` and then posts 1..=count, post n as
    /// frame n created at 1000 + n, in checkpoints of 100 frames.
    fn book_with_posts(count: i64) -> CheckpointBook {
        let book = CheckpointBook::default();
        book.apply("a", vec![checkpoint(1000, 0, vec![(0, "hello", 1000)])]);
        let keys: Vec<String> = (0..=count).map(|n| format!("posted:p{n}")).collect();
        for first in (1..=count).step_by(100) {
            let frames = (first..=(first + 99).min(count))
                .map(|n| (n, keys[n as usize].as_str(), 1000 + n))
                .collect();
            book.apply("a", vec![checkpoint(1000, first, frames)]);
        }
        book
    }

    #[test]
    fn a_client_holds_the_changes_of_the_frames_before_its_sequence_number() {
        let record = book_with_posts(10).find("c").unwrap();
        let received = record.received_by(&resume_at(4)).unwrap();
        assert_eq!(received.complete_after, 1000);
        assert_eq!(received.keys, ["posted:p1", "posted:p2", "posted:p3"]);
        assert!(
            record.received_by(&resume_at(12)).is_none(),
            "past what was sent"
        );
        let stranger = ResumeRequest {
            session_id: "another".into(),
            ..resume_at(4)
        };
        assert!(record.received_by(&stranger).is_none());
    }

    #[test]
    fn an_overflowed_record_keeps_its_newest_changes_and_says_up_to_when_it_forgot() {
        let count = MAX_CHANGES_PER_CONNECTION as i64 + 76;
        let record = book_with_posts(count).find("c").unwrap();
        assert!(!record.rebuildable_from(&resume_at(count)), "never rebuilt");
        let received = record.received_by(&resume_at(count + 1)).unwrap();
        assert_eq!(
            received.complete_after,
            1000 + 76,
            "posts 1 to 76 forgotten"
        );
        assert_eq!(received.keys.len(), MAX_CHANGES_PER_CONNECTION);
        assert_eq!(received.keys[0], "posted:p77");

        let adopting = CheckpointBook::default();
        adopting.adopt("c", record.to_wire());
        let adopted = adopting.find("c").unwrap();
        assert_eq!(adopted.received_by(&resume_at(count + 1)), Some(received));
    }

    #[test]
    fn the_most_advanced_record_of_a_connection_is_kept() {
        let book = book_with_posts(10);
        let behind = book_with_posts(4).find("c").unwrap().to_wire();
        assert_eq!(book.adopt("c", behind), Some("a".to_string()));
        assert_eq!(
            book.find("c").unwrap().next_seq,
            11,
            "its own record says more"
        );

        let late = book_with_posts(4);
        assert!(!late.find("c").unwrap().rebuildable_from(&resume_at(9)));
        let ahead = book.find("c").unwrap().to_wire();
        assert_eq!(late.adopt("c", ahead), Some("a".to_string()));
        let kept = late.find("c").unwrap();
        assert_eq!(kept.next_seq, 11, "the peer's record says more");
        assert!(
            kept.rebuildable_from(&resume_at(9)),
            "a client that got frame 8 resumes exactly instead of resyncing"
        );
    }
}

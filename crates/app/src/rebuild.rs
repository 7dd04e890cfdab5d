//! Resuming a websocket whose node died: its missed events are rebuilt from the database.
//!
//! Every node tells its peers, before writing frames, what each of its connections is sent
//! (`chorus_realtime::ConnectionCheckpoint`, flushed every [`CHECKPOINT_INTERVAL`]). The peers
//! keep that in a [`CheckpointBook`]: per connection, the `seq` of its next frame, a horizon
//! (every stored change recorded at or before it was already written to the connection), the
//! stored changes its frames announced after the horizon with their `seq`, and the `seq` of
//! frames that cannot be rebuilt. A client resuming with `sequence_number` N holds exactly the
//! frames before N, so the events it missed are the stored changes after the horizon that the
//! live path would have sent it, read from the master, minus those announced by frames before
//! N — ordered by the time the database recorded them, and numbered from N.
//!
//! What is rebuilt: posts created, edited and deleted and reactions added and removed in each
//! channel while the user was a member of it, and membership changes — `user_added`,
//! `user_removed`, `channel_created`, `direct_added`, `group_added` of those channels,
//! `added_to_team` and `leave_team` of the user's teams — from the membership history
//! (`chorus_store::history`; who receives which is in `membership_history`).
//!
//! When that cannot be exact the client gets a new connection (and resyncs): N beyond what the
//! node checkpointed, a missed frame that cannot be rebuilt (e.g. `channel_updated`), more
//! changes than [`MAX_REBUILT_CHANGES`], a record that outgrew its bounds, or a membership
//! history that disagrees with the user's memberships (changed by a node without it), or an
//! unrebuildable change after the horizon that the client may have missed: one of its channels
//! or teams updated, a channel of its teams deleted, a user created or updated (their rows keep
//! only the latest state). `config_changed` is the one event that is neither rebuilt nor
//! detected.

use crate::membership_history::MembershipHistory;
use crate::posts::{post_event, posted_event};
use crate::App;
use chorus_cluster::{ConnectionCheckpoint, ConnectionRecord};
use chorus_model::{event_names, Broadcast, Channel, Post, Reaction, WebSocketEvent};
use chorus_realtime::{change_of, ReceivedChanges, ResumeRequest, ResumeSource};
use chorus_store::{
    channels as channel_store, history as history_store, posts as post_store,
    reactions as reaction_store, teams as team_store,
};
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

/// How often a node sends its connections' checkpoints (and how long a frame waits for it).
pub(crate) const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(2);

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

/// Changes a single rebuild may replay; beyond that the client resyncs over REST instead.
const MAX_REBUILT_CHANGES: usize = 2000;

/// What this node knows of one connection of another node.
#[derive(Debug, Clone)]
struct Record {
    owner: String,
    user_id: String,
    session_id: String,
    horizon: i64,
    next_seq: i64,
    /// `(seq, change key, change time)`, in `seq` order, only changes after the horizon.
    changes: VecDeque<(i64, String, i64)>,
    unrebuildable_seqs: VecDeque<i64>,
    /// Frames up to this `seq` may include unrebuildable ones no longer listed.
    unrebuildable_floor: i64,
    /// More changes after the horizon than kept: this connection cannot be rebuilt.
    overflowed: bool,
    /// The latest change time among the changes no longer kept (the oldest ones, dropped on
    /// overflow): `changes` lists every change after it (and after the horizon).
    forgotten_up_to: i64,
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

    fn find(&self, connection_id: &str) -> Option<Record> {
        self.records.lock().get(connection_id).cloned()
    }

    /// A record another node had of a connection this node has none of (it started later).
    fn adopt(&self, connection_id: &str, record: ConnectionRecord) {
        let mut records = self.records.lock();
        if records.len() >= MAX_RECORDS {
            return;
        }
        // The horizon of an overflowed record covers what it forgot, except from a node that
        // kept none of its changes on overflow (an older version): then nothing counts as
        // complete.
        let forgotten_up_to = if record.overflowed && record.changes.is_empty() {
            i64::MAX
        } else {
            i64::MIN
        };
        records
            .entry(connection_id.to_string())
            .or_insert_with(|| Record {
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
                updated: Instant::now(),
            });
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
        // known from there on was not received.
        self.changes
            .retain(|(seq, _, _)| *seq < checkpoint.first_seq);
        self.unrebuildable_seqs
            .retain(|seq| *seq < checkpoint.first_seq);
        self.owner = from_node.to_string();
        self.horizon = self.horizon.max(checkpoint.horizon);
        self.next_seq = checkpoint.next_seq;
        self.updated = Instant::now();
        let horizon = self.horizon;
        self.changes.retain(|(_, _, at)| *at > horizon);
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
    fn rebuildable_from(&self, request: &ResumeRequest) -> bool {
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

impl App {
    /// Checkpoints from another node.
    pub(crate) fn receive_checkpoints(
        &self,
        from_node: &str,
        checkpoints: Vec<ConnectionCheckpoint>,
    ) {
        self.inner.checkpoint_book.apply(from_node, checkpoints);
    }

    /// This node's checkpoints, to every other node (reliably: in order with the events), and
    /// to this node's own book, from which a node that joins later gets them.
    pub(crate) fn send_checkpoints(&self, batch: Vec<chorus_realtime::ConnectionCheckpoint>) {
        let Some(runtime) = self.cluster_runtime() else {
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
            .apply(runtime.cluster.node_id(), checkpoints.clone());
        runtime
            .cluster
            .send_reliable(chorus_cluster::ClusterMessage::ConnectionCheckpoints { checkpoints });
    }

    /// Tells a node that just joined what this node knows of its own connections (in
    /// batches), on the link that then carries their checkpoints: it could not rebuild them
    /// from checkpoints alone, having missed how they started.
    pub(crate) fn send_own_records(&self, node_id: &str) {
        let Some(runtime) = self.cluster_runtime() else {
            return;
        };
        let _sending = self.inner.checkpoint_book.sending_own.lock();
        let own = self
            .inner
            .checkpoint_book
            .owned_by(runtime.cluster.node_id());
        for batch in own.chunks(RECORDS_PER_MESSAGE) {
            let records = batch
                .iter()
                .map(|(connection_id, record)| (connection_id.clone(), record.to_wire()))
                .collect();
            runtime.cluster.send_reliable_to(
                node_id,
                chorus_cluster::ClusterMessage::ConnectionRecords { records },
            );
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

    /// Keeps a record a peer had of a connection this node has none of; returns its owner.
    pub(crate) fn adopt_connection_record(
        &self,
        connection_id: &str,
        record: ConnectionRecord,
    ) -> String {
        let owner = record.owner.clone();
        self.inner.checkpoint_book.adopt(connection_id, record);
        owner
    }

    /// The stored changes the client resuming `request` holds, from this node's record of
    /// its connection; None when there is no record of it (or of its start).
    pub(crate) fn received_changes(&self, request: &ResumeRequest) -> Option<ReceivedChanges> {
        self.inner
            .checkpoint_book
            .find(&request.connection_id)?
            .received_by(request)
    }

    /// Rebuilds what the client of a dead node's connection missed, or says it cannot.
    pub(crate) async fn rebuild_connection(&self, request: &ResumeRequest) -> ResumeSource {
        let Some(record) = self.inner.checkpoint_book.find(&request.connection_id) else {
            return ResumeSource::Unknown;
        };
        if !record.rebuildable_from(request) {
            tracing::debug!(connection_id = %request.connection_id, sequence_number = request.sequence_number, "connection of a dead node cannot be rebuilt exactly");
            return ResumeSource::Lost;
        }
        let seen: HashSet<&str> = record
            .changes
            .iter()
            .filter(|(seq, _, _)| *seq < request.sequence_number)
            .map(|(_, key, _)| key.as_str())
            .collect();
        let received = ReceivedChanges {
            complete_after: record.horizon,
            keys: seen.iter().map(|key| key.to_string()).collect(),
        };
        match self.changes_since(&request.user_id, record.horizon).await {
            Some(events) => {
                let events: Vec<WebSocketEvent> = events
                    .into_iter()
                    .filter(|event| {
                        change_of(event).is_some_and(|change| !seen.contains(change.key.as_str()))
                    })
                    .collect();
                tracing::info!(connection_id = %request.connection_id, replayed = events.len(), "websocket of a dead node rebuilt from the database");
                ResumeSource::Rebuilt { events, received }
            }
            None => ResumeSource::Lost,
        }
    }

    /// The events of the user's channels and teams after `since`, as they were published, in
    /// the order the database recorded them: posts and reactions of each channel while the
    /// user was a member, and membership changes (see `membership_history`). None when there
    /// are too many, the membership history disagrees with the memberships, or the database
    /// cannot be read.
    async fn changes_since(&self, user_id: &str, since: i64) -> Option<Vec<WebSocketEvent>> {
        let limit = MAX_REBUILT_CHANGES as i64 + 1;
        let db = self.store().master().await.ok()?;
        let history = MembershipHistory::new(
            user_id,
            since,
            history_store::channel_memberships_after(&db, user_id, since)
                .await
                .ok()?,
            history_store::team_memberships_after(&db, user_id, since)
                .await
                .ok()?,
        );
        let current_channel_ids = channel_store::channel_ids_for_user(&db, user_id)
            .await
            .ok()?;
        let current_team_ids: Vec<String> = team_store::list_members_for_user(&db, user_id)
            .await
            .ok()?
            .into_iter()
            .map(|member| member.team_id)
            .collect();
        if !history.agrees_with(&current_channel_ids, &current_team_ids) {
            tracing::warn!(%user_id, "membership history incomplete, the websocket cannot be rebuilt");
            return None;
        }
        let channel_ids = history.channel_ids();
        let team_ids = history.team_ids();
        // Events that cannot be rebuilt may have been published after the node died: nothing
        // recorded whether the client missed them, so it resyncs rather than lose them.
        if history_store::settings_changed_since(&db, &channel_ids, &team_ids, since)
            .await
            .ok()?
        {
            tracing::info!(%user_id, "channels, teams or users changed since the horizon; the websocket cannot be rebuilt");
            return None;
        }
        let posts = post_store::changed_since(&db, &channel_ids, since, limit)
            .await
            .ok()?;
        let reactions = reaction_store::changed_since(&db, &channel_ids, since, limit)
            .await
            .ok()?;
        let channel_changes =
            history_store::channel_memberships_changed_since(&db, &channel_ids, since, limit)
                .await
                .ok()?;
        let team_changes =
            history_store::team_memberships_changed_since(&db, &team_ids, since, limit)
                .await
                .ok()?;
        let channels: HashMap<String, Channel> = channel_store::get_many(&db, &channel_ids)
            .await
            .ok()?
            .into_iter()
            .map(|channel| (channel.id.clone(), channel))
            .collect();
        drop(db);
        if posts.len() + reactions.len() + channel_changes.len() + team_changes.len()
            > MAX_REBUILT_CHANGES
        {
            return None;
        }
        let mut timed = history.channel_events(&channel_changes, &channels)?;
        timed.extend(history.team_events(&team_changes));
        let deleted_roots: HashSet<&str> = posts
            .iter()
            .filter(|post| post.root_id.is_empty() && post.delete_at > since)
            .map(|post| post.id.as_str())
            .collect();
        let seen_by_member =
            |channel_id: &str, at: i64| at > since && history.in_channel(channel_id, at);
        for post in &posts {
            let channel_id = post.channel_id.as_str();
            if seen_by_member(channel_id, post.create_at) {
                let posted = self.rebuilt_posted(post).await?;
                timed.push(Timed::new(post.create_at, Order::Posted, "", posted));
            }
            if seen_by_member(channel_id, post.edit_at) && post.delete_at == 0 {
                let edited = post_event(event_names::POST_EDITED, post);
                timed.push(Timed::new(post.edit_at, Order::Edited, "", edited));
            }
            // Replies deleted with their root were announced by the root's event only.
            if seen_by_member(channel_id, post.delete_at)
                && !deleted_roots.contains(post.root_id.as_str())
            {
                let deleted = post_event(event_names::POST_DELETED, post)
                    .with("delete_by", post.user_id.clone());
                timed.push(Timed::new(post.delete_at, Order::Deleted, "", deleted));
            }
        }
        for reaction in &reactions {
            let channel_id = reaction.channel_id.as_str();
            if seen_by_member(channel_id, reaction.create_at) {
                let added = Reaction {
                    delete_at: 0,
                    ..reaction.clone()
                };
                let event = reaction_event(event_names::REACTION_ADDED, &added);
                timed.push(Timed::new(reaction.create_at, Order::Reacted, "", event));
            }
            if seen_by_member(channel_id, reaction.delete_at) {
                let event = reaction_event(event_names::REACTION_REMOVED, reaction);
                timed.push(Timed::new(reaction.delete_at, Order::Reacted, "", event));
            }
        }
        // Stable: posts of the same millisecond keep the database's order.
        timed.sort_by(|a, b| (a.at, a.order, &a.subject).cmp(&(b.at, b.order, &b.subject)));
        Some(timed.into_iter().map(|timed| timed.event).collect())
    }

    /// The `posted` event of a post as it was created.
    pub(crate) async fn rebuilt_posted(&self, post: &Post) -> Option<WebSocketEvent> {
        let channel = self.cached_channel(&post.channel_id).await.ok()?;
        let sender = self.cached_user(&post.user_id).await.ok()?;
        let mentioned = self
            .resolve_mentions(&post.user_id, &channel, &post.message)
            .await
            .ok()?;
        let as_created = Post {
            update_at: post.create_at,
            edit_at: 0,
            delete_at: 0,
            ..post.clone()
        };
        Some(posted_event(&as_created, &channel, &sender, &mentioned))
    }
}

/// Where a rebuilt event goes among those of the same millisecond: the order in which the
/// live path publishes the events of one change (`added_to_team` before the `user_added` of
/// the team's channels, their `user_removed` before `leave_team`), joins before and leaves
/// after the posts of that millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Order {
    JoinedTeam,
    Joined,
    Posted,
    Edited,
    Reacted,
    Deleted,
    Left,
    LeftTeam,
}

/// A rebuilt event with its place in the replay: the time the database recorded its change,
/// its [`Order`], then the channel or team it concerns.
pub(crate) struct Timed {
    pub(crate) at: i64,
    pub(crate) order: Order,
    pub(crate) subject: String,
    pub(crate) event: WebSocketEvent,
}

impl Timed {
    pub(crate) fn new(at: i64, order: Order, subject: &str, event: WebSocketEvent) -> Self {
        Timed {
            at,
            order,
            subject: subject.to_string(),
            event,
        }
    }
}

fn reaction_event(name: &str, reaction: &Reaction) -> WebSocketEvent {
    WebSocketEvent::new(name, Broadcast::to_channel(&reaction.channel_id)).with(
        "reaction",
        serde_json::to_string(reaction).unwrap_or_default(),
    )
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
}

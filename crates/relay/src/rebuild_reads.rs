//! The database reads of websocket rebuilds (`rebuild`), batched.
//!
//! When a node dies its clients resume elsewhere all at once, and each rebuild needs the same
//! eleven reads in two rounds. Read per user, a storm of 1,000 clients cost the master ~15,000
//! statements, most of each one's cost being its plan and round trip rather than its rows. So
//! the rebuilds that ask while a batch is being read are read together in the next one (as a
//! group commit: no timer, a lone rebuild is read at once): each statement for every user of
//! the batch (`userid = ANY`, their channels and teams together, from the earliest horizon),
//! and each user then keeps exactly the rows its own reads would have returned.
//!
//! A batch whose shared reads reached the per-rebuild limit of changes is read again one user
//! at a time, each with its own limit: a busy channel of one user never makes another resync.

use crate::membership_history::MembershipHistory;
use crate::rebuild::MAX_REBUILT_CHANGES;
use crate::Relay;
use chorus_model::{Channel, Post, Reaction};
use chorus_store::history::{ChannelMembership, TeamMembership};
use chorus_store::{
    channels as channel_store, history as history_store, posts as post_store,
    reactions as reaction_store, teams as team_store,
};
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Weak;
use tokio::sync::{mpsc, oneshot};

/// Rebuilds one batch reads at most.
const MAX_BATCH: usize = 64;

/// What the database holds of one user's channels and teams after a connection's horizon:
/// what its rebuild replays.
pub(crate) struct UserChanges {
    /// The user's channel and team memberships that lasted past the horizon.
    pub(crate) history: MembershipHistory,
    /// Posts of those channels created, edited or deleted after the horizon, by `create_at`.
    pub(crate) posts: Vec<Post>,
    /// Reactions of those channels added or removed after the horizon.
    pub(crate) reactions: Vec<Reaction>,
    /// Memberships of those channels (anyone's) that began or ended after the horizon.
    pub(crate) channel_changes: Vec<ChannelMembership>,
    /// Memberships of those teams (anyone's) that began or ended after the horizon.
    pub(crate) team_changes: Vec<TeamMembership>,
    /// Those channels, by id.
    pub(crate) channels: HashMap<String, Channel>,
}

/// One rebuild waiting for its reads.
struct Wanted {
    user_id: String,
    since: i64,
    reply: oneshot::Sender<Option<UserChanges>>,
}

/// The queue of rebuilds waiting for their reads.
pub(crate) struct RebuildReads {
    sender: mpsc::UnboundedSender<Wanted>,
    /// Taken by [`read_waiting_rebuilds`] when the relay joins a cluster.
    receiver: Mutex<Option<mpsc::UnboundedReceiver<Wanted>>>,
}

impl Default for RebuildReads {
    fn default() -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        RebuildReads {
            sender,
            receiver: Mutex::new(Some(receiver)),
        }
    }
}

/// Why a batch was not read.
enum Unread {
    /// A shared read reached the limit: its users are read one by one.
    Truncated,
    /// The database could not be read.
    Failed,
}

impl Relay {
    /// What `user_id`'s rebuild from the horizon `since` (ms) replays, read in a batch with
    /// the other rebuilds asking meanwhile. None when the membership history disagrees with
    /// the memberships, something changed that cannot be rebuilt, or the database cannot be
    /// read: the client then resyncs.
    pub(crate) async fn read_changes(&self, user_id: &str, since: i64) -> Option<UserChanges> {
        let (reply, answer) = oneshot::channel();
        let wanted = Wanted {
            user_id: user_id.to_string(),
            since,
            reply,
        };
        self.inner.rebuild_reads.sender.send(wanted).ok()?;
        answer.await.ok().flatten()
    }

    /// Reads a batch: every user at once, or when a shared read was cut at the limit, one
    /// by one. Answers in the order of `batch`.
    async fn read_batch(&self, batch: &[(String, i64)]) -> Vec<Option<UserChanges>> {
        match self.read_together(batch).await {
            Ok(changes) => changes,
            Err(Unread::Truncated) if batch.len() > 1 => {
                let mut changes = Vec::with_capacity(batch.len());
                for wanted in batch {
                    let alone = self.read_together(std::slice::from_ref(wanted)).await;
                    changes.push(alone.ok().and_then(|mut one| one.pop().flatten()));
                }
                changes
            }
            Err(_) => batch.iter().map(|_| None).collect(),
        }
    }

    /// Two rounds, each statement sent at once on one connection (tokio-postgres pipelines
    /// concurrent queries): what the users belong to and whether anything unrebuildable
    /// changed for them, then the changes in their channels and teams.
    async fn read_together(
        &self,
        batch: &[(String, i64)],
    ) -> Result<Vec<Option<UserChanges>>, Unread> {
        let limit = MAX_REBUILT_CHANGES as i64 + 1;
        let user_ids: Vec<String> = batch
            .iter()
            .map(|(user_id, _)| user_id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let Some(since) = batch.iter().map(|(_, since)| *since).min() else {
            return Ok(Vec::new());
        };
        let db = self
            .inner
            .store
            .master()
            .await
            .map_err(|_| Unread::Failed)?;
        let (channel_memberships, team_memberships, current_channels, current_teams, unrebuildable) =
            tokio::try_join!(
                history_store::channel_memberships_after(&db, &user_ids, since),
                history_store::team_memberships_after(&db, &user_ids, since),
                channel_store::memberships_of_users(&db, &user_ids),
                team_store::list_members_for_users(&db, &user_ids),
                history_store::unrebuildable_changes_since(&db, &user_ids, since),
            )
            .map_err(|_| Unread::Failed)?;
        let histories: Vec<Option<MembershipHistory>> = batch
            .iter()
            .map(|(user_id, since)| {
                let history = MembershipHistory::new(
                    user_id,
                    *since,
                    channel_memberships
                        .iter()
                        .filter(|m| m.user_id == *user_id)
                        .filter(|m| m.left.as_ref().is_none_or(|(leave, _, _)| leave > since))
                        .cloned()
                        .collect(),
                    team_memberships
                        .iter()
                        .filter(|m| m.user_id == *user_id)
                        .filter(|m| m.leave_time.is_none_or(|leave| leave > *since))
                        .cloned()
                        .collect(),
                );
                let channel_ids: Vec<String> = current_channels
                    .iter()
                    .filter(|(member, _)| member == user_id)
                    .map(|(_, channel_id)| channel_id.clone())
                    .collect();
                let team_ids: Vec<String> = current_teams
                    .iter()
                    .filter(|member| member.user_id == *user_id)
                    .map(|member| member.team_id.clone())
                    .collect();
                if !history.agrees_with(&channel_ids, &team_ids) {
                    tracing::warn!(%user_id, "membership history incomplete, the websocket cannot be rebuilt");
                    return None;
                }
                // Events that cannot be rebuilt may have been published after the node died:
                // nothing recorded whether the client missed them, so it resyncs rather than
                // lose them.
                if let Some(change) = unrebuildable.for_user(user_id, *since) {
                    tracing::info!(%user_id, ?change, "a change that cannot be replayed happened since the horizon; the websocket cannot be rebuilt");
                    return None;
                }
                Some(history)
            })
            .collect();

        let mut channel_ids = BTreeSet::new();
        let mut team_ids = BTreeSet::new();
        let mut since_all = None::<i64>;
        for (history, (_, since)) in histories.iter().zip(batch) {
            if let Some(history) = history {
                channel_ids.extend(history.channel_ids());
                team_ids.extend(history.team_ids());
                since_all = Some(since_all.map_or(*since, |earliest| earliest.min(*since)));
            }
        }
        let Some(since) = since_all else {
            return Ok(histories.into_iter().map(|_| None).collect());
        };
        let channel_ids: Vec<String> = channel_ids.into_iter().collect();
        let team_ids: Vec<String> = team_ids.into_iter().collect();
        let (settings, posts, reactions, channel_changes, team_changes, channels) =
            tokio::try_join!(
                history_store::settings_changes_since(&db, &channel_ids, &team_ids, since),
                post_store::changed_since(&db, &channel_ids, since, limit),
                reaction_store::changed_since(&db, &channel_ids, since, limit),
                history_store::channel_memberships_changed_since(&db, &channel_ids, since, limit),
                history_store::team_memberships_changed_since(&db, &team_ids, since, limit),
                channel_store::get_many(&db, &channel_ids),
            )
            .map_err(|_| Unread::Failed)?;
        drop(db);
        let cut = |len: usize| len as i64 >= limit;
        if batch.len() > 1
            && (cut(posts.len())
                || cut(reactions.len())
                || cut(channel_changes.len())
                || cut(team_changes.len()))
        {
            return Err(Unread::Truncated);
        }

        Ok(histories
            .into_iter()
            .zip(batch)
            .map(|(history, (user_id, since))| {
                let history = history?;
                let since = *since;
                let user_channel_ids = history.channel_ids();
                let user_team_ids = history.team_ids();
                if settings.changed_for(&user_channel_ids, &user_team_ids, since) {
                    tracing::info!(%user_id, "channels, teams, users or pins changed since the horizon; the websocket cannot be rebuilt");
                    return None;
                }
                let in_channels: HashSet<&str> =
                    user_channel_ids.iter().map(String::as_str).collect();
                let in_teams: HashSet<&str> = user_team_ids.iter().map(String::as_str).collect();
                // Each keeps the rows its own reads (from its horizon) would have returned.
                let after = |at: i64| at > since;
                Some(UserChanges {
                    posts: posts
                        .iter()
                        .filter(|post| in_channels.contains(post.channel_id.as_str()))
                        .filter(|post| {
                            after(post.update_at)
                                && (after(post.create_at)
                                    || after(post.edit_at)
                                    || after(post.delete_at))
                        })
                        .cloned()
                        .collect(),
                    reactions: reactions
                        .iter()
                        .filter(|reaction| in_channels.contains(reaction.channel_id.as_str()))
                        .filter(|reaction| after(reaction.update_at))
                        .cloned()
                        .collect(),
                    channel_changes: channel_changes
                        .iter()
                        .filter(|m| in_channels.contains(m.channel_id.as_str()))
                        .filter(|m| {
                            after(m.join_time)
                                || m.left.as_ref().is_some_and(|(leave, _, _)| after(*leave))
                        })
                        .cloned()
                        .collect(),
                    team_changes: team_changes
                        .iter()
                        .filter(|m| in_teams.contains(m.team_id.as_str()))
                        .filter(|m| after(m.join_time) || m.leave_time.is_some_and(after))
                        .cloned()
                        .collect(),
                    channels: channels
                        .iter()
                        .filter(|channel| in_channels.contains(channel.id.as_str()))
                        .map(|channel| (channel.id.clone(), channel.clone()))
                        .collect(),
                    history,
                })
            })
            .collect())
    }
}

/// Runs while the relay lives: reads the rebuilds that asked, in batches of those that asked
/// while the previous batch was being read.
pub(crate) async fn read_waiting_rebuilds(relay: Weak<crate::RelayInner>) {
    let Some(mut waiting) = relay
        .upgrade()
        .and_then(|inner| inner.rebuild_reads.receiver.lock().take())
    else {
        return;
    };
    // Ends when the relay (holding the sender) is dropped.
    while let Some(first) = waiting.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match waiting.try_recv() {
                Ok(wanted) => batch.push(wanted),
                Err(_) => break,
            }
        }
        let Some(inner) = relay.upgrade() else {
            return;
        };
        let relay_now = Relay { inner };
        let users: Vec<(String, i64)> = batch
            .iter()
            .map(|wanted| (wanted.user_id.clone(), wanted.since))
            .collect();
        let changes = relay_now.read_batch(&users).await;
        for (wanted, changes) in batch.into_iter().zip(changes) {
            let _ = wanted.reply.send(changes);
        }
    }
}

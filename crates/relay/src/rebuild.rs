//! Resuming a websocket whose node died: its missed events are rebuilt from the database.
//!
//! Peers keep a record of each connection from its checkpoints (see `checkpoints`). A client
//! resuming with `sequence_number` N holds exactly the frames before N, so the events it missed
//! are the stored changes after the horizon that the live path would have sent it, read from the
//! master, minus those announced by frames before N — ordered by the time the database recorded
//! them, and numbered from N.
//!
//! Order: by the time the database recorded each change; within one millisecond team joins,
//! channel joins, posts, edits, reactions, deletions, channel leaves, team leaves, then by
//! channel or team id — the order in which the live path publishes the events of one change
//! (`replay::Order`). The hub numbers them from N (`ResumeSource::Rebuilt`; live events that
//! also arrive are skipped by change key). Several edits missed in a row arrive as one
//! `post_edited` with the latest text; a rebuilt `posted` carries the post's current text.
//! Assumes node clocks agree to within ~30 s (the horizon's slack), and that changes in the same
//! millisecond as a membership change were published after a join and before a leave.
//!
//! What is rebuilt: posts created, edited and deleted and reactions added and removed in each
//! channel while the user was a member of it, and membership changes — `user_added`,
//! `user_removed`, `channel_created`, `direct_added`, `group_added` of those channels,
//! `added_to_team` and `leave_team` of the user's teams — from the membership history
//! (`chorus_store::history`; who receives which is in `membership_history`).
//!
//! When that cannot be exact the client gets a new connection (and resyncs), never a silent
//! loss: N beyond what the node checkpointed (the client got a frame in the ≤ 2 ms before a
//! crash that the checkpoint did not reach), a missed frame that cannot be rebuilt
//! (`channel_updated`, `update_team`, `channel_deleted`, …), more changes than
//! [`MAX_REBUILT_CHANGES`], a record that outgrew its bounds (more than 1024 changes after the
//! horizon), a membership history that disagrees with the user's memberships (a node of the
//! previous version, without the history, changed them during a rolling upgrade), or an
//! unrebuildable change after the horizon that the client may have missed
//! (`store::history::settings_changes_since`): one of its channels or teams updated, a channel
//! of its teams deleted, a user created or updated (their rows keep only the latest state), a
//! post of its channels pinned or unpinned (`posts.pinchangedat`), or the user's preferences
//! saved or deleted (`Unrebuildable::Preferences`), or the user's sidebar
//! categories or channel member settings changed
//! (`Unrebuildable::PersonalSettings`), or a custom emoji added
//! (`emoji_added`, `Unrebuildable::EmojiAdded`), or one of the user's thread memberships
//! changed (`thread_updated`, `thread_follow_changed`, `thread_read_changed`,
//! `Unrebuildable::Threads`), or the user was sent an `ephemeral_message` (never
//! stored; `Unrebuildable::Ephemeral`); those five are read per user by
//! `store::history::unrebuildable_changes_since`. All are read in batches (`rebuild_reads`).
//! `config_changed` is the one event that is neither rebuilt nor detected.

use crate::events::{post_event, posted_as_created, reaction_event};
use crate::rebuild_reads::UserChanges;
use crate::replay::{Order, Timed};
use crate::Relay;
use chorus_model::{event_names, Reaction, WebSocketEvent};
use chorus_realtime::{change_of, posted_key, ReceivedChanges, ResumeRequest, ResumeSource};
use std::collections::HashSet;

/// Changes a single rebuild may replay; beyond that the client resyncs over REST instead.
pub(crate) const MAX_REBUILT_CHANGES: usize = 2000;

impl Relay {
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
        match self
            .changes_since(&request.user_id, record.horizon, &seen)
            .await
        {
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
    /// are too many, the membership history disagrees with the memberships, something changed
    /// that cannot be rebuilt, or the database cannot be read (`rebuild_reads`). `posted`
    /// events whose change key is in `seen` (the client has them) are not built: most posts
    /// since the horizon are, and building one resolves its mentions.
    async fn changes_since(
        &self,
        user_id: &str,
        since: i64,
        seen: &HashSet<&str>,
    ) -> Option<Vec<WebSocketEvent>> {
        let UserChanges {
            history,
            posts,
            reactions,
            channel_changes,
            team_changes,
            channels,
        } = self.read_changes(user_id, since).await?;
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
            if seen_by_member(channel_id, post.create_at)
                && !seen.contains(posted_key(&post.id).as_str())
            {
                // A post deleted since is rebuilt without its text, as REST lists it.
                let shown = post.clone().shown_to_clients();
                let posted = posted_as_created(self.inner.directory.as_ref(), &shown).await?;
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
                let deleted =
                    post_event(event_names::POST_DELETED, &post.clone().shown_to_clients())
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
}

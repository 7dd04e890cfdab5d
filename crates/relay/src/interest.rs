//! Events only where they are needed: a node forwards a channel's `posted` and `typing` events
//! in full only to the nodes that asked for that channel; the others get a short
//! `ClusterMessage::PostPassed` for a post (nothing for typing, which is best effort).
//!
//! What a node asks for (`ClusterMessage::ChannelInterest`) is the channels of the users with
//! a websocket connection here: loaded in batches when a user's first connection comes
//! ([`Relay::user_arrived`]), added when a membership event adds such a user to a channel, and
//! dropped by a sweep once no connection here is for a member any more. A peer that never
//! told its channels (it just joined, or is an older version) gets every event in full.
//!
//! The set a node announced is only a hint, and loss never depends on it. A `PostPassed`
//! still reaches every node, in its sender's order with the events, and the receiver decides
//! as its hub would have decided for the full event — does a connection registered here
//! (parked ones included) belong to a member of the channel? If none does, the post only moves
//! the channel's chain of posts on (`post_order`) and is noted for a hand-over (below). If one
//! does (the sender had not heard yet that this node wants the channel), the post is read
//! from the master and published in its place in the chain, and the channel is asked for
//! (and told again to that sender, which mends a set that went astray).
//! The post also counts as a write of the channel for read-your-writes, as its event would.
//!
//! A hand-over: a connection handed to this node from another after this node passed a post
//! that the old node had not yet queued for it (its link was slower) would miss it, as
//! `realtime::recent` explains for events this node dispatched. So posts passed in the last
//! [`PASSED_WINDOW`] are kept, and a hand-over gives the client those of its channels that it
//! lacks ([`Relay::passed_posts_for`]).
//!
//! Only `posted` and `typing` are chosen this way: they are nearly all the traffic. Edits,
//! reactions, membership and everything else still go to every node.

use crate::Relay;
use chorus_cluster::ClusterMessage;
use chorus_model::WebSocketEvent;
use parking_lot::{Mutex, RwLock};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Weak;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long passed posts are kept for hand-overs (as long as `realtime::recent` keeps the
/// events this node dispatched).
pub(crate) const PASSED_WINDOW: Duration = Duration::from_secs(10);

/// Passed posts kept at most, whatever the window.
const PASSED_CAPACITY: usize = 20_000;

/// Users arriving within this time share one read of their channels.
const ARRIVAL_BATCH: Duration = Duration::from_millis(50);

/// How often the channels asked for are checked against the connections here.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Reads of a passed post that clients here want, before giving up on it.
const READ_ATTEMPTS: u32 = 20;

pub(crate) struct Interest {
    /// The channels this node asked the peers for.
    own: Mutex<HashSet<String>>,
    /// What each peer asked for; a peer missing here gets everything.
    peers: RwLock<HashMap<String, HashSet<String>>>,
    /// Posts passed here without their event, oldest first.
    passed: Mutex<VecDeque<PassedPost>>,
    /// Users whose first connection came here, whose channels are to be read (by
    /// [`load_arriving_users`], which takes the receiver).
    arriving: mpsc::UnboundedSender<String>,
    arrivals: Mutex<Option<mpsc::UnboundedReceiver<String>>>,
    counts: Counts,
}

#[derive(Default)]
struct Counts {
    posts_sent_full: AtomicU64,
    posts_sent_passed: AtomicU64,
    passed_posts_read: AtomicU64,
}

/// How posts went to the peers and came from them, since the node started (metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ForwardingCounts {
    /// `posted` events this node sent to a peer in full…
    pub posts_sent_full: u64,
    /// …and as a `PostPassed` (the peer had not asked for the channel).
    pub posts_sent_passed: u64,
    /// Posts passed to this node that a client here wanted after all, read from the database.
    pub passed_posts_read: u64,
    /// Channels this node asks its peers for.
    pub channels_wanted: u64,
}

impl Default for Interest {
    fn default() -> Self {
        let (arriving, arrivals) = mpsc::unbounded_channel();
        Interest {
            own: Mutex::default(),
            peers: RwLock::default(),
            passed: Mutex::default(),
            arriving,
            arrivals: Mutex::new(Some(arrivals)),
            counts: Counts::default(),
        }
    }
}

/// A `PostPassed` as it arrived.
struct PassedHere {
    from_node: String,
    channel_id: String,
    post_id: String,
    create_at: i64,
    previous_post_at: i64,
}

struct PassedPost {
    channel_id: String,
    post_id: String,
    create_at: i64,
    passed_at: Instant,
}

impl Interest {
    /// Whether `node_id` gets the channel's events in full.
    pub(crate) fn peer_wants(&self, node_id: &str, channel_id: &str) -> bool {
        self.peers
            .read()
            .get(node_id)
            .is_none_or(|channels| channels.contains(channel_id))
    }

    fn apply(&self, node_id: &str, replace: bool, added: Vec<String>, removed: Vec<String>) {
        let mut peers = self.peers.write();
        if !replace && !peers.contains_key(node_id) {
            // A change to a set never told: the peer keeps getting everything.
            return;
        }
        let channels = peers.entry(node_id.to_string()).or_default();
        if replace {
            channels.clear();
        }
        for channel_id in &removed {
            channels.remove(channel_id);
        }
        channels.extend(added);
    }

    fn note_passed(&self, channel_id: &str, post_id: &str, create_at: i64) {
        let now = Instant::now();
        let mut passed = self.passed.lock();
        while passed.front().is_some_and(|oldest| {
            now.duration_since(oldest.passed_at) >= PASSED_WINDOW || passed.len() >= PASSED_CAPACITY
        }) {
            passed.pop_front();
        }
        passed.push_back(PassedPost {
            channel_id: channel_id.to_string(),
            post_id: post_id.to_string(),
            create_at,
            passed_at: now,
        });
    }

    /// The posts passed within the window, by channel: `(post id, create_at)`.
    fn recently_passed(&self) -> HashMap<String, Vec<(String, i64)>> {
        let passed = self.passed.lock();
        let mut by_channel: HashMap<String, Vec<(String, i64)>> = HashMap::new();
        for post in passed
            .iter()
            .filter(|post| post.passed_at.elapsed() < PASSED_WINDOW)
        {
            by_channel
                .entry(post.channel_id.clone())
                .or_default()
                .push((post.post_id.clone(), post.create_at));
        }
        by_channel
    }
}

impl Relay {
    /// Sends a `posted` event of `channel_id` in full to the peers that want the channel and
    /// as a [`ClusterMessage::PostPassed`] to the others (the event is serialized only if
    /// some peer wants it).
    pub(crate) fn forward_post(
        &self,
        event: &WebSocketEvent,
        channel_id: &str,
        post_id: &str,
        create_at: i64,
        previous_post_at: i64,
    ) {
        let Some(cluster) = self.cluster() else {
            return;
        };
        let short = ClusterMessage::PostPassed {
            channel_id: channel_id.to_string(),
            post_id: post_id.to_string(),
            create_at,
            previous_post_at,
        };
        let interest = &self.inner.interest;
        cluster.send_choosing(
            true,
            || full_event(event, Some(previous_post_at)),
            Some(&short),
            |node_id| {
                let wants = interest.peer_wants(node_id, channel_id);
                let counter = if wants {
                    &interest.counts.posts_sent_full
                } else {
                    &interest.counts.posts_sent_passed
                };
                counter.fetch_add(1, Ordering::Relaxed);
                wants
            },
        );
    }

    /// Sends a `typing` event only to the peers that want its channel.
    pub(crate) fn forward_typing(&self, event: &WebSocketEvent, channel_id: &str) {
        let Some(cluster) = self.cluster() else {
            return;
        };
        let interest = &self.inner.interest;
        cluster.send_choosing(
            false,
            || full_event(event, None),
            None,
            |node_id| interest.peer_wants(node_id, channel_id),
        );
    }

    /// A peer told which channels it wants.
    pub(crate) fn receive_interest(
        &self,
        from_node: &str,
        replace: bool,
        added: Vec<String>,
        removed: Vec<String>,
    ) {
        self.inner
            .interest
            .apply(from_node, replace, added, removed);
    }

    /// A peer forgot: it gets everything again until it tells.
    pub(crate) fn forget_peer_interest(&self, node_id: &str) {
        self.inner.interest.peers.write().remove(node_id);
    }

    /// Tells a peer (that just joined) every channel this node wants.
    pub(crate) fn send_own_interest(&self, node_id: &str) {
        let Some(cluster) = self.cluster() else {
            return;
        };
        // Under the lock, so that a change sent after it is not overtaken.
        let own = self.inner.interest.own.lock();
        cluster.send_reliable_to(
            node_id,
            ClusterMessage::ChannelInterest {
                replace: true,
                added: own.iter().cloned().collect(),
                removed: Vec::new(),
            },
        );
    }

    /// Asks the peers for these channels' events, those not asked for yet.
    pub(crate) fn want_channels(&self, channel_ids: impl IntoIterator<Item = String>) {
        let mut own = self.inner.interest.own.lock();
        let added: Vec<String> = channel_ids
            .into_iter()
            .filter(|channel_id| own.insert(channel_id.clone()))
            .collect();
        if added.is_empty() {
            return;
        }
        if let Some(cluster) = self.cluster() {
            cluster.send_reliable(ClusterMessage::ChannelInterest {
                replace: false,
                added,
                removed: Vec::new(),
            });
        }
    }

    /// A user's first connection on this node opened: their channels are asked for (read in
    /// batches, off the caller's path). Cheap; called under the hub's registration lock.
    pub fn user_arrived(&self, user_id: &str) {
        if self.cluster().is_none() {
            return;
        }
        let _ = self.inner.interest.arriving.send(user_id.to_string());
    }

    /// An event about to reach this node's clients that adds a user to a channel: if the user
    /// has a connection here, the channel is asked for.
    pub(crate) fn note_membership(&self, event: &WebSocketEvent) {
        let Some((user_id, channel_id)) = crate::membership::joined_channel(event) else {
            return;
        };
        if self.inner.hub.reaches_any_of(&HashSet::from([user_id])) {
            self.want_channels([channel_id]);
        }
    }

    /// A post of a channel this node did not ask for (see the module doc), from `from_node`.
    pub(crate) fn receive_post_passed(
        &self,
        from_node: &str,
        channel_id: String,
        post_id: String,
        create_at: i64,
        previous_post_at: i64,
    ) {
        let directory = &self.inner.directory;
        directory.note_channel_write(&channel_id);
        let passed = PassedHere {
            from_node: from_node.to_string(),
            channel_id,
            post_id,
            create_at,
            previous_post_at,
        };
        match directory.cached_channel_member_ids(&passed.channel_id) {
            Some(members) => self.decide_passed(passed, &members),
            None => {
                let relay = self.clone();
                tokio::spawn(async move {
                    let members = relay
                        .inner
                        .directory
                        .channel_member_ids(passed.channel_id.clone())
                        .await
                        .unwrap_or_default();
                    relay.decide_passed(passed, &members);
                });
            }
        }
    }

    fn decide_passed(&self, passed: PassedHere, members: &HashSet<String>) {
        let PassedHere {
            from_node,
            channel_id,
            post_id,
            create_at,
            previous_post_at,
        } = passed;
        if !self.inner.hub.reaches_any_of(members) {
            self.inner
                .interest
                .note_passed(&channel_id, &post_id, create_at);
            self.publish_post_in_order(&channel_id, create_at, previous_post_at, None);
            return;
        }
        self.want_channels([channel_id.clone()]);
        // The sender did not know: tell it again (normally its set is only a moment behind;
        // this also mends a set that went astray).
        if let Some(cluster) = self.cluster() {
            cluster.send_reliable_to(
                &from_node,
                ClusterMessage::ChannelInterest {
                    replace: false,
                    added: vec![channel_id.clone()],
                    removed: Vec::new(),
                },
            );
        }
        let relay = self.clone();
        tokio::spawn(async move {
            for _ in 0..READ_ATTEMPTS {
                if let Some(event) = relay.read_posted(&channel_id, create_at).await {
                    relay
                        .inner
                        .interest
                        .counts
                        .passed_posts_read
                        .fetch_add(1, Ordering::Relaxed);
                    relay.publish_post_in_order(
                        &channel_id,
                        create_at,
                        previous_post_at,
                        Some(event),
                    );
                    return;
                }
                tokio::time::sleep(crate::post_order::GAP_WAIT).await;
            }
            // Later posts of the channel still go out: they wait for it only GAP_WAIT.
            tracing::warn!(
                channel_id,
                post_id,
                "a post that clients here want could not be read from the database"
            );
        });
    }

    /// The `posted` event of the channel's post created at `create_at`, as created; None
    /// when it cannot be read.
    async fn read_posted(&self, channel_id: &str, create_at: i64) -> Option<WebSocketEvent> {
        let events = self
            .posts_created_between(channel_id, create_at - 1, create_at)
            .await?;
        events
            .into_iter()
            .find(|(at, _)| *at == create_at)
            .map(|(_, event)| event)
    }

    /// For a connection of `user_id` handed over to this node: the `posted` events of the
    /// posts of the user's channels this node passed lately (see the module doc). The hub
    /// keeps only those the client lacks.
    pub(crate) async fn passed_posts_for(&self, user_id: &str) -> Vec<WebSocketEvent> {
        let mut events = Vec::new();
        for (channel_id, posts) in self.inner.interest.recently_passed() {
            let members = match self.inner.directory.cached_channel_member_ids(&channel_id) {
                Some(members) => Some(members),
                None => {
                    self.inner
                        .directory
                        .channel_member_ids(channel_id.clone())
                        .await
                }
            };
            if !members.is_some_and(|members| members.contains(user_id)) {
                continue;
            }
            let (Some(first), Some(last)) = (
                posts.iter().map(|(_, at)| *at).min(),
                posts.iter().map(|(_, at)| *at).max(),
            ) else {
                continue;
            };
            let Some(read) = self
                .posts_created_between(&channel_id, first - 1, last)
                .await
            else {
                continue;
            };
            let wanted: HashSet<i64> = posts.iter().map(|(_, at)| *at).collect();
            events.extend(
                read.into_iter()
                    .filter(|(at, _)| wanted.contains(at))
                    .map(|(_, event)| event),
            );
        }
        events
    }
}

/// An event as it travels in full; None when it cannot be serialized.
fn full_event(event: &WebSocketEvent, previous_post_at: Option<i64>) -> Option<ClusterMessage> {
    let event_json = serde_json::to_string(event).ok()?;
    Some(ClusterMessage::WebSocketEvent {
        event_json,
        previous_post_at,
    })
}

/// Runs while the relay lives: reads the channels of users who arrived, in batches, and asks
/// the peers for them.
pub(crate) async fn load_arriving_users(relay: Weak<crate::RelayInner>) {
    let Some(mut arrivals) = relay
        .upgrade()
        .and_then(|inner| inner.interest.arrivals.lock().take())
    else {
        return;
    };
    // Ends when the relay (holding the sender) is dropped.
    while let Some(first) = arrivals.recv().await {
        tokio::time::sleep(ARRIVAL_BATCH).await;
        let mut users = vec![first];
        while let Ok(user_id) = arrivals.try_recv() {
            users.push(user_id);
        }
        let Some(inner) = relay.upgrade() else {
            return;
        };
        let relay_now = Relay { inner };
        if let Some(channel_ids) = relay_now.inner.directory.channels_of_users(users).await {
            relay_now.want_channels(channel_ids);
        }
    }
}

/// Runs while the relay lives: stops asking for channels none of whose members has a
/// connection here any more (checked against the cached members only: a channel whose members
/// are not cached is kept).
pub(crate) async fn sweep_own_interest(relay: Weak<crate::RelayInner>) {
    let mut ticker = tokio::time::interval(SWEEP_INTERVAL);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let Some(inner) = relay.upgrade() else {
            return;
        };
        let relay_now = Relay { inner };
        relay_now.sweep_once();
    }
}

impl Relay {
    fn sweep_once(&self) {
        let inner = &self.inner;
        let mut own = inner.interest.own.lock();
        let removed: Vec<String> = own
            .iter()
            .filter(|channel_id| {
                inner
                    .directory
                    .cached_channel_member_ids(channel_id)
                    .is_some_and(|members| !inner.hub.reaches_any_of(&members))
            })
            .cloned()
            .collect();
        if removed.is_empty() {
            return;
        }
        for channel_id in &removed {
            own.remove(channel_id);
        }
        tracing::debug!(
            removed = removed.len(),
            kept = own.len(),
            "channels no client here wants any more"
        );
        if let Some(cluster) = self.cluster() {
            cluster.send_reliable(ClusterMessage::ChannelInterest {
                replace: false,
                added: Vec::new(),
                removed,
            });
        }
    }
}

impl Relay {
    /// How posts went to the peers and came from them (see [`ForwardingCounts`]).
    pub fn forwarding_counts(&self) -> ForwardingCounts {
        let interest = &self.inner.interest;
        let counts = &interest.counts;
        ForwardingCounts {
            posts_sent_full: counts.posts_sent_full.load(Ordering::Relaxed),
            posts_sent_passed: counts.posts_sent_passed.load(Ordering::Relaxed),
            passed_posts_read: counts.passed_posts_read.load(Ordering::Relaxed),
            channels_wanted: interest.own.lock().len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_that_never_told_gets_everything_and_one_that_did_gets_its_channels() {
        let interest = Interest::default();
        assert!(interest.peer_wants("b", "c1"));
        interest.apply("b", false, vec!["c1".into()], vec![]);
        assert!(
            interest.peer_wants("b", "c2"),
            "a change to a set never told is ignored"
        );
        interest.apply("b", true, vec!["c1".into()], vec![]);
        assert!(interest.peer_wants("b", "c1"));
        assert!(!interest.peer_wants("b", "c2"));
        interest.apply("b", false, vec!["c2".into()], vec!["c1".into()]);
        assert!(!interest.peer_wants("b", "c1"));
        assert!(interest.peer_wants("b", "c2"));
        interest.apply("b", true, vec![], vec![]);
        assert!(!interest.peer_wants("b", "c2"), "replaced by an empty set");
    }

    #[test]
    fn passed_posts_are_grouped_by_channel() {
        let interest = Interest::default();
        interest.note_passed("c1", "p1", 10);
        interest.note_passed("c2", "p2", 11);
        interest.note_passed("c1", "p3", 12);
        let passed = interest.recently_passed();
        assert_eq!(
            passed["c1"],
            vec![("p1".to_string(), 10), ("p3".to_string(), 12)]
        );
        assert_eq!(passed["c2"], vec![("p2".to_string(), 11)]);
    }
}

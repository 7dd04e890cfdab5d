//! Posts of a channel reach this node's clients in `create_at` order, whichever node created
//! them.
//!
//! A node publishes the posts it creates in a channel in order (the channel lock across commit
//! and publish), but posts of one channel created on different nodes race on their way to the
//! other nodes: a client of node B could get B's post before an earlier one from node A still
//! in flight — for a millisecond normally, for seconds when A was paused or cut off. So each
//! `posted` event names the `create_at` of the channel's previous post (read under the
//! channel row's lock when the post was stored), which chains a channel's posts. A node hands
//! a `posted` event to its hub only once the post before it in the chain was handed over.
//! When the one before has not come within [`GAP_WAIT`], the missing posts are read from the
//! master and published first (their node is paused, cut off, or died between commit and
//! publish); their own events, should they come later, are dropped as already published.
//!
//! Only `posted` events are chained; edits, deletions and reactions go straight to the hub.
//! A channel this node has no chain for starts one at the first post it sees.

use crate::App;
use chorus_model::WebSocketEvent;
use chorus_store::posts as post_store;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

/// How long a post waits for the one before it before that one is read from the database.
pub(crate) const GAP_WAIT: Duration = Duration::from_millis(500);

/// `create_at` values remembered per channel to recognise a post published already.
const RECENT_PER_CHANNEL: usize = 256;

/// Channels with a chain; past this, idle chains are forgotten.
const MAX_CHANNELS: usize = 100_000;

/// A chain not used for this long may be forgotten.
const IDLE_CHAIN: Duration = Duration::from_secs(600);

/// Posts read at most per gap fill.
const MAX_FILLED: i64 = 1000;

/// The `data` key carrying the previous post's `create_at` between nodes (removed before the
/// event reaches a client).
pub(crate) const PREVIOUS_POST_AT: &str = "chorus_previous_post_at";

#[derive(Default)]
pub(crate) struct PostOrder {
    chains: Mutex<HashMap<String, Chain>>,
}

struct Chain {
    /// `create_at` of the last post published here.
    last_at: i64,
    /// `create_at` of recently published posts, oldest first.
    recent: VecDeque<i64>,
    /// Posts whose predecessor was not published yet: `create_at` → (previous, event).
    waiting: BTreeMap<i64, (i64, WebSocketEvent)>,
    /// A gap fill is scheduled.
    filling: bool,
    touched: Instant,
}

impl Chain {
    fn starting_at(last_at: i64) -> Chain {
        Chain {
            last_at,
            recent: VecDeque::new(),
            waiting: BTreeMap::new(),
            filling: false,
            touched: Instant::now(),
        }
    }

    fn was_published(&self, create_at: i64) -> bool {
        self.recent.contains(&create_at)
    }

    fn publish(&mut self, create_at: i64, event: WebSocketEvent, ready: &mut Vec<WebSocketEvent>) {
        self.last_at = self.last_at.max(create_at);
        self.recent.push_back(create_at);
        if self.recent.len() > RECENT_PER_CHANNEL {
            self.recent.pop_front();
        }
        ready.push(event);
    }

    /// Publishes the waiting posts whose predecessor is now published, in order.
    fn release(&mut self, ready: &mut Vec<WebSocketEvent>) {
        while let Some(entry) = self.waiting.first_entry() {
            let create_at = *entry.key();
            let previous_at = entry.get().0;
            if create_at <= self.last_at {
                let (_, event) = entry.remove();
                if !self.was_published(create_at) {
                    self.publish(create_at, event, ready);
                }
                continue;
            }
            if previous_at > self.last_at {
                return;
            }
            let (_, event) = entry.remove();
            self.publish(create_at, event, ready);
        }
    }

    /// Where the first gap ends: the predecessor of the oldest waiting post.
    fn first_gap(&self) -> Option<(i64, i64)> {
        let (_, (previous_at, _)) = self.waiting.first_key_value()?;
        Some((self.last_at, *previous_at))
    }
}

impl PostOrder {
    /// A `posted` event of `channel_id` created at `create_at`, whose predecessor in the
    /// channel was created at `previous_at`. Returns the events to publish now, in order, and
    /// whether a gap fill must be scheduled.
    fn offer(
        &self,
        channel_id: &str,
        create_at: i64,
        previous_at: i64,
        event: WebSocketEvent,
    ) -> (Vec<WebSocketEvent>, bool) {
        let mut chains = self.chains.lock();
        if chains.len() > MAX_CHANNELS {
            chains.retain(|_, chain| {
                !chain.waiting.is_empty() || chain.touched.elapsed() < IDLE_CHAIN
            });
        }
        let chain = chains
            .entry(channel_id.to_string())
            .or_insert_with(|| Chain::starting_at(previous_at));
        chain.touched = Instant::now();
        let mut ready = Vec::new();
        if create_at <= chain.last_at {
            // Published already (by a gap fill), or older than the start of this chain:
            // late, but never withheld.
            if !chain.was_published(create_at) {
                chain.publish(create_at, event, &mut ready);
            }
            return (ready, false);
        }
        if previous_at <= chain.last_at {
            chain.publish(create_at, event, &mut ready);
            chain.release(&mut ready);
            return (ready, false);
        }
        chain
            .waiting
            .entry(create_at)
            .or_insert((previous_at, event));
        let schedule_fill = !chain.filling;
        chain.filling = true;
        (ready, schedule_fill)
    }

    fn first_gap(&self, channel_id: &str) -> Option<(i64, i64)> {
        let mut chains = self.chains.lock();
        let chain = chains.get_mut(channel_id)?;
        let gap = chain.first_gap();
        if gap.is_none() {
            chain.filling = false;
        }
        gap
    }

    /// Publishes the posts read for a gap ending at `up_to` (in `create_at` order), then the
    /// waiting posts they unblock.
    fn fill(
        &self,
        channel_id: &str,
        up_to: i64,
        filled: Vec<(i64, WebSocketEvent)>,
    ) -> Vec<WebSocketEvent> {
        let mut chains = self.chains.lock();
        let mut ready = Vec::new();
        let Some(chain) = chains.get_mut(channel_id) else {
            return ready;
        };
        for (create_at, event) in filled {
            if create_at > chain.last_at {
                chain.publish(create_at, event, &mut ready);
            }
        }
        // Whatever the database had (or not), nothing before `up_to` is waited for any more.
        chain.last_at = chain.last_at.max(up_to);
        chain.release(&mut ready);
        ready
    }
}

impl App {
    /// Hands a `posted` event to this node's hub in its channel's `create_at` order (see the
    /// module doc).
    pub(crate) fn publish_post_in_order(
        &self,
        channel_id: &str,
        create_at: i64,
        previous_at: i64,
        event: WebSocketEvent,
    ) {
        let (ready, schedule_fill) =
            self.inner
                .post_order
                .offer(channel_id, create_at, previous_at, event);
        for event in ready {
            self.inner.hub.publish(event);
        }
        if schedule_fill {
            let app = self.clone();
            let channel_id = channel_id.to_string();
            tokio::spawn(async move { app.fill_post_gaps(&channel_id).await });
        }
    }

    /// Runs while posts of the channel wait for predecessors: gives them [`GAP_WAIT`] to come,
    /// then reads the missing ones from the master.
    async fn fill_post_gaps(&self, channel_id: &str) {
        loop {
            tokio::time::sleep(GAP_WAIT).await;
            let Some((after, up_to)) = self.inner.post_order.first_gap(channel_id) else {
                return;
            };
            let filled = self.posts_created_between(channel_id, after, up_to).await;
            tracing::info!(
                channel_id,
                after,
                up_to,
                filled = filled.len(),
                "posts missing from a channel's order read from the database"
            );
            for event in self.inner.post_order.fill(channel_id, up_to, filled) {
                self.inner.hub.publish(event);
            }
        }
    }

    /// The `posted` events of the channel's posts created in `(after, up_to]`; none when the
    /// master cannot be read (the waiting posts are then published without them).
    async fn posts_created_between(
        &self,
        channel_id: &str,
        after: i64,
        up_to: i64,
    ) -> Vec<(i64, WebSocketEvent)> {
        let posts = match self.store().master().await {
            Ok(db) => post_store::created_between(&db, channel_id, after, up_to, MAX_FILLED).await,
            Err(error) => Err(error),
        };
        let posts = match posts {
            Ok(posts) => posts,
            Err(error) => {
                tracing::warn!(channel_id, error = %error, "cannot read the posts missing from a channel's order");
                return Vec::new();
            }
        };
        let mut events = Vec::with_capacity(posts.len());
        for post in &posts {
            if let Some(event) = self.rebuilt_posted(post).await {
                events.push((post.create_at, event));
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chorus_model::Broadcast;

    fn posted(label: &str) -> WebSocketEvent {
        WebSocketEvent::new("posted", Broadcast::to_channel("c")).with("label", label)
    }

    fn labels(events: &[WebSocketEvent]) -> Vec<String> {
        events
            .iter()
            .map(|event| event.data["label"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn a_post_waits_for_the_one_before_it() {
        let order = PostOrder::default();
        assert_eq!(
            labels(&order.offer("c", 10, 5, posted("first")).0),
            ["first"]
        );
        let (ready, fill) = order.offer("c", 30, 20, posted("third"));
        assert!(ready.is_empty());
        assert!(fill, "a gap opened");
        let (ready, fill) = order.offer("c", 40, 30, posted("fourth"));
        assert!(ready.is_empty() && !fill, "one fill per channel at a time");
        let (ready, _) = order.offer("c", 20, 10, posted("second"));
        assert_eq!(labels(&ready), ["second", "third", "fourth"]);
        assert_eq!(order.first_gap("c"), None);
    }

    #[test]
    fn a_gap_filled_from_the_database_comes_first_and_its_late_event_is_dropped() {
        let order = PostOrder::default();
        order.offer("c", 10, 5, posted("first"));
        order.offer("c", 30, 20, posted("third"));
        assert_eq!(order.first_gap("c"), Some((10, 20)));
        let ready = order.fill("c", 20, vec![(20, posted("second from the database"))]);
        assert_eq!(labels(&ready), ["second from the database", "third"]);
        let (late, _) = order.offer("c", 20, 10, posted("second"));
        assert!(late.is_empty(), "published already");
    }

    #[test]
    fn a_post_older_than_the_chain_is_published_late_rather_than_never() {
        let order = PostOrder::default();
        order.offer("c", 30, 20, posted("newer"));
        let (ready, _) = order.offer("c", 20, 10, posted("older"));
        assert_eq!(labels(&ready), ["older"]);
    }
}

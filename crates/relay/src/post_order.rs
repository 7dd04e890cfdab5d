//! Posts of a channel reach this node's clients in `create_at` order, whichever node created
//! them.
//!
//! A node publishes the posts it creates in a channel in order (the app's channel lock across
//! commit and publish), but posts of one channel created on different nodes race on their way
//! to the other nodes: a client of node B could get B's post before an earlier one from node A
//! still in flight — for a millisecond normally, for seconds when A was paused or cut off. So
//! each `posted` event names the `create_at` of the channel's previous post
//! (`CreateOutcome::Created::previous_post_at`: the channel's `lastpostat`, read under its row
//! lock when the post was stored), which travels as `previous_post_at` of the cluster message
//! that forwards the event and chains a channel's posts. A node hands a `posted` event to its
//! hub only once the post before it in the chain was handed over. When the one before has not
//! come within [`GAP_WAIT`] (its node paused, cut off, or dead between commit and publish), the
//! missing posts are read from the master (`store::posts::created_between`) and published
//! first; their own events, should they come later, are dropped as already published.
//!
//! A post this node was only told of (`interest`: no client here wanted the channel) takes its
//! place in the chain without an event, so that the posts after it do not wait for it.
//!
//! Cost: nothing while events arrive in order; a post after a gap waits up to [`GAP_WAIT`].
//! Not ordered: edits, deletions and reactions (each refers to a post already published) go
//! straight to the hub. A channel this node has no chain for starts one at the first post it
//! sees, so a post older than the chain (this node started after it) goes out late rather than
//! never. A post from a node that names no predecessor (protocol version 1, during a rolling
//! upgrade) goes out at once and counts as published.

use crate::events::posted_as_created;
use crate::Relay;
use chorus_model::WebSocketEvent;
use chorus_store::posts as post_store;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

/// How long a post waits for the one before it before that one is read from the database.
pub const GAP_WAIT: Duration = Duration::from_millis(500);

/// `create_at` values remembered per channel to recognise a post published already.
const RECENT_PER_CHANNEL: usize = 256;

/// Channels with a chain; past this, idle chains are forgotten.
const MAX_CHANNELS: usize = 100_000;

/// A chain not used for this long may be forgotten.
const IDLE_CHAIN: Duration = Duration::from_secs(600);

/// Posts read at most per gap fill.
const MAX_FILLED: usize = 1000;

/// Gap fills tried while the master cannot be read, before the waiting posts go out anyway.
const FILL_ATTEMPTS: u32 = 20;

#[derive(Default)]
pub(crate) struct PostOrder {
    chains: Mutex<HashMap<String, Chain>>,
}

struct Chain {
    /// `create_at` of the last post published here.
    last_at: i64,
    /// `create_at` of recently published posts, oldest first.
    recent: VecDeque<i64>,
    /// Posts whose predecessor was not published yet: `create_at` → (previous, event; None
    /// for a post this node was told of without its event, see `interest`).
    waiting: BTreeMap<i64, (i64, Option<WebSocketEvent>)>,
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

    /// Takes the post as published (a post without its event only moves the chain on).
    fn publish(
        &mut self,
        create_at: i64,
        event: Option<WebSocketEvent>,
        publish: &mut dyn FnMut(WebSocketEvent),
    ) {
        self.last_at = self.last_at.max(create_at);
        self.recent.push_back(create_at);
        if self.recent.len() > RECENT_PER_CHANNEL {
            self.recent.pop_front();
        }
        if let Some(event) = event {
            publish(event);
        }
    }

    /// Publishes the waiting posts whose predecessor is now published, in order.
    fn release(&mut self, publish: &mut dyn FnMut(WebSocketEvent)) {
        while let Some(entry) = self.waiting.first_entry() {
            let create_at = *entry.key();
            let previous_at = entry.get().0;
            if create_at <= self.last_at {
                let (_, event) = entry.remove();
                if !self.was_published(create_at) {
                    self.publish(create_at, event, publish);
                }
                continue;
            }
            if previous_at > self.last_at {
                return;
            }
            let (_, event) = entry.remove();
            self.publish(create_at, event, publish);
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
    /// channel was created at `previous_at`. Hands the events that can go out now to
    /// `publish`, in order and under the lock (so two offers cannot interleave them); returns
    /// whether a gap fill must be scheduled.
    fn offer(
        &self,
        channel_id: &str,
        create_at: i64,
        previous_at: i64,
        event: Option<WebSocketEvent>,
        publish: &mut dyn FnMut(WebSocketEvent),
    ) -> bool {
        let mut chains = self.chains.lock();
        if chains.len() > MAX_CHANNELS {
            chains.retain(|_, chain| {
                !chain.waiting.is_empty() || chain.touched.elapsed() < IDLE_CHAIN
            });
        }
        let chain = chains.entry(channel_id.to_string()).or_insert_with(|| {
            tracing::debug!(channel_id, previous_at, "channel's post order starts");
            Chain::starting_at(previous_at)
        });
        chain.touched = Instant::now();
        if create_at <= chain.last_at {
            // Published already (by a gap fill), or older than the start of this chain:
            // late, but never withheld.
            if !chain.was_published(create_at) {
                chain.publish(create_at, event, publish);
            }
            return false;
        }
        if previous_at <= chain.last_at {
            chain.publish(create_at, event, publish);
            chain.release(publish);
            return false;
        }
        tracing::debug!(
            channel_id,
            create_at,
            previous_at,
            last_at = chain.last_at,
            "post waits for the one before it"
        );
        chain
            .waiting
            .entry(create_at)
            .or_insert((previous_at, event));
        let schedule_fill = !chain.filling;
        chain.filling = true;
        schedule_fill
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
    /// waiting posts they unblock. `complete`: every post of the gap was read (otherwise only
    /// up to the last one read is done with).
    fn fill(
        &self,
        channel_id: &str,
        up_to: i64,
        filled: Vec<(i64, WebSocketEvent)>,
        complete: bool,
        publish: &mut dyn FnMut(WebSocketEvent),
    ) {
        let mut chains = self.chains.lock();
        let Some(chain) = chains.get_mut(channel_id) else {
            return;
        };
        for (create_at, event) in filled {
            if create_at > chain.last_at {
                chain.publish(create_at, Some(event), publish);
            }
        }
        if complete {
            // Whatever the database had, nothing up to `up_to` is waited for any more.
            chain.last_at = chain.last_at.max(up_to);
        }
        chain.release(publish);
    }
}

impl Relay {
    /// Hands a `posted` event to this node's hub in its channel's `create_at` order (see the
    /// module doc).
    pub(crate) fn publish_post_in_order(
        &self,
        channel_id: &str,
        create_at: i64,
        previous_at: i64,
        event: Option<WebSocketEvent>,
    ) {
        let hub = &self.inner.hub;
        let schedule_fill =
            self.inner
                .post_order
                .offer(channel_id, create_at, previous_at, event, &mut |ready| {
                    hub.publish(ready)
                });
        if schedule_fill {
            let relay = self.clone();
            let channel_id = channel_id.to_string();
            tokio::spawn(async move { relay.fill_post_gaps(&channel_id).await });
        }
    }

    /// Runs while posts of the channel wait for predecessors: gives them [`GAP_WAIT`] to come,
    /// then reads the missing ones from the master.
    async fn fill_post_gaps(&self, channel_id: &str) {
        let mut failed_attempts = 0;
        loop {
            tokio::time::sleep(GAP_WAIT).await;
            let Some((after, up_to)) = self.inner.post_order.first_gap(channel_id) else {
                return;
            };
            let read = self.posts_created_between(channel_id, after, up_to).await;
            let (filled, complete) = match read {
                Some(filled) => {
                    let complete = filled.len() < MAX_FILLED;
                    (filled, complete)
                }
                None if failed_attempts + 1 < FILL_ATTEMPTS => {
                    failed_attempts += 1;
                    continue;
                }
                // The master stays out of reach: the waiting posts go out without the gap.
                None => (Vec::new(), true),
            };
            failed_attempts = 0;
            tracing::info!(
                channel_id,
                after,
                up_to,
                filled = filled.len(),
                "posts missing from a channel's order read from the database"
            );
            let hub = &self.inner.hub;
            self.inner
                .post_order
                .fill(channel_id, up_to, filled, complete, &mut |ready| {
                    hub.publish(ready)
                });
        }
    }

    /// The `posted` events of the channel's posts created in `(after, up_to]`, at most
    /// [`MAX_FILLED`]; None when the master cannot be read.
    pub(crate) async fn posts_created_between(
        &self,
        channel_id: &str,
        after: i64,
        up_to: i64,
    ) -> Option<Vec<(i64, WebSocketEvent)>> {
        let limit = MAX_FILLED as i64;
        let posts = match self.inner.store.master().await {
            Ok(db) => post_store::created_between(&db, channel_id, after, up_to, limit).await,
            Err(error) => Err(error),
        };
        let posts = match posts {
            Ok(posts) => posts,
            Err(error) => {
                tracing::warn!(channel_id, error = %error, "cannot read the posts missing from a channel's order");
                return None;
            }
        };
        let mut events = Vec::with_capacity(posts.len());
        for post in &posts {
            events.push((
                post.create_at,
                posted_as_created(self.inner.directory.as_ref(), post).await?,
            ));
        }
        Some(events)
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

    /// Offers a post; returns what went out and whether a fill is due.
    fn offer(
        order: &PostOrder,
        create_at: i64,
        previous_at: i64,
        label: &str,
    ) -> (Vec<String>, bool) {
        let mut published = Vec::new();
        let fill = order.offer(
            "c",
            create_at,
            previous_at,
            Some(posted(label)),
            &mut |event| published.push(event),
        );
        (labels(&published), fill)
    }

    #[test]
    fn a_post_waits_for_the_one_before_it() {
        let order = PostOrder::default();
        assert_eq!(
            offer(&order, 10, 5, "first"),
            (vec!["first".to_string()], false)
        );
        assert_eq!(
            offer(&order, 30, 20, "third"),
            (vec![], true),
            "a gap opened"
        );
        assert_eq!(
            offer(&order, 40, 30, "fourth"),
            (vec![], false),
            "one fill per channel at a time"
        );
        let (published, _) = offer(&order, 20, 10, "second");
        assert_eq!(published, ["second", "third", "fourth"]);
        assert_eq!(order.first_gap("c"), None);
    }

    #[test]
    fn a_gap_filled_from_the_database_comes_first_and_its_late_event_is_dropped() {
        let order = PostOrder::default();
        offer(&order, 10, 5, "first");
        offer(&order, 40, 30, "fourth");
        assert_eq!(order.first_gap("c"), Some((10, 30)));
        let mut published = Vec::new();
        order.fill(
            "c",
            30,
            vec![(20, posted("second (database)"))],
            false,
            &mut |event| published.push(event),
        );
        assert_eq!(
            labels(&published),
            ["second (database)"],
            "the read was cut short"
        );
        assert_eq!(order.first_gap("c"), Some((20, 30)));
        published.clear();
        order.fill(
            "c",
            30,
            vec![(30, posted("third (database)"))],
            true,
            &mut |event| published.push(event),
        );
        assert_eq!(labels(&published), ["third (database)", "fourth"]);
        assert!(
            offer(&order, 20, 10, "second").0.is_empty(),
            "published already"
        );
    }

    #[test]
    fn a_post_passed_without_its_event_moves_the_chain_on() {
        let order = PostOrder::default();
        offer(&order, 10, 5, "first");
        let mut published = Vec::new();
        let fill = order.offer("c", 20, 10, None, &mut |event| published.push(event));
        assert!(published.is_empty() && !fill);
        assert_eq!(
            offer(&order, 30, 20, "third"),
            (vec!["third".to_string()], false),
            "the passed post counts as published: nothing waits for it"
        );
        assert_eq!(offer(&order, 50, 40, "fifth"), (vec![], true));
        assert!(!order.offer("c", 40, 30, None, &mut |event| published.push(event)));
        assert_eq!(
            labels(&published),
            ["fifth"],
            "a passed post releases the one after it"
        );
    }

    #[test]
    fn a_post_older_than_the_chain_is_published_late_rather_than_never() {
        let order = PostOrder::default();
        offer(&order, 30, 20, "newer");
        assert_eq!(offer(&order, 20, 10, "older").0, ["older"]);
    }
}

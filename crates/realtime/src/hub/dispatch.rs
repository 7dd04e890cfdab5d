//! Delivery of published events to connection queues.
//!
//! `Hub::publish` hands each event to one of several dispatcher tasks, chosen by the event's
//! routing key (user, else channel, else team). A task handles its events one at a time —
//! member lookup, then a non-blocking offer to each recipient's queue — so events with the
//! same key reach every connection in publish order, while a slow member lookup for one
//! channel only holds up the channels that share its shard.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use chorus_model::{Broadcast, WebSocketEvent};
use tokio::sync::mpsc;
use tracing::{debug, trace, warn};

use super::state::HubState;
use crate::connection::{close_code, ConnectionHandle};
use crate::frame::PreparedEvent;
use crate::queue::Offer;
use crate::registry::Audience;

/// Which of `shard_count` dispatchers handles events with this broadcast. Events with the same
/// routing key always land on the same shard, which is what keeps them in order.
pub(crate) fn shard_index(broadcast: &Broadcast, shard_count: usize) -> usize {
    debug_assert!(shard_count > 0);
    let routing_key = match Audience::of(broadcast) {
        Audience::User(user_id) => user_id,
        Audience::Channel(channel_id) => channel_id,
        Audience::Team(team_id) => team_id,
        Audience::Everyone => "",
    };
    let mut hasher = DefaultHasher::new();
    routing_key.hash(&mut hasher);
    (hasher.finish() % shard_count as u64) as usize
}

/// One dispatcher: runs until the hub (the only sender) is dropped.
pub(crate) async fn run_shard(
    hub: Arc<HubState>,
    mut events: mpsc::UnboundedReceiver<WebSocketEvent>,
) {
    while let Some(event) = events.recv().await {
        deliver(&hub, &event).await;
    }
}

async fn deliver(hub: &HubState, event: &WebSocketEvent) {
    let members: Option<Arc<HashSet<String>>> = match Audience::of(&event.broadcast) {
        Audience::Channel(channel_id) => {
            let members = hub
                .delegate()
                .channel_member_ids(channel_id.to_string())
                .await;
            if members.is_none() {
                debug!(channel_id, event = %event.event, "no members for channel, event dropped");
                return;
            }
            members
        }
        Audience::Team(team_id) => {
            let members = hub.delegate().team_member_ids(team_id.to_string()).await;
            if members.is_none() {
                debug!(team_id, event = %event.event, "no members for team, event dropped");
                return;
            }
            members
        }
        Audience::User(_) | Audience::Everyone => None,
    };

    // Serialized at most once, and only if someone on this node receives it, or it may have to
    // be given to a connection resumed here later (see `continuity::recent`).
    let recent = hub.recent().filter(|_| !event.is_droppable());
    let mut prepared: Option<Arc<PreparedEvent>> =
        recent.map(|_| Arc::new(PreparedEvent::new(event)));
    let mut overflowed: Vec<Arc<ConnectionHandle>> = Vec::new();
    let mut lost: Vec<Arc<ConnectionHandle>> = Vec::new();
    // Which connections got a change, for diagnosing a lost or repeated one (the chaos suite);
    // collected only when that is logged.
    let trace_queued = tracing::enabled!(tracing::Level::TRACE);
    let mut queued_to: Vec<String> = Vec::new();
    {
        let registry = hub.registry();
        registry.for_each_recipient(&event.broadcast, members.as_deref(), |handle| {
            let prepared = prepared.get_or_insert_with(|| Arc::new(PreparedEvent::new(event)));
            match handle.queue().offer(prepared) {
                Offer::Queued if trace_queued => queued_to.push(handle.connection_id().to_string()),
                Offer::Queued | Offer::Dropped => {}
                Offer::Overflow => overflowed.push(Arc::clone(handle)),
                Offer::Lost => lost.push(Arc::clone(handle)),
            }
        });
        if let (Some(recent), Some(prepared)) = (recent, &prepared) {
            if prepared.change().is_some() {
                recent.record(prepared, &event.broadcast, members.as_ref());
            }
        }
    }
    if let Some(change) = prepared.as_ref().and_then(|prepared| prepared.change()) {
        trace!(change = %change.key, ?queued_to, "change queued");
    }
    for handle in overflowed {
        warn!(
            connection_id = %handle.connection_id(),
            user_id = %handle.user_id(),
            "websocket send queue full, closing connection"
        );
        // Its events stay queued: the connection parks and a resume delivers them.
        handle.request_close(close_code::TRY_AGAIN_LATER);
    }
    for handle in lost {
        warn!(
            connection_id = %handle.connection_id(),
            user_id = %handle.user_id(),
            "parked websocket connection over its queue limit, its client will resync"
        );
        hub.forget_parked(&handle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_with_the_same_routing_key_share_a_shard() {
        let shards = 16;
        let channel = Broadcast::to_channel("town-square");
        let channel_typing = Broadcast::to_channel("town-square").omitting("bob");
        assert_eq!(
            shard_index(&channel, shards),
            shard_index(&channel_typing, shards)
        );

        let to_alice = Broadcast::to_user("alice");
        let to_alice_in_channel = Broadcast {
            channel_id: "other".into(),
            ..to_alice.clone()
        };
        assert_eq!(
            shard_index(&to_alice, shards),
            shard_index(&to_alice_in_channel, shards)
        );

        let spread: HashSet<usize> = (0..200)
            .map(|n| shard_index(&Broadcast::to_channel(&format!("channel-{n}")), shards))
            .collect();
        assert!(
            spread.len() > shards / 2,
            "channels spread over shards: {spread:?}"
        );
        assert!(spread.iter().all(|&shard| shard < shards));
    }
}

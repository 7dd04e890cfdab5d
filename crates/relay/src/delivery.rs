//! Publishing: an event goes to this node's hub and to the other nodes, and an event another
//! node forwards goes to this node's hub — a `posted` one in its channel's order (see
//! `post_order`). Events that must not be lost travel reliably (acknowledged, ordered per
//! sender); typing, status and views are best effort.
//!
//! Also what the other cluster messages about websockets mean here: checkpoints and records
//! (see `checkpoints`), resume requests and answers (see `resume`), and lost messages — a
//! peer's events that never came, so every websocket of this node ends and its client
//! resyncs (a resume would replay a queue that lacks them).

use crate::Relay;
use chorus_cluster::{Cluster, ClusterMessage};
use chorus_model::{event_names, WebSocketEvent};
use std::sync::{Arc, Weak};

impl Relay {
    /// Called once at start on clustered nodes: from then on events are forwarded, and the
    /// peers' checkpoints kept.
    pub fn attach_cluster(&self, cluster: Cluster) {
        let membership = cluster.membership_events();
        if self.inner.cluster.set(cluster).is_err() {
            return;
        }
        tokio::spawn(reap_checkpoint_records(Arc::downgrade(&self.inner)));
        tokio::spawn(greet_joining_nodes(Arc::downgrade(&self.inner), membership));
        tokio::spawn(crate::interest::load_arriving_users(Arc::downgrade(
            &self.inner,
        )));
        tokio::spawn(crate::interest::sweep_own_interest(Arc::downgrade(
            &self.inner,
        )));
        tokio::spawn(crate::rebuild_reads::read_waiting_rebuilds(Arc::downgrade(
            &self.inner,
        )));
    }

    /// Hands an event to every interested connection, on this node and on the others.
    /// Called after the change is committed.
    pub fn publish(&self, event: WebSocketEvent) {
        self.note_membership(&event);
        self.forward(&event);
        self.inner.hub.publish(event);
    }

    /// [`Relay::publish`] for the `posted` event of post `post_id` of `channel_id` just
    /// stored, created at `create_at`, whose channel's previous post was created at
    /// `previous_post_at`: every node hands it to its clients in the channel's `create_at`
    /// order. Peers that did not ask for the channel are only told of it (see `interest`).
    pub fn publish_post(
        &self,
        event: WebSocketEvent,
        channel_id: &str,
        post_id: &str,
        create_at: i64,
        previous_post_at: i64,
    ) {
        self.forward_post(&event, channel_id, post_id, create_at, previous_post_at);
        self.publish_post_in_order(channel_id, create_at, previous_post_at, Some(event));
    }

    /// Sends an event to the other nodes (the local hub gets it from the caller): typing only
    /// to the nodes that want its channel.
    fn forward(&self, event: &WebSocketEvent) {
        if event.event == event_names::TYPING && !event.broadcast.channel_id.is_empty() {
            self.forward_typing(event, &event.broadcast.channel_id);
            return;
        }
        let Some(cluster) = self.cluster() else {
            return;
        };
        let Ok(event_json) = serde_json::to_string(event) else {
            return;
        };
        let message = ClusterMessage::WebSocketEvent {
            event_json,
            previous_post_at: None,
        };
        if event.is_droppable() {
            cluster.send_best_effort(message);
        } else {
            cluster.send_reliable(message);
        }
    }

    /// Whether a cluster message is about websocket delivery, for [`Relay::receive`].
    pub fn delivers(message: &ClusterMessage) -> bool {
        matches!(
            message,
            ClusterMessage::WebSocketEvent { .. }
                | ClusterMessage::ResumeRequest { .. }
                | ClusterMessage::ResumeAnswer { .. }
                | ClusterMessage::ConnectionCheckpoints { .. }
                | ClusterMessage::ConnectionRecords { .. }
                | ClusterMessage::ChannelInterest { .. }
                | ClusterMessage::PostPassed { .. }
        )
    }

    /// A message from another node about websocket delivery (see [`Relay::delivers`]; others
    /// are ignored). Called on the task reading that node's stream: returns quickly.
    pub fn receive(&self, from_node: &str, message: ClusterMessage) {
        match message {
            ClusterMessage::WebSocketEvent {
                event_json,
                previous_post_at,
            } => match serde_json::from_str::<WebSocketEvent>(&event_json) {
                Ok(event) => {
                    self.inner.directory.arrived_from_another_node(&event);
                    self.note_membership(&event);
                    self.publish_received(event, previous_post_at);
                }
                Err(error) => {
                    tracing::warn!(from_node, error = %error, "undecodable websocket event from another node")
                }
            },
            ClusterMessage::ResumeRequest {
                request_id,
                connection_id,
                user_id,
                session_id,
                sequence_number,
            } => self.answer_resume_request(
                from_node,
                request_id,
                chorus_realtime::ResumeRequest {
                    connection_id,
                    user_id,
                    session_id,
                    sequence_number,
                },
            ),
            ClusterMessage::ResumeAnswer { request_id, answer } => {
                self.receive_resume_answer(from_node, &request_id, answer)
            }
            ClusterMessage::ConnectionCheckpoints { checkpoints } => {
                self.inner.checkpoint_book.apply(from_node, checkpoints)
            }
            ClusterMessage::ConnectionRecords { records } => self.receive_records(records),
            ClusterMessage::ChannelInterest {
                replace,
                added,
                removed,
            } => self.receive_interest(from_node, replace, added, removed),
            ClusterMessage::PostPassed {
                channel_id,
                post_id,
                create_at,
                previous_post_at,
            } => self.receive_post_passed(
                from_node,
                channel_id,
                post_id,
                create_at,
                previous_post_at,
            ),
            _ => {}
        }
    }

    /// Events from `from_node` never came: end every websocket here so its client resyncs (a
    /// resume would replay a queue that lacks those events).
    pub fn messages_lost(&self, from_node: &str) {
        tracing::warn!(
            from_node,
            "websocket events from another node were lost: every websocket client here resyncs"
        );
        self.inner.hub.resync_everyone();
    }

    /// An event from another node, to this node's clients: a `posted` event waits for the
    /// channel's previous post it names (see `post_order`). One from a node that does not
    /// name it (an older version) goes out at once, and counts as published.
    fn publish_received(&self, event: WebSocketEvent, previous_post_at: Option<i64>) {
        let Some(create_at) = posted_create_at(&event) else {
            self.inner.hub.publish(event);
            return;
        };
        let previous_post_at = previous_post_at.unwrap_or(i64::MIN);
        let channel_id = event.broadcast.channel_id.clone();
        self.publish_post_in_order(&channel_id, create_at, previous_post_at, Some(event));
    }
}

/// The `create_at` of the post a `posted` event carries (as a JSON string, Mattermost's shape):
/// the time of the change it announces.
fn posted_create_at(event: &WebSocketEvent) -> Option<i64> {
    if event.event != event_names::POSTED {
        return None;
    }
    chorus_realtime::change_of(event).map(|change| change.at)
}

/// Runs while the relay lives: gives every node that joins the records of this node's
/// websocket connections and the channels it wants, and forgets what a node that left wanted.
async fn greet_joining_nodes(
    relay: Weak<crate::RelayInner>,
    mut membership: tokio::sync::broadcast::Receiver<chorus_cluster::MembershipEvent>,
) {
    loop {
        let event = match membership.recv().await {
            Ok(event) => event,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "membership events missed; nodes that joined meanwhile get no connection records");
                continue;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        let Some(inner) = relay.upgrade() else {
            return;
        };
        let relay_now = Relay { inner };
        match event {
            chorus_cluster::MembershipEvent::Joined(member) => {
                relay_now.send_own_records(&member.node_id);
                relay_now.send_own_interest(&member.node_id);
            }
            chorus_cluster::MembershipEvent::Left { member, .. } => {
                relay_now.forget_peer_interest(&member.node_id)
            }
            _ => {}
        }
    }
}

/// Runs while the relay lives: drops the records of dead nodes' connections past retention.
async fn reap_checkpoint_records(relay: Weak<crate::RelayInner>) {
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(30));
    loop {
        ticker.tick().await;
        let Some(inner) = relay.upgrade() else {
            return;
        };
        if let Some(cluster) = inner.cluster.get() {
            let alive = cluster.alive_node_ids().into_iter().collect();
            inner.checkpoint_book.reap(&alive);
        }
    }
}

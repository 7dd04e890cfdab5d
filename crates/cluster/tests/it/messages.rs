//! Node-to-node messages: reliable (exactly once, in order, across broken connections), best
//! effort, large messages, unknown kinds, bounded queues.

use crate::*;
use chorus_cluster::MembershipEvent;
use std::time::Duration;

fn user_changed(number: usize) -> ClusterMessage {
    ClusterMessage::UserChanged {
        user_id: number.to_string(),
    }
}

/// The numbers of the `UserChanged` messages `node` received from `sender`, in arrival order.
fn numbers_from(node: &Node, sender: &str) -> Vec<usize> {
    node.received
        .messages()
        .into_iter()
        .filter(|(from, _)| from == sender)
        .filter_map(|(_, message)| match message {
            ClusterMessage::UserChanged { user_id } => user_id.parse().ok(),
            _ => None,
        })
        .collect()
}

async fn wait_for_connected_links(nodes: &[Node]) {
    let connected = wait_until(Duration::from_secs(10), || {
        nodes.iter().all(|node| {
            let queues = node.cluster.peer_queues();
            queues.len() == nodes.len() - 1 && queues.iter().all(|queue| queue.connected)
        })
    })
    .await;
    assert!(connected, "every node has an open stream to every other");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reliable_messages_arrive_exactly_once_in_order_across_connection_cuts() {
    let store = fresh_store().await;
    let nodes = start_cluster(&store, "reliable", 3).await;
    wait_for_connected_links(&nodes).await;
    let sender = nodes[0].id();
    let total = 5_000;
    let cuts = 10;

    for number in 0..total {
        nodes[0].cluster.send_reliable(user_changed(number));
        if number % (total / cuts) == total / cuts / 2 {
            // Let part of the burst reach the wire, then break every stream mid-flight —
            // alternately from the sender's and from a receiver's side.
            tokio::time::sleep(Duration::from_millis(3)).await;
            if (number / (total / cuts)) % 2 == 0 {
                nodes[0].cluster.faults().cut_connections();
            } else {
                nodes[1].cluster.faults().cut_connections();
            }
            // Keep sending while the streams are down and being reopened.
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }

    let expected: Vec<usize> = (0..total).collect();
    for receiver in &nodes[1..] {
        let complete = wait_until(Duration::from_secs(30), || {
            numbers_from(receiver, &sender).len() >= total
        })
        .await;
        let received = numbers_from(receiver, &sender);
        assert!(complete, "only {} of {total} arrived", received.len());
        assert_eq!(received, expected, "every message exactly once, in order");
    }
    let sender_stats = nodes[0].cluster.stats();
    let receiver_stats = nodes[1].cluster.stats();
    println!(
        "reliable across {cuts} cuts: resent {} messages, receivers dropped {} + {} duplicates, {} streams opened",
        sender_stats.reliable_resent,
        receiver_stats.duplicates_dropped,
        nodes[2].cluster.stats().duplicates_dropped,
        sender_stats.connections_opened
    );
    assert!(
        sender_stats.connections_opened >= 2 + cuts as u64,
        "the streams really were cut and reopened"
    );
    assert!(
        wait_until(Duration::from_secs(5), || nodes[0]
            .cluster
            .peer_queues()
            .iter()
            .all(|queue| queue.queued == 0 && queue.unacknowledged == 0))
        .await,
        "everything acknowledged in the end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn best_effort_messages_reach_connected_peers_and_large_messages_pass() {
    let store = fresh_store().await;
    let nodes = start_cluster(&store, "effort", 3).await;
    wait_for_connected_links(&nodes).await;

    let status = ClusterMessage::StatusChanged {
        user_id: "u1".into(),
        status: "away".into(),
        manual: true,
        last_activity_at: 42,
    };
    nodes[0].cluster.send_best_effort(status.clone());
    for receiver in &nodes[1..] {
        let arrived = wait_until(Duration::from_secs(5), || {
            receiver
                .received
                .messages()
                .iter()
                .any(|(_, message)| *message == status)
        })
        .await;
        assert!(arrived, "best-effort message reached {}", receiver.id());
    }

    // Bigger than one Noise message (64 KiB): split into chunks and put back together.
    let big_event = ClusterMessage::WebSocketEvent {
        event_json: format!(
            "{{\"event\":\"posted\",\"data\":\"{}\"}}",
            "é".repeat(150_000)
        ),
        previous_post_at: Some(1),
    };
    nodes[1]
        .cluster
        .send_reliable_to(&nodes[2].id(), big_event.clone());
    let arrived = wait_until(Duration::from_secs(5), || {
        nodes[2]
            .received
            .messages()
            .iter()
            .any(|(from, message)| *from == nodes[1].id() && *message == big_event)
    })
    .await;
    assert!(arrived, "a 300 KB event arrives intact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unknown_message_kind_is_ignored_and_the_stream_survives() {
    let store = fresh_store().await;
    let nodes = start_cluster(&store, "compat", 2).await;
    wait_for_connected_links(&nodes).await;
    let receiver = &nodes[1];
    let accepted_before = receiver.cluster.stats().connections_accepted;

    // What a newer minor version's message #200 looks like on the wire (a postcard varint).
    nodes[0]
        .cluster
        .send_reliable_raw_to(&receiver.id(), vec![0xC8, 0x01, 0x05]);
    nodes[0]
        .cluster
        .send_reliable_to(&receiver.id(), user_changed(7));

    let arrived = wait_until(Duration::from_secs(5), || receiver.received.count() == 1).await;
    assert!(arrived, "the known message after the unknown one arrives");
    assert_eq!(numbers_from(receiver, &nodes[0].id()), vec![7]);
    let stats = receiver.cluster.stats();
    assert_eq!(stats.undecodable_messages, 1, "the unknown one was skipped");
    assert_eq!(
        stats.connections_accepted, accepted_before,
        "the stream was not dropped"
    );
    assert!(
        wait_until(Duration::from_secs(5), || nodes[0]
            .cluster
            .peer_queues()
            .iter()
            .all(|queue| queue.unacknowledged == 0 && queue.queued == 0))
        .await,
        "the unknown message was acknowledged too (no resend loop)"
    );
}

#[test]
fn message_variants_keep_their_wire_numbers() {
    // Postcard writes the variant index first: reordering variants breaks rolling upgrades.
    let cases = [
        (
            ClusterMessage::WebSocketEvent {
                event_json: String::new(),
                previous_post_at: None,
            },
            0u8,
        ),
        (
            ClusterMessage::UserSessionsChanged {
                user_id: String::new(),
            },
            2,
        ),
        (
            ClusterMessage::ChannelMembersChanged {
                channel_id: String::new(),
            },
            4,
        ),
        (
            ClusterMessage::ConfigChanged {
                config_hash: String::new(),
            },
            8,
        ),
        (ClusterMessage::InvalidateAllCaches, 9),
        (
            ClusterMessage::ConfigSaved {
                config_json: String::new(),
            },
            10,
        ),
    ];
    for (message, index) in cases {
        let bytes = postcard::to_stdvec(&message).expect("encode");
        assert_eq!(bytes[0], index, "{message:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn peer_queues_are_bounded_and_dropped_after_the_grace_period() {
    let store = fresh_store().await;
    let mut sender_options = options("bounded");
    sender_options.max_queued_messages_per_peer = 10;
    sender_options.dead_node_grace_period = Duration::from_secs(3);
    let sender = start_node(&store, sender_options).await;
    let receiver = start_node(&store, options("bounded")).await;
    let nodes = [sender, receiver];
    wait_for_convergence(&nodes, 2).await;
    wait_for_connected_links(&nodes).await;
    let receiver_id = nodes[1].id();
    let mut events = nodes[0].cluster.membership_events();

    nodes[1].cluster.faults().set_isolated(true);
    let disconnected = wait_until(Duration::from_secs(5), || {
        nodes[0]
            .cluster
            .peer_queues()
            .iter()
            .all(|queue| !queue.connected)
    })
    .await;
    assert!(disconnected);
    for number in 0..15 {
        nodes[0]
            .cluster
            .send_reliable_to(&receiver_id, user_changed(number));
    }
    nodes[0].cluster.send_best_effort(user_changed(99));
    let stats = nodes[0].cluster.stats();
    assert_eq!(stats.reliable_dropped, 5, "the queue holds 10 messages");
    assert_eq!(
        stats.best_effort_dropped, 1,
        "best effort is not queued for a disconnected peer"
    );

    nodes[1].cluster.faults().set_isolated(false);
    let delivered = wait_until(Duration::from_secs(10), || nodes[1].received.count() == 10).await;
    assert!(delivered, "the 10 queued messages arrive");
    assert_eq!(
        numbers_from(&nodes[1], &nodes[0].id()),
        (0..10).collect::<Vec<_>>()
    );
    assert!(nodes[1].received.losses().is_empty());
    // The next message reveals the gap left by the five dropped ones, before it is handled.
    nodes[0]
        .cluster
        .send_reliable_to(&receiver_id, user_changed(20));
    let reported = wait_until(Duration::from_secs(5), || nodes[1].received.count() == 11).await;
    assert!(reported);
    assert_eq!(nodes[1].received.losses(), vec![nodes[0].id()]);

    // Gone for longer than the grace period: forgotten, queue dropped.
    nodes[1].cluster.abort();
    next_event(&mut events, Duration::from_secs(5), |event| {
        is_down(event, &receiver_id)
    })
    .await
    .expect("down");
    nodes[0]
        .cluster
        .send_reliable_to(&receiver_id, user_changed(100));
    assert_eq!(
        nodes[0].cluster.peer_queues()[0].queued,
        1,
        "kept while within the grace period"
    );
    let (event, _) = next_event(&mut events, Duration::from_secs(6), |event| {
        matches!(event, MembershipEvent::Left { member, .. } if member.node_id == receiver_id)
    })
    .await
    .expect("forgotten after the grace period");
    assert!(matches!(event, MembershipEvent::Left { clean: false, .. }));
    assert!(
        nodes[0].cluster.peer_queues().is_empty(),
        "its queue is dropped"
    );
    assert!(nodes[0].cluster.member(&receiver_id).is_none());
}

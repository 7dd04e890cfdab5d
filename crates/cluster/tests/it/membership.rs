//! Membership, published node state, failure detection and rejoining.

use crate::*;
use chorus_cluster::{ClusterError, MembershipEvent, Readiness};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_converge_and_publish_their_state() {
    let store = fresh_store().await;
    let nodes = start_cluster(&store, "alpha", 3).await;

    for observer in &nodes {
        let members = observer.cluster.members();
        assert_eq!(members.len(), 3);
        assert!(members[0].is_self, "this node comes first");
        assert_eq!(members[0].node_id, observer.id());
        for subject in &nodes {
            let member = observer
                .cluster
                .member(&subject.id())
                .expect("every node knows every node");
            let options = subject.cluster.options();
            assert!(member.alive);
            assert_eq!(member.version, "10.5.0");
            assert_eq!(member.schema_version, 3);
            assert_eq!(member.config_hash, "hash-1");
            assert_eq!(member.api_address, options.api_address);
            assert_eq!(member.hostname, "127.0.0.1");
            assert_eq!(member.ip, "127.0.0.1");
            assert_eq!(
                member.gossip_address,
                format!("127.0.0.1:{}", options.gossip_port)
            );
            assert_eq!(member.readiness, Readiness::Serving);
        }
    }

    // A change of published state reaches the others.
    let mut events = nodes[0].cluster.membership_events();
    nodes[2].cluster.set_readiness(Readiness::Draining);
    nodes[2].cluster.set_config_hash("hash-2");
    let subject = nodes[2].id();
    let updated = wait_until(Duration::from_secs(5), || {
        nodes[0].cluster.member(&subject).is_some_and(|member| {
            member.readiness == Readiness::Draining && member.config_hash == "hash-2"
        })
    })
    .await;
    assert!(updated, "readiness and config hash spread by gossip");
    assert!(
        next_event(&mut events, Duration::from_secs(1), |event| matches!(
            event,
            MembershipEvent::Updated(member) if member.node_id == subject
        ))
        .await
        .is_some(),
        "an Updated event was published"
    );
    assert_eq!(
        nodes[2].cluster.members()[0].readiness,
        Readiness::Draining,
        "the node sees its own new readiness at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crashed_node_is_seen_down_within_the_failure_timeout() {
    let store = fresh_store().await;
    let nodes = start_cluster(&store, "crash", 3).await;
    let failure_timeout = nodes[0].cluster.options().failure_timeout;
    let victim = nodes[2].id();
    let mut watch_a = nodes[0].cluster.membership_events();
    let mut watch_b = nodes[1].cluster.membership_events();

    let killed_at = Instant::now();
    nodes[2].cluster.abort();
    let limit = failure_timeout + Duration::from_secs(1);
    let (_, seen_by_a) = next_event(&mut watch_a, limit, |event| is_down(event, &victim))
        .await
        .expect("node a sees the crashed node down in time");
    let (_, seen_by_b) = next_event(&mut watch_b, limit, |event| is_down(event, &victim))
        .await
        .expect("node b sees the crashed node down in time");
    let detection_a = seen_by_a - killed_at;
    let detection_b = seen_by_b - killed_at;
    println!(
        "failure detection after a crash: {} ms and {} ms (failure_timeout {} ms)",
        detection_a.as_millis(),
        detection_b.as_millis(),
        failure_timeout.as_millis()
    );
    assert!(
        detection_a >= failure_timeout / 2,
        "not declared down before missing several heartbeats"
    );

    let member = nodes[0].cluster.member(&victim).expect("still listed");
    assert!(
        !member.alive,
        "listed as not alive until the grace period ends"
    );
    assert_eq!(nodes[0].cluster.alive_node_ids().len(), 2);

    // Messages for the dead node wait in its queue during the grace period...
    for _ in 0..3 {
        nodes[0].cluster.send_reliable(ClusterMessage::UserChanged {
            user_id: "for-the-dead".into(),
        });
    }
    // ...and must not leak into a new process that takes over its address.
    let mut replacement_options = options("crash");
    replacement_options.gossip_port = nodes[2].cluster.options().gossip_port;
    let replacement = start_node_retrying(&store, replacement_options).await;
    let replacement_id = replacement.id();
    let joined = wait_until(Duration::from_secs(10), || {
        nodes[0]
            .cluster
            .peer_queues()
            .iter()
            .any(|queue| queue.node_id == replacement_id && queue.connected)
    })
    .await;
    assert!(
        joined,
        "the new process joined and has a stream from node a"
    );
    nodes[0].cluster.send_reliable(ClusterMessage::UserChanged {
        user_id: "after".into(),
    });
    let after = ClusterMessage::UserChanged {
        user_id: "after".into(),
    };
    let for_the_dead = ClusterMessage::UserChanged {
        user_id: "for-the-dead".into(),
    };
    let arrived = wait_until(Duration::from_secs(5), || {
        replacement
            .received
            .messages()
            .iter()
            .any(|(_, message)| *message == after)
    })
    .await;
    assert!(
        arrived,
        "the new process gets messages sent after it joined"
    );
    // The link to the dead process retries every second at most: give it the chance to leak.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !replacement
            .received
            .messages()
            .iter()
            .any(|(_, message)| *message == for_the_dead),
        "nothing meant for the dead process reached the new one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_isolated_node_is_down_then_comes_back_with_the_same_id() {
    let store = fresh_store().await;
    let nodes = start_cluster(&store, "pause", 3).await;
    let subject = nodes[2].id();
    let mut events = nodes[0].cluster.membership_events();

    nodes[2].cluster.faults().set_isolated(true);
    next_event(&mut events, Duration::from_secs(5), |event| {
        is_down(event, &subject)
    })
    .await
    .expect("seen down while cut off");
    // Meanwhile, messages for it wait in its queue.
    for number in 0..5 {
        nodes[0].cluster.send_reliable_to(
            &subject,
            ClusterMessage::UserChanged {
                user_id: format!("during-{number}"),
            },
        );
    }

    nodes[2].cluster.faults().set_isolated(false);
    let (event, _) = next_event(
        &mut events,
        Duration::from_secs(5),
        |event| matches!(event, MembershipEvent::Up(member) if member.node_id == subject),
    )
    .await
    .expect("comes back up");
    if let MembershipEvent::Up(member) = event {
        assert!(member.alive);
    }
    wait_for_convergence(&nodes, 3).await;

    let delivered = wait_until(Duration::from_secs(5), || nodes[2].received.count() == 5).await;
    assert!(
        delivered,
        "messages queued while it was away arrive after it is back"
    );
    let users: Vec<String> = nodes[2]
        .received
        .messages()
        .into_iter()
        .map(|(_, message)| match message {
            ClusterMessage::UserChanged { user_id } => user_id,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        users,
        (0..5)
            .map(|number| format!("during-{number}"))
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_clean_stop_is_seen_as_left_not_down() {
    let store = fresh_store().await;
    let nodes = start_cluster(&store, "leave", 3).await;
    let leaving = nodes[1].id();
    let mut events = nodes[0].cluster.membership_events();

    nodes[1].cluster.shutdown().await;
    let (event, _) = next_event(&mut events, Duration::from_secs(3), |event| {
        matches!(event, MembershipEvent::Left { member, .. } | MembershipEvent::Down(member) if member.node_id == leaving)
    })
    .await
    .expect("the others notice");
    assert!(
        matches!(event, MembershipEvent::Left { clean: true, .. }),
        "reported as a clean leave, got {event:?}"
    );
    assert!(
        nodes[0].cluster.member(&leaving).is_none(),
        "no longer listed"
    );
    assert_eq!(nodes[0].cluster.members().len(), 2);

    // A new process on the same address joins as a new node.
    let mut replacement_options = options("leave");
    replacement_options.gossip_port = nodes[1].cluster.options().gossip_port;
    let replacement = start_node(&store, replacement_options).await;
    let replacement_id = replacement.id();
    let joined = wait_until(Duration::from_secs(10), || {
        nodes[0]
            .cluster
            .member(&replacement_id)
            .is_some_and(|member| member.alive)
    })
    .await;
    assert!(joined, "the restarted node rejoins under its new id");
}

#[tokio::test]
async fn an_empty_cluster_name_is_refused() {
    let store = fresh_store().await;
    let mut refused = options("x");
    refused.cluster_name = "  ".to_string();
    let outcome = Cluster::start(refused, store, Arc::new(Recorder::default())).await;
    match outcome {
        Err(error @ ClusterError::EmptyClusterName) => {
            assert!(error.to_string().contains("ClusterName"), "{error}");
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("started without a cluster name"),
    }
}

/// CPU-heavy work on the blocking pool and a task that hogs a worker thread in bursts, then a
/// quiet period: no node may be reported down or gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_false_alarms_under_load_or_when_quiet() {
    let store = fresh_store().await;
    let nodes = start_cluster(&store, "steady", 3).await;
    let mut watchers: Vec<_> = nodes
        .iter()
        .map(|node| node.cluster.membership_events())
        .collect();

    let load_for = Duration::from_secs(15);
    let mut burners = Vec::new();
    for _ in 0..4 {
        burners.push(tokio::task::spawn_blocking(move || {
            let until = Instant::now() + load_for;
            let mut value: u64 = 1;
            while Instant::now() < until {
                for _ in 0..100_000 {
                    value = value.wrapping_mul(6364136223846793005).wrapping_add(1);
                }
            }
            value
        }));
    }
    let hog = tokio::spawn(async move {
        let until = Instant::now() + load_for;
        while Instant::now() < until {
            // A badly behaved handler: 30 ms of blocking work on an async worker.
            let busy_until = Instant::now() + Duration::from_millis(30);
            while Instant::now() < busy_until {
                std::hint::spin_loop();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    // Meanwhile some traffic.
    for number in 0..500 {
        nodes[number % 3]
            .cluster
            .send_reliable(ClusterMessage::ChannelChanged {
                channel_id: format!("c{number}"),
            });
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for burner in burners {
        burner.await.expect("burner");
    }
    hog.await.expect("hog");
    tokio::time::sleep(Duration::from_secs(40)).await;

    for (watcher, node) in watchers.iter_mut().zip(&nodes) {
        while let Ok(event) = watcher.try_recv() {
            assert!(
                matches!(event, MembershipEvent::Updated(_)),
                "spurious membership event on {}: {event:?}",
                node.id()
            );
        }
        assert_eq!(node.cluster.alive_node_ids().len(), 3);
    }
    for (index, node) in nodes.iter().enumerate() {
        let sent_by_this_node = (0..500).filter(|number| number % 3 == index).count();
        assert_eq!(
            node.received.count(),
            500 - sent_by_this_node,
            "every reliable message from the others arrived once"
        );
    }
}

//! The cluster key: created once; without it a process can neither join gossip nor open a
//! stream.

use crate::*;
use chitchat::transport::Transport;
use chitchat::{spawn_chitchat, ChitchatConfig, ChitchatId, FailureDetectorConfig};
use chorus_cluster::{load_or_create_cluster_key, ClusterKey, GossipTransport};
use chorus_store::cluster::{DiscoveryRow, DISCOVERY_TYPE_APP};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cluster_key_is_created_once_when_nodes_start_together() {
    let store = fresh_store().await;
    let mut starts = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        starts.push(tokio::spawn(async move {
            load_or_create_cluster_key(&store).await
        }));
    }
    let mut keys = Vec::new();
    for start in starts {
        keys.push(start.await.expect("task").expect("key"));
    }
    assert!(
        keys.windows(2).all(|pair| pair[0] == pair[1]),
        "one key for everyone"
    );
    let db = store.master().await.expect("connection");
    let stored = chorus_store::system::get(&db, "ClusterEncryptionKey")
        .await
        .expect("read")
        .expect("stored in Systems");
    assert_eq!(ClusterKey::from_base64(&stored).expect("valid"), keys[0]);
    assert_eq!(keys[0].to_base64().len(), 44, "32 bytes, base64");
}

/// A bare chitchat instance gossiping at `seed` through `transport`.
async fn intruder(
    cluster_name: &str,
    transport: &dyn Transport,
    seed: SocketAddr,
) -> chitchat::ChitchatHandle {
    let port = free_gossip_port();
    let address: SocketAddr = ([127, 0, 0, 1], port).into();
    let config = ChitchatConfig {
        chitchat_id: ChitchatId::new(chorus_model::new_id(), 1, address),
        cluster_id: cluster_name.to_string(),
        gossip_interval: Duration::from_millis(100),
        listen_addr: address,
        seed_nodes: vec![seed.to_string()],
        failure_detector_config: FailureDetectorConfig::default(),
        marked_for_deletion_grace_period: Duration::from_secs(3600),
        catchup_callback: None,
        extra_liveness_predicate: None,
    };
    let state = vec![("node_id".to_string(), "intruder".to_string())];
    spawn_chitchat(config, state, transport)
        .await
        .expect("intruder gossip starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gossip_without_the_key_is_ignored() {
    let store = fresh_store().await;
    let nodes = start_cluster(&store, "guarded", 2).await;
    let target = nodes[0].cluster.gossip_address();
    let rejected_before = nodes[0].cluster.stats().gossip_datagrams_rejected;

    let wrong_key = GossipTransport::new(Some(&ClusterKey::generate()), "guarded", true);
    let with_wrong_key = intruder("guarded", &wrong_key, target).await;
    let plain = GossipTransport::new(None, "guarded", false);
    let without_encryption = intruder("guarded", &plain, target).await;
    let garbage = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    garbage
        .send_to(b"\x12not a gossip datagram at all", target)
        .expect("send");
    garbage.send_to(&[0u8; 3], target).expect("send");

    tokio::time::sleep(Duration::from_secs(3)).await;
    for node in &nodes {
        let members = node.cluster.members();
        assert_eq!(members.len(), 2, "no intruder listed: {members:?}");
    }
    for handle in [&with_wrong_key, &without_encryption] {
        let known = handle
            .with_chitchat(|chitchat| chitchat.node_states().len())
            .await;
        assert_eq!(known, 1, "the intruder learned nothing about the cluster");
    }
    let rejected = nodes[0].cluster.stats().gossip_datagrams_rejected - rejected_before;
    assert!(
        rejected >= 4,
        "intruders' datagrams were rejected ({rejected})"
    );
    wait_for_convergence(&nodes, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_with_another_key_cannot_join_or_open_a_stream() {
    let store = fresh_store().await;
    let nodes = start_cluster(&store, "keyed", 2).await;
    let target = &nodes[0];

    // Another database means another cluster key. Point its discovery table at our node.
    let foreign_store = fresh_store().await;
    {
        let db = foreign_store.master().await.expect("connection");
        chorus_store::cluster::register(
            &db,
            &DiscoveryRow {
                id: target.id(),
                kind: DISCOVERY_TYPE_APP.to_string(),
                cluster_name: "keyed".into(),
                hostname: "127.0.0.1".into(),
                gossip_port: i32::from(target.cluster.options().gossip_port),
                port: i32::from(target.cluster.options().gossip_port),
                create_at: 0,
                last_ping_at: 0,
            },
        )
        .await
        .expect("row");
    }
    let outsider = start_node(&foreign_store, options("keyed")).await;
    let failed_before = target.cluster.stats().handshakes_failed;

    let probe = outsider
        .cluster
        .probe_stream(target.cluster.gossip_address())
        .await;
    assert!(probe.is_err(), "handshake with a wrong key must fail");
    let counted = wait_until(Duration::from_secs(2), || {
        target.cluster.stats().handshakes_failed > failed_before
    })
    .await;
    assert!(counted, "the node dropped the stream at the handshake");
    nodes[1]
        .cluster
        .probe_stream(target.cluster.gossip_address())
        .await
        .expect("a key holder completes the handshake");

    // Not a Noise handshake at all.
    let mut stranger = tokio::net::TcpStream::connect(target.cluster.gossip_address())
        .await
        .expect("tcp");
    stranger.write_all(b"\x00\x05hello").await.expect("write");
    let dropped = wait_until(Duration::from_secs(2), || {
        target.cluster.stats().handshakes_failed > failed_before + 1
    })
    .await;
    assert!(dropped, "a stranger's stream is dropped");

    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        outsider.cluster.members().len(),
        1,
        "the outsider sees nobody"
    );
    for node in &nodes {
        assert_eq!(node.cluster.members().len(), 2, "nobody sees the outsider");
        assert!(node.received.messages().is_empty());
    }
    outsider
        .cluster
        .send_reliable(ClusterMessage::InvalidateAllCaches);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(nodes[0].received.messages().is_empty(), "nothing injected");
}

/// Connections that never handshake (a port scanner, a slowloris) are bounded in number and in
/// time: past 64 pending they are closed at once, the rest after the 5 s handshake timeout;
/// streams already open carry on meanwhile, and new ones get through once the flood is gone.
/// (While 64 are pending, a peer's new stream is refused too and retries: the bound protects
/// the node's memory, not the peer's reconnect time.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn silent_connections_are_bounded_and_timed_out_and_links_carry_on() {
    use tokio::io::AsyncReadExt;
    let store = fresh_store().await;
    let nodes = start_cluster(&store, "flooded", 2).await;
    let target = &nodes[0];
    let refused_before = target.cluster.stats().handshakes_refused;

    let mut silent = Vec::new();
    for _ in 0..100 {
        silent.push(
            tokio::net::TcpStream::connect(target.cluster.gossip_address())
                .await
                .expect("tcp"),
        );
    }
    let refused = wait_until(Duration::from_secs(2), || {
        target.cluster.stats().handshakes_refused >= refused_before + 36
    })
    .await;
    assert!(
        refused,
        "connections past the pending-handshake bound are refused: {:?}",
        target.cluster.stats()
    );
    // Streams already open carry on during the flood.
    let received_before = target.received.count();
    nodes[1]
        .cluster
        .send_reliable(ClusterMessage::InvalidateAllCaches);
    let delivered = wait_until(Duration::from_secs(2), || {
        target.received.count() > received_before
    })
    .await;
    assert!(
        delivered,
        "a linked peer's message arrives during the flood"
    );

    // Every silent connection is closed by the node within the handshake timeout.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    for (index, connection) in silent.iter_mut().enumerate() {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout_at(deadline, connection.read(&mut byte)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "silent connection {index} still open after the handshake timeout: {read:?}"
        );
    }
    // Then a peer's new stream gets through again.
    nodes[1]
        .cluster
        .probe_stream(target.cluster.gossip_address())
        .await
        .expect("a peer completes its handshake once the flood is gone");
}

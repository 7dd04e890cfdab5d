//! The discovery table: rows registered, pinged, cleaned; cluster names kept apart.

use crate::*;
use chorus_store::cluster::DiscoveryRow;
use std::time::Duration;

async fn rows(store: &Store) -> Vec<DiscoveryRow> {
    let db = store.master().await.expect("connection");
    chorus_store::cluster::list_all(&db).await.expect("rows")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_cluster_names_on_one_database_stay_apart() {
    let store = fresh_store().await;
    let a1 = start_node(&store, options("a")).await;
    let b1 = start_node(&store, options("b")).await;
    let a2 = start_node(&store, options("a")).await;

    let a_nodes = [a1, a2];
    wait_for_convergence(&a_nodes, 2).await;
    // Give discovery and gossip time to make a mistake.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut a_ids = vec![a_nodes[0].id(), a_nodes[1].id()];
    a_ids.sort();
    for node in &a_nodes {
        let mut seen: Vec<String> = node
            .cluster
            .members()
            .into_iter()
            .map(|member| member.node_id)
            .collect();
        seen.sort();
        assert_eq!(seen, a_ids, "cluster a sees only its own nodes");
    }
    let b_seen: Vec<String> = b1
        .cluster
        .members()
        .into_iter()
        .map(|member| member.node_id)
        .collect();
    assert_eq!(b_seen, vec![b1.id()], "cluster b is alone");
    assert_eq!(
        rows(&store).await.len(),
        3,
        "all three registered in one table"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn discovery_rows_are_registered_pinged_cleaned_and_removed_on_stop() {
    let store = fresh_store().await;
    let mut fast = options("rows");
    fast.discovery_ping_interval = Duration::from_millis(300);
    fast.discovery_stale_after = Duration::from_millis(1500);
    let keeper = start_node(&store, fast.clone()).await;
    let crasher = start_node(&store, options("rows")).await;
    let leaver = start_node(&store, options("rows")).await;

    let registered = rows(&store).await;
    assert_eq!(registered.len(), 3);
    let keeper_row = registered
        .iter()
        .find(|row| row.id == keeper.id())
        .expect("keeper registered")
        .clone();
    assert_eq!(keeper_row.kind, "mattermost_app");
    assert_eq!(keeper_row.cluster_name, "rows");
    assert_eq!(keeper_row.hostname, "127.0.0.1");
    assert_eq!(keeper_row.gossip_port, i32::from(fast.gossip_port));
    assert_eq!(keeper_row.port, i32::from(fast.gossip_port));

    let mut pinged = false;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if rows(&store)
            .await
            .iter()
            .any(|row| row.id == keeper.id() && row.last_ping_at > keeper_row.last_ping_at)
        {
            pinged = true;
            break;
        }
    }
    assert!(pinged, "lastpingat moves forward");

    // A clean stop deletes its own row at once.
    leaver.cluster.shutdown().await;
    assert!(
        !rows(&store).await.iter().any(|row| row.id == leaver.id()),
        "a cleanly stopped node deregisters"
    );

    // A crashed node's row stays until it is stale, then the keeper removes it.
    crasher.cluster.abort();
    assert!(rows(&store).await.iter().any(|row| row.id == crasher.id()));
    let mut cleaned = false;
    for _ in 0..50 {
        if !rows(&store).await.iter().any(|row| row.id == crasher.id()) {
            cleaned = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(cleaned, "the stale row of the crashed node was removed");
    assert!(
        rows(&store).await.iter().any(|row| row.id == keeper.id()),
        "live rows stay"
    );

    // A node whose row was removed (it was paused longer than the stale time) registers again.
    {
        let db = store.master().await.expect("connection");
        chorus_store::cluster::delete(&db, &keeper.id())
            .await
            .expect("delete");
    }
    let mut back = false;
    for _ in 0..30 {
        if rows(&store).await.iter().any(|row| row.id == keeper.id()) {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "the keeper registered again");
}

/// Mattermost 3.x's `InterNodeUrls` alone form a cluster: node A's discovery row is gone and
/// neither node reads the table again during the test, so B can only find A through its
/// static seed (and A learns of B from B's gossip).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn static_seeds_form_a_cluster_without_the_discovery_table() {
    let store = fresh_store().await;
    let hour = Duration::from_secs(3600);
    let a = start_node(
        &store,
        ClusterOptions {
            discovery_ping_interval: hour,
            ..options("seeded")
        },
    )
    .await;
    {
        let db = store.master().await.expect("connection");
        chorus_store::cluster::delete(&db, &a.id())
            .await
            .expect("delete A's row");
    }
    assert!(rows(&store).await.is_empty());

    let a_gossip = format!("127.0.0.1:{}", a.cluster.options().gossip_port);
    let b = start_node(
        &store,
        ClusterOptions {
            discovery_ping_interval: hour,
            static_seeds: vec![a_gossip],
            ..options("seeded")
        },
    )
    .await;
    wait_for_convergence(&[a, b], 2).await;
}

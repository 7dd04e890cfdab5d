//! Database HA, end to end: real `chorus` processes on a real PostgreSQL primary with streaming
//! replicas (chorus-testkit's Sandbox). Reads spread over replicas without hiding a user's own writes,
//! replicas that die or lag leave rotation and come back, the seeds' manual failover (promote,
//! edit DataSource, reload, recycle) and automatic failover (multi-host DataSource) lose no
//! acknowledged write and fail writes only with 503s in between.
//!
//! `database_failover_figures` (ignored; run with `--ignored --nocapture`) repeats both
//! failovers and prints the write-unavailability windows, replica lag and read spread.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chorus_config::SqlSettings;
use chorus_testkit::{Database, Endpoint, Sandbox, SandboxBuilder, SandboxNode};
use serde_json::{json, Value};
use std::sync::Mutex;

use crate::cluster::{sign_up, wait_until};
use crate::compat;
use chorus_testkit::client::Api;
use chorus_testkit::socket::{post_of, EventSocket};

/// `chorus` processes (one unless the test asks for more; INFO log) on a PostgreSQL primary of
/// their own with `replica_count` streaming replicas. `sql_settings` gives their SqlSettings as
/// config.json spells them, from the database's URLs; they live in each node's config.json, so
/// a test can edit DataSource there and ask the node to reload, as an operator would. With
/// `synchronous`, a commit is acknowledged only once a replica has it (what failover without
/// losing acknowledged writes needs; see docs/ARCHITECTURE.md).
fn nodes_on_replicas(
    replica_count: usize,
    synchronous: bool,
    sql_settings: impl FnOnce(&Database) -> Value + Send + 'static,
) -> SandboxBuilder {
    let builder = Sandbox::builder()
        .replicas(replica_count)
        .processes(env!("CARGO_BIN_EXE_chorus"))
        .configure_with_database(move |config, database| {
            let mut tree = serde_json::to_value(SqlSettings::default()).expect("SqlSettings");
            for (key, value) in sql_settings(database).as_object().expect("an object") {
                tree[key] = value.clone();
            }
            config.sql_settings = serde_json::from_value(tree).expect("valid SqlSettings");
            config.log_settings.console_level = "INFO".to_string();
        });
    if synchronous {
        builder.synchronous_replication()
    } else {
        builder
    }
}

/// Changes SqlSettings in the node's config.json (the running node notices only on reload).
fn edit_sql_settings(node: &SandboxNode, change: impl FnOnce(&mut Value)) {
    node.edit_config(|config| change(&mut config["SqlSettings"]));
}

async fn database_status(admin: &Api) -> Value {
    admin.get("/database/status").await.expect_status(200)
}

fn replica_checkouts(status: &Value, index: usize) -> u64 {
    status["replicas"][index]["checkouts"].as_u64().unwrap_or(0)
}

/// Creates a team and an open channel; returns the channel id.
async fn team_and_channel(admin: &Api, name: &str) -> String {
    let team = admin
        .post(
            "/teams",
            json!({"name": name, "display_name": name, "type": "O"}),
        )
        .await
        .expect_status(201);
    let channel = admin
        .post(
            "/channels",
            json!({"team_id": team["id"], "name": format!("{name}-chat"), "display_name": "Chat", "type": "O"}),
        )
        .await
        .expect_status(201);
    channel["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_spread_over_replicas_and_never_hide_a_users_own_writes() {
    let sandbox = nodes_on_replicas(2, false, |databases| {
        json!({
            "DataSource": databases.primary_url(),
            "DataSourceReplicas": [databases.replica_url(0), databases.replica_url(1)],
            "ReplicaMaxLagSeconds": 0,
        })
    })
    .start()
    .await;
    let (node, databases) = (sandbox.node(0), sandbox.database());
    let (_, token) = sign_up(&node.api(), "db-admin").await;
    let admin = node.api().with_token(&token);
    let channel_id = team_and_channel(&admin, "ryw").await;
    wait_until(
        Duration::from_secs(10),
        "both replicas in rotation",
        || async {
            let status = database_status(&admin).await;
            status["replicas"].as_array().is_some_and(|replicas| {
                replicas
                    .iter()
                    .all(|replica| replica["in_rotation"] == true)
            })
        },
    )
    .await;

    // Reads that depend on no recent write go round robin over both replicas.
    let before = database_status(&admin).await;
    for _ in 0..20 {
        admin
            .get("/users?page=0&per_page=5")
            .await
            .expect_status(200);
    }
    let after = database_status(&admin).await;
    for index in 0..2 {
        let served = replica_checkouts(&after, index) - replica_checkouts(&before, index);
        assert!(
            (7..=13).contains(&served),
            "replica {index} served {served} of 20 reads: {after}"
        );
    }

    // Replicas an hour behind: a user's own post is there when they read the channel at once.
    for replica in &databases.replicas {
        replica.set_apply_delay(Duration::from_secs(3600)).unwrap();
    }
    for round in 0..20 {
        let posted = admin
            .post(
                "/posts",
                json!({"channel_id": channel_id, "message": format!("fresh {round}")}),
            )
            .await
            .expect_status(201);
        let posts = admin
            .get(&format!("/channels/{channel_id}/posts"))
            .await
            .expect_status(200);
        let id = posted["id"].as_str().unwrap();
        assert!(
            posts["posts"].get(id).is_some(),
            "round {round}: the author's new post is missing from the channel"
        );
        admin
            .get(&format!("/posts/{id}/thread"))
            .await
            .expect_status(200);
    }

    // Once the replicas have replayed the writes, the same reads go to them again.
    for replica in &databases.replicas {
        replica.set_apply_delay(Duration::ZERO).unwrap();
        replica
            .wait_for_replay(databases.primary(), Duration::from_secs(10))
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = database_status(&admin).await;
    for _ in 0..10 {
        admin
            .get(&format!("/channels/{channel_id}/posts"))
            .await
            .expect_status(200);
    }
    let after = database_status(&admin).await;
    let served: u64 = (0..2)
        .map(|index| replica_checkouts(&after, index) - replica_checkouts(&before, index))
        .sum();
    assert!(
        served >= 10,
        "caught-up replicas serve channel reads again: {after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_dies_or_lags_leaves_rotation_and_comes_back() {
    // Node 1 starts later, while the replica is down.
    let mut sandbox = nodes_on_replicas(1, false, |databases| {
        json!({
            "DataSource": databases.primary_url(),
            "DataSourceReplicas": [databases.replica_url(0)],
            "ReplicaMaxLagSeconds": 1,
            "ReplicaMonitorIntervalSeconds": 1,
        })
    })
    .nodes(2)
    .clustered(false)
    .start()
    .await;
    sandbox.node(1).kill();
    let (_, token) = sign_up(&sandbox.node(0).api(), "db-admin").await;
    let admin = sandbox.node(0).api().with_token(&token);
    let in_rotation = |expected: bool| {
        let admin = admin.clone();
        move || {
            let admin = admin.clone();
            async move { database_status(&admin).await["replicas"][0]["in_rotation"] == expected }
        }
    };
    wait_until(
        Duration::from_secs(10),
        "the replica in rotation",
        in_rotation(true),
    )
    .await;

    sandbox.database_mut().replicas[0].kill();
    wait_until(
        Duration::from_secs(5),
        "the dead replica out of rotation",
        in_rotation(false),
    )
    .await;
    let status = database_status(&admin).await;
    assert_eq!(status["replicas"][0]["reachable"], false, "{status}");
    for _ in 0..10 {
        admin
            .get("/users?page=0&per_page=5")
            .await
            .expect_status(200);
    }
    // A node starting while a replica is down serves anyway.
    sandbox.node(1).restart().await.expect("node 1 serves");
    sandbox
        .node(1)
        .api()
        .get("/users/me")
        .await
        .expect_error(401);

    sandbox.database_mut().replicas[0].restart().unwrap();
    wait_until(
        Duration::from_secs(15),
        "the restarted replica back in rotation",
        in_rotation(true),
    )
    .await;

    // Lagging beyond ReplicaMaxLagSeconds takes it out; catching up puts it back.
    let databases = sandbox.database();
    databases.replicas[0]
        .set_apply_delay(Duration::from_secs(3600))
        .unwrap();
    let channel_id = team_and_channel(&admin, "lag").await;
    let writer = admin.clone();
    let writes = tokio::spawn(async move {
        for round in 0..40 {
            writer
                .post(
                    "/posts",
                    json!({"channel_id": channel_id, "message": format!("lag {round}")}),
                )
                .await
                .expect_status(201);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    wait_until(
        Duration::from_secs(10),
        "the lagging replica out of rotation",
        in_rotation(false),
    )
    .await;
    let status = database_status(&admin).await;
    assert!(
        status["replicas"][0]["last_error"]
            .as_str()
            .is_some_and(|error| error.contains("lags")),
        "{status}"
    );
    writes.await.unwrap();
    databases.replicas[0]
        .set_apply_delay(Duration::ZERO)
        .unwrap();
    wait_until(
        Duration::from_secs(15),
        "the caught-up replica back in rotation",
        in_rotation(true),
    )
    .await;
    assert!(
        sandbox.node(0).log().contains("taken out of rotation"),
        "state changes are logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_announced_by_another_node_is_readable_at_once_despite_a_lagging_replica() {
    let sandbox = nodes_on_replicas(1, false, |databases| {
        json!({
            "DataSource": databases.primary_url(),
            "DataSourceReplicas": [databases.replica_url(0)],
            "ReplicaMaxLagSeconds": 0,
        })
    })
    .nodes(2)
    .start()
    .await;
    let databases = sandbox.database();
    let (node_a, node_b) = (sandbox.node(0), sandbox.node(1));
    let (_, admin_token) = sign_up(&node_a.api(), "ryw-admin").await;
    let (bob_id, bob_token) = sign_up(&node_b.api(), "ryw-bob").await;
    let admin = node_a.api().with_token(&admin_token);
    let bob = node_b.api().with_token(&bob_token);
    let channel_id = team_and_channel(&admin, "rywx").await;
    let channel = admin
        .get(&format!("/channels/{channel_id}"))
        .await
        .expect_status(200);
    admin
        .post(
            &format!("/teams/{}/members", channel["team_id"].as_str().unwrap()),
            json!({"team_id": channel["team_id"], "user_id": bob_id}),
        )
        .await
        .expect_status(201);
    admin
        .post(
            &format!("/channels/{channel_id}/members"),
            json!({"user_id": bob_id}),
        )
        .await
        .expect_status(201);
    wait_until(
        Duration::from_secs(20),
        "both nodes see each other",
        || async {
            let status = admin.get("/cluster/status").await;
            status.status == 200
                && status.json.as_array().is_some_and(|nodes| {
                    nodes.len() == 2 && nodes.iter().all(|node| node["alive"] == true)
                })
        },
    )
    .await;
    databases.replicas[0]
        .wait_for_replay(databases.primary(), Duration::from_secs(10))
        .unwrap();
    let admin_on_b = node_b.api().with_token(&admin_token);
    wait_until(
        Duration::from_secs(10),
        "the replica in rotation on B",
        || async { database_status(&admin_on_b).await["replicas"][0]["in_rotation"] == true },
    )
    .await;
    databases.replicas[0]
        .set_apply_delay(Duration::from_secs(3600))
        .unwrap();

    let mut socket = EventSocket::connect_url(&node_b.websocket_url(), &bob_token).await;
    for round in 0..10 {
        let posted = admin
            .post(
                "/posts",
                json!({"channel_id": channel_id, "message": format!("from A {round}")}),
            )
            .await
            .expect_status(201);
        let id = posted["id"].as_str().unwrap().to_string();
        let event = socket
            .wait_for_matching("posted", |event| post_of(event)["id"] == id.as_str())
            .await;
        assert_eq!(post_of(&event)["id"], id.as_str());
        // Bob reacts to the event through node B, whose replica is an hour behind.
        let thread = bob
            .get(&format!("/posts/{id}/thread"))
            .await
            .expect_status(200);
        assert!(
            thread["posts"].get(&id).is_some(),
            "round {round}: thread without the post"
        );
        let posts = bob
            .get(&format!("/channels/{channel_id}/posts"))
            .await
            .expect_status(200);
        assert!(
            posts["posts"].get(&id).is_some(),
            "round {round}: node B's channel read misses the post node A announced"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recycling_and_reloading_pools_drops_no_request_in_flight() {
    let sandbox = nodes_on_replicas(1, false, |databases| {
        json!({
            "DataSource": databases.primary_url(),
            "DataSourceReplicas": [databases.replica_url(0)],
            "MaxOpenConns": 4,
        })
    })
    .start()
    .await;
    let node = sandbox.node(0);
    let (_, token) = sign_up(&node.api(), "db-admin").await;
    let admin = node.api().with_token(&token);
    let channel_id = team_and_channel(&admin, "recycle").await;
    let mut clients = Vec::new();
    for client in 0..4 {
        let (api, channel_id) = (admin.clone(), channel_id.clone());
        clients.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for round in 0..40 {
                let posted = api
                    .post(
                        "/posts",
                        json!({"channel_id": channel_id, "message": format!("{client}/{round}")}),
                    )
                    .await;
                statuses.push(posted.status);
                let read = api.get(&format!("/channels/{channel_id}/posts")).await;
                statuses.push(read.status);
            }
            statuses
        }));
    }
    for round in 0..6 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let path = if round % 2 == 0 {
            "/database/recycle"
        } else {
            "/config/reload"
        };
        admin.post(path, json!({})).await.expect_status(200);
    }
    for client in clients {
        let statuses = client.await.unwrap();
        assert!(
            statuses
                .iter()
                .all(|status| *status == 200 || *status == 201),
            "a request failed while pools were recycled: {statuses:?}"
        );
    }
    // Reload applies a changed pool size.
    edit_sql_settings(node, |sql| sql["MaxOpenConns"] = json!(7));
    admin
        .post("/config/reload", json!({}))
        .await
        .expect_status(200);
    let status = database_status(&admin).await;
    assert_eq!(status["master"]["pool_max"], 7, "{status}");
}

/// What a client writing continuously saw during one failover.
struct FailoverTrial {
    /// From the last acknowledged write before the first failure to the first one after the
    /// last failure.
    window: Duration,
    /// From `pg_ctl promote` returning (for manual failover: from the recycle answering) to the
    /// first acknowledged write: Chorus's own share of the window.
    after_switch: Duration,
    acknowledged: usize,
    failures: Vec<(u16, String)>,
    lost: usize,
    duplicated: usize,
}

/// When a write was answered: the post id, or the status and error id.
type WriteAttempt = (Instant, Result<String, (u16, String)>);

#[derive(Clone, Copy, PartialEq)]
enum Failover {
    /// The seeds: promote, edit DataSource, reload config, recycle connections.
    Manual,
    /// DataSource names both hosts with target_session_attrs=read-write.
    Automatic,
}

async fn failover_trial(kind: Failover, trial: usize) -> FailoverTrial {
    let mut sandbox = nodes_on_replicas(1, true, move |databases| {
        let data_source = match kind {
            Failover::Manual => databases.primary_url(),
            Failover::Automatic => databases.multi_host_url(),
        };
        json!({"DataSource": data_source})
    })
    .start()
    .await;
    let (_, token) = sign_up(&sandbox.node(0).api(), "db-admin").await;
    let admin = sandbox.node(0).api().with_token(&token);
    let channel_id = team_and_channel(&admin, &format!("failover{trial}")).await;

    // The writer: a post every 20 ms, each retried with its pending_post_id until acknowledged.
    let log: Arc<Mutex<Vec<WriteAttempt>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (admin, log, stop, channel_id) =
            (admin.clone(), log.clone(), stop.clone(), channel_id.clone());
        tokio::spawn(async move {
            let mut number = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                number += 1;
                let pending = format!("{trial}-{number}-{}", chorus_model::new_id());
                loop {
                    let reply = admin
                        .post(
                            "/posts",
                            json!({"channel_id": channel_id, "message": format!("w{number}"), "pending_post_id": pending}),
                        )
                        .await;
                    let outcome = if reply.status == 201 {
                        Ok(reply.json["id"].as_str().unwrap_or_default().to_string())
                    } else {
                        Err((
                            reply.status,
                            reply.json["id"].as_str().unwrap_or_default().to_string(),
                        ))
                    };
                    let done = outcome.is_ok();
                    log.lock().unwrap().push((Instant::now(), outcome));
                    if done || stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;

    let databases = sandbox.database_mut();
    databases.primary_mut().kill();
    databases.replicas[0]
        .promote()
        .expect("promoting the replica");
    if kind == Failover::Manual {
        let new_primary = databases.replica_url(0);
        edit_sql_settings(sandbox.node(0), |sql| {
            sql["DataSource"] = json!(new_primary)
        });
        admin
            .post("/config/reload", json!({}))
            .await
            .expect_status(200);
        admin
            .post("/database/recycle", json!({}))
            .await
            .expect_status(200);
    }
    let switched = Instant::now();
    let failover_done = switched;
    wait_until(
        Duration::from_secs(30),
        "writes succeed after the failover",
        || {
            let log = log.clone();
            async move {
                log.lock()
                    .unwrap()
                    .iter()
                    .filter(|(at, outcome)| *at > failover_done && outcome.is_ok())
                    .count()
                    >= 10
            }
        },
    )
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();

    let log = log.lock().unwrap().clone();
    let acknowledged: Vec<String> = log
        .iter()
        .filter_map(|(_, outcome)| outcome.as_ref().ok().cloned())
        .collect();
    let failures: Vec<(u16, String)> = log
        .iter()
        .filter_map(|(_, outcome)| outcome.as_ref().err().cloned())
        .collect();
    let first_failure = log.iter().position(|(_, outcome)| outcome.is_err());
    let last_failure = log.iter().rposition(|(_, outcome)| outcome.is_err());
    let window = match (first_failure, last_failure) {
        (Some(first), Some(last)) => {
            let start = log[..first]
                .iter()
                .rev()
                .find(|(_, outcome)| outcome.is_ok())
                .map_or(log[first].0, |(at, _)| *at);
            let end = log[last + 1..]
                .iter()
                .find(|(_, outcome)| outcome.is_ok())
                .map_or(log[last].0, |(at, _)| *at);
            end - start
        }
        _ => Duration::ZERO,
    };
    let ids = acknowledged
        .iter()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(",");
    let databases = sandbox.database();
    let counts = databases.replicas[0]
        .psql(
            databases.name(),
            &format!("SELECT count(*), count(DISTINCT id) FROM posts WHERE id IN ({ids})"),
        )
        .unwrap();
    let (found, distinct) = counts.split_once('|').unwrap();
    let (found, distinct): (usize, usize) = (found.parse().unwrap(), distinct.parse().unwrap());
    let retried = databases.replicas[0]
        .psql(
            databases.name(),
            &format!(
                "SELECT count(*) - count(DISTINCT pendingpostid) FROM posts WHERE channelid = '{channel_id}' AND pendingpostid <> ''"
            ),
        )
        .unwrap();
    let after_switch = log
        .iter()
        .find(|(at, outcome)| *at > switched && outcome.is_ok())
        .map_or(Duration::ZERO, |(at, _)| *at - switched);
    FailoverTrial {
        window,
        after_switch,
        acknowledged: acknowledged.len(),
        lost: distinct_count(&acknowledged) - distinct,
        duplicated: (found - distinct) + retried.parse::<usize>().unwrap(),
        failures,
    }
}

fn distinct_count(ids: &[String]) -> usize {
    ids.iter().collect::<std::collections::HashSet<_>>().len()
}

fn check_trial(kind: &str, trial: &FailoverTrial) {
    assert!(trial.acknowledged > 20, "{kind}: too few writes to judge");
    assert_eq!(trial.lost, 0, "{kind}: acknowledged posts lost");
    assert_eq!(trial.duplicated, 0, "{kind}: posts stored twice");
    for (status, id) in &trial.failures {
        assert!(
            *status == 503 || *status == 504,
            "{kind}: a write failed with {status} {id}, not 503/504"
        );
        assert!(!id.is_empty(), "{kind}: a failed write without an error id");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_failover_as_the_seeds_describe_loses_no_acknowledged_write() {
    let trial = failover_trial(Failover::Manual, 0).await;
    check_trial("manual", &trial);
    assert!(
        !trial.failures.is_empty(),
        "writes fail while the master is gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_failover_follows_the_promoted_replica_without_a_config_change() {
    let trial = failover_trial(Failover::Automatic, 0).await;
    check_trial("automatic", &trial);
}

fn median_and_max(mut values: Vec<Duration>) -> (Duration, Duration) {
    values.sort();
    (values[values.len() / 2], *values.last().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "figures for docs/benchmarks.md: cargo test -p chorus --test it database_failover_figures -- --ignored --nocapture"]
async fn database_failover_figures() {
    const TRIALS: usize = 5;
    for (name, kind) in [
        ("manual", Failover::Manual),
        ("automatic", Failover::Automatic),
    ] {
        let mut windows = Vec::new();
        let mut after_switch = Vec::new();
        for trial in 0..TRIALS {
            let outcome = failover_trial(kind, trial).await;
            check_trial(name, &outcome);
            let mut reasons = std::collections::BTreeMap::<String, usize>::new();
            for (status, id) in &outcome.failures {
                *reasons.entry(format!("{status} {id}")).or_default() += 1;
            }
            println!(
                "{name} failover trial {trial}: write-unavailability {:?} (after the switch {:?}), {} acknowledged, {} failed {reasons:?}, lost {}, duplicated {}",
                outcome.window,
                outcome.after_switch,
                outcome.acknowledged,
                outcome.failures.len(),
                outcome.lost,
                outcome.duplicated
            );
            windows.push(outcome.window);
            after_switch.push(outcome.after_switch);
        }
        let (median, max) = median_and_max(windows);
        let (switch_median, switch_max) = median_and_max(after_switch);
        println!("{name} failover over {TRIALS} trials: window median {median:?}, max {max:?}; after the switch median {switch_median:?}, max {switch_max:?}");
    }

    // Replica lag under steady writes, and how reads spread over two replicas.
    let sandbox = nodes_on_replicas(2, false, |databases| {
        json!({
            "DataSource": databases.primary_url(),
            "DataSourceReplicas": [databases.replica_url(0), databases.replica_url(1)],
        })
    })
    .start()
    .await;
    let node = sandbox.node(0);
    let (_, token) = sign_up(&node.api(), "db-admin").await;
    let admin = node.api().with_token(&token);
    let channel_id = team_and_channel(&admin, "lagfig").await;
    let before = database_status(&admin).await;
    let mut lag_bytes = Vec::new();
    let mut lag_millis = Vec::new();
    let started = Instant::now();
    let mut posts = 0;
    while started.elapsed() < Duration::from_secs(10) {
        admin
            .post(
                "/posts",
                json!({"channel_id": channel_id, "message": "steady"}),
            )
            .await
            .expect_status(201);
        admin
            .get("/users?page=0&per_page=5")
            .await
            .expect_status(200);
        posts += 1;
        if posts % 10 == 0 {
            let status = database_status(&admin).await;
            for replica in status["replicas"].as_array().unwrap() {
                lag_bytes.push(replica["lag_bytes"].as_u64().unwrap_or(0));
                lag_millis.push((replica["lag_seconds"].as_f64().unwrap_or(0.0) * 1000.0) as u64);
            }
        }
    }
    let after = database_status(&admin).await;
    lag_bytes.sort();
    lag_millis.sort();
    println!(
        "replica lag at {:.0} posts/s (one writer): bytes p50 {} max {}; ms p50 {} max {}",
        posts as f64 / started.elapsed().as_secs_f64(),
        lag_bytes[lag_bytes.len() / 2],
        lag_bytes.last().unwrap(),
        lag_millis[lag_millis.len() / 2],
        lag_millis.last().unwrap()
    );
    let master = after["master"]["checkouts"].as_u64().unwrap()
        - before["master"]["checkouts"].as_u64().unwrap();
    println!(
        "reads and writes over {} requests: master {master}, replica 0 {}, replica 1 {}",
        posts * 2,
        replica_checkouts(&after, 0) - replica_checkouts(&before, 0),
        replica_checkouts(&after, 1) - replica_checkouts(&before, 1)
    );
}

const REPLICA_DELAY_LONGER_THAN_THE_TEST: Duration = Duration::from_secs(60);

/// Issue 12 item 11: a user an admin creates through one node logs in and posts through the
/// other at once, and everyone can look the new user up at once, while the replica lags. The
/// issue saw it fail with a replica 2 s behind; here it is a minute behind, so that every read
/// of the test falls within the lag however slowly this machine runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_created_by_an_admin_logs_in_and_posts_at_once_despite_a_lagging_replica() {
    let sandbox = nodes_on_replicas(1, false, |databases| {
        json!({
            "DataSource": databases.primary_url(),
            "DataSourceReplicas": [databases.replica_url(0)],
            "ReplicaMaxLagSeconds": 0,
        })
    })
    .nodes(2)
    .start()
    .await;
    let databases = sandbox.database();
    let (node_a, node_b) = (sandbox.node(0), sandbox.node(1));
    let (_, admin_token) = sign_up(&node_a.api(), "fast-admin").await;
    let admin = node_a.api().with_token(&admin_token);
    let admin_on_b = node_b.api().with_token(&admin_token);
    let channel_id = team_and_channel(&admin, "fast").await;
    let channel = admin
        .get(&format!("/channels/{channel_id}"))
        .await
        .expect_status(200);
    let team_id = channel["team_id"].as_str().unwrap().to_string();
    databases.replicas[0]
        .wait_for_replay(databases.primary(), Duration::from_secs(10))
        .unwrap();
    for api in [&admin, &admin_on_b] {
        wait_until(
            Duration::from_secs(10),
            "the replica in rotation",
            || async { database_status(api).await["replicas"][0]["in_rotation"] == true },
        )
        .await;
    }
    databases.replicas[0]
        .set_apply_delay(REPLICA_DELAY_LONGER_THAN_THE_TEST)
        .unwrap();
    let mut admin_socket_on_b =
        EventSocket::connect_url(&node_b.websocket_url(), &admin_token).await;

    for round in 0..3 {
        let username = format!("newcomer{round}");
        let created_at = Instant::now();
        let user = admin
            .post(
                "/users",
                json!({"username": username, "email": format!("{username}@example.com"), "password": chorus_testkit::client::PASSWORD}),
            )
            .await
            .expect_status(201);
        let user_id = user["id"].as_str().unwrap().to_string();

        // Everyone else looks the newcomer up at once (new_user announces them), through
        // either node.
        for api in [&admin_on_b, &admin] {
            api.get(&format!("/users/{user_id}"))
                .await
                .expect_status(200);
            api.get(&format!("/users/username/{username}"))
                .await
                .expect_status(200);
            api.get(&format!("/users/email/{username}@example.com"))
                .await
                .expect_status(200);
            let by_ids = api
                .post("/users/ids", json!([user_id]))
                .await
                .expect_status(200);
            assert_eq!(
                by_ids.as_array().map(Vec::len),
                Some(1),
                "round {round}: /users/ids misses the newcomer: {by_ids}"
            );
            let by_names = api
                .post("/users/usernames", json!([username]))
                .await
                .expect_status(200);
            assert_eq!(
                by_names.as_array().map(Vec::len),
                Some(1),
                "round {round}: /users/usernames misses the newcomer: {by_names}"
            );
        }
        assert!(created_at.elapsed() < REPLICA_DELAY_LONGER_THAN_THE_TEST);

        admin
            .post(
                &format!("/teams/{team_id}/members"),
                json!({"team_id": team_id, "user_id": user_id}),
            )
            .await
            .expect_status(201);
        admin
            .post(
                &format!("/channels/{channel_id}/members"),
                json!({"user_id": user_id}),
            )
            .await
            .expect_status(201);
        // Node B, once it has announced the new member, lists them.
        admin_socket_on_b
            .wait_for_matching("user_added", |event| {
                event["data"]["user_id"] == user_id.as_str()
            })
            .await;
        let members = admin_on_b
            .get(&format!("/users?in_channel={channel_id}&per_page=200"))
            .await
            .expect_status(200);
        assert!(
            members
                .as_array()
                .unwrap()
                .iter()
                .any(|member| member["id"] == user_id.as_str()),
            "round {round}: the channel's users miss the newcomer"
        );

        // The newcomer, through the other node.
        let login = node_b
            .api()
            .post(
                "/users/login",
                json!({"login_id": username, "password": chorus_testkit::client::PASSWORD}),
            )
            .await;
        login.expect_status(200);
        let newcomer = node_b
            .api()
            .with_token(login.header("token").expect("a Token header"));
        let me = newcomer.get("/users/me").await.expect_status(200);
        assert_eq!(me["id"], user_id.as_str());
        let teams = newcomer.get("/users/me/teams").await.expect_status(200);
        assert!(
            teams
                .as_array()
                .unwrap()
                .iter()
                .any(|team| team["id"] == team_id.as_str()),
            "round {round}: the new member's teams miss {team_id}: {teams}"
        );
        newcomer
            .post(
                "/posts",
                json!({"channel_id": channel_id, "message": format!("hello from {username} @fast-admin")}),
            )
            .await
            .expect_status(201);
        assert!(created_at.elapsed() < REPLICA_DELAY_LONGER_THAN_THE_TEST);
    }
}

/// Issue 12 item 11: both official clients' whole compatibility suites pass against a node
/// whose read replica is deliberately 2 s behind (in rotation: ReplicaMaxLagSeconds is 10).
/// Every read a suite makes right after a write of its own, or of an object another of its
/// users just created and announced, must see that write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_clients_work_unchanged_on_a_replica_2_seconds_behind() {
    let sandbox = nodes_on_replicas(1, false, |databases| {
        json!({
            "DataSource": databases.primary_url(),
            "DataSourceReplicas": [databases.replica_url(0)],
        })
    })
    .start()
    .await;
    let databases = sandbox.database();
    sandbox.create_account(compat::ADMIN_USERNAME).await;
    let observer = sandbox.log_in_as(compat::ADMIN_USERNAME).await.api;
    databases.replicas[0]
        .wait_for_replay(databases.primary(), Duration::from_secs(10))
        .unwrap();
    wait_until(
        Duration::from_secs(10),
        "the replica in rotation",
        || async { database_status(&observer).await["replicas"][0]["in_rotation"] == true },
    )
    .await;
    databases.replicas[0]
        .set_apply_delay(Duration::from_secs(2))
        .unwrap();

    compat::run_javascript_suite(&sandbox).await;
    compat::run_python_suite(&sandbox).await;

    let status = database_status(&observer).await;
    assert_eq!(
        status["replicas"][0]["in_rotation"], true,
        "the lagging replica left rotation, so the suites may not have read from it: {status}"
    );
    assert!(
        replica_checkouts(&status, 0) > 0,
        "the suites never read from the lagging replica: {status}"
    );
}

//! Several real `chorus` processes clustered on one database: events, cache invalidations and
//! session revocations cross nodes; cluster status; failure detection of a SIGKILLed node;
//! ReadOnlyConfig; graceful drain on SIGTERM.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use chorus_testkit::client::{Api, PASSWORD};
use chorus_testkit::socket::{wait_for_close, Closed, EventSocket};
use chorus_testkit::{Endpoint, Sandbox, SandboxBuilder, SandboxNode};

/// `node_count` real `chorus` processes of this build, clustered on one fresh database and file
/// directory; killed when the sandbox is dropped.
async fn cluster_of(node_count: usize) -> Sandbox {
    cluster_builder(node_count).start().await
}

fn cluster_builder(node_count: usize) -> SandboxBuilder {
    Sandbox::builder()
        .nodes(node_count)
        .processes(env!("CARGO_BIN_EXE_chorus"))
        .configure(|config| config.log_settings.console_level = "WARN".to_string())
}

pub(crate) async fn wait_until<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {within:?} waiting until {what}");
}

pub(crate) async fn sign_up(api: &Api, username: &str) -> (String, String) {
    api.post(
        "/users",
        json!({"username": username, "email": format!("{username}@example.com"), "password": PASSWORD}),
    )
    .await
    .expect_status(201);
    let login = api
        .post(
            "/users/login",
            json!({"login_id": username, "password": PASSWORD}),
        )
        .await;
    let user = login.expect_status(200);
    let token = login.header("token").expect("a Token header").to_string();
    (user["id"].as_str().expect("an id").to_string(), token)
}

async fn cluster_status(api: &Api) -> Vec<Value> {
    let reply = api.get("/cluster/status").await;
    reply
        .expect_status(200)
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_act_as_one_server() {
    let sandbox = cluster_of(3).await;
    let (node_a, node_b, node_c) = (sandbox.node(0), sandbox.node(1), sandbox.node(2));

    let (admin_id, admin_token) = sign_up(&node_a.api(), "cluster-admin").await;
    let (bob_id, bob_token) = sign_up(&node_b.api(), "cluster-bob").await;
    let (carol_id, carol_token) = sign_up(&node_c.api(), "cluster-carol").await;
    let admin_on_a = node_a.api().with_token(&admin_token);
    let admin_on_b = node_b.api().with_token(&admin_token);

    // Membership: gossip converges and exactly one node leads.
    wait_until(
        Duration::from_secs(15),
        "three live nodes and one leader",
        || async {
            let status = cluster_status(&admin_on_a).await;
            status.len() == 3
                && status.iter().all(|node| node["alive"] == true)
                && status
                    .iter()
                    .filter(|node| node["is_leader"] == true)
                    .count()
                    == 1
        },
    )
    .await;
    let reply = admin_on_a.get("/users/me").await;
    assert!(
        reply
            .header("x-cluster-id")
            .is_some_and(|id| id.starts_with("test-")),
        "X-Cluster-Id header"
    );

    let team = admin_on_a
        .post(
            "/teams",
            json!({"name": "cluster-team", "display_name": "Cluster", "type": "O"}),
        )
        .await
        .expect_status(201);
    let team_id = team["id"].as_str().unwrap().to_string();
    for user_id in [&bob_id, &carol_id] {
        admin_on_a
            .post(
                &format!("/teams/{team_id}/members"),
                json!({"team_id": team_id, "user_id": user_id}),
            )
            .await
            .expect_status(201);
    }
    let channel = admin_on_a
        .post(
            "/channels",
            json!({"team_id": team_id, "name": "ops", "display_name": "Ops", "type": "P"}),
        )
        .await
        .expect_status(201);
    let channel_id = channel["id"].as_str().unwrap().to_string();
    admin_on_a
        .post(
            &format!("/channels/{channel_id}/members"),
            json!({"user_id": bob_id}),
        )
        .await
        .expect_status(201);

    // A post through node A reaches Bob's socket on node B.
    let mut bob_socket = EventSocket::connect_url(&node_b.websocket_url(), &bob_token).await;
    let mut carol_socket = EventSocket::connect_url(&node_c.websocket_url(), &carol_token).await;
    let first = admin_on_a
        .post(
            "/posts",
            json!({"channel_id": channel_id, "message": "first, before carol joins"}),
        )
        .await
        .expect_status(201);
    let posted = bob_socket
        .wait_for_matching("posted", |event| {
            event["data"]["post"]
                .as_str()
                .is_some_and(|post| post.contains(first["id"].as_str().unwrap()))
        })
        .await;
    assert_eq!(posted["broadcast"]["channel_id"], channel_id.as_str());

    // Carol is added through node B; node C, which routed the first post without her, must
    // deliver the very next post to her (Mattermost lost these: #27204, #27846).
    admin_on_b
        .post(
            &format!("/channels/{channel_id}/members"),
            json!({"user_id": carol_id}),
        )
        .await
        .expect_status(201);
    let second = admin_on_a
        .post(
            "/posts",
            json!({"channel_id": channel_id, "message": "second, carol is in"}),
        )
        .await
        .expect_status(201);
    let second_id = second["id"].as_str().unwrap().to_string();
    carol_socket
        .wait_for_matching("posted", |event| {
            event["data"]["post"]
                .as_str()
                .is_some_and(|post| post.contains(&second_id))
        })
        .await;

    // Typing travels best effort, and not to the typer.
    bob_socket
        .send_action(
            "user_typing",
            json!({"channel_id": channel_id, "parent_id": ""}),
        )
        .await;
    let typing = carol_socket.wait_for("typing").await;
    assert_eq!(typing["data"]["user_id"], bob_id.as_str());

    // Status: Bob also connects through node A; when that socket goes away he stays online,
    // because node B still holds one of his connections.
    let bob_status_path = format!("/users/{bob_id}/status");
    wait_until(Duration::from_secs(5), "Bob is online", || async {
        admin_on_a.get(&bob_status_path).await.json["status"] == "online"
    })
    .await;
    let second_bob_socket = EventSocket::connect_url(&node_a.websocket_url(), &bob_token).await;
    drop(second_bob_socket);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        admin_on_a.get(&bob_status_path).await.json["status"],
        "online",
        "a connection on another node keeps Bob online"
    );

    // Cross-node latency, post through node A → event on Carol's socket on node C (measured
    // from before the HTTP request, so it includes the request itself). Printed, not asserted.
    let mut latencies = Vec::new();
    for index in 0..100 {
        let sent_at = Instant::now();
        let post = admin_on_a
            .post(
                "/posts",
                json!({"channel_id": channel_id, "message": format!("latency {index}")}),
            )
            .await
            .expect_status(201);
        let post_id = post["id"].as_str().unwrap().to_string();
        carol_socket
            .wait_for_matching("posted", |event| {
                event["data"]["post"]
                    .as_str()
                    .is_some_and(|post| post.contains(&post_id))
            })
            .await;
        latencies.push(sent_at.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    latencies.sort();
    println!(
        "cross-node post→event latency over {} posts: p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100],
        latencies[latencies.len() - 1]
    );

    // Logout on node A: the token is refused on node C within a second.
    let carol_on_c = node_c.api().with_token(&carol_token);
    carol_on_c.get("/users/me").await.expect_status(200);
    let carol_on_a = node_a.api().with_token(&carol_token);
    carol_on_a
        .post("/users/logout", json!({}))
        .await
        .expect_status(200);
    let logged_out_at = Instant::now();
    wait_until(
        Duration::from_secs(1),
        "node C refuses the revoked token",
        || async { carol_on_c.get("/users/me").await.status == 401 },
    )
    .await;
    println!(
        "session revocation seen on another node after {:?}",
        logged_out_at.elapsed()
    );

    // ReadOnlyConfig (the default) refuses PUT /config on a clustered node.
    let config = admin_on_a.get("/config").await.expect_status(200);
    let refused = admin_on_a.put("/config", config).await;
    assert_eq!(refused.expect_error(403), "ent.cluster.save_config.error");

    // SIGKILL node C: the others see it down within about two seconds.
    let node_c_id = cluster_status(&admin_on_a)
        .await
        .into_iter()
        .find(|node| {
            node["api_address"]
                .as_str()
                .is_some_and(|address| address.ends_with(&format!(":{}", node_c.port())))
        })
        .expect("node C in the status")["id"]
        .as_str()
        .unwrap()
        .to_string();
    node_c.kill();
    let killed_at = Instant::now();
    wait_until(Duration::from_secs(5), "node C is seen down", || async {
        cluster_status(&admin_on_a)
            .await
            .iter()
            .any(|node| node["id"] == node_c_id.as_str() && node["alive"] == false)
    })
    .await;
    println!("SIGKILLed node seen down after {:?}", killed_at.elapsed());
    wait_until(
        Duration::from_secs(15),
        "one live leader remains",
        || async {
            cluster_status(&admin_on_a)
                .await
                .iter()
                .filter(|node| node["is_leader"] == true && node["alive"] == true)
                .count()
                == 1
        },
    )
    .await;

    // SIGTERM node B: Bob's socket is told to go away (1001), and the process exits cleanly.
    node_b.terminate().expect("SIGTERM");
    match wait_for_close(bob_socket.raw_mut(), Duration::from_secs(10)).await {
        Some(closed @ Closed::Frame(_)) => assert_eq!(closed.code(), Some(1001), "going away"),
        other => panic!("expected a close frame on drain, got {other:?}"),
    }
    let _ = admin_id;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_routes_around_a_killed_node_and_no_acknowledged_post_is_lost() {
    // NGINX in front of the nodes (scripts/test.sh installs nginx-light).
    let sandbox = cluster_builder(3).nginx().start().await;
    let through_nginx = sandbox.anonymous();
    let (_user_id, token) = sign_up(&through_nginx, "nginx-poster").await;
    let poster = through_nginx.with_token(&token);
    let team = poster
        .post(
            "/teams",
            json!({"name": "nginx-team", "display_name": "NGINX", "type": "O"}),
        )
        .await
        .expect_status(201);
    let town_square = poster
        .get(&format!(
            "/teams/{}/channels/name/town-square",
            team["id"].as_str().unwrap()
        ))
        .await
        .expect_status(200);
    let channel_id = town_square["id"].as_str().unwrap().to_string();

    // Post steadily (20/s) through NGINX; kill one node a quarter of the way in. Every
    // request carries a pending_post_id, so a client retry can never duplicate a post.
    let total_posts = 120;
    let mut acknowledged = Vec::new();
    let mut failures: Vec<(Duration, u16)> = Vec::new();
    let started = Instant::now();
    for index in 0..total_posts {
        if index == total_posts / 4 {
            sandbox.node(1).kill();
        }
        let reply = poster
            .post("/posts", json!({"channel_id": channel_id, "message": format!("steady {index}"), "pending_post_id": format!("{}:{index}", chorus_model::new_id())}))
            .await;
        if reply.status == 201 {
            acknowledged.push(reply.json["id"].as_str().unwrap().to_string());
        } else {
            failures.push((started.elapsed(), reply.status));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "through NGINX with a node SIGKILLed: {} of {total_posts} posts acknowledged, {} failed {:?}",
        acknowledged.len(),
        failures.len(),
        failures
    );

    // Every acknowledged post is stored, exactly once.
    let listed = poster
        .get(&format!("/channels/{channel_id}/posts?per_page=200"))
        .await
        .expect_status(200);
    let order: Vec<String> = listed["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_string())
        .collect();
    for post_id in &acknowledged {
        assert_eq!(
            order
                .iter()
                .filter(|listed_id| *listed_id == post_id)
                .count(),
            1,
            "acknowledged post {post_id} stored once"
        );
    }
    assert!(
        failures.len() <= 3,
        "NGINX should route around the dead node: {failures:?}"
    );
}

/// An admin and Bob in one team and one private channel; returns (admin token, bob token,
/// channel id).
async fn team_with_a_channel(node: &SandboxNode, prefix: &str) -> (String, String, String) {
    let (_admin_id, admin_token) = sign_up(&node.api(), &format!("{prefix}-admin")).await;
    let (bob_id, bob_token) = sign_up(&node.api(), &format!("{prefix}-bob")).await;
    let admin = node.api().with_token(&admin_token);
    let team = admin
        .post(
            "/teams",
            json!({"name": format!("{prefix}-team"), "display_name": "Resume", "type": "O"}),
        )
        .await
        .expect_status(201);
    let team_id = team["id"].as_str().unwrap().to_string();
    admin
        .post(
            &format!("/teams/{team_id}/members"),
            json!({"team_id": team_id, "user_id": bob_id}),
        )
        .await
        .expect_status(201);
    let channel = admin
        .post(
            "/channels",
            json!({"team_id": team_id, "name": format!("{prefix}-room"), "display_name": "Room", "type": "P"}),
        )
        .await
        .expect_status(201);
    let channel_id = channel["id"].as_str().unwrap().to_string();
    admin
        .post(
            &format!("/channels/{channel_id}/members"),
            json!({"user_id": bob_id}),
        )
        .await
        .expect_status(201);
    (admin_token, bob_token, channel_id)
}

async fn post_message(api: &Api, channel_id: &str, message: &str) -> String {
    let post = api
        .post(
            "/posts",
            json!({"channel_id": channel_id, "message": message}),
        )
        .await
        .expect_status(201);
    post["id"].as_str().unwrap().to_string()
}

/// The ids of the posts of `posted` events, in the order received.
fn posted_ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|event| event["event"] == "posted")
        .map(|event| {
            chorus_testkit::socket::post_of(event)["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_resumes_on_another_node_while_the_old_node_is_alive() {
    let sandbox = cluster_of(2).await;
    let (node_a, node_b) = (sandbox.node(0), sandbox.node(1));
    let (admin_token, bob_token, channel_id) = team_with_a_channel(node_a, "resume-alive").await;
    let admin_on_a = node_a.api().with_token(&admin_token);
    let admin_on_b = node_b.api().with_token(&admin_token);
    wait_until(Duration::from_secs(15), "two live nodes", || async {
        let status = cluster_status(&admin_on_a).await;
        status.len() == 2 && status.iter().all(|node| node["alive"] == true)
    })
    .await;

    let mut bob = EventSocket::connect_url(&node_a.websocket_url(), &bob_token).await;
    let connection_id = bob.connection_id();
    let first = post_message(&admin_on_a, &channel_id, "before the drop").await;
    bob.wait_for_matching("posted", |event| {
        chorus_testkit::socket::post_of(event)["id"] == first.as_str()
    })
    .await;
    let next_seq = bob.last_seq() + 1;
    drop(bob);

    // Posted while Bob is away, through both nodes.
    let mut missed = Vec::new();
    for (index, api) in [&admin_on_a, &admin_on_b, &admin_on_a]
        .into_iter()
        .enumerate()
    {
        missed.push(post_message(api, &channel_id, &format!("missed {index}")).await);
    }
    let mut resumed = EventSocket::resume_url(
        &node_b.websocket_url(),
        &bob_token,
        &connection_id,
        next_seq,
    )
    .await;
    let after = post_message(&admin_on_b, &channel_id, "after the resume").await;
    resumed
        .wait_for_matching("posted", |event| {
            chorus_testkit::socket::post_of(event)["id"] == after.as_str()
        })
        .await;
    let mut expected = missed.clone();
    expected.push(after);
    assert_eq!(
        posted_ids(&resumed.history),
        expected,
        "every missed post once, in order, then the new one"
    );
    assert!(
        resumed
            .history
            .iter()
            .all(|event| event["event"] != "hello"),
        "a resume gets no hello: {:?}",
        resumed.history
    );
    assert_eq!(resumed.history[0]["seq"], next_seq);
    assert!(posted_ids(&resumed.events_within(Duration::from_millis(500)).await).is_empty());
}

/// What a client can check of a post or reaction event: its name and what it is about.
fn change_summary(event: &Value) -> (String, String) {
    let name = event["event"].as_str().unwrap_or_default().to_string();
    let about = match name.as_str() {
        "posted" | "post_edited" | "post_deleted" => chorus_testkit::socket::post_of(event)["id"]
            .as_str()
            .unwrap()
            .to_string(),
        "reaction_added" | "reaction_removed" => {
            let reaction: Value =
                serde_json::from_str(event["data"]["reaction"].as_str().unwrap()).unwrap();
            format!(
                "{}:{}",
                reaction["post_id"].as_str().unwrap(),
                reaction["emoji_name"].as_str().unwrap()
            )
        }
        _ => String::new(),
    };
    (name, about)
}

async fn react(api: &Api, user_id: &str, post_id: &str, emoji: &str) {
    api.post(
        "/reactions",
        json!({"user_id": user_id, "post_id": post_id, "emoji_name": emoji}),
    )
    .await
    .expect_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_of_a_killed_node_resumes_from_the_database() {
    let sandbox = cluster_of(2).await;
    let (node_a, node_b) = (sandbox.node(0), sandbox.node(1));
    let (admin_token, bob_token, channel_id) = team_with_a_channel(node_b, "resume-dead").await;
    let admin = node_b.api().with_token(&admin_token);
    let admin_id = admin.get("/users/me").await.expect_status(200)["id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_until(Duration::from_secs(15), "two live nodes", || async {
        let status = cluster_status(&admin).await;
        status.len() == 2 && status.iter().all(|node| node["alive"] == true)
    })
    .await;

    // Bob sees a few changes on node A, then his socket drops.
    let mut bob = EventSocket::connect_url(&node_a.websocket_url(), &bob_token).await;
    let connection_id = bob.connection_id();
    let mut too_far = EventSocket::connect_url(&node_a.websocket_url(), &bob_token).await;
    let too_far_id = too_far.connection_id();
    let mut unaware = EventSocket::connect_url(&node_a.websocket_url(), &bob_token).await;
    let unaware_id = unaware.connection_id();
    let doomed = post_message(&admin, &channel_id, "to be deleted").await;
    let kept = post_message(&admin, &channel_id, "to be edited").await;
    react(&admin, &admin_id, &kept, "smile").await;
    bob.wait_for("reaction_added").await;
    too_far.wait_for("reaction_added").await;
    unaware.wait_for("reaction_added").await;
    let next_seq = bob.last_seq() + 1;
    let too_far_seq = too_far.last_seq() + 1;
    let unaware_seq = unaware.last_seq() + 1;
    drop(bob);
    drop(too_far);
    drop(unaware);

    // While he is away, through node B: queued for him on node A, which then dies.
    let missed = post_message(&admin, &channel_id, "missed while away").await;
    admin
        .put(
            &format!("/posts/{kept}/patch"),
            json!({"message": "edited"}),
        )
        .await
        .expect_status(200);
    react(&admin, &admin_id, &missed, "tada").await;
    admin
        .delete(&format!("/posts/{doomed}"))
        .await
        .expect_status(200);
    admin
        .delete(&format!("/users/{admin_id}/posts/{kept}/reactions/smile"))
        .await
        .expect_status(200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    node_a.kill();
    wait_until(Duration::from_secs(15), "node A seen dead", || async {
        cluster_status(&admin)
            .await
            .iter()
            .any(|node| node["alive"] == false)
    })
    .await;

    // After node A is gone.
    let later = post_message(&admin, &channel_id, "after the crash").await;
    admin
        .put(
            &format!("/posts/{missed}/patch"),
            json!({"message": "edited after the crash"}),
        )
        .await
        .expect_status(200);

    let mut resumed = EventSocket::resume_url(
        &node_b.websocket_url(),
        &bob_token,
        &connection_id,
        next_seq,
    )
    .await;
    let live = post_message(&admin, &channel_id, "after the resume").await;
    resumed
        .wait_for_matching("posted", |event| {
            chorus_testkit::socket::post_of(event)["id"] == live.as_str()
        })
        .await;
    let summaries: Vec<(String, String)> = resumed.history.iter().map(change_summary).collect();
    let expected: Vec<(String, String)> = [
        ("posted", missed.clone()),
        ("post_edited", kept.clone()),
        ("reaction_added", format!("{missed}:tada")),
        ("post_deleted", doomed.clone()),
        ("reaction_removed", format!("{kept}:smile")),
        ("posted", later.clone()),
        ("post_edited", missed.clone()),
        ("posted", live.clone()),
    ]
    .into_iter()
    .map(|(name, about)| (name.to_string(), about))
    .collect();
    assert_eq!(
        summaries, expected,
        "every missed change once, in order, then the live one"
    );
    assert_eq!(
        resumed.history[0]["seq"], next_seq,
        "numbered from the client's sequence_number"
    );
    for deleted in resumed
        .history
        .iter()
        .filter(|event| event["event"] == "post_deleted")
    {
        assert_eq!(
            chorus_testkit::socket::post_of(deleted)["message"],
            "",
            "a rebuilt post_deleted does not carry the deleted text"
        );
    }
    assert!(resumed
        .events_within(Duration::from_millis(500))
        .await
        .is_empty());

    // A client claiming frames its node never checkpointed cannot be given exactly what it
    // missed: it gets a new connection and hello.
    let refused = EventSocket::connect_url(
        &format!(
            "{}?connection_id={too_far_id}&sequence_number={}",
            node_b.websocket_url(),
            too_far_seq + 5
        ),
        &bob_token,
    )
    .await;
    assert_ne!(refused.connection_id(), too_far_id);
    // And one nobody knows of likewise.
    let unknown_id = chorus_model::new_id();
    let unknown = EventSocket::connect_url(
        &format!(
            "{}?connection_id={unknown_id}&sequence_number=3",
            node_b.websocket_url()
        ),
        &bob_token,
    )
    .await;
    assert_ne!(unknown.connection_id(), unknown_id);

    // A change whose event cannot be rebuilt (only the channel's latest state is stored),
    // made after the crash: the client resyncs rather than miss it.
    admin
        .put(
            &format!("/channels/{channel_id}/patch"),
            json!({"display_name": "Renamed after the crash"}),
        )
        .await
        .expect_status(200);
    let renamed = EventSocket::connect_url(
        &format!(
            "{}?connection_id={unaware_id}&sequence_number={unaware_seq}",
            node_b.websocket_url()
        ),
        &bob_token,
    )
    .await;
    assert_ne!(renamed.connection_id(), unaware_id, "told to resync");
}

/// A (re)started node serves only once its links with every live peer are up: the first
/// post made through it reaches the clients of the other nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_post_through_a_restarted_node_reaches_the_other_nodes() {
    let sandbox = cluster_of(2).await;
    let (admin_token, bob_token, channel_id) =
        team_with_a_channel(sandbox.node(0), "restart-first").await;
    let admin = sandbox.node(0).api().with_token(&admin_token);
    wait_until(Duration::from_secs(15), "two live nodes", || async {
        let status = cluster_status(&admin).await;
        status.len() == 2 && status.iter().all(|node| node["alive"] == true)
    })
    .await;
    let mut bob = EventSocket::connect_url(&sandbox.node(0).websocket_url(), &bob_token).await;

    sandbox.node(1).kill();
    sandbox
        .node(1)
        .restart()
        .await
        .expect("node 1 serves again");
    let admin_on_restarted = sandbox.node(1).api().with_token(&admin_token);
    let first = post_message(&admin_on_restarted, &channel_id, "first after the restart").await;

    let received = bob.events_within(Duration::from_secs(3)).await;
    assert_eq!(
        posted_ids(&received),
        vec![first],
        "Bob, on the other node, gets the post"
    );
}

/// Starts `count` nodes, with an admin and Bob in a channel (made through node 1); waits
/// until every node is alive. Returns (admin token, Bob's token, channel id).
async fn cluster_with_a_channel(count: usize, prefix: &str) -> (Sandbox, String, String, String) {
    let sandbox = cluster_of(count).await;
    let (admin_token, bob_token, channel_id) = team_with_a_channel(sandbox.node(1), prefix).await;
    sandbox.wait_for_live_nodes(&admin_token, count).await;
    (sandbox, admin_token, bob_token, channel_id)
}

/// What the scenarios below do to a whole cluster.
trait ClusterScenario {
    async fn wait_for_live_nodes(&self, admin_token: &str, count: usize);
    async fn wait_for_live_nodes_seen_by(&self, viewer: usize, admin_token: &str, count: usize);
    async fn restart(&self, index: usize, admin_token: &str);
}

impl ClusterScenario for Sandbox {
    async fn wait_for_live_nodes(&self, admin_token: &str, count: usize) {
        self.wait_for_live_nodes_seen_by(1, admin_token, count)
            .await;
    }

    async fn wait_for_live_nodes_seen_by(&self, viewer: usize, admin_token: &str, count: usize) {
        let admin = self.node(viewer).api().with_token(admin_token);
        wait_until(Duration::from_secs(15), "every node alive", || async {
            let status = cluster_status(&admin).await;
            status.iter().filter(|node| node["alive"] == true).count() == count
        })
        .await;
    }

    /// Stops node `index` gracefully and starts it again (a new process, a new node id).
    async fn restart(&self, index: usize, admin_token: &str) {
        let count = self.nodes().len();
        self.node(index).stop().await.expect("a drained exit");
        self.node(index)
            .restart()
            .await
            .expect("the node serves again");
        // Seen alive by every node, not only by one: a node hands a joining one the records
        // of its websockets once it has seen it join (under load that can come later).
        for viewer in 0..count {
            self.wait_for_live_nodes_seen_by(viewer, admin_token, count)
                .await;
        }
    }
}

/// Bob's sockets are on node A, node C restarts (so it never saw them checkpointed), then A
/// is stopped gracefully. While A drains it hands a connection over to C, with every frame
/// missed (also `channel_updated`, which a rebuild from the database could not give); once
/// A is gone, a connection whose missed frames cannot be rebuilt resyncs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_node_hands_its_websockets_over_until_their_clients_are_back() {
    let (sandbox, admin_token, bob_token, channel_id) =
        cluster_with_a_channel(3, "drain-handover").await;
    let admin = sandbox.node(1).api().with_token(&admin_token);
    let mut early = EventSocket::connect_url(&sandbox.node(0).websocket_url(), &bob_token).await;
    let mut late = EventSocket::connect_url(&sandbox.node(0).websocket_url(), &bob_token).await;
    post_message(&admin, &channel_id, "seen by both").await;
    early.wait_for("posted").await;
    late.wait_for("posted").await;
    sandbox.restart(2, &admin_token).await;
    // On a loaded machine events of the set-up (bob's own status, a membership event relayed
    // from another node) can reach the sockets after that post: take in whatever came, so
    // that the sequence numbers below are what each client really holds.
    early.events_within(Duration::from_millis(300)).await;
    late.events_within(Duration::from_millis(300)).await;

    let (early_id, late_id) = (early.connection_id(), late.connection_id());
    let (early_next, late_next) = (early.last_seq() + 1, late.last_seq() + 1);
    sandbox.node(0).terminate().expect("SIGTERM");
    assert!(early.wait_for_close(Duration::from_secs(5)).await.is_some());
    assert!(late.wait_for_close(Duration::from_secs(5)).await.is_some());
    admin
        .put(
            &format!("/channels/{channel_id}/patch"),
            json!({"display_name": "Renamed"}),
        )
        .await
        .expect_status(200);
    let missed = post_message(&admin, &channel_id, "missed while away").await;
    // Longer than a node takes to leave once nothing holds it.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let mut early = EventSocket::resume_url(
        &sandbox.node(2).websocket_url(),
        &bob_token,
        &early_id,
        early_next,
    )
    .await;
    early
        .wait_for_matching("posted", |event| {
            chorus_testkit::socket::post_of(event)["id"] == missed.as_str()
        })
        .await;
    let names: Vec<&str> = early
        .history
        .iter()
        .map(|event| event["event"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["channel_updated", "posted"], "{:?}", early.history);
    assert_eq!(early.history[0]["seq"], early_next);

    sandbox
        .node(0)
        .wait_for_exit(Duration::from_secs(30))
        .await
        .expect("node 0 exits after its drain");
    let late = EventSocket::connect_url(
        &format!(
            "{}?connection_id={late_id}&sequence_number={late_next}",
            sandbox.node(2).websocket_url()
        ),
        &bob_token,
    )
    .await;
    assert_ne!(late.connection_id(), late_id, "told to resync");
}

/// Bob's socket is on node A and node C restarts after it connected; A is killed. Bob
/// resumes on C, which has no checkpoints of that socket: it rebuilds it from the database
/// with node B's record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_of_a_killed_node_resumes_on_a_node_restarted_since_it_connected() {
    let (sandbox, admin_token, bob_token, channel_id) =
        cluster_with_a_channel(3, "restart-rebuild").await;
    let admin = sandbox.node(1).api().with_token(&admin_token);
    let mut bob = EventSocket::connect_url(&sandbox.node(0).websocket_url(), &bob_token).await;
    post_message(&admin, &channel_id, "seen").await;
    bob.wait_for("posted").await;
    sandbox.restart(2, &admin_token).await;

    kill_node_0_and_resume_on(
        &sandbox,
        &admin,
        &admin_token,
        bob,
        &bob_token,
        &channel_id,
        2,
    )
    .await;
}

/// A post stored by a node that died before publishing it (inserted here straight into the
/// database, as such a node leaves it) still reaches clients, before the next post of its
/// channel: that one names it as its predecessor, and a node that does not get it in time
/// reads it from the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_whose_node_died_before_publishing_it_reaches_clients_in_order() {
    let (sandbox, admin_token, bob_token, channel_id) =
        cluster_with_a_channel(2, "order-orphan").await;
    let admin = sandbox.node(1).api().with_token(&admin_token);
    let admin_id = admin.get("/users/me").await.expect_status(200)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut bob = EventSocket::connect_url(&sandbox.node(0).websocket_url(), &bob_token).await;
    post_message(&admin, &channel_id, "first").await;
    bob.wait_for("posted").await;

    let orphan = chorus_model::new_id();
    sandbox
        .database()
        .psql(&format!(
            "BEGIN; \
                 INSERT INTO posts (id, createat, updateat, editat, deleteat, ispinned, userid, \
                 channelid, rootid, originalid, message, type, props, hashtags, fileids, \
                 hasreactions, replycount, lastreplyat, pendingpostid) \
                 SELECT '{orphan}', lastpostat + 1, lastpostat + 1, 0, 0, false, '{admin_id}', \
                 id, '', '', 'stored, never published', '', '{{}}', '', '[]', false, 0, 0, '' \
                 FROM channels WHERE id = '{channel_id}'; \
                 UPDATE channels SET lastpostat = lastpostat + 1 WHERE id = '{channel_id}'; \
                 COMMIT;"
        ))
        .expect("a post stored without its event");
    let next = post_message(&admin, &channel_id, "next").await;

    let received = bob.events_within(Duration::from_secs(3)).await;
    assert_eq!(posted_ids(&received), vec![orphan, next]);
}

/// Bob's socket is on node A; node B restarts after it connected, so B never saw how it
/// started, and no other node is left to tell B when A is killed: A gave B its records when B
/// joined, and B rebuilds the connection from the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_joins_gets_the_records_of_its_peers_websockets() {
    let (sandbox, admin_token, bob_token, channel_id) =
        cluster_with_a_channel(2, "join-records").await;
    let admin = sandbox.node(1).api().with_token(&admin_token);
    let mut bob = EventSocket::connect_url(&sandbox.node(0).websocket_url(), &bob_token).await;
    post_message(&admin, &channel_id, "seen").await;
    bob.wait_for("posted").await;
    sandbox.restart(1, &admin_token).await;
    let admin = sandbox.node(1).api().with_token(&admin_token);

    kill_node_0_and_resume_on(
        &sandbox,
        &admin,
        &admin_token,
        bob,
        &bob_token,
        &channel_id,
        1,
    )
    .await;
}

/// Bob's socket on node 0 drops, a post is made while he is away, node 0 is killed, and Bob
/// resumes on node `survivor`: he gets the missed post, then a live one, numbered from his
/// `sequence_number`, without a `hello`.
async fn kill_node_0_and_resume_on(
    sandbox: &Sandbox,
    admin: &Api,
    admin_token: &str,
    bob: EventSocket,
    bob_token: &str,
    channel_id: &str,
    survivor: usize,
) {
    let (connection_id, next_seq) = (bob.connection_id(), bob.last_seq() + 1);
    drop(bob);
    let missed = post_message(admin, channel_id, "missed while away").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    sandbox.node(0).kill();
    sandbox
        .wait_for_live_nodes(admin_token, sandbox.nodes().len() - 1)
        .await;

    let mut resumed = EventSocket::resume_url(
        &sandbox.node(survivor).websocket_url(),
        bob_token,
        &connection_id,
        next_seq,
    )
    .await;
    let after = post_message(admin, channel_id, "after the resume").await;
    resumed
        .wait_for_matching("posted", |event| {
            chorus_testkit::socket::post_of(event)["id"] == after.as_str()
        })
        .await;
    assert!(
        resumed
            .history
            .iter()
            .all(|event| event["event"] != "hello"),
        "resumed, not resynced: {:?}",
        resumed.history
    );
    assert_eq!(posted_ids(&resumed.history), vec![missed, after]);
    assert_eq!(resumed.history[0]["seq"], next_seq);
}

/// The frames a client must get, without their `seq` and without the events a busy connection
/// may skip (typing, status, channel viewed).
fn frames_that_matter(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .filter(|event| {
            !matches!(
                event["event"].as_str(),
                Some(
                    "hello"
                        | "typing"
                        | "status_change"
                        | "channel_viewed"
                        | "multiple_channels_viewed"
                )
            )
        })
        .map(|event| {
            let mut event = event.clone();
            event
                .as_object_mut()
                .expect("an event object")
                .remove("seq");
            event
        })
        .collect()
}

/// When the database recorded what a `posted` or membership event announces.
fn recorded_at(event: &Value) -> i64 {
    match event["event"].as_str() {
        Some("posted") => chorus_testkit::socket::post_of(event)["create_at"].as_i64(),
        _ => event["data"]["changed_at"].as_i64(),
    }
    .unwrap_or_else(|| panic!("no time in {event}"))
}

/// `frames` in a canonical order among those the hub may deliver: it keeps the publish order
/// of events to the same user, channel or team, but events of one change sent to different
/// channels (a team leave's `user_removed`s) may arrive in any order.
fn canonical_order(frames: &[Value]) -> Vec<Value> {
    let routing_key = |event: &Value| {
        let broadcast = &event["broadcast"];
        ["user_id", "channel_id", "team_id"]
            .into_iter()
            .map(|field| broadcast[field].as_str().unwrap_or_default().to_string())
            .find(|id| !id.is_empty())
            .unwrap_or_default()
    };
    let mut ordered = frames.to_vec();
    ordered.sort_by_key(|event| (recorded_at(event), routing_key(event)));
    ordered
}

/// In a reconnect storm the rebuilds of a dead node's connections are read from the database
/// together (`relay::rebuild_reads`): each client must still get exactly its own channels'
/// posts, and a change that cannot be rebuilt for one user must resync that user only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_of_a_killed_node_resuming_together_each_get_exactly_their_own_missed_posts() {
    let sandbox = cluster_of(2).await;
    let (node_a, node_b) = (sandbox.node(0), sandbox.node(1));
    let (admin_token, bob_token, bobs_channel) = team_with_a_channel(node_b, "together").await;
    let admin = node_b.api().with_token(&admin_token);
    let team_id = admin
        .get(&format!("/channels/{bobs_channel}"))
        .await
        .expect_status(200)["team_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (carol_id, carol_token) = sign_up(&node_b.api(), "together-carol").await;
    let (dave_id, dave_token) = sign_up(&node_b.api(), "together-dave").await;
    for user_id in [&carol_id, &dave_id] {
        add_to_team(&admin, &team_id, user_id).await;
    }
    let carols_channel = admin
        .post(
            "/channels",
            json!({"team_id": team_id, "name": "together-carol-room", "display_name": "Carol's", "type": "P"}),
        )
        .await
        .expect_status(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    add_to_channel(&admin, &carols_channel, &carol_id).await;
    add_to_channel(&admin, &bobs_channel, &dave_id).await;
    wait_until(Duration::from_secs(15), "two live nodes", || async {
        let status = cluster_status(&admin).await;
        status.len() == 2 && status.iter().all(|node| node["alive"] == true)
    })
    .await;

    // Three connections each on node A; each has seen a post of its channel, then drops.
    let mut connections = Vec::new();
    for (who, token, channel_id) in [
        ("bob", &bob_token, &bobs_channel),
        ("carol", &carol_token, &carols_channel),
        ("dave", &dave_token, &bobs_channel),
    ] {
        for _ in 0..3 {
            let socket = EventSocket::connect_url(&node_a.websocket_url(), token).await;
            connections.push((who, token.clone(), channel_id.clone(), socket));
        }
    }
    let seen_bob = post_message(&admin, &bobs_channel, "seen in bob's").await;
    let seen_carol = post_message(&admin, &carols_channel, "seen in carol's").await;
    let mut dropped = Vec::new();
    for (who, token, channel_id, mut socket) in connections {
        let seen = if channel_id == bobs_channel {
            &seen_bob
        } else {
            &seen_carol
        };
        socket
            .wait_for_matching("posted", |event| {
                chorus_testkit::socket::post_of(event)["id"] == seen.as_str()
            })
            .await;
        dropped.push((
            who,
            token,
            channel_id,
            socket.connection_id(),
            socket.last_seq() + 1,
        ));
    }

    // Missed while away (queued on node A, which dies), and after the crash.
    let mut missed: std::collections::HashMap<String, Vec<String>> = Default::default();
    for (channel_id, text) in [
        (&bobs_channel, "bob's, missed"),
        (&carols_channel, "carol's, missed"),
        (&bobs_channel, "bob's, missed again"),
    ] {
        let post = post_message(&admin, channel_id, text).await;
        missed.entry(channel_id.clone()).or_default().push(post);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    node_a.kill();
    wait_until(Duration::from_secs(15), "node A seen dead", || async {
        cluster_status(&admin)
            .await
            .iter()
            .any(|node| node["alive"] == false)
    })
    .await;
    for (channel_id, text) in [
        (&carols_channel, "carol's, after the crash"),
        (&bobs_channel, "bob's, after the crash"),
    ] {
        let post = post_message(&admin, channel_id, text).await;
        missed.entry(channel_id.clone()).or_default().push(post);
    }
    // Dave's preferences change after the crash: his event of it cannot be rebuilt.
    node_b
        .api()
        .with_token(&dave_token)
        .put(
            &format!("/users/{dave_id}/preferences"),
            json!([{"user_id": dave_id, "category": "display_settings", "name": "use_military_time", "value": "true"}]),
        )
        .await
        .expect_status(200);

    // All nine come back at once.
    let url = node_b.websocket_url();
    let resumes = dropped
        .iter()
        .map(|(who, token, _, connection_id, next_seq)| {
            let url = url.clone();
            async move {
                if *who == "dave" {
                    let resynced = EventSocket::connect_url(
                        &format!("{url}?connection_id={connection_id}&sequence_number={next_seq}"),
                        token,
                    )
                    .await;
                    assert_ne!(
                        &resynced.connection_id(),
                        connection_id,
                        "dave's preferences changed after the crash: he resyncs"
                    );
                    None
                } else {
                    Some(EventSocket::resume_url(&url, token, connection_id, *next_seq).await)
                }
            }
        });
    let resumed = futures_util::future::join_all(resumes).await;

    let live_bob = post_message(&admin, &bobs_channel, "bob's, live").await;
    let live_carol = post_message(&admin, &carols_channel, "carol's, live").await;
    for ((who, _, channel_id, _, next_seq), socket) in dropped.iter().zip(resumed) {
        let Some(mut socket) = socket else { continue };
        let live = if *channel_id == bobs_channel {
            &live_bob
        } else {
            &live_carol
        };
        socket
            .wait_for_matching("posted", |event| {
                chorus_testkit::socket::post_of(event)["id"] == live.as_str()
            })
            .await;
        let mut expected = missed[channel_id].clone();
        expected.push(live.clone());
        assert_eq!(
            posted_ids(&socket.history),
            expected,
            "{who} gets exactly the posts of their own channel, once, in order"
        );
        assert_eq!(socket.history[0]["seq"], *next_seq, "{who} resumed exactly");
    }
}

async fn add_to_team(api: &Api, team_id: &str, user_id: &str) {
    api.post(
        &format!("/teams/{team_id}/members"),
        json!({"team_id": team_id, "user_id": user_id}),
    )
    .await
    .expect_status(201);
}

async fn add_to_channel(api: &Api, channel_id: &str, user_id: &str) {
    api.post(
        &format!("/channels/{channel_id}/members"),
        json!({"user_id": user_id}),
    )
    .await
    .expect_status(201);
}

async fn remove_from_channel(api: &Api, channel_id: &str, user_id: &str) {
    api.delete(&format!("/channels/{channel_id}/members/{user_id}"))
        .await
        .expect_status(200);
}

/// Bob's socket is on node A, which dies while Bob is away; meanwhile Bob is added to a
/// channel and removed from another (each with posts before and after), Carol joins and
/// leaves a channel they share and then leaves the team, and Bob is added to a second team.
/// Bob resumes on node B and gets exactly the frames that a second connection of his, on B
/// throughout, received: the membership events, and the posts of each channel only while he
/// was a member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_of_a_killed_node_resumes_with_the_membership_changes_it_missed() {
    let sandbox = cluster_of(2).await;
    let (node_a, node_b) = (sandbox.node(0), sandbox.node(1));
    let (admin_token, bob_token, joined_later) = team_with_a_channel(node_b, "members").await;
    let admin = node_b.api().with_token(&admin_token);
    let (carol_id, carol_token) = sign_up(&node_b.api(), "members-carol").await;
    let carol = node_b.api().with_token(&carol_token);
    let bob_id = node_b
        .api()
        .with_token(&bob_token)
        .get("/users/me")
        .await
        .expect_status(200)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let channel = admin
        .get(&format!("/channels/{joined_later}"))
        .await
        .expect_status(200);
    let team_id = channel["team_id"].as_str().unwrap().to_string();
    remove_from_channel(&admin, &joined_later, &bob_id).await;
    admin
        .post(
            &format!("/teams/{team_id}/members"),
            json!({"team_id": team_id, "user_id": carol_id}),
        )
        .await
        .expect_status(201);
    let create_channel = |name: &'static str, channel_type: &'static str| {
        let admin = admin.clone();
        let team_id = team_id.clone();
        async move {
            let channel = admin
                .post(
                    "/channels",
                    json!({"team_id": team_id, "name": name, "display_name": name, "type": channel_type}),
                )
                .await
                .expect_status(201);
            channel["id"].as_str().unwrap().to_string()
        }
    };
    let left_later = create_channel("members-left", "P").await;
    let shared = create_channel("members-shared", "O").await;
    for channel_id in [&left_later, &shared] {
        add_to_channel(&admin, channel_id, &bob_id).await;
    }
    let second_team = admin
        .post(
            "/teams",
            json!({"name": "members-second", "display_name": "Second", "type": "O"}),
        )
        .await
        .expect_status(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let second_square = admin
        .get(&format!("/teams/{second_team}/channels/name/town-square"))
        .await
        .expect_status(200)["id"]
        .as_str()
        .unwrap()
        .to_string();
    sandbox.wait_for_live_nodes(&admin_token, 2).await;

    // Bob's socket on A and a control connection of his on B see the same first post.
    let mut bob = EventSocket::connect_url(&node_a.websocket_url(), &bob_token).await;
    let mut control = EventSocket::connect_url(&node_b.websocket_url(), &bob_token).await;
    let seen = post_message(&admin, &shared, "seen by both").await;
    for socket in [&mut bob, &mut control] {
        socket
            .wait_for_matching("posted", |event| {
                chorus_testkit::socket::post_of(event)["id"] == seen.as_str()
            })
            .await;
    }
    let (connection_id, next_seq) = (bob.connection_id(), bob.last_seq() + 1);
    drop(bob);

    // While Bob is away, before node A dies: queued for him there.
    post_message(&admin, &joined_later, "before Bob joined").await;
    add_to_channel(&admin, &joined_later, &bob_id).await;
    post_message(&admin, &joined_later, "after Bob joined").await;
    post_message(&admin, &left_later, "before Bob was removed").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    node_a.kill();
    wait_until(Duration::from_secs(15), "node A seen dead", || async {
        cluster_status(&admin)
            .await
            .iter()
            .any(|node| node["alive"] == false)
    })
    .await;

    // After node A is gone.
    remove_from_channel(&admin, &left_later, &bob_id).await;
    post_message(&admin, &left_later, "after Bob was removed").await;
    add_to_channel(&carol, &shared, &carol_id).await;
    post_message(&carol, &shared, "Carol was here").await;
    remove_from_channel(&carol, &shared, &carol_id).await;
    add_to_channel(&carol, &shared, &carol_id).await;
    admin
        .delete(&format!("/teams/{team_id}/members/{carol_id}"))
        .await
        .expect_status(200);
    admin
        .post(
            &format!("/teams/{second_team}/members"),
            json!({"team_id": second_team, "user_id": bob_id}),
        )
        .await
        .expect_status(201);
    let welcome = post_message(&admin, &second_square, "welcome to the second team").await;
    // Events of different channels may reach a live client in either order: the control
    // takes in everything of the gap before the live post is made.
    let mut expected = control
        .events_until("posted", |event| {
            chorus_testkit::socket::post_of(event)["id"] == welcome.as_str()
        })
        .await;

    let mut resumed = EventSocket::resume_url(
        &node_b.websocket_url(),
        &bob_token,
        &connection_id,
        next_seq,
    )
    .await;
    let live = post_message(&admin, &shared, "after the resume").await;
    let is_live = |event: &Value| chorus_testkit::socket::post_of(event)["id"] == live.as_str();
    expected.extend(control.events_until("posted", is_live).await);
    let received = resumed.events_until("posted", is_live).await;
    let names: Vec<&str> = expected
        .iter()
        .filter_map(|event| event["event"].as_str())
        .collect();
    for name in ["user_added", "user_removed", "added_to_team", "leave_team"] {
        assert!(
            names.contains(&name),
            "the scenario publishes {name}: {names:?}"
        );
    }
    let (received_frames, expected_frames) =
        (frames_that_matter(&received), frames_that_matter(&expected));
    let times: Vec<i64> = received_frames.iter().map(recorded_at).collect();
    assert!(
        times.is_sorted(),
        "replayed in the order the database recorded them: {times:?}"
    );
    assert_eq!(
        canonical_order(&received_frames),
        canonical_order(&expected_frames),
        "the resumed connection gets what the live one got"
    );
    let seqs: Vec<i64> = received
        .iter()
        .map(|event| event["seq"].as_i64().unwrap())
        .collect();
    let continuing: Vec<i64> = (next_seq..next_seq + seqs.len() as i64).collect();
    assert_eq!(
        seqs, continuing,
        "numbered on from the client's sequence_number"
    );
    assert!(resumed
        .events_within(Duration::from_millis(500))
        .await
        .is_empty());
}

/// Node `node`'s `chorus_cluster_posts_forwarded` counters: (full, passed).
async fn posts_forwarded(node: &SandboxNode) -> (f64, f64) {
    let text = reqwest::get(node.metrics_url())
        .await
        .expect("the metrics endpoint")
        .text()
        .await
        .expect("metrics text");
    let value = |form: &str| {
        text.lines()
            .find(|line| {
                line.starts_with("chorus_cluster_posts_forwarded")
                    && line.contains(&format!("form=\"{form}\""))
            })
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (value("full"), value("passed"))
}

/// Posts go in full only to the nodes whose websocket clients want their channel; the others
/// are only told of them. Bob's connection is on node 2: node 0 sends the channel's posts in
/// full to node 2 and passed to node 1, and Bob gets every post of every node once, in
/// order. Then Bob is added to a second channel while posts pour into it through every node:
/// what his websocket brings after `user_added`, with the posts a client reads then, is every
/// post — none falls between node 2 asking for the channel and the others hearing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_go_in_full_only_to_nodes_whose_clients_want_them_and_none_is_lost() {
    let sandbox = cluster_builder(3)
        .configure(|config| config.metrics_settings.enable = true)
        .start()
        .await;
    let (admin_token, bob_token, channel_id) =
        team_with_a_channel(sandbox.node(1), "interest").await;
    sandbox.wait_for_live_nodes(&admin_token, 3).await;
    let admins: Vec<Api> = (0..3)
        .map(|index| sandbox.node(index).api().with_token(&admin_token))
        .collect();
    let mut bob = EventSocket::connect_url(&sandbox.node(2).websocket_url(), &bob_token).await;

    wait_until(
        Duration::from_secs(15),
        "node 0 sends the channel's posts in full to node 2 only",
        || async {
            let before = posts_forwarded(sandbox.node(0)).await;
            post_message(&admins[0], &channel_id, "probe").await;
            let after = posts_forwarded(sandbox.node(0)).await;
            after.0 - before.0 == 1.0 && after.1 - before.1 == 1.0
        },
    )
    .await;
    bob.events_within(Duration::from_millis(300)).await;
    let from = bob.history.len();
    let mut expected = Vec::new();
    for round in 0..5 {
        for (index, admin) in admins.iter().enumerate() {
            expected.push(post_message(admin, &channel_id, &format!("{round} via {index}")).await);
        }
    }
    let last = expected.last().unwrap().clone();
    bob.wait_for_matching("posted", |event| {
        chorus_testkit::socket::post_of(event)["id"] == last.as_str()
    })
    .await;
    assert_eq!(
        posted_ids(&bob.history[from..]),
        expected,
        "every post once, in order"
    );

    // A second channel, which no node's client wants yet, gets posts from every node while
    // Bob is added to it through node 1.
    let team_id = admins[0]
        .get(&format!("/channels/{channel_id}"))
        .await
        .expect_status(200)["team_id"]
        .as_str()
        .unwrap()
        .to_string();
    let second = admins[0]
        .post(
            "/channels",
            json!({"team_id": team_id, "name": "interest-second", "display_name": "Second", "type": "O"}),
        )
        .await
        .expect_status(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bob_id = sandbox
        .node(2)
        .api()
        .with_token(&bob_token)
        .get("/users/me")
        .await
        .expect_status(200)["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Posts through nodes 0 and 1 until 10 more are made after Bob's read.
    let (read_done, posters) = pour_posts(vec![admins[0].clone(), admins[1].clone()], &second);
    tokio::time::sleep(Duration::from_millis(100)).await;
    admins[1]
        .post(
            &format!("/channels/{second}/members"),
            json!({"user_id": bob_id}),
        )
        .await
        .expect_status(201);
    bob.wait_for_matching("user_added", |event| {
        event["broadcast"]["channel_id"] == second.as_str()
    })
    .await;
    let after_added = bob.history.len();
    let read = channel_posts(sandbox.node(2), &bob_token, &second).await;
    read_done.store(true, std::sync::atomic::Ordering::SeqCst);
    let made = posters.await.unwrap();
    saw_every_post(&mut bob, after_added, &read, &made).await;

    // Bob opens a second connection, on node 1, which wants nothing yet: the posts pouring in
    // through node 0 before node 0 hears that node 1 wants the channel are passed to node 1,
    // which reads them from the database for Bob.
    let (read_done, posters) = pour_posts(vec![admins[0].clone()], &channel_id);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut bob_on_1 = EventSocket::connect_url(&sandbox.node(1).websocket_url(), &bob_token).await;
    let read = channel_posts(sandbox.node(1), &bob_token, &channel_id).await;
    read_done.store(true, std::sync::atomic::Ordering::SeqCst);
    let made = posters.await.unwrap();
    saw_every_post(&mut bob_on_1, 1, &read, &made).await;
}

/// The channel's posts as its member with `token` reads them through `node` (a post list).
async fn channel_posts(node: &SandboxNode, token: &str, channel_id: &str) -> Value {
    node.api()
        .with_token(token)
        .get(&format!("/channels/{channel_id}/posts?per_page=200"))
        .await
        .expect_status(200)
}

/// Posts into `channel_id` through `admins` in turn until 10 are made after the returned flag
/// is set; the task returns the ids of the posts made, in order.
fn pour_posts(
    admins: Vec<Api>,
    channel_id: &str,
) -> (
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    tokio::task::JoinHandle<Vec<String>>,
) {
    let read_done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = read_done.clone();
    let channel_id = channel_id.to_string();
    let posters = tokio::spawn(async move {
        let mut made = Vec::new();
        let mut after_read = 0;
        while after_read < 10 {
            if flag.load(std::sync::atomic::Ordering::SeqCst) {
                after_read += 1;
            }
            let admin = &admins[made.len() % admins.len()];
            let round = made.len();
            made.push(post_message(admin, &channel_id, &format!("pouring {round}")).await);
        }
        made
    });
    (read_done, posters)
}

/// A client's view of a channel is the posts it read over REST (`read`, a post list) and
/// the `posted` events after it started listening (`socket.history[from..]`): together they
/// must hold every post `made`, the live ones in the order they were made.
async fn saw_every_post(socket: &mut EventSocket, from: usize, read: &Value, made: &[String]) {
    let last = made.last().unwrap().clone();
    socket
        .wait_for_matching("posted", |event| {
            chorus_testkit::socket::post_of(event)["id"] == last.as_str()
        })
        .await;
    let live = posted_ids(&socket.history[from..]);
    let mut sorted = live.clone();
    sorted.sort_by_key(|id| made.iter().position(|made| made == id));
    assert_eq!(live, sorted, "live posts in the order they were made");
    let seen: std::collections::HashSet<String> = read["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_string())
        .chain(live)
        .collect();
    let missing: Vec<&String> = made.iter().filter(|id| !seen.contains(*id)).collect();
    assert!(missing.is_empty(), "posts Bob never saw: {missing:?}");
}

//! The seeds' operator procedures, performed step by step on real `chorus` processes behind a
//! real NGINX whose upstream block is edited and reloaded as an operator does
//! (docs/operations.md, "Runbooks", walks through each with Chorus's commands):
//! adding and removing a server, updating the servers while operating continuously, and
//! changing config.json while operating continuously. Each checks the High Availability status
//! the seeds say to verify: every remaining node green.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use chorus_testkit::client::Api;
use chorus_testkit::nginx::UPSTREAM_HEADER;
use chorus_testkit::{Endpoint, Sandbox};

use crate::cluster::{sign_up, wait_until};

fn three_processes_behind_nginx() -> chorus_testkit::SandboxBuilder {
    Sandbox::builder()
        .nodes(3)
        .processes(env!("CARGO_BIN_EXE_chorus"))
        .nginx()
        .configure(|config| {
            config.log_settings.console_level = "WARN".to_string();
            config.cluster_settings.read_only_config = false;
        })
}

fn addresses(sandbox: &Sandbox, indexes: &[usize]) -> Vec<SocketAddr> {
    indexes
        .iter()
        .map(|index| sandbox.node(*index).address())
        .collect()
}

/// "System Console > Environment > High Availability": the nodes listed, each green (alive,
/// ready, same config and version).
async fn green_nodes(admin: &Api) -> Vec<String> {
    let status = admin.get("/cluster/status").await;
    if status.status != 200 {
        return Vec::new();
    }
    status
        .json
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|node| {
            node["alive"] == true
                && node["ready"] == true
                && node["config_mismatch"] == false
                && node["version_mismatch"] == false
        })
        .map(|node| node["api_address"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn listed_nodes(admin: &Api) -> usize {
    let status = admin.get("/cluster/status").await;
    status.json.as_array().map(Vec::len).unwrap_or_default()
}

/// The nodes that answered `requests` GETs through NGINX.
async fn answering_nodes(api: &Api, requests: usize) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..requests {
        let reply = api.get("/system/ping").await;
        if let Some(upstream) = reply.header(UPSTREAM_HEADER) {
            let last = upstream.rsplit(", ").next().unwrap_or(upstream).to_string();
            if !seen.contains(&last) {
                seen.push(last);
            }
        }
    }
    seen.sort();
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_server_and_removing_one_as_the_seeds_describe() {
    let sandbox = three_processes_behind_nginx().start().await;
    let nginx = sandbox.nginx().expect("NGINX");
    // The cluster as it was: two servers behind NGINX; the third is the new machine.
    nginx
        .set_upstreams(&addresses(&sandbox, &[0, 1]))
        .await
        .unwrap();
    sandbox.node(2).stop().await.unwrap();
    let through_nginx = sandbox.anonymous();
    let (_, token) = sign_up(&through_nginx, "runbook-admin").await;
    let admin = through_nginx.with_token(&token);
    wait_until(Duration::from_secs(20), "two green nodes", || async {
        green_nodes(&admin).await.len() == 2 && listed_nodes(&admin).await == 2
    })
    .await;

    // Add a server: same config.json; it works on its own address; NGINX gets it; all green.
    sandbox.node(2).restart().await.unwrap();
    sandbox
        .node(2)
        .api()
        .get("/system/ping")
        .await
        .expect_status(200);
    nginx
        .set_upstreams(&addresses(&sandbox, &[0, 1, 2]))
        .await
        .unwrap();
    wait_until(Duration::from_secs(20), "three green nodes", || async {
        green_nodes(&admin).await.len() == 3
    })
    .await;
    let new_node = sandbox.node(2).address().to_string();
    wait_until(
        Duration::from_secs(10),
        "NGINX to send requests to the new node",
        || async {
            answering_nodes(&through_nginx, 12)
                .await
                .contains(&new_node)
        },
    )
    .await;
    // It serves what the others wrote.
    let me = sandbox.node(2).api().with_token(&token);
    me.get("/users/me").await.expect_status(200);

    // Remove a server: out of NGINX first, then stopped; the remaining ones green, and the
    // removed one gone from the list rather than red.
    nginx
        .set_upstreams(&addresses(&sandbox, &[0, 1]))
        .await
        .unwrap();
    sandbox.node(2).stop().await.unwrap();
    wait_until(
        Duration::from_secs(20),
        "two green nodes and no third",
        || async { green_nodes(&admin).await.len() == 2 && listed_nodes(&admin).await == 2 },
    )
    .await;
    assert!(!answering_nodes(&through_nginx, 12)
        .await
        .contains(&new_node));
    sandbox.stop().await;
}

/// Posts through `api` into `channel_id` until `stop`, each retried with its pending_post_id
/// until acknowledged (as the apps do); returns the acknowledged post ids.
fn keep_posting(
    api: Api,
    channel_id: String,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<String>> {
    tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        let mut index = 0;
        while !stop.load(Ordering::SeqCst) {
            let pending_post_id = format!("{}:{index}", chorus_model::new_id());
            let body = json!({"channel_id": channel_id, "message": format!("during the update {index}"),
                              "pending_post_id": pending_post_id});
            loop {
                let reply = api
                    .try_send(api.request(reqwest::Method::POST, "/posts").json(&body))
                    .await;
                if let Ok(reply) = reply {
                    if reply.status == 201 {
                        acknowledged.push(reply.json["id"].as_str().unwrap().to_string());
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            index += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        acknowledged
    })
}

/// Every post of the channel, page by page (a page holds at most 200).
async fn channel_post_ids(api: &Api, channel_id: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for page in 0.. {
        let listed = api
            .get(&format!(
                "/channels/{channel_id}/posts?page={page}&per_page=200"
            ))
            .await
            .expect_status(200);
        let order = listed["order"].as_array().cloned().unwrap_or_default();
        if order.is_empty() {
            break;
        }
        ids.extend(order.iter().map(|id| id.as_str().unwrap().to_string()));
    }
    ids
}

async fn town_square(api: &Api, name: &str) -> String {
    let team = api
        .post(
            "/teams",
            json!({"name": name, "display_name": "Runbook", "type": "O"}),
        )
        .await
        .expect_status(201);
    let channel = api
        .get(&format!(
            "/teams/{}/channels/name/town-square",
            team["id"].as_str().unwrap()
        ))
        .await
        .expect_status(200);
    channel["id"].as_str().unwrap().to_string()
}

/// "Update the Server version while operating continuously": NGINX to one server, the others
/// shut down, updated (here: the same binary started again — one version is built here) and
/// started, NGINX back to all, then the one left running. People keep posting through NGINX
/// the whole time; every acknowledged post is stored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updating_the_servers_while_operating_continuously_loses_no_post() {
    let sandbox = three_processes_behind_nginx().start().await;
    let nginx = sandbox.nginx().expect("NGINX");
    let through_nginx = sandbox.anonymous();
    let (_, token) = sign_up(&through_nginx, "update-admin").await;
    let admin = through_nginx.with_token(&token);
    let channel_id = town_square(&admin, "update-team").await;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = keep_posting(admin.clone(), channel_id.clone(), stop.clone());

    tokio::time::sleep(Duration::from_secs(1)).await;
    nginx
        .set_upstreams(&addresses(&sandbox, &[0]))
        .await
        .unwrap();
    for index in [1, 2] {
        sandbox.node(index).stop().await.unwrap();
    }
    for index in [1, 2] {
        sandbox.node(index).restart().await.unwrap();
    }
    nginx
        .set_upstreams(&addresses(&sandbox, &[1, 2]))
        .await
        .unwrap();
    sandbox.node(0).stop().await.unwrap();
    sandbox.node(0).restart().await.unwrap();
    nginx
        .set_upstreams(&addresses(&sandbox, &[0, 1, 2]))
        .await
        .unwrap();
    wait_until(Duration::from_secs(20), "three green nodes", || async {
        green_nodes(&admin).await.len() == 3
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    let acknowledged = writer.await.unwrap();

    let stored = channel_post_ids(&admin, &channel_id).await;
    assert!(
        acknowledged.len() >= 20,
        "posts kept flowing: {}",
        acknowledged.len()
    );
    for post_id in &acknowledged {
        assert_eq!(
            stored.iter().filter(|id| *id == post_id).count(),
            1,
            "acknowledged post {post_id} stored once"
        );
    }
    println!(
        "rolling update through NGINX: {} posts acknowledged, all stored once",
        acknowledged.len()
    );
    sandbox.stop().await;
}

/// "Update configuration changes while operating continuously": config.json changed on one
/// server and copied to the others, all but one shut down, "Reload Configuration from Disk" on
/// the one running, the others started: every node green with the change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_config_json_while_operating_continuously_as_the_seeds_describe() {
    let sandbox = three_processes_behind_nginx().start().await;
    let through_nginx = sandbox.anonymous();
    let (_, token) = sign_up(&through_nginx, "config-runbook").await;
    let admin = through_nginx.with_token(&token);

    // Edit node 0's file, then copy the change into the others' (their node-local keys stay).
    let edit = |path: &std::path::Path| {
        let mut tree: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        tree["TeamSettings"]["SiteName"] = json!("Chorus, edited on disk");
        std::fs::write(path, serde_json::to_vec_pretty(&tree).unwrap()).unwrap();
    };
    for node in sandbox.nodes() {
        edit(&node.config_path());
    }
    for index in [1, 2] {
        sandbox.node(index).stop().await.unwrap();
    }
    let on_node_0 = sandbox.node(0).api().with_token(&token);
    on_node_0
        .post("/config/reload", json!({}))
        .await
        .expect_status(200);
    for index in [1, 2] {
        sandbox.node(index).restart().await.unwrap();
    }
    wait_until(Duration::from_secs(20), "three green nodes", || async {
        green_nodes(&admin).await.len() == 3
    })
    .await;
    for node in sandbox.nodes() {
        let config = node
            .api()
            .get("/config/client?format=old")
            .await
            .expect_status(200);
        assert_eq!(config["SiteName"], "Chorus, edited on disk");
    }
    sandbox.stop().await;
}

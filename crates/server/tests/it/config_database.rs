//! The configuration kept in the database (`--config postgres://…`), as Mattermost allows: every
//! node of a cluster of real `chorus` processes reads the same row, with its node-local keys
//! from its own environment; a change made through one node reaches the others by a cluster
//! message, a change the message never announced by the poll, and `chorus config migrate`
//! moves a configuration between a file and the database.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use chorus_app::CONFIG_POLL;
use chorus_testkit::client::{Api, PASSWORD};
use chorus_testkit::{Endpoint, Sandbox};

use crate::chorusctl::{chorusctl_binary, Ctl};
use crate::cluster::{sign_up, wait_until};

const CHORUS: &str = env!("CARGO_BIN_EXE_chorus");

fn chorus(args: &[&str]) -> std::process::Output {
    let output = std::process::Command::new(CHORUS)
        .args(args)
        .env_remove("MM_CONFIG")
        .output()
        .expect("running chorus");
    assert!(
        output.status.success(),
        "chorus {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

async fn site_name(api: &Api) -> String {
    let config = api
        .get("/config/client?format=old")
        .await
        .expect_status(200);
    config["SiteName"].as_str().unwrap_or_default().to_string()
}

async fn configuration_rows(database_url: &str) -> (i64, i64) {
    let (client, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls)
        .await
        .expect("connecting to the sandbox database");
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE active) FROM configurations",
            &[],
        )
        .await
        .expect("counting configurations");
    (row.get(0), row.get(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_runs_the_configuration_in_the_database_and_a_change_reaches_all_at_once() {
    // The sandbox's database holds the configuration too: its URL is known once it runs, and
    // the first node's launch copies node 0's config.json into it (`chorus config migrate`).
    let dsn = Arc::new(Mutex::new(String::new()));
    let migrated = Arc::new(AtomicBool::new(false));
    let (dsn_for_config, dsn_for_hook) = (dsn.clone(), dsn.clone());
    let sandbox = Sandbox::builder()
        .nodes(3)
        .processes(CHORUS)
        .configure_with_database(move |config, database| {
            config.log_settings.console_level = "WARN".to_string();
            config.cluster_settings.read_only_config = false;
            *dsn_for_config.lock().unwrap() = database.primary_url();
        })
        .spawn_hook(move |_, command| {
            let directory = command
                .get_current_dir()
                .expect("node processes run in their own directory")
                .to_path_buf();
            let config_file = directory.join("config.json");
            let dsn = dsn_for_hook.lock().unwrap().clone();
            if !migrated.swap(true, Ordering::SeqCst) {
                chorus(&["config", "migrate", path_str(&config_file), &dsn]);
            }
            // This node's own keys, from its config.json, as operators would set them.
            let node_env = chorus(&["--config", path_str(&config_file), "config", "node-env"]);
            for line in String::from_utf8_lossy(&node_env.stdout).lines() {
                let assignment = line.strip_prefix("export ").expect("export lines");
                let (name, value) = assignment.split_once('=').expect("NAME=value");
                command.env(name, value.trim_matches('\''));
            }
            command.env("MM_CONFIG", &dsn);
            Ok(Box::new(()))
        })
        .start()
        .await;
    let dsn = dsn.lock().unwrap().clone();
    let (_, admin_token) = sign_up(&sandbox.anonymous(), "config-admin").await;
    let admins: Vec<Api> = sandbox
        .nodes()
        .iter()
        .map(|node| node.api().with_token(&admin_token))
        .collect();

    // One configuration, one hash, every node green.
    wait_until(Duration::from_secs(20), "three live nodes", || async {
        let status = admins[0].get("/cluster/status").await.expect_status(200);
        let nodes = status.as_array().cloned().unwrap_or_default();
        nodes.len() == 3 && nodes.iter().all(|node| node["alive"] == true)
    })
    .await;
    let status = admins[0].get("/cluster/status").await.expect_status(200);
    assert!(
        status
            .as_array()
            .unwrap()
            .iter()
            .all(|node| node["config_mismatch"] == false),
        "{status:#}"
    );
    assert_eq!(configuration_rows(&dsn).await, (1, 1));

    // A change through node 0 (mmctl's `config set`) reaches nodes 1 and 2 by a cluster
    // message: well before the poll would have found it.
    let started = Instant::now();
    admins[0]
        .put(
            "/config/patch",
            json!({"TeamSettings": {"SiteName": "Chorus from the database"}}),
        )
        .await
        .expect_status(200);
    for admin in &admins[1..] {
        wait_until(CONFIG_POLL, "the change on every node", || async {
            site_name(admin).await == "Chorus from the database"
        })
        .await;
    }
    let reached_all = started.elapsed();
    println!("a config change through node 0 reached all 3 nodes in {reached_all:?}");
    assert!(
        reached_all < CONFIG_POLL / 2,
        "a change reaches the others by message, not by the poll ({reached_all:?})"
    );
    assert_eq!(configuration_rows(&dsn).await, (2, 1), "history kept");

    // The same through chorusctl, which returns once every node runs the new config hash.
    let home = tempfile::tempdir().unwrap();
    let ctl = Ctl {
        binary: chorusctl_binary(),
        config: home.path().join("chorusctl-config"),
    };
    let password_file = home.path().join("password");
    std::fs::write(&password_file, PASSWORD).unwrap();
    ctl.ok(&[
        "auth",
        "login",
        &sandbox.node(1).base_url(),
        "--name",
        "db",
        "--username",
        "config-admin",
        "--password-file",
        path_str(&password_file),
    ])
    .await;
    let started = Instant::now();
    ctl.ok(&["config", "set", "TeamSettings.SiteName", "Set by chorusctl"])
        .await;
    println!(
        "chorusctl config set returned with all 3 nodes on the new config after {:?}",
        started.elapsed()
    );
    for admin in &admins {
        assert_eq!(site_name(admin).await, "Set by chorusctl");
    }

    // A row saved behind the nodes' backs (no message): found by the poll.
    let exported = tempfile::tempdir().unwrap();
    let file = exported.path().join("config.json");
    chorus(&["config", "migrate", &dsn, path_str(&file)]);
    let mut tree: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(tree["TeamSettings"]["SiteName"], "Set by chorusctl");
    tree["TeamSettings"]["SiteName"] = json!("Chorus edited offline");
    std::fs::write(&file, serde_json::to_vec_pretty(&tree).unwrap()).unwrap();
    chorus(&["config", "migrate", path_str(&file), &dsn]);
    for admin in &admins {
        wait_until(CONFIG_POLL * 3, "the poll to find the new row", || async {
            site_name(admin).await == "Chorus edited offline"
        })
        .await;
    }

    // A restarted node starts from the database; reload works as with a file.
    sandbox.node(2).stop().await.expect("stopping node 2");
    sandbox.node(2).restart().await.expect("restarting node 2");
    assert_eq!(site_name(&admins[2]).await, "Chorus edited offline");
    admins[1]
        .post("/config/reload", json!({}))
        .await
        .expect_status(200);
    let status = admins[1].get("/cluster/status").await.expect_status(200);
    assert!(
        status
            .as_array()
            .unwrap()
            .iter()
            .all(|node| node["config_mismatch"] == false),
        "{status:#}"
    );
    sandbox.stop().await;
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

//! What an operator runs and watches: the config hash cluster status compares, process limits,
//! 3.x static peers, Prometheus metrics and the Grafana dashboard, logs.

use std::time::Duration;

use serde_json::Value;

use chorus_testkit::client::Api;
use chorus_testkit::{Endpoint, Sandbox, SandboxBuilder};

use crate::cluster::{sign_up, wait_until};

/// `node_count` real `chorus` processes behind NGINX, as scripts/up.sh runs them: each node
/// with its own ListenAddress, gossip port and hostname in its own config.json.
fn cluster_builder(node_count: usize) -> SandboxBuilder {
    Sandbox::builder()
        .nodes(node_count)
        .processes(env!("CARGO_BIN_EXE_chorus"))
        .nginx()
        .configure(|config| config.log_settings.console_level = "WARN".to_string())
}

async fn cluster_status(api: &Api) -> Vec<Value> {
    api.get("/cluster/status")
        .await
        .expect_status(200)
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Invariant 7: nodes that differ only in node-local keys (ListenAddress, ClusterSettings)
/// show no mismatch; a shared key changed on one node shows as a mismatch of that node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_status_flags_a_config_difference_and_only_a_real_one() {
    let sandbox = cluster_builder(3).start().await;
    let (_, admin_token) = sign_up(&sandbox.anonymous(), "ops-admin").await;
    let admin_on_0 = sandbox.node(0).api().with_token(&admin_token);

    wait_until(Duration::from_secs(15), "three live nodes", || async {
        let status = cluster_status(&admin_on_0).await;
        status.len() == 3 && status.iter().all(|node| node["alive"] == true)
    })
    .await;
    let status = cluster_status(&admin_on_0).await;
    let hashes: Vec<&str> = status
        .iter()
        .map(|node| node["config_hash"].as_str().unwrap())
        .collect();
    assert!(
        hashes
            .iter()
            .all(|hash| *hash == hashes[0] && hash.len() == 64),
        "one config hash across the cluster: {status:#?}"
    );
    assert!(
        status.iter().all(|node| node["config_mismatch"] == false),
        "no node red: {status:#?}"
    );

    // Node 2 alone gets another MaxUsersPerTeam and reloads its config.json.
    let node_2 = sandbox.node(2);
    node_2.edit_config(|config| config["TeamSettings"]["MaxUsersPerTeam"] = 51.into());
    let admin_on_2 = node_2.api().with_token(&admin_token);
    admin_on_2
        .post("/config/reload", serde_json::json!({}))
        .await
        .expect_status(200);

    let node_2_status = |status: &[Value]| {
        status
            .iter()
            .find(|node| node["api_address"] == node_2.address().to_string())
            .cloned()
            .expect("node 2 in cluster status")
    };
    wait_until(
        Duration::from_secs(10),
        "node 2 shows red on node 0",
        || async { node_2_status(&cluster_status(&admin_on_0).await)["config_mismatch"] == true },
    )
    .await;
    let status = cluster_status(&admin_on_0).await;
    let red: Vec<&Value> = status
        .iter()
        .filter(|node| node["config_mismatch"] == true)
        .collect();
    assert_eq!(red.len(), 1, "only node 2 differs from node 0: {status:#?}");
    // Seen from node 2, the other two differ.
    let status_on_2 = cluster_status(&admin_on_2).await;
    assert_eq!(
        status_on_2
            .iter()
            .filter(|node| node["config_mismatch"] == true)
            .count(),
        2,
        "{status_on_2:#?}"
    );
    sandbox.stop().await;
}

/// The soft and hard open-file limits of a running process, from /proc.
fn open_file_limits(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("/proc limits");
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .expect("a Max open files line");
    let fields: Vec<&str> = line.split_whitespace().collect();
    (fields[3].parse().unwrap(), fields[4].parse().unwrap())
}

/// A node started with a soft RLIMIT_NOFILE of 256 (what a bare service gets is often 1024)
/// raises it to the hard limit and logs what it got.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_raises_its_open_file_limit_to_the_hard_limit() {
    use std::os::unix::process::CommandExt;
    let sandbox = Sandbox::builder()
        .processes(env!("CARGO_BIN_EXE_chorus"))
        .log_filter("info")
        .spawn_hook(|_, command| {
            // SAFETY: runs in the forked child before exec; getrlimit and setrlimit are
            // async-signal-safe.
            unsafe {
                command.pre_exec(|| {
                    let mut limit = libc::rlimit {
                        rlim_cur: 0,
                        rlim_max: 0,
                    };
                    libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
                    limit.rlim_cur = 256;
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            Ok(Box::new(()))
        })
        .start()
        .await;
    let node = sandbox.node(0);
    let (soft, hard) = open_file_limits(node.pid().expect("a process"));
    assert_eq!(soft, hard, "the soft limit is raised to the hard one");
    assert!(hard > 256);
    let log = node.log();
    let line = log
        .lines()
        .find(|line| line.contains("open file limit (RLIMIT_NOFILE)"))
        .unwrap_or_else(|| panic!("the node logs its limit:\n{log}"));
    assert!(
        line.contains(&format!("{hard}")) && line.contains("256"),
        "{line}"
    );
    sandbox.stop().await;
}

/// Seed 000's ClusterSettings: a node whose config.json has Mattermost 3.x's
/// `InterNodeListenAddress` and `InterNodeUrls` (and no GossipPort) joins the cluster, gossips
/// on the 3.x port and says the list is unnecessary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mattermost_3_cluster_config_still_forms_a_cluster() {
    let sandbox = Sandbox::builder()
        .nodes(2)
        .processes(env!("CARGO_BIN_EXE_chorus"))
        .log_filter("warn")
        .start()
        .await;
    let (_, admin_token) = sign_up(&sandbox.node(0).api(), "ops-3x-admin").await;
    let node_0_gossip = {
        let text = std::fs::read_to_string(sandbox.node(0).config_path()).unwrap();
        let config: Value = serde_json::from_str(&text).unwrap();
        config["ClusterSettings"]["GossipPort"].as_i64().unwrap()
    };
    let node_1 = sandbox.node(1);
    node_1.stop().await.expect("a drained exit");
    let inter_node_port = chorus_testkit::free_port();
    node_1.edit_config(|config| {
        let cluster = config["ClusterSettings"].as_object_mut().unwrap();
        cluster.remove("GossipPort");
        cluster.insert(
            "InterNodeListenAddress".to_string(),
            format!(":{inter_node_port}").into(),
        );
        cluster.insert(
            "InterNodeUrls".to_string(),
            serde_json::json!([format!("http://127.0.0.1:{node_0_gossip}")]),
        );
    });
    node_1
        .restart()
        .await
        .expect("node 1 starts with the 3.x keys");

    let admin_on_1 = node_1.api().with_token(&admin_token);
    wait_until(Duration::from_secs(15), "both nodes alive", || async {
        let status = cluster_status(&admin_on_1).await;
        status.len() == 2 && status.iter().all(|node| node["alive"] == true)
    })
    .await;
    let log = node_1.log();
    assert!(
        log.contains("InterNodeUrls (Mattermost 3.x) seed the gossip membership"),
        "the node warns that the list is unnecessary:\n{log}"
    );
    assert!(
        log.contains(&format!("gossip port to {inter_node_port}")),
        "{log}"
    );
    sandbox.stop().await;
}

/// A Prometheus server of the test's own (Debian's `prometheus`), on 127.0.0.1, killed by PID
/// when dropped.
struct Prometheus {
    child: std::process::Child,
    base_url: String,
    _data: tempfile::TempDir,
}

impl Prometheus {
    /// Scrapes `targets` (job "chorus") every second.
    fn start(targets: &[String]) -> Prometheus {
        let binary = "/usr/bin/prometheus";
        assert!(
            std::path::Path::new(binary).exists(),
            "{binary} is missing: run scripts/test.sh, which installs Debian's prometheus package"
        );
        let data = tempfile::tempdir().expect("a temp dir");
        let quoted: Vec<String> = targets.iter().map(|target| format!("'{target}'")).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: chorus\n    static_configs:\n      - targets: [{}]\n",
            quoted.join(", ")
        );
        let config_path = data.path().join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let port = chorus_testkit::free_port();
        let log = std::fs::File::create(data.path().join("prometheus.log")).unwrap();
        let child = std::process::Command::new(binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                data.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting prometheus");
        Prometheus {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            _data: data,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._data.path().join("prometheus.log")).unwrap_or_default()
    }

    /// An instant query: Ok(result vector) or Err(what Prometheus said).
    async fn query(&self, expression: &str) -> Result<Vec<Value>, String> {
        let reply = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.base_url))
            .query(&[("query", expression)])
            .send()
            .await
            .map_err(|error| error.to_string())?;
        let body: Value = reply.json().await.map_err(|error| error.to_string())?;
        if body["status"] != "success" {
            return Err(body.to_string());
        }
        Ok(body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every PromQL expression of deploy/grafana/chorus-ha.json.
fn dashboard_expressions() -> Vec<(String, String)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/grafana/chorus-ha.json"
    );
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut expressions = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            expressions.push((
                panel["title"].as_str().unwrap().to_string(),
                target["expr"].as_str().unwrap().to_string(),
            ));
        }
    }
    expressions
}

/// Traffic that touches every panel: sign-ups, logins (one failed), a team, a channel, posts
/// through NGINX, a websocket.
async fn some_traffic(sandbox: &Sandbox, admin_token: &str, channel_id: &str, round: usize) {
    let admin = sandbox.anonymous().with_token(admin_token);
    for index in 0..15 {
        admin
            .post(
                "/posts",
                serde_json::json!({"channel_id": channel_id, "message": format!("round {round} post {index}")}),
            )
            .await
            .expect_status(201);
        admin.get("/users/me").await.expect_status(200);
    }
    sandbox
        .login("ops-metrics-admin", "not the password")
        .await
        .expect_status(401);
    sandbox.log_in_as("ops-metrics-admin").await;
}

/// MetricsSettings on 3 nodes behind NGINX with a streaming replica, scraped by a real
/// Prometheus: every node is `up`, and every expression of the Grafana dashboard evaluates
/// without error and returns data after some traffic. Prints the scrape size and time per
/// node (docs/benchmarks.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_every_node_and_the_dashboard_has_data() {
    let sandbox = cluster_builder(3)
        .replicas(1)
        .configure(|config| config.metrics_settings.enable = true)
        .start()
        .await;
    let admin = sandbox.signup("ops-metrics-admin").await;
    let team = admin.create_team("ops-metrics", "O").await;
    let channel = admin
        .create_channel(team["id"].as_str().unwrap(), "ops-metrics-room", "O")
        .await;
    let channel_id = channel["id"].as_str().unwrap().to_string();
    let _socket = chorus_testkit::socket::EventSocket::connect(&sandbox, &admin.token).await;

    let targets: Vec<String> = sandbox
        .nodes()
        .iter()
        .map(|node| node.metrics_address())
        .collect();
    // What Prometheus will read, straight from each node.
    let http = reqwest::Client::new();
    for node in sandbox.nodes() {
        let reply = http.get(node.metrics_url()).send().await.unwrap();
        assert_eq!(reply.status(), 200);
        assert!(reply.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"));
        let text = reply.text().await.unwrap();
        for name in [
            "mattermost_http_requests_total",
            "mattermost_api_time_bucket",
            "mattermost_db_master_connections_total",
            "mattermost_db_replica_lag_time",
            "chorus_cluster_members_alive",
            "chorus_websocket_resumes_total",
            "mattermost_jobs_active",
        ] {
            assert!(
                text.contains(name),
                "{name} on {}:\n{text}",
                node.metrics_url()
            );
        }
    }

    let prometheus = Prometheus::start(&targets);
    wait_until(
        Duration::from_secs(30),
        "Prometheus sees every node up",
        || async {
            match prometheus.query("up{job=\"chorus\"} == 1").await {
                Ok(result) => result.len() == 3,
                Err(_) => false,
            }
        },
    )
    .await;
    some_traffic(&sandbox, &admin.token, &channel_id, 1).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    some_traffic(&sandbox, &admin.token, &channel_id, 2).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut failures = Vec::new();
    for (title, expression) in dashboard_expressions() {
        match prometheus.query(&expression).await {
            Ok(result) if !result.is_empty() => {}
            Ok(_) => failures.push(format!("{title}: `{expression}` returned no data")),
            Err(error) => failures.push(format!("{title}: `{expression}` failed: {error}")),
        }
    }
    assert!(
        failures.is_empty(),
        "dashboard expressions:\n{}\nprometheus log:\n{}",
        failures.join("\n"),
        prometheus.log()
    );

    // Figures: what a scrape costs each node, as Prometheus measured it.
    for (metric, unit) in [
        ("scrape_duration_seconds", "s"),
        ("scrape_samples_scraped", "samples"),
    ] {
        let result = prometheus.query(metric).await.unwrap();
        for series in result {
            eprintln!(
                "{metric} {} = {} {unit}",
                series["metric"]["instance"], series["value"][1]
            );
        }
    }
    for node in sandbox.nodes() {
        let started = std::time::Instant::now();
        let text = http
            .get(node.metrics_url())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        eprintln!(
            "GET {}: {} bytes in {:?}",
            node.metrics_url(),
            text.len(),
            started.elapsed()
        );
    }
    drop(prometheus);
    sandbox.stop().await;
}

/// LogSettings: each node writes its console and its log file at their own levels, and a
/// level changed in config.json reaches every node on one `POST /config/reload`, no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_levels_change_on_every_node_without_a_restart() {
    let sandbox = Sandbox::builder()
        .nodes(2)
        .processes(env!("CARGO_BIN_EXE_chorus"))
        .configure(|config| {
            let log = &mut config.log_settings;
            log.enable_console = true;
            log.console_level = "ERROR".to_string();
            log.console_json = true;
            log.enable_file = true;
            log.file_level = "WARN".to_string();
            log.file_json = true;
            // Relative to each node's working directory (its own directory).
            log.file_location = "logs".to_string();
        })
        .start()
        .await;
    let (_, admin_token) = sign_up(&sandbox.node(0).api(), "ops-log-admin").await;
    let file_of = |index: usize| {
        sandbox
            .node(index)
            .config_path()
            .parent()
            .unwrap()
            .join("logs")
            .join("chorus.log")
    };
    let read = |path: std::path::PathBuf| std::fs::read_to_string(path).unwrap_or_default();
    let has_level = |text: &str, level: &str| text.contains(&format!("\"level\":\"{level}\""));
    for index in 0..2 {
        assert!(file_of(index).exists(), "node {index} writes its log file");
        let file = read(file_of(index));
        assert!(
            !has_level(&file, "INFO") && !has_level(&file, "DEBUG"),
            "{file}"
        );
        let console = sandbox.node(index).log();
        assert!(
            !has_level(&console, "INFO") && !has_level(&console, "DEBUG"),
            "{console}"
        );
    }

    for index in 0..2 {
        sandbox.node(index).edit_config(|config| {
            config["LogSettings"]["ConsoleLevel"] = "INFO".into();
            config["LogSettings"]["FileLevel"] = "DEBUG".into();
        });
    }
    let admin = sandbox.node(0).api().with_token(&admin_token);
    admin
        .post("/config/reload", serde_json::json!({}))
        .await
        .expect_status(200);
    for index in 0..2 {
        wait_until(
            Duration::from_secs(10),
            &format!("node {index} logs at the new levels"),
            || async {
                let file = read(file_of(index));
                let console = sandbox.node(index).log();
                has_level(&file, "DEBUG")
                    && console.contains("log levels changed")
                    && !has_level(&console, "DEBUG")
            },
        )
        .await;
    }
    sandbox.stop().await;
}

/// The value of one series in Prometheus text (`name{labels} value`), 0 when absent.
fn series_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
        .unwrap_or(0.0)
}

/// What a node counts is what happened: a post, a failed login, requests by route, and a
/// websocket resume by its path (a local resume, then an unknown id that resyncs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_posts_logins_routes_and_resumes() {
    let sandbox = Sandbox::builder()
        .configure(|config| config.metrics_settings.enable = true)
        .start()
        .await;
    let node = sandbox.node(0);
    let metrics = || async {
        reqwest::get(node.metrics_url())
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let before = metrics().await;
    let user = sandbox.signup("ops-counted").await;
    let team = user.create_team("ops-counted", "O").await;
    let channel = user
        .create_channel(team["id"].as_str().unwrap(), "ops-counted-room", "O")
        .await;
    let channel_id = channel["id"].as_str().unwrap();
    let mut socket = chorus_testkit::socket::EventSocket::connect(&sandbox, &user.token).await;
    user.post(channel_id, "one").await;
    user.post(channel_id, "two").await;
    socket.wait_for("posted").await;
    socket.wait_for("posted").await;
    sandbox
        .login("ops-counted", "wrong password")
        .await
        .expect_status(401);

    // A local resume: drop the socket, come back with its id and the next seq.
    let connection_id = socket.connection_id();
    let next_seq = socket.last_seq() + 1;
    drop(socket);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _resumed = chorus_testkit::socket::EventSocket::resume_url(
        &sandbox.websocket_url(),
        &user.token,
        &connection_id,
        next_seq,
    )
    .await;
    // An id nobody knows: a new connection, the client resyncs.
    let mut resync = chorus_testkit::socket::EventSocket::resume_url(
        &sandbox.websocket_url(),
        &user.token,
        "qwertyuiopasdfghjklzxcvbnm",
        0,
    )
    .await;
    resync.wait_for("hello").await;

    wait_until(Duration::from_secs(5), "both resumes counted", || async {
        let text = metrics().await;
        series_value(&text, "chorus_websocket_resumes_total{path=\"local\"}") == 1.0
            && series_value(&text, "chorus_websocket_resumes_total{path=\"resync\"}") == 1.0
    })
    .await;
    let after = metrics().await;
    let grew = |series: &str| series_value(&after, series) - series_value(&before, series);
    assert_eq!(grew("mattermost_post_total"), 2.0, "{after}");
    assert_eq!(grew("mattermost_login_logins_fail_total"), 1.0);
    assert_eq!(grew("mattermost_login_logins_total"), 1.0);
    assert_eq!(
        grew("mattermost_websocket_broadcasts_total{name=\"posted\"}"),
        2.0
    );
    assert!(grew("mattermost_http_errors_total") >= 1.0);
    assert!(
        after.contains("mattermost_api_time_count{handler=\"/api/v4/posts\",method=\"POST\",status_code=\"201\",origin_client=\"\",page_load_context=\"\"} 2"),
        "{after}"
    );
    assert_eq!(
        series_value(&after, "chorus_websocket_resumes_total{path=\"rebuilt\"}"),
        0.0
    );
    sandbox.stop().await;
}

/// PUT /config in a writable cluster: a body read from node 0 and sent to node 1 changes the
/// shared keys on both nodes, and each keeps its own node-local keys (listen addresses,
/// ClusterSettings), so the two still agree on the hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_config_reaches_every_node_and_each_keeps_its_node_local_keys() {
    let sandbox = Sandbox::builder()
        .nodes(2)
        .processes(env!("CARGO_BIN_EXE_chorus"))
        .configure(|config| {
            config.log_settings.console_level = "WARN".to_string();
            config.cluster_settings.read_only_config = false;
        })
        .start()
        .await;
    let (_, admin_token) = sign_up(&sandbox.node(0).api(), "ops-put-admin").await;
    let admin_on_0 = sandbox.node(0).api().with_token(&admin_token);
    let admin_on_1 = sandbox.node(1).api().with_token(&admin_token);
    wait_until(Duration::from_secs(15), "two live nodes", || async {
        let status = cluster_status(&admin_on_0).await;
        status.len() == 2 && status.iter().all(|node| node["alive"] == true)
    })
    .await;

    let mut body = admin_on_0.get("/config").await.expect_status(200);
    body["TeamSettings"]["MaxUsersPerTeam"] = 77.into();
    admin_on_1.put("/config", body).await.expect_status(200);

    let on_disk = |index: usize| -> Value {
        let text = std::fs::read_to_string(sandbox.node(index).config_path()).unwrap();
        serde_json::from_str(&text).unwrap()
    };
    wait_until(
        Duration::from_secs(10),
        "node 0 saved the shared change",
        || async { on_disk(0)["TeamSettings"]["MaxUsersPerTeam"] == 77 },
    )
    .await;
    for index in 0..2 {
        let saved = on_disk(index);
        let node = sandbox.node(index);
        assert_eq!(saved["TeamSettings"]["MaxUsersPerTeam"], 77);
        assert_eq!(
            saved["ServiceSettings"]["ListenAddress"],
            node.address().to_string(),
            "node {index} keeps its own ListenAddress"
        );
        assert_eq!(
            saved["MetricsSettings"]["ListenAddress"],
            node.metrics_address(),
            "node {index} keeps its own metrics address"
        );
    }
    assert_ne!(
        on_disk(0)["ClusterSettings"]["GossipPort"],
        on_disk(1)["ClusterSettings"]["GossipPort"]
    );
    wait_until(Duration::from_secs(10), "one config hash again", || async {
        let status = cluster_status(&admin_on_0).await;
        status.len() == 2 && status.iter().all(|node| node["config_mismatch"] == false)
    })
    .await;
    sandbox.stop().await;
}

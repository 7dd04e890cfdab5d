//! Measures failure detection with real processes: how long after a node process is SIGKILLed
//! (or SIGSTOPped) the other nodes report it down, and how long a SIGCONTed node takes to be
//! back up.
//!
//! ```text
//! cargo run -p chorus-cluster --example detect -- [trials, default 10]
//! ```
//!
//! Runs a throwaway PostgreSQL, two observer nodes in this process, and for each trial a fresh
//! node in a child process (this same binary, `node` mode) on 127.0.0.1, which is SIGSTOPped,
//! SIGCONTed, then SIGKILLed. Times are until *both* observers reported the change.

use chorus_cluster::{Cluster, ClusterMessage, ClusterOptions, MembershipEvent, MessageHandler};
use chorus_config::SqlSettings;
use chorus_store::Store;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

struct Ignore;

impl MessageHandler for Ignore {
    fn handle(&self, _from_node: &str, _message: ClusterMessage) {}
    fn messages_lost(&self, _from_node: &str) {}
}

fn free_gossip_port() -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind tcp");
        let port = tcp.local_addr().expect("address").port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn options(port: u16) -> ClusterOptions {
    ClusterOptions {
        cluster_name: "detect".into(),
        node_id: chorus_model::new_id(),
        hostname: "127.0.0.1".into(),
        bind_address: "127.0.0.1".into(),
        gossip_port: port,
        version: "0.0.0".into(),
        ..ClusterOptions::default()
    }
}

async fn start(data_source: &str, port: u16) -> Cluster {
    let settings = SqlSettings {
        data_source: data_source.to_string(),
        ..SqlSettings::default()
    };
    let store = Store::connect(&settings).expect("pools");
    Cluster::start(options(port), store, Arc::new(Ignore))
        .await
        .expect("cluster starts")
}

fn main() {
    let arguments: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if arguments.get(1).map(String::as_str) == Some("node") {
        let data_source = arguments[2].clone();
        let port: u16 = arguments[3].parse().expect("port");
        runtime.block_on(async move {
            let cluster = start(&data_source, port).await;
            println!("ready {}", cluster.node_id());
            std::future::pending::<()>().await;
        });
        return;
    }
    let trials: usize = arguments
        .get(1)
        .and_then(|text| text.parse().ok())
        .unwrap_or(10);
    runtime.block_on(measure(trials));
}

struct NodeProcess {
    child: Child,
    node_id: String,
}

fn spawn_node(data_source: &str) -> NodeProcess {
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .arg("node")
        .arg(data_source)
        .arg(free_gossip_port().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn node process");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("node prints its id");
    let node_id = line
        .trim()
        .strip_prefix("ready ")
        .expect("ready line")
        .to_string();
    NodeProcess { child, node_id }
}

fn signal(child: &Child, signal: i32) {
    // SAFETY: sending a signal to our own child process by pid.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
}

/// Waits until every observer reported `predicate`; returns the elapsed time at the last one.
async fn all_observe(
    watchers: &mut [broadcast::Receiver<MembershipEvent>],
    since: Instant,
    timeout: Duration,
    predicate: impl Fn(&MembershipEvent) -> bool,
) -> Option<Duration> {
    let mut latest = Duration::ZERO;
    for watcher in watchers.iter_mut() {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, watcher.recv()).await {
                Err(_) => return None,
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
                Ok(Err(_)) => return None,
                Ok(Ok(event)) if predicate(&event) => {
                    latest = latest.max(since.elapsed());
                    break;
                }
                Ok(Ok(_)) => {}
            }
        }
    }
    Some(latest)
}

fn summary(label: &str, samples: &mut [Duration]) {
    if samples.is_empty() {
        println!("{label}: no samples");
        return;
    }
    samples.sort();
    let median = samples[samples.len() / 2];
    let max = samples[samples.len() - 1];
    println!(
        "{label}: median {} ms, max {} ms, min {} ms over {} trials",
        median.as_millis(),
        max.as_millis(),
        samples[0].as_millis(),
        samples.len()
    );
}

async fn measure(trials: usize) {
    let server = chorus_testkit::PgServer::shared();
    let data_source = server.create_database().expect("database");
    let settings = SqlSettings {
        data_source: data_source.clone(),
        ..SqlSettings::default()
    };
    Store::migrate(&settings).await.expect("migrate");
    let observers = [
        start(&data_source, free_gossip_port()).await,
        start(&data_source, free_gossip_port()).await,
    ];
    let failure_timeout = observers[0].options().failure_timeout;
    println!(
        "failure_timeout {} ms, gossip_interval {} ms",
        failure_timeout.as_millis(),
        observers[0].options().gossip_interval.as_millis()
    );

    let mut killed = Vec::new();
    let mut stopped = Vec::new();
    let mut resumed = Vec::new();
    for trial in 1..=trials {
        let mut watchers: Vec<_> = observers
            .iter()
            .map(|observer| observer.membership_events())
            .collect();
        let node = spawn_node(&data_source);
        let id = node.node_id.clone();
        let joined = all_observe(
            &mut watchers,
            Instant::now(),
            Duration::from_secs(15),
            |event| matches!(event, MembershipEvent::Joined(member) if member.node_id == id),
        )
        .await;
        assert!(joined.is_some(), "node process joined");
        // Let the observers collect some heartbeat history.
        tokio::time::sleep(Duration::from_secs(1)).await;

        let is_down = |event: &MembershipEvent| matches!(event, MembershipEvent::Down(member) if member.node_id == id);
        let mut node = node;

        let at = Instant::now();
        signal(&node.child, libc::SIGSTOP);
        let stop_detected = all_observe(&mut watchers, at, Duration::from_secs(10), is_down)
            .await
            .expect("stop detected");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let at = Instant::now();
        signal(&node.child, libc::SIGCONT);
        let back = all_observe(
            &mut watchers,
            at,
            Duration::from_secs(10),
            |event| matches!(event, MembershipEvent::Up(member) if member.node_id == id),
        )
        .await
        .expect("resumed node back up");
        tokio::time::sleep(Duration::from_secs(1)).await;

        let at = Instant::now();
        signal(&node.child, libc::SIGKILL);
        let kill_detected = all_observe(&mut watchers, at, Duration::from_secs(10), is_down)
            .await
            .expect("kill detected");
        println!(
            "trial {trial}: SIGSTOP seen down after {} ms, SIGCONT seen up after {} ms, SIGKILL seen down after {} ms (by both observers)",
            stop_detected.as_millis(),
            back.as_millis(),
            kill_detected.as_millis()
        );
        stopped.push(stop_detected);
        resumed.push(back);
        killed.push(kill_detected);
        let _ = node.child.wait();
    }
    println!();
    summary("SIGKILL → seen down", &mut killed);
    summary("SIGSTOP → seen down", &mut stopped);
    summary("SIGCONT → seen up again", &mut resumed);
}

//! `failover`: a reconnect storm. How long after a node with many websockets is SIGKILLed until
//! every one of its clients has resumed elsewhere with nothing missing.
//!
//! Per `--clients` size, a fresh stack: 3 clustered nodes behind NGINX. The websockets are opened
//! through NGINX (so NGINX spreads them), as `--ws-users` users each in one of `--channels`
//! channels; NGINX's [`UPSTREAM_HEADER`] on the upgrade says which node each landed on. The admin
//! posts through NGINX at `--rate`, round-robin over the channels, retrying a failed post with the
//! same `pending_post_id` until it is acknowledged. After `--warmup` the node holding the most
//! websockets gets SIGKILL. Each client whose socket broke reconnects through NGINX as our clients
//! do (docs/ARCHITECTURE.md): after a random delay with full jitter (first attempt within
//! `--reconnect-base-ms`, the bound doubling per failed attempt up to 30 s), passing
//! `connection_id` and `sequence_number`; it then sends a `ping` action, whose reply comes after
//! the server's greeting. A `hello` with a new connection id first means a resync; a continuing
//! `seq` or the reply first means resumed.
//!
//! Per affected client, from the SIGKILL: its new socket open; resumed; and "nothing missing":
//! it holds every acknowledged post of its channel acknowledged before it resumed — the time the
//! last of those arrived. At the end every client must hold every acknowledged post of its
//! channel exactly once, with no `seq` gap. Posting goes on `--after-kill` seconds after the kill,
//! then a drain; the nodes' CPU is measured before the kill and from the kill until the last
//! affected client resumed (the storm).

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use futures_util::{stream, SinkExt, StreamExt};
use hdrhistogram::Histogram;
use rand::Rng;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::handshake::client::Response;
use tokio_tungstenite::tungstenite::Message;

use crate::api::{http_client, Api, Membership};
use crate::pg::{self, StatementCost};
use crate::report::{fmt_thousands, statements_table};
use crate::scenario::ClusterStack;
use crate::stats::Latency;
use crate::sys::{raise_open_file_limit, CpuSnapshot, CpuUsage};
use crate::ws::{upgrade, Acks, ClientSocket};
use chorus_testkit::nginx::UPSTREAM_HEADER;

const NODES: usize = 3;
/// Websockets being opened at the same time before the kill.
const OPEN_CONCURRENCY: usize = 64;
/// Client sockets' source address (NGINX is one server port: ~28k ephemeral ports).
const CLIENT_SOURCE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// Connect, upgrade and `hello` of a client's first websocket, before the kill.
const FIRST_OPEN_TIMEOUT: Duration = Duration::from_secs(30);
const RECONNECT_MAX: Duration = Duration::from_secs(30);
/// A post not acknowledged within this is retried (same `pending_post_id`).
const POST_TIMEOUT: Duration = Duration::from_secs(3);
const RETRY_DELAY: Duration = Duration::from_millis(250);
/// After posting stops, how long a post not yet acknowledged is still retried.
const FINAL_RETRY: Duration = Duration::from_secs(10);
/// After the last post is acknowledged, how long the clients keep reading.
const DRAIN: Duration = Duration::from_secs(3);
const STORM_POLL: Duration = Duration::from_millis(20);
const MAX_TRACKED_MICROS: u64 = 300_000_000;
/// Resumed clients with something missing that the report describes.
const MISSING_SAMPLES: usize = 5;

#[derive(Args, Clone, Debug)]
pub struct FailoverArgs {
    /// Websockets through NGINX; one cluster run per size, in this order.
    #[arg(long, value_delimiter = ',', default_value = "300,1000,3000")]
    pub clients: Vec<usize>,
    /// Users the websockets authenticate as (round-robin); each joins one channel.
    #[arg(long, default_value_t = 50)]
    pub ws_users: usize,
    /// Channels the posts go to (round-robin).
    #[arg(long, default_value_t = 10)]
    pub channels: usize,
    /// Posts per second through NGINX, for the whole run.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Seconds of posting before the kill.
    #[arg(long, default_value_t = 5.0)]
    pub warmup: f64,
    /// Seconds of posting after the kill (longer than a node's 10 s admission wait).
    #[arg(long, default_value_t = 12.0)]
    pub after_kill: f64,
    /// A broken client's first reconnect attempt comes within this many ms (full jitter); the
    /// bound doubles per failed attempt, up to 30 s.
    #[arg(long, default_value_t = 1000)]
    pub reconnect_base_ms: u64,
    /// How long a reconnecting client waits for TCP connect and upgrade before it gives the
    /// attempt up and tries again (as after any failed attempt).
    #[arg(long, default_value_t = 5000)]
    pub upgrade_timeout_ms: u64,
    /// How long a reconnecting client waits from the upgrade for its first frame before it
    /// gives the attempt up; by default longer than a node's 10 s admission wait, after which
    /// the node answers a resync.
    #[arg(long, default_value_t = 15000)]
    pub first_frame_timeout_ms: u64,
    /// Load pg_stat_statements into PostgreSQL and report the statements run during the storm,
    /// per resumed client (the steady posts included).
    #[arg(long)]
    pub statements: bool,
}

#[derive(Serialize)]
pub struct FailoverReport {
    pub rate: f64,
    pub ws_users: usize,
    pub channels: usize,
    pub reconnect_base_ms: u64,
    pub runs: Vec<FailoverRun>,
}

#[derive(Serialize)]
pub struct FailoverRun {
    pub clients: usize,
    /// Websockets per node before the kill.
    pub clients_per_node: Vec<usize>,
    pub killed_node: usize,
    /// Clients whose socket was on the killed node.
    pub affected: usize,
    pub resumed: usize,
    pub resynced: usize,
    /// Affected clients that had not settled (resumed or resynced) when the run ended.
    pub failed: usize,
    /// Resumed clients that lacked an acknowledged post, got one twice, or saw a `seq` gap.
    pub resumed_missing: usize,
    /// Clients of the surviving nodes whose socket broke (expected 0), and those of them or
    /// the others that lacked an acknowledged post at the end.
    pub unaffected_broken: usize,
    pub unaffected_missing: usize,
    /// What went wrong for the first few `resumed_missing` clients.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_samples: Vec<String>,
    /// Reconnect attempts of the affected clients, and those that failed (no socket, or closed
    /// before its first frame).
    pub reconnect_attempts: usize,
    pub reconnect_attempts_failed: usize,
    /// Affected clients whose new socket broke again (each reconnect counted above).
    pub broke_again: usize,
    /// Why reconnect attempts failed: kind → attempts.
    pub reconnect_failures: BTreeMap<String, usize>,
    /// Resumed sockets per node (the killed one included, 0).
    pub resumed_per_node: Vec<usize>,
    /// From the SIGKILL: new socket open, resumed, and nothing missing (resumed clients).
    pub open: Latency,
    pub resumed_after: Latency,
    pub nothing_missing: Latency,
    /// From a resumed client's new socket open to its first frame: the node's share.
    pub open_to_resumed: Latency,
    /// From the SIGKILL until the last affected client had nothing missing; `None` unless every
    /// affected client resumed with nothing missing.
    pub all_complete_ms: Option<f64>,
    pub posts_acknowledged: usize,
    pub post_attempts_failed: usize,
    /// Why POST attempts failed: kind → attempts.
    pub post_failure_kinds: BTreeMap<String, usize>,
    /// Posts never acknowledged (abandoned after the final retries).
    pub posts_abandoned: usize,
    /// When POSTs failed, ms from the SIGKILL (first, last).
    pub post_failures_ms: Option<(f64, f64)>,
    /// Steady posting before the kill, and the storm (SIGKILL until the last affected client
    /// settled, or the end of posting).
    pub cpu_before: CpuUsage,
    pub cpu_storm: CpuUsage,
    pub storm_seconds: f64,
    /// With `--statements`: PostgreSQL's statements during the storm, costliest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub statements: Vec<StatementCost>,
}

pub async fn run(chorus_binary: &Path, args: &FailoverArgs) -> Result<FailoverReport> {
    if args.clients.is_empty() || args.clients.contains(&0) {
        bail!("--clients must be positive numbers");
    }
    if args.ws_users == 0 || args.channels == 0 || args.rate <= 0.0 {
        bail!("--ws-users, --channels and --rate must be positive");
    }
    if args.warmup <= 0.0 || args.after_kill <= 0.0 {
        bail!("--warmup and --after-kill must be positive");
    }
    let mut runs = Vec::new();
    for &clients in &args.clients {
        // NGINX holds two descriptors per websocket and inherits the limit.
        raise_open_file_limit(clients as u64 * 3 + 1_000)?;
        let mut stack = ClusterStack::start(chorus_binary, NODES, true, args.statements).await?;
        let result = measure(&mut stack, args, clients).await;
        stack.stop().await;
        runs.push(result?);
    }
    Ok(FailoverReport {
        rate: args.rate,
        ws_users: args.ws_users,
        channels: args.channels,
        reconnect_base_ms: args.reconnect_base_ms,
        runs,
    })
}

/// What every client task shares.
struct Shared {
    started: Instant,
    nginx: SocketAddr,
    websocket_url: String,
    /// `127.0.0.1:PORT` of each node → its index.
    node_of_upstream: HashMap<String, usize>,
    reconnect_base: Duration,
    upgrade_timeout: Duration,
    first_frame_timeout: Duration,
    /// Clients that settled (resumed or resynced) after a break.
    settled: AtomicUsize,
}

impl Shared {
    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    fn node_of(&self, response: &Response) -> Option<usize> {
        // With retries NGINX lists every upstream it tried; the last one answered.
        let header = response.headers().get(UPSTREAM_HEADER)?.to_str().ok()?;
        let last = header.rsplit(',').next()?.trim();
        self.node_of_upstream.get(last).copied()
    }
}

async fn measure(
    stack: &mut ClusterStack,
    args: &FailoverArgs,
    clients: usize,
) -> Result<FailoverRun> {
    let nginx = stack.nginx().context("the stack has NGINX")?;
    let api = Api::new(nginx.base_url())?;
    let workspace = api
        .create_workspace(args.ws_users + 1, args.channels, Membership::OneChannelEach)
        .await
        .context("setting up users and channels")?;
    let shared = Arc::new(Shared {
        started: Instant::now(),
        nginx: nginx.address(),
        websocket_url: format!("ws://{}/api/v4/websocket", nginx.address()),
        node_of_upstream: (stack.nodes().iter().enumerate())
            .map(|(index, node)| (node.address().to_string(), index))
            .collect(),
        reconnect_base: Duration::from_millis(args.reconnect_base_ms.max(1)),
        upgrade_timeout: Duration::from_millis(args.upgrade_timeout_ms.max(1)),
        first_frame_timeout: Duration::from_millis(args.first_frame_timeout_ms.max(1)),
        settled: AtomicUsize::new(0),
    });
    // Client i authenticates as account 1 + i mod ws_users, who is in channel
    // (i mod ws_users) mod channels.
    let channel_of_client = |client: usize| (client % args.ws_users) % args.channels;

    eprintln!("failover: opening {clients} websockets through NGINX");
    let (stop_clients, stop) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut clients_per_node = vec![0; NODES];
    let mut opens = stream::iter(0..clients)
        .map(|client| {
            let shared = shared.clone();
            let token = workspace.accounts[1 + client % args.ws_users].token.clone();
            async move {
                let opened = open_first(&shared, &token).await;
                (client, token, opened)
            }
        })
        .buffer_unordered(OPEN_CONCURRENCY);
    while let Some((client, token, opened)) = opens.next().await {
        let (socket, node, session) =
            opened.with_context(|| format!("opening websocket {client}"))?;
        clients_per_node[node] += 1;
        let log = ClientLog::new(channel_of_client(client), node);
        tasks.spawn(listen(
            shared.clone(),
            token,
            socket,
            session,
            log,
            stop.clone(),
        ));
    }
    drop(opens);

    let (stop_posting, posting_stopped) = watch::channel(false);
    let poster = tokio::spawn(post_steadily(
        http_client(POST_TIMEOUT)?,
        format!("{}/api/v4/posts", nginx.base_url()),
        format!("Bearer {}", workspace.accounts[0].token),
        workspace.channel_ids.clone(),
        args.rate,
        shared.clone(),
        posting_stopped,
    ));
    let all_nodes = stack.parties();
    let settle_in = Duration::from_secs_f64(args.warmup).min(Duration::from_secs(1));
    tokio::time::sleep(settle_in).await;
    let steady = CpuSnapshot::take(&all_nodes);
    tokio::time::sleep(Duration::from_secs_f64(args.warmup) - settle_in).await;

    let killed_node = (0..NODES)
        .max_by_key(|&node| clients_per_node[node])
        .expect("3 nodes");
    let affected = clients_per_node[killed_node];
    let before_kill = CpuSnapshot::take(&all_nodes);
    let cpu_before = before_kill.usage_since(&steady);
    eprintln!("failover: SIGKILL node {killed_node} ({affected} websockets)");
    if args.statements {
        pg::reset_statements(&stack.database_url).await?;
    }
    let killed_at = shared.now();
    stack.nodes()[killed_node].kill();
    let posting_ends = Instant::now() + Duration::from_secs_f64(args.after_kill);
    while shared.settled.load(Ordering::Relaxed) < affected && Instant::now() < posting_ends {
        tokio::time::sleep(STORM_POLL).await;
    }
    let storm_seconds = shared.now().saturating_sub(killed_at).as_secs_f64();
    let cpu_storm = CpuSnapshot::take(&all_nodes).usage_since(&before_kill);
    let statements = if args.statements {
        let resumed = shared.settled.load(Ordering::Relaxed) as u64;
        pg::top_statements(&stack.database_url, resumed).await?
    } else {
        Vec::new()
    };
    tokio::time::sleep_until(posting_ends.into()).await;
    let _ = stop_posting.send(true);
    let posts = poster.await.context("the poster task")?;
    tokio::time::sleep(DRAIN).await;
    stack.check_alive()?;
    let _ = stop_clients.send(true);
    let mut logs = Vec::with_capacity(clients);
    while let Some(log) = tasks.join_next().await {
        logs.push(log.context("a client task")?);
    }
    let mut run = tally(
        &logs,
        &posts,
        Storm {
            clients_per_node,
            killed_node,
            killed_at,
            cpu_before,
            cpu_storm,
            storm_seconds,
        },
    );
    run.statements = statements;
    Ok(run)
}

/// The parts of a run's report that are not derived from the logs.
struct Storm {
    clients_per_node: Vec<usize>,
    killed_node: usize,
    killed_at: Duration,
    cpu_before: CpuUsage,
    cpu_storm: CpuUsage,
    storm_seconds: f64,
}

/// The websocket state a client carries across reconnects.
#[derive(Clone, Debug, PartialEq)]
struct Session {
    connection_id: String,
    next_seq: i64,
}

/// One frame from the server, as far as the benchmark cares.
#[derive(Debug, PartialEq)]
enum Frame {
    Hello {
        connection_id: String,
        seq: i64,
    },
    Event {
        seq: i64,
        post_id: Option<String>,
    },
    /// The answer to an action of ours.
    Reply,
}

fn parse_frame(text: &str) -> Option<Frame> {
    let frame: Value = serde_json::from_str(text).ok()?;
    let Some(event) = frame["event"].as_str() else {
        return frame.get("seq_reply").map(|_| Frame::Reply);
    };
    let seq = frame["seq"].as_i64()?;
    Some(match event {
        "hello" => Frame::Hello {
            connection_id: frame["data"]["connection_id"].as_str()?.to_owned(),
            seq,
        },
        "posted" => {
            let post: Value = serde_json::from_str(frame["data"]["post"].as_str()?).ok()?;
            Frame::Event {
                seq,
                post_id: post["id"].as_str().map(str::to_owned),
            }
        }
        _ => Frame::Event { seq, post_id: None },
    })
}

/// How a reconnect after a break ended.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    /// Still trying when the run ended.
    Unsettled,
    Resumed,
    Resynced,
}

/// One break of a client's socket and what followed.
#[derive(Clone, Debug)]
struct Reconnect {
    attempts: usize,
    /// Why attempts failed, in order.
    failures: Vec<&'static str>,
    /// The socket that settled: when its upgrade completed, and its node.
    opened_at: Option<Duration>,
    node: Option<usize>,
    settled_at: Option<Duration>,
    outcome: Outcome,
}

/// What one client saw over the run.
#[derive(Debug)]
struct ClientLog {
    channel: usize,
    /// The node of its first socket.
    node: usize,
    /// Post ids of the `posted` frames, with when they arrived.
    received: Vec<(String, Duration)>,
    sequence_gaps: usize,
    reconnects: Vec<Reconnect>,
}

impl ClientLog {
    fn new(channel: usize, node: usize) -> ClientLog {
        ClientLog {
            channel,
            node,
            received: Vec::new(),
            sequence_gaps: 0,
            reconnects: Vec::new(),
        }
    }

    /// Takes one event of the current connection.
    fn take_event(
        &mut self,
        session: &mut Session,
        seq: i64,
        post_id: Option<String>,
        at: Duration,
    ) {
        if seq != session.next_seq {
            self.sequence_gaps += 1;
        }
        session.next_seq = seq + 1;
        if let Some(post_id) = post_id {
            self.received.push((post_id, at));
        }
    }
}

/// Opens a client's first websocket through NGINX; returns it, its node and its `hello`.
async fn open_first(shared: &Shared, token: &str) -> Result<(ClientSocket, usize, Session)> {
    let attempt = async {
        let (mut socket, response) = upgrade(
            shared.nginx,
            CLIENT_SOURCE,
            &shared.websocket_url,
            token,
            Acks::Prompt,
        )
        .await?;
        let node = shared
            .node_of(&response)
            .with_context(|| format!("no known {UPSTREAM_HEADER} in {response:?}"))?;
        while let Some(message) = socket.next().await {
            if let Message::Text(text) = message? {
                if let Some(Frame::Hello { connection_id, seq }) = parse_frame(&text) {
                    let session = Session {
                        connection_id,
                        next_seq: seq + 1,
                    };
                    return Ok((socket, node, session));
                }
            }
        }
        bail!("closed before hello")
    };
    tokio::time::timeout(FIRST_OPEN_TIMEOUT, attempt)
        .await
        .context("no hello in time")?
}

/// Reads a client's socket until `stop`; whenever it breaks, reconnects through NGINX and
/// resumes (see the module comment).
async fn listen(
    shared: Arc<Shared>,
    token: String,
    mut socket: ClientSocket,
    mut session: Session,
    mut log: ClientLog,
    mut stop: watch::Receiver<bool>,
) -> ClientLog {
    let mut action_seq = 0;
    loop {
        loop {
            let message = tokio::select! {
                message = socket.next() => message,
                _ = stop.changed() => return log,
            };
            match message {
                Some(Ok(Message::Text(text))) => match parse_frame(&text) {
                    Some(Frame::Event { seq, post_id }) => {
                        log.take_event(&mut session, seq, post_id, shared.now());
                    }
                    Some(Frame::Hello { .. }) | Some(Frame::Reply) | None => {}
                },
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            }
        }
        let mut reconnect = Reconnect {
            attempts: 0,
            failures: Vec::new(),
            opened_at: None,
            node: None,
            settled_at: None,
            outcome: Outcome::Unsettled,
        };
        loop {
            let delay = full_jitter(shared.reconnect_base, reconnect.attempts);
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = stop.changed() => {
                    log.reconnects.push(reconnect);
                    return log;
                }
            }
            reconnect.attempts += 1;
            action_seq += 1;
            let resumed = tokio::select! {
                resumed = resume(&shared, &token, &mut session, &mut log, action_seq) => resumed,
                _ = stop.changed() => {
                    log.reconnects.push(reconnect);
                    return log;
                }
            };
            let (new_socket, node, opened_at, outcome) = match resumed {
                Ok(resumed) => resumed,
                Err(failure) => {
                    reconnect.failures.push(failure);
                    continue;
                }
            };
            socket = new_socket;
            reconnect.opened_at = Some(opened_at);
            reconnect.node = node;
            reconnect.settled_at = Some(shared.now());
            reconnect.outcome = outcome;
            shared.settled.fetch_add(1, Ordering::Relaxed);
            break;
        }
        log.reconnects.push(reconnect);
    }
}

/// One reconnect attempt: upgrade with the session, send a `ping` action, and read until the
/// first frame says how the server took it. Fails with what went wrong (the caller tries again).
async fn resume(
    shared: &Shared,
    token: &str,
    session: &mut Session,
    log: &mut ClientLog,
    action_seq: i64,
) -> Result<(ClientSocket, Option<usize>, Duration, Outcome), &'static str> {
    let url = format!(
        "{}?connection_id={}&sequence_number={}",
        shared.websocket_url, session.connection_id, session.next_seq
    );
    let upgraded = tokio::time::timeout(
        shared.upgrade_timeout,
        upgrade(shared.nginx, CLIENT_SOURCE, &url, token, Acks::Prompt),
    );
    let (mut socket, response) = match upgraded.await {
        Err(_) => return Err("upgrade timed out"),
        Ok(Err(error)) => return Err(upgrade_failure(&error)),
        Ok(Ok(upgraded)) => upgraded,
    };
    let opened_at = shared.now();
    let node = shared.node_of(&response);
    let ping = json!({"action": "ping", "seq": action_seq}).to_string();
    if socket.send(Message::Text(ping.into())).await.is_err() {
        return Err("closed before the first frame");
    }
    let first_frame = async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    if let Some(frame) = parse_frame(&text) {
                        return Ok(frame);
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    return Err("closed before the first frame")
                }
                Some(Ok(_)) => {}
            }
        }
    };
    let frame = tokio::time::timeout(shared.first_frame_timeout, first_frame)
        .await
        .map_err(|_| "no first frame in time")??;
    let outcome = match frame {
        Frame::Hello { connection_id, seq } => {
            if connection_id == session.connection_id {
                Outcome::Resumed
            } else {
                *session = Session {
                    connection_id,
                    next_seq: seq + 1,
                };
                Outcome::Resynced
            }
        }
        Frame::Event { seq, post_id } => {
            log.take_event(session, seq, post_id, shared.now());
            Outcome::Resumed
        }
        Frame::Reply => Outcome::Resumed,
    };
    Ok((socket, node, opened_at, outcome))
}

/// A failed connect or upgrade, as a kind to count.
fn upgrade_failure(error: &anyhow::Error) -> &'static str {
    use tokio_tungstenite::tungstenite::Error as WsError;
    match error.downcast_ref::<WsError>() {
        Some(WsError::Http(response)) => match response.status().as_u16() {
            401 => "upgrade answered 401",
            429 => "upgrade answered 429",
            502 => "upgrade answered 502",
            503 => "upgrade answered 503",
            504 => "upgrade answered 504",
            _ => "upgrade answered another status",
        },
        Some(_) => "upgrade failed",
        None => "connect failed",
    }
}

/// A delay drawn uniformly from 0 up to `base` doubled `attempt` times, at most
/// [`RECONNECT_MAX`] ("full jitter").
fn full_jitter(base: Duration, attempt: usize) -> Duration {
    let bound = base.saturating_mul(1 << attempt.min(16)).min(RECONNECT_MAX);
    bound.mul_f64(rand::thread_rng().gen_range(0.0..1.0))
}

/// An acknowledged post.
#[derive(Clone, Debug)]
struct Acknowledged {
    post_id: String,
    channel: usize,
    at: Duration,
}

#[derive(Default)]
struct PosterLog {
    acknowledged: Vec<Acknowledged>,
    failed_attempts: usize,
    /// When attempts failed, and why.
    failures: Vec<(Duration, &'static str)>,
    abandoned: usize,
}

/// Starts a post every 1/`rate` s, round-robin over `channel_ids`, until `stop`; each post is
/// retried with its `pending_post_id` until acknowledged (or [`FINAL_RETRY`] after `stop`).
async fn post_steadily(
    http: reqwest::Client,
    url: String,
    authorization: String,
    channel_ids: Vec<String>,
    rate: f64,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> PosterLog {
    let http = Arc::new(http);
    let request = Arc::new((url, authorization));
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    let mut posts = JoinSet::new();
    for number in 0usize.. {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => break,
        }
        let channel = number % channel_ids.len();
        let body = json!({
            "channel_id": channel_ids[channel],
            "message": format!("failover-{number} a post for the failover benchmark"),
            "pending_post_id": format!("failover-{}-{number}", std::process::id()),
        })
        .to_string();
        posts.spawn(post_until_acknowledged(
            http.clone(),
            request.clone(),
            body,
            channel,
            shared.clone(),
            stop.clone(),
        ));
    }
    let mut log = PosterLog::default();
    while let Some(post) = posts.join_next().await {
        let Ok((acknowledged, failures)) = post else {
            continue;
        };
        log.failed_attempts += failures.len();
        log.failures.extend(failures);
        match acknowledged {
            Some(acknowledged) => log.acknowledged.push(acknowledged),
            None => log.abandoned += 1,
        }
    }
    log
}

async fn post_until_acknowledged(
    http: Arc<reqwest::Client>,
    request: Arc<(String, String)>,
    body: String,
    channel: usize,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) -> (Option<Acknowledged>, Vec<(Duration, &'static str)>) {
    let (url, authorization) = &*request;
    let mut failures = Vec::new();
    let mut give_up_at = None;
    loop {
        let sent = http
            .post(url)
            .header(reqwest::header::AUTHORIZATION, authorization)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await;
        let failure = match sent {
            Ok(response) if response.status() == reqwest::StatusCode::CREATED => {
                let post = response.json::<Value>().await.unwrap_or_default();
                if let Some(post_id) = post["id"].as_str() {
                    let acknowledged = Acknowledged {
                        post_id: post_id.to_owned(),
                        channel,
                        at: shared.now(),
                    };
                    return (Some(acknowledged), failures);
                }
                "unreadable 201"
            }
            Ok(response) => match response.status().as_u16() {
                500 => "HTTP 500",
                502 => "HTTP 502",
                503 => "HTTP 503",
                504 => "HTTP 504",
                _ => "HTTP other",
            },
            Err(error) if error.is_timeout() => "timeout",
            Err(_) => "connection error",
        };
        failures.push((shared.now(), failure));
        if *stop.borrow() {
            let deadline = *give_up_at.get_or_insert(Instant::now() + FINAL_RETRY);
            if Instant::now() >= deadline {
                return (None, failures);
            }
        }
        let jitter = rand::thread_rng().gen_range(0.5..1.5);
        tokio::time::sleep(RETRY_DELAY.mul_f64(jitter)).await;
    }
}

/// The run's figures from what the clients and the poster saw.
fn tally(logs: &[ClientLog], posts: &PosterLog, storm: Storm) -> FailoverRun {
    let channels = logs.iter().map(|log| log.channel + 1).max().unwrap_or(0);
    let mut acknowledged_in: Vec<Vec<&Acknowledged>> = vec![Vec::new(); channels];
    for post in &posts.acknowledged {
        if let Some(list) = acknowledged_in.get_mut(post.channel) {
            list.push(post);
        }
    }
    let histogram =
        || Histogram::<u64>::new_with_bounds(1, MAX_TRACKED_MICROS, 3).expect("valid bounds");
    let (mut open, mut resumed_after, mut nothing_missing, mut open_to_resumed) =
        (histogram(), histogram(), histogram(), histogram());
    let since_kill = |at: Duration| at.saturating_sub(storm.killed_at).as_micros() as u64;
    let mut run = FailoverRun {
        clients: logs.len(),
        clients_per_node: storm.clients_per_node,
        killed_node: storm.killed_node,
        affected: 0,
        resumed: 0,
        resynced: 0,
        failed: 0,
        resumed_missing: 0,
        unaffected_broken: 0,
        unaffected_missing: 0,
        missing_samples: Vec::new(),
        reconnect_attempts: 0,
        reconnect_attempts_failed: 0,
        reconnect_failures: BTreeMap::new(),
        broke_again: 0,
        resumed_per_node: vec![0; NODES],
        open: Latency::default(),
        resumed_after: Latency::default(),
        nothing_missing: Latency::default(),
        open_to_resumed: Latency::default(),
        all_complete_ms: None,
        posts_acknowledged: posts.acknowledged.len(),
        post_attempts_failed: posts.failed_attempts,
        post_failure_kinds: BTreeMap::new(),
        posts_abandoned: posts.abandoned,
        post_failures_ms: None,
        cpu_before: storm.cpu_before,
        cpu_storm: storm.cpu_storm,
        storm_seconds: storm.storm_seconds,
        statements: Vec::new(),
    };
    let mut last_complete = Duration::ZERO;
    for log in logs {
        let received: HashMap<&str, Duration> = log
            .received
            .iter()
            .map(|(post_id, at)| (post_id.as_str(), *at))
            .collect();
        let channel_posts = &acknowledged_in[log.channel];
        let whole = log.sequence_gaps == 0
            && received.len() == log.received.len()
            && channel_posts
                .iter()
                .all(|post| received.contains_key(post.post_id.as_str()));
        if log.node != storm.killed_node {
            run.unaffected_broken += usize::from(!log.reconnects.is_empty());
            run.unaffected_missing += usize::from(!whole);
            continue;
        }
        run.affected += 1;
        // A socket that broke again after its resume counts by its last reconnect, unless
        // one of them resynced.
        let Some(reconnect) = log.reconnects.last() else {
            run.failed += 1;
            continue;
        };
        run.broke_again += usize::from(log.reconnects.len() > 1);
        for earlier in &log.reconnects {
            run.reconnect_attempts += earlier.attempts;
            run.reconnect_attempts_failed += earlier.failures.len();
            for failure in &earlier.failures {
                *run.reconnect_failures
                    .entry((*failure).to_owned())
                    .or_default() += 1;
            }
        }
        let resynced = log
            .reconnects
            .iter()
            .any(|earlier| earlier.outcome == Outcome::Resynced);
        let settled_at = match (reconnect.outcome, reconnect.settled_at) {
            _ if resynced => {
                run.resynced += 1;
                continue;
            }
            (Outcome::Resumed, Some(settled_at)) => settled_at,
            _ => {
                run.failed += 1;
                continue;
            }
        };
        run.resumed += 1;
        if let Some(node) = reconnect.node {
            run.resumed_per_node[node] += 1;
        }
        let opened_at = reconnect.opened_at.unwrap_or(settled_at);
        open.saturating_record(since_kill(opened_at).max(1));
        resumed_after.saturating_record(since_kill(settled_at).max(1));
        let server_share = settled_at.saturating_sub(opened_at).as_micros() as u64;
        open_to_resumed.saturating_record(server_share.max(1));
        // Nothing missing once every post acknowledged before the resume has arrived.
        let complete_at = channel_posts
            .iter()
            .filter(|post| post.at <= settled_at)
            .map(|post| received.get(post.post_id.as_str()).copied())
            .try_fold(settled_at, |latest, at| Some(latest.max(at?)));
        match complete_at {
            Some(complete_at) if whole => {
                nothing_missing.saturating_record(since_kill(complete_at).max(1));
                last_complete = last_complete.max(complete_at);
            }
            _ => {
                run.resumed_missing += 1;
                if run.missing_samples.len() < MISSING_SAMPLES {
                    run.missing_samples.push(describe_missing(
                        log,
                        reconnect,
                        channel_posts,
                        &received,
                        storm.killed_at,
                    ));
                }
            }
        }
    }
    run.open = Latency::of(&open);
    run.resumed_after = Latency::of(&resumed_after);
    run.nothing_missing = Latency::of(&nothing_missing);
    run.open_to_resumed = Latency::of(&open_to_resumed);
    if run.resumed == run.affected && run.resumed_missing == 0 {
        run.all_complete_ms = Some(since_kill(last_complete) as f64 / 1000.0);
    }
    let ms_from_kill = |at: Duration| (at.as_secs_f64() - storm.killed_at.as_secs_f64()) * 1000.0;
    for (_, kind) in &posts.failures {
        *run.post_failure_kinds
            .entry((*kind).to_owned())
            .or_default() += 1;
    }
    let first = posts.failures.iter().map(|(at, _)| at).min();
    let last = posts.failures.iter().map(|(at, _)| at).max();
    if let (Some(&first), Some(&last)) = (first, last) {
        run.post_failures_ms = Some((ms_from_kill(first), ms_from_kill(last)));
    }
    run
}

/// One line on a resumed client that lacks posts, got one twice or saw a `seq` gap: times in
/// ms from the SIGKILL.
fn describe_missing(
    log: &ClientLog,
    reconnect: &Reconnect,
    channel_posts: &[&Acknowledged],
    received: &HashMap<&str, Duration>,
    killed_at: Duration,
) -> String {
    let ms = |at: Duration| (at.as_secs_f64() - killed_at.as_secs_f64()) * 1000.0;
    let lacking: Vec<Duration> = channel_posts
        .iter()
        .filter(|post| !received.contains_key(post.post_id.as_str()))
        .map(|post| post.at)
        .collect();
    let first_lacking: Vec<String> = lacking
        .iter()
        .take(10)
        .map(|&at| format!("{:.0}", ms(at)))
        .collect();
    format!(
        "channel {}: {} reconnects, last after {} attempts (failed: {:?}), opened {:.0}, \
         resumed {:.0}; seq gaps {}, duplicates {}, lacking {} posts acknowledged at [{}…]",
        log.channel,
        log.reconnects.len(),
        reconnect.attempts,
        reconnect.failures,
        reconnect.opened_at.map_or(f64::NAN, ms),
        reconnect.settled_at.map_or(f64::NAN, ms),
        log.sequence_gaps,
        log.received.len() - received.len(),
        lacking.len(),
        first_lacking.join(", ")
    )
}

impl FailoverReport {
    pub fn text(&self) -> String {
        let mut out = format!(
            "== failover: SIGKILL of the busiest of {NODES} nodes behind NGINX; its websocket \
             clients reconnect through NGINX and resume\n{} posts/s through NGINX into {} \
             channels (the clients' users: {}); reconnect after 0–{} ms, doubling per failed \
             attempt up to 30 s (full jitter). Times in ms from the SIGKILL.\n\n",
            self.rate, self.channels, self.ws_users, self.reconnect_base_ms
        );
        out.push_str(
            "clients  per node            killed  affected  resumed  resynced  failed  missing\n",
        );
        for run in &self.runs {
            out.push_str(&format!(
                "{:>7}  {:<20} {:>6} {:>9} {:>8} {:>9} {:>7} {:>8}\n",
                fmt_thousands(run.clients as u64),
                format!("{:?}", run.clients_per_node),
                run.killed_node,
                run.affected,
                run.resumed,
                run.resynced,
                run.failed,
                run.resumed_missing,
            ));
        }
        out.push_str(
            "\nclients  ms from SIGKILL: open p50/p99 | open->resumed p50/p99 | resumed p50/p99 \
             | nothing missing p50/p90/p99/max | ALL nothing missing\n",
        );
        for run in &self.runs {
            let all = run
                .all_complete_ms
                .map_or_else(|| "not reached".to_owned(), |ms| format!("{ms:.0} ms"));
            out.push_str(&format!(
                "{:>7}  {:>22} | {:>21} | {:>15} | {:>30} | {all}\n",
                fmt_thousands(run.clients as u64),
                format!("{:.0} / {:.0}", run.open.p50_ms, run.open.p99_ms),
                format!(
                    "{:.0} / {:.0}",
                    run.open_to_resumed.p50_ms, run.open_to_resumed.p99_ms
                ),
                format!(
                    "{:.0} / {:.0}",
                    run.resumed_after.p50_ms, run.resumed_after.p99_ms
                ),
                format!(
                    "{:.0} / {:.0} / {:.0} / {:.0}",
                    run.nothing_missing.p50_ms,
                    run.nothing_missing.p90_ms,
                    run.nothing_missing.p99_ms,
                    run.nothing_missing.max_ms
                ),
            ));
        }
        out.push_str(
            "\nclients  resumed per node  attempts (failed)  broke again | posts acked  failed attempts  \
             abandoned  failures (ms from kill) | unaffected: broken  missing\n",
        );
        for run in &self.runs {
            let failures = run.post_failures_ms.map_or_else(
                || "-".to_owned(),
                |(first, last)| format!("{first:.0} .. {last:.0}"),
            );
            out.push_str(&format!(
                "{:>7}  {:<17} {:>8} ({:>5}) {:>12} | {:>11} {:>16} {:>10}  {:<23} | {:>18} {:>8}\n",
                fmt_thousands(run.clients as u64),
                format!("{:?}", run.resumed_per_node),
                run.reconnect_attempts,
                run.reconnect_attempts_failed,
                run.broke_again,
                run.posts_acknowledged,
                run.post_attempts_failed,
                run.posts_abandoned,
                failures,
                run.unaffected_broken,
                run.unaffected_missing,
            ));
        }
        for run in &self.runs {
            for (what, kinds) in [
                ("reconnect attempts", &run.reconnect_failures),
                ("POST attempts", &run.post_failure_kinds),
            ] {
                if !kinds.is_empty() {
                    let kinds: Vec<String> = kinds
                        .iter()
                        .map(|(kind, n)| format!("{kind}: {n}"))
                        .collect();
                    out.push_str(&format!(
                        "{:>7}  failed {what}: {}\n",
                        fmt_thousands(run.clients as u64),
                        kinds.join(", ")
                    ));
                }
            }
        }
        for run in &self.runs {
            for sample in &run.missing_samples {
                out.push_str(&format!(
                    "{:>7}  missing: {sample}\n",
                    fmt_thousands(run.clients as u64)
                ));
            }
        }
        out.push_str(
            "\nclients  window           seconds | cores: machine  per node        nginx  \
             postgres  bench  other | CPU ms per resume: nodes  postgres\n",
        );
        for run in &self.runs {
            for (window, cpu, seconds) in [
                ("before the kill", &run.cpu_before, None),
                ("storm", &run.cpu_storm, Some(run.storm_seconds)),
            ] {
                let per_node: Vec<String> = cpu
                    .per_node
                    .iter()
                    .map(|cores| format!("{cores:.2}"))
                    .collect();
                let per_resume =
                    seconds
                        .filter(|_| run.resumed > 0)
                        .map_or_else(String::new, |seconds| {
                            let ms = |cores: f64| cores * seconds * 1000.0 / run.resumed as f64;
                            format!(" | {:>24.1} {:>9.1}", ms(cpu.node), ms(cpu.postgres))
                        });
                out.push_str(&format!(
                    "{:>7}  {:<16} {:>7} | {:>9.2}/{}  {:<15} {:>5.2} {:>9.2} {:>6.2} {:>6.2}{per_resume}\n",
                    fmt_thousands(run.clients as u64),
                    window,
                    seconds.map_or_else(String::new, |s| format!("{s:.2}")),
                    cpu.machine,
                    cpu.cores,
                    per_node.join(" "),
                    cpu.nginx,
                    cpu.postgres,
                    cpu.bench,
                    cpu.other,
                ));
            }
        }
        for run in &self.runs {
            out.push_str(&statements_table(
                &format!(
                    "PostgreSQL statements during the storm ({} clients), per settled client \
                     (the steady posts included)",
                    fmt_thousands(run.clients as u64)
                ),
                &run.statements,
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_hello_events_and_replies_apart() {
        let hello =
            r#"{"event":"hello","data":{"connection_id":"c1","server_hostname":"h"},"seq":0}"#;
        assert_eq!(
            parse_frame(hello),
            Some(Frame::Hello {
                connection_id: "c1".to_owned(),
                seq: 0
            })
        );
        let posted =
            r#"{"event":"posted","data":{"post":"{\"id\":\"p1\",\"message\":\"m\"}"},"seq":7}"#;
        assert_eq!(
            parse_frame(posted),
            Some(Frame::Event {
                seq: 7,
                post_id: Some("p1".to_owned())
            })
        );
        let typing = r#"{"event":"typing","data":{},"seq":8}"#;
        assert_eq!(
            parse_frame(typing),
            Some(Frame::Event {
                seq: 8,
                post_id: None
            })
        );
        let reply = r#"{"status":"OK","seq_reply":3,"data":{"text":"pong"}}"#;
        assert_eq!(parse_frame(reply), Some(Frame::Reply));
    }

    #[test]
    fn full_jitter_stays_under_its_doubling_bound() {
        let base = Duration::from_millis(100);
        for attempt in 0..20 {
            let bound = (base * 2u32.pow(attempt.min(16) as u32)).min(RECONNECT_MAX);
            assert!(full_jitter(base, attempt) < bound);
        }
    }

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    fn storm() -> Storm {
        Storm {
            clients_per_node: vec![2, 1, 0],
            killed_node: 0,
            killed_at: ms(1000),
            cpu_before: CpuUsage::default(),
            cpu_storm: CpuUsage::default(),
            storm_seconds: 1.0,
        }
    }

    fn acknowledged(post_id: &str, at: u64) -> Acknowledged {
        Acknowledged {
            post_id: post_id.to_owned(),
            channel: 0,
            at: ms(at),
        }
    }

    fn resumed(settled_at: u64) -> Reconnect {
        Reconnect {
            attempts: 1,
            failures: Vec::new(),
            opened_at: Some(ms(settled_at - 10)),
            node: Some(1),
            settled_at: Some(ms(settled_at)),
            outcome: Outcome::Resumed,
        }
    }

    #[test]
    fn nothing_missing_waits_for_posts_acknowledged_before_the_resume() {
        let posts = PosterLog {
            acknowledged: vec![
                acknowledged("before", 900),
                acknowledged("during", 1200),
                acknowledged("after", 2000),
            ],
            ..PosterLog::default()
        };
        let mut complete = ClientLog::new(0, 0);
        complete.received = vec![
            ("before".to_owned(), ms(901)),
            // acknowledged before the resume at 1500 but arriving after it
            ("during".to_owned(), ms(1600)),
            ("after".to_owned(), ms(2001)),
        ];
        complete.reconnects.push(resumed(1500));
        let mut lacking = ClientLog::new(0, 0);
        lacking.received = vec![
            ("before".to_owned(), ms(901)),
            ("after".to_owned(), ms(2001)),
        ];
        lacking.reconnects.push(resumed(1500));
        let untouched = ClientLog::new(0, 1);

        let run = tally(&[complete, untouched], &posts, storm());
        assert_eq!((run.affected, run.resumed, run.resumed_missing), (1, 1, 0));
        assert_eq!(run.all_complete_ms, Some(600.0));
        assert_eq!(run.resumed_per_node, vec![0, 1, 0]);
        assert_eq!(
            run.unaffected_missing, 1,
            "the untouched client got nothing"
        );

        let run = tally(&[lacking], &posts, storm());
        assert_eq!((run.resumed, run.resumed_missing), (1, 1));
        assert_eq!(run.all_complete_ms, None);
    }

    #[test]
    fn resyncs_and_unsettled_clients_are_counted_apart() {
        let posts = PosterLog::default();
        let mut resynced = ClientLog::new(0, 0);
        resynced.reconnects.push(Reconnect {
            outcome: Outcome::Resynced,
            ..resumed(1500)
        });
        let mut unsettled = ClientLog::new(0, 0);
        unsettled.reconnects.push(Reconnect {
            outcome: Outcome::Unsettled,
            settled_at: None,
            ..resumed(1500)
        });
        // Resumed, then its new socket broke too and that reconnect resynced.
        let mut resynced_later = ClientLog::new(0, 0);
        resynced_later.reconnects.push(resumed(1500));
        resynced_later.reconnects.push(Reconnect {
            outcome: Outcome::Resynced,
            ..resumed(3000)
        });
        let run = tally(&[resynced, unsettled, resynced_later], &posts, storm());
        assert_eq!((run.affected, run.resynced, run.failed), (3, 2, 1));
        assert_eq!((run.resumed, run.broke_again), (0, 1));
        assert_eq!(run.all_complete_ms, None);
    }
}

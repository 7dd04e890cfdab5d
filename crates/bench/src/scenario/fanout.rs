//! `fanout`: how long a post takes to reach websocket clients on the other nodes of a cluster.
//!
//! `--nodes` clustered chorus processes on one database; `--clients` websockets spread round-robin
//! over them (client i on node i mod nodes), as `--ws-users` users, each a member of one of
//! `--channels` channels (so a post reaches clients/channels connections, on every node). The
//! admin posts through node 0 only, open loop, at each of `--rates` posts/s in turn, round-robin
//! over the channels. Every post carries its number; a client that receives its `posted` event
//! records now − (when its POST was sent), under "other nodes" unless the client is on node 0.
//! After each rate the benchmark waits [`DRAIN`] for late events and counts the events that
//! never came (expected: one per acknowledged post per connection of its channel).

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chorus_testkit::Endpoint;
use clap::Args;
use futures_util::{stream, StreamExt};
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use crate::api::{create_post, http_client, Api, Membership};
use crate::report::{cpu_row, fmt_thousands, CPU_HEADER};
use crate::scenario::ClusterStack;
use crate::stats::{cpu_during, open_loop, Latency, LoadResult, Window, OP_TIMEOUT};
use crate::sys::raise_open_file_limit;
use crate::ws::{open, Acks, ClientSocket};

/// Wait after each rate for events still on their way.
const DRAIN: Duration = Duration::from_secs(2);
/// Websockets being opened at the same time.
const OPEN_CONCURRENCY: usize = 64;
/// POSTs in flight at once before a start counts as "overloaded".
const MAX_IN_FLIGHT: usize = 512;
const MAX_TRACKED_MICROS: u64 = 120_000_000;
/// Client sockets' source address (1,000 connections fit one address's ephemeral ports).
const CLIENT_SOURCE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

#[derive(Args, Clone, Debug)]
pub struct FanoutArgs {
    /// Post rates (posts/s) to measure, one phase each, in this order.
    #[arg(long, value_delimiter = ',', default_value = "50,100,200,400")]
    pub rates: Vec<f64>,
    /// Clustered chorus nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Websocket clients, spread round-robin over the nodes.
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// Users the websockets authenticate as (round-robin); each joins one channel.
    #[arg(long, default_value_t = 50)]
    pub ws_users: usize,
    /// Channels the posts go to (round-robin).
    #[arg(long, default_value_t = 25)]
    pub channels: usize,
    /// Measured seconds per rate.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Warm-up seconds before each rate's measured window (not counted).
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// The clients acknowledge what they receive late (the kernel's delayed-ACK timer, 40 ms
    /// or more): a node that left Nagle's algorithm on would hold frames that long.
    #[arg(long)]
    pub delayed_acks: bool,
}

#[derive(Serialize)]
pub struct FanoutReport {
    pub nodes: usize,
    /// The clients delayed their ACKs (`--delayed-acks`).
    pub delayed_acks: bool,
    pub clients: usize,
    pub clients_failed: usize,
    pub ws_users: usize,
    pub channels: usize,
    /// Connections each post reaches: on nodes other than the posting one, and on it.
    pub recipients_per_post_other_nodes: f64,
    pub recipients_per_post_posting_node: f64,
    /// Connections the servers closed during the run (should be 0).
    pub clients_closed: usize,
    pub phases: Vec<FanoutPhase>,
}

#[derive(Serialize)]
pub struct FanoutPhase {
    pub rate: f64,
    /// The POSTs themselves (open loop, latency from the scheduled send).
    pub posts: LoadResult,
    /// Post sent → `posted` event at a client on another node.
    pub other_nodes: Latency,
    pub events_other_nodes: u64,
    pub events_expected_other_nodes: u64,
    /// Post sent → `posted` event at a client on the posting node, for comparison.
    pub posting_node: Latency,
    pub events_posting_node: u64,
    pub events_expected_posting_node: u64,
}

/// What the clients saw, per post number (all rates share one numbering).
struct Tracker {
    started: Instant,
    /// When the post's POST was sent: µs since `started`, + 1 (0 = not sent yet).
    sent_micros: Vec<AtomicU64>,
    /// The phase whose measured window the post belongs to, + 1 (0 = warm-up).
    phase_of: Vec<AtomicU32>,
    phases: Vec<PhaseEvents>,
}

struct PhaseEvents {
    other_nodes: Mutex<Histogram<u64>>,
    posting_node: Mutex<Histogram<u64>>,
    events_other_nodes: AtomicU64,
    events_posting_node: AtomicU64,
    expected_other_nodes: AtomicU64,
    expected_posting_node: AtomicU64,
}

impl Tracker {
    fn new(posts: usize, phases: usize) -> Tracker {
        let histogram = || {
            Mutex::new(
                Histogram::new_with_bounds(1, MAX_TRACKED_MICROS, 3)
                    .expect("valid histogram bounds"),
            )
        };
        Tracker {
            started: Instant::now(),
            sent_micros: (0..posts).map(|_| AtomicU64::new(0)).collect(),
            phase_of: (0..posts).map(|_| AtomicU32::new(0)).collect(),
            phases: (0..phases)
                .map(|_| PhaseEvents {
                    other_nodes: histogram(),
                    posting_node: histogram(),
                    events_other_nodes: AtomicU64::new(0),
                    events_posting_node: AtomicU64::new(0),
                    expected_other_nodes: AtomicU64::new(0),
                    expected_posting_node: AtomicU64::new(0),
                })
                .collect(),
        }
    }

    fn now_micros(&self) -> u64 {
        self.started.elapsed().as_micros() as u64 + 1
    }

    fn sending(&self, post: usize, measured_phase: Option<usize>) {
        let phase = measured_phase.map_or(0, |phase| phase as u32 + 1);
        self.phase_of[post].store(phase, Ordering::Relaxed);
        self.sent_micros[post].store(self.now_micros(), Ordering::Release);
    }

    /// A `posted` frame arrived at a client; `on_posting_node` says where the client is.
    fn received(&self, frame: &str, on_posting_node: bool) {
        let received = self.now_micros();
        let Some(post) = post_number(frame) else {
            return;
        };
        let Some(sent) = self
            .sent_micros
            .get(post)
            .map(|s| s.load(Ordering::Acquire))
        else {
            return;
        };
        let phase = self.phase_of[post].load(Ordering::Relaxed);
        if sent == 0 || phase == 0 {
            return;
        }
        let events = &self.phases[phase as usize - 1];
        let latency = received.saturating_sub(sent).max(1);
        if on_posting_node {
            events.events_posting_node.fetch_add(1, Ordering::Relaxed);
            let mut histogram = events.posting_node.lock().expect("histogram lock");
            histogram.saturating_record(latency);
        } else {
            events.events_other_nodes.fetch_add(1, Ordering::Relaxed);
            let mut histogram = events.other_nodes.lock().expect("histogram lock");
            histogram.saturating_record(latency);
        }
    }
}

/// The number in a post message `fanout-<n>-…`, found in a `posted` frame.
fn post_number(frame: &str) -> Option<usize> {
    let (_, after) = frame.split_once("fanout-")?;
    let digits = after.split('-').next()?;
    digits.parse().ok()
}

pub async fn run(chorus_binary: &Path, args: &FanoutArgs) -> Result<FanoutReport> {
    if args.nodes == 0 || args.clients == 0 || args.ws_users == 0 || args.channels == 0 {
        bail!("--nodes, --clients, --ws-users and --channels must be at least 1");
    }
    if args.rates.is_empty() || args.rates.iter().any(|rate| *rate <= 0.0) {
        bail!("--rates must be positive numbers");
    }
    raise_open_file_limit(args.clients as u64 * 2 + 1_000)?;
    let mut stack = ClusterStack::start(chorus_binary, args.nodes, false, false).await?;
    let result = measure(&mut stack, args).await;
    stack.stop().await;
    result
}

async fn measure(stack: &mut ClusterStack, args: &FanoutArgs) -> Result<FanoutReport> {
    let api = Api::new(stack.nodes()[0].url(""))?;
    let workspace = api
        .create_workspace(args.ws_users + 1, args.channels, Membership::OneChannelEach)
        .await
        .context("setting up users and channels")?;
    let admin_authorization = format!("Bearer {}", workspace.accounts[0].token);
    // Client i authenticates as account 1 + i mod ws_users, who is in channel
    // (i mod ws_users) mod channels, and connects to node i mod nodes.
    let channel_of_client = |client: usize| (client % args.ws_users) % args.channels;
    let node_of_client = |client: usize| client % args.nodes;
    let mut recipients_other = vec![0u64; args.channels];
    let mut recipients_posting = vec![0u64; args.channels];
    for client in 0..args.clients {
        if node_of_client(client) == 0 {
            recipients_posting[channel_of_client(client)] += 1;
        } else {
            recipients_other[channel_of_client(client)] += 1;
        }
    }

    let window = Window {
        warmup: Duration::from_secs_f64(args.warmup),
        measure: Duration::from_secs_f64(args.duration),
    };
    let window_seconds = window.warmup.as_secs_f64() + window.measure.as_secs_f64();
    let capacity_per_phase: Vec<usize> = args
        .rates
        .iter()
        .map(|rate| (rate * window_seconds).ceil() as usize + 1)
        .collect();
    let tracker = Arc::new(Tracker::new(
        capacity_per_phase.iter().sum(),
        args.rates.len(),
    ));

    eprintln!(
        "fanout: opening {} websockets over {} nodes",
        args.clients, args.nodes
    );
    let acks = if args.delayed_acks {
        Acks::Delayed
    } else {
        Acks::Prompt
    };
    let closed = Arc::new(AtomicUsize::new(0));
    let mut clients = JoinSet::new();
    let mut clients_failed = 0;
    let mut first_error = None;
    let mut opens = stream::iter(0..args.clients)
        .map(|client| {
            let node = &stack.nodes()[node_of_client(client)];
            let url = format!("ws://{}/api/v4/websocket", node.address());
            let token = workspace.accounts[1 + client % args.ws_users].token.clone();
            let server = node.address();
            async move {
                let socket = open(server, CLIENT_SOURCE, &url, &token, acks).await;
                (client, socket)
            }
        })
        .buffer_unordered(OPEN_CONCURRENCY);
    while let Some((client, outcome)) = opens.next().await {
        match outcome {
            Ok(socket) => {
                let on_posting_node = node_of_client(client) == 0;
                clients.spawn(listen(
                    socket,
                    on_posting_node,
                    tracker.clone(),
                    closed.clone(),
                ));
            }
            Err(error) => {
                clients_failed += 1;
                first_error.get_or_insert_with(|| format!("{error:#}"));
            }
        }
    }
    drop(opens);
    if let Some(error) = first_error {
        bail!("{clients_failed} websockets failed to open; first error: {error}");
    }

    let http = http_client(OP_TIMEOUT)?;
    let url = stack.nodes()[0].url("/api/v4/posts");
    let parties = stack.parties();
    let mut phases = Vec::new();
    let mut first_post = 0usize;
    for (phase, &rate) in args.rates.iter().enumerate() {
        eprintln!("fanout: {rate} posts/s through node 0");
        let posts_offset = first_post;
        let capacity = capacity_per_phase[phase];
        first_post += capacity;
        let operation = |index: u64, measured: bool| {
            let post = posts_offset + (index as usize).min(capacity - 1);
            let channel = post % args.channels;
            tracker.sending(post, measured.then_some(phase));
            let created = create_post(
                &http,
                &url,
                &admin_authorization,
                &workspace.channel_ids[channel],
                format!("fanout-{post}- a post for the fan-out benchmark"),
            );
            let tracker = tracker.clone();
            let (expect_other, expect_posting) =
                (recipients_other[channel], recipients_posting[channel]);
            async move {
                created.await?;
                if measured {
                    let events = &tracker.phases[phase];
                    events
                        .expected_other_nodes
                        .fetch_add(expect_other, Ordering::Relaxed);
                    events
                        .expected_posting_node
                        .fetch_add(expect_posting, Ordering::Relaxed);
                }
                Ok(())
            }
        };
        let (posts, cpu) = tokio::join!(
            open_loop(rate, window, MAX_IN_FLIGHT, operation),
            cpu_during(&parties, window)
        );
        let mut posts = posts?;
        posts.cpu = Some(cpu);
        tokio::time::sleep(DRAIN).await;
        stack.check_alive()?;
        let events = &tracker.phases[phase];
        let latency_of =
            |histogram: &Mutex<Histogram<u64>>| Latency::of(&histogram.lock().expect("lock"));
        phases.push(FanoutPhase {
            rate,
            posts,
            other_nodes: latency_of(&events.other_nodes),
            events_other_nodes: events.events_other_nodes.load(Ordering::Relaxed),
            events_expected_other_nodes: events.expected_other_nodes.load(Ordering::Relaxed),
            posting_node: latency_of(&events.posting_node),
            events_posting_node: events.events_posting_node.load(Ordering::Relaxed),
            events_expected_posting_node: events.expected_posting_node.load(Ordering::Relaxed),
        });
    }
    clients.shutdown().await;

    let posts_per_channel = args.channels as f64;
    Ok(FanoutReport {
        nodes: args.nodes,
        delayed_acks: args.delayed_acks,
        clients: args.clients,
        clients_failed,
        ws_users: args.ws_users,
        channels: args.channels,
        recipients_per_post_other_nodes: recipients_other.iter().sum::<u64>() as f64
            / posts_per_channel,
        recipients_per_post_posting_node: recipients_posting.iter().sum::<u64>() as f64
            / posts_per_channel,
        clients_closed: closed.load(Ordering::Relaxed),
        phases,
    })
}

/// Reads one client's frames until the server closes it or the task is aborted, handing
/// `posted` frames to the tracker.
async fn listen(
    mut socket: ClientSocket,
    on_posting_node: bool,
    tracker: Arc<Tracker>,
    closed: Arc<AtomicUsize>,
) {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => {
                if text.starts_with(r#"{"event":"posted""#) {
                    tracker.received(&text, on_posting_node);
                }
            }
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                closed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Some(Ok(_)) => {}
        }
    }
}

impl FanoutReport {
    pub fn text(&self) -> String {
        let mut out = String::from(
            "== fanout: post sent through node 0 → `posted` event at websocket clients\n",
        );
        if self.delayed_acks {
            out.push_str(
                "clients delay their ACKs (TCP_QUICKACK off after every read): a frame held \
                 by Nagle's algorithm would show as 40 ms or more\n",
            );
        }
        out.push_str(&format!(
            "{} nodes; {} websockets ({} failed) as {} users in {} channels; each post reaches \
             {:.0} connections on other nodes and {:.0} on the posting node; closed by a \
             server during the run: {}\n",
            self.nodes,
            fmt_thousands(self.clients as u64),
            self.clients_failed,
            self.ws_users,
            self.channels,
            self.recipients_per_post_other_nodes,
            self.recipients_per_post_posting_node,
            self.clients_closed
        ));
        out.push_str(
            "\n  rate   posts/s  errors  POST p50/p99 ms | other nodes: events/expected     \
             p50 ms   p99 ms  p99.9 ms   max ms | posting node p50/p99 ms\n",
        );
        for phase in &self.phases {
            let other = &phase.other_nodes;
            out.push_str(&format!(
                "{:>6} {:>9.1} {:>7} {:>7.2}/{:<7.2} | {:>13}/{:<13} {:>6.2} {:>8.2} {:>9.2} {:>8.2} | {:.2}/{:.2}\n",
                phase.rate,
                phase.posts.per_second,
                phase.posts.errors,
                phase.posts.latency.p50_ms,
                phase.posts.latency.p99_ms,
                phase.events_other_nodes,
                phase.events_expected_other_nodes,
                other.p50_ms,
                other.p99_ms,
                other.p999_ms,
                other.max_ms,
                phase.posting_node.p50_ms,
                phase.posting_node.p99_ms
            ));
        }
        out.push_str(&format!(
            "\n  rate  CPU in the measured window {CPU_HEADER}\n"
        ));
        for phase in &self.phases {
            if let Some(cpu) = &phase.posts.cpu {
                out.push_str(&format!(
                    "{:>6} {:>28} {}\n",
                    phase.rate,
                    "",
                    cpu_row(cpu, phase.posts.per_second)
                ));
            }
        }
        for phase in &self.phases {
            if let Some(error) = &phase.posts.first_error {
                out.push_str(&format!("first error at {}/s: {error}\n", phase.rate));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_post_number_in_a_posted_frame() {
        let frame = r#"{"event":"posted","data":{"post":"{\"id\":\"x\",\"message\":\"fanout-1234- a post\"}"},"seq":7}"#;
        assert_eq!(super::post_number(frame), Some(1234));
        assert_eq!(super::post_number(r#"{"event":"posted"}"#), None);
    }
}

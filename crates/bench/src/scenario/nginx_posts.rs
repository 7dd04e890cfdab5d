//! `nginx-posts`: post creation through NGINX in front of `--nodes` clustered nodes, next to raw
//! PostgreSQL single-row INSERTs on the same database in the same run.
//!
//! Phases, one after the other on one stack:
//! 1. raw INSERTs (`pg`), `--pg-concurrency` connections, closed loop;
//! 2. the most posts/s: `--concurrency` HTTP clients through NGINX, closed loop, spread over
//!    `--channels` channels and `--users` users;
//! 3. the latency curve: open loop through NGINX at each of `--rates` posts/s in turn (same
//!    spread), stopping after the first rate whose POST p99 exceeds `--p99-limit-ms` or that
//!    has errors. The highest rate within the limit is the headline figure.
//!
//! Afterwards the posts in the database are counted: every acknowledged post must be there.
//!
//! `--listeners` adds one websocket client per channel, an account in that channel only,
//! connected straight to a node: `spread` puts channel i's on node i mod `--nodes` (each
//! channel's posts are wanted by one node, so the others are only told of them),
//! `everywhere` connects each to every node (every node wants every post: what every post cost
//! before issue 17). The `posted` events they receive are counted: each post must reach each
//! of its channel's listeners once.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Serialize;

use crate::api::{create_post, http_client, Api, Membership};
use crate::pg::{self, ServerFacts, StatementCost};
use crate::report::{first_errors, fmt_rate, phase_tables, statements_table};
use crate::scenario::posts::post_load;
use crate::scenario::ClusterStack;
use crate::stats::{cpu_during, open_loop, LoadResult, Window, OP_TIMEOUT};
use crate::sys::CpuUsage;
use crate::ws::{open, Acks};
use futures_util::StreamExt;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio_tungstenite::tungstenite::Message;

/// Where the listeners' websockets connect from.
const CLIENT_SOURCE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// Who listens to the channels' posts over websockets (see the module doc).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Listeners {
    None,
    Spread,
    Everywhere,
}

/// POSTs in flight at once before a start counts as "overloaded" (NGINX allows 16,384).
const MAX_IN_FLIGHT: usize = 2_000;

#[derive(Args, Clone, Debug)]
pub struct NginxPostsArgs {
    /// Clustered chorus nodes behind NGINX.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Measured seconds of the raw INSERT and closed-loop phases, and of each rate.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Warm-up seconds before each measured window (not counted).
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Concurrent HTTP clients of the closed-loop phase.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Concurrent PostgreSQL connections for the raw INSERT baseline.
    #[arg(long, default_value_t = 16)]
    pub pg_concurrency: usize,
    /// Channels the posts are spread over.
    #[arg(long, default_value_t = 16)]
    pub channels: usize,
    /// Users posting (round-robin).
    #[arg(long, default_value_t = 8)]
    pub users: usize,
    /// Open-loop rates (posts/s) of the latency curve, in increasing order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "250,500,750,1000,1250,1500,2000,2500,3000,4000,5000"
    )]
    pub rates: Vec<f64>,
    /// The POST p99 (ms) a rate must stay under.
    #[arg(long, default_value_t = 100.0)]
    pub p99_limit_ms: f64,
    /// Load pg_stat_statements into PostgreSQL and report the statements the nodes ran during
    /// the closed-loop phase, per post.
    #[arg(long)]
    pub statements: bool,
    /// Websocket listeners of the channels' posts (see the module doc).
    #[arg(long, value_enum, default_value_t = Listeners::None)]
    pub listeners: Listeners,
}

#[derive(Serialize)]
pub struct NginxPostsReport {
    pub nodes: usize,
    pub postgres: ServerFacts,
    pub users: usize,
    pub channels: usize,
    pub warmup_seconds: f64,
    pub raw_insert: LoadResult,
    pub closed_loop: LoadResult,
    /// Closed-loop posts/s ÷ raw INSERTs/s.
    pub ratio_closed_loop: f64,
    pub rates: Vec<LoadResult>,
    pub p99_limit_ms: f64,
    /// The highest offered rate whose p99 stayed under the limit with no errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub highest_rate_within_limit: Option<f64>,
    pub posts_acknowledged: u64,
    pub posts_stored: i64,
    /// Node-to-node messages and bytes (before encryption) per acknowledged post of the
    /// closed-loop phase, all nodes' sending summed.
    pub cluster_messages_per_post: f64,
    pub cluster_bytes_per_post: f64,
    pub listeners: Listeners,
    /// Listener websockets open (one per channel, or one per channel and node).
    pub listener_sockets: usize,
    /// `posted` events the listeners received over the whole run, and how many they should
    /// have (each stored post once per socket of its channel).
    pub listener_posts_received: u64,
    pub listener_posts_expected: u64,
    /// With `--statements`: the nodes' statements during the closed-loop phase, costliest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub statements: Vec<StatementCost>,
}

impl NginxPostsReport {
    fn within_limit(result: &LoadResult, p99_limit_ms: f64) -> bool {
        result.errors == 0 && result.ok > 0 && result.latency.p99_ms < p99_limit_ms
    }
}

pub async fn run(chorus_binary: &Path, args: &NginxPostsArgs) -> Result<NginxPostsReport> {
    if args.nodes == 0 || args.concurrency == 0 || args.pg_concurrency == 0 || args.users == 0 {
        bail!("--nodes, --concurrency, --pg-concurrency and --users must be at least 1");
    }
    if args.rates.iter().any(|rate| *rate <= 0.0) {
        bail!("--rates must be positive numbers");
    }
    let mut stack = ClusterStack::start(chorus_binary, args.nodes, true, args.statements).await?;
    let result = measure(&mut stack, args).await;
    stack.stop().await;
    result
}

async fn measure(stack: &mut ClusterStack, args: &NginxPostsArgs) -> Result<NginxPostsReport> {
    let window = Window {
        warmup: Duration::from_secs_f64(args.warmup),
        measure: Duration::from_secs_f64(args.duration),
    };
    let postgres = pg::server_facts(&stack.database_url).await?;
    let nginx_url = |path: &str| {
        stack
            .nginx()
            .expect("the stack was started with NGINX")
            .base_url()
            + path
    };
    let api = Api::new(nginx_url(""))?;
    let workspace = api
        .create_workspace(args.users, args.channels.max(1), Membership::Everyone)
        .await
        .context("setting up users, a team and channels")?;
    let parties = stack.parties();
    let received = Arc::new(AtomicU64::new(0));
    let listener_sockets = open_listeners(stack, &api, &workspace, args, &received).await?;

    eprintln!(
        "nginx-posts: raw INSERT, {} connections",
        args.pg_concurrency
    );
    let (raw_insert, cpu) = tokio::join!(
        pg::insert_throughput(&stack.database_url, args.pg_concurrency, window),
        cpu_during(&parties, window)
    );
    let mut raw_insert = raw_insert?;
    raw_insert.cpu = Some(cpu);

    eprintln!(
        "nginx-posts: closed loop, {} clients through NGINX, {} nodes",
        args.concurrency, args.nodes
    );
    let posts_url = nginx_url("/api/v4/posts");
    if args.statements {
        pg::reset_statements(&stack.database_url).await?;
    }
    let traffic_before = stack.cluster_traffic().await?;
    let closed_loop = post_load(
        &posts_url,
        &parties,
        &workspace,
        args.concurrency,
        args.channels.max(1),
        window,
    )
    .await?;
    stack.check_alive()?;
    let (cluster_messages_per_post, cluster_bytes_per_post) = stack
        .cluster_traffic()
        .await?
        .per(traffic_before, closed_loop.ok_total);
    let statements = if args.statements {
        pg::top_statements(&stack.database_url, closed_loop.ok_total).await?
    } else {
        Vec::new()
    };

    let http = http_client(OP_TIMEOUT)?;
    let authorizations: Arc<Vec<String>> = Arc::new(
        workspace
            .accounts
            .iter()
            .map(|account| format!("Bearer {}", account.token))
            .collect(),
    );
    let mut rates = Vec::new();
    for &rate in &args.rates {
        eprintln!("nginx-posts: open loop, {rate} posts/s through NGINX");
        let operation = |index: u64, _measured: bool| {
            let index = index as usize;
            let authorization = &authorizations[index % authorizations.len()];
            let channel_id = &workspace.channel_ids[index % workspace.channel_ids.len()];
            create_post(
                &http,
                &posts_url,
                authorization,
                channel_id,
                format!("benchmark post open-{rate}-{index}"),
            )
        };
        let (result, cpu) = tokio::join!(
            open_loop(rate, window, MAX_IN_FLIGHT, operation),
            cpu_during(&parties, window)
        );
        let mut result = result?;
        result.cpu = Some(cpu);
        stack.check_alive()?;
        let within = NginxPostsReport::within_limit(&result, args.p99_limit_ms);
        rates.push(result);
        if !within {
            break;
        }
    }

    let posts_acknowledged =
        closed_loop.ok_total + rates.iter().map(|result| result.ok_total).sum::<u64>();
    let posts_stored = pg::count_benchmark_posts(&stack.database_url).await?;
    if (posts_stored as u64) < posts_acknowledged {
        bail!(
            "only {posts_stored} posts in the database, but {posts_acknowledged} were acknowledged"
        );
    }
    let sockets_per_channel = listener_sockets / workspace.channel_ids.len();
    let listener_posts_expected = posts_stored as u64 * sockets_per_channel as u64;
    // The last posts' events may still be on their way.
    let settle = std::time::Instant::now();
    while received.load(Ordering::Relaxed) < listener_posts_expected
        && settle.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let listener_posts_received = received.load(Ordering::Relaxed);
    let highest_rate_within_limit = rates
        .iter()
        .filter(|result| NginxPostsReport::within_limit(result, args.p99_limit_ms))
        .filter_map(|result| result.offered_per_second)
        .reduce(f64::max);
    let ratio_closed_loop = if raw_insert.per_second > 0.0 {
        closed_loop.per_second / raw_insert.per_second
    } else {
        0.0
    };
    Ok(NginxPostsReport {
        nodes: args.nodes,
        postgres,
        users: args.users,
        channels: args.channels,
        warmup_seconds: args.warmup,
        raw_insert,
        closed_loop,
        ratio_closed_loop,
        rates,
        p99_limit_ms: args.p99_limit_ms,
        highest_rate_within_limit,
        posts_acknowledged,
        posts_stored,
        cluster_messages_per_post,
        cluster_bytes_per_post,
        listeners: args.listeners,
        listener_sockets,
        listener_posts_received,
        listener_posts_expected,
        statements,
    })
}

/// Opens the listeners' websockets (see the module doc); each runs until the process ends,
/// counting the `posted` events it receives into `received`. Returns how many were opened.
async fn open_listeners(
    stack: &ClusterStack,
    api: &Api,
    workspace: &crate::api::Workspace,
    args: &NginxPostsArgs,
    received: &Arc<AtomicU64>,
) -> Result<usize> {
    if args.listeners == Listeners::None {
        return Ok(0);
    }
    let nodes = stack.nodes();
    let mut opened = 0;
    for (index, channel_id) in workspace.channel_ids.iter().enumerate() {
        let account = api
            .add_member_of_one_channel(workspace, &format!("listen{index}"), channel_id)
            .await
            .context("setting up a listener")?;
        let targets: Vec<usize> = match args.listeners {
            Listeners::Spread => vec![index % nodes.len()],
            _ => (0..nodes.len()).collect(),
        };
        for target in targets {
            let node = &nodes[target];
            let url = format!("ws://{}/api/v4/websocket", node.address());
            let mut socket = open(
                node.address(),
                CLIENT_SOURCE,
                &url,
                &account.token,
                Acks::Prompt,
            )
            .await
            .context("opening a listener's websocket")?;
            let received = received.clone();
            tokio::spawn(async move {
                while let Some(Ok(message)) = socket.next().await {
                    if let Message::Text(text) = message {
                        if text.contains("\"event\":\"posted\"") {
                            received.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
            opened += 1;
        }
    }
    // The nodes read their new clients' channels and tell the others.
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(opened)
}

impl NginxPostsReport {
    pub fn text(&self) -> String {
        let mut out = format!(
            "== nginx-posts: POST /api/v4/posts through NGINX to {} clustered nodes vs raw \
             PostgreSQL INSERT (same server, same database, same run)\n",
            self.nodes
        );
        out.push_str(&format!(
            "PostgreSQL {}: fsync={}, synchronous_commit={}, full_page_writes={}; posts as {} \
             users over {} channels; {:.0} s warm-up + {:.0} s measured per phase\n\n",
            self.postgres.version,
            self.postgres.fsync,
            self.postgres.synchronous_commit,
            self.postgres.full_page_writes,
            self.users,
            self.channels,
            self.warmup_seconds,
            self.raw_insert.measured_seconds
        ));
        let mut phases: Vec<(String, &LoadResult)> = vec![
            ("raw INSERT (closed loop)".to_owned(), &self.raw_insert),
            ("NGINX, closed loop".to_owned(), &self.closed_loop),
        ];
        for result in &self.rates {
            let offered = result.offered_per_second.unwrap_or_default();
            phases.push((format!("NGINX, open loop {}/s", fmt_rate(offered)), result));
        }
        out.push_str(&phase_tables(&phases));
        out.push_str(&format!(
            "\nratio closed loop / raw INSERT: {:.2} ({} vs {} per s)\n",
            self.ratio_closed_loop,
            fmt_rate(self.closed_loop.per_second),
            fmt_rate(self.raw_insert.per_second)
        ));
        if let Some(ceiling) = self
            .closed_loop
            .cpu
            .as_ref()
            .and_then(|cpu| cpu_bound_ceiling(cpu, self.closed_loop.per_second))
        {
            out.push_str(&format!(
                "ceiling if the machine's cores did nothing but this (nodes + NGINX + PostgreSQL + \
                 load generator CPU per post): {}/s ({:.2} of raw INSERT)\n",
                fmt_rate(ceiling),
                ceiling / self.raw_insert.per_second.max(1e-9)
            ));
        }
        match self.highest_rate_within_limit {
            Some(rate) => out.push_str(&format!(
                "highest open-loop rate with p99 < {} ms and no errors: {}/s ({:.2} of raw INSERT)\n",
                self.p99_limit_ms,
                fmt_rate(rate),
                rate / self.raw_insert.per_second.max(1e-9)
            )),
            None => out.push_str(&format!(
                "no rate kept p99 under {} ms without errors\n",
                self.p99_limit_ms
            )),
        }
        out.push_str(&format!(
            "node-to-node traffic in the closed loop, all nodes' sending summed: {:.2} messages, \
             {:.0} bytes per post\n",
            self.cluster_messages_per_post, self.cluster_bytes_per_post
        ));
        out.push_str(&format!(
            "posts acknowledged over the whole run: {}, found in the database: {}\n",
            self.posts_acknowledged, self.posts_stored
        ));
        if self.listener_sockets > 0 {
            out.push_str(&format!(
                "listeners ({:?}, {} websockets): {} posted events received, {} expected\n",
                self.listeners,
                self.listener_sockets,
                self.listener_posts_received,
                self.listener_posts_expected
            ));
        }
        out.push_str(&statements_table(
            "PostgreSQL statements during the closed-loop phase, per acknowledged post",
            &self.statements,
        ));
        out.push_str(&first_errors(&phases));
        out
    }
}

/// Posts per second the machine's cores would carry if they did only what one post costs the
/// parties of the run (None without a measured rate): what a closed loop that is not yet
/// CPU-bound could reach at best, and what a CPU-bound one already reaches.
fn cpu_bound_ceiling(cpu: &CpuUsage, per_second: f64) -> Option<f64> {
    let busy = cpu.node + cpu.nginx + cpu.postgres + cpu.bench;
    (per_second > 0.0 && busy > 0.0).then(|| cpu.cores as f64 * per_second / busy)
}

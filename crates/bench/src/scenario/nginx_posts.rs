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
        statements,
    })
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
        out.push_str(&statements_table(
            "PostgreSQL statements during the closed-loop phase, per acknowledged post",
            &self.statements,
        ));
        out.push_str(&first_errors(&phases));
        out
    }
}

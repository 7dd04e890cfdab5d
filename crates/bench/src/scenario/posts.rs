//! `posts`: how fast one node creates posts over HTTP, next to how fast the same PostgreSQL
//! database takes raw single-row INSERTs, measured in the same run so that the ratio does not
//! depend on the machine's mood or on the server's durability settings.
//!
//! Phases, one after the other on one stack, each a warm-up plus a measured window:
//! 1. raw INSERTs (`pg`), `--pg-concurrency` connections;
//! 2. Chorus, `--concurrency` HTTP clients all posting into one channel (every post of a channel
//!    is ordered by the channel's lock, so this is the worst case for contention);
//! 3. Chorus, the same clients spread over `--channels` channels (skipped with `--channels 1`).
//!
//! Each HTTP client is its own `reqwest::Client` with one keep-alive connection, posting
//! `POST /api/v4/posts {channel_id, message}` as one of `--users` users. Afterwards the posts
//! in the database are counted: every acknowledged post must be there.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chorus_testkit::Endpoint;
use clap::Args;
use serde::Serialize;

use crate::api::{create_post, http_client, Api, Membership, Workspace};
use crate::pg::{self, ServerFacts, StatementCost};
use crate::report::{first_errors, fmt_rate, phase_tables, statements_table};
use crate::scenario::Stack;
use crate::stats::{closed_loop, cpu_during, LoadResult, Window, OP_TIMEOUT};
use crate::sys::Parties;

#[derive(Args, Clone, Debug)]
pub struct PostsArgs {
    /// Measured seconds per phase.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Warm-up seconds before each phase's measured window (not counted).
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Concurrent HTTP clients posting to Chorus.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Concurrent PostgreSQL connections for the raw INSERT baseline.
    #[arg(long, default_value_t = 16)]
    pub pg_concurrency: usize,
    /// Channels for the many-channel phase (clients spread round-robin); 1 skips that phase.
    #[arg(long, default_value_t = 16)]
    pub channels: usize,
    /// Users the HTTP clients post as (round-robin).
    #[arg(long, default_value_t = 4)]
    pub users: usize,
    /// Load pg_stat_statements into PostgreSQL and report the statements the node ran during
    /// the Chorus phases, per post: where PostgreSQL's time goes.
    #[arg(long)]
    pub statements: bool,
}

#[derive(Serialize)]
pub struct PostsReport {
    pub postgres: ServerFacts,
    pub users: usize,
    pub warmup_seconds: f64,
    pub raw_insert: LoadResult,
    pub chorus_one_channel: LoadResult,
    /// Channels used by `chorus_many_channels`.
    pub channels: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chorus_many_channels: Option<LoadResult>,
    /// Chorus posts/s ÷ raw INSERTs/s.
    pub ratio_one_channel: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_many_channels: Option<f64>,
    /// With `--statements`: the node's statements during the Chorus phases, costliest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub statements: Vec<StatementCost>,
    /// Posts acknowledged (201) over the whole run, and the benchmark's posts found in the
    /// database afterwards (may be higher: a post can commit after its request timed out).
    pub posts_acknowledged: u64,
    pub posts_stored: i64,
}

pub async fn run(chorus_binary: &Path, args: &PostsArgs) -> Result<PostsReport> {
    if args.concurrency == 0 || args.pg_concurrency == 0 || args.users == 0 {
        bail!("--concurrency, --pg-concurrency and --users must be at least 1");
    }
    let window = Window {
        warmup: Duration::from_secs_f64(args.warmup),
        measure: Duration::from_secs_f64(args.duration),
    };
    let mut stack = Stack::start(chorus_binary, args.statements).await?;
    let result = measure(&mut stack, args, window).await;
    stack.stop().await;
    result
}

async fn measure(stack: &mut Stack, args: &PostsArgs, window: Window) -> Result<PostsReport> {
    let postgres = pg::server_facts(&stack.database_url).await?;
    let api = Api::new(stack.node().url(""))?;
    let workspace = api
        .create_workspace(args.users, args.channels.max(1), Membership::Everyone)
        .await
        .context("setting up users, a team and channels")?;

    let parties = Parties::node(stack.pid()?);
    eprintln!("posts: raw INSERT, {} connections", args.pg_concurrency);
    let (raw_insert, cpu) = tokio::join!(
        pg::insert_throughput(&stack.database_url, args.pg_concurrency, window),
        cpu_during(&parties, window)
    );
    let mut raw_insert = raw_insert?;
    raw_insert.cpu = Some(cpu);

    if args.statements {
        pg::reset_statements(&stack.database_url).await?;
    }
    eprintln!("posts: Chorus, {} clients, 1 channel", args.concurrency);
    let url = stack.node().url("/api/v4/posts");
    let chorus_one_channel =
        post_load(&url, &parties, &workspace, args.concurrency, 1, window).await?;
    stack.node().check_alive()?;

    let chorus_many_channels = if args.channels > 1 {
        eprintln!(
            "posts: Chorus, {} clients, {} channels",
            args.concurrency, args.channels
        );
        let result = post_load(
            &url,
            &parties,
            &workspace,
            args.concurrency,
            args.channels,
            window,
        )
        .await?;
        stack.node().check_alive()?;
        Some(result)
    } else {
        None
    };

    let posts_acknowledged = chorus_one_channel.ok_total
        + chorus_many_channels
            .as_ref()
            .map_or(0, |result| result.ok_total);
    let statements = if args.statements {
        pg::top_statements(&stack.database_url, posts_acknowledged).await?
    } else {
        Vec::new()
    };
    let posts_stored = pg::count_benchmark_posts(&stack.database_url).await?;
    if (posts_stored as u64) < posts_acknowledged {
        bail!(
            "only {posts_stored} posts in the database, but {posts_acknowledged} were acknowledged"
        );
    }

    let ratio = |chorus: &LoadResult| {
        if raw_insert.per_second > 0.0 {
            chorus.per_second / raw_insert.per_second
        } else {
            0.0
        }
    };
    Ok(PostsReport {
        postgres,
        users: args.users,
        warmup_seconds: args.warmup,
        ratio_one_channel: ratio(&chorus_one_channel),
        ratio_many_channels: chorus_many_channels.as_ref().map(ratio),
        raw_insert,
        chorus_one_channel,
        channels: args.channels,
        chorus_many_channels,
        posts_acknowledged,
        posts_stored,
        statements,
    })
}

/// `concurrency` HTTP clients posting to `url` (`…/api/v4/posts`) for `window`; client `n`
/// posts as user `n % users` into channel `n % channels`. CPU is measured for `parties`.
pub async fn post_load(
    url: &str,
    parties: &Parties,
    workspace: &Workspace,
    concurrency: usize,
    channels: usize,
    window: Window,
) -> Result<LoadResult> {
    let mut workers = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let client = http_client(OP_TIMEOUT)?;
        let account = &workspace.accounts[worker % workspace.accounts.len()];
        let authorization = format!("Bearer {}", account.token);
        let channel_id = workspace.channel_ids[worker % channels].clone();
        let url = url.to_owned();
        let mut sequence = 0u64;
        workers.push(move || {
            sequence += 1;
            create_post(
                &client,
                &url,
                &authorization,
                &channel_id,
                format!("benchmark post {worker}-{sequence}"),
            )
        });
    }
    let (result, cpu) = tokio::join!(closed_loop(workers, window), cpu_during(parties, window));
    let mut result = result?;
    result.cpu = Some(cpu);
    Ok(result)
}

impl PostsReport {
    fn phases(&self) -> Vec<(String, &LoadResult)> {
        let mut phases = vec![
            ("raw INSERT (autocommit)".to_owned(), &self.raw_insert),
            ("Chorus, 1 channel".to_owned(), &self.chorus_one_channel),
        ];
        if let Some(many) = &self.chorus_many_channels {
            phases.push((format!("Chorus, {} channels", self.channels), many));
        }
        phases
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "== posts: Chorus POST /api/v4/posts vs raw PostgreSQL INSERT (same server, same database, same run)\n",
        );
        out.push_str(&format!(
            "PostgreSQL {} (throwaway, chorus-testkit): fsync={}, synchronous_commit={}, full_page_writes={} \
             for both measurements\n",
            self.postgres.version,
            self.postgres.fsync,
            self.postgres.synchronous_commit,
            self.postgres.full_page_writes
        ));
        out.push_str(&format!(
            "each phase: {:.0} s warm-up, then {:.0} s measured; Chorus clients post as {} users\n\n",
            self.warmup_seconds, self.raw_insert.measured_seconds, self.users
        ));
        out.push_str(&phase_tables(&self.phases()));
        out.push_str(&format!(
            "\nratio Chorus/raw: 1 channel {:.2} ({} vs {} per s)",
            self.ratio_one_channel,
            fmt_rate(self.chorus_one_channel.per_second),
            fmt_rate(self.raw_insert.per_second)
        ));
        if let (Some(ratio), Some(many)) = (self.ratio_many_channels, &self.chorus_many_channels) {
            out.push_str(&format!(
                "; {} channels {:.2} ({} per s)",
                self.channels,
                ratio,
                fmt_rate(many.per_second)
            ));
        }
        out.push_str(&format!(
            "\nposts acknowledged over the whole run: {}, found in the database: {}\n",
            self.posts_acknowledged, self.posts_stored
        ));
        out.push_str(&statements_table(
            "PostgreSQL statements during the Chorus phases, per acknowledged post",
            &self.statements,
        ));
        out.push_str(&first_errors(&self.phases()));
        out
    }
}

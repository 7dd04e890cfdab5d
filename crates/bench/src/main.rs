//! `chorus-bench`: benchmarks of one Chorus node, run with one command that starts everything
//! it needs on 127.0.0.1 and stops it at the end.
//!
//! ```text
//! cargo build --release -p chorus
//! cargo run --release -p chorus-bench -- posts      # post throughput vs raw PostgreSQL INSERT
//! cargo run --release -p chorus-bench -- ws-idle    # memory per idle authenticated websocket
//! cargo run --release -p chorus-bench -- all        # both, plus a block for docs/benchmarks.md
//! cargo run --release -p chorus-bench -- fanout     # cross-node post -> event latency
//! cargo run --release -p chorus-bench -- nginx-posts  # posts through NGINX on 3 nodes
//! cargo run --release -p chorus-bench -- failover   # SIGKILL a node: its clients resume
//! cargo run --release -p chorus-bench -- flood      # one client floods: what normal users get
//! cargo run --release -p chorus-bench -- startup    # the mobile app's start-up, 1,000 users, 3 nodes
//! ```
//!
//! Every scenario gets a fresh stack ([`scenario::Stack`]): chorus-testkit's Sandbox with a
//! throwaway PostgreSQL and the release `chorus` binary as child processes. Code map: `binary`
//! (which chorus binary), `pg` (the raw INSERT baseline), `api` (the setup on the shared test
//! client, and the measured post request), `stats` (closed-loop
//! load and latency percentiles), `sys` (rlimits, process memory, machine facts), `report`
//! (text and the markdown summary), `scenario/*` (one module per scenario).

mod api;
mod binary;
mod pg;
mod report;
mod scenario;
mod stats;
mod summary;
mod sys;
mod ws;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use scenario::failover::{FailoverArgs, FailoverReport};
use scenario::fanout::{FanoutArgs, FanoutReport};
use scenario::flood::{FloodArgs, FloodReport};
use scenario::nginx_posts::{NginxPostsArgs, NginxPostsReport};
use scenario::posts::{PostsArgs, PostsReport};
use scenario::startup::{StartupArgs, StartupReport};
use scenario::webhooks::{WebhooksArgs, WebhooksReport};
use scenario::ws_idle::{WsIdleArgs, WsIdleReport};

#[derive(Parser)]
#[command(
    name = "chorus-bench",
    about = "Benchmarks of a Chorus node (starts its own PostgreSQL and chorus on 127.0.0.1)"
)]
struct Cli {
    /// Print the results as JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// The chorus binary to benchmark. Default: `chorus` next to this binary, then
    /// $CARGO_TARGET_DIR/release/chorus, then target/release/chorus.
    #[arg(long, global = true, env = "CHORUS_BIN")]
    chorus_bin: Option<PathBuf>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Post creation over HTTP (1 channel and many channels) next to raw PostgreSQL
    /// single-row INSERTs on the same database, in the same run.
    Posts(PostsArgs),
    /// Memory of the node per idle authenticated websocket.
    WsIdle(WsIdleArgs),
    /// `posts`, then `ws-idle`, then a summary block for docs/benchmarks.md.
    All(AllArgs),
    /// Cross-node fan-out latency: a cluster, websockets on every node, posts through one node
    /// at several rates; post → `posted` event at clients on the other nodes.
    Fanout(FanoutArgs),
    /// Post creation through NGINX in front of a cluster: the most posts/s (closed loop), the
    /// latency curve at stepped rates (open loop), and raw INSERTs on the same database.
    NginxPosts(NginxPostsArgs),
    /// One client floods a node: what its normal users are still served, without and with
    /// RateLimitSettings.
    Flood(FloodArgs),
    /// A reconnect storm: 3 clustered nodes behind NGINX, websockets through NGINX, steady
    /// posts; SIGKILL of the busiest node, time until each of its clients resumed with nothing
    /// missing.
    Failover(FailoverArgs),
    /// The mobile app's start-up through NGINX on a cluster whose database holds 1,000 users
    /// and 200 channels: latency of a whole start at several concurrencies.
    Startup(StartupArgs),
    /// Incoming-webhook posts (`POST /hooks/{id}`) vs plain posts through NGINX in front of a
    /// cluster, closed loop, same stack and run.
    Webhooks(WebhooksArgs),
}

#[derive(Args)]
struct AllArgs {
    #[command(flatten)]
    posts: PostsArgs,
    #[command(flatten)]
    ws_idle: WsIdleArgs,
}

#[derive(Serialize)]
struct Output {
    machine: report::Machine,
    chorus_binary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    posts: Option<PostsReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ws_idle: Option<WsIdleReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fanout: Option<FanoutReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nginx_posts: Option<NginxPostsReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failover: Option<FailoverReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flood: Option<FloodReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    startup: Option<StartupReport>,
    webhooks: Option<WebhooksReport>,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("chorus-bench: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let binary = binary::locate_chorus(cli.chorus_bin.as_deref())?;
    let machine = report::Machine::detect();
    let mut output = Output {
        machine,
        chorus_binary: binary.display().to_string(),
        posts: None,
        ws_idle: None,
        fanout: None,
        nginx_posts: None,
        failover: None,
        flood: None,
        startup: None,
        webhooks: None,
    };
    let text = !cli.json;
    if text {
        println!("{}", output.machine.text());
        println!("chorus binary: {}\n", output.chorus_binary);
    }
    let (posts_args, ws_args) = match cli.scenario {
        Scenario::Posts(args) => (Some(args), None),
        Scenario::WsIdle(args) => (None, Some(args)),
        Scenario::All(args) => (Some(args.posts), Some(args.ws_idle)),
        Scenario::Fanout(args) => {
            let fanout = scenario::fanout::run(&binary, &args).await?;
            if text {
                println!("{}", fanout.text());
            }
            output.fanout = Some(fanout);
            (None, None)
        }
        Scenario::NginxPosts(args) => {
            let nginx_posts = scenario::nginx_posts::run(&binary, &args).await?;
            if text {
                println!("{}", nginx_posts.text());
            }
            output.nginx_posts = Some(nginx_posts);
            (None, None)
        }
        Scenario::Flood(args) => {
            let flood = scenario::flood::run(&binary, &args).await?;
            if text {
                println!("{}", flood.text());
            }
            output.flood = Some(flood);
            (None, None)
        }
        Scenario::Startup(args) => {
            let startup = scenario::startup::run(&binary, &args).await?;
            if text {
                println!("{}", startup.text());
            }
            output.startup = Some(startup);
            (None, None)
        }
        Scenario::Webhooks(args) => {
            let webhooks = scenario::webhooks::run(&binary, &args).await?;
            if text {
                println!("{}", webhooks.text());
            }
            output.webhooks = Some(webhooks);
            (None, None)
        }
        Scenario::Failover(args) => {
            let failover = scenario::failover::run(&binary, &args).await?;
            if text {
                println!("{}", failover.text());
            }
            output.failover = Some(failover);
            (None, None)
        }
    };
    if let Some(args) = posts_args {
        let posts = scenario::posts::run(&binary, &args).await?;
        if text {
            println!("{}", posts.text());
        }
        output.posts = Some(posts);
    }
    if let Some(args) = ws_args {
        let ws_idle = scenario::ws_idle::run(&binary, &args).await?;
        if text {
            println!("{}", ws_idle.text());
        }
        output.ws_idle = Some(ws_idle);
    }
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&output)?);
    } else if let (Some(posts), Some(ws_idle)) = (&output.posts, &output.ws_idle) {
        println!(
            "{}",
            summary::summary_markdown(&output.machine, posts, ws_idle)
        );
    }
    Ok(())
}

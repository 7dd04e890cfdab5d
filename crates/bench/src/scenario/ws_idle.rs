//! `ws-idle`: memory of one node per idle authenticated websocket.
//!
//! The node's memory is read from /proc/PID/smaps_rollup once before any websocket is opened
//! (users already set up) and once after all `--connections` are open, greeted with `hello`,
//! and idle for `--idle` seconds. Per connection = (after − before) / connections opened.
//!
//! Connections authenticate with `Authorization: Bearer <token>` on the upgrade, spread over
//! `--ws-users` users, and are opened `--open-concurrency` at a time. Each client socket is
//! bound to a 127.0.0.x source address (`--per-address` connections each), because one source
//! address has only ~28k ephemeral ports towards the node's port. Every open connection is held
//! by a task that keeps reading, so the server's pings are answered as a real client would.

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chorus_testkit::Endpoint;
use clap::Args;
use futures_util::{stream, StreamExt};
use serde::Serialize;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use crate::api::{Api, Membership};
use crate::report::fmt_thousands;
use crate::scenario::Stack;
use crate::sys::{loopback_source, raise_open_file_limit, Memory};
use crate::ws::{open, Acks, ClientSocket};

/// File descriptors beyond the websockets themselves (the node's PostgreSQL pool, logs, the
/// runtime).
const SPARE_FILES: u64 = 1_000;
/// Quiet time after setup before the first memory reading.
const SETTLE: Duration = Duration::from_secs(2);

#[derive(Args, Clone, Debug)]
pub struct WsIdleArgs {
    /// Websockets to open (try 50000 too).
    #[arg(long, default_value_t = 10_000)]
    pub connections: usize,
    /// Users the websockets authenticate as (round-robin).
    #[arg(long, default_value_t = 4)]
    pub ws_users: usize,
    /// Websockets being opened at the same time.
    #[arg(long, default_value_t = 64)]
    pub open_concurrency: usize,
    /// Seconds every websocket stays idle before the second memory reading.
    #[arg(long, default_value_t = 5.0)]
    pub idle: f64,
    /// Websockets per client source address (127.0.0.2, 127.0.0.3, ...). Each address has ~28k
    /// ephemeral ports, but bind() prefers the odd half and gets slow as that half fills up.
    #[arg(long, default_value_t = 10_000)]
    pub per_address: usize,
}

#[derive(Serialize)]
pub struct WsIdleReport {
    pub connections: usize,
    pub users: usize,
    pub source_addresses: Vec<String>,
    pub open_concurrency: usize,
    /// Connections that received `hello`.
    pub opened: usize,
    pub failed: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    pub open_seconds: f64,
    pub idle_seconds: f64,
    /// Connections the server closed while they were idle (should be 0).
    pub closed_while_idle: usize,
    pub node_before: Memory,
    pub node_after: Memory,
    pub per_connection_rss_kib: f64,
    pub per_connection_private_kib: f64,
    pub per_connection_anonymous_kib: f64,
}

pub async fn run(chorus_binary: &Path, args: &WsIdleArgs) -> Result<WsIdleReport> {
    if args.connections == 0 || args.ws_users == 0 || args.open_concurrency == 0 {
        bail!("--connections, --ws-users and --open-concurrency must be at least 1");
    }
    // Before the node starts: it inherits this process's limit.
    raise_open_file_limit(args.connections as u64 + SPARE_FILES)?;
    let mut stack = Stack::start(chorus_binary, false).await?;
    let result = measure(&mut stack, args).await;
    stack.stop().await;
    result
}

async fn measure(stack: &mut Stack, args: &WsIdleArgs) -> Result<WsIdleReport> {
    let api = Api::new(stack.node().url(""))?;
    let workspace = api
        .create_workspace(args.ws_users, 1, Membership::Everyone)
        .await
        .context("setting up users")?;
    let tokens: Vec<String> = workspace.accounts.iter().map(|a| a.token.clone()).collect();
    tokio::time::sleep(SETTLE).await;
    let pid = stack.pid()?;
    let node_before = Memory::of_process(pid)?;

    eprintln!(
        "ws-idle: opening {} websockets, {} at a time",
        args.connections, args.open_concurrency
    );
    let url = format!(
        "ws://127.0.0.1:{}/api/v4/websocket",
        stack.node().address().port()
    );
    let server = stack.node().address();
    let closed = Arc::new(AtomicUsize::new(0));
    let mut holders = JoinSet::new();
    let mut failed = 0;
    let mut first_error = None;
    let started = Instant::now();
    let mut opens = stream::iter(0..args.connections)
        .map(|index| {
            let source = loopback_source(index, args.per_address);
            let token = &tokens[index % tokens.len()];
            open(server, source, &url, token, Acks::Prompt)
        })
        .buffer_unordered(args.open_concurrency);
    let mut done = 0usize;
    while let Some(outcome) = opens.next().await {
        match outcome {
            Ok(socket) => {
                holders.spawn(hold(socket, closed.clone()));
            }
            Err(error) => {
                failed += 1;
                first_error.get_or_insert_with(|| format!("{error:#}"));
            }
        }
        done += 1;
        if done.is_multiple_of(5_000) {
            eprintln!(
                "ws-idle: {done} attempted, {failed} failed, {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    drop(opens);
    let open_seconds = started.elapsed().as_secs_f64();
    let opened = holders.len();

    eprintln!("ws-idle: {opened} open, idle for {} s", args.idle);
    let closed_before_idle = closed.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs_f64(args.idle)).await;
    stack.node().check_alive()?;
    let node_after = Memory::of_process(pid)?;
    let closed_while_idle = closed.load(Ordering::Relaxed) - closed_before_idle;
    holders.shutdown().await;

    let per = |before: u64, after: u64| {
        if opened == 0 {
            0.0
        } else {
            (after as f64 - before as f64) / opened as f64
        }
    };
    let last_source = loopback_source(args.connections.saturating_sub(1), args.per_address);
    let source_addresses = (2..=last_source.octets()[3].max(2))
        .map(|host| Ipv4Addr::new(127, 0, 0, host).to_string())
        .collect();
    Ok(WsIdleReport {
        connections: args.connections,
        users: args.ws_users,
        source_addresses,
        open_concurrency: args.open_concurrency,
        opened,
        failed,
        first_error,
        open_seconds,
        idle_seconds: args.idle,
        closed_while_idle,
        per_connection_rss_kib: per(node_before.rss_kib, node_after.rss_kib),
        per_connection_private_kib: per(node_before.private_kib, node_after.private_kib),
        per_connection_anonymous_kib: per(node_before.anonymous_kib, node_after.anonymous_kib),
        node_before,
        node_after,
    })
}

/// Keeps reading (which answers pings) until the server closes the connection or the task is
/// aborted; counts server-side closes.
async fn hold(mut socket: ClientSocket, closed: Arc<AtomicUsize>) {
    loop {
        match socket.next().await {
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                closed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Some(Ok(_)) => {}
        }
    }
}

impl WsIdleReport {
    pub fn text(&self) -> String {
        let mib = |kib: u64| kib as f64 / 1024.0;
        let mut out = String::from("== ws-idle: node memory per idle authenticated websocket\n");
        out.push_str(&format!(
            "{} websockets requested as {} users from {}; {} opened (hello received), {} failed, \
             in {:.1} s ({}/s, {} at a time)\n",
            fmt_thousands(self.connections as u64),
            self.users,
            self.source_addresses.join(", "),
            fmt_thousands(self.opened as u64),
            self.failed,
            self.open_seconds,
            fmt_thousands((self.opened as f64 / self.open_seconds.max(1e-9)).round() as u64),
            self.open_concurrency
        ));
        if let Some(error) = &self.first_error {
            out.push_str(&format!("first error: {error}\n"));
        }
        out.push_str(&format!(
            "idle {:.0} s; closed by the server while idle: {}\n\n",
            self.idle_seconds, self.closed_while_idle
        ));
        out.push_str("node memory (smaps_rollup)     before MiB   after MiB   per websocket KiB\n");
        for (name, before, after, per) in [
            (
                "Rss",
                self.node_before.rss_kib,
                self.node_after.rss_kib,
                self.per_connection_rss_kib,
            ),
            (
                "Private (clean + dirty)",
                self.node_before.private_kib,
                self.node_after.private_kib,
                self.per_connection_private_kib,
            ),
            (
                "Anonymous",
                self.node_before.anonymous_kib,
                self.node_after.anonymous_kib,
                self.per_connection_anonymous_kib,
            ),
        ] {
            out.push_str(&format!(
                "{name:<28} {:>12.1} {:>11.1} {:>19.2}\n",
                mib(before),
                mib(after),
                per
            ));
        }
        out.push_str("(kernel socket buffers are not process memory and are not included)\n");
        out
    }
}

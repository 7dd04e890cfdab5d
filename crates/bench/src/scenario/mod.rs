//! One module per scenario. Each starts its own [`Stack`], so scenarios do not influence each
//! other (a node that has just served 100,000 posts has a different heap than a fresh one).

pub mod failover;
pub mod fanout;
pub mod flood;
pub mod nginx_posts;
pub mod posts;
pub mod startup;
pub mod webhooks;
pub mod ws_idle;

use std::path::Path;

use anyhow::{Context, Result};
use chorus_testkit::{Sandbox, SandboxBuilder, SandboxNode};

use crate::sys::Parties;

/// The sandbox every scenario runs in: a throwaway PostgreSQL server of its own (with
/// pg_stat_statements when `track_statements`, so a scenario can say which statements cost
/// what, [`crate::pg::top_statements`]) and `chorus` processes of `chorus_binary`, clustered
/// when there are several.
fn bench_sandbox(chorus_binary: &Path, nodes: usize, track_statements: bool) -> SandboxBuilder {
    let builder = Sandbox::builder()
        .nodes(nodes)
        .processes(chorus_binary)
        .configure(|config| {
            config.team_settings.max_users_per_team = 100_000;
            config.log_settings.console_level = "WARN".to_string();
            // For the node-to-node traffic counters (a scrape costs nothing between scrapes).
            config.metrics_settings.enable = true;
        });
    if track_statements {
        builder.track_statements()
    } else {
        builder
    }
}

/// One chorus node on a throwaway PostgreSQL server.
pub struct Stack {
    sandbox: Sandbox,
    pub database_url: String,
}

impl Stack {
    pub async fn start(chorus_binary: &Path, track_statements: bool) -> Result<Stack> {
        let sandbox = bench_sandbox(chorus_binary, 1, track_statements)
            .try_start()
            .await?;
        Ok(Stack {
            database_url: sandbox.database_url(),
            sandbox,
        })
    }

    pub fn node(&self) -> &SandboxNode {
        self.sandbox.node(0)
    }

    /// The node's PID, for CPU and memory accounting.
    pub fn pid(&self) -> Result<u32> {
        self.node().pid().context("the node process has exited")
    }

    /// Stops the node (SIGTERM, then SIGKILL) and then PostgreSQL.
    pub async fn stop(self) {
        self.sandbox.stop().await;
    }
}

/// `nodes` clustered chorus processes on a throwaway PostgreSQL server, and optionally NGINX
/// in front of them.
pub struct ClusterStack {
    sandbox: Sandbox,
    pub database_url: String,
}

impl ClusterStack {
    pub async fn start(
        chorus_binary: &Path,
        nodes: usize,
        with_nginx: bool,
        track_statements: bool,
    ) -> Result<ClusterStack> {
        let builder = bench_sandbox(chorus_binary, nodes, track_statements).clustered(true);
        let builder = if with_nginx { builder.nginx() } else { builder };
        let sandbox = builder.try_start().await?;
        Ok(ClusterStack {
            database_url: sandbox.database_url(),
            sandbox,
        })
    }

    pub fn nodes(&self) -> &[SandboxNode] {
        self.sandbox.nodes()
    }

    /// The node-to-node messages and bytes the nodes have sent so far, summed (their
    /// `chorus_cluster_stream_*_sent` metrics).
    pub async fn cluster_traffic(&self) -> Result<ClusterTraffic> {
        let http = reqwest::Client::new();
        let mut traffic = ClusterTraffic::default();
        for node in self.nodes() {
            let text = http
                .get(node.metrics_url())
                .send()
                .await?
                .error_for_status()?
                .text()
                .await?;
            for line in text.lines() {
                let mut parts = line.split_whitespace();
                let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
                    continue;
                };
                let value = value.parse::<f64>().unwrap_or(0.0) as u64;
                match name {
                    "chorus_cluster_stream_messages_sent_total" => traffic.messages += value,
                    "chorus_cluster_stream_bytes_sent_total" => traffic.bytes += value,
                    _ => {}
                }
            }
        }
        Ok(traffic)
    }

    pub fn nginx(&self) -> Option<&chorus_testkit::Nginx> {
        self.sandbox.nginx()
    }

    /// The nodes' and NGINX's PIDs, for CPU accounting.
    pub fn parties(&self) -> Parties {
        Parties {
            nodes: self.nodes().iter().filter_map(SandboxNode::pid).collect(),
            nginx: self.nginx().map(chorus_testkit::Nginx::pid),
        }
    }

    /// Fails when a node has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        for node in self.nodes() {
            node.check_alive()?;
        }
        Ok(())
    }

    /// Stops NGINX (SIGTERM), the nodes (SIGTERM, then SIGKILL) and then PostgreSQL.
    pub async fn stop(self) {
        self.sandbox.stop().await;
    }
}

/// Node-to-node traffic, summed over the nodes.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct ClusterTraffic {
    pub messages: u64,
    pub bytes: u64,
}

impl ClusterTraffic {
    /// Per `operations` since `before`.
    pub fn per(self, before: ClusterTraffic, operations: u64) -> (f64, f64) {
        let operations = operations.max(1) as f64;
        (
            (self.messages - before.messages) as f64 / operations,
            (self.bytes - before.bytes) as f64 / operations,
        )
    }
}

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

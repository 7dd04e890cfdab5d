//! Everything the run needs, started in order and torn down in reverse: a PostgreSQL primary
//! with a streaming replica, the nodes' network namespaces with their relays to the database,
//! three `chorus` nodes, and NGINX in front of them.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chorus_testkit::PgServer;
use tempfile::TempDir;

use crate::db_bridge::DatabaseBridge;
use crate::net::Network;
use crate::node::Node;
use chorus_testkit::Nginx;

/// Fields drop in declaration order: NGINX, then the nodes, then what they depend on.
pub struct Sandbox {
    pub nginx: Nginx,
    pub nodes: Vec<Node>,
    _bridge: DatabaseBridge,
    pub network: Network,
    pub database: Database,
    _directory: TempDir,
    pub http: reqwest::Client,
}

impl Sandbox {
    /// `logs`: where node directories (config, log) go; a temp directory when None.
    /// `log_filter`: the nodes' RUST_LOG; their configured level (WARN) when None.
    pub async fn start(
        chorus_binary: &Path,
        node_count: usize,
        replication: Replication,
        logs: Option<&Path>,
        log_filter: Option<&str>,
    ) -> Result<Sandbox> {
        // Generous: setup requests hash passwords on a machine that may be busy.
        let http = crate::api::http_client(Duration::from_secs(60))?;
        let database = tokio::task::block_in_place(|| Database::start(replication))?;
        let network = Network::create(node_count)?;
        let mut bridge = DatabaseBridge::default();
        for index in 0..node_count {
            for port in database.ports() {
                bridge.add(network.namespace(index), port)?;
            }
        }
        let directory = tempfile::Builder::new()
            .prefix("chorus-chaos-")
            .tempdir()
            .context("creating the run's directory")?;
        let node_parent = match logs {
            Some(path) => {
                std::fs::create_dir_all(path)
                    .with_context(|| format!("creating {}", path.display()))?;
                path.to_path_buf()
            }
            None => directory.path().to_path_buf(),
        };
        let cluster_name = format!("chaos-{}", std::process::id());
        let mut nodes = Vec::new();
        for index in 0..node_count {
            nodes.push(Node::new(
                index,
                network.namespace(index).clone(),
                chorus_binary,
                &database.data_source(),
                &cluster_name,
                &node_parent,
                log_filter,
            )?);
        }
        // The first node migrates the schema; the others start once it serves.
        nodes[0].start(&http).await?;
        for node in &mut nodes[1..] {
            node.spawn()?;
        }
        for node in &mut nodes[1..] {
            node.wait_until_ready(&http).await?;
        }
        let upstreams: Vec<_> = nodes.iter().map(Node::api_address).collect();
        let nginx = Nginx::start(&upstreams, Duration::from_secs(2)).await?;
        Ok(Sandbox {
            nginx,
            nodes,
            _bridge: bridge,
            network,
            database,
            _directory: directory,
            http,
        })
    }

    /// NGINX's upstream address → node hostname.
    pub fn node_names(&self) -> HashMap<String, String> {
        self.nodes
            .iter()
            .map(|node| (node.api_address().to_string(), node.hostname().to_string()))
            .collect()
    }
}

/// How the primary ships commits to the replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Replication {
    /// A commit returns once the replica has it (`synchronous_standby_names = '*'`): a failover
    /// loses no acknowledged write. What a deployment that promises that must run.
    Synchronous,
    /// PostgreSQL's default: the last commits before the primary dies may never reach the
    /// replica, so a failover can lose acknowledged writes.
    Asynchronous,
}

/// A primary and one streaming replica; the nodes' DataSource lists both, with
/// `target_session_attrs=read-write`, so writes follow a promotion without a config change.
pub struct Database {
    primary: PgServer,
    standby: Option<PgServer>,
    /// A primary that was killed in a failover; kept so its port stays taken until the end.
    _retired: Vec<PgServer>,
    ports: Vec<u16>,
    database_name: String,
}

impl Database {
    fn start(replication: Replication) -> Result<Database> {
        let primary = PgServer::start().context("starting the PostgreSQL primary")?;
        let url = primary.create_database()?;
        let database_name = url
            .rsplit('/')
            .next()
            .and_then(|tail| tail.split('?').next())
            .unwrap_or_default()
            .to_string();
        let standby = primary
            .start_replica()
            .context("starting the PostgreSQL replica")?;
        if replication == Replication::Synchronous {
            // Set after the base backup, so the replica does not inherit it: once promoted it
            // has no standby of its own to wait for.
            primary.psql(
                "postgres",
                "ALTER SYSTEM SET synchronous_standby_names = '*'",
            )?;
            primary.psql("postgres", "SELECT pg_reload_conf()")?;
        }
        Ok(Database {
            ports: vec![primary.port(), standby.port()],
            primary,
            standby: Some(standby),
            _retired: Vec::new(),
            database_name,
        })
    }

    pub fn ports(&self) -> Vec<u16> {
        self.ports.clone()
    }

    pub fn data_source(&self) -> String {
        let hosts: Vec<String> = self
            .ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        format!(
            "postgres://chorus@{}/{}?target_session_attrs=read-write&sslmode=disable",
            hosts.join(","),
            self.database_name
        )
    }

    /// The URL of the server that takes writes now, for the checker.
    pub fn primary_url(&self) -> String {
        self.primary.url(&self.database_name)
    }

    pub fn primary_port(&self) -> u16 {
        self.primary.port()
    }

    /// SIGKILLs the primary and promotes the replica, as an operator's failover tool would.
    /// Blocking (it waits for `pg_ctl promote`); call from `block_in_place`.
    pub fn fail_over(&mut self) -> Result<()> {
        let Some(mut standby) = self.standby.take() else {
            bail!("no replica left to promote (one failover per run)");
        };
        self.primary.kill();
        standby.promote()?;
        let old_primary = std::mem::replace(&mut self.primary, standby);
        self._retired.push(old_primary);
        Ok(())
    }
}

//! Everything the run needs: chorus-testkit's Sandbox (a PostgreSQL primary with a streaming
//! replica, three `chorus` processes, NGINX in front of them) with each node started inside its
//! own network namespace, whose relays to the database are set up before the nodes start.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use chorus_testkit::{Nginx, SandboxNode};

use crate::db_bridge::DatabaseBridge;
use crate::net::Network;

/// Fields drop in declaration order: the sandbox (NGINX, the nodes, the relays, PostgreSQL),
/// then the namespaces.
pub struct Sandbox {
    sandbox: chorus_testkit::Sandbox,
    pub network: Network,
    /// The nodes' DataSource: every server, `target_session_attrs=read-write`.
    data_source: String,
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
        let network = Network::create(node_count)?;
        let namespaces: Vec<_> = (0..node_count)
            .map(|index| network.namespace(index).clone())
            .collect();
        let (for_bridge, for_hosts, for_spawn) =
            (namespaces.clone(), namespaces.clone(), namespaces);
        // The DataSource names every server with read-write as the target, so writes follow a
        // promotion without a config change; no read replicas.
        let mut builder = chorus_testkit::Sandbox::builder()
            .nodes(node_count)
            .replicas(1)
            .processes(chorus_binary)
            .nginx_with_fail_timeout(Duration::from_secs(2))
            .cluster_name(format!("chaos-{}", std::process::id()))
            .configure_with_database(|config, database| {
                config.sql_settings.data_source = database.multi_host_url();
                config.sql_settings.data_source_replicas = Vec::new();
                config.team_settings.max_users_per_team = 100_000;
                config.log_settings.console_level = "WARN".to_string();
            })
            .before_nodes(move |database| {
                let ports: Vec<u16> = std::iter::once(database.primary().port())
                    .chain(database.replicas.iter().map(|replica| replica.port()))
                    .collect();
                let mut bridge = DatabaseBridge::default();
                for namespace in &for_bridge {
                    for port in &ports {
                        bridge.add(namespace, *port)?;
                    }
                }
                Ok(Box::new(bridge))
            })
            .node_host(move |index| for_hosts[index].address.into())
            .spawn_hook(move |index, command| {
                Ok(Box::new(for_spawn[index].enter_on_spawn(command)?))
            });
        if replication == Replication::Synchronous {
            builder = builder.synchronous_replication();
        }
        if let Some(path) = logs {
            builder = builder.directory(path);
        }
        if let Some(filter) = log_filter {
            builder = builder.log_filter(filter);
        }
        let sandbox = builder.try_start().await?;
        let data_source = sandbox.database().multi_host_url();
        Ok(Sandbox {
            sandbox,
            network,
            data_source,
            http,
        })
    }

    pub fn nginx(&self) -> &Nginx {
        self.sandbox.nginx().expect("the chaos sandbox runs NGINX")
    }

    pub fn nodes(&self) -> &[SandboxNode] {
        self.sandbox.nodes()
    }

    /// The hostname node `index`'s processes see (its namespace's).
    pub fn hostname(&self, index: usize) -> &str {
        &self.network.namespace(index).hostname
    }

    /// NGINX's upstream address → node hostname.
    pub fn node_names(&self) -> HashMap<String, String> {
        self.nodes()
            .iter()
            .map(|node| {
                (
                    node.address().to_string(),
                    self.hostname(node.index).to_string(),
                )
            })
            .collect()
    }

    pub fn data_source(&self) -> &str {
        &self.data_source
    }

    /// The URL of the server that takes writes now, for the checker.
    pub fn primary_url(&self) -> String {
        self.sandbox.database().primary_url()
    }

    pub fn primary_port(&self) -> u16 {
        self.sandbox.database().primary().port()
    }

    /// SIGKILLs the primary and promotes the replica, as an operator's failover tool would.
    /// Blocking (it waits for `pg_ctl promote`); call from `block_in_place`.
    pub fn fail_over(&mut self) -> Result<()> {
        self.sandbox.database_mut().fail_over()
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

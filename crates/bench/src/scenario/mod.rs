//! One module per scenario. Each starts its own [`Stack`], so scenarios do not influence each
//! other (a node that has just served 100,000 posts has a different heap than a fresh one).

pub mod failover;
pub mod fanout;
pub mod nginx_posts;
pub mod posts;
pub mod ws_idle;

use std::path::Path;

use anyhow::{Context, Result};
use chorus_testkit::PgServer;

use crate::node::Node;
use crate::sys::Parties;
use chorus_testkit::Nginx;

/// A throwaway PostgreSQL server with one database, and a chorus node using it.
///
/// Fields drop in order: the node is killed before PostgreSQL is stopped and deleted.
pub struct Stack {
    pub node: Node,
    pub database_url: String,
    pg: PgServer,
}

/// A throwaway PostgreSQL server and one fresh database on it. With `track_statements`, the
/// server loads pg_stat_statements (a restart) and the database has the extension, so a
/// scenario can say which statements cost what ([`crate::pg::top_statements`]).
async fn start_postgres(track_statements: bool) -> Result<(PgServer, String)> {
    tokio::task::spawn_blocking(move || -> Result<(PgServer, String)> {
        let mut pg = PgServer::start().context("starting a throwaway PostgreSQL")?;
        if track_statements {
            let config = pg.data_dir().join("postgresql.conf");
            let mut settings =
                std::fs::read_to_string(&config).context("reading postgresql.conf")?;
            settings.push_str("\nshared_preload_libraries = 'pg_stat_statements'\n");
            std::fs::write(&config, settings).context("writing postgresql.conf")?;
            pg.restart()
                .context("restarting PostgreSQL with pg_stat_statements")?;
        }
        let url = pg.create_database()?;
        if track_statements {
            let database = url.rsplit('/').next().unwrap_or_default();
            let database = database.split('?').next().unwrap_or_default();
            pg.psql(database, "CREATE EXTENSION pg_stat_statements")?;
        }
        Ok((pg, url))
    })
    .await?
}

impl Stack {
    pub async fn start(chorus_binary: &Path, track_statements: bool) -> Result<Stack> {
        let (pg, database_url) = start_postgres(track_statements).await?;
        let node = Node::start(chorus_binary, &database_url, &[]).await?;
        Ok(Stack {
            node,
            database_url,
            pg,
        })
    }

    /// Stops the node (SIGTERM, then SIGKILL) and then PostgreSQL.
    pub async fn stop(self) {
        let Stack { node, pg, .. } = self;
        node.stop().await;
        tokio::task::spawn_blocking(move || drop(pg)).await.ok();
    }
}

/// A throwaway PostgreSQL, `nodes` chorus processes clustered on its one database (gossip on
/// free 127.0.0.1 ports, one cluster name), and optionally NGINX in front of them.
///
/// Fields drop in order: NGINX, then the nodes, then PostgreSQL.
pub struct ClusterStack {
    pub nginx: Option<Nginx>,
    pub nodes: Vec<Node>,
    pub database_url: String,
    pg: PgServer,
}

impl ClusterStack {
    pub async fn start(
        chorus_binary: &Path,
        nodes: usize,
        with_nginx: bool,
        track_statements: bool,
    ) -> Result<ClusterStack> {
        let (pg, database_url) = start_postgres(track_statements).await?;
        let cluster_name = format!("bench-{}", std::process::id());
        let mut started = Vec::with_capacity(nodes);
        for _ in 0..nodes {
            let settings = [
                ("MM_CLUSTERSETTINGS_ENABLE", "true".to_owned()),
                ("MM_CLUSTERSETTINGS_CLUSTERNAME", cluster_name.clone()),
                (
                    "MM_CLUSTERSETTINGS_OVERRIDEHOSTNAME",
                    "127.0.0.1".to_owned(),
                ),
                ("MM_CLUSTERSETTINGS_BINDADDRESS", "127.0.0.1".to_owned()),
                (
                    "MM_CLUSTERSETTINGS_GOSSIPPORT",
                    chorus_testkit::free_port().to_string(),
                ),
            ]
            .map(|(name, value)| (name.to_owned(), value));
            started.push(Node::start(chorus_binary, &database_url, &settings).await?);
        }
        let nginx = if with_nginx {
            let upstreams: Vec<_> = started.iter().map(Node::address).collect();
            Some(Nginx::start(&upstreams, std::time::Duration::from_secs(5)).await?)
        } else {
            None
        };
        Ok(ClusterStack {
            nginx,
            nodes: started,
            database_url,
            pg,
        })
    }

    /// The nodes' and NGINX's PIDs, for CPU accounting.
    pub fn parties(&self) -> Parties {
        Parties {
            nodes: self.nodes.iter().map(Node::pid).collect(),
            nginx: self.nginx.as_ref().map(Nginx::pid),
        }
    }

    /// Fails when a node has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        for node in &mut self.nodes {
            node.check_alive()?;
        }
        Ok(())
    }

    /// Stops NGINX (SIGTERM), the nodes (SIGTERM, then SIGKILL) and then PostgreSQL.
    pub async fn stop(self) {
        let ClusterStack {
            nginx, nodes, pg, ..
        } = self;
        if let Some(nginx) = nginx {
            nginx.stop().await;
        }
        for node in nodes {
            node.stop().await;
        }
        tokio::task::spawn_blocking(move || drop(pg)).await.ok();
    }
}

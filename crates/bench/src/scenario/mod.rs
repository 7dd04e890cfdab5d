//! One module per scenario. Each starts its own [`Stack`], so scenarios do not influence each
//! other (a node that has just served 100,000 posts has a different heap than a fresh one).

pub mod posts;
pub mod ws_idle;

use std::path::Path;

use anyhow::{Context, Result};
use chorus_testkit::PgServer;

use crate::node::Node;

/// A throwaway PostgreSQL server with one database, and a chorus node using it.
///
/// Fields drop in order: the node is killed before PostgreSQL is stopped and deleted.
pub struct Stack {
    pub node: Node,
    pub database_url: String,
    pg: PgServer,
}

impl Stack {
    pub async fn start(chorus_binary: &Path) -> Result<Stack> {
        let (pg, database_url) = tokio::task::spawn_blocking(|| -> Result<(PgServer, String)> {
            let pg = PgServer::start().context("starting a throwaway PostgreSQL")?;
            let url = pg.create_database()?;
            Ok((pg, url))
        })
        .await??;
        let node = Node::start(chorus_binary, &database_url).await?;
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

//! Discovery through the database: each node keeps a row in `clusterdiscovery` saying where its
//! gossip listens, and gossips with the rows of its own cluster name. Chitchat does the rest
//! (peers learn about each other through gossip), so the table only has to introduce a node to
//! one live peer.

use chitchat::ChitchatHandle;
use chorus_store::cluster::{self as discovery_store, DiscoveryRow, DISCOVERY_TYPE_APP};
use chorus_store::{Store, StoreResult};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub(crate) struct Discovery {
    pub store: Store,
    pub row: DiscoveryRow,
    pub ping_interval: Duration,
    pub stale_after: Duration,
}

impl Discovery {
    fn stale_after_millis(&self) -> i64 {
        self.stale_after.as_millis().min(i64::MAX as u128) as i64
    }

    pub async fn register(&self) -> StoreResult<()> {
        let db = self.store.master().await?;
        discovery_store::register(&db, &self.row).await
    }

    pub async fn deregister(&self) -> StoreResult<()> {
        let db = self.store.master().await?;
        discovery_store::delete(&db, &self.row.id).await
    }

    /// Node ids and gossip addresses of the other live rows of this cluster.
    pub async fn peers(&self) -> StoreResult<Vec<(String, SocketAddr)>> {
        let db = self.store.master().await?;
        let rows = discovery_store::list(
            &db,
            DISCOVERY_TYPE_APP,
            &self.row.cluster_name,
            self.stale_after_millis(),
        )
        .await?;
        drop(db);
        let mut addresses = Vec::new();
        for row in rows {
            if row.id == self.row.id {
                continue;
            }
            match resolve(&row.hostname, row.gossip_port as u16).await {
                Some(address) => addresses.push((row.id, address)),
                None => {
                    tracing::warn!(hostname = %row.hostname, node_id = %row.id, "cannot resolve a discovered peer")
                }
            }
        }
        Ok(addresses)
    }

    /// One round: refresh this node's row (registering again if it was removed while this
    /// node was paused), delete stale rows, and return the peers to gossip with.
    async fn round(&self) -> StoreResult<Vec<(String, SocketAddr)>> {
        {
            let db = self.store.master().await?;
            if !discovery_store::ping(&db, &self.row.id).await? {
                tracing::info!(node_id = %self.row.id, "discovery row was gone, registering again");
                discovery_store::register(&db, &self.row).await?;
            }
            let removed =
                discovery_store::delete_stale(&db, DISCOVERY_TYPE_APP, self.stale_after_millis())
                    .await?;
            if removed > 0 {
                tracing::info!(removed, "stale discovery rows removed");
            }
        }
        self.peers().await
    }
}

/// Pings, cleans and (re)joins every `ping_interval` until aborted.
pub(crate) async fn run(discovery: Arc<Discovery>, chitchat: Arc<ChitchatHandle>) {
    let mut ticker = tokio::time::interval(discovery.ping_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        match discovery.round().await {
            Ok(peers) => {
                for (_, address) in peers {
                    let _ = chitchat.gossip(address);
                }
            }
            Err(error) => tracing::warn!(error = %error, "cluster discovery round failed"),
        }
    }
}

/// `host:port` to a socket address, preferring IPv4.
pub(crate) async fn resolve(host: &str, port: u16) -> Option<SocketAddr> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await.ok()?.collect();
    addresses
        .iter()
        .find(|address| address.is_ipv4())
        .or_else(|| addresses.first())
        .copied()
}

//! Cluster discovery rows (`clusterdiscovery`) and the cluster key (Systems `ClusterEncryptionKey`).
//!
//! Every time written or compared here comes from the database clock
//! ([`DB_NOW_MILLIS`]), never from a node's: nodes whose clocks disagree still agree on which
//! rows are stale.

use crate::{GenericClient, StoreResult};

/// The Systems row holding the cluster key (base64), Mattermost's `SystemClusterEncryptionKey`.
pub const CLUSTER_KEY_NAME: &str = "ClusterEncryptionKey";

/// Mattermost's `CDSTypeApp`: the discovery type of an app node.
pub const DISCOVERY_TYPE_APP: &str = "mattermost_app";

/// The database's current time in milliseconds since the epoch, as SQL.
const DB_NOW_MILLIS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// One row of `clusterdiscovery`: where a node's gossip listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryRow {
    /// The node id (new for every process start).
    pub id: String,
    /// [`DISCOVERY_TYPE_APP`] for app nodes.
    pub kind: String,
    pub cluster_name: String,
    pub hostname: String,
    pub gossip_port: i32,
    pub port: i32,
    pub create_at: i64,
    pub last_ping_at: i64,
}

impl DiscoveryRow {
    fn from_row(row: &tokio_postgres::Row) -> DiscoveryRow {
        DiscoveryRow {
            id: row.get("id"),
            kind: row.get("type"),
            cluster_name: row.get("clustername"),
            hostname: row.get("hostname"),
            gossip_port: row.get("gossipport"),
            port: row.get("port"),
            create_at: row.get("createat"),
            last_ping_at: row.get("lastpingat"),
        }
    }
}

/// Registers a node: removes any earlier row for the same (type, cluster name, hostname, port) —
/// a previous process of this node that did not stop cleanly — and inserts this one, in one
/// statement. `create_at`/`last_ping_at` of `row` are ignored: the database clock sets both.
pub async fn register(db: &impl GenericClient, row: &DiscoveryRow) -> StoreResult<()> {
    let sql = format!(
        "WITH previous AS (
             DELETE FROM clusterdiscovery
             WHERE type = $2 AND clustername = $3 AND hostname = $4 AND gossipport = $5 AND id <> $1
         )
         INSERT INTO clusterdiscovery
             (id, type, clustername, hostname, gossipport, port, createat, lastpingat)
         VALUES ($1, $2, $3, $4, $5, $6, {DB_NOW_MILLIS}, {DB_NOW_MILLIS})
         ON CONFLICT (id) DO UPDATE SET lastpingat = EXCLUDED.lastpingat"
    );
    db.execute(
        &sql,
        &[
            &row.id,
            &row.kind,
            &row.cluster_name,
            &row.hostname,
            &row.gossip_port,
            &row.port,
        ],
    )
    .await?;
    Ok(())
}

/// Refreshes a node's `lastpingat`. Returns false when the row is gone (another node removed it
/// as stale while this one was paused): the caller registers again.
pub async fn ping(db: &impl GenericClient, id: &str) -> StoreResult<bool> {
    let sql = format!("UPDATE clusterdiscovery SET lastpingat = {DB_NOW_MILLIS} WHERE id = $1");
    let updated = db.execute(&sql, &[&id]).await?;
    Ok(updated > 0)
}

/// Deletes rows of `kind` not pinged for `stale_after_millis`; returns how many.
pub async fn delete_stale(
    db: &impl GenericClient,
    kind: &str,
    stale_after_millis: i64,
) -> StoreResult<u64> {
    let sql = format!(
        "DELETE FROM clusterdiscovery WHERE type = $1 AND lastpingat < {DB_NOW_MILLIS} - $2"
    );
    Ok(db.execute(&sql, &[&kind, &stale_after_millis]).await?)
}

/// The rows of one cluster pinged within `alive_within_millis` (the peers to join), oldest first.
pub async fn list(
    db: &impl GenericClient,
    kind: &str,
    cluster_name: &str,
    alive_within_millis: i64,
) -> StoreResult<Vec<DiscoveryRow>> {
    let sql = format!(
        "SELECT id, type, clustername, hostname, gossipport, port, createat, lastpingat
         FROM clusterdiscovery
         WHERE type = $1 AND clustername = $2 AND lastpingat >= {DB_NOW_MILLIS} - $3
         ORDER BY createat, id"
    );
    let rows = db
        .query(&sql, &[&kind, &cluster_name, &alive_within_millis])
        .await?;
    Ok(rows.iter().map(DiscoveryRow::from_row).collect())
}

/// Every row, of every type and cluster (for diagnostics and tests).
pub async fn list_all(db: &impl GenericClient) -> StoreResult<Vec<DiscoveryRow>> {
    let rows = db
        .query(
            "SELECT id, type, clustername, hostname, gossipport, port, createat, lastpingat
             FROM clusterdiscovery ORDER BY createat, id",
            &[],
        )
        .await?;
    Ok(rows.iter().map(DiscoveryRow::from_row).collect())
}

/// Removes a node's row (clean stop).
pub async fn delete(db: &impl GenericClient, id: &str) -> StoreResult<()> {
    db.execute("DELETE FROM clusterdiscovery WHERE id = $1", &[&id])
        .await?;
    Ok(())
}

/// Returns the cluster key, storing `candidate` first if there is none yet. Race-free: every
/// node that starts at the same moment proposes its own candidate, exactly one insert wins and
/// all of them read back the winner.
pub async fn get_or_create_cluster_key(
    db: &impl GenericClient,
    candidate: &str,
) -> StoreResult<String> {
    db.execute(
        "INSERT INTO systems (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        &[&CLUSTER_KEY_NAME, &candidate],
    )
    .await?;
    let row = db
        .query_one(
            "SELECT value FROM systems WHERE name = $1",
            &[&CLUSTER_KEY_NAME],
        )
        .await?;
    Ok(row.get(0))
}

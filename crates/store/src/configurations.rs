//! The configuration kept in the database (`--config postgres://…`, as Mattermost allows):
//! every saved version is a row of `configurations`, the one in force has `active = true`.
//!
//! The table has Mattermost's shape (`Id`, `Value`, `CreateAt`, `Active` unique where true), so
//! an operator's queries carry over. It is created here rather than by the migrations: a node
//! reads its configuration before it knows the data source the migrations run on, and the
//! configuration may live in another database than the data.
//!
//! Each call opens its own connection from the DSN: configuration is read at start, on a
//! change another node announces and by a slow poll, never on a request's path.

use chorus_model::{new_id, now_millis};
use serde_json::Value;
use tokio_postgres::NoTls;

use crate::{StoreError, StoreResult};

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS configurations (\
        id       varchar(26) PRIMARY KEY,\
        value    text NOT NULL,\
        createat bigint NOT NULL,\
        active   boolean NULL UNIQUE\
    )";

/// The version of the configuration in force.
#[derive(Debug, Clone)]
pub struct StoredConfig {
    pub id: String,
    pub tree: Value,
    pub create_at: i64,
}

/// A connection whose `configurations` table exists (reads and saves of the tree).
async fn connect(dsn: &str) -> StoreResult<tokio_postgres::Client> {
    let client = connect_only(dsn).await?;
    client.batch_execute(CREATE_TABLE).await?;
    Ok(client)
}

/// A connection, no DDL: the poll runs after the start created the table.
async fn connect_only(dsn: &str) -> StoreResult<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(dsn, NoTls)
        .await
        .map_err(|error| StoreError::Unavailable(format!("configuration database: {error}")))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(error = %error, "configuration database connection ended");
        }
    });
    Ok(client)
}

/// The active configuration, or None when none was ever saved.
pub async fn load_active(dsn: &str) -> StoreResult<Option<StoredConfig>> {
    let client = connect(dsn).await?;
    let row = client
        .query_opt(
            "SELECT id, value, createat FROM configurations WHERE active",
            &[],
        )
        .await?;
    row.map(|row| {
        let value: String = row.get(1);
        let tree = serde_json::from_str(&value).map_err(|error| {
            StoreError::Database(format!("the active configuration is not JSON: {error}"))
        })?;
        Ok(StoredConfig {
            id: row.get(0),
            tree,
            create_at: row.get(2),
        })
    })
    .transpose()
}

/// The id of the active configuration: the cheap check of the poll.
pub async fn active_id(dsn: &str) -> StoreResult<Option<String>> {
    let client = connect_only(dsn).await?;
    let row = client
        .query_opt("SELECT id FROM configurations WHERE active", &[])
        .await?;
    Ok(row.map(|row| row.get(0)))
}

/// Saves `tree` as the new active configuration; the previous versions stay as history.
pub async fn save(dsn: &str, tree: &Value) -> StoreResult<StoredConfig> {
    save_unless(dsn, tree, false)
        .await
        .map(|stored| stored.expect("saved unconditionally"))
}

/// Saves `tree` (the defaults, at a first start) unless a configuration is active; returns the
/// one in force either way. Nodes starting together on an empty table write one row.
pub async fn save_if_none(dsn: &str, tree: &Value) -> StoreResult<StoredConfig> {
    if let Some(stored) = save_unless(dsn, tree, true).await? {
        return Ok(stored);
    }
    load_active(dsn)
        .await?
        .ok_or_else(|| StoreError::Database("no active configuration after saving one".to_string()))
}

/// Saves `tree` as active; with `only_if_none`, does nothing (None) when one is active.
async fn save_unless(
    dsn: &str,
    tree: &Value,
    only_if_none: bool,
) -> StoreResult<Option<StoredConfig>> {
    let mut client = connect(dsn).await?;
    let stored = StoredConfig {
        id: new_id(),
        tree: tree.clone(),
        create_at: now_millis(),
    };
    let value = serde_json::to_string_pretty(tree)
        .map_err(|error| StoreError::Database(error.to_string()))?;
    let transaction = client.transaction().await?;
    // Saves from two nodes at once take turns here; the later one is the active one.
    transaction
        .batch_execute("LOCK TABLE configurations IN EXCLUSIVE MODE")
        .await?;
    if only_if_none
        && transaction
            .query_opt("SELECT id FROM configurations WHERE active", &[])
            .await?
            .is_some()
    {
        return Ok(None);
    }
    transaction
        .execute("UPDATE configurations SET active = NULL WHERE active", &[])
        .await?;
    transaction
        .execute(
            "INSERT INTO configurations (id, value, createat, active) VALUES ($1, $2, $3, true)",
            &[&stored.id, &value, &stored.create_at],
        )
        .await?;
    transaction.commit().await?;
    Ok(Some(stored))
}

//! The Systems table: small named values (cluster key, health checks, markers).

use crate::{GenericClient, StoreResult};

pub async fn get(db: &impl GenericClient, name: &str) -> StoreResult<Option<String>> {
    let row = db
        .query_opt("SELECT value FROM systems WHERE name = $1", &[&name])
        .await?;
    Ok(row.map(|row| row.get(0)))
}

pub async fn set(db: &impl GenericClient, name: &str, value: &str) -> StoreResult<()> {
    db.execute(
        "INSERT INTO systems (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
        &[&name, &value],
    )
    .await?;
    Ok(())
}

/// Writes then deletes a per-node row on the master: proves the database takes writes.
pub async fn write_health_check(db: &impl GenericClient, node_key: &str) -> StoreResult<()> {
    let name = format!("health_check_{node_key}");
    let now = chorus_model::now_millis().to_string();
    set(db, &name, &now).await?;
    db.execute("DELETE FROM systems WHERE name = $1", &[&name])
        .await?;
    Ok(())
}

/// The applied schema migrations, newest first: (version, name).
pub async fn schema_versions(db: &impl GenericClient) -> StoreResult<Vec<(i32, String)>> {
    let rows = db
        .query(
            "SELECT version, name FROM refinery_schema_history ORDER BY version DESC",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

//! Custom emoji (Mattermost's Emoji table). Deleting keeps the row (DeleteAt) and frees the
//! name; a live name is unique (`idx_emoji_live_name`).

use crate::{one, Connection, GenericClient, Record, StoreResult};
use chorus_model::Emoji;
use tokio_postgres::Row;

const COLUMNS: &str = "id, createat, updateat, deleteat, creatorid, name";

fn emoji_from_row(row: &Row) -> Emoji {
    Emoji {
        id: row.get("id"),
        create_at: row.get("createat"),
        update_at: row.get("updateat"),
        delete_at: row.get("deleteat"),
        creator_id: row.get("creatorid"),
        name: row.get("name"),
    }
}

/// Stores a new emoji; a live emoji of the same name makes it a `Conflict`.
pub async fn insert(db: &impl GenericClient, emoji: &Emoji) -> StoreResult<()> {
    db.execute(
        &format!("INSERT INTO emoji ({COLUMNS}) VALUES ($1, $2, $3, 0, $4, $5)"),
        &[
            &emoji.id,
            &emoji.create_at,
            &emoji.update_at,
            &emoji.creator_id,
            &emoji.name,
        ],
    )
    .await?;
    Ok(())
}

/// A live emoji by id.
pub async fn get(db: &impl GenericClient, emoji_id: &str) -> StoreResult<Emoji> {
    let row = db
        .query_opt(
            &format!("SELECT {COLUMNS} FROM emoji WHERE id = $1 AND deleteat = 0"),
            &[&emoji_id],
        )
        .await?;
    one(row.as_ref().map(emoji_from_row), Record::Emoji)
}

/// A live emoji by name.
pub async fn get_by_name(db: &impl GenericClient, name: &str) -> StoreResult<Emoji> {
    let row = db
        .query_opt(
            &format!("SELECT {COLUMNS} FROM emoji WHERE name = $1 AND deleteat = 0"),
            &[&name],
        )
        .await?;
    one(row.as_ref().map(emoji_from_row), Record::Emoji)
}

/// The live emoji among `names` (missing names are left out), by name.
pub async fn get_by_names(db: &impl GenericClient, names: &[String]) -> StoreResult<Vec<Emoji>> {
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM emoji WHERE name = ANY($1) AND deleteat = 0 ORDER BY name"
            ),
            &[&names],
        )
        .await?;
    Ok(rows.iter().map(emoji_from_row).collect())
}

/// A page of live emoji: by name when `by_name`, else oldest first (Mattermost leaves the
/// order to the database; creation order is stable across pages).
pub async fn list(
    db: &impl GenericClient,
    by_name: bool,
    offset: i64,
    limit: i64,
) -> StoreResult<Vec<Emoji>> {
    let order = if by_name { "name, id" } else { "createat, id" };
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM emoji WHERE deleteat = 0 ORDER BY {order} LIMIT $1 OFFSET $2"
            ),
            &[&limit, &offset],
        )
        .await?;
    Ok(rows.iter().map(emoji_from_row).collect())
}

/// Live emoji whose name starts with `term` (`prefix_only`) or contains it, by name.
pub async fn search(
    db: &impl GenericClient,
    term: &str,
    prefix_only: bool,
    limit: i64,
) -> StoreResult<Vec<Emoji>> {
    let escaped = term
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let pattern = if prefix_only {
        format!("{escaped}%")
    } else {
        format!("%{escaped}%")
    };
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM emoji WHERE name LIKE $1 AND deleteat = 0 \
                 ORDER BY name LIMIT $2"
            ),
            &[&pattern, &limit],
        )
        .await?;
    Ok(rows.iter().map(emoji_from_row).collect())
}

/// Deletes a live emoji and, in the same transaction, the live reactions that used its name
/// (as Mattermost's `DeleteAllWithEmojiName`, without events). `NotFound` if it was not live.
pub async fn delete(db: &mut Connection, emoji_id: &str, now: i64) -> StoreResult<Emoji> {
    let transaction = db.transaction().await?;
    let row = transaction
        .query_opt(
            &format!(
                "UPDATE emoji SET deleteat = $2, updateat = $2 WHERE id = $1 AND deleteat = 0 \
                 RETURNING {COLUMNS}"
            ),
            &[&emoji_id, &now],
        )
        .await?;
    let emoji = one(row.as_ref().map(emoji_from_row), Record::Emoji)?;
    transaction
        .execute(
            "UPDATE reactions SET deleteat = $2, updateat = $2 WHERE emojiname = $1 AND deleteat = 0",
            &[&emoji.name, &now],
        )
        .await?;
    transaction.commit().await?;
    Ok(emoji)
}

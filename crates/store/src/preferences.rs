//! Preferences (Mattermost's Preferences table) and the saved posts they name.
//!
//! Every save and delete also stamps `preferencechanges` for the user in the same transaction,
//! so a websocket rebuilt from the database can tell whether its client may have missed a
//! `preferences_changed` / `preferences_deleted` event (`history::unrebuildable_changes_since`).

use crate::{one, Connection, GenericClient, Record, StoreResult};
use chorus_model::{Preference, PREFERENCE_CATEGORY_FLAGGED_POST};
use tokio_postgres::Row;

const COLUMNS: &str = "userid, category, name, value";

fn preference_from_row(row: &Row) -> Preference {
    Preference {
        user_id: row.get("userid"),
        category: row.get("category"),
        name: row.get("name"),
        value: row.get("value"),
    }
}

pub async fn get_all(db: &impl GenericClient, user_id: &str) -> StoreResult<Vec<Preference>> {
    let rows = db
        .query(
            &format!("SELECT {COLUMNS} FROM preferences WHERE userid = $1 ORDER BY category, name"),
            &[&user_id],
        )
        .await?;
    Ok(rows.iter().map(preference_from_row).collect())
}

pub async fn get_category(
    db: &impl GenericClient,
    user_id: &str,
    category: &str,
) -> StoreResult<Vec<Preference>> {
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM preferences WHERE userid = $1 AND category = $2 ORDER BY name"
            ),
            &[&user_id, &category],
        )
        .await?;
    Ok(rows.iter().map(preference_from_row).collect())
}

pub async fn get(
    db: &impl GenericClient,
    user_id: &str,
    category: &str,
    name: &str,
) -> StoreResult<Preference> {
    let row = db
        .query_opt(
            &format!(
                "SELECT {COLUMNS} FROM preferences WHERE userid = $1 AND category = $2 AND name = $3"
            ),
            &[&user_id, &category, &name],
        )
        .await?;
    one(row.as_ref().map(preference_from_row), Record::Preference)
}

/// Inserts or updates `preferences` (all of `user_id`) in one transaction: all or none.
pub async fn save(
    db: &mut Connection,
    user_id: &str,
    preferences: &[Preference],
    now: i64,
) -> StoreResult<()> {
    let transaction = db.transaction().await?;
    for preference in preferences {
        transaction
            .execute(
                "INSERT INTO preferences (userid, category, name, value) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (userid, category, name) DO UPDATE SET value = EXCLUDED.value",
                &[
                    &preference.user_id,
                    &preference.category,
                    &preference.name,
                    &preference.value,
                ],
            )
            .await?;
    }
    crate::sidebar::favorites_saved(&transaction, user_id, preferences).await?;
    stamp_change(&transaction, user_id, now).await?;
    transaction.commit().await?;
    Ok(())
}

/// Deletes the `(category, name)` preferences of `user_id` named in `preferences` (values are
/// ignored); missing ones are not an error.
pub async fn delete(
    db: &mut Connection,
    user_id: &str,
    preferences: &[Preference],
    now: i64,
) -> StoreResult<()> {
    let transaction = db.transaction().await?;
    for preference in preferences {
        transaction
            .execute(
                "DELETE FROM preferences WHERE userid = $1 AND category = $2 AND name = $3",
                &[&user_id, &preference.category, &preference.name],
            )
            .await?;
    }
    crate::sidebar::favorites_deleted(&transaction, user_id, preferences).await?;
    stamp_change(&transaction, user_id, now).await?;
    transaction.commit().await?;
    Ok(())
}

/// Records that the user's preferences changed at `now` (never moving the stamp back, should
/// another node's clock be behind).
async fn stamp_change(db: &impl GenericClient, user_id: &str, now: i64) -> StoreResult<()> {
    db.execute(
        "INSERT INTO preferencechanges (userid, changedat) VALUES ($1, $2) \
         ON CONFLICT (userid) DO UPDATE \
         SET changedat = GREATEST(preferencechanges.changedat, EXCLUDED.changedat)",
        &[&user_id, &now],
    )
    .await?;
    Ok(())
}

/// Which saved posts to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlaggedIn {
    Everywhere,
    Channel(String),
    /// The team's channels and every direct or group channel (Mattermost's rule).
    Team(String),
}

/// Ids of the live posts `user_id` saved, newest first, `limit` from `offset`.
pub async fn flagged_post_ids(
    db: &impl GenericClient,
    user_id: &str,
    scope: &FlaggedIn,
    offset: i64,
    limit: i64,
) -> StoreResult<Vec<String>> {
    let saved = "SELECT posts.id FROM preferences \
                 JOIN posts ON posts.id = preferences.name \
                 JOIN channels ON channels.id = posts.channelid \
                 WHERE preferences.userid = $1 AND preferences.category = $2 \
                 AND posts.deleteat = 0";
    let order = "ORDER BY posts.createat DESC, posts.id LIMIT $3 OFFSET $4";
    let category = PREFERENCE_CATEGORY_FLAGGED_POST;
    let rows = match scope {
        FlaggedIn::Everywhere => {
            db.query(
                &format!("{saved} {order}"),
                &[&user_id, &category, &limit, &offset],
            )
            .await?
        }
        FlaggedIn::Channel(channel_id) => {
            db.query(
                &format!("{saved} AND posts.channelid = $5 {order}"),
                &[&user_id, &category, &limit, &offset, channel_id],
            )
            .await?
        }
        FlaggedIn::Team(team_id) => {
            db.query(
                &format!("{saved} AND (channels.teamid = $5 OR channels.teamid = '') {order}"),
                &[&user_id, &category, &limit, &offset, team_id],
            )
            .await?
        }
    };
    Ok(rows.iter().map(|row| row.get("id")).collect())
}

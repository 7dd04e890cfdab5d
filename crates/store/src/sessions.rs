//! Login sessions.

use crate::{json_map, one, GenericClient, Record, StoreResult};
use chorus_model::Session;
use serde_json::Value;
use tokio_postgres::Row;

const SESSION_COLUMNS: &str =
    "id, token, createat, expiresat, lastactivityat, userid, deviceid, roles, isoauth, props";

fn session_from_row(row: &Row) -> Session {
    Session {
        id: row.get("id"),
        token: row.get("token"),
        create_at: row.get("createat"),
        expires_at: row.get("expiresat"),
        last_activity_at: row.get("lastactivityat"),
        user_id: row.get("userid"),
        device_id: row.get("deviceid"),
        roles: row.get("roles"),
        is_oauth: row.get("isoauth"),
        props: json_map(row, "props"),
        local: false,
    }
}

pub async fn insert(db: &impl GenericClient, session: &Session) -> StoreResult<()> {
    db.execute(
        "INSERT INTO sessions (id, token, createat, expiresat, lastactivityat, userid, deviceid, roles, isoauth, props) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &session.id,
            &session.token,
            &session.create_at,
            &session.expires_at,
            &session.last_activity_at,
            &session.user_id,
            &session.device_id,
            &session.roles,
            &session.is_oauth,
            &Value::Object(session.props.clone()),
        ],
    )
    .await?;
    Ok(())
}

pub async fn get_by_token(db: &impl GenericClient, token: &str) -> StoreResult<Session> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE token = $1");
    let statement = db.prepare_cached(&sql).await?;
    let row = db.query_opt(&statement, &[&token]).await?;
    one(row.as_ref().map(session_from_row), Record::Session)
}

pub async fn get(db: &impl GenericClient, session_id: &str) -> StoreResult<Session> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
    let row = db.query_opt(&sql, &[&session_id]).await?;
    one(row.as_ref().map(session_from_row), Record::Session)
}

pub async fn list_for_user(db: &impl GenericClient, user_id: &str) -> StoreResult<Vec<Session>> {
    let sql =
        format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE userid = $1 ORDER BY createat DESC");
    let rows = db.query(&sql, &[&user_id]).await?;
    Ok(rows.iter().map(session_from_row).collect())
}

/// Deletes one session; returns it so callers can drop it from caches.
pub async fn delete(db: &impl GenericClient, session_id: &str) -> StoreResult<Session> {
    let sql = format!("DELETE FROM sessions WHERE id = $1 RETURNING {SESSION_COLUMNS}");
    let row = db.query_opt(&sql, &[&session_id]).await?;
    one(row.as_ref().map(session_from_row), Record::Session)
}

pub async fn delete_by_token(db: &impl GenericClient, token: &str) -> StoreResult<()> {
    db.execute("DELETE FROM sessions WHERE token = $1", &[&token])
        .await?;
    Ok(())
}

/// Deletes every session of a user except `keep_session_id` (password change); returns the
/// deleted sessions.
pub async fn delete_for_user_except(
    db: &impl GenericClient,
    user_id: &str,
    keep_session_id: &str,
) -> StoreResult<Vec<Session>> {
    let sql =
        format!("DELETE FROM sessions WHERE userid = $1 AND id <> $2 RETURNING {SESSION_COLUMNS}");
    let rows = db.query(&sql, &[&user_id, &keep_session_id]).await?;
    Ok(rows.iter().map(session_from_row).collect())
}

pub async fn update_roles_for_user(
    db: &impl GenericClient,
    user_id: &str,
    roles: &str,
) -> StoreResult<()> {
    db.execute(
        "UPDATE sessions SET roles = $2 WHERE userid = $1",
        &[&user_id, &roles],
    )
    .await?;
    Ok(())
}

pub async fn touch(db: &impl GenericClient, session_id: &str, now: i64) -> StoreResult<()> {
    db.execute(
        "UPDATE sessions SET lastactivityat = $2 WHERE id = $1",
        &[&session_id, &now],
    )
    .await?;
    Ok(())
}

/// Removes expired sessions (a recurring job); returns how many.
pub async fn delete_expired(db: &impl GenericClient, now: i64) -> StoreResult<u64> {
    Ok(db
        .execute(
            "DELETE FROM sessions WHERE expiresat > 0 AND expiresat < $1",
            &[&now],
        )
        .await?)
}

/// Deletes every session of a user; returns them so callers can drop them from caches.
pub async fn delete_for_user(db: &impl GenericClient, user_id: &str) -> StoreResult<Vec<Session>> {
    let sql = format!("DELETE FROM sessions WHERE userid = $1 RETURNING {SESSION_COLUMNS}");
    let rows = db.query(&sql, &[&user_id]).await?;
    Ok(rows.iter().map(session_from_row).collect())
}

/// Deletes every session of every user; returns them.
pub async fn delete_all(db: &impl GenericClient) -> StoreResult<Vec<Session>> {
    let sql = format!("DELETE FROM sessions RETURNING {SESSION_COLUMNS}");
    let rows = db.query(&sql, &[]).await?;
    Ok(rows.iter().map(session_from_row).collect())
}

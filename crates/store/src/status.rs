//! User statuses (online / away / dnd / offline).

use crate::{GenericClient, StoreResult};
use chorus_model::Status;
use tokio_postgres::Row;

fn status_from_row(row: &Row) -> Status {
    Status {
        user_id: row.get("userid"),
        status: row.get("status"),
        manual: row.get("manual"),
        last_activity_at: row.get("lastactivityat"),
        dnd_end_time: row.get("dndendtime"),
    }
}

pub async fn upsert(db: &impl GenericClient, status: &Status) -> StoreResult<()> {
    let statement = db
        .prepare_cached(
            "INSERT INTO status (userid, status, manual, lastactivityat, dndendtime) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (userid) DO UPDATE SET status = EXCLUDED.status, manual = EXCLUDED.manual, \
             lastactivityat = EXCLUDED.lastactivityat, dndendtime = EXCLUDED.dndendtime",
        )
        .await?;
    db.execute(
        &statement,
        &[
            &status.user_id,
            &status.status,
            &status.manual,
            &status.last_activity_at,
            &status.dnd_end_time,
        ],
    )
    .await?;
    Ok(())
}

pub async fn get_many(db: &impl GenericClient, user_ids: &[String]) -> StoreResult<Vec<Status>> {
    let rows = db
        .query(
            "SELECT userid, status, manual, lastactivityat, dndendtime FROM status WHERE userid = ANY($1)",
            &[&user_ids],
        )
        .await?;
    Ok(rows.iter().map(status_from_row).collect())
}

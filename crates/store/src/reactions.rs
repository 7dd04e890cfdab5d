//! Emoji reactions on posts.

use crate::{Connection, GenericClient, StoreResult};
use chorus_model::Reaction;
use tokio_postgres::Row;

fn reaction_from_row(row: &Row) -> Reaction {
    Reaction {
        user_id: row.get("userid"),
        post_id: row.get("postid"),
        emoji_name: row.get("emojiname"),
        create_at: row.get("createat"),
        update_at: row.get("updateat"),
        delete_at: row.get("deleteat"),
        remote_id: String::new(),
        channel_id: row.get("channelid"),
    }
}

/// Saves a reaction (re-activating a removed one) and flags the post.
pub async fn save(db: &mut Connection, reaction: &Reaction) -> StoreResult<Reaction> {
    let transaction = db.transaction().await?;
    let row = transaction
        .query_one(
            "INSERT INTO reactions (userid, postid, emojiname, createat, updateat, deleteat, channelid) \
             VALUES ($1, $2, $3, $4, $4, 0, $5) ON CONFLICT (postid, userid, emojiname) \
             DO UPDATE SET deleteat = 0, updateat = EXCLUDED.updateat, createat = CASE WHEN reactions.deleteat = 0 \
             THEN reactions.createat ELSE EXCLUDED.createat END \
             RETURNING userid, postid, emojiname, createat, updateat, deleteat, channelid",
            &[&reaction.user_id, &reaction.post_id, &reaction.emoji_name, &reaction.create_at, &reaction.channel_id],
        )
        .await?;
    transaction
        .execute(
            "UPDATE posts SET hasreactions = true, updateat = GREATEST($2, updateat + 1) WHERE id = $1",
            &[&reaction.post_id, &reaction.create_at],
        )
        .await?;
    transaction.commit().await?;
    Ok(reaction_from_row(&row))
}

/// Removes a reaction (kept with DeleteAt, as Mattermost does); returns it if it existed.
pub async fn delete(
    db: &mut Connection,
    user_id: &str,
    post_id: &str,
    emoji_name: &str,
    now: i64,
) -> StoreResult<Option<Reaction>> {
    let transaction = db.transaction().await?;
    let row = transaction
        .query_opt(
            "UPDATE reactions SET deleteat = $4, updateat = $4 WHERE userid = $1 AND postid = $2 AND emojiname = $3 \
             AND deleteat = 0 RETURNING userid, postid, emojiname, createat, updateat, deleteat, channelid",
            &[&user_id, &post_id, &emoji_name, &now],
        )
        .await?;
    if row.is_some() {
        transaction
            .execute(
                "UPDATE posts SET updateat = GREATEST($2, updateat + 1), hasreactions = EXISTS \
                 (SELECT 1 FROM reactions WHERE postid = $1 AND deleteat = 0) WHERE id = $1",
                &[&post_id, &now],
            )
            .await?;
    }
    transaction.commit().await?;
    Ok(row.as_ref().map(reaction_from_row))
}

pub async fn list_for_post(db: &impl GenericClient, post_id: &str) -> StoreResult<Vec<Reaction>> {
    let rows = db
        .query(
            "SELECT userid, postid, emojiname, createat, updateat, deleteat, channelid FROM reactions \
             WHERE postid = $1 AND deleteat = 0 ORDER BY createat",
            &[&post_id],
        )
        .await?;
    Ok(rows.iter().map(reaction_from_row).collect())
}

pub async fn list_for_posts(
    db: &impl GenericClient,
    post_ids: &[String],
) -> StoreResult<Vec<Reaction>> {
    let rows = db
        .query(
            "SELECT userid, postid, emojiname, createat, updateat, deleteat, channelid FROM reactions \
             WHERE postid = ANY($1) AND deleteat = 0 ORDER BY createat",
            &[&post_ids],
        )
        .await?;
    Ok(rows.iter().map(reaction_from_row).collect())
}

/// Reactions in these channels added or removed after `since` (ms), at most `limit`.
pub async fn changed_since(
    db: &impl GenericClient,
    channel_ids: &[String],
    since: i64,
    limit: i64,
) -> StoreResult<Vec<Reaction>> {
    let rows = crate::query_prepared(
        db,
        "SELECT userid, postid, emojiname, createat, updateat, deleteat, channelid FROM reactions \
             WHERE channelid = ANY($1) AND updateat > $2 ORDER BY updateat LIMIT $3",
        &[&channel_ids, &since, &limit],
    )
    .await?;
    Ok(rows.iter().map(reaction_from_row).collect())
}

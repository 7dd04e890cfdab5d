//! Collapsed reply threads: who follows which thread and what they have read (Mattermost's
//! ThreadMemberships). A thread is its root post: its reply count and last reply come from the
//! root's own columns, its participants and unread replies from the replies.
//!
//! Every write moves the membership's `lastupdated`, in the statement that makes the change,
//! so a websocket rebuilt from the database after its node died can tell whether its client may
//! have missed a thread event (`history::unrebuildable_changes_since`).

use crate::{one, GenericClient, Record, StoreResult};
use std::collections::HashMap;
use tokio_postgres::Row;

/// One user's view of one thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadMembership {
    pub post_id: String,
    pub user_id: String,
    pub following: bool,
    pub last_viewed: i64,
    pub last_updated: i64,
    pub unread_mentions: i64,
}

const COLUMNS: &str = "postid, userid, following, lastviewed, lastupdated, unreadmentions";

fn membership_from_row(row: &Row) -> ThreadMembership {
    ThreadMembership {
        post_id: row.get("postid"),
        user_id: row.get("userid"),
        following: row.get("following"),
        last_viewed: row.get("lastviewed"),
        last_updated: row.get("lastupdated"),
        unread_mentions: row.get("unreadmentions"),
    }
}

/// Keeps the memberships of a thread that just got a reply, in the reply's transaction, as
/// Mattermost's auto-follow does: the replier follows and has read up to their reply; the root's
/// author and the users mentioned follow unless they unfollowed it before, and the mentioned get
/// an unread mention. Returns who follows the thread now (the users `thread_updated` goes to).
pub async fn record_reply(
    db: &impl GenericClient,
    root_id: &str,
    root_author_id: &str,
    replier_id: &str,
    mentioned_user_ids: &[String],
    replied_at: i64,
) -> StoreResult<Vec<String>> {
    db.execute(
        "INSERT INTO threadmemberships (postid, userid, following, lastviewed, lastupdated, unreadmentions) \
         VALUES ($1, $2, true, $3, $3, 0) ON CONFLICT (postid, userid) DO UPDATE \
         SET following = true, lastviewed = GREATEST(threadmemberships.lastviewed, $3), \
         lastupdated = GREATEST(threadmemberships.lastupdated, $3), unreadmentions = 0",
        &[&root_id, &replier_id, &replied_at],
    )
    .await?;
    let mentioned: Vec<&String> = mentioned_user_ids
        .iter()
        .filter(|user_id| user_id.as_str() != replier_id)
        .collect();
    if root_author_id != replier_id && !mentioned.iter().any(|id| *id == root_author_id) {
        db.execute(
            "INSERT INTO threadmemberships (postid, userid, following, lastviewed, lastupdated, unreadmentions) \
             VALUES ($1, $2, true, 0, $3, 0) ON CONFLICT (postid, userid) DO NOTHING",
            &[&root_id, &root_author_id, &replied_at],
        )
        .await?;
    }
    if !mentioned.is_empty() {
        db.execute(
            "INSERT INTO threadmemberships (postid, userid, following, lastviewed, lastupdated, unreadmentions) \
             SELECT $1, unnest($2::varchar[]), true, 0, $3, 1 ON CONFLICT (postid, userid) DO UPDATE \
             SET unreadmentions = threadmemberships.unreadmentions + 1, \
             lastupdated = GREATEST(threadmemberships.lastupdated, $3)",
            &[&root_id, &mentioned, &replied_at],
        )
        .await?;
    }
    // The other followers' view changed too (one more unread reply).
    let rows = db
        .query(
            "UPDATE threadmemberships SET lastupdated = GREATEST(lastupdated, $2) \
             WHERE postid = $1 AND following RETURNING userid",
            &[&root_id, &replied_at],
        )
        .await?;
    let mut followers: Vec<String> = rows.iter().map(|row| row.get("userid")).collect();
    followers.sort();
    Ok(followers)
}

pub async fn get(
    db: &impl GenericClient,
    root_id: &str,
    user_id: &str,
) -> StoreResult<ThreadMembership> {
    let row = db
        .query_opt(
            &format!("SELECT {COLUMNS} FROM threadmemberships WHERE postid = $1 AND userid = $2"),
            &[&root_id, &user_id],
        )
        .await?;
    one(
        row.as_ref().map(membership_from_row),
        Record::ThreadMembership,
    )
}

/// Follows or unfollows a thread (creating the membership when there is none).
pub async fn set_following(
    db: &impl GenericClient,
    root_id: &str,
    user_id: &str,
    following: bool,
    now: i64,
) -> StoreResult<ThreadMembership> {
    let row = db
        .query_one(
            &format!(
                "INSERT INTO threadmemberships (postid, userid, following, lastviewed, lastupdated, unreadmentions) \
                 VALUES ($1, $2, $3, 0, $4, 0) ON CONFLICT (postid, userid) DO UPDATE \
                 SET following = $3, lastupdated = GREATEST(threadmemberships.lastupdated, $4) \
                 RETURNING {COLUMNS}"
            ),
            &[&root_id, &user_id, &following, &now],
        )
        .await?;
    Ok(membership_from_row(&row))
}

/// Sets what the user has read of a thread up to `last_viewed`, with the mentions left unread
/// after it (creating a membership that does not follow when there is none).
pub async fn set_viewed(
    db: &impl GenericClient,
    root_id: &str,
    user_id: &str,
    last_viewed: i64,
    unread_mentions: i64,
    now: i64,
) -> StoreResult<ThreadMembership> {
    let row = db
        .query_one(
            &format!(
                "INSERT INTO threadmemberships (postid, userid, following, lastviewed, lastupdated, unreadmentions) \
                 VALUES ($1, $2, false, $3, $5, $4) ON CONFLICT (postid, userid) DO UPDATE \
                 SET lastviewed = $3, unreadmentions = $4, \
                 lastupdated = GREATEST(threadmemberships.lastupdated, $5) \
                 RETURNING {COLUMNS}"
            ),
            &[&root_id, &user_id, &last_viewed, &unread_mentions, &now],
        )
        .await?;
    Ok(membership_from_row(&row))
}

/// Marks every followed thread of the team (and of direct and group channels) read at `now`.
pub async fn mark_all_read(
    db: &impl GenericClient,
    user_id: &str,
    team_id: &str,
    now: i64,
) -> StoreResult<u64> {
    Ok(db
        .execute(
            "UPDATE threadmemberships tm SET lastviewed = $3, unreadmentions = 0, \
             lastupdated = GREATEST(tm.lastupdated, $3) \
             FROM posts p JOIN channels c ON c.id = p.channelid \
             WHERE tm.postid = p.id AND tm.userid = $1 AND tm.following \
             AND (c.teamid = $2 OR c.teamid = '')",
            &[&user_id, &team_id, &now],
        )
        .await?)
}

/// Which followed threads to list.
#[derive(Debug, Clone, Default)]
pub struct ThreadFilter {
    /// Only threads whose membership or last reply changed after this (ms); 0 for all.
    pub since: i64,
    /// Only threads with replies the user has not read.
    pub unread_only: bool,
    /// Threads whose root was deleted too.
    pub include_deleted: bool,
    /// Threads replied to before this one's last reply (a cursor: its root's id).
    pub before: Option<String>,
    /// Threads replied to after this one's last reply.
    pub after: Option<String>,
    pub limit: i64,
}

/// A followed thread with what the user has not read of it.
#[derive(Debug, Clone)]
pub struct FollowedThread {
    pub membership: ThreadMembership,
    pub unread_replies: i64,
}

/// What `user_id` follows in a team (its channels, and direct and group channels), most recent
/// reply first.
const FOLLOWED: &str = "FROM threadmemberships tm JOIN posts p ON p.id = tm.postid \
     JOIN channels c ON c.id = p.channelid \
     WHERE tm.userid = $1 AND tm.following AND (c.teamid = $2 OR c.teamid = '')";

const UNREAD_REPLIES: &str = "(SELECT count(*) FROM posts r WHERE r.rootid = tm.postid \
     AND r.deleteat = 0 AND r.createat > tm.lastviewed AND r.userid <> tm.userid)";

pub async fn list_followed(
    db: &impl GenericClient,
    user_id: &str,
    team_id: &str,
    filter: &ThreadFilter,
) -> StoreResult<Vec<FollowedThread>> {
    let mut sql = format!(
        "SELECT tm.postid, tm.userid, tm.following, tm.lastviewed, tm.lastupdated, \
         tm.unreadmentions, {UNREAD_REPLIES} AS unreadreplies {FOLLOWED} \
         AND ($3 OR p.deleteat = 0) AND ($4::bigint = 0 OR tm.lastupdated > $4::bigint \
         OR p.lastreplyat > $4::bigint OR p.deleteat > $4::bigint)"
    );
    if filter.unread_only {
        sql.push_str(&format!(" AND {UNREAD_REPLIES} > 0"));
    }
    let cursor = filter
        .before
        .clone()
        .or_else(|| filter.after.clone())
        .unwrap_or_default();
    let order = if filter.after.is_some() {
        sql.push_str(
            " AND (p.lastreplyat, p.id) > (SELECT lastreplyat, id FROM posts WHERE id = $5)",
        );
        "ASC"
    } else {
        if filter.before.is_some() {
            sql.push_str(
                " AND (p.lastreplyat, p.id) < (SELECT lastreplyat, id FROM posts WHERE id = $5)",
            );
        } else {
            sql.push_str(" AND $5::varchar = $5::varchar");
        }
        "DESC"
    };
    sql.push_str(&format!(
        " ORDER BY p.lastreplyat {order}, p.id {order} LIMIT $6"
    ));
    let rows = db
        .query(
            &sql,
            &[
                &user_id,
                &team_id,
                &filter.include_deleted,
                &filter.since,
                &cursor,
                &filter.limit,
            ],
        )
        .await?;
    let mut threads: Vec<FollowedThread> = rows
        .iter()
        .map(|row| FollowedThread {
            membership: membership_from_row(row),
            unread_replies: row.get("unreadreplies"),
        })
        .collect();
    if filter.after.is_some() {
        threads.reverse();
    }
    Ok(threads)
}

/// Replies of a thread the user has not read (by others, after `last_viewed`).
pub async fn unread_replies(
    db: &impl GenericClient,
    root_id: &str,
    user_id: &str,
    last_viewed: i64,
) -> StoreResult<i64> {
    let row = db
        .query_one(
            "SELECT count(*) AS unread FROM posts WHERE rootid = $1 AND deleteat = 0 \
             AND createat > $2 AND userid <> $3",
            &[&root_id, &last_viewed, &user_id],
        )
        .await?;
    Ok(row.get("unread"))
}

/// Totals over the followed, live threads of a team: (threads, threads with unread replies,
/// unread mentions).
pub async fn totals(
    db: &impl GenericClient,
    user_id: &str,
    team_id: &str,
) -> StoreResult<(i64, i64, i64)> {
    let row = db
        .query_one(
            &format!(
                "SELECT count(*) AS total, \
                 count(*) FILTER (WHERE {UNREAD_REPLIES} > 0) AS unreadthreads, \
                 COALESCE(sum(tm.unreadmentions), 0)::bigint AS unreadmentions \
                 {FOLLOWED} AND p.deleteat = 0"
            ),
            &[&user_id, &team_id],
        )
        .await?;
    Ok((
        row.get("total"),
        row.get("unreadthreads"),
        row.get("unreadmentions"),
    ))
}

/// The users who wrote the replies of each thread of `root_ids`, in the order of their first
/// reply (threads without live replies are missing from the map).
pub async fn participants(
    db: &impl GenericClient,
    root_ids: &[String],
) -> StoreResult<HashMap<String, Vec<String>>> {
    let rows = db
        .query(
            "SELECT rootid, userid FROM posts WHERE rootid = ANY($1) AND deleteat = 0 \
             GROUP BY rootid, userid ORDER BY rootid, min(createat)",
            &[&root_ids],
        )
        .await?;
    let mut by_thread: HashMap<String, Vec<String>> = HashMap::new();
    for row in &rows {
        by_thread
            .entry(row.get("rootid"))
            .or_default()
            .push(row.get("userid"));
    }
    Ok(by_thread)
}

/// The memberships of `user_ids` in one thread, with each one's unread replies: what
/// `thread_updated` tells each follower after a reply.
pub async fn memberships_with_unread(
    db: &impl GenericClient,
    root_id: &str,
    user_ids: &[String],
) -> StoreResult<Vec<FollowedThread>> {
    let rows = db
        .query(
            &format!(
                "SELECT tm.postid, tm.userid, tm.following, tm.lastviewed, tm.lastupdated, \
                 tm.unreadmentions, {UNREAD_REPLIES} AS unreadreplies \
                 FROM threadmemberships tm WHERE tm.postid = $1 AND tm.userid = ANY($2)"
            ),
            &[&root_id, &user_ids],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| FollowedThread {
            membership: membership_from_row(row),
            unread_replies: row.get("unreadreplies"),
        })
        .collect())
}

/// Mentions of `user_id` in the thread's replies after `after` (ms), by `@username`: what a
/// thread marked read up to some time still holds.
pub async fn mentions_after(
    db: &impl GenericClient,
    root_id: &str,
    username: &str,
    after: i64,
) -> StoreResult<i64> {
    let pattern = format!("%@{}%", username.replace('%', "\\%").replace('_', "\\_"));
    let row = db
        .query_one(
            "SELECT count(*) AS mentions FROM posts WHERE rootid = $1 AND deleteat = 0 \
             AND createat > $2 AND lower(message) LIKE lower($3)",
            &[&root_id, &after, &pattern],
        )
        .await?;
    Ok(row.get("mentions"))
}

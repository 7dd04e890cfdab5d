//! Posts: creation (the hot path), reads, edits, deletes and full-text search.

use crate::{json_map, one, Connection, GenericClient, Record, StoreError, StoreResult};
use chorus_model::{Post, PostList, PostSearch, Reaction};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

const POST_COLUMNS: &str = "id, createat, updateat, editat, deleteat, ispinned, userid, channelid, \
     rootid, originalid, message, type, props, hashtags, fileids, hasreactions, replycount, lastreplyat";

fn post_from_row(row: &Row) -> Post {
    let file_ids: Value = row.get("fileids");
    Post {
        id: row.get("id"),
        create_at: row.get("createat"),
        update_at: row.get("updateat"),
        edit_at: row.get("editat"),
        delete_at: row.get("deleteat"),
        is_pinned: row.get("ispinned"),
        user_id: row.get("userid"),
        channel_id: row.get("channelid"),
        root_id: row.get("rootid"),
        original_id: row.get("originalid"),
        message: row.get("message"),
        post_type: row.get("type"),
        props: json_map(row, "props"),
        hashtags: row.get("hashtags"),
        pending_post_id: String::new(),
        reply_count: row.get("replycount"),
        last_reply_at: row.get("lastreplyat"),
        participants: None,
        file_ids: serde_json::from_value(file_ids).unwrap_or_default(),
        has_reactions: row.get("hasreactions"),
        metadata: Default::default(),
    }
}

/// A post to create. `post.create_at` is a proposal: the store raises it past the channel's
/// last post so that order within a channel never depends on node clocks.
pub struct NewPost {
    pub post: Post,
    /// Users whose mention counters go up (already resolved to channel members).
    pub mentioned_user_ids: Vec<String>,
    /// The message's first word, when the post may trigger outgoing webhooks: their
    /// deliveries are queued in the post's own commit (`integrations::queue_deliveries_sql`).
    pub outgoing_trigger: Option<String>,
}

pub enum CreateOutcome {
    /// Stored; `previous_post_at` is the `create_at` of the channel's post before it (the
    /// channel's `lastpostat` when it was locked), which chains a channel's posts in order.
    Created {
        post: Post,
        previous_post_at: i64,
        /// For a reply: who follows its thread now (`threads::record_reply`), sorted.
        thread_followers: Vec<String>,
        /// Outgoing webhook deliveries queued with it.
        deliveries: i64,
    },
    /// A post with the same (user, pending_post_id) already existed: a client retry.
    AlreadyExisted(Post),
}

/// Why a post could not be created, beyond database errors.
#[derive(Debug, thiserror::Error)]
pub enum CreatePostError {
    #[error("channel not found")]
    ChannelNotFound,
    #[error("channel is archived")]
    ChannelArchived,
    #[error("root post not found in this channel")]
    InvalidRoot,
    /// Some `file_ids` are not live, unattached files of this author in this channel.
    #[error("files cannot be attached: {0:?}")]
    InvalidFileIds(Vec<String>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<tokio_postgres::Error> for CreatePostError {
    fn from(error: tokio_postgres::Error) -> Self {
        CreatePostError::Store(error.into())
    }
}

/// Creates a post: detect a retry by pending_post_id, pick `create_at` strictly after the
/// channel's last post under the channel row's lock (which orders concurrent posts in the
/// channel), insert, attach the post's files, and bump the channel, thread and member counters,
/// all in one commit.
///
/// A root post without files — nearly every post — is one statement ([`create_root_post`]):
/// one round trip, which is also how long the channel row stays locked. Replies and posts with
/// files take a transaction ([`create_in_transaction`]), since they lock and check other rows.
pub async fn create(
    db: &mut Connection,
    new_post: NewPost,
) -> Result<CreateOutcome, CreatePostError> {
    if new_post.post.root_id.is_empty() && new_post.post.file_ids.is_empty() {
        return create_root_post(db, new_post).await;
    }
    create_in_transaction(db, new_post).await
}

/// Whether `new_post` may be written by [`create_root_posts`]: a root post without files,
/// mentions or outgoing webhooks (nearly every post).
pub fn batchable(new_post: &NewPost) -> bool {
    new_post.post.root_id.is_empty()
        && new_post.post.file_ids.is_empty()
        && new_post.mentioned_user_ids.is_empty()
        && new_post.outgoing_trigger.is_none()
}

/// Several [`batchable`] posts of *different* channels in one statement and one commit: what
/// [`create`]'s single statement does for each, with one executor start, one commit and one
/// round trip for all. A channel row another transaction holds is skipped rather than waited
/// for (`FOR UPDATE SKIP LOCKED`): a batch never waits while holding other channels' locks,
/// which across nodes made batches queue behind each other (docs/benchmarks.md). Answers, in
/// the order of `posts`, `(create_at, previous_post_at)` for each post stored, None for one
/// left to [`create`]: its channel was locked elsewhere, archived or missing, or it is a
/// retry.
pub async fn create_root_posts(
    db: &impl GenericClient,
    posts: &[NewPost],
) -> StoreResult<Vec<Option<(i64, i64)>>> {
    let column = |get: fn(&Post) -> String| -> Vec<String> {
        posts.iter().map(|new_post| get(&new_post.post)).collect()
    };
    let ids = column(|post| post.id.clone());
    let create_ats: Vec<i64> = posts
        .iter()
        .map(|new_post| new_post.post.create_at)
        .collect();
    let user_ids = column(|post| post.user_id.clone());
    let channel_ids = column(|post| post.channel_id.clone());
    let messages = column(|post| post.message.clone());
    let types = column(|post| post.post_type.clone());
    let props: Vec<Value> = posts
        .iter()
        .map(|new_post| Value::Object(new_post.post.props.clone()))
        .collect();
    let hashtags = column(|post| post.hashtags.clone());
    let pending_post_ids = column(|post| post.pending_post_id.clone());
    let rows = crate::query_prepared(
        db,
        CREATE_ROOT_POSTS,
        &[
            &ids,
            &create_ats,
            &user_ids,
            &channel_ids,
            &messages,
            &types,
            &props,
            &hashtags,
            &pending_post_ids,
        ],
    )
    .await?;
    let mut stored = vec![None; posts.len()];
    for row in &rows {
        let ordinal: i64 = row.get(0);
        if let Some(slot) = usize::try_from(ordinal - 1)
            .ok()
            .and_then(|index| stored.get_mut(index))
        {
            *slot = Some((row.get(1), row.get(2)));
        }
    }
    Ok(stored)
}

/// [`create_root_posts`]' statement. Prepared, its plan is made once per connection, maybe
/// while the tables are still small: so every lookup in a big table is written the way a
/// plan for a small one still reads through an index — the retry lookup as a subquery per
/// post (never a hash join over `posts`), repeating `pendingpostid <> ''` literally for the
/// partial unique index, and the member rows by `= ANY` on their key. The channel rows are
/// updated only once locked here (the UPDATE then never waits).
const CREATE_ROOT_POSTS: &str = "\
WITH input AS (
    SELECT * FROM unnest($1::varchar[], $2::bigint[], $3::varchar[], $4::varchar[], $5::text[],
        $6::varchar[], $7::jsonb[], $8::varchar[], $9::varchar[]) WITH ORDINALITY
        AS i(id, createat, userid, channelid, message, type, props, hashtags, pendingpostid, ord)
), retry AS (
    SELECT i.channelid FROM input i
    WHERE (SELECT p.id FROM posts p WHERE p.userid = i.userid
        AND p.pendingpostid = i.pendingpostid AND p.pendingpostid <> '') IS NOT NULL
), locked AS (
    SELECT c.id FROM channels c
    WHERE c.id = ANY($4) AND c.deleteat = 0 AND c.id NOT IN (SELECT channelid FROM retry)
    FOR UPDATE SKIP LOCKED
), channel AS (
    UPDATE channels c SET previouspostat = c.lastpostat,
        lastpostat = GREATEST(i.createat, c.lastpostat + 1),
        lastrootpostat = GREATEST(i.createat, c.lastpostat + 1),
        totalmsgcount = c.totalmsgcount + 1,
        totalmsgcountroot = c.totalmsgcountroot + 1
    FROM input i
    WHERE c.id = ANY($4) AND c.id = i.channelid AND c.id IN (SELECT id FROM locked)
    RETURNING i.ord, c.lastpostat, c.totalmsgcount, c.totalmsgcountroot, c.previouspostat
), post AS (
    INSERT INTO posts (id, createat, updateat, editat, deleteat, ispinned, userid, channelid,
        rootid, originalid, message, type, props, hashtags, fileids, hasreactions, replycount,
        lastreplyat, pendingpostid)
    SELECT i.id, ch.lastpostat, ch.lastpostat, 0, 0, false, i.userid, i.channelid, '', '',
        i.message, i.type, i.props, i.hashtags, '[]', false, 0, 0, i.pendingpostid
    FROM channel ch JOIN input i USING (ord)
), author_read AS (
    UPDATE channelmembers m SET lastviewedat = ch.lastpostat, msgcount = ch.totalmsgcount,
        msgcountroot = ch.totalmsgcountroot, lastupdateat = ch.lastpostat
    FROM channel ch JOIN input i USING (ord)
    WHERE m.channelid = ANY($4) AND m.userid = ANY($3)
        AND m.channelid = i.channelid AND m.userid = i.userid
)
SELECT ord, lastpostat, previouspostat FROM channel";

/// The channel row's UPDATE takes its lock and picks `create_at` (re-evaluated on the latest
/// row version, so concurrent posts in a channel get strictly increasing values), keeping the
/// previous `lastpostat` in `previouspostat` for RETURNING, which sees only the new row (one
/// UPDATE instead of a `SELECT … FOR UPDATE` and an UPDATE: a row lock and its WAL record
/// less per post); the INSERT and
/// the member updates happen only when it matched (channel live, not a retry). Data-modifying
/// CTEs all run to completion in the statement's single commit. The retry lookup repeats
/// `pendingpostid <> ''` literally so that a generic plan can use the partial unique index.
///
/// Two forms: with the outgoing webhook deliveries queued in the same commit, and without for
/// posts no outgoing webhook can match. The deliveries part costs PostgreSQL ~80 µs per post
/// even when it inserts nothing (its executor nodes and the three relations it opens: about a
/// third of the statement, docs/benchmarks.md), so it is left out whenever it can be.
fn create_root_post_sql(queue_deliveries: bool) -> String {
    let (deliveries, count) = if queue_deliveries {
        (
            format!(
                ", deliveries AS (\n    {queue}\n    RETURNING 1\n)",
                queue = crate::integrations::queue_deliveries_sql(
                    "$1",
                    "$4",
                    "true",
                    "$11",
                    "post.createat",
                    "post,"
                )
            ),
            "(SELECT count(*) FROM deliveries)",
        )
    } else {
        (String::new(), "0::bigint")
    };
    format!(
        "\
WITH retry AS (
    SELECT id FROM posts WHERE userid = $3 AND pendingpostid = $9 AND pendingpostid <> ''
), channel AS (
    UPDATE channels SET previouspostat = lastpostat,
        lastpostat = GREATEST($2, lastpostat + 1),
        lastrootpostat = GREATEST($2, lastpostat + 1),
        totalmsgcount = totalmsgcount + 1,
        totalmsgcountroot = totalmsgcountroot + 1
    WHERE id = $4 AND deleteat = 0 AND NOT EXISTS (SELECT 1 FROM retry)
    RETURNING lastpostat, totalmsgcount, totalmsgcountroot, previouspostat
), post AS (
    INSERT INTO posts (id, createat, updateat, editat, deleteat, ispinned, userid, channelid,
        rootid, originalid, message, type, props, hashtags, fileids, hasreactions, replycount,
        lastreplyat, pendingpostid)
    SELECT $1, lastpostat, lastpostat, 0, 0, false, $3, $4, '', '', $5, $6, $7, $8, '[]', false,
        0, 0, $9 FROM channel
    RETURNING createat
), mentioned AS (
    UPDATE channelmembers SET mentioncount = mentioncount + 1,
        mentioncountroot = mentioncountroot + 1
    FROM channel WHERE channelid = $4 AND userid = ANY($10)
), author_read AS (
    UPDATE channelmembers SET lastviewedat = channel.lastpostat, msgcount = channel.totalmsgcount,
        msgcountroot = channel.totalmsgcountroot, lastupdateat = channel.lastpostat
    FROM channel WHERE channelid = $4 AND userid = $3
){deliveries}
SELECT (SELECT createat FROM post), (SELECT id FROM retry), (SELECT previouspostat FROM channel),
    {count}"
    )
}

static CREATE_ROOT_POST: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| create_root_post_sql(false));

static CREATE_ROOT_POST_QUEUEING_DELIVERIES: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| create_root_post_sql(true));

/// A root post without files in one statement (see [`CREATE_ROOT_POST`]). The author is never
/// among `mentioned_user_ids` (the app resolves mentions without them), so the two member
/// updates touch different rows.
async fn create_root_post(
    db: &mut Connection,
    new_post: NewPost,
) -> Result<CreateOutcome, CreatePostError> {
    let post = &new_post.post;
    let props = Value::Object(post.props.clone());
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![
        &post.id,
        &post.create_at,
        &post.user_id,
        &post.channel_id,
        &post.message,
        &post.post_type,
        &props,
        &post.hashtags,
        &post.pending_post_id,
        &new_post.mentioned_user_ids,
    ];
    let statement = match &new_post.outgoing_trigger {
        Some(first_word) => {
            params.push(first_word);
            db.prepare_cached(&CREATE_ROOT_POST_QUEUEING_DELIVERIES)
                .await?
        }
        None => db.prepare_cached(&CREATE_ROOT_POST).await?,
    };
    let outcome = db.query_one(&statement, &params).await;
    let row = match outcome {
        Ok(row) => row,
        // The same retry, concurrently: the first one to commit won; answer with its post.
        Err(error) if is_pending_post_conflict(&error) => {
            return existing_retry(db, post).await;
        }
        Err(error) => return Err(error.into()),
    };
    let created_at: Option<i64> = row.get(0);
    let retry_of: Option<String> = row.get(1);
    if let Some(create_at) = created_at {
        let previous_post_at: i64 = row.get::<_, Option<i64>>(2).unwrap_or(0);
        let deliveries: i64 = row.get::<_, Option<i64>>(3).unwrap_or(0);
        let NewPost { mut post, .. } = new_post;
        post.create_at = create_at;
        post.update_at = create_at;
        return Ok(CreateOutcome::Created {
            post,
            previous_post_at,
            thread_followers: Vec::new(),
            deliveries,
        });
    }
    if retry_of.is_some() {
        return existing_retry(db, post).await;
    }
    let channel = db
        .query_opt(
            "SELECT deleteat FROM channels WHERE id = $1",
            &[&post.channel_id],
        )
        .await?;
    match channel.map(|row| row.get::<_, i64>(0)) {
        None => Err(CreatePostError::ChannelNotFound),
        Some(delete_at) if delete_at != 0 => Err(CreatePostError::ChannelArchived),
        // Nothing matched, yet the channel is live: a retry committed after the statement's
        // snapshot was taken. The transaction sees it.
        Some(_) => create_in_transaction(db, new_post).await,
    }
}

fn is_pending_post_conflict(error: &tokio_postgres::Error) -> bool {
    error.as_db_error().is_some_and(|db_error| {
        *db_error.code() == tokio_postgres::error::SqlState::UNIQUE_VIOLATION
            && db_error.constraint() == Some("idx_posts_pending")
    })
}

/// The post an earlier request with the same (user, pending_post_id) created.
async fn existing_retry(db: &Connection, post: &Post) -> Result<CreateOutcome, CreatePostError> {
    let find_retry = db
        .prepare_cached(&format!(
            "SELECT {POST_COLUMNS} FROM posts WHERE userid = $1 AND pendingpostid = $2 \
                 AND pendingpostid <> ''"
        ))
        .await?;
    let row = db
        .query_opt(&find_retry, &[&post.user_id, &post.pending_post_id])
        .await?;
    let Some(row) = row else {
        return Err(StoreError::NotFound(Record::Post).into());
    };
    let mut existing_post = post_from_row(&row);
    existing_post.pending_post_id = post.pending_post_id.clone();
    Ok(CreateOutcome::AlreadyExisted(existing_post))
}

/// The general path: one transaction that locks the channel row first, then checks and locks
/// the thread root, attaches files, and bumps counters statement by statement.
async fn create_in_transaction(
    db: &mut Connection,
    new_post: NewPost,
) -> Result<CreateOutcome, CreatePostError> {
    let NewPost {
        mut post,
        mentioned_user_ids,
        outgoing_trigger,
    } = new_post;
    let transaction = db.transaction().await?;

    let lock_channel = transaction
        .prepare_cached("SELECT lastpostat, deleteat FROM channels WHERE id = $1 FOR UPDATE")
        .await?;
    let Some(channel_row) = transaction
        .query_opt(&lock_channel, &[&post.channel_id])
        .await?
    else {
        return Err(CreatePostError::ChannelNotFound);
    };
    let channel_last_post_at: i64 = channel_row.get(0);
    let channel_delete_at: i64 = channel_row.get(1);
    if channel_delete_at != 0 {
        return Err(CreatePostError::ChannelArchived);
    }

    if !post.pending_post_id.is_empty() {
        let find_retry = transaction
            .prepare_cached(&format!(
                "SELECT {POST_COLUMNS} FROM posts WHERE userid = $1 AND pendingpostid = $2 \
                 AND pendingpostid <> ''"
            ))
            .await?;
        if let Some(existing) = transaction
            .query_opt(&find_retry, &[&post.user_id, &post.pending_post_id])
            .await?
        {
            let mut existing_post = post_from_row(&existing);
            existing_post.pending_post_id = post.pending_post_id.clone();
            return Ok(CreateOutcome::AlreadyExisted(existing_post));
        }
    }

    let is_reply = !post.root_id.is_empty();
    let mut root_author_id = String::new();
    if is_reply {
        let lock_root = transaction
            .prepare_cached(
                "SELECT channelid, rootid, deleteat, userid FROM posts WHERE id = $1 FOR UPDATE",
            )
            .await?;
        let root = transaction.query_opt(&lock_root, &[&post.root_id]).await?;
        let root_is_valid = root.as_ref().is_some_and(|row| {
            row.get::<_, String>(0) == post.channel_id
                && row.get::<_, String>(1).is_empty()
                && row.get::<_, i64>(2) == 0
        });
        if !root_is_valid {
            return Err(CreatePostError::InvalidRoot);
        }
        root_author_id = root.map(|row| row.get::<_, String>(3)).unwrap_or_default();
    }

    post.create_at = post.create_at.max(channel_last_post_at + 1);
    post.update_at = post.create_at;

    let insert = transaction
        .prepare_cached(
            "INSERT INTO posts (id, createat, updateat, editat, deleteat, ispinned, userid, channelid, rootid, \
             originalid, message, type, props, hashtags, fileids, hasreactions, replycount, lastreplyat, pendingpostid) \
             VALUES ($1, $2, $2, 0, 0, false, $3, $4, $5, '', $6, $7, $8, $9, $10, false, 0, 0, $11)",
        )
        .await?;
    let file_ids = serde_json::to_value(&post.file_ids).unwrap_or(Value::Array(Vec::new()));
    transaction
        .execute(
            &insert,
            &[
                &post.id,
                &post.create_at,
                &post.user_id,
                &post.channel_id,
                &post.root_id,
                &post.message,
                &post.post_type,
                &Value::Object(post.props.clone()),
                &post.hashtags,
                &file_ids,
                &post.pending_post_id,
            ],
        )
        .await?;

    if !post.file_ids.is_empty() {
        // The files become the post's in the same commit, so a file is never attached to a
        // post that does not exist, nor to two posts.
        let attached = crate::files::attach_to_post(
            &transaction,
            &post.id,
            &post.channel_id,
            &post.user_id,
            &post.file_ids,
            post.create_at,
        )
        .await?;
        if attached.len() != post.file_ids.len() {
            let refused: Vec<String> = post
                .file_ids
                .iter()
                .filter(|id| !attached.iter().any(|file| file.id == **id))
                .cloned()
                .collect();
            return Err(CreatePostError::InvalidFileIds(refused));
        }
        post.metadata.files = attached;
    }

    let bump_channel = transaction
        .prepare_cached(
            "UPDATE channels SET lastpostat = $2, totalmsgcount = totalmsgcount + 1, \
             totalmsgcountroot = totalmsgcountroot + CASE WHEN $3 THEN 0 ELSE 1 END, \
             lastrootpostat = CASE WHEN $3 THEN lastrootpostat ELSE $2 END WHERE id = $1",
        )
        .await?;
    transaction
        .execute(
            &bump_channel,
            &[&post.channel_id, &post.create_at, &is_reply],
        )
        .await?;

    let mut thread_followers = Vec::new();
    if is_reply {
        let bump_thread = transaction
            .prepare_cached(
                "UPDATE posts SET replycount = replycount + 1, lastreplyat = $2 WHERE id = $1",
            )
            .await?;
        transaction
            .execute(&bump_thread, &[&post.root_id, &post.create_at])
            .await?;
        thread_followers = crate::threads::record_reply(
            &transaction,
            &post.root_id,
            &root_author_id,
            &post.user_id,
            &mentioned_user_ids,
            post.create_at,
        )
        .await?;
    }

    if !mentioned_user_ids.is_empty() {
        let bump_mentions = transaction
            .prepare_cached(
                "UPDATE channelmembers SET mentioncount = mentioncount + 1, \
                 mentioncountroot = mentioncountroot + CASE WHEN $3 THEN 0 ELSE 1 END \
                 WHERE channelid = $1 AND userid = ANY($2)",
            )
            .await?;
        transaction
            .execute(
                &bump_mentions,
                &[&post.channel_id, &mentioned_user_ids, &is_reply],
            )
            .await?;
    }

    // The author has seen their own post.
    let mark_author_read = transaction
        .prepare_cached(
            "UPDATE channelmembers cm SET lastviewedat = $3, msgcount = c.totalmsgcount, \
             msgcountroot = c.totalmsgcountroot, lastupdateat = $3 FROM channels c \
             WHERE c.id = cm.channelid AND cm.channelid = $1 AND cm.userid = $2",
        )
        .await?;
    transaction
        .execute(
            &mark_author_read,
            &[&post.channel_id, &post.user_id, &post.create_at],
        )
        .await?;

    let mut deliveries = 0;
    if let Some(first_word) = &outgoing_trigger {
        let queue = transaction
            .prepare_cached(&crate::integrations::queue_deliveries_sql(
                "$1", "$2", "true", "$3", "$4", "",
            ))
            .await?;
        deliveries = transaction
            .execute(
                &queue,
                &[&post.id, &post.channel_id, first_word, &post.create_at],
            )
            .await? as i64;
    }

    transaction.commit().await?;
    Ok(CreateOutcome::Created {
        post,
        previous_post_at: channel_last_post_at,
        thread_followers,
        deliveries,
    })
}

pub async fn get(db: &impl GenericClient, post_id: &str) -> StoreResult<Post> {
    let statement = db
        .prepare_cached(&format!("SELECT {POST_COLUMNS} FROM posts WHERE id = $1"))
        .await?;
    let row = db.query_opt(&statement, &[&post_id]).await?;
    one(row.as_ref().map(post_from_row), Record::Post)
}

pub async fn get_many(db: &impl GenericClient, post_ids: &[String]) -> StoreResult<Vec<Post>> {
    let rows = db
        .query(
            &format!("SELECT {POST_COLUMNS} FROM posts WHERE id = ANY($1)"),
            &[&post_ids],
        )
        .await?;
    Ok(rows.iter().map(post_from_row).collect())
}

/// The pinned live posts of a channel, newest first, with their reactions and files.
pub async fn pinned(db: &impl GenericClient, channel_id: &str) -> StoreResult<PostList> {
    let rows = db
        .query(
            &format!(
                "SELECT {POST_COLUMNS} FROM posts WHERE channelid = $1 AND ispinned \
                 AND deleteat = 0 ORDER BY createat DESC LIMIT 1000"
            ),
            &[&channel_id],
        )
        .await?;
    let mut list = PostList::default();
    for row in &rows {
        list.push(post_from_row(row));
    }
    attach_reactions(db, &mut list).await?;
    attach_files(db, &mut list).await?;
    Ok(list)
}

/// Changes applied by an edit; `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct PostChanges {
    pub message: Option<String>,
    pub is_pinned: Option<bool>,
    pub props: Option<serde_json::Map<String, Value>>,
    pub file_ids: Option<Vec<String>>,
}

/// Applies an edit. `edit_at` moves only when the message changes, `pinchangedat` only when
/// `is_pinned` does; `update_at` always moves forward, even if this node's clock is behind the
/// last writer's.
pub async fn update(
    db: &impl GenericClient,
    post_id: &str,
    changes: &PostChanges,
    now: i64,
) -> StoreResult<Post> {
    let file_ids = changes
        .file_ids
        .as_ref()
        .map(|ids| serde_json::to_value(ids).unwrap_or_default());
    let props = changes.props.clone().map(Value::Object);
    let row = db
        .query_opt(
            &format!(
                "UPDATE posts SET updateat = GREATEST($2, updateat + 1), \
                 editat = CASE WHEN $3::text IS NOT NULL AND $3::text <> message THEN GREATEST($2, updateat + 1) ELSE editat END, \
                 pinchangedat = CASE WHEN $4::bool IS NOT NULL AND $4::bool <> ispinned THEN GREATEST($2, updateat + 1) ELSE pinchangedat END, \
                 message = COALESCE($3, message), ispinned = COALESCE($4, ispinned), props = COALESCE($5, props), \
                 fileids = COALESCE($6, fileids) WHERE id = $1 AND deleteat = 0 RETURNING {POST_COLUMNS}"
            ),
            &[&post_id, &now, &changes.message, &changes.is_pinned, &props, &file_ids],
        )
        .await?;
    one(row.as_ref().map(post_from_row), Record::Post)
}

/// Soft-deletes a post and, for a thread root, its replies. Returns the deleted post.
pub async fn delete(db: &mut Connection, post_id: &str, now: i64) -> StoreResult<Post> {
    let transaction = db.transaction().await?;
    let row = transaction
        .query_opt(
            &format!(
                "UPDATE posts SET deleteat = GREATEST($2, updateat + 1), updateat = GREATEST($2, updateat + 1) \
                 WHERE id = $1 AND deleteat = 0 RETURNING {POST_COLUMNS}"
            ),
            &[&post_id, &now],
        )
        .await?;
    let post = one(row.as_ref().map(post_from_row), Record::Post)?;
    crate::files::delete_for_post(&transaction, post_id, post.delete_at).await?;
    if post.root_id.is_empty() {
        transaction
            .execute(
                "UPDATE posts SET deleteat = $2, updateat = GREATEST($2, updateat + 1) WHERE rootid = $1 AND deleteat = 0",
                &[&post_id, &post.delete_at],
            )
            .await?;
    } else {
        transaction
            .execute(
                "UPDATE posts SET replycount = GREATEST(replycount - 1, 0) WHERE id = $1",
                &[&post.root_id],
            )
            .await?;
    }
    transaction.commit().await?;
    Ok(post)
}

/// Which window of a channel's posts to read (GET /channels/{id}/posts).
#[derive(Debug, Clone)]
pub enum PostWindow {
    /// Newest first, skipping `offset`.
    Page { offset: i64, limit: i64 },
    /// Everything created, edited or deleted after `since` (deleted posts included).
    Since { since: i64 },
    /// Posts older than the given post, newest first.
    Before {
        post_id: String,
        offset: i64,
        limit: i64,
    },
    /// Posts newer than the given post.
    After {
        post_id: String,
        offset: i64,
        limit: i64,
    },
    /// Around a moment (a member's last view): up to `limit_after` posts created after it and
    /// `limit_before` at or before it, newest first.
    Around {
        time: i64,
        limit_before: i64,
        limit_after: i64,
    },
}

/// Reads a window of a channel's posts, with the thread roots the replies refer to, the
/// neighbouring post ids for paging, and reactions.
pub async fn list_channel(
    db: &impl GenericClient,
    channel_id: &str,
    window: &PostWindow,
) -> StoreResult<PostList> {
    let rows = match window {
        PostWindow::Page { offset, limit } => {
            db.query(
                &format!(
                    "SELECT {POST_COLUMNS} FROM posts WHERE channelid = $1 AND deleteat = 0 \
                     ORDER BY createat DESC LIMIT $2 OFFSET $3"
                ),
                &[&channel_id, limit, offset],
            )
            .await?
        }
        PostWindow::Since { since } => {
            db.query(
                &format!(
                    "SELECT {POST_COLUMNS} FROM posts WHERE channelid = $1 AND updateat > $2 \
                     ORDER BY createat DESC LIMIT 1000"
                ),
                &[&channel_id, since],
            )
            .await?
        }
        PostWindow::Before {
            post_id,
            offset,
            limit,
        } => {
            let anchor = get(db, post_id).await?;
            db.query(
                &format!(
                    "SELECT {POST_COLUMNS} FROM posts WHERE channelid = $1 AND deleteat = 0 AND createat < $2 \
                     ORDER BY createat DESC LIMIT $3 OFFSET $4"
                ),
                &[&channel_id, &anchor.create_at, limit, offset],
            )
            .await?
        }
        PostWindow::After {
            post_id,
            offset,
            limit,
        } => {
            let anchor = get(db, post_id).await?;
            let mut rows = db
                .query(
                    &format!(
                        "SELECT {POST_COLUMNS} FROM posts WHERE channelid = $1 AND deleteat = 0 AND createat > $2 \
                         ORDER BY createat ASC LIMIT $3 OFFSET $4"
                    ),
                    &[&channel_id, &anchor.create_at, limit, offset],
                )
                .await?;
            rows.reverse();
            rows
        }
        PostWindow::Around {
            time,
            limit_before,
            limit_after,
        } => {
            let mut rows = db
                .query(
                    &format!(
                        "SELECT {POST_COLUMNS} FROM posts WHERE channelid = $1 AND deleteat = 0 AND createat > $2 \
                         ORDER BY createat ASC LIMIT $3"
                    ),
                    &[&channel_id, time, limit_after],
                )
                .await?;
            rows.reverse();
            rows.extend(
                db.query(
                    &format!(
                        "SELECT {POST_COLUMNS} FROM posts WHERE channelid = $1 AND deleteat = 0 AND createat <= $2 \
                         ORDER BY createat DESC LIMIT $3"
                    ),
                    &[&channel_id, time, limit_before],
                )
                .await?,
            );
            rows
        }
    };
    let posts: Vec<Post> = rows.iter().map(post_from_row).collect();
    let mut list = PostList::default();

    if !matches!(window, PostWindow::Since { .. }) {
        if let (Some(newest), Some(oldest)) = (posts.first(), posts.last()) {
            list.next_post_id = neighbour_id(db, channel_id, newest.create_at, true)
                .await?
                .unwrap_or_default();
            list.prev_post_id = neighbour_id(db, channel_id, oldest.create_at, false)
                .await?
                .unwrap_or_default();
            list.has_next = !list.next_post_id.is_empty();
        }
    }

    let listed: BTreeSet<String> = posts.iter().map(|post| post.id.clone()).collect();
    let missing_roots: Vec<String> = posts
        .iter()
        .filter(|post| !post.root_id.is_empty() && !listed.contains(&post.root_id))
        .map(|post| post.root_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for post in posts {
        list.push(post);
    }
    if !missing_roots.is_empty() {
        for root in get_many(db, &missing_roots).await? {
            list.add_related(root);
        }
    }
    attach_reactions(db, &mut list).await?;
    attach_files(db, &mut list).await?;
    Ok(list)
}

async fn neighbour_id(
    db: &impl GenericClient,
    channel_id: &str,
    create_at: i64,
    newer: bool,
) -> StoreResult<Option<String>> {
    let sql = if newer {
        "SELECT id FROM posts WHERE channelid = $1 AND deleteat = 0 AND createat > $2 ORDER BY createat ASC LIMIT 1"
    } else {
        "SELECT id FROM posts WHERE channelid = $1 AND deleteat = 0 AND createat < $2 ORDER BY createat DESC LIMIT 1"
    };
    let statement = db.prepare_cached(sql).await?;
    Ok(db
        .query_opt(&statement, &[&channel_id, &create_at])
        .await?
        .map(|row| row.get(0)))
}

/// A thread: its root and every live reply, newest first in `order`.
pub async fn thread(db: &impl GenericClient, root_id: &str) -> StoreResult<PostList> {
    let rows = db
        .query(
            &format!(
                "SELECT {POST_COLUMNS} FROM posts WHERE (id = $1 OR rootid = $1) AND deleteat = 0 ORDER BY createat DESC"
            ),
            &[&root_id],
        )
        .await?;
    let mut list = PostList::default();
    for row in &rows {
        list.push(post_from_row(row));
    }
    attach_reactions(db, &mut list).await?;
    attach_files(db, &mut list).await?;
    Ok(list)
}

/// Fills `metadata.files` of the posts that have files.
async fn attach_files(db: &impl GenericClient, list: &mut PostList) -> StoreResult<()> {
    let post_ids: Vec<String> = list
        .posts
        .values()
        .filter(|post| !post.file_ids.is_empty() && post.delete_at == 0)
        .map(|post| post.id.clone())
        .collect();
    if post_ids.is_empty() {
        return Ok(());
    }
    for file in crate::files::for_posts(db, &post_ids).await? {
        if let Some(post) = list.posts.get_mut(&file.post_id) {
            post.metadata.files.push(file);
        }
    }
    Ok(())
}

async fn attach_reactions(db: &impl GenericClient, list: &mut PostList) -> StoreResult<()> {
    let post_ids: Vec<String> = list
        .posts
        .values()
        .filter(|post| post.has_reactions)
        .map(|post| post.id.clone())
        .collect();
    if post_ids.is_empty() {
        return Ok(());
    }
    let mut by_post: HashMap<String, Vec<Reaction>> = HashMap::new();
    for reaction in crate::reactions::list_for_posts(db, &post_ids).await? {
        by_post
            .entry(reaction.post_id.clone())
            .or_default()
            .push(reaction);
    }
    for (post_id, reactions) in by_post {
        if let Some(post) = list.posts.get_mut(&post_id) {
            post.metadata.reactions = reactions;
        }
    }
    Ok(())
}

/// Full-text search over the posts of channels the user belongs to in a team (and their
/// direct and group channels), or in all their teams when `team_id` is `None`. Terms are
/// bound as parameters, never spliced into SQL.
pub async fn search(
    db: &impl GenericClient,
    user_id: &str,
    team_id: Option<&str>,
    search: &PostSearch,
    offset: i64,
    limit: i64,
) -> StoreResult<PostList> {
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(user_id.to_string())];
    let mut sql = format!(
        "SELECT {} FROM posts p JOIN channels c ON c.id = p.channelid \
         JOIN channelmembers cm ON cm.channelid = p.channelid AND cm.userid = $1 \
         WHERE p.deleteat = 0 AND c.deleteat = 0 AND p.type NOT LIKE 'system\\_%'",
        POST_COLUMNS
            .split(", ")
            .map(|column| format!("p.{column}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(team_id) = team_id {
        params.push(Box::new(team_id.to_string()));
        sql.push_str(&format!(
            " AND (c.teamid = ${} OR c.teamid = '')",
            params.len()
        ));
    }

    let mut query_parts: Vec<String> = Vec::new();
    for word in &search.words {
        params.push(Box::new(word.clone()));
        query_parts.push(format!("plainto_tsquery('english', ${})", params.len()));
    }
    for phrase in &search.phrases {
        params.push(Box::new(phrase.clone()));
        query_parts.push(format!("phraseto_tsquery('english', ${})", params.len()));
    }
    for prefix in &search.prefixes {
        params.push(Box::new(format!("{prefix}:*")));
        query_parts.push(format!("to_tsquery('english', ${})", params.len()));
    }
    let joiner = if search.is_or_search { " || " } else { " && " };
    let mut tsquery = query_parts.join(joiner);
    for excluded in &search.excluded_words {
        params.push(Box::new(excluded.clone()));
        let negation = format!("!! plainto_tsquery('english', ${})", params.len());
        tsquery = if tsquery.is_empty() {
            negation
        } else {
            format!("({tsquery}) && {negation}")
        };
    }
    if !tsquery.is_empty() {
        sql.push_str(&format!(" AND p.messagetsv @@ ({tsquery})"));
    }
    if !search.from_usernames.is_empty() {
        params.push(Box::new(search.from_usernames.clone()));
        sql.push_str(&format!(
            " AND p.userid IN (SELECT id FROM users WHERE username = ANY(${}))",
            params.len()
        ));
    }
    if !search.in_channels.is_empty() {
        params.push(Box::new(search.in_channels.clone()));
        sql.push_str(&format!(
            " AND (c.name = ANY(${0}) OR c.id = ANY(${0}))",
            params.len()
        ));
    }
    params.push(Box::new(limit));
    sql.push_str(&format!(
        " ORDER BY p.createat DESC LIMIT ${}",
        params.len()
    ));
    params.push(Box::new(offset));
    sql.push_str(&format!(" OFFSET ${}", params.len()));

    let param_refs: Vec<&(dyn ToSql + Sync)> = params
        .iter()
        .map(|param| param.as_ref() as &(dyn ToSql + Sync))
        .collect();
    let rows = db.query(&sql, &param_refs).await?;
    let mut list = PostList::default();
    for row in &rows {
        list.push(post_from_row(row));
    }
    attach_reactions(db, &mut list).await?;
    attach_files(db, &mut list).await?;
    Ok(list)
}

/// Posts of these channels created, edited or deleted after `since` (ms), oldest change first,
/// at most `limit`: what a websocket client missed while its node was gone. `updateat` moves
/// with every one of those changes, so its index finds them.
/// Posts of a channel created in `(after, up_to]`, oldest first, deleted ones included.
pub async fn created_between(
    db: &impl GenericClient,
    channel_id: &str,
    after: i64,
    up_to: i64,
    limit: i64,
) -> StoreResult<Vec<Post>> {
    let rows = db
        .query(
            &format!(
                "SELECT {POST_COLUMNS} FROM posts WHERE channelid = $1 AND createat > $2 \
                 AND createat <= $3 ORDER BY createat LIMIT $4"
            ),
            &[&channel_id, &after, &up_to, &limit],
        )
        .await?;
    Ok(rows.iter().map(post_from_row).collect())
}

pub async fn changed_since(
    db: &impl GenericClient,
    channel_ids: &[String],
    since: i64,
    limit: i64,
) -> StoreResult<Vec<Post>> {
    let rows = crate::query_prepared(
        db,
        &format!(
            "SELECT {POST_COLUMNS} FROM posts WHERE channelid = ANY($1) AND updateat > $2 \
                 AND (createat > $2 OR editat > $2 OR deleteat > $2) ORDER BY createat LIMIT $3"
        ),
        &[&channel_ids, &since, &limit],
    )
    .await?;
    Ok(rows.iter().map(post_from_row).collect())
}

//! Integrations (issue 16): bots (a user row with `isbot` plus a `bots` row), incoming and
//! outgoing webhooks, and the outbox of outgoing deliveries.
//!
//! The outbox rows of a post are inserted by the post's own statement or transaction
//! (`posts::create`, from [`QUEUE_DELIVERIES`]): a triggering post is never committed without
//! them. Workers on any node claim due rows with `FOR UPDATE SKIP LOCKED` under a lease that
//! expires by the database clock, and every later update names the claim (node and attempt),
//! so a worker presumed dead cannot overwrite what its successor did.

use crate::{one, Connection, GenericClient, Record, StoreResult};
use chorus_model::{Bot, BotPatch, Command, IncomingWebhook, OutgoingWebhook, User};
use std::time::Duration;
use tokio_postgres::Row;

/// Milliseconds since the epoch by the database clock (never a node's).
const DB_NOW_MILLIS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

// ---- bots ----

const BOT_COLUMNS: &str = "b.userid, u.username, u.firstname, b.description, b.ownerid, \
     b.lasticonupdate, b.createat, b.updateat, b.deleteat";

fn bot_from_row(row: &Row) -> Bot {
    Bot {
        user_id: row.get("userid"),
        username: row.get("username"),
        display_name: row.get("firstname"),
        description: row.get("description"),
        owner_id: row.get("ownerid"),
        last_icon_update: row.get("lasticonupdate"),
        create_at: row.get("createat"),
        update_at: row.get("updateat"),
        delete_at: row.get("deleteat"),
    }
}

/// Inserts the bot's user row and its bot row in one commit.
pub async fn create_bot(db: &mut Connection, user: &User, bot: &Bot) -> StoreResult<()> {
    let transaction = db.transaction().await?;
    crate::users::insert(&transaction, user).await?;
    transaction
        .execute(
            "INSERT INTO bots (userid, description, ownerid, createat, updateat, deleteat) \
             VALUES ($1, $2, $3, $4, $4, 0)",
            &[
                &bot.user_id,
                &bot.description,
                &bot.owner_id,
                &bot.create_at,
            ],
        )
        .await?;
    transaction.commit().await?;
    Ok(())
}

pub async fn get_bot(
    db: &impl GenericClient,
    user_id: &str,
    include_deleted: bool,
) -> StoreResult<Bot> {
    let row = db
        .query_opt(
            &format!(
                "SELECT {BOT_COLUMNS} FROM bots b JOIN users u ON u.id = b.userid \
                 WHERE b.userid = $1 AND ($2 OR b.deleteat = 0)"
            ),
            &[&user_id, &include_deleted],
        )
        .await?;
    one(row.as_ref().map(bot_from_row), Record::Bot)
}

/// Which bots GET /bots lists.
#[derive(Debug, Clone, Default)]
pub struct BotFilter {
    /// Only this owner's bots (a caller who may not see others').
    pub owner_id: Option<String>,
    pub include_deleted: bool,
    /// Only bots whose owner is gone or deactivated.
    pub only_orphaned: bool,
    pub offset: i64,
    pub limit: i64,
}

pub async fn list_bots(db: &impl GenericClient, filter: &BotFilter) -> StoreResult<Vec<Bot>> {
    let rows = db
        .query(
            &format!(
                "SELECT {BOT_COLUMNS} FROM bots b JOIN users u ON u.id = b.userid \
                 WHERE ($1::text IS NULL OR b.ownerid = $1) AND ($2 OR b.deleteat = 0) \
                 AND (NOT $3 OR NOT EXISTS (SELECT 1 FROM users o WHERE o.id = b.ownerid \
                                            AND o.deleteat = 0)) \
                 ORDER BY u.username LIMIT $4 OFFSET $5"
            ),
            &[
                &filter.owner_id,
                &filter.include_deleted,
                &filter.only_orphaned,
                &filter.limit,
                &filter.offset,
            ],
        )
        .await?;
    Ok(rows.iter().map(bot_from_row).collect())
}

/// Username and display name live on the user row, the description on both (Mattermost keeps
/// `users.botdescription` in step).
pub async fn patch_bot(
    db: &mut Connection,
    user_id: &str,
    patch: &BotPatch,
    now: i64,
) -> StoreResult<Bot> {
    let transaction = db.transaction().await?;
    let updated = transaction
        .execute(
            "UPDATE users SET username = COALESCE($2, username), \
             firstname = COALESCE($3, firstname), botdescription = COALESCE($4, botdescription), \
             updateat = $5 WHERE id = $1 AND isbot",
            &[
                &user_id,
                &patch.username,
                &patch.display_name,
                &patch.description,
                &now,
            ],
        )
        .await?;
    if updated == 0 {
        return Err(crate::StoreError::NotFound(Record::Bot));
    }
    transaction
        .execute(
            "UPDATE bots SET description = COALESCE($2, description), updateat = $3 \
             WHERE userid = $1",
            &[&user_id, &patch.description, &now],
        )
        .await?;
    let bot = get_bot(&transaction, user_id, true).await?;
    transaction.commit().await?;
    Ok(bot)
}

/// Disables (`active` false) or enables a bot: its bot row and its user row together.
pub async fn set_bot_active(
    db: &mut Connection,
    user_id: &str,
    active: bool,
    now: i64,
) -> StoreResult<Bot> {
    let delete_at = if active { 0 } else { now };
    let transaction = db.transaction().await?;
    let updated = transaction
        .execute(
            "UPDATE bots SET deleteat = $2, updateat = $3 WHERE userid = $1",
            &[&user_id, &delete_at, &now],
        )
        .await?;
    if updated == 0 {
        return Err(crate::StoreError::NotFound(Record::Bot));
    }
    transaction
        .execute(
            "UPDATE users SET deleteat = $2, updateat = $3 WHERE id = $1",
            &[&user_id, &delete_at, &now],
        )
        .await?;
    let bot = get_bot(&transaction, user_id, true).await?;
    transaction.commit().await?;
    Ok(bot)
}

pub async fn assign_bot_owner(
    db: &impl GenericClient,
    user_id: &str,
    owner_id: &str,
    now: i64,
) -> StoreResult<Bot> {
    let updated = db
        .execute(
            "UPDATE bots SET ownerid = $2, updateat = $3 WHERE userid = $1",
            &[&user_id, &owner_id, &now],
        )
        .await?;
    if updated == 0 {
        return Err(crate::StoreError::NotFound(Record::Bot));
    }
    get_bot(db, user_id, true).await
}

/// POST /users/{id}/convert_to_bot: the user row becomes a bot's (owned by itself, as in
/// Mattermost) in one commit. NotFound when there is no such person.
pub async fn convert_user_to_bot(db: &mut Connection, user_id: &str, now: i64) -> StoreResult<Bot> {
    let transaction = db.transaction().await?;
    let updated = transaction
        .execute(
            "UPDATE users SET isbot = true, updateat = $2 WHERE id = $1 AND NOT isbot",
            &[&user_id, &now],
        )
        .await?;
    if updated == 0 {
        return Err(crate::StoreError::NotFound(Record::User));
    }
    transaction
        .execute(
            "INSERT INTO bots (userid, description, ownerid, createat, updateat, deleteat) \
             SELECT id, botdescription, id, $2, $2, deleteat FROM users WHERE id = $1",
            &[&user_id, &now],
        )
        .await?;
    let bot = get_bot(&transaction, user_id, true).await?;
    transaction.commit().await?;
    Ok(bot)
}

/// POST /bots/{id}/convert_to_user: the bot row goes, the user row becomes a person's with
/// the given password hash (and email, username, roles when given).
pub async fn convert_bot_to_user(
    db: &mut Connection,
    user_id: &str,
    password_hash: &str,
    email: Option<&str>,
    username: Option<&str>,
    roles: Option<&str>,
    now: i64,
) -> StoreResult<User> {
    let transaction = db.transaction().await?;
    let deleted = transaction
        .execute("DELETE FROM bots WHERE userid = $1", &[&user_id])
        .await?;
    if deleted == 0 {
        return Err(crate::StoreError::NotFound(Record::Bot));
    }
    transaction
        .execute(
            "UPDATE users SET isbot = false, botdescription = '', password = $2, \
             lastpasswordupdate = $3, updateat = $3, email = COALESCE($4, email), \
             username = COALESCE($5, username), roles = COALESCE($6, roles) WHERE id = $1",
            &[&user_id, &password_hash, &now, &email, &username, &roles],
        )
        .await?;
    let user = crate::users::get(&transaction, user_id).await?;
    transaction.commit().await?;
    Ok(user)
}

// ---- incoming webhooks ----

const INCOMING_COLUMNS: &str = "id, createat, updateat, deleteat, userid, channelid, teamid, \
     displayname, description, username, iconurl, channellocked";

fn incoming_from_row(row: &Row) -> IncomingWebhook {
    IncomingWebhook {
        id: row.get("id"),
        create_at: row.get("createat"),
        update_at: row.get("updateat"),
        delete_at: row.get("deleteat"),
        user_id: row.get("userid"),
        channel_id: row.get("channelid"),
        team_id: row.get("teamid"),
        display_name: row.get("displayname"),
        description: row.get("description"),
        username: row.get("username"),
        icon_url: row.get("iconurl"),
        channel_locked: row.get("channellocked"),
    }
}

pub async fn insert_incoming(db: &impl GenericClient, hook: &IncomingWebhook) -> StoreResult<()> {
    db.execute(
        &format!(
            "INSERT INTO incomingwebhooks ({INCOMING_COLUMNS}) \
             VALUES ($1, $2, $3, 0, $4, $5, $6, $7, $8, $9, $10, $11)"
        ),
        &[
            &hook.id,
            &hook.create_at,
            &hook.update_at,
            &hook.user_id,
            &hook.channel_id,
            &hook.team_id,
            &hook.display_name,
            &hook.description,
            &hook.username,
            &hook.icon_url,
            &hook.channel_locked,
        ],
    )
    .await?;
    Ok(())
}

/// A live incoming webhook.
pub async fn get_incoming(db: &impl GenericClient, hook_id: &str) -> StoreResult<IncomingWebhook> {
    let statement = db
        .prepare_cached(&format!(
            "SELECT {INCOMING_COLUMNS} FROM incomingwebhooks WHERE id = $1 AND deleteat = 0"
        ))
        .await?;
    let row = db.query_opt(&statement, &[&hook_id]).await?;
    one(row.as_ref().map(incoming_from_row), Record::IncomingWebhook)
}

/// Live incoming webhooks, optionally of one team and/or one creator, oldest first.
pub async fn list_incoming(
    db: &impl GenericClient,
    team_id: Option<&str>,
    user_id: Option<&str>,
    offset: i64,
    limit: i64,
) -> StoreResult<Vec<IncomingWebhook>> {
    let rows = db
        .query(
            &format!(
                "SELECT {INCOMING_COLUMNS} FROM incomingwebhooks WHERE deleteat = 0 \
                 AND ($1::text IS NULL OR teamid = $1) AND ($2::text IS NULL OR userid = $2) \
                 ORDER BY createat, id LIMIT $3 OFFSET $4"
            ),
            &[&team_id, &user_id, &limit, &offset],
        )
        .await?;
    Ok(rows.iter().map(incoming_from_row).collect())
}

pub async fn update_incoming(
    db: &impl GenericClient,
    hook: &IncomingWebhook,
) -> StoreResult<IncomingWebhook> {
    let row = db
        .query_opt(
            &format!(
                "UPDATE incomingwebhooks SET updateat = $2, channelid = $3, displayname = $4, \
                 description = $5, username = $6, iconurl = $7, channellocked = $8 \
                 WHERE id = $1 AND deleteat = 0 RETURNING {INCOMING_COLUMNS}"
            ),
            &[
                &hook.id,
                &hook.update_at,
                &hook.channel_id,
                &hook.display_name,
                &hook.description,
                &hook.username,
                &hook.icon_url,
                &hook.channel_locked,
            ],
        )
        .await?;
    one(row.as_ref().map(incoming_from_row), Record::IncomingWebhook)
}

pub async fn delete_incoming(db: &impl GenericClient, hook_id: &str, now: i64) -> StoreResult<()> {
    soft_delete(
        db,
        "incomingwebhooks",
        hook_id,
        now,
        Record::IncomingWebhook,
    )
    .await
}

/// Marks a live row of `table` (an integration: hooks and commands share the columns) deleted
/// at `now`; `record` names what was missing when there was none.
async fn soft_delete(
    db: &impl GenericClient,
    table: &'static str,
    id: &str,
    now: i64,
    record: Record,
) -> StoreResult<()> {
    let deleted = db
        .execute(
            &format!(
                "UPDATE {table} SET deleteat = $2, updateat = $2 WHERE id = $1 AND deleteat = 0"
            ),
            &[&id, &now],
        )
        .await?;
    if deleted == 0 {
        return Err(crate::StoreError::NotFound(record));
    }
    Ok(())
}

// ---- outgoing webhooks ----

const OUTGOING_COLUMNS: &str = "id, token, createat, updateat, deleteat, creatorid, channelid, \
     teamid, triggerwords, triggerwhen, callbackurls, displayname, description, contenttype, \
     username, iconurl";

fn outgoing_from_row(row: &Row) -> OutgoingWebhook {
    OutgoingWebhook {
        id: row.get("id"),
        token: row.get("token"),
        create_at: row.get("createat"),
        update_at: row.get("updateat"),
        delete_at: row.get("deleteat"),
        creator_id: row.get("creatorid"),
        channel_id: row.get("channelid"),
        team_id: row.get("teamid"),
        trigger_words: row.get("triggerwords"),
        trigger_when: row.get("triggerwhen"),
        callback_urls: row.get("callbackurls"),
        display_name: row.get("displayname"),
        description: row.get("description"),
        content_type: row.get("contenttype"),
        username: row.get("username"),
        icon_url: row.get("iconurl"),
    }
}

/// Whether the team has a live outgoing webhook (one any of its posts might trigger).
pub async fn team_has_outgoing(db: &impl GenericClient, team_id: &str) -> StoreResult<bool> {
    let row = crate::query_one_prepared(
        db,
        "SELECT EXISTS (SELECT 1 FROM outgoingwebhooks WHERE teamid = $1 AND deleteat = 0)",
        &[&team_id],
    )
    .await?;
    Ok(row.get(0))
}

pub async fn insert_outgoing(db: &impl GenericClient, hook: &OutgoingWebhook) -> StoreResult<()> {
    db.execute(
        &format!(
            "INSERT INTO outgoingwebhooks ({OUTGOING_COLUMNS}) VALUES ($1, $2, $3, $4, 0, $5, \
             $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ),
        &[
            &hook.id,
            &hook.token,
            &hook.create_at,
            &hook.update_at,
            &hook.creator_id,
            &hook.channel_id,
            &hook.team_id,
            &hook.trigger_words,
            &hook.trigger_when,
            &hook.callback_urls,
            &hook.display_name,
            &hook.description,
            &hook.content_type,
            &hook.username,
            &hook.icon_url,
        ],
    )
    .await?;
    Ok(())
}

/// An outgoing webhook; deleted ones only with `include_deleted` (a queued delivery asks).
pub async fn get_outgoing(
    db: &impl GenericClient,
    hook_id: &str,
    include_deleted: bool,
) -> StoreResult<OutgoingWebhook> {
    let row = db
        .query_opt(
            &format!(
                "SELECT {OUTGOING_COLUMNS} FROM outgoingwebhooks \
                 WHERE id = $1 AND ($2 OR deleteat = 0)"
            ),
            &[&hook_id, &include_deleted],
        )
        .await?;
    one(row.as_ref().map(outgoing_from_row), Record::OutgoingWebhook)
}

/// Live outgoing webhooks by team, channel and/or creator, oldest first.
pub async fn list_outgoing(
    db: &impl GenericClient,
    team_id: Option<&str>,
    channel_id: Option<&str>,
    creator_id: Option<&str>,
    offset: i64,
    limit: i64,
) -> StoreResult<Vec<OutgoingWebhook>> {
    let rows = db
        .query(
            &format!(
                "SELECT {OUTGOING_COLUMNS} FROM outgoingwebhooks WHERE deleteat = 0 \
                 AND ($1::text IS NULL OR teamid = $1) AND ($2::text IS NULL OR channelid = $2) \
                 AND ($3::text IS NULL OR creatorid = $3) \
                 ORDER BY createat, id LIMIT $4 OFFSET $5"
            ),
            &[&team_id, &channel_id, &creator_id, &limit, &offset],
        )
        .await?;
    Ok(rows.iter().map(outgoing_from_row).collect())
}

pub async fn update_outgoing(
    db: &impl GenericClient,
    hook: &OutgoingWebhook,
) -> StoreResult<OutgoingWebhook> {
    let row = db
        .query_opt(
            &format!(
                "UPDATE outgoingwebhooks SET token = $2, updateat = $3, channelid = $4, \
                 triggerwords = $5, triggerwhen = $6, callbackurls = $7, displayname = $8, \
                 description = $9, contenttype = $10, username = $11, iconurl = $12 \
                 WHERE id = $1 AND deleteat = 0 RETURNING {OUTGOING_COLUMNS}"
            ),
            &[
                &hook.id,
                &hook.token,
                &hook.update_at,
                &hook.channel_id,
                &hook.trigger_words,
                &hook.trigger_when,
                &hook.callback_urls,
                &hook.display_name,
                &hook.description,
                &hook.content_type,
                &hook.username,
                &hook.icon_url,
            ],
        )
        .await?;
    one(row.as_ref().map(outgoing_from_row), Record::OutgoingWebhook)
}

pub async fn delete_outgoing(db: &impl GenericClient, hook_id: &str, now: i64) -> StoreResult<()> {
    soft_delete(
        db,
        "outgoingwebhooks",
        hook_id,
        now,
        Record::OutgoingWebhook,
    )
    .await
}

// ---- the outbox ----

/// Queues the deliveries a new post triggers: one row per matching live hook and callback URL
/// of the post's team, in open channels only, as Mattermost matches them (a channel hook
/// without trigger words takes every post of its channel; otherwise the message's first word
/// equals a trigger word, or starts with one when `triggerwhen` = 1). The arguments are the
/// SQL expressions (parameters) of the post id, its channel id, whether to queue at all
/// (EnableOutgoingWebhooks, and not a post made by a webhook), the message's first word and
/// the post's `create_at`; `from` adds relations to the FROM list. The row id is derived from
/// (post, hook, URL), so it is the same whoever computes it.
pub(crate) fn queue_deliveries_sql(
    post_id: &str,
    channel_id: &str,
    enabled: &str,
    first_word: &str,
    created_at: &str,
    from: &str,
) -> String {
    format!(
        "INSERT INTO outgoingdeliveries (id, hookid, postid, callbackurl, createat, nextattemptat)
    SELECT substr(md5({post_id} || ':' || h.id || ':' || url.n), 1, 26), h.id, {post_id}, url.u,
        {created_at}, {created_at}
    FROM {from} channels c, outgoingwebhooks h,
        unnest(h.callbackurls) WITH ORDINALITY AS url(u, n)
    WHERE {enabled} AND c.id = {channel_id} AND c.type = 'O' AND h.teamid = c.teamid
        AND h.deleteat = 0 AND (h.channelid = {channel_id} OR h.channelid = '')
        AND ((h.channelid = {channel_id} AND cardinality(h.triggerwords) = 0)
             OR (h.triggerwhen = 0 AND {first_word} <> '' AND {first_word} = ANY(h.triggerwords))
             OR (h.triggerwhen = 1 AND {first_word} <> '' AND EXISTS (
                    SELECT 1 FROM unnest(h.triggerwords) AS w(word)
                    WHERE w.word <> '' AND starts_with({first_word}, w.word))))"
    )
}

/// A delivery a worker claimed: `attempt` names the claim in every later update.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: String,
    pub hook_id: String,
    pub post_id: String,
    pub callback_url: String,
    pub create_at: i64,
    pub attempt: i32,
}

/// Claims up to `limit` due deliveries for `node_id` until `lease` from now (database clock):
/// concurrent claimers skip locked rows, and a row whose lease ran out (its node died
/// mid-call) is due again.
pub async fn claim_due_deliveries(
    db: &impl GenericClient,
    node_id: &str,
    lease: Duration,
    limit: i64,
) -> StoreResult<Vec<ClaimedDelivery>> {
    let sql = format!(
        "UPDATE outgoingdeliveries SET leaseowner = $1, leaseuntil = {DB_NOW_MILLIS} + $2::bigint, \
         attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM outgoingdeliveries \
                      WHERE deliveredat = 0 AND failedat = 0 \
                      AND nextattemptat <= {DB_NOW_MILLIS} AND leaseuntil <= {DB_NOW_MILLIS} \
                      ORDER BY nextattemptat LIMIT $3 FOR UPDATE SKIP LOCKED) \
         RETURNING id, hookid, postid, callbackurl, createat, attempts"
    );
    let lease_millis = lease.as_millis() as i64;
    let rows = db.query(&sql, &[&node_id, &lease_millis, &limit]).await?;
    Ok(rows
        .iter()
        .map(|row| ClaimedDelivery {
            id: row.get(0),
            hook_id: row.get(1),
            post_id: row.get(2),
            callback_url: row.get(3),
            create_at: row.get(4),
            attempt: row.get(5),
        })
        .collect())
}

/// The receiver acknowledged (a 2xx answer). False when the claim was no longer this
/// worker's (its lease ran out and another node took the row).
pub async fn mark_delivered(
    db: &impl GenericClient,
    delivery: &ClaimedDelivery,
    node_id: &str,
    status: i32,
) -> StoreResult<bool> {
    let sql = format!(
        "UPDATE outgoingdeliveries SET deliveredat = {DB_NOW_MILLIS}, laststatus = $4, \
         lasterror = '', leaseuntil = 0 \
         WHERE id = $1 AND leaseowner = $2 AND attempts = $3 AND deliveredat = 0"
    );
    let updated = db
        .execute(&sql, &[&delivery.id, &node_id, &delivery.attempt, &status])
        .await?;
    Ok(updated == 1)
}

/// An attempt failed: due again after `retry_in`, or given up (`None`) with the reason kept.
pub async fn mark_attempt_failed(
    db: &impl GenericClient,
    delivery: &ClaimedDelivery,
    node_id: &str,
    status: i32,
    error: &str,
    retry_in: Option<Duration>,
) -> StoreResult<bool> {
    let sql = format!(
        "UPDATE outgoingdeliveries SET laststatus = $4, lasterror = $5, leaseuntil = 0, \
         nextattemptat = CASE WHEN $6::bigint IS NULL THEN nextattemptat \
                              ELSE {DB_NOW_MILLIS} + $6::bigint END, \
         failedat = CASE WHEN $6::bigint IS NULL THEN {DB_NOW_MILLIS} ELSE 0 END \
         WHERE id = $1 AND leaseowner = $2 AND attempts = $3 AND deliveredat = 0"
    );
    let retry_millis = retry_in.map(|delay| delay.as_millis() as i64);
    let updated = db
        .execute(
            &sql,
            &[
                &delivery.id,
                &node_id,
                &delivery.attempt,
                &status,
                &error,
                &retry_millis,
            ],
        )
        .await?;
    Ok(updated == 1)
}

/// One delivery as stored, for operators and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: String,
    pub hook_id: String,
    pub post_id: String,
    pub attempts: i32,
    pub delivered_at: i64,
    pub failed_at: i64,
    pub last_status: i32,
    pub last_error: String,
}

pub async fn deliveries_for_post(
    db: &impl GenericClient,
    post_id: &str,
) -> StoreResult<Vec<DeliveryRecord>> {
    let rows = db
        .query(
            "SELECT id, hookid, postid, attempts, deliveredat, failedat, laststatus, lasterror \
             FROM outgoingdeliveries WHERE postid = $1 ORDER BY id",
            &[&post_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| DeliveryRecord {
            id: row.get(0),
            hook_id: row.get(1),
            post_id: row.get(2),
            attempts: row.get(3),
            delivered_at: row.get(4),
            failed_at: row.get(5),
            last_status: row.get(6),
            last_error: row.get(7),
        })
        .collect())
}

// ---- slash commands ----

const COMMAND_COLUMNS: &str = "id, token, createat, updateat, deleteat, creatorid, teamid, \
     trigger, method, username, iconurl, autocomplete, autocompletedesc, autocompletehint, \
     displayname, description, url";

fn command_from_row(row: &Row) -> Command {
    Command {
        id: row.get("id"),
        token: row.get("token"),
        create_at: row.get("createat"),
        update_at: row.get("updateat"),
        delete_at: row.get("deleteat"),
        creator_id: row.get("creatorid"),
        team_id: row.get("teamid"),
        trigger: row.get("trigger"),
        method: row.get("method"),
        username: row.get("username"),
        icon_url: row.get("iconurl"),
        auto_complete: row.get("autocomplete"),
        auto_complete_desc: row.get("autocompletedesc"),
        auto_complete_hint: row.get("autocompletehint"),
        display_name: row.get("displayname"),
        description: row.get("description"),
        url: row.get("url"),
    }
}

pub async fn insert_command(db: &impl GenericClient, command: &Command) -> StoreResult<()> {
    db.execute(
        &format!(
            "INSERT INTO commands ({COMMAND_COLUMNS}) VALUES ($1, $2, $3, $4, 0, $5, $6, $7, $8, \
             $9, $10, $11, $12, $13, $14, $15, $16)"
        ),
        &[
            &command.id,
            &command.token,
            &command.create_at,
            &command.update_at,
            &command.creator_id,
            &command.team_id,
            &command.trigger,
            &command.method,
            &command.username,
            &command.icon_url,
            &command.auto_complete,
            &command.auto_complete_desc,
            &command.auto_complete_hint,
            &command.display_name,
            &command.description,
            &command.url,
        ],
    )
    .await?;
    Ok(())
}

/// A live command.
pub async fn get_command(db: &impl GenericClient, command_id: &str) -> StoreResult<Command> {
    let row = db
        .query_opt(
            &format!("SELECT {COMMAND_COLUMNS} FROM commands WHERE id = $1 AND deleteat = 0"),
            &[&command_id],
        )
        .await?;
    one(row.as_ref().map(command_from_row), Record::Command)
}

/// The live commands of a team, by trigger.
pub async fn commands_of_team(db: &impl GenericClient, team_id: &str) -> StoreResult<Vec<Command>> {
    let rows = db
        .query(
            &format!(
                "SELECT {COMMAND_COLUMNS} FROM commands WHERE teamid = $1 AND deleteat = 0 \
                 ORDER BY trigger, id"
            ),
            &[&team_id],
        )
        .await?;
    Ok(rows.iter().map(command_from_row).collect())
}

pub async fn update_command(db: &impl GenericClient, command: &Command) -> StoreResult<Command> {
    let row = db
        .query_opt(
            &format!(
                "UPDATE commands SET token = $2, updateat = $3, trigger = $4, method = $5, \
                 username = $6, iconurl = $7, autocomplete = $8, autocompletedesc = $9, \
                 autocompletehint = $10, displayname = $11, description = $12, url = $13, \
                 teamid = $14 WHERE id = $1 AND deleteat = 0 RETURNING {COMMAND_COLUMNS}"
            ),
            &[
                &command.id,
                &command.token,
                &command.update_at,
                &command.trigger,
                &command.method,
                &command.username,
                &command.icon_url,
                &command.auto_complete,
                &command.auto_complete_desc,
                &command.auto_complete_hint,
                &command.display_name,
                &command.description,
                &command.url,
                &command.team_id,
            ],
        )
        .await?;
    one(row.as_ref().map(command_from_row), Record::Command)
}

pub async fn delete_command(
    db: &impl GenericClient,
    command_id: &str,
    now: i64,
) -> StoreResult<()> {
    soft_delete(db, "commands", command_id, now, Record::Command).await
}

/// Stamps that `user_id` was sent an ephemeral message (see the migration's note).
pub async fn note_ephemeral_sent(
    db: &impl GenericClient,
    user_id: &str,
    now: i64,
) -> StoreResult<()> {
    let statement = db
        .prepare_cached(
            "INSERT INTO ephemeralsent (userid, sentat) VALUES ($1, $2) \
             ON CONFLICT (userid) DO UPDATE SET sentat = GREATEST(ephemeralsent.sentat, $2)",
        )
        .await?;
    db.execute(&statement, &[&user_id, &now]).await?;
    Ok(())
}

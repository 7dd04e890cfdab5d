//! Channels and channel members.

use crate::history::{JoinedBy, LeftBy};
use crate::{json_map, one, GenericClient, Record, StoreResult};
use chorus_model::{Channel, ChannelMember, ChannelPatch, ChannelStats, ChannelUnread, TeamUnread};
use serde_json::Value;
use std::collections::BTreeMap;
use tokio_postgres::Row;

const CHANNEL_COLUMNS: &str = "id, createat, updateat, deleteat, teamid, type, displayname, name, \
     header, purpose, lastpostat, totalmsgcount, totalmsgcountroot, lastrootpostat, extraupdateat, creatorid";

const MEMBER_COLUMNS: &str = "channelid, userid, roles, lastviewedat, msgcount, mentioncount, \
     msgcountroot, mentioncountroot, notifyprops, lastupdateat, schemeuser, schemeadmin, schemeguest";

fn channel_from_row(row: &Row) -> Channel {
    Channel {
        id: row.get("id"),
        create_at: row.get("createat"),
        update_at: row.get("updateat"),
        delete_at: row.get("deleteat"),
        team_id: row.get("teamid"),
        channel_type: row.get("type"),
        display_name: row.get("displayname"),
        name: row.get("name"),
        header: row.get("header"),
        purpose: row.get("purpose"),
        last_post_at: row.get("lastpostat"),
        total_msg_count: row.get("totalmsgcount"),
        total_msg_count_root: row.get("totalmsgcountroot"),
        last_root_post_at: row.get("lastrootpostat"),
        extra_update_at: row.get("extraupdateat"),
        creator_id: row.get("creatorid"),
        ..Default::default()
    }
}

fn member_from_row(row: &Row) -> ChannelMember {
    let scheme_admin: bool = row.get("schemeadmin");
    let mut roles = String::from("channel_user");
    if scheme_admin {
        roles.push_str(" channel_admin");
    }
    ChannelMember {
        channel_id: row.get("channelid"),
        user_id: row.get("userid"),
        roles,
        last_viewed_at: row.get("lastviewedat"),
        msg_count: row.get("msgcount"),
        mention_count: row.get("mentioncount"),
        mention_count_root: row.get("mentioncountroot"),
        urgent_mention_count: 0,
        msg_count_root: row.get("msgcountroot"),
        notify_props: json_map(row, "notifyprops"),
        last_update_at: row.get("lastupdateat"),
        scheme_guest: row.get("schemeguest"),
        scheme_user: row.get("schemeuser"),
        scheme_admin,
        explicit_roles: row.get("roles"),
    }
}

/// Mattermost's default notify props for a new channel membership.
fn default_notify_props() -> Value {
    serde_json::json!({
        "desktop": "default", "email": "default", "ignore_channel_mentions": "default",
        "mark_unread": "all", "push": "default", "channel_auto_follow_threads": "off"
    })
}

pub async fn insert(db: &impl GenericClient, channel: &Channel) -> StoreResult<()> {
    db.execute(
        "INSERT INTO channels (id, createat, updateat, deleteat, teamid, type, displayname, name, header, \
         purpose, lastpostat, totalmsgcount, totalmsgcountroot, lastrootpostat, extraupdateat, creatorid) \
         VALUES ($1, $2, $3, 0, $4, $5, $6, $7, $8, $9, $10, 0, 0, $10, 0, $11)",
        &[
            &channel.id,
            &channel.create_at,
            &channel.update_at,
            &channel.team_id,
            &channel.channel_type,
            &channel.display_name,
            &channel.name,
            &channel.header,
            &channel.purpose,
            &channel.last_post_at,
            &channel.creator_id,
        ],
    )
    .await?;
    Ok(())
}

/// Public and private channels of a team that are not archived: what
/// TeamSettings.MaxChannelsPerTeam bounds (as Mattermost counts them).
pub async fn count_in_team(db: &impl GenericClient, team_id: &str) -> StoreResult<i64> {
    let row = db
        .query_one(
            "SELECT count(*) FROM channels WHERE teamid = $1 AND deleteat = 0 AND type IN ('O', 'P')",
            &[&team_id],
        )
        .await?;
    Ok(row.get(0))
}

pub async fn get(db: &impl GenericClient, channel_id: &str) -> StoreResult<Channel> {
    let sql = format!("SELECT {CHANNEL_COLUMNS} FROM channels WHERE id = $1");
    let statement = db.prepare_cached(&sql).await?;
    let row = db.query_opt(&statement, &[&channel_id]).await?;
    one(row.as_ref().map(channel_from_row), Record::Channel)
}

pub async fn get_many(
    db: &impl GenericClient,
    channel_ids: &[String],
) -> StoreResult<Vec<Channel>> {
    let sql = format!("SELECT {CHANNEL_COLUMNS} FROM channels WHERE id = ANY($1)");
    let rows = crate::query_prepared(db, &sql, &[&channel_ids]).await?;
    Ok(rows.iter().map(channel_from_row).collect())
}

/// A channel by name within a team (`team_id` is "" for direct and group channels).
pub async fn get_by_name(
    db: &impl GenericClient,
    team_id: &str,
    name: &str,
) -> StoreResult<Channel> {
    let sql = format!("SELECT {CHANNEL_COLUMNS} FROM channels WHERE teamid = $1 AND name = $2");
    let row = db.query_opt(&sql, &[&team_id, &name]).await?;
    one(row.as_ref().map(channel_from_row), Record::Channel)
}

pub async fn patch(
    db: &impl GenericClient,
    channel_id: &str,
    patch: &ChannelPatch,
    now: i64,
) -> StoreResult<Channel> {
    let sql = format!(
        "UPDATE channels SET updateat = $2, displayname = COALESCE($3, displayname), name = COALESCE($4, name), \
         header = COALESCE($5, header), purpose = COALESCE($6, purpose) WHERE id = $1 RETURNING {CHANNEL_COLUMNS}"
    );
    let row = db
        .query_opt(
            &sql,
            &[
                &channel_id,
                &now,
                &patch.display_name,
                &patch.name,
                &patch.header,
                &patch.purpose,
            ],
        )
        .await?;
    one(row.as_ref().map(channel_from_row), Record::Channel)
}

pub async fn archive(db: &impl GenericClient, channel_id: &str, now: i64) -> StoreResult<()> {
    db.execute(
        "UPDATE channels SET deleteat = $2, updateat = $2 WHERE id = $1 AND deleteat = 0",
        &[&channel_id, &now],
    )
    .await?;
    Ok(())
}

/// Public, unarchived channels of a team, by display name.
pub async fn list_public(
    db: &impl GenericClient,
    team_id: &str,
    offset: i64,
    limit: i64,
) -> StoreResult<Vec<Channel>> {
    let sql = format!(
        "SELECT {CHANNEL_COLUMNS} FROM channels WHERE teamid = $1 AND type = 'O' AND deleteat = 0 \
         ORDER BY displayname, id LIMIT $2 OFFSET $3"
    );
    let rows = db.query(&sql, &[&team_id, &limit, &offset]).await?;
    Ok(rows.iter().map(channel_from_row).collect())
}

/// The user's channels in a team, plus their direct and group channels (as Mattermost does).
pub async fn list_for_user_in_team(
    db: &impl GenericClient,
    user_id: &str,
    team_id: &str,
    include_deleted: bool,
) -> StoreResult<Vec<Channel>> {
    let sql = format!(
        "SELECT {CHANNEL_COLUMNS} FROM channels c WHERE (c.teamid = $2 OR c.teamid = '') \
         AND ($3 OR c.deleteat = 0) \
         AND EXISTS (SELECT 1 FROM channelmembers cm WHERE cm.channelid = c.id AND cm.userid = $1) \
         ORDER BY c.displayname, c.id"
    );
    let rows = db
        .query(&sql, &[&user_id, &team_id, &include_deleted])
        .await?;
    Ok(rows.iter().map(channel_from_row).collect())
}

/// Adds a member, and opens its membership history interval at `now` (in the same
/// statement); does nothing if already a member. Returns true when added.
pub async fn add_member(
    db: &impl GenericClient,
    channel_id: &str,
    user_id: &str,
    channel_admin: bool,
    now: i64,
    joined_by: JoinedBy,
) -> StoreResult<bool> {
    let statement = db
        .prepare_cached(
            "WITH added AS (INSERT INTO channelmembers (channelid, userid, roles, lastviewedat, msgcount, \
             mentioncount, msgcountroot, mentioncountroot, notifyprops, lastupdateat, schemeuser, schemeadmin, \
             schemeguest) VALUES ($1, $2, '', 0, 0, 0, 0, 0, $3, $4, true, $5, false) ON CONFLICT DO NOTHING \
             RETURNING channelid, userid) \
             INSERT INTO channelmemberhistory (channelid, userid, jointime, joinedby) \
             SELECT channelid, userid, $4, $6 FROM added \
             ON CONFLICT (channelid, userid, jointime) DO UPDATE SET leavetime = NULL, leftby = '', removerid = ''",
        )
        .await?;
    let added = db
        .execute(
            &statement,
            &[
                &channel_id,
                &user_id,
                &default_notify_props(),
                &now,
                &channel_admin,
                &joined_by.as_str(),
            ],
        )
        .await?;
    Ok(added > 0)
}

/// Removes a member, and closes its membership history interval at `now` (in the same
/// statement). Returns true when it was a member.
pub async fn remove_member(
    db: &impl GenericClient,
    channel_id: &str,
    user_id: &str,
    now: i64,
    remover_id: &str,
) -> StoreResult<bool> {
    let row = db
        .query_one(
            "WITH removed AS (DELETE FROM channelmembers WHERE channelid = $1 AND userid = $2 \
             RETURNING channelid, userid), \
             logged AS (UPDATE channelmemberhistory h SET leavetime = $3, leftby = $4, removerid = $5 \
             FROM removed WHERE h.channelid = removed.channelid AND h.userid = removed.userid \
             AND h.leavetime IS NULL), \
             unplaced AS (DELETE FROM sidebarchannels sc USING removed \
             WHERE sc.channelid = removed.channelid AND sc.userid = removed.userid) \
             SELECT count(*) FROM removed",
            &[
                &channel_id,
                &user_id,
                &now,
                &LeftBy::Removed.as_str(),
                &remover_id,
            ],
        )
        .await?;
    Ok(row.get::<_, i64>(0) > 0)
}

/// Removes the user from every channel of a team (leaving the team), closing their history
/// intervals at `now`. Returns the channel ids, sorted.
pub async fn remove_member_from_team_channels(
    db: &impl GenericClient,
    team_id: &str,
    user_id: &str,
    now: i64,
    remover_id: &str,
) -> StoreResult<Vec<String>> {
    let rows = db
        .query(
            "WITH removed AS (DELETE FROM channelmembers cm USING channels c WHERE cm.channelid = c.id \
             AND c.teamid = $1 AND cm.userid = $2 RETURNING cm.channelid, cm.userid), \
             logged AS (UPDATE channelmemberhistory h SET leavetime = $3, leftby = $4, removerid = $5 \
             FROM removed WHERE h.channelid = removed.channelid AND h.userid = removed.userid \
             AND h.leavetime IS NULL) \
             SELECT channelid FROM removed ORDER BY channelid",
            &[
                &team_id,
                &user_id,
                &now,
                &LeftBy::LeftTeam.as_str(),
                &remover_id,
            ],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

pub async fn get_member(
    db: &impl GenericClient,
    channel_id: &str,
    user_id: &str,
) -> StoreResult<ChannelMember> {
    let sql =
        format!("SELECT {MEMBER_COLUMNS} FROM channelmembers WHERE channelid = $1 AND userid = $2");
    let statement = db.prepare_cached(&sql).await?;
    let row = db.query_opt(&statement, &[&channel_id, &user_id]).await?;
    one(row.as_ref().map(member_from_row), Record::ChannelMember)
}

pub async fn is_member(
    db: &impl GenericClient,
    channel_id: &str,
    user_id: &str,
) -> StoreResult<bool> {
    let statement = db
        .prepare_cached("SELECT 1 FROM channelmembers WHERE channelid = $1 AND userid = $2")
        .await?;
    Ok(db
        .query_opt(&statement, &[&channel_id, &user_id])
        .await?
        .is_some())
}

pub async fn list_members(
    db: &impl GenericClient,
    channel_id: &str,
    offset: i64,
    limit: i64,
) -> StoreResult<Vec<ChannelMember>> {
    let sql = format!(
        "SELECT {MEMBER_COLUMNS} FROM channelmembers WHERE channelid = $1 ORDER BY userid LIMIT $2 OFFSET $3"
    );
    let rows = db.query(&sql, &[&channel_id, &limit, &offset]).await?;
    Ok(rows.iter().map(member_from_row).collect())
}

/// The user's memberships in a team's channels and in their direct/group channels.
pub async fn list_members_for_user_in_team(
    db: &impl GenericClient,
    user_id: &str,
    team_id: &str,
) -> StoreResult<Vec<ChannelMember>> {
    let sql = format!(
        "SELECT {MEMBER_COLUMNS} FROM channelmembers cm WHERE cm.userid = $1 AND EXISTS \
         (SELECT 1 FROM channels c WHERE c.id = cm.channelid AND (c.teamid = $2 OR c.teamid = ''))"
    );
    let rows = db.query(&sql, &[&user_id, &team_id]).await?;
    Ok(rows.iter().map(member_from_row).collect())
}

pub async fn member_ids(db: &impl GenericClient, channel_id: &str) -> StoreResult<Vec<String>> {
    let statement = db
        .prepare_cached("SELECT userid FROM channelmembers WHERE channelid = $1")
        .await?;
    let rows = db.query(&statement, &[&channel_id]).await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Marks the channel read for the user; returns the previous `lastviewedat`, or None when the
/// user is not a member.
///
/// The view counts as one millisecond before `now`, unless the channel's last post is later: a
/// post created in the same millisecond after the view (its `createat` can equal `now`) must
/// stay unread, and every post the view saw has `createat` ≤ `lastpostat`.
pub async fn view(
    db: &impl GenericClient,
    channel_id: &str,
    user_id: &str,
    now: i64,
) -> StoreResult<Option<i64>> {
    let statement = db
        .prepare_cached(
            "UPDATE channelmembers cm SET lastviewedat = GREATEST($3::bigint - 1, c.lastpostat), msgcount = c.totalmsgcount, \
             msgcountroot = c.totalmsgcountroot, mentioncount = 0, mentioncountroot = 0, lastupdateat = $3 \
             FROM channels c WHERE c.id = cm.channelid AND cm.channelid = $1 AND cm.userid = $2 \
             RETURNING cm.lastviewedat",
        )
        .await?;
    let row = db
        .query_opt(&statement, &[&channel_id, &user_id, &now])
        .await?;
    Ok(row.map(|row| row.get(0)))
}

pub async fn unread(
    db: &impl GenericClient,
    channel_id: &str,
    user_id: &str,
) -> StoreResult<ChannelUnread> {
    let row = db
        .query_opt(
            "SELECT c.teamid, c.id, c.totalmsgcount - cm.msgcount AS msgcount, cm.mentioncount, cm.mentioncountroot, \
             c.totalmsgcountroot - cm.msgcountroot AS msgcountroot, cm.notifyprops \
             FROM channels c JOIN channelmembers cm ON cm.channelid = c.id WHERE c.id = $1 AND cm.userid = $2",
            &[&channel_id, &user_id],
        )
        .await?;
    let row = one(row, Record::ChannelMember)?;
    Ok(ChannelUnread {
        team_id: row.get(0),
        channel_id: row.get(1),
        msg_count: row.get(2),
        mention_count: row.get(3),
        mention_count_root: row.get(4),
        urgent_mention_count: 0,
        msg_count_root: row.get(5),
        notify_props: json_map(&row, "notifyprops"),
    })
}

/// `(user id, channel id)` of every channel membership of these users.
pub async fn memberships_of_users(
    db: &impl GenericClient,
    user_ids: &[String],
) -> StoreResult<Vec<(String, String)>> {
    let rows = crate::query_prepared(
        db,
        "SELECT userid, channelid FROM channelmembers WHERE userid = ANY($1)",
        &[&user_ids],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|row| (row.get("userid"), row.get("channelid")))
        .collect())
}

/// Ids of the channels any of these users is a member of, each once.
pub async fn channel_ids_for_users(
    db: &impl GenericClient,
    user_ids: &[String],
) -> StoreResult<Vec<String>> {
    let rows = crate::query_prepared(
        db,
        "SELECT DISTINCT channelid FROM channelmembers WHERE userid = ANY($1)",
        &[&user_ids],
    )
    .await?;
    Ok(rows.iter().map(|row| row.get("channelid")).collect())
}

/// Every channel of the user, in all teams, plus their direct and group channels; archived
/// ones only with `include_deleted`, and then those archived after `last_delete_at`.
pub async fn list_for_user(
    db: &impl GenericClient,
    user_id: &str,
    include_deleted: bool,
    last_delete_at: i64,
) -> StoreResult<Vec<Channel>> {
    let sql = format!(
        "SELECT {CHANNEL_COLUMNS} FROM channels c WHERE \
         (c.deleteat = 0 OR ($2 AND c.deleteat > $3)) \
         AND EXISTS (SELECT 1 FROM channelmembers cm WHERE cm.channelid = c.id AND cm.userid = $1) \
         ORDER BY c.displayname, c.id"
    );
    let rows = db
        .query(&sql, &[&user_id, &include_deleted, &last_delete_at])
        .await?;
    Ok(rows.iter().map(channel_from_row).collect())
}

/// The user's channel memberships in all teams, by channel id: all of them, or `limit` from
/// `offset`.
pub async fn list_members_for_user(
    db: &impl GenericClient,
    user_id: &str,
    window: Option<(i64, i64)>,
) -> StoreResult<Vec<ChannelMember>> {
    let (offset, limit) = window.unwrap_or((0, i64::MAX));
    let sql = format!(
        "SELECT {MEMBER_COLUMNS} FROM channelmembers WHERE userid = $1 ORDER BY channelid \
         LIMIT $2 OFFSET $3"
    );
    let rows = db.query(&sql, &[&user_id, &limit, &offset]).await?;
    Ok(rows.iter().map(member_from_row).collect())
}

/// Unread messages and mentions of the user per team (not counting direct and group
/// channels, nor messages of channels muted to mentions only), as Mattermost counts them.
pub async fn team_unreads(
    db: &impl GenericClient,
    user_id: &str,
    exclude_team_id: &str,
) -> StoreResult<Vec<TeamUnread>> {
    let rows = db
        .query(
            "SELECT c.teamid, \
             COALESCE(SUM(CASE WHEN cm.notifyprops->>'mark_unread' = 'mention' THEN 0 \
             ELSE GREATEST(c.totalmsgcount - cm.msgcount, 0) END), 0)::bigint AS msgcount, \
             COALESCE(SUM(CASE WHEN cm.notifyprops->>'mark_unread' = 'mention' THEN 0 \
             ELSE GREATEST(c.totalmsgcountroot - cm.msgcountroot, 0) END), 0)::bigint AS msgcountroot, \
             COALESCE(SUM(cm.mentioncount), 0)::bigint AS mentioncount, \
             COALESCE(SUM(cm.mentioncountroot), 0)::bigint AS mentioncountroot \
             FROM channelmembers cm JOIN channels c ON c.id = cm.channelid \
             JOIN teammembers tm ON tm.teamid = c.teamid AND tm.userid = cm.userid AND tm.deleteat = 0 \
             WHERE cm.userid = $1 AND c.teamid <> '' AND c.teamid <> $2 AND c.deleteat = 0 \
             GROUP BY c.teamid ORDER BY c.teamid",
            &[&user_id, &exclude_team_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| TeamUnread {
            team_id: row.get("teamid"),
            msg_count: row.get("msgcount"),
            mention_count: row.get("mentioncount"),
            mention_count_root: row.get("mentioncountroot"),
            msg_count_root: row.get("msgcountroot"),
            ..Default::default()
        })
        .collect())
}

/// Members (active users), guests, pinned posts and files of a channel.
pub async fn stats(db: &impl GenericClient, channel_id: &str) -> StoreResult<ChannelStats> {
    let row = db
        .query_one(
            "SELECT \
             (SELECT count(*) FROM channelmembers cm JOIN users u ON u.id = cm.userid \
              WHERE cm.channelid = $1 AND u.deleteat = 0) AS members, \
             (SELECT count(*) FROM channelmembers cm JOIN users u ON u.id = cm.userid \
              WHERE cm.channelid = $1 AND u.deleteat = 0 AND cm.schemeguest) AS guests, \
             (SELECT count(*) FROM posts WHERE channelid = $1 AND ispinned AND deleteat = 0) AS pinned, \
             (SELECT count(*) FROM fileinfo WHERE channelid = $1 AND deleteat = 0 AND postid <> '') AS files",
            &[&channel_id],
        )
        .await?;
    Ok(ChannelStats {
        channel_id: channel_id.to_string(),
        member_count: row.get("members"),
        guest_count: row.get("guests"),
        pinnedpost_count: row.get("pinned"),
        files_count: row.get("files"),
    })
}

/// Unarchives a channel; false when it was not archived.
pub async fn restore(db: &impl GenericClient, channel_id: &str, now: i64) -> StoreResult<bool> {
    let restored = db
        .execute(
            "UPDATE channels SET deleteat = 0, updateat = $2 WHERE id = $1 AND deleteat <> 0",
            &[&channel_id, &now],
        )
        .await?;
    Ok(restored > 0)
}

/// Makes a channel public ('O') or private ('P').
pub async fn set_type(
    db: &impl GenericClient,
    channel_id: &str,
    channel_type: &str,
    now: i64,
) -> StoreResult<Channel> {
    let sql = format!(
        "UPDATE channels SET type = $2, updateat = $3 WHERE id = $1 RETURNING {CHANNEL_COLUMNS}"
    );
    let row = db
        .query_opt(&sql, &[&channel_id, &channel_type, &now])
        .await?;
    one(row.as_ref().map(channel_from_row), Record::Channel)
}

/// Replaces a membership's notify props, and stamps the member's personal settings change
/// (`channel_member_updated` is not rebuilt). Run inside a transaction.
pub async fn set_notify_props(
    db: &impl GenericClient,
    channel_id: &str,
    user_id: &str,
    notify_props: &Value,
    now: i64,
) -> StoreResult<ChannelMember> {
    let sql = format!(
        "UPDATE channelmembers SET notifyprops = $3, lastupdateat = $4 \
         WHERE channelid = $1 AND userid = $2 RETURNING {MEMBER_COLUMNS}"
    );
    let row = db
        .query_opt(&sql, &[&channel_id, &user_id, notify_props, &now])
        .await?;
    let member = one(row.as_ref().map(member_from_row), Record::ChannelMember)?;
    crate::sidebar::stamp_change(db, user_id, now).await?;
    Ok(member)
}

/// The scheme roles and explicit roles of a membership.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberRoles {
    pub scheme_guest: bool,
    pub scheme_user: bool,
    pub scheme_admin: bool,
    pub explicit_roles: String,
}

/// Sets a membership's roles, and stamps the member's personal settings change. Run inside a
/// transaction.
pub async fn set_roles(
    db: &impl GenericClient,
    channel_id: &str,
    user_id: &str,
    roles: &MemberRoles,
    now: i64,
) -> StoreResult<ChannelMember> {
    let sql = format!(
        "UPDATE channelmembers SET schemeguest = $3, schemeuser = $4, schemeadmin = $5, roles = $6, \
         lastupdateat = $7 WHERE channelid = $1 AND userid = $2 RETURNING {MEMBER_COLUMNS}"
    );
    let row = db
        .query_opt(
            &sql,
            &[
                &channel_id,
                &user_id,
                &roles.scheme_guest,
                &roles.scheme_user,
                &roles.scheme_admin,
                &roles.explicit_roles,
                &now,
            ],
        )
        .await?;
    let member = one(row.as_ref().map(member_from_row), Record::ChannelMember)?;
    crate::sidebar::stamp_change(db, user_id, now).await?;
    Ok(member)
}

/// Marks channels read for the user (those it is a member of); returns each one's new last
/// viewed time (one millisecond before `now` at the latest, as [`view`] says why).
pub async fn view_many(
    db: &impl GenericClient,
    channel_ids: &[String],
    user_id: &str,
    now: i64,
) -> StoreResult<BTreeMap<String, i64>> {
    let rows = db
        .query(
            "UPDATE channelmembers cm SET lastviewedat = GREATEST($3::bigint - 1, c.lastpostat), msgcount = c.totalmsgcount, \
             msgcountroot = c.totalmsgcountroot, mentioncount = 0, mentioncountroot = 0, lastupdateat = $3 \
             FROM channels c WHERE c.id = cm.channelid AND cm.channelid = ANY($1) AND cm.userid = $2 \
             RETURNING cm.channelid, cm.lastviewedat",
            &[&channel_ids, &user_id, &now],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| (row.get("channelid"), row.get("lastviewedat")))
        .collect())
}

// ---- issue 13 (misc): members by ids, member counts, archived channels, timezones ----

/// The memberships of `user_ids` in a channel (missing ones are left out).
pub async fn members_by_ids(
    db: &impl GenericClient,
    channel_id: &str,
    user_ids: &[String],
) -> StoreResult<Vec<ChannelMember>> {
    let sql = format!(
        "SELECT {MEMBER_COLUMNS} FROM channelmembers WHERE channelid = $1 AND userid = ANY($2) ORDER BY userid"
    );
    let rows = db.query(&sql, &[&channel_id, &user_ids]).await?;
    Ok(rows.iter().map(member_from_row).collect())
}

/// Members of each channel whose account is active, as Mattermost's member counts count them.
pub async fn member_counts(
    db: &impl GenericClient,
    channel_ids: &[String],
) -> StoreResult<BTreeMap<String, i64>> {
    let rows = db
        .query(
            "SELECT cm.channelid, count(*) FROM channelmembers cm JOIN users u ON u.id = cm.userid \
             WHERE cm.channelid = ANY($1) AND u.deleteat = 0 GROUP BY cm.channelid",
            &[&channel_ids],
        )
        .await?;
    let mut counts: BTreeMap<String, i64> = channel_ids.iter().map(|id| (id.clone(), 0)).collect();
    for row in rows {
        counts.insert(row.get(0), row.get(1));
    }
    Ok(counts)
}

/// Archived channels of a team: the public ones, and the private ones `user_id` belongs to.
pub async fn list_archived(
    db: &impl GenericClient,
    team_id: &str,
    user_id: &str,
    offset: i64,
    limit: i64,
) -> StoreResult<Vec<Channel>> {
    let sql = format!(
        "SELECT {CHANNEL_COLUMNS} FROM channels c WHERE c.teamid = $1 AND c.deleteat <> 0 \
         AND (c.type = 'O' OR (c.type = 'P' AND EXISTS \
         (SELECT 1 FROM channelmembers cm WHERE cm.channelid = c.id AND cm.userid = $2))) \
         ORDER BY c.displayname, c.id LIMIT $3 OFFSET $4"
    );
    let rows = db
        .query(&sql, &[&team_id, &user_id, &limit, &offset])
        .await?;
    Ok(rows.iter().map(channel_from_row).collect())
}

/// The distinct timezones of a channel's active members.
pub async fn member_timezones(
    db: &impl GenericClient,
    channel_id: &str,
) -> StoreResult<Vec<Value>> {
    let rows = db
        .query(
            "SELECT DISTINCT u.timezone::text FROM channelmembers cm JOIN users u ON u.id = cm.userid \
             WHERE cm.channelid = $1 AND u.deleteat = 0",
            &[&channel_id],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| serde_json::from_str(row.get::<_, &str>(0)).ok())
        .collect())
}

/// Ids of the user's channels in a team (`Some`), or of their direct and group channels (`None`).
pub async fn member_channel_ids_in(
    db: &impl GenericClient,
    user_id: &str,
    team_id: Option<&str>,
) -> StoreResult<Vec<String>> {
    let team_id = team_id.unwrap_or("");
    let rows = db
        .query(
            "SELECT cm.channelid FROM channelmembers cm JOIN channels c ON c.id = cm.channelid \
             WHERE cm.userid = $1 AND c.teamid = $2 AND c.deleteat = 0",
            &[&user_id, &team_id],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Which channels of a team a search looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelScope {
    /// Public channels.
    Public,
    /// Public channels and the user's private ones.
    Visible,
    /// The user's own channels, public or private.
    Joined,
}

/// Unarchived channels of a team in `scope` whose name or display name matches `pattern` (an
/// ILIKE pattern).
pub async fn search_in_team(
    db: &impl GenericClient,
    team_id: &str,
    user_id: &str,
    pattern: &str,
    scope: ChannelScope,
    limit: i64,
) -> StoreResult<Vec<Channel>> {
    let in_scope = match scope {
        ChannelScope::Public => "c.type = 'O'",
        ChannelScope::Visible => {
            "(c.type = 'O' OR (c.type = 'P' AND EXISTS \
             (SELECT 1 FROM channelmembers cm WHERE cm.channelid = c.id AND cm.userid = $2)))"
        }
        ChannelScope::Joined => {
            "c.type IN ('O', 'P') AND EXISTS \
             (SELECT 1 FROM channelmembers cm WHERE cm.channelid = c.id AND cm.userid = $2)"
        }
    };
    let sql = format!(
        "SELECT {CHANNEL_COLUMNS} FROM channels c WHERE c.teamid = $1 AND c.deleteat = 0 \
         AND (c.name ILIKE $3 OR c.displayname ILIKE $3) AND $2::text IS NOT NULL AND {in_scope} \
         ORDER BY c.displayname, c.id LIMIT $4"
    );
    let rows = db
        .query(&sql, &[&team_id, &user_id, &pattern, &limit])
        .await?;
    Ok(rows.iter().map(channel_from_row).collect())
}

/// The user's group channels with a member whose username matches `pattern` (ILIKE).
pub async fn search_group_channels(
    db: &impl GenericClient,
    user_id: &str,
    pattern: &str,
) -> StoreResult<Vec<Channel>> {
    let sql = format!(
        "SELECT {CHANNEL_COLUMNS} FROM channels c WHERE c.type = 'G' AND c.deleteat = 0 \
         AND EXISTS (SELECT 1 FROM channelmembers cm WHERE cm.channelid = c.id AND cm.userid = $1) \
         AND EXISTS (SELECT 1 FROM channelmembers cm JOIN users u ON u.id = cm.userid \
         WHERE cm.channelid = c.id AND u.username ILIKE $2) \
         ORDER BY c.displayname, c.id LIMIT 50"
    );
    let rows = db.query(&sql, &[&user_id, &pattern]).await?;
    Ok(rows.iter().map(channel_from_row).collect())
}

/// Public and private channels of every team with their team's names, for admins (GET
/// /channels), and how many there are in all.
pub async fn list_all_with_teams(
    db: &impl GenericClient,
    include_deleted: bool,
    exclude_default_channels: bool,
    offset: i64,
    limit: i64,
) -> StoreResult<(Vec<(Channel, String, String, i64)>, i64)> {
    let filter = "c.type IN ('O', 'P') AND ($1 OR c.deleteat = 0) \
         AND NOT ($2 AND c.name IN ('town-square', 'off-topic'))";
    let sql = format!(
        "SELECT {columns}, t.displayname AS teamdisplayname, t.name AS teamname, t.updateat AS teamupdateat \
         FROM channels c JOIN teams t ON t.id = c.teamid WHERE {filter} \
         ORDER BY c.displayname, c.id LIMIT $3 OFFSET $4",
        columns = CHANNEL_COLUMNS
            .split(", ")
            .map(|column| format!("c.{column}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let rows = db
        .query(
            &sql,
            &[&include_deleted, &exclude_default_channels, &limit, &offset],
        )
        .await?;
    let count_sql =
        format!("SELECT count(*) FROM channels c JOIN teams t ON t.id = c.teamid WHERE {filter}");
    let total: i64 = db
        .query_one(&count_sql, &[&include_deleted, &exclude_default_channels])
        .await?
        .get(0);
    Ok((
        rows.iter()
            .map(|row| {
                (
                    channel_from_row(row),
                    row.get("teamdisplayname"),
                    row.get("teamname"),
                    row.get("teamupdateat"),
                )
            })
            .collect(),
        total,
    ))
}

/// Author, root id and message of a channel's live posts from `since` on (a mark-unread point).
pub async fn posts_since(
    db: &impl GenericClient,
    channel_id: &str,
    since: i64,
) -> StoreResult<Vec<(String, String, String)>> {
    let rows = db
        .query(
            "SELECT userid, rootid, message FROM posts WHERE channelid = $1 AND createat >= $2 AND deleteat = 0",
            &[&channel_id, &since],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect())
}

/// What a member has left unread from a point on (POST .../set_unread).
#[derive(Debug, Clone, Copy, Default)]
pub struct UnreadFrom {
    pub last_viewed_at: i64,
    pub unread_msgs: i64,
    pub unread_root_msgs: i64,
    pub mentions: i64,
    pub root_mentions: i64,
}

/// Sets the member's read state back to `unread`, and stamps the member's personal change (a
/// resumed websocket that missed `post_unread` resyncs). Returns the member. Run inside a
/// transaction.
pub async fn set_unread(
    db: &impl GenericClient,
    channel_id: &str,
    user_id: &str,
    unread: UnreadFrom,
    now: i64,
) -> StoreResult<ChannelMember> {
    let sql = format!(
        "UPDATE channelmembers cm SET lastviewedat = $3, \
         msgcount = GREATEST(c.totalmsgcount - $4, 0), msgcountroot = GREATEST(c.totalmsgcountroot - $5, 0), \
         mentioncount = $6, mentioncountroot = $7, lastupdateat = $8 \
         FROM channels c WHERE c.id = cm.channelid AND cm.channelid = $1 AND cm.userid = $2 RETURNING {}",
        MEMBER_COLUMNS
            .split(", ")
            .map(|column| format!("cm.{column}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let row = db
        .query_opt(
            &sql,
            &[
                &channel_id,
                &user_id,
                &unread.last_viewed_at,
                &unread.unread_msgs,
                &unread.unread_root_msgs,
                &unread.mentions,
                &unread.root_mentions,
                &now,
            ],
        )
        .await?;
    let member = one(row.as_ref().map(member_from_row), Record::ChannelMember)?;
    crate::sidebar::stamp_change(db, user_id, now).await?;
    Ok(member)
}

/// (channel id, user id) of the members of those of `channel_ids` that are group channels.
pub async fn group_channel_member_ids(
    db: &impl GenericClient,
    channel_ids: &[String],
) -> StoreResult<Vec<(String, String)>> {
    let rows = db
        .query(
            "SELECT cm.channelid, cm.userid FROM channelmembers cm JOIN channels c ON c.id = cm.channelid \
             WHERE c.type = 'G' AND cm.channelid = ANY($1) ORDER BY cm.channelid, cm.userid",
            &[&channel_ids],
        )
        .await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

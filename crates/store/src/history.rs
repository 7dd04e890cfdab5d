//! Membership history: who was a member of which channel and team, and when (Mattermost's
//! ChannelMemberHistory, and the same for teams). `channels` and `teams` write it in the same
//! statement as each membership change; a websocket rebuilt from the database reads it.

use crate::{GenericClient, StoreResult};
use tokio_postgres::Row;

/// How a channel membership began, which decides the websocket events that announced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinedBy {
    /// Before history was kept: when is unknown (time 0).
    Unknown,
    /// Joined or was added to the channel (`user_added`).
    Added,
    /// Opened the channel: created it (`channel_created`), or was one of the users of a new
    /// direct or group channel (`direct_added`, `group_added`).
    Created,
    /// A default channel of a team the user created (only `added_to_team` announced it).
    TeamCreated,
}

/// How a channel membership ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeftBy {
    /// Left the channel or was removed from it (`user_removed`).
    Removed,
    /// Left or was removed from the channel's team.
    LeftTeam,
}

impl JoinedBy {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            JoinedBy::Unknown => "",
            JoinedBy::Added => "added",
            JoinedBy::Created => "created",
            JoinedBy::TeamCreated => "team_created",
        }
    }

    fn parse(text: &str) -> JoinedBy {
        match text {
            "added" => JoinedBy::Added,
            "created" => JoinedBy::Created,
            "team_created" => JoinedBy::TeamCreated,
            _ => JoinedBy::Unknown,
        }
    }
}

impl LeftBy {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            LeftBy::Removed => "removed",
            LeftBy::LeftTeam => "left_team",
        }
    }

    fn parse(text: &str) -> LeftBy {
        match text {
            "left_team" => LeftBy::LeftTeam,
            _ => LeftBy::Removed,
        }
    }
}

/// One interval of a user's membership of a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelMembership {
    pub channel_id: String,
    pub user_id: String,
    pub join_time: i64,
    pub joined_by: JoinedBy,
    /// `(leave time, how, who removed the user)`; None while the membership lasts.
    pub left: Option<(i64, LeftBy, String)>,
}

/// One interval of a user's membership of a team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamMembership {
    pub team_id: String,
    pub user_id: String,
    pub join_time: i64,
    pub leave_time: Option<i64>,
}

impl ChannelMembership {
    /// Whether the membership covers `at` (joined at or before it, not left by then).
    pub fn covers(&self, at: i64) -> bool {
        self.join_time <= at && self.left.as_ref().is_none_or(|(leave, _, _)| at < *leave)
    }
}

impl TeamMembership {
    pub fn covers(&self, at: i64) -> bool {
        self.join_time <= at && self.leave_time.is_none_or(|leave| at < leave)
    }
}

const CHANNEL_COLUMNS: &str = "channelid, userid, jointime, leavetime, joinedby, leftby, removerid";

fn channel_membership_from_row(row: &Row) -> ChannelMembership {
    let leave_time: Option<i64> = row.get("leavetime");
    ChannelMembership {
        channel_id: row.get("channelid"),
        user_id: row.get("userid"),
        join_time: row.get("jointime"),
        joined_by: JoinedBy::parse(row.get("joinedby")),
        left: leave_time.map(|leave_time| {
            (
                leave_time,
                LeftBy::parse(row.get("leftby")),
                row.get("removerid"),
            )
        }),
    }
}

fn team_membership_from_row(row: &Row) -> TeamMembership {
    TeamMembership {
        team_id: row.get("teamid"),
        user_id: row.get("userid"),
        join_time: row.get("jointime"),
        leave_time: row.get("leavetime"),
    }
}

/// The user's channel memberships that lasted past `since` (ms), oldest first.
pub async fn channel_memberships_after(
    db: &impl GenericClient,
    user_id: &str,
    since: i64,
) -> StoreResult<Vec<ChannelMembership>> {
    let sql = format!(
        "SELECT {CHANNEL_COLUMNS} FROM channelmemberhistory \
         WHERE userid = $1 AND (leavetime IS NULL OR leavetime > $2) ORDER BY jointime, channelid"
    );
    let rows = crate::query_prepared(db, &sql, &[&user_id, &since]).await?;
    Ok(rows.iter().map(channel_membership_from_row).collect())
}

/// Memberships of these channels (anyone's) that began or ended after `since`, at most `limit`.
pub async fn channel_memberships_changed_since(
    db: &impl GenericClient,
    channel_ids: &[String],
    since: i64,
    limit: i64,
) -> StoreResult<Vec<ChannelMembership>> {
    let sql = format!(
        "SELECT {CHANNEL_COLUMNS} FROM channelmemberhistory WHERE channelid = ANY($1) AND jointime > $2 \
         UNION SELECT {CHANNEL_COLUMNS} FROM channelmemberhistory WHERE channelid = ANY($1) AND leavetime > $2 \
         ORDER BY jointime, channelid, userid LIMIT $3"
    );
    let rows = crate::query_prepared(db, &sql, &[&channel_ids, &since, &limit]).await?;
    Ok(rows.iter().map(channel_membership_from_row).collect())
}

/// The user's team memberships that lasted past `since` (ms), oldest first.
pub async fn team_memberships_after(
    db: &impl GenericClient,
    user_id: &str,
    since: i64,
) -> StoreResult<Vec<TeamMembership>> {
    let rows = crate::query_prepared(
        db,
        "SELECT teamid, userid, jointime, leavetime FROM teammemberhistory \
             WHERE userid = $1 AND (leavetime IS NULL OR leavetime > $2) ORDER BY jointime, teamid",
        &[&user_id, &since],
    )
    .await?;
    Ok(rows.iter().map(team_membership_from_row).collect())
}

/// Memberships of these teams (anyone's) that began or ended after `since`, at most `limit`.
pub async fn team_memberships_changed_since(
    db: &impl GenericClient,
    team_ids: &[String],
    since: i64,
    limit: i64,
) -> StoreResult<Vec<TeamMembership>> {
    let rows = crate::query_prepared(
        db,
        "SELECT teamid, userid, jointime, leavetime FROM teammemberhistory \
             WHERE teamid = ANY($1) AND jointime > $2 \
             UNION SELECT teamid, userid, jointime, leavetime FROM teammemberhistory \
             WHERE teamid = ANY($1) AND leavetime > $2 \
             ORDER BY jointime, teamid, userid LIMIT $3",
        &[&team_ids, &since, &limit],
    )
    .await?;
    Ok(rows.iter().map(team_membership_from_row).collect())
}

/// Whether, after `since` (ms), any of `channel_ids` was updated or deleted, a channel of
/// `team_ids` was updated, deleted, restored or converted, any team was updated, archived or
/// restored, any user was created or updated, or a post of `channel_ids` was pinned or
/// unpinned: the changes whose events (`channel_updated`, `channel_deleted`,
/// `channel_restored`, `channel_converted`, `update_team`, `delete_team`, `restore_team`,
/// `new_user`, `user_updated`, the `post_edited` of a pin) a user of those channels and teams
/// was sent, which the rows keep only the latest state of. A channel or team created after
/// `since` does not count (its creation is in the membership history).
pub async fn settings_changed_since(
    db: &impl GenericClient,
    channel_ids: &[String],
    team_ids: &[String],
    since: i64,
) -> StoreResult<bool> {
    // Not prepared: planned for the actual `since` (a generic plan, which cannot know how
    // recent it is, reads whole tables: ~3x the cost).
    let row = db
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM channels WHERE id = ANY($1) AND updateat > $3 \
             AND updateat > createat) \
             OR EXISTS (SELECT 1 FROM channels WHERE teamid = ANY($2) AND deleteat > $3) \
             OR EXISTS (SELECT 1 FROM channels WHERE teamid = ANY($2) AND updateat > $3 \
             AND updateat > createat) \
             OR EXISTS (SELECT 1 FROM teams WHERE updateat > $3 AND updateat > createat) \
             OR EXISTS (SELECT 1 FROM users WHERE createat > $3 OR updateat > $3) \
             OR EXISTS (SELECT 1 FROM posts WHERE channelid = ANY($1) AND pinchangedat > $3) \
             AS changed",
            &[&channel_ids, &team_ids, &since],
        )
        .await?;
    Ok(row.get("changed"))
}

/// Whether `user_id`'s preferences were saved or deleted after `since` (ms): the
/// `preferences_changed` / `preferences_deleted` events sent to that user cannot be rebuilt
/// (a deleted row is gone), so a websocket rebuilt across such a change must resync instead.
pub async fn preferences_changed_since(
    db: &impl GenericClient,
    user_id: &str,
    since: i64,
) -> StoreResult<bool> {
    let row = crate::query_one_prepared(
        db,
        "SELECT EXISTS (SELECT 1 FROM preferencechanges WHERE userid = $1 AND changedat > $2) \
             AS changed",
        &[&user_id, &since],
    )
    .await?;
    Ok(row.get("changed"))
}

/// Whether `user_id` was sent an ephemeral message (a slash command's answer) after `since`
/// (ms): those are never stored, so a websocket rebuilt across one must resync instead.
pub async fn ephemerals_sent_since(
    db: &impl GenericClient,
    user_id: &str,
    since: i64,
) -> StoreResult<bool> {
    let row = crate::query_one_prepared(
        db,
        "SELECT EXISTS (SELECT 1 FROM ephemeralsent WHERE userid = $1 AND sentat > $2) \
             AS sent",
        &[&user_id, &since],
    )
    .await?;
    Ok(row.get("sent"))
}

/// Whether `user_id`'s personal settings changed after `since` (ms): their sidebar categories
/// (`sidebar_category_*` events) or the notify props or roles of one of their channel
/// memberships (`channel_member_updated`). Those events cannot be rebuilt from the rows, so a
/// websocket rebuilt across such a change must resync instead.
pub async fn personal_settings_changed_since(
    db: &impl GenericClient,
    user_id: &str,
    since: i64,
) -> StoreResult<bool> {
    let row = crate::query_one_prepared(
        db,
        "SELECT EXISTS (SELECT 1 FROM personalchanges WHERE userid = $1 AND changedat > $2) \
             AS changed",
        &[&user_id, &since],
    )
    .await?;
    Ok(row.get("changed"))
}

//! Membership history: who was a member of which channel and team, and when (Mattermost's
//! ChannelMemberHistory, and the same for teams). `channels` and `teams` write it in the same
//! statement as each membership change; a websocket rebuilt from the database reads it.

use crate::{GenericClient, StoreResult};
use std::collections::HashMap;
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

/// The channel memberships of these users that lasted past `since` (ms), oldest first. A
/// websocket rebuild reads them for several resuming users at once (the earliest horizon),
/// and each takes its own after its horizon.
pub async fn channel_memberships_after(
    db: &impl GenericClient,
    user_ids: &[String],
    since: i64,
) -> StoreResult<Vec<ChannelMembership>> {
    let sql = format!(
        "SELECT {CHANNEL_COLUMNS} FROM channelmemberhistory \
         WHERE userid = ANY($1) AND (leavetime IS NULL OR leavetime > $2) \
         ORDER BY jointime, channelid"
    );
    let rows = crate::query_prepared(db, &sql, &[&user_ids, &since]).await?;
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

/// The team memberships of these users that lasted past `since` (ms), oldest first.
pub async fn team_memberships_after(
    db: &impl GenericClient,
    user_ids: &[String],
    since: i64,
) -> StoreResult<Vec<TeamMembership>> {
    let rows = crate::query_prepared(
        db,
        "SELECT teamid, userid, jointime, leavetime FROM teammemberhistory \
             WHERE userid = ANY($1) AND (leavetime IS NULL OR leavetime > $2) \
             ORDER BY jointime, teamid",
        &[&user_ids, &since],
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

/// When channels, teams, users and pins last changed after some time, in the ways whose
/// events a rebuilt websocket cannot replay: the rows keep only their latest state
/// ([`settings_changes_since`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SettingsChanges {
    /// Channel id → when it was last updated or deleted (not counting its creation).
    channels: HashMap<String, i64>,
    /// Team id → when one of its channels was last updated, deleted, restored or converted.
    team_channels: HashMap<String, i64>,
    /// When any team was last updated, archived or restored.
    teams: Option<i64>,
    /// When any user was last created or updated.
    users: Option<i64>,
    /// Channel id → when a post of it was last pinned or unpinned.
    pins: HashMap<String, i64>,
}

impl SettingsChanges {
    /// Whether, after `since` (ms), any of `channel_ids` was updated or deleted, a channel of
    /// `team_ids` was updated, deleted, restored or converted, any team was updated, archived
    /// or restored, any user was created or updated, or a post of `channel_ids` was pinned or
    /// unpinned: the changes whose events (`channel_updated`, `channel_deleted`,
    /// `channel_restored`, `channel_converted`, `update_team`, `delete_team`,
    /// `restore_team`, `new_user`, `user_updated`, the `post_edited` of a pin) a user of
    /// those channels and teams was sent. A channel or team created after `since` does not
    /// count (its creation is in the membership history).
    pub fn changed_for(&self, channel_ids: &[String], team_ids: &[String], since: i64) -> bool {
        let after = |at: Option<&i64>| at.is_some_and(|at| *at > since);
        after(self.teams.as_ref())
            || after(self.users.as_ref())
            || channel_ids
                .iter()
                .any(|id| after(self.channels.get(id)) || after(self.pins.get(id)))
            || team_ids.iter().any(|id| after(self.team_channels.get(id)))
    }
}

/// The changes [`SettingsChanges`] tells of after `since` (ms), for these channels and the
/// channels of these teams: one statement for every user resuming at once.
pub async fn settings_changes_since(
    db: &impl GenericClient,
    channel_ids: &[String],
    team_ids: &[String],
    since: i64,
) -> StoreResult<SettingsChanges> {
    // Not prepared: planned for the actual `since` (a generic plan, which cannot know how
    // recent it is, reads whole tables: ~3x the cost). The users' maxima are read by column,
    // each from its index.
    let rows = db
        .query(
            "SELECT 'channel' AS kind, id AS key, updateat AS at FROM channels \
             WHERE id = ANY($1) AND updateat > $3 AND updateat > createat \
             UNION ALL SELECT 'team_channel', teamid, \
             max(GREATEST(deleteat, CASE WHEN updateat > createat THEN updateat ELSE 0 END)) \
             FROM channels WHERE teamid = ANY($2) \
             AND (deleteat > $3 OR (updateat > $3 AND updateat > createat)) GROUP BY teamid \
             UNION ALL SELECT 'teams', '', max(updateat) FROM teams \
             WHERE updateat > $3 AND updateat > createat \
             UNION ALL SELECT 'users', '', GREATEST( \
             (SELECT max(createat) FROM users WHERE createat > $3), \
             (SELECT max(updateat) FROM users WHERE updateat > $3)) \
             UNION ALL SELECT 'pin', channelid, max(pinchangedat) FROM posts \
             WHERE channelid = ANY($1) AND pinchangedat > $3 GROUP BY channelid",
            &[&channel_ids, &team_ids, &since],
        )
        .await?;
    let mut changes = SettingsChanges::default();
    for row in &rows {
        let Some(at) = row.get::<_, Option<i64>>("at") else {
            continue;
        };
        let key: String = row.get("key");
        match row.get::<_, &str>("kind") {
            "channel" => {
                changes.channels.insert(key, at);
            }
            "team_channel" => {
                changes.team_channels.insert(key, at);
            }
            "teams" => changes.teams = Some(at),
            "users" => changes.users = Some(at),
            _ => {
                changes.pins.insert(key, at);
            }
        }
    }
    Ok(changes)
}

/// What a websocket rebuilt from the database cannot replay and nothing records whether the
/// client missed, so a rebuild across one of them resyncs the client instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unrebuildable {
    /// The user's preferences were saved or deleted (`preferences_changed`,
    /// `preferences_deleted`: a deleted row is gone).
    Preferences,
    /// The user was sent an ephemeral message (a slash command's answer), never stored.
    Ephemeral,
    /// The user's sidebar categories (`sidebar_category_*`) or the notify props or roles of
    /// one of their channel memberships (`channel_member_updated`) changed.
    PersonalSettings,
    /// One of the user's thread memberships changed (`thread_updated`,
    /// `thread_follow_changed`, `thread_read_changed`).
    Threads,
    /// A custom emoji was added (`emoji_added`, sent to everyone).
    EmojiAdded,
}

/// When each [`Unrebuildable`] change last happened after some time, per user
/// ([`unrebuildable_changes_since`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UnrebuildableChanges {
    per_user: HashMap<(Unrebuildable, String), i64>,
    emoji_added: Option<i64>,
}

impl UnrebuildableChanges {
    /// The first kind of change that happened for `user_id` after `since` (ms), if any.
    pub fn for_user(&self, user_id: &str, since: i64) -> Option<Unrebuildable> {
        let personal = [
            Unrebuildable::Preferences,
            Unrebuildable::Ephemeral,
            Unrebuildable::PersonalSettings,
            Unrebuildable::Threads,
        ];
        personal
            .into_iter()
            .find(|kind| {
                self.per_user
                    .get(&(*kind, user_id.to_string()))
                    .is_some_and(|at| *at > since)
            })
            .or_else(|| {
                self.emoji_added
                    .is_some_and(|at| at > since)
                    .then_some(Unrebuildable::EmojiAdded)
            })
    }
}

/// The [`Unrebuildable`] changes of these users after `since` (ms): one statement for every
/// user resuming at once.
pub async fn unrebuildable_changes_since(
    db: &impl GenericClient,
    user_ids: &[String],
    since: i64,
) -> StoreResult<UnrebuildableChanges> {
    let rows = crate::query_prepared(
        db,
        "SELECT 'preferences' AS kind, userid, max(changedat) AS at FROM preferencechanges \
         WHERE userid = ANY($1) AND changedat > $2 GROUP BY userid \
         UNION ALL SELECT 'ephemeral', userid, max(sentat) FROM ephemeralsent \
         WHERE userid = ANY($1) AND sentat > $2 GROUP BY userid \
         UNION ALL SELECT 'personal', userid, max(changedat) FROM personalchanges \
         WHERE userid = ANY($1) AND changedat > $2 GROUP BY userid \
         UNION ALL SELECT 'threads', userid, max(lastupdated) FROM threadmemberships \
         WHERE userid = ANY($1) AND lastupdated > $2 GROUP BY userid \
         UNION ALL SELECT 'emoji', '', max(createat) FROM emoji WHERE createat > $2",
        &[&user_ids, &since],
    )
    .await?;
    let mut changes = UnrebuildableChanges::default();
    for row in &rows {
        let Some(at) = row.get::<_, Option<i64>>("at") else {
            continue;
        };
        let kind = match row.get::<_, &str>("kind") {
            "preferences" => Unrebuildable::Preferences,
            "ephemeral" => Unrebuildable::Ephemeral,
            "personal" => Unrebuildable::PersonalSettings,
            "threads" => Unrebuildable::Threads,
            _ => {
                changes.emoji_added = Some(at);
                continue;
            }
        };
        changes.per_user.insert((kind, row.get("userid")), at);
    }
    Ok(changes)
}

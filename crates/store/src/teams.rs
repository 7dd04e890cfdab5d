//! Teams and team members.

use crate::{one, GenericClient, Record, StoreResult};
use chorus_model::{Team, TeamMember, TeamPatch, TeamStats};
use tokio_postgres::Row;

const TEAM_COLUMNS: &str = "id, createat, updateat, deleteat, displayname, name, description, \
     email, type, companyname, alloweddomains, inviteid, allowopeninvite, lastteamiconupdate";

fn team_from_row(row: &Row) -> Team {
    Team {
        id: row.get("id"),
        create_at: row.get("createat"),
        update_at: row.get("updateat"),
        delete_at: row.get("deleteat"),
        display_name: row.get("displayname"),
        name: row.get("name"),
        description: row.get("description"),
        email: row.get("email"),
        team_type: row.get("type"),
        company_name: row.get("companyname"),
        allowed_domains: row.get("alloweddomains"),
        invite_id: row.get("inviteid"),
        allow_open_invite: row.get("allowopeninvite"),
        scheme_id: None,
        group_constrained: None,
        last_team_icon_update: row.get("lastteamiconupdate"),
    }
}

fn member_from_row(row: &Row) -> TeamMember {
    let scheme_admin: bool = row.get("schemeadmin");
    let mut roles = String::from("team_user");
    if scheme_admin {
        roles.push_str(" team_admin");
    }
    TeamMember {
        team_id: row.get("teamid"),
        user_id: row.get("userid"),
        roles,
        delete_at: row.get("deleteat"),
        scheme_guest: row.get("schemeguest"),
        scheme_user: row.get("schemeuser"),
        scheme_admin,
        explicit_roles: row.get("roles"),
    }
}

pub async fn insert(db: &impl GenericClient, team: &Team) -> StoreResult<()> {
    db.execute(
        "INSERT INTO teams (id, createat, updateat, deleteat, displayname, name, description, email, type, \
         companyname, alloweddomains, inviteid, allowopeninvite) VALUES ($1, $2, $3, 0, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &[
            &team.id,
            &team.create_at,
            &team.update_at,
            &team.display_name,
            &team.name,
            &team.description,
            &team.email,
            &team.team_type,
            &team.company_name,
            &team.allowed_domains,
            &team.invite_id,
            &team.allow_open_invite,
        ],
    )
    .await?;
    Ok(())
}

pub async fn get(db: &impl GenericClient, team_id: &str) -> StoreResult<Team> {
    let sql = format!("SELECT {TEAM_COLUMNS} FROM teams WHERE id = $1");
    let statement = db.prepare_cached(&sql).await?;
    let row = db.query_opt(&statement, &[&team_id]).await?;
    one(row.as_ref().map(team_from_row), Record::Team)
}

pub async fn get_by_name(db: &impl GenericClient, name: &str) -> StoreResult<Team> {
    let sql = format!("SELECT {TEAM_COLUMNS} FROM teams WHERE name = $1");
    let row = db.query_opt(&sql, &[&name]).await?;
    one(row.as_ref().map(team_from_row), Record::Team)
}

/// Teams visible in GET /teams: all for admins, else open ones plus the user's own.
/// Teams in display-name order: all of them, or those `visible_to_user` may see (open teams
/// and their own); archived ones only with `include_deleted`.
pub async fn list(
    db: &impl GenericClient,
    visible_to_user: Option<&str>,
    include_deleted: bool,
    offset: i64,
    limit: i64,
) -> StoreResult<Vec<Team>> {
    let rows = match visible_to_user {
        None => {
            let sql = format!(
                "SELECT {TEAM_COLUMNS} FROM teams WHERE ($3 OR deleteat = 0) ORDER BY displayname, id LIMIT $1 OFFSET $2"
            );
            db.query(&sql, &[&limit, &offset, &include_deleted]).await?
        }
        Some(user_id) => {
            let sql = format!(
                "SELECT {TEAM_COLUMNS} FROM teams t WHERE deleteat = 0 AND (allowopeninvite OR EXISTS \
                 (SELECT 1 FROM teammembers tm WHERE tm.teamid = t.id AND tm.userid = $3 AND tm.deleteat = 0)) \
                 ORDER BY displayname, id LIMIT $1 OFFSET $2"
            );
            db.query(&sql, &[&limit, &offset, &user_id]).await?
        }
    };
    Ok(rows.iter().map(team_from_row).collect())
}

pub async fn list_for_user(db: &impl GenericClient, user_id: &str) -> StoreResult<Vec<Team>> {
    let sql = format!(
        "SELECT {TEAM_COLUMNS} FROM teams t WHERE t.deleteat = 0 AND EXISTS \
         (SELECT 1 FROM teammembers tm WHERE tm.teamid = t.id AND tm.userid = $1 AND tm.deleteat = 0) \
         ORDER BY displayname, id"
    );
    let rows = db.query(&sql, &[&user_id]).await?;
    Ok(rows.iter().map(team_from_row).collect())
}

pub async fn patch(
    db: &impl GenericClient,
    team_id: &str,
    patch: &TeamPatch,
    now: i64,
) -> StoreResult<Team> {
    let sql = format!(
        "UPDATE teams SET updateat = $2, displayname = COALESCE($3, displayname), \
         description = COALESCE($4, description), companyname = COALESCE($5, companyname), \
         alloweddomains = COALESCE($6, alloweddomains), allowopeninvite = COALESCE($7, allowopeninvite) \
         WHERE id = $1 RETURNING {TEAM_COLUMNS}"
    );
    let row = db
        .query_opt(
            &sql,
            &[
                &team_id,
                &now,
                &patch.display_name,
                &patch.description,
                &patch.company_name,
                &patch.allowed_domains,
                &patch.allow_open_invite,
            ],
        )
        .await?;
    one(row.as_ref().map(team_from_row), Record::Team)
}

/// Adds (or re-activates) a member; when it was not an active member, opens its membership
/// history interval at `now` (in the same statement). Returns the membership.
pub async fn upsert_member(
    db: &impl GenericClient,
    team_id: &str,
    user_id: &str,
    team_admin: bool,
    now: i64,
) -> StoreResult<TeamMember> {
    let row = db
        .query_one(
            "WITH active AS (SELECT 1 FROM teammembers WHERE teamid = $1 AND userid = $2 AND deleteat = 0), \
             logged AS (INSERT INTO teammemberhistory (teamid, userid, jointime) \
             SELECT $1, $2, $4 WHERE NOT EXISTS (SELECT 1 FROM active) \
             ON CONFLICT (teamid, userid, jointime) DO UPDATE SET leavetime = NULL) \
             INSERT INTO teammembers (teamid, userid, roles, deleteat, schemeuser, schemeadmin, schemeguest, createat) \
             VALUES ($1, $2, '', 0, true, $3, false, $4) \
             ON CONFLICT (teamid, userid) DO UPDATE SET deleteat = 0 \
             RETURNING teamid, userid, roles, deleteat, schemeuser, schemeadmin, schemeguest",
            &[&team_id, &user_id, &team_admin, &now],
        )
        .await?;
    Ok(member_from_row(&row))
}

pub async fn get_member(
    db: &impl GenericClient,
    team_id: &str,
    user_id: &str,
) -> StoreResult<TeamMember> {
    let statement = db
        .prepare_cached(
            "SELECT teamid, userid, roles, deleteat, schemeuser, schemeadmin, schemeguest FROM teammembers \
             WHERE teamid = $1 AND userid = $2 AND deleteat = 0",
        )
        .await?;
    let row = db.query_opt(&statement, &[&team_id, &user_id]).await?;
    one(row.as_ref().map(member_from_row), Record::TeamMember)
}

pub async fn list_members(
    db: &impl GenericClient,
    team_id: &str,
    offset: i64,
    limit: i64,
) -> StoreResult<Vec<TeamMember>> {
    let rows = db
        .query(
            "SELECT teamid, userid, roles, deleteat, schemeuser, schemeadmin, schemeguest FROM teammembers \
             WHERE teamid = $1 AND deleteat = 0 ORDER BY userid LIMIT $2 OFFSET $3",
            &[&team_id, &limit, &offset],
        )
        .await?;
    Ok(rows.iter().map(member_from_row).collect())
}

pub async fn member_ids(db: &impl GenericClient, team_id: &str) -> StoreResult<Vec<String>> {
    let rows = db
        .query(
            "SELECT userid FROM teammembers WHERE teamid = $1 AND deleteat = 0",
            &[&team_id],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

pub async fn list_members_for_user(
    db: &impl GenericClient,
    user_id: &str,
) -> StoreResult<Vec<TeamMember>> {
    let rows = crate::query_prepared(db,
            "SELECT teamid, userid, roles, deleteat, schemeuser, schemeadmin, schemeguest FROM teammembers \
             WHERE userid = $1 AND deleteat = 0 ORDER BY teamid",
            &[&user_id],
        )
        .await?;
    Ok(rows.iter().map(member_from_row).collect())
}

/// The live team memberships of these users.
pub async fn list_members_for_users(
    db: &impl GenericClient,
    user_ids: &[String],
) -> StoreResult<Vec<TeamMember>> {
    let rows = crate::query_prepared(db,
            "SELECT teamid, userid, roles, deleteat, schemeuser, schemeadmin, schemeguest FROM teammembers \
             WHERE userid = ANY($1) AND deleteat = 0 ORDER BY teamid",
            &[&user_ids],
        )
        .await?;
    Ok(rows.iter().map(member_from_row).collect())
}

/// Marks a membership deleted (Mattermost keeps the row with DeleteAt set) and closes its
/// history interval at `now`, in the same statement.
pub async fn remove_member(
    db: &impl GenericClient,
    team_id: &str,
    user_id: &str,
    now: i64,
) -> StoreResult<bool> {
    let row = db
        .query_one(
            "WITH removed AS (UPDATE teammembers SET deleteat = $3 WHERE teamid = $1 AND userid = $2 \
             AND deleteat = 0 RETURNING teamid, userid), \
             logged AS (UPDATE teammemberhistory h SET leavetime = $3 FROM removed \
             WHERE h.teamid = removed.teamid AND h.userid = removed.userid AND h.leavetime IS NULL) \
             SELECT count(*) FROM removed",
            &[&team_id, &user_id, &now],
        )
        .await?;
    Ok(row.get::<_, i64>(0) > 0)
}

pub async fn get_by_invite_id(db: &impl GenericClient, invite_id: &str) -> StoreResult<Team> {
    let sql = format!("SELECT {TEAM_COLUMNS} FROM teams WHERE inviteid = $1");
    let row = db.query_opt(&sql, &[&invite_id]).await?;
    one(row.as_ref().map(team_from_row), Record::Team)
}

/// Archives (`delete_at` = `now`) or restores (`delete_at` = 0) a team.
pub async fn set_archived(
    db: &impl GenericClient,
    team_id: &str,
    archived: bool,
    now: i64,
) -> StoreResult<Team> {
    let delete_at = if archived { now } else { 0 };
    let sql = format!(
        "UPDATE teams SET deleteat = $2, updateat = $3 WHERE id = $1 RETURNING {TEAM_COLUMNS}"
    );
    let row = db.query_opt(&sql, &[&team_id, &delete_at, &now]).await?;
    one(row.as_ref().map(team_from_row), Record::Team)
}

/// Members of a team, and those of them whose account is active.
pub async fn stats(db: &impl GenericClient, team_id: &str) -> StoreResult<TeamStats> {
    let row = db
        .query_one(
            "SELECT count(*) AS total, count(*) FILTER (WHERE u.deleteat = 0) AS active \
             FROM teammembers tm JOIN users u ON u.id = tm.userid \
             WHERE tm.teamid = $1 AND tm.deleteat = 0",
            &[&team_id],
        )
        .await?;
    Ok(TeamStats {
        team_id: team_id.to_string(),
        total_member_count: row.get("total"),
        active_member_count: row.get("active"),
    })
}

// ---- issue 13 (misc): lookups by ids and the invite id ----

/// The active memberships of `user_ids` in a team (missing ones are left out, as Mattermost does).
pub async fn members_by_ids(
    db: &impl GenericClient,
    team_id: &str,
    user_ids: &[String],
) -> StoreResult<Vec<TeamMember>> {
    let rows = db
        .query(
            "SELECT teamid, userid, roles, deleteat, schemeuser, schemeadmin, schemeguest FROM teammembers \
             WHERE teamid = $1 AND userid = ANY($2) AND deleteat = 0 ORDER BY userid",
            &[&team_id, &user_ids],
        )
        .await?;
    Ok(rows.iter().map(member_from_row).collect())
}

/// Gives the team a new invite id (old invite links stop working).
/// Sets `lastteamiconupdate` (0: no icon); returns the team.
pub async fn set_last_team_icon_update(
    db: &impl GenericClient,
    team_id: &str,
    at: i64,
    now: i64,
) -> StoreResult<Team> {
    let sql = format!(
        "UPDATE teams SET lastteamiconupdate = $2, updateat = $3 WHERE id = $1 RETURNING {TEAM_COLUMNS}"
    );
    let row = db.query_opt(&sql, &[&team_id, &at, &now]).await?;
    one(row.as_ref().map(team_from_row), Record::Team)
}

pub async fn set_invite_id(
    db: &impl GenericClient,
    team_id: &str,
    invite_id: &str,
    now: i64,
) -> StoreResult<Team> {
    let sql = format!(
        "UPDATE teams SET inviteid = $2, updateat = $3 WHERE id = $1 RETURNING {TEAM_COLUMNS}"
    );
    let row = db.query_opt(&sql, &[&team_id, &invite_id, &now]).await?;
    one(row.as_ref().map(team_from_row), Record::Team)
}

/// Sets the scheme roles of an active membership and stamps the member's personal settings
/// change (a resumed websocket that missed `memberrole_updated` resyncs). Run inside a
/// transaction.
pub async fn set_member_roles(
    db: &impl GenericClient,
    team_id: &str,
    user_id: &str,
    (scheme_guest, scheme_user, scheme_admin): (bool, bool, bool),
    now: i64,
) -> StoreResult<TeamMember> {
    let row = db
        .query_opt(
            "UPDATE teammembers SET schemeguest = $3, schemeuser = $4, schemeadmin = $5 \
             WHERE teamid = $1 AND userid = $2 AND deleteat = 0 \
             RETURNING teamid, userid, roles, deleteat, schemeuser, schemeadmin, schemeguest",
            &[
                &team_id,
                &user_id,
                &scheme_guest,
                &scheme_user,
                &scheme_admin,
            ],
        )
        .await?;
    let member = one(row.as_ref().map(member_from_row), Record::TeamMember)?;
    crate::sidebar::stamp_change(db, user_id, now).await?;
    Ok(member)
}

/// Unarchived teams every member of a channel belongs to.
pub async fn common_to_channel_members(
    db: &impl GenericClient,
    channel_id: &str,
) -> StoreResult<Vec<Team>> {
    let sql = format!(
        "SELECT {TEAM_COLUMNS} FROM teams t WHERE t.deleteat = 0 AND NOT EXISTS \
         (SELECT 1 FROM channelmembers cm WHERE cm.channelid = $1 AND NOT EXISTS \
         (SELECT 1 FROM teammembers tm WHERE tm.teamid = t.id AND tm.userid = cm.userid AND tm.deleteat = 0)) \
         ORDER BY t.displayname, t.id"
    );
    let rows = db.query(&sql, &[&channel_id]).await?;
    Ok(rows.iter().map(team_from_row).collect())
}

/// Unarchived teams whose name or display name matches `pattern` (ILIKE): all for admins
/// (`None`), else open ones and the user's own.
pub async fn search(
    db: &impl GenericClient,
    pattern: &str,
    visible_to_user: Option<&str>,
    include_deleted: bool,
) -> StoreResult<Vec<Team>> {
    let sql = format!(
        "SELECT {TEAM_COLUMNS} FROM teams t WHERE ($3 OR t.deleteat = 0) AND (t.name ILIKE $1 OR t.displayname ILIKE $1) \
         AND ($2::text IS NULL OR t.allowopeninvite OR EXISTS \
         (SELECT 1 FROM teammembers tm WHERE tm.teamid = t.id AND tm.userid = $2 AND tm.deleteat = 0)) \
         ORDER BY t.displayname, t.id LIMIT 100"
    );
    let rows = db
        .query(&sql, &[&pattern, &visible_to_user, &include_deleted])
        .await?;
    Ok(rows.iter().map(team_from_row).collect())
}

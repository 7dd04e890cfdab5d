//! Users and personal access tokens.

use crate::{json_map, one, GenericClient, Record, StoreResult};
use chorus_model::{User, UserAccessToken, UserPatch};
use serde_json::Value;
use tokio_postgres::Row;

const USER_COLUMNS: &str = "id, createat, updateat, deleteat, username, password, authdata, \
     authservice, email, emailverified, nickname, firstname, lastname, position, roles, props, \
     notifyprops, lastpasswordupdate, lastpictureupdate, failedattempts, locale, timezone, \
     mfaactive, isbot, botdescription";

/// A user row with its password hash (which [`User`] carries only on the way in).
pub struct UserWithHash {
    pub user: User,
    pub password_hash: String,
}

fn user_from_row(row: &Row) -> User {
    User {
        id: row.get("id"),
        create_at: row.get("createat"),
        update_at: row.get("updateat"),
        delete_at: row.get("deleteat"),
        username: row.get("username"),
        password: String::new(),
        auth_data: row.get("authdata"),
        auth_service: row.get("authservice"),
        email: row.get("email"),
        email_verified: row.get("emailverified"),
        nickname: row.get("nickname"),
        first_name: row.get("firstname"),
        last_name: row.get("lastname"),
        position: row.get("position"),
        roles: row.get("roles"),
        props: json_map(row, "props"),
        notify_props: json_map(row, "notifyprops"),
        last_password_update: row.get("lastpasswordupdate"),
        last_picture_update: row.get("lastpictureupdate"),
        failed_attempts: row.get::<_, i32>("failedattempts") as i64,
        locale: row.get("locale"),
        timezone: json_map(row, "timezone"),
        mfa_active: row.get("mfaactive"),
        is_bot: row.get("isbot"),
        bot_description: row.get("botdescription"),
        disable_welcome_email: false,
    }
}

/// Inserts a user whose `password` field already holds the hash.
pub async fn insert(db: &impl GenericClient, user: &User) -> StoreResult<()> {
    let statement = db
        .prepare_cached(
            "INSERT INTO users (id, createat, updateat, deleteat, username, password, authdata, \
             authservice, email, emailverified, nickname, firstname, lastname, position, roles, \
             props, notifyprops, lastpasswordupdate, lastpictureupdate, failedattempts, locale, \
             timezone, mfaactive, isbot, botdescription) VALUES ($1, $2, $3, $4, $5, $6, $7, \
             $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, 0, $20, $21, false, $22, $23)",
        )
        .await?;
    db.execute(
        &statement,
        &[
            &user.id,
            &user.create_at,
            &user.update_at,
            &user.delete_at,
            &user.username,
            &user.password,
            &user.auth_data,
            &user.auth_service,
            &user.email,
            &user.email_verified,
            &user.nickname,
            &user.first_name,
            &user.last_name,
            &user.position,
            &user.roles,
            &Value::Object(user.props.clone()),
            &Value::Object(user.notify_props.clone()),
            &user.last_password_update,
            &user.last_picture_update,
            &user.locale,
            &Value::Object(user.timezone.clone()),
            &user.is_bot,
            &user.bot_description,
        ],
    )
    .await?;
    Ok(())
}

pub async fn count(db: &impl GenericClient) -> StoreResult<i64> {
    let row = db.query_one("SELECT count(*) FROM users", &[]).await?;
    Ok(row.get(0))
}

pub async fn get(db: &impl GenericClient, user_id: &str) -> StoreResult<User> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    let statement = db.prepare_cached(&sql).await?;
    let row = db.query_opt(&statement, &[&user_id]).await?;
    one(row.as_ref().map(user_from_row), Record::User)
}

pub async fn get_by_username(db: &impl GenericClient, username: &str) -> StoreResult<User> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
    let row = db.query_opt(&sql, &[&username.to_lowercase()]).await?;
    one(row.as_ref().map(user_from_row), Record::User)
}

pub async fn get_by_email(db: &impl GenericClient, email: &str) -> StoreResult<User> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
    let row = db.query_opt(&sql, &[&email.to_lowercase()]).await?;
    one(row.as_ref().map(user_from_row), Record::User)
}

/// The user a login id names (a username or an email), with the password hash.
pub async fn get_for_login(db: &impl GenericClient, login_id: &str) -> StoreResult<UserWithHash> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1 OR email = $1");
    let row = db.query_opt(&sql, &[&login_id.to_lowercase()]).await?;
    let row = one(row, Record::User)?;
    Ok(UserWithHash {
        user: user_from_row(&row),
        password_hash: row.get("password"),
    })
}

pub async fn get_with_hash(db: &impl GenericClient, user_id: &str) -> StoreResult<UserWithHash> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    let row = one(db.query_opt(&sql, &[&user_id]).await?, Record::User)?;
    Ok(UserWithHash {
        user: user_from_row(&row),
        password_hash: row.get("password"),
    })
}

pub async fn get_many(db: &impl GenericClient, user_ids: &[String]) -> StoreResult<Vec<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ANY($1) ORDER BY username");
    let rows = db.query(&sql, &[&user_ids]).await?;
    Ok(rows.iter().map(user_from_row).collect())
}

pub async fn get_many_by_username(
    db: &impl GenericClient,
    usernames: &[String],
) -> StoreResult<Vec<User>> {
    let lowered: Vec<String> = usernames.iter().map(|name| name.to_lowercase()).collect();
    let sql =
        format!("SELECT {USER_COLUMNS} FROM users WHERE username = ANY($1) ORDER BY username");
    let rows = db.query(&sql, &[&lowered]).await?;
    Ok(rows.iter().map(user_from_row).collect())
}

/// Filters for GET /users.
#[derive(Debug, Default, Clone)]
pub struct UserListFilter {
    pub in_team: Option<String>,
    pub not_in_team: Option<String>,
    pub in_channel: Option<String>,
    pub not_in_channel: Option<String>,
    pub active_only: bool,
    pub inactive_only: bool,
    /// A system role the user must have (one word of `roles`).
    pub role: Option<String>,
    pub offset: i64,
    pub limit: i64,
}

pub async fn list(db: &impl GenericClient, filter: &UserListFilter) -> StoreResult<Vec<User>> {
    let mut sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE true");
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = Vec::new();
    if let Some(team_id) = &filter.in_team {
        params.push(team_id);
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM teammembers tm WHERE tm.userid = u.id AND tm.teamid = ${} AND tm.deleteat = 0)",
            params.len()
        ));
    }
    if let Some(team_id) = &filter.not_in_team {
        params.push(team_id);
        sql.push_str(&format!(
            " AND NOT EXISTS (SELECT 1 FROM teammembers tm WHERE tm.userid = u.id AND tm.teamid = ${} AND tm.deleteat = 0)",
            params.len()
        ));
    }
    if let Some(channel_id) = &filter.in_channel {
        params.push(channel_id);
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM channelmembers cm WHERE cm.userid = u.id AND cm.channelid = ${})",
            params.len()
        ));
    }
    if let Some(channel_id) = &filter.not_in_channel {
        params.push(channel_id);
        sql.push_str(&format!(
            " AND NOT EXISTS (SELECT 1 FROM channelmembers cm WHERE cm.userid = u.id AND cm.channelid = ${})",
            params.len()
        ));
    }
    if filter.active_only {
        sql.push_str(" AND u.deleteat = 0");
    }
    if filter.inactive_only {
        sql.push_str(" AND u.deleteat > 0");
    }
    if let Some(role) = &filter.role {
        params.push(role);
        sql.push_str(&format!(
            " AND ${} = ANY(string_to_array(u.roles, ' '))",
            params.len()
        ));
    }
    params.push(&filter.limit);
    sql.push_str(&format!(" ORDER BY u.username LIMIT ${}", params.len()));
    params.push(&filter.offset);
    sql.push_str(&format!(" OFFSET ${}", params.len()));
    let rows = db.query(&sql, &params).await?;
    Ok(rows.iter().map(user_from_row).collect())
}

/// Applies a patch and returns the updated user.
pub async fn patch(
    db: &impl GenericClient,
    user_id: &str,
    patch: &UserPatch,
    now: i64,
) -> StoreResult<User> {
    let sql = format!(
        "UPDATE users SET updateat = $2, \
         username = COALESCE($3, username), email = COALESCE($4, email), \
         nickname = COALESCE($5, nickname), firstname = COALESCE($6, firstname), \
         lastname = COALESCE($7, lastname), position = COALESCE($8, position), \
         locale = COALESCE($9, locale), props = COALESCE($10, props), \
         notifyprops = COALESCE($11, notifyprops), timezone = COALESCE($12, timezone) \
         WHERE id = $1 RETURNING {USER_COLUMNS}"
    );
    let props = patch.props.clone().map(Value::Object);
    let notify_props = patch.notify_props.clone().map(Value::Object);
    let timezone = patch.timezone.clone().map(Value::Object);
    let username = patch.username.as_ref().map(|name| name.to_lowercase());
    let email = patch.email.as_ref().map(|email| email.to_lowercase());
    let row = db
        .query_opt(
            &sql,
            &[
                &user_id,
                &now,
                &username,
                &email,
                &patch.nickname,
                &patch.first_name,
                &patch.last_name,
                &patch.position,
                &patch.locale,
                &props,
                &notify_props,
                &timezone,
            ],
        )
        .await?;
    one(row.as_ref().map(user_from_row), Record::User)
}

pub async fn update_password(
    db: &impl GenericClient,
    user_id: &str,
    password_hash: &str,
    now: i64,
) -> StoreResult<()> {
    db.execute(
        "UPDATE users SET password = $2, lastpasswordupdate = $3, updateat = $3, failedattempts = 0 WHERE id = $1",
        &[&user_id, &password_hash, &now],
    )
    .await?;
    Ok(())
}

/// Counts one more wrong password for a user and returns the new count. One statement, so
/// parallel wrong guesses on any number of nodes each add one (a read followed by a write of
/// `old + 1` would lose all but one of them).
pub async fn record_failed_attempt(db: &impl GenericClient, user_id: &str) -> StoreResult<i64> {
    let row = db
        .query_opt(
            "UPDATE users SET failedattempts = failedattempts + 1 WHERE id = $1 RETURNING failedattempts",
            &[&user_id],
        )
        .await?;
    one(
        row.as_ref().map(|row| i64::from(row.get::<_, i32>(0))),
        Record::User,
    )
}

/// After a right password: clears the failed attempts unless they reached `maximum_attempts`
/// (0: no limit) — the account may have been locked by wrong guesses on another node since it
/// was read. Returns the count left: 0 when cleared, the locked count otherwise.
pub async fn clear_failed_attempts_unless_locked(
    db: &impl GenericClient,
    user_id: &str,
    maximum_attempts: i64,
) -> StoreResult<i64> {
    let maximum_attempts = i32::try_from(maximum_attempts).unwrap_or(i32::MAX);
    let row = db
        .query_opt(
            "UPDATE users SET failedattempts = CASE WHEN $2 > 0 AND failedattempts >= $2 \
             THEN failedattempts ELSE 0 END WHERE id = $1 RETURNING failedattempts",
            &[&user_id, &maximum_attempts],
        )
        .await?;
    one(
        row.as_ref().map(|row| i64::from(row.get::<_, i32>(0))),
        Record::User,
    )
}

pub async fn set_roles(
    db: &impl GenericClient,
    user_id: &str,
    roles: &str,
    now: i64,
) -> StoreResult<()> {
    db.execute(
        "UPDATE users SET roles = $2, updateat = $3 WHERE id = $1",
        &[&user_id, &roles, &now],
    )
    .await?;
    Ok(())
}

/// Users among `usernames` (lower-case) who are members of the channel: resolves @mentions.
pub async fn channel_members_by_username(
    db: &impl GenericClient,
    channel_id: &str,
    usernames: &[String],
) -> StoreResult<Vec<(String, String)>> {
    let statement = db
        .prepare_cached(
            "SELECT u.id, u.username FROM users u JOIN channelmembers cm ON cm.userid = u.id \
             WHERE cm.channelid = $1 AND u.username = ANY($2)",
        )
        .await?;
    let rows = db.query(&statement, &[&channel_id, &usernames]).await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

// ---- people: activation, profile image, custom status, search (issue 13) ----

/// Sets `deleteat` (0 reactivates) and returns the user. `updateat` moves too: a websocket
/// rebuilt from the database then sees a user changed and makes its client resync.
pub async fn set_delete_at(
    db: &impl GenericClient,
    user_id: &str,
    delete_at: i64,
    now: i64,
) -> StoreResult<User> {
    set_time_column(db, user_id, "deleteat", delete_at, now).await
}

/// Sets `lastpictureupdate` (Mattermost makes it negative when the picture goes back to the
/// generated default) and returns the user.
pub async fn set_last_picture_update(
    db: &impl GenericClient,
    user_id: &str,
    last_picture_update: i64,
    now: i64,
) -> StoreResult<User> {
    set_time_column(db, user_id, "lastpictureupdate", last_picture_update, now).await
}

/// Sets one of the user's time columns (a fixed name, never input), moves `updateat` and
/// returns the user.
async fn set_time_column(
    db: &impl GenericClient,
    user_id: &str,
    column: &'static str,
    value: i64,
    now: i64,
) -> StoreResult<User> {
    let row = db
        .query_opt(
            &format!(
                "UPDATE users SET {column} = $2, updateat = GREATEST($3, updateat + 1) \
                 WHERE id = $1 RETURNING {USER_COLUMNS}"
            ),
            &[&user_id, &value, &now],
        )
        .await?;
    one(row.as_ref().map(user_from_row), Record::User)
}

/// Sets one key of `props` (`None` removes it) in one statement, so that two changes to
/// different keys on different nodes do not overwrite each other.
pub async fn set_prop(
    db: &impl GenericClient,
    user_id: &str,
    key: &str,
    value: Option<&str>,
    now: i64,
) -> StoreResult<User> {
    let row = db
        .query_opt(
            &format!(
                "UPDATE users SET props = CASE WHEN $3::text IS NULL THEN props - $2 \
                 ELSE props || jsonb_build_object($2::text, $3::text) END, \
                 updateat = GREATEST($4, updateat + 1) WHERE id = $1 RETURNING {USER_COLUMNS}"
            ),
            &[&user_id, &key, &value, &now],
        )
        .await?;
    one(row.as_ref().map(user_from_row), Record::User)
}

/// Where a user search or autocomplete looks, and what it may match.
#[derive(Debug, Default)]
pub struct UserSearchFilter {
    pub in_team: Option<String>,
    pub not_in_team: Option<String>,
    pub in_channel: Option<String>,
    pub not_in_channel: Option<String>,
    pub allow_inactive: bool,
    /// Match e-mail addresses too (system admins).
    pub allow_emails: bool,
    /// Match first and last names too.
    pub allow_full_names: bool,
    pub limit: i64,
}

/// Users whose username, nickname (and full name or e-mail when allowed) start with `term`,
/// case-insensitively, ordered by username. A leading `@` is ignored, as in Mattermost.
/// The term is bound as a parameter; `%` and `_` in it are matched literally.
pub async fn search(
    db: &impl GenericClient,
    term: &str,
    filter: &UserSearchFilter,
) -> StoreResult<Vec<User>> {
    let term = term.trim().trim_start_matches('@').to_lowercase();
    let escaped = term
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let prefix = format!("{escaped}%");
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&prefix];
    let mut columns = vec!["u.username", "lower(u.nickname)"];
    if filter.allow_full_names {
        columns.extend([
            "lower(u.firstname)",
            "lower(u.lastname)",
            "lower(u.firstname || ' ' || u.lastname)",
        ]);
    }
    if filter.allow_emails {
        columns.push("u.email");
    }
    let matches = columns
        .iter()
        .map(|column| format!("{column} LIKE $1"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let mut sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE ({matches})");
    if !filter.allow_inactive {
        sql.push_str(" AND u.deleteat = 0");
    }
    if let Some(team_id) = &filter.in_team {
        params.push(team_id);
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM teammembers tm WHERE tm.userid = u.id AND tm.teamid = ${} AND tm.deleteat = 0)",
            params.len()
        ));
    }
    if let Some(team_id) = &filter.not_in_team {
        params.push(team_id);
        sql.push_str(&format!(
            " AND NOT EXISTS (SELECT 1 FROM teammembers tm WHERE tm.userid = u.id AND tm.teamid = ${} AND tm.deleteat = 0)",
            params.len()
        ));
    }
    if let Some(channel_id) = &filter.in_channel {
        params.push(channel_id);
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM channelmembers cm WHERE cm.userid = u.id AND cm.channelid = ${})",
            params.len()
        ));
    }
    if let Some(channel_id) = &filter.not_in_channel {
        params.push(channel_id);
        sql.push_str(&format!(
            " AND NOT EXISTS (SELECT 1 FROM channelmembers cm WHERE cm.userid = u.id AND cm.channelid = ${})",
            params.len()
        ));
    }
    params.push(&filter.limit);
    sql.push_str(&format!(" ORDER BY u.username LIMIT ${}", params.len()));
    let rows = db.query(&sql, &params).await?;
    Ok(rows.iter().map(user_from_row).collect())
}

/// GET /users/stats: active users (bots and deactivated ones left out, as in Mattermost).
pub async fn count_active(db: &impl GenericClient) -> StoreResult<i64> {
    let row = db
        .query_one(
            "SELECT count(*) FROM users WHERE deleteat = 0 AND NOT isbot",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

/// What GET /users/stats/filtered counts: users matching every filter given.
#[derive(Debug, Default, Clone)]
pub struct UserCountFilter {
    pub include_deleted: bool,
    pub include_bots: bool,
    /// System roles, any of (`system_admin`, `system_user`, …).
    pub roles: Vec<String>,
    pub team_id: Option<String>,
    /// With `team_id`: `team_admin`, `team_user` (not an admin) or `team_guest`, any of.
    pub team_roles: Vec<String>,
    pub channel_id: Option<String>,
    /// With `channel_id`: `channel_admin`, `channel_user` (not an admin) or `channel_guest`.
    pub channel_roles: Vec<String>,
}

pub async fn count_filtered(db: &impl GenericClient, filter: &UserCountFilter) -> StoreResult<i64> {
    // A member matches the role filter when it is empty or when one of its scheme roles is
    // listed; `{prefix}_user` means a plain member, as in Mattermost's store.
    let member_roles = |alias: &str, prefix: &str, roles: usize| {
        format!(
            "(cardinality(${roles}::text[]) = 0 \
               OR ({alias}.schemeadmin AND '{prefix}_admin' = ANY(${roles})) \
               OR ({alias}.schemeuser AND NOT {alias}.schemeadmin AND '{prefix}_user' = ANY(${roles})) \
               OR ({alias}.schemeguest AND '{prefix}_guest' = ANY(${roles})))"
        )
    };
    let sql = format!(
        "SELECT count(*) FROM users u \
         WHERE ($1 OR u.deleteat = 0) AND ($2 OR NOT u.isbot) \
           AND (cardinality($3::text[]) = 0 OR string_to_array(u.roles, ' ') && $3::text[]) \
           AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM teammembers tm \
                WHERE tm.teamid = $4 AND tm.userid = u.id AND tm.deleteat = 0 AND {})) \
           AND ($6::text IS NULL OR EXISTS (SELECT 1 FROM channelmembers cm \
                WHERE cm.channelid = $6 AND cm.userid = u.id AND {}))",
        member_roles("tm", "team", 5),
        member_roles("cm", "channel", 7),
    );
    let row = db
        .query_one(
            &sql,
            &[
                &filter.include_deleted,
                &filter.include_bots,
                &filter.roles,
                &filter.team_id,
                &filter.team_roles,
                &filter.channel_id,
                &filter.channel_roles,
            ],
        )
        .await?;
    Ok(row.get(0))
}

// ---- personal access tokens ----

pub async fn insert_access_token(
    db: &impl GenericClient,
    token: &UserAccessToken,
) -> StoreResult<()> {
    db.execute(
        "INSERT INTO useraccesstokens (id, token, userid, description, isactive) VALUES ($1, $2, $3, $4, $5)",
        &[&token.id, &token.token, &token.user_id, &token.description, &token.is_active],
    )
    .await?;
    Ok(())
}

fn access_token_from_row(row: &Row) -> UserAccessToken {
    UserAccessToken {
        id: row.get("id"),
        token: String::new(),
        user_id: row.get("userid"),
        description: row.get("description"),
        is_active: row.get("isactive"),
    }
}

/// The token row for a secret token value (with the secret filled in).
pub async fn get_access_token_by_secret(
    db: &impl GenericClient,
    secret: &str,
) -> StoreResult<UserAccessToken> {
    let statement = db
        .prepare_cached("SELECT id, token, userid, description, isactive FROM useraccesstokens WHERE token = $1")
        .await?;
    let row = one(
        db.query_opt(&statement, &[&secret]).await?,
        Record::AccessToken,
    )?;
    let mut token = access_token_from_row(&row);
    token.token = row.get("token");
    Ok(token)
}

pub async fn get_access_token(
    db: &impl GenericClient,
    token_id: &str,
) -> StoreResult<UserAccessToken> {
    let row = db
        .query_opt(
            "SELECT id, userid, description, isactive FROM useraccesstokens WHERE id = $1",
            &[&token_id],
        )
        .await?;
    one(row.as_ref().map(access_token_from_row), Record::AccessToken)
}

pub async fn list_access_tokens(
    db: &impl GenericClient,
    user_id: &str,
) -> StoreResult<Vec<UserAccessToken>> {
    let rows = db
        .query(
            "SELECT id, userid, description, isactive FROM useraccesstokens WHERE userid = $1 ORDER BY id",
            &[&user_id],
        )
        .await?;
    Ok(rows.iter().map(access_token_from_row).collect())
}

/// Deletes a token and returns its secret (so the caller can revoke the session built on it).
pub async fn delete_access_token(db: &impl GenericClient, token_id: &str) -> StoreResult<String> {
    let row = db
        .query_opt(
            "DELETE FROM useraccesstokens WHERE id = $1 RETURNING token",
            &[&token_id],
        )
        .await?;
    Ok(one(row, Record::AccessToken)?.get(0))
}

// ---- issue 13 (misc): failed attempts and token states ----

/// Clears the failed login attempts of a user; false when the user does not exist.
pub async fn reset_failed_attempts(db: &impl GenericClient, user_id: &str) -> StoreResult<bool> {
    Ok(db
        .execute(
            "UPDATE users SET failedattempts = 0 WHERE id = $1",
            &[&user_id],
        )
        .await?
        > 0)
}

/// Every user's tokens (secrets left out), a page at a time.
pub async fn list_all_access_tokens(
    db: &impl GenericClient,
    offset: i64,
    limit: i64,
) -> StoreResult<Vec<UserAccessToken>> {
    let rows = db
        .query(
            "SELECT id, userid, description, isactive FROM useraccesstokens ORDER BY id LIMIT $1 OFFSET $2",
            &[&limit, &offset],
        )
        .await?;
    Ok(rows.iter().map(access_token_from_row).collect())
}

/// Enables or disables a token; returns its secret (so a disabled token's session can end).
pub async fn set_access_token_active(
    db: &impl GenericClient,
    token_id: &str,
    active: bool,
) -> StoreResult<String> {
    let row = db
        .query_opt(
            "UPDATE useraccesstokens SET isactive = $2 WHERE id = $1 RETURNING token",
            &[&token_id, &active],
        )
        .await?;
    Ok(one(row, Record::AccessToken)?.get(0))
}

/// Ids of the users who share a channel with `user_id` (Mattermost's "known" users).
pub async fn known_user_ids(db: &impl GenericClient, user_id: &str) -> StoreResult<Vec<String>> {
    let rows = db
        .query(
            "SELECT DISTINCT other.userid FROM channelmembers mine \
             JOIN channelmembers other ON other.channelid = mine.channelid \
             WHERE mine.userid = $1 AND other.userid <> $1 ORDER BY other.userid",
            &[&user_id],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

//! Sidebar categories (Mattermost's SidebarCategories and SidebarChannels).
//!
//! `sidebarchannels` holds the channels placed in a category explicitly. A channel of the user
//! placed in no category of a team is listed at the top of that team's `channels` category
//! (public and private channels of the team) or `direct_messages` category (direct and group
//! channels), by display name, as Mattermost does: so a channel the user joins or opens lands
//! in the right category without a write. The `favorites` category mirrors the user's
//! `favorite_channel` preferences both ways (see [`favorites_saved`] and [`update`]).
//!
//! Every write also stamps `personalchanges` for the user in the same transaction, so that a
//! websocket rebuilt from the database can tell whether its client may have missed a
//! `sidebar_category_*` event (`history::unrebuildable_changes_since`).

use crate::{one, GenericClient, Record, StoreResult};
use chorus_model::{
    OrderedSidebarCategories, Preference, SidebarCategory, PREFERENCE_CATEGORY_FAVORITE_CHANNEL,
    SIDEBAR_CATEGORY_CHANNELS, SIDEBAR_CATEGORY_CUSTOM, SIDEBAR_CATEGORY_DIRECT_MESSAGES,
    SIDEBAR_CATEGORY_FAVORITES, SIDEBAR_SORT_DISTANCE,
};
use std::collections::HashMap;
use tokio_postgres::Row;

const COLUMNS: &str = "id, userid, teamid, sortorder, sorting, type, displayname, muted, collapsed";

fn category_from_row(row: &Row) -> SidebarCategory {
    SidebarCategory {
        id: row.get("id"),
        user_id: row.get("userid"),
        team_id: row.get("teamid"),
        sort_order: row.get("sortorder"),
        sorting: row.get("sorting"),
        category_type: row.get("type"),
        display_name: row.get("displayname"),
        muted: row.get("muted"),
        collapsed: row.get("collapsed"),
        channel_ids: Vec::new(),
    }
}

/// Creates the user's default categories of a team when they are missing (deterministic ids:
/// two callers racing create them once), filling favorites from the user's `favorite_channel`
/// preferences. Returns whether it created any. Run inside a transaction.
pub async fn create_defaults(
    db: &impl GenericClient,
    user_id: &str,
    team_id: &str,
) -> StoreResult<bool> {
    let defaults = [
        (SIDEBAR_CATEGORY_FAVORITES, 0, "", "Favorites"),
        (
            SIDEBAR_CATEGORY_CHANNELS,
            SIDEBAR_SORT_DISTANCE,
            "",
            "Channels",
        ),
        (
            SIDEBAR_CATEGORY_DIRECT_MESSAGES,
            2 * SIDEBAR_SORT_DISTANCE,
            "recent",
            "Direct Messages",
        ),
    ];
    let mut created_any = false;
    for (category_type, sort_order, sorting, display_name) in defaults {
        let id = SidebarCategory::default_id(category_type, user_id, team_id);
        let created = db
            .execute(
                "INSERT INTO sidebarcategories (id, userid, teamid, sortorder, sorting, type, \
                 displayname, muted, collapsed) VALUES ($1, $2, $3, $4, $5, $6, $7, false, false) \
                 ON CONFLICT (id) DO NOTHING",
                &[
                    &id,
                    &user_id,
                    &team_id,
                    &sort_order,
                    &sorting,
                    &category_type,
                    &display_name,
                ],
            )
            .await?
            > 0;
        if created && category_type == SIDEBAR_CATEGORY_FAVORITES {
            // The favorites the user had before the category existed, by display name.
            db.execute(
                "INSERT INTO sidebarchannels (channelid, userid, categoryid, sortorder) \
                 SELECT c.id, p.userid, $3, $4 * (row_number() OVER (ORDER BY c.displayname, c.name) - 1) \
                 FROM preferences p JOIN channels c ON c.id = p.name \
                 JOIN channelmembers cm ON cm.channelid = c.id AND cm.userid = p.userid \
                 WHERE p.userid = $1 AND p.category = $5 AND p.value = 'true' \
                 AND (c.teamid = $2 OR c.teamid = '') ON CONFLICT DO NOTHING",
                &[
                    &user_id,
                    &team_id,
                    &id,
                    &SIDEBAR_SORT_DISTANCE,
                    &PREFERENCE_CATEGORY_FAVORITE_CHANNEL,
                ],
            )
            .await?;
        }
        created_any |= created;
    }
    Ok(created_any)
}

/// The user's categories of a team in order, each with its channels (see the module doc for
/// the channels and direct messages categories).
pub async fn list(
    db: &impl GenericClient,
    user_id: &str,
    team_id: &str,
) -> StoreResult<OrderedSidebarCategories> {
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM sidebarcategories WHERE userid = $1 AND teamid = $2 \
                 ORDER BY sortorder, id"
            ),
            &[&user_id, &team_id],
        )
        .await?;
    let mut categories: Vec<SidebarCategory> = rows.iter().map(category_from_row).collect();
    complete(db, &mut categories).await?;
    let order = categories
        .iter()
        .map(|category| category.id.clone())
        .collect();
    Ok(OrderedSidebarCategories { categories, order })
}

/// One category with its channels.
pub async fn get(db: &impl GenericClient, category_id: &str) -> StoreResult<SidebarCategory> {
    let row = db
        .query_opt(
            &format!("SELECT {COLUMNS} FROM sidebarcategories WHERE id = $1"),
            &[&category_id],
        )
        .await?;
    let category = one(row.as_ref().map(category_from_row), Record::SidebarCategory)?;
    let mut categories = vec![category];
    complete(db, &mut categories).await?;
    Ok(categories.remove(0))
}

/// Fills each category's `channel_ids`: its placed channels by sort order, and for the
/// channels and direct messages categories the user's unplaced channels first.
async fn complete(db: &impl GenericClient, categories: &mut [SidebarCategory]) -> StoreResult<()> {
    let ids: Vec<String> = categories
        .iter()
        .map(|category| category.id.clone())
        .collect();
    let rows = db
        .query(
            "SELECT categoryid, channelid FROM sidebarchannels WHERE categoryid = ANY($1) \
             ORDER BY categoryid, sortorder, channelid",
            &[&ids],
        )
        .await?;
    let mut placed: HashMap<String, Vec<String>> = HashMap::new();
    for row in &rows {
        placed
            .entry(row.get("categoryid"))
            .or_default()
            .push(row.get("channelid"));
    }
    for category in categories.iter_mut() {
        let mut channel_ids = match category.category_type.as_str() {
            SIDEBAR_CATEGORY_CHANNELS | SIDEBAR_CATEGORY_DIRECT_MESSAGES => {
                unplaced_channels(db, category).await?
            }
            _ => Vec::new(),
        };
        channel_ids.extend(placed.remove(&category.id).unwrap_or_default());
        category.channel_ids = channel_ids;
    }
    Ok(())
}

/// The user's live channels of the category's kind placed in no category of its team.
async fn unplaced_channels(
    db: &impl GenericClient,
    category: &SidebarCategory,
) -> StoreResult<Vec<String>> {
    let kind = if category.category_type == SIDEBAR_CATEGORY_CHANNELS {
        "c.type IN ('O', 'P') AND c.teamid = $2"
    } else {
        "c.type IN ('D', 'G')"
    };
    let rows = db
        .query(
            &format!(
                "SELECT c.id FROM channelmembers cm JOIN channels c ON c.id = cm.channelid \
                 WHERE cm.userid = $1 AND c.deleteat = 0 AND {kind} AND NOT EXISTS \
                 (SELECT 1 FROM sidebarchannels sc JOIN sidebarcategories sg ON sg.id = sc.categoryid \
                 WHERE sc.channelid = c.id AND sg.userid = $1 AND sg.teamid = $2) \
                 ORDER BY c.displayname, c.id"
            ),
            &[&category.user_id, &category.team_id],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get("id")).collect())
}

/// The ids of the user's categories of a team, in order.
pub async fn order(
    db: &impl GenericClient,
    user_id: &str,
    team_id: &str,
) -> StoreResult<Vec<String>> {
    let rows = db
        .query(
            "SELECT id FROM sidebarcategories WHERE userid = $1 AND teamid = $2 ORDER BY sortorder, id",
            &[&user_id, &team_id],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get("id")).collect())
}

/// Renumbers the categories in `new_order`, which must name exactly the user's categories of
/// the team (else `Ok(false)` and nothing changes).
pub async fn update_order(
    db: &impl GenericClient,
    user_id: &str,
    team_id: &str,
    new_order: &[String],
    now: i64,
) -> StoreResult<bool> {
    let mut existing = order(db, user_id, team_id).await?;
    let mut wanted = new_order.to_vec();
    existing.sort();
    wanted.sort();
    if existing != wanted {
        return Ok(false);
    }
    renumber(db, new_order).await?;
    stamp_change(db, user_id, now).await?;
    Ok(true)
}

async fn renumber(db: &impl GenericClient, new_order: &[String]) -> StoreResult<()> {
    for (position, category_id) in new_order.iter().enumerate() {
        db.execute(
            "UPDATE sidebarcategories SET sortorder = $2 WHERE id = $1",
            &[&category_id, &(position as i64 * SIDEBAR_SORT_DISTANCE)],
        )
        .await?;
    }
    Ok(())
}

/// Creates a custom category, placed after favorites when favorites is first (else first),
/// and moves `channel_ids` into it from the team's other categories. Run inside a transaction.
pub async fn create_custom(
    db: &impl GenericClient,
    category: &SidebarCategory,
    now: i64,
) -> StoreResult<SidebarCategory> {
    let current = list(db, &category.user_id, &category.team_id).await?;
    let mut new_order = current.order.clone();
    let favorites_first = current
        .categories
        .first()
        .is_some_and(|first| first.category_type == SIDEBAR_CATEGORY_FAVORITES);
    let position = usize::from(favorites_first);
    new_order.insert(position, category.id.clone());
    db.execute(
        "INSERT INTO sidebarcategories (id, userid, teamid, sortorder, sorting, type, displayname, \
         muted, collapsed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &category.id,
            &category.user_id,
            &category.team_id,
            &(new_order.len() as i64 * SIDEBAR_SORT_DISTANCE),
            &category.sorting,
            &SIDEBAR_CATEGORY_CUSTOM,
            &category.display_name,
            &category.muted,
            &category.collapsed,
        ],
    )
    .await?;
    if !category.channel_ids.is_empty() {
        db.execute(
            "DELETE FROM sidebarchannels sc USING sidebarcategories sg \
             WHERE sc.categoryid = sg.id AND sc.userid = $1 AND sc.channelid = ANY($2) AND sg.teamid = $3",
            &[&category.user_id, &category.channel_ids, &category.team_id],
        )
        .await?;
        place_channels(db, &category.user_id, &category.id, &category.channel_ids).await?;
    }
    renumber(db, &new_order).await?;
    stamp_change(db, &category.user_id, now).await?;
    get(db, &category.id).await
}

async fn place_channels(
    db: &impl GenericClient,
    user_id: &str,
    category_id: &str,
    channel_ids: &[String],
) -> StoreResult<()> {
    for (position, channel_id) in channel_ids.iter().enumerate() {
        db.execute(
            "INSERT INTO sidebarchannels (channelid, userid, categoryid, sortorder) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (channelid, userid, categoryid) \
             DO UPDATE SET sortorder = EXCLUDED.sortorder",
            &[
                &channel_id,
                &user_id,
                &category_id,
                &(position as i64 * SIDEBAR_SORT_DISTANCE),
            ],
        )
        .await?;
    }
    Ok(())
}

/// Updates categories of the user in one transaction, as Mattermost does: display name only
/// of custom ones, sorting, collapsed, and (but for direct messages, whose order is not
/// stored) muted and the channels. A channel put in favorites becomes a `favorite_channel`
/// preference; one put elsewhere stops being one. Returns the categories before and after.
/// Run inside a transaction.
pub async fn update(
    db: &impl GenericClient,
    user_id: &str,
    changes: &[SidebarCategory],
    now: i64,
) -> StoreResult<Vec<(SidebarCategory, SidebarCategory)>> {
    let mut results = Vec::new();
    let mut sorted: Vec<&SidebarCategory> = changes.iter().collect();
    // One lock order for concurrent updates of the same categories.
    sorted.sort_by(|first, second| first.id.cmp(&second.id));
    let mut originals = HashMap::new();
    for change in &sorted {
        let original = get(db, &change.id).await?;
        let mut updated = original.clone();
        if original.category_type == SIDEBAR_CATEGORY_CUSTOM {
            updated.display_name = change.display_name.clone();
        }
        updated.sorting = change.sorting.clone();
        updated.collapsed = change.collapsed;
        if original.category_type != SIDEBAR_CATEGORY_DIRECT_MESSAGES {
            updated.muted = change.muted;
            updated.channel_ids = change.channel_ids.clone();
        }
        db.execute(
            "UPDATE sidebarcategories SET displayname = $2, sorting = $3, muted = $4, collapsed = $5 \
             WHERE id = $1",
            &[
                &updated.id,
                &updated.display_name,
                &updated.sorting,
                &updated.muted,
                &updated.collapsed,
            ],
        )
        .await?;
        originals.insert(change.id.clone(), (original, updated));
    }
    let category_ids: Vec<String> = sorted.iter().map(|change| change.id.clone()).collect();
    db.execute(
        "DELETE FROM sidebarchannels WHERE categoryid = ANY($1)",
        &[&category_ids],
    )
    .await?;
    for change in changes {
        let (original, updated) = &originals[&change.id];
        if original.category_type == SIDEBAR_CATEGORY_DIRECT_MESSAGES {
            continue;
        }
        place_channels(db, user_id, &updated.id, &updated.channel_ids).await?;
        let favorite = PREFERENCE_CATEGORY_FAVORITE_CHANNEL;
        if original.category_type == SIDEBAR_CATEGORY_FAVORITES {
            db.execute(
                "DELETE FROM preferences WHERE userid = $1 AND category = $2 AND name = ANY($3)",
                &[&user_id, &favorite, &original.channel_ids],
            )
            .await?;
            for channel_id in &updated.channel_ids {
                db.execute(
                    "INSERT INTO preferences (userid, category, name, value) VALUES ($1, $2, $3, 'true') \
                     ON CONFLICT (userid, category, name) DO UPDATE SET value = 'true'",
                    &[&user_id, &favorite, &channel_id],
                )
                .await?;
            }
        } else {
            db.execute(
                "DELETE FROM preferences WHERE userid = $1 AND category = $2 AND name = ANY($3)",
                &[&user_id, &favorite, &updated.channel_ids],
            )
            .await?;
        }
    }
    for change in changes {
        let (original, _) = &originals[&change.id];
        let current = get(db, &change.id).await?;
        results.push((original.clone(), current));
    }
    stamp_change(db, user_id, now).await?;
    Ok(results)
}

/// Deletes a custom category; its channels fall back to the channels and direct messages
/// categories. `Ok(false)` when it is not a custom category. Run inside a transaction.
pub async fn delete_custom(
    db: &impl GenericClient,
    category: &SidebarCategory,
    now: i64,
) -> StoreResult<bool> {
    if category.category_type != SIDEBAR_CATEGORY_CUSTOM {
        return Ok(false);
    }
    db.execute(
        "DELETE FROM sidebarcategories WHERE id = $1",
        &[&category.id],
    )
    .await?;
    db.execute(
        "DELETE FROM sidebarchannels WHERE categoryid = $1",
        &[&category.id],
    )
    .await?;
    stamp_change(db, &category.user_id, now).await?;
    Ok(true)
}

/// Keeps favorites categories in step with saved `favorite_channel` preferences: "false"
/// takes the channel out of the user's favorites categories, anything else puts it first in
/// them (the team's, or every team's for a direct or group channel). Run in the
/// preferences' transaction.
pub async fn favorites_saved(
    db: &impl GenericClient,
    user_id: &str,
    preferences: &[Preference],
) -> StoreResult<()> {
    for preference in preferences {
        if preference.category != PREFERENCE_CATEGORY_FAVORITE_CHANNEL {
            continue;
        }
        if preference.value == "false" {
            remove_favorite(db, user_id, &preference.name).await?;
            continue;
        }
        db.execute(
            "INSERT INTO sidebarchannels (channelid, userid, categoryid, sortorder) \
             SELECT c.id, sg.userid, sg.id, COALESCE((SELECT min(sortorder) - $4 FROM sidebarchannels \
             WHERE categoryid = sg.id), 0) \
             FROM channels c JOIN sidebarcategories sg ON sg.userid = $1 AND sg.type = $3 \
             AND (c.teamid = '' OR sg.teamid = c.teamid) \
             WHERE c.id = $2 ON CONFLICT DO NOTHING",
            &[
                &user_id,
                &preference.name,
                &SIDEBAR_CATEGORY_FAVORITES,
                &SIDEBAR_SORT_DISTANCE,
            ],
        )
        .await?;
    }
    Ok(())
}

/// Deleted `favorite_channel` preferences take their channels out of favorites.
pub async fn favorites_deleted(
    db: &impl GenericClient,
    user_id: &str,
    preferences: &[Preference],
) -> StoreResult<()> {
    for preference in preferences {
        if preference.category == PREFERENCE_CATEGORY_FAVORITE_CHANNEL {
            remove_favorite(db, user_id, &preference.name).await?;
        }
    }
    Ok(())
}

async fn remove_favorite(
    db: &impl GenericClient,
    user_id: &str,
    channel_id: &str,
) -> StoreResult<()> {
    db.execute(
        "DELETE FROM sidebarchannels sc USING sidebarcategories sg WHERE sc.categoryid = sg.id \
         AND sc.userid = $1 AND sc.channelid = $2 AND sg.type = $3",
        &[&user_id, &channel_id, &SIDEBAR_CATEGORY_FAVORITES],
    )
    .await?;
    Ok(())
}

/// A user who leaves a team loses their categories of it (Mattermost's
/// ClearSidebarOnTeamLeave).
pub async fn clear_team(db: &impl GenericClient, user_id: &str, team_id: &str) -> StoreResult<()> {
    db.execute(
        "DELETE FROM sidebarchannels sc USING sidebarcategories sg WHERE sc.categoryid = sg.id \
         AND sg.userid = $1 AND sg.teamid = $2",
        &[&user_id, &team_id],
    )
    .await?;
    db.execute(
        "DELETE FROM sidebarcategories WHERE userid = $1 AND teamid = $2",
        &[&user_id, &team_id],
    )
    .await?;
    Ok(())
}

/// Records that the user's personal settings (categories, channel member settings) changed at
/// `now`, never moving the stamp back should another node's clock be behind.
pub async fn stamp_change(db: &impl GenericClient, user_id: &str, now: i64) -> StoreResult<()> {
    db.execute(
        "INSERT INTO personalchanges (userid, changedat) VALUES ($1, $2) \
         ON CONFLICT (userid) DO UPDATE \
         SET changedat = GREATEST(personalchanges.changedat, EXCLUDED.changedat)",
        &[&user_id, &now],
    )
    .await?;
    Ok(())
}

//! File infos: the metadata of uploaded files (the bytes live in the file store).

use crate::{one, GenericClient, Record, StoreResult};
use chorus_model::FileInfo;
use tokio_postgres::Row;

const FILE_COLUMNS: &str = "id, creatorid, postid, channelid, createat, updateat, deleteat, path, \
     thumbnailpath, previewpath, name, extension, size, mimetype, width, height, haspreviewimage, \
     minipreview, remoteid, archived";

fn file_from_row(row: &Row) -> FileInfo {
    FileInfo {
        id: row.get("id"),
        creator_id: row.get("creatorid"),
        post_id: row.get("postid"),
        channel_id: row.get("channelid"),
        create_at: row.get("createat"),
        update_at: row.get("updateat"),
        delete_at: row.get("deleteat"),
        path: row.get("path"),
        thumbnail_path: row.get("thumbnailpath"),
        preview_path: row.get("previewpath"),
        name: row.get("name"),
        extension: row.get("extension"),
        size: row.get("size"),
        mime_type: row.get("mimetype"),
        width: row.get("width"),
        height: row.get("height"),
        has_preview_image: row.get("haspreviewimage"),
        mini_preview: row.get("minipreview"),
        remote_id: row.get("remoteid"),
        archived: row.get("archived"),
    }
}

/// Records a stored file. Called only once its bytes (and previews) are in the file store.
pub async fn insert(db: &impl GenericClient, file: &FileInfo) -> StoreResult<()> {
    let statement = db
        .prepare_cached(&format!(
            "INSERT INTO fileinfo ({FILE_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
        ))
        .await?;
    db.execute(
        &statement,
        &[
            &file.id,
            &file.creator_id,
            &file.post_id,
            &file.channel_id,
            &file.create_at,
            &file.update_at,
            &file.delete_at,
            &file.path,
            &file.thumbnail_path,
            &file.preview_path,
            &file.name,
            &file.extension,
            &file.size,
            &file.mime_type,
            &file.width,
            &file.height,
            &file.has_preview_image,
            &file.mini_preview,
            &file.remote_id,
            &file.archived,
        ],
    )
    .await?;
    Ok(())
}

/// A file info, deleted or not (callers decide what a deleted one means).
pub async fn get(db: &impl GenericClient, file_id: &str) -> StoreResult<FileInfo> {
    let statement = db
        .prepare_cached(&format!(
            "SELECT {FILE_COLUMNS} FROM fileinfo WHERE id = $1"
        ))
        .await?;
    let row = db.query_opt(&statement, &[&file_id]).await?;
    one(row.as_ref().map(file_from_row), Record::FileInfo)
}

/// The live files of a post, oldest first.
pub async fn for_post(db: &impl GenericClient, post_id: &str) -> StoreResult<Vec<FileInfo>> {
    let statement = db
        .prepare_cached(&format!(
            "SELECT {FILE_COLUMNS} FROM fileinfo WHERE postid = $1 AND deleteat = 0 ORDER BY createat, id"
        ))
        .await?;
    let rows = db.query(&statement, &[&post_id]).await?;
    Ok(rows.iter().map(file_from_row).collect())
}

/// The live files of several posts (for `metadata.files` of a post list), oldest first.
pub async fn for_posts(db: &impl GenericClient, post_ids: &[String]) -> StoreResult<Vec<FileInfo>> {
    if post_ids.is_empty() {
        return Ok(Vec::new());
    }
    let statement = db
        .prepare_cached(&format!(
            "SELECT {FILE_COLUMNS} FROM fileinfo WHERE postid = ANY($1) AND deleteat = 0 ORDER BY createat, id"
        ))
        .await?;
    let rows = db.query(&statement, &[&post_ids]).await?;
    Ok(rows.iter().map(file_from_row).collect())
}

/// Attaches files to a new post, inside the post's transaction: only live files uploaded by
/// `creator_id` to `channel_id` and not yet attached to any post. Returns the files attached,
/// in the order of `file_ids`; the caller compares with what it asked for.
pub async fn attach_to_post(
    db: &impl GenericClient,
    post_id: &str,
    channel_id: &str,
    creator_id: &str,
    file_ids: &[String],
    now: i64,
) -> StoreResult<Vec<FileInfo>> {
    let statement = db
        .prepare_cached(&format!(
            "UPDATE fileinfo SET postid = $1, updateat = GREATEST($5, updateat + 1) \
             WHERE id = ANY($4) AND channelid = $2 AND creatorid = $3 AND postid = '' AND deleteat = 0 \
             RETURNING {FILE_COLUMNS}"
        ))
        .await?;
    let rows = db
        .query(
            &statement,
            &[&post_id, &channel_id, &creator_id, &file_ids, &now],
        )
        .await?;
    let mut attached: Vec<FileInfo> = rows.iter().map(file_from_row).collect();
    attached.sort_by_key(|file| file_ids.iter().position(|id| *id == file.id));
    Ok(attached)
}

/// Hides the files of a deleted post and of the replies of a deleted thread root.
pub async fn delete_for_post(
    db: &impl GenericClient,
    post_id: &str,
    delete_at: i64,
) -> StoreResult<u64> {
    let statement = db
        .prepare_cached(
            "UPDATE fileinfo SET deleteat = $2, updateat = GREATEST($2, updateat + 1) \
             WHERE deleteat = 0 AND (postid = $1 OR postid IN (SELECT id FROM posts WHERE rootid = $1))",
        )
        .await?;
    Ok(db.execute(&statement, &[&post_id, &delete_at]).await?)
}

/// Files attached to live posts of the channels `user_id` belongs to in a team (and their
/// direct and group channels) whose name contains every term (any term with `or`),
/// case-insensitively, newest first. Terms are bound as parameters.
pub async fn search(
    db: &impl GenericClient,
    user_id: &str,
    team_id: &str,
    terms: &[String],
    or: bool,
    offset: i64,
    limit: i64,
) -> StoreResult<Vec<FileInfo>> {
    let patterns: Vec<String> = terms
        .iter()
        .map(|term| {
            let escaped = term
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        })
        .collect();
    let columns = FILE_COLUMNS
        .split(", ")
        .map(|column| format!("f.{column}"))
        .collect::<Vec<_>>()
        .join(", ");
    let name_matches = if or {
        "lower(f.name) LIKE ANY($3)"
    } else {
        "lower(f.name) LIKE ALL($3)"
    };
    let sql = format!(
        "SELECT {columns} FROM fileinfo f JOIN channels c ON c.id = f.channelid \
         JOIN channelmembers cm ON cm.channelid = f.channelid AND cm.userid = $1 \
         WHERE f.deleteat = 0 AND f.postid <> '' AND c.deleteat = 0 \
         AND (c.teamid = $2 OR c.teamid = '') AND {name_matches} \
         ORDER BY f.createat DESC LIMIT $4 OFFSET $5"
    );
    let rows = db
        .query(&sql, &[&user_id, &team_id, &patterns, &limit, &offset])
        .await?;
    Ok(rows.iter().map(file_from_row).collect())
}

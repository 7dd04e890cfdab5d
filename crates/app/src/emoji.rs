//! Custom emoji: created by any team member (Mattermost's `create_emojis`, a team user
//! permission), deleted by their creator or by a team or system admin (`delete_others_emojis`);
//! every user may list and look them up. `ServiceSettings.EnableCustomEmoji` switches all of it.
//!
//! The image is checked and scaled (`chorus_files::emoji`) on the blocking pool, stored in the
//! shared file store at `emoji/<id>/image` before the row is written (so any node can serve a
//! row's image), and `emoji_added` goes to every connection of every node.

use crate::{App, AppResult};
use bytes::Bytes;
use chorus_files::emoji::{self as emoji_images, EmojiImageError};
use chorus_files::FileError;
use chorus_model::{
    event_names, is_system_emoji_name, is_valid_emoji_name, new_id, now_millis, AppError,
    Broadcast, Emoji, ErrorId, Session, WebSocketEvent, EMOJI_SORT_BY_NAME,
};
use chorus_store::{emoji as emoji_store, teams as team_store, StoreError};

/// At most this many names per POST /emoji/names (Mattermost's `GetEmojisByNamesMax`).
pub const MAX_EMOJI_NAMES: usize = 200;
/// Results of GET /emoji/autocomplete (Mattermost's `EmojiMaxAutocompleteItems`).
const AUTOCOMPLETE_LIMIT: i64 = 100;
/// Results of POST /emoji/search (Mattermost's `PerPageMaximum`).
const SEARCH_LIMIT: i64 = 200;

/// An emoji image to serve.
pub struct EmojiImageContent {
    pub content: Bytes,
    /// `png`, `jpeg` or `gif`.
    pub kind: &'static str,
}

fn emoji_image_path(emoji_id: &str) -> String {
    format!("emoji/{emoji_id}/image")
}

impl App {
    /// 501 for the routes Mattermost's handlers guard, 403 for those its app layer guards.
    fn require_custom_emoji(&self, lookup: bool) -> AppResult<()> {
        if self.config().service_settings.enable_custom_emoji {
            return Ok(());
        }
        Err(if lookup {
            ErrorId::EmojiLookupDisabled.into()
        } else {
            ErrorId::EmojiDisabled.into()
        })
    }

    /// Refuses a POST /emoji before its body is read: the feature off, or a declared length
    /// over `MaxEmojiFileSize` (413).
    pub fn check_emoji_upload(&self, content_length: Option<u64>) -> AppResult<()> {
        self.require_custom_emoji(false)?;
        if content_length.is_some_and(|length| length > emoji_images::MAX_EMOJI_FILE_SIZE) {
            return Err(self.emoji_too_large());
        }
        Ok(())
    }

    pub fn emoji_too_large(&self) -> AppError {
        ErrorId::EmojiTooLarge.with_param("maximum", emoji_images::MAX_EMOJI_FILE_SIZE)
    }

    /// Whether the caller holds `create_emojis` / `delete_emojis` (a team user permission) or,
    /// with `others`, `delete_others_emojis` (a team admin permission) on some team.
    async fn has_emoji_permission(&self, session: &Session, others: bool) -> AppResult<bool> {
        if session.is_system_admin() {
            return Ok(true);
        }
        let db = self.fresh_read(&session.user_id, None).await?;
        let memberships = team_store::list_members_for_user(&db, &session.user_id).await?;
        Ok(memberships
            .iter()
            .any(|member| member.delete_at == 0 && (!others || member.is_team_admin())))
    }

    /// POST /emoji: `emoji` is the multipart `emoji` field (already parsed), `image` the file.
    pub async fn create_emoji(
        &self,
        session: &Session,
        emoji: Emoji,
        image: Option<Bytes>,
    ) -> AppResult<Emoji> {
        self.require_custom_emoji(false)?;
        if !self.has_emoji_permission(session, false).await? {
            return Err(AppError::no_permission());
        }
        let now = now_millis();
        let emoji = Emoji {
            id: new_id(),
            create_at: now,
            update_at: now,
            delete_at: 0,
            creator_id: emoji.creator_id,
            name: emoji.name,
        };
        if emoji.creator_id.len() > 26 || !is_valid_emoji_name(&emoji.name) {
            return Err(ErrorId::EmojiNameRefused.into());
        }
        if is_system_emoji_name(&emoji.name) {
            return Err(ErrorId::EmojiSystemName.into());
        }
        if emoji.creator_id != session.user_id {
            return Err(ErrorId::EmojiForOtherUser.into());
        }
        let db = self.store().master().await?;
        match emoji_store::get_by_name(&db, &emoji.name).await {
            Ok(_) => return Err(ErrorId::EmojiDuplicateName.into()),
            Err(StoreError::NotFound(_)) => {}
            Err(other) => return Err(other.into()),
        }
        drop(db);
        let Some(image) = image else {
            return Err(ErrorId::InvalidBodyParam.with_param("name", "createEmoji"));
        };

        let file_settings = self.config().file_settings.clone();
        let decoders = self.inner.files.image_decoders(&file_settings);
        let permit = decoders
            .acquire_owned()
            .await
            .map_err(|_| AppError::from(ErrorId::EmojiImageStoreFailed))?;
        let prepared = tokio::task::spawn_blocking(move || {
            let prepared = emoji_images::prepare(&image);
            drop(permit);
            prepared
        })
        .await
        .map_err(|error| ErrorId::EmojiImageStoreFailed.with_detail(error.to_string()))?;
        let prepared = match prepared {
            Ok(prepared) => prepared,
            Err(EmojiImageError::NotAnImage(detail)) => {
                return Err(ErrorId::EmojiNotAnImage.with_detail(detail))
            }
            Err(EmojiImageError::TooLarge { width, height }) => {
                return Err(AppError::from(ErrorId::EmojiImageTooLarge)
                    .with_param("max_width", emoji_images::MAX_EMOJI_ORIGINAL_SIDE)
                    .with_param("max_height", emoji_images::MAX_EMOJI_ORIGINAL_SIDE)
                    .with_detail(format!("{width}x{height}")))
            }
            Err(EmojiImageError::Decode(detail)) => {
                return Err(ErrorId::EmojiImageUndecodable.with_detail(detail))
            }
            Err(EmojiImageError::Encode(detail)) => {
                return Err(ErrorId::EmojiImageUnencodable.with_detail(detail))
            }
        };
        self.file_backend()?
            .put(&emoji_image_path(&emoji.id), prepared.content)
            .await
            .map_err(|error| ErrorId::EmojiImageStoreFailed.with_detail(error.to_string()))?;

        let db = self.store().master().await?;
        match emoji_store::insert(&db, &emoji).await {
            Ok(()) => {}
            // Another node took the name between the check and the insert.
            Err(StoreError::Conflict(_)) => return Err(ErrorId::EmojiDuplicateName.into()),
            Err(other) => return Err(other.into()),
        }
        drop(db);
        self.publish(
            WebSocketEvent::new(event_names::EMOJI_ADDED, Broadcast::to_everyone())
                .with("emoji", serde_json::to_string(&emoji).unwrap_or_default()),
        );
        Ok(emoji)
    }

    /// GET /emoji: `sort` is "" or "name".
    pub async fn list_emoji(
        &self,
        session: &Session,
        page: Option<i64>,
        per_page: Option<i64>,
        sort: &str,
    ) -> AppResult<Vec<Emoji>> {
        self.require_custom_emoji(false)?;
        if !sort.is_empty() && sort != EMOJI_SORT_BY_NAME {
            return Err(ErrorId::InvalidUrlParam.with_param("name", "sort"));
        }
        let (offset, limit) = crate::page_window(page, per_page, 60, 200)?;
        let db = self.fresh_read(&session.user_id, None).await?;
        Ok(emoji_store::list(&db, !sort.is_empty(), offset, limit).await?)
    }

    /// A live emoji by id, asking the master when a replica has not seen it yet.
    async fn live_emoji(&self, session: &Session, emoji_id: &str) -> AppResult<Emoji> {
        let db = self.fresh_read(&session.user_id, None).await?;
        match emoji_store::get(&db, emoji_id).await {
            Err(StoreError::NotFound(_)) => {
                drop(db);
                let db = self.store().master().await?;
                Ok(emoji_store::get(&db, emoji_id).await?)
            }
            other => Ok(other?),
        }
    }

    /// GET /emoji/{id}.
    pub async fn get_emoji(&self, session: &Session, emoji_id: &str) -> AppResult<Emoji> {
        self.require_custom_emoji(false)?;
        self.live_emoji(session, emoji_id).await
    }

    /// GET /emoji/name/{name}.
    pub async fn get_emoji_by_name(&self, session: &Session, name: &str) -> AppResult<Emoji> {
        self.require_custom_emoji(true)?;
        let db = self.fresh_read(&session.user_id, None).await?;
        let found = match emoji_store::get_by_name(&db, name).await {
            Err(StoreError::NotFound(_)) => {
                drop(db);
                let db = self.store().master().await?;
                emoji_store::get_by_name(&db, name).await
            }
            other => other,
        };
        match found {
            Ok(emoji) => Ok(emoji),
            Err(StoreError::NotFound(_)) => Err(ErrorId::EmojiNameNotFound.into()),
            Err(other) => Err(other.into()),
        }
    }

    /// POST /emoji/names: the live emoji among `names` (unknown names are left out).
    pub async fn get_emoji_by_names(
        &self,
        session: &Session,
        names: Vec<String>,
    ) -> AppResult<Vec<Emoji>> {
        if names.is_empty() {
            return Err(AppError::invalid_param("names"));
        }
        if names.len() > MAX_EMOJI_NAMES {
            return Err(ErrorId::EmojiNamesTooMany.with_param("maximum", MAX_EMOJI_NAMES));
        }
        self.require_custom_emoji(true)?;
        let db = self.fresh_read(&session.user_id, None).await?;
        Ok(emoji_store::get_by_names(&db, &names).await?)
    }

    /// GET /emoji/{id}/image: the stored bytes and their type.
    pub async fn emoji_image(
        &self,
        session: &Session,
        emoji_id: &str,
    ) -> AppResult<EmojiImageContent> {
        self.require_custom_emoji(false)?;
        self.live_emoji(session, emoji_id).await?;
        let content = self
            .file_backend()?
            .read_all(
                &emoji_image_path(emoji_id),
                emoji_images::MAX_EMOJI_FILE_SIZE * 4,
            )
            .await
            .map_err(|error| ErrorId::EmojiImageMissing.with_detail(error.to_string()))?;
        let kind = emoji_images::kind_of_stored(&content)
            .ok_or_else(|| AppError::from(ErrorId::EmojiImageMissing))?;
        Ok(EmojiImageContent { content, kind })
    }

    /// DELETE /emoji/{id}: by its creator (`delete_emojis`) or a team or system admin
    /// (`delete_others_emojis`). Reactions with its name go with it; the image is kept under
    /// another name, as Mattermost does.
    pub async fn delete_emoji(&self, session: &Session, emoji_id: &str) -> AppResult<()> {
        self.require_custom_emoji(false)?;
        let emoji = self.live_emoji(session, emoji_id).await?;
        if !self.has_emoji_permission(session, false).await? {
            return Err(AppError::no_permission());
        }
        if emoji.creator_id != session.user_id && !self.has_emoji_permission(session, true).await? {
            return Err(AppError::no_permission());
        }
        let mut db = self.store().master().await?;
        emoji_store::delete(&mut db, emoji_id, now_millis()).await?;
        drop(db);
        let backend = self.file_backend()?;
        let path = emoji_image_path(emoji_id);
        let moved = match backend
            .read_all(&path, emoji_images::MAX_EMOJI_FILE_SIZE * 4)
            .await
        {
            Ok(content) => backend
                .put(&format!("emoji/{emoji_id}/image_deleted"), content)
                .await
                .and(backend.delete(&path).await),
            Err(error) => Err(error),
        };
        match moved {
            Ok(()) | Err(FileError::NotFound(_)) => {}
            Err(error) => {
                tracing::warn!(emoji_id, error = %error, "could not move the image of a deleted emoji")
            }
        }
        Ok(())
    }

    /// POST /emoji/search and GET /emoji/autocomplete.
    pub async fn search_emoji(
        &self,
        session: &Session,
        term: &str,
        prefix_only: bool,
        autocomplete: bool,
    ) -> AppResult<Vec<Emoji>> {
        self.require_custom_emoji(true)?;
        let limit = if autocomplete {
            AUTOCOMPLETE_LIMIT
        } else {
            SEARCH_LIMIT
        };
        let db = self.fresh_read(&session.user_id, None).await?;
        Ok(emoji_store::search(&db, term, prefix_only, limit).await?)
    }

    /// A reaction names a system emoji or a live custom emoji (Mattermost's check in
    /// `SaveReactionForPost`).
    pub(crate) async fn require_known_emoji(&self, session: &Session, name: &str) -> AppResult<()> {
        if is_system_emoji_name(name) {
            return Ok(());
        }
        self.require_custom_emoji(true)?;
        match self.get_emoji_by_name(session, name).await {
            Ok(_) => Ok(()),
            Err(error) if error.status_code == 404 => Err(ErrorId::ReactionEmojiNotFound.into()),
            Err(error) => Err(error),
        }
    }
}

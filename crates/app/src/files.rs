//! Files: upload (streamed into the shared file store), download, info, thumbnail, preview and
//! the files of a post. Every read checks that the caller is a member of the file's channel.
//!
//! An upload writes the bytes first and records the `FileInfo` row only once they (and the
//! image previews) are stored, so a row always names a whole object; the object itself becomes
//! visible only when the store finalizes it (see `chorus_files`). A file is attached to a post
//! by `create_post`, in the post's transaction.

use crate::{App, AppResult};
use bytes::Bytes;
use chorus_config::FileSettings;
use chorus_files::{images, FileBackend, FileError};
use chorus_model::{
    is_valid_id, new_id, now_millis, AppError, Channel, ErrorId, FileInfo, FileUploadResponse,
    Session,
};
use chorus_store::files as file_store;
use futures_util::stream::{BoxStream, Stream, StreamExt};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

/// Bytes kept from the start of each upload to read an image's dimensions from its header.
const IMAGE_HEAD_BYTES: usize = 64 * 1024;
/// Images larger than this are stored but get no previews (decoding needs them in memory).
const MAX_PREVIEW_SOURCE_BYTES: u64 = 64 * 1024 * 1024;
/// Longest file name kept (Mattermost's column limit is similar).
const MAX_NAME_CHARS: usize = 255;
const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The file store of this node, rebuilt when `FileSettings` change (config save or reload),
/// and the permits of its image decoders.
#[derive(Default)]
pub(crate) struct FileStoreHandle {
    current: Mutex<Option<(FileSettings, Result<FileBackend, String>)>>,
    /// `FileSettings.MaxImageDecoderConcurrency` permits, sized at first use (a change takes
    /// effect at restart). Each decode holds about 4 bytes a pixel of its image, so this
    /// bounds preview memory at roughly permits × `MaxImageResolution` × 4 bytes.
    image_decoders: std::sync::OnceLock<Arc<tokio::sync::Semaphore>>,
}

impl FileStoreHandle {
    pub(crate) fn image_decoders(&self, settings: &FileSettings) -> Arc<tokio::sync::Semaphore> {
        self.image_decoders
            .get_or_init(|| {
                let permits = if settings.max_image_decoder_concurrency > 0 {
                    settings.max_image_decoder_concurrency as usize
                } else {
                    std::thread::available_parallelism().map_or(1, usize::from)
                };
                Arc::new(tokio::sync::Semaphore::new(permits))
            })
            .clone()
    }
}

/// A file's bytes on their way to a client.
pub struct FileContent {
    pub info: FileInfo,
    /// Length of `stream` in bytes.
    pub size: u64,
    pub stream: BoxStream<'static, Result<Bytes, std::io::Error>>,
    /// `image/jpeg` for thumbnails and previews, else the file's own type.
    pub mime_type: String,
}

/// Which rendition of a file to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRendition {
    Original,
    Thumbnail,
    Preview,
}

/// One POST /files request in progress: files are added one at a time as they stream in.
pub struct FileUpload {
    app: App,
    user_id: String,
    channel: Arc<Channel>,
    backend: FileBackend,
    max_file_size: u64,
    uploaded: Vec<FileInfo>,
}

impl App {
    /// The configured file store (built on first use, and again after FileSettings change).
    pub(crate) fn file_backend(&self) -> AppResult<FileBackend> {
        let settings = self.config().file_settings.clone();
        let mut current = self.inner.files.current.lock();
        let up_to_date = matches!(&*current, Some((built_from, _)) if *built_from == settings);
        if !up_to_date {
            let backend = FileBackend::from_settings(&settings).map_err(|error| error.to_string());
            match &backend {
                Ok(backend) => {
                    tracing::info!(store = %backend.description(), "file store configured")
                }
                Err(error) => tracing::error!(error = %error, "file store misconfigured"),
            }
            *current = Some((settings, backend));
        }
        match &*current {
            Some((_, Ok(backend))) => Ok(backend.clone()),
            Some((_, Err(reason))) => {
                Err(AppError::from(ErrorId::FileBackendMisconfigured).with_detail(reason.clone()))
            }
            None => unreachable!("set above"),
        }
    }

    /// A real write, read and delete on the configured store (for `get_server_status`).
    pub(crate) async fn check_file_store(&self) -> Result<(), String> {
        let backend = self.file_backend().map_err(|error| error.detailed_error)?;
        let probe_name = self.node().node_id.clone();
        match tokio::time::timeout(HEALTH_CHECK_TIMEOUT, backend.health_check(&probe_name)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err("timed out".to_string()),
        }
    }

    /// Refuses an upload before reading its body: attachments disabled (501, as Mattermost),
    /// or a declared length over `MaxFileSize` (413).
    pub fn check_upload_request(&self, content_length: Option<u64>) -> AppResult<()> {
        let settings = &self.config().file_settings;
        if !settings.enable_file_attachments {
            return Err(AppError::from(ErrorId::FileAttachmentsDisabled));
        }
        let limit = settings.max_file_size.max(0) as u64;
        if let Some(length) = content_length.filter(|length| *length > limit) {
            return Err(ErrorId::UploadRequestOverLimit
                .with_param("length", length)
                .with_param("limit", limit));
        }
        Ok(())
    }

    /// Starts an upload into a channel the caller belongs to.
    pub async fn begin_file_upload(
        &self,
        session: &Session,
        channel_id: &str,
    ) -> AppResult<FileUpload> {
        self.check_upload_request(None)?;
        if !is_valid_id(channel_id) {
            return Err(AppError::invalid_param("channel_id"));
        }
        let channel = self.require_channel_member(session, channel_id).await?;
        if channel.delete_at != 0 {
            return Err(AppError::from(ErrorId::UploadToArchivedChannel));
        }
        Ok(FileUpload {
            app: self.clone(),
            user_id: session.user_id.clone(),
            channel,
            backend: self.file_backend()?,
            max_file_size: self.config().file_settings.max_file_size.max(0) as u64,
            uploaded: Vec::new(),
        })
    }

    /// GET /files/{id}/info.
    pub async fn file_info(&self, session: &Session, file_id: &str) -> AppResult<FileInfo> {
        self.readable_file(session, file_id).await
    }

    /// GET /files/{id}, /files/{id}/thumbnail, /files/{id}/preview: the bytes, streamed.
    pub async fn file_content(
        &self,
        session: &Session,
        file_id: &str,
        rendition: FileRendition,
    ) -> AppResult<FileContent> {
        let info = self.readable_file(session, file_id).await?;
        let (path, mime_type) = match rendition {
            FileRendition::Original => (info.path.clone(), info.mime_type.clone()),
            FileRendition::Thumbnail if !info.thumbnail_path.is_empty() => {
                (info.thumbnail_path.clone(), "image/jpeg".to_string())
            }
            FileRendition::Thumbnail => return Err(AppError::from(ErrorId::NoThumbnail)),
            FileRendition::Preview if !info.preview_path.is_empty() => {
                (info.preview_path.clone(), "image/jpeg".to_string())
            }
            FileRendition::Preview => return Err(AppError::from(ErrorId::NoPreview)),
        };
        let reader = self
            .file_backend()?
            .get(&path)
            .await
            .map_err(|error| read_error(&info, error))?;
        let stream = reader
            .stream
            .map(|chunk| chunk.map_err(std::io::Error::other))
            .boxed();
        Ok(FileContent {
            info,
            size: reader.size,
            stream,
            mime_type,
        })
    }

    /// GET /posts/{id}/files/info: the live files of a post the caller may read.
    pub async fn post_file_infos(
        &self,
        session: &Session,
        post_id: &str,
    ) -> AppResult<Vec<FileInfo>> {
        let post = self.readable_post(session, post_id).await?;
        if post.file_ids.is_empty() {
            return Ok(Vec::new());
        }
        let db = self.store().master().await?;
        Ok(file_store::for_post(&db, post_id).await?)
    }

    /// A live file the caller may read: a member of its channel, and, while no post holds the
    /// file yet, its uploader (or a system admin).
    async fn readable_file(&self, session: &Session, file_id: &str) -> AppResult<FileInfo> {
        if !is_valid_id(file_id) {
            return Err(AppError::invalid_param("file_id"));
        }
        // The master: the file may have been uploaded through another node a moment ago.
        let db = self.store().master().await?;
        let info = file_store::get(&db, file_id).await?;
        drop(db);
        if info.delete_at != 0 {
            return Err(AppError::from(ErrorId::FileInfoNotFound));
        }
        self.require_channel_member(session, &info.channel_id)
            .await?;
        if info.post_id.is_empty()
            && info.creator_id != session.user_id
            && !session.is_system_admin()
        {
            return Err(AppError::from(ErrorId::FileNotAttachedYet));
        }
        Ok(info)
    }
}

impl FileUpload {
    pub fn channel_id(&self) -> &str {
        &self.channel.id
    }

    /// Files stored so far.
    pub fn file_count(&self) -> usize {
        self.uploaded.len()
    }

    /// Streams one file into the store, renders its previews if it is an image, then records
    /// it. An error from `body` (a broken request) or a file over `MaxFileSize` abandons the
    /// upload: nothing of this file becomes visible.
    pub async fn add_file<S>(&mut self, file_name: &str, mut body: S) -> AppResult<&FileInfo>
    where
        S: Stream<Item = Result<Bytes, AppError>> + Unpin,
    {
        let name = display_name(file_name)?;
        let extension = extension_of(&name);
        let file_id = new_id();
        let create_at = now_millis();
        let team_segment = if self.channel.team_id.is_empty() {
            "noteam".to_string()
        } else {
            self.channel.team_id.clone()
        };
        let directory = format!(
            "{}/teams/{team_segment}/channels/{}/users/{}/{file_id}",
            date_directory(create_at),
            self.channel.id,
            self.user_id
        );
        let object_name = object_name(&name);
        let path = format!("{directory}/{object_name}");

        let mut writer = self.backend.writer(&path).map_err(store_write_error)?;
        let mut head: Vec<u8> = Vec::new();
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(error) => {
                    writer.abort().await;
                    return Err(error);
                }
            };
            let size_so_far = writer.written() + chunk.len() as u64;
            if size_so_far > self.max_file_size {
                writer.abort().await;
                return Err(too_large(&name, size_so_far, self.max_file_size));
            }
            if head.len() < IMAGE_HEAD_BYTES {
                let wanted = (IMAGE_HEAD_BYTES - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..wanted]);
            }
            if let Err(error) = writer.write(chunk).await {
                writer.abort().await;
                return Err(store_write_error(error));
            }
        }
        let size = writer.finish().await.map_err(store_write_error)?;

        let mut info = FileInfo {
            id: file_id,
            creator_id: self.user_id.clone(),
            channel_id: self.channel.id.clone(),
            post_id: String::new(),
            create_at,
            update_at: create_at,
            delete_at: 0,
            mime_type: chorus_files::mime_type(&extension),
            name,
            extension,
            size: size as i64,
            path,
            ..FileInfo::default()
        };
        if images::is_previewable(&info.extension) {
            let stem = object_name
                .rsplit_once('.')
                .map(|(stem, _)| stem)
                .unwrap_or(&object_name);
            self.add_previews(&mut info, &head, &format!("{directory}/{stem}"))
                .await;
        }

        let db = self.app.store().master().await?;
        file_store::insert(&db, &info).await?;
        drop(db);
        self.uploaded.push(info);
        Ok(self.uploaded.last().expect("just pushed"))
    }

    /// Renders and stores the thumbnail, preview and mini preview. A picture that cannot be
    /// decoded is still a file: failures are logged and the file keeps no previews.
    /// An image over `FileSettings.MaxImageResolution` keeps no previews (as in Mattermost),
    /// and at most `MaxImageDecoderConcurrency` images are read back and decoded at once.
    async fn add_previews(&self, info: &mut FileInfo, head: &[u8], path_stem: &str) {
        let file_settings = self.app.config().file_settings.clone();
        let max_pixels = file_settings.max_image_resolution.max(1) as u64;
        if let Some((width, height)) = images::dimensions(head) {
            info.width = width.min(i32::MAX as u32) as i32;
            info.height = height.min(i32::MAX as u32) as i32;
            if u64::from(width) * u64::from(height) > max_pixels {
                tracing::info!(file_id = %info.id, width, height, "image too large for previews");
                return;
            }
        }
        if info.size as u64 > MAX_PREVIEW_SOURCE_BYTES {
            return;
        }
        let decoders = self.app.inner.files.image_decoders(&file_settings);
        let Ok(decoding_permit) = decoders.acquire_owned().await else {
            return;
        };
        let content = match self
            .backend
            .read_all(&info.path, MAX_PREVIEW_SOURCE_BYTES)
            .await
        {
            Ok(content) => content,
            Err(error) => {
                tracing::warn!(file_id = %info.id, error = %error, "reading an image back for previews failed");
                return;
            }
        };
        // The permit goes with the work: a client that hangs up does not free it early.
        let rendering = tokio::task::spawn_blocking(move || {
            let rendered = images::render(&content, max_pixels);
            drop(decoding_permit);
            rendered
        });
        let rendered = match rendering.await {
            Ok(Ok(rendered)) => rendered,
            Ok(Err(error)) => {
                tracing::info!(file_id = %info.id, error = %error, "no previews for this image");
                return;
            }
            Err(error) => {
                tracing::warn!(file_id = %info.id, error = %error, "rendering previews panicked");
                return;
            }
        };
        let thumbnail_path = format!("{path_stem}_thumb.jpg");
        let preview_path = format!("{path_stem}_preview.jpg");
        let stored = async {
            self.backend
                .put(&thumbnail_path, rendered.thumbnail)
                .await?;
            self.backend.put(&preview_path, rendered.preview).await
        }
        .await;
        if let Err(error) = stored {
            tracing::warn!(file_id = %info.id, error = %error, "storing previews failed");
            return;
        }
        info.width = rendered.width.min(i32::MAX as u32) as i32;
        info.height = rendered.height.min(i32::MAX as u32) as i32;
        info.thumbnail_path = thumbnail_path;
        info.preview_path = preview_path;
        info.has_preview_image = true;
        info.mini_preview = Some(rendered.mini_preview);
    }

    /// The answer of POST /files. `client_ids`, when given, must pair one-to-one with files.
    pub fn finish(self, client_ids: Vec<String>) -> AppResult<FileUploadResponse> {
        if self.uploaded.is_empty() {
            return Err(AppError::from(ErrorId::UploadWithoutFile));
        }
        if !client_ids.is_empty() && client_ids.len() != self.uploaded.len() {
            return Err(ErrorId::UploadClientIdCount
                .with_param("client_ids", client_ids.len())
                .with_param("files", self.uploaded.len()));
        }
        Ok(FileUploadResponse {
            file_infos: self.uploaded,
            client_ids,
        })
    }
}

fn too_large(name: &str, length: u64, limit: u64) -> AppError {
    ErrorId::FileTooLarge
        .with_param("subject", name)
        .with_param("length", length)
        .with_param("limit", limit)
}

fn store_write_error(error: FileError) -> AppError {
    tracing::error!(error = %error, "writing to the file store failed");
    AppError::from(ErrorId::FileStoreWriteFailed).with_detail(error.to_string())
}

fn read_error(info: &FileInfo, error: FileError) -> AppError {
    match error {
        FileError::NotFound(_) => {
            tracing::error!(file_id = %info.id, "file info names an object missing from the file store");
            AppError::from(ErrorId::FileObjectMissing)
        }
        other => {
            tracing::error!(file_id = %info.id, error = %other, "reading from the file store failed");
            AppError::from(ErrorId::FileStoreReadFailed).with_detail(other.to_string())
        }
    }
}

/// The name people see: the last path segment of what the client sent, without control
/// characters, at most `MAX_NAME_CHARS` characters (keeping the extension).
fn display_name(raw: &str) -> AppResult<String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base.chars().filter(|c| !c.is_control()).collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        return Err(AppError::from(ErrorId::UploadFileWithoutName));
    }
    if cleaned.chars().count() <= MAX_NAME_CHARS {
        return Ok(cleaned.to_string());
    }
    let extension = extension_of(cleaned);
    let keep = MAX_NAME_CHARS.saturating_sub(extension.chars().count() + 1);
    let stem: String = cleaned.chars().take(keep).collect();
    Ok(if extension.is_empty() {
        stem
    } else {
        format!("{stem}.{extension}")
    })
}

/// Lower-case extension without the dot ("" when none).
fn extension_of(name: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() && !extension.is_empty() => {
            extension.to_lowercase()
        }
        _ => String::new(),
    }
}

/// The object's last path segment: the display name reduced to characters every store and
/// file system takes, so paths need no escaping anywhere.
fn object_name(display_name: &str) -> String {
    let mut safe: String = display_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = safe.trim_start_matches('.');
    if trimmed.is_empty() {
        return "file".to_string();
    }
    safe = trimmed.to_string();
    if safe.len() > 128 {
        let extension = extension_of(&safe);
        let stem: String = safe.chars().take(100).collect();
        safe = if extension.is_empty() {
            stem
        } else {
            format!("{stem}.{}", &extension[..extension.len().min(20)])
        };
    }
    safe
}

/// `YYYYMMDD` (UTC) of a time in milliseconds: Mattermost's top-level directory.
fn date_directory(millis: i64) -> String {
    let days = millis.div_euclid(86_400_000);
    // Howard Hinnant's civil_from_days.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(date_directory(0), "19700101");
        assert_eq!(date_directory(951_782_400_000), "20000229");
        assert_eq!(date_directory(1_735_689_599_999), "20241231");
        assert_eq!(date_directory(1_735_689_600_000), "20250101");
    }

    #[test]
    fn names_lose_directories_and_object_names_lose_odd_characters() {
        assert_eq!(
            display_name("C:\\Users\\me\\report.PDF").unwrap(),
            "report.PDF"
        );
        assert_eq!(display_name("../../etc/passwd").unwrap(), "passwd");
        assert!(display_name("dir/").is_err());
        assert!(display_name("..").is_err());
        assert_eq!(extension_of("report.PDF"), "pdf");
        assert_eq!(extension_of(".bashrc"), "");
        assert_eq!(object_name("my photo (1).jpg"), "my_photo__1_.jpg");
        assert_eq!(object_name("..."), "file");
        assert_eq!(object_name("résumé.txt"), "r_sum_.txt");
        let long = format!("{}.png", "a".repeat(300));
        assert_eq!(display_name(&long).unwrap().chars().count(), MAX_NAME_CHARS);
        assert!(display_name(&long).unwrap().ends_with(".png"));
        assert!(object_name(&long).len() <= 128);
    }
}

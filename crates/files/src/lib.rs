//! The shared file store: one interface ([`FileBackend`]) over a local directory (a NAS mount
//! shared by every node) or S3-compatible object storage, chosen by `FileSettings.DriverName`.
//!
//! Objects are written through an [`ObjectWriter`] that streams: it holds at most a few parts
//! in memory whatever the file's size, and an object becomes visible only when the writer
//! finishes. A small object is sent with one PUT; a larger one goes to a temporary place first
//! and is finalized in one step (the local driver writes `path#N` and renames it onto `path`; S3
//! parks parts in a multipart upload that becomes the object on `CompleteMultipartUpload`). So a
//! half-finished upload is never readable, and an aborted or interrupted one leaves no object.
//!
//! [`images`] renders thumbnails and previews; [`mime_type`] names a file's type from its
//! extension.
//!
//! Only this crate knows `object_store`. It knows nothing about file infos, posts, channels or
//! permissions: callers hand it paths (`a/b/c.png`, no leading slash) and bytes.

pub mod avatars;
pub mod emoji;
pub mod images;

use bytes::Bytes;
use chorus_config::FileSettings;
use futures_util::stream::{BoxStream, StreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, RetryConfig, WriteMultipart};
use std::sync::Arc;
use std::time::Duration;

/// Why a file store call failed.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// FileSettings cannot describe a usable store (names the key).
    #[error("invalid file settings: {0}")]
    Config(String),
    #[error("no object at {0}")]
    NotFound(String),
    /// A path with empty, `.` or `..` segments, or a leading slash.
    #[error("invalid object path {0:?}")]
    InvalidPath(String),
    /// The store is unreachable or refused the operation.
    #[error("file store error: {0}")]
    Backend(String),
    /// An object exceeded the size the caller allowed.
    #[error("object is larger than {limit} bytes")]
    TooLarge { limit: u64 },
}

pub type FileResult<T> = Result<T, FileError>;

fn backend_error(error: object_store::Error) -> FileError {
    match error {
        object_store::Error::NotFound { path, .. } => FileError::NotFound(path),
        other => FileError::Backend(other.to_string()),
    }
}

/// Which kind of store a backend writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    Local,
    AmazonS3,
}

/// Bytes held before the first part is sent. S3 refuses parts under 5 MiB (except the last).
const S3_PART_SIZE: usize = 5 * 1024 * 1024;
/// The local driver has no minimum; smaller parts keep a streaming upload's memory small.
const LOCAL_PART_SIZE: usize = 1024 * 1024;
/// Parts being sent at once by one writer; with the part being filled this bounds a writer's
/// memory to (PARTS_IN_FLIGHT + 1) × part size.
const PARTS_IN_FLIGHT: usize = 2;
/// Endpoint Mattermost's config has by default; object_store then picks AWS's regional
/// virtual-hosted endpoint itself.
const AWS_DEFAULT_ENDPOINT: &str = "s3.amazonaws.com";

/// A file store: a cheap clonable handle, safe to share between tasks.
#[derive(Clone)]
pub struct FileBackend {
    store: Arc<dyn ObjectStore>,
    driver: Driver,
    part_size: usize,
    description: String,
}

impl std::fmt::Debug for FileBackend {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("FileBackend")
            .field("driver", &self.driver)
            .field("store", &self.description)
            .finish()
    }
}

impl FileBackend {
    /// The backend `FileSettings` describe. Opens no connection: a wrong S3 endpoint or key
    /// shows on the first request (and in [`FileBackend::health_check`]).
    pub fn from_settings(settings: &FileSettings) -> FileResult<FileBackend> {
        match settings.driver_name.as_str() {
            "local" => FileBackend::local(&settings.directory),
            "amazons3" => FileBackend::amazon_s3(settings),
            other => Err(FileError::Config(format!(
                "FileSettings.DriverName: must be \"local\" or \"amazons3\" (got {other:?})"
            ))),
        }
    }

    /// A directory (created when missing). Every node of a cluster must see the same one.
    pub fn local(directory: impl AsRef<std::path::Path>) -> FileResult<FileBackend> {
        let directory = directory.as_ref();
        if directory.as_os_str().is_empty() {
            return Err(FileError::Config(
                "FileSettings.Directory: must be set when DriverName is \"local\"".to_string(),
            ));
        }
        std::fs::create_dir_all(directory).map_err(|error| {
            FileError::Config(format!(
                "FileSettings.Directory: cannot create {}: {error}",
                directory.display()
            ))
        })?;
        let store = LocalFileSystem::new_with_prefix(directory).map_err(|error| {
            FileError::Config(format!(
                "FileSettings.Directory: {}: {error}",
                directory.display()
            ))
        })?;
        Ok(FileBackend {
            store: Arc::new(store),
            driver: Driver::Local,
            part_size: LOCAL_PART_SIZE,
            description: format!("local directory {}", directory.display()),
        })
    }

    /// An S3 bucket (AWS, MinIO, or any S3-compatible server) with Mattermost's settings:
    /// `AmazonS3Endpoint` is a host[:port] whose scheme `AmazonS3SSL` picks; an endpoint other
    /// than AWS's is addressed path-style (`endpoint/bucket/key`), as MinIO expects.
    pub fn amazon_s3(settings: &FileSettings) -> FileResult<FileBackend> {
        if settings.amazon_s3_bucket.is_empty() {
            return Err(FileError::Config(
                "FileSettings.AmazonS3Bucket: must be set when DriverName is \"amazons3\""
                    .to_string(),
            ));
        }
        let region = if settings.amazon_s3_region.is_empty() {
            "us-east-1"
        } else {
            settings.amazon_s3_region.as_str()
        };
        // A few quick retries: an upload or a health check should fail within seconds when the
        // store is down, not after object_store's default three minutes.
        let retry = RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(15),
            ..RetryConfig::default()
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&settings.amazon_s3_bucket)
            .with_region(region)
            .with_retry(retry);
        if !settings.amazon_s3_access_key_id.is_empty() {
            builder = builder
                .with_access_key_id(&settings.amazon_s3_access_key_id)
                .with_secret_access_key(&settings.amazon_s3_secret_access_key);
        }
        let endpoint = settings
            .amazon_s3_endpoint
            .trim()
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/');
        let endpoint_description;
        if endpoint.is_empty() || endpoint == AWS_DEFAULT_ENDPOINT {
            endpoint_description = format!("AWS S3 ({region})");
        } else {
            let scheme = if settings.amazon_s3_ssl {
                "https"
            } else {
                "http"
            };
            endpoint_description = format!("{scheme}://{endpoint}");
            builder = builder
                .with_endpoint(&endpoint_description)
                .with_allow_http(!settings.amazon_s3_ssl)
                .with_virtual_hosted_style_request(false);
        }
        if settings.amazon_s3_sse {
            let encryption_key: AmazonS3ConfigKey = "aws_server_side_encryption"
                .parse()
                .map_err(|error| FileError::Config(format!("FileSettings.AmazonS3SSE: {error}")))?;
            builder = builder.with_config(encryption_key, "AES256");
        }
        if settings.amazon_s3_sign_v2 {
            tracing::warn!("FileSettings.AmazonS3SignV2 is ignored: requests are signed with V4");
        }
        let bucket_store = builder
            .build()
            .map_err(|error| FileError::Config(format!("FileSettings.AmazonS3*: {error}")))?;
        let prefix = settings.amazon_s3_path_prefix.trim_matches('/');
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(bucket_store)
        } else {
            let prefix_path = ObjectPath::parse(prefix).map_err(|error| {
                FileError::Config(format!("FileSettings.AmazonS3PathPrefix: {error}"))
            })?;
            Arc::new(PrefixStore::new(bucket_store, prefix_path))
        };
        Ok(FileBackend {
            store,
            driver: Driver::AmazonS3,
            part_size: S3_PART_SIZE,
            description: format!(
                "S3 bucket {} at {endpoint_description}",
                settings.amazon_s3_bucket
            ),
        })
    }

    pub fn driver(&self) -> Driver {
        self.driver
    }

    /// For logs: the directory or bucket and endpoint, never credentials.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// A streaming writer for `path`. Nothing is visible at `path` until
    /// [`ObjectWriter::finish`] returns; dropping the writer abandons the upload.
    pub fn writer(&self, path: &str) -> FileResult<ObjectWriter> {
        Ok(ObjectWriter {
            store: self.store.clone(),
            location: object_path(path)?,
            part_size: self.part_size,
            state: WriterState::Buffering {
                chunks: Vec::new(),
                length: 0,
            },
            written: 0,
        })
    }

    /// Stores a small object in one request (thumbnails, previews).
    pub async fn put(&self, path: &str, content: Bytes) -> FileResult<()> {
        let location = object_path(path)?;
        self.store
            .put(&location, PutPayload::from_bytes(content))
            .await
            .map_err(backend_error)?;
        Ok(())
    }

    /// Opens an object for streaming.
    pub async fn get(&self, path: &str) -> FileResult<ObjectReader> {
        let location = object_path(path)?;
        let result = self.store.get(&location).await.map_err(backend_error)?;
        let size = result.meta.size;
        let stream = result
            .into_stream()
            .map(|chunk| chunk.map_err(backend_error))
            .boxed();
        Ok(ObjectReader { size, stream })
    }

    /// Reads a whole object, refusing one larger than `max_bytes` before reading it.
    pub async fn read_all(&self, path: &str, max_bytes: u64) -> FileResult<Bytes> {
        let reader = self.get(path).await?;
        if reader.size > max_bytes {
            return Err(FileError::TooLarge { limit: max_bytes });
        }
        let mut content = Vec::with_capacity(reader.size as usize);
        let mut stream = reader.stream;
        while let Some(chunk) = stream.next().await {
            content.extend_from_slice(&chunk?);
            if content.len() as u64 > max_bytes {
                return Err(FileError::TooLarge { limit: max_bytes });
            }
        }
        Ok(Bytes::from(content))
    }

    /// Size of an object, or `NotFound`.
    pub async fn size(&self, path: &str) -> FileResult<u64> {
        let location = object_path(path)?;
        let meta = self.store.head(&location).await.map_err(backend_error)?;
        Ok(meta.size)
    }

    pub async fn exists(&self, path: &str) -> FileResult<bool> {
        match self.size(path).await {
            Ok(_) => Ok(true),
            Err(FileError::NotFound(_)) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Deletes an object; deleting one that is not there succeeds.
    pub async fn delete(&self, path: &str) -> FileResult<()> {
        let location = object_path(path)?;
        match self.store.delete(&location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(other) => Err(backend_error(other)),
        }
    }

    /// Paths of the objects under `prefix` (a directory-like path, no trailing slash).
    pub async fn list(&self, prefix: &str) -> FileResult<Vec<String>> {
        let location = if prefix.is_empty() {
            None
        } else {
            Some(object_path(prefix)?)
        };
        let mut listing = self.store.list(location.as_ref());
        let mut paths = Vec::new();
        while let Some(meta) = listing.next().await {
            paths.push(meta.map_err(backend_error)?.location.to_string());
        }
        paths.sort();
        Ok(paths)
    }

    /// A real write, read and delete of a small object named after `probe_name` (the node
    /// id, so nodes sharing a store do not trip over each other's probes).
    pub async fn health_check(&self, probe_name: &str) -> FileResult<()> {
        let path = format!("health_check_{probe_name}");
        let payload = Bytes::from(format!("chorus file store health check {probe_name}"));
        self.put(&path, payload.clone()).await?;
        let read_back = self.read_all(&path, 4096).await;
        let deleted = self.delete(&path).await;
        if read_back? != payload {
            return Err(FileError::Backend(
                "health check read back different bytes".to_string(),
            ));
        }
        deleted
    }
}

/// The MIME type for a (lower-case, dot-less) extension; `application/octet-stream` when unknown.
pub fn mime_type(extension: &str) -> String {
    mime_guess::from_ext(extension)
        .first_raw()
        .unwrap_or("application/octet-stream")
        .to_string()
}

fn object_path(path: &str) -> FileResult<ObjectPath> {
    let invalid = || FileError::InvalidPath(path.to_string());
    if path.is_empty() || path.starts_with('/') || path.ends_with('/') {
        return Err(invalid());
    }
    ObjectPath::parse(path).map_err(|_| invalid())
}

/// An object being read: its size and its bytes as they arrive.
pub struct ObjectReader {
    pub size: u64,
    pub stream: BoxStream<'static, FileResult<Bytes>>,
}

/// Writes one object in parts. See the crate docs for when the object becomes visible.
pub struct ObjectWriter {
    store: Arc<dyn ObjectStore>,
    location: ObjectPath,
    part_size: usize,
    state: WriterState,
    written: u64,
}

enum WriterState {
    /// Less than a part so far: nothing sent yet (a small object then needs only one PUT).
    Buffering { chunks: Vec<Bytes>, length: usize },
    /// A multipart upload in progress.
    Uploading(WriteMultipart),
    /// Finished or aborted.
    Closed,
}

impl ObjectWriter {
    /// Appends bytes. Waits while too many parts are in flight, so a fast client cannot make
    /// the node buffer a slow store's backlog.
    pub async fn write(&mut self, chunk: Bytes) -> FileResult<()> {
        self.written += chunk.len() as u64;
        match &mut self.state {
            WriterState::Buffering { chunks, length } => {
                *length += chunk.len();
                chunks.push(chunk);
                if *length >= self.part_size {
                    let buffered = std::mem::take(chunks);
                    self.start_multipart(buffered).await?;
                }
                Ok(())
            }
            WriterState::Uploading(upload) => {
                upload
                    .wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(backend_error)?;
                upload.put(chunk);
                Ok(())
            }
            WriterState::Closed => Err(FileError::Backend(
                "write after the upload was closed".to_string(),
            )),
        }
    }

    async fn start_multipart(&mut self, buffered: Vec<Bytes>) -> FileResult<()> {
        let upload = self
            .store
            .put_multipart(&self.location)
            .await
            .map_err(backend_error)?;
        let mut multipart = WriteMultipart::new_with_chunk_size(upload, self.part_size);
        for chunk in buffered {
            multipart.put(chunk);
        }
        self.state = WriterState::Uploading(multipart);
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Makes the object visible at its path, whole. Returns its size.
    pub async fn finish(mut self) -> FileResult<u64> {
        match std::mem::replace(&mut self.state, WriterState::Closed) {
            WriterState::Buffering { chunks, .. } => {
                let payload: PutPayload = chunks.into_iter().collect();
                self.store
                    .put(&self.location, payload)
                    .await
                    .map_err(backend_error)?;
            }
            WriterState::Uploading(upload) => {
                upload.finish().await.map_err(backend_error)?;
            }
            WriterState::Closed => {
                return Err(FileError::Backend(
                    "finish after the upload was closed".to_string(),
                ))
            }
        }
        Ok(self.written)
    }

    /// Abandons the upload and removes what was sent (parts, staging file).
    pub async fn abort(mut self) {
        if let WriterState::Uploading(upload) =
            std::mem::replace(&mut self.state, WriterState::Closed)
        {
            if let Err(error) = upload.abort().await {
                tracing::warn!(path = %self.location, error = %error, "aborting an upload failed");
            }
        }
    }
}

impl Drop for ObjectWriter {
    /// A writer dropped mid-upload (the client went away, the request was cancelled) cleans
    /// up in the background.
    fn drop(&mut self) {
        if let WriterState::Uploading(upload) =
            std::mem::replace(&mut self.state, WriterState::Closed)
        {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let location = self.location.clone();
                runtime.spawn(async move {
                    if let Err(error) = upload.abort().await {
                        tracing::warn!(path = %location, error = %error, "cleaning up an abandoned upload failed");
                    }
                });
            }
        }
    }
}

//! The file backends against a real local directory and a real S3-compatible server (moto,
//! started by `chorus_testkit::S3Server`). Every behaviour is checked on both drivers; "two
//! nodes" here are two backends built from the same settings, as two Chorus nodes would.

use bytes::Bytes;
use chorus_config::FileSettings;
use chorus_files::{Driver, FileBackend, FileError};
use chorus_testkit::{S3Server, S3_ACCESS_KEY_ID, S3_REGION, S3_SECRET_ACCESS_KEY};
use futures_util::StreamExt;
use std::time::Duration;
use tempfile::TempDir;

const MIB: usize = 1024 * 1024;

/// Settings for one store, and what keeps it alive.
struct Fixture {
    settings: FileSettings,
    /// The local directory (None for S3).
    directory: Option<TempDir>,
}

impl Fixture {
    fn local() -> Fixture {
        let directory = tempfile::tempdir().expect("a temp directory");
        let settings = FileSettings {
            driver_name: "local".to_string(),
            directory: directory.path().to_string_lossy().into_owned(),
            ..FileSettings::default()
        };
        Fixture {
            settings,
            directory: Some(directory),
        }
    }

    fn s3() -> Fixture {
        let server = S3Server::shared();
        let bucket = server.new_bucket().expect("creating a bucket");
        Fixture {
            settings: s3_settings(server, &bucket),
            directory: None,
        }
    }

    /// S3 multipart uploads neither completed nor aborted (None for the local driver).
    fn pending_multipart_uploads(&self) -> Option<usize> {
        if self.settings.driver_name != "amazons3" {
            return None;
        }
        Some(
            S3Server::shared()
                .pending_multipart_uploads(&self.settings.amazon_s3_bucket)
                .expect("listing multipart uploads"),
        )
    }

    fn backend(&self) -> FileBackend {
        FileBackend::from_settings(&self.settings).expect("a backend from valid settings")
    }
}

fn s3_settings(server: &S3Server, bucket: &str) -> FileSettings {
    FileSettings {
        driver_name: "amazons3".to_string(),
        amazon_s3_bucket: bucket.to_string(),
        amazon_s3_endpoint: server.endpoint(),
        amazon_s3_ssl: false,
        amazon_s3_region: S3_REGION.to_string(),
        amazon_s3_access_key_id: S3_ACCESS_KEY_ID.to_string(),
        amazon_s3_secret_access_key: S3_SECRET_ACCESS_KEY.to_string(),
        ..FileSettings::default()
    }
}

/// Deterministic, non-repeating-looking bytes: position `offset` of a pseudo-random file.
fn pattern(offset: usize, length: usize) -> Bytes {
    let bytes: Vec<u8> = (offset..offset + length)
        .map(|index| (index.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    Bytes::from(bytes)
}

async fn read_to_vec(backend: &FileBackend, path: &str) -> Vec<u8> {
    let reader = backend.get(path).await.expect("reading the object");
    let declared = reader.size;
    let mut content = Vec::new();
    let mut stream = reader.stream;
    while let Some(chunk) = stream.next().await {
        content.extend_from_slice(&chunk.expect("a chunk"));
    }
    assert_eq!(declared as usize, content.len(), "declared size matches");
    content
}

/// Writes `total` bytes of `pattern` in `chunk`-sized pieces.
async fn write_pattern(
    writer: &mut chorus_files::ObjectWriter,
    total: usize,
    chunk: usize,
) -> Vec<u8> {
    let mut expected = Vec::with_capacity(total);
    let mut offset = 0;
    while offset < total {
        let length = chunk.min(total - offset);
        let piece = pattern(offset, length);
        expected.extend_from_slice(&piece);
        writer.write(piece).await.expect("writing a chunk");
        offset += length;
    }
    expected
}

/// Files under a local directory, recursively (to see staging files object_store hides).
fn files_on_disk(directory: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![directory.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).expect("reading a directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(
                    path.strip_prefix(directory)
                        .expect("under the directory")
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    found.sort();
    found
}

/// Each scenario runs against both drivers.
macro_rules! on_both_drivers {
    ($($name:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Fixture::local()).await;
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Fixture::s3()).await;
                }
            )*
        }
    };
}

on_both_drivers!(
    small_object_round_trip_and_delete,
    large_object_streams_in_parts_and_reads_back_whole,
    unfinished_upload_is_invisible_until_finish,
    aborted_upload_leaves_nothing,
    dropped_writer_leaves_nothing,
    object_written_by_one_node_is_read_by_another,
    missing_object_is_not_found,
    health_check_writes_reads_and_deletes,
    read_all_refuses_objects_over_the_limit,
);

async fn small_object_round_trip_and_delete(fixture: Fixture) {
    let backend = fixture.backend();
    let path = "20240102/teams/t/channels/c/users/u/f/hello.txt";
    let mut writer = backend.writer(path).expect("a writer");
    writer
        .write(Bytes::from_static(b"hello, "))
        .await
        .expect("write");
    writer
        .write(Bytes::from_static(b"world"))
        .await
        .expect("write");
    assert_eq!(writer.finish().await.expect("finish"), 12);

    assert_eq!(read_to_vec(&backend, path).await, b"hello, world");
    assert_eq!(backend.size(path).await.expect("size"), 12);
    assert!(backend.exists(path).await.expect("exists"));
    assert_eq!(
        backend.list("20240102").await.expect("list"),
        vec![path.to_string()]
    );

    backend.delete(path).await.expect("delete");
    assert!(!backend.exists(path).await.expect("exists after delete"));
    backend
        .delete(path)
        .await
        .expect("deleting a missing object succeeds");
}

async fn large_object_streams_in_parts_and_reads_back_whole(fixture: Fixture) {
    let backend = fixture.backend();
    let path = "big/object.bin";
    let total = 12 * MIB + 12345; // three 5 MiB S3 parts, the last one short
    let mut writer = backend.writer(path).expect("a writer");
    let expected = write_pattern(&mut writer, total, 64 * 1024 + 7).await;
    assert_eq!(writer.written(), total as u64);
    assert_eq!(writer.finish().await.expect("finish"), total as u64);
    let content = read_to_vec(&backend, path).await;
    assert!(content == expected, "the object reads back byte for byte");
}

async fn unfinished_upload_is_invisible_until_finish(fixture: Fixture) {
    let backend = fixture.backend();
    let path = "pending/upload.bin";
    let mut writer = backend.writer(path).expect("a writer");
    // More than a part, so the multipart upload has really started sending.
    write_pattern(&mut writer, 6 * MIB, 256 * 1024).await;
    assert!(
        !backend.exists(path).await.expect("exists"),
        "a half-finished upload must not be readable"
    );
    assert!(matches!(
        backend.get(path).await.err(),
        Some(FileError::NotFound(_))
    ));
    assert!(backend.list("pending").await.expect("list").is_empty());
    if let Some(pending) = fixture.pending_multipart_uploads() {
        assert_eq!(
            pending, 1,
            "the bytes sent so far wait in a multipart upload"
        );
    }
    if let Some(directory) = &fixture.directory {
        let on_disk = files_on_disk(directory.path());
        assert!(
            on_disk.len() == 1 && on_disk[0].ends_with("upload.bin#1"),
            "the bytes sent so far wait in a staging file: {on_disk:?}"
        );
    }

    writer.finish().await.expect("finish");
    assert_eq!(backend.size(path).await.expect("size"), 6 * MIB as u64);
    assert_eq!(fixture.pending_multipart_uploads().unwrap_or(0), 0);
}

async fn aborted_upload_leaves_nothing(fixture: Fixture) {
    let backend = fixture.backend();
    let path = "aborted/upload.bin";
    let mut writer = backend.writer(path).expect("a writer");
    write_pattern(&mut writer, 6 * MIB, 512 * 1024).await;
    writer.abort().await;
    assert!(!backend.exists(path).await.expect("exists"));
    assert!(backend.list("aborted").await.expect("list").is_empty());
    assert_eq!(
        fixture.pending_multipart_uploads().unwrap_or(0),
        0,
        "the parts are discarded"
    );
    if let Some(directory) = &fixture.directory {
        assert!(
            files_on_disk(directory.path()).is_empty(),
            "no staging file is left: {:?}",
            files_on_disk(directory.path())
        );
    }
}

async fn dropped_writer_leaves_nothing(fixture: Fixture) {
    let backend = fixture.backend();
    let path = "dropped/upload.bin";
    let mut writer = backend.writer(path).expect("a writer");
    write_pattern(&mut writer, 6 * MIB, MIB).await;
    drop(writer); // as when a client disconnects mid-upload
    assert!(!backend.exists(path).await.expect("exists"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while fixture.pending_multipart_uploads().unwrap_or(0) != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the multipart upload of a dropped writer was not aborted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if let Some(directory) = &fixture.directory {
        // The cleanup runs in the background.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !files_on_disk(directory.path()).is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the staging file of a dropped upload was not removed: {:?}",
                files_on_disk(directory.path())
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn object_written_by_one_node_is_read_by_another(fixture: Fixture) {
    let node_a = fixture.backend();
    let node_b = fixture.backend();
    let path = "shared/from-a.bin";
    let mut writer = node_a.writer(path).expect("a writer");
    let expected = write_pattern(&mut writer, 7 * MIB, 100_000).await;
    writer.finish().await.expect("finish");
    assert!(read_to_vec(&node_b, path).await == expected);
    node_b.delete(path).await.expect("delete through B");
    assert!(!node_a.exists(path).await.expect("exists through A"));
}

async fn missing_object_is_not_found(fixture: Fixture) {
    let backend = fixture.backend();
    assert!(matches!(
        backend.get("no/such/object").await.err(),
        Some(FileError::NotFound(_))
    ));
    assert!(matches!(
        backend.size("no/such/object").await,
        Err(FileError::NotFound(_))
    ));
}

async fn health_check_writes_reads_and_deletes(fixture: Fixture) {
    let backend = fixture.backend();
    backend
        .health_check("node1")
        .await
        .expect("a healthy store");
    assert!(
        backend.list("").await.expect("list").is_empty(),
        "the probe object is deleted"
    );
}

async fn read_all_refuses_objects_over_the_limit(fixture: Fixture) {
    let backend = fixture.backend();
    backend
        .put("limit/ten.bin", Bytes::from_static(b"0123456789"))
        .await
        .expect("put");
    assert_eq!(
        backend.read_all("limit/ten.bin", 10).await.expect("read"),
        Bytes::from_static(b"0123456789")
    );
    assert!(matches!(
        backend.read_all("limit/ten.bin", 9).await,
        Err(FileError::TooLarge { limit: 9 })
    ));
}

#[tokio::test]
async fn settings_choose_the_driver_and_name_the_bad_key() {
    let local = Fixture::local();
    assert_eq!(local.backend().driver(), Driver::Local);
    let s3 = Fixture::s3();
    assert_eq!(s3.backend().driver(), Driver::AmazonS3);

    let unknown = FileSettings {
        driver_name: "ftp".to_string(),
        ..FileSettings::default()
    };
    let error = FileBackend::from_settings(&unknown).expect_err("unknown driver");
    assert!(
        error.to_string().contains("FileSettings.DriverName"),
        "{error}"
    );

    let no_bucket = FileSettings {
        driver_name: "amazons3".to_string(),
        ..FileSettings::default()
    };
    let error = FileBackend::from_settings(&no_bucket).expect_err("no bucket");
    assert!(error.to_string().contains("AmazonS3Bucket"), "{error}");
}

#[tokio::test]
async fn invalid_paths_are_refused() {
    let backend = Fixture::local().backend();
    for path in ["", "/absolute", "a//b", "a/../b", "trailing/"] {
        assert!(
            matches!(backend.writer(path).err(), Some(FileError::InvalidPath(_))),
            "{path:?} must be refused"
        );
    }
}

#[tokio::test]
async fn s3_path_prefix_keeps_objects_under_it() {
    let server = S3Server::shared();
    let bucket = server.new_bucket().expect("a bucket");
    let whole_bucket = FileBackend::from_settings(&s3_settings(server, &bucket)).expect("backend");
    let mut prefixed_settings = s3_settings(server, &bucket);
    prefixed_settings.amazon_s3_path_prefix = "/chorus/prod/".to_string();
    let prefixed = FileBackend::from_settings(&prefixed_settings).expect("prefixed backend");

    prefixed
        .put("a/b.txt", Bytes::from_static(b"prefixed"))
        .await
        .expect("put");
    assert_eq!(
        whole_bucket.list("").await.expect("list"),
        vec!["chorus/prod/a/b.txt".to_string()]
    );
    assert_eq!(
        prefixed.read_all("a/b.txt", 100).await.expect("read"),
        Bytes::from_static(b"prefixed")
    );
}

#[tokio::test]
async fn s3_health_check_fails_when_the_server_is_unreachable() {
    let server = S3Server::shared();
    let mut settings = s3_settings(server, "any-bucket");
    // A port nothing listens on.
    settings.amazon_s3_endpoint = format!("127.0.0.1:{}", chorus_testkit::free_port());
    let backend = FileBackend::from_settings(&settings).expect("settings are valid");
    let outcome = tokio::time::timeout(Duration::from_secs(30), backend.health_check("node1"))
        .await
        .expect("the check gives up within seconds");
    assert!(matches!(outcome, Err(FileError::Backend(_))), "{outcome:?}");
}

#[tokio::test]
async fn s3_health_check_fails_for_a_missing_bucket() {
    let server = S3Server::shared();
    let backend = FileBackend::from_settings(&s3_settings(server, "no-such-bucket-here"))
        .expect("settings are valid");
    assert!(backend.health_check("node1").await.is_err());
}

//! File attachments end to end, through two clustered nodes sharing a database and a file store
//! (a local directory, or an S3 bucket on moto): what one node stores the other serves.

use crate::cluster::{
    add_to_channel, create_channel, expect_error, expect_json, sign_up, Api, Chat, SharedStore,
    TwoNodes,
};
use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::{json, Value};
use std::io::Cursor;
use std::time::Duration;

const MIB: usize = 1024 * 1024;

/// Tests that measure this process's memory run alone; every other test holds a read lock.
static MEMORY_MEASUREMENT: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod local_directory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let _shared = super::MEMORY_MEASUREMENT.read().await;
                    super::$name(super::SharedStore::LocalDirectory).await;
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let _shared = super::MEMORY_MEASUREMENT.read().await;
                    super::$name(super::SharedStore::S3).await;
                }
            )*
        }
    };
}

on_both_stores!(
    file_uploaded_through_node_a_is_served_by_node_b,
    post_attaches_files_and_deleting_it_hides_them,
    oversize_upload_gets_413_and_stores_nothing,
    half_finished_upload_is_never_visible,
    server_status_reports_the_file_store,
);

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, ((x + y) % 239) as u8])
    });
    let mut encoded = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut Cursor::new(&mut encoded), image::ImageFormat::Png)
        .expect("encoding a png");
    encoded
}

fn dimensions_of(image_bytes: &[u8]) -> (u32, u32) {
    let decoded = image::load_from_memory(image_bytes).expect("a decodable image");
    (decoded.width(), decoded.height())
}

/// POST /files with `channel_id`, then `client_ids`, then the files.
async fn upload(
    api: &Api,
    channel_id: &str,
    files: &[(&str, Vec<u8>)],
    client_ids: &[&str],
) -> reqwest::Response {
    let mut form = Form::new().text("channel_id", channel_id.to_string());
    for client_id in client_ids {
        form = form.text("client_ids", client_id.to_string());
    }
    for (name, content) in files {
        form = form.part(
            "files",
            Part::bytes(content.clone()).file_name(name.to_string()),
        );
    }
    api.request(Method::POST, "/files")
        .multipart(form)
        .send()
        .await
        .expect("sending an upload")
}

async fn upload_one(api: &Api, channel_id: &str, name: &str, content: Vec<u8>) -> Value {
    let body = expect_json(upload(api, channel_id, &[(name, content)], &[]).await, 201).await;
    body["file_infos"][0].clone()
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_string()
}

async fn bytes_of(response: reqwest::Response) -> Vec<u8> {
    response.bytes().await.expect("reading the body").to_vec()
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn file_info_rows(nodes: &TwoNodes) -> usize {
    nodes
        .sql("SELECT count(*) FROM fileinfo")
        .parse()
        .expect("a count")
}

async fn file_uploaded_through_node_a_is_served_by_node_b(store: SharedStore) {
    let nodes = TwoNodes::start(store).await;
    let chat = Chat::set_up(&nodes).await;
    let on_a = chat.bob.on(nodes.a());
    let on_b = chat.bob.on(nodes.b());
    let text = b"minutes of the meeting\n".repeat(1000);
    let picture = png(2400, 600);

    let answer = expect_json(
        upload(
            &on_a,
            &chat.channel_id,
            &[
                ("notes.txt", text.clone()),
                ("Wide Photo.PNG", picture.clone()),
            ],
            &["client-1", "client-2"],
        )
        .await,
        201,
    )
    .await;
    assert_eq!(answer["client_ids"], json!(["client-1", "client-2"]));
    let infos = answer["file_infos"].as_array().expect("file_infos");
    assert_eq!(infos.len(), 2);
    let (text_info, picture_info) = (&infos[0], &infos[1]);
    assert_eq!(text_info["name"], "notes.txt");
    assert_eq!(text_info["extension"], "txt");
    assert_eq!(text_info["size"], text.len());
    assert_eq!(text_info["mime_type"], "text/plain");
    assert_eq!(text_info["user_id"], chat.bob.id.as_str());
    assert_eq!(text_info["channel_id"], chat.channel_id.as_str());
    assert_eq!(text_info["post_id"], "");
    assert_eq!(text_info["delete_at"], 0);
    assert!(text_info.get("has_preview_image").is_none());
    assert!(text_info["mini_preview"].is_null());
    assert!(text_info.get("path").is_none(), "store paths stay private");
    assert_eq!(picture_info["name"], "Wide Photo.PNG");
    assert_eq!(picture_info["extension"], "png");
    assert_eq!(picture_info["mime_type"], "image/png");
    assert_eq!(
        (
            picture_info["width"].clone(),
            picture_info["height"].clone()
        ),
        (json!(2400), json!(600))
    );
    assert_eq!(picture_info["has_preview_image"], true);
    assert!(picture_info["mini_preview"]
        .as_str()
        .is_some_and(|text| !text.is_empty()));

    // Node B serves what node A stored.
    let text_id = id_of(text_info);
    let picture_id = id_of(picture_info);
    let info = expect_json(on_b.get(&format!("/files/{text_id}/info")).await, 200).await;
    assert_eq!(&info, text_info);

    let download = on_b.get(&format!("/files/{text_id}")).await;
    assert_eq!(download.status(), 200);
    assert_eq!(header(&download, "content-type"), "text/plain");
    assert_eq!(
        header(&download, "content-disposition"),
        "attachment;filename=\"notes.txt\"; filename*=UTF-8''notes.txt"
    );
    assert_eq!(header(&download, "content-length"), text.len().to_string());
    assert_eq!(header(&download, "x-content-type-options"), "nosniff");
    assert_eq!(bytes_of(download).await, text);

    let original = on_b.get(&format!("/files/{picture_id}")).await;
    assert_eq!(header(&original, "content-type"), "image/png");
    assert!(header(&original, "content-disposition")
        .starts_with("inline;filename=\"Wide%20Photo.PNG\""));
    assert_eq!(bytes_of(original).await, picture);
    let forced = on_b.get(&format!("/files/{picture_id}?download=1")).await;
    assert!(header(&forced, "content-disposition").starts_with("attachment;"));

    let thumbnail = on_b.get(&format!("/files/{picture_id}/thumbnail")).await;
    assert_eq!(thumbnail.status(), 200);
    assert_eq!(header(&thumbnail, "content-type"), "image/jpeg");
    assert_eq!(dimensions_of(&bytes_of(thumbnail).await), (400, 100));
    let preview = on_b.get(&format!("/files/{picture_id}/preview")).await;
    assert_eq!(header(&preview, "content-type"), "image/jpeg");
    assert_eq!(dimensions_of(&bytes_of(preview).await), (1920, 480));

    expect_error(
        on_b.get(&format!("/files/{text_id}/thumbnail")).await,
        400,
        "api.file.get_file_thumbnail.no_thumbnail.app_error",
    )
    .await;
    expect_error(
        on_b.get(&format!("/files/{text_id}/preview")).await,
        400,
        "api.file.get_file_preview.no_preview.app_error",
    )
    .await;
    expect_error(
        on_b.get(&format!("/files/{}/info", chorus_model::new_id()))
            .await,
        404,
        "app.file_info.get.app_error",
    )
    .await;
}

async fn post_attaches_files_and_deleting_it_hides_them(store: SharedStore) {
    let nodes = TwoNodes::start(store).await;
    let chat = Chat::set_up(&nodes).await;
    let bob_on_a = chat.bob.on(nodes.a());
    let bob_on_b = chat.bob.on(nodes.b());
    let first = upload_one(&bob_on_a, &chat.channel_id, "a.txt", b"first".to_vec()).await;
    let second = upload_one(&bob_on_a, &chat.channel_id, "b.png", png(30, 20)).await;
    let file_ids = vec![id_of(&first), id_of(&second)];

    let post = expect_json(
        bob_on_b
            .post(
                "/posts",
                json!({"channel_id": chat.channel_id, "message": "two files", "file_ids": file_ids}),
            )
            .await,
        201,
    )
    .await;
    let post_id = id_of(&post);
    assert_eq!(post["file_ids"], json!(file_ids));
    let attached: Vec<String> = post["metadata"]["files"]
        .as_array()
        .expect("metadata.files")
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(attached, file_ids);

    let infos = expect_json(
        bob_on_a.get(&format!("/posts/{post_id}/files/info")).await,
        200,
    )
    .await;
    assert_eq!(infos.as_array().expect("a list").len(), 2);
    assert!(infos
        .as_array()
        .unwrap()
        .iter()
        .all(|info| info["post_id"] == post_id.as_str()));
    let fetched = expect_json(bob_on_a.get(&format!("/posts/{post_id}")).await, 200).await;
    assert_eq!(
        fetched["metadata"]["files"].as_array().map(Vec::len),
        Some(2)
    );
    let listed = expect_json(
        bob_on_a
            .get(&format!("/channels/{}/posts", chat.channel_id))
            .await,
        200,
    )
    .await;
    assert_eq!(
        listed["posts"][&post_id]["metadata"]["files"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    // A file belongs to one post, its uploader and its channel.
    expect_error(
        bob_on_a
            .post(
                "/posts",
                json!({"channel_id": chat.channel_id, "message": "again", "file_ids": [file_ids[0]]}),
            )
            .await,
        400,
        "app.file_info.attach_to_post.app_error",
    )
    .await;
    let alice_on_a = chat.alice.on(nodes.a());
    let alices = upload_one(&alice_on_a, &chat.channel_id, "c.txt", b"alice's".to_vec()).await;
    expect_error(
        bob_on_a
            .post(
                "/posts",
                json!({"channel_id": chat.channel_id, "message": "not mine", "file_ids": [id_of(&alices)]}),
            )
            .await,
        400,
        "app.file_info.attach_to_post.app_error",
    )
    .await;
    let other_channel = create_channel(&alice_on_a, &chat.team_id, "elsewhere").await;
    add_to_channel(&alice_on_a, &other_channel, &chat.bob).await;
    let elsewhere = upload_one(
        &bob_on_a,
        &other_channel,
        "d.txt",
        b"other channel".to_vec(),
    )
    .await;
    expect_error(
        bob_on_a
            .post(
                "/posts",
                json!({"channel_id": chat.channel_id, "message": "wrong channel", "file_ids": [id_of(&elsewhere)]}),
            )
            .await,
        400,
        "app.file_info.attach_to_post.app_error",
    )
    .await;
    // The refused post was not created (the attach ran in its transaction).
    assert_eq!(
        nodes.sql(
            "SELECT count(*) FROM posts WHERE message IN ('again', 'not mine', 'wrong channel')"
        ),
        "0"
    );
    assert_eq!(
        nodes.sql(&format!(
            "SELECT postid FROM fileinfo WHERE id = '{}'",
            id_of(&elsewhere)
        )),
        ""
    );

    // Deleting the post hides its files everywhere.
    expect_json(bob_on_b.delete(&format!("/posts/{post_id}")).await, 200).await;
    for file_id in &file_ids {
        for path in [
            format!("/files/{file_id}"),
            format!("/files/{file_id}/info"),
            format!("/files/{file_id}/thumbnail"),
        ] {
            let response = bob_on_a.get(&path).await;
            assert_eq!(response.status(), 404, "{path} after the post was deleted");
        }
    }
    assert_eq!(
        bob_on_a
            .get(&format!("/posts/{post_id}/files/info"))
            .await
            .status(),
        404
    );
    assert_eq!(
        nodes.sql(&format!(
            "SELECT count(*) FROM fileinfo WHERE postid = '{post_id}' AND deleteat > 0"
        )),
        "2"
    );
}

async fn oversize_upload_gets_413_and_stores_nothing(store: SharedStore) {
    let nodes = TwoNodes::start_with(store, |config| {
        config.file_settings.max_file_size = MIB as i64;
    })
    .await;
    let chat = Chat::set_up(&nodes).await;
    let on_a = chat.bob.on(nodes.a());

    // Declared too large: refused before the body is read.
    let declared = upload(
        &on_a,
        &chat.channel_id,
        &[("big.bin", vec![7u8; MIB + 1])],
        &[],
    )
    .await;
    let body = expect_error(
        declared,
        413,
        "api.file.upload_file.too_large_detailed.app_error",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("1048576"),
        "{body}"
    );

    // Not declared (chunked): refused while streaming, once the file passes the limit; the node
    // reads the rest of the refused body, so the client gets the answer, not a reset.
    let chunks = futures_util::stream::iter(
        (0..12).map(|_| Ok::<Bytes, std::io::Error>(Bytes::from(vec![9u8; 256 * 1024]))),
    );
    let form = Form::new()
        .text("channel_id", chat.channel_id.clone())
        .part(
            "files",
            Part::stream(reqwest::Body::wrap_stream(chunks)).file_name("streamed.bin"),
        );
    let streamed = on_a
        .request(Method::POST, "/files")
        .multipart(form)
        .send()
        .await
        .expect("the node answers a refused upload");
    let body = expect_error(
        streamed,
        413,
        "api.file.upload_file.too_large_detailed.app_error",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("streamed.bin"),
        "{body}"
    );

    // A file within the limit still goes through.
    upload_one(&on_a, &chat.channel_id, "small.bin", vec![1u8; MIB - 1000]).await;
    assert_eq!(file_info_rows(&nodes).await, 1);
    let stored = nodes.backend().list("").await.expect("listing the store");
    assert_eq!(
        stored.len(),
        1,
        "only the accepted file is stored: {stored:?}"
    );
    assert!(stored[0].ends_with("/small.bin"));
    if store == SharedStore::S3 {
        let pending = chorus_testkit::S3Server::shared()
            .pending_multipart_uploads(&nodes.file_settings.amazon_s3_bucket)
            .expect("listing multipart uploads");
        assert_eq!(pending, 0, "the refused upload's parts are discarded");
    }
}

async fn half_finished_upload_is_never_visible(store: SharedStore) {
    let nodes = TwoNodes::start(store).await;
    let chat = Chat::set_up(&nodes).await;
    let on_a = chat.bob.on(nodes.a());
    let total = 12 * MIB;
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    let body = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    let form = Form::new()
        .text("channel_id", chat.channel_id.clone())
        .part(
            "files",
            Part::stream_with_length(reqwest::Body::wrap_stream(body), total as u64)
                .file_name("slow.bin"),
        );
    let request = on_a.request(Method::POST, "/files").multipart(form);
    let in_flight = tokio::spawn(async move { request.send().await });

    let chunk = Bytes::from(vec![42u8; 64 * 1024]);
    let half = 7 * MIB;
    for _ in 0..half / chunk.len() {
        sender
            .send(Ok(chunk.clone()))
            .await
            .expect("the upload reads on");
    }
    // Wait until the node has started storing (a staging file or a multipart upload).
    let backend = nodes.backend();
    let started = tokio::time::Instant::now();
    loop {
        let storing = match store {
            SharedStore::LocalDirectory => {
                let directory = std::path::PathBuf::from(&nodes.file_settings.directory);
                walk(&directory)
                    .iter()
                    .any(|path| path.contains("slow.bin#"))
            }
            SharedStore::S3 => {
                chorus_testkit::S3Server::shared()
                    .pending_multipart_uploads(&nodes.file_settings.amazon_s3_bucket)
                    .expect("listing multipart uploads")
                    > 0
            }
        };
        if storing {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the upload never reached the store"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        backend.list("").await.expect("listing").is_empty(),
        "nothing is visible mid-upload"
    );
    assert_eq!(file_info_rows(&nodes).await, 0, "no file info mid-upload");

    for _ in 0..(total - half) / chunk.len() {
        sender
            .send(Ok(chunk.clone()))
            .await
            .expect("the upload reads on");
    }
    drop(sender);
    let response = in_flight
        .await
        .expect("the request task")
        .expect("the upload");
    let answer = expect_json(response, 201).await;
    let file_id = id_of(&answer["file_infos"][0]);
    assert_eq!(answer["file_infos"][0]["size"], total);
    let stored = backend.list("").await.expect("listing");
    assert_eq!(stored.len(), 1);
    assert_eq!(backend.size(&stored[0]).await.expect("size"), total as u64);
    let download = chat
        .bob
        .on(nodes.b())
        .get(&format!("/files/{file_id}"))
        .await;
    assert_eq!(header(&download, "content-length"), total.to_string());
}

fn walk(directory: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![directory.to_path_buf()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path.to_string_lossy().into_owned());
            }
        }
    }
    found
}

async fn server_status_reports_the_file_store(store: SharedStore) {
    let nodes = TwoNodes::start(store).await;
    for node in [nodes.a(), nodes.b()] {
        let status = expect_json(
            Api::anonymous(node)
                .get("/system/ping?get_server_status=true&use_rest_semantics=true")
                .await,
            200,
        )
        .await;
        assert_eq!(status["filestore_status"], "OK", "{status}");
    }
    assert!(
        nodes.backend().list("").await.expect("listing").is_empty(),
        "the probe objects are deleted"
    );

    // A store that cannot be written shows as unhealthy.
    let broken = TwoNodes::start_with(store, move |config| match store {
        SharedStore::LocalDirectory => {
            config.file_settings.directory = "/proc/chorus-cannot-write-here".to_string();
        }
        SharedStore::S3 => config.file_settings.amazon_s3_bucket = "no-such-bucket".to_string(),
    })
    .await;
    let status = expect_json(
        Api::anonymous(broken.a())
            .get("/system/ping?get_server_status=true&use_rest_semantics=true")
            .await,
        200,
    )
    .await;
    assert_eq!(status["filestore_status"], "UNHEALTHY", "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_is_checked_on_every_read() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    let nodes = TwoNodes::start(SharedStore::LocalDirectory).await;
    let chat = Chat::set_up(&nodes).await;
    let bob = chat.bob.on(nodes.a());
    let carol = chat.carol.on(nodes.b());
    let picture = upload_one(&bob, &chat.channel_id, "p.png", png(200, 200)).await;
    let file_id = id_of(&picture);
    let reads = [
        format!("/files/{file_id}"),
        format!("/files/{file_id}/info"),
        format!("/files/{file_id}/thumbnail"),
        format!("/files/{file_id}/preview"),
    ];

    // carol is not in the channel: refused, on either node.
    for path in &reads {
        expect_error(
            carol.get(path).await,
            403,
            "api.context.permissions.app_error",
        )
        .await;
    }
    // Uploading needs membership too.
    expect_error(
        upload(&carol, &chat.channel_id, &[("x.txt", b"x".to_vec())], &[]).await,
        403,
        "api.context.permissions.app_error",
    )
    .await;

    // dave joins the channel; he cannot see bob's file before a post holds it, then can.
    let dave = sign_up(nodes.a(), "dave").await;
    let alice = chat.alice.on(nodes.a());
    expect_json(
        alice
            .post(
                &format!("/teams/{}/members", chat.team_id),
                json!({"team_id": chat.team_id, "user_id": dave.id}),
            )
            .await,
        201,
    )
    .await;
    add_to_channel(&alice, &chat.channel_id, &dave).await;
    // dave reads through node A, where his membership changes: node B's member cache learns of
    // changes made on A only once cluster cache invalidation exists (it expires after its TTL
    // until then).
    let dave_on_a = dave.on(nodes.a());
    expect_error(
        dave_on_a.get(&format!("/files/{file_id}/info")).await,
        403,
        "api.context.permissions.app_error",
    )
    .await;
    let post = expect_json(
        bob.post(
            "/posts",
            json!({"channel_id": chat.channel_id, "message": "a picture", "file_ids": [file_id]}),
        )
        .await,
        201,
    )
    .await;
    for path in &reads {
        assert_eq!(dave_on_a.get(path).await.status(), 200, "{path}");
    }
    let post_files = format!("/posts/{}/files/info", id_of(&post));
    assert_eq!(dave_on_a.get(&post_files).await.status(), 200);
    expect_error(
        carol.get(&post_files).await,
        403,
        "api.context.permissions.app_error",
    )
    .await;

    // Leaving the channel takes the access away at once.
    let leave = dave_on_a
        .delete(&format!(
            "/channels/{}/members/{}",
            chat.channel_id, dave.id
        ))
        .await;
    assert_eq!(leave.status(), 200);
    for path in &reads {
        expect_error(
            dave_on_a.get(path).await,
            403,
            "api.context.permissions.app_error",
        )
        .await;
    }

    // No token, no file.
    expect_error(
        Api::anonymous(nodes.b())
            .get(&format!("/files/{file_id}"))
            .await,
        401,
        "api.context.session_expired.app_error",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_or_incomplete_uploads_get_400() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    let nodes = TwoNodes::start(SharedStore::LocalDirectory).await;
    let chat = Chat::set_up(&nodes).await;
    let bob = chat.bob.on(nodes.a());
    let read_request = "api.file.upload_file.read_request.app_error";

    let send_raw = |content_type: &'static str, body: &'static str| {
        bob.request(Method::POST, "/files")
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    // A multipart body that breaks off in the middle of a part.
    let truncated = send_raw(
        "multipart/form-data; boundary=XyZ",
        "--XyZ\r\nContent-Disposition: form-data; name=\"channel_id\"\r\n\r\nabc\r\n--XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.txt\"\r\n\r\nhalf a fi",
    )
    .await
    .expect("sending");
    assert_eq!(truncated.status(), 400);
    // No boundary at all.
    expect_error(
        send_raw("multipart/form-data", "whatever")
            .await
            .expect("sending"),
        400,
        read_request,
    )
    .await;
    // Garbage where the parts should be.
    expect_error(
        send_raw(
            "multipart/form-data; boundary=XyZ",
            "this is not multipart at all",
        )
        .await
        .expect("sending"),
        400,
        read_request,
    )
    .await;

    // Files before channel_id.
    let form = Form::new()
        .part("files", Part::bytes(b"x".to_vec()).file_name("x.txt"))
        .text("channel_id", chat.channel_id.clone());
    expect_error(
        bob.request(Method::POST, "/files")
            .multipart(form)
            .send()
            .await
            .expect("sending"),
        400,
        "api.context.invalid_param.app_error",
    )
    .await;
    // No files.
    let form = Form::new().text("channel_id", chat.channel_id.clone());
    expect_error(
        bob.request(Method::POST, "/files")
            .multipart(form)
            .send()
            .await
            .expect("sending"),
        400,
        "api.file.upload_file.no_file.app_error",
    )
    .await;
    // client_ids that do not pair with the files.
    expect_error(
        upload(
            &bob,
            &chat.channel_id,
            &[("a.txt", b"a".to_vec())],
            &["one", "two"],
        )
        .await,
        400,
        "api.file.upload_file.incorrect_number_of_client_ids.app_error",
    )
    .await;
    // A file without a name.
    expect_error(
        upload(&bob, &chat.channel_id, &[("", b"a".to_vec())], &[]).await,
        400,
        "api.file.upload_file.bad_parse.app_error",
    )
    .await;
    // A malformed channel id.
    expect_error(
        upload(&bob, "not-an-id", &[("a.txt", b"a".to_vec())], &[]).await,
        400,
        "api.context.invalid_param.app_error",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_attachments_get_501() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    let nodes = TwoNodes::start_with(SharedStore::LocalDirectory, |config| {
        config.file_settings.enable_file_attachments = false;
    })
    .await;
    let chat = Chat::set_up(&nodes).await;
    expect_error(
        upload(
            &chat.bob.on(nodes.a()),
            &chat.channel_id,
            &[("a.txt", b"a".to_vec())],
            &[],
        )
        .await,
        501,
        "api.file.attachments.disabled.app_error",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_body_upload_and_safe_download_headers() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    let nodes = TwoNodes::start(SharedStore::LocalDirectory).await;
    let chat = Chat::set_up(&nodes).await;
    let bob = chat.bob.on(nodes.a());
    let page = b"<html><script>alert(1)</script></html>".to_vec();
    let response = bob
        .request(
            Method::POST,
            &format!(
                "/files?channel_id={}&filename=evil%20page.html&client_id=c9",
                chat.channel_id
            ),
        )
        .body(page.clone())
        .send()
        .await
        .expect("sending");
    let answer = expect_json(response, 201).await;
    assert_eq!(answer["client_ids"], json!(["c9"]));
    let info = &answer["file_infos"][0];
    assert_eq!(info["name"], "evil page.html");
    assert_eq!(info["mime_type"], "text/html");

    let download = chat
        .bob
        .on(nodes.b())
        .get(&format!("/files/{}", id_of(info)))
        .await;
    assert_eq!(
        header(&download, "content-type"),
        "text/plain",
        "HTML is never served as HTML"
    );
    assert_eq!(header(&download, "x-frame-options"), "DENY");
    assert_eq!(
        header(&download, "content-disposition"),
        "attachment;filename=\"evil%20page.html\"; filename*=UTF-8''evil%20page.html"
    );
    assert_eq!(bytes_of(download).await, page);

    expect_error(
        bob.request(Method::POST, "/files?filename=a.txt")
            .body("a")
            .send()
            .await
            .expect("sending"),
        400,
        "api.context.invalid_param.app_error",
    )
    .await;
}

/// Peak resident memory of this process since the last reset (VmHWM), in bytes.
fn peak_resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("reading /proc/self/status");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .expect("a VmHWM line");
    let kilobytes: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|value| value.parse().ok())
        .expect("a number of kB");
    kilobytes * 1024
}

/// Sets VmHWM back to the current resident size (Linux `clear_refs` value 5).
fn reset_peak_resident() {
    std::fs::write("/proc/self/clear_refs", "5").expect("resetting the peak RSS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_megabyte_file_streams_through_local_directory_in_flat_memory() {
    // 1 MiB parts, two in flight.
    fifty_megabytes_in_flat_memory(SharedStore::LocalDirectory, 25 * MIB as u64).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_megabyte_file_streams_through_s3_in_flat_memory() {
    // S3's 5 MiB minimum parts, two in flight.
    fifty_megabytes_in_flat_memory(SharedStore::S3, 35 * MIB as u64).await;
}

/// A 50 MB upload through node A and its download through node B, while this process's peak
/// resident memory is watched: nothing may hold the whole file.
async fn fifty_megabytes_in_flat_memory(store: SharedStore, allowed_growth: u64) {
    let _alone = MEMORY_MEASUREMENT.write().await;
    let nodes = TwoNodes::start(store).await;
    let chat = Chat::set_up(&nodes).await;
    let total: usize = 50 * 1000 * 1000;
    let chunk_size = 64 * 1024;
    // Warm up allocator arenas and connection pools with a small upload first.
    upload_one(
        &chat.bob.on(nodes.a()),
        &chat.channel_id,
        "warm.bin",
        vec![0u8; 2 * MIB],
    )
    .await;

    reset_peak_resident();
    let baseline = peak_resident_bytes();
    let generated = futures_util::stream::unfold(0usize, move |offset| async move {
        if offset >= total {
            return None;
        }
        let length = chunk_size.min(total - offset);
        let chunk: Vec<u8> = (offset..offset + length)
            .map(|index| (index % 251) as u8)
            .collect();
        Some((
            Ok::<Bytes, std::io::Error>(Bytes::from(chunk)),
            offset + length,
        ))
    });
    let form = Form::new()
        .text("channel_id", chat.channel_id.clone())
        .part(
            "files",
            Part::stream_with_length(reqwest::Body::wrap_stream(generated), total as u64)
                .file_name("fifty.bin"),
        );
    let response = chat
        .bob
        .on(nodes.a())
        .request(Method::POST, "/files")
        .multipart(form)
        .send()
        .await
        .expect("uploading 50 MB");
    let answer = expect_json(response, 201).await;
    let file_id = id_of(&answer["file_infos"][0]);
    assert_eq!(answer["file_infos"][0]["size"], total);

    let download = chat
        .bob
        .on(nodes.b())
        .get(&format!("/files/{file_id}"))
        .await;
    assert_eq!(download.status(), 200);
    let mut received = 0usize;
    let mut mismatches = 0usize;
    let mut stream = download.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("a chunk");
        for (index, byte) in chunk.iter().enumerate() {
            if *byte != ((received + index) % 251) as u8 {
                mismatches += 1;
            }
        }
        received += chunk.len();
    }
    assert_eq!(received, total);
    assert_eq!(mismatches, 0, "the download is the upload, byte for byte");

    let growth = peak_resident_bytes().saturating_sub(baseline);
    eprintln!(
        "50 MB upload + download ({store:?}): peak resident memory grew by {:.1} MiB",
        growth as f64 / MIB as f64
    );
    assert!(
        growth < allowed_growth,
        "peak resident memory grew by {growth} bytes while 50 MB streamed through: something buffers whole files"
    );
}

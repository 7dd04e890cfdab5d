//! Bounded work per request and the settings that bound it (issue 12, items 8 and 9): each
//! test names one behaviour and fails without it.
//!
//! Nodes come from testkit's `Sandbox`; the helpers right below set up what most tests share.

use std::time::Duration;

use chorus_config::Config;
use serde_json::json;

use chorus_testkit::client::{id_of, Api, Reply, TestUser, PASSWORD};
use chorus_testkit::socket::EventSocket;
use chorus_testkit::{Endpoint, Sandbox};

/// Tests that measure this process's memory run alone; every other test here holds a read
/// lock.
static MEMORY_MEASUREMENT: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// A node with `change` applied to the test config.
async fn node_with(change: impl FnOnce(&mut Config) + Send + 'static) -> Sandbox {
    Sandbox::builder().configure(change).start().await
}

/// The first user (system admin) and a member of their team "crew"; the team and its
/// town-square.
async fn admin_and_member(server: &Sandbox) -> (TestUser, TestUser, String, String) {
    let admin = server.signup("admin").await;
    let member = server.signup("member").await;
    let team_id = id_of(&admin.create_team("crew", "O").await);
    admin.add_to_team(&team_id, &member.id).await;
    let town_square = id_of(&admin.channel_by_name(&team_id, "town-square").await);
    (admin, member, team_id, town_square)
}

/// The node's database, to set up what no request can.
fn store_of(server: &Sandbox) -> chorus_store::Store {
    chorus_store::Store::connect(&chorus_config::SqlSettings {
        data_source: server.database_url(),
        ..chorus_config::SqlSettings::default()
    })
    .expect("a store on the test database")
}

async fn search(api: &Api, team_id: &str, terms: &str) -> Reply {
    api.post(
        &format!("/teams/{team_id}/posts/search"),
        json!({"terms": terms, "is_or_search": true}),
    )
    .await
}

async fn upload_raw(api: &Api, channel_id: &str, file_name: &str, content: Vec<u8>) -> Reply {
    api.send(
        api.request(
            reqwest::Method::POST,
            &format!("/files?channel_id={channel_id}&filename={file_name}"),
        )
        // Ten large decodes queue behind two decoders on a shared machine.
        .timeout(Duration::from_secs(600))
        .body(content),
    )
    .await
}

/// A PNG of `width`×`height` that compresses to almost nothing: one colour, half transparent.
fn flat_png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbaImage::from_pixel(width, height, image::Rgba([200, 30, 90, 128]));
    let mut encoded = Vec::new();
    image::DynamicImage::ImageRgba8(image)
        .write_to(
            &mut std::io::Cursor::new(&mut encoded),
            image::ImageFormat::Png,
        )
        .expect("encoding a png");
    encoded
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

const MIB: u64 = 1024 * 1024;

// ---- item 8: bounded work per request ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_image_uploads_are_decoded_in_bounded_memory() {
    let _alone = MEMORY_MEASUREMENT.write().await;
    // Two decoders, as on a 2-CPU node, whatever this machine has.
    let server = node_with(|config| config.file_settings.max_image_decoder_concurrency = 2).await;
    let (_admin, member, _team_id, town_square) = admin_and_member(&server).await;
    // The largest image Mattermost previews by default, 7680×4320, in about 130 KB.
    let hostile = flat_png(7680, 4320);
    eprintln!("hostile PNG: {} KB", hostile.len() / 1024);
    upload_raw(&member.api, &town_square, "warm.png", flat_png(64, 64))
        .await
        .expect_status(201);

    reset_peak_resident();
    let baseline = peak_resident_bytes();
    let mut uploads = Vec::new();
    for index in 0..10 {
        let api = member.api.clone();
        let channel_id = town_square.clone();
        let content = hostile.clone();
        uploads.push(tokio::spawn(async move {
            upload_raw(&api, &channel_id, &format!("hostile-{index}.png"), content).await
        }));
    }
    let started = std::time::Instant::now();
    for upload in uploads {
        let answer = upload.await.expect("upload task").expect_status(201);
        assert_eq!(answer["file_infos"][0]["width"], 7680, "{answer}");
        assert_eq!(
            answer["file_infos"][0]["has_preview_image"], true,
            "{answer}"
        );
    }
    let growth = peak_resident_bytes().saturating_sub(baseline);
    eprintln!(
        "10 concurrent 7680x4320 PNG uploads: peak resident memory grew by {} MiB in {:?}",
        growth / MIB,
        started.elapsed()
    );
    // Two decodes at ~133 MB each (8-bit RGBA, flattened in place) plus their sources.
    assert!(
        growth < 400 * MIB,
        "peak resident memory grew by {} MiB for 10 hostile uploads",
        growth / MIB
    );
}

#[tokio::test]
async fn an_image_over_the_max_resolution_is_stored_without_previews() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    let server = node_with(|config| config.file_settings.max_image_resolution = 100 * 100).await;
    let (_admin, member, _team_id, town_square) = admin_and_member(&server).await;
    let answer = upload_raw(&member.api, &town_square, "big.png", flat_png(200, 150))
        .await
        .expect_status(201);
    let info = &answer["file_infos"][0];
    assert_eq!(
        (info["width"].as_i64(), info["height"].as_i64()),
        (Some(200), Some(150))
    );
    assert_ne!(info["has_preview_image"], true, "{info}");
    let file_id = id_of(info);
    member
        .api
        .get(&format!("/files/{file_id}/preview"))
        .await
        .expect_error(400);
    let original = member.api.get(&format!("/files/{file_id}")).await;
    assert_eq!(original.status, 200, "the file itself is stored");

    let small = upload_raw(&member.api, &town_square, "small.png", flat_png(80, 60))
        .await
        .expect_status(201);
    assert_eq!(small["file_infos"][0]["has_preview_image"], true, "{small}");
}

#[tokio::test]
async fn search_with_too_many_or_too_long_terms_is_a_400_not_a_database_error() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    let server = Sandbox::start().await;
    let (_admin, member, team_id, town_square) = admin_and_member(&server).await;
    member.post(&town_square, "needle in a haystack").await;

    let long_prefix = format!("{}*", "a".repeat(3000));
    let many_words: Vec<String> = (0..2000).map(|index| format!("word{index}")).collect();
    let long_phrase = format!("\"{}\"", "b ".repeat(2000));
    for terms in [long_prefix, many_words.join(" "), long_phrase] {
        let reply = search(&member.api, &team_id, &terms).await;
        assert_eq!(
            reply.expect_error(400),
            "api.context.invalid_param.app_error",
            "{reply:?}"
        );
        let detail = reply.json["detailed_error"].as_str().unwrap_or_default();
        assert!(
            !detail.to_lowercase().contains("tsquery") && !detail.contains("db error"),
            "the database's words reached the client: {detail}"
        );
    }
    let found = search(&member.api, &team_id, "needle")
        .await
        .expect_status(200);
    assert_eq!(found["order"].as_array().map(Vec::len), Some(1), "{found}");
}

#[tokio::test]
async fn user_props_timezone_and_notify_props_sizes_are_limited() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    let server = Sandbox::start().await;
    let (_admin, member, _team_id, _town_square) = admin_and_member(&server).await;
    let big_value = "x".repeat(40 * 1024);

    let created = server
        .anonymous()
        .post(
            "/users",
            json!({
                "username": "hoarder",
                "email": "hoarder@example.com",
                "password": PASSWORD,
                "props": {"blob": big_value},
            }),
        )
        .await;
    assert_eq!(
        created.expect_error(400),
        "model.user.is_valid.props_limit.app_error"
    );

    let patched = member
        .api
        .put(
            "/users/me/patch",
            json!({"timezone": {"manualTimezone": "x".repeat(300)}}),
        )
        .await;
    assert_eq!(
        patched.expect_error(400),
        "model.user.is_valid.timezone_limit.app_error"
    );

    let updated = member
        .api
        .put(
            &format!("/users/{}", member.id),
            json!({"id": member.id, "notify_props": {"mention_keys": big_value}}),
        )
        .await;
    assert_eq!(
        updated.expect_error(400),
        "model.user.is_valid.notify_props_limit.app_error"
    );

    // Ordinary sizes still pass.
    member
        .api
        .put(
            "/users/me/patch",
            json!({"timezone": {"useAutomaticTimezone": "true", "automaticTimezone": "Europe/Paris", "manualTimezone": ""}}),
        )
        .await
        .expect_status(200);
}

#[tokio::test]
async fn user_typing_with_a_malformed_parent_id_is_refused() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    let server = Sandbox::start().await;
    let (admin, member, _team_id, town_square) = admin_and_member(&server).await;
    let mut typer = EventSocket::connect(&server, &member.token).await;
    let mut watcher = EventSocket::connect(&server, &admin.token).await;

    let seq = typer
        .send_action(
            "user_typing",
            json!({"channel_id": town_square, "parent_id": "<img src=x onerror=alert(1)>"}),
        )
        .await;
    let reply = typer.wait_for_reply(seq).await;
    assert_eq!(reply["status"], "FAIL", "{reply}");

    let root_id = id_of(&admin.post(&town_square, "a thread").await);
    let seq = typer
        .send_action(
            "user_typing",
            json!({"channel_id": town_square, "parent_id": root_id}),
        )
        .await;
    let reply = typer.wait_for_reply(seq).await;
    assert_eq!(reply["status"], "OK", "{reply}");
    let typing = watcher.wait_for("typing").await;
    assert_eq!(typing["data"]["parent_id"], root_id.as_str(), "{typing}");
}

// ---- item 9: settings parsed and enforced ----

#[tokio::test]
async fn post_search_can_be_disabled() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    let server = node_with(|config| config.service_settings.enable_post_search = false).await;
    let (_admin, member, team_id, _town_square) = admin_and_member(&server).await;
    let reply = search(&member.api, &team_id, "anything").await;
    assert_eq!(reply.expect_error(501), "store.sql_post.search.disabled");
}

#[tokio::test]
async fn sign_up_is_restricted_to_the_configured_domains() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    let server = node_with(|config| {
        config.team_settings.restrict_creation_to_domains = "example.com, corp.test".to_string()
    })
    .await;
    let admin = server.signup("admin").await;
    let outsider = server
        .anonymous()
        .post(
            "/users",
            json!({"username": "outsider", "email": "outsider@elsewhere.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        outsider.expect_error(400),
        "api.user.create_user.accepted_domain.app_error"
    );
    server
        .anonymous()
        .post(
            "/users",
            json!({"username": "insider", "email": "insider@corp.test", "password": PASSWORD}),
        )
        .await
        .expect_status(201);
    // An admin may create anyone.
    admin
        .api
        .post(
            "/users",
            json!({"username": "guest", "email": "guest@elsewhere.test", "password": PASSWORD}),
        )
        .await
        .expect_status(201);
}

#[tokio::test]
async fn sign_in_with_username_or_email_can_be_disabled() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    let server =
        node_with(|config| config.email_settings.enable_sign_in_with_username = false).await;
    server.create_account("alice").await;
    let by_username = server.login("alice", PASSWORD).await;
    assert_eq!(
        by_username.expect_error(401),
        "api.user.login.invalid_credentials_email_username"
    );
    server
        .login("alice@example.com", PASSWORD)
        .await
        .expect_status(200);

    let server = node_with(|config| config.email_settings.enable_sign_in_with_email = false).await;
    server.create_account("bob").await;
    let by_email = server.login("bob@example.com", PASSWORD).await;
    assert_eq!(
        by_email.expect_error(401),
        "api.user.login.invalid_credentials_email_username"
    );
    server.login("bob", PASSWORD).await.expect_status(200);
}

#[tokio::test]
async fn direct_messages_can_be_restricted_to_teammates() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    let server =
        node_with(|config| config.team_settings.restrict_direct_message = "team".to_string()).await;
    let (admin, member, _team_id, _town_square) = admin_and_member(&server).await;
    let stranger = server.signup("stranger").await;

    let refused = member
        .api
        .post("/channels/direct", json!([member.id, stranger.id]))
        .await;
    assert_eq!(
        refused.expect_error(403),
        "api.channel.create_channel.direct_channel.team_restricted_error"
    );
    member
        .api
        .post("/channels/direct", json!([member.id, admin.id]))
        .await
        .expect_status(201);
    // A system admin is not restricted.
    admin
        .api
        .post("/channels/direct", json!([admin.id, stranger.id]))
        .await
        .expect_status(201);
}

#[tokio::test]
async fn post_edit_time_limit_stops_late_edits() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    let server = node_with(|config| config.service_settings.post_edit_time_limit = 1).await;
    let (_admin, member, _team_id, town_square) = admin_and_member(&server).await;
    let early = id_of(&member.post(&town_square, "first draft").await);
    member
        .api
        .put(
            &format!("/posts/{early}/patch"),
            json!({"message": "second draft"}),
        )
        .await
        .expect_status(200);

    tokio::time::sleep(Duration::from_millis(1200)).await;
    let late = member
        .api
        .put(
            &format!("/posts/{early}/patch"),
            json!({"message": "too late"}),
        )
        .await;
    assert_eq!(
        late.expect_error(400),
        "api.post.update_post.permissions_time_limit.app_error"
    );
    // Pinning is not an edit of the message.
    member
        .api
        .put(&format!("/posts/{early}/patch"), json!({"is_pinned": true}))
        .await
        .expect_status(200);
}

#[tokio::test]
async fn channels_per_team_are_limited() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    // Town square and off-topic, plus one more.
    let server = node_with(|config| config.team_settings.max_channels_per_team = 3).await;
    let (_admin, member, team_id, _town_square) = admin_and_member(&server).await;
    member.create_channel(&team_id, "third", "O").await;
    let refused = member
        .api
        .post(
            "/channels",
            json!({"team_id": team_id, "name": "fourth", "display_name": "Fourth", "type": "P"}),
        )
        .await;
    assert_eq!(
        refused.expect_error(400),
        "store.sql_channel.save_channel.limit.app_error"
    );
}

#[tokio::test]
async fn idle_web_sessions_expire() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    let server = node_with(|config| {
        config.service_settings.session_idle_timeout_in_minutes = 10;
        config.service_settings.extend_session_length_with_activity = false;
    })
    .await;
    let (admin, member, _team_id, _town_square) = admin_and_member(&server).await;
    member.api.get("/users/me").await.expect_status(200);

    // The member's session was last active an hour ago.
    let sessions = member
        .api
        .get(&format!("/users/{}/sessions", member.id))
        .await
        .expect_status(200);
    let session_id = id_of(&sessions[0]);
    let db = store_of(&server).master().await.expect("a connection");
    let an_hour_ago = chorus_model::now_millis() - 3_600_000;
    chorus_store::sessions::touch(&db, &session_id, an_hour_ago)
        .await
        .expect("backdating the session");
    admin
        .api
        .post("/caches/invalidate", json!({}))
        .await
        .expect_status(200);

    let reply = member.api.get("/users/me").await;
    assert_eq!(reply.expect_error(401), "api.context.invalid_token.error");
    assert!(
        chorus_store::sessions::get(&db, &session_id).await.is_err(),
        "the idle session is revoked"
    );
    admin.api.get("/users/me").await.expect_status(200);
}

#[tokio::test]
async fn access_tokens_in_use_stop_working_when_tokens_are_disabled() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    let server =
        node_with(|config| config.service_settings.enable_user_access_tokens = false).await;
    let (admin, _member, _team_id, _town_square) = admin_and_member(&server).await;
    // A token used while tokens were enabled left its session behind (nodes restarted since
    // with EnableUserAccessTokens off).
    let token = chorus_model::new_id();
    let mut props = serde_json::Map::new();
    props.insert("type".into(), "UserAccessToken".into());
    let now = chorus_model::now_millis();
    let token_session = chorus_model::Session {
        id: chorus_model::new_id(),
        token: token.clone(),
        create_at: now,
        last_activity_at: now,
        user_id: admin.id.clone(),
        roles: "system_admin system_user".to_string(),
        props,
        ..Default::default()
    };
    let db = store_of(&server).master().await.expect("a connection");
    chorus_store::sessions::insert(&db, &token_session)
        .await
        .expect("storing the token's session");

    let reply = server.anonymous().with_token(&token).get("/users/me").await;
    assert_eq!(
        reply.expect_error(401),
        "app.user_access_token.invalid_or_missing"
    );
    admin.api.get("/users/me").await.expect_status(200);
}

#[tokio::test]
async fn config_validate_warns_about_unsupported_settings() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    let directory = tempfile::tempdir().expect("a temp directory");
    let path = directory.path().join("config.json");
    let mut config = Config::default();
    config.email_settings.require_email_verification = true;
    config.log_settings.enable_color = true;
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&config).expect("config as JSON"),
    )
    .expect("writing config.json");

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_chorus"))
        .arg("--config")
        .arg(&path)
        .args(["config", "validate"])
        .env_remove("MM_CONFIG")
        .output()
        .expect("running chorus config validate");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let warnings: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("warning: "))
        .collect();
    assert_eq!(warnings.len(), 2, "{stdout}");
    assert!(
        warnings[0].contains("LogSettings.EnableColor")
            && warnings[1].contains("EmailSettings.RequireEmailVerification"),
        "{stdout}"
    );
    assert!(stdout.contains(": valid"), "{stdout}");
}

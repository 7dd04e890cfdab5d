//! Custom emoji and collapsed reply threads (issue 13): Mattermost's paths, shapes,
//! permissions, error ids and websocket events, across nodes where it matters.

use reqwest::Method;
use serde_json::{json, Value};

use chorus_testkit::client::{id_of, Api, TestUser};
use chorus_testkit::socket::EventSocket;
use chorus_testkit::{Endpoint, Sandbox};

fn png(width: u32, height: u32) -> Vec<u8> {
    let picture = image::RgbaImage::from_pixel(width, height, image::Rgba([30, 160, 90, 255]));
    let mut encoded = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgba8(picture)
        .write_to(&mut encoded, image::ImageFormat::Png)
        .expect("a PNG");
    encoded.into_inner()
}

/// POST /emoji as the official clients send it: the picture under `image`, the emoji as JSON
/// under `emoji`. Returns (status, body).
async fn create_emoji(api: &Api, emoji: Value, image: &[u8]) -> (u16, Value) {
    let boundary = "chorus-emoji-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"emoji.png\"\r\nContent-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(image);
    body.extend_from_slice(
        format!(
            "\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"emoji\"\r\n\r\n{emoji}\r\n--{boundary}--\r\n"
        )
        .as_bytes(),
    );
    let response = api
        .request(Method::POST, "/emoji")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .expect("an answer");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// GET /emoji/{id}/image: status, content type and bytes.
async fn emoji_image(api: &Api, emoji_id: &str) -> (u16, String, Vec<u8>) {
    let response = api
        .request(Method::GET, &format!("/emoji/{emoji_id}/image"))
        .send()
        .await
        .expect("an answer");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (
        status,
        content_type,
        response.bytes().await.unwrap().to_vec(),
    )
}

fn names_of(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|emoji| emoji["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn custom_emoji_are_created_found_searched_reacted_with_and_deleted() {
    let server = Sandbox::start().await;
    let admin = server.signup("emojiadmin").await;
    let alice = server.signup("alice").await;
    let carol = server.signup("carol").await;
    let loner = server.signup("loner").await;
    let team_id = id_of(&admin.create_team("emojis", "O").await);
    admin.add_to_team(&team_id, &alice.id).await;
    admin.add_to_team(&team_id, &carol.id).await;
    let mut loner_socket = EventSocket::connect(&server, &loner.token).await;

    let (status, created) = create_emoji(
        &alice.api,
        json!({"creator_id": alice.id, "name": "party_parrot"}),
        &png(32, 32),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let emoji_id = id_of(&created);
    assert_eq!(created["creator_id"], alice.id.as_str());
    assert_eq!(created["name"], "party_parrot");
    assert_eq!(created["delete_at"], 0);
    assert!(created["create_at"].as_i64().unwrap() > 0);
    assert_eq!(created["update_at"], created["create_at"]);

    // emoji_added reaches everyone, even a user in no team.
    let added = loner_socket.wait_for("emoji_added").await;
    let announced: Value = serde_json::from_str(added["data"]["emoji"].as_str().unwrap()).unwrap();
    assert_eq!(announced, created);

    // Bad input, with Mattermost's ids.
    let cases = [
        (
            &loner.api,
            json!({"creator_id": loner.id, "name": "lonely"}),
            png(8, 8),
            403,
            "api.context.permissions.app_error",
        ),
        (
            &alice.api,
            json!({"creator_id": alice.id, "name": "party_parrot"}),
            png(8, 8),
            400,
            "api.emoji.create.duplicate.app_error",
        ),
        (
            &alice.api,
            json!({"creator_id": alice.id, "name": "smile"}),
            png(8, 8),
            400,
            "model.emoji.system_emoji_name.app_error",
        ),
        (
            &alice.api,
            json!({"creator_id": alice.id, "name": "no spaces!"}),
            png(8, 8),
            400,
            "model.emoji.name.app_error",
        ),
        (
            &alice.api,
            json!({"creator_id": carol.id, "name": "for_carol"}),
            png(8, 8),
            403,
            "api.emoji.create.other_user.app_error",
        ),
        (
            &alice.api,
            json!({"creator_id": alice.id, "name": "not_a_picture"}),
            b"GIF? no, just text".to_vec(),
            400,
            "api.emoji.upload.image.app_error",
        ),
        (
            &alice.api,
            json!({"creator_id": alice.id, "name": "too_wide"}),
            png(1100, 4),
            400,
            "api.emoji.upload.large_image.too_large.app_error",
        ),
        (
            &alice.api,
            json!({"creator_id": alice.id, "name": "too_heavy"}),
            vec![7u8; 600 * 1024],
            413,
            "api.emoji.create.too_large.app_error",
        ),
    ];
    for (api, emoji, image, status, error_id) in cases {
        let (got_status, body) = create_emoji(api, emoji.clone(), &image).await;
        assert_eq!(
            (got_status, body["id"].as_str()),
            (status, Some(error_id)),
            "{emoji}: {body}"
        );
        assert_eq!(body["status_code"], status);
    }

    // A large picture is scaled to fit 128×128 and served as PNG.
    let (status, big) = create_emoji(
        &carol.api,
        json!({"creator_id": carol.id, "name": "big-wave"}),
        &png(512, 256),
    )
    .await;
    assert_eq!(status, 200, "{big}");
    let (status, content_type, bytes) = emoji_image(&alice.api, &id_of(&big)).await;
    assert_eq!((status, content_type.as_str()), (200, "image/png"));
    let served = image::load_from_memory(&bytes).expect("an image");
    assert_eq!((served.width(), served.height()), (128, 64));
    let (_, _, small_bytes) = emoji_image(&loner.api, &emoji_id).await;
    assert_eq!(small_bytes, png(32, 32), "a small picture is kept as sent");

    // Lookups and lists.
    let by_id = alice
        .api
        .get(&format!("/emoji/{emoji_id}"))
        .await
        .expect_status(200);
    assert_eq!(by_id, created);
    let by_name = loner
        .api
        .get("/emoji/name/party_parrot")
        .await
        .expect_status(200);
    assert_eq!(by_name, created);
    let missing = loner.api.get("/emoji/name/nobody_made_this").await;
    assert_eq!(missing.expect_error(404), "app.emoji.get_by_name.no_result");
    let missing = loner.api.get(&format!("/emoji/{}", "a".repeat(26))).await;
    assert_eq!(missing.expect_error(404), "app.emoji.get.no_result");
    let by_names = loner
        .api
        .post(
            "/emoji/names",
            json!(["party_parrot", "big-wave", "nobody_made_this"]),
        )
        .await
        .expect_status(200);
    assert_eq!(names_of(&by_names), ["big-wave", "party_parrot"]);
    let too_many: Vec<String> = (0..201).map(|index| format!("name{index}")).collect();
    let refused = loner.api.post("/emoji/names", json!(too_many)).await;
    assert_eq!(
        refused.expect_error(400),
        "api.emoji.get_multiple_by_name_too_many.request_error"
    );
    let sorted = loner
        .api
        .get("/emoji?sort=name&per_page=10")
        .await
        .expect_status(200);
    assert_eq!(names_of(&sorted), ["big-wave", "party_parrot"]);
    let first_page = loner
        .api
        .get("/emoji?page=0&per_page=1")
        .await
        .expect_status(200);
    assert_eq!(names_of(&first_page), ["party_parrot"], "oldest first");
    let bad_sort = loner.api.get("/emoji?sort=create_at").await;
    assert_eq!(
        bad_sort.expect_error(400),
        "api.context.invalid_url_param.app_error"
    );

    // Search and autocomplete.
    let found = loner
        .api
        .post("/emoji/search", json!({"term": "parrot"}))
        .await
        .expect_status(200);
    assert_eq!(names_of(&found), ["party_parrot"]);
    let prefix = loner
        .api
        .post(
            "/emoji/search",
            json!({"term": "parrot", "prefix_only": true}),
        )
        .await
        .expect_status(200);
    assert_eq!(names_of(&prefix), Vec::<String>::new());
    let completed = loner
        .api
        .get("/emoji/autocomplete?name=par")
        .await
        .expect_status(200);
    assert_eq!(names_of(&completed), ["party_parrot"]);
    let no_term = loner.api.post("/emoji/search", json!({"term": ""})).await;
    assert_eq!(
        no_term.expect_error(400),
        "api.context.invalid_param.app_error"
    );

    // Reactions take system emoji and live custom emoji, nothing else.
    let channel_id = id_of(&admin.create_channel(&team_id, "reacts", "O").await);
    admin.add_to_channel(&channel_id, &alice.id).await;
    let post_id = id_of(&admin.post(&channel_id, "react to me").await);
    for name in ["party_parrot", "+1"] {
        alice
            .api
            .post(
                "/reactions",
                json!({"user_id": alice.id, "post_id": post_id, "emoji_name": name}),
            )
            .await
            .expect_status(200);
    }
    let unknown = alice
        .api
        .post(
            "/reactions",
            json!({"user_id": alice.id, "post_id": post_id, "emoji_name": "nobody_made_this"}),
        )
        .await;
    assert_eq!(unknown.expect_error(404), "app.emoji.get_by_name.no_result");

    // Deleting: the creator or an admin; the name and its reactions go.
    let by_loner = loner.api.delete(&format!("/emoji/{emoji_id}")).await;
    assert_eq!(
        by_loner.expect_error(403),
        "api.context.permissions.app_error"
    );
    let by_carol = carol.api.delete(&format!("/emoji/{emoji_id}")).await;
    assert_eq!(
        by_carol.expect_error(403),
        "api.context.permissions.app_error"
    );
    admin
        .api
        .delete(&format!("/emoji/{}", id_of(&big)))
        .await
        .expect_status(200);
    alice
        .api
        .delete(&format!("/emoji/{emoji_id}"))
        .await
        .expect_status(200);
    let gone = alice.api.get(&format!("/emoji/{emoji_id}")).await;
    assert_eq!(gone.expect_error(404), "app.emoji.get.no_result");
    let (status, _, _) = emoji_image(&alice.api, &emoji_id).await;
    assert_eq!(status, 404);
    let reactions = alice
        .api
        .get(&format!("/posts/{post_id}/reactions"))
        .await
        .expect_status(200);
    let reaction_names: Vec<&str> = reactions
        .as_array()
        .unwrap()
        .iter()
        .map(|reaction| reaction["emoji_name"].as_str().unwrap())
        .collect();
    assert_eq!(reaction_names, ["+1"]);
    let (status, again) = create_emoji(
        &alice.api,
        json!({"creator_id": alice.id, "name": "party_parrot"}),
        &png(16, 16),
    )
    .await;
    assert_eq!(status, 200, "a deleted emoji's name is free again: {again}");
}

#[tokio::test]
async fn an_emoji_uploaded_through_one_node_is_served_and_announced_by_the_other() {
    let sandbox = Sandbox::builder().nodes(2).start().await;
    let (node_a, node_b) = (sandbox.node(0), sandbox.node(1));
    let admin = node_a.signup("emojiops").await;
    let team_id = id_of(&admin.create_team("shared", "O").await);
    let bob = node_b.signup("bob").await;
    admin.add_to_team(&team_id, &bob.id).await;
    let mut socket_on_b = EventSocket::connect(node_b, &bob.token).await;

    let picture = png(40, 40);
    let (status, created) = create_emoji(
        &admin.api,
        json!({"creator_id": admin.id, "name": "cluster_cat"}),
        &picture,
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let emoji_id = id_of(&created);

    let added = socket_on_b.wait_for("emoji_added").await;
    assert!(added["data"]["emoji"].as_str().unwrap().contains(&emoji_id));
    let (status, content_type, bytes) = emoji_image(&bob.api, &emoji_id).await;
    assert_eq!((status, content_type.as_str()), (200, "image/png"));
    assert_eq!(bytes, picture);
    let by_name = bob
        .api
        .get("/emoji/name/cluster_cat")
        .await
        .expect_status(200);
    assert_eq!(by_name["id"], emoji_id.as_str());
}

#[tokio::test]
async fn switched_off_custom_emoji_answer_with_mattermost_errors() {
    let server = Sandbox::builder()
        .configure(|config| config.service_settings.enable_custom_emoji = false)
        .start()
        .await;
    let admin = server.signup("offadmin").await;
    id_of(&admin.create_team("off", "O").await);
    let client_config = admin
        .api
        .get("/config/client?format=old")
        .await
        .expect_status(200);
    assert_eq!(client_config["EnableCustomEmoji"], "false");
    // 501 from the routes Mattermost's handlers guard, 403 from its lookups.
    let listed = admin.api.get("/emoji").await;
    assert_eq!(listed.expect_error(501), "api.emoji.disabled.app_error");
    let looked_up = admin.api.get("/emoji/name/party_parrot").await;
    assert_eq!(looked_up.expect_error(403), "api.emoji.disabled.app_error");
    let (status, body) = create_emoji(
        &admin.api,
        json!({"creator_id": admin.id, "name": "off"}),
        &png(8, 8),
    )
    .await;
    assert_eq!(
        (status, body["id"].as_str()),
        (501, Some("api.emoji.disabled.app_error"))
    );
    // Reactions still take system emoji.
    let team_id = id_of(&admin.create_team("offreacts", "O").await);
    let channel_id = id_of(&admin.create_channel(&team_id, "plain", "O").await);
    let post_id = id_of(&admin.post(&channel_id, "still reactable").await);
    admin
        .api
        .post(
            "/reactions",
            json!({"user_id": admin.id, "post_id": post_id, "emoji_name": "tada"}),
        )
        .await
        .expect_status(200);
}

/// GET .../threads of `user` in `team_id`, with `query` (e.g. "?unread=true").
async fn threads_of(user: &TestUser, team_id: &str, query: &str) -> Value {
    user.api
        .get(&format!("/users/me/teams/{team_id}/threads{query}"))
        .await
        .expect_status(200)
}

fn thread_ids(threads: &Value) -> Vec<String> {
    threads["threads"]
        .as_array()
        .unwrap_or_else(|| panic!("not a thread list: {threads}"))
        .iter()
        .map(|thread| thread["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn threads_are_followed_read_and_announced_on_every_node() {
    let sandbox = Sandbox::builder().nodes(2).start().await;
    let (node_a, node_b) = (sandbox.node(0), sandbox.node(1));
    let admin = node_a.signup("threadadmin").await;
    let alice = node_a.signup("alice").await;
    let bob = node_a.signup("bob").await;
    let carol = node_a.signup("carol").await;
    let outsider = node_a.signup("outsider").await;
    let team_id = id_of(&admin.create_team("threads", "O").await);
    for user in [&alice, &bob, &carol] {
        admin.add_to_team(&team_id, &user.id).await;
    }
    let channel_id = id_of(&alice.create_channel(&team_id, "talk", "P").await);
    alice.add_to_channel(&channel_id, &bob.id).await;
    alice.add_to_channel(&channel_id, &carol.id).await;
    // alice's websocket is on node B; every write goes through node A.
    let mut alice_on_b = EventSocket::connect(node_b, &alice.token).await;
    let mut carol_on_b = EventSocket::connect(node_b, &carol.token).await;

    let root_id = id_of(&alice.post(&channel_id, "what shall we build?").await);
    let first_reply = bob.reply(&channel_id, &root_id, "a chat server").await;
    let first_reply_id = id_of(&first_reply);

    // The root's author and the replier follow; the author has one unread reply.
    let updated = alice_on_b.wait_for("thread_updated").await;
    assert_eq!(updated["broadcast"]["user_id"], alice.id.as_str());
    let thread: Value = serde_json::from_str(updated["data"]["thread"].as_str().unwrap()).unwrap();
    assert_eq!(thread["id"], root_id.as_str());
    assert_eq!(thread["reply_count"], 1);
    assert_eq!(thread["unread_replies"], 1);
    assert_eq!(thread["post"]["id"], root_id.as_str());
    assert_eq!(thread["participants"][0]["id"], bob.id.as_str());

    let listed = threads_of(&alice, &team_id, "").await;
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["total_unread_threads"], 1);
    assert_eq!(listed["total_unread_mentions"], 0);
    assert_eq!(thread_ids(&listed), [root_id.as_str()]);
    let bobs = threads_of(&bob, &team_id, "").await;
    assert_eq!(
        (
            bobs["total"].as_i64(),
            bobs["total_unread_threads"].as_i64()
        ),
        (Some(1), Some(0))
    );
    assert_eq!(threads_of(&carol, &team_id, "").await["total"], 0);

    // A mention makes carol follow, with an unread mention.
    bob.reply(&channel_id, &root_id, "what do you think, @carol?")
        .await;
    let carol_update = carol_on_b.wait_for("thread_updated").await;
    let carol_thread: Value =
        serde_json::from_str(carol_update["data"]["thread"].as_str().unwrap()).unwrap();
    assert_eq!(carol_thread["unread_mentions"], 1);
    let carol_view = carol
        .api
        .get(&format!(
            "/users/me/teams/{team_id}/threads/{root_id}?extended=true"
        ))
        .await
        .expect_status(200);
    assert_eq!(carol_view["unread_mentions"], 1);
    assert_eq!(carol_view["reply_count"], 2);
    assert_eq!(carol_view["participants"][0]["username"], "bob");
    assert_eq!(
        threads_of(&carol, &team_id, "").await["total_unread_mentions"],
        1
    );

    // Unread filter, then reading the thread up to now.
    assert_eq!(
        thread_ids(&threads_of(&alice, &team_id, "?unread=true").await),
        [root_id.as_str()]
    );
    let now = chrono_now();
    let read = alice
        .api
        .put(
            &format!("/users/me/teams/{team_id}/threads/{root_id}/read/{now}"),
            json!({}),
        )
        .await
        .expect_status(200);
    assert_eq!(
        (
            read["unread_replies"].as_i64(),
            read["last_viewed_at"].as_i64()
        ),
        (Some(0), Some(now))
    );
    let read_changed = alice_on_b.wait_for("thread_read_changed").await;
    assert_eq!(read_changed["data"]["thread_id"], root_id.as_str());
    assert_eq!(read_changed["data"]["unread_replies"], 0);
    assert_eq!(read_changed["data"]["previous_unread_replies"], 2);
    assert!(thread_ids(&threads_of(&alice, &team_id, "?unread=true").await).is_empty());
    let since_later = threads_of(&alice, &team_id, &format!("?since={}", now + 60_000)).await;
    assert!(thread_ids(&since_later).is_empty(), "{since_later}");

    // Unread again from bob's first reply: both replies are unread.
    let unread = alice
        .api
        .post(
            &format!("/users/me/teams/{team_id}/threads/{root_id}/set_unread/{first_reply_id}"),
            json!({}),
        )
        .await
        .expect_status(200);
    assert_eq!(unread["unread_replies"], 2);
    alice_on_b.wait_for("thread_read_changed").await;

    // Unfollow and follow again.
    alice
        .api
        .delete(&format!(
            "/users/me/teams/{team_id}/threads/{root_id}/following"
        ))
        .await
        .expect_status(200);
    let unfollowed = alice_on_b.wait_for("thread_follow_changed").await;
    assert_eq!(unfollowed["data"]["state"], false);
    assert_eq!(unfollowed["data"]["thread_id"], root_id.as_str());
    assert_eq!(unfollowed["data"]["reply_count"], 2);
    assert_eq!(threads_of(&alice, &team_id, "").await["total"], 0);
    alice
        .api
        .put(
            &format!("/users/me/teams/{team_id}/threads/{root_id}/following"),
            json!({}),
        )
        .await
        .expect_status(200);
    let followed = alice_on_b.wait_for("thread_follow_changed").await;
    assert_eq!(followed["data"]["state"], true);
    assert_eq!(threads_of(&alice, &team_id, "").await["total"], 1);

    // Everything read at once.
    carol
        .api
        .put(
            &format!("/users/me/teams/{team_id}/threads/read"),
            json!({}),
        )
        .await
        .expect_status(200);
    let all_read = carol_on_b.wait_for("thread_read_changed").await;
    assert!(all_read["data"]["timestamp"].as_i64().unwrap() > 0);
    let carol_totals = threads_of(&carol, &team_id, "?totalsOnly=true").await;
    assert_eq!(
        (
            carol_totals["total_unread_threads"].as_i64(),
            carol_totals["total_unread_mentions"].as_i64(),
            carol_totals["threads"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0), Some(0))
    );

    // Permissions and bad input.
    let others = bob
        .api
        .get(&format!("/users/{}/teams/{team_id}/threads", alice.id))
        .await;
    assert_eq!(
        others.expect_error(403),
        "api.context.permissions.app_error"
    );
    let as_admin = admin
        .api
        .get(&format!("/users/{}/teams/{team_id}/threads", alice.id))
        .await
        .expect_status(200);
    assert_eq!(as_admin["total"], 1);
    let no_membership = outsider
        .api
        .get(&format!("/users/me/teams/{team_id}/threads/{root_id}"))
        .await;
    assert_eq!(
        no_membership.expect_error(404),
        "app.user.get_thread_membership_for_user.not_found"
    );
    let not_a_reader = outsider
        .api
        .put(
            &format!("/users/me/teams/{team_id}/threads/{root_id}/following"),
            json!({}),
        )
        .await;
    assert_eq!(not_a_reader.status, 403, "{not_a_reader:?}");
    let both_cursors = alice
        .api
        .get(&format!(
            "/users/me/teams/{team_id}/threads?before={root_id}&after={root_id}"
        ))
        .await;
    assert_eq!(
        both_cursors.expect_error(400),
        "api.getThreadsForUser.bad_params"
    );
    let both_only = alice
        .api
        .get(&format!(
            "/users/me/teams/{team_id}/threads?totalsOnly=true&threadsOnly=true"
        ))
        .await;
    assert_eq!(
        both_only.expect_error(400),
        "api.getThreadsForUser.bad_only_params"
    );
    let bad_since = alice
        .api
        .get(&format!(
            "/users/me/teams/{team_id}/threads?since=yesterday"
        ))
        .await;
    assert_eq!(
        bad_since.expect_error(400),
        "api.context.invalid_param.app_error"
    );
    let not_in_thread = alice
        .api
        .post(
            &format!("/users/me/teams/{team_id}/threads/{root_id}/set_unread/{root_id}x"),
            json!({}),
        )
        .await;
    assert_eq!(not_in_thread.status, 400);
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Thread events and `emoji_added` cannot be rebuilt from the database: a client of a node
/// that died resumes on another node as usual, unless one of its user's threads changed or a
/// custom emoji was added after its checkpoint, when it gets a new connection (and resyncs)
/// instead of silently missing the event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_change_or_new_emoji_after_a_node_died_makes_its_clients_resync() {
    use crate::cluster::{sign_up, wait_until};
    use std::time::Duration;

    let sandbox = Sandbox::builder()
        .nodes(2)
        .processes(env!("CARGO_BIN_EXE_chorus"))
        .configure(|config| config.log_settings.console_level = "WARN".to_string())
        .start()
        .await;
    let (node_a, node_b) = (sandbox.node(0), sandbox.node(1));
    let (admin_id, admin_token) = sign_up(&node_b.api(), "threads-admin").await;
    let (bob_id, bob_token) = sign_up(&node_b.api(), "threads-bob").await;
    let admin = node_b.api().with_token(&admin_token);
    let bob = node_b.api().with_token(&bob_token);
    let team_id = id_of(
        &admin
            .post(
                "/teams",
                json!({"name": "threads-team", "display_name": "Threads", "type": "O"}),
            )
            .await
            .expect_status(201),
    );
    admin
        .post(
            &format!("/teams/{team_id}/members"),
            json!({"team_id": team_id, "user_id": bob_id}),
        )
        .await
        .expect_status(201);
    let town_square = id_of(
        &admin
            .get(&format!("/teams/{team_id}/channels/name/town-square"))
            .await
            .expect_status(200),
    );
    let root_id = id_of(
        &admin
            .post(
                "/posts",
                json!({"channel_id": town_square, "message": "a thread to follow"}),
            )
            .await
            .expect_status(201),
    );
    wait_until(Duration::from_secs(15), "two live nodes", || async {
        let status = admin.get("/cluster/status").await.expect_status(200);
        let nodes = status.as_array().cloned().unwrap_or_default();
        nodes.len() == 2 && nodes.iter().all(|node| node["alive"] == true)
    })
    .await;

    let mut sockets = Vec::new();
    for _ in 0..3 {
        sockets.push(EventSocket::connect_url(&node_a.websocket_url(), &bob_token).await);
    }
    admin
        .post(
            "/posts",
            json!({"channel_id": town_square, "message": "before the crash"}),
        )
        .await
        .expect_status(201);
    let mut resumable = Vec::new();
    for mut socket in sockets {
        socket.wait_for("posted").await;
        resumable.push((socket.connection_id(), socket.last_seq() + 1));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    node_a.kill();
    wait_until(Duration::from_secs(15), "node A seen dead", || async {
        let status = admin.get("/cluster/status").await.expect_status(200);
        status
            .as_array()
            .is_some_and(|nodes| nodes.iter().any(|node| node["alive"] == false))
    })
    .await;
    let reconnect = |index: usize| {
        let (connection_id, sequence_number) = resumable[index].clone();
        let url = format!(
            "{}?connection_id={connection_id}&sequence_number={sequence_number}",
            node_b.websocket_url()
        );
        let token = bob_token.clone();
        async move { (connection_id, EventSocket::connect_url(&url, &token).await) }
    };

    // Nothing of bob's changed: the first connection resumes from the database.
    let (quiet_id, quiet_seq) = resumable[0].clone();
    let mut quiet =
        EventSocket::resume_url(&node_b.websocket_url(), &bob_token, &quiet_id, quiet_seq).await;
    admin
        .post(
            "/posts",
            json!({"channel_id": town_square, "message": "after the crash"}),
        )
        .await
        .expect_status(201);
    let live = quiet.wait_for("posted").await;
    assert_eq!(live["seq"], quiet_seq, "resumed, not a new connection");

    // Bob follows the thread through node B: the next connection must resync.
    bob.put(
        &format!("/users/me/teams/{team_id}/threads/{root_id}/following"),
        json!({}),
    )
    .await
    .expect_status(200);
    let (followed_id, followed) = reconnect(1).await;
    assert_ne!(followed.connection_id(), followed_id, "told to resync");

    // A custom emoji is added (emoji_added goes to everyone): the last one must resync too.
    let (status, body) = create_emoji(
        &admin,
        json!({"creator_id": admin_id, "name": "after_the_crash"}),
        &png(8, 8),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (emoji_id, emoji) = reconnect(2).await;
    assert_ne!(emoji.connection_id(), emoji_id, "told to resync");
}

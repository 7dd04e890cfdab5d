//! People, posts and operators' tools (issue 13): profile images, deactivation, custom status,
//! user search and autocomplete, pins, posts by ids, permalinks, searches, config patch, the
//! cluster's busy flag and the log endpoint — with Mattermost's paths, shapes, permissions,
//! error ids and websocket events, across nodes where it matters.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use chorus_testkit::client::{id_of, Api, WAIT};
use chorus_testkit::socket::{post_of, EventSocket};
use chorus_testkit::{Endpoint, Sandbox};

use crate::cluster::wait_until;

/// A multipart body by hand: one file part named `field`.
fn multipart_body(field: &str, file_name: &str, content: &[u8]) -> (String, Vec<u8>) {
    let boundary = "chorus-people-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload_image(api: &Api, user_id: &str, field: &str, content: &[u8]) -> (u16, Value) {
    upload_to(api, &format!("/users/{user_id}/image"), field, content).await
}

async fn upload_to(api: &Api, path: &str, field: &str, content: &[u8]) -> (u16, Value) {
    let (content_type, body) = multipart_body(field, "me.png", content);
    let response = api
        .request(Method::POST, path)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("an answer");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// GET of an image: status, ETag, the top-left pixel and the size of the decoded PNG.
async fn get_image(api: &Api, path: &str, if_none_match: Option<&str>) -> ImageReply {
    let mut request = api.request(Method::GET, path);
    if let Some(tag) = if_none_match {
        request = request.header("if-none-match", tag);
    }
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
    };
    let etag = header("etag");
    let content_type = header("content-type");
    let bytes = response.bytes().await.expect("a body");
    let decoded =
        (status == 200).then(|| image::load_from_memory(&bytes).expect("a PNG").into_rgb8());
    ImageReply {
        status,
        etag,
        content_type,
        corner: decoded.as_ref().map(|image| image.get_pixel(0, 0).0),
        size: decoded.as_ref().map(|image| image.dimensions()),
    }
}

struct ImageReply {
    status: u16,
    etag: Option<String>,
    content_type: Option<String>,
    corner: Option<[u8; 3]>,
    size: Option<(u32, u32)>,
}

fn png_of_colour(width: u32, height: u32, colour: [u8; 3]) -> Vec<u8> {
    let picture = image::RgbImage::from_pixel(width, height, image::Rgb(colour));
    let mut encoded = std::io::Cursor::new(Vec::new());
    picture
        .write_to(&mut encoded, image::ImageFormat::Png)
        .expect("encoding a PNG");
    encoded.into_inner()
}

#[tokio::test]
async fn profile_images_are_generated_uploaded_served_by_every_node_and_reset() {
    let sandbox = Sandbox::builder().nodes(2).start().await;
    let (node_a, node_b) = (sandbox.node(0), sandbox.node(1));
    let _admin = node_a.signup("imgadmin").await;
    let alice = node_a.signup("alice").await;
    let bob = node_b.signup("bob").await;
    let alice_on_b = node_b.api().with_token(&alice.token);
    let mut bob_socket = EventSocket::connect(node_b, &bob.token).await;

    // The generated default: a 128×128 PNG of alice's colour, cached with an ETag.
    let path = format!("/users/{}/image", alice.id);
    let default = get_image(&bob.api, &path, None).await;
    assert_eq!(default.status, 200);
    assert_eq!(default.content_type.as_deref(), Some("image/png"));
    assert_eq!(default.size, Some((128, 128)));
    let default_colour = default.corner.expect("a pixel");
    assert_ne!(default_colour, [255, 255, 255]);
    let default_tag = default.etag.clone().expect("an ETag");
    let revalidated = get_image(&bob.api, &path, Some(&default_tag)).await;
    assert_eq!(revalidated.status, 304);
    let explicit_default = get_image(&bob.api, &format!("{path}/default"), None).await;
    assert_eq!(explicit_default.corner, Some(default_colour));

    // Uploads: only the user (or an admin), only images, only under `image`.
    let blue = png_of_colour(300, 200, [10, 20, 200]);
    let (status, body) = upload_image(&bob.api, &alice.id, "image", &blue).await;
    assert_eq!(
        (status, body["id"].as_str()),
        (403, Some("api.context.permissions.app_error"))
    );
    let (status, body) = upload_image(&alice.api, "me", "image", b"not a picture").await;
    assert_eq!(
        (status, body["id"].as_str()),
        (
            400,
            Some("api.user.upload_profile_user.decode_config.app_error")
        )
    );
    let (status, body) = upload_image(&alice.api, "me", "picture", &blue).await;
    assert_eq!(
        (status, body["id"].as_str()),
        (400, Some("api.user.upload_profile_user.no_file.app_error"))
    );
    let (status, body) = upload_image(&alice.api, "me", "image", &blue).await;
    assert_eq!((status, body), (200, json!({"status": "OK"})));

    // user_updated tells the others; the other node serves the stored picture.
    let updated = bob_socket
        .wait_for_matching("user_updated", |event| {
            event["data"]["user"]["id"] == alice.id.as_str()
                && event["data"]["user"]["last_picture_update"].as_i64() > Some(0)
        })
        .await;
    assert!(updated["data"]["user"]["password"].is_null());
    let uploaded = get_image(&alice_on_b, &path, Some(&default_tag)).await;
    assert_eq!(uploaded.status, 200, "the old ETag no longer matches");
    assert_eq!(uploaded.size, Some((128, 128)));
    assert_eq!(uploaded.corner, Some([10, 20, 200]));
    let uploaded_tag = uploaded.etag.expect("an ETag");
    assert_eq!(
        get_image(&bob.api, &path, Some(&uploaded_tag)).await.status,
        304
    );
    assert_eq!(
        get_image(&bob.api, &format!("{path}/default"), None)
            .await
            .corner,
        Some(default_colour)
    );

    // Back to the default: last_picture_update goes negative, as in Mattermost.
    let reset = alice_on_b.delete("/users/me/image").await;
    assert_eq!(reset.expect_status(200), json!({"status": "OK"}));
    let me = alice.api.get("/users/me").await.expect_status(200);
    assert!(me["last_picture_update"].as_i64().unwrap() < 0);
    let after_reset = get_image(&bob.api, &path, Some(&uploaded_tag)).await;
    assert_eq!(after_reset.status, 200);
    assert_eq!(after_reset.corner, Some(default_colour));
    assert_eq!(bob.api.delete(&path).await.status, 403);
    let missing = bob.api.get("/users/aaaaaaaaaaaaaaaaaaaaaaaaaa/image").await;
    assert_eq!(missing.status, 404);
    sandbox.stop().await;
}

/// Team icons: set by team admins, stored in the shared file store (served by every node,
/// with an ETag), announced with `update_team` (sanitized), removed.
#[tokio::test]
async fn team_icons_are_uploaded_served_by_every_node_and_removed() {
    let sandbox = Sandbox::builder().nodes(2).start().await;
    let (node_a, node_b) = (sandbox.node(0), sandbox.node(1));
    let _admin = node_a.signup("iconadmin").await;
    let alice = node_a.signup("alice").await;
    let bob = node_b.signup("bob").await;
    let carol = node_b.signup("carol").await;
    let team = alice.create_team("icons", "I").await;
    let team_id = id_of(&team);
    alice.add_to_team(&team_id, &bob.id).await;
    let mut bob_socket = EventSocket::connect(node_b, &bob.token).await;
    let path = format!("/teams/{team_id}/image");

    let none = bob.api.get(&path).await;
    assert_eq!(
        none.expect_error(404),
        "api.team.get_team_icon.read_file.app_error"
    );
    let red = png_of_colour(200, 300, [200, 10, 10]);
    let (status, body) = upload_to(&bob.api, &path, "image", &red).await;
    assert_eq!(
        (status, body["id"].as_str()),
        (403, Some("api.context.permissions.app_error"))
    );
    let (status, body) = upload_to(&alice.api, &path, "image", b"not a picture").await;
    assert_eq!(
        (status, body["id"].as_str()),
        (400, Some("api.team.set_team_icon.decode.app_error"))
    );
    let (status, body) = upload_to(&alice.api, &path, "icon", &red).await;
    assert_eq!(
        (status, body["id"].as_str()),
        (400, Some("api.team.set_team_icon.no_file.app_error"))
    );
    let (status, body) = upload_to(&alice.api, &path, "image", &red).await;
    assert_eq!((status, body), (200, json!({"status": "OK"})));

    let updated = bob_socket
        .wait_for_matching("update_team", |event| {
            event["data"]["team"]
                .as_str()
                .is_some_and(|team| team.contains("last_team_icon_update"))
        })
        .await;
    let announced: Value = serde_json::from_str(updated["data"]["team"].as_str().unwrap()).unwrap();
    assert!(announced["last_team_icon_update"].as_i64() > Some(0));
    assert_eq!(
        announced["invite_id"], "",
        "members' events carry no invite id"
    );
    let bob_on_b = node_b.api().with_token(&bob.token);
    let icon = get_image(&bob_on_b, &path, None).await;
    assert_eq!(icon.status, 200);
    assert_eq!(icon.size, Some((128, 128)));
    assert_eq!(icon.corner, Some([200, 10, 10]));
    let tag = icon.etag.expect("an ETag");
    assert_eq!(get_image(&bob.api, &path, Some(&tag)).await.status, 304);
    let fetched = bob
        .api
        .get(&format!("/teams/{team_id}"))
        .await
        .expect_status(200);
    assert_eq!(fetched["last_team_icon_update"].to_string(), tag);
    // Not a member of an invite-only team: no icon.
    assert_eq!(carol.api.get(&path).await.status, 403);

    assert_eq!(bob.api.delete(&path).await.status, 403);
    alice.api.delete(&path).await.expect_status(200);
    let none = bob.api.get(&path).await;
    assert_eq!(
        none.expect_error(404),
        "api.team.get_team_icon.read_file.app_error"
    );
    let fetched = bob
        .api
        .get(&format!("/teams/{team_id}"))
        .await
        .expect_status(200);
    assert!(
        fetched.get("last_team_icon_update").is_none(),
        "omitted when unset: {fetched}"
    );
    sandbox.stop().await;
}

#[tokio::test]
async fn deactivation_ends_sessions_on_every_node_and_refuses_login() {
    let sandbox = Sandbox::builder().nodes(2).start().await;
    let (node_a, node_b) = (sandbox.node(0), sandbox.node(1));
    let admin = node_a.signup("deactadmin").await;
    let bob = node_b.signup("bob").await;
    // bob's session is cached on node B, and bob has a websocket there.
    bob.api.get("/users/me").await.expect_status(200);
    let mut bob_socket = EventSocket::connect(node_b, &bob.token).await;
    let mut admin_socket = EventSocket::connect(node_a, &admin.token).await;

    // Users may not deactivate themselves unless EnableUserDeactivation, nor others.
    let refused = bob.api.delete("/users/me").await;
    assert_eq!(
        refused.expect_error(401),
        "api.user.update_active.not_enable.app_error"
    );
    let refused = bob
        .api
        .put(
            &format!("/users/{}/active", admin.id),
            json!({"active": false}),
        )
        .await;
    assert_eq!(
        refused.expect_error(403),
        "api.user.update_active.permissions.app_error"
    );
    let bad = admin
        .api
        .put(
            &format!("/users/{}/active", bob.id),
            json!({"active": "no"}),
        )
        .await;
    assert_eq!(bad.expect_error(400), "api.context.invalid_param.app_error");

    let done = admin
        .api
        .put(
            &format!("/users/{}/active", bob.id),
            json!({"active": false}),
        )
        .await;
    assert_eq!(done.expect_status(200), json!({"status": "OK"}));

    let updated = admin_socket
        .wait_for_matching("user_updated", |event| {
            event["data"]["user"]["id"] == bob.id.as_str()
        })
        .await;
    assert!(updated["data"]["user"]["delete_at"].as_i64() > Some(0));
    assert!(
        bob_socket.wait_for_close(WAIT).await.is_some(),
        "bob's websocket is closed"
    );
    let stale = bob.api.get("/users/me").await;
    assert_eq!(
        stale.status, 401,
        "bob's token is refused on the node that cached it"
    );
    let login = node_b.login("bob", chorus_testkit::client::PASSWORD).await;
    assert_eq!(login.expect_error(401), "api.user.login.inactive.app_error");
    let listed = admin
        .api
        .get(&format!("/users/{}", bob.id))
        .await
        .expect_status(200);
    assert!(listed["delete_at"].as_i64() > Some(0));

    // Reactivated, bob logs in again; DELETE /users/{id} deactivates again.
    admin
        .api
        .put(
            &format!("/users/{}/active", bob.id),
            json!({"active": true}),
        )
        .await
        .expect_status(200);
    let bob_again = node_a.login("bob", chorus_testkit::client::PASSWORD).await;
    bob_again.expect_status(200);
    admin
        .api
        .delete(&format!("/users/{}", bob.id))
        .await
        .expect_status(200);
    let login = node_a.login("bob", chorus_testkit::client::PASSWORD).await;
    assert_eq!(login.expect_error(401), "api.user.login.inactive.app_error");
    sandbox.stop().await;
}

#[tokio::test]
async fn custom_status_search_autocomplete_and_stats() {
    let server = Sandbox::start().await;
    let admin = server.signup("findadmin").await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bobby").await;
    let carol = server.signup("carol").await;
    let team = alice.create_team("finders", "O").await;
    let team_id = id_of(&team);
    alice.add_to_team(&team_id, &bob.id).await;
    let channel = alice.create_channel(&team_id, "hideout", "O").await;
    let channel_id = id_of(&channel);
    let mut bob_socket = EventSocket::connect(&server, &bob.token).await;

    // Custom status: kept in props.customStatus as Mattermost keeps it, announced.
    let status = json!({"emoji": "calendar", "text": "In a meeting", "duration": "one_hour"});
    let reply = alice.api.put("/users/me/status/custom", status).await;
    assert_eq!(reply.expect_status(200), json!({"status": "OK"}));
    let event = bob_socket
        .wait_for_matching("user_updated", |event| {
            event["data"]["user"]["id"] == alice.id.as_str()
        })
        .await;
    let stored: Value = serde_json::from_str(
        event["data"]["user"]["props"]["customStatus"]
            .as_str()
            .expect("customStatus as a JSON string"),
    )
    .unwrap();
    assert_eq!(stored["text"], "In a meeting");
    assert_eq!(stored["emoji"], "calendar");
    let empty = alice.api.put("/users/me/status/custom", json!({})).await;
    assert_eq!(
        empty.expect_error(400),
        "api.custom_status.set_custom_statuses.update.app_error"
    );
    let others = bob
        .api
        .put(
            &format!("/users/{}/status/custom", alice.id),
            json!({"text": "x"}),
        )
        .await;
    assert_eq!(
        others.expect_error(403),
        "api.context.permissions.app_error"
    );
    alice
        .api
        .delete("/users/me/status/custom")
        .await
        .expect_status(200);
    let me = alice.api.get("/users/me").await.expect_status(200);
    assert!(me["props"].get("customStatus").is_none());

    // Search: by prefix, within a team, with Mattermost's parameter checks.
    let names = |list: &Value| -> Vec<String> {
        list.as_array()
            .expect("a list")
            .iter()
            .map(|user| user["username"].as_str().unwrap().to_string())
            .collect()
    };
    let found = bob.api.post("/users/search", json!({"term": "bob"})).await;
    assert_eq!(names(&found.expect_status(200)), ["bobby"]);
    let in_team = bob
        .api
        .post("/users/search", json!({"term": "", "team_id": team_id}))
        .await;
    assert_eq!(
        in_team.expect_error(400),
        "api.context.invalid_param.app_error"
    );
    let in_team = bob
        .api
        .post("/users/search", json!({"term": "c", "team_id": team_id}))
        .await;
    assert!(
        names(&in_team.expect_status(200)).is_empty(),
        "carol is not in the team"
    );
    let everyone = bob.api.post("/users/search", json!({"term": "c"})).await;
    assert_eq!(names(&everyone.expect_status(200)), ["carol"]);
    let too_many = bob
        .api
        .post("/users/search", json!({"term": "a", "limit": 1000}))
        .await;
    assert_eq!(
        too_many.expect_error(400),
        "api.context.invalid_param.app_error"
    );
    let outsider = carol
        .api
        .post("/users/search", json!({"term": "a", "team_id": team_id}))
        .await;
    assert_eq!(outsider.status, 403);

    // Autocomplete: in the channel, and those of the team outside it.
    let completed = bob
        .api
        .get(&format!(
            "/users/autocomplete?in_team={team_id}&in_channel={channel_id}&name="
        ))
        .await
        .expect_status(200);
    assert_eq!(names(&completed["users"]), ["alice"]);
    assert_eq!(names(&completed["out_of_channel"]), ["bobby"]);
    let in_team = bob
        .api
        .get(&format!("/users/autocomplete?in_team={team_id}&name=al"))
        .await
        .expect_status(200);
    assert_eq!(names(&in_team["users"]), ["alice"]);
    assert!(in_team.get("out_of_channel").is_none());
    let without_team = bob
        .api
        .get(&format!(
            "/users/autocomplete?in_channel={channel_id}&name=a"
        ))
        .await;
    assert_eq!(
        without_team.expect_error(400),
        "api.user.autocomplete_users.missing_team_id.app_error"
    );
    let outsider = carol
        .api
        .get(&format!("/users/autocomplete?in_team={team_id}&name=a"))
        .await;
    assert_eq!(outsider.status, 403);

    // Stats: active users; a deactivated one is not counted.
    let stats = carol.api.get("/users/stats").await.expect_status(200);
    assert_eq!(stats, json!({"total_users_count": 4}));
    admin
        .api
        .delete(&format!("/users/{}", carol.id))
        .await
        .expect_status(200);
    let stats = bob.api.get("/users/stats").await.expect_status(200);
    assert_eq!(stats["total_users_count"], 3);
    // The System Console's filtered counts, and the limits every app loads: admins only.
    let filtered = |query: String| {
        let admin = &admin;
        async move {
            let path = format!("/users/stats/filtered?{query}");
            admin.api.get(&path).await.expect_status(200)["total_users_count"].clone()
        }
    };
    assert_eq!(filtered(String::new()).await, 3);
    assert_eq!(filtered("include_deleted=true".into()).await, 4);
    assert_eq!(filtered("roles=system_admin".into()).await, 1);
    assert_eq!(filtered(format!("in_team={team_id}")).await, 2);
    assert_eq!(
        filtered(format!("in_team={team_id}&team_roles=team_admin")).await,
        1
    );
    assert_eq!(
        filtered(format!("in_team={team_id}&team_roles=team_user")).await,
        1
    );
    assert_eq!(filtered(format!("in_channel={channel_id}")).await, 1);
    let refused = bob.api.get("/users/stats/filtered").await;
    assert_eq!(refused.status, 403);
    let bad = admin
        .api
        .get("/users/stats/filtered?roles=Not%20A%20Role")
        .await;
    assert_eq!(
        bad.expect_error(400),
        "api.context.invalid_url_param.app_error"
    );
    let limits = admin.api.get("/limits/server").await.expect_status(200);
    assert_eq!(limits["activeUserCount"], 3);
    assert_eq!(limits["maxUsersLimit"], 0);
    let limits = bob.api.get("/limits/server").await.expect_status(200);
    assert_eq!(limits["activeUserCount"], 0);
    let gone = bob
        .api
        .post("/users/search", json!({"term": "carol"}))
        .await;
    assert!(names(&gone.expect_status(200)).is_empty());
    let with_inactive = admin
        .api
        .post(
            "/users/search",
            json!({"term": "carol", "allow_inactive": true}),
        )
        .await;
    assert_eq!(names(&with_inactive.expect_status(200)), ["carol"]);
}

#[tokio::test]
async fn pins_posts_by_ids_permalinks_and_searches() {
    let server = Sandbox::start().await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    let team = alice.create_team("pinners", "O").await;
    let team_id = id_of(&team);
    let other_team_id = id_of(&alice.create_team("elsewhere", "O").await);
    alice.add_to_team(&team_id, &bob.id).await;
    let public_id = id_of(&alice.create_channel(&team_id, "lobby", "O").await);
    let private_id = id_of(&alice.create_channel(&team_id, "vault", "P").await);
    let elsewhere_id = id_of(&alice.create_channel(&other_team_id, "far", "O").await);
    let public_post = id_of(&alice.post(&public_id, "needle in the lobby").await);
    let private_post = id_of(&alice.post(&private_id, "needle in the vault").await);
    let far_post = id_of(&alice.post(&elsewhere_id, "needle far away").await);
    let mut alice_socket = EventSocket::connect(&server, &alice.token).await;

    // Permalinks: a public channel of one's team may be read without joining it.
    let permalink = bob.api.get(&format!("/posts/{public_post}")).await;
    assert_eq!(
        permalink.expect_status(200)["message"],
        "needle in the lobby"
    );
    assert_eq!(
        bob.api.get(&format!("/posts/{private_post}")).await.status,
        403
    );
    let thread = bob
        .api
        .get(&format!("/posts/{public_post}/thread"))
        .await
        .expect_status(200);
    assert_eq!(thread["order"], json!([public_post]));
    assert_eq!(
        bob.api
            .get(&format!("/posts/{private_post}/thread"))
            .await
            .status,
        403
    );

    // POST /posts/ids leaves out what the caller may not read.
    let listed = bob
        .api
        .post("/posts/ids", json!([public_post, private_post]))
        .await
        .expect_status(200);
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|post| post["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [public_post.as_str()]);
    let bad = bob.api.post("/posts/ids", json!(["nope"])).await;
    assert_eq!(bad.expect_error(400), "api.context.invalid_param.app_error");

    // Pins: members only; announced as post_edited with is_pinned.
    let refused = bob
        .api
        .post(&format!("/posts/{public_post}/pin"), json!({}))
        .await;
    assert_eq!(refused.status, 403);
    bob.api
        .post(
            &format!("/channels/{public_id}/members"),
            json!({"user_id": bob.id}),
        )
        .await
        .expect_status(201);
    let pinned = bob
        .api
        .post(&format!("/posts/{public_post}/pin"), json!({}))
        .await;
    assert_eq!(pinned.expect_status(200), json!({"status": "OK"}));
    let edited = alice_socket
        .wait_for_matching("post_edited", |event| {
            post_of(event)["id"] == public_post.as_str()
        })
        .await;
    assert_eq!(post_of(&edited)["is_pinned"], true);
    assert_eq!(
        post_of(&edited)["edit_at"],
        0,
        "pinning is not an edit of the message"
    );
    let list = bob
        .api
        .get(&format!("/channels/{public_id}/pinned"))
        .await
        .expect_status(200);
    assert_eq!(list["order"], json!([public_post]));
    assert_eq!(list["posts"][&public_post]["is_pinned"], true);
    assert_eq!(
        bob.api
            .get(&format!("/channels/{private_id}/pinned"))
            .await
            .status,
        403
    );
    bob.api
        .post(&format!("/posts/{public_post}/unpin"), json!({}))
        .await
        .expect_status(200);
    let list = alice
        .api
        .get(&format!("/channels/{public_id}/pinned"))
        .await
        .expect_status(200);
    assert_eq!(list["order"], json!([]));

    // Search in every team of the caller.
    let found = alice
        .api
        .post(
            "/posts/search",
            json!({"terms": "needle", "is_or_search": false}),
        )
        .await
        .expect_status(200);
    let mut found_ids: Vec<String> = found["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_string())
        .collect();
    found_ids.sort();
    let mut expected = vec![public_post.clone(), private_post.clone(), far_post.clone()];
    expected.sort();
    assert_eq!(found_ids, expected);
    let bobs = bob
        .api
        .post("/posts/search", json!({"terms": "needle"}))
        .await
        .expect_status(200);
    assert_eq!(bobs["order"], json!([public_post]));

    // File search: names of files attached to posts in the caller's channels.
    let (content_type, body) = multipart_body("files", "quarterly-report.txt", b"numbers");
    let upload = alice
        .api
        .request(Method::POST, &format!("/files?channel_id={public_id}"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("an answer");
    assert_eq!(upload.status().as_u16(), 201);
    let uploaded: Value = upload.json().await.unwrap();
    let file_id = uploaded["file_infos"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    alice
        .api
        .post(
            "/posts",
            json!({"channel_id": public_id, "message": "see attached", "file_ids": [file_id]}),
        )
        .await
        .expect_status(201);
    let files = bob
        .api
        .post(
            &format!("/teams/{team_id}/files/search"),
            json!({"terms": "report"}),
        )
        .await
        .expect_status(200);
    assert_eq!(files["order"], json!([file_id]));
    assert_eq!(
        files["file_infos"][&file_id]["name"],
        "quarterly-report.txt"
    );
    let none = bob
        .api
        .post(
            &format!("/teams/{team_id}/files/search"),
            json!({"terms": "budget"}),
        )
        .await
        .expect_status(200);
    assert_eq!(none["order"], json!([]));
    let outsider = bob
        .api
        .post(
            &format!("/teams/{other_team_id}/files/search"),
            json!({"terms": "report"}),
        )
        .await;
    assert_eq!(outsider.status, 403);
}

#[tokio::test]
async fn config_patch_server_busy_and_logs_for_operators() {
    // Processes: they have a config file to save, and their logs go to the ring /logs reads.
    let sandbox = Sandbox::builder()
        .nodes(2)
        .processes(env!("CARGO_BIN_EXE_chorus"))
        .configure(|config| config.cluster_settings.read_only_config = false)
        .start()
        .await;
    let (node_a, node_b) = (sandbox.node(0), sandbox.node(1));
    let admin = node_a.signup("opsadmin").await;
    let admin_on_b = node_b.api().with_token(&admin.token);
    let user = node_b.signup("plainuser").await;

    // PUT /config/patch changes what it names and keeps the rest, on every node.
    let before = admin.api.get("/config").await.expect_status(200);
    let patched = admin
        .api
        .put(
            "/config/patch",
            json!({"TeamSettings": {"SiteName": "Patched Chorus"}}),
        )
        .await
        .expect_status(200);
    assert_eq!(patched["TeamSettings"]["SiteName"], "Patched Chorus");
    assert_eq!(
        patched["TeamSettings"]["MaxUsersPerTeam"],
        before["TeamSettings"]["MaxUsersPerTeam"]
    );
    assert_eq!(
        patched["SqlSettings"]["DataSource"],
        before["SqlSettings"]["DataSource"]
    );
    wait_until(WAIT, "node B has the patched config", || {
        let admin_on_b = admin_on_b.clone();
        async move {
            admin_on_b.get("/config").await.json["TeamSettings"]["SiteName"] == "Patched Chorus"
        }
    })
    .await;
    let refused = user
        .api
        .put(
            "/config/patch",
            json!({"TeamSettings": {"SiteName": "Mine"}}),
        )
        .await;
    assert_eq!(refused.status, 403);
    let invalid = admin
        .api
        .put(
            "/config/patch",
            json!({"TeamSettings": {"MaxUsersPerTeam": "many"}}),
        )
        .await;
    assert_eq!(invalid.status, 400);

    // Busy is the cluster's: set through A, searches through B answer 503.
    let not_busy = admin_on_b.get("/server_busy").await.expect_status(200);
    assert_eq!(not_busy["busy"], false);
    let bad = admin.api.post("/server_busy?seconds=0", json!({})).await;
    assert_eq!(
        bad.expect_error(400),
        "api.context.invalid_url_param.app_error"
    );
    assert_eq!(user.api.post("/server_busy", json!({})).await.status, 403);
    admin
        .api
        .post("/server_busy?seconds=600", json!({}))
        .await
        .expect_status(200);
    wait_until(WAIT, "node B knows the cluster is busy", || {
        let admin_on_b = admin_on_b.clone();
        async move { admin_on_b.get("/server_busy").await.json["busy"] == true }
    })
    .await;
    let state = admin_on_b.get("/server_busy").await.expect_status(200);
    let expires = state["expires"].as_i64().unwrap();
    let now_seconds = chorus_model::now_millis() / 1000;
    assert!(
        (now_seconds + 500..=now_seconds + 700).contains(&expires),
        "{state}"
    );
    let busy = user.api.post("/users/search", json!({"term": "ops"})).await;
    assert_eq!(busy.expect_error(503), "api.context.server_busy.app_error");
    admin_on_b.delete("/server_busy").await.expect_status(200);
    wait_until(WAIT, "node A knows the cluster is no longer busy", || {
        let admin = admin.api.clone();
        async move { admin.get("/server_busy").await.json["busy"] == false }
    })
    .await;
    user.api
        .post("/users/search", json!({"term": "ops"}))
        .await
        .expect_status(200);

    // GET /logs: admins only, this node's lines as JSON strings in Mattermost's log shape.
    let logs = admin
        .api
        .get("/logs?page=0&logs_per_page=50")
        .await
        .expect_status(200);
    let lines = logs.as_array().expect("an array");
    assert!(!lines.is_empty(), "a started node has logged something");
    assert!(lines.len() <= 50);
    let line: Value = serde_json::from_str(lines[0].as_str().expect("a string")).expect("JSON");
    for key in ["timestamp", "level", "msg", "caller"] {
        assert!(line.get(key).is_some(), "{key} in {line}");
    }
    assert_eq!(user.api.get("/logs").await.status, 403);
    let queried = admin
        .api
        .post(
            "/logs/query",
            json!({"server_names": [], "log_levels": ["INFO"], "date_from": "", "date_to": ""}),
        )
        .await
        .expect_status(200);
    let by_node = queried.as_object().expect("lines by node");
    assert_eq!(by_node.len(), 1, "{queried}");
    let info_lines = by_node.values().next().unwrap().as_array().unwrap();
    assert!(!info_lines.is_empty());
    assert!(
        info_lines.iter().all(|line| line["level"] == "info"),
        "{queried}"
    );
    let elsewhere = admin
        .api
        .post("/logs/query", json!({"server_names": ["another-host"]}))
        .await
        .expect_status(200);
    assert_eq!(elsewhere, json!({}));
    assert_eq!(user.api.post("/logs/query", json!({})).await.status, 403);
    sandbox.stop().await;
}

/// A client of a node that dies does not silently miss a pin: it cannot be replayed from the
/// database (a pin moves no `edit_at`), so a resume on another node after a pin in one of the
/// client's channels makes it resync (a new connection); a client of the same node whose
/// channels saw no pin is rebuilt as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_of_a_killed_node_resyncs_after_a_missed_pin() {
    let sandbox = Sandbox::builder()
        .nodes(2)
        .processes(env!("CARGO_BIN_EXE_chorus"))
        .configure(|config| config.log_settings.console_level = "WARN".to_string())
        .start()
        .await;
    let (node_a, node_b) = (sandbox.node(0), sandbox.node(1));
    let admin = node_b.signup("pinadmin").await;
    let bob = node_b.signup("pinbob").await;
    let carol = node_b.signup("pincarol").await;
    let team_id = id_of(&admin.create_team("pinresume", "O").await);
    admin.add_to_team(&team_id, &bob.id).await;
    admin.add_to_team(&team_id, &carol.id).await;
    let pinned_channel_id = id_of(&admin.create_channel(&team_id, "pinroom", "P").await);
    admin.add_to_channel(&pinned_channel_id, &bob.id).await;
    let quiet_channel_id = id_of(&admin.create_channel(&team_id, "quietroom", "P").await);
    admin.add_to_channel(&quiet_channel_id, &carol.id).await;
    let post_id = id_of(
        &admin
            .post(&pinned_channel_id, "pin me while bob is away")
            .await,
    );
    wait_until(Duration::from_secs(15), "two live nodes", || {
        let admin = admin.api.clone();
        async move {
            let status = admin.get("/cluster/status").await.json;
            status.as_array().is_some_and(|nodes| {
                nodes.len() == 2 && nodes.iter().all(|node| node["alive"] == true)
            })
        }
    })
    .await;

    // Bob's and carol's sockets on node A each see a post, then drop.
    let mut bob_socket = EventSocket::connect_url(&node_a.websocket_url(), &bob.token).await;
    let mut carol_socket = EventSocket::connect_url(&node_a.websocket_url(), &carol.token).await;
    let seen_by_bob = id_of(&admin.post(&pinned_channel_id, "seen by bob").await);
    let seen_by_carol = id_of(&admin.post(&quiet_channel_id, "seen by carol").await);
    bob_socket
        .wait_for_matching("posted", |event| {
            post_of(event)["id"] == seen_by_bob.as_str()
        })
        .await;
    carol_socket
        .wait_for_matching("posted", |event| {
            post_of(event)["id"] == seen_by_carol.as_str()
        })
        .await;
    let (bob_connection, bob_seq) = (bob_socket.connection_id(), bob_socket.last_seq() + 1);
    let (carol_connection, carol_seq) = (carol_socket.connection_id(), carol_socket.last_seq() + 1);
    drop(bob_socket);
    drop(carol_socket);

    // Through node B while they are away: a pin in bob's channel, a post in carol's; then
    // node A dies with both events queued.
    admin
        .api
        .post(&format!("/posts/{post_id}/pin"), json!({}))
        .await
        .expect_status(200);
    let missed_by_carol = id_of(&admin.post(&quiet_channel_id, "missed by carol").await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    node_a.kill();
    wait_until(Duration::from_secs(15), "node A seen dead", || {
        let admin = admin.api.clone();
        async move {
            let status = admin.get("/cluster/status").await.json;
            status
                .as_array()
                .is_some_and(|nodes| nodes.iter().any(|node| node["alive"] == false))
        }
    })
    .await;

    let mut carol_resumed = EventSocket::resume_url(
        &node_b.websocket_url(),
        &carol.token,
        &carol_connection,
        carol_seq,
    )
    .await;
    let rebuilt = carol_resumed
        .wait_for_matching("posted", |event| {
            post_of(event)["id"] == missed_by_carol.as_str()
        })
        .await;
    assert_eq!(rebuilt["seq"], carol_seq, "rebuilt, numbered on (no hello)");

    let bob_resynced = EventSocket::connect_url(
        &format!(
            "{}?connection_id={bob_connection}&sequence_number={bob_seq}",
            node_b.websocket_url()
        ),
        &bob.token,
    )
    .await;
    assert_ne!(
        bob_resynced.connection_id(),
        bob_connection,
        "told to resync after a pin it may have missed"
    );
    let pinned = bob
        .api
        .get(&format!("/channels/{pinned_channel_id}/pinned"))
        .await
        .expect_status(200);
    assert_eq!(pinned["order"], json!([post_id]), "what the resync reads");
}

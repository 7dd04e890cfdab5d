//! Hardening (issue 12): each test replays one attack of the security review against real
//! nodes and checks that it no longer works, with the answers Mattermost clients expect.
//!
//! Nodes come from testkit's `Sandbox` (in this process, so a test can read a node's own count
//! of password hashes), through the helpers `node_with`, `version_id` and `open_websocket`.

use chorus_config::Config;
use futures_util::future::join_all;
use serde_json::json;

use chorus_testkit::client::{id_of, TestUser, PASSWORD};
use chorus_testkit::{Endpoint, Sandbox};

const INVALID_CREDENTIALS: &str = "api.user.login.invalid_credentials_email_username";
const ACCOUNT_LOCKED: &str = "api.user.check_user_login_attempts.too_many.app_error";

/// Item 1. The review sent 45 wrong passwords in bursts of 15 split over two nodes: the counter
/// ended at 4 and the right password then logged in. And an unknown username answered at once
/// while a known one cost a password hash, so timing told which usernames exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_passwords_on_two_nodes_lock_the_account_and_unknown_logins_cost_a_hash() {
    let maximum_attempts = 5;
    let sandbox = Sandbox::builder()
        .nodes(2)
        .configure(move |config: &mut Config| {
            config.service_settings.maximum_login_attempts = maximum_attempts
        })
        .start()
        .await;
    let (node_a, node_b) = (sandbox.node(0), sandbox.node(1));
    let app_a = node_a.app().expect("an in-process node");
    node_a.create_account("admin").await;
    node_a.create_account("victim").await;

    // An unknown login is hashed like a wrong password (counted on the node, since wall time
    // is too noisy here to compare).
    let hashed_before = app_a.password_checks();
    let unknown = node_a.login("nobody-by-that-name", "a-guess").await;
    assert_eq!(unknown.expect_error(401), INVALID_CREDENTIALS);
    assert_eq!(
        app_a.password_checks(),
        hashed_before + 1,
        "an unknown login must cost one password hash, as a wrong password does"
    );
    let hashed_before = app_a.password_checks();
    let wrong = node_a.login("admin", "a-guess").await;
    assert_eq!(wrong.expect_error(401), INVALID_CREDENTIALS);
    assert_eq!(app_a.password_checks(), hashed_before + 1);

    // Three bursts of six parallel guesses, alternating nodes: every guess reads the counter
    // before any of them has written it.
    for burst in 0..3 {
        let guesses = (0..6).map(|guess| {
            let node = if guess % 2 == 0 { node_a } else { node_b };
            async move {
                node.login("victim", &format!("wrong-{burst}-{guess}"))
                    .await
            }
        });
        for reply in join_all(guesses).await {
            let error_id = reply.expect_error(401);
            assert!(
                error_id == INVALID_CREDENTIALS || error_id == ACCOUNT_LOCKED,
                "a wrong password is refused as invalid or locked: {reply:?}"
            );
        }
    }
    for node in [node_a, node_b] {
        let right_password = node.login("victim", PASSWORD).await;
        assert_eq!(
            right_password.expect_error(401),
            ACCOUNT_LOCKED,
            "after more than MaximumLoginAttempts wrong passwords on any nodes, the right one \
             is refused"
        );
        assert!(right_password.header("token").is_none());
    }
}

/// A node from the harness with config changes.
async fn node_with(configure: impl FnOnce(&mut Config) + Send + 'static) -> Sandbox {
    Sandbox::builder().configure(configure).start().await
}

/// The `X-Version-Id` a node answers with.
async fn version_id(server: &Sandbox) -> String {
    let ping = server.anonymous().get("/system/ping").await;
    ping.expect_status(200);
    ping.header("x-version-id")
        .expect("every answer carries X-Version-Id")
        .to_string()
}

/// Item 6. `X-Version-Id` carried a hash of the whole config, so anyone could test guesses of
/// the database password against a header every answer carries.
#[tokio::test]
async fn x_version_id_changes_with_the_client_config_and_never_with_a_secret() {
    // Every test node has a database of its own: their SqlSettings.DataSource differ.
    let first = Sandbox::start().await;
    let other_secrets = node_with(|config| {
        config.file_settings.public_link_salt = "another-public-link-salt".to_string();
        config.sql_settings.at_rest_encrypt_key = "another-at-rest-key".to_string();
    })
    .await;
    let renamed =
        node_with(|config| config.team_settings.site_name = "Another Site".to_string()).await;

    let version = version_id(&first).await;
    assert_eq!(
        version,
        version_id(&other_secrets).await,
        "nodes differing only in secrets (DataSource, salts, keys) answer the same X-Version-Id"
    );
    assert_ne!(
        version,
        version_id(&renamed).await,
        "a setting clients see (SiteName) changes X-Version-Id, so clients reload their config"
    );
    // <version>.<build>.<client config hash>.<licensed>
    let parts: Vec<&str> = version.rsplitn(3, '.').collect();
    assert_eq!(parts[0], "false", "unlicensed: {version}");
    assert!(
        parts[1].len() == 32 && parts[1].bytes().all(|byte| byte.is_ascii_hexdigit()),
        "the client config hash: {version}"
    );
}

/// Post props a client may not set, with values that would let a user pass for a webhook, a
/// bot or a plugin under another name and picture.
fn forged_props() -> serde_json::Value {
    json!({
        "from_webhook": "true",
        "override_username": "the-ceo",
        "override_icon_url": "https://evil.example/ceo.png",
        "override_icon_emoji": ":tada:",
        "webhook_display_name": "Human Resources",
        "from_bot": "true",
        "from_plugin": "true",
        "from_oauth_app": "true",
        "add_channel_member": {"post_id": "x"},
        "force_notification": true,
        "card": "kept: an ordinary prop",
    })
}

const INTEGRATION_PROPS: [&str; 5] = [
    "from_webhook",
    "override_username",
    "override_icon_url",
    "override_icon_emoji",
    "webhook_display_name",
];
const SERVER_ONLY_PROPS: [&str; 5] = [
    "from_bot",
    "from_plugin",
    "from_oauth_app",
    "add_channel_member",
    "force_notification",
];

#[track_caller]
fn assert_props_dropped(post: &serde_json::Value, keys: &[&str], what: &str) {
    for key in keys {
        assert!(
            post["props"].get(*key).is_none(),
            "{what}: the server-only prop {key} must be dropped: {post}"
        );
    }
    assert_eq!(
        post["props"]["card"], "kept: an ordinary prop",
        "{what}: {post}"
    );
}

/// Item 7. A user could post with `from_webhook`, `override_username` and the like, and appear
/// as someone else.
#[tokio::test]
async fn server_only_post_props_from_clients_are_dropped_on_create_patch_and_update() {
    let server = Sandbox::start().await;
    let admin = server.signup("admin").await;
    let team = admin.create_team("props", "O").await;
    let channel = admin.create_channel(&id_of(&team), "props", "O").await;
    let channel_id = id_of(&channel);
    let every_protected_prop: Vec<&str> = INTEGRATION_PROPS
        .iter()
        .chain(SERVER_ONLY_PROPS.iter())
        .copied()
        .collect();

    let created = admin
        .api
        .post(
            "/posts",
            json!({"channel_id": channel_id, "message": "hello", "props": forged_props()}),
        )
        .await
        .expect_status(201);
    assert_props_dropped(&created, &every_protected_prop, "create");
    let post_id = id_of(&created);
    let stored = admin
        .api
        .get(&format!("/posts/{post_id}"))
        .await
        .expect_status(200);
    assert_props_dropped(&stored, &every_protected_prop, "read back");

    let patched = admin
        .api
        .put(
            &format!("/posts/{post_id}/patch"),
            json!({"message": "patched", "props": forged_props()}),
        )
        .await
        .expect_status(200);
    assert_props_dropped(&patched, &every_protected_prop, "patch");

    let mut whole_post = patched.clone();
    whole_post["message"] = json!("updated");
    whole_post["props"] = forged_props();
    let updated = admin
        .api
        .put(&format!("/posts/{post_id}"), whole_post)
        .await
        .expect_status(200);
    assert_props_dropped(&updated, &every_protected_prop, "update");
    assert_eq!(updated["message"], "updated");

    // An integration (a personal access token) may post as a webhook would, as in Mattermost;
    // the marks of bots and plugins stay the server's.
    let token = admin
        .api
        .post(
            &format!("/users/{}/tokens", admin.id),
            json!({"description": "integration"}),
        )
        .await
        .expect_status(200);
    let integration = server
        .anonymous()
        .with_token(token["token"].as_str().expect("the token's secret"));
    let integration_post = integration
        .post(
            "/posts",
            json!({"channel_id": channel_id, "message": "deployed", "props": forged_props()}),
        )
        .await
        .expect_status(201);
    assert_props_dropped(&integration_post, &SERVER_ONLY_PROPS, "integration");
    assert_eq!(integration_post["props"]["from_webhook"], "true");
    assert_eq!(integration_post["props"]["override_username"], "the-ceo");

    // A person editing that post can neither remove nor change what the integration set.
    let edited = admin
        .api
        .put(
            &format!("/posts/{}/patch", id_of(&integration_post)),
            json!({"props": {"override_username": "someone-else", "card": "kept: an ordinary prop"}}),
        )
        .await
        .expect_status(200);
    assert_eq!(edited["props"]["override_username"], "the-ceo", "{edited}");
    assert_eq!(edited["props"]["from_webhook"], "true", "{edited}");
}

/// Item 10. Posts in an archived channel could be edited, deleted and reacted to, and a deleted
/// post's text came back in `since` lists.
#[tokio::test]
async fn archived_channels_are_read_only_and_deleted_posts_return_no_text() {
    let server = Sandbox::start().await;
    let admin = server.signup("admin").await;
    let team = admin.create_team("archive", "O").await;
    let channel = admin.create_channel(&id_of(&team), "old-news", "O").await;
    let channel_id = id_of(&channel);
    let kept = admin.post(&channel_id, "kept for the record").await;
    let kept_id = id_of(&kept);
    admin
        .api
        .post(
            "/reactions",
            json!({"user_id": admin.id, "post_id": kept_id, "emoji_name": "smile"}),
        )
        .await
        .expect_status(200);

    // A deleted post keeps its place in `since` lists (clients learn of the deletion) but not
    // its text, as Mattermost's PreparePostForClient does.
    let before_secret = kept["create_at"].as_i64().expect("create_at");
    let secret = admin.post(&channel_id, "the secret #launch plan").await;
    let secret_id = id_of(&secret);
    admin
        .api
        .delete(&format!("/posts/{secret_id}"))
        .await
        .expect_status(200);
    let since = admin
        .api
        .get(&format!(
            "/channels/{channel_id}/posts?since={before_secret}"
        ))
        .await
        .expect_status(200);
    let deleted = &since["posts"][&secret_id];
    assert!(deleted["delete_at"].as_i64().unwrap_or(0) > 0, "{since}");
    assert_eq!(
        deleted["message"], "",
        "a deleted post's text stays on the server: {deleted}"
    );
    assert!(!deleted.to_string().contains("secret"), "{deleted}");
    let by_id = admin.api.get(&format!("/posts/{secret_id}")).await;
    assert_eq!(by_id.expect_error(404), "app.post.get.app_error");

    admin
        .api
        .delete(&format!("/channels/{channel_id}"))
        .await
        .expect_status(200);
    let refusals = [
        (
            admin
                .api
                .post(
                    "/posts",
                    json!({"channel_id": channel_id, "message": "late"}),
                )
                .await,
            400,
            "api.post.create_post.can_not_post_to_deleted.error",
        ),
        (
            admin
                .api
                .put(
                    &format!("/posts/{kept_id}/patch"),
                    json!({"message": "rewritten"}),
                )
                .await,
            400,
            "api.post.patch_post.can_not_update_post_in_deleted.error",
        ),
        (
            admin
                .api
                .put(
                    &format!("/posts/{kept_id}"),
                    json!({"id": kept_id, "channel_id": channel_id, "message": "rewritten"}),
                )
                .await,
            400,
            "api.post.update_post.can_not_update_post_in_deleted.error",
        ),
        (
            admin.api.delete(&format!("/posts/{kept_id}")).await,
            400,
            "api.post.delete_post.can_not_delete_post_in_deleted.error",
        ),
        (
            admin
                .api
                .post(
                    "/reactions",
                    json!({"user_id": admin.id, "post_id": kept_id, "emoji_name": "tada"}),
                )
                .await,
            403,
            "api.reaction.save.archived_channel.app_error",
        ),
        (
            admin
                .api
                .delete(&format!("/users/me/posts/{kept_id}/reactions/smile"))
                .await,
            403,
            "api.reaction.delete.archived_channel.app_error",
        ),
    ];
    for (reply, status, error_id) in refusals {
        assert_eq!(reply.expect_error(status), error_id, "{reply:?}");
    }
    let unchanged = admin
        .api
        .get(&format!("/posts/{kept_id}"))
        .await
        .expect_status(200);
    assert_eq!(unchanged["message"], "kept for the record");
    let reactions = admin
        .api
        .get(&format!("/posts/{kept_id}/reactions"))
        .await
        .expect_status(200);
    assert_eq!(reactions.as_array().map(Vec::len), Some(1), "{reactions}");
}

/// Opens the websocket of `server` with extra upgrade headers; the HTTP status of a refused
/// upgrade, or 101.
async fn open_websocket(server: &Sandbox, headers: &[(&str, String)]) -> u16 {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = server
        .websocket_url()
        .into_client_request()
        .expect("a websocket request");
    for (name, value) in headers {
        request.headers_mut().insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
            value.parse().expect("a header value"),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_socket, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("websocket upgrade failed: {other}"),
    }
}

fn session_cookie(user: &TestUser) -> String {
    let token = user
        .login_reply
        .cookie("MMAUTHTOKEN")
        .expect("login sets the MMAUTHTOKEN cookie");
    format!("MMAUTHTOKEN={token}")
}

/// Item 5. Any page could open a logged-in user's websocket (the browser sends the session
/// cookie with the upgrade): cross-site websocket hijacking. And AllowCorsFrom was ignored.
#[tokio::test]
async fn cookie_websockets_need_our_origin_and_cors_follows_allow_cors_from() {
    let partner = "https://app.partner.example";
    let server = node_with(|config| {
        config.service_settings.site_url = "https://chat.example.com".to_string();
        config.service_settings.allow_cors_from = partner.to_string();
        config.service_settings.cors_exposed_headers = "X-Version-Id".to_string();
        config.service_settings.cors_allow_credentials = true;
    })
    .await;
    let alice = server.signup("alice").await;
    let cookie = session_cookie(&alice);
    let evil = "https://evil.example".to_string();

    let hijack = open_websocket(
        &server,
        &[("cookie", cookie.clone()), ("origin", evil.clone())],
    )
    .await;
    assert_eq!(
        hijack, 403,
        "a cookie upgrade from a foreign page is refused"
    );
    for (allowed_origin, what) in [
        ("https://chat.example.com".to_string(), "SiteURL"),
        (partner.to_string(), "AllowCorsFrom"),
    ] {
        let upgrade = open_websocket(
            &server,
            &[("cookie", cookie.clone()), ("origin", allowed_origin)],
        )
        .await;
        assert_eq!(upgrade, 101, "a cookie upgrade from {what} is accepted");
    }
    let no_origin = open_websocket(&server, &[("cookie", cookie.clone())]).await;
    assert_eq!(no_origin, 101, "apps send no Origin");
    let by_header = open_websocket(
        &server,
        &[
            ("authorization", format!("Bearer {}", alice.token)),
            ("origin", evil.clone()),
        ],
    )
    .await;
    assert_eq!(
        by_header, 101,
        "a token in a header cannot be forged by another page"
    );

    // CORS for the listed origin, nothing for the others.
    let http = reqwest::Client::new();
    let api_url = format!("{}/api/v4", server.base_url());
    let preflight = http
        .request(reqwest::Method::OPTIONS, format!("{api_url}/users/me"))
        .header("origin", partner)
        .header("access-control-request-method", "PUT")
        .header(
            "access-control-request-headers",
            "authorization,x-requested-with",
        )
        .send()
        .await
        .expect("a preflight answer");
    assert!(preflight.status().is_success(), "{preflight:?}");
    let header = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    assert_eq!(header(&preflight, "access-control-allow-origin"), partner);
    assert_eq!(
        header(&preflight, "access-control-allow-credentials"),
        "true"
    );
    assert!(header(&preflight, "access-control-allow-methods").contains("put"));
    assert!(header(&preflight, "access-control-allow-headers").contains("authorization"));

    let cross_origin = http
        .get(format!("{api_url}/users/me"))
        .header("origin", partner)
        .bearer_auth(&alice.token)
        .send()
        .await
        .expect("an answer");
    assert_eq!(cross_origin.status(), 200);
    assert_eq!(
        header(&cross_origin, "access-control-allow-origin"),
        partner
    );
    assert!(header(&cross_origin, "access-control-expose-headers").contains("x-version-id"));

    let foreign = http
        .get(format!("{api_url}/system/ping"))
        .header("origin", &evil)
        .send()
        .await
        .expect("an answer");
    assert!(foreign
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

/// Item 2. RateLimitSettings were parsed and ignored: one client could flood a node.
#[tokio::test]
async fn a_flooding_client_gets_429_with_rate_limit_headers_and_logins_are_limited_harder() {
    let server = node_with(|config| {
        config.rate_limit_settings.enable = true;
        config.rate_limit_settings.per_sec = 1;
        config.rate_limit_settings.max_burst = 5;
        config.rate_limit_settings.vary_by_remote_addr = true;
        // Behind NGINX (deploy/nginx sets X-Real-IP to the address it saw).
        config.service_settings.trusted_proxy_ip_header = vec!["X-Real-IP".to_string()];
    })
    .await;
    let http = reqwest::Client::new();
    let ping_url = format!("{}/api/v4/system/ping", server.base_url());
    let ping_from = |client_address: &'static str, forwarded_for: &'static str| {
        http.get(&ping_url)
            .header("x-real-ip", client_address)
            .header("x-forwarded-for", forwarded_for)
            .send()
    };

    // An anonymous endpoint, from one client: the burst (MaxBurst + 1), then 429.
    let started = std::time::Instant::now();
    let mut allowed = 0u64;
    let refused = loop {
        let forged_forwarded_for = if allowed % 2 == 0 {
            "10.9.9.9"
        } else {
            "10.8.8.8"
        };
        let answer = ping_from("10.0.0.1", forged_forwarded_for)
            .await
            .expect("an answer");
        if answer.status() == 429 {
            break answer;
        }
        assert_eq!(answer.status(), 200);
        let header = |name: &str| {
            answer
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        assert_eq!(header("x-ratelimit-limit").as_deref(), Some("6"));
        assert!(header("x-ratelimit-remaining").is_some());
        assert!(header("x-ratelimit-reset").is_some());
        allowed += 1;
        assert!(allowed <= 50, "never limited");
    };
    // PerSec 1: a slow machine may have earned a request back for each second that passed.
    let refilled = started.elapsed().as_secs() + 1;
    assert!(
        (6..=6 + refilled).contains(&allowed),
        "MaxBurst 5 lets 6 requests through at once, got {allowed}"
    );
    assert_eq!(
        refused
            .headers()
            .get("x-ratelimit-remaining")
            .and_then(|value| value.to_str().ok()),
        Some("0")
    );
    assert!(refused.headers().get("retry-after").is_some());
    let refused_status = refused.status().as_u16();
    let body: serde_json::Value = refused.json().await.expect("a JSON error");
    assert_eq!(refused_status, 429);
    assert_eq!(body["id"], "api.context.rate_limit_exceeded.app_error");
    assert_eq!(body["status_code"], 429);

    // The key is the trusted header's address: another client is not limited, and a forged
    // X-Forwarded-For (untrusted) does not make a new client.
    let other_client = ping_from("10.0.0.2", "10.9.9.9").await.expect("an answer");
    assert_eq!(other_client.status(), 200);
    let same_client = ping_from("10.0.0.1", "10.7.7.7").await.expect("an answer");
    assert_eq!(same_client.status(), 429);

    // Password checks get a tenth of the burst (none beyond the first) from a fresh client.
    let login = |password: &'static str| {
        http.post(format!("{}/api/v4/users/login", server.base_url()))
            .header("x-real-ip", "10.0.0.3")
            .json(&json!({"login_id": "nobody", "password": password}))
            .send()
    };
    // At once, so that the limit's one-a-second rate earns nothing back in between.
    let (first, second) = tokio::join!(login("first-guess"), login("second-guess"));
    let mut statuses = vec![
        first.expect("an answer").status().as_u16(),
        second.expect("an answer").status().as_u16(),
    ];
    statuses.sort();
    assert_eq!(
        statuses,
        vec![401, 429],
        "one login checked, the other refused"
    );
}

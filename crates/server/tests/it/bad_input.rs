//! Bad input: generated garbage on every endpoint of `@mattermost/client` that Chorus serves
//! (tests/compat/js/endpoints.json), on the websocket's actions and on multipart uploads,
//! oversize bodies, unknown routes and malformed ids never produce a 5xx (beyond the two
//! Mattermost itself answers), always a Mattermost error body, and never touch data the sender
//! may not change.

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use reqwest::Method;
use serde_json::{json, Map, Value};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use chorus_testkit::client::{id_of, Api, Reply, TestUser};
use chorus_testkit::socket::{open_raw, post_of, EventSocket, RawSocket};
use chorus_testkit::{Endpoint, Sandbox};

/// Requests in the generated barrage: every endpoint gets a few dozen.
const BARRAGE_CASES: u32 = 3000;

/// The body limit of the barrage's server, so some generated bodies exceed it.
const PAYLOAD_LIMIT: usize = 100_000;

/// What a 4xx/5xx answer lacks to be a Mattermost error, if anything.
fn error_body_problem(reply: &Reply) -> Option<String> {
    if reply.header("content-type") != Some("application/json") {
        return Some("Content-Type is not exactly application/json".to_string());
    }
    if reply.error_id().is_empty() {
        return Some("no error id".to_string());
    }
    if reply.json["status_code"].as_u64() != Some(u64::from(reply.status)) {
        return Some("status_code differs from the HTTP status".to_string());
    }
    if reply.json["request_id"].as_str() != reply.header("x-request-id") {
        return Some("request_id differs from X-Request-Id".to_string());
    }
    None
}

/// The data the barrage must not disturb, and the ids it aims at.
///
/// alice (admin, first user) owns a team, a private channel and a post in it; bob is a plain
/// member who sends the barrage. bob may legitimately change his own things (profile, his post,
/// the public channel's header), never alice's.
struct World {
    server: Sandbox,
    alice: TestUser,
    bob: TestUser,
    team_id: String,
    public_channel_id: String,
    alices_private_channel_id: String,
    alices_post_id: String,
    bobs_post_id: String,
}

impl World {
    async fn set_up() -> World {
        let server = Sandbox::builder()
            .configure(|config| {
                config.service_settings.maximum_payload_size_bytes = PAYLOAD_LIMIT as i64
            })
            .start()
            .await;
        let alice = server.signup("alice").await;
        let bob = server.signup("bob").await;
        let team_id = id_of(&alice.create_team("crew", "O").await);
        alice.add_to_team(&team_id, &bob.id).await;
        let public_channel_id = id_of(&alice.channel_by_name(&team_id, "town-square").await);
        let alices_private_channel_id = id_of(&alice.create_channel(&team_id, "vault", "P").await);
        let alices_post_id = id_of(
            &alice
                .post(&alices_private_channel_id, "the combination is 1234")
                .await,
        );
        let bobs_post_id = id_of(&bob.post(&public_channel_id, "hello from bob").await);
        World {
            server,
            alice,
            bob,
            team_id,
            public_channel_id,
            alices_private_channel_id,
            alices_post_id,
            bobs_post_id,
        }
    }

    fn known_ids(&self) -> Vec<String> {
        vec![
            self.alice.id.clone(),
            self.bob.id.clone(),
            self.team_id.clone(),
            self.public_channel_id.clone(),
            self.alices_private_channel_id.clone(),
            self.alices_post_id.clone(),
            self.bobs_post_id.clone(),
        ]
    }

    /// The real ids a path placeholder of the catalogue may take, by the segment before it
    /// (`/users/{users}` takes a user id); a random id for the rest.
    fn ids_for(&self, placeholder: &str) -> Vec<String> {
        match placeholder {
            "users" | "members" | "user" | "owner" => {
                vec![self.alice.id.clone(), self.bob.id.clone(), "me".to_string()]
            }
            "teams" | "team" => vec![self.team_id.clone()],
            "channels" | "channel" => vec![
                self.public_channel_id.clone(),
                self.alices_private_channel_id.clone(),
            ],
            "posts" | "post" => vec![self.alices_post_id.clone(), self.bobs_post_id.clone()],
            "name" => vec!["crew".to_string(), "town-square".to_string()],
            "username" => vec!["alice".to_string(), "bob".to_string()],
            _ => vec![chorus_model::new_id()],
        }
    }

    /// Every endpoint of `@mattermost/client` that this node serves (tests/compat/js/
    /// endpoints.json, probed once: anything but the router's own 404 or 405), plus Chorus's own,
    /// each with its placeholders filled by real ids, and without the few that would end bob's
    /// session or account (the barrage needs him logged in).
    async fn endpoints(&self) -> Vec<Target> {
        let catalogue: Vec<Value> = serde_json::from_str(
            &std::fs::read_to_string(
                crate::compat::repository_root().join("tests/compat/js/endpoints.json"),
            )
            .expect("tests/compat/js/endpoints.json"),
        )
        .expect("the endpoint catalogue");
        let mut candidates: Vec<(Method, String)> = catalogue
            .iter()
            .map(|endpoint| {
                (
                    Method::from_bytes(endpoint["method"].as_str().unwrap().as_bytes()).unwrap(),
                    endpoint["path"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        for (method, path) in CHORUS_ONLY_ENDPOINTS {
            candidates.push((
                Method::from_bytes(method.as_bytes()).unwrap(),
                path.to_string(),
            ));
        }
        let mut targets = Vec::new();
        for (method, template) in candidates {
            if ENDS_THE_SENDERS_SESSION
                .iter()
                .any(|(excluded_method, excluded)| {
                    method.as_str() == *excluded_method && template == *excluded
                })
            {
                continue;
            }
            let placeholders: Vec<Vec<String>> = template
                .split('/')
                .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
                .map(|name| self.ids_for(name))
                .collect();
            let target = Target {
                method,
                template,
                placeholders,
            };
            let probe = self
                .bob
                .api
                .send(
                    self.bob
                        .api
                        .request(target.method.clone(), &target.path_with_first_ids())
                        .header("content-type", "application/json")
                        .body("{}"),
                )
                .await;
            let routed = !(probe.status == 405
                || probe.status == 404 && probe.error_id() == "api.context.404.app_error");
            if routed {
                targets.push(target);
            }
        }
        targets
    }

    /// What alice's data looks like to alice (minus counters bob's failed guesses may move).
    async fn alices_data(&self) -> Value {
        let api = &self.alice.api;
        let mut me = api.get("/users/me").await.expect_status(200);
        me.as_object_mut().unwrap().remove("failed_attempts");
        json!({
            "me": me,
            "team": api.get(&format!("/teams/{}", self.team_id)).await.expect_status(200),
            "vault": api
                .get(&format!("/channels/{}", self.alices_private_channel_id))
                .await
                .expect_status(200),
            "vault_members": api
                .get(&format!("/channels/{}/members", self.alices_private_channel_id))
                .await
                .expect_status(200),
            "post": api
                .get(&format!("/posts/{}", self.alices_post_id))
                .await
                .expect_status(200),
        })
    }
}

/// Endpoints Chorus serves that `@mattermost/client` has no method for.
const CHORUS_ONLY_ENDPOINTS: &[(&str, &str)] = &[
    ("GET", "/cluster/status"),
    ("GET", "/database/status"),
    ("POST", "/database/recycle"),
    ("POST", "/caches/invalidate"),
];

/// Errors Mattermost itself answers with a 5xx (clients expect exactly these): the new
/// client-config and license formats, which it does not implement either.
const MATTERMOST_ANSWERS_5XX: &[&str] = &[
    "api.config.client.old_format.app_error",
    "api.license.client.old_format.app_error",
];

/// Left out of the barrage: they end the sender's session or account, after which every
/// request is a 401 and proves nothing. Their own tests cover them.
const ENDS_THE_SENDERS_SESSION: &[(&str, &str)] = &[
    ("POST", "/users/logout"),
    ("POST", "/users/{users}/sessions/revoke"),
    ("POST", "/users/{users}/sessions/revoke/all"),
    ("POST", "/users/sessions/revoke/all"),
    ("DELETE", "/users/{users}"),
    ("PUT", "/users/{users}/active"),
    ("PUT", "/users/{users}/password"),
    ("PUT", "/users/{users}/roles"),
];

/// An endpoint under attack: a path template from the catalogue and, per placeholder, the
/// real ids it may take.
#[derive(Debug, Clone)]
struct Target {
    method: Method,
    template: String,
    placeholders: Vec<Vec<String>>,
}

impl Target {
    fn path_with_first_ids(&self) -> String {
        self.fill(self.placeholders.iter().map(|ids| ids[0].clone()))
    }

    /// The template with its placeholders replaced, in order, by `ids` (percent-encoded).
    fn fill(&self, ids: impl IntoIterator<Item = String>) -> String {
        let mut ids = ids.into_iter();
        self.template
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') && segment.ends_with('}') {
                    percent_encoded(&ids.next().unwrap_or_default())
                } else {
                    segment.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("/")
    }
}

fn percent_encoded(id: &str) -> String {
    id.chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '.' | '~' | '-' => c.to_string(),
            other => {
                let mut buffer = [0u8; 4];
                other
                    .encode_utf8(&mut buffer)
                    .bytes()
                    .map(|byte| format!("%{byte:02X}"))
                    .collect()
            }
        })
        .collect()
}

/// One generated request.
#[derive(Debug, Clone)]
struct BadRequest {
    method: Method,
    path: String,
    body: BadBody,
    content_type: Option<&'static str>,
}

#[derive(Clone)]
enum BadBody {
    Json(Value),
    Raw(Vec<u8>),
}

impl std::fmt::Debug for BadBody {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = match self {
            BadBody::Json(value) => value.to_string(),
            BadBody::Raw(bytes) => format!("raw {:?}", String::from_utf8_lossy(bytes)),
        };
        let short: String = shown.chars().take(300).collect();
        write!(
            formatter,
            "{short}{}",
            if short.len() < shown.len() { "…" } else { "" }
        )
    }
}

impl BadRequest {
    async fn send(&self, api: &Api) -> Reply {
        let mut request = api.request(self.method.clone(), &self.path);
        if let Some(content_type) = self.content_type {
            request = request.header("content-type", content_type);
        }
        let bytes = match &self.body {
            BadBody::Json(value) => serde_json::to_vec(value).unwrap(),
            BadBody::Raw(bytes) => bytes.clone(),
        };
        api.send(request.body(bytes)).await
    }
}

/// Keys the endpoints read, so generated objects often get past the first checks.
const FIELD_NAMES: &[&str] = &[
    "id",
    "user_id",
    "team_id",
    "channel_id",
    "post_id",
    "root_id",
    "token_id",
    "name",
    "display_name",
    "type",
    "header",
    "purpose",
    "message",
    "props",
    "file_ids",
    "pending_post_id",
    "emoji_name",
    "terms",
    "is_or_search",
    "page",
    "per_page",
    "login_id",
    "password",
    "username",
    "email",
    "nickname",
    "first_name",
    "locale",
    "position",
    "notify_props",
    "timezone",
    "status",
    "description",
    "current_password",
    "new_password",
    "is_pinned",
    "allow_open_invite",
    "dnd_end_time",
    "roles",
];

fn text(known_ids: Vec<String>) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(known_ids),
        2 => "[a-z0-9]{26}",
        2 => "\\PC{0,30}",
        1 => ".{0,12}",
        1 => "[a-z][a-z0-9._-]{0,25}",
        1 => "[a-z]{1,10}@[a-z]{1,8}\\.[a-z]{2,3}",
        1 => prop::sample::select(vec![
            "", " ", "me", "O", "P", "D", "G", "I", "online", "away", "dnd", "@all", "from:",
            "in:", "\"", "*", "-", "\u{0}", "null", "town-square", "../../etc/passwd",
            "'; DROP TABLE posts; --", "🦀🦀🦀", "\u{202e}evil",
        ])
        .prop_map(str::to_string),
        1 => (60usize..2_000).prop_map(|length| "é".repeat(length)),
        1 => (20_000usize..(PAYLOAD_LIMIT + 20_000)).prop_map(|length| "x".repeat(length)),
    ]
}

fn json_value(known_ids: Vec<String>) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(vec![0i64, -1, 1, 2, 200, 1_000_000, i64::MAX, i64::MIN])
            .prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |number| number.is_finite())
            .prop_map(|number| json!(number)),
        text(known_ids).prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((field_name(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(FIELD_NAMES).prop_map(str::to_string),
        1 => "\\PC{0,10}",
    ]
}

/// A JSON object made of the endpoints' field names with values of any type.
fn plausible_object(known_ids: Vec<String>) -> impl Strategy<Value = Value> {
    prop::collection::vec((field_name(), json_value(known_ids)), 0..8)
        .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>()))
}

fn bad_body(known_ids: Vec<String>) -> impl Strategy<Value = BadBody> {
    prop_oneof![
        8 => plausible_object(known_ids.clone()).prop_map(BadBody::Json),
        3 => json_value(known_ids.clone()).prop_map(BadBody::Json),
        2 => prop::collection::vec(text(known_ids.clone()), 0..5)
            .prop_map(|items| BadBody::Json(json!(items))),
        2 => (plausible_object(known_ids), any::<prop::sample::Index>()).prop_map(
            |(object, cut)| {
                let full = serde_json::to_vec(&object).unwrap();
                let truncated = full[..cut.index(full.len().max(1)).min(full.len())].to_vec();
                BadBody::Raw(truncated)
            }
        ),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(BadBody::Raw),
        1 => prop::sample::select(vec![
            "", " ", "\n", "null", "{", "[", "{}", "[]", "\"\"", "0", "-", "{\"a\":}", "[1,]",
            "{\"message\": \"\\ud800\"}", "\u{feff}{}",
        ])
        .prop_map(|raw| BadBody::Raw(raw.as_bytes().to_vec())),
    ]
}

/// A path id: a real one mostly, sometimes a malformed one.
fn path_id(real: Vec<String>) -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(real),
        1 => "[a-z0-9]{26}",
        1 => "[a-zA-Z0-9_.~-]{0,40}",
        1 => "\\PC{1,10}",
    ]
}

fn bad_request(known_ids: Vec<String>, targets: Vec<Target>) -> impl Strategy<Value = BadRequest> {
    (0..targets.len())
        .prop_flat_map(move |index| {
            let target = targets[index].clone();
            let ids: Vec<_> = target
                .placeholders
                .iter()
                .map(|real| path_id(real.clone()))
                .collect();
            let content_type = prop::sample::select(vec![
                Some("application/json"),
                Some("application/json"),
                Some("text/plain"),
                None,
            ]);
            (Just(target), ids, bad_body(known_ids.clone()), content_type)
        })
        .prop_map(|(target, ids, body, content_type)| BadRequest {
            method: target.method.clone(),
            path: target.fill(ids),
            body,
            content_type,
        })
}

/// proptest drives synchronous closures, so this test owns a runtime and blocks on it per case;
/// the server keeps running on the runtime's workers in between.
#[test]
fn generated_bad_input_never_causes_a_server_error_or_harms_existing_data() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let world = runtime.block_on(World::set_up());
    let targets = runtime.block_on(world.endpoints());
    assert!(
        targets.len() >= 80,
        "only {} endpoints are under attack: the catalogue or the probe is broken",
        targets.len()
    );
    let alices_data_before = runtime.block_on(world.alices_data());

    let mut runner = TestRunner::new(ProptestConfig {
        cases: BARRAGE_CASES,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    });
    // Garbage that never gets past the JSON parser proves little: count what went through.
    let accepted = std::sync::atomic::AtomicU32::new(0);
    let outcome = runner.run(&bad_request(world.known_ids(), targets), |request| {
        let reply = runtime.block_on(request.send(&world.bob.api));
        if std::env::var_os("BARRAGE_TRACE").is_some() {
            eprintln!(
                "TRACE {} {} -> {} {}",
                request.method,
                request.path,
                reply.status,
                reply.error_id()
            );
        }
        if reply.status < 300 {
            accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if reply.status >= 500 && !MATTERMOST_ANSWERS_5XX.contains(&reply.error_id()) {
            return Err(TestCaseError::fail(format!(
                "server error for {request:?}: {reply:?}"
            )));
        }
        if reply.status >= 400 {
            if let Some(problem) = error_body_problem(&reply) {
                return Err(TestCaseError::fail(format!(
                    "{problem} for {request:?}: {reply:?}"
                )));
            }
        }
        Ok(())
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
    let accepted = accepted.into_inner();
    assert!(
        accepted >= BARRAGE_CASES / 50,
        "only {accepted} of {BARRAGE_CASES} generated requests were accepted: the generators \
         no longer reach past input validation"
    );

    runtime.block_on(async {
        let ping = world.server.anonymous().get("/system/ping").await;
        assert_eq!(ping.expect_status(200)["status"], "OK");
        assert_eq!(
            world.alices_data().await,
            alices_data_before,
            "the barrage changed data it had no right to change"
        );
        // bob still works normally, once back in the team and channel the barrage may have
        // made him leave.
        world.bob.api.get("/users/me").await.expect_status(200);
        world.alice.add_to_team(&world.team_id, &world.bob.id).await;
        world
            .alice
            .api
            .post(
                &format!("/channels/{}/members", world.public_channel_id),
                json!({"user_id": world.bob.id}),
            )
            .await;
        world
            .bob
            .post(&world.public_channel_id, "still standing")
            .await;
        drop(world);
    });
}

#[tokio::test]
async fn an_oversize_body_is_refused_with_413() {
    let server = Sandbox::start().await;
    let alice = server.signup("alice").await;
    let team_id = id_of(&alice.create_team("crew", "O").await);
    let channel_id = id_of(&alice.channel_by_name(&team_id, "town-square").await);

    let huge_message = "a".repeat(400_000);
    let refused = alice
        .api
        .post(
            "/posts",
            json!({"channel_id": channel_id, "message": huge_message}),
        )
        .await;
    refused.expect_error(413);

    let posts = alice
        .api
        .get(&format!("/channels/{channel_id}/posts"))
        .await
        .expect_status(200);
    assert_eq!(posts["order"], json!([]), "nothing was stored");

    // Under the limit but over Mattermost's message length: 400 with the model's error id.
    let too_long = alice
        .api
        .post(
            "/posts",
            json!({"channel_id": channel_id, "message": "a".repeat(20_000)}),
        )
        .await;
    assert_eq!(
        too_long.expect_error(400),
        "model.post.is_valid.msg.app_error"
    );
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_with_json_errors() {
    let server = Sandbox::start().await;
    let alice = server.signup("alice").await;

    for path in ["/no/such/route", "/users/me/no-such-thing"] {
        alice.api.get(path).await.expect_error(404);
    }
    // Outside /api, a GET is the web client's index.html (its router decides); anything
    // else still gets Mattermost's JSON error.
    let outside_api = alice
        .api
        .send(reqwest::Client::new().get(format!("{}/definitely/not/here", server.base_url())))
        .await;
    assert_eq!(outside_api.status, 200);
    assert!(outside_api
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/html")));
    let post_outside_api = alice
        .api
        .send(reqwest::Client::new().post(format!("{}/definitely/not/here", server.base_url())))
        .await;
    post_outside_api.expect_error(404);

    let wrong_method = alice
        .api
        .send(alice.api.request(Method::DELETE, "/users/login"))
        .await;
    wrong_method.expect_error(405);
}

#[tokio::test]
async fn malformed_ids_in_paths_answer_400_and_unknown_ids_404() {
    let server = Sandbox::start().await;
    let alice = server.signup("alice").await;

    for path in [
        "/users/not-an-id",
        "/teams/SHOUTINGSHOUTINGSHOUTING12",
        "/channels/short",
        "/channels/abc/posts",
        "/channels/abc/members",
        "/posts/x",
        "/posts/x/thread",
        "/posts/x/reactions",
        "/users/me/channels/%F0%9F%A6%80/unread",
    ] {
        alice.api.get(path).await.expect_error(400);
    }
    alice.api.delete("/posts/not-an-id").await.expect_error(400);

    let unknown = chorus_model::new_id();
    for path in [
        format!("/users/{unknown}"),
        format!("/teams/{unknown}"),
        format!("/channels/{unknown}"),
        format!("/posts/{unknown}"),
    ] {
        alice.api.get(&path).await.expect_error(404);
    }
}

#[tokio::test]
async fn a_nul_character_is_refused_before_it_reaches_the_database() {
    let server = Sandbox::start().await;
    let alice = server.signup("alice").await;
    let team_id = id_of(&alice.create_team("crew", "O").await);
    let channel_id = id_of(&alice.channel_by_name(&team_id, "town-square").await);

    alice
        .api
        .post(
            "/posts",
            json!({"channel_id": channel_id, "message": "before\u{0}after"}),
        )
        .await
        .expect_error(400);
    alice
        .api
        .post("/users/usernames", json!(["\u{0}"]))
        .await
        .expect_error(400);
    alice
        .api
        .get("/users/username/al%00ice")
        .await
        .expect_error(400);
    alice.api.get("/teams/name/crew%00").await.expect_error(400);
}

/// Frames a confused or hostile websocket client might send.
fn bad_frame(known_ids: Vec<String>) -> impl Strategy<Value = Message> {
    let action = prop_oneof![
        4 => prop::sample::select(vec![
            "user_typing", "get_statuses", "get_statuses_by_ids", "ping", "presence",
            "user_update_active_status", "posted_notify_ack", "authentication_challenge",
        ])
        .prop_map(Value::from),
        1 => json_value(known_ids.clone()),
    ];
    let seq = prop_oneof![
        3 => (1i64..1000).prop_map(Value::from),
        1 => json_value(known_ids.clone()),
    ];
    let data = prop_oneof![
        3 => plausible_object(known_ids.clone()),
        1 => json_value(known_ids.clone()),
        1 => prop::collection::vec(text(known_ids.clone()), 0..200)
            .prop_map(|ids| json!({"user_ids": ids})),
    ];
    prop_oneof![
        8 => (action, seq, data).prop_map(|(action, seq, data)| {
            Message::text(json!({"action": action, "seq": seq, "data": data}).to_string())
        }),
        2 => bad_body(known_ids).prop_map(|body| match body {
            BadBody::Json(value) => Message::text(value.to_string()),
            BadBody::Raw(bytes) => Message::text(String::from_utf8_lossy(&bytes).to_string()),
        }),
        1 => prop::collection::vec(any::<u8>(), 0..256).prop_map(Message::binary),
        1 => (100_000usize..2_000_000).prop_map(|length| Message::text("x".repeat(length))),
    ]
}

/// A frame, cut to 300 characters.
fn describe_frame(frame: &Message) -> String {
    let shown = format!("{frame:?}");
    let short: String = shown.chars().take(300).collect();
    format!("{short}… ({} bytes)", frame.len())
}

/// What became of a socket after a garbage frame: it answered a ping, or closed.
enum SocketAfter {
    Answered,
    Closed(Option<u16>),
}

/// Sends a ping with `seq` and reads until its reply or the end; every frame must be JSON.
async fn ping_through(socket: &mut RawSocket, seq: i64) -> Result<SocketAfter, String> {
    let ping = json!({"action": "ping", "seq": seq});
    if socket.send(Message::text(ping.to_string())).await.is_err() {
        return Ok(SocketAfter::Closed(None));
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => return Err(format!("no answer to ping seq {seq} and no close")),
            Ok(None) | Ok(Some(Err(_))) => return Ok(SocketAfter::Closed(None)),
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Ok(SocketAfter::Closed(frame.map(|frame| frame.code.into())))
            }
            Ok(Some(Ok(Message::Text(text)))) => {
                let message: Value = serde_json::from_str(&text).map_err(|error| {
                    format!("the server sent a non-JSON frame ({error}): {text}")
                })?;
                if message["seq_reply"] == seq {
                    if message["status"] != "OK" {
                        return Err(format!("the ping after garbage failed: {message}"));
                    }
                    return Ok(SocketAfter::Answered);
                }
                if message.get("seq_reply").is_some()
                    && !matches!(message["status"].as_str(), Some("OK" | "FAIL"))
                {
                    return Err(format!("a reply without OK or FAIL: {message}"));
                }
            }
            Ok(Some(Ok(_))) => continue,
        }
    }
}

/// Garbage websocket frames (actions with data of any shape, broken JSON, binary, oversize)
/// get FAIL replies or are ignored, or end that one socket with a close code; the node, other
/// sockets and the data are untouched.
#[test]
fn generated_bad_websocket_frames_never_disturb_the_node_or_other_sockets() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let world = runtime.block_on(World::set_up());
    let alices_data_before = runtime.block_on(world.alices_data());
    let mut alices_socket =
        runtime.block_on(EventSocket::connect(&world.server, &world.alice.token));
    let mut socket = runtime.block_on(open_raw(&world.server, Some(&world.bob.token)));

    let mut runner = TestRunner::new(ProptestConfig {
        cases: 400,
        failure_persistence: None,
        max_shrink_iters: 50,
        ..ProptestConfig::default()
    });
    let ping_seq = std::cell::Cell::new(1_000_000_000_000i64);
    let closes = std::cell::Cell::new(0u32);
    let socket = std::cell::RefCell::new(&mut socket);
    let outcome = runner.run(&bad_frame(world.known_ids()), |frame| {
        runtime.block_on(async {
            let mut socket = socket.borrow_mut();
            let oversize = frame.len() > chorus_realtime::MAX_INBOUND_MESSAGE_SIZE;
            if socket.send(frame.clone()).await.is_err() {
                // The server may end the socket while an oversize frame is still on its way.
                **socket = open_raw(&world.server, Some(&world.bob.token)).await;
                if oversize {
                    closes.set(closes.get() + 1);
                    return Ok(());
                }
                return Err(TestCaseError::fail(format!(
                    "the socket was closed before {}",
                    describe_frame(&frame)
                )));
            }
            ping_seq.set(ping_seq.get() + 1);
            match ping_through(&mut socket, ping_seq.get()).await {
                Err(problem) => Err(TestCaseError::fail(format!(
                    "{problem} after {}",
                    describe_frame(&frame)
                ))),
                Ok(SocketAfter::Answered) => Ok(()),
                Ok(SocketAfter::Closed(code)) => {
                    // Only an oversize frame may end the socket, with "message too big" (which
                    // the client may not get to read while it is still sending a long frame).
                    if !oversize || code.is_some_and(|code| code != 1009) {
                        **socket = open_raw(&world.server, Some(&world.bob.token)).await;
                        return Err(TestCaseError::fail(format!(
                            "the server closed the socket ({code:?}) after {}",
                            describe_frame(&frame)
                        )));
                    }
                    closes.set(closes.get() + 1);
                    **socket = open_raw(&world.server, Some(&world.bob.token)).await;
                    Ok(())
                }
            }
        })
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
    println!("oversize frames that ended their socket: {}", closes.get());

    runtime.block_on(async {
        world
            .server
            .anonymous()
            .get("/system/ping")
            .await
            .expect_status(200);
        assert_eq!(world.alices_data().await, alices_data_before);
        // alice's socket, open all along, still gets her events in order.
        let post_id = id_of(
            &world
                .alice
                .post(&world.alices_private_channel_id, "after")
                .await,
        );
        let posted = alices_socket
            .wait_for_matching("posted", |event| post_of(event)["id"] == post_id.as_str())
            .await;
        assert_eq!(post_of(&posted)["message"], "after");
    });
}

#[tokio::test]
async fn an_oversize_websocket_message_ends_the_socket_with_message_too_big() {
    let server = Sandbox::start().await;
    let alice = server.signup("alice").await;
    let mut socket = open_raw(&server, Some(&alice.token)).await;
    let too_big = "x".repeat(chorus_realtime::MAX_INBOUND_MESSAGE_SIZE + 1000);
    socket.send(Message::text(too_big)).await.unwrap();
    let closed =
        chorus_testkit::socket::wait_for_close(&mut socket, std::time::Duration::from_secs(5))
            .await
            .expect("the socket is closed");
    assert_eq!(closed.code(), Some(1009), "{closed:?}");
}

/// A generated `POST /files` body: the parts of an upload with generated names, channel ids
/// and contents, sometimes broken (wrong or missing boundary, cut short, bad part headers).
#[derive(Debug, Clone)]
struct BadUpload {
    content_type: String,
    body: Vec<u8>,
}

fn bad_upload(
    known_ids: Vec<String>,
    channel_ids: Vec<String>,
) -> impl Strategy<Value = BadUpload> {
    let file_name = prop_oneof![
        3 => "[a-zA-Z0-9 ._-]{1,20}",
        1 => prop::sample::select(vec![
            "", ".", "..", "../../etc/passwd", "a/b.png", "C:\\evil.exe", "\u{0}.png",
            "x.png\r\nContent-Type: text/html", "🦀.png",
        ])
        .prop_map(str::to_string),
        1 => (200usize..2000).prop_map(|length| "n".repeat(length)),
    ];
    let content = prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..2048),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(|tail| {
            let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
            png.extend(tail);
            png
        }),
    ];
    let part = prop_oneof![
        2 => text(known_ids.clone()).prop_map(|id| ("channel_id".to_string(), None, id.into_bytes())),
        1 => text(known_ids.clone()).prop_map(|id| ("client_ids".to_string(), None, id.into_bytes())),
        4 => (file_name, content).prop_map(|(name, content)| ("files".to_string(), Some(name), content)),
        1 => ("\\PC{0,10}", text(known_ids)).prop_map(|(field, value)| (field, None, value.into_bytes())),
    ];
    let boundary = "[a-zA-Z0-9]{1,40}";
    let damage = prop_oneof![
        6 => Just(0u8), // none
        1 => Just(1),   // a different boundary in the header
        1 => Just(2),   // no boundary in the header
        1 => Just(3),   // cut short
        1 => Just(4),   // no closing boundary
        1 => Just(5),   // a part without headers
    ];
    // Mostly a real channel first, as clients send it, so that uploads get past it.
    let first = prop::option::weighted(0.8, prop::sample::select(channel_ids))
        .prop_map(|channel| channel.map(|id| ("channel_id".to_string(), None, id.into_bytes())));
    (first, prop::collection::vec(part, 0..5), boundary, damage, any::<prop::sample::Index>()).prop_map(
        |(first, rest, boundary, damage, cut)| {
            let parts: Vec<_> = first.into_iter().chain(rest).collect();
            let mut body = Vec::new();
            for (field, file_name, content) in &parts {
                body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
                if damage != 5 {
                    let disposition = match file_name {
                        Some(name) => format!(
                            "Content-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n"
                        ),
                        None => format!("Content-Disposition: form-data; name=\"{field}\"\r\n"),
                    };
                    body.extend_from_slice(disposition.as_bytes());
                }
                body.extend_from_slice(b"\r\n");
                body.extend_from_slice(content);
                body.extend_from_slice(b"\r\n");
            }
            if damage != 4 {
                body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            }
            if damage == 3 {
                body.truncate(cut.index(body.len().max(1)));
            }
            let content_type = match damage {
                1 => format!("multipart/form-data; boundary={boundary}x"),
                2 => "multipart/form-data".to_string(),
                _ => format!("multipart/form-data; boundary={boundary}"),
            };
            BadUpload { content_type, body }
        },
    )
}

/// Generated and broken multipart uploads never cause a 5xx or store a file where the sender
/// may not (alice's private channel), and the node keeps serving.
#[test]
fn generated_bad_uploads_never_cause_a_server_error_or_reach_other_channels() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let world = runtime.block_on(World::set_up());
    let alices_data_before = runtime.block_on(world.alices_data());
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 400,
        failure_persistence: None,
        max_shrink_iters: 100,
        ..ProptestConfig::default()
    });
    let accepted = std::sync::atomic::AtomicU32::new(0);
    let channel_ids = vec![
        world.public_channel_id.clone(),
        world.alices_private_channel_id.clone(),
    ];
    let outcome = runner.run(&bad_upload(world.known_ids(), channel_ids), |upload| {
        let api = &world.bob.api;
        let request = api
            .request(Method::POST, "/files")
            .header("content-type", upload.content_type.clone())
            .body(upload.body.clone());
        let reply = runtime.block_on(api.send(request));
        let shown = || format!("{} with {} bytes", upload.content_type, upload.body.len());
        if reply.status < 300 {
            accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let stored_in = reply.json["file_infos"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|info| info["channel_id"].as_str())
                .collect::<Vec<_>>();
            if stored_in.contains(&world.alices_private_channel_id.as_str()) {
                return Err(TestCaseError::fail(format!(
                    "bob stored a file in alice's private channel: {} {reply:?}",
                    shown()
                )));
            }
        }
        if reply.status >= 500 {
            return Err(TestCaseError::fail(format!(
                "server error for {}: {reply:?}",
                shown()
            )));
        }
        if reply.status >= 400 {
            if let Some(problem) = error_body_problem(&reply) {
                return Err(TestCaseError::fail(format!(
                    "{problem} for {}: {reply:?}",
                    shown()
                )));
            }
        }
        Ok(())
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
    let accepted = accepted.into_inner();
    println!("uploads accepted: {accepted} of 400");
    assert!(
        accepted >= 4,
        "only {accepted} generated uploads were accepted: the generator no longer reaches past validation"
    );
    runtime.block_on(async {
        world
            .server
            .anonymous()
            .get("/system/ping")
            .await
            .expect_status(200);
        assert_eq!(world.alices_data().await, alices_data_before);
    });
}

//! Bad input: generated garbage on the JSON endpoints, oversize bodies, unknown routes and
//! malformed ids never produce a 5xx, and always a Mattermost error body.

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use reqwest::Method;
use serde_json::{json, Map, Value};

use chorus_testkit::client::{id_of, Api, Reply, TestUser};
use chorus_testkit::{Endpoint, Sandbox};

/// Requests in the generated barrage: every endpoint gets dozens, in about ten seconds.
const BARRAGE_CASES: u32 = 1500;

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

    /// The JSON endpoints under attack: (method, path with `{id}` for a path id, the real id).
    fn endpoints(&self) -> Vec<(Method, String, Option<String>)> {
        let fixed = |method: Method, path: &str| (method, path.to_string(), None);
        let with_id =
            |method: Method, path: &str, id: &String| (method, path.to_string(), Some(id.clone()));
        vec![
            fixed(Method::POST, "/users"),
            fixed(Method::POST, "/users/login"),
            fixed(Method::POST, "/users/ids"),
            fixed(Method::POST, "/users/usernames"),
            fixed(Method::POST, "/users/status/ids"),
            fixed(Method::PUT, "/users/me/patch"),
            fixed(Method::PUT, "/users/me/password"),
            fixed(Method::PUT, "/users/me/status"),
            fixed(Method::POST, "/teams"),
            fixed(Method::POST, "/channels"),
            fixed(Method::POST, "/channels/direct"),
            fixed(Method::POST, "/channels/group"),
            fixed(Method::POST, "/channels/members/me/view"),
            fixed(Method::POST, "/posts"),
            fixed(Method::POST, "/reactions"),
            fixed(Method::POST, "/users/tokens/revoke"),
            with_id(Method::PUT, "/users/{id}/patch", &self.alice.id),
            with_id(Method::POST, "/users/{id}/tokens", &self.bob.id),
            with_id(Method::PUT, "/teams/{id}/patch", &self.team_id),
            with_id(Method::POST, "/teams/{id}/members", &self.team_id),
            with_id(Method::POST, "/teams/{id}/posts/search", &self.team_id),
            with_id(Method::PUT, "/channels/{id}/patch", &self.public_channel_id),
            with_id(
                Method::PUT,
                "/channels/{id}/patch",
                &self.alices_private_channel_id,
            ),
            with_id(
                Method::POST,
                "/channels/{id}/members",
                &self.public_channel_id,
            ),
            with_id(Method::PUT, "/posts/{id}/patch", &self.bobs_post_id),
            with_id(Method::PUT, "/posts/{id}/patch", &self.alices_post_id),
            with_id(Method::PUT, "/posts/{id}", &self.bobs_post_id),
        ]
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

/// A path id: the real one mostly, sometimes a malformed one.
fn path_id(real: String) -> impl Strategy<Value = String> {
    prop_oneof![
        6 => Just(real),
        1 => "[a-z0-9]{26}",
        1 => "[a-zA-Z0-9_.~-]{0,40}",
        1 => "\\PC{1,10}",
    ]
}

fn bad_request(world: &World) -> impl Strategy<Value = BadRequest> {
    let known_ids = world.known_ids();
    let endpoints = world.endpoints();
    (0..endpoints.len())
        .prop_flat_map(move |index| {
            let (method, template, real_id) = endpoints[index].clone();
            let id = match real_id {
                Some(real) => path_id(real).boxed(),
                None => Just(String::new()).boxed(),
            };
            let content_type = prop::sample::select(vec![
                Some("application/json"),
                Some("application/json"),
                Some("text/plain"),
                None,
            ]);
            (
                Just(method),
                Just(template),
                id,
                bad_body(known_ids.clone()),
                content_type,
            )
        })
        .prop_map(|(method, template, id, body, content_type)| {
            let encoded: String = id
                .chars()
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
                .collect();
            BadRequest {
                method,
                path: template.replace("{id}", &encoded),
                body,
                content_type,
            }
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
    let alices_data_before = runtime.block_on(world.alices_data());

    let mut runner = TestRunner::new(ProptestConfig {
        cases: BARRAGE_CASES,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    });
    // Garbage that never gets past the JSON parser proves little: count what went through.
    let accepted = std::sync::atomic::AtomicU32::new(0);
    let outcome = runner.run(&bad_request(&world), |request| {
        let reply = runtime.block_on(request.send(&world.bob.api));
        if reply.status < 300 {
            accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if reply.status >= 500 {
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
        // bob still works normally.
        world.bob.api.get("/users/me").await.expect_status(200);
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
    let outside_api = alice
        .api
        .send(reqwest::Client::new().get(format!("{}/definitely/not/here", server.base_url())))
        .await;
    outside_api.expect_error(404);

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

//! Integrations (issue 16): bots, incoming and outgoing webhooks with Mattermost's paths,
//! shapes, permissions and error ids; outgoing deliveries made once per acknowledgement by any
//! node, also while the node that took the triggering post is SIGKILLed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Mutex;

use chorus_testkit::client::{Api, TestUser};
use chorus_testkit::{Endpoint, Sandbox};

use crate::cluster::wait_until;

/// An open team named `name` made by `admin`, and its town-square: (team id, channel id).
async fn open_team_and_town_square(admin: &Api, name: &str) -> (String, String) {
    let team = admin
        .post(
            "/teams",
            json!({"name": name, "display_name": name, "type": "O"}),
        )
        .await
        .expect_status(201);
    let team_id = team["id"].as_str().unwrap().to_string();
    let channel_id = admin
        .get(&format!("/teams/{team_id}/channels/name/town-square"))
        .await
        .expect_status(200)["id"]
        .as_str()
        .unwrap()
        .to_string();
    (team_id, channel_id)
}

/// A team, its town-square and a private channel, made by `admin`.
struct Place {
    team_id: String,
    town_square: String,
    private_channel: String,
}

async fn place(admin: &TestUser, name: &str) -> Place {
    let team = admin.create_team(name, "O").await;
    let team_id = team["id"].as_str().unwrap().to_string();
    let town_square = admin.channel_by_name(&team_id, "town-square").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let private_channel = admin
        .create_channel(&team_id, &format!("{name}-private"), "P")
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    Place {
        team_id,
        town_square,
        private_channel,
    }
}

/// The newest post of a channel.
async fn last_post(user: &TestUser, channel_id: &str) -> Value {
    let posts = user
        .api
        .get(&format!("/channels/{channel_id}/posts?per_page=1"))
        .await
        .expect_status(200);
    let id = posts["order"][0].as_str().expect("a post").to_string();
    posts["posts"][&id].clone()
}

#[tokio::test]
async fn bots_are_created_listed_patched_disabled_and_their_posts_marked() {
    let server = Sandbox::builder()
        .configure(|config| {
            config.service_settings.enable_bot_account_creation = true;
            config.service_settings.enable_user_access_tokens = true;
        })
        .start()
        .await;
    let admin = server.signup("botadmin").await;
    let alice = server.signup("botalice").await;
    let here = place(&admin, "botteam").await;

    let created = admin
        .api
        .post(
            "/bots",
            json!({"username": "CI-Bot", "display_name": "CI", "description": "builds"}),
        )
        .await
        .expect_status(201);
    let bot_id = created["user_id"].as_str().unwrap().to_string();
    assert_eq!(created["username"], "ci-bot");
    assert_eq!(created["display_name"], "CI");
    assert_eq!(created["description"], "builds");
    assert_eq!(created["owner_id"], admin.id.as_str());
    assert_eq!(created["delete_at"], 0);
    // The bot is a user with is_bot.
    let user = admin
        .api
        .get(&format!("/users/{bot_id}"))
        .await
        .expect_status(200);
    assert_eq!(user["is_bot"], true);
    assert_eq!(user["username"], "ci-bot");

    // Only admins create bots; others see neither the list nor another's bot.
    let refused = alice
        .api
        .post("/bots", json!({"username": "alicebot"}))
        .await;
    assert_eq!(
        refused.expect_error(403),
        "api.context.permissions.app_error"
    );
    let hidden = alice.api.get(&format!("/bots/{bot_id}")).await;
    assert_eq!(
        hidden.expect_error(404),
        "store.sql_bot.get.missing.app_error"
    );
    assert_eq!(alice.api.get("/bots").await.expect_status(200), json!([]));
    let taken = admin
        .api
        .post("/bots", json!({"username": "botalice"}))
        .await;
    assert_eq!(
        taken.expect_error(400),
        "app.user.save.username_exists.app_error"
    );
    let invalid = admin.api.post("/bots", json!({"username": "x"})).await;
    assert_eq!(
        invalid.expect_error(400),
        "model.bot.is_valid.username.app_error"
    );

    let patched = admin
        .api
        .put(
            &format!("/bots/{bot_id}"),
            json!({"display_name": "Builds", "description": "CI builds"}),
        )
        .await
        .expect_status(200);
    assert_eq!(patched["display_name"], "Builds");
    assert_eq!(patched["description"], "CI builds");
    assert_eq!(patched["username"], "ci-bot");

    // A bot gets a personal access token and posts with it; the server marks its posts.
    admin.add_to_team(&here.team_id, &bot_id).await;
    admin.add_to_channel(&here.town_square, &bot_id).await;
    let token = admin
        .api
        .post(
            &format!("/users/{bot_id}/tokens"),
            json!({"description": "ci"}),
        )
        .await
        .expect_status(200);
    let bot_api = server
        .anonymous()
        .with_token(token["token"].as_str().unwrap());
    let posted = bot_api
        .post(
            "/posts",
            json!({"channel_id": here.town_square, "message": "build green", "props": {"from_bot": "false"}}),
        )
        .await
        .expect_status(201);
    assert_eq!(posted["props"]["from_bot"], "true");
    // A person cannot mark their own post as a bot's.
    let person = admin
        .api
        .post(
            "/posts",
            json!({"channel_id": here.town_square, "message": "me", "props": {"from_bot": "true"}}),
        )
        .await
        .expect_status(201);
    assert!(person["props"].get("from_bot").is_none(), "{person}");

    let listed = admin.api.get("/bots").await.expect_status(200);
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // Disabled: gone from the list, its token stops working, back when enabled.
    let disabled = admin
        .api
        .post(&format!("/bots/{bot_id}/disable"), json!({}))
        .await
        .expect_status(200);
    assert!(disabled["delete_at"].as_i64().unwrap() > 0);
    assert_eq!(admin.api.get("/bots").await.expect_status(200), json!([]));
    let with_deleted = admin
        .api
        .get("/bots?include_deleted=true")
        .await
        .expect_status(200);
    assert_eq!(with_deleted.as_array().unwrap().len(), 1);
    assert_eq!(admin.api.get(&format!("/bots/{bot_id}")).await.status, 404);
    let after_disable = bot_api
        .post(
            "/posts",
            json!({"channel_id": here.town_square, "message": "still here?"}),
        )
        .await;
    assert_eq!(after_disable.status, 401, "{after_disable:?}");
    admin
        .api
        .post(&format!("/bots/{bot_id}/enable"), json!({}))
        .await
        .expect_status(200);

    // Ownership moves; the new owner then manages it.
    let assigned = admin
        .api
        .post(&format!("/bots/{bot_id}/assign/{}", alice.id), json!({}))
        .await
        .expect_status(200);
    assert_eq!(assigned["owner_id"], alice.id.as_str());
    alice
        .api
        .get(&format!("/bots/{bot_id}"))
        .await
        .expect_status(200);
    // Orphaned: the owner is deactivated.
    admin
        .api
        .delete(&format!("/users/{}", alice.id))
        .await
        .expect_status(200);
    let orphaned = admin
        .api
        .get("/bots?only_orphaned=true")
        .await
        .expect_status(200);
    assert_eq!(orphaned[0]["user_id"], bot_id.as_str());

    // Bots never sign in with a password; a person converted to a bot and back.
    let carol = server.signup("botcarol").await;
    let converted = admin
        .api
        .post(&format!("/users/{}/convert_to_bot", carol.id), json!({}))
        .await
        .expect_status(200);
    assert_eq!(converted["user_id"], carol.id.as_str());
    assert_eq!(converted["owner_id"], carol.id.as_str());
    let login = server
        .login("botcarol", chorus_testkit::client::PASSWORD)
        .await;
    assert_eq!(
        login.expect_error(401),
        "api.user.login.bot_login_forbidden.app_error"
    );
    assert_eq!(
        carol.api.get("/users/me").await.status,
        401,
        "sessions ended"
    );
    let no_password = admin
        .api
        .post(&format!("/bots/{}/convert_to_user", carol.id), json!({}))
        .await;
    assert_eq!(
        no_password.expect_error(400),
        "api.user.convert_bot_to_user.password.app_error"
    );
    let person = admin
        .api
        .post(
            &format!("/bots/{}/convert_to_user", carol.id),
            json!({"password": "another-long-password"}),
        )
        .await
        .expect_status(200);
    assert_eq!(person["is_bot"], false);
    server
        .login("botcarol", "another-long-password")
        .await
        .expect_status(200);
    assert_eq!(
        alice
            .api
            .post(&format!("/users/{}/convert_to_bot", admin.id), json!({}))
            .await
            .status,
        401,
        "alice was deactivated above"
    );
}

#[tokio::test]
async fn settings_off_answer_with_mattermosts_errors() {
    let server = Sandbox::builder()
        .configure(|config| {
            config.service_settings.enable_incoming_webhooks = false;
            config.service_settings.enable_outgoing_webhooks = false;
        })
        .start()
        .await;
    let admin = server.signup("offadmin").await;
    let here = place(&admin, "offteam").await;
    let bot = admin.api.post("/bots", json!({"username": "nobot"})).await;
    assert_eq!(bot.expect_error(403), "api.bot.create_disabled");
    let incoming = admin
        .api
        .post("/hooks/incoming", json!({"channel_id": here.town_square}))
        .await;
    assert_eq!(
        incoming.expect_error(501),
        "api.incoming_webhook.disabled.app_error"
    );
    let outgoing = admin
        .api
        .post(
            "/hooks/outgoing",
            json!({"team_id": here.team_id, "trigger_words": ["x"], "callback_urls": ["http://127.0.0.1:9/"]}),
        )
        .await;
    assert_eq!(
        outgoing.expect_error(501),
        "api.outgoing_webhook.disabled.app_error"
    );
    let executed = execute_hook(
        &server.base_url(),
        &chorus_model::new_id(),
        json!({"text": "x"}),
    )
    .await;
    assert_eq!(executed.status(), 501);
    let body: Value = executed.json().await.unwrap();
    assert_eq!(body["id"], "web.incoming_webhook.disabled.app_error");
}

/// POST /hooks/{id} with a JSON body, as curl in Mattermost's docs does.
async fn execute_hook(base_url: &str, hook_id: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base_url}/hooks/{hook_id}"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn incoming_webhooks_post_json_and_form_payloads_with_slack_fields() {
    let server = Sandbox::builder()
        .configure(|config| {
            config.service_settings.enable_post_username_override = true;
            config.service_settings.enable_post_icon_override = true;
        })
        .start()
        .await;
    let admin = server.signup("hookadmin").await;
    let alice = server.signup("hookalice").await;
    let here = place(&admin, "hookteam").await;
    admin.add_to_team(&here.team_id, &alice.id).await;
    let base_url = server.base_url();

    // Team admins manage hooks; a plain member may not.
    let refused = alice
        .api
        .post("/hooks/incoming", json!({"channel_id": here.town_square}))
        .await;
    assert_eq!(
        refused.expect_error(403),
        "api.context.permissions.app_error"
    );
    let hook = admin
        .api
        .post(
            "/hooks/incoming",
            json!({"channel_id": here.town_square, "display_name": "CI", "description": "builds", "username": "cibot", "icon_url": "http://x.io/i.png"}),
        )
        .await
        .expect_status(201);
    let hook_id = hook["id"].as_str().unwrap().to_string();
    assert_eq!(hook["team_id"], here.team_id.as_str());
    assert_eq!(hook["user_id"], admin.id.as_str());
    assert_eq!(hook["channel_locked"], false);
    assert_eq!(
        admin
            .api
            .get(&format!("/hooks/incoming/{hook_id}"))
            .await
            .expect_status(200),
        hook
    );
    let listed = admin
        .api
        .get(&format!("/hooks/incoming?team_id={}", here.team_id))
        .await
        .expect_status(200);
    assert_eq!(listed, json!([hook.clone()]));
    assert_eq!(
        alice
            .api
            .get(&format!("/hooks/incoming?team_id={}", here.team_id))
            .await
            .status,
        403
    );

    // JSON: text with a Slack link, attachments, props; the server's marks.
    let reply = execute_hook(
        &base_url,
        &hook_id,
        json!({"text": "build <http://ci/1|#1> passed", "props": {"card": "x", "from_webhook": "no"},
               "attachments": [{"text": "details", "color": "#00ff00"}]}),
    )
    .await;
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.text().await.unwrap(), "ok");
    let post = last_post(&admin, &here.town_square).await;
    assert_eq!(post["message"], "build [#1](http://ci/1) passed");
    assert_eq!(post["user_id"], admin.id.as_str());
    assert_eq!(post["type"], "slack_attachment");
    assert_eq!(post["props"]["from_webhook"], "true");
    assert_eq!(post["props"]["override_username"], "cibot");
    assert_eq!(post["props"]["override_icon_url"], "http://x.io/i.png");
    assert_eq!(post["props"]["webhook_display_name"], "CI");
    assert_eq!(post["props"]["card"], "x");
    assert_eq!(post["props"]["attachments"][0]["text"], "details");

    // A form with `payload=`, a username of its own, another channel by name.
    let other = admin.create_channel(&here.team_id, "deploys", "O").await;
    let form = reqwest::Client::new()
        .post(format!("{base_url}/hooks/{hook_id}"))
        .form(&[(
            "payload",
            json!({"text": "deployed", "username": "deployer", "channel": "deploys"}).to_string(),
        )])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let post = last_post(&admin, other["id"].as_str().unwrap()).await;
    assert_eq!(post["message"], "deployed");
    assert_eq!(post["props"]["override_username"], "deployer");
    // "@user": a direct message from the hook's creator.
    execute_hook(
        &base_url,
        &hook_id,
        json!({"text": "psst", "channel": "@hookalice"}),
    )
    .await
    .error_for_status()
    .unwrap();
    let direct = admin
        .api
        .post("/channels/direct", json!([admin.id, alice.id]))
        .await;
    assert!(direct.status == 200 || direct.status == 201, "{direct:?}");
    let post = last_post(&alice, direct.json["id"].as_str().unwrap()).await;
    assert_eq!(post["message"], "psst");

    // Errors as Mattermost's.
    let error_of = |reply: reqwest::Response| async move {
        let status = reply.status().as_u16();
        let body: Value = reply.json().await.unwrap();
        (status, body["id"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(
        error_of(execute_hook(&base_url, &hook_id, json!({"text": ""})).await).await,
        (400, "web.incoming_webhook.text.app_error".to_string())
    );
    assert_eq!(
        error_of(execute_hook(&base_url, &chorus_model::new_id(), json!({"text": "x"})).await)
            .await,
        (400, "web.incoming_webhook.invalid.app_error".to_string())
    );
    assert_eq!(
        error_of(execute_hook(&base_url, &hook_id, json!({"text": "x", "channel": "nope"})).await)
            .await,
        (404, "web.incoming_webhook.channel.app_error".to_string())
    );
    let unparsable = reqwest::Client::new()
        .post(format!("{base_url}/hooks/{hook_id}"))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(unparsable).await,
        (400, "web.incoming_webhook.parse.app_error".to_string())
    );
    // The creator is not in the private channel: refused there.
    let private_name = "hookteam-private";
    let private = execute_hook(
        &base_url,
        &hook_id,
        json!({"text": "x", "channel": private_name}),
    )
    .await;
    assert_eq!(
        private.status(),
        200,
        "the creator made the private channel"
    );

    // Locked to its channel.
    let mut locked = hook.clone();
    locked["channel_locked"] = json!(true);
    let updated = admin
        .api
        .put(&format!("/hooks/incoming/{hook_id}"), locked)
        .await
        .expect_status(200);
    assert_eq!(updated["channel_locked"], true);
    assert_eq!(
        error_of(
            execute_hook(
                &base_url,
                &hook_id,
                json!({"text": "x", "channel": "deploys"})
            )
            .await
        )
        .await,
        (
            403,
            "web.incoming_webhook.channel_locked.app_error".to_string()
        )
    );

    // An archived channel: Mattermost's error for posting there.
    admin
        .api
        .delete(&format!("/channels/{}", here.town_square))
        .await;
    let archived_hook = admin
        .api
        .post("/hooks/incoming", json!({"channel_id": other["id"]}))
        .await
        .expect_status(201);
    admin
        .api
        .delete(&format!("/channels/{}", other["id"].as_str().unwrap()))
        .await
        .expect_status(200);
    let (status, id) = error_of(
        execute_hook(
            &base_url,
            archived_hook["id"].as_str().unwrap(),
            json!({"text": "x"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(id, "api.post.create_post.can_not_post_to_deleted.error");

    // Deleted: the hook is invalid from then on.
    admin
        .api
        .delete(&format!("/hooks/incoming/{hook_id}"))
        .await
        .expect_status(200);
    assert_eq!(
        error_of(execute_hook(&base_url, &hook_id, json!({"text": "x"})).await).await,
        (400, "web.incoming_webhook.invalid.app_error".to_string())
    );
    assert_eq!(
        admin
            .api
            .get(&format!("/hooks/incoming/{hook_id}"))
            .await
            .expect_error(404),
        "app.webhooks.get_incoming.app_error"
    );
}

/// One call a receiver saw.
#[derive(Clone, Debug)]
struct Call {
    key: String,
    content_type: String,
    body: Value,
    received_at_millis: i64,
}

/// A local HTTP receiver for outgoing webhooks, counting calls by idempotency key. `answer`
/// decides each call's status and body from how many times its key came before.
struct Receiver {
    url: String,
    calls: Arc<Mutex<Vec<Call>>>,
}

type Answer = Arc<dyn Fn(&Call, usize) -> (StatusCode, Value) + Send + Sync>;

/// What the receiver's handler shares: the calls so far, how to answer, how long to wait.
type ReceiverState = (Arc<Mutex<Vec<Call>>>, Answer, Duration);

impl Receiver {
    async fn start(delay: Duration, answer: Answer) -> Receiver {
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let state = (calls.clone(), answer, delay);
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url: format!("http://{address}/hook"),
            calls,
        }
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Calls by idempotency key.
    fn by_key(&self) -> HashMap<String, Vec<Call>> {
        let mut by_key: HashMap<String, Vec<Call>> = HashMap::new();
        for call in self.calls() {
            by_key.entry(call.key.clone()).or_default().push(call);
        }
        by_key
    }
}

async fn receive(
    State((calls, answer, delay)): State<ReceiverState>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, Json<Value>) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let content_type = header("content-type");
    let parsed = if content_type.starts_with("application/json") {
        serde_json::from_str(&body).unwrap_or(Value::Null)
    } else {
        let fields: HashMap<String, String> = url_form(&body);
        serde_json::to_value(fields).unwrap()
    };
    let call = Call {
        key: header("idempotency-key"),
        content_type,
        body: parsed,
        received_at_millis: chorus_model::now_millis(),
    };
    let seen = {
        let mut calls = calls.lock().unwrap();
        let seen = calls
            .iter()
            .filter(|earlier| earlier.key == call.key)
            .count();
        calls.push(call.clone());
        seen
    };
    tokio::time::sleep(delay).await;
    let (status, body) = answer(&call, seen);
    (status, Json(body))
}

/// `a=1&b=2` into a map (percent-decoding, `+` as space).
fn url_form(body: &str) -> HashMap<String, String> {
    reqwest::Url::parse(&format!("http://x/?{body}"))
        .unwrap()
        .query_pairs()
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect()
}

fn allow_loopback(config: &mut chorus_config::Config) {
    config
        .service_settings
        .allowed_untrusted_internal_connections = "127.0.0.1".to_string();
    config
        .service_settings
        .outgoing_integration_requests_timeout = 3;
    config.service_settings.enable_post_username_override = true;
}

/// Posts in a team without outgoing webhooks skip queueing deliveries (issue 17), on the
/// word of a per-node cache: a hook created through one node must fire for the next post
/// through another node that had cached "none" as soon as that node has heard (what the first
/// node sent after the change arrived there), and stop once deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_created_through_one_node_fires_at_once_for_posts_through_another() {
    let sandbox = Sandbox::builder()
        .nodes(2)
        .configure(allow_loopback)
        .start()
        .await;
    let receiver = Receiver::start(
        Duration::ZERO,
        Arc::new(|_call: &Call, _seen: usize| (StatusCode::OK, json!({}))),
    )
    .await;
    let (_admin_id, admin_token) =
        crate::cluster::sign_up(&sandbox.node(0).api(), "cacheadmin").await;
    let admin = sandbox.node(0).api().with_token(&admin_token);
    let admin_on_b = sandbox.node(1).api().with_token(&admin_token);
    let (team_id, channel_id) = open_team_and_town_square(&admin, "cacheteam").await;
    let post_on_b = |message: &'static str| {
        let api = admin_on_b.clone();
        let channel_id = channel_id.clone();
        async move {
            api.post(
                "/posts",
                json!({"channel_id": channel_id, "message": message}),
            )
            .await
            .expect_status(201);
        }
    };
    // Node B learns that the team has no outgoing webhooks.
    post_on_b("ship nothing yet").await;

    let hook = admin
        .post(
            "/hooks/outgoing",
            json!({"team_id": team_id, "trigger_words": ["ship"], "callback_urls": [receiver.url],
                   "content_type": "application/json"}),
        )
        .await
        .expect_status(201);
    // Node B forgets its "none" when node A's word reaches it; what node A sends after it
    // arrives after it (one ordered stream): a post through node A seen on node B's websocket.
    let mut on_b = chorus_testkit::socket::EventSocket::connect_url(
        &sandbox.node(1).websocket_url(),
        &admin_token,
    )
    .await;
    let marker = admin
        .post(
            "/posts",
            json!({"channel_id": channel_id, "message": "hello from A"}),
        )
        .await
        .expect_status(201);
    on_b.wait_for_matching("posted", |event| {
        chorus_testkit::socket::post_of(event)["id"] == marker["id"]
    })
    .await;
    post_on_b("ship it").await;
    wait_until(Duration::from_secs(10), "the hook is called", || async {
        receiver.calls().len() == 1
    })
    .await;
    assert_eq!(receiver.calls()[0].body["text"], "ship it");

    admin
        .delete(&format!("/hooks/outgoing/{}", hook["id"].as_str().unwrap()))
        .await
        .expect_status(200);
    post_on_b("ship again").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        receiver.calls().len(),
        1,
        "a deleted hook was called: {:?}",
        receiver.calls()
    );
}

#[tokio::test]
async fn outgoing_webhooks_call_once_with_an_idempotency_key_and_post_the_answer() {
    let server = Sandbox::builder().configure(allow_loopback).start().await;
    let admin = server.signup("outadmin").await;
    let alice = server.signup("outalice").await;
    let here = place(&admin, "outteam").await;
    admin.add_to_team(&here.team_id, &alice.id).await;
    admin.add_to_channel(&here.town_square, &alice.id).await;
    // The first call of each key fails with 503; the second is answered with a text.
    let receiver = Receiver::start(
        Duration::ZERO,
        Arc::new(|call: &Call, seen: usize| {
            if call.body["text"].as_str().unwrap_or_default().contains("flaky") && seen == 0 {
                (StatusCode::SERVICE_UNAVAILABLE, json!({}))
            } else {
                (StatusCode::OK, json!({"text": format!("got {}", call.body["trigger_word"].as_str().unwrap_or_default()), "username": "answerer"}))
            }
        }),
    )
    .await;

    // Shapes, validation and permissions.
    let refused = alice
        .api
        .post(
            "/hooks/outgoing",
            json!({"team_id": here.team_id, "trigger_words": ["deploy"], "callback_urls": [receiver.url]}),
        )
        .await;
    assert_eq!(
        refused.expect_error(403),
        "api.context.permissions.app_error"
    );
    let bad = |body: Value| {
        let admin_api = admin.api.clone();
        async move {
            admin_api
                .post("/hooks/outgoing", body)
                .await
                .expect_error(400)
        }
    };
    assert_eq!(
        bad(json!({"team_id": here.team_id, "callback_urls": [receiver.url]})).await,
        "api.webhook.create_outgoing.triggers.app_error"
    );
    assert_eq!(
        bad(json!({"team_id": here.team_id, "trigger_words": ["x"], "callback_urls": ["ftp://x"]}))
            .await,
        "model.outgoing_hook.is_valid.callback.app_error"
    );
    assert_eq!(
        bad(json!({"team_id": here.team_id, "trigger_words": ["x"], "callback_urls": [receiver.url], "content_type": "text/xml"})).await,
        "model.outgoing_hook.is_valid.content_type.app_error"
    );
    let private = admin
        .api
        .post(
            "/hooks/outgoing",
            json!({"team_id": here.team_id, "channel_id": here.private_channel, "callback_urls": [receiver.url]}),
        )
        .await;
    assert_eq!(
        private.expect_error(403),
        "api.webhook.create_outgoing.not_open.app_error"
    );

    let exact = admin
        .api
        .post(
            "/hooks/outgoing",
            json!({"team_id": here.team_id, "display_name": "Deployer", "trigger_words": ["deploy"],
                   "trigger_when": 0, "callback_urls": [receiver.url], "content_type": "application/json"}),
        )
        .await
        .expect_status(201);
    assert_eq!(exact["creator_id"], admin.id.as_str());
    assert_eq!(exact["token"].as_str().unwrap().len(), 26);
    let intersecting = admin
        .api
        .post(
            "/hooks/outgoing",
            json!({"team_id": here.team_id, "trigger_words": ["deploy"], "callback_urls": [receiver.url]}),
        )
        .await;
    assert_eq!(
        intersecting.expect_error(400),
        "api.webhook.create_outgoing.intersect.app_error"
    );
    let starts_with = admin
        .api
        .post(
            "/hooks/outgoing",
            json!({"team_id": here.team_id, "channel_id": here.town_square, "trigger_words": ["fla"],
                   "trigger_when": 1, "callback_urls": [receiver.url]}),
        )
        .await
        .expect_status(201);
    let regenerated = admin
        .api
        .post(
            &format!(
                "/hooks/outgoing/{}/regen_token",
                starts_with["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await
        .expect_status(200);
    assert_ne!(regenerated["token"], starts_with["token"]);
    let listed = admin
        .api
        .get(&format!("/hooks/outgoing?team_id={}", here.team_id))
        .await
        .expect_status(200);
    assert_eq!(listed.as_array().unwrap().len(), 2);

    // Exact match: "deploy now" calls once (JSON), "deployed" does not.
    let trigger = alice.post(&here.town_square, "deploy now").await;
    alice.post(&here.town_square, "deployed nothing").await;
    wait_until(Duration::from_secs(10), "the answer is posted", || async {
        last_post(&admin, &here.town_square).await["message"] == "got deploy"
    })
    .await;
    let calls = receiver.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = &calls[0];
    assert_eq!(call.content_type, "application/json");
    assert_eq!(call.key.len(), 26);
    assert_eq!(call.body["post_id"], trigger["id"]);
    assert_eq!(call.body["token"], exact["token"]);
    assert_eq!(call.body["trigger_word"], "deploy");
    assert_eq!(call.body["team_domain"], "outteam");
    assert_eq!(call.body["channel_name"], "town-square");
    assert_eq!(call.body["user_name"], "outalice");
    assert_eq!(call.body["text"], "deploy now");
    let answer = last_post(&admin, &here.town_square).await;
    assert_eq!(answer["user_id"], admin.id.as_str());
    assert_eq!(answer["props"]["from_webhook"], "true");
    assert_eq!(answer["props"]["override_username"], "answerer");
    assert_eq!(answer["props"]["webhook_display_name"], "Deployer");

    // Starts-with, as a form; the first attempt fails and is retried with the same key.
    let flaky = alice.post(&here.town_square, "flaky test").await;
    wait_until(
        Duration::from_secs(15),
        "the retried call is answered",
        || async { receiver.by_key().values().any(|calls| calls.len() == 2) },
    )
    .await;
    let by_key = receiver.by_key();
    let retried = by_key.values().find(|calls| calls.len() == 2).unwrap();
    assert_eq!(retried[0].body["post_id"], flaky["id"]);
    assert_eq!(retried[0].content_type, "application/x-www-form-urlencoded");
    assert_eq!(retried[1].body["trigger_word"], "fla");
    let database = server.database();
    wait_until(Duration::from_secs(10), "the delivery is recorded", || async {
        database
            .psql(&format!(
                "SELECT attempts, laststatus FROM outgoingdeliveries WHERE postid = '{}' AND deliveredat > 0",
                flaky["id"].as_str().unwrap()
            ))
            .unwrap()
            .trim()
            == "2|200"
    })
    .await;

    // Loopback not allowed: given up at once, with the reason kept; nothing called.
    let strict = Sandbox::builder().start().await;
    let strict_admin = strict.signup("strictadmin").await;
    let strict_place = place(&strict_admin, "strictteam").await;
    strict_admin
        .api
        .post(
            "/hooks/outgoing",
            json!({"team_id": strict_place.team_id, "trigger_words": ["ping"], "callback_urls": [receiver.url]}),
        )
        .await
        .expect_status(201);
    let calls_before = receiver.calls().len();
    let ping = strict_admin.post(&strict_place.town_square, "ping").await;
    wait_until(
        Duration::from_secs(10),
        "the delivery is given up",
        || async {
            let error = strict
                .database()
                .psql(&format!(
                    "SELECT lasterror FROM outgoingdeliveries WHERE postid = '{}' AND failedat > 0",
                    ping["id"].as_str().unwrap()
                ))
                .unwrap();
            error.contains("AllowedUntrustedInternalConnections")
        },
    )
    .await;
    assert_eq!(receiver.calls().len(), calls_before);

    // Deleted: no more calls.
    admin
        .api
        .delete(&format!(
            "/hooks/outgoing/{}",
            exact["id"].as_str().unwrap()
        ))
        .await
        .expect_status(200);
    let calls_before = receiver.calls().len();
    alice.post(&here.town_square, "deploy again").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.calls().len(), calls_before);
}

/// Percentile of sorted values.
fn percentile(sorted: &[i64], fraction: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index]
}

/// The HA test: three `chorus` processes behind NGINX, a receiver answering slowly so that
/// deliveries are in flight when the node making them is SIGKILLed. Every triggering post
/// yields exactly one acknowledged delivery; a repeat is only ever of the same key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outgoing_deliveries_survive_killed_nodes_exactly_once_per_key() {
    let sandbox = Sandbox::builder()
        .nodes(3)
        .processes(env!("CARGO_BIN_EXE_chorus"))
        .nginx()
        .configure(|config| {
            config.log_settings.console_level = "WARN".to_string();
            allow_loopback(config);
        })
        .start()
        .await;
    let receiver = Receiver::start(
        Duration::from_millis(300),
        Arc::new(|_call: &Call, _seen: usize| (StatusCode::OK, json!({}))),
    )
    .await;
    let through_nginx = sandbox.anonymous();
    let (_admin_id, admin_token) = crate::cluster::sign_up(&through_nginx, "haadmin").await;
    let admin: Api = through_nginx.with_token(&admin_token);
    let (team_id, channel_id) = open_team_and_town_square(&admin, "hateam").await;
    // Installed through one node, live on all: the posts below go to every node.
    admin
        .post(
            "/hooks/outgoing",
            json!({"team_id": team_id, "trigger_words": ["ship"], "callback_urls": [receiver.url],
                   "content_type": "application/json"}),
        )
        .await
        .expect_status(201);

    // 60 triggering posts at ~10/s through NGINX; SIGKILL node 1 after 20 and node 2 after 40
    // (node 1 back by then), while deliveries are in flight.
    let total = 60;
    let mut acknowledged: Vec<String> = Vec::new();
    let mut failed = 0;
    for index in 0..total {
        if index == 20 {
            sandbox.node(1).kill();
        }
        if index == 30 {
            sandbox.node(1).start().await.expect("node 1 restarts");
        }
        if index == 40 {
            sandbox.node(2).kill();
        }
        let reply = admin
            .post(
                "/posts",
                json!({"channel_id": channel_id, "message": format!("ship {index}"),
                       "pending_post_id": format!("{}:{index}", chorus_model::new_id())}),
            )
            .await;
        if reply.status == 201 {
            acknowledged.push(reply.json["id"].as_str().unwrap().to_string());
        } else {
            failed += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    let database = sandbox.database();
    let delivered_count = || {
        database
            .psql("SELECT count(*) FROM outgoingdeliveries WHERE deliveredat > 0")
            .unwrap()
            .trim()
            .parse::<usize>()
            .unwrap()
    };
    while delivered_count() < acknowledged.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let by_key = receiver.by_key();
    let mut keys_by_post: HashMap<String, Vec<String>> = HashMap::new();
    for (key, calls) in &by_key {
        let post_id = calls[0].body["post_id"].as_str().unwrap().to_string();
        assert!(
            calls
                .iter()
                .all(|call| call.body["post_id"] == post_id.as_str()),
            "one key, one post"
        );
        keys_by_post.entry(post_id).or_default().push(key.clone());
    }
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|post_id| !keys_by_post.contains_key(*post_id))
        .collect();
    let posts_with_two_keys = keys_by_post.values().filter(|keys| keys.len() > 1).count();
    let repeats: usize = by_key.values().map(|calls| calls.len() - 1).sum();
    let mut latencies: Vec<i64> = by_key
        .values()
        .map(|calls| calls[0].received_at_millis - calls[0].body["timestamp"].as_i64().unwrap())
        .collect();
    latencies.sort_unstable();
    // From the post to the acknowledgement recorded (includes the takeovers after a kill).
    let mut acknowledged_after: Vec<i64> = database
        .psql("SELECT deliveredat - createat FROM outgoingdeliveries WHERE deliveredat > 0")
        .unwrap()
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect();
    acknowledged_after.sort_unstable();
    let undelivered = database
        .psql("SELECT count(*) FROM outgoingdeliveries WHERE deliveredat = 0")
        .unwrap();
    println!(
        "outgoing HA: {} triggering posts acknowledged ({failed} refused), {} keys called, \
         {} lost, {posts_with_two_keys} posts with two keys, {repeats} repeats with the same key, \
         {} undelivered rows; post→receiver latency p50 {} ms, p99 {} ms, max {} ms; \
         post→acknowledgement recorded p50 {} ms, p99 {} ms, max {} ms",
        acknowledged.len(),
        by_key.len(),
        lost.len(),
        undelivered.trim(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0),
        percentile(&acknowledged_after, 0.5),
        percentile(&acknowledged_after, 0.99),
        acknowledged_after.last().copied().unwrap_or(0),
    );
    assert!(lost.is_empty(), "lost deliveries for posts {lost:?}");
    assert_eq!(
        posts_with_two_keys, 0,
        "a post was delivered under two keys"
    );
    assert_eq!(
        delivered_count(),
        acknowledged.len(),
        "every delivery acknowledged"
    );
    assert!(
        failed <= 4,
        "NGINX routes around the dead nodes: {failed} posts refused"
    );
}

/// `POST /commands/execute` of `command` in `channel_id`.
async fn execute(
    user: &TestUser,
    channel_id: &str,
    command: &str,
) -> chorus_testkit::client::Reply {
    user.api
        .post(
            "/commands/execute",
            json!({"channel_id": channel_id, "command": command}),
        )
        .await
}

#[tokio::test]
async fn built_in_slash_commands_post_join_leave_message_and_answer_ephemerally() {
    // Two clustered nodes in this process: the caller's ephemeral answers reach their
    // connections on both, and nobody else's.
    let sandbox = Sandbox::builder().nodes(2).start().await;
    let (node_a, node_b) = (sandbox.node(0), sandbox.node(1));
    let admin = node_a.signup("cmdadmin").await;
    let bob = node_a.signup("cmdbob").await;
    let here = place(&admin, "cmdteam").await;
    admin.add_to_team(&here.team_id, &bob.id).await;
    admin.add_to_channel(&here.town_square, &bob.id).await;
    let mut admin_on_b = chorus_testkit::socket::EventSocket::connect(node_b, &admin.token).await;
    let mut bob_on_b = chorus_testkit::socket::EventSocket::connect(node_b, &bob.token).await;

    // /me and /shrug post in the channel as the caller.
    execute(&admin, &here.town_square, "/me waves")
        .await
        .expect_status(200);
    let post = last_post(&admin, &here.town_square).await;
    assert_eq!(post["message"], "*waves*");
    assert_eq!(post["type"], "me");
    assert_eq!(post["user_id"], admin.id.as_str());
    let answer = execute(&admin, &here.town_square, "/shrug oh well")
        .await
        .expect_status(200);
    assert_eq!(answer["response_type"], "in_channel");
    assert_eq!(
        last_post(&admin, &here.town_square).await["message"],
        "oh well ¯\\\\\\_(ツ)\\_/¯"
    );
    execute(&admin, &here.town_square, "/echo \"hello there\"")
        .await
        .expect_status(200);
    assert_eq!(
        last_post(&admin, &here.town_square).await["message"],
        "hello there"
    );

    // /header and /purpose change the channel.
    execute(&admin, &here.town_square, "/header The new header")
        .await
        .expect_status(200);
    execute(&admin, &here.town_square, "/purpose Chatting")
        .await
        .expect_status(200);
    let channel = admin
        .api
        .get(&format!("/channels/{}", here.town_square))
        .await
        .expect_status(200);
    assert_eq!(channel["header"], "The new header");
    assert_eq!(channel["purpose"], "Chatting");

    // /away answers ephemerally: the caller's socket on the other node gets it, Bob's not.
    let away = execute(&admin, &here.town_square, "/away")
        .await
        .expect_status(200);
    assert_eq!(away["response_type"], "");
    let event = admin_on_b.wait_for("ephemeral_message").await;
    let ephemeral: Value = serde_json::from_str(event["data"]["post"].as_str().unwrap()).unwrap();
    assert_eq!(ephemeral["type"], "system_ephemeral");
    assert_eq!(ephemeral["channel_id"], here.town_square.as_str());
    assert!(ephemeral["message"].as_str().unwrap().contains("away"));
    let status = admin
        .api
        .get(&format!("/users/{}/status", admin.id))
        .await
        .expect_status(200);
    assert_eq!(status["status"], "away");
    let bob_saw = bob_on_b.events_within(Duration::from_millis(500)).await;
    assert!(
        !bob_saw
            .iter()
            .any(|event| event["event"] == "ephemeral_message"),
        "{bob_saw:?}"
    );
    execute(&admin, &here.town_square, "/online")
        .await
        .expect_status(200);

    // /join and /leave.
    let lobby = admin.create_channel(&here.team_id, "lobby", "O").await;
    let joined = execute(&bob, &here.town_square, "/join ~lobby")
        .await
        .expect_status(200);
    assert_eq!(joined["goto_location"], "/cmdteam/channels/lobby");
    let members = admin
        .api
        .get(&format!(
            "/channels/{}/members",
            lobby["id"].as_str().unwrap()
        ))
        .await
        .expect_status(200);
    assert!(members
        .as_array()
        .unwrap()
        .iter()
        .any(|member| member["user_id"] == bob.id.as_str()));
    let left = execute(&bob, lobby["id"].as_str().unwrap(), "/leave")
        .await
        .expect_status(200);
    assert_eq!(left["goto_location"], "/cmdteam/channels/town-square");

    // /msg opens the direct channel and sends the message.
    let msg = execute(&admin, &here.town_square, "/msg @cmdbob psst")
        .await
        .expect_status(200);
    assert_eq!(msg["goto_location"], "/cmdteam/messages/@cmdbob");
    let direct = admin
        .api
        .post("/channels/direct", json!([admin.id, bob.id]))
        .await;
    assert_eq!(
        last_post(&bob, direct.json["id"].as_str().unwrap()).await["message"],
        "psst"
    );

    // /invite and /kick.
    execute(&admin, &here.town_square, "/invite @cmdbob ~lobby")
        .await
        .expect_status(200);
    execute(&admin, lobby["id"].as_str().unwrap(), "/kick @cmdbob")
        .await
        .expect_status(200);
    let members = admin
        .api
        .get(&format!(
            "/channels/{}/members",
            lobby["id"].as_str().unwrap()
        ))
        .await
        .expect_status(200);
    assert!(!members
        .as_array()
        .unwrap()
        .iter()
        .any(|member| member["user_id"] == bob.id.as_str()));

    // /mute toggles the member's mark_unread.
    execute(&bob, &here.town_square, "/mute")
        .await
        .expect_status(200);
    let member = bob
        .api
        .get(&format!(
            "/channels/{}/members/{}",
            here.town_square, bob.id
        ))
        .await
        .expect_status(200);
    assert_eq!(member["notify_props"]["mark_unread"], "mention");

    // Errors as Mattermost's; autocomplete lists the built-ins.
    assert_eq!(
        execute(&admin, &here.town_square, "/nosuch thing")
            .await
            .expect_error(404),
        "api.command.execute_command.not_found.app_error"
    );
    assert_eq!(
        execute(&admin, &here.town_square, "me")
            .await
            .expect_error(400),
        "api.command.execute_command.format.app_error"
    );
    let autocomplete = admin
        .api
        .get(&format!("/teams/{}/commands/autocomplete", here.team_id))
        .await
        .expect_status(200);
    let triggers: Vec<&str> = autocomplete
        .as_array()
        .unwrap()
        .iter()
        .map(|command| command["trigger"].as_str().unwrap())
        .collect();
    for trigger in ["me", "join", "leave", "msg", "away", "help", "shrug"] {
        assert!(triggers.contains(&trigger), "{trigger} in {triggers:?}");
    }
    let help = execute(&admin, &here.town_square, "/help")
        .await
        .expect_status(200);
    assert!(help["text"].as_str().unwrap().contains("/join"));

    // What the message box suggests while a command is typed.
    let suggestions = |input: &str| {
        let path = format!(
            "/teams/{}/commands/autocomplete_suggestions?user_input={}",
            here.team_id,
            input.replace('/', "%2F").replace(' ', "%20")
        );
        let admin = &admin;
        async move { admin.api.get(&path).await.expect_status(200) }
    };
    let typed = suggestions("/jo").await;
    assert_eq!(typed[0]["Complete"], "join", "{typed}");
    assert_eq!(typed[0]["Suggestion"], "/join");
    assert!(!typed[0]["Hint"].as_str().unwrap().is_empty(), "{typed}");
    let everything = suggestions("/").await;
    assert!(
        everything.as_array().is_some_and(|all| all.len() > 10),
        "{everything}"
    );
    let arguments = suggestions("/join to").await;
    assert_eq!(arguments[0]["Complete"], "join to", "{arguments}");
    assert_eq!(suggestions("/nosuchcommand").await, json!([]));
    let missing = admin
        .api
        .get(&format!(
            "/teams/{}/commands/autocomplete_suggestions",
            here.team_id
        ))
        .await;
    assert_eq!(
        missing.expect_error(400),
        "api.context.invalid_param.app_error"
    );
}

#[tokio::test]
async fn custom_slash_commands_call_their_url_and_answer_in_channel_or_ephemerally() {
    let sandbox = Sandbox::builder()
        .nodes(2)
        .configure(allow_loopback)
        .start()
        .await;
    let (node_a, node_b) = (sandbox.node(0), sandbox.node(1));
    let admin = node_a.signup("customadmin").await;
    let bob = node_a.signup("custombob").await;
    let here = place(&admin, "customteam").await;
    admin.add_to_team(&here.team_id, &bob.id).await;
    admin.add_to_channel(&here.town_square, &bob.id).await;
    // "deploy" answers in the channel, anything else ephemerally.
    let receiver = Receiver::start(
        Duration::ZERO,
        Arc::new(|call: &Call, _seen: usize| {
            let text = call.body["text"].as_str().unwrap_or_default().to_string();
            if text.starts_with("prod") {
                (
                    StatusCode::OK,
                    json!({"response_type": "in_channel", "text": format!("deploying {text}")}),
                )
            } else {
                (
                    StatusCode::OK,
                    json!({"text": format!("usage: /deploy prod ({text})")}),
                )
            }
        }),
    )
    .await;

    let refused = bob
        .api
        .post(
            "/commands",
            json!({"team_id": here.team_id, "trigger": "deploy", "url": receiver.url}),
        )
        .await;
    assert_eq!(
        refused.expect_error(403),
        "api.context.permissions.app_error"
    );
    let duplicate = admin
        .api
        .post(
            "/commands",
            json!({"team_id": here.team_id, "trigger": "join", "url": receiver.url}),
        )
        .await;
    assert_eq!(
        duplicate.expect_error(400),
        "api.command.duplicate_trigger.app_error"
    );
    // Installed through node A: runs through node B at once.
    let command = admin
        .api
        .post(
            "/commands",
            json!({"team_id": here.team_id, "trigger": "Deploy", "url": receiver.url, "method": "P",
                   "auto_complete": true, "auto_complete_desc": "Deploys", "username": "deployer"}),
        )
        .await
        .expect_status(201);
    assert_eq!(command["trigger"], "deploy");
    assert_eq!(command["token"].as_str().unwrap().len(), 26);
    let bob_on_b = bob.api.clone();
    let bob_b = TestUser {
        api: node_b.anonymous().with_token(&bob.token),
        ..bob
    };
    drop(bob_on_b);
    let answer = execute(&bob_b, &here.town_square, "/deploy prod now")
        .await
        .expect_status(200);
    assert_eq!(answer["text"], "deploying prod now");
    let call = receiver.calls().pop().unwrap();
    assert_eq!(call.content_type, "application/x-www-form-urlencoded");
    assert_eq!(call.body["token"], command["token"]);
    assert_eq!(call.body["command"], "/deploy");
    assert_eq!(call.body["text"], "prod now");
    assert_eq!(call.body["user_name"], "custombob");
    assert_eq!(call.body["channel_name"], "town-square");
    assert_eq!(call.body["team_domain"], "customteam");
    let post = last_post(&admin, &here.town_square).await;
    assert_eq!(post["message"], "deploying prod now");
    assert_eq!(post["user_id"], bob_b.id.as_str());
    assert_eq!(post["props"]["from_webhook"], "true");

    // Ephemeral: only the caller's socket.
    let mut bob_socket = chorus_testkit::socket::EventSocket::connect(node_a, &bob_b.token).await;
    let before = last_post(&admin, &here.town_square).await["id"].clone();
    execute(&bob_b, &here.town_square, "/deploy")
        .await
        .expect_status(200);
    let event = bob_socket.wait_for("ephemeral_message").await;
    let ephemeral: Value = serde_json::from_str(event["data"]["post"].as_str().unwrap()).unwrap();
    assert_eq!(ephemeral["message"], "usage: /deploy prod ()");
    assert_eq!(last_post(&admin, &here.town_square).await["id"], before);

    // Listed for managers (with token), sanitized in autocomplete; then deleted.
    let listed = admin
        .api
        .get(&format!(
            "/commands?team_id={}&custom_only=true",
            here.team_id
        ))
        .await
        .expect_status(200);
    assert_eq!(listed[0]["token"], command["token"]);
    let autocomplete = bob_b
        .api
        .get(&format!("/teams/{}/commands/autocomplete", here.team_id))
        .await
        .expect_status(200);
    let listed_deploy = autocomplete
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["trigger"] == "deploy")
        .expect("the custom command");
    assert_eq!(listed_deploy["token"], "");
    let token = admin
        .api
        .put(
            &format!("/commands/{}/regen_token", command["id"].as_str().unwrap()),
            json!({}),
        )
        .await
        .expect_status(200);
    assert_ne!(token["token"], command["token"]);
    admin
        .api
        .delete(&format!("/commands/{}", command["id"].as_str().unwrap()))
        .await
        .expect_status(200);
    assert_eq!(
        execute(&bob_b, &here.town_square, "/deploy prod")
            .await
            .expect_error(404),
        "api.command.execute_command.not_found.app_error"
    );
}

//! Two clustered Chorus nodes in this process (chorus-testkit's Sandbox: each runs the start
//! sequence of the `chorus` binary) sharing one database and one file store; and small typed
//! clients for them.

use chorus_config::FileSettings;
use chorus_files::FileBackend;
use chorus_testkit::{
    Endpoint, S3Server, Sandbox, SandboxNode, S3_ACCESS_KEY_ID, S3_REGION, S3_SECRET_ACCESS_KEY,
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use tempfile::TempDir;

pub const PASSWORD: &str = "correct-horse-battery";

/// Which shared file store the nodes use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedStore {
    /// A directory both nodes see (a NAS mount in production).
    LocalDirectory,
    /// A bucket on the moto S3 server.
    S3,
}

pub struct TwoNodes {
    sandbox: Sandbox,
    pub file_settings: FileSettings,
    _directory: Option<TempDir>,
}

impl TwoNodes {
    pub async fn start(store: SharedStore) -> TwoNodes {
        TwoNodes::start_with(store, |_| {}).await
    }

    /// Both nodes get the same config (as a cluster must), after `change`.
    pub async fn start_with(
        store: SharedStore,
        change: impl FnOnce(&mut chorus_config::Config) + Send + 'static,
    ) -> TwoNodes {
        let mut file_settings = FileSettings::default();
        let directory = match store {
            SharedStore::LocalDirectory => {
                let directory = tempfile::tempdir().expect("a temp directory for files");
                file_settings.driver_name = "local".to_string();
                file_settings.directory = directory.path().to_string_lossy().into_owned();
                Some(directory)
            }
            SharedStore::S3 => {
                let server = tokio::task::spawn_blocking(S3Server::shared)
                    .await
                    .expect("starting moto");
                let bucket = server.new_bucket().expect("creating a bucket");
                file_settings.driver_name = "amazons3".to_string();
                file_settings.amazon_s3_bucket = bucket;
                file_settings.amazon_s3_endpoint = server.endpoint();
                file_settings.amazon_s3_ssl = false;
                file_settings.amazon_s3_region = S3_REGION.to_string();
                file_settings.amazon_s3_access_key_id = S3_ACCESS_KEY_ID.to_string();
                file_settings.amazon_s3_secret_access_key = S3_SECRET_ACCESS_KEY.to_string();
                None
            }
        };
        let (changed_settings, changed_settings_out) = std::sync::mpsc::channel();
        let chosen_settings = file_settings.clone();
        let sandbox = Sandbox::builder()
            .nodes(2)
            .configure(move |config| {
                config.file_settings = chosen_settings;
                change(config);
                let _ = changed_settings.send(config.file_settings.clone());
            })
            .start()
            .await;
        TwoNodes {
            file_settings: changed_settings_out
                .recv()
                .expect("the nodes' file settings"),
            sandbox,
            _directory: directory,
        }
    }

    pub fn a(&self) -> &SandboxNode {
        self.sandbox.node(0)
    }

    pub fn b(&self) -> &SandboxNode {
        self.sandbox.node(1)
    }

    /// The shared store as the nodes see it, to look inside.
    pub fn backend(&self) -> FileBackend {
        FileBackend::from_settings(&self.file_settings).expect("a file backend")
    }

    /// Runs SQL on the nodes' database (test assertions only).
    pub fn sql(&self, statement: &str) -> String {
        self.sandbox
            .database()
            .psql(statement)
            .expect("running psql")
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("an HTTP client")
}

/// A logged-in user; `on(node)` gives a client for either node (sessions live in the database).
#[derive(Clone)]
pub struct User {
    pub id: String,
    pub token: String,
}

impl User {
    pub fn on(&self, node: &SandboxNode) -> Api {
        Api {
            client: Api::anonymous(node).client.with_token(&self.token),
        }
    }
}

/// Requests to one node on testkit's client, answered as raw `reqwest::Response`s: these tests
/// stream and inspect bodies (downloads, renditions) rather than reading JSON only.
pub struct Api {
    client: chorus_testkit::client::Api,
}

impl Api {
    pub fn anonymous(node: &SandboxNode) -> Api {
        Api {
            client: chorus_testkit::client::Api::with_http(http_client(), &node.base_url()),
        }
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::GET, path)
            .send()
            .await
            .expect("sending a GET")
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.request(reqwest::Method::POST, path)
            .json(&body)
            .send()
            .await
            .expect("sending a POST")
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::DELETE, path)
            .send()
            .await
            .expect("sending a DELETE")
    }
}

/// Reads a JSON answer, failing with the body when the status is not the expected one.
pub async fn expect_json(response: reqwest::Response, status: u16) -> Value {
    let actual = response.status();
    let text = response.text().await.expect("reading the body");
    assert_eq!(
        actual,
        StatusCode::from_u16(status).expect("a status"),
        "unexpected status; body: {text}"
    );
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("not JSON ({error}): {text}"))
}

/// Asserts a Mattermost error answer with this status and id.
pub async fn expect_error(response: reqwest::Response, status: u16, id: &str) -> Value {
    let body = expect_json(response, status).await;
    assert_eq!(body["id"], id, "error id; body: {body}");
    assert_eq!(body["status_code"], status, "status_code in the body");
    body
}

/// Three users, a team and a channel: alice (the first user, so a system admin) created both;
/// bob is in the team and the channel; carol is only in the team.
pub struct Chat {
    pub alice: User,
    pub bob: User,
    pub carol: User,
    pub team_id: String,
    pub channel_id: String,
}

impl Chat {
    pub async fn set_up(nodes: &TwoNodes) -> Chat {
        let alice = sign_up(nodes.a(), "alice").await;
        let bob = sign_up(nodes.a(), "bob").await;
        let carol = sign_up(nodes.b(), "carol").await;
        let admin_api = alice.on(nodes.a());
        let team = expect_json(
            admin_api
                .post(
                    "/teams",
                    json!({"name": "files-team", "display_name": "Files", "type": "O"}),
                )
                .await,
            201,
        )
        .await;
        let team_id = team["id"].as_str().expect("team id").to_string();
        for user in [&bob, &carol] {
            expect_json(
                admin_api
                    .post(
                        &format!("/teams/{team_id}/members"),
                        json!({"team_id": team_id, "user_id": user.id}),
                    )
                    .await,
                201,
            )
            .await;
        }
        let channel_id = create_channel(&admin_api, &team_id, "attachments").await;
        add_to_channel(&admin_api, &channel_id, &bob).await;
        Chat {
            alice,
            bob,
            carol,
            team_id,
            channel_id,
        }
    }
}

pub async fn create_channel(api: &Api, team_id: &str, name: &str) -> String {
    let channel = expect_json(
        api.post(
            "/channels",
            json!({"team_id": team_id, "name": name, "display_name": name, "type": "O"}),
        )
        .await,
        201,
    )
    .await;
    channel["id"].as_str().expect("channel id").to_string()
}

pub async fn add_to_channel(api: &Api, channel_id: &str, user: &User) {
    expect_json(
        api.post(
            &format!("/channels/{channel_id}/members"),
            json!({"user_id": user.id}),
        )
        .await,
        201,
    )
    .await;
}

pub async fn sign_up(node: &SandboxNode, username: &str) -> User {
    let session = Api::anonymous(node)
        .client
        .sign_up(username, &format!("{username}@example.com"), PASSWORD)
        .await
        .expect("signing up and logging in");
    User {
        id: session.user_id,
        token: session.token,
    }
}

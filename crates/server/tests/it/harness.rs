//! A Chorus node in the test process, and typed HTTP clients for it.
//!
//! [`TestServer::start`] (or [`TestServer::builder`] for config tweaks) wires a node exactly as
//! the `chorus` binary does — config, `Store::migrate`, `Store::connect`, `App`, the API router
//! served by axum — on a fresh database of the process-wide throwaway PostgreSQL and a free
//! loopback port. Users come from [`TestServer::signup`], which signs up and logs in through the
//! REST API like a client would; each [`TestUser`] carries an [`Api`] client authenticated with
//! its session token.
//!
//! Password hashing is deliberately slow (PBKDF2, 600k rounds), so tests create few users and
//! reuse them.

use std::time::Duration;

use chorus_app::{App, NodeInfo};
use chorus_config::Config;
use chorus_store::Store;
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::task::JoinHandle;

/// How long a test waits for something that should happen promptly.
pub const WAIT: Duration = Duration::from_secs(10);

/// The password every test user gets (PasswordSettings' defaults accept it).
pub const PASSWORD: &str = "correct-horse-battery";

pub struct TestServerBuilder {
    config: Config,
}

impl TestServerBuilder {
    /// Changes the node's config before it starts.
    pub fn configure(mut self, change: impl FnOnce(&mut Config)) -> Self {
        change(&mut self.config);
        self
    }

    pub async fn start(self) -> TestServer {
        let mut config = self.config;
        let database_url = tokio::task::spawn_blocking(|| {
            chorus_testkit::PgServer::shared()
                .create_database()
                .expect("creating a test database")
        })
        .await
        .expect("creating a test database");
        let file_directory = tempfile::tempdir().expect("a temp directory for files");
        config.sql_settings.data_source = database_url.clone();
        // A test may point the file store elsewhere (e.g. somewhere unwritable).
        if config.file_settings.directory == Config::default().file_settings.directory {
            config.file_settings.directory = file_directory.path().to_string_lossy().into_owned();
        }

        Store::migrate(&config.sql_settings)
            .await
            .expect("migrating the test database");
        let store = Store::connect(&config.sql_settings).expect("configuring database pools");
        let node = NodeInfo {
            node_id: chorus_model::new_id(),
            hostname: "chorus-test-node".to_string(),
        };
        let app = App::new(config, None, store, node);
        // As the binary does: ping reports the node unready without a recent database probe.
        app.start_health_probe();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding 127.0.0.1:0");
        let address = listener.local_addr().expect("the listener's address");
        let router = chorus_api::router(app.clone());
        let serve_task = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("serving HTTP");
        });
        TestServer {
            base_url: format!("http://{address}"),
            database_url,
            app,
            serve_task,
            _file_directory: file_directory,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("an HTTP client"),
        }
    }
}

/// A running node. Dropping it stops serving.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`, what clients call the site URL.
    pub base_url: String,
    /// The node's own database (unmasked), to check that it never leaks.
    pub database_url: String,
    app: App,
    serve_task: JoinHandle<()>,
    _file_directory: TempDir,
    http: reqwest::Client,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.app.hub().shutdown();
        self.serve_task.abort();
    }
}

impl TestServer {
    /// A node with open sign-up and personal access tokens enabled.
    pub fn builder() -> TestServerBuilder {
        let mut config = Config::default();
        config.team_settings.enable_open_server = true;
        config.team_settings.site_name = "Chorus Test Site".to_string();
        config.service_settings.enable_user_access_tokens = true;
        config.service_settings.listen_address = "127.0.0.1:0".to_string();
        config.log_settings.enable_console = false;
        TestServerBuilder { config }
    }

    pub async fn start() -> TestServer {
        TestServer::builder().start().await
    }

    /// `ws://127.0.0.1:PORT/api/v4/websocket`
    pub fn websocket_url(&self) -> String {
        format!(
            "{}/api/v4/websocket",
            self.base_url.replacen("http://", "ws://", 1)
        )
    }

    /// A client without credentials.
    pub fn anonymous(&self) -> Api {
        Api {
            http: self.http.clone(),
            api_url: format!("{}/api/v4", self.base_url),
            token: None,
        }
    }

    /// POST /users/login by username or email.
    pub async fn login(&self, login_id: &str, password: &str) -> Reply {
        self.anonymous()
            .post(
                "/users/login",
                json!({"login_id": login_id, "password": password}),
            )
            .await
    }

    /// Signs a user up (`<username>@example.com`, [`PASSWORD`]) without logging in.
    pub async fn create_account(&self, username: &str) -> Value {
        self.anonymous()
            .post(
                "/users",
                json!({
                    "username": username,
                    "email": format!("{username}@example.com"),
                    "password": PASSWORD,
                }),
            )
            .await
            .expect_status(201)
    }

    /// Signs a user up and logs them in. The first user of a server is its system admin.
    pub async fn signup(&self, username: &str) -> TestUser {
        let account = self.create_account(username).await;
        let user = self.log_in_as(username).await;
        assert_eq!(user.id, account["id"].as_str().unwrap());
        user
    }

    /// A new session of an existing user.
    pub async fn log_in_as(&self, username: &str) -> TestUser {
        let reply = self.login(username, PASSWORD).await;
        let body = reply.expect_status(200);
        let token = reply
            .header("token")
            .unwrap_or_else(|| panic!("login answered without a Token header: {reply:?}"))
            .to_string();
        TestUser {
            id: body["id"].as_str().expect("user id").to_string(),
            api: self.anonymous().with_token(&token),
            token,
            login_reply: reply,
        }
    }
}

/// A signed-up, logged-in user.
pub struct TestUser {
    pub id: String,
    pub token: String,
    /// Requests authenticated with `Authorization: Bearer <token>`.
    pub api: Api,
    /// The login answer (headers carry the cookies).
    pub login_reply: Reply,
}

impl TestUser {
    /// Creates a team (open unless `team_type` is "I").
    pub async fn create_team(&self, name: &str, team_type: &str) -> Value {
        self.api
            .post(
                "/teams",
                json!({"name": name, "display_name": format!("Team {name}"), "type": team_type}),
            )
            .await
            .expect_status(201)
    }

    /// Creates a public ("O") or private ("P") channel.
    pub async fn create_channel(&self, team_id: &str, name: &str, channel_type: &str) -> Value {
        self.api
            .post(
                "/channels",
                json!({
                    "team_id": team_id,
                    "name": name,
                    "display_name": format!("Channel {name}"),
                    "type": channel_type,
                }),
            )
            .await
            .expect_status(201)
    }

    pub async fn add_to_team(&self, team_id: &str, user_id: &str) -> Value {
        self.api
            .post(
                &format!("/teams/{team_id}/members"),
                json!({"team_id": team_id, "user_id": user_id}),
            )
            .await
            .expect_status(201)
    }

    pub async fn add_to_channel(&self, channel_id: &str, user_id: &str) -> Value {
        self.api
            .post(
                &format!("/channels/{channel_id}/members"),
                json!({"user_id": user_id}),
            )
            .await
            .expect_status(201)
    }

    /// Posts a message and returns the created post.
    pub async fn post(&self, channel_id: &str, message: &str) -> Value {
        self.api
            .post(
                "/posts",
                json!({"channel_id": channel_id, "message": message}),
            )
            .await
            .expect_status(201)
    }

    pub async fn reply(&self, channel_id: &str, root_id: &str, message: &str) -> Value {
        self.api
            .post(
                "/posts",
                json!({"channel_id": channel_id, "root_id": root_id, "message": message}),
            )
            .await
            .expect_status(201)
    }

    /// A channel of a team by name, as this user sees it.
    pub async fn channel_by_name(&self, team_id: &str, name: &str) -> Value {
        self.api
            .get(&format!("/teams/{team_id}/channels/name/{name}"))
            .await
            .expect_status(200)
    }

    /// Names of this user's channels in a team, sorted.
    pub async fn my_channel_names(&self, team_id: &str) -> Vec<String> {
        let channels = self
            .api
            .get(&format!("/users/me/teams/{team_id}/channels"))
            .await
            .expect_status(200);
        let mut names: Vec<String> = channels
            .as_array()
            .expect("a list of channels")
            .iter()
            .map(|channel| channel["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    }
}

/// A JSON client for `/api/v4`, optionally authenticated with a bearer token.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    api_url: String,
    token: Option<String>,
}

impl Api {
    /// A client for any base URL (another node, or NGINX in front of them).
    pub fn for_base_url(base_url: &str) -> Api {
        Api {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .expect("an HTTP client"),
            api_url: format!("{base_url}/api/v4"),
            token: None,
        }
    }

    pub fn with_token(&self, token: &str) -> Api {
        Api {
            token: Some(token.to_string()),
            ..self.clone()
        }
    }

    /// A request to `/api/v4<path>`, with the bearer token if there is one. For requests the
    /// helpers below do not cover (raw bodies, cookies, extra headers); send it with [`Api::send`].
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self.http.request(method, format!("{}{path}", self.api_url));
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    pub async fn send(&self, request: RequestBuilder) -> Reply {
        let request = request.build().expect("a well-formed request");
        let description = format!("{} {}", request.method(), request.url().path());
        let response = self
            .http
            .execute(request)
            .await
            .unwrap_or_else(|error| panic!("{description}: no answer: {error}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response
            .text()
            .await
            .unwrap_or_else(|error| panic!("{description}: reading the body: {error}"));
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            request: description,
            status,
            headers,
            text,
            json,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(self.request(Method::POST, path).json(&body))
            .await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(self.request(Method::PUT, path).json(&body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(self.request(Method::DELETE, path)).await
    }
}

/// An HTTP answer: status, headers, and the body as text and (when it parses) JSON.
#[derive(Clone)]
pub struct Reply {
    /// "METHOD /path", for failure messages.
    pub request: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    /// The parsed body, `Null` when it is not JSON.
    pub json: Value,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut body: String = self.text.chars().take(600).collect();
        if body.len() < self.text.len() {
            body.push('…');
        }
        write!(formatter, "{} → {} {}", self.request, self.status, body)
    }
}

impl Reply {
    /// The body, after checking the status.
    #[track_caller]
    pub fn expect_status(&self, expected: u16) -> Value {
        assert_eq!(self.status, expected, "unexpected status: {self:?}");
        self.json.clone()
    }

    /// Checks a Mattermost error answer: the status, JSON with `Content-Type: application/json`,
    /// `status_code` equal to the HTTP status, a non-empty `id` and `message`, and `request_id`
    /// equal to the `X-Request-Id` header. Returns the error id.
    #[track_caller]
    pub fn expect_error(&self, expected_status: u16) -> String {
        assert_eq!(self.status, expected_status, "unexpected status: {self:?}");
        self.assert_mattermost_error();
        self.error_id().to_string()
    }

    /// The error-body checks of [`Reply::expect_error`], for any 4xx/5xx status.
    #[track_caller]
    pub fn assert_mattermost_error(&self) {
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "an error must be JSON: {self:?}"
        );
        assert!(
            self.json.is_object(),
            "an error body must be a JSON object: {self:?}"
        );
        assert_eq!(
            self.json["status_code"].as_u64(),
            Some(u64::from(self.status)),
            "status_code in the body must match the HTTP status: {self:?}"
        );
        assert!(
            !self.error_id().is_empty(),
            "an error must carry an id: {self:?}"
        );
        assert!(
            self.json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "an error must carry a message: {self:?}"
        );
        let request_id = self
            .header("x-request-id")
            .unwrap_or_else(|| panic!("no X-Request-Id header: {self:?}"));
        assert_eq!(
            self.json["request_id"].as_str(),
            Some(request_id),
            "request_id in the body must be the X-Request-Id header: {self:?}"
        );
    }

    pub fn error_id(&self) -> &str {
        self.json["id"].as_str().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// Every `Set-Cookie` header as (name, value, attributes).
    pub fn cookies(&self) -> Vec<(String, String, String)> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(|cookie| {
                let (pair, attributes) = cookie.split_once(';').unwrap_or((cookie, ""));
                let (name, value) = pair.split_once('=')?;
                Some((
                    name.trim().to_string(),
                    value.trim().to_string(),
                    attributes.to_string(),
                ))
            })
            .collect()
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies()
            .into_iter()
            .find(|(cookie_name, _, _)| cookie_name == name)
            .map(|(_, value, _)| value)
    }
}

/// The `id`s of a JSON list of objects.
pub fn ids_of(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("expected a JSON list, got {list}"))
        .iter()
        .map(|item| item["id"].as_str().expect("an id").to_string())
        .collect()
}

pub fn id_of(object: &Value) -> String {
    object["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {object}"))
        .to_string()
}

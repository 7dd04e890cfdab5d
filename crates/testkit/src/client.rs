//! The typed test client: [`Api`] sends JSON to `/api/v4` of a node or of NGINX and gives a
//! [`Reply`] (status, headers, body as text and JSON) whose checks panic with the request and
//! the answer; [`TestUser`] is a logged-in user with helpers for the calls most scenarios make.
//! The benchmark and the chaos suite use the fallible forms ([`Api::try_send`],
//! [`Reply::success`], [`Api::sign_up`]) so a failure ends their run with a report instead.
//!
//! Password hashing is deliberately slow (PBKDF2, 600k rounds), so tests create few users and
//! reuse them.

use std::time::Duration;

use anyhow::{bail, Context};
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

/// How long a test waits for something that should happen promptly.
pub const WAIT: Duration = Duration::from_secs(10);

/// The password every test user gets (PasswordSettings' defaults accept it).
pub const PASSWORD: &str = "correct-horse-battery";

/// A logged-in session: who, and the token (the login answer's `Token` header).
#[derive(Clone, Debug)]
pub struct Session {
    pub user_id: String,
    pub token: String,
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
    /// A client for any base URL (`http://host:port`: a node, or NGINX in front of them).
    pub fn for_base_url(base_url: &str) -> Api {
        Api::with_http(
            reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("an HTTP client"),
            base_url,
        )
    }

    /// A client on a given `reqwest::Client` (its timeouts, pool and proxy settings).
    pub fn with_http(http: reqwest::Client, base_url: &str) -> Api {
        Api {
            http,
            api_url: format!("{base_url}/api/v4"),
            token: None,
        }
    }

    /// The underlying HTTP client, for requests outside `/api/v4`.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `http://host:port/api/v4`
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
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

    /// Sends a request; panics when no answer comes.
    pub async fn send(&self, request: RequestBuilder) -> Reply {
        self.try_send(request)
            .await
            .unwrap_or_else(|error| panic!("{error:#}"))
    }

    /// Sends a request; fails when no answer comes (any status is an answer).
    pub async fn try_send(&self, request: RequestBuilder) -> anyhow::Result<Reply> {
        let request = request.build().context("a well-formed request")?;
        let description = format!("{} {}", request.method(), request.url().path());
        let response = self
            .http
            .execute(request)
            .await
            .with_context(|| format!("{description}: no answer"))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response
            .text()
            .await
            .with_context(|| format!("{description}: reading the body"))?;
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Reply {
            request: description,
            status,
            headers,
            text,
            json,
        })
    }

    /// A JSON request that must succeed (2xx); returns the body.
    pub async fn call(&self, method: Method, path: &str, body: Value) -> anyhow::Result<Value> {
        self.try_send(self.request(method, path).json(&body))
            .await?
            .success()
    }

    /// `POST /users` (an open server) then `POST /users/login`; the first user of a server is
    /// its system admin.
    pub async fn sign_up(
        &self,
        username: &str,
        email: &str,
        password: &str,
    ) -> anyhow::Result<Session> {
        let user = self
            .call(
                Method::POST,
                "/users",
                json!({"username": username, "email": email, "password": password}),
            )
            .await?;
        let session = self.log_in(username, password).await?;
        if session.user_id != string_field(&user, "id")? {
            bail!("logged in as someone else than {username} just created");
        }
        Ok(session)
    }

    /// `POST /users/login`.
    pub async fn log_in(&self, login_id: &str, password: &str) -> anyhow::Result<Session> {
        // A server with RateLimitSettings on takes password checks slowly: wait as told.
        let mut attempts = 0;
        let login = loop {
            let login = self
                .try_send(
                    self.request(Method::POST, "/users/login")
                        .json(&json!({"login_id": login_id, "password": password})),
                )
                .await?;
            attempts += 1;
            if login.status != 429 || attempts > 120 {
                break login;
            }
            let wait: u64 = login
                .header("retry-after")
                .and_then(|seconds| seconds.parse().ok())
                .unwrap_or(1);
            tokio::time::sleep(std::time::Duration::from_secs(wait.clamp(1, 10))).await;
        };
        let logged_in = login.success()?;
        let Some(token) = login.header("token") else {
            bail!("{login:?}: no Token header");
        };
        Ok(Session {
            user_id: string_field(&logged_in, "id")?,
            token: token.to_string(),
        })
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
    /// The body when the status is 2xx; otherwise an error naming the request and the answer.
    pub fn success(&self) -> anyhow::Result<Value> {
        if !(200..300).contains(&self.status) {
            bail!("{self:?}");
        }
        Ok(self.json.clone())
    }

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

/// A string field of a JSON object, or an error naming the object.
pub fn string_field(value: &Value, field: &str) -> anyhow::Result<String> {
    match value.get(field).and_then(Value::as_str) {
        Some(text) => Ok(text.to_owned()),
        None => bail!("no string {field:?} in {value}"),
    }
}

//! The few REST v4 calls the benchmarks need to set a node up: sign up and log in, create a
//! team and channels, add members. Everything the load itself sends lives in the scenarios.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use futures_util::{stream, StreamExt, TryStreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub const PASSWORD: &str = "Bench-password-1";
/// Setup requests per node in flight at once (password hashing is CPU-bound on the node).
const SETUP_CONCURRENCY: usize = 4;

/// A fresh `pending_post_id` for a post: Mattermost's clients send one with every post (the
/// idempotency key of a retry), so the benchmarks do too.
fn pending_post_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let number = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("bench-{}-{number}", std::process::id())
}

/// `POST {posts_url}` of `message` into `channel_id` with a fresh `pending_post_id`, as the
/// user `authorization` ("Bearer …") belongs to; succeeds on 201. The whole answer is read, so
/// the connection goes back to the keep-alive pool.
pub fn create_post(
    http: &reqwest::Client,
    posts_url: &str,
    authorization: &str,
    channel_id: &str,
    message: String,
) -> impl std::future::Future<Output = Result<()>> + Send + 'static {
    let body = json!({
        "channel_id": channel_id,
        "message": message,
        "pending_post_id": pending_post_id(),
    })
    .to_string();
    let request = http
        .post(posts_url)
        .header(reqwest::header::AUTHORIZATION, authorization)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    async move {
        let response = request.send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        if status != StatusCode::CREATED {
            bail!("{status}: {}", String::from_utf8_lossy(&body));
        }
        Ok(())
    }
}

/// An HTTP client for loopback only: no proxy from the environment, Nagle off, keep-alive,
/// and a deadline on every request so that no benchmark step can hang.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(5))
        .build()
        .context("building an HTTP client")
}

/// Waits until `GET {base}/api/v4/system/ping` answers 200, for at most `timeout`.
/// `exited` is asked between attempts and says why the server can never answer (it exited).
pub async fn wait_for_ping(
    base: &str,
    timeout: Duration,
    mut exited: impl FnMut() -> Option<String>,
) -> Result<()> {
    let http = http_client(Duration::from_secs(2))?;
    let url = format!("{base}/api/v4/system/ping");
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(reason) = exited() {
            bail!("{reason}");
        }
        if let Ok(response) = http.get(&url).send().await {
            if response.status() == StatusCode::OK {
                return Ok(());
            }
        }
        if std::time::Instant::now() >= deadline {
            bail!("{url} did not answer 200 within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A logged-in user.
#[derive(Clone, Debug)]
pub struct Account {
    pub user_id: String,
    pub token: String,
}

/// Who joins which channel of a [`Workspace`]; the admin (`accounts[0]`), who creates them, is
/// in every channel.
#[derive(Clone, Copy, Debug)]
pub enum Membership {
    /// Every account in every channel.
    Everyone,
    /// Account n (n ≥ 1) in channel (n − 1) mod channels only.
    OneChannelEach,
}

impl Membership {
    fn joins(self, account: usize, channel: usize, channels: usize) -> bool {
        match self {
            Membership::Everyone => true,
            Membership::OneChannelEach => (account - 1) % channels == channel,
        }
    }
}

/// A team with channels. `accounts[0]` is the first user of the node, hence a system admin.
pub struct Workspace {
    pub channel_ids: Vec<String>,
    pub accounts: Vec<Account>,
}

pub struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    /// `base` is the node's `http://host:port`.
    pub fn new(base: String) -> Result<Api> {
        Ok(Api {
            base,
            http: http_client(Duration::from_secs(60))?,
        })
    }

    /// `users` accounts (the first one is the admin), one team, `channels` public channels
    /// joined as `membership` says.
    pub async fn create_workspace(
        &self,
        users: usize,
        channels: usize,
        membership: Membership,
    ) -> Result<Workspace> {
        let admin = self.sign_up_and_log_in("bench0").await?;
        let others: Vec<Account> = stream::iter(1..users.max(1))
            .map(|n| async move { self.sign_up_and_log_in(&format!("bench{n}")).await })
            .buffered(SETUP_CONCURRENCY)
            .try_collect()
            .await?;
        let team = self
            .call(
                Method::POST,
                "/teams",
                &admin.token,
                json!({"name": "bench", "display_name": "Bench", "type": "O"}),
            )
            .await?;
        let team_id = string_field(&team, "id")?;
        for account in &others {
            self.call(
                Method::POST,
                &format!("/teams/{team_id}/members"),
                &admin.token,
                json!({"team_id": team_id, "user_id": account.user_id}),
            )
            .await?;
        }
        let mut channel_ids = Vec::new();
        for n in 0..channels.max(1) {
            let channel = self
                .call(
                    Method::POST,
                    "/channels",
                    &admin.token,
                    json!({"team_id": team_id, "name": format!("bench-{n}"),
                           "display_name": format!("Bench {n}"), "type": "O"}),
                )
                .await?;
            channel_ids.push(string_field(&channel, "id")?);
        }
        let mut memberships: Vec<(&String, &Account)> = Vec::new();
        for (channel_index, channel_id) in channel_ids.iter().enumerate() {
            for (other_index, account) in others.iter().enumerate() {
                if membership.joins(other_index + 1, channel_index, channel_ids.len()) {
                    memberships.push((channel_id, account));
                }
            }
        }
        stream::iter(memberships)
            .map(|(channel_id, account)| {
                let path = format!("/channels/{channel_id}/members");
                let token = &admin.token;
                async move {
                    self.call(
                        Method::POST,
                        &path,
                        token,
                        json!({"user_id": account.user_id}),
                    )
                    .await
                }
            })
            .buffer_unordered(SETUP_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?;
        let mut accounts = vec![admin];
        accounts.extend(others);
        Ok(Workspace {
            channel_ids,
            accounts,
        })
    }

    /// `POST /users` (open server) then `POST /users/login`; the token is the `Token` header.
    pub async fn sign_up_and_log_in(&self, username: &str) -> Result<Account> {
        let user = self
            .call(
                Method::POST,
                "/users",
                "",
                json!({"username": username, "email": format!("{username}@bench.test"),
                       "password": PASSWORD}),
            )
            .await?;
        let user_id = string_field(&user, "id")?;
        let response = self
            .http
            .post(format!("{}/api/v4/users/login", self.base))
            .json(&json!({"login_id": username, "password": PASSWORD}))
            .send()
            .await
            .context("POST /users/login")?;
        let status = response.status();
        let token = response
            .headers()
            .get("token")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        match token {
            Some(token) if status == StatusCode::OK => Ok(Account { user_id, token }),
            _ => bail!(
                "POST /users/login as {username}: {status} {}",
                response.text().await.unwrap_or_default()
            ),
        }
    }

    /// A JSON request to `/api/v4{path}` (with a bearer token unless `token` is empty) that must
    /// succeed; returns the JSON body.
    async fn call(&self, method: Method, path: &str, token: &str, body: Value) -> Result<Value> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}/api/v4{path}", self.base))
            .json(&body);
        if !token.is_empty() {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{method} {path}: {status} {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("{method} {path}: body {text:?}"))
    }
}

fn string_field(value: &Value, field: &str) -> Result<String> {
    match value.get(field).and_then(Value::as_str) {
        Some(text) => Ok(text.to_owned()),
        None => bail!("no string {field:?} in {value}"),
    }
}

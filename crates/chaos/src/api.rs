//! The REST v4 calls that set the scene through NGINX: users, one team, shared channels.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use futures_util::{stream, StreamExt, TryStreamExt};
use reqwest::Method;
use serde_json::{json, Value};

const PASSWORD: &str = "Chaos-password-1";
const SETUP_CONCURRENCY: usize = 3;

/// An HTTP client for loopback and the chaos bridge only: no proxy from the environment, Nagle
/// off, and a deadline on every request so that nothing can hang.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(3))
        .build()
        .context("building an HTTP client")
}

#[derive(Clone, Debug)]
pub struct Account {
    pub username: String,
    pub user_id: String,
    pub token: String,
}

/// `user_count` accounts in one team, every one a member of `channel_count` public channels.
pub struct Workspace {
    pub accounts: Vec<Account>,
    pub channel_ids: Vec<String>,
}

pub async fn create_workspace(
    http: &reqwest::Client,
    base_url: &str,
    user_count: usize,
    channel_count: usize,
) -> Result<Workspace> {
    // The first account of a fresh server is its system admin, so it signs up alone; password
    // hashing dominates the rest, which NGINX spreads over the nodes.
    let mut accounts = vec![sign_up_and_log_in(http, base_url, "chaos0".to_string()).await?];
    let others: Vec<Account> = stream::iter(1..user_count.max(1))
        .map(|index| sign_up_and_log_in(http, base_url, format!("chaos{index}")))
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await?;
    accounts.extend(others);
    let admin = &accounts[0];
    let team = call(
        http,
        base_url,
        Method::POST,
        "/teams",
        &admin.token,
        json!({"name": "chaos", "display_name": "Chaos", "type": "O"}),
    )
    .await?;
    let team_id = string_field(&team, "id")?;
    for account in &accounts[1..] {
        call(
            http,
            base_url,
            Method::POST,
            &format!("/teams/{team_id}/members"),
            &admin.token,
            json!({"team_id": team_id, "user_id": account.user_id}),
        )
        .await?;
    }
    let mut channel_ids = Vec::new();
    for index in 0..channel_count.max(1) {
        let channel = call(
            http,
            base_url,
            Method::POST,
            "/channels",
            &admin.token,
            json!({"team_id": team_id, "name": format!("chaos-{index}"),
                   "display_name": format!("Chaos {index}"), "type": "O"}),
        )
        .await?;
        let channel_id = string_field(&channel, "id")?;
        for account in &accounts[1..] {
            call(
                http,
                base_url,
                Method::POST,
                &format!("/channels/{channel_id}/members"),
                &admin.token,
                json!({"user_id": account.user_id}),
            )
            .await?;
        }
        channel_ids.push(channel_id);
    }
    Ok(Workspace {
        accounts,
        channel_ids,
    })
}

async fn sign_up_and_log_in(
    http: &reqwest::Client,
    base_url: &str,
    username: String,
) -> Result<Account> {
    let user = call(
        http,
        base_url,
        Method::POST,
        "/users",
        "",
        json!({"username": username, "email": format!("{username}@chaos.test"),
               "password": PASSWORD}),
    )
    .await?;
    let user_id = string_field(&user, "id")?;
    let response = http
        .post(format!("{base_url}/api/v4/users/login"))
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
        Some(token) if status.is_success() => Ok(Account {
            username,
            user_id,
            token,
        }),
        _ => bail!(
            "POST /users/login as {username}: {status} {}",
            response.text().await.unwrap_or_default()
        ),
    }
}

/// A JSON request that must succeed; returns the JSON body.
async fn call(
    http: &reqwest::Client,
    base_url: &str,
    method: Method,
    path: &str,
    token: &str,
    body: Value,
) -> Result<Value> {
    let mut request = http
        .request(method.clone(), format!("{base_url}/api/v4{path}"))
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

fn string_field(value: &Value, field: &str) -> Result<String> {
    match value.get(field).and_then(Value::as_str) {
        Some(text) => Ok(text.to_owned()),
        None => bail!("no string {field:?} in {value}"),
    }
}

//! The benchmarks' setup on the shared test client (chorus-testkit): users, a team, channels
//! and memberships. What the load itself sends is measured here and in the scenarios: the
//! post request ([`create_post`]) and a tuned HTTP client.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use chorus_testkit::client::string_field;
use futures_util::{stream, StreamExt, TryStreamExt};
use reqwest::{Method, StatusCode};
use serde_json::json;

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

/// A logged-in user.
pub type Account = chorus_testkit::client::Session;

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
    pub team_id: String,
    pub channel_ids: Vec<String>,
    pub accounts: Vec<Account>,
}

/// The setup calls, on the shared test client.
pub struct Api {
    client: chorus_testkit::client::Api,
}

impl Api {
    /// `base` is the node's (or NGINX's) `http://host:port`.
    pub fn new(base: String) -> Result<Api> {
        Ok(Api {
            client: chorus_testkit::client::Api::with_http(
                http_client(Duration::from_secs(60))?,
                &base,
            ),
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
        let as_admin = self.client.with_token(&admin.token);
        let team = as_admin
            .call(
                Method::POST,
                "/teams",
                json!({"name": "bench", "display_name": "Bench", "type": "O"}),
            )
            .await?;
        let team_id = string_field(&team, "id")?;
        for account in &others {
            add_to_team(&as_admin, &team_id, &account.user_id).await?;
        }
        let mut channel_ids = Vec::new();
        for n in 0..channels.max(1) {
            let channel = as_admin
                .call(
                    Method::POST,
                    "/channels",
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
            .map(|(channel_id, account)| add_to_channel(&as_admin, channel_id, &account.user_id))
            .buffer_unordered(SETUP_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?;
        let mut accounts = vec![admin];
        accounts.extend(others);
        Ok(Workspace {
            team_id,
            channel_ids,
            accounts,
        })
    }

    /// A new account `username` in the workspace's team and in `channel_id` only, added by
    /// the workspace's admin.
    pub async fn add_member_of_one_channel(
        &self,
        workspace: &Workspace,
        username: &str,
        channel_id: &str,
    ) -> Result<Account> {
        let account = self.sign_up_and_log_in(username).await?;
        let as_admin = self.client.with_token(&workspace.accounts[0].token);
        add_to_team(&as_admin, &workspace.team_id, &account.user_id).await?;
        add_to_channel(&as_admin, channel_id, &account.user_id).await?;
        Ok(account)
    }

    /// `POST /users` (open server) then `POST /users/login`.
    pub async fn sign_up_and_log_in(&self, username: &str) -> Result<Account> {
        self.client
            .sign_up(username, &format!("{username}@bench.test"), PASSWORD)
            .await
    }
}

/// `POST /teams/{team_id}/members` as an admin of the team.
async fn add_to_team(
    as_admin: &chorus_testkit::client::Api,
    team_id: &str,
    user_id: &str,
) -> Result<serde_json::Value> {
    as_admin
        .call(
            Method::POST,
            &format!("/teams/{team_id}/members"),
            json!({"team_id": team_id, "user_id": user_id}),
        )
        .await
}

/// `POST /channels/{channel_id}/members` as an admin of the channel.
async fn add_to_channel(
    as_admin: &chorus_testkit::client::Api,
    channel_id: &str,
    user_id: &str,
) -> Result<serde_json::Value> {
    as_admin
        .call(
            Method::POST,
            &format!("/channels/{channel_id}/members"),
            json!({"user_id": user_id}),
        )
        .await
}

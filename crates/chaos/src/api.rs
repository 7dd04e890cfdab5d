//! The scene, set through NGINX on the shared test client (chorus-testkit): users, one team,
//! shared channels.

use std::time::Duration;

use anyhow::{Context, Result};
use chorus_testkit::client::{string_field, Api};
use futures_util::{stream, StreamExt, TryStreamExt};
use reqwest::Method;
use serde_json::json;

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
    let client = Api::with_http(http.clone(), base_url);
    // The first account of a fresh server is its system admin, so it signs up alone; password
    // hashing dominates the rest, which NGINX spreads over the nodes.
    let mut accounts = vec![sign_up_and_log_in(&client, "chaos0".to_string()).await?];
    let others: Vec<Account> = stream::iter(1..user_count.max(1))
        .map(|index| sign_up_and_log_in(&client, format!("chaos{index}")))
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await?;
    accounts.extend(others);
    let admin = client.with_token(&accounts[0].token);
    let team = admin
        .call(
            Method::POST,
            "/teams",
            json!({"name": "chaos", "display_name": "Chaos", "type": "O"}),
        )
        .await?;
    let team_id = string_field(&team, "id")?;
    for account in &accounts[1..] {
        admin
            .call(
                Method::POST,
                &format!("/teams/{team_id}/members"),
                json!({"team_id": team_id, "user_id": account.user_id}),
            )
            .await?;
    }
    let mut channel_ids = Vec::new();
    for index in 0..channel_count.max(1) {
        let channel = admin
            .call(
                Method::POST,
                "/channels",
                json!({"team_id": team_id, "name": format!("chaos-{index}"),
                       "display_name": format!("Chaos {index}"), "type": "O"}),
            )
            .await?;
        let channel_id = string_field(&channel, "id")?;
        for account in &accounts[1..] {
            admin
                .call(
                    Method::POST,
                    &format!("/channels/{channel_id}/members"),
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

async fn sign_up_and_log_in(client: &Api, username: String) -> Result<Account> {
    let session = client
        .sign_up(&username, &format!("{username}@chaos.test"), PASSWORD)
        .await?;
    Ok(Account {
        username,
        user_id: session.user_id,
        token: session.token,
    })
}

//! `webhooks`: incoming-webhook posts (`POST /hooks/{id}`, issue 16) through NGINX in front of
//! `--nodes` clustered nodes, next to plain `POST /api/v4/posts` on the same stack in the same
//! run: closed loop, `--concurrency` clients spread over `--channels` channels (one hook each).
//!
//! A webhook post costs more than a plain one: no session, but the hook and its creator are
//! read from the master at every call (integrations are never cached, so one installed
//! anywhere is live everywhere at once).

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde_json::json;

use crate::api::{http_client, Api, Membership};
use crate::report::{first_errors, phase_tables};
use crate::scenario::posts::post_load;
use crate::scenario::ClusterStack;
use crate::stats::{closed_loop, cpu_during, LoadResult, Window, OP_TIMEOUT};

#[derive(Args, Clone, Debug)]
pub struct WebhooksArgs {
    /// Clustered chorus nodes behind NGINX.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Measured seconds of each phase.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Warm-up seconds before each measured window (not counted).
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Channels the posts are spread over (one incoming webhook each).
    #[arg(long, default_value_t = 16)]
    pub channels: usize,
}

#[derive(Serialize)]
pub struct WebhooksReport {
    pub nodes: usize,
    pub channels: usize,
    pub plain_posts: LoadResult,
    pub webhook_posts: LoadResult,
    /// Webhook posts/s ÷ plain posts/s.
    pub ratio: f64,
}

pub async fn run(chorus_binary: &Path, args: &WebhooksArgs) -> Result<WebhooksReport> {
    if args.nodes == 0 || args.concurrency == 0 || args.channels == 0 {
        bail!("--nodes, --concurrency and --channels must be at least 1");
    }
    let mut stack = ClusterStack::start(chorus_binary, args.nodes, true, false).await?;
    let result = measure(&mut stack, args).await;
    stack.stop().await;
    result
}

async fn measure(stack: &mut ClusterStack, args: &WebhooksArgs) -> Result<WebhooksReport> {
    let window = Window {
        warmup: Duration::from_secs_f64(args.warmup),
        measure: Duration::from_secs_f64(args.duration),
    };
    let base = stack
        .nginx()
        .expect("the stack was started with NGINX")
        .base_url();
    let workspace = Api::new(base.clone())?
        .create_workspace(4, args.channels, Membership::Everyone)
        .await
        .context("setting up users, a team and channels")?;
    let admin =
        chorus_testkit::client::Api::with_http(http_client(Duration::from_secs(60))?, &base)
            .with_token(&workspace.accounts[0].token);
    let mut hook_urls = Vec::new();
    for channel_id in &workspace.channel_ids {
        let hook = admin
            .call(
                Method::POST,
                "/hooks/incoming",
                json!({"channel_id": channel_id, "display_name": "bench"}),
            )
            .await
            .context("creating an incoming webhook")?;
        let id = hook["id"].as_str().context("a hook id")?;
        hook_urls.push(format!("{base}/hooks/{id}"));
    }
    let parties = stack.parties();

    eprintln!("webhooks: plain posts, {} clients", args.concurrency);
    let plain_posts = post_load(
        &format!("{base}/api/v4/posts"),
        &parties,
        &workspace,
        args.concurrency,
        args.channels,
        window,
    )
    .await?;
    stack.check_alive()?;

    eprintln!(
        "webhooks: incoming-webhook posts, {} clients",
        args.concurrency
    );
    let mut workers = Vec::with_capacity(args.concurrency);
    for worker in 0..args.concurrency {
        let client = http_client(OP_TIMEOUT)?;
        let url = hook_urls[worker % hook_urls.len()].clone();
        let mut sequence = 0u64;
        workers.push(move || {
            sequence += 1;
            let request = client
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(json!({"text": format!("webhook post {worker}-{sequence}")}).to_string());
            async move {
                let response = request.send().await?;
                let status = response.status();
                let body = response.bytes().await?;
                if status != StatusCode::OK {
                    bail!("{status}: {}", String::from_utf8_lossy(&body));
                }
                Ok(())
            }
        });
    }
    let (webhook_posts, cpu) =
        tokio::join!(closed_loop(workers, window), cpu_during(&parties, window));
    let mut webhook_posts = webhook_posts?;
    webhook_posts.cpu = Some(cpu);
    stack.check_alive()?;
    let ratio = if plain_posts.per_second > 0.0 {
        webhook_posts.per_second / plain_posts.per_second
    } else {
        0.0
    };
    Ok(WebhooksReport {
        nodes: args.nodes,
        channels: args.channels,
        plain_posts,
        webhook_posts,
        ratio,
    })
}

impl WebhooksReport {
    pub fn text(&self) -> String {
        let mut out = format!(
            "== webhooks: POST /hooks/{{id}} vs POST /api/v4/posts through NGINX, {} nodes, {} channels\n\n",
            self.nodes, self.channels
        );
        let phases = [
            ("plain posts".to_owned(), &self.plain_posts),
            ("incoming-webhook posts".to_owned(), &self.webhook_posts),
        ];
        out.push_str(&phase_tables(&phases));
        out.push_str(&format!(
            "\nwebhook posts/s ÷ plain posts/s: {:.2}\n",
            self.ratio
        ));
        out.push_str(&first_errors(&phases));
        out
    }
}

//! `flood`: what a node still serves its normal users while one client floods it, without and
//! with RateLimitSettings.
//!
//! One node, a channel with `--history` posts. `--users` normal users each read the channel
//! (`GET /channels/{id}/posts?per_page=30`, what a client does on opening it) at
//! `--rate-per-user` requests a second (open loop: the schedule does not wait for answers, so a
//! slow server shows as latency and errors). Three phases, each on a fresh stack:
//! 1. the normal users alone (the baseline);
//! 2. the same plus one flooding user with `--flood-connections` closed-loop connections
//!    sending the same request as fast as the node answers, rate limiting off;
//! 3. the same with RateLimitSettings on: VaryByUser, PerSec 10, MaxBurst 100 (Mattermost's
//!    defaults, keyed by user as every client here shares 127.0.0.1), set after the setup and
//!    applied by restarting the node.
//!
//! Reported per phase: the normal users' requests served per second and latency, and what the
//! flooder got (answers, 429s).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use chorus_testkit::Endpoint;
use clap::Args;
use reqwest::StatusCode;
use serde::Serialize;

use crate::api::{create_post, http_client, Api, Membership};
use crate::report::{fmt_rate, latency_row};
use crate::scenario::Stack;
use crate::stats::{closed_loop, open_loop, LoadResult, Window, OP_TIMEOUT};

#[derive(Args, Clone, Debug)]
pub struct FloodArgs {
    /// Measured seconds per phase.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Warm-up seconds before each phase's measured window.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Normal users.
    #[arg(long, default_value_t = 20)]
    pub users: usize,
    /// Requests a second each normal user sends.
    #[arg(long, default_value_t = 5.0)]
    pub rate_per_user: f64,
    /// Connections of the flooding user, each sending as fast as it is answered.
    #[arg(long, default_value_t = 32)]
    pub flood_connections: usize,
    /// Posts in the channel everyone reads.
    #[arg(long, default_value_t = 200)]
    pub history: usize,
}

#[derive(Serialize)]
pub struct FloodPhase {
    pub name: String,
    pub rate_limited: bool,
    pub normal: LoadResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flood: Option<FloodTally>,
}

/// What the flooding user's requests got inside the measured window and around it.
#[derive(Serialize, Clone, Debug, Default)]
pub struct FloodTally {
    pub answered_per_second: f64,
    pub refused_429_per_second: f64,
}

#[derive(Serialize)]
pub struct FloodReport {
    pub users: usize,
    pub offered_per_second: f64,
    pub phases: Vec<FloodPhase>,
}

impl FloodReport {
    pub fn text(&self) -> String {
        let mut text = format!(
            "flood: {} normal users reading a channel, {} requests/s offered in all\n\
             phase                     normal: conc   served/s   p50 ms   p90 ms   p99 ms  p99.9 ms   max ms  errors | flooder: answered/s  429/s\n",
            self.users,
            fmt_rate(self.offered_per_second)
        );
        for phase in &self.phases {
            let flood = phase.flood.clone().unwrap_or_default();
            text.push_str(&format!(
                "{:<33} {} | {:>10} {:>8}\n",
                phase.name,
                latency_row(&phase.normal),
                fmt_rate(flood.answered_per_second),
                fmt_rate(flood.refused_429_per_second),
            ));
        }
        let baseline = self.phases[0].normal.per_second.max(f64::MIN_POSITIVE);
        for phase in &self.phases[1..] {
            text.push_str(&format!(
                "{}: normal users served {:.0}% of the baseline\n",
                phase.name,
                100.0 * phase.normal.per_second / baseline
            ));
        }
        text
    }
}

pub async fn run(chorus_binary: &Path, args: &FloodArgs) -> Result<FloodReport> {
    let window = Window {
        warmup: Duration::from_secs_f64(args.warmup),
        measure: Duration::from_secs_f64(args.duration),
    };
    let mut phases = Vec::new();
    for (name, flooded, rate_limited) in [
        ("normal users alone", false, false),
        ("flooded, no rate limit", true, false),
        ("flooded, RateLimitSettings on", true, true),
    ] {
        let stack = Stack::start(chorus_binary, false).await?;
        let outcome = run_phase(&stack, args, window, flooded, rate_limited).await;
        stack.stop().await;
        let (normal, flood) = outcome?;
        phases.push(FloodPhase {
            name: name.to_string(),
            rate_limited,
            normal,
            flood,
        });
    }
    Ok(FloodReport {
        users: args.users,
        offered_per_second: args.users as f64 * args.rate_per_user,
        phases,
    })
}

async fn run_phase(
    stack: &Stack,
    args: &FloodArgs,
    window: Window,
    flooded: bool,
    rate_limited: bool,
) -> Result<(LoadResult, Option<FloodTally>)> {
    let base = stack.node().base_url();
    // users + 1: the admin who writes the history, and the flooder is the last account.
    let workspace = Api::new(base.clone())?
        .create_workspace(args.users + 2, 1, Membership::Everyone)
        .await?;
    let channel_id = workspace.channel_ids[0].clone();
    let writer = http_client(OP_TIMEOUT)?;
    let admin_auth = format!("Bearer {}", workspace.accounts[0].token);
    for n in 0..args.history {
        create_post(
            &writer,
            &format!("{base}/api/v4/posts"),
            &admin_auth,
            &channel_id,
            format!("history {n}"),
        )
        .await?;
    }
    if rate_limited {
        // After the setup, which would itself be limited: the limiter is built at start.
        stack.node().edit_config(|config| {
            config["RateLimitSettings"] = serde_json::json!({
                "Enable": true, "PerSec": 10, "MaxBurst": 100, "MemoryStoreSize": 10000,
                "VaryByRemoteAddr": false, "VaryByUser": true, "VaryByHeader": "",
            });
        });
        stack.node().stop().await?;
        stack.node().restart().await?;
    }
    let read_url = format!("{base}/api/v4/channels/{channel_id}/posts?page=0&per_page=30");
    let normal_auths: Vec<String> = workspace.accounts[1..=args.users]
        .iter()
        .map(|account| format!("Bearer {}", account.token))
        .collect();
    let flooder_auth = format!("Bearer {}", workspace.accounts[args.users + 1].token);

    let answered = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let flood = if flooded {
        let workers: Vec<_> = (0..args.flood_connections)
            .map(|_| {
                let http = http_client(OP_TIMEOUT).expect("an HTTP client");
                let url = read_url.clone();
                let auth = flooder_auth.clone();
                let answered = answered.clone();
                let refused = refused.clone();
                move || {
                    let request = http.get(&url).header(reqwest::header::AUTHORIZATION, &auth);
                    let answered = answered.clone();
                    let refused = refused.clone();
                    async move {
                        let response = request.send().await?;
                        let status = response.status();
                        response.bytes().await?;
                        if status == StatusCode::TOO_MANY_REQUESTS {
                            refused.fetch_add(1, Ordering::Relaxed);
                        } else {
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(())
                    }
                }
            })
            .collect();
        // Runs a little longer than the normal users, so it covers their whole window.
        let flood_window = Window {
            warmup: window.warmup,
            measure: window.measure + Duration::from_secs(1),
        };
        Some(tokio::spawn(closed_loop(workers, flood_window)))
    } else {
        None
    };
    // The flooder's counters over the normal users' measured window.
    let counters = {
        let answered = answered.clone();
        let refused = refused.clone();
        let measure = window.measure;
        let warmup = window.warmup;
        tokio::spawn(async move {
            tokio::time::sleep(warmup).await;
            let before = (
                answered.load(Ordering::Relaxed),
                refused.load(Ordering::Relaxed),
            );
            tokio::time::sleep(measure).await;
            let after = (
                answered.load(Ordering::Relaxed),
                refused.load(Ordering::Relaxed),
            );
            let seconds = measure.as_secs_f64();
            FloodTally {
                answered_per_second: (after.0 - before.0) as f64 / seconds,
                refused_429_per_second: (after.1 - before.1) as f64 / seconds,
            }
        })
    };
    let clients: Vec<reqwest::Client> = (0..args.users)
        .map(|_| http_client(OP_TIMEOUT))
        .collect::<Result<_>>()?;
    let rate = args.users as f64 * args.rate_per_user;
    let normal = open_loop(rate, window, args.users * 50, |index, _measured| {
        let user = index as usize % normal_auths.len();
        let request = clients[user]
            .get(&read_url)
            .header(reqwest::header::AUTHORIZATION, &normal_auths[user]);
        async move {
            let response = request.send().await?;
            let status = response.status();
            let body = response.bytes().await?;
            if status != StatusCode::OK {
                bail!("{status}: {}", String::from_utf8_lossy(&body));
            }
            Ok(())
        }
    })
    .await?;
    let tally = counters.await?;
    if let Some(flood) = flood {
        flood.await??;
    }
    Ok((normal, flooded.then_some(tally)))
}

//! Simulated users, all through NGINX.
//!
//! A poster sends `POST /api/v4/posts` at a steady pace, round-robin over the shared channels,
//! each post with its own `pending_post_id`; when a request fails or times out it retries the
//! same post (same `pending_post_id`) until it is acknowledged, which must never store it twice.
//!
//! A listener holds a websocket and reconnects whenever it drops, after a backoff with jitter:
//! 100 ms doubling per failed attempt up to 5 s, each delay drawn from 50-150% of that, so the
//! clients of a dead node do not all come back in the same instant. A reconnect asks to resume
//! (`?connection_id=…&sequence_number=<next seq expected>`, Mattermost's reliable-websocket
//! contract). The server either resumes — the same connection id, `seq` continuing, missed
//! events replayed — or answers `hello` with a new connection id, which the listener records as
//! a resync: a real client would now reload everything, and the checker counts it as a failure.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use parking_lot::Mutex;
use rand::Rng;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::api::Account;
use crate::journal::{
    Acknowledged, ClientLog, Clock, ConnectionOutcome, ConnectionRecord, PosterLog, Receipt,
    RequestFailure, SequenceGap,
};
use chorus_testkit::nginx::UPSTREAM_HEADER;

/// A post request that has not answered within this counts as failed and is retried.
const POST_TIMEOUT: Duration = Duration::from_secs(3);
const RETRY_DELAY: Duration = Duration::from_millis(250);
/// After the posting phase ends, how long a poster keeps retrying a post not yet acknowledged.
const FINAL_RETRY_WINDOW: Duration = Duration::from_secs(20);
const RECONNECT_BASE: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the users go, shared by all of them.
#[derive(Clone)]
pub struct Target {
    pub base_url: String,
    pub websocket_url: String,
    pub channel_ids: Vec<String>,
    /// NGINX's upstream address (`10.231.X.Y:PORT`) → node hostname.
    pub node_names: HashMap<String, String>,
    pub clock: Clock,
    /// Which node each listener is connected to right now.
    pub placement: Placement,
}

/// Listener name → hostname of the node its websocket is on, while it is connected; the fault
/// injector reads it to SIGKILL the node that holds the most listeners.
#[derive(Clone, Default)]
pub struct Placement(Arc<Mutex<HashMap<String, String>>>);

impl Placement {
    /// The hostname holding the most listeners, if any holds one.
    pub fn busiest_node(&self) -> Option<String> {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        let placement = self.0.lock();
        for node in placement.values() {
            *counts.entry(node.as_str()).or_default() += 1;
        }
        let busiest = counts
            .into_iter()
            .max_by_key(|(node, count)| (*count, *node));
        busiest.map(|(node, _)| node.to_string())
    }

    fn set(&self, listener: &str, node: Option<&str>) {
        let mut placement = self.0.lock();
        match node {
            Some(node) => placement.insert(listener.to_string(), node.to_string()),
            None => placement.remove(listener),
        };
    }
}

impl Target {
    fn node_name(&self, upstream_header: Option<&str>) -> String {
        // With retries NGINX lists every upstream it tried; the last one answered.
        let last = upstream_header
            .and_then(|header| header.rsplit(',').next())
            .map(str::trim)
            .unwrap_or_default();
        self.node_names.get(last).cloned().unwrap_or_default()
    }
}

/// Posts every `interval` until `stop` turns true, then finishes (or abandons) the post in hand.
pub async fn post_steadily(
    target: Target,
    account: Account,
    interval: Duration,
    first_delay: Duration,
    mut stop: watch::Receiver<bool>,
) -> PosterLog {
    let http = crate::api::http_client(POST_TIMEOUT).expect("an HTTP client");
    let mut log = PosterLog::default();
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + first_delay, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut counter: usize = 0;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return log;
        }
        let channel_id = &target.channel_ids[counter % target.channel_ids.len()];
        let pending_post_id = format!("{}:{counter}", account.user_id);
        counter += 1;
        post_until_acknowledged(
            &target,
            &http,
            &account,
            channel_id,
            &pending_post_id,
            &stop,
            &mut log,
        )
        .await;
    }
}

async fn post_until_acknowledged(
    target: &Target,
    http: &reqwest::Client,
    account: &Account,
    channel_id: &str,
    pending_post_id: &str,
    stop: &watch::Receiver<bool>,
    log: &mut PosterLog,
) {
    let body = json!({
        "channel_id": channel_id,
        "message": format!("chaos {pending_post_id}"),
        "pending_post_id": pending_post_id,
    });
    let mut attempts = 0;
    let mut give_up_at = None;
    loop {
        attempts += 1;
        let outcome = http
            .post(format!("{}/api/v4/posts", target.base_url))
            .bearer_auth(&account.token)
            .json(&body)
            .send()
            .await;
        let failure = match outcome {
            Ok(response) if response.status().as_u16() == 201 => {
                match response.json::<Value>().await {
                    Ok(post) => {
                        log.acknowledged.push(Acknowledged {
                            post_id: post["id"].as_str().unwrap_or_default().to_string(),
                            pending_post_id: pending_post_id.to_string(),
                            channel_id: channel_id.to_string(),
                            attempts,
                        });
                        return;
                    }
                    Err(_) => "unreadable 201 body".to_string(),
                }
            }
            Ok(response) => format!("HTTP {}", response.status().as_u16()),
            Err(error) if error.is_timeout() => "timeout".to_string(),
            Err(error) if error.is_connect() => "connect error".to_string(),
            Err(_) => "connection error".to_string(),
        };
        log.failures.push(RequestFailure {
            at: target.clock.now(),
            kind: failure,
        });
        if *stop.borrow() {
            let deadline = *give_up_at.get_or_insert(target.clock.now() + FINAL_RETRY_WINDOW);
            if target.clock.now() >= deadline {
                log.abandoned.push(pending_post_id.to_string());
                return;
            }
        }
        tokio::time::sleep(jittered(RETRY_DELAY)).await;
    }
}

/// Holds a websocket until `stop` turns true, reconnecting and resuming whenever it drops.
pub async fn listen(
    target: Target,
    account: Account,
    name: String,
    mut stop: watch::Receiver<bool>,
    ready: mpsc::Sender<()>,
) -> ClientLog {
    let mut log = ClientLog {
        name,
        connections: Vec::new(),
        received: Vec::new(),
        sequence_gaps: Vec::new(),
        failed_attempts: 0,
    };
    let mut session = Session::default();
    let mut failed_in_a_row: u32 = 0;
    while !*stop.borrow() {
        if failed_in_a_row > 0 {
            let delay = backoff(failed_in_a_row);
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.changed() => continue,
            }
        }
        let url = match &session.connection_id {
            Some(connection_id) => format!(
                "{}?connection_id={connection_id}&sequence_number={}",
                target.websocket_url,
                session.last_seq + 1
            ),
            None => target.websocket_url.clone(),
        };
        let mut request = url.into_client_request().expect("a websocket URL");
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", account.token)
                .parse()
                .expect("a header value"),
        );
        let connected =
            tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(request)).await;
        let (mut socket, response) = match connected {
            Ok(Ok(pair)) => pair,
            _ => {
                log.failed_attempts += 1;
                failed_in_a_row += 1;
                continue;
            }
        };
        let node = target.node_name(
            response
                .headers()
                .get(UPSTREAM_HEADER)
                .and_then(|value| value.to_str().ok()),
        );
        target.placement.set(&log.name, Some(&node));
        log.connections.push(ConnectionRecord {
            opened_at: target.clock.now(),
            connection_id: None,
            node,
            outcome: ConnectionOutcome::Pending,
            settled_at: None,
            closed_at: None,
        });
        loop {
            let message = tokio::select! {
                message = socket.next() => message,
                _ = stop.changed() => None,
            };
            let Some(Ok(message)) = message else { break };
            let Message::Text(text) = message else {
                continue;
            };
            let Ok(event) = serde_json::from_str::<Value>(text.as_str()) else {
                continue;
            };
            if session.take(&event, &target.clock, &mut log) == Some(ConnectionOutcome::Fresh) {
                let _ = ready.try_send(());
            }
        }
        let record = log
            .connections
            .last_mut()
            .expect("the connection just recorded");
        record.closed_at = Some(target.clock.now());
        // A connection that settled resets the backoff; one that closed before anything
        // arrived counts as a failed attempt.
        if record.outcome == ConnectionOutcome::Pending {
            failed_in_a_row += 1;
        } else {
            failed_in_a_row = 1;
        }
    }
    log
}

/// The websocket state a client carries across reconnects.
#[derive(Default)]
struct Session {
    connection_id: Option<String>,
    last_seq: i64,
}

impl Session {
    /// Records one message; returns how the connection settled if this message settled it.
    fn take(
        &mut self,
        event: &Value,
        clock: &Clock,
        log: &mut ClientLog,
    ) -> Option<ConnectionOutcome> {
        let Some(kind) = event["event"].as_str() else {
            return None; // a reply to an action of ours
        };
        let seq = event["seq"].as_i64().unwrap_or(-1);
        let record = log.connections.last_mut().expect("an open connection");
        if kind == "hello" {
            let new_id = event["data"]["connection_id"].as_str().unwrap_or_default();
            let outcome = match &self.connection_id {
                None => ConnectionOutcome::Fresh,
                Some(old_id) if old_id == new_id => ConnectionOutcome::Resumed,
                Some(_) => ConnectionOutcome::Resynced,
            };
            let settled = record.outcome == ConnectionOutcome::Pending;
            if settled {
                record.outcome = outcome;
                record.settled_at = Some(clock.now());
                record.connection_id = Some(new_id.to_string());
            }
            if outcome != ConnectionOutcome::Resumed {
                self.connection_id = Some(new_id.to_string());
                self.last_seq = seq;
            }
            return settled.then_some(outcome);
        }
        let mut settled = None;
        if record.outcome == ConnectionOutcome::Pending {
            // No hello: the server resumed the connection and goes on where it was.
            record.outcome = ConnectionOutcome::Resumed;
            record.settled_at = Some(clock.now());
            record.connection_id = self.connection_id.clone();
            settled = Some(ConnectionOutcome::Resumed);
        }
        if seq != self.last_seq + 1 {
            log.sequence_gaps.push(SequenceGap {
                at: clock.now(),
                expected: self.last_seq + 1,
                got: seq,
            });
        }
        self.last_seq = seq;
        if kind != "posted" {
            return settled;
        }
        let post: Value = event["data"]["post"]
            .as_str()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default();
        log.received.push(Receipt {
            post_id: post["id"].as_str().unwrap_or_default().to_string(),
            channel_id: post["channel_id"].as_str().unwrap_or_default().to_string(),
            create_at: post["create_at"].as_i64().unwrap_or_default(),
            received_at: clock.now(),
            seq,
            connection: log.connections.len() - 1,
        });
        settled
    }
}

fn backoff(failed_in_a_row: u32) -> Duration {
    let exponent = failed_in_a_row.saturating_sub(1).min(10);
    jittered((RECONNECT_BASE * 2u32.pow(exponent)).min(RECONNECT_MAX))
}

/// `delay` scaled by a random factor in 50-150%.
fn jittered(delay: Duration) -> Duration {
    delay.mul_f64(rand::thread_rng().gen_range(0.5..1.5))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_log() -> ClientLog {
        ClientLog {
            name: "listener".to_string(),
            connections: Vec::new(),
            received: Vec::new(),
            sequence_gaps: Vec::new(),
            failed_attempts: 0,
        }
    }

    fn open_connection(log: &mut ClientLog) {
        log.connections.push(ConnectionRecord {
            opened_at: Duration::ZERO,
            connection_id: None,
            node: String::new(),
            outcome: ConnectionOutcome::Pending,
            settled_at: None,
            closed_at: None,
        });
    }

    fn hello(connection_id: &str) -> Value {
        json!({"event": "hello", "seq": 0, "data": {"connection_id": connection_id}})
    }

    fn posted(seq: i64, post_id: &str) -> Value {
        let post = json!({"id": post_id, "channel_id": "c", "create_at": seq}).to_string();
        json!({"event": "posted", "seq": seq, "data": {"post": post}})
    }

    #[test]
    fn a_reconnect_that_continues_the_sequence_is_a_resume() {
        let clock = Clock::start();
        let mut log = new_log();
        let mut session = Session::default();
        open_connection(&mut log);
        assert_eq!(
            session.take(&hello("a"), &clock, &mut log),
            Some(ConnectionOutcome::Fresh)
        );
        session.take(&posted(1, "p1"), &clock, &mut log);
        open_connection(&mut log);
        assert_eq!(
            session.take(&posted(2, "p2"), &clock, &mut log),
            Some(ConnectionOutcome::Resumed)
        );
        assert!(log.sequence_gaps.is_empty());
        assert_eq!(log.received.len(), 2);
    }

    #[test]
    fn a_new_connection_id_is_a_resync_and_a_skipped_seq_is_a_gap() {
        let clock = Clock::start();
        let mut log = new_log();
        let mut session = Session::default();
        open_connection(&mut log);
        session.take(&hello("a"), &clock, &mut log);
        session.take(&posted(1, "p1"), &clock, &mut log);
        open_connection(&mut log);
        assert_eq!(
            session.take(&hello("b"), &clock, &mut log),
            Some(ConnectionOutcome::Resynced)
        );
        session.take(&posted(1, "p2"), &clock, &mut log);
        assert!(log.sequence_gaps.is_empty(), "seq restarts after a resync");
        session.take(&posted(3, "p3"), &clock, &mut log);
        assert_eq!(log.sequence_gaps.len(), 1);
    }
}

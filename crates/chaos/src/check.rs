//! The checker: compares what the users were told and what they received with what the
//! database holds, and prints the verdict.
//!
//! Failures (each one makes the run fail):
//! - an acknowledged post missing from the database, or stored under another pending_post_id;
//! - a post stored more than once (two rows with the same user and pending_post_id);
//! - a listener that was told to resync (new connection id on reconnect), or, without a
//!   resync, missed a stored post;
//! - a listener that saw `seq` skip or repeat, received a post twice or one the database does not
//!   hold, or received a channel's posts out of `create_at` order;
//! - a node that exited by itself, or a fault that could not be injected or undone.
//!
//! Reported, not failed: request errors and the time windows in which they happened (the
//! posters retried them), and the failover figure.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::journal::{ClientLog, Clock, ConnectionOutcome, FaultRecord, PosterLog, Receipt};

/// Request errors less than this apart belong to one window.
const WINDOW_GAP: Duration = Duration::from_secs(1);
/// Failures listed one by one before the rest are only counted.
const LISTED: usize = 30;

pub struct StoredPost {
    pub id: String,
    pub channel_id: String,
    pub create_at: i64,
    pub user_id: String,
    pub pending_post_id: String,
}

/// Every post the posters made (message `chaos …`) in `channel_ids`, from the current primary.
pub async fn load_posts(url: &str, channel_ids: &[String]) -> Result<Vec<StoredPost>> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connecting to {url} to check the posts"))?;
    let connection = tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT id, channelid, createat, userid, pendingpostid FROM posts \
             WHERE channelid = ANY($1) AND message LIKE 'chaos %' ORDER BY createat",
            &[&channel_ids],
        )
        .await
        .context("reading the posts")?;
    drop(client);
    let _ = connection.await;
    Ok(rows
        .iter()
        .map(|row| StoredPost {
            id: row.get(0),
            channel_id: row.get(1),
            create_at: row.get(2),
            user_id: row.get(3),
            pending_post_id: row.get(4),
        })
        .collect())
}

pub struct Evidence<'a> {
    pub posters: &'a [PosterLog],
    pub clients: &'a [ClientLog],
    pub faults: &'a [FaultRecord],
    pub stored: &'a [StoredPost],
    pub run_length: Duration,
    pub clock: &'a Clock,
    /// Print every listener's connections one by one.
    pub timeline: bool,
}

/// Prints the report; returns the number of failures.
pub fn check(evidence: &Evidence) -> usize {
    let mut failures = Failures::default();
    check_posts(evidence, &mut failures);
    check_clients(evidence, &mut failures);
    for fault in evidence.faults {
        for problem in &fault.problems {
            failures.add(format!(
                "{} {} at {:.1}s: {problem}",
                fault.name,
                fault.target,
                fault.injected_at.as_secs_f64()
            ));
        }
    }
    if evidence.timeline {
        report_timeline(evidence.clients);
    }
    report_request_errors(evidence);
    report_failover(evidence);
    failures.print()
}

#[derive(Default)]
struct Failures {
    lines: Vec<String>,
}

impl Failures {
    fn add(&mut self, line: String) {
        self.lines.push(line);
    }

    fn print(&self) -> usize {
        println!();
        if self.lines.is_empty() {
            println!("VERDICT: PASS — nothing acknowledged was lost or duplicated, every listener got every post once, in order");
            return 0;
        }
        println!("VERDICT: FAIL — {} failures", self.lines.len());
        for line in self.lines.iter().take(LISTED) {
            println!("  - {line}");
        }
        if self.lines.len() > LISTED {
            println!("  … and {} more", self.lines.len() - LISTED);
        }
        self.lines.len()
    }
}

fn check_posts(evidence: &Evidence, failures: &mut Failures) {
    let stored_by_id: HashMap<&str, &StoredPost> = evidence
        .stored
        .iter()
        .map(|post| (post.id.as_str(), post))
        .collect();
    let mut copies: HashMap<(&str, &str), usize> = HashMap::new();
    for post in evidence.stored {
        *copies
            .entry((post.user_id.as_str(), post.pending_post_id.as_str()))
            .or_default() += 1;
    }
    let mut acknowledged = 0;
    let mut retried = 0;
    let mut acknowledged_ids = HashSet::new();
    for log in evidence.posters {
        for ack in &log.acknowledged {
            acknowledged += 1;
            if ack.attempts > 1 {
                retried += 1;
            }
            acknowledged_ids.insert(ack.post_id.as_str());
            match stored_by_id.get(ack.post_id.as_str()) {
                None => failures.add(format!(
                    "acknowledged post {} (pending_post_id {}) is not in the database",
                    ack.post_id, ack.pending_post_id
                )),
                Some(stored)
                    if stored.pending_post_id != ack.pending_post_id
                        || stored.channel_id != ack.channel_id =>
                {
                    failures.add(format!(
                        "acknowledged post {} is stored with pending_post_id {:?} in channel {}, sent as {:?} in {}",
                        ack.post_id, stored.pending_post_id, stored.channel_id, ack.pending_post_id, ack.channel_id
                    ))
                }
                Some(_) => {}
            }
        }
    }
    for ((user_id, pending_post_id), count) in &copies {
        if *count > 1 {
            failures.add(format!(
                "pending_post_id {pending_post_id} of user {user_id} is stored {count} times"
            ));
        }
    }
    let abandoned: Vec<&String> = evidence
        .posters
        .iter()
        .flat_map(|log| &log.abandoned)
        .collect();
    let unacknowledged_stored = evidence
        .stored
        .iter()
        .filter(|post| !acknowledged_ids.contains(post.id.as_str()))
        .count();
    println!();
    println!("POSTS");
    println!(
        "  acknowledged {acknowledged} ({retried} after a retry), stored {}, stored but never acknowledged {unacknowledged_stored}, abandoned at the end {}",
        evidence.stored.len(),
        abandoned.len()
    );
}

/// Checks every listener.
fn check_clients(evidence: &Evidence, failures: &mut Failures) {
    // Every listener is in every channel, so it should receive every stored post.
    let expected_total = evidence.stored.len();
    let stored_ids: HashSet<&str> = evidence
        .stored
        .iter()
        .map(|post| post.id.as_str())
        .collect();
    let mut complete = 0;
    let mut resynced_clients = 0;
    let mut resumes = 0;
    let mut reconnects = 0;
    let mut missed_by_resynced = 0;
    for client in evidence.clients {
        let resyncs = count_outcome(client, ConnectionOutcome::Resynced);
        resumes += count_outcome(client, ConnectionOutcome::Resumed);
        reconnects += client.connections.len().saturating_sub(1);
        let received_ids: HashSet<&str> =
            client.received.iter().map(|r| r.post_id.as_str()).collect();
        let missed: Vec<&StoredPost> = evidence
            .stored
            .iter()
            .filter(|post| !received_ids.contains(post.id.as_str()))
            .collect();
        let missing = missed.len();
        let while_connected = missed_while_connected(client, &missed, evidence);
        let mut problems = Vec::new();
        if resyncs > 0 {
            resynced_clients += 1;
            missed_by_resynced += missing;
            problems.push(format!(
                "told to resync {resyncs} times (new connection id on reconnect), missed {}",
                describe_missed(&missed, &while_connected, evidence.clock)
            ));
        } else if missing > 0 {
            problems.push(format!(
                "missed {} (of {expected_total})",
                describe_missed(&missed, &while_connected, evidence.clock)
            ));
        }
        if let Some(first) = client.sequence_gaps.first() {
            problems.push(format!(
                "seq skipped or repeated {} times (first at {:.1}s: expected {}, got {})",
                client.sequence_gaps.len(),
                first.at.as_secs_f64(),
                first.expected,
                first.got
            ));
        }
        let phantoms = received_ids
            .iter()
            .filter(|post_id| !stored_ids.contains(*post_id))
            .count();
        if phantoms > 0 {
            problems.push(format!(
                "received {phantoms} posts the database does not hold"
            ));
        }
        let mut first_receipt: HashMap<&str, &Receipt> = HashMap::new();
        let mut duplicates = Vec::new();
        for receipt in &client.received {
            if let Some(first) = first_receipt.insert(receipt.post_id.as_str(), receipt) {
                duplicates.push((first, receipt));
            }
        }
        if let Some((first, again)) = duplicates.first() {
            problems.push(format!(
                "received {} posts twice (first: post {} created at {:.1}s, received {} and again {})",
                duplicates.len(),
                first.post_id,
                evidence.clock.run_seconds(first.create_at),
                describe_receipt(client, first),
                describe_receipt(client, again)
            ));
        }
        let mut last_in_channel: HashMap<&str, &Receipt> = HashMap::new();
        let mut out_of_order = 0;
        let mut first_out_of_order = None;
        for receipt in &client.received {
            if let Some(last) = last_in_channel.get(receipt.channel_id.as_str()) {
                if receipt.create_at <= last.create_at {
                    out_of_order += 1;
                    first_out_of_order.get_or_insert((receipt, *last));
                    continue;
                }
            }
            last_in_channel.insert(receipt.channel_id.as_str(), receipt);
        }
        if let Some((late, after)) = first_out_of_order {
            problems.push(format!(
                "{out_of_order} posts out of create_at order (first: post {} created at {:.1}s, received {}, after post {} created at {:.1}s, received {})",
                late.post_id,
                evidence.clock.run_seconds(late.create_at),
                describe_receipt(client, late),
                after.post_id,
                evidence.clock.run_seconds(after.create_at),
                describe_receipt(client, after)
            ));
        }
        if problems.is_empty() {
            complete += 1;
        } else {
            failures.add(format!("{}: {}", client.name, problems.join("; ")));
        }
    }
    println!();
    println!("LISTENERS");
    println!(
        "  {} listeners, {expected_total} posts each expected; {reconnects} reconnects: {resumes} resumed, {} resynced ({resynced_clients} listeners, {missed_by_resynced} posts missed by them); {} received everything exactly once in order",
        evidence.clients.len(),
        evidence
            .clients
            .iter()
            .map(|client| count_outcome(client, ConnectionOutcome::Resynced))
            .sum::<usize>(),
        complete
    );
}

/// Margins around a connection's life within which a missed post is blamed on the connection
/// coming or going rather than on delivery to a connected client.
const AFTER_SETTLING: Duration = Duration::from_millis(500);
const BEFORE_CLOSING: Duration = Duration::from_secs(2);

/// The missed posts that were created while the listener was connected and settled: those
/// were lost in delivery (fan-out between nodes), not across a reconnect.
fn missed_while_connected<'a>(
    client: &ClientLog,
    missed: &[&'a StoredPost],
    evidence: &Evidence,
) -> Vec<&'a StoredPost> {
    let windows: Vec<(f64, f64)> = client
        .connections
        .iter()
        .filter_map(|connection| {
            let settled = connection.settled_at?;
            let closed = connection.closed_at.unwrap_or(evidence.run_length);
            Some((
                (settled + AFTER_SETTLING).as_secs_f64(),
                closed.saturating_sub(BEFORE_CLOSING).as_secs_f64(),
            ))
        })
        .collect();
    missed
        .iter()
        .copied()
        .filter(|post| {
            let created = evidence.clock.run_seconds(post.create_at);
            windows
                .iter()
                .any(|(from, to)| created >= *from && created <= *to)
        })
        .collect()
}

/// How many stored posts created within `window` (run time) the listener never received.
fn missed_within(client: &ClientLog, window: (Duration, Duration), evidence: &Evidence) -> usize {
    let received: HashSet<&str> = client
        .received
        .iter()
        .map(|receipt| receipt.post_id.as_str())
        .collect();
    let (from, to) = (window.0.as_secs_f64(), window.1.as_secs_f64());
    evidence
        .stored
        .iter()
        .filter(|post| {
            let created = evidence.clock.run_seconds(post.create_at);
            created >= from && created <= to && !received.contains(post.id.as_str())
        })
        .count()
}

/// `N posts (created at …), M of them while connected (created at …)`.
fn describe_missed(
    missed: &[&StoredPost],
    while_connected: &[&StoredPost],
    clock: &Clock,
) -> String {
    let times = |posts: &[&StoredPost]| -> String {
        let mut shown: Vec<String> = posts
            .iter()
            .take(5)
            .map(|post| format!("{:.1}s", clock.run_seconds(post.create_at)))
            .collect();
        if posts.len() > 5 {
            shown.push("…".to_string());
        }
        shown.join(", ")
    };
    let mut text = format!("{} posts", missed.len());
    if !missed.is_empty() {
        let ids: Vec<&str> = missed.iter().take(5).map(|post| post.id.as_str()).collect();
        text.push_str(&format!(
            " (created at {}; ids {})",
            times(missed),
            ids.join(", ")
        ));
    }
    if !while_connected.is_empty() {
        text.push_str(&format!(
            ", {} of them while connected, not across a reconnect (created at {})",
            while_connected.len(),
            times(while_connected)
        ));
    }
    text
}

/// `at 24.31s (seq 372 of <connection id>@chaos-node-1)`: where a post reached a listener, to
/// look up in the node logs.
fn describe_receipt(client: &ClientLog, receipt: &Receipt) -> String {
    let connection = &client.connections[receipt.connection];
    format!(
        "at {:.2}s (seq {} of {}@{})",
        receipt.received_at.as_secs_f64(),
        receipt.seq,
        connection.connection_id.as_deref().unwrap_or("?"),
        connection.node
    )
}

/// `name: 0.0s fresh@chaos-node-1 (settled 0.1s, closed 3.1s) → …` per listener.
fn report_timeline(clients: &[ClientLog]) {
    println!();
    println!("LISTENER TIMELINES (opened, outcome@node, settled, closed)");
    for client in clients {
        let connections: Vec<String> = client
            .connections
            .iter()
            .map(|connection| {
                let seconds = |at: Option<Duration>| {
                    at.map_or("-".to_string(), |at| format!("{:.2}s", at.as_secs_f64()))
                };
                format!(
                    "{:.2}s {:?}@{} (settled {}, closed {})",
                    connection.opened_at.as_secs_f64(),
                    connection.outcome,
                    connection.node,
                    seconds(connection.settled_at),
                    seconds(connection.closed_at)
                )
            })
            .collect();
        println!(
            "  {} ({} failed attempts): {}",
            client.name,
            client.failed_attempts,
            connections.join(" → ")
        );
    }
}

fn count_outcome(client: &ClientLog, outcome: ConnectionOutcome) -> usize {
    client
        .connections
        .iter()
        .filter(|connection| connection.outcome == outcome)
        .count()
}

/// Request errors per fault (each error belongs to the last fault injected before it) and the
/// windows in which requests failed.
fn report_request_errors(evidence: &Evidence) {
    let mut failures: Vec<(Duration, &str)> = evidence
        .posters
        .iter()
        .flat_map(|log| log.failures.iter().map(|f| (f.at, f.kind.as_str())))
        .collect();
    failures.sort();
    println!();
    println!("REQUEST ERRORS (retried by the posters) — per fault");
    let mut boundaries: Vec<(Duration, String)> =
        vec![(Duration::ZERO, "before any fault".to_string())];
    for fault in evidence.faults {
        boundaries.push((
            fault.injected_at,
            format!(
                "{} {} at {:.1}s (undone after {:.1}s)",
                fault.name,
                fault.target,
                fault.injected_at.as_secs_f64(),
                (fault.healed_at - fault.injected_at).as_secs_f64()
            ),
        ));
    }
    for (index, (start, label)) in boundaries.iter().enumerate() {
        let end = boundaries
            .get(index + 1)
            .map_or(evidence.run_length, |(next, _)| *next);
        let in_range: Vec<(Duration, &str)> = failures
            .iter()
            .copied()
            .filter(|(at, _)| at >= start && at < &end)
            .collect();
        let windows = windows(&in_range);
        let window_text: Vec<String> = windows
            .iter()
            .map(|(from, to)| format!("{:.1}-{:.1}s", from.as_secs_f64(), to.as_secs_f64()))
            .collect();
        println!(
            "  {label}: {} errors{}{}",
            in_range.len(),
            kinds(&in_range),
            if window_text.is_empty() {
                String::new()
            } else {
                format!(", failing {}", window_text.join(", "))
            }
        );
    }
}

fn windows(failures: &[(Duration, &str)]) -> Vec<(Duration, Duration)> {
    let mut windows: Vec<(Duration, Duration)> = Vec::new();
    for (at, _) in failures {
        match windows.last_mut() {
            Some((_, end)) if *at - *end <= WINDOW_GAP => *end = *at,
            _ => windows.push((*at, *at)),
        }
    }
    windows
}

fn kinds(failures: &[(Duration, &str)]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, kind) in failures {
        *counts.entry(kind).or_default() += 1;
    }
    if counts.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(kind, count)| format!("{kind} ×{count}"))
        .collect();
    format!(" ({})", parts.join(", "))
}

/// For each SIGKILL: the listeners connected to that node, how long after the kill each one's
/// reconnect settled (whatever the outcome), and how long until each had resumed with nothing
/// missing: same connection id, and every post created from the start of its connection to the
/// killed node until its resumed connection closed was received. A trial counts only when every
/// affected listener resumed so; its time is the slowest listener's.
fn report_failover(evidence: &Evidence) {
    println!();
    println!("FAILOVER — SIGKILL of a node until every listener it held has resumed with nothing missing");
    let mut trial_times = Vec::new();
    for mut trial in kill_trials(evidence) {
        println!(
            "  kill {} at {:.1}s: {} listeners affected; {} reconnected{}; {} resumed with nothing missing{}",
            trial.target,
            trial.killed_at.as_secs_f64(),
            trial.affected,
            trial.reconnected_after.len(),
            median_and_max(&mut trial.reconnected_after),
            trial.resumed_after.len(),
            median_and_max(&mut trial.resumed_after),
        );
        if trial.affected > 0 && trial.resumed_after.len() == trial.affected {
            trial_times.extend(trial.resumed_after.iter().max().copied());
        }
    }
    if trial_times.is_empty() {
        println!("  failover figure: no trial in which every affected listener resumed with nothing missing");
    } else {
        println!(
            "  failover figure over {} trials{}",
            trial_times.len(),
            median_and_max(&mut trial_times)
        );
    }
}

struct KillTrial {
    target: String,
    killed_at: Duration,
    /// Listeners connected to the node when it was killed.
    affected: usize,
    /// From the kill until each affected listener's next connection settled, whatever the outcome.
    reconnected_after: Vec<Duration>,
    /// From the kill until each affected listener that resumed with nothing missing had resumed.
    resumed_after: Vec<Duration>,
}

fn kill_trials(evidence: &Evidence) -> Vec<KillTrial> {
    let mut trials = Vec::new();
    for fault in evidence.faults.iter().filter(|fault| fault.name == "kill") {
        let Some(hostname) = &fault.target_hostname else {
            continue;
        };
        let mut trial = KillTrial {
            target: fault.target.clone(),
            killed_at: fault.injected_at,
            affected: 0,
            reconnected_after: Vec::new(),
            resumed_after: Vec::new(),
        };
        for client in evidence.clients {
            let Some(position) = client.connections.iter().position(|connection| {
                &connection.node == hostname
                    && connection.opened_at <= trial.killed_at
                    && connection
                        .closed_at
                        .is_none_or(|closed| closed >= trial.killed_at)
            }) else {
                continue;
            };
            trial.affected += 1;
            let killed_connection = &client.connections[position];
            let Some(next) = client.connections[position + 1..]
                .iter()
                .find(|connection| connection.settled_at.is_some())
            else {
                continue;
            };
            let settled_at = next.settled_at.unwrap_or(next.opened_at);
            let after_kill = settled_at.saturating_sub(trial.killed_at);
            trial.reconnected_after.push(after_kill);
            let window = (
                killed_connection
                    .settled_at
                    .unwrap_or(killed_connection.opened_at),
                next.closed_at.map_or(evidence.run_length, |closed| {
                    closed.saturating_sub(BEFORE_CLOSING)
                }),
            );
            if next.outcome == ConnectionOutcome::Resumed
                && missed_within(client, window, evidence) == 0
            {
                trial.resumed_after.push(after_kill);
            }
        }
        trials.push(trial);
    }
    trials
}

/// ` (median N ms, max M ms)`, or nothing for no values; sorts `values`.
fn median_and_max(values: &mut [Duration]) -> String {
    values.sort();
    match (values.get(values.len() / 2), values.last()) {
        (Some(median), Some(max)) => format!(
            " (median {} ms, max {} ms)",
            median.as_millis(),
            max.as_millis()
        ),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Acknowledged, ConnectionRecord};

    const CHANNEL: &str = "channel-a";

    fn stored(id: &str, create_at: i64, pending_post_id: &str) -> StoredPost {
        StoredPost {
            id: id.to_string(),
            channel_id: CHANNEL.to_string(),
            create_at,
            user_id: "user".to_string(),
            pending_post_id: pending_post_id.to_string(),
        }
    }

    fn poster(acknowledged: &[(&str, &str)]) -> PosterLog {
        PosterLog {
            acknowledged: acknowledged
                .iter()
                .map(|(post_id, pending_post_id)| Acknowledged {
                    post_id: post_id.to_string(),
                    pending_post_id: pending_post_id.to_string(),
                    channel_id: CHANNEL.to_string(),
                    attempts: 1,
                })
                .collect(),
            ..PosterLog::default()
        }
    }

    /// A listener connected once for the whole run that received `received` (id, create_at).
    fn listener(outcomes: &[ConnectionOutcome], received: &[(&str, i64)]) -> ClientLog {
        ClientLog {
            name: "listener".to_string(),
            connections: outcomes
                .iter()
                .map(|outcome| ConnectionRecord {
                    opened_at: Duration::ZERO,
                    connection_id: None,
                    node: "node".to_string(),
                    outcome: *outcome,
                    settled_at: Some(Duration::ZERO),
                    closed_at: None,
                })
                .collect(),
            received: received
                .iter()
                .enumerate()
                .map(|(index, (post_id, create_at))| Receipt {
                    post_id: post_id.to_string(),
                    channel_id: CHANNEL.to_string(),
                    create_at: *create_at,
                    received_at: Duration::ZERO,
                    seq: index as i64 + 1,
                    connection: 0,
                })
                .collect(),
            sequence_gaps: Vec::new(),
            failed_attempts: 0,
        }
    }

    fn failures(posters: &[PosterLog], clients: &[ClientLog], stored: &[StoredPost]) -> usize {
        check(&Evidence {
            posters,
            clients,
            faults: &[],
            stored,
            run_length: Duration::from_secs(60),
            clock: &Clock::start(),
            timeline: false,
        })
    }

    #[test]
    fn a_clean_run_passes() {
        let stored = [stored("p1", 10, "u:1"), stored("p2", 20, "u:2")];
        let posters = [poster(&[("p1", "u:1"), ("p2", "u:2")])];
        let clients = [listener(
            &[ConnectionOutcome::Fresh],
            &[("p1", 10), ("p2", 20)],
        )];
        assert_eq!(failures(&posters, &clients, &stored), 0);
    }

    #[test]
    fn an_acknowledged_post_missing_from_the_database_fails() {
        let stored = [stored("p1", 10, "u:1")];
        let posters = [poster(&[("p1", "u:1"), ("p2", "u:2")])];
        let clients = [listener(&[ConnectionOutcome::Fresh], &[("p1", 10)])];
        assert_eq!(failures(&posters, &clients, &stored), 1);
    }

    #[test]
    fn a_retried_post_stored_twice_fails() {
        let stored = [stored("p1", 10, "u:1"), stored("p1-again", 20, "u:1")];
        let posters = [poster(&[("p1", "u:1")])];
        let clients = [listener(
            &[ConnectionOutcome::Fresh],
            &[("p1", 10), ("p1-again", 20)],
        )];
        assert_eq!(failures(&posters, &clients, &stored), 1);
    }

    #[test]
    fn a_listener_that_misses_repeats_or_reorders_posts_fails() {
        let stored = [stored("p1", 10, "u:1"), stored("p2", 20, "u:2")];
        let posters = [poster(&[("p1", "u:1"), ("p2", "u:2")])];
        for received in [
            &[("p1", 10)][..],
            &[("p1", 10), ("p2", 20), ("p2", 20)][..],
            &[("p2", 20), ("p1", 10)][..],
        ] {
            let clients = [listener(&[ConnectionOutcome::Fresh], received)];
            assert_eq!(
                failures(&posters, &clients, &stored),
                1,
                "received {received:?}"
            );
        }
    }

    #[test]
    fn a_resync_fails_and_a_resume_does_not() {
        let stored = [stored("p1", 10, "u:1")];
        let posters = [poster(&[("p1", "u:1")])];
        let resynced = [listener(
            &[ConnectionOutcome::Fresh, ConnectionOutcome::Resynced],
            &[("p1", 10)],
        )];
        assert_eq!(failures(&posters, &resynced, &stored), 1);
        let resumed = [listener(
            &[ConnectionOutcome::Fresh, ConnectionOutcome::Resumed],
            &[("p1", 10)],
        )];
        assert_eq!(failures(&posters, &resumed, &stored), 0);
    }

    #[test]
    fn a_kill_trial_counts_listeners_that_resumed_with_nothing_missing() {
        let clock = Clock::start();
        let at = Duration::from_millis;
        // Posts created 1 s and 3 s into the run; the node dies at 2 s.
        // The clock's start in epoch milliseconds, to make create_at values at given run times.
        let started_epoch_ms = (-clock.run_seconds(0) * 1000.0).round() as i64;
        let stored = [
            stored("p1", started_epoch_ms + 1000, "u:1"),
            stored("p2", started_epoch_ms + 3000, "u:2"),
        ];
        let connection = |opened: u64, node: &str, outcome, closed: Option<u64>| ConnectionRecord {
            opened_at: at(opened),
            connection_id: None,
            node: node.to_string(),
            outcome,
            settled_at: Some(at(opened + 10)),
            closed_at: closed.map(at),
        };
        let killed_then_resumed = || {
            vec![
                connection(0, "dead", ConnectionOutcome::Fresh, Some(2000)),
                connection(2490, "alive", ConnectionOutcome::Resumed, None),
            ]
        };
        let mut complete = listener(&[], &[("p1", 1), ("p2", 3)]);
        complete.connections = killed_then_resumed();
        let mut lossy = listener(&[], &[("p1", 1)]);
        lossy.connections = killed_then_resumed();
        let faults = [FaultRecord {
            name: "kill".to_string(),
            target: "node 0".to_string(),
            target_hostname: Some("dead".to_string()),
            injected_at: at(2000),
            healed_at: at(5000),
            problems: Vec::new(),
        }];
        let clients = [complete, lossy];
        let evidence = Evidence {
            posters: &[],
            clients: &clients,
            faults: &faults,
            stored: &stored,
            run_length: Duration::from_secs(60),
            clock: &clock,
            timeline: false,
        };
        let trials = kill_trials(&evidence);
        assert_eq!(trials.len(), 1);
        assert_eq!(trials[0].affected, 2);
        assert_eq!(trials[0].reconnected_after, vec![at(500), at(500)]);
        assert_eq!(
            trials[0].resumed_after,
            vec![at(500)],
            "the listener that missed p2 does not count"
        );
    }

    #[test]
    fn request_errors_less_than_a_second_apart_form_one_window() {
        let at = Duration::from_millis;
        let errors = [
            (at(1000), "timeout"),
            (at(1900), "timeout"),
            (at(3500), "HTTP 502"),
        ];
        assert_eq!(
            windows(&errors),
            vec![(at(1000), at(1900)), (at(3500), at(3500))]
        );
    }
}

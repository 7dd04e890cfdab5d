//! The reference figure: raw PostgreSQL single-row INSERT throughput, on the same server and
//! database that the node writes its posts to, in the same run.
//!
//! The table has the columns of a post that matter for the write (Chorus's `posts` table has
//! more columns, two more indexes and a generated tsvector; that extra work is Chorus's cost and
//! shows in the ratio). Each worker owns one connection and sends autocommit INSERTs of one row,
//! as a prepared statement, one at a time.

use std::sync::Arc;

use anyhow::{Context, Result};
use rand::Rng;
use serde::Serialize;
use tokio_postgres::{Client, NoTls};

use crate::stats::{closed_loop, LoadResult, Window};

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS bench_raw_posts (
    id        varchar(26) PRIMARY KEY,
    createat  bigint NOT NULL,
    channelid varchar(26) NOT NULL,
    userid    varchar(26) NOT NULL,
    message   text NOT NULL
)";
const INSERT: &str =
    "INSERT INTO bench_raw_posts (id, createat, channelid, userid, message) VALUES ($1, $2, $3, $4, $5)";

/// Settings of the server that decide what a commit costs, reported next to the figures.
#[derive(Clone, Debug, Serialize)]
pub struct ServerFacts {
    pub version: String,
    pub fsync: String,
    pub synchronous_commit: String,
    pub full_page_writes: String,
}

pub async fn connect(url: &str) -> Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    tokio::spawn(async move {
        // Ends when the client is dropped or the server goes away; errors show up on the client.
        let _ = connection.await;
    });
    Ok(client)
}

pub async fn server_facts(url: &str) -> Result<ServerFacts> {
    let client = connect(url).await?;
    let show = |name: &'static str| {
        let client = &client;
        async move {
            let row = client
                .query_one(&format!("SHOW {name}"), &[])
                .await
                .with_context(|| format!("SHOW {name}"))?;
            Ok::<String, anyhow::Error>(row.get(0))
        }
    };
    Ok(ServerFacts {
        version: show("server_version").await?,
        fsync: show("fsync").await?,
        synchronous_commit: show("synchronous_commit").await?,
        full_page_writes: show("full_page_writes").await?,
    })
}

/// `concurrency` connections inserting single rows for `window`.
pub async fn insert_throughput(
    url: &str,
    concurrency: usize,
    window: Window,
) -> Result<LoadResult> {
    connect(url)
        .await?
        .batch_execute(CREATE_TABLE)
        .await
        .context("creating bench_raw_posts")?;
    let channel_id = random_id();
    let user_id = random_id();
    let mut workers = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let client = Arc::new(connect(url).await?);
        let statement = client
            .prepare(INSERT)
            .await
            .context("preparing the INSERT")?;
        let (channel_id, user_id) = (channel_id.clone(), user_id.clone());
        let mut sequence = 0u64;
        workers.push(move || {
            sequence += 1;
            let (client, statement) = (client.clone(), statement.clone());
            let (channel_id, user_id) = (channel_id.clone(), user_id.clone());
            let message = format!("benchmark message {worker}-{sequence}");
            async move {
                let id = random_id();
                let create_at = now_millis();
                client
                    .execute(
                        &statement,
                        &[&id, &create_at, &channel_id, &user_id, &message],
                    )
                    .await?;
                Ok(())
            }
        });
    }
    closed_loop(workers, window).await
}

/// Posts in Chorus's `posts` table whose message starts with "benchmark post ", the prefix
/// every post-creating scenario uses.
pub async fn count_benchmark_posts(url: &str) -> Result<i64> {
    let row = connect(url)
        .await?
        .query_one(
            "SELECT count(*) FROM posts WHERE message LIKE 'benchmark post %'",
            &[],
        )
        .await
        .context("counting the stored posts")?;
    Ok(row.get(0))
}

/// One normalized statement from pg_stat_statements, per operation (a post, a resume).
#[derive(Clone, Debug, Serialize)]
pub struct StatementCost {
    pub calls_per_post: f64,
    /// Execution time (planning excluded) per call and per post, in µs.
    pub micros_per_call: f64,
    pub micros_per_post: f64,
    /// How many of the calls were planned (a prepared statement is planned once per
    /// connection unless PostgreSQL keeps choosing custom plans), and the planning time per
    /// post in µs.
    pub plans_per_call: f64,
    pub plan_micros_per_post: f64,
    pub query: String,
}

impl StatementCost {
    pub const HEADER: &'static str =
        "  calls/op   µs/call     µs/op  plans/call  plan µs/op  statement";

    pub fn row(&self) -> String {
        let mut query: String = self.query.split_whitespace().collect::<Vec<_>>().join(" ");
        if query.len() > 110 {
            let mut end = 110;
            while !query.is_char_boundary(end) {
                end -= 1;
            }
            query.truncate(end);
            query.push('…');
        }
        format!(
            "{:>10.2} {:>9.1} {:>9.1} {:>11.2} {:>11.1}  {query}",
            self.calls_per_post,
            self.micros_per_call,
            self.micros_per_post,
            self.plans_per_call,
            self.plan_micros_per_post
        )
    }
}

/// Forgets what pg_stat_statements has seen so far (the setup's statements).
pub async fn reset_statements(url: &str) -> Result<()> {
    connect(url)
        .await?
        .batch_execute("SELECT pg_stat_statements_reset()")
        .await
        .context("resetting pg_stat_statements")
}

/// The statements that took the most execution time since [`reset_statements`], as costs per
/// one of `posts`.
pub async fn top_statements(url: &str, posts: u64) -> Result<Vec<StatementCost>> {
    let rows = connect(url)
        .await?
        .query(
            "SELECT calls, total_exec_time, plans, total_plan_time, query FROM pg_stat_statements \
             WHERE query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC LIMIT 12",
            &[],
        )
        .await
        .context("reading pg_stat_statements")?;
    let posts = posts.max(1) as f64;
    Ok(rows
        .iter()
        .map(|row| {
            let calls: i64 = row.get(0);
            let total_ms: f64 = row.get(1);
            let plans: i64 = row.get(2);
            let plan_ms: f64 = row.get(3);
            StatementCost {
                calls_per_post: calls as f64 / posts,
                micros_per_call: total_ms * 1000.0 / (calls.max(1) as f64),
                micros_per_post: total_ms * 1000.0 / posts,
                plans_per_call: plans as f64 / (calls.max(1) as f64),
                plan_micros_per_post: plan_ms * 1000.0 / posts,
                query: row.get(4),
            }
        })
        .collect())
}

/// 26 characters of `[a-z0-9]`, like a Mattermost id.
fn random_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..26)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_ids_look_like_mattermost_ids() {
        let id = super::random_id();
        assert_eq!(id.len(), 26);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        assert_ne!(id, super::random_id());
    }
}

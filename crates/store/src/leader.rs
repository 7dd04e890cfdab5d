//! The leader lease: one row per cluster in `leaderlease`, arbitrated by the database clock.
//!
//! Every time here is the database's `now()`, never a node's clock: a node learns only whether
//! it acquired or renewed, and keeps its own, shorter, monotonic deadline (see `chorus-jobs`'s
//! `leader` module for why that makes two leaders impossible).
//!
//! `now()` is the start of the statement's transaction, which is never earlier than the moment
//! the node sent the statement. So an expiry written as `now() + ttl` is always later than
//! `sent_at + ttl` on the node's side.

use crate::{GenericClient, StoreResult};
use std::time::Duration;

/// What the lease row says right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseState {
    pub holder_node_id: String,
    pub term: i64,
    /// The lease has not expired yet (by the database clock).
    pub held: bool,
    /// Time left until it expires (zero when not held).
    pub remaining: Duration,
}

/// Proof of leadership a write can be conditioned on: the write happens only if the lease row
/// still names this holder and term and has not expired, checked in the same statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseFence {
    pub lease_name: String,
    pub node_id: String,
    pub term: i64,
}

fn millis(duration: Duration) -> i64 {
    duration.as_millis().min(i64::MAX as u128) as i64
}

/// Takes the lease if it is free (never held, expired or released). Returns the new term.
pub async fn acquire(
    db: &impl GenericClient,
    lease_name: &str,
    node_id: &str,
    ttl: Duration,
) -> StoreResult<Option<i64>> {
    // ON CONFLICT … DO UPDATE … WHERE re-checks the condition on the latest row version after
    // waiting for a concurrent acquirer, so of two racing nodes at most one gets a row back.
    let row = db
        .query_opt(
            "INSERT INTO leaderlease (name, holdernodeid, term, acquiredat, expiresat) \
             VALUES ($1, $2, 1, now(), now() + $3::bigint * interval '1 millisecond') \
             ON CONFLICT (name) DO UPDATE SET holdernodeid = EXCLUDED.holdernodeid, \
             term = leaderlease.term + 1, acquiredat = EXCLUDED.acquiredat, \
             expiresat = EXCLUDED.expiresat \
             WHERE leaderlease.expiresat < now() \
             RETURNING term",
            &[&lease_name, &node_id, &millis(ttl)],
        )
        .await?;
    Ok(row.map(|row| row.get(0)))
}

/// Extends the lease held by `node_id` under `term`. False when it is no longer ours or has
/// already expired (an expired lease is re-acquired under a new term, never revived).
pub async fn renew(
    db: &impl GenericClient,
    lease_name: &str,
    node_id: &str,
    term: i64,
    ttl: Duration,
) -> StoreResult<bool> {
    let renewed = db
        .execute(
            "UPDATE leaderlease SET expiresat = now() + $4::bigint * interval '1 millisecond' \
             WHERE name = $1 AND holdernodeid = $2 AND term = $3 AND expiresat >= now()",
            &[&lease_name, &node_id, &term, &millis(ttl)],
        )
        .await?;
    Ok(renewed == 1)
}

/// Gives the lease up at once, so the next node need not wait for it to expire.
pub async fn release(
    db: &impl GenericClient,
    lease_name: &str,
    node_id: &str,
    term: i64,
) -> StoreResult<bool> {
    let released = db
        .execute(
            "UPDATE leaderlease SET expiresat = now() - interval '1 millisecond' \
             WHERE name = $1 AND holdernodeid = $2 AND term = $3",
            &[&lease_name, &node_id, &term],
        )
        .await?;
    Ok(released == 1)
}

/// The lease row, if anyone ever held it.
pub async fn read(db: &impl GenericClient, lease_name: &str) -> StoreResult<Option<LeaseState>> {
    let row = db
        .query_opt(
            "SELECT holdernodeid, term, expiresat > now() AS held, \
             CASE WHEN expiresat > now() \
                  THEN (extract(epoch FROM expiresat - now()) * 1000)::bigint ELSE 0 END \
                  AS remaining_ms \
             FROM leaderlease WHERE name = $1",
            &[&lease_name],
        )
        .await?;
    Ok(row.map(|row| {
        let remaining_ms: i64 = row.get("remaining_ms");
        LeaseState {
            holder_node_id: row.get("holdernodeid"),
            term: row.get("term"),
            held: row.get("held"),
            remaining: Duration::from_millis(remaining_ms.max(0) as u64),
        }
    }))
}

/// The node holding an unexpired lease, if any (for cluster status).
pub async fn current_holder(
    db: &impl GenericClient,
    lease_name: &str,
) -> StoreResult<Option<String>> {
    let state = read(db, lease_name).await?;
    Ok(state
        .filter(|state| state.held)
        .map(|state| state.holder_node_id))
}

//! Exactly one leader, arbitrated by a lease row on the PostgreSQL master.
//!
//! # Why there are never two leaders
//!
//! The lease row (`chorus_store::leader`) says who holds the lease, under which fencing `term`,
//! and until when — `expiresat`, always computed by the database clock as `now() + ttl`, where
//! `now()` is when the statement started, which is never before the node sent it. Another node
//! can take the lease only once the database clock has passed `expiresat`.
//!
//! A node considers itself leader only until its own, local deadline:
//! `instant the last successful renew was SENT + ttl - safety_margin`, on the monotonic clock.
//! Whatever happens to the response — lost, delayed, the database unreachable, the node paused —
//! the database-side expiry of that renew is at least `sent + ttl`, later than the node's
//! deadline by the margin. So the old leader has stopped before anyone else can start; the margin
//! absorbs the rate difference between the two clocks. A renew that times out or fails leaves
//! the deadline where it was; nothing ever extends it except a renew whose success was seen.
//! `is_leader` compares against the deadline on every call, so it turns false on time even when
//! the lease task is stuck waiting for the database.
//!
//! Writes only the leader may do (scheduling jobs) are additionally fenced in the database:
//! [`LeaderLease::fence`] gives the holder and term, and the write checks the lease row in the
//! same statement.
//!
//! # Preferring the lowest node id (the seeds' bully algorithm)
//!
//! When the lease is free, a candidate waits `rank × rank_delay` before trying, where `rank` is
//! its position among the node ids it knows to be alive (`alive_nodes`, from gossip): the lowest
//! id tries at once and wins when all start together. A leader that sees a lower id alive for
//! `handover_stable_for` hands over: it stops leading, releases the lease, and keeps off it for a
//! `ttl` so the lower node takes it; if that node does not, the leader takes it back and does not
//! hand over to that node again for `handover_cooldown` (no flapping towards a node that cannot
//! lead).

use chorus_store::leader::{self as lease_store, LeaseFence};
use chorus_store::{Connection, Store, StoreError, StoreResult};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The ids of the nodes gossip currently sees alive (may or may not include this node).
pub type AliveNodes = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

/// Timing of the lease. The defaults replace a dead leader in about `ttl` (5 s).
#[derive(Debug, Clone)]
pub struct LeaderOptions {
    /// One row per name: nodes of one cluster share it (use the ClusterName), two clusters on one
    /// database use two names and never see each other's leader.
    pub lease_name: String,
    /// How long a renew keeps the lease in the database.
    pub ttl: Duration,
    /// How often the leader renews (and candidates look at a held lease at most this far apart).
    pub renew_interval: Duration,
    /// How much earlier than the database-side expiry the leader stops acting as leader.
    pub safety_margin: Duration,
    /// Per rank among alive node ids, how long a candidate waits before taking a free lease.
    pub rank_delay: Duration,
    /// Whether a leader hands over to a lower node id it sees alive.
    pub handover_to_lower_id: bool,
    /// How long a lower id must be seen alive before the leader hands over to it.
    pub handover_stable_for: Duration,
    /// After a handover the lower node did not take, how long before trying that node again.
    pub handover_cooldown: Duration,
}

impl Default for LeaderOptions {
    fn default() -> Self {
        LeaderOptions {
            lease_name: "chorus".to_string(),
            ttl: Duration::from_secs(5),
            renew_interval: Duration::from_secs(1),
            safety_margin: Duration::from_secs(1),
            rank_delay: Duration::from_millis(500),
            handover_to_lower_id: true,
            handover_stable_for: Duration::from_secs(10),
            handover_cooldown: Duration::from_secs(60),
        }
    }
}

impl LeaderOptions {
    /// The leader acts for `ttl - safety_margin` after sending a renew that succeeded; it must
    /// get to renew at least once in that window.
    fn check(&self) {
        assert!(
            self.safety_margin < self.ttl,
            "leader lease: safety_margin must be shorter than ttl"
        );
        assert!(
            self.renew_interval < self.ttl - self.safety_margin,
            "leader lease: renew_interval must be shorter than ttl - safety_margin"
        );
    }

    /// How long after sending a successful acquire or renew this node may act as leader.
    fn local_validity(&self) -> Duration {
        self.ttl - self.safety_margin
    }
}

/// The lease of this node: a cheap clonable handle to a background task.
#[derive(Clone)]
pub struct LeaderLease {
    inner: Arc<Inner>,
}

struct Inner {
    node_id: String,
    options: LeaderOptions,
    /// None for a standalone lease.
    store: Option<Store>,
    /// Set while this node holds the lease in the database as far as it knows.
    held: Mutex<Option<Held>>,
    leading: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// The term of a standalone lease; database terms start at 1.
const STANDALONE_TERM: i64 = 0;

#[derive(Debug, Clone, Copy)]
struct Held {
    term: i64,
    /// Leader until then (monotonic): last successful renew's send instant + ttl - margin.
    deadline: Instant,
}

impl Inner {
    fn is_leader(&self) -> bool {
        self.held
            .lock()
            .is_some_and(|held| Instant::now() < held.deadline)
    }

    fn held(&self) -> Option<Held> {
        *self.held.lock()
    }

    fn set_held(&self, held: Option<Held>) {
        *self.held.lock() = held;
        self.publish();
    }

    /// Tells watchers whether this node leads right now.
    fn publish(&self) {
        let leading_now = self.is_leader();
        self.leading.send_if_modified(|leading| {
            if *leading == leading_now {
                return false;
            }
            *leading = leading_now;
            true
        });
    }
}

impl LeaderLease {
    /// Starts competing for the lease in the background.
    pub fn start(
        store: Store,
        node_id: impl Into<String>,
        options: LeaderOptions,
        alive_nodes: AliveNodes,
    ) -> LeaderLease {
        options.check();
        let (leading, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            node_id: node_id.into(),
            options,
            store: Some(store.clone()),
            held: Mutex::new(None),
            leading,
            task: Mutex::new(None),
        });
        let task = tokio::spawn(run_lease(inner.clone(), store, alive_nodes));
        *inner.task.lock() = Some(task);
        LeaderLease { inner }
    }

    /// A lease that only ever leads: for a node running without clustering, which Mattermost
    /// treats as its own leader. No database row, no task.
    pub fn standalone(node_id: impl Into<String>) -> LeaderLease {
        let (leading, _) = watch::channel(true);
        let far_future = Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);
        LeaderLease {
            inner: Arc::new(Inner {
                node_id: node_id.into(),
                options: LeaderOptions::default(),
                store: None,
                held: Mutex::new(Some(Held {
                    term: STANDALONE_TERM,
                    deadline: far_future,
                })),
                leading,
                task: Mutex::new(None),
            }),
        }
    }

    /// Whether this is a [`LeaderLease::standalone`] lease (no database arbitration).
    pub fn is_standalone(&self) -> bool {
        self.inner
            .held()
            .is_some_and(|held| held.term == STANDALONE_TERM)
    }

    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    pub fn options(&self) -> &LeaderOptions {
        &self.inner.options
    }

    /// Whether this node may act as leader at this instant.
    pub fn is_leader(&self) -> bool {
        self.inner.is_leader()
    }

    /// Follows leadership changes of this node (true while leading).
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.inner.leading.subscribe()
    }

    /// The fencing term of the lease while this node leads.
    pub fn current_term(&self) -> Option<i64> {
        let held = self.inner.held()?;
        (Instant::now() < held.deadline).then_some(held.term)
    }

    /// What a leader-only write checks in the database, while this node leads. None for a
    /// standalone lease (it has no row): callers check [`LeaderLease::is_standalone`] and then
    /// write unfenced.
    pub fn fence(&self) -> Option<LeaseFence> {
        let term = self.current_term()?;
        if term == STANDALONE_TERM {
            return None;
        }
        Some(LeaseFence {
            lease_name: self.inner.options.lease_name.clone(),
            node_id: self.inner.node_id.clone(),
            term,
        })
    }

    /// Leaves the competition for good (on shutdown): stops leading at once, then releases the
    /// lease so another node takes over without waiting for it to expire.
    pub async fn step_down(&self) {
        let task = self.inner.task.lock().take();
        if let Some(task) = &task {
            task.abort();
        }
        if let Some(task) = task {
            let _ = task.await;
        }
        let held = self.inner.held.lock().take();
        self.inner.publish();
        let Some(held) = held else {
            return;
        };
        let Some(store) = &self.inner.store else {
            return;
        };
        let released = release(&self.inner, store, held.term).await;
        if released {
            tracing::info!(node_id = %self.inner.node_id, term = held.term, "released leadership");
        }
    }

    /// Stops the lease task without releasing or forgetting anything, as if the process had
    /// frozen or died: `is_leader` stays true until the local deadline. For failover tests.
    #[doc(hidden)]
    pub fn kill(&self) {
        if let Some(task) = self.inner.task.lock().take() {
            task.abort();
        }
    }

    /// The node that leads this cluster as the database says now (for cluster status): the
    /// holder of the unexpired lease, or None between leaders. A standalone lease names itself.
    pub async fn leader_node_id(&self) -> StoreResult<Option<String>> {
        let Some(store) = &self.inner.store else {
            return Ok(Some(self.inner.node_id.clone()));
        };
        let db = store.master().await?;
        lease_store::current_holder(&db, &self.inner.options.lease_name).await
    }
}

/// Bookkeeping of handovers to lower node ids.
#[derive(Default)]
struct Handover {
    /// The lowest alive id below ours, and since when it has been seen without interruption.
    lower_candidate: Option<(String, Instant)>,
    /// Ids we handed over to recently and that did not take the lease: not again until then.
    cooldown_until: HashMap<String, Instant>,
    /// The id we last released the lease for, until we see it (or anyone) holding the lease.
    handed_over_to: Option<String>,
    /// After releasing for a handover, do not take the lease back before then.
    hold_off_until: Option<Instant>,
}

async fn run_lease(inner: Arc<Inner>, store: Store, alive_nodes: AliveNodes) {
    let mut handover = Handover::default();
    loop {
        let next_step_at = match inner.held() {
            Some(held) => lead_step(&inner, &store, &alive_nodes, held, &mut handover).await,
            None => candidate_step(&inner, &store, &alive_nodes, &mut handover).await,
        };
        // Wake at the local deadline too, so watchers learn on time that leadership ended.
        let wake_at = match inner.held() {
            Some(held) if held.deadline > Instant::now() => next_step_at.min(held.deadline),
            _ => next_step_at,
        };
        tokio::time::sleep_until(wake_at).await;
        inner.publish();
    }
}

/// Renews the lease; returns when to do the next step.
async fn lead_step(
    inner: &Inner,
    store: &Store,
    alive_nodes: &AliveNodes,
    held: Held,
    handover: &mut Handover,
) -> Instant {
    let options = &inner.options;
    let sent_at = Instant::now();
    // Wait for the answer at most until leadership would end anyway; past that, keep trying
    // with a fresh window (a success still proves nobody else took the lease).
    let answer_by = if held.deadline > sent_at {
        held.deadline
    } else {
        sent_at + options.local_validity()
    };
    let (lease_name, node_id, ttl) = (
        options.lease_name.clone(),
        inner.node_id.clone(),
        options.ttl,
    );
    let renew = on_master(store, answer_by, move |db| {
        Box::pin(async move { lease_store::renew(db, &lease_name, &node_id, held.term, ttl).await })
    });
    match renew.await {
        Ok(Ok(true)) => {
            let was_leader = inner.is_leader();
            inner.set_held(Some(Held {
                term: held.term,
                deadline: sent_at + options.local_validity(),
            }));
            if !was_leader && inner.is_leader() {
                tracing::info!(node_id = %inner.node_id, term = held.term, "leading again after a late renew");
            }
            if should_hand_over(inner, alive_nodes, handover) {
                hand_over(inner, store, held.term, handover).await;
            }
            sent_at + options.renew_interval
        }
        Ok(Ok(false)) => {
            tracing::warn!(node_id = %inner.node_id, term = held.term, "lost the leader lease");
            inner.set_held(None);
            Instant::now()
        }
        Ok(Err(error)) => {
            tracing::warn!(node_id = %inner.node_id, error = %error, "could not renew the leader lease");
            inner.publish();
            Instant::now() + options.renew_interval / 4
        }
        Err(_) => {
            tracing::warn!(node_id = %inner.node_id, term = held.term, "renewing the leader lease timed out; not leading until it succeeds");
            inner.publish();
            Instant::now()
        }
    }
}

/// Looks at the lease and takes it when free and it is this node's turn.
async fn candidate_step(
    inner: &Inner,
    store: &Store,
    alive_nodes: &AliveNodes,
    handover: &mut Handover,
) -> Instant {
    let options = &inner.options;
    let lease_name = options.lease_name.clone();
    let read = on_master(store, Instant::now() + options.ttl, move |db| {
        Box::pin(async move { lease_store::read(db, &lease_name).await })
    });
    let state = match read.await {
        Ok(Ok(state)) => state,
        Ok(Err(error)) => {
            tracing::debug!(error = %error, "could not read the leader lease");
            return Instant::now() + options.renew_interval;
        }
        Err(_) => return Instant::now() + options.renew_interval,
    };
    if let Some(state) = &state {
        if state.held && state.holder_node_id == inner.node_id {
            // Ours in the database (an acquire whose answer we never saw): a renew that
            // succeeds proves it, and gives a deadline measured from when it was sent.
            inner.set_held(Some(Held {
                term: state.term,
                deadline: Instant::now(),
            }));
            return Instant::now();
        }
        if state.held {
            handover.handed_over_to = None;
            let until_expiry = state.remaining + Duration::from_millis(5);
            return Instant::now() + until_expiry.min(options.renew_interval);
        }
    }
    if let Some(hold_off_until) = handover.hold_off_until {
        if Instant::now() < hold_off_until {
            return (Instant::now() + options.renew_interval / 4).min(hold_off_until);
        }
        handover.hold_off_until = None;
    }

    let rank = rank_among(&inner.node_id, &alive_nodes());
    if rank > 0 {
        tokio::time::sleep(options.rank_delay * rank as u32).await;
    }
    let sent_at = Instant::now();
    let (lease_name, node_id, ttl) = (
        options.lease_name.clone(),
        inner.node_id.clone(),
        options.ttl,
    );
    let acquire = on_master(store, sent_at + options.local_validity(), move |db| {
        Box::pin(async move { lease_store::acquire(db, &lease_name, &node_id, ttl).await })
    });
    match acquire.await {
        Ok(Ok(Some(term))) => {
            inner.set_held(Some(Held {
                term,
                deadline: sent_at + options.local_validity(),
            }));
            tracing::info!(node_id = %inner.node_id, term, rank, "became leader");
            if let Some(lower_id) = handover.handed_over_to.take() {
                // Handed over and got it back: the lower node could not take it.
                tracing::info!(node_id = %inner.node_id, lower_id = %lower_id, "lower node did not take the lease over");
                handover
                    .cooldown_until
                    .insert(lower_id, Instant::now() + options.handover_cooldown);
                handover.lower_candidate = None;
            }
            sent_at + options.renew_interval
        }
        Ok(Ok(None)) => Instant::now(),
        Ok(Err(error)) => {
            tracing::debug!(error = %error, "could not take the leader lease");
            Instant::now() + options.renew_interval
        }
        // If it landed, the next look at the row finds it ours and renews.
        Err(_) => Instant::now(),
    }
}

/// Position of `node_id` among the alive ids, lowest first (0 = the preferred leader).
fn rank_among(node_id: &str, alive: &[String]) -> usize {
    alive
        .iter()
        .filter(|other| other.as_str() < node_id)
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

fn should_hand_over(inner: &Inner, alive_nodes: &AliveNodes, handover: &mut Handover) -> bool {
    let options = &inner.options;
    if !options.handover_to_lower_id {
        return false;
    }
    let now = Instant::now();
    handover.cooldown_until.retain(|_, until| *until > now);
    let alive = alive_nodes();
    let lowest_lower = alive
        .iter()
        .filter(|other| other.as_str() < inner.node_id.as_str())
        .filter(|other| !handover.cooldown_until.contains_key(other.as_str()))
        .min()
        .cloned();
    let Some(lowest_lower) = lowest_lower else {
        handover.lower_candidate = None;
        return false;
    };
    let seen_since = match &handover.lower_candidate {
        Some((candidate, since)) if *candidate == lowest_lower => *since,
        _ => {
            handover.lower_candidate = Some((lowest_lower, now));
            now
        }
    };
    now.duration_since(seen_since) >= options.handover_stable_for
}

async fn hand_over(inner: &Inner, store: &Store, term: i64, handover: &mut Handover) {
    let options = &inner.options;
    let lower_id = handover
        .lower_candidate
        .as_ref()
        .map(|(id, _)| id.clone())
        .unwrap_or_default();
    // Stop acting first, then release: never a moment where the release is visible and this
    // node still believes it leads.
    inner.set_held(None);
    handover.hold_off_until = Some(Instant::now() + options.ttl);
    tracing::info!(node_id = %inner.node_id, to = %lower_id, "handing leadership over to a lower node id");
    handover.handed_over_to = Some(lower_id);
    release(inner, store, term).await;
}

/// Releases the lease held under `term`; true when the database confirmed it.
async fn release(inner: &Inner, store: &Store, term: i64) -> bool {
    let (lease_name, node_id) = (inner.options.lease_name.clone(), inner.node_id.clone());
    let release = on_master(store, Instant::now() + inner.options.ttl, move |db| {
        Box::pin(async move { lease_store::release(db, &lease_name, &node_id, term).await })
    });
    match release.await {
        Ok(Ok(released)) => released,
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "could not release the leader lease; it expires on its own");
            false
        }
        Err(Elapsed) => {
            tracing::warn!("releasing the leader lease timed out; it expires on its own");
            false
        }
    }
}

/// The statement did not answer in time.
struct Elapsed;

/// Runs one lease statement on a master connection, giving up at `give_up_at`. A connection whose
/// statement timed out is thrown away instead of going back to the pool: its answer may arrive
/// late or never (a network that drops packets), and the next statement must not queue behind it.
async fn on_master<T>(
    store: &Store,
    give_up_at: Instant,
    statement: impl for<'c> FnOnce(&'c Connection) -> Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 'c>>
        + Send
        + 'static,
) -> Result<StoreResult<T>, Elapsed> {
    let db = match tokio::time::timeout_at(give_up_at, store.master()).await {
        Ok(Ok(db)) => db,
        Ok(Err(error)) => return Ok(Err(error)),
        Err(_) => return Err(Elapsed),
    };
    let outcome = tokio::time::timeout_at(give_up_at, statement(&db)).await;
    match outcome {
        Ok(result) => {
            if let Err(StoreError::Unavailable(_)) = &result {
                drop(Connection::take(db));
            }
            Ok(result)
        }
        Err(_) => {
            drop(Connection::take(db));
            Err(Elapsed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::rank_among;

    #[test]
    fn rank_counts_distinct_lower_ids() {
        let alive = vec![
            "c".to_string(),
            "a".to_string(),
            "a".to_string(),
            "b".to_string(),
        ];
        assert_eq!(rank_among("a", &alive), 0);
        assert_eq!(rank_among("b", &alive), 1);
        assert_eq!(rank_among("c", &alive), 2);
        assert_eq!(rank_among("d", &[]), 0);
    }
}

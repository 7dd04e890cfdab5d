//! In-memory caches and per-channel ordering locks. Everything here can be dropped at any
//! moment without losing data: a miss reads the database again.
//!
//! Every cache is filled through one function, [`fill`], which keeps the two rules a fill
//! must follow: take the cache's generation before the read (so a read that raced an
//! invalidation is not kept), and read from a source that has every write announced for the
//! value's freshness keys (so a lagging replica cannot put an old value back).

use crate::AppResult;
use chorus_model::{Channel, Session, User};
use chorus_store::{Connection, FreshKey, Store};
use parking_lot::RwLock;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A map whose entries expire after `ttl`. Bounded: when full, it is cleared (simple, and a
/// burst of misses after that is cheap compared to unbounded growth).
///
/// A value read from the database while an invalidation arrives must not be cached: the read
/// may predate the change (a member added on another node, whose invalidation came while
/// this node was still reading), and would stay stale until the TTL. So a fill takes the
/// cache's [`TtlCache::generation`] before reading, and [`TtlCache::insert`] keeps the value
/// only if no entry was removed since.
pub(crate) struct TtlCache<K, V> {
    entries: RwLock<HashMap<K, (V, Instant)>>,
    ttl: Duration,
    capacity: usize,
    /// Bumped by every removal, so fills that raced one are not kept.
    generation: AtomicU64,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        TtlCache {
            entries: RwLock::new(HashMap::new()),
            ttl,
            capacity,
            generation: AtomicU64::new(0),
        }
    }

    /// Take it before reading the value to insert.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.read();
        let (value, stored_at) = entries.get(key)?;
        if stored_at.elapsed() > self.ttl {
            return None;
        }
        Some(value.clone())
    }

    /// Caches a value read after [`TtlCache::generation`] returned `read_at`, unless an entry
    /// was removed since.
    pub(crate) fn insert(&self, key: K, value: V, read_at: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.write();
        if self.generation.load(Ordering::SeqCst) != read_at {
            return;
        }
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(key, (value, Instant::now()));
    }

    pub(crate) fn remove(&self, key: &K) {
        let mut entries = self.entries.write();
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.remove(key);
    }

    pub(crate) fn retain(&self, mut keep: impl FnMut(&K, &V) -> bool) {
        let mut entries = self.entries.write();
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.retain(|key, (value, _)| keep(key, value));
    }

    pub(crate) fn clear(&self) {
        let mut entries = self.entries.write();
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.clear();
    }
}

pub(crate) struct Caches {
    /// token → session.
    pub(crate) sessions: TtlCache<String, Arc<Session>>,
    /// channel id → member user ids (routing websocket events, membership checks).
    pub(crate) channel_members: TtlCache<String, Arc<HashSet<String>>>,
    pub(crate) team_members: TtlCache<String, Arc<HashSet<String>>>,
    pub(crate) channels: TtlCache<String, Arc<Channel>>,
    pub(crate) users: TtlCache<String, Arc<User>>,
    /// team id → whether it has live outgoing webhooks (posts in teams without any skip
    /// queueing deliveries, a third of PostgreSQL's cost of a post).
    pub(crate) teams_with_outgoing_webhooks: TtlCache<String, Arc<bool>>,
}

impl Caches {
    pub(crate) fn new(session_ttl: Duration) -> Caches {
        let fifteen_minutes = Duration::from_secs(15 * 60);
        Caches {
            sessions: TtlCache::new(session_ttl, 100_000),
            channel_members: TtlCache::new(fifteen_minutes, 50_000),
            team_members: TtlCache::new(fifteen_minutes, 10_000),
            channels: TtlCache::new(fifteen_minutes, 50_000),
            users: TtlCache::new(fifteen_minutes, 100_000),
            // Short: a lost invalidation would silently skip a new hook's deliveries.
            teams_with_outgoing_webhooks: TtlCache::new(Duration::from_secs(60), 10_000),
        }
    }

    pub(crate) fn clear_all(&self) {
        self.sessions.clear();
        self.channel_members.clear();
        self.team_members.clear();
        self.channels.clear();
        self.users.clear();
        self.teams_with_outgoing_webhooks.clear();
    }
}

/// Where a cache fill reads from.
pub(crate) enum ReadFrom {
    /// The master: for values whose staleness would refuse a request (sessions, members).
    Master,
    /// A replica that has replayed every write noted for these keys, else the master; a value
    /// the replica does not have yet (created a moment ago elsewhere) is read again from the
    /// master, Mattermost's lazy fallback.
    FreshFor(Vec<FreshKey>),
}

/// The cached value of `key`, or one read with `read` on a connection from `source` and
/// cached unless an invalidation of the cache came while it was being read.
pub(crate) async fn fill<K, V, Read, ReadFuture>(
    cache: &TtlCache<K, Arc<V>>,
    key: &K,
    store: &Store,
    source: ReadFrom,
    read: Read,
) -> AppResult<Arc<V>>
where
    K: Eq + Hash + Clone,
    // The read owns its connection: a future borrowing one for any lifetime could not be
    // proven `Send`.
    Read: Fn(Connection) -> ReadFuture,
    ReadFuture: Future<Output = AppResult<V>>,
{
    if let Some(value) = cache.get(key) {
        return Ok(value);
    }
    let read_at = cache.generation();
    let read_value = match source {
        ReadFrom::Master => read(store.master().await?).await?,
        ReadFrom::FreshFor(keys) => {
            let from_replica = read(store.replica_for(&keys).await?).await;
            match from_replica {
                Err(error) if error.status_code == 404 => read(store.master().await?).await?,
                other => other?,
            }
        }
    };
    let value = Arc::new(read_value);
    cache.insert(key.clone(), value.clone(), read_at);
    Ok(value)
}

/// A fixed set of async mutexes, chosen by key hash.
pub(crate) struct ShardedLocks {
    shards: Vec<tokio::sync::Mutex<()>>,
    hasher: std::collections::hash_map::RandomState,
}

impl ShardedLocks {
    pub(crate) fn new(count: usize) -> Self {
        ShardedLocks {
            shards: (0..count).map(|_| tokio::sync::Mutex::new(())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    pub(crate) async fn lock(&self, key: &str) -> tokio::sync::MutexGuard<'_, ()> {
        let index = (self.hasher.hash_one(key) as usize) % self.shards.len();
        self.shards[index].lock().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_that_raced_an_invalidation_is_not_cached() {
        let cache: TtlCache<&str, u32> = TtlCache::new(Duration::from_secs(60), 10);
        let before_read = cache.generation();
        cache.remove(&"members");
        cache.insert("members", 1, before_read);
        assert_eq!(
            cache.get(&"members"),
            None,
            "the read may predate the change"
        );
        cache.insert("members", 2, cache.generation());
        assert_eq!(cache.get(&"members"), Some(2));
    }
}

//! Read-your-writes over lagging replicas.
//!
//! After a write commits, the app names what it touched ([`FreshKey`]: a user, a channel, a
//! team) with [`Store::note_write`](crate::Store::note_write); other nodes do the same when the
//! write's event or cache invalidation reaches them over the cluster, before they publish it to
//! their own clients. A read names what it depends on; it may use a replica only if that replica
//! has replayed every noted write of those keys.
//!
//! Nobody asks PostgreSQL for a write's own LSN (that would cost a round trip per write).
//! Instead the monitor samples the master's WAL position every 100 ms, remembering when each
//! sample's query started: a write noted at `t` is covered by the first sample that started
//! after `t`. Until that sample exists, reads of the key go to the master.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::routing::{MasterSample, Requirement};

/// Something a write changed and a read may depend on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FreshKey {
    User(String),
    Channel(String),
    Team(String),
}

/// Entries older than this are dropped: a replica that far behind is out of rotation anyway
/// (ReplicaMaxLagSeconds), and one that comes back has caught up before it is used.
const FORGET_AFTER: Duration = Duration::from_secs(300);
/// Beyond this many keys the table is cleared and every read is held to the master's position
/// at that moment instead — coarser, never staler.
const MAX_KEYS: usize = 200_000;

#[derive(Clone, Copy, Debug)]
enum Written {
    /// Noted at this instant; no master sample has covered it yet.
    Pending(Instant),
    /// Covered by a master sample at this position (noted at the instant).
    At(u64, Instant),
}

#[derive(Default)]
pub(crate) struct Freshness {
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    keys: HashMap<FreshKey, Written>,
    /// A write that applies to every key (after the table overflowed).
    everything: Option<Written>,
}

impl Freshness {
    pub(crate) fn note(&self, keys: &[FreshKey]) {
        let now = Instant::now();
        let mut table = self.table.lock();
        if table.keys.len() + keys.len() > MAX_KEYS {
            table.keys.clear();
            table.everything = Some(Written::Pending(now));
            return;
        }
        for key in keys {
            table.keys.insert(key.clone(), Written::Pending(now));
        }
    }

    /// What a read of `keys` requires, given the newest master sample.
    pub(crate) fn requirement(
        &self,
        keys: &[FreshKey],
        sample: Option<MasterSample>,
    ) -> Requirement {
        let mut table = self.table.lock();
        let Table {
            keys: entries,
            everything,
        } = &mut *table;
        // Entries are resolved on copies: `prune` (every 100 ms) stores the resolution, and a
        // later sample would only ask for a higher position, which is never staler.
        let mut needed: Option<u64> = None;
        let relevant = keys
            .iter()
            .map(|key| entries.get(key).copied())
            .chain(std::iter::once(*everything));
        for mut written in relevant.flatten() {
            match resolve(&mut written, sample) {
                Some(lsn) => needed = Some(needed.map_or(lsn, |current| current.max(lsn))),
                None => return Requirement::MasterOnly,
            }
        }
        match needed {
            Some(lsn) => Requirement::ReplayedAtLeast(lsn),
            None => Requirement::Any,
        }
    }

    /// Forgets entries every replica has replayed (`min_replayed`) and entries too old to matter.
    pub(crate) fn prune(&self, sample: Option<MasterSample>, min_replayed: Option<u64>) {
        let mut table = self.table.lock();
        let keep = |written: &mut Written| {
            let noted = match *written {
                Written::Pending(at) | Written::At(_, at) => at,
            };
            if noted.elapsed() > FORGET_AFTER {
                return false;
            }
            match (resolve(written, sample), min_replayed) {
                (Some(lsn), Some(replayed)) => lsn > replayed,
                // Without replicas nothing is ever read from one.
                (_, None) => false,
                (None, Some(_)) => true,
            }
        };
        table.keys.retain(|_, written| keep(written));
        if let Some(mut written) = table.everything {
            table.everything = keep(&mut written).then_some(written);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.table.lock().keys.len()
    }
}

/// The position that covers `written`, resolving a pending entry when `sample` started after it.
fn resolve(written: &mut Written, sample: Option<MasterSample>) -> Option<u64> {
    match *written {
        Written::At(lsn, _) => Some(lsn),
        Written::Pending(noted) => match sample {
            Some(sample) if sample.started > noted => {
                *written = Written::At(sample.lsn, noted);
                Some(sample.lsn)
            }
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_after(lsn: u64) -> Option<MasterSample> {
        Some(MasterSample {
            started: Instant::now() + Duration::from_millis(1),
            lsn,
        })
    }

    #[test]
    fn a_key_written_before_any_covering_sample_is_master_only() {
        let freshness = Freshness::default();
        let stale_sample = Some(MasterSample {
            started: Instant::now(),
            lsn: 10,
        });
        std::thread::sleep(Duration::from_millis(2));
        freshness.note(&[FreshKey::User("u".into())]);
        assert_eq!(
            freshness.requirement(&[FreshKey::User("u".into())], stale_sample),
            Requirement::MasterOnly
        );
        assert_eq!(
            freshness.requirement(&[FreshKey::User("other".into())], stale_sample),
            Requirement::Any
        );
    }

    #[test]
    fn a_later_sample_turns_the_write_into_a_position_and_reads_take_the_highest() {
        let freshness = Freshness::default();
        freshness.note(&[FreshKey::Channel("c".into())]);
        assert_eq!(
            freshness.requirement(&[FreshKey::Channel("c".into())], sample_after(50)),
            Requirement::ReplayedAtLeast(50)
        );
        freshness.note(&[FreshKey::User("u".into())]);
        let keys = [FreshKey::Channel("c".into()), FreshKey::User("u".into())];
        assert_eq!(
            freshness.requirement(&keys, sample_after(70)),
            Requirement::ReplayedAtLeast(70)
        );
    }

    #[test]
    fn pruning_forgets_what_every_replica_replayed() {
        let freshness = Freshness::default();
        freshness.note(&[FreshKey::Team("t".into())]);
        freshness.prune(sample_after(100), Some(99));
        assert_eq!(freshness.len(), 1);
        freshness.prune(sample_after(100), Some(100));
        assert_eq!(freshness.len(), 0);
    }
}

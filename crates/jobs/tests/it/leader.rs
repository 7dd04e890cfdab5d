//! Exactly one leader: election, preference for the lowest id, failover after a kill, a leader
//! cut off from the database, step-down and handover. Every scenario samples `is_leader` of all
//! nodes every 10 ms and fails if two ever say yes at once.

use crate::proxy::{FaultyProxy, Link};
use crate::{eventually, fresh_database, node_store};
use chorus_config::SqlSettings;
use chorus_jobs::{AliveNodes, LeaderLease, LeaderOptions};
use chorus_model::new_id;
use chorus_store::Store;
use chorus_testkit::PgServer;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Short timings so failovers take about a second and a half.
pub fn fast_options(lease_name: &str) -> LeaderOptions {
    LeaderOptions {
        lease_name: lease_name.to_string(),
        ttl: Duration::from_millis(1500),
        renew_interval: Duration::from_millis(200),
        safety_margin: Duration::from_millis(300),
        rank_delay: Duration::from_millis(100),
        handover_to_lower_id: false,
        handover_stable_for: Duration::from_millis(300),
        handover_cooldown: Duration::from_secs(5),
    }
}

/// Node ids that sort in creation order: `node-0-…` is the lowest.
pub fn ordered_node_ids(count: usize) -> Vec<String> {
    (0..count)
        .map(|index| format!("node-{index}-{}", new_id()))
        .collect()
}

/// What gossip would report: a list the test can change.
#[derive(Clone)]
pub struct Gossip(Arc<Mutex<Vec<String>>>);

impl Gossip {
    pub fn new(ids: &[String]) -> Gossip {
        Gossip(Arc::new(Mutex::new(ids.to_vec())))
    }

    pub fn alive_nodes(&self) -> AliveNodes {
        let list = self.0.clone();
        Arc::new(move || list.lock().clone())
    }

    pub fn remove(&self, id: &str) {
        self.0.lock().retain(|other| other != id);
    }

    pub fn add(&self, id: &str) {
        self.0.lock().push(id.to_string());
    }
}

pub fn start_leases(
    stores: &[Store],
    ids: &[String],
    options: &LeaderOptions,
    gossip: &Gossip,
) -> Vec<LeaderLease> {
    stores
        .iter()
        .zip(ids)
        .map(|(store, id)| {
            LeaderLease::start(
                store.clone(),
                id.clone(),
                options.clone(),
                gossip.alive_nodes(),
            )
        })
        .collect()
}

/// `is_leader` of every lease at one instant.
pub struct Sample {
    pub at: Instant,
    pub leading: Vec<bool>,
    pub terms: Vec<Option<i64>>,
}

impl Sample {
    pub fn leader_count(&self) -> usize {
        self.leading.iter().filter(|leading| **leading).count()
    }

    pub fn leader(&self) -> Option<usize> {
        self.leading.iter().position(|leading| *leading)
    }
}

/// Samples every 10 ms in the background until finished.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    task: JoinHandle<Vec<Sample>>,
}

impl Sampler {
    pub fn start(leases: &[LeaderLease]) -> Sampler {
        let leases = leases.to_vec();
        let stop = Arc::new(AtomicBool::new(false));
        let task_stop = stop.clone();
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            while !task_stop.load(Ordering::SeqCst) {
                let at = Instant::now();
                let leading = leases.iter().map(LeaderLease::is_leader).collect();
                let terms = leases.iter().map(LeaderLease::current_term).collect();
                samples.push(Sample { at, leading, terms });
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            samples
        });
        Sampler { stop, task }
    }

    /// Stops sampling; fails the test if two nodes ever led at the same instant.
    pub async fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::SeqCst);
        let samples = self.task.await.expect("sampler");
        assert!(samples.len() > 10, "the sampler did not run");
        for sample in &samples {
            assert!(
                sample.leader_count() <= 1,
                "two leaders at once: {:?}",
                sample.leading
            );
        }
        samples
    }
}

/// When the first sample after `after` satisfying `condition` was taken.
fn first_sample_after(
    samples: &[Sample],
    after: Instant,
    condition: impl Fn(&Sample) -> bool,
) -> Instant {
    samples
        .iter()
        .find(|sample| sample.at > after && condition(sample))
        .expect("no sample shows it")
        .at
}

async fn wait_for_leader(leases: &[LeaderLease], timeout: Duration) -> usize {
    let give_up_at = Instant::now() + timeout;
    loop {
        if let Some(index) = leases.iter().position(LeaderLease::is_leader) {
            return index;
        }
        assert!(Instant::now() < give_up_at, "no leader within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits for a lease other than `old` to lead; returns it and when it was first seen leading.
async fn wait_for_new_leader(
    leases: &[LeaderLease],
    old: usize,
    timeout: Duration,
) -> (usize, Instant) {
    let give_up_at = Instant::now() + timeout;
    loop {
        for (index, lease) in leases.iter().enumerate() {
            if index != old && lease.is_leader() {
                return (index, Instant::now());
            }
        }
        assert!(
            Instant::now() < give_up_at,
            "no new leader within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn stores_for(settings: &SqlSettings, count: usize) -> Vec<Store> {
    (0..count).map(|_| node_store(settings)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_elect_exactly_one_leader_and_it_is_the_lowest_id() {
    let settings = fresh_database().await;
    // Several independent clusters (lease names) starting at once: each must elect its
    // lowest id, exactly once, and keep it.
    let mut trials = Vec::new();
    for trial in 0..4 {
        let settings = settings.clone();
        trials.push(tokio::spawn(async move {
            let ids = ordered_node_ids(3);
            let gossip = Gossip::new(&ids);
            let stores = stores_for(&settings, 3);
            let options = fast_options(&format!("election-{trial}"));
            let leases = start_leases(&stores, &ids, &options, &gossip);
            let sampler = Sampler::start(&leases);
            tokio::time::sleep(Duration::from_secs(3)).await;
            let samples = sampler.finish().await;

            let first_led = samples
                .iter()
                .position(|sample| sample.leader_count() == 1)
                .expect("somebody leads");
            assert!(
                samples[first_led].at - samples[0].at < Duration::from_secs(2),
                "election took too long"
            );
            for sample in &samples[first_led..] {
                assert_eq!(
                    sample.leader(),
                    Some(0),
                    "node-0 (lowest id) leads without gaps"
                );
            }
            let holder = leases[1].leader_node_id().await.expect("reading the lease");
            assert_eq!(holder.as_deref(), Some(ids[0].as_str()));
            assert!(leases[0].fence().is_some());
            assert!(leases[1].fence().is_none());
            for lease in &leases {
                lease.step_down().await;
            }
        }));
    }
    for trial in trials {
        trial.await.expect("trial");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_leader_is_replaced_within_the_ttl_and_never_two_lead() {
    let settings = fresh_database().await;
    let ids = ordered_node_ids(3);
    let gossip = Gossip::new(&ids);
    let stores = stores_for(&settings, 3);
    let options = fast_options("kill");
    let leases = start_leases(&stores, &ids, &options, &gossip);
    let sampler = Sampler::start(&leases);

    let old = wait_for_leader(&leases, Duration::from_secs(3)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed_at = Instant::now();
    leases[old].kill();
    let (new, new_at) = wait_for_new_leader(&leases, old, Duration::from_secs(5)).await;
    let failover = new_at - killed_at;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let samples = sampler.finish().await;

    // The dead leader is still in the gossip list here, so the next one may wait one rank.
    let bound =
        options.ttl + options.renew_interval + options.rank_delay * 2 + Duration::from_millis(300);
    assert!(
        failover < bound,
        "failover took {failover:?} (bound {bound:?})"
    );
    // The killed node's own view ended before the new leader started (same sampler for both).
    let old_stopped = first_sample_after(&samples, killed_at, |sample| !sample.leading[old]);
    let new_started = first_sample_after(&samples, killed_at, |sample| sample.leading[new]);
    assert!(old_stopped < new_started);
    assert!(leases[new].current_term() > samples.iter().find_map(|s| s.terms[old]));
    println!("leader failover after kill (fast timing): {failover:?}");
}

/// The leader's connection to PostgreSQL goes through a proxy that the test cuts.
async fn cut_off_scenario(link: Link) {
    let settings = fresh_database().await;
    let database_port = PgServer::shared().port();
    let ids = ordered_node_ids(3);
    let gossip = Gossip::new(&ids);
    let options = fast_options("cut");
    let mut proxies = Vec::new();
    let mut stores = Vec::new();
    for _ in 0..3 {
        let proxy = FaultyProxy::start(database_port).await;
        let proxied = SqlSettings {
            data_source: proxy.url_through(&settings.data_source, database_port),
            ..settings.clone()
        };
        stores.push(node_store(&proxied));
        proxies.push(proxy);
    }
    let leases = start_leases(&stores, &ids, &options, &gossip);
    let sampler = Sampler::start(&leases);

    let old = wait_for_leader(&leases, Duration::from_secs(3)).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let cut_at = Instant::now();
    proxies[old].set(link);
    let (new, _) = wait_for_new_leader(&leases, old, Duration::from_secs(6)).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let samples = sampler.finish().await;

    let old_stopped = first_sample_after(&samples, cut_at, |sample| !sample.leading[old]);
    let new_started = first_sample_after(&samples, cut_at, |sample| sample.leading[new]);
    assert!(
        old_stopped < new_started,
        "the cut-off leader stopped at {:?}, the new one started at {:?} (after the cut)",
        old_stopped - cut_at,
        new_started - cut_at
    );
    assert!(
        !leases[old].is_leader(),
        "the cut-off node must not lead again"
    );
    // It acts at most ttl - margin after its last successful renew, which preceded the cut
    // (plus slack for a sampler delayed on a loaded machine).
    assert!(
        old_stopped - cut_at <= options.ttl - options.safety_margin + Duration::from_millis(250),
        "the cut-off leader acted for {:?} after the cut",
        old_stopped - cut_at
    );
    let gap = new_started - old_stopped;
    println!(
        "{link:?}: old leader stopped {:?} after the cut, node {new} took over {:?} after the cut (gap {gap:?})",
        old_stopped - cut_at,
        new_started - cut_at
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_whose_requests_are_lost_stops_before_another_starts() {
    cut_off_scenario(Link::DropRequests).await;
}

/// The harder case: the renews still reach the database and extend the lease there, but the
/// leader never hears back. It must stop on its own deadline, and the others must wait for the
/// database-side expiry, which is later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_whose_answers_are_lost_stops_before_another_starts() {
    cut_off_scenario(Link::DropResponses).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_down_hands_over_without_waiting_for_the_lease_to_expire() {
    let settings = fresh_database().await;
    let ids = ordered_node_ids(3);
    let gossip = Gossip::new(&ids);
    let stores = stores_for(&settings, 3);
    let options = fast_options("step-down");
    let leases = start_leases(&stores, &ids, &options, &gossip);
    let sampler = Sampler::start(&leases);

    let old = wait_for_leader(&leases, Duration::from_secs(3)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stepped_down_at = Instant::now();
    leases[old].step_down().await;
    assert!(
        !leases[old].is_leader(),
        "not leading once step_down returns"
    );
    let (_, new_at) = wait_for_new_leader(&leases, old, Duration::from_secs(5)).await;
    let handover = new_at - stepped_down_at;
    sampler.finish().await;
    // Without the release the others would wait for the expiry, at least ttl - renew_interval.
    assert!(
        handover < options.ttl / 2,
        "handover took {handover:?}, as if the lease had not been released"
    );
    println!("handover after step_down: {handover:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_hands_over_to_a_lower_node_id_that_joins() {
    let settings = fresh_database().await;
    let ids = ordered_node_ids(2);
    let (lower, higher) = (ids[0].clone(), ids[1].clone());
    let gossip = Gossip::new(std::slice::from_ref(&higher));
    let options = LeaderOptions {
        handover_to_lower_id: true,
        ..fast_options("handover")
    };
    let higher_store = node_store(&settings);
    let higher_lease = LeaderLease::start(
        higher_store.clone(),
        higher.clone(),
        options.clone(),
        gossip.alive_nodes(),
    );
    eventually("the only node leads", Duration::from_secs(3), || {
        let leading = higher_lease.is_leader();
        async move { leading }
    })
    .await;

    let lower_store = node_store(&settings);
    gossip.add(&lower);
    let lower_lease = LeaderLease::start(
        lower_store.clone(),
        lower.clone(),
        options.clone(),
        gossip.alive_nodes(),
    );
    let leases = vec![lower_lease.clone(), higher_lease.clone()];
    let sampler = Sampler::start(&leases);
    eventually(
        "the lower id takes over",
        options.handover_stable_for + options.ttl * 3,
        || {
            let leading = lower_lease.is_leader();
            async move { leading }
        },
    )
    .await;
    // And it stays there.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let samples = sampler.finish().await;
    assert!(samples.last().expect("samples").leading[0]);
    assert!(!higher_lease.is_leader());
    lower_lease.step_down().await;
    higher_lease.step_down().await;
}

/// The figure for the report: kill → new leader with the production defaults (TTL 5 s, renew
/// 1 s, margin 1 s, 500 ms per rank), the dead node dropping out of gossip after 2 s. Ten
/// independent clusters run at once so the test takes one failover's time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_time_with_default_timing() {
    let settings = fresh_database().await;
    let mut trials = Vec::new();
    for trial in 0..10 {
        let settings = settings.clone();
        trials.push(tokio::spawn(async move {
            let ids = ordered_node_ids(3);
            let gossip = Gossip::new(&ids);
            let stores = stores_for(&settings, 3);
            let options = LeaderOptions {
                lease_name: format!("failover-{trial}"),
                ..LeaderOptions::default()
            };
            let leases = start_leases(&stores, &ids, &options, &gossip);
            let sampler = Sampler::start(&leases);
            let old = wait_for_leader(&leases, Duration::from_secs(5)).await;
            // Kill at a random point of the renew cycle.
            let jitter = Duration::from_millis(rand_millis(trial, 1000));
            tokio::time::sleep(Duration::from_millis(1500) + jitter).await;
            let killed_at = Instant::now();
            leases[old].kill();
            let gossip_for_detection = gossip.clone();
            let dead_id = ids[old].clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(2)).await;
                gossip_for_detection.remove(&dead_id);
            });
            let (_, new_at) = wait_for_new_leader(&leases, old, Duration::from_secs(10)).await;
            sampler.finish().await;
            for (index, lease) in leases.iter().enumerate() {
                if index != old {
                    lease.step_down().await;
                }
            }
            new_at - killed_at
        }));
    }
    let mut failovers = Vec::new();
    for trial in trials {
        failovers.push(trial.await.expect("trial"));
    }
    failovers.sort();
    let median = failovers[failovers.len() / 2];
    let max = *failovers.last().expect("trials");
    println!(
        "leader failover with default timing over {} trials: median {median:?}, max {max:?}, all {failovers:?}",
        failovers.len()
    );
    let defaults = LeaderOptions::default();
    assert!(max < defaults.ttl + defaults.renew_interval + defaults.rank_delay * 2);
}

/// A spread of kill points without a random-number dependency.
fn rand_millis(seed: usize, below: u64) -> u64 {
    (seed as u64 * 7919 + 104_729) % below
}

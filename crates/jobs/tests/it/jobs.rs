//! The job server: atomic claims across nodes, retry after a worker's death, cancellation, data
//! retention, hand-back on shutdown, and scheduling only on the leader, once per period.

use crate::leader::{fast_options, ordered_node_ids, Gossip, Sampler};
use crate::{eventually, fresh_database, node_store};
use chorus_config::{Config, SqlSettings};
use chorus_jobs::{ConfigSnapshot, JobServer, JobServerOptions, LeaderLease, LeaderOptions};
use chorus_model::{
    new_id, now_millis, Channel, Job, Post, Reaction, Session, CHANNEL_OPEN, JOB_STATUS_CANCELED,
    JOB_STATUS_CANCEL_REQUESTED, JOB_STATUS_IN_PROGRESS, JOB_STATUS_PENDING, JOB_STATUS_SUCCESS,
    JOB_TYPE_CLUSTER_DISCOVERY_CLEANUP, JOB_TYPE_DATA_RETENTION, JOB_TYPE_EXPIRED_SESSIONS,
};
use chorus_store::cluster::{self, DiscoveryRow};
use chorus_store::jobs::{self as job_store, Cancellation, Schedule};
use chorus_store::leader::{self as lease_store, LeaseFence};
use chorus_store::posts::{self, CreateOutcome, NewPost};
use chorus_store::{channels, reactions, sessions, Store, StoreError};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

const DAY_MILLIS: i64 = 24 * 3600 * 1000;

fn fast_job_options() -> JobServerOptions {
    JobServerOptions {
        poll_interval: Duration::from_millis(50),
        max_concurrent_jobs: 2,
        heartbeat_interval: Duration::from_millis(200),
        orphaned_after: Duration::from_secs(1),
        max_attempts: 3,
        scheduler_interval: Duration::from_millis(50),
        expired_sessions_every: Duration::from_secs(3600),
        cluster_discovery_cleanup_every: Duration::from_secs(3600),
        cluster_discovery_stale_after: Duration::from_secs(1800),
        data_retention_every: None,
        shutdown_grace: Duration::from_secs(5),
    }
}

fn config_snapshot(settings: &SqlSettings, change: impl FnOnce(&mut Config)) -> ConfigSnapshot {
    let mut config = Config {
        sql_settings: settings.clone(),
        ..Config::default()
    };
    change(&mut config);
    let config = Arc::new(config);
    Arc::new(move || config.clone())
}

/// One simulated node: its lease and its job server (on pools of its own).
struct Node {
    id: String,
    lease: LeaderLease,
    jobs: JobServer,
}

impl Node {
    fn start(
        settings: &SqlSettings,
        id: &str,
        lease_options: &LeaderOptions,
        gossip: &Gossip,
        config: &ConfigSnapshot,
        options: &JobServerOptions,
    ) -> Node {
        let store = node_store(settings);
        let lease = LeaderLease::start(
            store.clone(),
            id.to_string(),
            lease_options.clone(),
            gossip.alive_nodes(),
        );
        let jobs = JobServer::start_with_options(
            store.clone(),
            config.clone(),
            id.to_string(),
            lease.clone(),
            options.clone(),
        );
        Node {
            id: id.to_string(),
            lease,
            jobs,
        }
    }

    /// As on SIGTERM: jobs handed back, lease released.
    async fn stop(&self) {
        self.jobs.shutdown().await;
        self.lease.step_down().await;
    }

    /// As on SIGKILL: nothing handed back or released.
    fn kill(&self) {
        self.jobs.kill();
        self.lease.kill();
    }
}

async fn get_job(store: &Store, job_id: &str) -> Job {
    let db = store.master().await.expect("connection");
    job_store::get(&db, job_id).await.expect("job")
}

async fn insert_job(store: &Store, job_type: &str) -> Job {
    let db = store.master().await.expect("connection");
    job_store::insert(&db, &new_id(), job_type, &BTreeMap::new())
        .await
        .expect("inserting a job")
}

async fn wait_for_status(store: &Store, job_id: &str, status: &str, timeout: Duration) -> Job {
    eventually(&format!("job {job_id} to be {status}"), timeout, || async {
        get_job(store, job_id).await.status == status
    })
    .await;
    get_job(store, job_id).await
}

/// A channel with `old` posts created `age_days` ago and `recent` posts created now.
async fn channel_with_posts(
    store: &Store,
    old: usize,
    age_days: i64,
    recent: usize,
) -> (Vec<String>, Vec<String>) {
    let db = store.master().await.expect("connection");
    let long_ago = now_millis() - age_days * DAY_MILLIS;
    let channel = Channel {
        id: new_id(),
        create_at: long_ago,
        update_at: long_ago,
        team_id: new_id(),
        channel_type: CHANNEL_OPEN.to_string(),
        display_name: "Retention".into(),
        name: format!("retention-{}", new_id()),
        ..Default::default()
    };
    channels::insert(&db, &channel).await.expect("channel");
    drop(db);
    let mut old_ids = Vec::new();
    let mut recent_ids = Vec::new();
    for index in 0..old + recent {
        let is_old = index < old;
        let post = Post {
            id: new_id(),
            create_at: if is_old {
                long_ago + index as i64
            } else {
                now_millis()
            },
            user_id: new_id(),
            channel_id: channel.id.clone(),
            message: format!("post {index}"),
            ..Default::default()
        };
        let mut db = store.master().await.expect("connection");
        let created = match posts::create(
            &mut db,
            NewPost {
                post,
                mentioned_user_ids: Vec::new(),
                outgoing_trigger: None,
            },
        )
        .await
        {
            Ok(CreateOutcome::Created { post: created, .. }) => created,
            Ok(CreateOutcome::AlreadyExisted(_)) => panic!("not a retry"),
            Err(error) => panic!("creating a post: {error}"),
        };
        if is_old {
            old_ids.push(created.id);
        } else {
            recent_ids.push(created.id);
        }
    }
    (old_ids, recent_ids)
}

async fn add_reaction(store: &Store, post_id: &str) {
    let mut db = store.master().await.expect("connection");
    reactions::save(
        &mut db,
        &Reaction {
            user_id: new_id(),
            post_id: post_id.to_string(),
            emoji_name: "tada".into(),
            create_at: now_millis(),
            ..Default::default()
        },
    )
    .await
    .expect("reaction");
}

async fn post_exists(store: &Store, post_id: &str) -> bool {
    let db = store.master().await.expect("connection");
    match posts::get(&db, post_id).await {
        Ok(_) => true,
        Err(StoreError::NotFound(_)) => false,
        Err(error) => panic!("reading a post: {error}"),
    }
}

fn retention_config(settings: &SqlSettings, batch_size: i64) -> ConfigSnapshot {
    config_snapshot(settings, |config| {
        config.job_settings.run_scheduler = false;
        config.data_retention_settings.enable_message_deletion = true;
        config.data_retention_settings.message_retention_days = 5;
        config.data_retention_settings.batch_size = batch_size;
    })
}

/// Blocks every statement on `posts` (so a data retention job waits mid-run) until rolled back.
macro_rules! lock_posts {
    ($connection:ident, $transaction:ident, $settings:expr) => {
        let mut $connection = node_store($settings).master().await.expect("connection");
        let $transaction = $connection.transaction().await.expect("transaction");
        $transaction
            .batch_execute("LOCK TABLE posts IN ACCESS EXCLUSIVE MODE")
            .await
            .expect("locking posts");
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_job_is_claimed_by_exactly_one_of_three_workers() {
    let settings = fresh_database().await;
    let config = config_snapshot(&settings, |config| {
        config.job_settings.run_scheduler = false
    });
    let ids = ordered_node_ids(3);
    let gossip = Gossip::new(&ids);
    let lease_options = fast_options("claims");
    let nodes: Vec<Node> = ids
        .iter()
        .map(|id| {
            Node::start(
                &settings,
                id,
                &lease_options,
                &gossip,
                &config,
                &fast_job_options(),
            )
        })
        .collect();
    let store = node_store(&settings);
    let mut job_ids = Vec::new();
    for _ in 0..60 {
        job_ids.push(insert_job(&store, JOB_TYPE_EXPIRED_SESSIONS).await.id);
    }
    let mut per_worker: HashMap<String, usize> = HashMap::new();
    for job_id in &job_ids {
        let job =
            wait_for_status(&store, job_id, JOB_STATUS_SUCCESS, Duration::from_secs(20)).await;
        assert_eq!(job.progress, 100);
        assert!(job.data.contains_key("deleted_sessions"));
        let db = store.master().await.expect("connection");
        let run = job_store::run_info(&db, job_id).await.expect("run info");
        assert_eq!(run.attempt, 1, "job {job_id} was claimed more than once");
        *per_worker.entry(run.worker_node_id).or_default() += 1;
    }
    assert!(per_worker.keys().all(|worker| ids.contains(worker)));
    println!(
        "jobs per worker: {:?}",
        per_worker.values().collect::<Vec<_>>()
    );
    for node in &nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_worker_died_runs_again_to_success() {
    let settings = fresh_database().await;
    let store = node_store(&settings);
    let (old_posts, recent_posts) = channel_with_posts(&store, 5, 10, 2).await;
    let config = retention_config(&settings, 2);
    let ids = ordered_node_ids(2);
    let gossip = Gossip::new(&ids);
    let lease_options = fast_options("worker-death");

    lock_posts!(locker, lock, &settings);
    let job = insert_job(&store, JOB_TYPE_DATA_RETENTION).await;
    let node_a = Node::start(
        &settings,
        &ids[0],
        &lease_options,
        &gossip,
        &config,
        &fast_job_options(),
    );
    wait_for_status(
        &store,
        &job.id,
        JOB_STATUS_IN_PROGRESS,
        Duration::from_secs(5),
    )
    .await;
    {
        let db = store.master().await.expect("connection");
        let run = job_store::run_info(&db, &job.id).await.expect("run");
        assert_eq!(run.worker_node_id, node_a.id);
    }
    node_a.kill();
    let node_b = Node::start(
        &settings,
        &ids[1],
        &lease_options,
        &gossip,
        &config,
        &fast_job_options(),
    );
    lock.rollback().await.expect("unlocking posts");
    drop(locker);

    let finished =
        wait_for_status(&store, &job.id, JOB_STATUS_SUCCESS, Duration::from_secs(10)).await;
    let db = store.master().await.expect("connection");
    let run = job_store::run_info(&db, &job.id).await.expect("run");
    assert_eq!(
        run.worker_node_id, node_b.id,
        "the surviving node finished it"
    );
    assert_eq!(run.attempt, 2);
    assert_eq!(finished.progress, 100);
    assert_eq!(
        finished.data.get("deleted_posts").map(String::as_str),
        Some("5")
    );
    for post_id in &old_posts {
        assert!(!post_exists(&store, post_id).await);
    }
    for post_id in &recent_posts {
        assert!(post_exists(&store, post_id).await);
    }
    node_b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_a_pending_job_and_a_running_one() {
    let settings = fresh_database().await;
    let store = node_store(&settings);

    // Pending: canceled at once, nobody ever runs it.
    let pending = insert_job(&store, JOB_TYPE_EXPIRED_SESSIONS).await;
    let db = store.master().await.expect("connection");
    match job_store::request_cancellation(&db, &pending.id)
        .await
        .expect("cancel")
    {
        Cancellation::Canceled(job) => assert_eq!(job.status, JOB_STATUS_CANCELED),
        other => panic!("expected an immediate cancel, got {other:?}"),
    }
    assert!(matches!(
        job_store::request_cancellation(&db, &pending.id)
            .await
            .expect("cancel again"),
        Cancellation::AlreadyFinished(_)
    ));
    assert!(matches!(
        job_store::request_cancellation(&db, &new_id()).await,
        Err(StoreError::NotFound(_))
    ));
    drop(db);

    // Running: the worker stops at its next checkpoint, before deleting anything.
    let (old_posts, _) = channel_with_posts(&store, 4, 10, 1).await;
    let config = retention_config(&settings, 2);
    let ids = ordered_node_ids(1);
    let gossip = Gossip::new(&ids);
    lock_posts!(locker, lock, &settings);
    let running = insert_job(&store, JOB_TYPE_DATA_RETENTION).await;
    let node = Node::start(
        &settings,
        &ids[0],
        &fast_options("cancel"),
        &gossip,
        &config,
        &fast_job_options(),
    );
    wait_for_status(
        &store,
        &running.id,
        JOB_STATUS_IN_PROGRESS,
        Duration::from_secs(5),
    )
    .await;
    let db = store.master().await.expect("connection");
    match job_store::request_cancellation(&db, &running.id)
        .await
        .expect("cancel")
    {
        Cancellation::Requested(job) => assert_eq!(job.status, JOB_STATUS_CANCEL_REQUESTED),
        other => panic!("expected a cancellation request, got {other:?}"),
    }
    drop(db);
    lock.rollback().await.expect("unlocking posts");
    drop(locker);
    wait_for_status(
        &store,
        &running.id,
        JOB_STATUS_CANCELED,
        Duration::from_secs(5),
    )
    .await;
    for post_id in &old_posts {
        assert!(
            post_exists(&store, post_id).await,
            "a canceled job deleted nothing"
        );
    }
    // The pending one was never picked up.
    assert_eq!(
        get_job(&store, &pending.id).await.status,
        JOB_STATUS_CANCELED
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_retention_deletes_only_old_posts_and_their_reactions() {
    let settings = fresh_database().await;
    let store = node_store(&settings);
    let (old_posts, recent_posts) = channel_with_posts(&store, 25, 10, 5).await;
    add_reaction(&store, &old_posts[0]).await;
    add_reaction(&store, &recent_posts[0]).await;
    let config = retention_config(&settings, 4);
    let ids = ordered_node_ids(1);
    let gossip = Gossip::new(&ids);

    let job = insert_job(&store, JOB_TYPE_DATA_RETENTION).await;
    // Watch progress while it runs.
    let watcher_store = store.clone();
    let watched_id = job.id.clone();
    let progress_watcher = tokio::spawn(async move {
        let mut seen = Vec::new();
        loop {
            let job = get_job(&watcher_store, &watched_id).await;
            if seen.last() != Some(&job.progress) {
                seen.push(job.progress);
            }
            if job.is_finished() {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    let node = Node::start(
        &settings,
        &ids[0],
        &fast_options("retention"),
        &gossip,
        &config,
        &fast_job_options(),
    );
    let finished =
        wait_for_status(&store, &job.id, JOB_STATUS_SUCCESS, Duration::from_secs(10)).await;
    let progress_seen = progress_watcher.await.expect("watcher");

    assert_eq!(finished.progress, 100);
    assert_eq!(
        finished.data.get("deleted_posts").map(String::as_str),
        Some("25")
    );
    assert!(
        progress_seen.windows(2).all(|pair| pair[0] <= pair[1]),
        "progress never goes back: {progress_seen:?}"
    );
    println!("data retention progress seen: {progress_seen:?}");
    for post_id in &old_posts {
        assert!(
            !post_exists(&store, post_id).await,
            "old post {post_id} survived"
        );
    }
    for post_id in &recent_posts {
        assert!(
            post_exists(&store, post_id).await,
            "recent post {post_id} was deleted"
        );
    }
    let db = store.master().await.expect("connection");
    assert!(reactions::list_for_post(&db, &old_posts[0])
        .await
        .expect("reactions")
        .is_empty());
    assert_eq!(
        reactions::list_for_post(&db, &recent_posts[0])
            .await
            .expect("reactions")
            .len(),
        1
    );
    drop(db);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_hands_a_running_job_back_to_another_node() {
    let settings = fresh_database().await;
    let store = node_store(&settings);
    channel_with_posts(&store, 3, 10, 0).await;
    let config = retention_config(&settings, 10);
    let ids = ordered_node_ids(2);
    let gossip = Gossip::new(&ids);
    let lease_options = fast_options("hand-back");
    let options = JobServerOptions {
        // Long enough that only the hand-back can explain a quick retry.
        orphaned_after: Duration::from_secs(60),
        ..fast_job_options()
    };

    lock_posts!(locker, lock, &settings);
    let job = insert_job(&store, JOB_TYPE_DATA_RETENTION).await;
    let node_a = Node::start(
        &settings,
        &ids[0],
        &lease_options,
        &gossip,
        &config,
        &options,
    );
    wait_for_status(
        &store,
        &job.id,
        JOB_STATUS_IN_PROGRESS,
        Duration::from_secs(5),
    )
    .await;
    let stopping = {
        let jobs = node_a.jobs.clone();
        tokio::spawn(async move { jobs.shutdown().await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    lock.rollback().await.expect("unlocking posts");
    drop(locker);
    stopping.await.expect("shutdown");
    let handed_back = get_job(&store, &job.id).await;
    assert_eq!(
        handed_back.status, JOB_STATUS_PENDING,
        "handed back, not left running"
    );
    node_a.lease.step_down().await;

    let node_b = Node::start(
        &settings,
        &ids[1],
        &lease_options,
        &gossip,
        &config,
        &options,
    );
    wait_for_status(&store, &job.id, JOB_STATUS_SUCCESS, Duration::from_secs(5)).await;
    let db = store.master().await.expect("connection");
    let run = job_store::run_info(&db, &job.id).await.expect("run");
    assert_eq!(
        (run.worker_node_id.as_str(), run.attempt),
        (node_b.id.as_str(), 2)
    );
    drop(db);
    node_b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_runs_only_on_the_leader_and_once_per_period_across_leader_changes() {
    let settings = fresh_database().await;
    let config = config_snapshot(&settings, |config| config.job_settings.run_scheduler = true);
    let ids = ordered_node_ids(3);
    let gossip = Gossip::new(&ids);
    let lease_options = fast_options("scheduler");
    let options = JobServerOptions {
        expired_sessions_every: Duration::from_millis(300),
        ..fast_job_options()
    };
    let store = node_store(&settings);
    let nodes: Vec<Node> = ids
        .iter()
        .map(|id| Node::start(&settings, id, &lease_options, &gossip, &config, &options))
        .collect();
    let leases: Vec<LeaderLease> = nodes.iter().map(|node| node.lease.clone()).collect();
    let sampler = Sampler::start(&leases);

    tokio::time::sleep(Duration::from_secs(2)).await;
    let first = leases
        .iter()
        .position(LeaderLease::is_leader)
        .expect("a leader");
    nodes[first].kill();
    eventually("a second leader", Duration::from_secs(5), || {
        let led = leases
            .iter()
            .enumerate()
            .any(|(index, lease)| index != first && lease.is_leader());
        async move { led }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second = leases
        .iter()
        .position(LeaderLease::is_leader)
        .expect("a leader");
    nodes[second].stop().await;
    eventually("a third leader", Duration::from_secs(5), || {
        let led = leases
            .iter()
            .enumerate()
            .any(|(index, lease)| index != first && index != second && lease.is_leader());
        async move { led }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let samples = sampler.finish().await;

    let mut leader_terms: BTreeSet<(String, String)> = BTreeSet::new();
    for sample in &samples {
        for (index, term) in sample.terms.iter().enumerate() {
            if let Some(term) = term {
                leader_terms.insert((ids[index].clone(), term.to_string()));
            }
        }
    }
    let db = store.master().await.expect("connection");
    let scheduled = job_store::list(&db, Some(JOB_TYPE_EXPIRED_SESSIONS), None, 0, 1000)
        .await
        .expect("jobs");
    assert!(
        scheduled.len() >= 8,
        "only {} runs scheduled in ~5 s",
        scheduled.len()
    );
    let mut slots = BTreeSet::new();
    let mut schedulers = BTreeSet::new();
    for job in &scheduled {
        let scheduled_by = job.data.get("scheduled_by").cloned().expect("scheduled_by");
        let term = job.data.get("leader_term").cloned().expect("leader_term");
        assert!(
            leader_terms.contains(&(scheduled_by.clone(), term.clone())),
            "job {} was scheduled by {scheduled_by} under term {term}, which never led",
            job.id
        );
        schedulers.insert(scheduled_by);
        let run = job_store::run_info(&db, &job.id).await.expect("run");
        let slot = run.schedule_slot.expect("a scheduled job has a slot");
        assert!(slots.insert(slot), "slot {slot} scheduled twice");
    }
    assert_eq!(
        schedulers.len(),
        3,
        "each of the three successive leaders scheduled"
    );
    println!(
        "{} runs in {} slots from {} leaders",
        scheduled.len(),
        slots.len(),
        schedulers.len()
    );
    drop(db);
    for (index, node) in nodes.iter().enumerate() {
        if index != first && index != second {
            node.stop().await;
        }
    }
}

/// The database refuses a second job for a schedule period, and a write under a stale lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduling_is_fenced_by_the_lease_and_unique_per_period() {
    let settings = fresh_database().await;
    let store = node_store(&settings);
    let db = store.master().await.expect("connection");
    let ttl = Duration::from_secs(60);
    let hourly = Schedule {
        period: Duration::from_secs(3600),
        offset: Duration::ZERO,
    };
    let no_data = BTreeMap::new();
    let first_term = lease_store::acquire(&db, "fence", "node-a", ttl)
        .await
        .expect("acquire")
        .expect("free lease");
    assert_eq!(
        lease_store::acquire(&db, "fence", "node-b", ttl)
            .await
            .expect("acquire"),
        None,
        "a held lease is not taken"
    );
    let fence_a = LeaseFence {
        lease_name: "fence".into(),
        node_id: "node-a".into(),
        term: first_term,
    };
    let created = job_store::create_scheduled(
        &db,
        &new_id(),
        JOB_TYPE_EXPIRED_SESSIONS,
        hourly,
        &no_data,
        Some(&fence_a),
    )
    .await
    .expect("schedule")
    .expect("created");
    // Finish it, so only the period's uniqueness can refuse the next one.
    let claimed = job_store::claim_next(&db, "node-a", &[JOB_TYPE_EXPIRED_SESSIONS])
        .await
        .expect("claim")
        .expect("claimed");
    assert_eq!(claimed.job.id, created.id);
    assert!(job_store::finish(
        &db,
        &created.id,
        "node-a",
        claimed.attempt,
        JOB_STATUS_SUCCESS,
        Some(100),
        &no_data
    )
    .await
    .expect("finish"));
    let again = job_store::create_scheduled(
        &db,
        &new_id(),
        JOB_TYPE_EXPIRED_SESSIONS,
        hourly,
        &no_data,
        Some(&fence_a),
    )
    .await
    .expect("schedule");
    assert!(again.is_none(), "a period is scheduled once");

    // node-a's lease passes to node-b: node-a's fence no longer lets it schedule anything.
    assert!(lease_store::release(&db, "fence", "node-a", first_term)
        .await
        .expect("release"));
    let second_term = lease_store::acquire(&db, "fence", "node-b", ttl)
        .await
        .expect("acquire")
        .expect("released lease");
    assert_eq!(second_term, first_term + 1);
    let stale = job_store::create_scheduled(
        &db,
        &new_id(),
        JOB_TYPE_DATA_RETENTION,
        hourly,
        &no_data,
        Some(&fence_a),
    )
    .await
    .expect("schedule");
    assert!(stale.is_none(), "a deposed leader's write is refused");
    let fence_b = LeaseFence {
        lease_name: "fence".into(),
        node_id: "node-b".into(),
        term: second_term,
    };
    assert!(job_store::create_scheduled(
        &db,
        &new_id(),
        JOB_TYPE_DATA_RETENTION,
        hourly,
        &no_data,
        Some(&fence_b)
    )
    .await
    .expect("schedule")
    .is_some());
    assert!(!lease_store::renew(&db, "fence", "node-a", first_term, ttl)
        .await
        .expect("renew"));
    assert!(lease_store::renew(&db, "fence", "node-b", second_term, ttl)
        .await
        .expect("renew"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_sessions_and_stale_discovery_rows_are_cleaned_up() {
    let settings = fresh_database().await;
    let store = node_store(&settings);
    let db = store.master().await.expect("connection");
    let now = now_millis();
    let session = |expires_at: i64| Session {
        id: new_id(),
        token: new_id(),
        create_at: now - DAY_MILLIS,
        expires_at,
        last_activity_at: now - DAY_MILLIS,
        user_id: new_id(),
        ..Default::default()
    };
    let expired = session(now - 1000);
    let valid = session(now + DAY_MILLIS);
    let never_expires = session(0);
    for session in [&expired, &valid, &never_expires] {
        sessions::insert(&db, session).await.expect("session");
    }
    let discovery_row = |hostname: &str| DiscoveryRow {
        id: new_id(),
        kind: cluster::DISCOVERY_TYPE_APP.to_string(),
        cluster_name: "jobs-test".to_string(),
        hostname: hostname.to_string(),
        gossip_port: 8074,
        port: 8074,
        create_at: 0,
        last_ping_at: 0,
    };
    let stale = discovery_row("stale-host");
    let alive = discovery_row("alive-host");
    cluster::register(&db, &stale).await.expect("register");
    cluster::register(&db, &alive).await.expect("register");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(cluster::ping(&db, &alive.id).await.expect("ping"));

    let config = config_snapshot(&settings, |config| {
        config.job_settings.run_scheduler = false
    });
    let options = JobServerOptions {
        cluster_discovery_stale_after: Duration::from_millis(400),
        ..fast_job_options()
    };
    let ids = ordered_node_ids(1);
    let gossip = Gossip::new(&ids);
    let node = Node::start(
        &settings,
        &ids[0],
        &fast_options("cleanup"),
        &gossip,
        &config,
        &options,
    );
    let sessions_job = insert_job(&store, JOB_TYPE_EXPIRED_SESSIONS).await;
    let discovery_job = insert_job(&store, JOB_TYPE_CLUSTER_DISCOVERY_CLEANUP).await;
    let sessions_done = wait_for_status(
        &store,
        &sessions_job.id,
        JOB_STATUS_SUCCESS,
        Duration::from_secs(5),
    )
    .await;
    let discovery_done = wait_for_status(
        &store,
        &discovery_job.id,
        JOB_STATUS_SUCCESS,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(
        sessions_done
            .data
            .get("deleted_sessions")
            .map(String::as_str),
        Some("1")
    );
    assert_eq!(
        discovery_done.data.get("deleted_rows").map(String::as_str),
        Some("1")
    );

    assert!(matches!(
        sessions::get(&db, &expired.id).await,
        Err(StoreError::NotFound(_))
    ));
    sessions::get(&db, &valid.id)
        .await
        .expect("a valid session stays");
    sessions::get(&db, &never_expires.id)
        .await
        .expect("a session without expiry stays");
    let remaining: Vec<String> = cluster::list_all(&db)
        .await
        .expect("rows")
        .into_iter()
        .map(|row| row.id)
        .collect();
    assert_eq!(remaining, vec![alive.id.clone()]);
    drop(db);
    node.stop().await;
}

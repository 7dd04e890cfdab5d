//! Store tests against a real PostgreSQL (one shared throwaway server per test process).

use chorus_config::SqlSettings;
use chorus_model::{new_id, Channel, Post, CHANNEL_OPEN};
use chorus_store::posts::{self, CreateOutcome, NewPost};
use chorus_store::{channels, Store};
use chorus_testkit::PgServer;

fn settings_for_fresh_database() -> SqlSettings {
    let url = PgServer::shared()
        .create_database()
        .expect("create database");
    SqlSettings {
        data_source: url,
        ..SqlSettings::default()
    }
}

#[tokio::test]
async fn nodes_starting_together_migrate_once() {
    let settings = settings_for_fresh_database();
    let mut starts = Vec::new();
    for _ in 0..4 {
        let settings = settings.clone();
        starts.push(tokio::spawn(async move { Store::migrate(&settings).await }));
    }
    for start in starts {
        start
            .await
            .expect("task")
            .expect("migration succeeds on every node");
    }
    let store = Store::connect(&settings).expect("pools");
    let db = store.master().await.expect("connection");
    let applied: i64 = db
        .query_one("SELECT count(*) FROM refinery_schema_history", &[])
        .await
        .expect("history")
        .get(0);
    assert_eq!(
        applied as i32,
        chorus_store::schema_version(),
        "each migration applied exactly once"
    );
}

#[tokio::test]
async fn create_at_moves_past_the_channel_last_post_when_the_clock_is_behind() {
    let settings = settings_for_fresh_database();
    Store::migrate(&settings).await.expect("migrate");
    let store = Store::connect(&settings).expect("pools");
    let db = store.master().await.expect("connection");
    let future = chorus_model::now_millis() + 3_600_000;
    let channel = Channel {
        id: new_id(),
        create_at: future,
        update_at: future,
        team_id: new_id(),
        channel_type: CHANNEL_OPEN.to_string(),
        display_name: "Clock".into(),
        name: "clock".into(),
        // Another node with a fast clock posted "an hour from now".
        last_post_at: future,
        ..Default::default()
    };
    channels::insert(&db, &channel).await.expect("channel");
    drop(db);

    let mut previous = future;
    for _ in 0..3 {
        let post = Post {
            id: new_id(),
            create_at: chorus_model::now_millis(),
            user_id: new_id(),
            channel_id: channel.id.clone(),
            message: "tick".into(),
            ..Default::default()
        };
        let mut db = store.master().await.expect("connection");
        let created = match posts::create(
            &mut db,
            NewPost {
                post,
                mentioned_user_ids: Vec::new(),
            },
        )
        .await
        {
            Ok(CreateOutcome::Created(created)) => created,
            Ok(CreateOutcome::AlreadyExisted(_)) => panic!("not a retry"),
            Err(error) => panic!("create failed: {error}"),
        };
        assert!(
            created.create_at > previous,
            "{} must be after {previous}",
            created.create_at
        );
        previous = created.create_at;
    }
}

/// Retries of one post reaching different nodes at once: no app-level lock orders them, only
/// the database. Exactly one is created; every other gets that post back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_without_an_app_lock_store_one_post() {
    let settings = settings_for_fresh_database();
    Store::migrate(&settings).await.expect("migrate");
    let store = Store::connect(&settings).expect("pools");
    let db = store.master().await.expect("connection");
    let now = chorus_model::now_millis();
    let channel = Channel {
        id: new_id(),
        create_at: now,
        update_at: now,
        team_id: new_id(),
        channel_type: CHANNEL_OPEN.to_string(),
        display_name: "Retries".into(),
        name: "retries".into(),
        ..Default::default()
    };
    channels::insert(&db, &channel).await.expect("channel");
    drop(db);

    let user_id = new_id();
    let mut attempts = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let post = Post {
            id: new_id(),
            create_at: chorus_model::now_millis(),
            user_id: user_id.clone(),
            channel_id: channel.id.clone(),
            message: "sent twice".into(),
            pending_post_id: "retry-1".into(),
            ..Default::default()
        };
        attempts.push(tokio::spawn(async move {
            let mut db = store.master().await.expect("connection");
            let new_post = NewPost {
                post,
                mentioned_user_ids: Vec::new(),
            };
            match posts::create(&mut db, new_post).await {
                Ok(CreateOutcome::Created(post)) => (true, post.id),
                Ok(CreateOutcome::AlreadyExisted(post)) => (false, post.id),
                Err(error) => panic!("create failed: {error}"),
            }
        }));
    }
    let mut created = 0;
    let mut ids = std::collections::HashSet::new();
    for attempt in attempts {
        let (was_created, id) = attempt.await.expect("attempt task");
        created += usize::from(was_created);
        ids.insert(id);
    }
    assert_eq!(created, 1, "exactly one attempt creates the post");
    assert_eq!(ids.len(), 1, "every attempt answers with the same post");
}

//! Store tests against a real PostgreSQL (one shared throwaway server per test process).

use chorus_config::SqlSettings;
use chorus_model::{new_id, Channel, Post, CHANNEL_OPEN};
use chorus_store::posts::{self, CreateOutcome, NewPost};
use chorus_store::{channels, Store};
use chorus_testkit::PgServer;

mod preferences;
mod sidebar;

fn settings_for_fresh_database() -> SqlSettings {
    let url = PgServer::shared()
        .create_database()
        .expect("create database");
    SqlSettings {
        data_source: url,
        ..SqlSettings::default()
    }
}

/// A migrated store on a fresh database.
async fn fresh_store() -> Store {
    let settings = settings_for_fresh_database();
    Store::migrate(&settings).await.expect("migrate");
    Store::connect(&settings).expect("pools")
}

/// An open channel whose last post was at `last_post_at`.
async fn open_channel(store: &Store, name: &str, last_post_at: i64) -> Channel {
    let channel = Channel {
        id: new_id(),
        create_at: last_post_at,
        update_at: last_post_at,
        team_id: new_id(),
        channel_type: CHANNEL_OPEN.to_string(),
        display_name: name.into(),
        name: name.into(),
        last_post_at,
        ..Default::default()
    };
    let db = store.master().await.expect("connection");
    channels::insert(&db, &channel).await.expect("channel");
    channel
}

/// A root post by `user_id` in `channel_id`, proposed at `create_at` (the store may move it
/// past the channel's last post).
async fn create_root_post(store: &Store, channel_id: &str, user_id: &str, create_at: i64) -> Post {
    let post = Post {
        id: new_id(),
        create_at,
        user_id: user_id.to_string(),
        channel_id: channel_id.to_string(),
        message: "tick".into(),
        ..Default::default()
    };
    let mut db = store.master().await.expect("connection");
    let new_post = NewPost {
        post,
        mentioned_user_ids: Vec::new(),
        outgoing_trigger: None,
    };
    match posts::create(&mut db, new_post).await {
        Ok(CreateOutcome::Created { post, .. }) => post,
        Ok(CreateOutcome::AlreadyExisted(_)) => panic!("not a retry"),
        Err(error) => panic!("create failed: {error}"),
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
    // Versions may have gaps (numbers are reserved per branch), so: no version twice, and the
    // newest applied.
    let history = db
        .query_one(
            "SELECT count(*), count(DISTINCT version), max(version) FROM refinery_schema_history",
            &[],
        )
        .await
        .expect("history");
    let (applied, distinct, newest): (i64, i64, i32) =
        (history.get(0), history.get(1), history.get(2));
    assert_eq!(applied, distinct, "each migration applied exactly once");
    assert_eq!(
        newest,
        chorus_store::schema_version(),
        "every migration applied"
    );
}

#[tokio::test]
async fn create_at_moves_past_the_channel_last_post_when_the_clock_is_behind() {
    let store = fresh_store().await;
    // Another node with a fast clock posted "an hour from now".
    let future = chorus_model::now_millis() + 3_600_000;
    let channel = open_channel(&store, "clock", future).await;

    let mut previous = future;
    for _ in 0..3 {
        let created =
            create_root_post(&store, &channel.id, &new_id(), chorus_model::now_millis()).await;
        assert!(
            created.create_at > previous,
            "{} must be after {previous}",
            created.create_at
        );
        previous = created.create_at;
    }
}

/// A post created in the same millisecond as a view, just after it, stays unread (a view at
/// `now` must not cover a post whose `create_at` is `now`), while the posts the view saw are
/// read.
#[tokio::test]
async fn a_post_in_the_same_millisecond_after_a_view_stays_unread() {
    let store = fresh_store().await;
    let start = chorus_model::now_millis() - 60_000;
    let channel = open_channel(&store, "same-ms", 0).await;
    let (author, reader) = (new_id(), new_id());
    let db = store.master().await.expect("connection");
    for user in [&author, &reader] {
        channels::add_member(
            &db,
            &channel.id,
            user,
            false,
            start,
            chorus_store::history::JoinedBy::Added,
        )
        .await
        .expect("member");
    }

    let seen = create_root_post(&store, &channel.id, &author, start + 1_000).await;
    let now = start + 2_000;
    channels::view(&db, &channel.id, &reader, now)
        .await
        .expect("view");
    let member = channels::get_member(&db, &channel.id, &reader)
        .await
        .expect("member");
    assert!(
        member.last_viewed_at >= seen.create_at,
        "the post seen is read"
    );
    let after = create_root_post(&store, &channel.id, &author, now).await;
    assert_eq!(after.create_at, now, "created in the view's millisecond");
    let member = channels::get_member(&db, &channel.id, &reader)
        .await
        .expect("member");
    assert!(
        after.create_at > member.last_viewed_at,
        "the post after the view is unread: created at {}, last viewed at {}",
        after.create_at,
        member.last_viewed_at
    );
    let unread = channels::unread(&db, &channel.id, &reader)
        .await
        .expect("unread");
    assert_eq!(unread.msg_count, 1);
}

/// Rolling upgrades: version N+1's migrations are additive within a minor version (new tables,
/// new columns with defaults, new indexes), so a version-N node keeps working, and can restart,
/// after a newer node migrated the shared database.
#[tokio::test]
async fn a_node_one_schema_version_behind_keeps_working_after_a_newer_node_migrated() {
    let settings = settings_for_fresh_database();
    Store::migrate(&settings).await.expect("migrate");
    let store = Store::connect(&settings).expect("pools");
    let next_version = chorus_store::schema_version() + 1;
    {
        // What a newer binary's migration would do, and record.
        let db = store.master().await.expect("connection");
        db.batch_execute(&format!(
            "ALTER TABLE posts ADD COLUMN importance integer NOT NULL DEFAULT 0;
             CREATE TABLE scheduledposts (id varchar(26) PRIMARY KEY, message text NOT NULL);
             INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
                 VALUES ({next_version}, 'scheduled_posts',
                         to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '1');"
        ))
        .await
        .expect("the newer schema");
    }
    // The older node restarts: it must not refuse a schema it does not know yet.
    Store::migrate(&settings)
        .await
        .expect("an older node starts on the newer schema");

    let db = store.master().await.expect("connection");
    let channel = Channel {
        id: new_id(),
        create_at: chorus_model::now_millis(),
        update_at: chorus_model::now_millis(),
        team_id: new_id(),
        channel_type: CHANNEL_OPEN.to_string(),
        display_name: "Upgrade".into(),
        name: "upgrade".into(),
        ..Default::default()
    };
    channels::insert(&db, &channel).await.expect("channel");
    drop(db);
    let mut db = store.master().await.expect("connection");
    let post = Post {
        id: new_id(),
        create_at: chorus_model::now_millis(),
        user_id: new_id(),
        channel_id: channel.id.clone(),
        message: "written by the older node".into(),
        ..Default::default()
    };
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
        Err(error) => panic!("the older node cannot write: {error}"),
    };
    // A row the newer node wrote, with its new column set, reads fine on the older node.
    db.execute(
        "UPDATE posts SET importance = 2 WHERE id = $1",
        &[&created.id],
    )
    .await
    .expect("the newer node's write");
    let read = posts::get(&db, &created.id)
        .await
        .expect("the older node reads");
    assert_eq!(read.message, "written by the older node");
}

/// QueryTimeout is a server-side statement timeout: PostgreSQL cancels the statement (its
/// backend is free again at once) and the client gets 504 with an error id.
#[tokio::test]
async fn a_statement_past_query_timeout_is_cancelled_by_the_server_and_answers_504() {
    let settings = SqlSettings {
        query_timeout: 1,
        ..settings_for_fresh_database()
    };
    Store::migrate(&settings).await.expect("migrate");
    let store = Store::connect(&settings).expect("pools");
    let db = store.master().await.expect("connection");
    let started = std::time::Instant::now();
    let error = db
        .query_one("SELECT pg_sleep(30)", &[])
        .await
        .map(|_| ())
        .map_err(chorus_store::StoreError::from)
        .expect_err("the statement must be cancelled");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "cancelled after about a second, not after 30"
    );
    assert!(
        matches!(error, chorus_store::StoreError::Timeout),
        "{error}"
    );
    let answer = chorus_model::AppError::from(error);
    assert_eq!(answer.status_code, 504);
    assert_eq!(answer.id, "store.sql.query_timeout.app_error");
    // The same connection serves the next statement.
    let one: i32 = db.query_one("SELECT 1", &[]).await.expect("next").get(0);
    assert_eq!(one, 1);
}

/// MaxIdleConns trims idle connections (the monitor, every 100 ms); ConnMaxLifetimeMilliseconds
/// replaces a connection that got too old.
#[tokio::test]
async fn pools_keep_max_idle_conns_and_replace_connections_past_their_lifetime() {
    let settings = SqlSettings {
        max_open_conns: 10,
        max_idle_conns: 2,
        conn_max_lifetime_milliseconds: 400,
        ..settings_for_fresh_database()
    };
    Store::migrate(&settings).await.expect("migrate");
    let store = Store::connect(&settings).expect("pools");
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(store.master().await.expect("connection"));
    }
    let first_backend: i32 = held[0]
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    drop(held);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let open = store.status().master.pool_open;
    assert!(open <= 2, "{open} connections open, MaxIdleConns is 2");

    // Older than ConnMaxLifetimeMilliseconds: the next checkout gets a new backend.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let db = store.master().await.expect("connection");
    let backend: i32 = db
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    assert_ne!(
        backend, first_backend,
        "a connection past its lifetime was reused"
    );
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
                outgoing_trigger: None,
            };
            match posts::create(&mut db, new_post).await {
                Ok(CreateOutcome::Created { post, .. }) => (true, post.id),
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

/// Every membership change writes its history interval in the same statement; a leave closes
/// the open interval, a re-join opens another, and a team leave closes the team's channels
/// too.
#[tokio::test]
async fn membership_history_keeps_every_interval_of_channels_and_teams() {
    use chorus_store::history::{self, JoinedBy, LeftBy};
    use chorus_store::teams;

    let settings = settings_for_fresh_database();
    Store::migrate(&settings).await.expect("migrate");
    let store = Store::connect(&settings).expect("pools");
    let db = store.master().await.expect("connection");
    let (team_id, user_id, other_id) = (new_id(), new_id(), new_id());
    let mut channel_ids = Vec::new();
    for name in ["history-a", "history-b"] {
        let channel = Channel {
            id: new_id(),
            team_id: team_id.clone(),
            channel_type: CHANNEL_OPEN.to_string(),
            display_name: name.into(),
            name: name.into(),
            ..Default::default()
        };
        channels::insert(&db, &channel).await.expect("channel");
        channel_ids.push(channel.id);
    }
    let (first, second) = (channel_ids[0].clone(), channel_ids[1].clone());

    teams::upsert_member(&db, &team_id, &user_id, false, 100)
        .await
        .expect("join team");
    teams::upsert_member(&db, &team_id, &user_id, false, 105)
        .await
        .expect("already a member: no new interval");
    assert!(
        channels::add_member(&db, &first, &user_id, false, 110, JoinedBy::Added)
            .await
            .expect("join")
    );
    assert!(
        !channels::add_member(&db, &first, &user_id, false, 115, JoinedBy::Added)
            .await
            .expect("join again"),
        "already a member"
    );
    assert!(
        channels::remove_member(&db, &first, &user_id, 120, &other_id)
            .await
            .expect("leave")
    );
    assert!(
        !channels::remove_member(&db, &first, &user_id, 125, &other_id)
            .await
            .expect("leave again")
    );
    channels::add_member(&db, &first, &user_id, false, 130, JoinedBy::Added)
        .await
        .expect("re-join");
    channels::add_member(&db, &second, &user_id, false, 130, JoinedBy::Added)
        .await
        .expect("join the second");
    channels::add_member(&db, &second, &other_id, false, 135, JoinedBy::Created)
        .await
        .expect("another user");
    assert!(teams::remove_member(&db, &team_id, &user_id, 140)
        .await
        .expect("leave team"));
    let left = channels::remove_member_from_team_channels(&db, &team_id, &user_id, 140, &user_id)
        .await
        .expect("leave the team's channels");
    let mut sorted = channel_ids.clone();
    sorted.sort();
    assert_eq!(left, sorted);

    let mine = history::channel_memberships_after(&db, std::slice::from_ref(&user_id), 0)
        .await
        .expect("history");
    type Interval<'a> = (&'a str, i64, Option<(i64, LeftBy, String)>);
    let intervals: Vec<Interval> = mine
        .iter()
        .map(|m| (m.channel_id.as_str(), m.join_time, m.left.clone()))
        .collect();
    let mut expected: Vec<Interval> = vec![
        (
            first.as_str(),
            110,
            Some((120, LeftBy::Removed, other_id.clone())),
        ),
        (
            first.as_str(),
            130,
            Some((140, LeftBy::LeftTeam, user_id.clone())),
        ),
        (
            second.as_str(),
            130,
            Some((140, LeftBy::LeftTeam, user_id.clone())),
        ),
    ];
    expected.sort_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)));
    assert_eq!(intervals, expected);
    assert_eq!(
        history::channel_memberships_after(&db, std::slice::from_ref(&user_id), 140)
            .await
            .expect("history")
            .len(),
        0,
        "nothing lasted past 140"
    );
    let changed =
        history::channel_memberships_changed_since(&db, std::slice::from_ref(&second), 132, 10)
            .await
            .expect("changes");
    let changed: Vec<(&str, i64, JoinedBy)> = changed
        .iter()
        .map(|m| (m.user_id.as_str(), m.join_time, m.joined_by))
        .collect();
    assert_eq!(
        changed,
        [
            (user_id.as_str(), 130, JoinedBy::Added),
            (other_id.as_str(), 135, JoinedBy::Created)
        ],
        "joined after 132, or left after it"
    );

    teams::upsert_member(&db, &team_id, &user_id, false, 150)
        .await
        .expect("re-join team");
    let team_history = history::team_memberships_after(&db, std::slice::from_ref(&user_id), 0)
        .await
        .expect("team history");
    let team_intervals: Vec<(i64, Option<i64>)> = team_history
        .iter()
        .map(|m| (m.join_time, m.leave_time))
        .collect();
    assert_eq!(team_intervals, [(100, Some(140)), (150, None)]);
    let team_changes =
        history::team_memberships_changed_since(&db, std::slice::from_ref(&team_id), 145, 10)
            .await
            .expect("team changes");
    assert_eq!(team_changes.len(), 1);
    assert_eq!(team_changes[0].join_time, 150);
}

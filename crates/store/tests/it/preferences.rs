//! Preferences: saves and deletes stamp the change the websocket rebuild checks, and saved
//! posts are listed newest first per scope.

use chorus_model::{new_id, now_millis, Channel, Post, Preference, CHANNEL_OPEN};
use chorus_store::preferences::{self, FlaggedIn};
use chorus_store::{channels, history, posts, Store};

use crate::settings_for_fresh_database;

fn preference(user_id: &str, category: &str, name: &str) -> Preference {
    Preference {
        user_id: user_id.to_string(),
        category: category.to_string(),
        name: name.to_string(),
        value: "true".to_string(),
    }
}

#[tokio::test]
async fn saving_or_deleting_a_preference_is_a_change_the_rebuild_check_sees() {
    let settings = settings_for_fresh_database();
    Store::migrate(&settings).await.expect("migrate");
    let store = Store::connect(&settings).expect("pools");
    let mut db = store.master().await.expect("connection");
    let alice = new_id();
    let bob = new_id();
    let horizon = now_millis();

    assert!(!preferences_changed_since(&db, &alice, horizon - 1)
        .await
        .unwrap());
    let saved = [preference(&alice, "display_settings", "use_military_time")];
    preferences::save(&mut db, &alice, &saved, horizon + 10)
        .await
        .expect("save");
    assert!(preferences_changed_since(&db, &alice, horizon)
        .await
        .unwrap());
    assert!(
        !preferences_changed_since(&db, &alice, horizon + 10)
            .await
            .unwrap(),
        "a change at the horizon was already sent"
    );
    assert!(
        !preferences_changed_since(&db, &bob, horizon).await.unwrap(),
        "only the user's own preferences count"
    );

    // A deletion leaves no row behind, yet counts.
    preferences::delete(&mut db, &alice, &saved, horizon + 20)
        .await
        .expect("delete");
    assert!(preferences::get_all(&db, &alice).await.unwrap().is_empty());
    assert!(preferences_changed_since(&db, &alice, horizon + 10)
        .await
        .unwrap());
    // A node with a slow clock never moves the stamp back.
    preferences::delete(&mut db, &alice, &saved, horizon)
        .await
        .expect("delete again");
    assert!(preferences_changed_since(&db, &alice, horizon + 10)
        .await
        .unwrap());
}

#[tokio::test]
async fn saved_posts_are_listed_newest_first_per_channel_or_team() {
    let settings = settings_for_fresh_database();
    Store::migrate(&settings).await.expect("migrate");
    let store = Store::connect(&settings).expect("pools");
    let mut db = store.master().await.expect("connection");
    let alice = new_id();
    let team_id = new_id();
    let mut channel_ids = Vec::new();
    for (team, name) in [(team_id.as_str(), "public"), ("", "direct")] {
        let channel = Channel {
            id: new_id(),
            create_at: now_millis(),
            update_at: now_millis(),
            team_id: team.to_string(),
            channel_type: CHANNEL_OPEN.to_string(),
            display_name: name.into(),
            name: name.into(),
            ..Default::default()
        };
        channels::insert(&db, &channel).await.expect("channel");
        channel_ids.push(channel.id);
    }
    let mut post_ids = Vec::new();
    // Distinct times: posts of different channels created in one millisecond would tie.
    let first_at = now_millis();
    for (index, channel_id) in [&channel_ids[0], &channel_ids[1], &channel_ids[0]]
        .into_iter()
        .enumerate()
    {
        let post = Post {
            id: new_id(),
            create_at: first_at + 10 * index as i64,
            user_id: alice.clone(),
            channel_id: channel_id.clone(),
            message: "keep".into(),
            ..Default::default()
        };
        let created = match posts::create(
            &mut db,
            posts::NewPost {
                post,
                mentioned_user_ids: Vec::new(),
                outgoing_trigger: None,
            },
        )
        .await
        .expect("post")
        {
            posts::CreateOutcome::Created { post, .. } => post,
            posts::CreateOutcome::AlreadyExisted(post) => post,
        };
        post_ids.push(created.id);
    }
    let mut flags: Vec<Preference> = post_ids
        .iter()
        .map(|post_id| preference(&alice, "flagged_post", post_id))
        .collect();
    flags.push(preference(&alice, "display_settings", "name_format"));
    preferences::save(&mut db, &alice, &flags, now_millis())
        .await
        .expect("save");

    let everywhere = preferences::flagged_post_ids(&db, &alice, &FlaggedIn::Everywhere, 0, 60)
        .await
        .unwrap();
    assert_eq!(
        everywhere,
        [
            post_ids[2].clone(),
            post_ids[1].clone(),
            post_ids[0].clone()
        ]
    );
    let second_page = preferences::flagged_post_ids(&db, &alice, &FlaggedIn::Everywhere, 2, 2)
        .await
        .unwrap();
    assert_eq!(second_page, [post_ids[0].clone()]);
    let in_channel = preferences::flagged_post_ids(
        &db,
        &alice,
        &FlaggedIn::Channel(channel_ids[1].clone()),
        0,
        60,
    )
    .await
    .unwrap();
    assert_eq!(in_channel, [post_ids[1].clone()]);
    // A team's saved posts include those of direct and group channels.
    let other_team = preferences::flagged_post_ids(&db, &alice, &FlaggedIn::Team(new_id()), 0, 60)
        .await
        .unwrap();
    assert_eq!(other_team, [post_ids[1].clone()]);
    let in_team = preferences::flagged_post_ids(&db, &alice, &FlaggedIn::Team(team_id), 0, 60)
        .await
        .unwrap();
    assert_eq!(in_team.len(), 3);
}

/// Whether `user_id`'s preferences changed after `since` (ms), as a websocket rebuild reads it.
async fn preferences_changed_since(
    db: &impl chorus_store::GenericClient,
    user_id: &str,
    since: i64,
) -> chorus_store::StoreResult<bool> {
    let changes = history::unrebuildable_changes_since(db, &[user_id.to_string()], since).await?;
    Ok(changes.for_user(user_id, since) == Some(history::Unrebuildable::Preferences))
}

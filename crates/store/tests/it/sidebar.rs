//! Sidebar categories and channel member settings: every change stamps the user's personal
//! settings change that the websocket rebuild checks; unplaced channels land in the channels
//! and direct messages categories.

use chorus_model::{
    new_id, now_millis, Channel, SidebarCategory, CHANNEL_DIRECT, CHANNEL_OPEN,
    SIDEBAR_CATEGORY_CUSTOM,
};
use chorus_store::channels::{self, MemberRoles};
use chorus_store::history::{self, JoinedBy};
use chorus_store::{sidebar, Store};

use crate::settings_for_fresh_database;

async fn channel_of(
    db: &impl chorus_store::GenericClient,
    team_id: &str,
    kind: &str,
    member: &str,
) -> String {
    let channel = Channel {
        id: new_id(),
        create_at: now_millis(),
        update_at: now_millis(),
        team_id: team_id.to_string(),
        channel_type: kind.to_string(),
        display_name: "a channel".into(),
        name: new_id(),
        ..Default::default()
    };
    channels::insert(db, &channel).await.expect("channel");
    channels::add_member(
        db,
        &channel.id,
        member,
        false,
        now_millis(),
        JoinedBy::Added,
    )
    .await
    .expect("member");
    channel.id
}

#[tokio::test]
async fn category_and_member_setting_changes_are_changes_the_rebuild_check_sees() {
    let settings = settings_for_fresh_database();
    Store::migrate(&settings).await.expect("migrate");
    let store = Store::connect(&settings).expect("pools");
    let db = store.master().await.expect("connection");
    let alice = new_id();
    let bob = new_id();
    let team_id = new_id();
    let public = channel_of(&db, &team_id, CHANNEL_OPEN, &alice).await;
    let direct = channel_of(&db, "", CHANNEL_DIRECT, &alice).await;

    // Creating the defaults on first read is no change anyone was told about.
    assert!(sidebar::create_defaults(&db, &alice, &team_id)
        .await
        .unwrap());
    assert!(!sidebar::create_defaults(&db, &alice, &team_id)
        .await
        .unwrap());
    let horizon = now_millis();
    assert!(
        !personal_settings_changed_since(&db, &alice, horizon - 1_000)
            .await
            .unwrap()
    );
    let listed = sidebar::list(&db, &alice, &team_id).await.unwrap();
    assert_eq!(listed.categories[1].channel_ids, vec![public.clone()]);
    assert_eq!(listed.categories[2].channel_ids, vec![direct.clone()]);

    let custom = SidebarCategory {
        id: new_id(),
        user_id: alice.clone(),
        team_id: team_id.clone(),
        category_type: SIDEBAR_CATEGORY_CUSTOM.into(),
        display_name: "Projects".into(),
        channel_ids: vec![public.clone()],
        ..Default::default()
    };
    sidebar::create_custom(&db, &custom, horizon + 10)
        .await
        .expect("create");
    assert!(personal_settings_changed_since(&db, &alice, horizon)
        .await
        .unwrap());
    assert!(!personal_settings_changed_since(&db, &alice, horizon + 10)
        .await
        .unwrap());
    assert!(!personal_settings_changed_since(&db, &bob, horizon)
        .await
        .unwrap());
    let listed = sidebar::list(&db, &alice, &team_id).await.unwrap();
    assert_eq!(listed.order[1], custom.id, "after favorites");
    assert!(
        listed.categories[2].channel_ids.is_empty(),
        "placed in the custom one"
    );

    let mut reversed = listed.order.clone();
    reversed.reverse();
    assert!(
        sidebar::update_order(&db, &alice, &team_id, &reversed, horizon + 20)
            .await
            .unwrap()
    );
    assert!(
        !sidebar::update_order(&db, &alice, &team_id, &reversed[1..], horizon + 30)
            .await
            .unwrap()
    );
    assert!(personal_settings_changed_since(&db, &alice, horizon + 10)
        .await
        .unwrap());

    let props = serde_json::json!({"mark_unread": "mention"});
    channels::set_notify_props(&db, &public, &alice, &props, horizon + 40)
        .await
        .expect("notify props");
    assert!(personal_settings_changed_since(&db, &alice, horizon + 30)
        .await
        .unwrap());
    let roles = MemberRoles {
        scheme_user: true,
        scheme_admin: true,
        ..Default::default()
    };
    channels::set_roles(&db, &public, &alice, &roles, horizon + 50)
        .await
        .expect("roles");
    assert!(personal_settings_changed_since(&db, &alice, horizon + 40)
        .await
        .unwrap());

    assert!(sidebar::delete_custom(&db, &custom, horizon + 60)
        .await
        .unwrap());
    assert!(personal_settings_changed_since(&db, &alice, horizon + 50)
        .await
        .unwrap());
    // A node with a slow clock never moves the stamp back.
    let favorites = sidebar::get(&db, &listed.order[0]).await.unwrap();
    assert!(!sidebar::delete_custom(&db, &favorites, horizon)
        .await
        .unwrap());
    sidebar::stamp_change(&db, &alice, horizon).await.unwrap();
    assert!(personal_settings_changed_since(&db, &alice, horizon + 50)
        .await
        .unwrap());
}

#[tokio::test]
async fn restoring_or_converting_a_channel_and_archiving_any_team_are_changes_the_rebuild_sees() {
    let settings = settings_for_fresh_database();
    Store::migrate(&settings).await.expect("migrate");
    let store = Store::connect(&settings).expect("pools");
    let db = store.master().await.expect("connection");
    let created_at = now_millis() - 10_000;
    let mut teams = Vec::new();
    for name in ["ours", "theirs"] {
        let team = chorus_model::Team {
            id: new_id(),
            create_at: created_at,
            update_at: created_at,
            display_name: name.into(),
            name: format!("{name}-{}", new_id()),
            team_type: "O".into(),
            invite_id: new_id(),
            ..Default::default()
        };
        chorus_store::teams::insert(&db, &team).await.expect("team");
        teams.push(team.id);
    }
    let ours = teams[0].clone();
    // A public channel of alice's team she is not a member of.
    let other = channel_of(&db, &ours, CHANNEL_OPEN, &new_id()).await;
    let horizon = now_millis();
    let changed = |db, team_ids: Vec<String>, since| async move {
        history::settings_changes_since(db, &[], &team_ids, since)
            .await
            .unwrap()
            .changed_for(&[], &team_ids, since)
    };
    assert!(!changed(&db, vec![ours.clone()], horizon).await);

    channels::archive(&db, &other, horizon + 10).await.unwrap();
    assert!(changed(&db, vec![ours.clone()], horizon).await);
    assert!(channels::restore(&db, &other, horizon + 20).await.unwrap());
    assert!(
        changed(&db, vec![ours.clone()], horizon + 10).await,
        "channel_restored went to the team"
    );
    channels::set_type(&db, &other, "P", horizon + 30)
        .await
        .unwrap();
    assert!(
        changed(&db, vec![ours.clone()], horizon + 20).await,
        "channel_converted went to the team"
    );
    assert!(!changed(&db, vec![ours.clone()], horizon + 30).await);

    chorus_store::teams::set_archived(&db, &teams[1], true, horizon + 40)
        .await
        .unwrap();
    assert!(
        changed(&db, vec![ours.clone()], horizon + 30).await,
        "delete_team went to everyone"
    );
}

/// Whether `user_id`'s personal settings changed after `since` (ms), as a websocket rebuild reads it.
async fn personal_settings_changed_since(
    db: &impl chorus_store::GenericClient,
    user_id: &str,
    since: i64,
) -> chorus_store::StoreResult<bool> {
    let changes = history::unrebuildable_changes_since(db, &[user_id.to_string()], since).await?;
    Ok(changes.for_user(user_id, since) == Some(history::Unrebuildable::PersonalSettings))
}

//! Channels: public and private, direct and group messages, members, unread counts.

use serde_json::json;

use chorus_testkit::client::{id_of, ids_of, TestUser};
use chorus_testkit::{Endpoint, Sandbox};

/// Two users in one team: alice (admin of the server, team creator) and bob.
async fn alice_and_bob_in_a_team(server: &Sandbox) -> (TestUser, TestUser, String) {
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    let team_id = id_of(&alice.create_team("crew", "O").await);
    alice.add_to_team(&team_id, &bob.id).await;
    (alice, bob, team_id)
}

#[tokio::test]
async fn a_private_channel_is_invisible_to_non_members() {
    let server = Sandbox::start().await;
    // The server's first user is its admin, who may read anything; alice and carol are not.
    let _admin = server.create_account("admin").await;
    let alice = server.signup("alice").await;
    let carol = server.signup("carol").await;
    let team_id = id_of(&alice.create_team("crew", "O").await);
    alice.add_to_team(&team_id, &carol.id).await;
    let public = alice.create_channel(&team_id, "announcements", "O").await;
    let private = alice.create_channel(&team_id, "plans", "P").await;
    let private_id = id_of(&private);
    assert_eq!(private["type"], "P");
    alice
        .post(&private_id, "the surprise party is on friday")
        .await;

    carol
        .api
        .get(&format!("/channels/{private_id}"))
        .await
        .expect_error(403);
    carol
        .api
        .get(&format!("/teams/{team_id}/channels/name/plans"))
        .await
        .expect_error(404);
    carol
        .api
        .get(&format!("/channels/{private_id}/posts"))
        .await
        .expect_error(403);
    carol
        .api
        .get(&format!("/channels/{private_id}/members"))
        .await
        .expect_error(403);
    carol
        .api
        .post(
            &format!("/channels/{private_id}/members"),
            json!({"user_id": carol.id}),
        )
        .await
        .expect_error(403);
    let public_list = carol
        .api
        .get(&format!("/teams/{team_id}/channels"))
        .await
        .expect_status(200);
    let listed = ids_of(&public_list);
    assert!(listed.contains(&id_of(&public)));
    assert!(
        !listed.contains(&private_id),
        "a private channel must not be in the public list"
    );
    assert!(!carol
        .my_channel_names(&team_id)
        .await
        .contains(&"plans".to_string()));

    // A public channel is readable by any team member, and joinable.
    carol
        .api
        .get(&format!("/channels/{}", id_of(&public)))
        .await
        .expect_status(200);
    carol.add_to_channel(&id_of(&public), &carol.id).await;

    // Members see it; adding carol makes it visible to her.
    alice.add_to_channel(&private_id, &carol.id).await;
    let now_visible = carol
        .api
        .get(&format!("/teams/{team_id}/channels/name/plans"))
        .await
        .expect_status(200);
    assert_eq!(now_visible["id"], private_id.as_str());
}

#[tokio::test]
async fn channel_members_are_added_and_removed() {
    let server = Sandbox::start().await;
    let (alice, bob, team_id) = alice_and_bob_in_a_team(&server).await;
    let channel_id = id_of(&alice.create_channel(&team_id, "project", "P").await);

    let added = alice.add_to_channel(&channel_id, &bob.id).await;
    assert_eq!(added["user_id"], bob.id.as_str());
    assert_eq!(added["channel_id"], channel_id.as_str());
    let members = alice
        .api
        .get(&format!("/channels/{channel_id}/members"))
        .await
        .expect_status(200);
    assert_eq!(members.as_array().unwrap().len(), 2);
    bob.post(&channel_id, "thanks for adding me").await;

    alice
        .api
        .delete(&format!("/channels/{channel_id}/members/{}", bob.id))
        .await
        .expect_status(200);
    bob.api
        .get(&format!("/channels/{channel_id}/members/{}", bob.id))
        .await
        .expect_error(403);
    bob.api
        .post(
            "/posts",
            json!({"channel_id": channel_id, "message": "hello?"}),
        )
        .await
        .expect_error(403);
    let members = alice
        .api
        .get(&format!("/channels/{channel_id}/members"))
        .await
        .expect_status(200);
    assert_eq!(members.as_array().unwrap().len(), 1);
    alice
        .api
        .delete(&format!("/channels/{channel_id}/members/{}", bob.id))
        .await
        .expect_error(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_channel_is_the_same_channel_whoever_opens_it_and_however_often() {
    let server = Sandbox::start().await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;

    // Both open the conversation at the same moment, several times over.
    let mut openers = Vec::new();
    for round in 0..6 {
        let (opener, pair) = if round % 2 == 0 {
            (alice.api.clone(), json!([alice.id, bob.id]))
        } else {
            (bob.api.clone(), json!([bob.id, alice.id]))
        };
        openers.push(tokio::spawn(async move {
            opener.post("/channels/direct", pair).await
        }));
    }
    let mut channel_ids = Vec::new();
    for opener in openers {
        let reply = opener.await.expect("opener task");
        assert!(
            reply.status == 201 || reply.status == 200,
            "opening a direct channel failed: {reply:?}"
        );
        channel_ids.push(id_of(&reply.json));
    }
    channel_ids.sort();
    channel_ids.dedup();
    assert_eq!(channel_ids.len(), 1, "one direct channel per pair of users");
    let channel_id = &channel_ids[0];

    let channel = bob
        .api
        .get(&format!("/channels/{channel_id}"))
        .await
        .expect_status(200);
    assert_eq!(channel["type"], "D");
    let mut pair = [alice.id.clone(), bob.id.clone()];
    pair.sort();
    assert_eq!(channel["name"], format!("{}__{}", pair[0], pair[1]));
    let members = alice
        .api
        .get(&format!("/channels/{channel_id}/members"))
        .await
        .expect_status(200);
    assert_eq!(members.as_array().unwrap().len(), 2);

    let again = alice
        .api
        .post("/channels/direct", json!([bob.id, alice.id]))
        .await;
    assert_eq!(id_of(&again.json), *channel_id);
}

#[tokio::test]
async fn a_group_channel_is_shared_by_its_members_and_created_once() {
    let server = Sandbox::start().await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    let carol = server.signup("carol").await;

    let group = alice
        .api
        .post("/channels/group", json!([bob.id, carol.id]))
        .await
        .expect_status(201);
    let group_id = id_of(&group);
    assert_eq!(group["type"], "G");
    let display_name = group["display_name"].as_str().unwrap();
    for name in ["alice", "bob", "carol"] {
        assert!(display_name.contains(name), "{display_name}");
    }

    let from_bob = bob
        .api
        .post("/channels/group", json!([alice.id, carol.id, bob.id]))
        .await;
    assert_eq!(id_of(&from_bob.json), group_id);
    carol.post(&group_id, "hi both").await;
    let posts = bob
        .api
        .get(&format!("/channels/{group_id}/posts"))
        .await
        .expect_status(200);
    assert_eq!(posts["order"].as_array().unwrap().len(), 1);

    alice
        .api
        .post("/channels/group", json!([bob.id]))
        .await
        .expect_error(400);
}

#[tokio::test]
async fn unread_counts_follow_new_posts_and_mentions_until_the_channel_is_viewed() {
    let server = Sandbox::start().await;
    let (alice, bob, team_id) = alice_and_bob_in_a_team(&server).await;
    let channel_id = id_of(&alice.create_channel(&team_id, "standup", "O").await);
    bob.add_to_channel(&channel_id, &bob.id).await;

    bob.post(&channel_id, "morning").await;
    bob.post(&channel_id, "@alice can you review my change?")
        .await;
    bob.post(&channel_id, "no rush").await;

    let unread_path = format!("/users/me/channels/{channel_id}/unread");
    let unread = alice.api.get(&unread_path).await.expect_status(200);
    assert_eq!(unread["channel_id"], channel_id.as_str());
    assert_eq!(unread["team_id"], team_id.as_str());
    assert_eq!(unread["msg_count"], 3, "{unread}");
    assert_eq!(unread["mention_count"], 1, "{unread}");
    let bobs_own = bob.api.get(&unread_path).await.expect_status(200);
    assert_eq!(bobs_own["mention_count"], 0, "{bobs_own}");

    let viewed = alice
        .api
        .post(
            "/channels/members/me/view",
            json!({"channel_id": channel_id}),
        )
        .await
        .expect_status(200);
    assert_eq!(viewed["status"], "OK");
    let unread = alice.api.get(&unread_path).await.expect_status(200);
    assert_eq!(unread["msg_count"], 0, "{unread}");
    assert_eq!(unread["mention_count"], 0, "{unread}");

    bob.post(&channel_id, "one more").await;
    let unread = alice.api.get(&unread_path).await.expect_status(200);
    assert_eq!(unread["msg_count"], 1, "{unread}");
    assert_eq!(unread["mention_count"], 0, "{unread}");
}

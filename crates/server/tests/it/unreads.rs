//! A user's channels, memberships and unreads across teams; marking channels viewed; a
//! member's notify props (mute) and roles; channel stats, restore and privacy; team archive,
//! restore, stats and joining by invite id — with Mattermost's permissions, error ids and
//! websocket events.

use serde_json::{json, Value};

use chorus_testkit::client::{id_of, ids_of, TestUser};
use chorus_testkit::socket::EventSocket;
use chorus_testkit::{Endpoint, Sandbox};

/// The server admin (first user), then alice (team creator, so its admin) and bob.
async fn team_of_alice_and_bob(server: &Sandbox) -> (TestUser, TestUser, TestUser, String) {
    let admin = server.signup("unreadadmin").await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    let team_id = id_of(&alice.create_team("crew", "O").await);
    alice.add_to_team(&team_id, &bob.id).await;
    (admin, alice, bob, team_id)
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

fn unread_of<'a>(unreads: &'a Value, team_id: &str) -> Option<&'a Value> {
    unreads
        .as_array()
        .expect("a list of team unreads")
        .iter()
        .find(|unread| unread["team_id"] == team_id)
}

#[tokio::test]
async fn a_users_channels_and_memberships_span_every_team() {
    let server = Sandbox::start().await;
    let (admin, alice, bob, team_id) = team_of_alice_and_bob(&server).await;
    let other_team = id_of(&alice.create_team("guild", "I").await);
    let plans = id_of(&alice.create_channel(&other_team, "plans", "P").await);
    let direct = id_of(
        &alice
            .api
            .post("/channels/direct", json!([alice.id, bob.id]))
            .await
            .expect_status(201),
    );
    let mut expected = vec![plans.clone(), direct.clone()];
    for team in [&team_id, &other_team] {
        for name in ["town-square", "off-topic"] {
            expected.push(id_of(&alice.channel_by_name(team, name).await));
        }
    }

    let channels = alice.api.get("/users/me/channels").await.expect_status(200);
    assert_eq!(sorted(ids_of(&channels)), sorted(expected.clone()));
    let members = alice
        .api
        .get(&format!("/users/{}/channel_members", alice.id))
        .await
        .expect_status(200);
    let member_channels: Vec<String> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|member| member["channel_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sorted(member_channels), sorted(expected.clone()));

    // Archived channels only on request.
    alice
        .api
        .delete(&format!("/channels/{plans}"))
        .await
        .expect_status(200);
    let live = alice.api.get("/users/me/channels").await.expect_status(200);
    assert!(!ids_of(&live).contains(&plans));
    let all = alice
        .api
        .get("/users/me/channels?include_deleted=true")
        .await
        .expect_status(200);
    assert!(ids_of(&all).contains(&plans));

    let reply = bob.api.get(&format!("/users/{}/channels", alice.id)).await;
    assert_eq!(reply.expect_error(403), "api.context.permissions.app_error");
    let reply = bob
        .api
        .get(&format!("/users/{}/channel_members", alice.id))
        .await;
    assert_eq!(reply.expect_error(403), "api.context.permissions.app_error");
    admin
        .api
        .get(&format!("/users/{}/channels", alice.id))
        .await
        .expect_status(200);
}

#[tokio::test]
async fn team_unreads_count_messages_and_mentions_per_team_and_respect_mute() {
    let server = Sandbox::start().await;
    let (_admin, alice, bob, team_id) = team_of_alice_and_bob(&server).await;
    let other_team = id_of(&alice.create_team("guild", "O").await);
    let town_square = id_of(&alice.channel_by_name(&team_id, "town-square").await);
    bob.post(&town_square, "hello everyone").await;
    bob.post(&town_square, "@alice are you there?").await;

    let unreads = alice
        .api
        .get("/users/me/teams/unread")
        .await
        .expect_status(200);
    let crew = unread_of(&unreads, &team_id).expect("the crew team");
    assert_eq!(crew["msg_count"], 2);
    assert_eq!(crew["mention_count"], 1);
    assert_eq!(crew["msg_count_root"], 2);
    assert_eq!(crew["thread_count"], 0);
    let guild = unread_of(&unreads, &other_team).expect("the guild team");
    assert_eq!(guild["msg_count"], 0);

    // Muted: its messages no longer count, its mentions do.
    alice
        .api
        .put(
            &format!("/channels/{town_square}/members/me/notify_props"),
            json!({"mark_unread": "mention"}),
        )
        .await
        .expect_status(200);
    let unreads = alice
        .api
        .get(&format!("/users/me/teams/unread?exclude_team={other_team}"))
        .await
        .expect_status(200);
    assert!(unread_of(&unreads, &other_team).is_none());
    let crew = unread_of(&unreads, &team_id).expect("the crew team");
    assert_eq!(crew["msg_count"], 0);
    assert_eq!(crew["mention_count"], 1);

    let reply = alice
        .api
        .get("/users/me/teams/unread?exclude_team=nope")
        .await;
    assert_eq!(
        reply.expect_error(400),
        "api.context.invalid_param.app_error"
    );
    let reply = bob
        .api
        .get(&format!("/users/{}/teams/unread", alice.id))
        .await;
    assert_eq!(reply.expect_error(403), "api.context.permissions.app_error");
}

#[tokio::test]
async fn viewing_marks_the_channel_and_the_previous_one_read_and_tells_the_users_sessions() {
    let server = Sandbox::start().await;
    let (_admin, alice, bob, team_id) = team_of_alice_and_bob(&server).await;
    let laptop = server.log_in_as("alice").await;
    let mut socket = EventSocket::connect(&server, &laptop.token).await;
    let town_square = id_of(&alice.channel_by_name(&team_id, "town-square").await);
    let off_topic = id_of(&alice.channel_by_name(&team_id, "off-topic").await);
    bob.post(&town_square, "one").await;
    bob.post(&off_topic, "two").await;

    let answer = alice
        .api
        .post(
            "/channels/members/me/view",
            json!({"channel_id": town_square, "prev_channel_id": off_topic}),
        )
        .await
        .expect_status(200);
    assert_eq!(answer["status"], "OK");
    let times = answer["last_viewed_at_times"].as_object().unwrap();
    assert!(times.contains_key(&town_square) && times.contains_key(&off_topic));
    let event = socket.wait_for("multiple_channels_viewed").await;
    assert_eq!(event["broadcast"]["user_id"], alice.id.as_str());
    let viewed = event["data"]["channel_times"].as_object().unwrap();
    assert_eq!(viewed.len(), 2);
    for channel_id in [&town_square, &off_topic] {
        let unread = alice
            .api
            .get(&format!("/users/me/channels/{channel_id}/unread"))
            .await
            .expect_status(200);
        assert_eq!(unread["msg_count"], 0, "{channel_id} is read");
    }

    let reply = alice
        .api
        .post(
            "/channels/members/me/view",
            json!({"channel_id": town_square, "prev_channel_id": "bad"}),
        )
        .await;
    assert_eq!(
        reply.expect_error(400),
        "api.context.invalid_body_param.app_error"
    );
    let reply = bob
        .api
        .post(
            &format!("/channels/members/{}/view", alice.id),
            json!({"channel_id": town_square}),
        )
        .await;
    assert_eq!(reply.expect_error(403), "api.context.permissions.app_error");
}

#[tokio::test]
async fn notify_props_and_roles_change_the_member_and_send_channel_member_updated() {
    let server = Sandbox::start().await;
    let (_admin, alice, bob, team_id) = team_of_alice_and_bob(&server).await;
    let carol = server.signup("carol").await;
    alice.add_to_team(&team_id, &carol.id).await;
    let plans = id_of(&alice.create_channel(&team_id, "plans", "O").await);
    alice.add_to_channel(&plans, &bob.id).await;
    alice.add_to_channel(&plans, &carol.id).await;
    let mut alice_socket = EventSocket::connect(&server, &alice.token).await;
    let mut bob_socket = EventSocket::connect(&server, &bob.token).await;

    alice
        .api
        .put(
            &format!("/channels/{plans}/members/me/notify_props"),
            json!({"mark_unread": "mention", "desktop": "none"}),
        )
        .await
        .expect_status(200);
    let event = alice_socket.wait_for("channel_member_updated").await;
    assert_eq!(event["broadcast"]["user_id"], alice.id.as_str());
    let member: Value =
        serde_json::from_str(event["data"]["channelMember"].as_str().unwrap()).unwrap();
    assert_eq!(member["notify_props"]["mark_unread"], "mention");
    assert_eq!(member["notify_props"]["desktop"], "none");
    assert_eq!(
        member["notify_props"]["push"], "default",
        "other props are kept"
    );

    let reply = alice
        .api
        .put(
            &format!("/channels/{plans}/members/me/notify_props"),
            json!({"mark_unread": "sometimes"}),
        )
        .await;
    assert_eq!(
        reply.expect_error(400),
        "model.channel_member.is_valid.unread_level.app_error"
    );
    let reply = bob
        .api
        .put(
            &format!("/channels/{plans}/members/{}/notify_props", alice.id),
            json!({"mark_unread": "all"}),
        )
        .await;
    assert_eq!(reply.expect_error(403), "api.context.permissions.app_error");

    // alice created the channel: she is its admin and may promote bob.
    alice
        .api
        .put(
            &format!("/channels/{plans}/members/{}/roles", bob.id),
            json!({"roles": "channel_user channel_admin"}),
        )
        .await
        .expect_status(200);
    let event = bob_socket.wait_for("channel_member_updated").await;
    let member: Value =
        serde_json::from_str(event["data"]["channelMember"].as_str().unwrap()).unwrap();
    assert_eq!(member["scheme_admin"], true);
    let stored = bob
        .api
        .get(&format!("/channels/{plans}/members/me"))
        .await
        .expect_status(200);
    assert_eq!(stored["roles"], "channel_user channel_admin");

    let reply = carol
        .api
        .put(
            &format!("/channels/{plans}/members/{}/roles", alice.id),
            json!({"roles": "channel_user"}),
        )
        .await;
    assert_eq!(reply.expect_error(403), "api.context.permissions.app_error");
    let reply = alice
        .api
        .put(
            &format!("/channels/{plans}/members/{}/roles", carol.id),
            json!({"roles": "channel_user system_admin"}),
        )
        .await;
    assert_eq!(
        reply.expect_error(400),
        "api.channel.update_channel_member_roles.scheme_role.app_error"
    );
}

#[tokio::test]
async fn channel_stats_restore_and_privacy_follow_mattermost() {
    let server = Sandbox::start().await;
    let (_admin, alice, bob, team_id) = team_of_alice_and_bob(&server).await;
    let plans = id_of(&alice.create_channel(&team_id, "plans", "O").await);
    alice.add_to_channel(&plans, &bob.id).await;
    alice.post(&plans, "hello").await;

    let stats = bob
        .api
        .get(&format!("/channels/{plans}/stats"))
        .await
        .expect_status(200);
    assert_eq!(stats["channel_id"], plans.as_str());
    assert_eq!(stats["member_count"], 2);
    assert_eq!(stats["guest_count"], 0);
    assert_eq!(stats["files_count"], 0);

    let mut bob_socket = EventSocket::connect(&server, &bob.token).await;
    alice
        .api
        .delete(&format!("/channels/{plans}"))
        .await
        .expect_status(200);
    // bob created nothing: he is not a team admin.
    let reply = bob
        .api
        .post(&format!("/channels/{plans}/restore"), json!({}))
        .await;
    assert_eq!(reply.expect_error(403), "api.context.permissions.app_error");
    let restored = alice
        .api
        .post(&format!("/channels/{plans}/restore"), json!({}))
        .await
        .expect_status(200);
    assert_eq!(restored["delete_at"], 0);
    let event = bob_socket.wait_for("channel_restored").await;
    assert_eq!(event["data"]["channel_id"], plans.as_str());
    assert_eq!(event["broadcast"]["team_id"], team_id.as_str());
    let reply = alice
        .api
        .post(&format!("/channels/{plans}/restore"), json!({}))
        .await;
    assert_eq!(
        reply.expect_error(400),
        "api.channel.restore_channel.restored.app_error"
    );

    let private = alice
        .api
        .put(
            &format!("/channels/{plans}/privacy"),
            json!({"privacy": "P"}),
        )
        .await
        .expect_status(200);
    assert_eq!(private["type"], "P");
    let event = bob_socket.wait_for("channel_converted").await;
    assert_eq!(event["data"]["channel_id"], plans.as_str());
    let reply = bob
        .api
        .put(
            &format!("/channels/{plans}/privacy"),
            json!({"privacy": "O"}),
        )
        .await;
    assert_eq!(reply.expect_error(403), "api.context.permissions.app_error");
    let reply = alice
        .api
        .put(
            &format!("/channels/{plans}/privacy"),
            json!({"privacy": "X"}),
        )
        .await;
    assert_eq!(
        reply.expect_error(400),
        "api.context.invalid_body_param.app_error"
    );
    let town_square = id_of(&alice.channel_by_name(&team_id, "town-square").await);
    let reply = alice
        .api
        .put(
            &format!("/channels/{town_square}/privacy"),
            json!({"privacy": "P"}),
        )
        .await;
    assert_eq!(
        reply.expect_error(400),
        "api.channel.update_channel_privacy.default_channel_error"
    );
}

#[tokio::test]
async fn teams_are_archived_restored_counted_and_joined_by_invite_id() {
    let server = Sandbox::start().await;
    let (_admin, alice, bob, team_id) = team_of_alice_and_bob(&server).await;
    let carol = server.signup("carol").await;

    let stats = bob
        .api
        .get(&format!("/teams/{team_id}/stats"))
        .await
        .expect_status(200);
    assert_eq!(
        stats,
        json!({"team_id": team_id, "total_member_count": 2, "active_member_count": 2})
    );
    let reply = carol.api.get(&format!("/teams/{team_id}/stats")).await;
    assert_eq!(reply.expect_error(403), "api.context.permissions.app_error");

    // An invite-only team: carol may not add herself, but may join with its invite id.
    let guild = alice.create_team("guild", "I").await;
    let guild_id = id_of(&guild);
    let invite_id = guild["invite_id"].as_str().unwrap().to_string();
    carol
        .api
        .post(
            &format!("/teams/{guild_id}/members"),
            json!({"team_id": guild_id, "user_id": carol.id}),
        )
        .await
        .expect_error(403);
    let member = carol
        .api
        .post(
            &format!("/teams/members/invite?invite_id={invite_id}"),
            json!({}),
        )
        .await
        .expect_status(201);
    assert_eq!(member["team_id"], guild_id.as_str());
    assert_eq!(member["user_id"], carol.id.as_str());
    let reply = carol
        .api
        .post(
            "/teams/members/invite?invite_id=abcdefghijklmnopqrstuvwxyz",
            json!({}),
        )
        .await;
    assert_eq!(
        reply.expect_error(404),
        "app.team.get_by_invite_id.finding.app_error"
    );
    let reply = carol.api.post("/teams/members/invite", json!({})).await;
    assert_eq!(
        reply.expect_error(400),
        "api.context.invalid_body_param.app_error"
    );

    let mut carol_socket = EventSocket::connect(&server, &carol.token).await;
    let reply = bob.api.delete(&format!("/teams/{team_id}")).await;
    assert_eq!(reply.expect_error(403), "api.context.permissions.app_error");
    alice
        .api
        .delete(&format!("/teams/{team_id}"))
        .await
        .expect_status(200);
    // Sent to everyone, as Mattermost does, without the team's private fields.
    let event = carol_socket.wait_for("delete_team").await;
    let team: Value = serde_json::from_str(event["data"]["team"].as_str().unwrap()).unwrap();
    assert_eq!(team["id"], team_id.as_str());
    assert!(team["delete_at"].as_i64().unwrap() > 0);
    assert_eq!(team["invite_id"], "");
    let restored = alice
        .api
        .post(&format!("/teams/{team_id}/restore"), json!({}))
        .await
        .expect_status(200);
    assert_eq!(restored["delete_at"], 0);
    let event = carol_socket.wait_for("restore_team").await;
    let team: Value = serde_json::from_str(event["data"]["team"].as_str().unwrap()).unwrap();
    assert_eq!(team["delete_at"], 0);
}

#[tokio::test]
async fn unread_posts_are_read_around_the_last_view() {
    let server = Sandbox::start().await;
    let (_admin, alice, bob, team_id) = team_of_alice_and_bob(&server).await;
    let town_square = id_of(&alice.channel_by_name(&team_id, "town-square").await);
    let mut read = Vec::new();
    for message in ["one", "two", "three"] {
        read.push(id_of(&bob.post(&town_square, message).await));
    }
    alice
        .api
        .post(
            "/channels/members/me/view",
            json!({"channel_id": town_square}),
        )
        .await
        .expect_status(200);
    let mut unread = Vec::new();
    for message in ["four", "five"] {
        unread.push(id_of(&bob.post(&town_square, message).await));
    }

    let path = format!("/users/me/channels/{town_square}/posts/unread");
    let around = alice
        .api
        .get(&format!("{path}?limit_before=1&limit_after=10"))
        .await
        .expect_status(200);
    let order: Vec<String> = serde_json::from_value(around["order"].clone()).unwrap();
    assert_eq!(
        order,
        vec![unread[1].clone(), unread[0].clone(), read[2].clone()],
        "the unread posts and one read before them, newest first"
    );
    assert_eq!(around["prev_post_id"], read[1].as_str());
    assert_eq!(around["next_post_id"], "");

    // Nothing unread: the newest posts.
    alice
        .api
        .post(
            "/channels/members/me/view",
            json!({"channel_id": town_square}),
        )
        .await
        .expect_status(200);
    let newest = alice
        .api
        .get(&format!("{path}?limit_before=2"))
        .await
        .expect_status(200);
    assert_eq!(
        newest["order"],
        json!([unread[1].clone(), unread[0].clone()])
    );

    let reply = alice.api.get(&format!("{path}?limit_after=0")).await;
    assert_eq!(
        reply.expect_error(400),
        "api.context.invalid_url_param.app_error"
    );
    let reply = bob
        .api
        .get(&format!(
            "/users/{}/channels/{town_square}/posts/unread",
            alice.id
        ))
        .await;
    assert_eq!(reply.expect_error(403), "api.context.permissions.app_error");
}

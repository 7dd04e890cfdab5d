//! The websocket: hello, the events of everyday chat with their payloads, who receives what,
//! and how sockets end.
//!
//! Every [`EventSocket`] checks on each frame that `seq` goes 0, 1, 2… without gaps.

use std::time::{Duration, Instant};

use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use chorus_testkit::client::{id_of, TestUser, WAIT};
use chorus_testkit::socket::{concerns_channel, open_raw, post_of, wait_for_close, EventSocket};
use chorus_testkit::{Endpoint, Sandbox};

/// alice (team creator) and bob, both in team "crew"; returns the team and its town-square.
async fn alice_and_bob_in_a_team(server: &Sandbox) -> (TestUser, TestUser, String, String) {
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    let team_id = id_of(&alice.create_team("crew", "O").await);
    alice.add_to_team(&team_id, &bob.id).await;
    let town_square = id_of(&alice.channel_by_name(&team_id, "town-square").await);
    (alice, bob, team_id, town_square)
}

fn is_id(value: &Value) -> bool {
    value.as_str().is_some_and(|id| {
        id.len() == 26
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    })
}

#[tokio::test]
async fn hello_comes_first_with_seq_zero_and_the_connection_and_server_facts() {
    let server = Sandbox::start().await;
    let alice = server.signup("alice").await;

    let by_header = EventSocket::connect(&server, &alice.token).await;
    let by_challenge = EventSocket::connect_with_challenge(&server, &alice.token).await;
    for socket in [&by_header, &by_challenge] {
        let hello = &socket.hello;
        assert_eq!(hello["event"], "hello");
        assert_eq!(hello["seq"], 0);
        assert!(is_id(&hello["data"]["connection_id"]), "{hello}");
        assert_eq!(hello["data"]["server_hostname"], "chorus-test-node");
        assert!(
            hello["data"]["server_version"]
                .as_str()
                .is_some_and(|version| version.starts_with(chorus_model::SERVER_VERSION)),
            "{hello}"
        );
        assert_eq!(hello["broadcast"]["user_id"], alice.id.as_str());
    }
    assert_ne!(
        by_header.hello["data"]["connection_id"],
        by_challenge.hello["data"]["connection_id"]
    );

    // A bad token in the challenge closes the socket.
    let mut socket = open_raw(&server, None).await;
    socket
        .send(Message::text(
            json!({"action": "authentication_challenge", "seq": 1, "data": {"token": "not-a-valid-token"}})
                .to_string(),
        ))
        .await
        .unwrap();
    let closed = wait_for_close(&mut socket, Duration::from_secs(3))
        .await
        .expect("a bad token must close the socket");
    assert_eq!(closed.code(), Some(1008), "{closed:?}");
}

#[tokio::test]
async fn a_post_reaches_channel_members_as_a_posted_event_with_its_context() {
    let server = Sandbox::start().await;
    let (alice, bob, team_id, town_square) = alice_and_bob_in_a_team(&server).await;
    let mut bobs_socket = EventSocket::connect(&server, &bob.token).await;

    let plain = alice.post(&town_square, "good morning").await;
    let posted = bobs_socket.wait_for("posted").await;
    let post = post_of(&posted);
    assert_eq!(post["id"], plain["id"]);
    assert_eq!(post["message"], "good morning");
    assert_eq!(post["user_id"], alice.id.as_str());
    let data = &posted["data"];
    assert_eq!(data["channel_type"], "O");
    assert_eq!(data["channel_name"], "town-square");
    assert_eq!(data["channel_display_name"], "Town Square");
    assert_eq!(data["sender_name"], "@alice");
    assert_eq!(data["team_id"], team_id.as_str());
    assert!(
        data.get("mentions").is_none(),
        "nobody was mentioned: {posted}"
    );
    assert_eq!(posted["broadcast"]["channel_id"], town_square.as_str());

    alice.post(&town_square, "@bob please take a look").await;
    let mentioning = bobs_socket.wait_for("posted").await;
    let mentions: Vec<String> = serde_json::from_str(
        mentioning["data"]["mentions"]
            .as_str()
            .unwrap_or_else(|| panic!("mentions must be a JSON string: {mentioning}")),
    )
    .expect("mentions is a JSON list");
    assert_eq!(mentions, vec![bob.id.clone()]);
}

#[tokio::test]
async fn edits_reactions_and_deletions_reach_members_in_order() {
    let server = Sandbox::start().await;
    let (alice, bob, _team_id, town_square) = alice_and_bob_in_a_team(&server).await;
    let mut bobs_socket = EventSocket::connect(&server, &bob.token).await;
    let post_id = id_of(&alice.post(&town_square, "release at 5").await);

    alice
        .api
        .put(
            &format!("/posts/{post_id}/patch"),
            json!({"message": "release at 6"}),
        )
        .await
        .expect_status(200);
    alice
        .api
        .post(
            "/reactions",
            json!({"user_id": alice.id, "post_id": post_id, "emoji_name": "rocket"}),
        )
        .await
        .expect_status(200);
    alice
        .api
        .delete(&format!("/users/me/posts/{post_id}/reactions/rocket"))
        .await
        .expect_status(200);
    alice
        .api
        .delete(&format!("/posts/{post_id}"))
        .await
        .expect_status(200);

    let events = bobs_socket.events_until("post_deleted", |_| true).await;
    // Only this post's events: bob's own status and his joining the team's channels (published
    // just before he connected) may be interleaved.
    let events: Vec<Value> = events
        .into_iter()
        .filter(|event| {
            [&event["data"]["post"], &event["data"]["reaction"]]
                .iter()
                .any(|payload| payload.as_str().is_some_and(|json| json.contains(&post_id)))
        })
        .collect();
    let names: Vec<&str> = events
        .iter()
        .map(|event| event["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "posted",
            "post_edited",
            "reaction_added",
            "reaction_removed",
            "post_deleted"
        ]
    );
    let find = |name: &str| {
        events
            .iter()
            .find(|event| event["event"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(post_of(&find("post_edited"))["message"], "release at 6");
    let reaction: Value =
        serde_json::from_str(find("reaction_added")["data"]["reaction"].as_str().unwrap())
            .expect("data.reaction is a JSON string");
    assert_eq!(reaction["emoji_name"], "rocket");
    assert_eq!(reaction["post_id"], post_id.as_str());
    let deleted = post_of(&find("post_deleted"));
    assert_eq!(deleted["id"], post_id.as_str());
    assert!(deleted["delete_at"].as_i64().unwrap() > 0);
    assert_eq!(
        deleted["message"], "",
        "a deleted post's text is not sent again"
    );
}

#[tokio::test]
async fn typing_reaches_the_others_in_the_channel_but_not_the_typer() {
    let server = Sandbox::start().await;
    let (alice, bob, _team_id, town_square) = alice_and_bob_in_a_team(&server).await;
    let mut alices_socket = EventSocket::connect(&server, &alice.token).await;
    let mut bobs_socket = EventSocket::connect(&server, &bob.token).await;

    let seq = alices_socket
        .send_action(
            "user_typing",
            json!({"channel_id": town_square, "parent_id": ""}),
        )
        .await;
    let reply = alices_socket.wait_for_reply(seq).await;
    assert_eq!(reply["status"], "OK", "{reply}");

    let typing = bobs_socket.wait_for("typing").await;
    assert_eq!(typing["data"]["user_id"], alice.id.as_str());
    assert_eq!(typing["broadcast"]["channel_id"], town_square.as_str());

    // Events of a channel arrive in order: once alice sees a later post in the channel, a
    // typing event for her would have arrived before it.
    bob.post(&town_square, "I see you typing").await;
    let alices_events = alices_socket.events_until("posted", |_| true).await;
    assert!(
        !alices_events.iter().any(|event| event["event"] == "typing"),
        "the typer must not receive their own typing event: {alices_events:?}"
    );

    // Typing in a channel one is not a member of is refused.
    let carol = server.signup("carol").await;
    let mut carols_socket = EventSocket::connect(&server, &carol.token).await;
    let seq = carols_socket
        .send_action("user_typing", json!({"channel_id": town_square}))
        .await;
    let reply = carols_socket.wait_for_reply(seq).await;
    assert_eq!(reply["status"], "FAIL", "{reply}");
}

#[tokio::test]
async fn status_changes_go_to_the_users_own_connections() {
    let server = Sandbox::start().await;
    let (alice, bob, _team_id, town_square) = alice_and_bob_in_a_team(&server).await;
    let mut bobs_socket = EventSocket::connect(&server, &bob.token).await;
    let mut alices_socket = EventSocket::connect(&server, &alice.token).await;

    let online = alices_socket.wait_for("status_change").await;
    assert_eq!(online["data"]["status"], "online");
    assert_eq!(online["data"]["user_id"], alice.id.as_str());

    let status = alice
        .api
        .put(
            "/users/me/status",
            json!({"user_id": alice.id, "status": "away"}),
        )
        .await
        .expect_status(200);
    assert_eq!(status["status"], "away");
    let away = alices_socket
        .wait_for_matching("status_change", |event| event["data"]["status"] == "away")
        .await;
    assert_eq!(away["data"]["user_id"], alice.id.as_str());

    // By now alice's status events have been handed out; a later post shows what bob got.
    alice.post(&town_square, "brb").await;
    let bobs_events = bobs_socket.events_until("posted", |_| true).await;
    assert!(
        !bobs_events
            .iter()
            .any(|event| event["event"] == "status_change"
                && event["data"]["user_id"] == alice.id.as_str()),
        "alice's status changes are not broadcast to bob: {bobs_events:?}"
    );
}

#[tokio::test]
async fn membership_changes_are_announced_to_those_concerned() {
    let server = Sandbox::start().await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    let mut alices_socket = EventSocket::connect(&server, &alice.token).await;
    let mut bobs_socket = EventSocket::connect(&server, &bob.token).await;

    let team_id = id_of(&alice.create_team("crew", "O").await);
    let added_to_team = alices_socket.wait_for("added_to_team").await;
    assert_eq!(added_to_team["data"]["team_id"], team_id.as_str());

    alice.add_to_team(&team_id, &bob.id).await;
    let bob_added_to_team = bobs_socket.wait_for("added_to_team").await;
    assert_eq!(bob_added_to_team["data"]["team_id"], team_id.as_str());
    assert_eq!(bob_added_to_team["data"]["user_id"], bob.id.as_str());

    let channel_id = id_of(&alice.create_channel(&team_id, "planning", "P").await);
    let created = alices_socket.wait_for("channel_created").await;
    assert_eq!(created["data"]["channel_id"], channel_id.as_str());
    assert_eq!(created["data"]["team_id"], team_id.as_str());

    alice.add_to_channel(&channel_id, &bob.id).await;
    for socket in [&mut alices_socket, &mut bobs_socket] {
        let user_added = socket
            .wait_for_matching("user_added", |event| {
                event["broadcast"]["channel_id"] == channel_id.as_str()
            })
            .await;
        assert_eq!(user_added["data"]["user_id"], bob.id.as_str());
    }

    let direct = alice
        .api
        .post("/channels/direct", json!([alice.id, bob.id]))
        .await
        .expect_status(201);
    for (socket, teammate) in [(&mut alices_socket, &bob.id), (&mut bobs_socket, &alice.id)] {
        let direct_added = socket.wait_for("direct_added").await;
        assert_eq!(direct_added["data"]["channel_id"], direct["id"]);
        assert_eq!(direct_added["data"]["teammate_id"], teammate.as_str());
    }
}

#[tokio::test]
async fn a_non_member_never_receives_a_private_channels_events() {
    let server = Sandbox::start().await;
    let (alice, bob, team_id, town_square) = alice_and_bob_in_a_team(&server).await;
    let carol = server.signup("carol").await;
    alice.add_to_team(&team_id, &carol.id).await;
    let private = id_of(&alice.create_channel(&team_id, "private-talk", "P").await);
    alice.add_to_channel(&private, &bob.id).await;
    let mut bobs_socket = EventSocket::connect(&server, &bob.token).await;
    let mut carols_socket = EventSocket::connect(&server, &carol.token).await;
    let mut alices_socket = EventSocket::connect(&server, &alice.token).await;

    let post_id = id_of(&alice.post(&private, "just between us @carol").await);
    alice
        .api
        .put(
            &format!("/posts/{post_id}/patch"),
            json!({"message": "just between us"}),
        )
        .await
        .expect_status(200);
    alice
        .api
        .post(
            "/reactions",
            json!({"user_id": alice.id, "post_id": post_id, "emoji_name": "lock"}),
        )
        .await
        .expect_status(200);
    let seq = alices_socket
        .send_action("user_typing", json!({"channel_id": private}))
        .await;
    alices_socket.wait_for_reply(seq).await;
    alice
        .api
        .delete(&format!("/posts/{post_id}"))
        .await
        .expect_status(200);
    // bob, a member, got them all (so they have been handed out to every recipient) …
    bobs_socket.wait_for("post_deleted").await;

    // … and carol, whose next event is the post in town-square, got none of them.
    let marker = id_of(&alice.post(&town_square, "meanwhile, in public").await);
    let mut carols_events = carols_socket
        .events_until("posted", |event| post_of(event)["id"] == marker.as_str())
        .await;
    carols_events.extend(
        carols_socket
            .events_within(Duration::from_millis(300))
            .await,
    );
    let leaked: Vec<&Value> = carols_events
        .iter()
        .filter(|event| concerns_channel(event, &private))
        .collect();
    assert!(
        leaked.is_empty(),
        "a non-member received a private channel's events: {leaked:?}"
    );
}

#[tokio::test]
async fn an_unauthenticated_socket_is_closed_after_a_few_seconds() {
    let server = Sandbox::start().await;
    let opened = Instant::now();
    let mut socket = open_raw(&server, None).await;
    let closed = wait_for_close(&mut socket, WAIT)
        .await
        .expect("an unauthenticated socket must be closed");
    let lived = opened.elapsed();
    assert!(
        lived >= Duration::from_secs(4) && lived <= Duration::from_secs(8),
        "closed after {lived:?}, expected about 5 s"
    );
    assert_eq!(closed.code(), Some(1008), "{closed:?}");
}

#[tokio::test]
async fn logout_closes_the_sockets_of_that_session_only() {
    let server = Sandbox::start().await;
    let (laptop, bob, _team_id, town_square) = alice_and_bob_in_a_team(&server).await;
    let phone = server.log_in_as("alice").await;
    let mut laptop_socket = EventSocket::connect(&server, &laptop.token).await;
    let mut phone_socket = EventSocket::connect(&server, &phone.token).await;

    laptop
        .api
        .post("/users/logout", json!({}))
        .await
        .expect_status(200);
    let closed = laptop_socket
        .wait_for_close(WAIT)
        .await
        .expect("logging out must close the session's socket");
    assert!(
        matches!(closed.code(), None | Some(1000)),
        "closed with {closed:?}"
    );

    bob.post(&town_square, "still there on your phone?").await;
    let posted = phone_socket.wait_for("posted").await;
    assert_eq!(post_of(&posted)["message"], "still there on your phone?");
}

//! Who receives what: Mattermost's broadcast rules over real connections.
//!
//! These servers run one dispatcher, so all events reach every connection in publish order and
//! an `end` event published last proves that nothing else is on its way.

use chorus_model::{event_names, Broadcast, WebSocketEvent};
use chorus_realtime::HubConfig;

use crate::support::{test_config, Client, TestServer};

async fn single_dispatcher_server() -> TestServer {
    TestServer::with_config(HubConfig {
        dispatch_shards: 1,
        ..test_config()
    })
    .await
}

fn named(name: &str, broadcast: Broadcast) -> WebSocketEvent {
    WebSocketEvent::new(event_names::POSTED, broadcast).with("name", name)
}

fn publish_end(server: &TestServer) {
    server.hub.publish(named("end", Broadcast::to_everyone()));
}

/// The names of the events a client receives up to `end`.
async fn names_until_end(client: &mut Client) -> Vec<String> {
    let mut names = Vec::new();
    loop {
        let event = client.next_json().await;
        let name = event["data"]["name"].as_str().unwrap().to_string();
        if name == "end" {
            return names;
        }
        names.push(name);
    }
}

#[tokio::test]
async fn events_go_to_the_user_else_channel_else_team_else_everyone() {
    let server = single_dispatcher_server().await;
    server
        .delegate
        .set_channel("town-square", &["alice", "bob", "dave"]);
    server.delegate.set_team("team", &["bob", "carol"]);
    let (mut alice, _) = server.connect_user("alice").await;
    let (mut bob, _) = server.connect_user("bob").await;
    let (mut carol, _) = server.connect_user("carol").await;

    server
        .hub
        .publish(named("to-alice", Broadcast::to_user("alice")));
    server
        .hub
        .publish(named("to-channel", Broadcast::to_channel("town-square")));
    server
        .hub
        .publish(named("to-team", Broadcast::to_team("team")));
    server
        .hub
        .publish(named("to-everyone", Broadcast::to_everyone()));
    server
        .hub
        .publish(named("to-unknown-channel", Broadcast::to_channel("gone")));
    let user_wins = Broadcast {
        channel_id: "town-square".into(),
        ..Broadcast::to_user("carol")
    };
    server.hub.publish(named("to-carol-not-channel", user_wins));
    publish_end(&server);

    assert_eq!(
        names_until_end(&mut alice).await,
        ["to-alice", "to-channel", "to-everyone"]
    );
    assert_eq!(
        names_until_end(&mut bob).await,
        ["to-channel", "to-team", "to-everyone"]
    );
    assert_eq!(
        names_until_end(&mut carol).await,
        ["to-team", "to-everyone", "to-carol-not-channel"]
    );
}

#[tokio::test]
async fn omitted_users_and_connections_are_skipped_and_connection_id_targets_one() {
    let server = single_dispatcher_server().await;
    server
        .delegate
        .set_channel("town-square", &["alice", "bob"]);
    let (mut alice_laptop, laptop_id) = server.connect_user("alice").await;
    let (mut alice_phone, phone_id) = server.connect_user("alice").await;
    let (mut bob, _) = server.connect_user("bob").await;

    let typing = Broadcast::to_channel("town-square").omitting("bob");
    server.hub.publish(named("bob-typing", typing));
    let not_laptop = Broadcast {
        omit_connection_id: laptop_id.clone(),
        ..Broadcast::to_user("alice")
    };
    server.hub.publish(named("not-laptop", not_laptop));
    let only_phone = Broadcast {
        connection_id: phone_id.clone(),
        ..Broadcast::to_everyone()
    };
    server.hub.publish(named("only-phone", only_phone));
    publish_end(&server);

    assert_eq!(names_until_end(&mut alice_laptop).await, ["bob-typing"]);
    assert_eq!(
        names_until_end(&mut alice_phone).await,
        ["bob-typing", "not-laptop", "only-phone"]
    );
    assert!(names_until_end(&mut bob).await.is_empty());
}

#[tokio::test]
async fn sanitized_copies_skip_admins_and_sensitive_copies_reach_only_admins() {
    let server = single_dispatcher_server().await;
    server.delegate.set_channel("town-square", &["root", "bob"]);
    let root_identity = server.delegate.add_admin_session("root");
    let (mut root, _) = server.connect(&root_identity).await;
    let (mut alice, _) = server.connect_user("alice").await;
    let (mut bob, _) = server.connect_user("bob").await;

    // The three copies of alice's `user_updated`, as the app publishes them.
    let admin_copy = Broadcast::to_everyone()
        .omitting("alice")
        .with_sensitive_data();
    server.hub.publish(named("admin-copy", admin_copy));
    let everyones_copy = Broadcast::to_everyone()
        .omitting("alice")
        .with_sanitized_data();
    server.hub.publish(named("sanitized-copy", everyones_copy));
    server
        .hub
        .publish(named("own-copy", Broadcast::to_user("alice")));
    // The flags hold whatever the audience: a channel, one user.
    server.hub.publish(named(
        "channel-sensitive",
        Broadcast::to_channel("town-square").with_sensitive_data(),
    ));
    server.hub.publish(named(
        "channel-sanitized",
        Broadcast::to_channel("town-square").with_sanitized_data(),
    ));
    server.hub.publish(named(
        "bob-sensitive",
        Broadcast::to_user("bob").with_sensitive_data(),
    ));
    server.hub.publish(named(
        "root-sanitized",
        Broadcast::to_user("root").with_sanitized_data(),
    ));
    // Both flags: a bug, and nobody gets it (as in Mattermost).
    server.hub.publish(named(
        "both-flags",
        Broadcast::to_everyone()
            .with_sanitized_data()
            .with_sensitive_data(),
    ));
    publish_end(&server);

    assert_eq!(
        names_until_end(&mut root).await,
        ["admin-copy", "channel-sensitive"]
    );
    assert_eq!(names_until_end(&mut alice).await, ["own-copy"]);
    assert_eq!(
        names_until_end(&mut bob).await,
        ["sanitized-copy", "channel-sanitized"]
    );
}

#[tokio::test]
async fn a_role_change_while_connected_switches_the_copy_a_connection_receives() {
    let server = single_dispatcher_server().await;
    let (mut bob, _) = server.connect_user("bob").await;
    let publish_both_copies = |suffix: &str| {
        server.hub.publish(named(
            &format!("admin-{suffix}"),
            Broadcast::to_everyone().with_sensitive_data(),
        ));
        server.hub.publish(named(
            &format!("sanitized-{suffix}"),
            Broadcast::to_everyone().with_sanitized_data(),
        ));
        publish_end(&server);
    };

    publish_both_copies("before");
    assert_eq!(names_until_end(&mut bob).await, ["sanitized-before"]);

    server.hub.set_system_admin("bob", true);
    publish_both_copies("promoted");
    assert_eq!(names_until_end(&mut bob).await, ["admin-promoted"]);

    server.hub.set_system_admin("bob", false);
    publish_both_copies("demoted");
    assert_eq!(names_until_end(&mut bob).await, ["sanitized-demoted"]);
}

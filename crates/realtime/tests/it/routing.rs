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

//! Counting connections, presence callbacks, closing sessions and users, draining the node.

use chorus_model::{event_names, Broadcast, WebSocketEvent};

use crate::support::{eventually, Presence, TestServer};

fn connected(user_id: &str) -> Presence {
    Presence::Connected(user_id.to_string())
}

fn disconnected(user_id: &str) -> Presence {
    Presence::Disconnected(user_id.to_string())
}

#[tokio::test]
async fn presence_is_reported_on_a_users_first_and_last_connection() {
    let server = TestServer::start().await;
    let (alice_laptop, _) = server.connect_user("alice").await;
    let (alice_phone, _) = server.connect_user("alice").await;
    let (_bob, _) = server.connect_user("bob").await;

    assert_eq!(server.hub.connection_count(), 3);
    assert_eq!(server.hub.user_connection_count("alice"), 2);
    assert_eq!(server.hub.user_connection_count("bob"), 1);
    assert_eq!(server.hub.user_connection_count("carol"), 0);
    assert_eq!(
        server.delegate.presence(),
        [connected("alice"), connected("bob")]
    );

    alice_laptop.close().await;
    eventually("alice has one connection", || {
        server.hub.user_connection_count("alice") == 1
    })
    .await;
    assert_eq!(
        server.delegate.presence(),
        [connected("alice"), connected("bob")]
    );

    alice_phone.close().await;
    eventually("alice is offline", || {
        server.hub.user_connection_count("alice") == 0
    })
    .await;
    assert_eq!(
        server.delegate.presence(),
        [connected("alice"), connected("bob"), disconnected("alice")]
    );
    assert_eq!(server.hub.connection_count(), 1);
}

#[tokio::test]
async fn close_session_closes_only_that_sessions_connections_and_close_user_the_rest() {
    let server = TestServer::start().await;
    let laptop_session = server.delegate.add_session("alice");
    let phone_session = server.delegate.add_session("alice");
    let (mut laptop_tab_one, _) = server.connect(&laptop_session).await;
    let (mut laptop_tab_two, _) = server.connect(&laptop_session).await;
    let (mut phone, _) = server.connect(&phone_session).await;

    server.hub.close_session(&laptop_session.session_id);
    assert_eq!(laptop_tab_one.closed().await.code, Some(1000));
    assert_eq!(laptop_tab_two.closed().await.code, Some(1000));
    assert_eq!(server.hub.user_connection_count("alice"), 1);

    server.hub.publish(WebSocketEvent::new(
        event_names::POSTED,
        Broadcast::to_user("alice"),
    ));
    assert_eq!(
        phone.next_json().await["seq"],
        1,
        "the other session is untouched"
    );

    server.hub.close_user("alice");
    assert_eq!(phone.closed().await.code, Some(1000));
    assert_eq!(server.hub.connection_count(), 0);
    assert_eq!(
        server.delegate.presence(),
        [connected("alice"), disconnected("alice")]
    );
}

#[tokio::test]
async fn shutdown_tells_every_client_to_go_away_and_refuses_new_connections() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.connect_user("alice").await;
    let (mut bob, _) = server.connect_user("bob").await;

    server.hub.shutdown();
    assert_eq!(alice.closed().await.code, Some(1001));
    assert_eq!(bob.closed().await.code, Some(1001));
    assert_eq!(server.hub.connection_count(), 0);

    let identity = server.delegate.add_session("carol");
    let mut late = server.open(Some(&identity.session_token), "").await;
    let closed = late.closed().await;
    assert_eq!(closed.code, Some(1001));
    assert!(closed.texts_before.is_empty(), "no hello while draining");
    assert_eq!(server.hub.connection_count(), 0);
}

//! Authentication (upgrade identity or challenge), `hello`, and what happens without them.

use std::time::Duration;

use chorus_model::{event_names, is_valid_id, Broadcast, WebSocketEvent};
use chorus_realtime::HubConfig;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::support::{millis_from_now, test_config, TestServer};

fn posted_to_everyone() -> WebSocketEvent {
    WebSocketEvent::new(event_names::POSTED, Broadcast::to_everyone())
}

#[tokio::test]
async fn upgrade_identity_gets_hello_with_seq_zero_then_events_from_one() {
    let server = TestServer::start().await;
    let identity = server.delegate.add_session("alice");
    let mut client = server.open(Some(&identity.session_token), "").await;

    let text = client.next_text().await;
    assert!(text.starts_with(r#"{"event":"hello","data":{"#), "{text}");
    assert!(text.ends_with(r#","seq":0}"#), "{text}");
    let hello: Value = serde_json::from_str(&text).unwrap();
    let connection_id = hello["data"]["connection_id"].as_str().unwrap();
    assert!(is_valid_id(connection_id), "{connection_id}");
    assert_eq!(
        hello["data"]["server_version"],
        test_config().server_version
    );
    assert_eq!(hello["data"]["server_hostname"], "node-a");
    assert_eq!(hello["broadcast"]["user_id"], "alice");

    server.hub.publish(posted_to_everyone());
    assert_eq!(client.next_json().await["seq"], 1);

    let (_second, second_hello) = server.connect(&identity).await;
    assert_ne!(
        second_hello["data"]["connection_id"], connection_id,
        "ids are per connection"
    );
}

#[tokio::test]
async fn challenge_gets_ok_reply_and_hello() {
    let server = TestServer::start().await;
    let identity = server.delegate.add_session("alice");
    let mut client = server.open_unauthenticated().await;
    client
        .send_request(
            "authentication_challenge",
            1,
            json!({ "token": identity.session_token }),
        )
        .await;

    let first = client.next_text().await;
    let second = client.next_text().await;
    let (reply, hello) = if first.contains("seq_reply") {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!(reply, r#"{"status":"OK","seq_reply":1}"#);
    let hello: Value = serde_json::from_str(&hello).unwrap();
    assert_eq!(hello["event"], "hello");
    assert_eq!(hello["seq"], 0);
    assert_eq!(hello["broadcast"]["user_id"], "alice");

    server.hub.publish(posted_to_everyone());
    assert_eq!(client.next_json().await["seq"], 1);
}

#[tokio::test]
async fn an_invalid_challenge_token_closes_the_socket() {
    let server = TestServer::start().await;
    let mut client = server.open_unauthenticated().await;
    client
        .send_request(
            "authentication_challenge",
            1,
            json!({ "token": "not-a-token" }),
        )
        .await;
    let closed = client.closed().await;
    assert_eq!(closed.code, Some(1008));
    assert!(closed.texts_before.is_empty(), "{:?}", closed.texts_before);
}

#[tokio::test]
async fn a_challenge_without_a_token_closes_the_socket() {
    let server = TestServer::start().await;
    let mut client = server.open_unauthenticated().await;
    client
        .send_request("authentication_challenge", 1, json!({}))
        .await;
    assert_eq!(client.closed().await.code, Some(1008));
}

#[tokio::test]
async fn an_unauthenticated_socket_gets_no_events_and_is_closed_after_the_timeout() {
    let timeout = Duration::from_millis(400);
    let server = TestServer::with_config(HubConfig {
        unauthenticated_timeout: timeout,
        ..test_config()
    })
    .await;
    let opened = Instant::now();
    let mut client = server.open_unauthenticated().await;
    server.hub.publish(posted_to_everyone());
    server.hub.publish(WebSocketEvent::new(
        event_names::CONFIG_CHANGED,
        Broadcast::to_everyone(),
    ));

    let closed = client.closed().await;
    assert_eq!(closed.code, Some(1008));
    assert!(closed.texts_before.is_empty(), "{:?}", closed.texts_before);
    assert!(
        opened.elapsed() >= timeout - Duration::from_millis(50),
        "{:?}",
        opened.elapsed()
    );
    assert_eq!(server.hub.connection_count(), 0);
}

#[tokio::test]
async fn actions_before_authentication_are_refused_then_the_challenge_still_works() {
    let server = TestServer::start().await;
    let identity = server.delegate.add_session("alice");
    let mut client = server.open_unauthenticated().await;

    client.send_request("ping", 1, json!({})).await;
    let refused = client.next_json().await;
    assert_eq!(refused["status"], "FAIL");
    assert_eq!(refused["seq_reply"], 1);
    assert_eq!(
        refused["error"]["id"],
        "api.web_socket_router.not_authenticated.app_error"
    );
    assert_eq!(refused["error"]["status_code"], 401);
    assert!(server.delegate.actions().is_empty());

    client
        .send_request(
            "authentication_challenge",
            2,
            json!({ "token": identity.session_token }),
        )
        .await;
    let mut replies = [client.next_json().await, client.next_json().await];
    replies.sort_by_key(|message| message.get("event").is_some());
    assert_eq!(replies[0], json!({ "status": "OK", "seq_reply": 2 }));
    assert_eq!(replies[1]["event"], "hello");
}

#[tokio::test]
async fn an_expired_session_is_closed_and_an_expiring_one_closed_when_it_expires() {
    let server = TestServer::start().await;
    let expired = server
        .delegate
        .add_session_expiring("alice", millis_from_now(-1_000));
    let mut client = server.open(Some(&expired.session_token), "").await;
    let closed = client.closed().await;
    assert_eq!(closed.code, Some(1008));
    assert!(
        closed.texts_before.is_empty(),
        "no hello for an expired session"
    );

    let expiring = server
        .delegate
        .add_session_expiring("bob", millis_from_now(1_500));
    let (mut client, _hello) = server.connect(&expiring).await;
    let closed = client.closed().await;
    assert_eq!(closed.code, Some(1008));
    assert_eq!(server.hub.user_connection_count("bob"), 0);
}

//! The envelope and numbering of events, and the answers to client actions.

use std::time::Duration;

use chorus_model::{event_names, Broadcast, WebSocketEvent};
use serde_json::{json, Value};

use crate::support::TestServer;

#[tokio::test]
async fn events_carry_consecutive_seq_in_publish_order_with_mattermosts_envelope() {
    let server = TestServer::start().await;
    server.delegate.set_channel("town-square", &["alice"]);
    let (mut client, _) = server.connect_user("alice").await;

    for n in 1..=200 {
        server.hub.publish(
            WebSocketEvent::new(event_names::POSTED, Broadcast::to_channel("town-square"))
                .with("post", format!(r#"{{"message":"{n}"}}"#))
                .with("n", n),
        );
    }
    for expected in 1..=200 {
        let text = client.next_text().await;
        assert!(
            text.starts_with(r#"{"event":"posted","data":{"post":"{\"message\":"#),
            "{text}"
        );
        assert!(
            text.ends_with(&format!(r#"}},"seq":{expected}}}"#)),
            "{text}"
        );
        let event: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(event["data"]["n"], expected);
        assert_eq!(
            event["broadcast"],
            json!({ "omit_users": null, "user_id": "", "channel_id": "town-square", "team_id": "" })
        );
    }
}

#[tokio::test]
async fn seq_has_no_gaps_across_channels_and_users() {
    let server = TestServer::start().await;
    for channel in ["a", "b", "c"] {
        server.delegate.set_channel(channel, &["alice"]);
    }
    let (mut client, _) = server.connect_user("alice").await;

    let mut published = 0;
    for round in 0..50 {
        for channel in ["a", "b", "c"] {
            server.hub.publish(
                WebSocketEvent::new(event_names::POSTED, Broadcast::to_channel(channel))
                    .with("round", round),
            );
            published += 1;
        }
        server.hub.publish(
            WebSocketEvent::new(event_names::USER_UPDATED, Broadcast::to_user("alice"))
                .with("round", round),
        );
        published += 1;
    }
    let mut last_round_per_source = std::collections::HashMap::new();
    for expected in 1..=published {
        let event = client.next_json().await;
        assert_eq!(event["seq"], expected);
        let source = format!("{}{}", event["event"], event["broadcast"]["channel_id"]);
        let round = event["data"]["round"].as_i64().unwrap();
        let previous = last_round_per_source.insert(source, round);
        assert!(
            previous.is_none_or(|previous| previous < round),
            "per-source order kept"
        );
    }
}

#[tokio::test]
async fn ping_gets_pong() {
    let server = TestServer::start().await;
    let (mut client, _) = server.connect_user("alice").await;
    client.send_request("ping", 5, json!({})).await;
    let pong = client.next_json().await;
    assert_eq!(pong["status"], "OK");
    assert_eq!(pong["seq_reply"], 5);
    assert_eq!(pong["data"]["text"], "pong");
    assert_eq!(pong["data"]["version"], chorus_model::SERVER_VERSION);
    assert_eq!(pong["data"]["node_id"], "");
    let server_time = pong["data"]["server_time"].as_i64().unwrap();
    assert!((server_time - chorus_model::now_millis()).abs() < 10_000);
    assert!(
        server.delegate.actions().is_empty(),
        "ping is answered by the hub"
    );
}

#[tokio::test]
async fn other_actions_go_to_the_delegate_and_are_answered_ok_or_fail() {
    let server = TestServer::start().await;
    let identity = server.delegate.add_session("alice");
    let (mut client, hello) = server.connect(&identity).await;

    client
        .send_request("user_typing", 2, json!({ "channel_id": "c" }))
        .await;
    assert_eq!(client.next_text().await, r#"{"status":"OK","seq_reply":2}"#);

    client.send_request("get_statuses", 3, json!({})).await;
    assert_eq!(
        client.next_json().await,
        json!({ "status": "OK", "seq_reply": 3, "data": { "alice": "online" } })
    );

    client.send_request("no_such_action", 4, json!({})).await;
    let failed = client.next_json().await;
    assert_eq!(failed["status"], "FAIL");
    assert_eq!(failed["seq_reply"], 4);
    assert_eq!(
        failed["error"]["id"],
        "api.web_socket_router.bad_action.app_error"
    );
    assert_eq!(failed["error"]["status_code"], 400);

    let actions = server.delegate.actions();
    assert_eq!(actions.len(), 3);
    let (seen_identity, connection_id, action) = &actions[0];
    assert_eq!(seen_identity, &identity);
    assert_eq!(
        connection_id,
        hello["data"]["connection_id"].as_str().unwrap()
    );
    assert_eq!(action, "user_typing");
}

#[tokio::test]
async fn requests_without_an_action_or_a_positive_seq_fail() {
    let server = TestServer::start().await;
    let (mut client, _) = server.connect_user("alice").await;

    client.send_request("ping", 0, json!({})).await;
    let bad_seq = client.next_json().await;
    assert_eq!(bad_seq["status"], "FAIL");
    assert_eq!(
        bad_seq["error"]["id"],
        "api.web_socket_router.bad_seq.app_error"
    );

    client.send_request("", 7, json!({})).await;
    let no_action = client.next_json().await;
    assert_eq!(no_action["seq_reply"], 7);
    assert_eq!(
        no_action["error"]["id"],
        "api.web_socket_router.no_action.app_error"
    );

    client.send_json(json!("not a request")).await;
    client.send_request("ping", 8, json!({})).await;
    assert_eq!(
        client.next_json().await["seq_reply"],
        8,
        "malformed frames are ignored"
    );
}

#[tokio::test]
async fn a_challenge_on_an_authenticated_connection_is_acknowledged() {
    let server = TestServer::start().await;
    let (mut client, _) = server.connect_user("alice").await;
    client
        .send_request(
            "authentication_challenge",
            1,
            json!({ "token": "whatever" }),
        )
        .await;
    assert_eq!(client.next_text().await, r#"{"status":"OK","seq_reply":1}"#);
}

#[tokio::test]
async fn events_keep_flowing_while_an_action_is_pending() {
    let server = TestServer::start().await;
    let (mut client, _) = server.connect_user("alice").await;
    client.send_request("slow_action", 1, json!({})).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.hub.publish(WebSocketEvent::new(
        event_names::POSTED,
        Broadcast::to_user("alice"),
    ));

    let event = client.next_json().await;
    assert_eq!(
        event["event"], "posted",
        "the event is not held up by the one-second action"
    );
    assert_eq!(event["seq"], 1);
    let reply = client.next_json().await;
    assert_eq!(
        reply,
        json!({ "status": "OK", "seq_reply": 1, "data": "done" })
    );
}

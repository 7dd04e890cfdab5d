//! Resuming a connection on the same node: `?connection_id=X&sequence_number=N`, where N is the
//! next `seq` the client expects.

use std::time::Duration;

use chorus_model::{event_names, Broadcast, WebSocketEvent};
use chorus_realtime::{ConnectionIdentity, HubConfig};
use serde_json::Value;

use crate::support::{eventually, test_config, Client, Presence, TestServer};

fn numbered(n: i64) -> WebSocketEvent {
    WebSocketEvent::new(event_names::POSTED, Broadcast::to_user("alice")).with("n", n)
}

fn resume_query(connection_id: &str, sequence_number: i64) -> String {
    format!("?connection_id={connection_id}&sequence_number={sequence_number}")
}

/// Reconnects a client of `identity` to `server`, resuming `connection_id`.
async fn resume(
    server: &TestServer,
    identity: &ConnectionIdentity,
    connection_id: &str,
    sequence_number: i64,
) -> Client {
    server
        .open(
            Some(&identity.session_token),
            &resume_query(connection_id, sequence_number),
        )
        .await
}

/// Reads `count` frames and returns their `(seq, data.n)`.
async fn read_numbered(client: &mut Client, count: usize) -> Vec<(i64, i64)> {
    let mut frames = Vec::new();
    for _ in 0..count {
        let frame = client.next_json().await;
        assert_eq!(frame["event"], "posted", "{frame}");
        frames.push((
            frame["seq"].as_i64().unwrap(),
            frame["data"]["n"].as_i64().unwrap(),
        ));
    }
    frames
}

async fn wait_until_parked(server: &TestServer, count: usize) {
    eventually("the connection is parked", || {
        server.hub.parked_connection_count() == count
    })
    .await;
}

#[tokio::test]
async fn a_client_resuming_on_the_same_node_gets_every_missed_frame_then_carries_on() {
    let server = TestServer::start().await;
    let identity = server.delegate.add_session("alice");
    let (mut client, hello) = server.connect(&identity).await;
    let connection_id = hello["data"]["connection_id"].as_str().unwrap().to_string();

    for n in 1..=5 {
        server.hub.publish(numbered(n));
    }
    // The client reads up to seq 4; seq 5 is on the wire when the network fails.
    assert_eq!(
        read_numbered(&mut client, 4).await,
        [(1, 1), (2, 2), (3, 3), (4, 4)]
    );
    client.vanish();
    wait_until_parked(&server, 1).await;
    assert_eq!(server.hub.user_connection_count("alice"), 0);

    // Published while nobody is connected.
    server.hub.publish(numbered(6));
    server.hub.publish(numbered(7));

    let mut resumed = resume(&server, &identity, &connection_id, 5).await;
    assert_eq!(
        read_numbered(&mut resumed, 3).await,
        [(5, 5), (6, 6), (7, 7)],
        "missed frames in order with their seq, and no hello"
    );
    server.hub.publish(numbered(8));
    // Only this connection gets an event aimed at its (unchanged) connection id.
    server.hub.publish(
        WebSocketEvent::new(
            event_names::POSTED,
            Broadcast {
                connection_id: connection_id.clone(),
                ..Broadcast::to_user("alice")
            },
        )
        .with("n", 9),
    );
    assert_eq!(read_numbered(&mut resumed, 2).await, [(8, 8), (9, 9)]);
    assert_eq!(server.hub.parked_connection_count(), 0);
    assert_eq!(server.hub.user_connection_count("alice"), 1);
    assert_eq!(
        server.delegate.presence(),
        [
            Presence::Connected("alice".into()),
            Presence::Disconnected("alice".into()),
            Presence::Connected("alice".into()),
        ]
    );
}

#[tokio::test]
async fn a_resume_while_the_old_socket_still_looks_open_takes_the_connection_over() {
    let server = TestServer::start().await;
    let identity = server.delegate.add_session("alice");
    let (mut old, hello) = server.connect(&identity).await;
    let connection_id = hello["data"]["connection_id"].as_str().unwrap().to_string();
    server.hub.publish(numbered(1));
    server.hub.publish(numbered(2));
    assert_eq!(read_numbered(&mut old, 1).await, [(1, 1)]);

    let mut resumed = resume(&server, &identity, &connection_id, 2).await;
    assert_eq!(read_numbered(&mut resumed, 1).await, [(2, 2)]);
    assert_eq!(old.closed().await.code, Some(1001));
    server.hub.publish(numbered(3));
    assert_eq!(read_numbered(&mut resumed, 1).await, [(3, 3)]);
    assert_eq!(server.hub.connection_count(), 1);
}

#[tokio::test]
async fn a_connection_closed_for_a_full_queue_is_resumed_without_losing_an_event() {
    let server = TestServer::with_config(HubConfig {
        send_queue_size: 8,
        ..test_config()
    })
    .await;
    let identity = server.delegate.add_session("alice");
    let (sleeper, hello) = server.connect(&identity).await;
    let connection_id = hello["data"]["connection_id"].as_str().unwrap().to_string();

    // The client reads nothing: socket buffers fill, then the queue, and the hub closes it.
    let payload = "x".repeat(256 * 1024);
    let mut published: i64 = 0;
    while server.hub.parked_connection_count() == 0 {
        assert!(published < 500, "the sleeper was never disconnected");
        published += 1;
        server
            .hub
            .publish(numbered(published).with("payload", payload.as_str()));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // More after the close.
    for _ in 0..3 {
        published += 1;
        server
            .hub
            .publish(numbered(published).with("payload", payload.as_str()));
    }
    sleeper.vanish();

    let mut resumed = resume(&server, &identity, &connection_id, 1).await;
    let expected: Vec<(i64, i64)> = (1..=published).map(|n| (n, n)).collect();
    assert_eq!(
        read_numbered(&mut resumed, published as usize).await,
        expected
    );
}

#[tokio::test]
async fn a_resume_that_cannot_be_served_whole_gets_a_fresh_connection_and_hello() {
    let server = TestServer::with_config(HubConfig {
        resume_retention: Duration::from_millis(300),
        ..test_config()
    })
    .await;
    let identity = server.delegate.add_session("alice");

    // Ahead of what was sent.
    let (first, hello) = server.connect(&identity).await;
    let old_connection_id = hello["data"]["connection_id"].as_str().unwrap().to_string();
    first.close().await;
    wait_until_parked(&server, 1).await;
    let mut again = resume(&server, &identity, &old_connection_id, 3).await;
    let hello = again.next_json().await;
    assert_eq!(hello["event"], "hello");
    assert_eq!(hello["seq"], 0);
    assert_ne!(hello["data"]["connection_id"], old_connection_id.as_str());
    assert_eq!(
        server.hub.parked_connection_count(),
        0,
        "the lost one is gone"
    );
    assert_eq!(server.hub.user_connection_count("alice"), 1);
    assert_eq!(
        server.delegate.presence(),
        [
            Presence::Connected("alice".into()),
            Presence::Disconnected("alice".into()),
            Presence::Connected("alice".into()),
        ],
        "no flapping while the resume turns into a fresh connection"
    );
    let new_connection_id = hello["data"]["connection_id"].as_str().unwrap().to_string();

    // Unknown, or another session's.
    for query in [
        resume_query("nosuchconnection", 9),
        resume_query(&new_connection_id, 1),
    ] {
        let other_session = server.delegate.add_session("alice");
        let mut unknown = server
            .open(Some(&other_session.session_token), &query)
            .await;
        let hello: Value = unknown.next_json().await;
        assert_eq!(hello["event"], "hello", "{query}");
        assert_ne!(hello["data"]["connection_id"], new_connection_id.as_str());
    }

    // Parked for longer than the retention.
    again.vanish();
    wait_until_parked(&server, 1).await;
    wait_until_parked(&server, 0).await;
    let mut late = resume(&server, &identity, &new_connection_id, 1).await;
    let hello = late.next_json().await;
    assert_eq!(hello["event"], "hello");
    assert_ne!(hello["data"]["connection_id"], new_connection_id.as_str());
}

#[tokio::test]
async fn a_client_resuming_on_another_node_gets_the_old_nodes_frames_and_queue_once() {
    let old_node = TestServer::start().await;
    let new_node = TestServer::start().await;
    new_node
        .delegate
        .set_peer(&old_node.hub, Duration::from_millis(300));
    let identity = old_node.delegate.add_session("alice");
    new_node.delegate.add_identity(&identity);
    // What the cluster does: every event reaches every node.
    let publish_everywhere = |n: i64| {
        old_node.hub.publish(numbered(n));
        new_node.hub.publish(numbered(n));
    };

    let (mut client, hello) = old_node.connect(&identity).await;
    let connection_id = hello["data"]["connection_id"].as_str().unwrap().to_string();
    for n in 1..=3 {
        publish_everywhere(n);
    }
    assert_eq!(read_numbered(&mut client, 2).await, [(1, 1), (2, 2)]);
    client.vanish();
    wait_until_parked(&old_node, 1).await;
    publish_everywhere(4);

    let query = resume_query(&connection_id, 3);
    let resuming = new_node.open(Some(&identity.session_token), &query);
    let (mut resumed, ()) = tokio::join!(resuming, async {
        // Registered on the new node while the old one still holds it: both receive these.
        eventually("the new node holds the connection", || {
            new_node.hub.user_connection_count("alice") == 1
        })
        .await;
        for n in 5..=8 {
            publish_everywhere(n);
        }
    });
    let expected: Vec<(i64, i64)> = (3..=8).map(|n| (n, n)).collect();
    assert_eq!(read_numbered(&mut resumed, expected.len()).await, expected);
    publish_everywhere(9);
    assert_eq!(
        read_numbered(&mut resumed, 1).await,
        [(9, 9)],
        "nothing twice in between"
    );
    assert_eq!(
        old_node.hub.parked_connection_count(),
        0,
        "the old node let it go"
    );
    assert_eq!(old_node.hub.user_connection_count("alice"), 0);
    assert_eq!(new_node.hub.user_connection_count("alice"), 1);
}

#[tokio::test]
async fn clients_of_a_draining_node_resume_on_another_node_without_loss() {
    let draining = TestServer::start().await;
    let other = TestServer::start().await;
    other.delegate.set_peer(&draining.hub, Duration::ZERO);
    let identity = draining.delegate.add_session("alice");
    other.delegate.add_identity(&identity);

    let (mut client, hello) = draining.connect(&identity).await;
    let connection_id = hello["data"]["connection_id"].as_str().unwrap().to_string();
    draining.hub.publish(numbered(1));
    assert_eq!(read_numbered(&mut client, 1).await, [(1, 1)]);

    draining.hub.shutdown();
    assert_eq!(client.closed().await.code, Some(1001));
    draining.hub.publish(numbered(2));

    let mut resumed = resume(&other, &identity, &connection_id, 2).await;
    assert_eq!(read_numbered(&mut resumed, 1).await, [(2, 2)]);
    other.hub.publish(numbered(3));
    assert_eq!(read_numbered(&mut resumed, 1).await, [(3, 3)]);
}

/// Two clustered nodes (checkpoints on, so the new one keeps what it dispatched lately) where
/// the new node knows the old one's checkpoints, as the app's checkpoint book does; alice,
/// connected to the old node, has read posts 1 and 2, published on both nodes.
async fn alice_on_the_old_node() -> (TestServer, TestServer, ConnectionIdentity, Client, String) {
    let clustered = HubConfig {
        checkpoint_interval: Some(Duration::from_millis(2)),
        ..test_config()
    };
    let old_node = TestServer::with_config(clustered.clone()).await;
    let new_node = TestServer::with_config(clustered).await;
    new_node.delegate.set_peer(&old_node.hub, Duration::ZERO);
    new_node.delegate.set_peer_checkpoints(&old_node.delegate);
    let identity = old_node.delegate.add_session("alice");
    new_node.delegate.add_identity(&identity);
    let (mut client, hello) = old_node.connect(&identity).await;
    let connection_id = hello["data"]["connection_id"].as_str().unwrap().to_string();
    for n in 1..=2 {
        old_node.hub.publish(post(n));
        new_node.hub.publish(post(n));
    }
    assert_eq!(read_numbered(&mut client, 2).await, [(1, 1), (2, 2)]);
    (old_node, new_node, identity, client, connection_id)
}

/// Post `n` to alice, announcing a stored change made just now, with `data.n` = n.
fn post(n: i64) -> WebSocketEvent {
    let post =
        serde_json::json!({"id": format!("p{n}"), "create_at": chorus_model::now_millis() + n});
    WebSocketEvent::new(event_names::POSTED, Broadcast::to_user("alice"))
        .with("post", post.to_string())
        .with("n", n)
}

#[tokio::test]
async fn an_event_the_new_node_dispatched_before_the_resume_and_the_old_node_after_the_hand_over_is_not_lost(
) {
    let (old_node, new_node, identity, client, connection_id) = alice_on_the_old_node().await;
    client.vanish();
    wait_until_parked(&old_node, 1).await;
    // Post 3 reaches the new node before the client resumes there, and the old node only once
    // it has handed the connection over (it was waiting for the post before it, say).
    new_node.hub.publish(post(3));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut resumed = resume(&new_node, &identity, &connection_id, 3).await;
    wait_until_parked(&old_node, 0).await;
    old_node.hub.publish(post(3));
    assert_eq!(
        read_numbered(&mut resumed, 1).await,
        [(3, 3)],
        "the post neither node queued for the connection"
    );
    old_node.hub.publish(post(4));
    new_node.hub.publish(post(4));
    assert_eq!(read_numbered(&mut resumed, 1).await, [(4, 4)]);
}

#[tokio::test]
async fn an_event_the_new_node_dispatches_late_is_not_sent_again_to_a_client_that_has_it() {
    let (old_node, new_node, identity, mut client, connection_id) = alice_on_the_old_node().await;
    // Post 3 reaches the client through the old node; the new node gets it only after the
    // client resumed there (it was waiting for the post before it, say).
    old_node.hub.publish(post(3));
    assert_eq!(read_numbered(&mut client, 1).await, [(3, 3)]);
    client.vanish();
    wait_until_parked(&old_node, 1).await;
    let mut resumed = resume(&new_node, &identity, &connection_id, 4).await;
    wait_until_parked(&old_node, 0).await;
    new_node.hub.publish(post(3));
    old_node.hub.publish(post(4));
    new_node.hub.publish(post(4));
    assert_eq!(
        read_numbered(&mut resumed, 1).await,
        [(4, 4)],
        "post 3 once, and nothing in between"
    );
}

#[tokio::test]
async fn a_resume_attempt_from_before_what_the_client_acknowledged_does_not_take_over() {
    let server = TestServer::start().await;
    let identity = server.delegate.add_session("alice");
    let (mut client, hello) = server.connect(&identity).await;
    let connection_id = hello["data"]["connection_id"].as_str().unwrap().to_string();
    for n in 1..=3 {
        server.hub.publish(numbered(n));
    }
    assert_eq!(
        read_numbered(&mut client, 3).await,
        [(1, 1), (2, 2), (3, 3)]
    );
    client.vanish();
    wait_until_parked(&server, 1).await;

    // The client resumes and reads on, answering the ping sent after the missed frames.
    server.hub.publish(numbered(4));
    let mut resumed = resume(&server, &identity, &connection_id, 4).await;
    assert_eq!(read_numbered(&mut resumed, 1).await, [(4, 4)]);
    server.hub.publish(numbered(5));
    assert_eq!(read_numbered(&mut resumed, 1).await, [(5, 5)]);
    tokio::time::sleep(Duration::from_millis(100)).await;

    // An attempt of the same client from earlier (given up on during a reconnect storm, then
    // admitted late) would replay frames the client holds: it gets a fresh connection.
    let mut stale = resume(&server, &identity, &connection_id, 1).await;
    let first = stale.next_json().await;
    assert_eq!(first["event"], "hello", "{first}");
    assert_ne!(first["data"]["connection_id"], connection_id.as_str());

    server.hub.publish(numbered(6));
    assert_eq!(
        read_numbered(&mut resumed, 1).await,
        [(6, 6)],
        "the resumed connection carries on"
    );
}

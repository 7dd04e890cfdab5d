//! A slow client never stalls the others.

use chorus_model::{event_names, Broadcast, WebSocketEvent};
use chorus_realtime::HubConfig;

use crate::support::{eventually, test_config, Presence, TestServer};

#[tokio::test]
async fn a_client_that_never_reads_is_disconnected_while_a_reader_gets_every_event_in_order() {
    let server = TestServer::with_config(HubConfig {
        send_queue_size: 16,
        ..test_config()
    })
    .await;
    let (mut reader, _) = server.connect_user("reader").await;
    let (mut sleeper, _) = server.connect_user("sleeper").await;

    // Big events fill the sleeper's socket buffers quickly; then its queue fills and the hub
    // must give up on it. The reader reads each batch before the next is published, as a
    // healthy client keeps up with a realistic event rate.
    let payload = "x".repeat(32 * 1024);
    let batch = 8;
    let mut published: i64 = 0;
    while server.hub.user_connection_count("sleeper") > 0 {
        assert!(published < 4_000, "the sleeper was never disconnected");
        for _ in 0..batch {
            published += 1;
            server.hub.publish(
                WebSocketEvent::new(event_names::POSTED, Broadcast::to_everyone())
                    .with("n", published)
                    .with("payload", payload.as_str()),
            );
        }
        for expected in published - batch + 1..=published {
            let event = reader.next_json().await;
            assert_eq!(event["seq"], expected);
            assert_eq!(event["data"]["n"], expected);
        }
    }

    // The reader is unaffected and keeps receiving.
    server.hub.publish(WebSocketEvent::new(
        event_names::POSTED,
        Broadcast::to_everyone(),
    ));
    assert_eq!(reader.next_json().await["seq"], published + 1);
    assert_eq!(server.hub.connection_count(), 1);
    eventually("the sleeper is reported offline", || {
        server
            .delegate
            .presence()
            .contains(&Presence::Disconnected("sleeper".into()))
    })
    .await;

    // The sleeper finds a gap-free prefix of the events, then the end of the connection.
    let closed = sleeper.closed().await;
    assert!(!closed.texts_before.is_empty());
    assert!((closed.texts_before.len() as i64) < published);
    for (index, text) in closed.texts_before.iter().enumerate() {
        let event: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(event["seq"], index as i64 + 1);
    }
}

//! Server pings, client pings, and silent clients.

use std::time::Duration;

use chorus_realtime::HubConfig;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{eventually, test_config, TestServer};

fn fast_ping_config() -> HubConfig {
    HubConfig {
        ping_interval: Duration::from_millis(100),
        pong_timeout: Duration::from_millis(1_000),
        ..test_config()
    }
}

#[tokio::test]
async fn the_server_pings_and_a_client_that_answers_stays_connected() {
    let server = TestServer::with_config(fast_ping_config()).await;
    let (mut client, _) = server.connect_user("alice").await;

    // Reading lets tungstenite answer each ping with a pong.
    let mut pings = 0;
    let until = Instant::now() + Duration::from_millis(2_500);
    while Instant::now() < until {
        if let Some(Message::Ping(_)) = client.next_message().await {
            pings += 1;
        }
    }
    assert!(
        pings >= 5,
        "only {pings} pings in 1.2 s at a 100 ms interval"
    );
    assert_eq!(
        server.hub.user_connection_count("alice"),
        1,
        "two pong timeouts passed"
    );
}

#[tokio::test]
async fn a_client_that_stops_answering_is_closed_after_the_pong_timeout() {
    let server = TestServer::with_config(fast_ping_config()).await;
    let (mut client, _) = server.connect_user("alice").await;
    let silent_since = Instant::now();

    eventually("the silent client is dropped", || {
        server.hub.user_connection_count("alice") == 0
    })
    .await;
    assert!(
        silent_since.elapsed() >= Duration::from_millis(950),
        "{:?}",
        silent_since.elapsed()
    );

    let closed = client.closed().await;
    assert_eq!(closed.code, Some(1001));
}

#[tokio::test]
async fn client_pings_get_pongs() {
    let server = TestServer::start().await;
    let (mut client, _) = server.connect_user("alice").await;
    client
        .send(Message::Ping(b"are you there".to_vec().into()))
        .await;
    loop {
        match client.next_message().await {
            Some(Message::Pong(payload)) => {
                assert_eq!(&payload[..], b"are you there");
                break;
            }
            Some(Message::Ping(_)) => continue,
            other => panic!("expected a pong, got {other:?}"),
        }
    }
}

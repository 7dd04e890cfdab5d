//! The HTTP server's limits as a client meets them: ServiceSettings ReadTimeout closes a socket
//! that sends half its headers or nothing, IdleTimeout closes an idle keep-alive connection,
//! MaxConnectionsPerNode holds the next connection (with a log line) until one closes, and
//! neither normal requests nor an idle websocket are cut by any of them.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use chorus_testkit::client::id_of;
use chorus_testkit::socket::{post_of, EventSocket};
use chorus_testkit::{Endpoint, Sandbox};

const PING: &[u8] = b"GET /api/v4/system/ping HTTP/1.1\r\nHost: chorus\r\n\r\n";

/// A node serving with these ServiceSettings timeouts (seconds).
async fn node_with_timeouts(read: i64, idle: i64) -> Sandbox {
    Sandbox::builder()
        .configure(move |config| {
            config.service_settings.read_timeout = read;
            config.service_settings.idle_timeout = idle;
        })
        .start()
        .await
}

/// Reads until the server closes the connection (or resets it); how long that took, or None
/// if it was still open after `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    loop {
        let left = within.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
        }
    }
}

/// Reads one whole `ping` response (headers and Content-Length body) off a keep-alive
/// connection; its text.
async fn read_response(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let text = String::from_utf8_lossy(&received).to_string();
        if let Some(header_end) = text.find("\r\n\r\n") {
            let length = text[..header_end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if received.len() >= header_end + 4 + length {
                return Some(text);
            }
        }
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
            Ok(Ok(read)) => received.extend_from_slice(&buffer[..read]),
        }
    }
}

#[tokio::test]
async fn a_socket_sending_half_its_headers_or_nothing_is_closed_after_read_timeout() {
    let server = node_with_timeouts(1, 60).await;
    let address = server.node(0).address();

    let mut half_headers = TcpStream::connect(address).await.unwrap();
    half_headers
        .write_all(b"GET /api/v4/system/ping HTTP/1.1\r\nHost: chorus\r\nX-Slow: ")
        .await
        .unwrap();
    let mut silent = TcpStream::connect(address).await.unwrap();

    for (what, stream) in [
        ("half the headers", &mut half_headers),
        ("nothing", &mut silent),
    ] {
        let closed_after = closed_within(stream, Duration::from_secs(5)).await;
        assert!(
            closed_after.is_some(),
            "a socket that sent {what} was still open 5 s later (ReadTimeout 1 s)"
        );
    }

    // A client that sends its request at once is served as before.
    let mut prompt = TcpStream::connect(address).await.unwrap();
    prompt.write_all(PING).await.unwrap();
    let response = read_response(&mut prompt, Duration::from_secs(5))
        .await
        .expect("a response to ping");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_idle_timeout() {
    let server = node_with_timeouts(30, 1).await;
    let mut stream = TcpStream::connect(server.node(0).address()).await.unwrap();

    // Two requests on the connection, the second after half the IdleTimeout: kept alive.
    stream.write_all(PING).await.unwrap();
    let first = read_response(&mut stream, Duration::from_secs(5)).await;
    assert!(first.is_some_and(|response| response.starts_with("HTTP/1.1 200")));
    tokio::time::sleep(Duration::from_millis(500)).await;
    stream.write_all(PING).await.unwrap();
    let second = read_response(&mut stream, Duration::from_secs(5)).await;
    assert!(
        second.is_some_and(|response| response.starts_with("HTTP/1.1 200")),
        "a connection idle for half the IdleTimeout was not kept alive"
    );

    // Then idle: closed soon after IdleTimeout, long before ReadTimeout.
    let closed_after = closed_within(&mut stream, Duration::from_secs(10)).await;
    let closed_after = closed_after.expect("an idle keep-alive connection still open after 10 s");
    assert!(
        closed_after >= Duration::from_millis(900),
        "closed after {closed_after:?}, before IdleTimeout (1 s)"
    );
}

#[tokio::test]
async fn requests_and_a_websocket_idle_longer_than_the_timeouts_keep_working() {
    let server = node_with_timeouts(1, 1).await;
    let alice = server.signup("alice").await;
    let team_id = id_of(&alice.create_team("timeouts", "O").await);
    let town_square = id_of(&alice.channel_by_name(&team_id, "town-square").await);
    let mut socket = EventSocket::connect(&server, &alice.token).await;

    // Idle for three times IdleTimeout and ReadTimeout: the websocket is still there.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let posted = alice.post(&town_square, "still here").await;
    let event = socket
        .wait_for_matching("posted", |event| post_of(event)["id"] == posted["id"])
        .await;
    assert_eq!(post_of(&event)["message"], "still here");

    // And REST keeps working, on new connections and on the client's kept-alive ones.
    for _ in 0..3 {
        let me: Value = alice.api.get("/users/me").await.expect_status(200);
        assert_eq!(me["id"], alice.id.as_str());
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
}

#[tokio::test]
async fn the_connection_cap_holds_the_next_connection_and_says_so_in_the_log() {
    let server = Sandbox::builder()
        .processes(env!("CARGO_BIN_EXE_chorus"))
        .configure(|config| {
            config.service_settings.max_connections_per_node = 2;
            config.service_settings.idle_timeout = 1;
            config.log_settings.console_level = "INFO".to_string();
        })
        .start()
        .await;
    let node = server.node(0);
    // The sandbox's own kept-alive connections close after IdleTimeout.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Two connections with a request each in the works (headers not finished): the cap.
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(node.address()).await.unwrap();
        stream
            .write_all(b"GET /api/v4/system/ping HTTP/1.1\r\n")
            .await
            .unwrap();
        holders.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut third = TcpStream::connect(node.address()).await.unwrap();
    third.write_all(PING).await.unwrap();
    assert!(
        read_response(&mut third, Duration::from_secs(2))
            .await
            .is_none(),
        "the third connection was served although MaxConnectionsPerNode is 2"
    );
    assert!(
        node.log().contains("connection cap reached"),
        "no log line about the cap: {}",
        node.log_tail(20)
    );

    // One of the two closes: the third is served, and the node is fine.
    drop(holders.remove(0));
    let response = read_response(&mut third, Duration::from_secs(5))
        .await
        .expect("the held connection served once another closed");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    node.check_alive().unwrap();
}

//! Checkpoints: a clustered hub tells the delegate what it is about to send, before it sends.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chorus_model::{event_names, Broadcast, WebSocketEvent};
use chorus_realtime::HubConfig;
use serde_json::json;

use crate::support::{test_config, TestServer};

fn checkpointing_config() -> HubConfig {
    HubConfig {
        checkpoint_interval: Some(Duration::from_millis(2)),
        ..test_config()
    }
}

fn posted(channel_id: &str, post_id: &str, create_at: i64) -> WebSocketEvent {
    let post = json!({"id": post_id, "channel_id": channel_id, "create_at": create_at});
    WebSocketEvent::new(event_names::POSTED, Broadcast::to_channel(channel_id))
        .with("post", post.to_string())
}

#[tokio::test]
async fn every_frame_is_checkpointed_before_the_client_gets_it() {
    let server = TestServer::with_config(checkpointing_config()).await;
    server.delegate.set_channel("c1", &["alice"]);
    let (mut alice, connection_id) = server.connect_user("alice").await;
    for n in 1..=20 {
        server
            .hub
            .publish(posted("c1", &format!("p{n}"), 1_000 + n));
        let frame = alice.next_json().await;
        let seq = frame["seq"].as_i64().unwrap();
        let checkpoints = server.delegate.checkpoints();
        let announced = checkpoints.iter().any(|checkpoint| {
            checkpoint.connection_id == connection_id
                && checkpoint.changes.iter().any(|(checkpointed_seq, change)| {
                    *checkpointed_seq == seq && change.key == format!("posted:p{n}")
                })
        });
        assert!(
            announced,
            "frame {seq} checkpointed before it arrived: {checkpoints:?}"
        );
    }
    let first = &server.delegate.checkpoints()[0];
    assert_eq!(first.first_seq, 0, "the hello starts the record");
    assert_eq!(
        first.unrebuildable_seqs,
        vec![0],
        "a hello cannot be rebuilt"
    );
}

#[tokio::test]
async fn a_connection_that_ends_for_good_is_checkpointed_as_gone() {
    let server = TestServer::with_config(checkpointing_config()).await;
    let identity = server.delegate.add_session("alice");
    let (alice, hello) = server.connect(&identity).await;
    let connection_id = hello["data"]["connection_id"].as_str().unwrap().to_string();
    drop(alice);
    server.hub.close_session(&identity.session_id);
    crate::support::eventually("the connection is checkpointed as gone", || {
        server
            .delegate
            .checkpoints()
            .iter()
            .any(|checkpoint| checkpoint.connection_id == connection_id && checkpoint.gone)
    })
    .await;
}

#[tokio::test]
async fn a_busy_client_that_answers_pings_moves_its_horizon_up() {
    let server = TestServer::with_config(HubConfig {
        change_delivery_bound: Duration::ZERO,
        ..checkpointing_config()
    })
    .await;
    server.delegate.set_channel("c1", &["alice"]);
    let (mut alice, connection_id) = server.connect_user("alice").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let before_posts = chorus_model::now_millis();
    // Enough frames for the hub to ask, with a ping, what the client holds. The client's
    // library answers the ping the next time it reads.
    // Frames 65 to 75 are written after the ping, before its answer.
    for n in 1..=75 {
        server
            .hub
            .publish(posted("c1", &format!("p{n}"), before_posts));
    }
    for _ in 1..=75 {
        alice.next_json().await;
    }
    server.hub.publish(posted("c1", "last", before_posts));
    alice.next_json().await;
    let after_the_answer = || {
        server
            .delegate
            .checkpoints()
            .into_iter()
            .filter(|checkpoint| {
                checkpoint.connection_id == connection_id && checkpoint.horizon >= before_posts
            })
            .collect::<Vec<_>>()
    };
    crate::support::eventually("the answered ping moves the horizon", || {
        !after_the_answer().is_empty()
    })
    .await;
    for checkpoint in after_the_answer() {
        assert!(
            checkpoint.first_seq >= 76,
            "the peers must not forget frames written before the answer: {checkpoint:?}"
        );
    }
}

/// Events a benchmark publisher lets each socket have outstanding.
const IN_FLIGHT: i64 = 50;

/// Prints posted events/s through one hub to 100 sockets, without and with checkpoints:
/// `cargo test --release -p chorus-realtime --test it checkpoint_overhead -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: prints figures"]
async fn checkpoint_overhead() {
    for (label, config) in [
        ("without checkpoints", test_config()),
        ("with checkpoints   ", checkpointing_config()),
    ] {
        let server = TestServer::with_config(config).await;
        let members: Vec<String> = (0..100).map(|n| format!("user{n}")).collect();
        let member_refs: Vec<&str> = members.iter().map(String::as_str).collect();
        server.delegate.set_channel("c1", &member_refs);
        let mut clients = Vec::new();
        for member in &members {
            clients.push(server.connect_user(member).await.0);
        }
        let events: i64 = 2_000;
        let received = Arc::new(AtomicI64::new(0));
        let started = Instant::now();
        let readers: Vec<_> = clients
            .into_iter()
            .map(|mut client| {
                let received = Arc::clone(&received);
                tokio::spawn(async move {
                    for _ in 0..events {
                        client.next_json().await;
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for n in 0..events {
            // Closed loop: at most about 50 events in flight per socket, under the queue limit.
            while received.load(Ordering::Relaxed) < (n - IN_FLIGHT) * 100 {
                tokio::task::yield_now().await;
            }
            server
                .hub
                .publish(posted("c1", &format!("p{n}"), 1_000 + n));
        }
        for reader in readers {
            reader.await.unwrap();
        }
        let elapsed = started.elapsed();
        println!(
            "{label}: {events} posted events to 100 sockets in {:.0} ms = {:.0} events/s ({:.0} frames/s)",
            elapsed.as_secs_f64() * 1000.0,
            events as f64 / elapsed.as_secs_f64(),
            events as f64 * 100.0 / elapsed.as_secs_f64()
        );
    }
}

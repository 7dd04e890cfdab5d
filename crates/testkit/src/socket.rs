//! The test websocket client for `/api/v4/websocket`; it checks the contract on every frame.
//!
//! [`EventSocket`] authenticates (by header or `authentication_challenge`), reads `hello`, and
//! from then on asserts that events carry `seq` 1, 2, 3… with no gap or repeat. Replies to
//! actions (`seq_reply`) are kept apart from events, so a test can wait for either without
//! losing the other.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::client::WAIT;
use crate::sandbox::Endpoint;

pub type RawSocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a websocket, optionally with `Authorization: Bearer <token>` on the upgrade.
pub async fn open_raw(server: &impl Endpoint, bearer_token: Option<&str>) -> RawSocket {
    open_raw_url(&server.websocket_url(), bearer_token).await
}

/// Like [`open_raw`], for any node's websocket URL (`ws://host:port/api/v4/websocket`).
pub async fn open_raw_url(url: &str, bearer_token: Option<&str>) -> RawSocket {
    let mut request = url.into_client_request().expect("a websocket request");
    if let Some(token) = bearer_token {
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("a header value"),
        );
    }
    let (socket, _response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket upgrade");
    socket
}

/// How a socket ended, as the client saw it.
#[derive(Debug)]
pub enum Closed {
    /// A close frame (code, reason), or none.
    Frame(Option<CloseFrame>),
    /// The connection just ended.
    Dropped,
}

impl Closed {
    pub fn code(&self) -> Option<u16> {
        match self {
            Closed::Frame(Some(frame)) => Some(frame.code.into()),
            _ => None,
        }
    }
}

/// Waits up to `within` for the server to end the socket, ignoring other frames.
/// None if it is still open.
pub async fn wait_for_close(socket: &mut RawSocket, within: Duration) -> Option<Closed> {
    let deadline = Instant::now() + within;
    loop {
        match timeout_at(deadline, socket.next()).await {
            Err(_elapsed) => return None,
            Ok(None) | Ok(Some(Err(_))) => return Some(Closed::Dropped),
            Ok(Some(Ok(Message::Close(frame)))) => return Some(Closed::Frame(frame)),
            Ok(Some(Ok(_))) => continue,
        }
    }
}

/// An authenticated websocket and everything it has received.
pub struct EventSocket {
    socket: RawSocket,
    pub hello: Value,
    last_seq: i64,
    next_action_seq: i64,
    /// Events received but not yet taken by a `wait_for*`.
    unread_events: VecDeque<Value>,
    /// Replies to actions, by arrival.
    replies: VecDeque<Value>,
    /// Every event received so far (hello included), for failure messages.
    pub history: Vec<Value>,
}

impl EventSocket {
    /// Connects with the token in the upgrade's `Authorization` header.
    pub async fn connect(server: &impl Endpoint, token: &str) -> EventSocket {
        let socket = open_raw(server, Some(token)).await;
        EventSocket::after_upgrade(socket).await
    }

    /// Connects to any node's websocket URL with the token in the upgrade header.
    pub async fn connect_url(url: &str, token: &str) -> EventSocket {
        let socket = open_raw_url(url, Some(token)).await;
        EventSocket::after_upgrade(socket).await
    }

    /// Resumes connection `connection_id` on any node's websocket URL, expecting `seq`
    /// `sequence_number` next: no `hello` is awaited, and the next event must carry that seq.
    pub async fn resume_url(
        url: &str,
        token: &str,
        connection_id: &str,
        sequence_number: i64,
    ) -> EventSocket {
        let url = format!("{url}?connection_id={connection_id}&sequence_number={sequence_number}");
        let socket = open_raw_url(&url, Some(token)).await;
        EventSocket {
            socket,
            hello: Value::Null,
            last_seq: sequence_number - 1,
            next_action_seq: 1,
            unread_events: VecDeque::new(),
            replies: VecDeque::new(),
            history: Vec::new(),
        }
    }

    /// The connection id `hello` gave.
    pub fn connection_id(&self) -> String {
        self.hello["data"]["connection_id"]
            .as_str()
            .expect("a hello with a connection id")
            .to_string()
    }

    /// The `seq` of the last event received.
    pub fn last_seq(&self) -> i64 {
        self.last_seq
    }

    /// Connects without credentials and authenticates with `authentication_challenge`; checks
    /// that the server answers the challenge with status OK.
    pub async fn connect_with_challenge(server: &impl Endpoint, token: &str) -> EventSocket {
        let mut socket = open_raw(server, None).await;
        let challenge = json!({
            "action": "authentication_challenge",
            "seq": 1,
            "data": {"token": token},
        });
        socket
            .send(Message::text(challenge.to_string()))
            .await
            .expect("sending the authentication challenge");
        let mut events = EventSocket::after_upgrade(socket).await;
        events.next_action_seq = 2;
        let reply = events.wait_for_reply(1).await;
        assert_eq!(
            reply["status"], "OK",
            "authentication_challenge refused: {reply}"
        );
        events
    }

    async fn after_upgrade(socket: RawSocket) -> EventSocket {
        let mut events = EventSocket {
            socket,
            hello: Value::Null,
            last_seq: -1,
            next_action_seq: 1,
            unread_events: VecDeque::new(),
            replies: VecDeque::new(),
            history: Vec::new(),
        };
        let hello = events.wait_for("hello").await;
        assert_eq!(hello["seq"], 0, "hello must have seq 0: {hello}");
        events.hello = hello;
        events
    }

    /// Reads one frame (up to the deadline) and files it as an event or a reply. Returns false
    /// when the deadline passed. Panics when the socket closes or a `seq` is out of order.
    async fn receive_until(&mut self, deadline: Instant) -> bool {
        loop {
            let frame = match timeout_at(deadline, self.socket.next()).await {
                Err(_elapsed) => return false,
                Ok(frame) => frame,
            };
            let text = match frame {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(frame))) => {
                    panic!(
                        "the server closed the websocket ({frame:?}); events so far: {}",
                        self.describe_history()
                    )
                }
                Some(Ok(_)) => continue,
                None | Some(Err(_)) => panic!(
                    "the websocket ended; events so far: {}",
                    self.describe_history()
                ),
            };
            let message: Value = serde_json::from_str(&text).unwrap_or_else(|error| {
                panic!("a websocket frame that is not JSON ({error}): {text}")
            });
            if message.get("seq_reply").is_some() {
                self.replies.push_back(message);
                return true;
            }
            let seq = message["seq"]
                .as_i64()
                .unwrap_or_else(|| panic!("an event without seq: {message}"));
            assert_eq!(
                seq,
                self.last_seq + 1,
                "websocket seq must go 0, 1, 2… without gaps; got {message} after {}",
                self.describe_history()
            );
            self.last_seq = seq;
            self.history.push(message.clone());
            self.unread_events.push_back(message);
            return true;
        }
    }

    fn describe_history(&self) -> String {
        let names: Vec<String> = self
            .history
            .iter()
            .map(|event| {
                format!(
                    "{}#{}",
                    event["event"].as_str().unwrap_or("?"),
                    event["seq"]
                )
            })
            .collect();
        format!("[{}]", names.join(", "))
    }

    /// The next event named `name` (and matching `filter`), skipping others. Panics after
    /// [`WAIT`].
    pub async fn wait_for_matching(
        &mut self,
        name: &str,
        filter: impl Fn(&Value) -> bool,
    ) -> Value {
        self.events_until(name, filter)
            .await
            .pop()
            .expect("the matching event")
    }

    /// The next event named `name`, skipping others.
    pub async fn wait_for(&mut self, name: &str) -> Value {
        self.wait_for_matching(name, |_| true).await
    }

    /// Every event up to and including the next event named `name` matching `filter`.
    pub async fn events_until(
        &mut self,
        name: &str,
        filter: impl Fn(&Value) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + WAIT;
        let mut taken = Vec::new();
        loop {
            while let Some(event) = self.unread_events.pop_front() {
                let found = event["event"] == name && filter(&event);
                taken.push(event);
                if found {
                    return taken;
                }
            }
            if !self.receive_until(deadline).await {
                panic!(
                    "no {name:?} event within {WAIT:?}; events so far: {}",
                    self.describe_history()
                );
            }
        }
    }

    /// Events that arrive within `window` (for asserting that something does not come).
    pub async fn events_within(&mut self, window: Duration) -> Vec<Value> {
        let deadline = Instant::now() + window;
        while self.receive_until(deadline).await {}
        self.unread_events.drain(..).collect()
    }

    /// The underlying socket (to watch it close).
    pub fn raw_mut(&mut self) -> &mut RawSocket {
        &mut self.socket
    }

    /// Sends an action; returns its seq.
    pub async fn send_action(&mut self, action: &str, data: Value) -> i64 {
        let seq = self.next_action_seq;
        self.next_action_seq += 1;
        let request = json!({"action": action, "seq": seq, "data": data});
        self.socket
            .send(Message::text(request.to_string()))
            .await
            .expect("sending a websocket action");
        seq
    }

    /// The reply to the action with this seq.
    pub async fn wait_for_reply(&mut self, seq: i64) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(index) = self
                .replies
                .iter()
                .position(|reply| reply["seq_reply"] == seq)
            {
                return self.replies.remove(index).expect("the reply");
            }
            if !self.receive_until(deadline).await {
                panic!("no reply to action seq {seq} within {WAIT:?}");
            }
        }
    }

    /// Waits for the server to end the socket; None if it stays open for `within`. Frames
    /// that arrive meanwhile are discarded unchecked.
    pub async fn wait_for_close(&mut self, within: Duration) -> Option<Closed> {
        wait_for_close(&mut self.socket, within).await
    }
}

/// The `post` of a posted / post_edited / post_deleted event, which travels as a JSON string.
pub fn post_of(event: &Value) -> Value {
    let encoded = event["data"]["post"].as_str().unwrap_or_else(|| {
        panic!("data.post must be a JSON string: {event}");
    });
    serde_json::from_str(encoded).expect("data.post is JSON")
}

/// Whether an event concerns this channel (in its broadcast or its data).
pub fn concerns_channel(event: &Value, channel_id: &str) -> bool {
    event["broadcast"]["channel_id"] == channel_id
        || event["data"]["channel_id"] == channel_id
        || event["data"]["post"]
            .as_str()
            .is_some_and(|post| post.contains(channel_id))
        || event["data"]["reaction"]
            .as_str()
            .is_some_and(|reaction| reaction.contains(channel_id))
}

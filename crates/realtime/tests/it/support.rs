//! A test server (axum route + hub + fake delegate) and a websocket test client.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chorus_model::{new_id, now_millis, WebSocketRequest};
use chorus_realtime::{
    ActionError, ConnectionCheckpoint, ConnectionIdentity, Continuity, Hub, HubConfig, HubDelegate,
    ReceivedChanges, ResumeRequest, ResumeSource,
};
use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for something that should happen promptly.
pub const WAIT: Duration = Duration::from_secs(10);

pub fn test_config() -> HubConfig {
    HubConfig {
        server_version: "10.5.0.10.5.0.confighash.false".to_string(),
        server_hostname: "node-a".to_string(),
        send_queue_size: 256,
        unauthenticated_timeout: Duration::from_secs(5),
        ping_interval: Duration::from_secs(60),
        pong_timeout: Duration::from_secs(100),
        dispatch_shards: 4,
        ..HubConfig::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    Connected(String),
    Disconnected(String),
}

/// A delegate with sessions, channels and teams set up by the test, recording what the hub
/// asked of it.
#[derive(Default)]
pub struct FakeDelegate {
    sessions_by_token: Mutex<HashMap<String, ConnectionIdentity>>,
    channels: Mutex<HashMap<String, Arc<HashSet<String>>>>,
    teams: Mutex<HashMap<String, Arc<HashSet<String>>>>,
    presence: Mutex<Vec<Presence>>,
    actions: Mutex<Vec<(ConnectionIdentity, String, String)>>,
    /// Another node's hub, asked for connections this one does not have, and how long to
    /// wait before asking (so a test can publish while a resume is under way).
    peer: Mutex<Option<(Hub, Duration)>>,
    /// The other node's delegate, whose checkpoints say what a client handed over from there
    /// holds already (what the app's checkpoint book does).
    peer_checkpoints: Mutex<Option<Arc<FakeDelegate>>>,
    /// Every checkpoint the hub handed over, in order.
    checkpoints: Mutex<Vec<ConnectionCheckpoint>>,
}

impl FakeDelegate {
    /// A new valid session of `user_id` that never expires.
    pub fn add_session(&self, user_id: &str) -> ConnectionIdentity {
        self.add_session_expiring(user_id, 0)
    }

    pub fn add_session_expiring(&self, user_id: &str, expires_at: i64) -> ConnectionIdentity {
        self.add_identity_of(user_id, expires_at, false)
    }

    /// A new valid session of `user_id`, a system admin, that never expires.
    pub fn add_admin_session(&self, user_id: &str) -> ConnectionIdentity {
        self.add_identity_of(user_id, 0, true)
    }

    fn add_identity_of(
        &self,
        user_id: &str,
        expires_at: i64,
        is_system_admin: bool,
    ) -> ConnectionIdentity {
        let identity = ConnectionIdentity {
            user_id: user_id.to_string(),
            session_id: new_id(),
            session_token: new_id(),
            expires_at,
            is_system_admin,
        };
        self.sessions_by_token
            .lock()
            .insert(identity.session_token.clone(), identity.clone());
        identity
    }

    /// Accepts a session created on another test server.
    pub fn add_identity(&self, identity: &ConnectionIdentity) {
        self.sessions_by_token
            .lock()
            .insert(identity.session_token.clone(), identity.clone());
    }

    pub fn checkpoints(&self) -> Vec<ConnectionCheckpoint> {
        self.checkpoints.lock().clone()
    }

    pub fn set_peer(&self, hub: &Hub, delay: Duration) {
        *self.peer.lock() = Some((hub.clone(), delay));
    }

    /// Tells hand-overs from the peer what their client holds, from `peer`'s checkpoints.
    pub fn set_peer_checkpoints(&self, peer: &Arc<FakeDelegate>) {
        *self.peer_checkpoints.lock() = Some(peer.clone());
    }

    /// The changes the client of `request` holds, by the checkpoints this delegate recorded.
    fn received_changes(&self, request: &ResumeRequest) -> ReceivedChanges {
        let mut received = ReceivedChanges::default();
        let mut changes: Vec<(i64, String)> = Vec::new();
        for checkpoint in self.checkpoints.lock().iter() {
            if checkpoint.connection_id != request.connection_id {
                continue;
            }
            received.complete_after = received.complete_after.max(checkpoint.horizon);
            changes.retain(|(seq, _)| *seq < checkpoint.first_seq);
            for (seq, change) in &checkpoint.changes {
                changes.push((*seq, change.key.clone()));
            }
        }
        received.keys = changes
            .into_iter()
            .filter(|(seq, _)| *seq < request.sequence_number)
            .map(|(_, key)| key)
            .collect();
        received
    }

    pub fn set_channel(&self, channel_id: &str, members: &[&str]) {
        let members = members.iter().map(|member| member.to_string()).collect();
        self.channels
            .lock()
            .insert(channel_id.to_string(), Arc::new(members));
    }

    pub fn set_team(&self, team_id: &str, members: &[&str]) {
        let members = members.iter().map(|member| member.to_string()).collect();
        self.teams
            .lock()
            .insert(team_id.to_string(), Arc::new(members));
    }

    pub fn presence(&self) -> Vec<Presence> {
        self.presence.lock().clone()
    }

    /// (identity, connection id, action) of every action handed to the delegate.
    pub fn actions(&self) -> Vec<(ConnectionIdentity, String, String)> {
        self.actions.lock().clone()
    }
}

impl HubDelegate for FakeDelegate {
    fn authenticate(&self, token: String) -> BoxFuture<'static, Option<ConnectionIdentity>> {
        let identity = self.sessions_by_token.lock().get(&token).cloned();
        Box::pin(async move { identity })
    }

    fn channel_member_ids(
        &self,
        channel_id: String,
    ) -> BoxFuture<'static, Option<Arc<HashSet<String>>>> {
        let members = self.channels.lock().get(&channel_id).cloned();
        Box::pin(async move { members })
    }

    fn team_member_ids(&self, team_id: String) -> BoxFuture<'static, Option<Arc<HashSet<String>>>> {
        let members = self.teams.lock().get(&team_id).cloned();
        Box::pin(async move { members })
    }

    fn handle_action(
        &self,
        identity: ConnectionIdentity,
        connection_id: String,
        request: WebSocketRequest,
    ) -> BoxFuture<'static, Result<Option<Value>, ActionError>> {
        self.actions
            .lock()
            .push((identity.clone(), connection_id, request.action.clone()));
        Box::pin(async move {
            match request.action.as_str() {
                "user_typing" => Ok(None),
                "get_statuses" => Ok(Some(json!({ identity.user_id: "online" }))),
                "slow_action" => {
                    sleep(Duration::from_secs(1)).await;
                    Ok(Some(json!("done")))
                }
                _ => Err(ActionError::new(
                    400,
                    "api.web_socket_router.bad_action.app_error",
                    "Unknown action",
                )),
            }
        })
    }

    fn user_connected(&self, user_id: String) {
        self.presence.lock().push(Presence::Connected(user_id));
    }

    fn user_disconnected(&self, user_id: String) {
        self.presence.lock().push(Presence::Disconnected(user_id));
    }
}

impl Continuity for FakeDelegate {
    fn resume_elsewhere(&self, request: ResumeRequest) -> BoxFuture<'static, ResumeSource> {
        let peer = self.peer.lock().clone();
        let peer_checkpoints = self.peer_checkpoints.lock().clone();
        Box::pin(async move {
            let Some((peer, delay)) = peer else {
                return ResumeSource::Unknown;
            };
            sleep(delay).await;
            let source = peer.hand_over(&request).await;
            let received =
                peer_checkpoints.map(|checkpoints| checkpoints.received_changes(&request));
            source.with_received(received)
        })
    }

    fn checkpoint(&self, batch: Vec<ConnectionCheckpoint>) {
        self.checkpoints.lock().extend(batch);
    }
}

#[derive(Clone)]
struct RouteState {
    hub: Hub,
    delegate: Arc<FakeDelegate>,
}

/// What the `api` crate will do on `GET /api/v4/websocket`, reduced to the header token.
async fn websocket_route(
    State(state): State<RouteState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::to_string);
    let identity = match token {
        Some(token) => state.delegate.authenticate(token).await,
        None => None,
    };
    let resume = query.get("connection_id").map(|connection_id| {
        let sequence_number = query
            .get("sequence_number")
            .and_then(|seq| seq.parse().ok())
            .unwrap_or(0);
        (connection_id.clone(), sequence_number)
    });
    let hub = state.hub.clone();
    chorus_realtime::websocket_config(upgrade)
        .on_upgrade(move |socket| async move { hub.serve(socket, identity, resume).await })
}

pub struct TestServer {
    pub hub: Hub,
    pub delegate: Arc<FakeDelegate>,
    url: String,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::with_config(test_config()).await
    }

    pub async fn with_config(config: HubConfig) -> TestServer {
        let delegate = Arc::new(FakeDelegate::default());
        let hub = Hub::new(config, delegate.clone());
        hub.set_continuity(delegate.clone());
        let state = RouteState {
            hub: hub.clone(),
            delegate: delegate.clone(),
        };
        let app = Router::new()
            .route("/api/v4/websocket", get(websocket_route))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        TestServer {
            hub,
            delegate,
            url: format!("ws://{address}/api/v4/websocket"),
        }
    }

    /// Opens a socket; `token` goes into an `Authorization: Bearer` header.
    pub async fn open(&self, token: Option<&str>, query: &str) -> Client {
        let mut request = format!("{}{query}", self.url)
            .into_client_request()
            .unwrap();
        if let Some(token) = token {
            request.headers_mut().insert(
                header::AUTHORIZATION,
                format!("Bearer {token}").parse().unwrap(),
            );
        }
        let (socket, _response) = tokio_tungstenite::connect_async(request).await.unwrap();
        Client { socket }
    }

    pub async fn open_unauthenticated(&self) -> Client {
        self.open(None, "").await
    }

    /// Connects as `identity` (header token) and reads the `hello`.
    pub async fn connect(&self, identity: &ConnectionIdentity) -> (Client, Value) {
        let mut client = self.open(Some(&identity.session_token), "").await;
        let hello = client.next_json().await;
        assert_eq!(hello["event"], "hello", "{hello}");
        (client, hello)
    }

    /// A new session of `user_id`, connected; returns the client and its connection id.
    pub async fn connect_user(&self, user_id: &str) -> (Client, String) {
        let identity = self.delegate.add_session(user_id);
        let (client, hello) = self.connect(&identity).await;
        let connection_id = hello["data"]["connection_id"].as_str().unwrap().to_string();
        (client, connection_id)
    }
}

pub struct Client {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// How the server ended a connection, and what the client read before.
#[derive(Debug)]
pub struct Closed {
    /// The close frame's code; None when the socket ended without one.
    pub code: Option<u16>,
    pub texts_before: Vec<String>,
}

impl Client {
    pub async fn send_json(&mut self, value: Value) {
        self.socket
            .send(Message::text(value.to_string()))
            .await
            .unwrap();
    }

    pub async fn send_request(&mut self, action: &str, seq: i64, data: Value) {
        self.send_json(json!({ "action": action, "seq": seq, "data": data }))
            .await;
    }

    pub async fn send(&mut self, message: Message) {
        self.socket.send(message).await.unwrap();
    }

    /// The next frame of any kind; panics if none comes within [`WAIT`].
    pub async fn next_message(&mut self) -> Option<Message> {
        match timeout(WAIT, self.socket.next()).await {
            Ok(Some(Ok(message))) => Some(message),
            Ok(Some(Err(_))) | Ok(None) => None,
            Err(_) => panic!("no websocket frame within {WAIT:?}"),
        }
    }

    /// The next text frame, skipping pings and pongs; panics if the socket closes.
    pub async fn next_text(&mut self) -> String {
        loop {
            match self.next_message().await {
                Some(Message::Text(text)) => return text.to_string(),
                Some(Message::Ping(_)) | Some(Message::Pong(_)) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    pub async fn next_json(&mut self) -> Value {
        serde_json::from_str(&self.next_text().await).unwrap()
    }

    /// Reads until the server ends the connection.
    pub async fn closed(&mut self) -> Closed {
        let mut texts_before = Vec::new();
        loop {
            match self.next_message().await {
                Some(Message::Close(frame)) => {
                    let code = frame.map(|frame| u16::from(frame.code));
                    return Closed { code, texts_before };
                }
                Some(Message::Text(text)) => texts_before.push(text.to_string()),
                Some(_) => continue,
                None => {
                    return Closed {
                        code: None,
                        texts_before,
                    }
                }
            }
        }
    }

    /// Drops the connection without a close handshake, as a network failure would.
    pub fn vanish(self) {
        drop(self.socket);
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
        // Read the server's close frame so the handshake completes.
        while let Ok(Some(Ok(_))) = timeout(WAIT, self.socket.next()).await {}
    }
}

/// Polls `condition` until it holds; panics after [`WAIT`].
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        sleep(Duration::from_millis(10)).await;
    }
}

pub fn millis_from_now(millis: i64) -> i64 {
    now_millis() + millis
}

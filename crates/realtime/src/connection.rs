//! One websocket connection, from upgrade to close, in one task.
//!
//! First authentication (the upgrade's identity, or an `authentication_challenge` within
//! `unauthenticated_timeout`), then registration and `hello`, then a loop that selects over:
//! a close request from the hub, one timer (server pings, client silence, session expiry), the
//! client action being answered by the delegate, the connection's event queue, and the socket.
//! Keeping all of this in the task that axum spawned for the upgrade — no second task, no
//! per-connection timers besides one `Sleep` — is what keeps an idle connection cheap.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use chorus_model::{
    event_names, new_id, now_millis, Broadcast, WebSocketEvent, WebSocketRequest, WebSocketResponse,
};
use futures_util::future::BoxFuture;
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio::time::{sleep_until, timeout, timeout_at, Instant};
use tracing::debug;

use crate::delegate::{ActionError, ConnectionIdentity};
use crate::frame::{ConnectionState, PreparedEvent};
use crate::hub::{HubConfig, Shared};
use crate::registry::ConnectionHandle;
use crate::resume::{self, Attached, Overlap};

/// Websocket close codes the hub sends (RFC 6455 section 7.4.1).
pub(crate) mod close_code {
    /// Session closed (logout, revoke, user deactivated).
    pub const NORMAL: u16 = 1000;
    /// Node draining or client silent: reconnect, possibly elsewhere.
    pub const GOING_AWAY: u16 = 1001;
    /// Missing, invalid or expired authentication.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// The client did not keep up with its events (send queue full).
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// Client actions the hub answers itself; all others go to the delegate.
mod actions {
    pub const AUTHENTICATION_CHALLENGE: &str = "authentication_challenge";
    pub const PING: &str = "ping";
}

/// A single frame write that takes longer than this means the client is stuck (Mattermost's
/// write deadline).
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Queued events numbered and written together (one checkpoint wait for all of them).
const WRITE_BATCH: usize = 64;

/// How long a closing handshake may take before the socket is simply dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// How a connection ended, which decides how its socket is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The server ends it: send a close frame with this code.
    Close(u16),
    /// The client sent a close frame: complete the handshake.
    ClientClosed,
    /// The socket failed: just drop it.
    Broken,
}

pub(crate) async fn serve(
    shared: &Arc<Shared>,
    mut socket: WebSocket,
    identity: Option<ConnectionIdentity>,
    resume: Option<(String, i64)>,
) {
    if !shared.is_accepting() {
        finish(&mut socket, Ending::Close(close_code::GOING_AWAY)).await;
        return;
    }
    let (identity, challenge_seq) = match identity {
        Some(identity) => (identity, None),
        None => match wait_for_challenge(shared, &mut socket).await {
            Ok((identity, seq)) => (identity, Some(seq)),
            Err(ending) => {
                finish(&mut socket, ending).await;
                return;
            }
        },
    };
    if identity.expires_at != 0 && identity.expires_at <= now_millis() {
        finish(&mut socket, Ending::Close(close_code::POLICY_VIOLATION)).await;
        return;
    }
    let attached = match resume {
        Some((connection_id, sequence_number)) => {
            resume::attach(shared, &identity, connection_id, sequence_number).await
        }
        None => Attached::Fresh { superseded: None },
    };
    let (handle, mut state, greeting, mut overlap) = match attached {
        Attached::Resumed {
            handle,
            state,
            replay,
            overlap,
        } => (handle, state, replay, overlap),
        Attached::Fresh { superseded } => {
            let mut state = ConnectionState::new(new_id());
            let handle = ConnectionHandle::new(
                state.connection_id().to_string(),
                identity,
                shared.config.send_queue_size,
                shared.config.parked_queue_size,
            );
            let registered = shared.register(&handle);
            if let Some(superseded) = superseded {
                shared.unregister(&superseded);
            }
            if !registered {
                finish(&mut socket, Ending::Close(close_code::GOING_AWAY)).await;
                return;
            }
            let hello = Arc::new(PreparedEvent::new(&hello_event(&shared.config, &handle)));
            let greeting = vec![(state.number(Arc::clone(&hello)), hello)];
            (handle, state, greeting, Overlap::none())
        }
        Attached::Refused => {
            finish(&mut socket, Ending::Close(close_code::GOING_AWAY)).await;
            return;
        }
    };
    debug!(connection_id = %handle.connection_id, user_id = %handle.user_id(), "websocket connected");
    let ending = run(
        shared,
        &mut socket,
        &handle,
        &mut state,
        greeting,
        &mut overlap,
        challenge_seq,
    )
    .await;
    if is_resumable(ending) {
        shared.park(&handle, state, overlap);
    } else {
        shared.unregister(&handle);
    }
    debug!(connection_id = %handle.connection_id, ?ending, "websocket closed");
    finish(&mut socket, ending).await;
}

/// Whether the client may come back for the events of a connection that ended this way: not
/// when its session ended (logout, revoke, expiry).
fn is_resumable(ending: Ending) -> bool {
    !matches!(
        ending,
        Ending::Close(close_code::NORMAL) | Ending::Close(close_code::POLICY_VIOLATION)
    )
}

/// Waits for a valid `authentication_challenge`. Returns the identity and the request's seq,
/// or how to end the connection.
async fn wait_for_challenge(
    shared: &Shared,
    socket: &mut WebSocket,
) -> Result<(ConnectionIdentity, i64), Ending> {
    let deadline = Instant::now() + shared.config.unauthenticated_timeout;
    loop {
        let received = match timeout_at(deadline, socket.recv()).await {
            Err(_elapsed) => {
                debug!("websocket not authenticated in time");
                return Err(Ending::Close(close_code::POLICY_VIOLATION));
            }
            Ok(None) | Ok(Some(Err(_))) => return Err(Ending::Broken),
            Ok(Some(Ok(message))) => message,
        };
        let text = match received {
            Message::Text(text) => text,
            Message::Close(_) => return Err(Ending::ClientClosed),
            _ => continue,
        };
        let Some(request) = parse_request(&text) else {
            continue;
        };
        let refusal = match check_request(&request) {
            Err(error) => Some(error),
            Ok(()) if request.action != actions::AUTHENTICATION_CHALLENGE => {
                Some(not_authenticated())
            }
            Ok(()) => None,
        };
        if let Some(error) = refusal {
            let reply = response_message(&failure(request.seq, &error));
            match timeout_at(deadline, socket.send(reply)).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) | Err(_) => return Err(Ending::Broken),
            }
        }

        let Some(token) = request.data.get("token").and_then(Value::as_str) else {
            debug!("authentication challenge without a token");
            return Err(Ending::Close(close_code::POLICY_VIOLATION));
        };
        // Bounded by the same deadline: an unauthenticated socket never outlives it.
        match timeout_at(deadline, shared.delegate.authenticate(token.to_string())).await {
            Ok(Some(identity)) => return Ok((identity, request.seq)),
            Ok(None) => {
                debug!("authentication challenge with an invalid token");
                return Err(Ending::Close(close_code::POLICY_VIOLATION));
            }
            Err(_elapsed) => return Err(Ending::Close(close_code::POLICY_VIOLATION)),
        }
    }
}

/// A client action the delegate is working on. While one is pending the socket is not read,
/// like Mattermost's reader, which handles one request at a time; events keep flowing.
struct PendingAction {
    seq: i64,
    reply: BoxFuture<'static, Result<Option<Value>, ActionError>>,
}

/// The authenticated life of a connection: `greeting` (`hello`, or the frames a resumed
/// client missed), then events, replies and pings.
async fn run(
    shared: &Shared,
    socket: &mut WebSocket,
    handle: &ConnectionHandle,
    state: &mut ConnectionState,
    greeting: Vec<(i64, Arc<PreparedEvent>)>,
    overlap: &mut Overlap,
    challenge_seq: Option<i64>,
) -> Ending {
    let config = &shared.config;

    if let Err(ending) = write_events(shared, socket, handle, state, &greeting).await {
        return ending;
    }
    // Learn soon what the client holds: a stale attempt of the same client to resume from
    // before it is refused (`resume::is_stale`).
    let mut probes = AckProbes::default();
    if let Err(ending) = write(socket, handle, probes.ping(state.next_seq())).await {
        return ending;
    }
    if let Some(seq) = challenge_seq {
        let reply = response_message(&WebSocketResponse::ok(seq, None));
        if let Err(ending) = write(socket, handle, reply).await {
            return ending;
        }
    }

    let mut liveness = Liveness::new(Instant::now(), config, handle.identity.expires_at);
    let timer = sleep_until(liveness.next_check());
    tokio::pin!(timer);
    let mut pending: Option<PendingAction> = None;

    // Not `biased`: a busy queue must not starve the socket (pongs) or the timer.
    loop {
        let outgoing = tokio::select! {
            code = handle.closed() => return Ending::Close(code),
            () = &mut timer => {
                let check = liveness.check(Instant::now());
                timer.as_mut().reset(liveness.next_check());
                match check {
                    Check::Fine => continue,
                    Check::SendPing => probes.ping(state.next_seq()),
                    Check::ClientSilent => {
                        debug!(connection_id = %handle.connection_id, "websocket client silent, closing");
                        return Ending::Close(close_code::GOING_AWAY);
                    }
                    Check::SessionExpired => return Ending::Close(close_code::POLICY_VIOLATION),
                }
            }
            (seq, result) = poll_fn(|cx| poll_pending(&mut pending, cx)), if pending.is_some() => {
                pending = None;
                let response = match result {
                    Ok(data) => WebSocketResponse::ok(seq, data),
                    Err(error) => failure(seq, &error),
                };
                response_message(&response)
            }
            event = handle.next_event() => {
                let mut numbered = Vec::new();
                let mut next = Some(event);
                while let Some(event) = next {
                    if overlap.skips(&event) {
                        debug!(connection_id = %handle.connection_id, change = ?event.change().map(|change| &change.key), "event the resumed client holds or was handed over, not sent again");
                    } else {
                        numbered.push((state.number(Arc::clone(&event)), event));
                    }
                    next = if numbered.len() < WRITE_BATCH {
                        handle.try_next_event()
                    } else {
                        None
                    };
                }
                if let Err(ending) = write_events(shared, socket, handle, state, &numbered).await {
                    return ending;
                }
                if shared.checkpoints.is_none() || !probes.due(state.next_seq()) {
                    continue;
                }
                probes.extra_ping(state.next_seq())
            }
            inbound = socket.recv(), if pending.is_none() => {
                liveness.heard_from_client(Instant::now());
                match inbound {
                    None | Some(Err(_)) => return Ending::Broken,
                    Some(Ok(Message::Close(_))) => return Ending::ClientClosed,
                    Some(Ok(Message::Text(text))) => match route_request(shared, handle, &text) {
                        Routed::Ignore => continue,
                        Routed::Reply(response) => response_message(&response),
                        Routed::Delegate(action) => {
                            pending = Some(action);
                            continue;
                        }
                    },
                    Some(Ok(Message::Pong(payload))) => {
                        if let Some(answered) = probes.answered(&payload) {
                            handle.acknowledge(
                                answered.next_seq,
                                answered.sent_at - config.change_delivery_bound.as_millis() as i64,
                            );
                            if let Some(checkpoints) = &shared.checkpoints {
                                checkpoints.acknowledge(handle, state.next_seq());
                            }
                        }
                        continue;
                    }
                    // Pings are answered by tungstenite; binary frames only show that the
                    // client is alive.
                    Some(Ok(_)) => continue,
                }
            }
        };
        if let Err(ending) = write(socket, handle, outgoing).await {
            return ending;
        }
    }
}

fn poll_pending(
    pending: &mut Option<PendingAction>,
    cx: &mut Context<'_>,
) -> Poll<(i64, Result<Option<Value>, ActionError>)> {
    match pending {
        Some(action) => action
            .reply
            .as_mut()
            .poll(cx)
            .map(|result| (action.seq, result)),
        None => Poll::Pending,
    }
}

/// Writes numbered events, once the other nodes have been told about them (when this node
/// keeps them informed, see `checkpoint`).
async fn write_events(
    shared: &Shared,
    socket: &mut WebSocket,
    handle: &ConnectionHandle,
    state: &ConnectionState,
    events: &[(i64, Arc<PreparedEvent>)],
) -> Result<(), Ending> {
    if events.is_empty() {
        return Ok(());
    }
    if let Some(checkpoints) = &shared.checkpoints {
        let frames = events.iter().map(|(seq, event)| (*seq, event.as_ref()));
        let epoch = checkpoints.record(handle, frames, state.next_seq());
        tokio::select! {
            code = handle.closed() => return Err(Ending::Close(code)),
            () = checkpoints.flushed(epoch) => {}
        }
    }
    for (seq, event) in events {
        write(socket, handle, Message::Text(event.frame(*seq).into())).await?;
    }
    Ok(())
}

/// Sends one frame, giving up when the hub asks the connection to close or the client does
/// not take the frame within [`WRITE_TIMEOUT`].
async fn write(
    socket: &mut WebSocket,
    handle: &ConnectionHandle,
    message: Message,
) -> Result<(), Ending> {
    tokio::select! {
        code = handle.closed() => Err(Ending::Close(code)),
        sent = timeout(WRITE_TIMEOUT, socket.send(message)) => match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => {
                debug!(%error, "websocket write failed");
                Err(Ending::Broken)
            }
            Err(_elapsed) => {
                debug!(connection_id = %handle.connection_id, "websocket write timed out");
                Err(Ending::Broken)
            }
        },
    }
}

/// Leaves the socket as `ending` says, never taking longer than [`CLOSE_TIMEOUT`].
async fn finish(socket: &mut WebSocket, ending: Ending) {
    let closing = async {
        match ending {
            Ending::Broken => {}
            Ending::ClientClosed => {
                // Flushes the close frame tungstenite queued in reply.
                let _ = socket.close().await;
            }
            Ending::Close(code) => {
                let frame = CloseFrame {
                    code,
                    reason: close_reason(code).into(),
                };
                if socket.send(Message::Close(Some(frame))).await.is_err() {
                    return;
                }
                // Wait for the client's close frame, so it has read ours before TCP closes.
                while let Some(Ok(message)) = socket.recv().await {
                    if matches!(message, Message::Close(_)) {
                        break;
                    }
                }
            }
        }
    };
    let _ = timeout(CLOSE_TIMEOUT, closing).await;
}

fn close_reason(code: u16) -> &'static str {
    match code {
        close_code::GOING_AWAY => "going away",
        close_code::POLICY_VIOLATION => "authentication required",
        close_code::TRY_AGAIN_LATER => "too slow to receive events",
        _ => "",
    }
}

/// What to do with one request from an authenticated client.
enum Routed {
    Ignore,
    Reply(WebSocketResponse),
    Delegate(PendingAction),
}

fn route_request(shared: &Shared, handle: &ConnectionHandle, text: &str) -> Routed {
    let Some(request) = parse_request(text) else {
        return Routed::Ignore;
    };
    if let Err(error) = check_request(&request) {
        return Routed::Reply(failure(request.seq, &error));
    }
    let seq = request.seq;
    match request.action.as_str() {
        // Already authenticated (by the upgrade's token): nothing to check again.
        actions::AUTHENTICATION_CHALLENGE => Routed::Reply(WebSocketResponse::ok(seq, None)),
        actions::PING => Routed::Reply(WebSocketResponse::ok(seq, Some(pong_data()))),
        _ => Routed::Delegate(PendingAction {
            seq,
            reply: shared.delegate.handle_action(
                handle.identity.clone(),
                handle.connection_id.clone(),
                request,
            ),
        }),
    }
}

fn parse_request(text: &str) -> Option<WebSocketRequest> {
    match serde_json::from_str(text) {
        Ok(request) => Some(request),
        Err(error) => {
            // Mattermost also accepts msgpack; no client we support sends it.
            debug!(%error, "ignoring malformed websocket request");
            None
        }
    }
}

/// Mattermost's checks before any action: a name and a positive seq.
fn check_request(request: &WebSocketRequest) -> Result<(), ActionError> {
    if request.action.is_empty() {
        return Err(ActionError::new(
            400,
            "api.web_socket_router.no_action.app_error",
            "No websocket action.",
        ));
    }
    if request.seq <= 0 {
        return Err(ActionError::new(
            400,
            "api.web_socket_router.bad_seq.app_error",
            "Invalid sequence for WebSocket message.",
        ));
    }
    Ok(())
}

fn not_authenticated() -> ActionError {
    ActionError::new(
        401,
        "api.web_socket_router.not_authenticated.app_error",
        "Not authenticated. Please send an authentication_challenge first.",
    )
}

/// The FAIL reply to request `seq_reply`, as Mattermost writes it.
fn failure(seq_reply: i64, error: &ActionError) -> WebSocketResponse {
    WebSocketResponse {
        status: "FAIL".to_string(),
        seq_reply,
        data: None,
        error: Some(json!({
            "id": error.id,
            "message": error.message,
            "detailed_error": error.detailed_error,
            "status_code": error.status_code,
        })),
    }
}

fn pong_data() -> Value {
    json!({
        "text": "pong",
        "version": chorus_model::SERVER_VERSION,
        "server_time": now_millis(),
        "node_id": "",
    })
}

fn response_message(response: &WebSocketResponse) -> Message {
    let text = serde_json::to_string(response).expect("a websocket response always serializes");
    Message::Text(text.into())
}

fn hello_event(config: &HubConfig, handle: &ConnectionHandle) -> WebSocketEvent {
    // Keys in the order Mattermost's (sorted) Go map produces.
    WebSocketEvent::new(event_names::HELLO, Broadcast::to_user(handle.user_id()))
        .with("connection_id", handle.connection_id.as_str())
        .with("server_hostname", config.server_hostname.as_str())
        .with("server_version", config.server_version.as_str())
}

/// Frames written since the last ping after which a connection pings again, to learn sooner
/// what its client holds.
const ACK_PROBE_FRAMES: i64 = 64;

/// The shortest time between two such extra pings.
const ACK_PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// Pings not answered yet that are remembered; an older one's answer is ignored.
const ACK_PROBES_OUTSTANDING: usize = 4;

/// Pings as acknowledgements. A client answers a ping only after reading every frame written
/// before it (one ordered stream), so its pong says which frames it holds: the connection's
/// checkpoint horizon moves up to `HubConfig::change_delivery_bound` before that ping. That keeps
/// what the other nodes must remember of a busy connection (the changes after its horizon)
/// to the last half minute instead of the last two. Besides the liveness pings, a connection
/// that wrote [`ACK_PROBE_FRAMES`] frames since its last ping sends one, at most every
/// [`ACK_PROBE_INTERVAL`].
#[derive(Debug, Default)]
struct AckProbes {
    last_id: u64,
    /// Oldest first.
    outstanding: VecDeque<AckProbe>,
    /// `next_seq` at the last ping, and the time of the last extra one.
    last_seq: i64,
    last_at: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct AckProbe {
    id: u64,
    /// The client holds the frames before this once it answers.
    next_seq: i64,
    /// When the ping was written (ms).
    sent_at: i64,
}

impl AckProbes {
    fn ping(&mut self, next_seq: i64) -> Message {
        self.last_id += 1;
        if self.outstanding.len() == ACK_PROBES_OUTSTANDING {
            self.outstanding.pop_front();
        }
        self.outstanding.push_back(AckProbe {
            id: self.last_id,
            next_seq,
            sent_at: now_millis(),
        });
        self.last_seq = next_seq;
        Message::Ping(Bytes::copy_from_slice(&self.last_id.to_be_bytes()))
    }

    /// A ping because frames piled up since the last one (see [`AckProbes::due`]).
    fn extra_ping(&mut self, next_seq: i64) -> Message {
        self.last_at = Some(Instant::now());
        self.ping(next_seq)
    }

    fn due(&self, next_seq: i64) -> bool {
        next_seq - self.last_seq >= ACK_PROBE_FRAMES
            && self
                .last_at
                .is_none_or(|at| at.elapsed() >= ACK_PROBE_INTERVAL)
    }

    /// The ping a pong answers, if it is one of ours (earlier ones are answered with it).
    fn answered(&mut self, payload: &[u8]) -> Option<AckProbe> {
        let id = u64::from_be_bytes(payload.try_into().ok()?);
        let position = self.outstanding.iter().position(|probe| probe.id == id)?;
        let probe = self.outstanding[position];
        self.outstanding.drain(..=position);
        Some(probe)
    }
}

/// What the connection's one timer found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Fine,
    SendPing,
    ClientSilent,
    SessionExpired,
}

/// When to ping, when the client has been silent too long, when the session expires. The
/// timer is only moved when it fires, not on every frame heard: it fires at the earliest
/// deadline it knew of, and `check` then decides with fresh facts.

#[derive(Debug)]
struct Liveness {
    ping_interval: Duration,
    pong_timeout: Duration,
    last_heard: Instant,
    next_ping: Instant,
    session_expiry: Option<Instant>,
}

impl Liveness {
    fn new(now: Instant, config: &HubConfig, expires_at_millis: i64) -> Self {
        let session_expiry = if expires_at_millis == 0 {
            None
        } else {
            let remaining_millis = (expires_at_millis - now_millis()).max(0) as u64;
            now.checked_add(Duration::from_millis(remaining_millis))
        };
        Liveness {
            ping_interval: config.ping_interval,
            pong_timeout: config.pong_timeout,
            last_heard: now,
            next_ping: now + config.ping_interval,
            session_expiry,
        }
    }

    fn heard_from_client(&mut self, now: Instant) {
        self.last_heard = now;
    }

    fn silence_deadline(&self) -> Instant {
        self.last_heard + self.pong_timeout
    }

    fn next_check(&self) -> Instant {
        let mut at = self.next_ping.min(self.silence_deadline());
        if let Some(expiry) = self.session_expiry {
            at = at.min(expiry);
        }
        at
    }

    fn check(&mut self, now: Instant) -> Check {
        if self.session_expiry.is_some_and(|expiry| expiry <= now) {
            return Check::SessionExpired;
        }
        if self.silence_deadline() <= now {
            return Check::ClientSilent;
        }
        if self.next_ping <= now {
            self.next_ping = now + self.ping_interval;
            return Check::SendPing;
        }
        Check::Fine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> HubConfig {
        HubConfig {
            ping_interval: Duration::from_secs(60),
            pong_timeout: Duration::from_secs(100),
            ..HubConfig::default()
        }
    }

    fn seconds(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn pings_every_interval_while_the_client_answers() {
        let start = Instant::now();
        let mut liveness = Liveness::new(start, &config(), 0);
        assert_eq!(liveness.next_check(), start + seconds(60));
        assert_eq!(liveness.check(start + seconds(30)), Check::Fine);
        assert_eq!(liveness.check(start + seconds(60)), Check::SendPing);
        liveness.heard_from_client(start + seconds(61)); // the pong
        assert_eq!(liveness.next_check(), start + seconds(120));
        assert_eq!(liveness.check(start + seconds(120)), Check::SendPing);
    }

    #[test]
    fn a_silent_client_is_found_after_the_pong_timeout() {
        let start = Instant::now();
        let mut liveness = Liveness::new(start, &config(), 0);
        assert_eq!(liveness.check(start + seconds(60)), Check::SendPing);
        assert_eq!(liveness.next_check(), start + seconds(100));
        assert_eq!(liveness.check(start + seconds(99)), Check::Fine);
        assert_eq!(liveness.check(start + seconds(100)), Check::ClientSilent);
    }

    #[test]
    fn an_expiring_session_sets_the_next_check() {
        let start = Instant::now();
        let expires_at = now_millis() + 10_000;
        let mut liveness = Liveness::new(start, &config(), expires_at);
        let next = liveness.next_check();
        assert!(
            next > start + seconds(9) && next <= start + seconds(10),
            "{next:?}"
        );
        assert_eq!(liveness.check(start + seconds(11)), Check::SessionExpired);
    }

    fn request(action: &str, seq: i64) -> WebSocketRequest {
        serde_json::from_value(json!({ "action": action, "seq": seq })).unwrap()
    }

    #[test]
    fn requests_need_an_action_and_a_positive_seq() {
        assert!(check_request(&request("ping", 1)).is_ok());
        let no_action = check_request(&request("", 1)).unwrap_err();
        assert_eq!(no_action.id, "api.web_socket_router.no_action.app_error");
        let bad_seq = check_request(&request("ping", 0)).unwrap_err();
        assert_eq!(bad_seq.id, "api.web_socket_router.bad_seq.app_error");
    }

    #[test]
    fn malformed_requests_are_ignored() {
        assert!(parse_request("not json").is_none());
        assert!(
            parse_request(r#"{"seq":1}"#).is_none(),
            "action is required"
        );
        assert_eq!(
            parse_request(r#"{"action":"ping","seq":3}"#).unwrap().seq,
            3
        );
    }
}

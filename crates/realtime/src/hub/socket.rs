//! One websocket connection, from upgrade to close, in one task.
//!
//! First authentication (the upgrade's identity, or an `authentication_challenge` within
//! `unauthenticated_timeout`), then registration and `hello`, then a loop that selects over:
//! a close request from the hub, one timer (server pings, client silence, session expiry), the
//! client action being answered by the delegate, the connection's event queue, and the socket.
//! Keeping all of this in the task that axum spawned for the upgrade — no second task, no
//! per-connection timers besides one `Sleep` — is what keeps an idle connection cheap.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use chorus_model::{new_id, now_millis, WebSocketResponse};
use futures_util::future::BoxFuture;
use futures_util::SinkExt;
use serde_json::Value;
use tokio::time::{sleep_until, timeout, timeout_at, Instant};
use tracing::debug;

use super::resume::{self, Attached};
use super::state::HubState;
use crate::connection::{close_code, ConnectionHandle};
use crate::continuity::overlap::Overlap;
use crate::continuity::parking::Parked;
use crate::delegate::{ActionError, ConnectionIdentity};
use crate::frame::{ConnectionState, PreparedEvent};
use crate::liveness::{AckProbes, Check, Liveness};
use crate::protocol::{
    actions, check_request, close_reason, failure, hello_event, not_authenticated, parse_request,
    pong_data, read_failure_code, response_message,
};

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
    hub: &HubState,
    mut socket: WebSocket,
    identity: Option<ConnectionIdentity>,
    resume: Option<(String, i64)>,
) {
    if !hub.is_accepting() {
        finish(&mut socket, Ending::Close(close_code::GOING_AWAY)).await;
        return;
    }
    let (identity, challenge_seq) = match identity {
        Some(identity) => (identity, None),
        None => match wait_for_challenge(hub, &mut socket).await {
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
            let attached = resume::attach(hub, &identity, connection_id, sequence_number).await;
            if matches!(attached, Attached::Fresh { .. }) {
                // A resume that could not be served: the client resyncs over REST.
                super::state::ResumeCounters::bump(&hub.resumes().resync);
            }
            attached
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
                hub.config().send_queue_size,
                hub.config().parked_queue_size,
            );
            let registered = hub.register(&handle);
            if let Some(superseded) = superseded {
                hub.unregister(&superseded);
            }
            if !registered {
                finish(&mut socket, Ending::Close(close_code::GOING_AWAY)).await;
                return;
            }
            let hello = Arc::new(PreparedEvent::new(&hello_event(hub.config(), &handle)));
            let greeting = vec![(state.number(Arc::clone(&hello)), hello)];
            (handle, state, greeting, Overlap::none())
        }
        Attached::Refused => {
            finish(&mut socket, Ending::Close(close_code::GOING_AWAY)).await;
            return;
        }
    };
    debug!(connection_id = %handle.connection_id(), user_id = %handle.user_id(), "websocket connected");
    let ending = run(
        hub,
        &mut socket,
        &handle,
        &mut state,
        greeting,
        &mut overlap,
        challenge_seq,
    )
    .await;
    if is_resumable(ending) {
        hub.park(Parked {
            handle: Arc::clone(&handle),
            state,
            overlap,
        });
    } else {
        hub.unregister(&handle);
    }
    debug!(connection_id = %handle.connection_id(), ?ending, "websocket closed");
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
    hub: &HubState,
    socket: &mut WebSocket,
) -> Result<(ConnectionIdentity, i64), Ending> {
    let deadline = Instant::now() + hub.config().unauthenticated_timeout;
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
        match timeout_at(deadline, hub.delegate().authenticate(token.to_string())).await {
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
    hub: &HubState,
    socket: &mut WebSocket,
    handle: &ConnectionHandle,
    state: &mut ConnectionState,
    greeting: Vec<(i64, Arc<PreparedEvent>)>,
    overlap: &mut Overlap,
    challenge_seq: Option<i64>,
) -> Ending {
    let config = hub.config();

    if let Err(ending) = write_events(hub, socket, handle, state, &greeting).await {
        return ending;
    }
    // Learn soon what the client holds: a stale attempt of the same client to resume from
    // before it is refused (`hub::resume::is_stale`).
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

    let mut liveness = Liveness::new(Instant::now(), config, handle.identity().expires_at);
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
                        debug!(connection_id = %handle.connection_id(), "websocket client silent, closing");
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
            event = handle.queue().next() => {
                let mut numbered = Vec::new();
                let mut next = Some(event);
                while let Some(event) = next {
                    if overlap.skips(&event) {
                        debug!(connection_id = %handle.connection_id(), change = ?event.change().map(|change| &change.key), "event the resumed client holds or was handed over, not sent again");
                    } else {
                        numbered.push((state.number(Arc::clone(&event)), event));
                    }
                    next = if numbered.len() < WRITE_BATCH {
                        handle.queue().try_next()
                    } else {
                        None
                    };
                }
                if let Err(ending) = write_events(hub, socket, handle, state, &numbered).await {
                    return ending;
                }
                if hub.checkpoints().is_none() || !probes.due(state.next_seq()) {
                    continue;
                }
                probes.extra_ping(state.next_seq())
            }
            inbound = socket.recv(), if pending.is_none() => {
                liveness.heard_from_client(Instant::now());
                match inbound {
                    None => return Ending::Broken,
                    Some(Err(error)) => {
                        return match read_failure_code(error) {
                            Some(code) => Ending::Close(code),
                            None => Ending::Broken,
                        }
                    }
                    Some(Ok(Message::Close(_))) => return Ending::ClientClosed,
                    Some(Ok(Message::Text(text))) => match route_request(hub, handle, &text) {
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
                            if let Some(checkpoints) = hub.checkpoints() {
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
/// keeps them informed, see `continuity::checkpoint`).
async fn write_events(
    hub: &HubState,
    socket: &mut WebSocket,
    handle: &ConnectionHandle,
    state: &ConnectionState,
    events: &[(i64, Arc<PreparedEvent>)],
) -> Result<(), Ending> {
    if events.is_empty() {
        return Ok(());
    }
    if let Some(checkpoints) = hub.checkpoints() {
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
                debug!(connection_id = %handle.connection_id(), "websocket write timed out");
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

/// What to do with one request from an authenticated client.
enum Routed {
    Ignore,
    Reply(WebSocketResponse),
    Delegate(PendingAction),
}

fn route_request(hub: &HubState, handle: &ConnectionHandle, text: &str) -> Routed {
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
            reply: hub.delegate().handle_action(
                handle.identity().clone(),
                handle.connection_id().to_string(),
                request,
            ),
        }),
    }
}

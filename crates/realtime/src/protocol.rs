//! The websocket protocol as the hub speaks it, apart from any socket: client requests and
//! the checks Mattermost makes on them, OK and FAIL replies, `hello`, close reasons.

use axum::extract::ws::Message;
use chorus_model::{
    event_names, now_millis, Broadcast, ErrorId, WebSocketEvent, WebSocketRequest,
    WebSocketResponse,
};
use serde_json::{json, Value};
use tracing::debug;

use crate::config::HubConfig;
use crate::connection::{close_code, ConnectionHandle};
use crate::delegate::ActionError;

/// Client actions the hub answers itself; all others go to the delegate.
pub(crate) mod actions {
    pub const AUTHENTICATION_CHALLENGE: &str = "authentication_challenge";
    pub const PING: &str = "ping";
}

/// The reason text of a close frame the hub sends.
pub(crate) fn close_reason(code: u16) -> &'static str {
    match code {
        close_code::GOING_AWAY => "going away",
        close_code::POLICY_VIOLATION => "authentication required",
        close_code::TRY_AGAIN_LATER => "too slow to receive events",
        close_code::MESSAGE_TOO_BIG => "message too big",
        _ => "",
    }
}

/// How a failed read ends the connection: a message over the size limit gets a close frame
/// saying so (as Mattermost's gorilla websocket does), anything else is a broken connection.
pub(crate) fn read_failure_code(error: axum::Error) -> Option<u16> {
    let is_too_big = error
        .into_inner()
        .downcast_ref::<tungstenite::Error>()
        .is_some_and(|error| matches!(error, tungstenite::Error::Capacity(_)));
    is_too_big.then_some(close_code::MESSAGE_TOO_BIG)
}

pub(crate) fn parse_request(text: &str) -> Option<WebSocketRequest> {
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
pub(crate) fn check_request(request: &WebSocketRequest) -> Result<(), ActionError> {
    if request.action.is_empty() {
        return Err(ErrorId::WebSocketNoAction.into());
    }
    if request.seq <= 0 {
        return Err(ErrorId::WebSocketBadSeq.into());
    }
    Ok(())
}

pub(crate) fn not_authenticated() -> ActionError {
    ErrorId::WebSocketNotAuthenticated.into()
}

/// The FAIL reply to request `seq_reply`, as Mattermost writes it.
pub(crate) fn failure(seq_reply: i64, error: &ActionError) -> WebSocketResponse {
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

pub(crate) fn pong_data() -> Value {
    json!({
        "text": "pong",
        "version": chorus_model::SERVER_VERSION,
        "server_time": now_millis(),
        "node_id": "",
    })
}

pub(crate) fn response_message(response: &WebSocketResponse) -> Message {
    let text = serde_json::to_string(response).expect("a websocket response always serializes");
    Message::Text(text.into())
}

pub(crate) fn hello_event(config: &HubConfig, handle: &ConnectionHandle) -> WebSocketEvent {
    // Keys in the order Mattermost's (sorted) Go map produces.
    WebSocketEvent::new(event_names::HELLO, Broadcast::to_user(handle.user_id()))
        .with("connection_id", handle.connection_id())
        .with("server_hostname", config.server_hostname.as_str())
        .with("server_version", config.server_version.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

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

//! The hub's way into the rest of the server, implemented by `app`: who a token stands for,
//! who is in a channel or team, client actions, presence. (What the hub needs across nodes is
//! the other seam, `continuity::Continuity`.) These types are the bottom of the crate: they
//! import nothing of it.

use std::collections::HashSet;
use std::sync::Arc;

use chorus_model::WebSocketRequest;
use futures_util::future::BoxFuture;

/// Who is on the other end of an authenticated connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionIdentity {
    pub user_id: String,
    pub session_id: String,
    pub session_token: String,
    /// Milliseconds since the epoch; 0 means the session never expires. The connection is
    /// closed when it passes.
    pub expires_at: i64,
    /// Whether the session's roles make the user a system admin when the connection
    /// authenticated: it then receives the admins' copy of an event that exists in copies
    /// (`Broadcast::contains_sensitive_data`) instead of everyone's
    /// (`contains_sanitized_data`). A role change later reaches the connection through
    /// `Hub::set_system_admin`.
    pub is_system_admin: bool,
}

/// What the hub needs from the server around it; implemented by `app`.
///
/// The synchronous callbacks (`user_connected`, `user_disconnected`) run while the hub holds
/// its registration lock, so that they are seen in the order connections came and went: they
/// must return quickly (spawn any I/O) and must not open or close connections themselves.
/// Reading the hub (`Hub::user_connection_count`, `Hub::publish`) from them is fine.
pub trait HubDelegate: Send + Sync + 'static {
    /// token → identity, None when invalid/expired (used for `authentication_challenge`).
    fn authenticate(&self, token: String) -> BoxFuture<'static, Option<ConnectionIdentity>>;

    /// User ids of a channel's members (the delegate caches; the hub calls this per channel
    /// event). None: the channel is unknown, and the event goes to nobody.
    fn channel_member_ids(
        &self,
        channel_id: String,
    ) -> BoxFuture<'static, Option<Arc<HashSet<String>>>>;

    /// User ids of a team's members, like [`HubDelegate::channel_member_ids`].
    fn team_member_ids(&self, team_id: String) -> BoxFuture<'static, Option<Arc<HashSet<String>>>>;

    /// A client action other than `authentication_challenge` and `ping` (e.g. `user_typing`,
    /// `get_statuses`). `Ok(data)` → `{"status":"OK","seq_reply":n,"data":..}`; `Err` → a
    /// FAIL response carrying the error.
    fn handle_action(
        &self,
        identity: ConnectionIdentity,
        connection_id: String,
        request: WebSocketRequest,
    ) -> BoxFuture<'static, Result<Option<serde_json::Value>, ActionError>>;

    /// The first connection of a user on this node opened (status online).
    fn user_connected(&self, user_id: String);

    /// The last connection of a user on this node closed (status offline, once other nodes
    /// agree).
    fn user_disconnected(&self, user_id: String);
}

/// Why a client action failed, as the FAIL reply carries it:
/// `{"status":"FAIL","seq_reply":n,"error":{"id","message","detailed_error","status_code"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionError {
    /// Mattermost-style translation id, e.g. `api.web_socket_router.bad_seq.app_error`.
    pub id: String,
    pub message: String,
    pub detailed_error: String,
    /// The HTTP status the same failure would have on the REST API.
    pub status_code: u16,
}

/// A catalogue entry as an action's failure: the same id, status and message as on REST.
impl From<chorus_model::ErrorId> for ActionError {
    fn from(entry: chorus_model::ErrorId) -> Self {
        ActionError::new(entry.status(), entry.id(), entry.message())
    }
}

impl ActionError {
    pub fn new(status_code: u16, id: impl Into<String>, message: impl Into<String>) -> Self {
        ActionError {
            id: id.into(),
            message: message.into(),
            detailed_error: String::new(),
            status_code,
        }
    }
}

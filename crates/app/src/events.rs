//! Publishing websocket events, and the bridge the hub uses to reach the app.

use crate::post_order::PREVIOUS_POST_AT;
use crate::{App, AppInner};
use chorus_model::{AppError, Post, WebSocketEvent, WebSocketRequest};
use chorus_realtime::{
    ActionError, ConnectionIdentity, Continuity, HubDelegate, ResumeRequest, ResumeSource,
};
use futures_util::future::BoxFuture;
use std::collections::HashSet;
use std::sync::{Arc, Weak};

impl App {
    /// Who a websocket's token stands for, or None when it is invalid or expired.
    pub async fn connection_identity(&self, token: &str) -> Option<ConnectionIdentity> {
        let session = self.session_from_token(token).await.ok()?;
        Some(ConnectionIdentity {
            user_id: session.user_id.clone(),
            session_id: session.id.clone(),
            session_token: session.token.clone(),
            expires_at: session.expires_at,
        })
    }

    /// Hands an event to every interested connection, on this node and on the others.
    /// Called after the change is committed.
    pub(crate) fn publish(&self, event: WebSocketEvent) {
        self.note_event_writes(&event);
        self.forward_event(&event);
        self.inner.hub.publish(event);
    }

    /// [`App::publish`] for the `posted` event of a post just stored, whose channel's
    /// previous post was created at `previous_post_at`: every node hands it to its clients in
    /// the channel's `create_at` order (see `post_order`).
    pub(crate) fn publish_post(&self, event: WebSocketEvent, post: &Post, previous_post_at: i64) {
        self.note_event_writes(&event);
        let chained = event.clone().with(PREVIOUS_POST_AT, previous_post_at);
        self.forward_event(&chained);
        self.publish_post_in_order(&post.channel_id, post.create_at, previous_post_at, event);
    }
}

/// What the hub asks of the app, and (until the `relay` crate takes it over) how it resumes
/// and checkpoints across nodes. Holds a weak reference: the app owns the hub.
pub(crate) struct HubBridge {
    pub(crate) app: Weak<AppInner>,
}

impl HubBridge {
    fn app(&self) -> Option<App> {
        self.app.upgrade().map(App::from_inner)
    }
}

impl HubDelegate for HubBridge {
    fn authenticate(&self, token: String) -> BoxFuture<'static, Option<ConnectionIdentity>> {
        let app = self.app();
        Box::pin(async move { app?.connection_identity(&token).await })
    }

    fn channel_member_ids(
        &self,
        channel_id: String,
    ) -> BoxFuture<'static, Option<Arc<HashSet<String>>>> {
        let app = self.app();
        Box::pin(async move { app?.channel_member_ids(&channel_id).await.ok() })
    }

    fn team_member_ids(&self, team_id: String) -> BoxFuture<'static, Option<Arc<HashSet<String>>>> {
        let app = self.app();
        Box::pin(async move { app?.team_member_ids(&team_id).await.ok() })
    }

    fn handle_action(
        &self,
        identity: ConnectionIdentity,
        _connection_id: String,
        request: WebSocketRequest,
    ) -> BoxFuture<'static, Result<Option<serde_json::Value>, ActionError>> {
        let app = self.app();
        Box::pin(async move {
            let Some(app) = app else {
                return Err(ActionError::new(
                    503,
                    "api.server.shutting_down",
                    "The server is shutting down.",
                ));
            };
            app.handle_websocket_action(identity, request)
                .await
                .map_err(action_error)
        })
    }

    fn user_connected(&self, user_id: String) {
        if let Some(app) = self.app() {
            tokio::spawn(async move { app.set_online(&user_id).await });
        }
    }

    fn user_disconnected(&self, user_id: String) {
        if let Some(app) = self.app() {
            tokio::spawn(async move { app.set_offline_if_unconnected(&user_id).await });
        }
    }
}

impl Continuity for HubBridge {
    fn checkpoint(&self, batch: Vec<chorus_realtime::ConnectionCheckpoint>) {
        if let Some(app) = self.app() {
            app.send_checkpoints(batch);
        }
    }

    fn resume_elsewhere(&self, request: ResumeRequest) -> BoxFuture<'static, ResumeSource> {
        let app = self.app();
        Box::pin(async move {
            match app {
                Some(app) => app.resume_elsewhere(request).await,
                None => ResumeSource::Unknown,
            }
        })
    }
}

/// A failed client action as the hub replies it.
fn action_error(error: AppError) -> ActionError {
    ActionError {
        id: error.id,
        message: error.message,
        detailed_error: error.detailed_error,
        status_code: error.status_code,
    }
}

//! Publishing websocket events (through the relay), the bridge the hub uses to reach the app,
//! and the directory the relay asks about channels, users and mentions.

use crate::{App, AppInner};
use chorus_model::{
    event_names, AppError, Channel, ErrorId, Post, User, WebSocketEvent, WebSocketRequest,
};
use chorus_realtime::{ActionError, ConnectionIdentity, HubDelegate};
use chorus_relay::Directory;
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
            is_system_admin: session.is_system_admin(),
        })
    }

    /// Hands an event to every interested connection, on this node and on the others.
    /// Called after the change is committed.
    pub(crate) fn publish(&self, event: WebSocketEvent) {
        self.note_event_writes(&event);
        self.metrics().broadcast(&event.event);
        self.inner.relay.publish(event);
    }

    /// [`App::publish`] for the `posted` event of a post just stored, whose channel's
    /// previous post was created at `previous_post_at`: every node hands it to its clients in
    /// the channel's `create_at` order (see `chorus_relay::post_order`).
    pub(crate) fn publish_post(&self, event: WebSocketEvent, post: &Post, previous_post_at: i64) {
        self.note_event_writes(&event);
        self.metrics().post_created();
        self.metrics().broadcast(&event.event);
        self.inner.relay.publish_post(
            event,
            &post.channel_id,
            &post.id,
            post.create_at,
            previous_post_at,
        );
    }
}

/// What the hub asks of the app (resumes and checkpoints across nodes are the relay's, see
/// `chorus_relay::Relay::continuity`). Holds a weak reference: the app owns the hub.
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
                return Err(ErrorId::ShuttingDown.into());
            };
            app.handle_websocket_action(identity, request)
                .await
                .map_err(action_error)
        })
    }

    fn user_connected(&self, user_id: String) {
        if let Some(app) = self.app() {
            app.inner.relay.user_arrived(&user_id);
            tokio::spawn(async move { app.set_online(&user_id).await });
        }
    }

    fn user_disconnected(&self, user_id: String) {
        if let Some(app) = self.app() {
            tokio::spawn(async move { app.set_offline_if_unconnected(&user_id).await });
        }
    }
}

/// What the relay asks of the app, answered from its caches. Holds a weak reference: the app
/// owns the relay.
pub(crate) struct AppDirectory {
    pub(crate) app: Weak<AppInner>,
}

impl AppDirectory {
    fn app(&self) -> Option<App> {
        self.app.upgrade().map(App::from_inner)
    }
}

impl Directory for AppDirectory {
    fn channel(&self, channel_id: String) -> BoxFuture<'static, Option<Arc<Channel>>> {
        let app = self.app();
        Box::pin(async move { app?.cached_channel(&channel_id).await.ok() })
    }

    fn user(&self, user_id: String) -> BoxFuture<'static, Option<Arc<User>>> {
        let app = self.app();
        Box::pin(async move { app?.cached_user(&user_id).await.ok() })
    }

    fn mentioned_user_ids(
        &self,
        author_id: String,
        channel: Arc<Channel>,
        message: String,
    ) -> BoxFuture<'static, Option<Vec<String>>> {
        let app = self.app();
        Box::pin(async move {
            app?.resolve_mentions(&author_id, &channel, &message)
                .await
                .ok()
        })
    }

    fn arrived_from_another_node(&self, event: &WebSocketEvent) {
        let Some(app) = self.app() else {
            return;
        };
        // A membership change announced by another node: this node's cached members of that
        // channel are stale before the event is routed.
        if matches!(
            event.event.as_str(),
            event_names::USER_ADDED | event_names::USER_REMOVED
        ) && !event.broadcast.channel_id.is_empty()
        {
            app.inner
                .caches
                .channel_members
                .remove(&event.broadcast.channel_id);
        }
        // Reads prompted by this event must see the write behind it.
        app.note_event_writes(event);
    }

    fn cached_channel_member_ids(&self, channel_id: &str) -> Option<Arc<HashSet<String>>> {
        let app = self.app()?;
        app.inner
            .caches
            .channel_members
            .get(&channel_id.to_string())
    }

    fn channel_member_ids(
        &self,
        channel_id: String,
    ) -> BoxFuture<'static, Option<Arc<HashSet<String>>>> {
        let app = self.app();
        Box::pin(async move { app?.channel_member_ids(&channel_id).await.ok() })
    }

    fn channels_of_users(&self, user_ids: Vec<String>) -> BoxFuture<'static, Option<Vec<String>>> {
        let app = self.app();
        Box::pin(async move { app?.channels_of_users(&user_ids).await.ok() })
    }

    fn note_channel_write(&self, channel_id: &str) {
        if let Some(app) = self.app() {
            app.store()
                .note_write(&[chorus_store::FreshKey::Channel(channel_id.to_string())]);
        }
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

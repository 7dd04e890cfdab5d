//! This node's part in the cluster: what it tells the other nodes (cache invalidations, revoked
//! sessions, config changes) and what it does with what they tell it. Messages about websocket
//! delivery (events, checkpoints, resumes) go to the relay (`chorus_relay`).
//!
//! Every invalidation goes through [`App::invalidate`]: it applies the change here and sends
//! it reliably (acknowledged, ordered per sender) to every other node, so a change made
//! through node A is visible on node B before A's next event reaches B's clients.

use crate::{require_system_admin, App, AppInner, AppResult};
use chorus_cluster::{Cluster, ClusterMessage, MessageHandler, Readiness};
use chorus_jobs::LeaderLease;
use chorus_model::{event_names, ErrorId, Session, WebSocketEvent};
use chorus_relay::Relay;
use serde_json::{json, Value};
use std::sync::{Arc, Weak};

/// The cluster membership and leadership of a clustered node.
#[derive(Clone)]
pub struct ClusterRuntime {
    pub cluster: Cluster,
    pub lease: LeaderLease,
    pub cluster_name: String,
}

impl App {
    /// Called once at start, after `Cluster::start` (which needs [`App::cluster_handler`]).
    pub fn attach_cluster(&self, runtime: ClusterRuntime) {
        let cluster = runtime.cluster.clone();
        if self.inner.cluster.set(runtime).is_ok() {
            self.inner.relay.attach_cluster(cluster);
        }
    }

    pub fn cluster_runtime(&self) -> Option<&ClusterRuntime> {
        self.inner.cluster.get()
    }

    /// The handler to give `Cluster::start`: messages from other nodes land here.
    pub fn cluster_handler(&self) -> Arc<dyn MessageHandler> {
        Arc::new(ClusterBridge {
            app: Arc::downgrade(&self.inner),
        })
    }

    /// Applies a cache invalidation here and on every other node.
    pub(crate) fn invalidate(&self, message: ClusterMessage) {
        self.apply_invalidation(&message);
        if let Some(runtime) = self.cluster_runtime() {
            runtime.cluster.send_reliable(message);
        }
    }

    fn apply_invalidation(&self, message: &ClusterMessage) {
        self.note_invalidation_writes(message);
        let caches = &self.inner.caches;
        match message {
            ClusterMessage::SessionRevoked {
                session_ids,
                tokens,
                ..
            } => {
                for token in tokens {
                    caches.sessions.remove(token);
                }
                for session_id in session_ids {
                    self.inner.hub.close_session(session_id);
                }
            }
            ClusterMessage::UserSessionsChanged { user_id } => {
                caches
                    .sessions
                    .retain(|_, session| &session.user_id != user_id);
                self.refresh_websocket_role(user_id);
            }
            ClusterMessage::ChannelMembersChanged { channel_id } => {
                caches.channel_members.remove(channel_id)
            }
            ClusterMessage::TeamMembersChanged { team_id } => caches.team_members.remove(team_id),
            ClusterMessage::ChannelChanged { channel_id } => caches.channels.remove(channel_id),
            ClusterMessage::UserChanged { user_id } => caches.users.remove(user_id),
            ClusterMessage::OutgoingWebhooksChanged { team_id } => {
                caches.teams_with_outgoing_webhooks.remove(team_id)
            }
            ClusterMessage::InvalidateAllCaches => caches.clear_all(),
            _ => {}
        }
    }

    /// Sessions deleted from the database: forget them and close their sockets everywhere.
    pub(crate) fn forget_sessions(&self, sessions: &[Session]) {
        if sessions.is_empty() {
            return;
        }
        self.invalidate(ClusterMessage::SessionRevoked {
            session_ids: sessions.iter().map(|session| session.id.clone()).collect(),
            tokens: sessions
                .iter()
                .map(|session| session.token.clone())
                .collect(),
            user_id: sessions[0].user_id.clone(),
        });
    }

    /// The user's sessions changed (their roles, say): their websockets on this node receive
    /// the copies of events meant for their current role from now on (Mattermost re-reads the
    /// session of a user's connections when their sessions are invalidated). Read from the
    /// master, which has the change by the time its invalidation arrives; events routed in
    /// the moment before still go by the old role.
    fn refresh_websocket_role(&self, user_id: &str) {
        let app = self.clone();
        let user_id = user_id.to_string();
        tokio::spawn(async move {
            let Ok(db) = app.store().master().await else {
                return;
            };
            if let Ok(user) = chorus_store::users::get(&db, &user_id).await {
                app.inner
                    .hub
                    .set_system_admin(&user_id, user.is_system_admin());
            }
        });
    }

    /// Drops every cached session of a user (roles changed, password changed), everywhere.
    pub(crate) fn forget_user_sessions(&self, user_id: &str) {
        self.invalidate(ClusterMessage::UserSessionsChanged {
            user_id: user_id.to_string(),
        });
    }

    /// GET /api/v4/cluster/status: every node known, with Mattermost's ClusterInfo fields plus
    /// whether it is alive, draining, the leader, and whether its config or version differs.
    pub async fn cluster_status(&self, session: &Session) -> AppResult<Vec<Value>> {
        require_system_admin(session)?;
        let Some(runtime) = self.cluster_runtime() else {
            return Ok(Vec::new());
        };
        let leader = runtime.lease.leader_node_id().await.ok().flatten();
        let own_hash = self.config().hash();
        let members = runtime.cluster.members();
        let mut infos = Vec::new();
        for member in members {
            infos.push(json!({
                "id": member.node_id,
                "version": member.version,
                "schema_version": member.schema_version.to_string(),
                "config_hash": member.config_hash,
                "ipaddress": member.ip,
                "hostname": member.hostname,
                "api_address": member.api_address,
                "alive": member.alive,
                "ready": member.alive && member.readiness == Readiness::Serving,
                "is_leader": leader.as_deref() == Some(member.node_id.as_str()),
                "is_self": member.is_self,
                "last_seen_at": member.last_seen_at,
                "config_mismatch": member.config_hash != own_hash,
                "version_mismatch": member.version != chorus_model::SERVER_VERSION,
            }));
        }
        Ok(infos)
    }

    /// Whether another live node holds a websocket of the user: asks them all and waits
    /// briefly for one to say so (a node that does not answer in time holds none that matter).
    pub(crate) async fn user_connected_elsewhere(&self, user_id: &str) -> bool {
        let Some(runtime) = self.cluster_runtime() else {
            return false;
        };
        if runtime.cluster.alive_node_ids().len() <= 1 {
            return false;
        }
        let (sender, receiver) = tokio::sync::oneshot::channel();
        self.inner
            .connection_queries
            .lock()
            .insert(user_id.to_string(), sender);
        runtime
            .cluster
            .send_reliable(ClusterMessage::UserConnectionsQuery {
                user_id: user_id.to_string(),
            });
        let asked_at = std::time::Instant::now();
        let held = tokio::time::timeout(std::time::Duration::from_millis(500), receiver)
            .await
            .is_ok_and(|answer| answer.is_ok());
        self.metrics().cluster_request(asked_at.elapsed());
        self.inner.connection_queries.lock().remove(user_id);
        held
    }

    /// Whether PUT /config is refused because the cluster's config is read-only.
    pub(crate) fn config_is_read_only(&self) -> AppResult<()> {
        let config = self.config();
        if config.cluster_settings.enable && config.cluster_settings.read_only_config {
            return Err(ErrorId::ClusterConfigReadOnly.into());
        }
        Ok(())
    }

    /// Tells the other nodes this node's config changed, and republishes its hash in gossip.
    pub(crate) fn announce_config_change(&self) {
        let hash = self.config().hash();
        if let Some(runtime) = self.cluster_runtime() {
            runtime.cluster.set_config_hash(&hash);
            runtime
                .cluster
                .send_reliable(ClusterMessage::ConfigChanged { config_hash: hash });
        }
        self.inner.hub.publish(WebSocketEvent::new(
            event_names::CONFIG_CHANGED,
            chorus_model::Broadcast::to_everyone(),
        ));
    }

    /// Sends the config just saved here to the other nodes, which save it too.
    /// With the configuration in the database there is nothing to send: the others read the
    /// row when `ConfigChanged` arrives.
    pub(crate) fn share_saved_config(&self) {
        let Some(runtime) = self.cluster_runtime() else {
            return;
        };
        if self.config_database().is_some() {
            return;
        }
        if let Ok(config_json) = serde_json::to_string(&*self.config()) {
            runtime
                .cluster
                .send_reliable(ClusterMessage::ConfigSaved { config_json });
        }
    }

    /// Saves a config another node saved, keeping this node's own values of the node-local
    /// keys (its listen addresses, log location, ClusterSettings).
    fn adopt_saved_config(&self, config_json: &str) {
        let parsed = serde_json::from_str::<Value>(config_json)
            .map_err(|error| error.to_string())
            .and_then(|tree| {
                chorus_config::Config::from_value(tree).map_err(|error| error.to_string())
            });
        let mut config = match parsed {
            Ok(config) => config,
            Err(error) => {
                tracing::warn!(error = %error, "config from another node is invalid; keeping ours");
                return;
            }
        };
        config.keep_node_local_keys(&self.config());
        let saved = {
            let mut guard = self.inner.config_store.lock();
            match guard.as_mut() {
                Some(config_store) => config_store
                    .save(config)
                    .map(|()| config_store.config().clone())
                    .map_err(|error| error.to_string()),
                None => Ok(config),
            }
        };
        match saved {
            Ok(saved) => {
                self.apply_config(saved);
                if let Some(runtime) = self.cluster_runtime() {
                    runtime.cluster.set_config_hash(&self.config().hash());
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, "could not save the config another node saved")
            }
        }
    }

    /// `X-Cluster-Id`: the cluster's name when clustering is on.
    pub fn cluster_id(&self) -> Option<String> {
        self.cluster_runtime()
            .map(|runtime| runtime.cluster_name.clone())
    }
}

/// Receives other nodes' messages. Holds a weak reference: the app owns the cluster.
struct ClusterBridge {
    app: Weak<AppInner>,
}

impl MessageHandler for ClusterBridge {
    fn handle(&self, from_node: &str, message: ClusterMessage) {
        let Some(inner) = self.app.upgrade() else {
            return;
        };
        let app = App::from_inner(inner);
        match message {
            ClusterMessage::ConfigSaved { config_json } => app.adopt_saved_config(&config_json),
            ClusterMessage::UserConnectionsQuery { user_id } => {
                if app.inner.hub.user_connection_count(&user_id) > 0 {
                    if let Some(runtime) = app.cluster_runtime() {
                        runtime.cluster.send_reliable_to(
                            from_node,
                            ClusterMessage::UserConnectionsHeld { user_id },
                        );
                    }
                }
            }
            ClusterMessage::UserConnectionsHeld { user_id } => {
                if let Some(waiter) = app.inner.connection_queries.lock().remove(&user_id) {
                    let _ = waiter.send(());
                }
            }
            ClusterMessage::ConfigChanged { config_hash } => {
                tracing::info!(from_node, config_hash = %config_hash, "another node changed its config");
                app.config_announced(&config_hash);
            }
            ClusterMessage::ReloadConfigFromDisk => {
                let from_node = from_node.to_string();
                tokio::spawn(async move {
                    if let Err(error) = app.reload_config_from_source().await {
                        tracing::error!(from_node, error = %error.message, "reloading the configuration as another node asked failed");
                    }
                });
            }
            ClusterMessage::RecycleDatabaseConnections => {
                if let Err(error) = app.recycle_database_pools() {
                    tracing::error!(from_node, error = %error.message, "recycling database pools as another node asked failed");
                }
            }
            ClusterMessage::ServerBusyChanged { expires_at } => app.adopt_busy(expires_at),
            delivery if Relay::delivers(&delivery) => app.inner.relay.receive(from_node, delivery),
            other => app.apply_invalidation(&other),
        }
    }

    /// Cache invalidations and events from that node never came: drop every cache, and let
    /// the relay resync every websocket client here.
    fn messages_lost(&self, from_node: &str) {
        let Some(inner) = self.app.upgrade() else {
            return;
        };
        tracing::warn!(
            from_node,
            "messages from another node were lost: clearing caches"
        );
        inner.caches.clear_all();
        inner.relay.messages_lost(from_node);
    }
}

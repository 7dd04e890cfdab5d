//! Online / away / dnd / offline, and the websocket actions clients send.

use crate::{App, AppResult};
use chorus_model::{
    event_names, is_valid_id, now_millis, AppError, Broadcast, ErrorId, Session, Status,
    WebSocketEvent, WebSocketRequest, STATUS_AWAY, STATUS_DND, STATUS_OFFLINE, STATUS_ONLINE,
};
use chorus_realtime::ConnectionIdentity;
use chorus_store::status as status_store;
use serde_json::Value;

impl App {
    pub async fn get_statuses(&self, user_ids: &[String]) -> AppResult<Vec<Status>> {
        if user_ids.len() > 1000 || !user_ids.iter().all(|id| is_valid_id(id)) {
            return Err(AppError::invalid_param("user_ids"));
        }
        // A status set a moment ago (announced by `status_change`) must read back as set.
        let keys: Vec<chorus_store::FreshKey> = user_ids
            .iter()
            .cloned()
            .map(chorus_store::FreshKey::User)
            .collect();
        let db = self.store().replica_for(&keys).await?;
        let mut statuses = status_store::get_many(&db, user_ids).await?;
        // Users never seen online are offline.
        for user_id in user_ids {
            if !statuses.iter().any(|status| &status.user_id == user_id) {
                statuses.push(Status {
                    user_id: user_id.clone(),
                    status: STATUS_OFFLINE.to_string(),
                    ..Default::default()
                });
            }
        }
        Ok(statuses)
    }

    pub async fn get_status(&self, user_id: &str) -> AppResult<Status> {
        let mut statuses = self.get_statuses(&[user_id.to_string()]).await?;
        Ok(statuses.remove(0))
    }

    /// PUT /users/{id}/status: a status set by hand sticks until changed by hand.
    pub async fn set_status_manually(
        &self,
        session: &Session,
        user_id: &str,
        status: &str,
        dnd_end_time: i64,
    ) -> AppResult<Status> {
        if session.user_id != user_id {
            crate::require_system_admin(session)?;
        }
        if ![STATUS_ONLINE, STATUS_AWAY, STATUS_DND, STATUS_OFFLINE].contains(&status) {
            return Err(AppError::from(ErrorId::StatusInvalid));
        }
        let manual = status != STATUS_ONLINE;
        self.save_status(Status {
            user_id: user_id.to_string(),
            status: status.to_string(),
            manual,
            last_activity_at: now_millis(),
            dnd_end_time,
        })
        .await
    }

    pub(crate) async fn save_status(&self, status: Status) -> AppResult<Status> {
        let db = self.store().master().await?;
        status_store::upsert(&db, &status).await?;
        drop(db);
        self.publish(
            WebSocketEvent::new(
                event_names::STATUS_CHANGE,
                Broadcast::to_user(&status.user_id),
            )
            .with("status", status.status.clone())
            .with("user_id", status.user_id.clone()),
        );
        Ok(status)
    }

    /// The status as the master holds it. Connects and disconnects decide from it: another
    /// node may have just written it (a page reloaded: its old websocket closed on one node,
    /// the new one opened on another), and a replica or cache a moment behind would have this
    /// node skip setting online after the other set offline.
    async fn status_on_master(&self, user_id: &str) -> AppResult<Status> {
        let db = self.store().master().await?;
        let statuses = status_store::get_many(&db, &[user_id.to_string()]).await?;
        Ok(statuses.into_iter().next().unwrap_or_else(|| Status {
            user_id: user_id.to_string(),
            status: STATUS_OFFLINE.to_string(),
            ..Default::default()
        }))
    }

    /// First connection of a user on this node: online, unless they chose a status by hand.
    pub(crate) async fn set_online(&self, user_id: &str) {
        let current = self.status_on_master(user_id).await;
        if let Ok(current) = &current {
            if current.manual || current.status == STATUS_ONLINE {
                return;
            }
        }
        let status = Status {
            user_id: user_id.to_string(),
            status: STATUS_ONLINE.to_string(),
            manual: false,
            last_activity_at: now_millis(),
            dnd_end_time: 0,
        };
        if let Err(error) = self.save_status(status).await {
            tracing::warn!(user_id, error = %error, "could not set status online");
        }
    }

    /// Last connection of a user on this node closed: offline, unless another node still
    /// holds a connection of theirs.
    pub(crate) async fn set_offline_if_unconnected(&self, user_id: &str) {
        if self.hub().user_connection_count(user_id) > 0
            || self.user_connected_elsewhere(user_id).await
        {
            return;
        }
        let Ok(current) = self.status_on_master(user_id).await else {
            return;
        };
        if current.manual || current.status == STATUS_OFFLINE {
            return;
        }
        let status = Status {
            status: STATUS_OFFLINE.to_string(),
            last_activity_at: now_millis(),
            ..current
        };
        if let Err(error) = self.save_status(status).await {
            tracing::warn!(user_id, error = %error, "could not set status offline");
        }
    }

    /// Websocket actions other than authentication and ping.
    pub(crate) async fn handle_websocket_action(
        &self,
        identity: ConnectionIdentity,
        request: WebSocketRequest,
    ) -> AppResult<Option<Value>> {
        match request.action.as_str() {
            "user_typing" => {
                let channel_id = request
                    .data
                    .get("channel_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let parent_id = request
                    .data
                    .get("parent_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                if !is_valid_id(&channel_id) {
                    return Err(AppError::invalid_param("channel_id"));
                }
                // Echoed to every member of the channel: an id or nothing, never free text.
                if !parent_id.is_empty() && !is_valid_id(&parent_id) {
                    return Err(AppError::invalid_param("parent_id"));
                }
                if !self
                    .channel_member_ids(&channel_id)
                    .await?
                    .contains(&identity.user_id)
                {
                    return Err(AppError::no_permission());
                }
                self.publish(
                    WebSocketEvent::new(
                        event_names::TYPING,
                        Broadcast::to_channel(&channel_id).omitting(&identity.user_id),
                    )
                    .with("parent_id", parent_id)
                    .with("user_id", identity.user_id.clone()),
                );
                Ok(None)
            }
            // Chorus keeps no all-users status map in memory; clients ask by ids.
            "get_statuses" => Ok(Some(Value::Object(serde_json::Map::new()))),
            "get_statuses_by_ids" => {
                let user_ids: Vec<String> = request
                    .data
                    .get("user_ids")
                    .and_then(Value::as_array)
                    .map(|ids| {
                        ids.iter()
                            .filter_map(|id| id.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let statuses = self.get_statuses(&user_ids).await?;
                let map: serde_json::Map<String, Value> = statuses
                    .into_iter()
                    .map(|status| (status.user_id, Value::String(status.status)))
                    .collect();
                Ok(Some(Value::Object(map)))
            }
            // Presence hints the web client sends; nothing to answer.
            "presence" | "user_update_active_status" | "posted_notify_ack" => Ok(None),
            other => Err(ErrorId::WebSocketUnknownAction.with_param("action", other)),
        }
    }
}

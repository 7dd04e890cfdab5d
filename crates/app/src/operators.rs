//! Operators' tools (issue 13): PUT /config/patch, the cluster's busy flag (/server_busy) and
//! this node's recent log lines (/logs).
//!
//! Busy is cluster-wide, as in Mattermost: the node an admin asks applies it and tells the
//! others (`ClusterMessage::ServerBusyChanged`, reliable). A node that starts while the
//! cluster is busy does not learn it (Mattermost's nodes do not either); it expires anyway.

use crate::{require_system_admin, App, AppResult};
use chorus_cluster::ClusterMessage;
use chorus_model::{now_millis, AppError, ErrorId, Session};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};

/// Mattermost's `DefaultServerBusySeconds` and `MaxServerBusySeconds`.
pub const DEFAULT_SERVER_BUSY_SECONDS: i64 = 3600;
pub const MAX_SERVER_BUSY_SECONDS: i64 = 86_400;
/// Mattermost's default and largest `logs_per_page`.
const DEFAULT_LOGS_PER_PAGE: usize = 10_000;

/// Until when (ms since the epoch) the cluster is busy; 0 or past: not busy.
#[derive(Default)]
pub(crate) struct BusyFlag {
    expires_at: AtomicI64,
}

/// Answer of GET /server_busy (Mattermost's `ServerBusyState`): `expires` in seconds.
#[derive(Debug, Serialize)]
pub struct ServerBusyState {
    pub busy: bool,
    pub expires: i64,
    pub expires_ts: String,
}

impl App {
    /// PUT /config/patch: the patch merged into the running config (objects key by key,
    /// anything else replaced), then saved like PUT /config (mmctl's `config set` and
    /// `config patch` send this).
    pub async fn patch_config(&self, session: &Session, patch: Value) -> AppResult<Value> {
        require_system_admin(session)?;
        if !patch.is_object() {
            return Err(AppError::invalid_param("config"));
        }
        let mut merged = serde_json::to_value(&*self.config())
            .map_err(|error| AppError::invalid_param("config").with_detail(error.to_string()))?;
        merge_json(&mut merged, patch);
        self.save_config(session, merged).await
    }

    /// POST /server_busy?seconds=N (1 to a day; an hour when absent).
    pub fn set_server_busy(&self, session: &Session, seconds: Option<&str>) -> AppResult<()> {
        require_system_admin(session)?;
        let seconds = match seconds {
            None | Some("") => DEFAULT_SERVER_BUSY_SECONDS,
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|seconds| (1..=MAX_SERVER_BUSY_SECONDS).contains(seconds))
                .ok_or_else(|| {
                    ErrorId::InvalidUrlParam.with_param(
                        "name",
                        format!("seconds must be 1 - {MAX_SERVER_BUSY_SECONDS}"),
                    )
                })?,
        };
        self.change_busy(now_millis() + seconds * 1000);
        Ok(())
    }

    /// DELETE /server_busy.
    pub fn clear_server_busy(&self, session: &Session) -> AppResult<()> {
        require_system_admin(session)?;
        self.change_busy(0);
        Ok(())
    }

    fn change_busy(&self, expires_at: i64) {
        self.inner
            .busy
            .expires_at
            .store(expires_at, Ordering::Relaxed);
        if let Some(runtime) = self.cluster_runtime() {
            runtime
                .cluster
                .send_reliable(ClusterMessage::ServerBusyChanged { expires_at });
        }
    }

    /// Another node changed the cluster's busy flag.
    pub(crate) fn adopt_busy(&self, expires_at: i64) {
        self.inner
            .busy
            .expires_at
            .store(expires_at, Ordering::Relaxed);
    }

    /// GET /server_busy.
    pub fn server_busy_state(&self, session: &Session) -> AppResult<ServerBusyState> {
        require_system_admin(session)?;
        let expires_at = self.inner.busy.expires_at.load(Ordering::Relaxed);
        let busy = expires_at > now_millis();
        let expires = if busy { expires_at / 1000 } else { 0 };
        Ok(ServerBusyState {
            busy,
            expires,
            expires_ts: if busy {
                crate::logs::format_timestamp(expires_at)
            } else {
                String::new()
            },
        })
    }

    /// Searches and autocompletes answer 503 while the cluster is busy (Mattermost's
    /// `APISessionRequiredDisableWhenBusy` routes).
    pub(crate) fn require_not_busy(&self) -> AppResult<()> {
        if self.inner.busy.expires_at.load(Ordering::Relaxed) > now_millis() {
            return Err(ErrorId::ServerBusy.into());
        }
        Ok(())
    }

    /// GET /logs?page=&logs_per_page=: this node's recent log lines, oldest first.
    pub fn recent_logs(
        &self,
        session: &Session,
        page: Option<i64>,
        per_page: Option<i64>,
    ) -> AppResult<Vec<String>> {
        require_system_admin(session)?;
        let page = page.unwrap_or(0);
        let per_page = per_page.unwrap_or(DEFAULT_LOGS_PER_PAGE as i64);
        if page < 0 {
            return Err(AppError::invalid_param("page"));
        }
        if per_page < 0 {
            return Err(AppError::invalid_param("logs_per_page"));
        }
        Ok(crate::logs::recent_lines(
            page as usize,
            (per_page as usize).min(DEFAULT_LOGS_PER_PAGE),
        ))
    }
}

/// Body of POST /logs/query (Mattermost's `LogFilter`): empty lists and dates filter nothing.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct LogFilter {
    pub server_names: Vec<String>,
    pub log_levels: Vec<String>,
    /// `YYYY-MM-DD HH:MM:SS.mmm Z`, compared with the lines' timestamps.
    pub date_from: String,
    pub date_to: String,
}

impl App {
    /// POST /logs/query (the System Console's Server Logs): this node's recent lines that pass
    /// the filter, parsed, under this node's hostname. Mattermost gathers every node's; here
    /// each node answers for itself.
    pub fn query_logs(
        &self,
        session: &Session,
        page: Option<i64>,
        per_page: Option<i64>,
        filter: LogFilter,
    ) -> AppResult<BTreeMap<String, Vec<Value>>> {
        let hostname = self.node().hostname.clone();
        let mut answer = BTreeMap::new();
        let lines = self.recent_logs(session, page, per_page)?;
        if !filter.server_names.is_empty() && !filter.server_names.contains(&hostname) {
            return Ok(answer);
        }
        let levels: Vec<String> = filter
            .log_levels
            .iter()
            .map(|level| level.to_lowercase())
            .collect();
        let mut kept = Vec::new();
        for line in lines {
            let Ok(parsed) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            let level = parsed["level"].as_str().unwrap_or_default();
            let timestamp = parsed["timestamp"].as_str().unwrap_or_default();
            let level_passes = levels.is_empty() || levels.iter().any(|wanted| wanted == level);
            let after_start = filter.date_from.is_empty() || timestamp >= filter.date_from.as_str();
            let before_end = filter.date_to.is_empty() || timestamp <= filter.date_to.as_str();
            if level_passes && after_start && before_end {
                kept.push(parsed);
            }
        }
        answer.insert(hostname, kept);
        Ok(answer)
    }
}

/// Merges `patch` into `target`: objects key by key, recursively; any other value replaces.
fn merge_json(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(target_map), Value::Object(patch_map)) => {
            for (key, value) in patch_map {
                match target_map.get_mut(&key) {
                    Some(existing) => merge_json(existing, value),
                    None => {
                        target_map.insert(key, value);
                    }
                }
            }
        }
        (target, patch) => *target = patch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_patch_changes_only_what_it_names() {
        let mut config = json!({"TeamSettings": {"SiteName": "A", "MaxUsersPerTeam": 50}, "LogSettings": {"ConsoleLevel": "INFO"}});
        merge_json(
            &mut config,
            json!({"TeamSettings": {"SiteName": "B"}, "New": [1]}),
        );
        assert_eq!(
            config,
            json!({"TeamSettings": {"SiteName": "B", "MaxUsersPerTeam": 50}, "LogSettings": {"ConsoleLevel": "INFO"}, "New": [1]})
        );
    }
}

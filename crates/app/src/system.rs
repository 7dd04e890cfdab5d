//! Health (ping), configuration (client, admin view, save, reload) and cache invalidation.

use crate::{require_system_admin, App, AppResult};
use chorus_config::Config;
use chorus_model::{AppError, ErrorId, Session};
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The last database health result, so frequent pings from load balancers do not each
/// touch the database: a background loop probes the master every second
/// ([`App::start_health_probe`]) and pings read the outcome from memory.
pub(crate) struct DatabaseProbe {
    last: Mutex<Option<(Instant, Result<(), String>)>>,
    last_success: Mutex<Instant>,
}

impl Default for DatabaseProbe {
    fn default() -> Self {
        // A node starts serving only after its migrations ran against the master.
        DatabaseProbe {
            last: Mutex::new(None),
            last_success: Mutex::new(Instant::now()),
        }
    }
}

const PROBE_CACHE: Duration = Duration::from_secs(1);
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// Without a successful probe for this long, the node reports it cannot serve.
const PROBE_STALE_AFTER: Duration = Duration::from_secs(4);

/// Why a node cannot take traffic right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unready {
    Draining,
    DatabaseUnreachable,
}

/// Answer of GET /system/ping.
pub struct PingReport {
    pub healthy: bool,
    pub body: Value,
}

impl App {
    /// GET /api/v4/system/ping. Without `get_server_status` it does not touch the database.
    pub async fn ping(&self, get_server_status: bool) -> PingReport {
        let mut body = json!({
            "status": "OK",
            "ActiveSearchBackend": "database",
            "AndroidLatestVersion": "",
            "AndroidMinVersion": "",
            "IosLatestVersion": "",
            "IosMinVersion": "",
        });
        let readiness = self.readiness();
        if let Err(reason) = readiness {
            body["status"] = Value::String("UNHEALTHY".to_string());
            body["reason"] = Value::String(format!("{reason:?}").to_lowercase());
        }
        if !get_server_status {
            return PingReport {
                healthy: readiness.is_ok(),
                body,
            };
        }
        let database_status = match self.probe_database().await {
            Ok(()) => "OK".to_string(),
            Err(error) => {
                tracing::warn!(error = %error, "database health check failed");
                "UNHEALTHY".to_string()
            }
        };
        let filestore_status = match self.check_file_store().await {
            Ok(()) => "OK".to_string(),
            Err(error) => {
                tracing::warn!(error = %error, "file store health check failed");
                "UNHEALTHY".to_string()
            }
        };
        let healthy = readiness.is_ok() && database_status == "OK" && filestore_status == "OK";
        body["database_status"] = Value::String(database_status);
        body["filestore_status"] = Value::String(filestore_status);
        if !healthy {
            body["status"] = Value::String("UNHEALTHY".to_string());
        }
        PingReport { healthy, body }
    }

    /// Whether this node should receive traffic: not draining, and the master answered a
    /// probe recently. Reads memory only.
    pub fn readiness(&self) -> Result<(), Unready> {
        if self
            .inner
            .draining
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return Err(Unready::Draining);
        }
        if self.inner.database_probe.last_success.lock().elapsed() > PROBE_STALE_AFTER {
            return Err(Unready::DatabaseUnreachable);
        }
        Ok(())
    }

    /// Whether [`App::start_draining`] was called.
    pub fn is_draining(&self) -> bool {
        self.inner
            .draining
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Graceful drain: from now on ping answers 503 so balancers route around this node.
    pub fn start_draining(&self) {
        self.inner
            .draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Probes the master every second for as long as the app lives.
    pub fn start_health_probe(&self) {
        self.every(PROBE_INTERVAL, |app| async move {
            let _ = app.probe_database_now().await;
        });
    }

    /// Writes and deletes a row on the master (never reads a replica): cached for a second.
    async fn probe_database(&self) -> Result<(), String> {
        if let Some((checked_at, result)) = self.inner.database_probe.last.lock().clone() {
            if checked_at.elapsed() < PROBE_CACHE {
                return result;
            }
        }
        self.probe_database_now().await
    }

    async fn probe_database_now(&self) -> Result<(), String> {
        let check = tokio::time::timeout(
            Duration::from_secs(5),
            self.store().check_master_writable(&self.node().node_id),
        )
        .await;
        let result = match check {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err("timed out".to_string()),
        };
        if result.is_ok() {
            *self.inner.database_probe.last_success.lock() = Instant::now();
        }
        *self.inner.database_probe.last.lock() = Some((Instant::now(), result.clone()));
        result
    }

    pub fn client_config(&self) -> BTreeMap<String, String> {
        self.config().client_config(chorus_model::SERVER_VERSION)
    }

    pub fn limited_client_config(&self) -> BTreeMap<String, String> {
        self.config()
            .limited_client_config(chorus_model::SERVER_VERSION)
    }

    /// GET /api/v4/config: the whole config, secrets masked.
    pub fn admin_config(&self, session: &Session) -> AppResult<Value> {
        require_system_admin(session)?;
        Ok(self.config().masked())
    }

    /// PUT /api/v4/config: validates, stores it (config.json without the env overrides, or a
    /// new row in the database) and applies it on this node, then on the others.
    pub async fn save_config(&self, session: &Session, body: Value) -> AppResult<Value> {
        require_system_admin(session)?;
        self.config_is_read_only()?;
        let current = self.config();
        let mut new_config = Config::from_value(body).map_err(config_error)?;
        new_config.unmask_from(&current);
        // In a cluster the body was likely read from another node (through the balancer):
        // its listen addresses and ClusterSettings are that node's. Node-local keys are
        // edited in each node's config.json (or environment).
        if current.cluster_settings.enable {
            new_config.keep_node_local_keys(&current);
        }
        self.store_config(new_config).await?;
        self.announce_config_change();
        self.share_saved_config();
        Ok(self.config().masked())
    }

    /// POST /api/v4/config/reload: re-reads the configuration (each node its config.json, or
    /// the active row in the database) here and on every other node, and applies changed
    /// database settings (see `apply_config`).
    pub async fn reload_config(&self, session: &Session) -> AppResult<()> {
        require_system_admin(session)?;
        self.reload_config_from_source().await?;
        if let Some(runtime) = self.cluster_runtime() {
            runtime
                .cluster
                .send_reliable(chorus_cluster::ClusterMessage::ReloadConfigFromDisk);
        }
        Ok(())
    }

    /// Re-reads the configuration from where it is kept.
    pub(crate) async fn reload_config_from_source(&self) -> AppResult<()> {
        if self.config_database().is_some() {
            // The row may be the one this node runs; read it whatever the version says.
            if let Some(config_store) = self.inner.config_store.lock().as_mut() {
                config_store.set_version(None);
            }
            self.adopt_config_from_database().await?;
            return Ok(());
        }
        self.reload_config_from_disk()
    }

    pub(crate) fn reload_config_from_disk(&self) -> AppResult<()> {
        let mut guard = self.inner.config_store.lock();
        let Some(config_store) = guard.as_mut() else {
            return Err(AppError::from(ErrorId::ConfigNotReloadable));
        };
        let reloaded = config_store.reload().map_err(config_error)?.clone();
        drop(guard);
        self.apply_config(reloaded);
        self.announce_config_change();
        Ok(())
    }

    /// POST /api/v4/database/recycle: closes and reopens every database pool, here and on every
    /// other node. Requests in flight finish on the connections they hold.
    pub fn recycle_database(&self, session: &Session) -> AppResult<()> {
        require_system_admin(session)?;
        self.recycle_database_pools()?;
        if let Some(runtime) = self.cluster_runtime() {
            runtime
                .cluster
                .send_reliable(chorus_cluster::ClusterMessage::RecycleDatabaseConnections);
        }
        Ok(())
    }

    pub(crate) fn recycle_database_pools(&self) -> AppResult<()> {
        let settings = self.config().sql_settings.clone();
        Ok(self.store().rebuild_pools(&settings)?)
    }

    /// GET /api/v4/database/status: master and every replica as this node's monitor sees them.
    pub fn database_status(&self, session: &Session) -> AppResult<chorus_store::DatabaseStatus> {
        require_system_admin(session)?;
        Ok(self.store().status())
    }

    /// POST /api/v4/caches/invalidate.
    pub fn invalidate_caches(&self, session: &Session) -> AppResult<()> {
        require_system_admin(session)?;
        self.invalidate(chorus_cluster::ClusterMessage::InvalidateAllCaches);
        Ok(())
    }
}

pub(crate) fn config_error(error: chorus_config::ConfigError) -> AppError {
    ErrorId::ConfigInvalid.with_param("reason", error)
}

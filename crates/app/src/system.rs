//! Health (ping), configuration (client, admin view, save, reload) and cache invalidation.

use crate::{require_system_admin, App, AppResult};
use chorus_config::Config;
use chorus_model::{AppError, Session};
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The last database health result, so frequent pings from load balancers do not each
/// touch the database.
#[derive(Default)]
pub(crate) struct DatabaseProbe {
    last: Mutex<Option<(Instant, Result<(), String>)>>,
}

const PROBE_CACHE: Duration = Duration::from_secs(1);

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
        if !get_server_status {
            return PingReport {
                healthy: true,
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
        let healthy = database_status == "OK" && filestore_status == "OK";
        body["database_status"] = Value::String(database_status);
        body["filestore_status"] = Value::String(filestore_status);
        if !healthy {
            body["status"] = Value::String("UNHEALTHY".to_string());
        }
        PingReport { healthy, body }
    }

    /// Writes and deletes a row on the master (never reads a replica): cached for a second.
    async fn probe_database(&self) -> Result<(), String> {
        if let Some((checked_at, result)) = self.inner.database_probe.last.lock().clone() {
            if checked_at.elapsed() < PROBE_CACHE {
                return result;
            }
        }
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
        *self.inner.database_probe.last.lock() = Some((Instant::now(), result.clone()));
        result
    }

    /// A real write, read and delete in the local file directory. (The file-storage issue
    /// replaces this with the configured backend.)
    async fn check_file_store(&self) -> Result<(), String> {
        let directory = std::path::PathBuf::from(&self.config().file_settings.directory);
        let probe = directory.join(format!("health_check_{}", self.node().node_id));
        let payload = b"chorus file store health check";
        tokio::fs::create_dir_all(&directory)
            .await
            .map_err(|error| error.to_string())?;
        tokio::fs::write(&probe, payload)
            .await
            .map_err(|error| error.to_string())?;
        let read_back = tokio::fs::read(&probe)
            .await
            .map_err(|error| error.to_string());
        let _ = tokio::fs::remove_file(&probe).await;
        if read_back? != payload {
            return Err("read back different bytes".to_string());
        }
        Ok(())
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

    /// PUT /api/v4/config: validates, writes the file (env overrides stay out of it) and
    /// applies the new config on this node.
    pub fn save_config(&self, session: &Session, body: Value) -> AppResult<Value> {
        require_system_admin(session)?;
        let current = self.config();
        let mut new_config = Config::from_value(body).map_err(config_error)?;
        new_config.unmask_from(&current);
        let mut guard = self.inner.config_store.lock();
        let Some(config_store) = guard.as_mut() else {
            return Err(AppError::forbidden(
                "api.config.update_config.not_allowed",
                "This server's configuration cannot be changed at run time.",
            ));
        };
        config_store.save(new_config).map_err(config_error)?;
        let saved = config_store.config().clone();
        drop(guard);
        self.apply_config(saved);
        Ok(self.config().masked())
    }

    /// POST /api/v4/config/reload: re-reads config.json from disk.
    pub fn reload_config(&self, session: &Session) -> AppResult<()> {
        require_system_admin(session)?;
        let mut guard = self.inner.config_store.lock();
        let Some(config_store) = guard.as_mut() else {
            return Err(AppError::forbidden(
                "api.config.reload_config.not_allowed",
                "This server has no config file to reload.",
            ));
        };
        let reloaded = config_store.reload().map_err(config_error)?.clone();
        drop(guard);
        self.apply_config(reloaded);
        Ok(())
    }

    /// POST /api/v4/caches/invalidate.
    pub fn invalidate_caches(&self, session: &Session) -> AppResult<()> {
        require_system_admin(session)?;
        self.inner.caches.clear_all();
        Ok(())
    }
}

fn config_error(error: chorus_config::ConfigError) -> AppError {
    AppError::bad_request("model.config.is_valid.app_error", error.to_string())
}

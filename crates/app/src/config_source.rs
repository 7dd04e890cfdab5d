//! Where this node's configuration is kept, and how a change reaches every node.
//!
//! - **config.json** (one file per node): a save writes this node's file and sends the config
//!   to the others (`ConfigSaved`), which write theirs keeping their node-local keys; a reload
//!   re-reads each node's own file.
//! - **The database** (`--config postgres://…`): every node reads the same active row of
//!   `configurations`, with its node-local keys from its environment. A save writes a new row
//!   and tells the others (`ConfigChanged` with the new hash), which read the row again when
//!   their hash differs: the change is everywhere within a cluster message's time. A node that
//!   missed the message (cut off, restarting) finds the new row within [`CONFIG_POLL`] by
//!   checking the active row's id, so configurations cannot drift.

use std::time::Duration;

use chorus_config::{Config, ConfigSource};
use chorus_model::{AppError, ErrorId, WebSocketEvent};
use chorus_store::configurations;

use crate::{App, AppResult};

/// How often a node with its configuration in the database checks the active row's id.
pub const CONFIG_POLL: Duration = Duration::from_secs(5);

impl App {
    /// The DSN, when the configuration lives in the database.
    pub(crate) fn config_database(&self) -> Option<String> {
        match self.inner.config_store.lock().as_ref()?.source() {
            ConfigSource::Database(dsn) => Some(dsn.clone()),
            ConfigSource::File(_) => None,
        }
    }

    /// Stores `new` where the configuration is kept and applies it on this node; the caller
    /// tells the other nodes.
    pub(crate) async fn store_config(&self, new: Config) -> AppResult<()> {
        let saved = match self.config_database() {
            None => {
                let mut guard = self.inner.config_store.lock();
                let Some(config_store) = guard.as_mut() else {
                    return Err(AppError::from(ErrorId::ConfigNotChangeable));
                };
                config_store
                    .save(new)
                    .map_err(crate::system::config_error)?;
                config_store.config().clone()
            }
            Some(dsn) => {
                let pending = {
                    let guard = self.inner.config_store.lock();
                    let Some(config_store) = guard.as_ref() else {
                        return Err(AppError::from(ErrorId::ConfigNotChangeable));
                    };
                    config_store
                        .prepare_save(new)
                        .map_err(crate::system::config_error)?
                };
                let stored = configurations::save(&dsn, pending.tree()).await?;
                let mut guard = self.inner.config_store.lock();
                let Some(config_store) = guard.as_mut() else {
                    return Err(AppError::from(ErrorId::ConfigNotChangeable));
                };
                config_store.commit(pending);
                config_store.set_version(Some(stored.id));
                config_store.config().clone()
            }
        };
        self.apply_config(saved);
        Ok(())
    }

    /// Reads the active configuration row again and applies it when it is not the one this
    /// node runs. Returns whether it changed anything.
    pub(crate) async fn adopt_config_from_database(&self) -> AppResult<bool> {
        let Some(dsn) = self.config_database() else {
            return Ok(false);
        };
        let Some(stored) = configurations::load_active(&dsn).await? else {
            return Ok(false);
        };
        let adopted = {
            let mut guard = self.inner.config_store.lock();
            let Some(config_store) = guard.as_mut() else {
                return Ok(false);
            };
            if config_store.version() == Some(stored.id.as_str()) {
                return Ok(false);
            }
            let adopted = config_store
                .replace_tree(stored.tree)
                .map_err(crate::system::config_error)?
                .clone();
            config_store.set_version(Some(stored.id));
            adopted
        };
        let changed = adopted.hash() != self.config().hash();
        self.apply_config(adopted);
        if let Some(runtime) = self.cluster_runtime() {
            runtime.cluster.set_config_hash(&self.config().hash());
        }
        // This node's clients reload their client config, as after a save here.
        self.inner.hub.publish(WebSocketEvent::new(
            chorus_model::event_names::CONFIG_CHANGED,
            chorus_model::Broadcast::to_everyone(),
        ));
        Ok(changed)
    }

    /// Another node announced a config with `config_hash`: with the configuration in the
    /// database, read it unless this node runs it already.
    pub(crate) fn config_announced(&self, config_hash: &str) {
        if self.config_database().is_none() || self.config().hash() == config_hash {
            return;
        }
        let app = self.clone();
        tokio::spawn(async move {
            if let Err(error) = app.adopt_config_from_database().await {
                tracing::warn!(error = %error.message, "could not read the configuration another node saved");
            }
        });
    }

    /// With the configuration in the database: checks every [`CONFIG_POLL`] whether another
    /// row than this node's is active.
    pub fn start_config_watch(&self) {
        if self.config_database().is_none() {
            return;
        }
        self.every(CONFIG_POLL, |app| async move {
            let Some(dsn) = app.config_database() else {
                return;
            };
            let current = app
                .inner
                .config_store
                .lock()
                .as_ref()
                .and_then(|store| store.version().map(str::to_string));
            match configurations::active_id(&dsn).await {
                Ok(active) if active.is_some() && active != current => {
                    match app.adopt_config_from_database().await {
                        Ok(true) => tracing::info!("applied a configuration found in the database"),
                        Ok(false) => {}
                        Err(error) => tracing::warn!(error = %error.message, "could not apply the configuration in the database"),
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(error = %error, "could not check the configuration in the database")
                }
            }
        });
    }
}

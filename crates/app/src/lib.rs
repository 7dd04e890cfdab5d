//! The use cases of Chorus: the only place that combines the store, the relay (websocket
//! delivery across nodes), the file store and the cluster. Every permission check lives here.
//!
//! An [`App`] is a cheap clonable handle. Handlers in `api` call one method per request with
//! the caller's [`Session`]; the method checks permissions, writes through `store` (commit
//! before answering: acknowledged means durable), then publishes the resulting websocket
//! events. Caches here (sessions, channel members, channels, users) are only caches: dropping
//! them loses nothing.
//!
//! How an event reaches every node's clients, and how a websocket resumes on another node, is
//! the `chorus_relay` crate's business: this crate hands it events after their commit.
//!
//! This crate does not speak SQL or HTTP.

mod access;
mod cache;
mod channel_settings;
mod channels;
mod cluster;
mod commands;
mod config_source;
mod emoji;
mod events;
mod files;
mod freshness;
mod integrations;
mod jobs;
pub mod logs;
mod lookups;
mod mentions;
pub mod metrics;
mod outbox;
pub mod password;
mod post_writer;
mod posts;
mod preferences;
mod roles;
mod sessions;
mod sidebar;
mod status;
mod system;
mod team_settings;
mod teams;
mod threads;
mod users;
// people, posts, operators (issue 13)
mod operators;
mod people;
mod post_lookups;

pub use channels::DirectChannelRequest;
pub use chorus_files::emoji::MAX_EMOJI_FILE_SIZE;
pub use chorus_store::channels::ChannelScope;
pub use chorus_store::DatabaseStatus;
pub use cluster::ClusterRuntime;
pub use commands::{AutocompleteSuggestion, CommandListQuery};
pub use config_source::CONFIG_POLL;
pub use emoji::{EmojiImageContent, MAX_EMOJI_NAMES};
pub use files::{FileContent, FileRendition, FileUpload};
pub use integrations::{BotListQuery, BotToUserRequest, HookListQuery};
pub use jobs::JobListQuery;
pub use lookups::AllChannelsQuery;
pub use operators::{
    LogFilter, ServerBusyState, DEFAULT_SERVER_BUSY_SECONDS, MAX_SERVER_BUSY_SECONDS,
};
pub use outbox::MAX_ATTEMPTS as OUTBOX_MAX_ATTEMPTS;
pub use people::{
    AutocompleteQuery, CustomStatus, FilteredUsersStatsQuery, ProfileImage, ServerLimits,
    UserAutocomplete, UserSearchRequest, UsersStats,
};
pub use posts::{ChannelPostsQuery, CreatePostRequest, PostEdit};
pub use preferences::FlaggedPostsQuery;
pub use sessions::{LoginRequest, LoginResult};
pub use system::{PingReport, Unready};
pub use team_settings::TeamIcon;
pub use threads::ThreadsQuery;
pub use users::{CreateUserRequest, UserListQuery};

use arc_swap::ArcSwap;
use chorus_config::{Config, ConfigStore};
use chorus_model::{AppError, Session};
use chorus_realtime::{Hub, HubConfig};
use chorus_relay::Relay;
use chorus_store::Store;
use std::sync::{Arc, Weak};
use std::time::Duration;

pub type AppResult<T> = Result<T, AppError>;

/// Facts about this node that do not come from config.json.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// Random per process start: tells this node's rows and messages apart.
    pub node_id: String,
    pub hostname: String,
}

#[derive(Clone)]
pub struct App {
    inner: Arc<AppInner>,
}

pub(crate) struct AppInner {
    pub(crate) config: ArcSwap<Config>,
    /// `X-Version-Id`, recomputed only when the config changes (it hashes the client config).
    pub(crate) version_id: ArcSwap<String>,
    pub(crate) config_store: parking_lot::Mutex<Option<ConfigStore>>,
    pub(crate) store: Store,
    pub(crate) hub: Hub,
    pub(crate) node: NodeInfo,
    pub(crate) caches: cache::Caches,
    /// Held from a post's commit until its event is handed to the hub, so that events of a
    /// channel leave in commit order (`create_at` order).
    pub(crate) channel_locks: cache::ShardedLocks,
    /// Root posts waiting to be written together (see `post_writer`).
    post_writer: post_writer::PostWriter,
    pub(crate) login_throttle: sessions::LoginThrottle,
    /// Passwords hashed to check them (see `App::password_checks`).
    pub(crate) password_checks: std::sync::atomic::AtomicU64,
    pub(crate) database_probe: system::DatabaseProbe,
    /// The shared file store, built from FileSettings on first use.
    pub(crate) files: files::FileStoreHandle,
    /// Set on SIGTERM: ping answers 503 while in-flight work finishes.
    pub(crate) draining: std::sync::atomic::AtomicBool,
    /// Set once at start on clustered nodes.
    pub(crate) cluster: std::sync::OnceLock<cluster::ClusterRuntime>,
    /// Users this node is asking the others about before marking them offline.
    pub(crate) connection_queries:
        parking_lot::Mutex<std::collections::HashMap<String, tokio::sync::oneshot::Sender<()>>>,
    /// Delivers websocket events to every node's clients, and resumes connections from
    /// elsewhere.
    pub(crate) relay: Relay,
    /// This node's Prometheus registry.
    pub(crate) metrics: metrics::Metrics,
    /// Told of every config this node applies (see [`App::on_config_change`]).
    pub(crate) config_listeners: parking_lot::RwLock<Vec<ConfigListener>>,
    /// Until when the cluster is marked busy (POST /server_busy).
    pub(crate) busy: operators::BusyFlag,
    /// Wakes this node's outbox worker when one of its posts queued deliveries.
    pub(crate) outbox_wake: Arc<tokio::sync::Notify>,
}

/// Called with each config a node applies (reload, PUT /config, a config saved elsewhere).
pub type ConfigListener = Box<dyn Fn(&Config) + Send + Sync>;

impl App {
    /// Wires an app around a store. `config_store` is None in tests that build a config in
    /// memory; then PUT /config and reload are refused.
    pub fn new(
        config: Config,
        config_store: Option<ConfigStore>,
        store: Store,
        node: NodeInfo,
    ) -> App {
        let inner = Arc::new_cyclic(|weak_inner: &Weak<AppInner>| {
            let delegate = Arc::new(events::HubBridge {
                app: weak_inner.clone(),
            });
            let hub_config = HubConfig {
                server_version: version_header(&config),
                server_hostname: node.hostname.clone(),
                send_queue_size: 256,
                unauthenticated_timeout: Duration::from_secs(5),
                ping_interval: Duration::from_secs(60),
                pong_timeout: Duration::from_secs(100),
                dispatch_shards: 2,
                checkpoint_interval: config
                    .cluster_settings
                    .enable
                    .then_some(chorus_relay::CHECKPOINT_INTERVAL),
                ..HubConfig::default()
            };
            let hub = Hub::new(hub_config, delegate);
            let directory = Arc::new(events::AppDirectory {
                app: weak_inner.clone(),
            });
            let relay = Relay::new(store.clone(), hub.clone(), directory);
            hub.set_continuity(relay.continuity());
            let node_metrics = metrics::Metrics::new();
            node_metrics.add_sampler(metrics::app_sampler(weak_inner.clone()));
            let session_ttl = Duration::from_secs(
                config.service_settings.session_cache_in_minutes.max(0) as u64 * 60,
            );
            AppInner {
                caches: cache::Caches::new(session_ttl),
                version_id: ArcSwap::from_pointee(version_header(&config)),
                config: ArcSwap::from_pointee(config),
                config_store: parking_lot::Mutex::new(config_store),
                store,
                hub,
                node,
                channel_locks: cache::ShardedLocks::new(256),
                post_writer: Default::default(),
                login_throttle: sessions::LoginThrottle::default(),
                password_checks: std::sync::atomic::AtomicU64::new(0),
                database_probe: system::DatabaseProbe::default(),
                files: files::FileStoreHandle::default(),
                draining: std::sync::atomic::AtomicBool::new(false),
                cluster: std::sync::OnceLock::new(),
                connection_queries: parking_lot::Mutex::new(std::collections::HashMap::new()),
                relay,
                metrics: node_metrics,
                config_listeners: parking_lot::RwLock::new(Vec::new()),
                busy: operators::BusyFlag::default(),
                outbox_wake: Arc::new(tokio::sync::Notify::new()),
            }
        });
        App { inner }
    }

    pub fn config(&self) -> Arc<Config> {
        self.inner.config.load_full()
    }

    /// This node's metrics: the HTTP layer counts requests into it, the server serves it.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }

    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    pub fn node(&self) -> &NodeInfo {
        &self.inner.node
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// `X-Version-Id`: `<version>.<build>.<client config hash>.<licensed>`.
    pub fn version_id(&self) -> Arc<String> {
        self.inner.version_id.load_full()
    }

    /// Makes `config` the running configuration of this node.
    /// Makes `config` the node's config. Changed database settings (DataSource, replica
    /// lists, pool sizes and lifetimes) take effect at once: the pools are rebuilt.
    pub(crate) fn apply_config(&self, config: Config) {
        if config.sql_settings != self.config().sql_settings {
            if let Err(error) = self.store().rebuild_pools(&config.sql_settings) {
                tracing::error!(error = %error, "new SqlSettings not applied; keeping the current database pools");
            }
        }
        self.inner
            .version_id
            .store(Arc::new(version_header(&config)));
        for listener in self.inner.config_listeners.read().iter() {
            listener(&config);
        }
        self.inner.config.store(Arc::new(config));
    }

    /// Runs `listener` with every config this node applies from now on, whichever way it came
    /// (what the app itself does not act on, such as log levels, the server does here).
    pub fn on_config_change(&self, listener: ConfigListener) {
        self.inner.config_listeners.write().push(listener);
    }

    /// Runs `task` every `period` for as long as the app lives (the task holds no reference
    /// that would keep a stopped node's app alive).
    pub(crate) fn every<F, Fut>(&self, period: Duration, task: F)
    where
        F: Fn(App) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let weak_inner = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let Some(inner) = weak_inner.upgrade() else {
                    return;
                };
                task(App::from_inner(inner)).await;
            }
        });
    }

    pub(crate) fn from_inner(inner: Arc<AppInner>) -> App {
        App { inner }
    }
}

fn version_header(config: &Config) -> String {
    let hash = config.client_config_hash(chorus_model::SERVER_VERSION);
    format!(
        "{}.{}.{}.false",
        chorus_model::SERVER_VERSION,
        chorus_model::SERVER_VERSION,
        &hash[..hash.len().min(32)]
    )
}

/// Refuses anyone but a system admin.
pub(crate) fn require_system_admin(session: &Session) -> AppResult<()> {
    if session.is_system_admin() {
        Ok(())
    } else {
        Err(AppError::no_permission())
    }
}

/// Turns Mattermost's `page` / `per_page` into (offset, limit), refusing negative values.
pub(crate) fn page_window(
    page: Option<i64>,
    per_page: Option<i64>,
    default_per_page: i64,
    maximum_per_page: i64,
) -> AppResult<(i64, i64)> {
    let page = page.unwrap_or(0);
    let per_page = per_page.unwrap_or(default_per_page);
    if page < 0 {
        return Err(AppError::invalid_param("page"));
    }
    if per_page < 0 {
        return Err(AppError::invalid_param("per_page"));
    }
    let per_page = per_page.min(maximum_per_page);
    let offset = page
        .checked_mul(per_page)
        .ok_or_else(|| AppError::invalid_param("page"))?;
    Ok((offset, per_page))
}

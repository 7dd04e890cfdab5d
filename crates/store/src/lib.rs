//! PostgreSQL: migrations, every SQL statement Chorus runs, and the choice of connection.
//!
//! Only this crate speaks SQL. Callers pick the routing explicitly at each call site:
//! [`Store::master`] for writes and reads that must see the latest writes, [`Store::replica`]
//! for reads that may lag, [`Store::search`] for full-text search, and the `_for(keys)` variants
//! ([`Store::replica_for`]) for reads that must see every write announced for some keys
//! (read-your-writes, `freshness`). Each source has its own pool (`routing`); a monitor task
//! (`monitor`) takes lagging or unreachable replicas out of rotation.
//!
//! Query functions live in one module per table group (`users`, `posts`, `files`, ...) and take any
//! [`GenericClient`], so the same function runs on a pooled connection or inside a transaction.
//! This crate does not cache and does not know about websockets or other nodes.
//!
//! # Failover
//! Manual, as Mattermost's guide says: promote a replica, point `DataSource` at it, reload the
//! config, recycle the pools ([`Store::rebuild_pools`]: a new generation
//! of pools is swapped in atomically). Automatic: `DataSource` names several hosts with
//! `target_session_attrs=read-write`; when the master dies its connections close, the monitor
//! drops idle ones (also when the master turns out to be a read-only standby) and new
//! connections find the host that takes writes. In between, writes fail with
//! [`StoreError::Unavailable`] (503 for clients, never 500) and clients retry with the same
//! `pending_post_id`. No acknowledged write is lost only with synchronous replication.
//!
//! # Migrations and rolling upgrades
//! [`Store::migrate`] runs refinery's migrations (`migrations/`) on the master under
//! `pg_advisory_lock`, once across all nodes. Within a minor version migrations are additive
//! (new tables, nullable or defaulted columns, indexes), and code never relies on `SELECT *`
//! column order, so nodes one version behind keep working on the newer schema (refinery's
//! `abort_missing` is off); renames and drops wait for the next minor version.

pub mod channels;
pub mod cluster;
pub mod configurations;
pub mod emoji;
pub mod files;
mod freshness;
pub mod history;
pub mod integrations;
pub mod jobs;
pub mod leader;
mod monitor;
pub mod posts;
pub mod preferences;
pub mod reactions;
mod routing;
pub mod sessions;
pub mod sidebar;
pub mod status;
pub mod system;
pub mod teams;
pub mod threads;
pub mod users;

use arc_swap::ArcSwap;
use chorus_config::SqlSettings;
use chorus_model::ErrorId;
use std::sync::Arc;
use tokio_postgres::NoTls;

use freshness::Freshness;
use routing::{Requirement, Source, Sources};

pub use freshness::FreshKey;
pub use routing::Role;

pub use deadpool_postgres::{GenericClient, Object as Connection, Transaction};

/// Why a store call failed, in terms the app layer can map to a client-visible answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(Record),
    /// A unique constraint refused the write; carries the constraint name.
    #[error("conflict on {0}")]
    Conflict(String),
    /// The database could not be reached or refused the connection.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The statement ran longer than SqlSettings.QueryTimeout and was cancelled by the server.
    #[error("query timed out")]
    Timeout,
    #[error("database error: {0}")]
    Database(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What a [`StoreError::NotFound`] did not find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    AccessToken,
    Bot,
    Channel,
    ChannelMember,
    Emoji,
    Command,
    FileInfo,
    IncomingWebhook,
    Job,
    OutgoingWebhook,
    Post,
    Preference,
    Session,
    SidebarCategory,
    Team,
    TeamMember,
    ThreadMembership,
    User,
}

impl std::fmt::Display for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Record::AccessToken => "access token",
            Record::Bot => "bot",
            Record::IncomingWebhook => "incoming webhook",
            Record::OutgoingWebhook => "outgoing webhook",
            Record::Channel => "channel",
            Record::ChannelMember => "channel member",
            Record::Emoji => "emoji",
            Record::Command => "command",
            Record::FileInfo => "file info",
            Record::Job => "job",
            Record::Post => "post",
            Record::Preference => "preference",
            Record::Session => "session",
            Record::SidebarCategory => "sidebar category",
            Record::Team => "team",
            Record::TeamMember => "team member",
            Record::ThreadMembership => "thread membership",
            Record::User => "user",
        })
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        if let Some(db_error) = error.as_db_error() {
            let code = db_error.code();
            if *code == SqlState::UNIQUE_VIOLATION {
                return StoreError::Conflict(db_error.constraint().unwrap_or_default().to_string());
            }
            if *code == SqlState::QUERY_CANCELED {
                return StoreError::Timeout;
            }
            if *code == SqlState::READ_ONLY_SQL_TRANSACTION
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
            {
                return StoreError::Unavailable(db_error.message().to_string());
            }
            return StoreError::Database(format!("{}: {}", code.code(), db_error.message()));
        }
        if error.is_closed() || error.code().is_none() {
            return StoreError::Unavailable(error.to_string());
        }
        StoreError::Database(error.to_string())
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        match error {
            deadpool_postgres::PoolError::Backend(inner) => inner.into(),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

/// The connection pools of one node and how a query picks one.
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

pub(crate) struct StoreInner {
    /// The current generation of pools; reload and recycle swap in a new one.
    pub(crate) sources: ArcSwap<Sources>,
    pub(crate) freshness: Freshness,
}

impl Store {
    /// Builds the pools (no connection is opened yet) and, inside a tokio runtime, starts the
    /// monitor that samples replication positions and replica health (see `monitor`).
    pub fn connect(settings: &SqlSettings) -> StoreResult<Store> {
        let inner = Arc::new(StoreInner {
            sources: ArcSwap::from_pointee(Sources::build(settings)?),
            freshness: Freshness::default(),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(monitor::run(Arc::downgrade(&inner)));
        }
        Ok(Store { inner })
    }

    /// Writes, and reads that must see what was just written (by anyone).
    pub async fn master(&self) -> StoreResult<Connection> {
        let sources = self.inner.sources.load();
        sources.master.checkout().await
    }

    /// Reads that tolerate replication lag and depend on no recent write: round-robin over the
    /// read replicas in rotation, the master when none is.
    pub async fn replica(&self) -> StoreResult<Connection> {
        self.replica_for(&[]).await
    }

    /// Reads that must see every write noted for `keys` ([`Store::note_write`]): a replica that
    /// has replayed them, else the master.
    pub async fn replica_for(&self, keys: &[FreshKey]) -> StoreResult<Connection> {
        let sources = self.inner.sources.load_full();
        let requirement = self.requirement(&sources, keys);
        let candidates = sources.replica_candidates(requirement);
        self.first_available(&sources, candidates).await
    }

    /// Full-text search: search replicas, then read replicas, then the master.
    pub async fn search(&self) -> StoreResult<Connection> {
        self.search_for(&[]).await
    }

    /// Search that must see every write noted for `keys`.
    pub async fn search_for(&self, keys: &[FreshKey]) -> StoreResult<Connection> {
        let sources = self.inner.sources.load_full();
        let requirement = self.requirement(&sources, keys);
        let candidates = sources.search_candidates(requirement);
        self.first_available(&sources, candidates).await
    }

    /// Records that a write touching `keys` has committed (here or, learned over the cluster,
    /// on another node), so reads of those keys avoid replicas that have not replayed it.
    pub fn note_write(&self, keys: &[FreshKey]) {
        if keys.is_empty() || self.inner.sources.load().all_replicas().next().is_none() {
            return;
        }
        self.inner.freshness.note(keys);
    }

    fn requirement(&self, sources: &Sources, keys: &[FreshKey]) -> Requirement {
        if sources.replicas.is_empty() && sources.search_replicas.is_empty() {
            return Requirement::MasterOnly;
        }
        let sample = *sources.master_sample.lock();
        self.inner.freshness.requirement(keys, sample)
    }

    /// A connection from the first candidate that gives one, else from the master. A replica
    /// whose checkout fails is taken out of rotation at once (the monitor puts it back).
    async fn first_available(
        &self,
        sources: &Sources,
        candidates: Vec<&Source>,
    ) -> StoreResult<Connection> {
        for source in candidates {
            match source.checkout().await {
                Ok(connection) => return Ok(connection),
                Err(error) => source.mark_unreachable(&error.to_string()),
            }
        }
        sources.master.checkout().await
    }

    /// Replaces every pool with new ones built from `settings` (reload: changed DataSource,
    /// replica lists or pool settings; recycle: the same settings). Requests holding a
    /// connection of the old pools finish on it; the old connections close as they come back.
    pub fn rebuild_pools(&self, settings: &SqlSettings) -> StoreResult<()> {
        let sources = Sources::build(settings)?;
        let old = self.inner.sources.swap(Arc::new(sources));
        old.master.drop_idle();
        for replica in old.all_replicas() {
            replica.drop_idle();
        }
        tracing::info!("database connection pools rebuilt");
        Ok(())
    }

    /// Master and every replica as the monitor last saw them, with pool usage.
    pub fn status(&self) -> DatabaseStatus {
        let sources = self.inner.sources.load();
        DatabaseStatus {
            master: SourceStatus::of(&sources.master, false),
            replicas: sources
                .all_replicas()
                .map(|source| SourceStatus::of(source, true))
                .collect(),
            read_your_writes_keys: self.inner.freshness.len(),
        }
    }

    /// Pool usage of the master: (connections open, idle, max).
    pub fn master_pool_status(&self) -> (usize, usize, usize) {
        let status = self.inner.sources.load().master.pool.status();
        (status.size, status.available, status.max_size)
    }

    /// Runs the migrations once across all nodes: under a session advisory lock on the master,
    /// on a dedicated connection, so two nodes starting together do not race.
    pub async fn migrate(settings: &SqlSettings) -> StoreResult<()> {
        let config = routing::parse_data_source(&settings.data_source, Role::Master)?;
        let (mut client, connection) = config.connect(NoTls).await?;
        let connection_task = tokio::spawn(connection);
        let result = run_migrations_locked(&mut client).await;
        drop(client);
        let _ = connection_task.await;
        result
    }

    /// Whether the master answers and takes a write (for `get_server_status`). Reads back on
    /// the same master connection, never from a replica.
    pub async fn check_master_writable(&self, node_key: &str) -> StoreResult<()> {
        let connection = self.master().await?;
        system::write_health_check(&connection, node_key).await
    }
}

/// GET /api/v4/database/status.
#[derive(Debug, serde::Serialize)]
pub struct DatabaseStatus {
    pub master: SourceStatus,
    pub replicas: Vec<SourceStatus>,
    /// Keys (users, channels, teams) currently held to fresh reads.
    pub read_your_writes_keys: usize,
}

#[derive(Debug, serde::Serialize)]
pub struct SourceStatus {
    pub role: Role,
    pub source: String,
    pub reachable: bool,
    pub in_rotation: bool,
    pub in_recovery: bool,
    /// Written (master) or replayed (replica) WAL position, as a byte offset.
    pub wal_position: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Connections handed to queries since the pools were (re)built.
    pub checkouts: u64,
    /// Seconds those queries waited for a connection, in total.
    pub checkout_wait_seconds: f64,
    /// Round trip of the monitor's last successful probe query.
    pub probe_seconds: f64,
    pub pool_open: usize,
    pub pool_idle: usize,
    pub pool_max: usize,
}

impl SourceStatus {
    fn of(source: &Source, replica: bool) -> SourceStatus {
        use std::sync::atomic::Ordering::Relaxed;
        let health = &source.health;
        let pool = source.pool.status();
        SourceStatus {
            role: source.role,
            source: source.label.clone(),
            reachable: health.reachable.load(Relaxed),
            in_rotation: health.in_rotation.load(Relaxed),
            in_recovery: health.in_recovery.load(Relaxed),
            wal_position: health.lsn.load(Relaxed),
            lag_bytes: replica.then(|| health.lag_bytes.load(Relaxed)),
            lag_seconds: replica.then(|| health.lag_millis.load(Relaxed) as f64 / 1000.0),
            last_error: health.last_error.lock().clone(),
            checkouts: health.checkouts.load(Relaxed),
            checkout_wait_seconds: health.checkout_wait_micros.load(Relaxed) as f64 / 1e6,
            probe_seconds: health.probe_micros.load(Relaxed) as f64 / 1e6,
            pool_open: pool.size,
            pool_idle: pool.available,
            pool_max: pool.max_size,
        }
    }
}

/// Advisory-lock key for migrations ("chorus_mg" as bytes, truncated into an i64).
const MIGRATION_LOCK_KEY: i64 = 0x63686f7275735f6d;

mod embedded {
    refinery::embed_migrations!("migrations");
}

async fn run_migrations_locked(client: &mut tokio_postgres::Client) -> StoreResult<()> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
        .await?;
    // A node one version behind may (re)start after a newer node migrated: the newer
    // migrations are unknown to it but additive (docs/ARCHITECTURE.md, "Rolling upgrades"),
    // so they must not stop it.
    let outcome = embedded::migrations::runner()
        .set_abort_missing(false)
        .run_async(client)
        .await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY])
        .await?;
    match outcome {
        Ok(report) => {
            for migration in report.applied_migrations() {
                tracing::info!(migration = %migration, "applied migration");
            }
            Ok(())
        }
        Err(error) => Err(StoreError::Database(format!("migration failed: {error}"))),
    }
}

/// The highest schema version this binary knows (published in cluster status later).
pub fn schema_version() -> i32 {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|migration| migration.version() as i32)
        .max()
        .unwrap_or(0)
}

/// Runs `sql` as a statement prepared once per connection (deadpool's statement cache): after
/// the first time no parse and usually no plan, and one round trip instead of two. Only for
/// SQL whose text does not depend on the data (the cache keeps every text it is given).
pub(crate) async fn query_prepared(
    db: &impl GenericClient,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> StoreResult<Vec<tokio_postgres::Row>> {
    let statement = db.prepare_cached(sql).await?;
    Ok(db.query(&statement, params).await?)
}

/// [`query_prepared`] for a statement that returns exactly one row.
pub(crate) async fn query_one_prepared(
    db: &impl GenericClient,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> StoreResult<tokio_postgres::Row> {
    let statement = db.prepare_cached(sql).await?;
    Ok(db.query_one(&statement, params).await?)
}

/// Maps "no row" to [`StoreError::NotFound`].
pub(crate) fn one<T>(row: Option<T>, what: Record) -> StoreResult<T> {
    row.ok_or(StoreError::NotFound(what))
}

/// Reads a jsonb column into a JSON object (Mattermost's props maps).
pub(crate) fn json_map(
    row: &tokio_postgres::Row,
    column: &str,
) -> serde_json::Map<String, serde_json::Value> {
    match row.get::<_, serde_json::Value>(column) {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// How a store failure reaches a client: the one place this mapping lives, so every `?` on a
/// store call in `app` yields the same ids and statuses (`AppError` itself is built in `model`).
impl chorus_model::Catalogued for StoreError {
    fn into_catalogue_entry(self) -> (ErrorId, String) {
        match self {
            StoreError::NotFound(record) => {
                let entry = match record {
                    Record::AccessToken => ErrorId::AccessTokenNotFound,
                    Record::Bot => ErrorId::BotNotFound,
                    Record::IncomingWebhook => ErrorId::IncomingWebhookNotFound,
                    Record::OutgoingWebhook => ErrorId::OutgoingWebhookNotFound,
                    Record::Channel => ErrorId::ChannelNotFound,
                    Record::ChannelMember => ErrorId::ChannelMemberNotFound,
                    Record::Emoji => ErrorId::EmojiNotFound,
                    Record::Command => ErrorId::CommandNotFound,
                    Record::FileInfo => ErrorId::FileInfoNotFound,
                    Record::Job => ErrorId::JobNotFound,
                    Record::Post => ErrorId::PostNotFound,
                    Record::Preference => ErrorId::PreferenceNotFound,
                    Record::Session => ErrorId::SessionNotFound,
                    Record::SidebarCategory => ErrorId::SidebarCategoryNotFound,
                    Record::Team => ErrorId::TeamNotFound,
                    Record::TeamMember => ErrorId::TeamMemberNotFound,
                    Record::ThreadMembership => ErrorId::ThreadMembershipNotFound,
                    Record::User => ErrorId::UserNotFound,
                };
                (entry, String::new())
            }
            StoreError::Conflict(constraint) => (ErrorId::UniqueConstraint, constraint),
            StoreError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "database unavailable");
                (ErrorId::DatabaseUnavailable, detail)
            }
            StoreError::Timeout => (ErrorId::QueryTimeout, String::new()),
            StoreError::Database(detail) => {
                tracing::error!(error = %detail, "database error");
                (ErrorId::DatabaseError, detail)
            }
        }
    }
}

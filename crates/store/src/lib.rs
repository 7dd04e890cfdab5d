//! PostgreSQL: migrations, every SQL statement Chorus runs, and the choice of connection.
//!
//! Only this crate speaks SQL. Callers pick the routing explicitly at each call site:
//! [`Store::master`] for writes and reads that must see the latest writes, [`Store::replica`]
//! for reads that may lag, [`Store::search`] for full-text search. Today all three reach the
//! master; the database-HA work plugs read and search replicas in behind these three doors
//! without touching callers.
//!
//! Query functions live in one module per table group (`users`, `posts`, `files`, ...) and take any
//! [`GenericClient`], so the same function runs on a pooled connection or inside a transaction.
//! This crate does not cache and does not know about websockets or other nodes.

pub mod channels;
pub mod cluster;
pub mod files;
pub mod jobs;
pub mod leader;
pub mod posts;
pub mod reactions;
pub mod sessions;
pub mod status;
pub mod system;
pub mod teams;
pub mod users;

use chorus_config::SqlSettings;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::time::Duration;
use tokio_postgres::NoTls;

pub use deadpool_postgres::{GenericClient, Object as Connection, Transaction};

/// Why a store call failed, in terms the app layer can map to a client-visible answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(&'static str),
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

/// The connection pools of one node.
#[derive(Clone)]
pub struct Store {
    master: Pool,
}

impl Store {
    /// Builds the pools (no connection is opened yet).
    pub fn connect(settings: &SqlSettings) -> StoreResult<Store> {
        let master = build_pool(&settings.data_source, settings)?;
        Ok(Store { master })
    }

    /// Writes, and reads that must see what was just written (by anyone).
    pub async fn master(&self) -> StoreResult<Connection> {
        Ok(self.master.get().await?)
    }

    /// Reads that tolerate replication lag (lists, lookups of old data).
    pub async fn replica(&self) -> StoreResult<Connection> {
        self.master().await
    }

    /// Full-text search.
    pub async fn search(&self) -> StoreResult<Connection> {
        self.replica().await
    }

    /// Pool usage of the master: (connections open, idle, max).
    pub fn master_pool_status(&self) -> (usize, usize, usize) {
        let status = self.master.status();
        (status.size, status.available, status.max_size)
    }

    /// Runs the migrations once across all nodes: under a session advisory lock on the master,
    /// on a dedicated connection, so two nodes starting together do not race.
    pub async fn migrate(settings: &SqlSettings) -> StoreResult<()> {
        let config = parse_data_source(&settings.data_source)?;
        let (mut client, connection) = config.connect(NoTls).await?;
        let connection_task = tokio::spawn(connection);
        let result = run_migrations_locked(&mut client).await;
        drop(client);
        let _ = connection_task.await;
        result
    }

    /// Whether the master answers and takes a write (for `get_server_status`).
    pub async fn check_master_writable(&self, node_key: &str) -> StoreResult<()> {
        let connection = self.master().await?;
        system::write_health_check(&connection, node_key).await
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
    let outcome = embedded::migrations::runner().run_async(client).await;
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

fn parse_data_source(data_source: &str) -> StoreResult<tokio_postgres::Config> {
    data_source
        .parse::<tokio_postgres::Config>()
        .map_err(|error| {
            StoreError::Unavailable(format!("invalid SqlSettings.DataSource: {error}"))
        })
}

fn build_pool(data_source: &str, settings: &SqlSettings) -> StoreResult<Pool> {
    let mut config = parse_data_source(data_source)?;
    if settings.query_timeout > 0 {
        // The server cancels a statement that runs too long, so a slow query frees its
        // connection instead of piling up behind it.
        config.options(format!(
            "-c statement_timeout={}",
            settings.query_timeout * 1000
        ));
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let max_size = settings.max_open_conns.max(1) as usize;
    Pool::builder(manager)
        .max_size(max_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(Duration::from_secs(5)))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .build()
        .map_err(|error| StoreError::Unavailable(error.to_string()))
}

/// Maps "no row" to [`StoreError::NotFound`].
pub(crate) fn one<T>(row: Option<T>, what: &'static str) -> StoreResult<T> {
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
/// store call in `app` yields the same ids and statuses.
impl From<StoreError> for chorus_model::AppError {
    fn from(error: StoreError) -> Self {
        use chorus_model::AppError;
        match error {
            StoreError::NotFound(what) => AppError::not_found(
                &format!("app.{}.get.app_error", what.replace(' ', "_")),
                format!("Unable to find the {what}."),
            ),
            StoreError::Conflict(constraint) => AppError::bad_request(
                "store.sql.unique_constraint.app_error",
                "A record with that value already exists.",
            )
            .with_detail(constraint),
            StoreError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "database unavailable");
                AppError::new(
                    503,
                    "store.sql.unavailable.app_error",
                    "The database is temporarily unavailable, please retry.",
                )
                .with_detail(detail)
            }
            StoreError::Timeout => AppError::new(
                504,
                "store.sql.query_timeout.app_error",
                "The database query timed out.",
            ),
            StoreError::Database(detail) => {
                tracing::error!(error = %detail, "database error");
                AppError::internal(
                    "store.sql.internal.app_error",
                    "We encountered an error with the database.",
                )
                .with_detail(detail)
            }
        }
    }
}

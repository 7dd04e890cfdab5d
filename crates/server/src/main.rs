//! The `chorus` binary: runs a node (`chorus` or `chorus server`), and the admin commands
//! `chorus version`, `chorus db migrate`, `chorus config validate|migrate|node-env`.
//!
//! `--config` (or `MM_CONFIG`) names config.json or, as Mattermost allows, a PostgreSQL DSN
//! whose `configurations` table holds the configuration every node shares.
//!
//! It parses the command line and handles signals; running a node is the library's
//! [`chorus::Node`] (SIGTERM/SIGINT drain it: websockets are told to go away, in-flight requests
//! finish).

use anyhow::Context;

/// mimalloc instead of glibc's malloc: a profile of three nodes under posts put a seventh of
/// their CPU in glibc's allocator (`_int_malloc`, `malloc_consolidate`, `_int_free`) across the
/// tokio worker threads (docs/benchmarks.md, issue 17).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use chorus_config::{Config, ConfigSource, ConfigStore};
use chorus_store::{configurations, Store};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "chorus",
    about = "A Mattermost-compatible, highly available team-chat server"
)]
struct Cli {
    /// Path of config.json (created with defaults when missing), or a postgres:// DSN whose
    /// `configurations` table holds the configuration (the defaults when empty).
    #[arg(
        long,
        global = true,
        env = "MM_CONFIG",
        default_value = "./config/config.json"
    )]
    config: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node (the default).
    Server,
    /// Print the version.
    Version,
    /// Database commands.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Apply pending schema migrations and exit.
    Migrate,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Load and validate the config (file or database, plus MM_* environment overrides) and
    /// exit.
    Validate,
    /// Copy a configuration from FROM to TO, each a config.json path or a postgres:// DSN
    /// (file to database, database to file, or between databases). Environment overrides are
    /// not copied.
    Migrate { from: String, to: String },
    /// Print this node's node-local keys (listen addresses, log file, ClusterSettings) of the
    /// --config file as MM_* variables: with the configuration in the database, each node
    /// gets its own in its environment.
    NodeEnv,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(run(cli));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("chorus: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Server) {
        Command::Version => {
            println!(
                "Chorus {} (schema version {})",
                chorus_model::SERVER_VERSION,
                chorus_store::schema_version()
            );
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Migrate { from, to },
        } => migrate_config(&from, &to).await,
        Command::Config {
            command: ConfigCommand::NodeEnv,
        } => {
            let config_store = load_config(&cli.config).await?;
            for (name, value) in config_store.config().node_local_env() {
                println!("export {name}='{}'", value.replace('\'', "'\\''"));
            }
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Validate,
        } => {
            let config_store = load_config(&cli.config).await?;
            for setting in config_store.config().unsupported_settings() {
                println!(
                    "warning: {} is not supported: {}",
                    setting.key, setting.reason
                );
            }
            println!(
                "{}: valid (config hash {})",
                config_store.source(),
                config_store.config().hash()
            );
            Ok(())
        }
        Command::Db {
            command: DbCommand::Migrate,
        } => {
            let config_store = load_config(&cli.config).await?;
            init_logging(config_store.config());
            Store::migrate(&config_store.config().sql_settings)
                .await
                .context("migrating the database")?;
            println!(
                "database schema is at version {}",
                chorus_store::schema_version()
            );
            Ok(())
        }
        Command::Server => serve(&cli.config).await,
    }
}

/// The configuration at `source` (a file path or a postgres:// DSN), with this process's
/// `MM_*` variables on top.
async fn load_config(source: &str) -> anyhow::Result<ConfigStore> {
    let source = ConfigSource::parse(source);
    match &source {
        ConfigSource::File(path) => ConfigStore::load(path)
            .with_context(|| format!("invalid configuration in {}", path.display())),
        ConfigSource::Database(dsn) => {
            // Like a missing config.json, an empty table gets the defaults.
            let defaults = serde_json::to_value(Config::default())?;
            let stored = configurations::save_if_none(dsn, &defaults)
                .await
                .with_context(|| format!("reading the configuration from {source}"))?;
            ConfigStore::from_database(
                dsn,
                Some(stored.id),
                Some(stored.tree),
                chorus_config::process_env(),
            )
            .with_context(|| format!("invalid configuration in {source}"))
        }
    }
}

/// `chorus config migrate FROM TO`: the stored tree of FROM (unknown keys included, no
/// environment) written to TO.
async fn migrate_config(from: &str, to: &str) -> anyhow::Result<()> {
    let from_source = ConfigSource::parse(from);
    let tree = match &from_source {
        ConfigSource::File(path) => {
            if !path.exists() {
                anyhow::bail!("{} does not exist", path.display());
            }
            ConfigStore::load_with_env(path, std::iter::empty())
                .with_context(|| format!("invalid configuration in {from_source}"))?
                .stored_tree()
                .clone()
        }
        ConfigSource::Database(dsn) => {
            configurations::load_active(dsn)
                .await
                .with_context(|| format!("reading the configuration from {from_source}"))?
                .with_context(|| format!("{from_source} holds no configuration"))?
                .tree
        }
    };
    // Refuse to copy what no node could start with.
    Config::from_value(tree.clone())
        .and_then(|config| config.validate().map(|()| config))
        .with_context(|| format!("the configuration in {from_source} is not valid"))?;
    let to_source = ConfigSource::parse(to);
    match &to_source {
        ConfigSource::File(path) => chorus_config::write_config_file(path, &tree)
            .with_context(|| format!("writing {}", path.display()))?,
        ConfigSource::Database(dsn) => {
            configurations::save(dsn, &tree)
                .await
                .with_context(|| format!("saving the configuration to {to_source}"))?;
        }
    }
    println!("copied the configuration from {from_source} to {to_source}");
    Ok(())
}

/// Console logging for the one-shot commands (`chorus db migrate`); a node uses
/// `chorus::logging`, which also writes the log file.
fn init_logging(config: &Config) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let level = config.log_settings.console_level.to_lowercase();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{level},tokio_postgres=warn,tower_http=warn"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // Beside the console, the last lines go to a ring that GET /api/v4/logs serves.
    let recent = chorus_app::logs::recent_logs_layer();
    let _ = if config.log_settings.console_json {
        builder.json().finish().with(recent).try_init()
    } else {
        builder.finish().with(recent).try_init()
    };
}

/// Runs a node (the library's start sequence) until SIGTERM or SIGINT, then drains it.
async fn serve(config_source: &str) -> anyhow::Result<()> {
    let config_store = load_config(config_source).await?;
    if let Some(path) = chorus::logging::init(&config_store.config().log_settings) {
        tracing::info!(path = %path.display(), "logging to a file too (LogSettings.EnableFile)");
    }
    let node = chorus::Node::start(config_store, chorus::NodeOptions::default()).await?;
    println!("chorus listening on http://{}", node.address());
    shutdown_signal().await;
    node.drain().await
}

async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

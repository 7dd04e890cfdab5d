//! The `chorus` binary: runs a node (`chorus` or `chorus server`), and the admin commands
//! `chorus version`, `chorus db migrate`, `chorus config validate`.
//!
//! It parses the command line and handles signals; running a node is the library's
//! [`chorus::Node`] (SIGTERM/SIGINT drain it: websockets are told to go away, in-flight requests
//! finish).

use anyhow::Context;
use chorus_config::{Config, ConfigStore};
use chorus_store::Store;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "chorus",
    about = "A Mattermost-compatible, highly available team-chat server"
)]
struct Cli {
    /// Path of config.json (created with defaults when missing).
    #[arg(
        long,
        global = true,
        env = "MM_CONFIG",
        default_value = "./config/config.json"
    )]
    config: PathBuf,
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
    /// Load and validate the config (file plus MM_* environment overrides) and exit.
    Validate,
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
            command: ConfigCommand::Validate,
        } => {
            let config_store = load_config(&cli.config)?;
            for setting in config_store.config().unsupported_settings() {
                println!(
                    "warning: {} is not supported: {}",
                    setting.key, setting.reason
                );
            }
            println!(
                "{}: valid (config hash {})",
                cli.config.display(),
                config_store.config().hash()
            );
            Ok(())
        }
        Command::Db {
            command: DbCommand::Migrate,
        } => {
            let config_store = load_config(&cli.config)?;
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

fn load_config(path: &std::path::Path) -> anyhow::Result<ConfigStore> {
    ConfigStore::load(path).with_context(|| format!("invalid configuration in {}", path.display()))
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
async fn serve(config_path: &std::path::Path) -> anyhow::Result<()> {
    let config_store = load_config(config_path)?;
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

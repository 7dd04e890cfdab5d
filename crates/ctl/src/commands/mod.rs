//! One module per command group; each turns its arguments into API calls and prints.

mod auth;
mod config;
mod jobs;
mod posts;
mod system;
mod teams;
mod tokens;
mod users;

use crate::cli::{Cli, Command};
use crate::client::Client;
use crate::credentials::{self, CredentialsFile};
use anyhow::{bail, Context as _, Result};
use std::path::PathBuf;

/// A command that ran to its end but found something wrong (a red node) exits 1 without an
/// error message of its own.
pub enum Outcome {
    Success,
    Failure,
}

/// What every command needs: where the credentials live and how to print.
pub struct Context {
    pub config_path: PathBuf,
    pub json: bool,
}

impl Context {
    /// A client for the active credentials.
    pub fn client(&self) -> Result<Client> {
        let file = CredentialsFile::load(&self.config_path)?;
        let Some(credentials) = file.active() else {
            bail!(
                "no active credentials in {}: run `chorusctl auth login URL --name NAME --username USER`",
                self.config_path.display()
            );
        };
        Client::new(
            &credentials.instance_url,
            Some(credentials.auth_token.clone()),
        )
    }
}

pub async fn run(cli: Cli) -> Result<Outcome> {
    if cli.local {
        bail!("--local is not supported: chorusctl talks to a node over the REST API only; log in with `chorusctl auth login`");
    }
    let config_path = match &cli.config {
        Some(path) => path.clone(),
        None => credentials::default_path()?,
    };
    let context = Context {
        config_path,
        json: cli.json(),
    };
    match cli.command {
        Command::Completion { shell } => {
            print_completion(shell);
            Ok(Outcome::Success)
        }
        Command::Auth(command) => auth::run(&context, command).await,
        Command::System(command) => system::system(&context, command).await,
        Command::Cluster(command) => system::cluster(&context, command).await,
        Command::Database(command) => system::database(&context, command).await,
        Command::Config(command) => config::run(&context, command).await,
        Command::User(command) => users::run(&context, command).await,
        Command::Roles(command) => users::role(&context, command).await,
        Command::Team(command) => teams::team(&context, command).await,
        Command::Channel(command) => teams::channel(&context, command).await,
        Command::Post(command) => posts::run(&context, command).await,
        Command::Job(command) => jobs::run(&context, command).await,
        Command::Token(command) => tokens::run(&context, command).await,
        Command::Logs { number } => system::logs(&context, number).await,
        Command::Version => {
            println!("chorusctl {}", env!("CARGO_PKG_VERSION"));
            Ok(Outcome::Success)
        }
    }
}

fn print_completion(shell: crate::cli::Shell) {
    use clap::CommandFactory;
    let generator = match shell {
        crate::cli::Shell::Bash => clap_complete::Shell::Bash,
        crate::cli::Shell::Zsh => clap_complete::Shell::Zsh,
        crate::cli::Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut command = Cli::command();
    clap_complete::generate(generator, &mut command, "chorusctl", &mut std::io::stdout());
}

/// Reads a whole file for a command, naming it when it cannot.
pub fn read_file(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

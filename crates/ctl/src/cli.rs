//! The command line: mmctl's command and flag names where mmctl has the command.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "chorusctl",
    version,
    about = "Admin CLI of a Chorus cluster, over the REST API v4 (mmctl's commands and flags)"
)]
pub struct Cli {
    /// Path to the credentials file [default: $XDG_CONFIG_HOME/chorusctl/config]
    #[arg(long, global = true, env = "CHORUSCTL_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Print the server's JSON (listings as arrays) instead of text
    #[arg(long, global = true)]
    pub json: bool,
    /// The format of the output, as mmctl's --format
    #[arg(long, global = true, value_enum, default_value_t = Format::Plain)]
    pub format: Format,
    /// Not supported: chorusctl reaches a node only over the REST API
    #[arg(long, global = true, hide = true)]
    pub local: bool,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    pub fn json(&self) -> bool {
        self.json || self.format == Format::Json
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Plain,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Manage the credentials of Chorus servers
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Server health and version
    #[command(subcommand)]
    System(SystemCommand),
    /// The nodes of the cluster (Chorus's own: mmctl has no such command)
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// The master and replica databases as the node sees them
    #[command(subcommand)]
    Database(DatabaseCommand),
    /// Read and change the server configuration
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage users
    #[command(subcommand)]
    User(UserCommand),
    /// Grant or remove the system admin role (mmctl's `roles`)
    #[command(subcommand)]
    Roles(RoleCommand),
    /// Manage teams
    #[command(subcommand)]
    Team(TeamCommand),
    /// Manage channels
    #[command(subcommand)]
    Channel(ChannelCommand),
    /// Create and list posts
    #[command(subcommand)]
    Post(PostCommand),
    /// Background jobs
    #[command(subcommand)]
    Job(JobCommand),
    /// Personal access tokens of users
    #[command(subcommand)]
    Token(TokenCommand),
    /// The last lines of the answering node's log file
    Logs {
        #[arg(short, long, default_value_t = 200)]
        number: u32,
    },
    /// chorusctl's own version
    Version,
    /// Print a shell completion script
    Completion {
        #[arg(value_enum)]
        shell: Shell,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Subcommand, Debug)]
pub enum AuthCommand {
    /// Log in to a server and keep its credentials
    Login(LoginArgs),
    /// List the kept credentials
    List,
    /// Use these credentials from now on
    #[command(alias = "set")]
    Switch { name: String },
    /// Show the credentials in use
    Current,
    /// Forget credentials
    Delete { names: Vec<String> },
    /// Forget all credentials
    Clean,
    /// Log in again with kept credentials (a session expired)
    Renew(RenewArgs),
}

#[derive(Args, Debug)]
pub struct RenewArgs {
    pub name: String,
    #[arg(short = 'f', long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    #[arg(short, long, env = "CHORUSCTL_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    #[arg(short, long)]
    pub mfa_token: Option<String>,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// The server's URL, e.g. https://chat.example.com
    pub url: String,
    /// Name for the credentials
    #[arg(short, long)]
    pub name: Option<String>,
    /// Username (or email) to log in as
    #[arg(short, long)]
    pub username: Option<String>,
    /// File that holds the password
    #[arg(short = 'f', long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Password (prefer --password-file or a prompt: arguments show in `ps`)
    #[arg(short, long, env = "CHORUSCTL_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// A personal access token to use instead of username and password
    #[arg(short, long)]
    pub access_token: Option<String>,
    /// MFA token for the credentials
    #[arg(short, long)]
    pub mfa_token: Option<String>,
    /// Keep the credentials without making them the active ones
    #[arg(long)]
    pub no_activate: bool,
}

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// The server's health (GET /system/ping?get_server_status=true)
    Status,
    /// The server's version
    Version,
    /// Mark the server busy for SECONDS (non-critical work is deferred)
    Setbusy {
        #[arg(short, long, default_value_t = 3600)]
        seconds: u64,
    },
    /// Whether the server is busy
    Getbusy,
    /// Clear the busy flag
    Clearbusy,
}

#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// Every node with its health, green or red; exit code 1 when any node is red
    Status,
}

#[derive(Subcommand, Debug)]
pub enum DatabaseCommand {
    /// Master and replicas: reachable, in rotation, lag
    Status,
    /// Close and reopen the database connections on every node
    Recycle,
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print one setting, e.g. ServiceSettings.SiteURL
    Get { key: String },
    /// Change one setting; several VALUEs for a list setting
    Set {
        key: String,
        #[arg(required = true, num_args = 1..)]
        values: Vec<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Apply a JSON file of settings over the configuration
    Patch {
        file: PathBuf,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Print the whole configuration
    Show,
    /// Make every node read its config file again
    Reload {
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Edit the configuration in $EDITOR, then save it
    Edit {
        #[command(flatten)]
        wait: WaitArgs,
    },
}

#[derive(Args, Debug, Clone, Copy)]
pub struct WaitArgs {
    /// Seconds to wait until every node shows one config hash (0: do not wait)
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub wait: u64,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user
    Create(UserCreateArgs),
    /// List users
    List(PageArgs),
    /// Search users by username, name or email
    Search { term: String },
    /// Deactivate users
    Deactivate {
        #[arg(required = true)]
        users: Vec<String>,
    },
    /// Activate users
    Activate {
        #[arg(required = true)]
        users: Vec<String>,
    },
    /// Grant or remove the system admin role
    #[command(subcommand)]
    Role(RoleCommand),
    /// Change a user's email
    Email { user: String, new_email: String },
    /// Change a user's username
    Username { user: String, new_username: String },
    /// Set a user's password (no current password needed by a system admin)
    ChangePassword {
        user: String,
        #[arg(short, long)]
        password: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create an access token for a user (ServiceSettings.EnableUserAccessTokens must be on)
    Generate { user: String, description: String },
    /// A user's access tokens
    List { user: String },
    /// Revoke access tokens by id
    Revoke {
        #[arg(required = true)]
        token_ids: Vec<String>,
    },
}

#[derive(Args, Debug)]
pub struct UserCreateArgs {
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub username: String,
    #[arg(long)]
    pub password: String,
    #[arg(long)]
    pub firstname: Option<String>,
    #[arg(long)]
    pub lastname: Option<String>,
    #[arg(long)]
    pub nickname: Option<String>,
    /// Make the user a system admin
    #[arg(long)]
    pub system_admin: bool,
}

#[derive(Args, Debug)]
pub struct PageArgs {
    /// Every page, not just one
    #[arg(long)]
    pub all: bool,
    #[arg(long, default_value_t = 0)]
    pub page: u32,
    #[arg(long, default_value_t = 200)]
    pub per_page: u32,
}

#[derive(Subcommand, Debug)]
pub enum RoleCommand {
    /// Make users system admins
    #[command(name = "system-admin", alias = "system_admin")]
    SystemAdmin {
        #[arg(required = true)]
        users: Vec<String>,
    },
    /// Remove the system admin role from users
    Member {
        #[arg(required = true)]
        users: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum TeamCommand {
    /// Create a team
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        display_name: String,
        /// Invite only
        #[arg(long)]
        private: bool,
        /// Email of the team
        #[arg(long)]
        email: Option<String>,
    },
    /// List the teams
    List,
    /// Archive teams
    Archive {
        #[arg(required = true)]
        teams: Vec<String>,
    },
    /// Restore archived teams
    Restore {
        #[arg(required = true)]
        teams: Vec<String>,
    },
    /// Search teams by name or display name
    Search {
        #[arg(required = true)]
        terms: Vec<String>,
    },
    /// Change a team's display name
    Rename {
        team: String,
        #[arg(long)]
        display_name: String,
    },
    /// Add users to or remove them from a team
    #[command(subcommand)]
    Users(TeamUsersCommand),
}

#[derive(Subcommand, Debug)]
pub enum TeamUsersCommand {
    Add {
        team: String,
        #[arg(required = true)]
        users: Vec<String>,
    },
    Remove {
        team: String,
        #[arg(required = true)]
        users: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ChannelCommand {
    /// Create a channel
    Create {
        #[arg(long)]
        team: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        display_name: String,
        #[arg(long)]
        private: bool,
        #[arg(long)]
        purpose: Option<String>,
        #[arg(long)]
        header: Option<String>,
    },
    /// List the channels of a team (public, private and archived)
    List {
        #[arg(required = true)]
        teams: Vec<String>,
    },
    /// Archive channels, given as TEAM:CHANNEL or channel id
    Archive {
        #[arg(required = true)]
        channels: Vec<String>,
    },
    /// Restore archived channels
    #[command(alias = "restore")]
    Unarchive {
        #[arg(required = true)]
        channels: Vec<String>,
    },
    /// Change a channel's name or display name
    Rename {
        channel: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Make a channel private or public
    #[command(group(clap::ArgGroup::new("privacy").required(true).args(["private", "public"])))]
    Modify {
        channel: String,
        #[arg(long)]
        private: bool,
        #[arg(long)]
        public: bool,
    },
    /// Find a channel by name, in one team or in all
    Search {
        name: String,
        #[arg(long)]
        team: Option<String>,
    },
    /// Add users to or remove them from a channel
    #[command(subcommand)]
    Users(ChannelUsersCommand),
}

#[derive(Subcommand, Debug)]
pub enum ChannelUsersCommand {
    Add {
        channel: String,
        #[arg(required = true)]
        users: Vec<String>,
    },
    Remove {
        channel: String,
        #[arg(required = true)]
        users: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum PostCommand {
    /// Post a message to a channel
    Create {
        channel: String,
        #[arg(short, long)]
        message: String,
        /// Id of the post to reply to
        #[arg(short, long)]
        reply_to: Option<String>,
    },
    /// Delete posts by id
    Delete {
        #[arg(required = true)]
        post_ids: Vec<String>,
    },
    /// The last posts of a channel, oldest first
    List {
        channel: String,
        #[arg(short, long, default_value_t = 20)]
        number: u32,
        /// Show post ids
        #[arg(short = 'i', long)]
        show_ids: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum JobCommand {
    /// List jobs, newest first
    List {
        #[arg(long = "type", value_name = "TYPE")]
        job_type: Option<String>,
        #[arg(long)]
        status: Option<String>,
        /// Only these job ids
        #[arg(long, value_delimiter = ',')]
        ids: Vec<String>,
        #[arg(long, default_value_t = 0)]
        page: u32,
        #[arg(long, default_value_t = 200)]
        per_page: u32,
    },
    /// One job
    Show { id: String },
    /// Create a job of TYPE now (`job create` is the same)
    #[command(alias = "create")]
    Run {
        job_type: String,
        /// Job data as KEY=VALUE
        #[arg(long = "data", value_name = "KEY=VALUE")]
        data: Vec<String>,
    },
    /// Cancel a pending or running job
    Cancel { id: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("chorusctl").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn login_takes_mmctls_flags() {
        let cli = parse(&[
            "auth",
            "login",
            "http://127.0.0.1:8065",
            "--name",
            "local",
            "--username",
            "admin",
            "--password-file",
            "/tmp/pw",
        ])
        .unwrap();
        let Command::Auth(AuthCommand::Login(login)) = cli.command else {
            panic!("not a login: {cli:?}");
        };
        assert_eq!(login.url, "http://127.0.0.1:8065");
        assert_eq!(login.name.as_deref(), Some("local"));
        assert_eq!(login.username.as_deref(), Some("admin"));
        assert_eq!(login.password_file, Some(PathBuf::from("/tmp/pw")));
    }

    #[test]
    fn roles_have_both_spellings() {
        for args in [
            &["roles", "system-admin", "alice"][..],
            &["roles", "system_admin", "alice"],
            &["user", "role", "system-admin", "alice"],
        ] {
            let cli = parse(args).unwrap();
            let role = match cli.command {
                Command::Roles(role) => role,
                Command::User(UserCommand::Role(role)) => role,
                other => panic!("{other:?}"),
            };
            assert!(matches!(role, RoleCommand::SystemAdmin { users } if users == ["alice"]));
        }
    }

    #[test]
    fn json_comes_from_either_flag_anywhere() {
        assert!(parse(&["user", "list", "--json"]).unwrap().json());
        assert!(parse(&["--format", "json", "team", "list"]).unwrap().json());
        assert!(!parse(&["team", "list"]).unwrap().json());
    }

    #[test]
    fn bad_usage_is_claps_exit_code_2() {
        let error = parse(&["user", "frobnicate"]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
        let error = parse(&["user", "create", "--email", "a@example.com"]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
    }

    #[test]
    fn channel_modify_needs_private_or_public() {
        assert!(parse(&["channel", "modify", "team:channel"]).is_err());
        assert!(parse(&["channel", "modify", "team:channel", "--private", "--public"]).is_err());
        assert!(parse(&["channel", "modify", "team:channel", "--public"]).is_ok());
    }

    #[test]
    fn job_run_is_also_job_create() {
        let cli = parse(&["job", "create", "expired_sessions", "--data", "a=b"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Job(JobCommand::Run { job_type, data }) if job_type == "expired_sessions" && data == ["a=b"]
        ));
    }
}

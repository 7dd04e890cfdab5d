//! chorusctl, the admin CLI, against a real cluster: three `chorus` processes behind NGINX, the
//! CLI run as a process (as an operator runs it) with its own credentials file. Needs the
//! chorusctl binary of the same target dir: `cargo build -p chorusctl` first.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use chorus_testkit::client::PASSWORD;
use chorus_testkit::{Endpoint, Sandbox};

use crate::cluster::wait_until;

/// target/debug/chorusctl: the test binary is target/debug/deps/it-<hash>.
pub(crate) fn chorusctl_binary() -> PathBuf {
    let test_binary = std::env::current_exe().expect("the test binary's path");
    let binary = test_binary
        .parent()
        .and_then(Path::parent)
        .expect("the target directory")
        .join("chorusctl");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build -p chorusctl` first",
        binary.display()
    );
    binary
}

/// What one chorusctl run printed and how it exited.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// chorusctl with a credentials file of its own.
pub(crate) struct Ctl {
    pub(crate) binary: PathBuf,
    pub(crate) config: PathBuf,
}

impl Ctl {
    pub(crate) async fn run(&self, args: &[&str]) -> Run {
        let output = tokio::process::Command::new(&self.binary)
            .args(args)
            .env("CHORUSCTL_CONFIG", &self.config)
            .env_remove("CHORUSCTL_PASSWORD")
            .output()
            .await
            .expect("chorusctl runs");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs a command that must succeed; its stdout.
    pub(crate) async fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args).await;
        assert_eq!(
            run.code, 0,
            "chorusctl {args:?} failed:\n{}\n{}",
            run.stdout, run.stderr
        );
        run.stdout
    }

    /// Runs a command with --json; its parsed output.
    async fn json(&self, args: &[&str]) -> Value {
        let mut with_json = args.to_vec();
        with_json.push("--json");
        let stdout = self.ok(&with_json).await;
        serde_json::from_str(&stdout)
            .unwrap_or_else(|error| panic!("chorusctl {args:?} --json: {error}: {stdout}"))
    }
}

fn names(listing: &Value, key: &str) -> Vec<String> {
    listing
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|item| item[key].as_str().unwrap_or_default().to_string())
        .collect()
}

fn find<'a>(listing: &'a Value, key: &str, value: &str) -> &'a Value {
    listing
        .as_array()
        .expect("a JSON array")
        .iter()
        .find(|item| item[key] == value)
        .unwrap_or_else(|| panic!("no {key} = {value} in {listing:#}"))
}

/// The operator's round: log in through NGINX, see every node green, change the config through
/// one node and read it on another, manage users, teams, channels and posts, read errors, and
/// see a killed node turn the cluster red.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chorusctl_administers_a_three_node_cluster() {
    let binary = chorusctl_binary();
    let sandbox = Sandbox::builder()
        .nodes(3)
        .processes(env!("CARGO_BIN_EXE_chorus"))
        .nginx()
        .configure(|config| {
            config.log_settings.console_level = "WARN".to_string();
            config.cluster_settings.read_only_config = false;
        })
        .start()
        .await;
    // The first account is the system admin.
    sandbox.create_account("ctl-admin").await;

    let home = tempfile::tempdir().unwrap();
    let ctl = Ctl {
        binary,
        config: home.path().join("chorusctl").join("config"),
    };
    let password_path = home.path().join("password");
    std::fs::write(&password_path, format!("{PASSWORD}\n")).unwrap();
    let password_file = password_path.to_str().unwrap().to_string();

    // auth login through NGINX, and a second set of credentials straight to node 1.
    let nginx_url = sandbox.base_url();
    ctl.ok(&[
        "auth",
        "login",
        &nginx_url,
        "--name",
        "cluster",
        "--username",
        "ctl-admin",
        "--password-file",
        &password_file,
    ])
    .await;
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&ctl.config).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the credentials file is private");
    }
    let node_1_url = sandbox.node(1).base_url();
    ctl.ok(&[
        "auth",
        "login",
        &node_1_url,
        "--name",
        "node1",
        "--username",
        "ctl-admin",
        "--password-file",
        &password_file,
        "--no-activate",
    ])
    .await;
    let credentials = ctl.json(&["auth", "list"]).await;
    assert_eq!(names(&credentials, "name"), ["cluster", "node1"]);
    assert_eq!(find(&credentials, "name", "cluster")["active"], true);
    assert!(
        !credentials.to_string().contains("authToken"),
        "auth list never shows a token: {credentials}"
    );
    assert!(ctl.ok(&["auth", "current"]).await.contains("\"cluster\""));

    // cluster status: three nodes, all green, exit code 0 (1 while a node is not ready yet).
    wait_until(Duration::from_secs(15), "three green nodes", || async {
        let run = ctl.run(&["cluster", "status", "--json"]).await;
        let listing: Value = serde_json::from_str(&run.stdout).unwrap_or_default();
        run.code == 0 && listing.as_array().is_some_and(|nodes| nodes.len() == 3)
    })
    .await;
    let status = ctl.run(&["cluster", "status"]).await;
    assert_eq!(status.code, 0, "{}{}", status.stdout, status.stderr);
    assert_eq!(
        status.stdout.matches("green").count(),
        3,
        "{}",
        status.stdout
    );
    assert!(!status.stdout.contains("red"), "{}", status.stdout);
    assert!(ctl
        .ok(&["system", "status"])
        .await
        .contains("Server status: OK"));
    assert!(ctl
        .ok(&["system", "version"])
        .await
        .starts_with("Server version "));
    let databases = ctl.json(&["database", "status"]).await;
    assert_eq!(databases["master"]["reachable"], true, "{databases:#}");

    // config set through NGINX, read back on node 1.
    let set = ctl
        .run(&["config", "set", "TeamSettings.MaxUsersPerTeam", "77"])
        .await;
    assert_eq!(set.code, 0, "{}{}", set.stdout, set.stderr);
    assert!(
        set.stderr.contains("configuration on all 3 nodes"),
        "{}",
        set.stderr
    );
    ctl.ok(&["auth", "switch", "node1"]).await;
    assert_eq!(
        ctl.ok(&["config", "get", "TeamSettings.MaxUsersPerTeam"])
            .await
            .trim(),
        "77"
    );
    ctl.ok(&["auth", "switch", "cluster"]).await;
    let unknown_key = ctl.run(&["config", "get", "TeamSettings.NoSuchKey"]).await;
    assert_eq!(unknown_key.code, 1);
    assert!(
        unknown_key.stderr.contains("not found"),
        "{}",
        unknown_key.stderr
    );

    // Users.
    ctl.ok(&[
        "user",
        "create",
        "--email",
        "ctl-bob@example.com",
        "--username",
        "ctl-bob",
        "--password",
        PASSWORD,
    ])
    .await;
    let users = ctl.json(&["user", "list", "--all"]).await;
    assert!(names(&users, "username").contains(&"ctl-bob".to_string()));
    let found = ctl.json(&["user", "search", "ctl-bob"]).await;
    assert_eq!(names(&found, "username"), ["ctl-bob"]);

    // Teams and channels.
    let team = ctl
        .json(&[
            "team",
            "create",
            "--name",
            "ctl-team",
            "--display-name",
            "Ctl Team",
        ])
        .await;
    assert_eq!(team["name"], "ctl-team");
    ctl.ok(&["team", "users", "add", "ctl-team", "ctl-bob"])
        .await;
    let teams = ctl.json(&["team", "list"]).await;
    assert!(names(&teams, "name").contains(&"ctl-team".to_string()));
    ctl.ok(&[
        "channel",
        "create",
        "--team",
        "ctl-team",
        "--name",
        "ctl-channel",
        "--display-name",
        "Ctl Channel",
    ])
    .await;
    let channels = ctl.json(&["channel", "list", "ctl-team"]).await;
    assert_eq!(find(&channels, "name", "ctl-channel")["delete_at"], 0);

    // Posts, by TEAM:CHANNEL.
    ctl.ok(&[
        "post",
        "create",
        "ctl-team:ctl-channel",
        "--message",
        "hello from chorusctl",
    ])
    .await;
    let posts = ctl
        .json(&["post", "list", "ctl-team:ctl-channel", "--number", "5"])
        .await;
    let messages = names(&posts, "message");
    assert_eq!(
        messages.last().map(String::as_str),
        Some("hello from chorusctl"),
        "{posts:#}"
    );
    assert!(ctl
        .ok(&["post", "list", "ctl-team:ctl-channel"])
        .await
        .contains("[ctl-admin] hello from chorusctl"));

    // Archive the channel and the team, deactivate the user.
    ctl.ok(&["channel", "archive", "ctl-team:ctl-channel"])
        .await;
    let channels = ctl.json(&["channel", "list", "ctl-team"]).await;
    assert_ne!(find(&channels, "name", "ctl-channel")["delete_at"], 0);
    ctl.ok(&["team", "archive", "ctl-team"]).await;
    let teams = ctl.json(&["team", "list"]).await;
    assert!(!names(&teams, "name").contains(&"ctl-team".to_string()));
    ctl.ok(&["user", "deactivate", "ctl-bob"]).await;
    let users = ctl.json(&["user", "list", "--all"]).await;
    assert_ne!(find(&users, "username", "ctl-bob")["delete_at"], 0);

    // Errors: clap's usage error exits 2; a server error exits 1 with its message and id.
    let bad_usage = ctl.run(&["user", "frobnicate"]).await;
    assert_eq!(bad_usage.code, 2);
    assert!(
        bad_usage.stderr.contains("frobnicate"),
        "{}",
        bad_usage.stderr
    );
    let bad_job = ctl.run(&["job", "run", "no_such_job_type"]).await;
    assert_eq!(bad_job.code, 1);
    assert!(
        bad_job
            .stderr
            .contains("api.job.unable_to_create_job.incorrect_job_type"),
        "{}",
        bad_job.stderr
    );
    let missing = ctl
        .run(&[
            "post",
            "create",
            "no-such-team:town-square",
            "--message",
            "x",
        ])
        .await;
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("no-such-team"),
        "{}",
        missing.stderr
    );

    // A killed node turns cluster status red, exit code 1 (asked of node 1 directly).
    sandbox.node(2).kill();
    ctl.ok(&["auth", "switch", "node1"]).await;
    wait_until(Duration::from_secs(10), "node 2 seen down", || async {
        ctl.run(&["cluster", "status"]).await.code == 1
    })
    .await;
    let status = ctl.run(&["cluster", "status"]).await;
    assert_eq!(status.code, 1);
    assert!(status.stdout.contains("red"), "{}", status.stdout);
    assert!(status.stdout.contains("not alive"), "{}", status.stdout);
    sandbox.stop().await;
}

//! The real clients against a real node: the official `@mattermost/client` (node) and the
//! `mattermostdriver` Python package each run their suite in tests/compat against a fresh
//! Sandbox (see tests/compat/README.md).
//!
//! Their dependencies are installed by scripts/test.sh; when they are missing these tests fail
//! saying so, rather than skipping silently.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use tokio::process::Command;

use chorus_testkit::client::PASSWORD;
use chorus_testkit::{Endpoint, Sandbox};

/// Longest a whole client suite may take before it counts as hung.
const SUITE_TIMEOUT: Duration = Duration::from_secs(900);

/// node's `--test-timeout`. package.json says 60000, but node 20 applies it to the whole test
/// file, not to each test; here the suite shares two cores with the rest of this binary and
/// the server's PBKDF2 hashing dominates, so the file can take longer than a minute without
/// anything being wrong. A hung test still fails: each waits at most 5 s for an event.
const NODE_TEST_TIMEOUT_MS: &str = "600000";

/// The suites sign up many users (each a deliberately slow password hash); running them one at
/// a time keeps each well inside its time limits.
static ONE_SUITE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The system admin the suites may log in as; a server must have it before a suite runs.
pub(crate) const ADMIN_USERNAME: &str = "compat-admin";

pub(crate) fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// A fresh server whose first user (the system admin the suites may log in as) exists already.
/// Bot accounts are on (Mattermost's default is off) for the suites' bots.
async fn server_with_admin() -> Sandbox {
    let server = Sandbox::builder()
        .configure(|config| config.service_settings.enable_bot_account_creation = true)
        .start()
        .await;
    server.create_account(ADMIN_USERNAME).await;
    server
}

pub(crate) async fn run_suite(name: &str, mut command: Command, server: &Sandbox) {
    let _turn = ONE_SUITE_AT_A_TIME.lock().await;
    command
        .env("CHORUS_URL", &server.base_url())
        .env("CHORUS_ADMIN_USER", ADMIN_USERNAME)
        .env("CHORUS_ADMIN_PASSWORD", PASSWORD)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let description = format!("{command:?}");
    let output: Output = tokio::time::timeout(SUITE_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("the {name} suite did not finish within {SUITE_TIMEOUT:?}"))
        .unwrap_or_else(|error| panic!("could not run the {name} suite ({description}): {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the {name} compatibility suite failed ({}) against {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        output.status,
        server.base_url(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_javascript_client_works_unchanged() {
    let server = server_with_admin().await;
    run_javascript_suite(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_driver_works_unchanged() {
    let server = server_with_admin().await;
    run_python_suite(&server).await;
}

/// The mobile app's start-up and the web app's loadMe, call for call (startup.test.mjs), through
/// NGINX in front of three clustered nodes: consecutive requests land on different nodes, which
/// must agree on what one of them just wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_apps_start_up_through_nginx_on_a_cluster() {
    let server = Sandbox::builder().nodes(3).nginx().start().await;
    server.create_account(ADMIN_USERNAME).await;
    let mut node = Command::new("node");
    node.arg("--test")
        .arg(format!("--test-timeout={NODE_TEST_TIMEOUT_MS}"))
        .arg("startup.test.mjs")
        .current_dir(javascript_suite_dir());
    run_suite("apps' start-up (@mattermost/client)", node, &server).await;
}

/// tests/compat/js, or CHORUS_COMPAT_JS_DIR, checked to have its node_modules.
pub(crate) fn javascript_suite_dir() -> PathBuf {
    let suite_dir = std::env::var_os("CHORUS_COMPAT_JS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repository_root().join("tests/compat/js"));
    assert!(
        suite_dir.join("node_modules/@mattermost/client").is_dir()
            && suite_dir.join("node_modules/ws").is_dir(),
        "{} has no node_modules with @mattermost/client and ws: run scripts/test.sh (or `npm ci` there) first",
        suite_dir.display()
    );
    suite_dir
}

/// Runs the `@mattermost/client` suite against `server` (which has [`ADMIN_USERNAME`]).
pub(crate) async fn run_javascript_suite(server: &Sandbox) {
    let suite_dir = javascript_suite_dir();
    let mut node = Command::new("node");
    node.arg("--test")
        .arg(format!("--test-timeout={NODE_TEST_TIMEOUT_MS}"))
        .arg("compat.test.mjs")
        .current_dir(&suite_dir);
    run_suite("JavaScript (@mattermost/client)", node, server).await;
}

/// Runs the `mattermostdriver` suite against `server` (which has [`ADMIN_USERNAME`]).
pub(crate) async fn run_python_suite(server: &Sandbox) {
    let suite_dir = repository_root().join("tests/compat/python");
    let python = std::env::var_os("CHORUS_COMPAT_PY")
        .map(PathBuf::from)
        .unwrap_or_else(|| suite_dir.join(".venv/bin/python"));
    let has_driver = std::process::Command::new(&python)
        .args(["-c", "import mattermostdriver, pytest"])
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        has_driver,
        "{} cannot import mattermostdriver and pytest: run scripts/test.sh (it creates the venv) first",
        python.display()
    );
    let mut pytest = Command::new(&python);
    pytest
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .current_dir(&suite_dir);
    run_suite("Python (mattermostdriver)", pytest, server).await;
}

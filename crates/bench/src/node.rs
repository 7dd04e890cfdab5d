//! A chorus node as a child process: the release binary, configured only by `MM_*` environment
//! variables, on a free 127.0.0.1 port, with its config file, file store and log in a temp
//! directory. Started with [`Node::start`], stopped by PID with [`Node::stop`] (or on drop).
//!
//! The child is also given `PR_SET_PDEATHSIG = SIGKILL`, so it dies with the benchmark even
//! when the benchmark is killed without running destructors.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// How long a node may take from spawn to `GET /api/v4/system/ping` = 200 (migrations included).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// After SIGTERM, how long the node may drain before it gets SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Fresh ports picked when another process took the one we chose first.
const PORT_ATTEMPTS: u32 = 3;
const LOG_TAIL_LINES: usize = 30;

/// Finds the chorus binary: `explicit` (--chorus-bin / $CHORUS_BIN), else `chorus` next to this
/// benchmark's own binary (same target directory and profile), else the release build in
/// $CARGO_TARGET_DIR or ./target.
pub fn locate_chorus(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        if path.is_file() {
            return Ok(path.to_path_buf());
        }
        bail!("chorus binary {} does not exist", path.display());
    }
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    {
        candidates.push(dir.join("chorus"));
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(target).join("release/chorus"));
    }
    candidates.push(PathBuf::from("target/release/chorus"));
    if let Some(found) = candidates.iter().find(|path| path.is_file()) {
        return Ok(found.clone());
    }
    let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
    bail!(
        "the release chorus binary was not found (looked at {}). Build it first with \
         `cargo build --release -p chorus` (same CARGO_TARGET_DIR), or pass --chorus-bin PATH",
        looked.join(", ")
    )
}

/// A running chorus node that this process started.
pub struct Node {
    child: Option<Child>,
    pid: u32,
    port: u16,
    log_path: PathBuf,
    /// Config file, file store and log; removed when the node is dropped.
    _dir: tempfile::TempDir,
}

impl Node {
    /// Spawns `binary` against `database_url` and waits until its ping answers 200.
    /// `extra_env` is added to the node's own settings (a cluster's `MM_CLUSTERSETTINGS_*`).
    pub async fn start(
        binary: &Path,
        database_url: &str,
        extra_env: &[(String, String)],
    ) -> Result<Node> {
        let mut attempt = 1;
        loop {
            let port = chorus_testkit::free_port();
            let mut node = Node::spawn(binary, database_url, port, extra_env)?;
            match node.wait_until_ready().await {
                Ok(()) => return Ok(node),
                Err(error) => {
                    let log = node.log_tail();
                    let port_taken = log.contains("in use");
                    node.kill();
                    if port_taken && attempt < PORT_ATTEMPTS {
                        attempt += 1;
                        continue;
                    }
                    return Err(error.context(format!(
                        "chorus node on 127.0.0.1:{} did not become ready; end of its log:\n{log}",
                        node.port
                    )));
                }
            }
        }
    }

    fn spawn(
        binary: &Path,
        database_url: &str,
        port: u16,
        extra_env: &[(String, String)],
    ) -> Result<Node> {
        let dir = tempfile::Builder::new()
            .prefix("chorus-bench-node-")
            .tempdir()
            .context("creating a temp directory for the node")?;
        let files_dir = dir.path().join("files");
        std::fs::create_dir(&files_dir).context("creating the node's file store")?;
        let log_path = dir.path().join("chorus.log");
        let log = File::create(&log_path).context("creating the node's log")?;
        let log_for_stderr = log.try_clone().context("duplicating the log handle")?;

        let mut command = Command::new(binary);
        // Only our settings: an MM_* variable in the caller's environment would change the node.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("MM_") {
                command.env_remove(name);
            }
        }
        command
            .env("MM_CONFIG", dir.path().join("config.json"))
            .env("MM_SQLSETTINGS_DATASOURCE", database_url)
            .env(
                "MM_SERVICESETTINGS_LISTENADDRESS",
                format!("127.0.0.1:{port}"),
            )
            .env("MM_TEAMSETTINGS_ENABLEOPENSERVER", "true")
            .env("MM_TEAMSETTINGS_MAXUSERSPERTEAM", "100000")
            .env("MM_SERVICESETTINGS_ENABLEUSERACCESSTOKENS", "true")
            .env("MM_FILESETTINGS_DIRECTORY", &files_dir)
            .env("MM_LOGSETTINGS_CONSOLELEVEL", "WARN")
            .envs(extra_env.iter().map(|(name, value)| (name, value)))
            .env_remove("RUST_LOG")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_for_stderr);
        // SAFETY: the closure runs in the forked child before exec and only calls prctl, which
        // is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Node {
            pid: child.id(),
            child: Some(child),
            port,
            log_path,
            _dir: dir,
        })
    }

    async fn wait_until_ready(&mut self) -> Result<()> {
        let base = self.url("");
        crate::api::wait_for_ping(&base, READY_TIMEOUT, || {
            self.exit_status()
                .map(|status| format!("chorus exited during startup with {status}"))
        })
        .await
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn address(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|child| child.try_wait().ok().flatten())
    }

    /// Fails when the node has exited (a crash during a benchmark invalidates its figures).
    pub fn check_alive(&mut self) -> Result<()> {
        match self.exit_status() {
            None => Ok(()),
            Some(status) => Err(anyhow!(
                "the chorus node exited with {status}; end of its log:\n{}",
                self.log_tail()
            )),
        }
    }

    /// The last lines of the node's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }

    /// SIGTERM by PID, up to [`STOP_GRACE`] to exit, then SIGKILL.
    pub async fn stop(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(None)) {
            // SAFETY: kill has no memory-safety preconditions; the pid is our unreaped child.
            unsafe {
                libc::kill(self.pid as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + STOP_GRACE;
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// SIGKILL (no drain, as a crash) and reap. [`Node::check_alive`] passes afterwards: the
    /// node was ended on purpose.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

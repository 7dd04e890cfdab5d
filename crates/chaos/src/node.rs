//! A `chorus` node process inside its network namespace, configured only by `MM_*` variables.
//! The harness starts, signals and restarts it by PID; a restart keeps its namespace, ports,
//! config file and log, like a service manager restarting a process on the same machine.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::net::Namespace;

/// Ports inside a node's namespace. Each namespace has a network stack of its own, so these
/// cannot collide with anything on the machine (and stay clear of up.sh's 8065-8077).
const API_PORT: u16 = 18065;
const GOSSIP_PORT: u16 = 18074;
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// After SIGTERM, how long a node may drain before it gets SIGKILL.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);
const LOG_TAIL_LINES: usize = 20;

pub struct Node {
    pub index: usize,
    namespace: Namespace,
    binary: PathBuf,
    data_source: String,
    cluster_name: String,
    directory: PathBuf,
    log_filter: Option<String>,
    child: Option<Child>,
}

impl Node {
    pub fn new(
        index: usize,
        namespace: Namespace,
        binary: &Path,
        data_source: &str,
        cluster_name: &str,
        parent_directory: &Path,
        log_filter: Option<&str>,
    ) -> Result<Node> {
        let directory = parent_directory.join(format!("node{index}"));
        std::fs::create_dir_all(&directory)
            .with_context(|| format!("creating {}", directory.display()))?;
        Ok(Node {
            index,
            namespace,
            binary: binary.to_path_buf(),
            data_source: data_source.to_string(),
            cluster_name: cluster_name.to_string(),
            directory,
            log_filter: log_filter.map(str::to_string),
            child: None,
        })
    }

    /// The address NGINX sends this node's traffic to.
    pub fn api_address(&self) -> SocketAddr {
        SocketAddr::from((self.namespace.address, API_PORT))
    }

    pub fn hostname(&self) -> &str {
        &self.namespace.hostname
    }

    pub fn log_path(&self) -> PathBuf {
        self.directory.join("chorus.log")
    }

    /// Spawns the process (appending to its log) without waiting for it to serve.
    pub fn spawn(&mut self) -> Result<()> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .context("opening the node's log")?;
        let log_for_stderr = log.try_clone()?;
        let address = self.namespace.address;
        let mut command = Command::new(&self.binary);
        // Only our settings: an MM_* variable in the caller's environment would change the node.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("MM_") {
                command.env_remove(name);
            }
        }
        command
            .env("MM_CONFIG", self.directory.join("config.json"))
            .env("MM_SQLSETTINGS_DATASOURCE", &self.data_source)
            .env(
                "MM_SERVICESETTINGS_LISTENADDRESS",
                format!("{address}:{API_PORT}"),
            )
            .env("MM_TEAMSETTINGS_ENABLEOPENSERVER", "true")
            .env("MM_TEAMSETTINGS_MAXUSERSPERTEAM", "100000")
            .env(
                "MM_FILESETTINGS_DIRECTORY",
                self.directory
                    .parent()
                    .unwrap_or(&self.directory)
                    .join("files"),
            )
            .env("MM_LOGSETTINGS_CONSOLELEVEL", "WARN")
            .env("MM_CLUSTERSETTINGS_ENABLE", "true")
            .env("MM_CLUSTERSETTINGS_CLUSTERNAME", &self.cluster_name)
            .env("MM_CLUSTERSETTINGS_OVERRIDEHOSTNAME", address.to_string())
            .env("MM_CLUSTERSETTINGS_BINDADDRESS", address.to_string())
            .env("MM_CLUSTERSETTINGS_GOSSIPPORT", GOSSIP_PORT.to_string())
            .env_remove("RUST_LOG")
            .current_dir(&self.directory)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_for_stderr);
        if let Some(filter) = &self.log_filter {
            command.env("RUST_LOG", filter);
        }
        let namespace_handle = self.namespace.enter_on_spawn(&mut command)?;
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        drop(namespace_handle);
        self.child = Some(child);
        Ok(())
    }

    /// Waits until `GET /api/v4/system/ping` answers 200.
    pub async fn wait_until_ready(&mut self, http: &reqwest::Client) -> Result<()> {
        let url = format!("http://{}/api/v4/system/ping", self.api_address());
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.exit_status() {
                bail!(
                    "node {} exited during startup with {status}; end of its log:\n{}",
                    self.index,
                    self.log_tail()
                );
            }
            if let Ok(response) = http.get(&url).send().await {
                if response.status() == reqwest::StatusCode::OK {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "node {} did not answer {url} within {READY_TIMEOUT:?}; end of its log:\n{}",
                    self.index,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn start(&mut self, http: &reqwest::Client) -> Result<()> {
        self.spawn()?;
        self.wait_until_ready(http).await
    }

    /// SIGKILL, as if its machine died; reaped at once.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP: the process stays, its sockets stay open, nothing answers.
    pub fn freeze(&self) -> Result<()> {
        self.signal(libc::SIGSTOP)
    }

    pub fn thaw(&self) -> Result<()> {
        self.signal(libc::SIGCONT)
    }

    /// SIGTERM (graceful drain), then waits for the exit; SIGKILL after [`DRAIN_TIMEOUT`].
    pub async fn terminate(&mut self) -> Result<()> {
        self.signal(libc::SIGTERM)?;
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        while self.exit_status().is_none() {
            if Instant::now() >= deadline {
                self.kill();
                bail!(
                    "node {} did not exit within {DRAIN_TIMEOUT:?} of SIGTERM",
                    self.index
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.child = None;
        Ok(())
    }

    fn signal(&self, signal: libc::c_int) -> Result<()> {
        let Some(child) = &self.child else {
            bail!("node {} is not running", self.index);
        };
        // SAFETY: kill has no memory-safety preconditions; the pid is our unreaped child, so
        // it cannot have been reused.
        if unsafe { libc::kill(child.id() as i32, signal) } != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        Ok(())
    }

    /// Fails when the process has exited without being told to.
    pub fn check_alive(&mut self) -> Result<()> {
        match self.exit_status() {
            Some(status) => bail!(
                "node {} exited by itself with {status}; end of its log:\n{}",
                self.index,
                self.log_tail()
            ),
            None => Ok(()),
        }
    }

    fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|child| child.try_wait().ok().flatten())
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // A frozen process must be thawed to die promptly once killed.
        let _ = self.thaw();
        self.kill();
    }
}

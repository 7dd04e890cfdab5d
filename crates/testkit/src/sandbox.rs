//! [`Sandbox`]: throwaway PostgreSQL (a fresh database on the shared server, or a primary of
//! its own with streaming replicas), N Chorus nodes, optionally NGINX in front, and fault hooks.
//!
//! Nodes run in one of two modes, both through `chorus::Node`, the code the `chorus` binary
//! runs: in this process on the test's runtime (fast; stopped by drain or by drop), or as
//! `chorus` child processes configured by a config.json of their own, which tests can SIGKILL,
//! SIGSTOP, SIGTERM and restart by PID. A process launch can be adjusted by a hook (the chaos
//! suite starts its nodes inside network namespaces).

use std::any::Any;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chorus_config::Config;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::client::{Api, Reply, TestUser, PASSWORD};
use crate::{free_port, Nginx, PgServer};

/// How long a node process may take from spawn to answering ping (migrations included).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// After SIGTERM, how long a node process may drain before it gets SIGKILL.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);
/// Fresh ports tried when another process took the one chosen first.
const PORT_ATTEMPTS: u32 = 3;

/// Something clients talk to: a node, or the sandbox's entry point (NGINX, else node 0).
pub trait Endpoint {
    /// `http://host:port`, what clients call the site URL.
    fn base_url(&self) -> String;

    /// `http://host:port` + `path`.
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// `ws://host:port/api/v4/websocket`
    fn websocket_url(&self) -> String {
        format!(
            "{}/api/v4/websocket",
            self.base_url().replacen("http://", "ws://", 1)
        )
    }

    /// A client without credentials.
    fn anonymous(&self) -> Api {
        Api::for_base_url(&self.base_url())
    }

    /// POST /users/login by username or email.
    fn login(&self, login_id: &str, password: &str) -> impl std::future::Future<Output = Reply> {
        let api = self.anonymous();
        let body = json!({"login_id": login_id, "password": password});
        async move { api.post("/users/login", body).await }
    }

    /// Signs a user up (`<username>@example.com`, [`PASSWORD`]) without logging in.
    fn create_account(&self, username: &str) -> impl std::future::Future<Output = Value> {
        let api = self.anonymous();
        let body = json!({
            "username": username,
            "email": format!("{username}@example.com"),
            "password": PASSWORD,
        });
        async move { api.post("/users", body).await.expect_status(201) }
    }

    /// Signs a user up and logs them in. The first user of a server is its system admin.
    fn signup(&self, username: &str) -> impl std::future::Future<Output = TestUser> {
        let account = self.create_account(username);
        let user = self.log_in_as(username);
        async move {
            let account = account.await;
            let user = user.await;
            assert_eq!(user.id, account["id"].as_str().unwrap());
            user
        }
    }

    /// A new session of an existing user.
    fn log_in_as(&self, username: &str) -> impl std::future::Future<Output = TestUser> {
        let anonymous = self.anonymous();
        let reply = self.login(username, PASSWORD);
        async move {
            let reply = reply.await;
            let body = reply.expect_status(200);
            let token = reply
                .header("token")
                .unwrap_or_else(|| panic!("login answered without a Token header: {reply:?}"))
                .to_string();
            TestUser {
                id: body["id"].as_str().expect("user id").to_string(),
                api: anonymous.with_token(&token),
                token,
                login_reply: reply,
            }
        }
    }
}

/// Runs a node process's spawn with changes of the caller's (a namespace to enter, say); what
/// it returns is kept until the spawn has returned.
pub type SpawnHook = Arc<dyn Fn(usize, &mut Command) -> Result<Box<dyn Any>> + Send + Sync>;

type ConfigChange = Box<dyn FnOnce(&mut Config, &Database) + Send>;

/// Runs once the database is up and before any node starts; what it returns lives until the
/// nodes are gone (the chaos suite's relays from the nodes' namespaces to the database).
type BeforeNodes = Box<dyn FnOnce(&Database) -> Result<Box<dyn Any + Send>> + Send>;

enum Mode {
    InProcess,
    Processes(PathBuf),
}

/// Builds a [`Sandbox`]: `Sandbox::builder().nodes(3).replicas(1).processes(bin).nginx()`.
pub struct SandboxBuilder {
    node_count: usize,
    replica_count: usize,
    synchronous_replication: bool,
    track_statements: bool,
    clustered: Option<bool>,
    nginx_fail_timeout: Option<Duration>,
    mode: Mode,
    config: Config,
    changes: Vec<ConfigChange>,
    node_host: Option<Arc<dyn Fn(usize) -> IpAddr + Send + Sync>>,
    spawn_hook: Option<SpawnHook>,
    before_nodes: Option<BeforeNodes>,
    directory: Option<PathBuf>,
    log_filter: Option<String>,
    cluster_name: Option<String>,
}

impl SandboxBuilder {
    pub fn nodes(mut self, count: usize) -> Self {
        self.node_count = count;
        self
    }

    /// A PostgreSQL primary of the sandbox's own with `count` streaming replicas (listed in
    /// the nodes' DataSourceReplicas); without, the nodes get a fresh database on the shared
    /// server.
    pub fn replicas(mut self, count: usize) -> Self {
        self.replica_count = count;
        self
    }

    /// Commits return once a replica has them (`synchronous_standby_names = '*'`), set after
    /// the base backups so a promoted replica does not wait for a standby of its own.
    pub fn synchronous_replication(mut self) -> Self {
        self.synchronous_replication = true;
        self
    }

    /// A PostgreSQL server of the sandbox's own that loads pg_stat_statements, with the
    /// extension in the nodes' database, so a benchmark can say which statements cost what.
    pub fn track_statements(mut self) -> Self {
        self.track_statements = true;
        self
    }

    /// Whether the nodes form a cluster (gossip, links, one leader); by default when there is
    /// more than one node.
    pub fn clustered(mut self, clustered: bool) -> Self {
        self.clustered = Some(clustered);
        self
    }

    /// NGINX (the repository's config template) in front of the nodes.
    pub fn nginx(self) -> Self {
        self.nginx_with_fail_timeout(Duration::from_secs(5))
    }

    /// NGINX with this `fail_timeout` for a node it found down.
    pub fn nginx_with_fail_timeout(mut self, fail_timeout: Duration) -> Self {
        self.nginx_fail_timeout = Some(fail_timeout);
        self
    }

    /// Nodes run as `chorus` processes of `binary` (which faults need); in-process otherwise.
    pub fn processes(mut self, binary: impl Into<PathBuf>) -> Self {
        self.mode = Mode::Processes(binary.into());
        self
    }

    /// Changes every node's config before it starts.
    pub fn configure(self, change: impl FnOnce(&mut Config) + Send + 'static) -> Self {
        self.configure_with_database(move |config, _database| change(config))
    }

    /// Changes every node's config before it starts, knowing the database's URLs.
    pub fn configure_with_database(
        mut self,
        change: impl FnOnce(&mut Config, &Database) + Send + 'static,
    ) -> Self {
        self.changes.push(Box::new(change));
        self
    }

    /// The address node `index` listens and gossips on (127.0.0.1 by default).
    pub fn node_host(mut self, host: impl Fn(usize) -> IpAddr + Send + Sync + 'static) -> Self {
        self.node_host = Some(Arc::new(host));
        self
    }

    /// Adjusts each node process's launch (see [`SpawnHook`]).
    pub fn spawn_hook(
        mut self,
        hook: impl Fn(usize, &mut Command) -> Result<Box<dyn Any>> + Send + Sync + 'static,
    ) -> Self {
        self.spawn_hook = Some(Arc::new(hook));
        self
    }

    /// Prepares what the nodes need of the database before they start; see [`BeforeNodes`].
    pub fn before_nodes(
        mut self,
        prepare: impl FnOnce(&Database) -> Result<Box<dyn Any + Send>> + Send + 'static,
    ) -> Self {
        self.before_nodes = Some(Box::new(prepare));
        self
    }

    /// Where node directories (config.json, chorus.log) go; a temp directory by default.
    pub fn directory(mut self, directory: impl Into<PathBuf>) -> Self {
        self.directory = Some(directory.into());
        self
    }

    /// The node processes' RUST_LOG (their configured level otherwise).
    pub fn log_filter(mut self, filter: impl Into<String>) -> Self {
        self.log_filter = Some(filter.into());
        self
    }

    pub fn cluster_name(mut self, name: impl Into<String>) -> Self {
        self.cluster_name = Some(name.into());
        self
    }

    /// Starts everything; panics on failure (tests).
    pub async fn start(self) -> Sandbox {
        self.try_start().await.expect("starting the sandbox")
    }

    /// Starts the database, then node 0 (which migrates), then the others, then NGINX.
    pub async fn try_start(self) -> Result<Sandbox> {
        let (replica_count, synchronous, track_statements) = (
            self.replica_count,
            self.synchronous_replication,
            self.track_statements,
        );
        let database = tokio::task::spawn_blocking(move || {
            Database::start(replica_count, synchronous, track_statements)
        })
        .await
        .context("starting the database")??;
        let temp_directory = tempfile::Builder::new()
            .prefix("chorus-sandbox-")
            .tempdir()
            .context("creating the sandbox's directory")?;
        let directory = match &self.directory {
            Some(path) => {
                std::fs::create_dir_all(path)
                    .with_context(|| format!("creating {}", path.display()))?;
                path.clone()
            }
            None => temp_directory.path().to_path_buf(),
        };
        let clustered = self.clustered.unwrap_or(self.node_count > 1);
        let cluster_name = self
            .cluster_name
            .clone()
            .unwrap_or_else(|| format!("test-{}", random_suffix()));

        let mut config = self.config;
        config.sql_settings.data_source = database.primary_url();
        config.sql_settings.data_source_replicas = (0..database.replicas.len())
            .map(|index| database.replica_url(index))
            .collect();
        config.file_settings.directory = directory.join("files").to_string_lossy().into_owned();
        if clustered {
            let cluster = &mut config.cluster_settings;
            cluster.enable = true;
            cluster.cluster_name = cluster_name.clone();
        }
        for change in self.changes {
            change(&mut config, &database);
        }
        let prepared = match self.before_nodes {
            Some(prepare) => Some(prepare(&database)?),
            None => None,
        };
        let launch = Arc::new(Launch {
            mode: self.mode,
            spawn_hook: self.spawn_hook,
            log_filter: self.log_filter,
        });

        let mut nodes = Vec::new();
        for index in 0..self.node_count {
            let host = self
                .node_host
                .as_ref()
                .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |host| host(index));
            let mut node_config = config.clone();
            // Each node its own metrics port (served when MetricsSettings.Enable).
            node_config.metrics_settings.listen_address =
                SocketAddr::new(host, free_port()).to_string();
            if clustered {
                let cluster = &mut node_config.cluster_settings;
                cluster.override_hostname = host.to_string();
                cluster.bind_address = host.to_string();
                cluster.gossip_port = i64::from(free_port());
            }
            let node_directory = directory.join(format!("node{index}"));
            std::fs::create_dir_all(&node_directory)
                .with_context(|| format!("creating {}", node_directory.display()))?;
            nodes.push(SandboxNode {
                index,
                host,
                port: Mutex::new(0),
                config: Mutex::new(node_config),
                served: AtomicBool::new(false),
                directory: node_directory,
                launch: launch.clone(),
                running: Mutex::new(Running::Stopped),
            });
        }
        // Node 0 migrates the schema; the others start once it serves.
        if let Some(first) = nodes.first() {
            first.start().await?;
        }
        for node in nodes.iter().skip(1) {
            node.spawn().await?;
        }
        for node in nodes.iter().skip(1) {
            if let Err(error) = node.wait_until_ready().await {
                if !node.lost_a_port_race() {
                    return Err(error);
                }
                node.kill();
                node.pick_other_ports();
                node.start().await?;
            }
        }
        let nginx = match self.nginx_fail_timeout {
            Some(fail_timeout) => {
                let upstreams: Vec<SocketAddr> = nodes.iter().map(SandboxNode::address).collect();
                Some(Nginx::start(&upstreams, fail_timeout).await?)
            }
            None => None,
        };
        Ok(Sandbox {
            nginx,
            nodes,
            _prepared: prepared,
            database,
            cluster_name,
            _directory: temp_directory,
        })
    }
}

/// Everything a test, the benchmark or the chaos suite runs against. Dropping it stops NGINX,
/// then the nodes (processes are killed), then the database.
pub struct Sandbox {
    nginx: Option<Nginx>,
    nodes: Vec<SandboxNode>,
    _prepared: Option<Box<dyn Any + Send>>,
    database: Database,
    cluster_name: String,
    _directory: TempDir,
}

impl Sandbox {
    /// One in-process node with open sign-up and personal access tokens enabled.
    pub fn builder() -> SandboxBuilder {
        let mut config = Config::default();
        config.team_settings.enable_open_server = true;
        config.team_settings.site_name = "Chorus Test Site".to_string();
        config.service_settings.enable_user_access_tokens = true;
        config.service_settings.listen_address = "127.0.0.1:0".to_string();
        SandboxBuilder {
            node_count: 1,
            replica_count: 0,
            synchronous_replication: false,
            track_statements: false,
            clustered: None,
            nginx_fail_timeout: None,
            mode: Mode::InProcess,
            config,
            changes: Vec::new(),
            node_host: None,
            spawn_hook: None,
            before_nodes: None,
            directory: None,
            log_filter: None,
            cluster_name: None,
        }
    }

    /// One in-process node with the defaults of [`Sandbox::builder`].
    pub async fn start() -> Sandbox {
        Sandbox::builder().start().await
    }

    pub fn node(&self, index: usize) -> &SandboxNode {
        &self.nodes[index]
    }

    pub fn nodes(&self) -> &[SandboxNode] {
        &self.nodes
    }

    pub fn nginx(&self) -> Option<&Nginx> {
        self.nginx.as_ref()
    }

    pub fn database(&self) -> &Database {
        &self.database
    }

    pub fn database_mut(&mut self) -> &mut Database {
        &mut self.database
    }

    /// The nodes' DataSource (unmasked), to check that it never leaks.
    pub fn database_url(&self) -> String {
        self.database.primary_url()
    }

    pub fn cluster_name(&self) -> &str {
        &self.cluster_name
    }

    /// Stops NGINX, drains every node (SIGTERM for processes), then stops PostgreSQL off the
    /// async threads.
    pub async fn stop(self) {
        let Sandbox {
            nginx,
            nodes,
            _prepared: prepared,
            database,
            ..
        } = self;
        if let Some(nginx) = nginx {
            nginx.stop().await;
        }
        for node in &nodes {
            if let Err(error) = node.stop().await {
                eprintln!("stopping node {}: {error:#}", node.index);
            }
        }
        drop(nodes);
        drop(prepared);
        let _ = tokio::task::spawn_blocking(move || drop(database)).await;
    }
}

impl Endpoint for Sandbox {
    /// NGINX's when there is one, else node 0's.
    fn base_url(&self) -> String {
        match &self.nginx {
            Some(nginx) => nginx.base_url(),
            None => self.nodes[0].base_url(),
        }
    }
}

/// How nodes are launched, shared by every node of a sandbox (restarts use it again).
struct Launch {
    mode: Mode,
    spawn_hook: Option<SpawnHook>,
    log_filter: Option<String>,
}

enum Running {
    InProcess(chorus::Node),
    Process(Child),
    Stopped,
}

/// One node of a [`Sandbox`]. Its address, config and directory survive restarts; each start
/// is a new node id.
pub struct SandboxNode {
    pub index: usize,
    host: IpAddr,
    /// Chosen at the first start, kept for restarts.
    port: Mutex<u16>,
    /// Its metrics and cluster ports may be picked again until it first serves.
    config: Mutex<Config>,
    /// Whether it ever served: until then a port another process took is picked again.
    served: AtomicBool,
    directory: PathBuf,
    launch: Arc<Launch>,
    running: Mutex<Running>,
}

impl Endpoint for SandboxNode {
    fn base_url(&self) -> String {
        format!("http://{}", self.address())
    }
}

impl SandboxNode {
    pub fn address(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port())
    }

    pub fn port(&self) -> u16 {
        *self.port.lock().unwrap()
    }

    pub fn api(&self) -> Api {
        self.anonymous()
    }

    /// `http://host:port/metrics`: where Prometheus scrapes this node (MetricsSettings.Enable
    /// must be on).
    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.metrics_address())
    }

    /// `host:port` of [`SandboxNode::metrics_url`], a Prometheus target.
    pub fn metrics_address(&self) -> String {
        self.config
            .lock()
            .unwrap()
            .metrics_settings
            .listen_address
            .clone()
    }

    /// The node's config.json (process nodes read it at start and on reload).
    pub fn config_path(&self) -> PathBuf {
        self.directory.join("config.json")
    }

    /// Changes config.json (a running node notices only on reload).
    pub fn edit_config(&self, change: impl FnOnce(&mut Value)) {
        let path = self.config_path();
        let text = std::fs::read_to_string(&path).expect("reading config.json");
        let mut config: Value = serde_json::from_str(&text).expect("config.json is JSON");
        change(&mut config);
        std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap())
            .expect("writing config.json");
    }

    pub fn log_path(&self) -> PathBuf {
        self.directory.join("chorus.log")
    }

    /// Everything the node process logged (all its runs).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The last `lines` lines of [`SandboxNode::log`], for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = self.log();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The process id of a running node process.
    pub fn pid(&self) -> Option<u32> {
        match &*self.running.lock().unwrap() {
            Running::Process(child) => Some(child.id()),
            _ => None,
        }
    }

    /// The app of a running in-process node, to look inside.
    pub fn app(&self) -> Option<chorus_app::App> {
        match &*self.running.lock().unwrap() {
            Running::InProcess(node) => Some(node.app().clone()),
            _ => None,
        }
    }

    /// Starts the node and waits until it serves.
    pub async fn start(&self) -> Result<()> {
        let mut attempt = 1;
        loop {
            self.spawn().await?;
            match self.wait_until_ready().await {
                Ok(()) => return Ok(()),
                Err(_port_taken) if attempt < PORT_ATTEMPTS && self.lost_a_port_race() => {
                    attempt += 1;
                    self.kill();
                    self.pick_other_ports();
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Whether the node, never served yet, stopped because a port picked for it was taken.
    /// Another process may take a port between [`free_port`] and the bind (an outgoing
    /// connection's source port, under load); a restart keeps its ports (NGINX and the peers
    /// know them).
    fn lost_a_port_race(&self) -> bool {
        !self.served.load(Ordering::SeqCst) && self.log_tail(5).contains("in use")
    }

    /// New HTTP, metrics and cluster ports for a node that never served, and its config.json
    /// written again with them (no test can have edited it yet).
    fn pick_other_ports(&self) {
        *self.port.lock().unwrap() = free_port();
        let mut config = self.config.lock().unwrap();
        if let Ok(metrics) = config.metrics_settings.listen_address.parse::<SocketAddr>() {
            config.metrics_settings.listen_address =
                SocketAddr::new(metrics.ip(), free_port()).to_string();
        }
        if config.cluster_settings.enable {
            config.cluster_settings.gossip_port = i64::from(free_port());
        }
        let _ = std::fs::remove_file(self.config_path());
    }

    /// Starts the node (a new node id, the same ports) without waiting for a process to serve.
    pub async fn spawn(&self) -> Result<()> {
        if !matches!(*self.running.lock().unwrap(), Running::Stopped) {
            bail!("node {} is running", self.index);
        }
        let port = {
            let mut port = self.port.lock().unwrap();
            if *port == 0 {
                *port = free_port();
            }
            *port
        };
        let mut config = self.config.lock().unwrap().clone();
        config.service_settings.listen_address = SocketAddr::new(self.host, port).to_string();
        let running = match &self.launch.mode {
            Mode::InProcess => {
                let options = chorus::NodeOptions {
                    hostname: Some(match self.index {
                        0 => "chorus-test-node".to_string(),
                        index => format!("chorus-test-node-{index}"),
                    }),
                };
                let node = chorus::Node::start(config, options)
                    .await
                    .with_context(|| format!("starting node {}", self.index))?;
                Running::InProcess(node)
            }
            Mode::Processes(binary) => Running::Process(self.spawn_process(binary, &config)?),
        };
        *self.running.lock().unwrap() = running;
        Ok(())
    }

    fn spawn_process(&self, binary: &Path, config: &Config) -> Result<Child> {
        // config.json is written at the first start only: a test may have edited it since.
        let config_path = self.config_path();
        if !config_path.exists() {
            let tree = serde_json::to_vec_pretty(config).context("serializing the config")?;
            std::fs::write(&config_path, tree)
                .with_context(|| format!("writing {}", config_path.display()))?;
        }
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .context("opening the node's log")?;
        let log_for_stderr = log.try_clone()?;
        let mut command = Command::new(binary);
        // Only our settings: an MM_* variable in the caller's environment would change the node.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("MM_") {
                command.env_remove(name);
            }
        }
        command
            .env("MM_CONFIG", &config_path)
            .env_remove("RUST_LOG")
            .current_dir(&self.directory)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_for_stderr);
        if let Some(filter) = &self.launch.log_filter {
            command.env("RUST_LOG", filter);
        }
        // SAFETY: the closure runs in the forked child before exec and only calls prctl, which
        // is async-signal-safe. The node dies with this process even when it is killed.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let kept_until_spawned = match &self.launch.spawn_hook {
            Some(hook) => Some(hook(self.index, &mut command)?),
            None => None,
        };
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        drop(kept_until_spawned);
        Ok(child)
    }

    /// Waits until `GET /api/v4/system/ping` answers 200 (an in-process node serves once
    /// started).
    pub async fn wait_until_ready(&self) -> Result<()> {
        if !matches!(self.launch.mode, Mode::Processes(_)) {
            self.served.store(true, Ordering::SeqCst);
            return Ok(());
        }
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()?;
        let url = format!("{}/api/v4/system/ping", self.base_url());
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.exit_status() {
                bail!(
                    "node {} exited during startup with {status}; end of its log:\n{}",
                    self.index,
                    self.log_tail(30)
                );
            }
            if let Ok(response) = http.get(&url).send().await {
                if response.status() == reqwest::StatusCode::OK {
                    self.served.store(true, Ordering::SeqCst);
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "node {} did not answer {url} within {READY_TIMEOUT:?}; end of its log:\n{}",
                    self.index,
                    self.log_tail(30)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts the node again after it stopped, and waits until it serves.
    pub async fn restart(&self) -> Result<()> {
        self.start().await
    }

    /// SIGKILL, as if its machine died (reaped at once); an in-process node stops serving at
    /// once, without a drain.
    pub fn kill(&self) {
        let running = std::mem::replace(&mut *self.running.lock().unwrap(), Running::Stopped);
        if let Running::Process(mut child) = running {
            // A frozen process must be thawed to die promptly.
            signal(&child, libc::SIGCONT);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP: the process stays, its sockets stay open, nothing answers.
    pub fn pause(&self) -> Result<()> {
        self.signal(libc::SIGSTOP)
    }

    /// SIGCONT after [`SandboxNode::pause`].
    pub fn resume(&self) -> Result<()> {
        self.signal(libc::SIGCONT)
    }

    /// SIGTERM without waiting: the node drains (see [`SandboxNode::wait_for_exit`]).
    pub fn terminate(&self) -> Result<()> {
        self.signal(libc::SIGTERM)
    }

    /// A graceful stop: the drain (SIGTERM for a process, SIGKILL after [`DRAIN_TIMEOUT`]).
    pub async fn stop(&self) -> Result<()> {
        let running = std::mem::replace(&mut *self.running.lock().unwrap(), Running::Stopped);
        match running {
            Running::InProcess(node) => node.drain().await,
            Running::Process(child) => {
                signal(&child, libc::SIGTERM);
                *self.running.lock().unwrap() = Running::Process(child);
                self.wait_for_exit(DRAIN_TIMEOUT).await
            }
            Running::Stopped => Ok(()),
        }
    }

    /// Waits up to `within` for the process to exit (after a signal), SIGKILLs it after that.
    pub async fn wait_for_exit(&self, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        while self.exit_status().is_none() && self.pid().is_some() {
            if Instant::now() >= deadline {
                self.kill();
                bail!("node {} did not exit within {within:?}", self.index);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        *self.running.lock().unwrap() = Running::Stopped;
        Ok(())
    }

    /// Fails when the process has exited without being told to.
    pub fn check_alive(&self) -> Result<()> {
        match self.exit_status() {
            Some(status) => bail!(
                "node {} exited by itself with {status}; end of its log:\n{}",
                self.index,
                self.log_tail(20)
            ),
            None => Ok(()),
        }
    }

    fn exit_status(&self) -> Option<std::process::ExitStatus> {
        match &mut *self.running.lock().unwrap() {
            Running::Process(child) => child.try_wait().ok().flatten(),
            _ => None,
        }
    }

    fn signal(&self, number: libc::c_int) -> Result<()> {
        match &*self.running.lock().unwrap() {
            Running::Process(child) => {
                if signal(child, number) {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error().into())
                }
            }
            Running::InProcess(_) => bail!(
                "node {} runs in this process; signals need Sandbox::builder().processes(..)",
                self.index
            ),
            Running::Stopped => bail!("node {} is not running", self.index),
        }
    }
}

impl Drop for SandboxNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Signals our own unreaped child (so its pid cannot have been reused).
fn signal(child: &Child, number: libc::c_int) -> bool {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(child.id() as i32, number) == 0 }
}

fn random_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or_default();
    format!("{}-{nanos:x}", std::process::id())
}

/// The sandbox's PostgreSQL: a fresh database on the shared server, or a primary of its own
/// with streaming replicas that tests can kill, freeze, delay and promote.
pub struct Database {
    /// None: the shared server ([`PgServer::shared`]).
    own_primary: Option<PgServer>,
    pub replicas: Vec<PgServer>,
    /// Primaries killed by [`Database::fail_over`]; kept so their ports stay taken.
    retired: Vec<PgServer>,
    name: String,
}

impl Database {
    fn start(replica_count: usize, synchronous: bool, track_statements: bool) -> Result<Database> {
        let own_primary = if replica_count > 0 || track_statements {
            let mut primary = PgServer::start().context("starting the PostgreSQL primary")?;
            if track_statements {
                let config = primary.data_dir().join("postgresql.conf");
                let mut settings =
                    std::fs::read_to_string(&config).context("reading postgresql.conf")?;
                settings.push_str(
                    "\nshared_preload_libraries = 'pg_stat_statements'\n\
                     pg_stat_statements.track_planning = on\n",
                );
                std::fs::write(&config, settings).context("writing postgresql.conf")?;
                primary
                    .restart()
                    .context("restarting PostgreSQL with pg_stat_statements")?;
            }
            Some(primary)
        } else {
            None
        };
        let primary = own_primary.as_ref().unwrap_or_else(|| PgServer::shared());
        let url = primary.create_database()?;
        let name = url
            .rsplit('/')
            .next()
            .and_then(|tail| tail.split('?').next())
            .context("a database name in the URL")?
            .to_string();
        if track_statements {
            primary.psql(&name, "CREATE EXTENSION pg_stat_statements")?;
        }
        let replicas = (0..replica_count)
            .map(|_| primary.start_replica().context("starting a replica"))
            .collect::<Result<Vec<_>>>()?;
        if synchronous {
            primary.psql(
                "postgres",
                "ALTER SYSTEM SET synchronous_standby_names = '*'",
            )?;
            primary.psql("postgres", "SELECT pg_reload_conf()")?;
        }
        Ok(Database {
            own_primary,
            replicas,
            retired: Vec::new(),
            name,
        })
    }

    pub fn primary(&self) -> &PgServer {
        self.own_primary
            .as_ref()
            .unwrap_or_else(|| PgServer::shared())
    }

    /// The primary of a sandbox with replicas, to kill or freeze.
    pub fn primary_mut(&mut self) -> &mut PgServer {
        self.own_primary
            .as_mut()
            .expect("the shared server is not the sandbox's to break; ask for .replicas(n)")
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn primary_url(&self) -> String {
        self.primary().url(&self.name)
    }

    pub fn replica_url(&self, index: usize) -> String {
        self.replicas[index].url(&self.name)
    }

    /// `postgres://chorus@primary,replica…/db?target_session_attrs=read-write`: writes follow a
    /// promotion without a config change.
    pub fn multi_host_url(&self) -> String {
        let hosts: Vec<String> = std::iter::once(self.primary().port())
            .chain(self.replicas.iter().map(PgServer::port))
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        format!(
            "postgres://chorus@{}/{}?target_session_attrs=read-write&sslmode=disable",
            hosts.join(","),
            self.name
        )
    }

    /// Runs SQL on the nodes' database.
    pub fn psql(&self, sql: &str) -> Result<String> {
        self.primary().psql(&self.name, sql)
    }

    /// SIGKILLs the primary and promotes replica 0, as an operator's failover tool would.
    /// Blocking (it waits for `pg_ctl promote`).
    pub fn fail_over(&mut self) -> Result<()> {
        if self.replicas.is_empty() {
            bail!("no replica left to promote");
        }
        let mut promoted = self.replicas.remove(0);
        self.primary_mut().kill();
        promoted.promote()?;
        let old_primary = self
            .own_primary
            .replace(promoted)
            .expect("a primary of the sandbox's own");
        self.retired.push(old_primary);
        Ok(())
    }
}

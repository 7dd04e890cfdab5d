//! Throwaway PostgreSQL servers: `initdb` into a temp directory, start `postgres` on a free
//! 127.0.0.1 port, hand out databases, stop or kill it, delete everything afterwards.
//!
//! A [`PgServer`] is a `Postmaster` (one instance: its directory, port and process) plus the
//! `Watchdog` that removes it if the test process dies. Streaming replicas will be further
//! `Postmaster`s whose data directory comes from `pg_basebackup -R` instead of `initdb`; they
//! reuse `launch`, `stop` and `kill` unchanged, which is why per-instance settings (port, socket
//! directory) go on the command line rather than into `postgresql.conf`, which a base backup copies.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::free_port;
use crate::os_account::RunAs;
use crate::watchdog::Watchdog;

const DEFAULT_BIN_DIR: &str = "/usr/lib/postgresql/15/bin";
/// Overrides `DEFAULT_BIN_DIR`, for machines with another PostgreSQL layout.
const BIN_DIR_ENV: &str = "CHORUS_PG_BIN";
const HOST: &str = "127.0.0.1";
/// Superuser created by `initdb -U`; every test connects as it.
const SUPERUSER: &str = "chorus";
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a fresh server may pick a new port because another process took its port first.
const PORT_ATTEMPTS: u32 = 5;
const LOG_TAIL_LINES: usize = 40;

/// Appended to `postgresql.conf` after `initdb`. Base backups copy it, so replicas inherit it.
const TEST_SETTINGS: &str = "
# Added by chorus-testkit: a throwaway server for tests. Durability against power loss is
# traded for speed (fsync off); never copy these settings to a real deployment. Commits stay
# synchronous so a SIGKILLed server keeps every acknowledged write, which HA tests check.
listen_addresses = '127.0.0.1'
fsync = off
synchronous_commit = on
full_page_writes = off
max_connections = 500
wal_level = replica
max_wal_senders = 10
wal_keep_size = 256MB
hot_standby = on
# Lets a replica's lag be read in seconds even when the primary is idle.
wal_receiver_status_interval = 1s
";

/// A running PostgreSQL server that this process owns: superuser `chorus`, trust authentication
/// on 127.0.0.1, data in a temp directory. Dropping it stops the server and deletes the directory;
/// if the process dies without dropping it, its watchdog does the same.
pub struct PgServer {
    postmaster: Postmaster,
    watchdog: Watchdog,
}

impl PgServer {
    /// Starts a fresh server: `initdb`, test settings, a free port, and waits (up to 30 s) until it
    /// accepts connections. The error carries the end of the server log when it does not.
    pub fn start() -> Result<PgServer> {
        let mut server = PgServer::empty_instance()?;
        server.postmaster.initdb()?;
        server.postmaster.append_settings(TEST_SETTINGS)?;
        server.postmaster.launch(PortPolicy::MayChange)?;
        Ok(server)
    }

    /// An instance directory with a port and an armed watchdog, nothing in PGDATA yet. From
    /// here on, dropping the server on an error path cleans up.
    fn empty_instance() -> Result<PgServer> {
        let run_as = RunAs::get()?;
        let pg_ctl = program("pg_ctl")?;
        let postmaster = Postmaster::new_directory(run_as)?;
        match Watchdog::arm(run_as, &pg_ctl, &postmaster.data_dir, &postmaster.root) {
            Ok(watchdog) => Ok(PgServer {
                postmaster,
                watchdog,
            }),
            Err(error) => {
                let _ = fs::remove_dir_all(&postmaster.root);
                Err(error)
            }
        }
    }

    /// The server every test in this process shares, started on first use. It is never dropped;
    /// its watchdog stops it and deletes its directory once the process has exited, also after a
    /// panic or SIGKILL. Create a database per test with [`PgServer::create_database`]; tests that
    /// stop or kill PostgreSQL need their own [`PgServer::start`].
    pub fn shared() -> &'static PgServer {
        static SHARED: OnceLock<PgServer> = OnceLock::new();
        SHARED.get_or_init(|| match PgServer::start() {
            Ok(server) => server,
            Err(error) => panic!("could not start the shared test postgres: {error:#}"),
        })
    }

    pub fn port(&self) -> u16 {
        self.postmaster.port
    }

    pub fn host(&self) -> &str {
        HOST
    }

    /// `postgres://chorus@127.0.0.1:PORT/DATABASE?sslmode=disable`
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}@{HOST}:{port}/{database}?sslmode=disable",
            port = self.postmaster.port
        )
    }

    /// Creates an empty database with a name unique on this server and returns its URL.
    /// Synchronous (it runs `psql`), so it works from plain tests and from inside a tokio runtime.
    pub fn create_database(&self) -> Result<String> {
        static NEXT_DATABASE: AtomicU64 = AtomicU64::new(1);
        let number = NEXT_DATABASE.fetch_add(1, Ordering::Relaxed);
        let name = format!("chorus_test_{}_{number}", std::process::id());
        self.psql("postgres", &format!("CREATE DATABASE {name}"))
            .with_context(|| format!("creating database {name}"))?;
        Ok(self.url(&name))
    }

    /// Runs `sql` in `database` with `psql` as the superuser and returns what it printed (unaligned,
    /// tuples only, trimmed): for test setup and assertions outside the code under test.
    pub fn psql(&self, database: &str, sql: &str) -> Result<String> {
        let connection = format!(
            "host={HOST} port={port} user={SUPERUSER} dbname={database} sslmode=disable connect_timeout=10",
            port = self.postmaster.port
        );
        let output = Command::new(program("psql")?)
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(&connection)
            .arg("-c")
            .arg(sql)
            .stdin(Stdio::null())
            .output()
            .context("running psql")?;
        if !output.status.success() {
            bail!(
                "psql ({connection}) failed with {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// The data directory (`PGDATA`). It lives inside this server's temp directory.
    pub fn data_dir(&self) -> &Path {
        &self.postmaster.data_dir
    }

    /// The server's log (its stdout and stderr), for failure messages.
    pub fn log_file(&self) -> &Path {
        &self.postmaster.log_path
    }

    /// Stops the server cleanly (`pg_ctl stop -m fast`) and keeps its data; [`PgServer::restart`]
    /// brings it back on the same port. Does nothing when it is not running.
    pub fn stop(&mut self) {
        self.postmaster.stop(StopMode::Fast);
    }

    /// SIGKILLs the postmaster and every process it started, as if its machine had died.
    pub fn kill(&mut self) {
        self.postmaster.kill();
    }

    /// Starts the server again on the same port after [`PgServer::stop`] or [`PgServer::kill`]
    /// (crash recovery runs after a kill), stopping it first if it is running.
    pub fn restart(&mut self) -> Result<()> {
        self.postmaster.stop(StopMode::Fast);
        self.postmaster.launch(PortPolicy::Keep)
    }

    pub fn is_running(&mut self) -> bool {
        self.postmaster.is_running()
    }

    /// Starts a streaming replica of this server: a `pg_basebackup -R` copy (which writes
    /// `primary_conninfo` and `standby.signal`) on a port of its own, hot standby, and waits
    /// until it accepts read-only connections. Stopping, killing or dropping the replica does
    /// not affect this server; [`PgServer::promote`] turns it into a primary.
    pub fn start_replica(&self) -> Result<PgServer> {
        let mut replica = PgServer::empty_instance()?;
        replica.postmaster.base_backup_from(self.postmaster.port)?;
        replica.postmaster.launch(PortPolicy::MayChange)?;
        Ok(replica)
    }

    /// Whether this server is a standby (replaying WAL from a primary).
    pub fn is_in_recovery(&self) -> Result<bool> {
        Ok(self.psql("postgres", "SELECT pg_is_in_recovery()")? == "t")
    }

    /// Ends recovery on a replica (`pg_ctl promote -w`): it takes writes from then on.
    pub fn promote(&mut self) -> Result<()> {
        let mut command = Command::new(program("pg_ctl")?);
        command
            .args(["promote", "-w", "-t"])
            .arg(READY_TIMEOUT.as_secs().to_string())
            .arg("-D")
            .arg(&self.postmaster.data_dir)
            .stdin(Stdio::null());
        self.postmaster
            .run_as
            .apply(&mut command, &self.postmaster.root);
        let output = command.output().context("running pg_ctl promote")?;
        if !output.status.success() {
            bail!(
                "pg_ctl promote -D {} failed with {}: {}",
                self.postmaster.data_dir.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }

    /// Makes a replica apply WAL only `delay` after the primary committed it
    /// (`recovery_min_apply_delay`), to test reads that must not see stale data. Zero removes
    /// the delay. Takes effect at once (configuration reload).
    pub fn set_apply_delay(&self, delay: Duration) -> Result<()> {
        self.psql(
            "postgres",
            &format!(
                "ALTER SYSTEM SET recovery_min_apply_delay = '{}ms'",
                delay.as_millis()
            ),
        )?;
        self.psql("postgres", "SELECT pg_reload_conf()")?;
        Ok(())
    }

    /// The WAL position the primary has written (`pg_current_wal_lsn`), as text.
    pub fn current_lsn(&self) -> Result<String> {
        self.psql("postgres", "SELECT pg_current_wal_lsn()")
    }

    /// Waits until this replica has replayed everything `primary` had written when called.
    pub fn wait_for_replay(&self, primary: &PgServer, timeout: Duration) -> Result<()> {
        let target = primary.current_lsn()?;
        let deadline = Instant::now() + timeout;
        loop {
            let caught_up = self.psql(
                "postgres",
                &format!("SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"),
            )?;
            if caught_up == "t" {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "replica on port {} did not replay {target} within {timeout:?}",
                    self.port()
                );
            }
            sleep(Duration::from_millis(20));
        }
    }

    /// Freezes every process of this server (SIGSTOP): connections stay open but nothing
    /// answers, like a hung machine. [`PgServer::thaw`] lets it go on.
    pub fn freeze(&mut self) {
        self.postmaster.signal_all(libc::SIGSTOP);
    }

    /// Resumes a server stopped by [`PgServer::freeze`].
    pub fn thaw(&mut self) {
        self.postmaster.signal_all(libc::SIGCONT);
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.postmaster.stop(StopMode::Immediate);
        if let Err(error) = fs::remove_dir_all(&self.postmaster.root) {
            if error.kind() != std::io::ErrorKind::NotFound {
                eprintln!(
                    "chorus-testkit: could not remove {}: {error}",
                    self.postmaster.root.display()
                );
            }
        }
        self.watchdog.disarm();
    }
}

#[derive(Clone, Copy)]
enum StopMode {
    /// Disconnect clients, checkpoint, exit.
    Fast,
    /// Exit at once; crash recovery on the next start. For throwing a server away.
    Immediate,
}

impl StopMode {
    fn as_pg_ctl_arg(self) -> &'static str {
        match self {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum PortPolicy {
    /// A new server: if another process grabbed the port, pick another one.
    MayChange,
    /// A restart: clients hold URLs with this port, so failing beats moving.
    Keep,
}

/// One PostgreSQL instance: its directory, the port it listens on, and its postmaster process.
///
/// The directory (`root`) holds `data/` (PGDATA), `socket/` (the Unix socket, kept out of /tmp and
/// /var/run so instances never collide) and `postgres.log`. Everything in it belongs to the account
/// PostgreSQL runs as.
pub(crate) struct Postmaster {
    run_as: &'static RunAs,
    root: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    log_path: PathBuf,
    port: u16,
    process: Option<Child>,
}

impl Postmaster {
    /// Makes an empty instance directory with a port picked, nothing started.
    fn new_directory(run_as: &'static RunAs) -> Result<Postmaster> {
        let base = temp_base(run_as);
        let root = tempfile::Builder::new()
            .prefix("chorus-pg-")
            .tempdir_in(&base)
            .with_context(|| format!("creating a temp directory in {}", base.display()))?
            .keep();
        let postmaster = Postmaster {
            run_as,
            data_dir: root.join("data"),
            socket_dir: root.join("socket"),
            log_path: root.join("postgres.log"),
            root,
            port: free_port(),
            process: None,
        };
        if let Err(error) = postmaster.prepare_directory() {
            let _ = fs::remove_dir_all(&postmaster.root);
            return Err(error);
        }
        Ok(postmaster)
    }

    fn prepare_directory(&self) -> Result<()> {
        fs::create_dir(&self.socket_dir)
            .with_context(|| format!("creating {}", self.socket_dir.display()))?;
        File::create(&self.log_path)
            .with_context(|| format!("creating {}", self.log_path.display()))?;
        for path in [&self.root, &self.socket_dir, &self.log_path] {
            self.run_as.give(path)?;
        }
        Ok(())
    }

    fn initdb(&self) -> Result<()> {
        let mut command = Command::new(program("initdb")?);
        command
            .arg("-D")
            .arg(&self.data_dir)
            .args([
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ])
            // Nothing here needs to survive a power cut.
            .args(["--no-sync", "--no-instructions"])
            .stdin(Stdio::null());
        self.run_as.apply(&mut command, &self.root);
        let output = command.output().context("running initdb")?;
        if !output.status.success() {
            bail!(
                "initdb -D {} failed with {}: {}{}",
                self.data_dir.display(),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    /// Fills `data_dir` with a base backup of the server on `primary_port`, set up to stream
    /// from it (`-R`). WAL is streamed during the copy so the backup is consistent.
    fn base_backup_from(&self, primary_port: u16) -> Result<()> {
        let mut command = Command::new(program("pg_basebackup")?);
        command
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-h", HOST, "-U", SUPERUSER, "-p"])
            .arg(primary_port.to_string())
            .args(["-R", "-X", "stream", "-c", "fast", "--no-sync"])
            .stdin(Stdio::null());
        self.run_as.apply(&mut command, &self.root);
        let output = command.output().context("running pg_basebackup")?;
        if !output.status.success() {
            bail!(
                "pg_basebackup -D {} from port {primary_port} failed with {}: {}",
                self.data_dir.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }

    fn append_settings(&self, settings: &str) -> Result<()> {
        use std::io::Write;
        let config_path = self.data_dir.join("postgresql.conf");
        let mut config = fs::OpenOptions::new()
            .append(true)
            .open(&config_path)
            .with_context(|| format!("opening {}", config_path.display()))?;
        config
            .write_all(settings.as_bytes())
            .with_context(|| format!("writing {}", config_path.display()))
    }

    /// Starts the postmaster and waits until it accepts connections.
    fn launch(&mut self, port_policy: PortPolicy) -> Result<()> {
        let mut attempt = 1;
        loop {
            let log_offset = fs::metadata(&self.log_path).map_or(0, |metadata| metadata.len());
            self.spawn()?;
            let failure = match self.wait_until_ready(log_offset) {
                Ok(()) => return Ok(()),
                Err(failure) => failure,
            };
            let may_retry = attempt < PORT_ATTEMPTS;
            match failure.kind {
                FailureKind::PortTaken if may_retry && port_policy == PortPolicy::MayChange => {
                    self.port = free_port();
                }
                // A killed instance's processes can take a moment to let go of shared memory.
                FailureKind::OldProcessesLinger if may_retry => sleep(Duration::from_millis(500)),
                _ => return Err(failure.error),
            }
            attempt += 1;
        }
    }

    fn spawn(&mut self) -> Result<()> {
        let log = fs::OpenOptions::new()
            .append(true)
            .open(&self.log_path)
            .with_context(|| format!("opening {}", self.log_path.display()))?;
        let log_for_stderr = log.try_clone().context("duplicating the log file handle")?;
        let mut command = Command::new(program("postgres")?);
        command
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(&self.socket_dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_for_stderr)
            // Its own process group: Ctrl-C in the terminal stops the test, not postgres; the
            // watchdog then cleans up.
            .process_group(0);
        self.run_as.apply(&mut command, &self.root);
        let process = command.spawn().context("spawning postgres")?;
        self.process = Some(process);
        Ok(())
    }

    fn wait_until_ready(&mut self, log_offset: u64) -> Result<(), LaunchFailure> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let exit = match self.process.as_mut() {
                Some(process) => process.try_wait().map_err(|error| LaunchFailure {
                    kind: FailureKind::Other,
                    error: anyhow!("waiting for postgres: {error}"),
                })?,
                None => None,
            };
            if let Some(status) = exit {
                self.process = None;
                let log = self.log_since(log_offset);
                return Err(LaunchFailure {
                    kind: FailureKind::from_log(&log),
                    error: anyhow!(
                        "postgres on port {} exited during startup with {status}; end of {}:\n{}",
                        self.port,
                        self.log_path.display(),
                        tail(&log)
                    ),
                });
            }
            if self.accepts_connections() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(LaunchFailure {
                    kind: FailureKind::Other,
                    error: anyhow!(
                        "postgres on port {} did not accept connections within {:?}; end of {}:\n{}",
                        self.port,
                        READY_TIMEOUT,
                        self.log_path.display(),
                        tail(&self.log_since(log_offset))
                    ),
                });
            }
            sleep(Duration::from_millis(50));
        }
    }

    fn accepts_connections(&self) -> bool {
        let Ok(pg_isready) = program("pg_isready") else {
            return false;
        };
        Command::new(pg_isready)
            .args([
                "-q", "-h", HOST, "-U", SUPERUSER, "-d", "postgres", "-t", "2", "-p",
            ])
            .arg(self.port.to_string())
            .stdin(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }

    fn is_running(&mut self) -> bool {
        match self.process.as_mut() {
            Some(process) => matches!(process.try_wait(), Ok(None)),
            None => false,
        }
    }

    fn stop(&mut self, mode: StopMode) {
        // A frozen server would not hear pg_ctl; waking it costs nothing otherwise.
        self.signal_all(libc::SIGCONT);
        let Some(mut process) = self.process.take() else {
            return;
        };
        if matches!(process.try_wait(), Ok(Some(_))) {
            return;
        }
        let stopped = match program("pg_ctl") {
            Ok(pg_ctl) => {
                let mut command = Command::new(pg_ctl);
                command
                    .args(["stop", "-w", "-m", mode.as_pg_ctl_arg(), "-t"])
                    .arg(STOP_TIMEOUT.as_secs().to_string())
                    .arg("-D")
                    .arg(&self.data_dir)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                self.run_as.apply(&mut command, &self.root);
                command.status().is_ok_and(|status| status.success())
            }
            Err(_) => false,
        };
        if stopped && wait_with_timeout(&mut process, STOP_TIMEOUT) {
            return;
        }
        self.process = Some(process);
        self.kill();
    }

    /// SIGKILLs the postmaster and its children (backends, checkpointer, walsenders) at once, like
    /// a power cut, so no orphaned backend keeps serving clients or holding shared memory.
    ///
    /// Postgres puts each child in a process group of its own, so one `kill(-pgid)` is not enough:
    /// we freeze the postmaster (SIGSTOP, so it cannot fork more), find its children in /proc,
    /// and kill them all.
    fn kill(&mut self) {
        let Some(mut process) = self.process.take() else {
            return;
        };
        if let Ok(postmaster_pid) = i32::try_from(process.id()) {
            // SAFETY: kill has no memory-safety preconditions. `postmaster_pid` is our unreaped
            // child, so the pid cannot have been reused; its children cannot be reused either
            // while their parent is stopped and has not reaped them.
            unsafe {
                libc::kill(postmaster_pid, libc::SIGSTOP);
                for child_pid in children_of(postmaster_pid) {
                    libc::kill(child_pid, libc::SIGKILL);
                }
                libc::kill(postmaster_pid, libc::SIGKILL);
            }
        }
        let _ = process.kill();
        let _ = process.wait();
    }

    /// Sends `signal` to the postmaster and all its children (see [`Postmaster::kill`]).
    fn signal_all(&mut self, signal: i32) {
        let Some(process) = self.process.as_ref() else {
            return;
        };
        if let Ok(postmaster_pid) = i32::try_from(process.id()) {
            // SAFETY: as in `kill`: our unreaped child and its children; no memory involved.
            unsafe {
                if signal == libc::SIGSTOP {
                    libc::kill(postmaster_pid, signal);
                }
                for child_pid in children_of(postmaster_pid) {
                    libc::kill(child_pid, signal);
                }
                if signal != libc::SIGSTOP {
                    libc::kill(postmaster_pid, signal);
                }
            }
        }
    }

    fn log_since(&self, offset: u64) -> String {
        let mut text = String::new();
        if let Ok(mut log) = File::open(&self.log_path) {
            let _ = log.seek(SeekFrom::Start(offset));
            let _ = log.read_to_string(&mut text);
        }
        text
    }
}

struct LaunchFailure {
    kind: FailureKind,
    error: anyhow::Error,
}

enum FailureKind {
    PortTaken,
    OldProcessesLinger,
    Other,
}

impl FailureKind {
    fn from_log(log: &str) -> FailureKind {
        if log.contains("could not bind") || log.contains("Address already in use") {
            return FailureKind::PortTaken;
        }
        if log.contains("pre-existing shared memory block") {
            return FailureKind::OldProcessesLinger;
        }
        FailureKind::Other
    }
}

/// Processes whose parent is `parent_pid`, read from /proc/PID/stat ("pid (comm) state ppid ...").
fn children_of(parent_pid: i32) -> Vec<i32> {
    let mut children = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return children;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The command name may contain spaces and parentheses; the fields after it do not.
        let Some((_, after_command)) = stat.rsplit_once(')') else {
            continue;
        };
        let parent = after_command.split_whitespace().nth(1);
        if parent.and_then(|field| field.parse::<i32>().ok()) == Some(parent_pid) {
            children.push(pid);
        }
    }
    children
}

fn wait_with_timeout(process: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match process.try_wait() {
            Ok(Some(_)) => return true,
            Ok(None) => sleep(Duration::from_millis(20)),
            Err(_) => return false,
        }
    }
    false
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let first = lines.len().saturating_sub(LOG_TAIL_LINES);
    lines[first..].join("\n")
}

/// Path of a PostgreSQL program, from `$CHORUS_PG_BIN` or the Debian PostgreSQL 15 location.
fn program(name: &str) -> Result<PathBuf> {
    let bin_dir = std::env::var_os(BIN_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_BIN_DIR));
    let path = bin_dir.join(name);
    if !path.is_file() {
        bail!(
            "{} not found: install PostgreSQL 15 (apt-get install -y postgresql-15) or set {BIN_DIR_ENV} to its bin directory",
            path.display()
        );
    }
    Ok(path)
}

/// Where instance directories go: the usual temp dir, unless PostgreSQL's account could not
/// reach it (say `TMPDIR` under root's 0700 home), then `/tmp`.
fn temp_base(run_as: &RunAs) -> PathBuf {
    let preferred = std::env::temp_dir();
    if run_as.is_current_user() || traversable_by_anyone(&preferred) {
        return preferred;
    }
    PathBuf::from("/tmp")
}

fn traversable_by_anyone(path: &Path) -> bool {
    path.ancestors().all(|directory| {
        fs::metadata(directory).is_ok_and(|metadata| metadata.permissions().mode() & 0o001 != 0)
    })
}

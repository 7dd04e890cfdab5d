//! A throwaway S3-compatible server for tests: moto's `moto_server` on a free 127.0.0.1 port.
//!
//! The program comes from the venv `scripts/test.sh` installs (`tests/s3/.venv`, `moto[server]`
//! from PyPI), or from `CHORUS_MOTO_SERVER`. When neither exists, [`S3Server::start`] fails with
//! a message saying how to install it: tests never skip S3 silently.
//!
//! moto keeps everything in memory and does not check signatures, so any access key works; it
//! does enforce S3's rules that matter here (5 MiB minimum multipart part, invisible multipart
//! uploads until completed). The server runs under a small `sh` whose stdin is a pipe only this
//! process writes to: when the test process ends, however it ends, the shell reads end-of-file
//! and kills moto (the same trick as the PostgreSQL watchdog).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::free_port;

/// Overrides the path of `moto_server`.
const MOTO_ENV: &str = "CHORUS_MOTO_SERVER";
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const PORT_ATTEMPTS: u32 = 3;

/// Credentials to configure clients with (moto accepts any).
pub const S3_ACCESS_KEY_ID: &str = "chorus-test-access-key";
pub const S3_SECRET_ACCESS_KEY: &str = "chorus-test-secret-key";
pub const S3_REGION: &str = "us-east-1";

const SCRIPT: &str = r#"
"$1" -H 127.0.0.1 -p "$2" >"$3" 2>&1 &
server=$!
IFS= read -r _word
kill "$server" 2>/dev/null
wait "$server" 2>/dev/null
exit 0
"#;

/// A running moto server owned by this process. Dropping it stops the server.
pub struct S3Server {
    port: u16,
    shell: Child,
    /// Closing this (or this process ending) makes the shell kill moto.
    trigger: Option<ChildStdin>,
    log_dir: tempfile::TempDir,
}

impl S3Server {
    /// Starts a server and waits until it answers HTTP.
    pub fn start() -> Result<S3Server> {
        let program = moto_program()?;
        let mut last_error = None;
        for _attempt in 0..PORT_ATTEMPTS {
            match S3Server::launch(&program) {
                Ok(server) => return Ok(server),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    /// One server shared by every test of this process (buckets keep tests apart).
    pub fn shared() -> &'static S3Server {
        static SHARED: OnceLock<S3Server> = OnceLock::new();
        SHARED.get_or_init(|| S3Server::start().expect("starting the shared S3 test server"))
    }

    fn launch(program: &PathBuf) -> Result<S3Server> {
        let port = free_port();
        let log_dir = tempfile::Builder::new()
            .prefix("chorus-s3-")
            .tempdir()
            .context("a temp directory for the moto log")?;
        let log_file = log_dir.path().join("moto.log");
        let mut shell = Command::new("sh")
            .args(["-c", SCRIPT, "chorus-testkit-s3"])
            .arg(program)
            .arg(port.to_string())
            .arg(&log_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("spawning sh to run moto_server")?;
        let trigger = shell.stdin.take();
        let mut server = S3Server {
            port,
            shell,
            trigger,
            log_dir,
        };
        let started = Instant::now();
        loop {
            if server.answers() {
                return Ok(server);
            }
            if let Ok(Some(_status)) = server.shell.try_wait() {
                bail!(
                    "moto_server exited at start (port {port}); its log:\n{}",
                    server.log_tail()
                );
            }
            if started.elapsed() > READY_TIMEOUT {
                let log = server.log_tail();
                drop(server);
                bail!("moto_server did not answer on port {port} within {READY_TIMEOUT:?}; its log:\n{log}");
            }
            sleep(Duration::from_millis(100));
        }
    }

    /// `127.0.0.1:PORT`: what `FileSettings.AmazonS3Endpoint` takes (with `AmazonS3SSL` off).
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates a bucket (fails if the server refuses).
    pub fn create_bucket(&self, name: &str) -> Result<()> {
        let (status, _) = self.request("PUT", &format!("/{name}"))?;
        if !(200..300).contains(&status) {
            bail!("creating bucket {name} answered HTTP {status}");
        }
        Ok(())
    }

    /// A fresh bucket with a unique name.
    pub fn new_bucket(&self) -> Result<String> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "chorus-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        self.create_bucket(&name)?;
        Ok(name)
    }

    /// Multipart uploads started in `bucket` and neither completed nor aborted: the parts of
    /// an unfinished upload, which S3 keeps out of sight of readers.
    pub fn pending_multipart_uploads(&self, bucket: &str) -> Result<usize> {
        let (status, body) = self.request("GET", &format!("/{bucket}?uploads"))?;
        if status != 200 {
            bail!("listing multipart uploads of {bucket} answered HTTP {status}: {body:.300}");
        }
        Ok(body.matches("<UploadId>").count())
    }

    fn answers(&self) -> bool {
        self.request("GET", "/").is_ok()
    }

    /// A minimal HTTP/1.1 request; returns the status code and the body.
    fn request(&self, method: &str, path: &str) -> Result<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))
            .with_context(|| format!("connecting to moto on port {}", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        let text = String::from_utf8_lossy(&response);
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse::<u16>().ok())
            .with_context(|| format!("unparseable HTTP answer from moto: {text:.200}"))?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default();
        Ok((status, body))
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_dir.path().join("moto.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        drop(self.trigger.take());
        let _ = self.shell.wait();
    }
}

/// `CHORUS_MOTO_SERVER`, else `tests/s3/.venv/bin/moto_server` in this checkout.
fn moto_program() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(MOTO_ENV) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        bail!("{MOTO_ENV}={} does not exist", path.display());
    }
    let repo_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let default = repo_root.join("tests/s3/.venv/bin/moto_server");
    if default.is_file() {
        return Ok(default);
    }
    bail!(
        "the S3 test server is not installed: {} is missing. Run scripts/test.sh (its install \
         step creates it), or: python3 -m venv tests/s3/.venv && tests/s3/.venv/bin/pip install \
         -r tests/s3/requirements.txt; or set {MOTO_ENV} to a moto_server program",
        default.display()
    )
}

//! NGINX from Debian's packages (`nginx-light`), run privately on a free 127.0.0.1 port in front
//! of some Chorus nodes, with the repository's config template
//! (deploy/nginx/local.conf.template, compiled in). One line is added to each proxied location:
//! an [`UPSTREAM_HEADER`] response header naming the node that answered, so a websocket client
//! knows which node it is on (a resumed connection gets no `hello`).
//!
//! Stopped with SIGTERM — SIGKILL would orphan its workers — and given
//! `PR_SET_PDEATHSIG = SIGTERM`, so it also stops when the process that started it dies.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TEMPLATE: &str = include_str!("../../../deploy/nginx/local.conf.template");
const READY_TIMEOUT: Duration = Duration::from_secs(20);
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The response header naming the upstream(s) NGINX tried, `127.0.0.1:PORT[, …]`; the last
/// one answered.
pub const UPSTREAM_HEADER: &str = "X-Chorus-Upstream";

pub struct Nginx {
    child: Option<Child>,
    pid: u32,
    port: u16,
    fail_timeout: Duration,
    directory: tempfile::TempDir,
}

impl Nginx {
    /// Starts NGINX proxying to `upstreams` (each marked failed for `fail_timeout` after an
    /// error) and waits until a node answers its ping through it.
    pub async fn start(upstreams: &[SocketAddr], fail_timeout: Duration) -> Result<Nginx> {
        let Some(binary) = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|path| Path::new(path).exists())
        else {
            bail!(
                "nginx is not installed: scripts/test.sh installs it (apt-get install nginx-light)"
            );
        };
        let directory = tempfile::Builder::new()
            .prefix("chorus-nginx-")
            .tempdir()
            .context("creating a temp directory for nginx")?;
        std::fs::create_dir(directory.path().join("tmp"))
            .context("creating nginx's tmp directory")?;
        let port = crate::free_port();
        let prefix = directory.path().display().to_string();
        let config_path = directory.path().join("nginx.conf");
        std::fs::write(&config_path, render(port, &prefix, upstreams, fail_timeout))
            .context("writing nginx.conf")?;
        let mut command = Command::new(binary);
        command
            .arg("-c")
            .arg(&config_path)
            .arg("-p")
            .arg(directory.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: the closure runs in the forked child before exec and only calls prctl, which
        // is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().context("starting nginx")?;
        let mut nginx = Nginx {
            pid: child.id(),
            child: Some(child),
            port,
            fail_timeout,
            directory,
        };
        nginx.wait_until_ready().await?;
        Ok(nginx)
    }

    async fn wait_until_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                let log = std::fs::read_to_string(self.directory.path().join("error.log"))
                    .unwrap_or_default();
                bail!("nginx exited during startup with {status}: {log}");
            }
            if ping(self.address()).await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "no node answered /api/v4/system/ping through nginx within {READY_TIMEOUT:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Points NGINX at `upstreams` and reloads it, as an operator edits the upstream block and
    /// runs `nginx -s reload` (SIGHUP: new workers serve with the new config, the old ones
    /// finish what they hold and exit). Returns once NGINX answers a ping again.
    pub async fn set_upstreams(&self, upstreams: &[SocketAddr]) -> Result<()> {
        let prefix = self.directory.path().display().to_string();
        std::fs::write(
            self.directory.path().join("nginx.conf"),
            render(self.port, &prefix, upstreams, self.fail_timeout),
        )
        .context("writing nginx.conf")?;
        // SAFETY: kill has no memory-safety preconditions; the pid is our unreaped child.
        if unsafe { libc::kill(self.pid as i32, libc::SIGHUP) } != 0 {
            bail!("reloading nginx: {}", std::io::Error::last_os_error());
        }
        // The master re-reads its config and starts new workers; give the old ones their time
        // to finish before the caller counts on the new upstreams.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let deadline = Instant::now() + READY_TIMEOUT;
        while !ping(self.address()).await {
            if Instant::now() >= deadline {
                bail!("nginx answered no ping within {READY_TIMEOUT:?} after the reload");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    pub fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn websocket_url(&self) -> String {
        format!("ws://127.0.0.1:{}/api/v4/websocket", self.port)
    }

    /// SIGTERM (the master stops its workers), then SIGKILL after [`STOP_GRACE`].
    pub async fn stop(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        terminate(self.pid);
        let deadline = Instant::now() + STOP_GRACE;
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(self.pid);
            let deadline = Instant::now() + STOP_GRACE;
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn terminate(pid: u32) {
    // SAFETY: kill has no memory-safety preconditions; the pid is our unreaped child.
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
}

/// Whether `GET /api/v4/system/ping` through `address` answers 200.
async fn ping(address: SocketAddr) -> bool {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
        stream
            .write_all(b"GET /api/v4/system/ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .ok()?;
        let mut status_line = [0u8; 12];
        stream.read_exact(&mut status_line).await.ok()?;
        Some(status_line.ends_with(b" 200"))
    };
    tokio::time::timeout(Duration::from_secs(2), exchange)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// The template with its `@LISTEN@`, `@PREFIX@` and `@UPSTREAMS@` filled in, and
/// [`UPSTREAM_HEADER`] added before every `proxy_pass`.
fn render(port: u16, prefix: &str, upstreams: &[SocketAddr], fail_timeout: Duration) -> String {
    let mut out = String::new();
    for line in TEMPLATE.lines() {
        if line.trim() == "@UPSTREAMS@" {
            for upstream in upstreams {
                out.push_str(&format!(
                    "        server {upstream} max_fails=1 fail_timeout={}s;\n",
                    fail_timeout.as_secs().max(1)
                ));
            }
            continue;
        }
        if line.trim_start().starts_with("proxy_pass ") {
            out.push_str(&format!(
                "            add_header {UPSTREAM_HEADER} $upstream_addr always;\n"
            ));
        }
        out.push_str(
            &line
                .replace("@LISTEN@", &format!("127.0.0.1:{port}"))
                .replace("@PREFIX@", prefix),
        );
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn renders_the_repository_template() {
        let upstreams = [
            "127.0.0.1:7001".parse().unwrap(),
            "127.0.0.1:7002".parse().unwrap(),
        ];
        let config = super::render(9000, "/tmp/x", &upstreams, Duration::from_secs(5));
        assert!(config.contains("listen 127.0.0.1:9000;"), "{config}");
        assert!(
            config.contains("server 127.0.0.1:7002 max_fails=1 fail_timeout=5s;"),
            "{config}"
        );
        assert!(config.contains("pid /tmp/x/nginx.pid;"), "{config}");
        assert_eq!(
            config.matches("add_header X-Chorus-Upstream").count(),
            config.matches("proxy_pass ").count(),
            "{config}"
        );
        assert!(!config.contains('@'), "{config}");
    }
}

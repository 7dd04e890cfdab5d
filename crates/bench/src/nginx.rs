//! A private NGINX in front of the benchmark's nodes, configured with the repository's
//! deploy/nginx/local.conf.template (compiled in, so the benchmark binary is self-contained),
//! on a free 127.0.0.1 port. Stopped with SIGTERM — SIGKILL would orphan its workers — and
//! given `PR_SET_PDEATHSIG = SIGTERM` so that it also stops when the benchmark dies.
//! Every answer carries [`UPSTREAM_HEADER`]: which node served it (a websocket's node).

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

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
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts NGINX proxying to `upstreams` and waits until it answers the nodes' ping.
    pub async fn start(upstreams: &[SocketAddr]) -> Result<Nginx> {
        let Some(binary) = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|path| Path::new(path).exists())
        else {
            bail!("nginx is not installed (apt-get install nginx-light)");
        };
        let dir = tempfile::Builder::new()
            .prefix("chorus-bench-nginx-")
            .tempdir()
            .context("creating a temp directory for nginx")?;
        std::fs::create_dir(dir.path().join("tmp")).context("creating nginx's tmp directory")?;
        let port = chorus_testkit::free_port();
        let config = render(TEMPLATE, port, &dir.path().display().to_string(), upstreams);
        let config_path = dir.path().join("nginx.conf");
        std::fs::write(&config_path, config).context("writing nginx.conf")?;
        let mut command = Command::new(binary);
        command
            .arg("-c")
            .arg(&config_path)
            .arg("-p")
            .arg(dir.path())
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
            dir,
        };
        nginx.wait_until_ready().await?;
        Ok(nginx)
    }

    async fn wait_until_ready(&mut self) -> Result<()> {
        let base = self.url("");
        let error_log = self.dir.path().join("error.log");
        let child = &mut self.child;
        crate::api::wait_for_ping(&base, READY_TIMEOUT, || {
            let status = child.as_mut()?.try_wait().ok()??;
            let log = std::fs::read_to_string(&error_log).unwrap_or_default();
            Some(format!("nginx exited during startup with {status}: {log}"))
        })
        .await
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// SIGTERM by PID (the master stops its workers), then SIGKILL after [`STOP_GRACE`].
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

/// The template with its `@LISTEN@`, `@PREFIX@` and `@UPSTREAMS@` filled in, and
/// [`UPSTREAM_HEADER`] added before every `proxy_pass`.
fn render(template: &str, port: u16, prefix: &str, upstreams: &[SocketAddr]) -> String {
    let mut out = String::new();
    for line in template.lines() {
        if line.trim_start().starts_with("proxy_pass ") {
            out.push_str(&format!(
                "            add_header {UPSTREAM_HEADER} $upstream_addr always;\n"
            ));
        }
        if line.trim() == "@UPSTREAMS@" {
            for upstream in upstreams {
                out.push_str(&format!(
                    "        server {upstream} max_fails=1 fail_timeout=5s;\n"
                ));
            }
        } else {
            out.push_str(
                &line
                    .replace("@LISTEN@", &format!("127.0.0.1:{port}"))
                    .replace("@PREFIX@", prefix),
            );
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_the_repository_template() {
        let upstreams = [
            "127.0.0.1:7001".parse().unwrap(),
            "127.0.0.1:7002".parse().unwrap(),
        ];
        let config = super::render(super::TEMPLATE, 9000, "/tmp/x", &upstreams);
        assert!(config.contains("listen 127.0.0.1:9000;"), "{config}");
        assert!(
            config.contains("server 127.0.0.1:7002 max_fails=1"),
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

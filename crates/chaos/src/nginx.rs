//! NGINX from Debian's packages, run privately on 127.0.0.1 in front of the nodes with the
//! repository's config template (deploy/nginx/local.conf.template). One line is added to each
//! proxied location: an `X-Chorus-Upstream` response header naming the node that answered, so a
//! websocket client knows which node it is on (a resumed connection gets no `hello`).
//!
//! Stopped with SIGTERM (SIGKILL would orphan its workers); given PR_SET_PDEATHSIG = SIGTERM so
//! it also stops when this process dies without cleaning up.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tempfile::TempDir;

const TEMPLATE: &str = include_str!("../../../deploy/nginx/local.conf.template");
pub const UPSTREAM_HEADER: &str = "x-chorus-upstream";
const READY_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Nginx {
    child: Child,
    port: u16,
    _directory: TempDir,
}

impl Nginx {
    pub async fn start(upstreams: &[SocketAddr], http: &reqwest::Client) -> Result<Nginx> {
        let program = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|path| Path::new(path).exists())
            .context("nginx is not installed: scripts/chaos.sh installs it (nginx-light)")?;
        let directory = tempfile::Builder::new()
            .prefix("chorus-chaos-nginx-")
            .tempdir()?;
        std::fs::create_dir_all(directory.path().join("tmp"))?;
        let port = chorus_testkit::free_port();
        let config_path = directory.path().join("nginx.conf");
        std::fs::write(
            &config_path,
            render(upstreams, port, &directory.path().display().to_string()),
        )?;
        let mut command = Command::new(program);
        command
            .arg("-c")
            .arg(&config_path)
            .arg("-p")
            .arg(directory.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: runs in the forked child before exec; prctl is async-signal-safe.
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
            child,
            port,
            _directory: directory,
        };
        let url = format!("{}/api/v4/system/ping", nginx.base_url());
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                bail!(
                    "nginx exited with {status}; see {}",
                    nginx._directory.path().join("error.log").display()
                );
            }
            if let Ok(response) = http.get(&url).send().await {
                if response.status() == reqwest::StatusCode::OK {
                    return Ok(nginx);
                }
            }
            if Instant::now() >= deadline {
                bail!("nginx did not answer {url} within {READY_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn websocket_url(&self) -> String {
        format!("ws://127.0.0.1:{}/api/v4/websocket", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SAFETY: kill has no memory-safety preconditions; the pid is our unreaped child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The template with the listen address, prefix and upstream lines filled in, plus the
/// upstream header before every `proxy_pass`.
fn render(upstreams: &[SocketAddr], port: u16, prefix: &str) -> String {
    let mut config = String::new();
    for line in TEMPLATE.lines() {
        if line == "@UPSTREAMS@" {
            for upstream in upstreams {
                config.push_str(&format!(
                    "        server {upstream} max_fails=1 fail_timeout=2s;\n"
                ));
            }
            continue;
        }
        if line.trim_start().starts_with("proxy_pass ") {
            config.push_str("            add_header X-Chorus-Upstream $upstream_addr always;\n");
        }
        config.push_str(
            &line
                .replace("@LISTEN@", &format!("127.0.0.1:{port}"))
                .replace("@PREFIX@", prefix),
        );
        config.push('\n');
    }
    config
}

//! Network namespaces for the nodes, so a node can be cut off from its peers while NGINX and
//! the database still reach it.
//!
//! Each node gets a namespace of its own with a veth pair whose other end hangs on a bridge in
//! the root namespace (10.231.X.0/24; the bridge is .1, node `i` is .(10+i)). Bridged traffic
//! needs no IP forwarding and no firewall: a cut adds `blackhole` routes to the peers' addresses
//! in the node's namespace and to the node's address in each peer's, which drops exactly the
//! node-to-node traffic. Only iproute2 is needed (`scripts/chaos.sh` installs it).
//!
//! Everything is named after this process's PID; dropping [`Network`] deletes it, and a later
//! run deletes what a run that died left behind (names whose PID no longer runs).

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

const NAMESPACE_PREFIX: &str = "chorus-chaos-";
const BRIDGE_PREFIX: &str = "chbr";
const NAMESPACE_DIR: &str = "/run/netns";

/// The bridge and one namespace per node.
pub struct Network {
    bridge: String,
    namespaces: Vec<Namespace>,
}

/// One node's namespace: its name, its address on the bridge, and the hostname its processes
/// see (so `hello`'s `server_hostname` says which node a websocket landed on).
#[derive(Clone, Debug)]
pub struct Namespace {
    pub name: String,
    pub address: Ipv4Addr,
    pub hostname: String,
}

impl Network {
    /// Creates the bridge and `node_count` namespaces with loopback up and a veth on the bridge.
    pub fn create(node_count: usize) -> Result<Network> {
        remove_leftovers();
        let pid = std::process::id();
        let third_octet = free_subnet()?;
        let bridge = format!("{BRIDGE_PREFIX}{pid}");
        let mut network = Network {
            bridge: bridge.clone(),
            namespaces: Vec::new(),
        };
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        ip(&[
            "addr",
            "add",
            &format!("10.231.{third_octet}.1/24"),
            "dev",
            &bridge,
        ])?;
        ip(&["link", "set", &bridge, "up"])?;
        for index in 0..node_count {
            let name = format!("{NAMESPACE_PREFIX}{pid}-n{index}");
            let host_end = format!("chv{pid}n{index}");
            let address = Ipv4Addr::new(10, 231, third_octet, 10 + index as u8);
            ip(&["netns", "add", &name])?;
            network.namespaces.push(Namespace {
                name: name.clone(),
                address,
                hostname: format!("chaos-node-{index}"),
            });
            ip(&["-n", &name, "link", "set", "lo", "up"])?;
            ip(&[
                "link", "add", &host_end, "type", "veth", "peer", "name", "eth0", "netns", &name,
            ])?;
            ip(&["link", "set", &host_end, "master", &bridge, "up"])?;
            ip(&[
                "-n",
                &name,
                "addr",
                "add",
                &format!("{address}/24"),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", &name, "link", "set", "eth0", "up"])?;
        }
        Ok(network)
    }

    pub fn namespace(&self, index: usize) -> &Namespace {
        &self.namespaces[index]
    }

    /// Drops all traffic between node `index` and every other node, both ways.
    pub fn cut(&self, index: usize) -> Result<()> {
        self.blackhole("add", index)
    }

    /// Undoes [`Network::cut`].
    pub fn heal(&self, index: usize) -> Result<()> {
        self.blackhole("del", index)
    }

    fn blackhole(&self, action: &str, index: usize) -> Result<()> {
        let isolated = &self.namespaces[index];
        for (peer_index, peer) in self.namespaces.iter().enumerate() {
            if peer_index == index {
                continue;
            }
            for (inside, unreachable) in [(isolated, peer), (peer, isolated)] {
                ip(&[
                    "-n",
                    &inside.name,
                    "route",
                    action,
                    "blackhole",
                    &format!("{}/32", unreachable.address),
                ])?;
            }
        }
        Ok(())
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for namespace in &self.namespaces {
            // Deleting the namespace deletes its veth end, and with it the bridge's end.
            if let Err(error) = ip(&["netns", "del", &namespace.name]) {
                eprintln!("chorus-chaos: {error:#}");
            }
        }
        if let Err(error) = ip(&["link", "del", &self.bridge]) {
            eprintln!("chorus-chaos: {error:#}");
        }
    }
}

impl Namespace {
    /// Makes `command` start inside this namespace, in a UTS namespace of its own whose
    /// hostname is [`Namespace::hostname`]. The child is the program itself (no `ip netns exec`
    /// in between), so its PID is the one to signal.
    pub fn enter_on_spawn(&self, command: &mut Command) -> Result<File> {
        let handle = self.open()?;
        let namespace_fd = handle.as_raw_fd();
        let hostname = self.hostname.clone().into_bytes();
        // SAFETY: the closure runs in the forked child before exec and only makes the
        // async-signal-safe calls setns, unshare, sethostname and prctl on memory captured
        // before the fork. `namespace_fd` stays open: the caller keeps the returned File until
        // the spawn has returned.
        unsafe {
            command.pre_exec(move || {
                if libc::setns(namespace_fd, libc::CLONE_NEWNET) != 0
                    || libc::unshare(libc::CLONE_NEWUTS) != 0
                    || libc::sethostname(hostname.as_ptr().cast(), hostname.len()) != 0
                    || libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Ok(handle)
    }

    /// A TCP listener bound to `address` inside this namespace. The socket is made on a
    /// short-lived thread that joins the namespace (setns is per thread); the socket stays in
    /// the namespace it was made in, whichever thread uses it afterwards.
    pub fn bind(&self, address: SocketAddr) -> Result<std::net::TcpListener> {
        let handle = self.open()?;
        let name = self.name.clone();
        std::thread::spawn(move || -> Result<std::net::TcpListener> {
            // SAFETY: setns only changes this thread's network namespace; the fd is open.
            if unsafe { libc::setns(handle.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error())
                    .with_context(|| format!("entering network namespace {name}"));
            }
            let listener = std::net::TcpListener::bind(address)
                .with_context(|| format!("binding {address} in network namespace {name}"))?;
            listener.set_nonblocking(true)?;
            Ok(listener)
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the namespace binding thread panicked"))?
    }

    fn open(&self) -> Result<File> {
        let path = format!("{NAMESPACE_DIR}/{}", self.name);
        File::open(&path).with_context(|| format!("opening {path}"))
    }
}

/// Runs `ip ARGS`, failing with its stderr.
fn ip(args: &[&str]) -> Result<()> {
    let output = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running ip (install iproute2: scripts/chaos.sh does)")?;
    if !output.status.success() {
        bail!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

fn ip_output(args: &[&str]) -> String {
    Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default()
}

/// A third octet X such that no interface already has an address in 10.231.X.0/24.
fn free_subnet() -> Result<u8> {
    let addresses = ip_output(&["-4", "-o", "addr", "show"]);
    let start = std::process::id() % 250;
    for offset in 0..250 {
        let candidate = 1 + (start + offset) % 250;
        if !addresses.contains(&format!("10.231.{candidate}.")) {
            return Ok(candidate as u8);
        }
    }
    bail!("no free 10.231.X.0/24 subnet for the chaos bridge")
}

/// Deletes namespaces and bridges that an earlier run left behind: named after a PID that no
/// longer runs, or after ours (a dead run's PID reused; we have created nothing yet).
fn remove_leftovers() {
    let own_pid = std::process::id().to_string();
    let pid_is_dead =
        |pid: &str| pid == own_pid || !std::path::Path::new(&format!("/proc/{pid}")).exists();
    for line in ip_output(&["netns", "list"]).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        if let Some(rest) = name.strip_prefix(NAMESPACE_PREFIX) {
            let pid = rest.split('-').next().unwrap_or_default();
            if pid_is_dead(pid) {
                let _ = ip(&["netns", "del", name]);
            }
        }
    }
    for line in ip_output(&["-o", "link", "show", "type", "bridge"]).lines() {
        let name = line.split(':').nth(1).unwrap_or_default().trim();
        if let Some(pid) = name.strip_prefix(BRIDGE_PREFIX) {
            if pid.chars().all(|c| c.is_ascii_digit()) && pid_is_dead(pid) {
                let _ = ip(&["link", "del", name]);
            }
        }
    }
}

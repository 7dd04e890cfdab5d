//! Throwaway infrastructure for Chorus's tests: real PostgreSQL servers in temp directories on
//! free loopback ports, owned by the test process and removed when it is gone.
//!
//! [`PgServer::shared`] gives every test in a process one server to create databases in;
//! [`PgServer::start`] gives a test a server of its own that it may stop, kill or restart.
//! This crate never talks to a server somebody else started, never listens beyond 127.0.0.1, and
//! knows nothing about Chorus's schema: tests hand the database URL to `store`, which migrates.
//!
//! PostgreSQL refuses to run as root. When the tests run as root, its processes run as the
//! `postgres` account (or a `chorus-pg` system account created on first use); see `os_account`.
//!
//! [`Nginx`] runs Debian's NGINX with the repository's config template in front of some nodes
//! (the cluster tests, the benchmark and the chaos suite share it).
//!
//! [`S3Server`] runs moto's S3-compatible server (from the venv `scripts/test.sh` installs) the
//! same way: on a free loopback port, killed when the test process ends.
//!
//! With the `sandbox` feature, [`Sandbox`] runs Chorus itself: a database (with replicas if
//! asked), N nodes through `chorus::Node` (in this process, or as `chorus` processes that can be
//! killed, paused and restarted), NGINX in front, and [`client`]/[`socket`], the one typed
//! REST and websocket client of the tests, the benchmark and the chaos suite.
//!
//! Streaming replicas: [`PgServer::start_replica`] copies a running server with
//! `pg_basebackup -R`; every server can be stopped, killed, frozen (SIGSTOP), restarted,
//! promoted or given a replay delay, so database-HA tests can break exactly one piece.

use std::sync::atomic::{AtomicU32, Ordering};

#[cfg(feature = "sandbox")]
pub mod client;
pub mod nginx;
mod os_account;
mod postgres;
mod s3;
#[cfg(feature = "sandbox")]
mod sandbox;
#[cfg(feature = "sandbox")]
pub mod socket;
mod watchdog;

pub use nginx::Nginx;
pub use postgres::PgServer;
pub use s3::{S3Server, S3_ACCESS_KEY_ID, S3_REGION, S3_SECRET_ACCESS_KEY};
#[cfg(feature = "sandbox")]
pub use sandbox::{Database, Endpoint, Sandbox, SandboxBuilder, SandboxNode, SpawnHook};

/// A TCP port on 127.0.0.1 that was free a moment ago. Another process may take it before the
/// caller binds it, so callers that can retry on "address in use" should (as
/// [`PgServer::start`] does).
///
/// Picked below the kernel's ephemeral range (`ip_local_port_range`, 32768–60999 by default),
/// in turn from a random start: a port in that range is also handed to outgoing connections as
/// their source port, so a node stopped and started again (a runbook's "add a server") could
/// find its port taken by any client meanwhile. Below it, only another bind can take it.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768);
    const LOWEST: u32 = 10_000;
    if ephemeral_start > LOWEST + 1_000 {
        let span = ephemeral_start - LOWEST;
        if NEXT.load(Ordering::Relaxed) == 0 {
            let seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.subsec_nanos())
                ^ std::process::id().wrapping_mul(7_919);
            let _ = NEXT.compare_exchange(0, seed.max(1), Ordering::Relaxed, Ordering::Relaxed);
        }
        for _ in 0..span {
            let port = LOWEST + NEXT.fetch_add(1, Ordering::Relaxed) % span;
            if std::net::TcpListener::bind(("127.0.0.1", port as u16)).is_ok() {
                return port as u16;
            }
        }
    }
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .expect("binding 127.0.0.1:0 to find a free port");
    listener
        .local_addr()
        .expect("reading the address of a bound listener")
        .port()
}

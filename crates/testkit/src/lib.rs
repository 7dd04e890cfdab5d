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

/// A TCP port on 127.0.0.1 that was free a moment ago: bind port 0, read what the kernel chose,
/// release it. Another process may take it before the caller binds it, so callers that can retry
/// on "address in use" should (as [`PgServer::start`] does).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .expect("binding 127.0.0.1:0 to find a free port");
    listener
        .local_addr()
        .expect("reading the address of a bound listener")
        .port()
}

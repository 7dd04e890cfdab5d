//! Leadership and the job server.
//!
//! [`LeaderLease`] decides which node leads: a lease row on the PostgreSQL master, renewed by the
//! leader, with expiry by the database clock, a fencing term, and a local deadline that makes the
//! old leader stop before a new one can start (see [`leader`]). Lowest node id preferred, as in
//! Mattermost's bully algorithm.
//!
//! [`JobServer`] runs on every node: workers claim pending jobs atomically, heartbeat, report
//! progress and honour cancellation (JobSettings.RunJobs); the scheduler, only on the leader,
//! creates recurring jobs (data retention, expired sessions, stale discovery rows) at most once
//! per schedule period and puts jobs whose worker died back to pending (JobSettings.RunScheduler).
//!
//! All SQL is in `chorus_store::{leader, jobs}`. This crate does not serve HTTP: creating,
//! listing and cancelling jobs for the REST API are store operations the app calls directly, and
//! it does not learn which nodes are alive by itself — the caller passes what gossip sees.

pub mod leader;
mod server;
mod settings;
mod work;

pub use leader::{AliveNodes, LeaderLease, LeaderOptions};
pub use server::JobServer;
pub use settings::{ConfigSnapshot, JobServerOptions};

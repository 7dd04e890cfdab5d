//! End-to-end tests of one Chorus node: the REST API and the websocket as clients see them,
//! against real PostgreSQL, plus the official JS and Python clients' compatibility suites.
//!
//! One test binary (every extra one re-links on 2 cores). `harness` starts nodes and holds the
//! HTTP client, `socket` the websocket client; each other module is one area of behaviour.

mod harness;
mod socket;

mod bad_input;
mod channels;
mod cluster;
mod compat;
mod config;
mod database;
mod jobs;
mod posts;
mod security;
mod teams;
mod users;
mod websocket;

//! End-to-end tests of one Chorus node: the REST API and the websocket as clients see them,
//! against real PostgreSQL, plus the official JS and Python clients' compatibility suites.
//!
//! One test binary (every extra one re-links on 2 cores). Nodes come from chorus-testkit's
//! `Sandbox` (in this process, or as `chorus` processes where a test kills or pauses them), and
//! so do the REST and websocket clients; each module is one area of behaviour.

mod bad_input;
mod channels;
mod chorusctl;
mod cluster;
mod compat;
mod config;
mod config_database;
mod coverage;
mod database;
mod emoji_threads;
mod event_privacy;
mod integrations;
mod jobs;
mod limits;
mod misc_endpoints;
mod operations;
mod people;
mod posts;
mod preferences;
mod runbooks;
mod security;
mod sidebar;
mod teams;
mod timeouts;
mod unreads;
mod users;
mod web;
mod websocket;

//! End-to-end tests of the HTTP API with two in-process nodes (see `cluster`).

mod cluster;
mod files;

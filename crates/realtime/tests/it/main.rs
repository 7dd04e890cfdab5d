//! End-to-end tests of the hub: real websocket clients (tokio-tungstenite) against an axum
//! server on 127.0.0.1:0 whose delegate is a fake.

mod support;

mod auth;
mod backpressure;
mod checkpoint;
mod events;
mod lifecycle;
mod liveness;
mod resume;
mod routing;

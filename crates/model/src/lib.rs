//! The API types of Chorus with Mattermost's JSON shapes: users, sessions, teams, channels,
//! posts, reactions, file infos, statuses, websocket events, ids, the catalogue of every error
//! a client can be answered with (`catalogue`: id, status, message), and `AppError`: the one
//! error shape clients see, which `app` and `api` produce from each subsystem's own errors.
//!
//! This crate does no I/O. It knows nothing of SQL, HTTP or sockets, so every other crate may
//! depend on it, and a type here can be reasoned about from its fields alone.

pub mod catalogue;
pub mod channel;
pub mod emoji;
pub mod error;
pub mod file;
pub mod id;
pub mod integration;
pub mod job;
pub mod post;
pub mod preference;
pub mod role;
pub mod session;
pub mod sidebar;
pub mod system_emoji;
pub mod team;
pub mod user;
pub mod websocket;

pub use catalogue::{catalogue, Catalogued, ErrorId};
pub use channel::*;
pub use emoji::*;
pub use error::AppError;
pub use file::*;
pub use id::{is_valid_id, new_id, now_millis};
pub use integration::*;
pub use job::*;
pub use post::*;
pub use preference::*;
pub use role::*;
pub use session::*;
pub use sidebar::*;
pub use system_emoji::is_system_emoji_name;
pub use team::*;
pub use user::*;
pub use websocket::*;

/// The version this build reports in `X-Version-Id`, `hello` and cluster status.
pub const SERVER_VERSION: &str = "10.5.0";

//! How the hub behaves: queue sizes, timeouts, parking and checkpoint bounds.

use std::time::Duration;

/// How the hub behaves; the defaults are Mattermost's.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// For `hello`: `<version>.<build>.<confighash>.<licensed>`, given by the caller.
    pub server_version: String,
    pub server_hostname: String,
    /// Events queued per connection before it counts as too slow (droppable events are
    /// skipped from half full; a full queue closes the connection).
    pub send_queue_size: usize,
    /// How long a socket may stay open without authenticating.
    pub unauthenticated_timeout: Duration,
    /// How often the server sends websocket ping frames.
    pub ping_interval: Duration,
    /// A connection from which nothing (pong or otherwise) arrived for this long is closed.
    pub pong_timeout: Duration,
    /// Dispatcher tasks; events are spread over them by user, channel or team.
    pub dispatch_shards: usize,
    /// Events kept for a parked connection (socket gone, waiting for a resume) before it is
    /// given up; never less than `send_queue_size + 1`, so a connection closed because its
    /// queue was full keeps everything it was sent.
    pub parked_queue_size: usize,
    /// How long a parked connection waits for its client to resume.
    pub resume_retention: Duration,
    /// Parked connections kept on this node at most; a connection parked beyond that is
    /// dropped (its client resyncs).
    pub max_parked_connections: usize,
    /// When set (clustered nodes), writers record what they send and wait for it to be handed
    /// to `Continuity::checkpoint`, which runs this often, before writing.
    pub checkpoint_interval: Option<Duration>,
    /// How long after a stored change's timestamp its frame is surely written to every
    /// connection meant to receive it (commit, cluster, ordering and queues, and the nodes'
    /// clocks agreeing): a connection's checkpoint horizon trails the last ping its client
    /// answered by this much, or now by this plus the pong timeout.
    pub change_delivery_bound: Duration,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            server_version: chorus_model::SERVER_VERSION.to_string(),
            server_hostname: String::new(),
            send_queue_size: 256,
            unauthenticated_timeout: Duration::from_secs(5),
            ping_interval: Duration::from_secs(60),
            pong_timeout: Duration::from_secs(100),
            dispatch_shards: std::thread::available_parallelism().map_or(1, usize::from),
            parked_queue_size: 1024,
            resume_retention: Duration::from_secs(5 * 60),
            max_parked_connections: 100_000,
            checkpoint_interval: None,
            change_delivery_bound: Duration::from_secs(30),
        }
    }
}

//! What the simulated users and the fault injector saw, for the checker. Every time is an
//! offset from the start of the run ([`Clock`]); each task keeps its own log and hands it over
//! when it ends, so nothing here is shared while the run goes on.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy)]
pub struct Clock {
    started: Instant,
    /// Wall-clock milliseconds at the start, to place `create_at` values on the run's time line.
    started_epoch_ms: i64,
}

impl Clock {
    pub fn start() -> Clock {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Clock {
            started: Instant::now(),
            started_epoch_ms: since_epoch.as_millis() as i64,
        }
    }

    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn started_epoch_ms(&self) -> i64 {
        self.started_epoch_ms
    }

    /// Seconds into the run of a wall-clock time in epoch milliseconds (negative before it).
    pub fn run_seconds(&self, epoch_ms: i64) -> f64 {
        (epoch_ms - self.started_epoch_ms) as f64 / 1000.0
    }
}

/// One REST poster's log.
#[derive(Default)]
pub struct PosterLog {
    pub acknowledged: Vec<Acknowledged>,
    pub failures: Vec<RequestFailure>,
    /// pending_post_ids given up on when the run ended while they were still failing.
    pub abandoned: Vec<String>,
}

pub struct Acknowledged {
    pub post_id: String,
    pub pending_post_id: String,
    pub channel_id: String,
    /// How many requests it took (1 = no retry).
    pub attempts: u32,
}

pub struct RequestFailure {
    pub at: Duration,
    /// `HTTP 502`, `timeout`, `connect`, ...
    pub kind: String,
}

/// One websocket client's log.
pub struct ClientLog {
    pub name: String,
    pub connections: Vec<ConnectionRecord>,
    pub received: Vec<Receipt>,
    /// `seq` values that did not follow the previous one on the same connection id (skips and
    /// repeats).
    pub sequence_gaps: Vec<SequenceGap>,
    /// Connection attempts that failed before a socket opened.
    pub failed_attempts: u32,
}

pub struct ConnectionRecord {
    pub opened_at: Duration,
    /// The connection id the server gave (`hello`) or resumed; None until it settled.
    pub connection_id: Option<String>,
    /// The node NGINX chose, by hostname; empty when NGINX did not say.
    pub node: String,
    pub outcome: ConnectionOutcome,
    /// When the client knew how the connection went: `hello`, or the first event of a resume.
    pub settled_at: Option<Duration>,
    pub closed_at: Option<Duration>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionOutcome {
    /// Nothing arrived yet (or nothing ever did).
    Pending,
    /// The first connection: `hello` with a new connection id.
    Fresh,
    /// A reconnect that kept the connection id: missed events replayed.
    Resumed,
    /// A reconnect answered with a new connection id: the client must resync, events may be lost.
    Resynced,
}

pub struct Receipt {
    pub post_id: String,
    pub channel_id: String,
    pub create_at: i64,
    pub received_at: Duration,
    pub seq: i64,
    /// Index of the connection (in `ClientLog::connections`) it came on.
    pub connection: usize,
}

pub struct SequenceGap {
    pub at: Duration,
    pub expected: i64,
    pub got: i64,
}

/// One injected fault.
#[derive(Clone)]
pub struct FaultRecord {
    pub name: String,
    /// `node 1`, `all nodes`, `primary`.
    pub target: String,
    /// The node's hostname when the fault hit one node.
    pub target_hostname: Option<String>,
    pub injected_at: Duration,
    /// When the harness undid it (node back and serving, partition healed, replica promoted).
    pub healed_at: Duration,
    /// Anything that went wrong while injecting or healing.
    pub problems: Vec<String>,
}

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one node's cluster traffic (for metrics, diagnostics and tests).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterStats {
    /// Gossip datagrams dropped because they did not authenticate or decode.
    pub gossip_datagrams_rejected: u64,
    /// Stream connections (either direction) whose Noise handshake failed: wrong key, wrong
    /// cluster name, not a Chorus node, or not finished within the handshake timeout.
    pub handshakes_failed: u64,
    /// Stream connections closed unheard because too many handshakes were pending.
    pub handshakes_refused: u64,
    /// Stream connections accepted from peers (handshake passed).
    pub connections_accepted: u64,
    /// Stream connections this node opened to peers (handshake passed).
    pub connections_opened: u64,
    pub reliable_delivered: u64,
    pub best_effort_delivered: u64,
    /// Reliable messages received again after a reconnect and dropped as already delivered.
    pub duplicates_dropped: u64,
    /// Messages whose payload this version cannot decode (a newer minor version's kind).
    pub undecodable_messages: u64,
    /// Reliable messages not queued because the peer's buffer was full of reliable messages.
    pub reliable_dropped: u64,
    /// Times a peer's reliable messages to this node were found skipped (it dropped them).
    pub reliable_gaps: u64,
    /// Best-effort messages dropped: peer not connected, buffer full, or connection lost.
    pub best_effort_dropped: u64,
    /// Reliable messages sent again on a new connection because the old one lost them.
    pub reliable_resent: u64,
    /// Peers this node's failure detector declared down.
    pub failure_detections: u64,
    /// Messages this node wrote to its node-to-node streams (acks not counted), and their
    /// envelopes' bytes before encryption: what the cluster costs per post, say.
    pub stream_messages_sent: u64,
    pub stream_bytes_sent: u64,
}

#[derive(Default)]
pub(crate) struct Stats {
    pub gossip_datagrams_rejected: AtomicU64,
    pub handshakes_failed: AtomicU64,
    pub handshakes_refused: AtomicU64,
    pub connections_accepted: AtomicU64,
    pub connections_opened: AtomicU64,
    pub reliable_delivered: AtomicU64,
    pub best_effort_delivered: AtomicU64,
    pub duplicates_dropped: AtomicU64,
    pub undecodable_messages: AtomicU64,
    pub reliable_dropped: AtomicU64,
    pub reliable_gaps: AtomicU64,
    pub best_effort_dropped: AtomicU64,
    pub reliable_resent: AtomicU64,
    pub failure_detections: AtomicU64,
    pub stream_messages_sent: AtomicU64,
    pub stream_bytes_sent: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn add(counter: &AtomicU64, amount: u64) {
    counter.fetch_add(amount, Ordering::Relaxed);
}

impl Stats {
    pub fn snapshot(&self) -> ClusterStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ClusterStats {
            gossip_datagrams_rejected: read(&self.gossip_datagrams_rejected),
            handshakes_failed: read(&self.handshakes_failed),
            handshakes_refused: read(&self.handshakes_refused),
            connections_accepted: read(&self.connections_accepted),
            connections_opened: read(&self.connections_opened),
            reliable_delivered: read(&self.reliable_delivered),
            best_effort_delivered: read(&self.best_effort_delivered),
            duplicates_dropped: read(&self.duplicates_dropped),
            undecodable_messages: read(&self.undecodable_messages),
            reliable_dropped: read(&self.reliable_dropped),
            reliable_gaps: read(&self.reliable_gaps),
            best_effort_dropped: read(&self.best_effort_dropped),
            reliable_resent: read(&self.reliable_resent),
            failure_detections: read(&self.failure_detections),
            stream_messages_sent: read(&self.stream_messages_sent),
            stream_bytes_sent: read(&self.stream_bytes_sent),
        }
    }
}

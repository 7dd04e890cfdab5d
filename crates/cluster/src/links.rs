//! Sending to peers: one link per peer, each with its queue and its own stream.
//!
//! Reliable delivery: every reliable message gets the next number of the link's sequence when
//! it is queued. The link's task writes queued messages in order and keeps the reliable ones
//! as in flight until the receiver acknowledges them (cumulatively). When the stream breaks,
//! the in-flight messages go back to the front of the queue, in order, and are written again on
//! the next stream; the receiver drops the ones it had already delivered. Best-effort messages
//! are never resent: they are dropped when the peer is not connected, when the stream breaks,
//! or first when the queue is full.

use crate::faults::FaultState;
use crate::stats::{add, bump, Stats};
use crate::wire::{self, Envelope, Hello, StreamReader, StreamSecrets, StreamWriter, WireError};
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

const WRITE_BATCH: usize = 256;
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(50);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(1);

/// What a peer's queue holds, for diagnostics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerQueue {
    pub node_id: String,
    pub address: String,
    pub connected: bool,
    /// Messages waiting to be written.
    pub queued: usize,
    /// Reliable messages written but not acknowledged yet.
    pub unacknowledged: usize,
}

/// Shared by every link of a node.
pub(crate) struct LinkContext {
    pub self_node_id: String,
    pub secrets: StreamSecrets,
    pub max_queued: usize,
    pub stats: Arc<Stats>,
    pub faults: Arc<FaultState>,
}

/// The links of one node, by peer node id.
pub(crate) struct Links {
    context: Arc<LinkContext>,
    links: Mutex<HashMap<String, Arc<Link>>>,
    /// Next sequence number of peers whose link was dropped (forgotten after the grace
    /// period), so a link made again for the same node continues its numbering: the receiver
    /// would otherwise take the new messages for duplicates.
    resumed_sequences: Mutex<HashMap<String, u64>>,
}

impl Links {
    pub fn new(context: Arc<LinkContext>) -> Links {
        Links {
            context,
            links: Mutex::new(HashMap::new()),
            resumed_sequences: Mutex::new(HashMap::new()),
        }
    }

    /// Makes sure a link to this peer exists (and points at `address`).
    pub fn ensure(&self, node_id: &str, address: SocketAddr) {
        let mut links = self.links.lock();
        let mut queue = Queue {
            next_sequence: self.resumed_sequences.lock().remove(node_id).unwrap_or(1),
            pending: VecDeque::new(),
            in_flight: VecDeque::new(),
        };
        if let Some(existing) = links.get(node_id) {
            if existing.address == address {
                return;
            }
            // Same node, new address: the new link takes over the queue and the numbering.
            existing.stop();
            let mut previous = existing.queue.lock();
            queue.next_sequence = previous.next_sequence;
            for (sequence, payload) in previous.in_flight.drain(..) {
                queue
                    .pending
                    .push_back(Outgoing::Reliable { sequence, payload });
            }
            queue.pending.extend(previous.pending.drain(..));
        }
        let link = Arc::new(Link {
            node_id: node_id.to_string(),
            address,
            queue: Mutex::new(queue),
            wake: Notify::new(),
            connected: AtomicBool::new(false),
            unlinked_since: Mutex::new(Some(Instant::now())),
            task: Mutex::new(None),
        });
        let task = tokio::spawn(run_link(link.clone(), self.context.clone()));
        *link.task.lock() = Some(task);
        links.insert(node_id.to_string(), link);
    }

    /// Drops a peer's link and its queue. `may_return`: keep its sequence number so a later
    /// link continues it (the node was forgotten, not cleanly gone).
    pub fn remove(&self, node_id: &str, may_return: bool) {
        let removed = self.links.lock().remove(node_id);
        if let Some(link) = removed {
            link.stop();
            let queue = link.queue.lock();
            let dropped = queue.pending.len() + queue.in_flight.len();
            if dropped > 0 {
                tracing::warn!(peer = %node_id, dropped, "dropping the queue of a peer that is gone");
            }
            if may_return {
                self.resumed_sequences
                    .lock()
                    .insert(node_id.to_string(), queue.next_sequence);
            }
        }
    }

    pub fn send_reliable(&self, node_id: Option<&str>, payload: Arc<[u8]>) {
        for link in self.targets(node_id) {
            link.enqueue_reliable(payload.clone(), &self.context);
        }
    }

    pub fn send_best_effort(&self, node_id: Option<&str>, payload: Arc<[u8]>) {
        for link in self.targets(node_id) {
            link.enqueue_best_effort(payload.clone(), &self.context);
        }
    }

    /// `full` (encoded only if some peer wants it) to the peers `wants_full` picks, `short`
    /// (when given) to the others.
    pub fn send_choosing(
        &self,
        reliable: bool,
        full: impl FnOnce() -> Option<Arc<[u8]>>,
        short: Option<Arc<[u8]>>,
        wants_full: impl Fn(&str) -> bool,
    ) {
        let mut full = Some(full);
        let mut full_payload: Option<Arc<[u8]>> = None;
        for link in self.targets(None) {
            let payload = if wants_full(&link.node_id) {
                if let Some(encode) = full.take() {
                    full_payload = encode();
                }
                full_payload.clone()
            } else {
                short.clone()
            };
            let Some(payload) = payload else {
                continue;
            };
            if reliable {
                link.enqueue_reliable(payload, &self.context);
            } else {
                link.enqueue_best_effort(payload, &self.context);
            }
        }
    }

    fn targets(&self, node_id: Option<&str>) -> Vec<Arc<Link>> {
        let links = self.links.lock();
        match node_id {
            Some(node_id) => match links.get(node_id) {
                Some(link) => vec![link.clone()],
                None => {
                    tracing::debug!(peer = %node_id, "no link to this node, message dropped");
                    Vec::new()
                }
            },
            None => links.values().cloned().collect(),
        }
    }

    /// Whether a stream to this peer is open now.
    pub fn is_connected(&self, node_id: &str) -> bool {
        self.links
            .lock()
            .get(node_id)
            .is_some_and(|link| link.connected.load(Ordering::Relaxed))
    }

    /// How long no stream to this peer has been open; `None` while one is. `Duration::MAX`
    /// when there is no link to it at all.
    pub fn unlinked_for(&self, node_id: &str) -> Option<Duration> {
        match self.links.lock().get(node_id) {
            Some(link) => link.unlinked_since.lock().map(|since| since.elapsed()),
            None => Some(Duration::MAX),
        }
    }

    pub fn queues(&self) -> Vec<PeerQueue> {
        let links = self.links.lock();
        let mut queues: Vec<PeerQueue> = links
            .values()
            .map(|link| {
                let queue = link.queue.lock();
                PeerQueue {
                    node_id: link.node_id.clone(),
                    address: link.address.to_string(),
                    connected: link.connected.load(Ordering::Relaxed),
                    queued: queue.pending.len(),
                    unacknowledged: queue.in_flight.len(),
                }
            })
            .collect();
        queues.sort_by(|left, right| left.node_id.cmp(&right.node_id));
        queues
    }

    /// Whether every queue is empty and acknowledged.
    pub fn drained(&self) -> bool {
        let links = self.links.lock();
        links.values().all(|link| {
            let queue = link.queue.lock();
            queue.pending.is_empty() && queue.in_flight.is_empty()
        })
    }

    /// Stops every link task (their streams close).
    pub fn stop_all(&self) {
        let links: Vec<Arc<Link>> = self.links.lock().drain().map(|(_, link)| link).collect();
        for link in links {
            link.stop();
        }
    }
}

enum Outgoing {
    Reliable { sequence: u64, payload: Arc<[u8]> },
    BestEffort { payload: Arc<[u8]> },
}

struct Queue {
    next_sequence: u64,
    /// Not written on the current stream yet, in order.
    pending: VecDeque<Outgoing>,
    /// Reliable messages written on the current stream, not yet acknowledged, in order.
    in_flight: VecDeque<(u64, Arc<[u8]>)>,
}

struct Link {
    node_id: String,
    address: SocketAddr,
    queue: Mutex<Queue>,
    /// Wakes the writer when something is queued.
    wake: Notify,
    connected: AtomicBool,
    /// When the stream last closed (or the link was made); `None` while a stream is open.
    unlinked_since: Mutex<Option<Instant>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Link {
    fn stop(&self) {
        if let Some(task) = self.task.lock().take() {
            task.abort();
        }
        self.set_connected(false);
    }

    fn set_connected(&self, connected: bool) {
        let mut unlinked_since = self.unlinked_since.lock();
        match (connected, *unlinked_since) {
            (true, _) => *unlinked_since = None,
            (false, None) => *unlinked_since = Some(Instant::now()),
            (false, Some(_)) => {}
        }
        self.connected.store(connected, Ordering::Relaxed);
    }

    fn enqueue_reliable(&self, payload: Arc<[u8]>, context: &LinkContext) {
        let mut queue = self.queue.lock();
        if queue.pending.len() + queue.in_flight.len() >= context.max_queued {
            let best_effort = queue
                .pending
                .iter()
                .position(|item| matches!(item, Outgoing::BestEffort { .. }));
            match best_effort {
                Some(position) => {
                    queue.pending.remove(position);
                    bump(&context.stats.best_effort_dropped);
                }
                None => {
                    bump(&context.stats.reliable_dropped);
                    tracing::error!(peer = %self.node_id, "peer queue full, reliable message dropped");
                    // Its number is used up all the same, so the peer sees the gap.
                    queue.next_sequence += 1;
                    return;
                }
            }
        }
        let sequence = queue.next_sequence;
        queue.next_sequence += 1;
        queue
            .pending
            .push_back(Outgoing::Reliable { sequence, payload });
        drop(queue);
        self.wake.notify_one();
    }

    fn enqueue_best_effort(&self, payload: Arc<[u8]>, context: &LinkContext) {
        if !self.connected.load(Ordering::Relaxed) {
            bump(&context.stats.best_effort_dropped);
            return;
        }
        let mut queue = self.queue.lock();
        if queue.pending.len() + queue.in_flight.len() >= context.max_queued {
            bump(&context.stats.best_effort_dropped);
            return;
        }
        queue.pending.push_back(Outgoing::BestEffort { payload });
        drop(queue);
        self.wake.notify_one();
    }

    /// After a stream ended: unacknowledged messages go back to the front of the queue, in
    /// order; best-effort ones are dropped.
    fn requeue_after_disconnect(&self, context: &LinkContext) {
        let mut queue = self.queue.lock();
        let mut requeued: VecDeque<Outgoing> = VecDeque::with_capacity(queue.pending.len());
        let resent = queue.in_flight.len() as u64;
        for (sequence, payload) in queue.in_flight.drain(..) {
            requeued.push_back(Outgoing::Reliable { sequence, payload });
        }
        let mut best_effort_dropped = 0;
        for item in queue.pending.drain(..) {
            match item {
                Outgoing::Reliable { .. } => requeued.push_back(item),
                Outgoing::BestEffort { .. } => best_effort_dropped += 1,
            }
        }
        queue.pending = requeued;
        add(&context.stats.reliable_resent, resent);
        add(&context.stats.best_effort_dropped, best_effort_dropped);
    }

    fn acknowledge(&self, delivered_up_to: u64) {
        let mut queue = self.queue.lock();
        while let Some((sequence, _)) = queue.in_flight.front() {
            if *sequence > delivered_up_to {
                break;
            }
            queue.in_flight.pop_front();
        }
    }
}

/// Keeps a stream to the peer open for as long as the link exists, reconnecting with backoff.
async fn run_link(link: Arc<Link>, context: Arc<LinkContext>) {
    let mut retry_delay = FIRST_RETRY_DELAY;
    loop {
        if !context.faults.is_isolated() {
            let hello = Hello {
                protocol_version: wire::PROTOCOL_VERSION,
                sender: context.self_node_id.clone(),
                recipient: link.node_id.clone(),
            };
            match wire::connect(link.address, &context.secrets, &hello).await {
                Ok((reader, writer)) => {
                    retry_delay = FIRST_RETRY_DELAY;
                    bump(&context.stats.connections_opened);
                    tracing::debug!(peer = %link.node_id, address = %link.address, "stream to peer open");
                    link.set_connected(true);
                    let outcome = run_stream(&link, &context, reader, writer).await;
                    link.set_connected(false);
                    link.requeue_after_disconnect(&context);
                    tracing::debug!(peer = %link.node_id, outcome = %outcome, "stream to peer closed");
                }
                Err(WireError::Noise(detail)) => {
                    bump(&context.stats.handshakes_failed);
                    tracing::warn!(peer = %link.node_id, address = %link.address, error = %detail, "stream handshake with peer failed");
                }
                Err(error) => {
                    tracing::debug!(peer = %link.node_id, address = %link.address, error = %error, "cannot reach peer");
                }
            }
        }
        tokio::time::sleep(retry_delay).await;
        retry_delay = (retry_delay * 2).min(MAX_RETRY_DELAY);
    }
}

/// Runs one stream until it breaks or is cut. Returns why it ended.
async fn run_stream(
    link: &Link,
    context: &LinkContext,
    mut reader: StreamReader,
    mut writer: StreamWriter,
) -> String {
    let mut cut = context.faults.cut_signal();
    tokio::select! {
        outcome = write_loop(link, context, &mut writer) => match outcome {
            Ok(()) => "writer stopped".to_string(),
            Err(error) => format!("write: {error}"),
        },
        outcome = read_acks(link, &mut reader) => match outcome {
            Ok(()) => "reader stopped".to_string(),
            Err(error) => format!("read: {error}"),
        },
        _ = cut.changed() => "cut".to_string(),
    }
}

async fn write_loop(
    link: &Link,
    context: &LinkContext,
    writer: &mut StreamWriter,
) -> Result<(), WireError> {
    let mut batch: Vec<Outgoing> = Vec::with_capacity(WRITE_BATCH);
    loop {
        {
            let mut queue = link.queue.lock();
            while batch.len() < WRITE_BATCH {
                let Some(item) = queue.pending.pop_front() else {
                    break;
                };
                if let Outgoing::Reliable { sequence, payload } = &item {
                    queue.in_flight.push_back((*sequence, payload.clone()));
                }
                batch.push(item);
            }
        }
        if batch.is_empty() {
            // A notify_one() that happened since the queue was emptied left a permit, so no
            // wake-up is lost between the check above and this wait.
            link.wake.notified().await;
            continue;
        }
        for item in batch.drain(..) {
            let envelope = match item {
                Outgoing::Reliable { sequence, payload } => Envelope {
                    protocol_version: wire::PROTOCOL_VERSION,
                    sender: context.self_node_id.clone(),
                    kind: wire::KIND_RELIABLE,
                    sequence,
                    payload: payload.to_vec(),
                },
                Outgoing::BestEffort { payload } => Envelope {
                    protocol_version: wire::PROTOCOL_VERSION,
                    sender: context.self_node_id.clone(),
                    kind: wire::KIND_BEST_EFFORT,
                    sequence: 0,
                    payload: payload.to_vec(),
                },
            };
            let encoded = envelope.encode();
            bump(&context.stats.stream_messages_sent);
            add(&context.stats.stream_bytes_sent, encoded.len() as u64);
            writer.feed(&encoded).await?;
        }
        writer.flush().await?;
    }
}

async fn read_acks(link: &Link, reader: &mut StreamReader) -> Result<(), WireError> {
    loop {
        let bytes = reader.next().await?;
        let Some(envelope) = Envelope::decode(&bytes) else {
            tracing::debug!(peer = %link.node_id, "undecodable envelope from peer ignored");
            continue;
        };
        if envelope.kind == wire::KIND_ACK {
            link.acknowledge(envelope.sequence);
        }
    }
}

//! Receiving from peers: the TCP listener, the streams peers opened to this node, and the
//! per-sender state that makes reliable delivery exactly-once and in order.
//!
//! Each sender numbers its reliable messages to this node 1, 2, 3…; this node remembers the
//! highest number it delivered per sender. A message at or below it is a resend of one already
//! delivered (the ack was lost with the old stream) and is dropped; anything above it is
//! delivered and acknowledged. Delivery and the check happen under the sender's lock, so even
//! two overlapping streams from one sender (an old one dying while a new one starts) cannot
//! deliver twice or out of order. A gap (numbers skipped) only happens when the sender dropped
//! messages on purpose (full queue, peer forgotten); the handler is told
//! ([`MessageHandler::messages_lost`]) before the next message is delivered.

use crate::faults::FaultState;
use crate::message::{ClusterMessage, MessageHandler};
use crate::stats::{bump, Stats};
use crate::wire::{self, Envelope, StreamReader, StreamSecrets, StreamWriter, WireError};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Acks are coalesced over this long, so a burst of messages costs one ack.
const ACK_DELAY: Duration = Duration::from_millis(2);

pub(crate) struct Inbound {
    pub self_node_id: String,
    pub secrets: StreamSecrets,
    pub handler: Arc<dyn MessageHandler>,
    pub stats: Arc<Stats>,
    pub faults: Arc<FaultState>,
    senders: Mutex<HashMap<String, Arc<Mutex<SenderState>>>>,
}

struct SenderState {
    delivered_up_to: u64,
    /// Streams from this sender open now.
    open_streams: usize,
    /// It left cleanly: forget it once its last stream closes (see [`Inbound::forget_sender`]).
    departed: bool,
}

impl Inbound {
    pub fn new(
        self_node_id: String,
        secrets: StreamSecrets,
        handler: Arc<dyn MessageHandler>,
        stats: Arc<Stats>,
        faults: Arc<FaultState>,
    ) -> Inbound {
        Inbound {
            self_node_id,
            secrets,
            handler,
            stats,
            faults,
            senders: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets a sender that is gone for good — once its streams are closed. A node that
    /// leaves cleanly announces it in gossip and then still flushes what it queued (and sends
    /// what its last moments produce) for a while; forgetting its numbering before those
    /// messages arrive would take the next one for a gap, and a gap ends every websocket here.
    pub fn forget_sender(&self, node_id: &str) {
        let mut senders = self.senders.lock();
        let streaming = senders.get(node_id).is_some_and(|state| {
            let mut state = state.lock();
            state.departed = true;
            state.open_streams > 0
        });
        if !streaming {
            senders.remove(node_id);
        }
    }

    /// A stream from `node_id` closed: a departed sender with none left is forgotten.
    fn stream_closed(&self, node_id: &str) {
        let mut senders = self.senders.lock();
        let forget = senders.get(node_id).is_some_and(|state| {
            let mut state = state.lock();
            state.open_streams = state.open_streams.saturating_sub(1);
            state.departed && state.open_streams == 0
        });
        if forget {
            senders.remove(node_id);
        }
    }

    /// Whether a stream from this node is open: it has a link to this one, so whatever it
    /// sends to every peer reaches this node.
    pub fn has_stream_from(&self, node_id: &str) -> bool {
        self.senders
            .lock()
            .get(node_id)
            .is_some_and(|state| state.lock().open_streams > 0)
    }

    fn sender_state(&self, node_id: &str) -> Arc<Mutex<SenderState>> {
        self.senders
            .lock()
            .entry(node_id.to_string())
            .or_insert_with(|| {
                Arc::new(Mutex::new(SenderState {
                    delivered_up_to: 0,
                    open_streams: 0,
                    departed: false,
                }))
            })
            .clone()
    }

    /// Delivers a reliable message unless it was delivered already; returns the sender's
    /// highest delivered number (what to acknowledge).
    fn receive_reliable(&self, sender: &str, sequence: u64, payload: &[u8]) -> u64 {
        let state = self.sender_state(sender);
        let mut state = state.lock();
        if sequence <= state.delivered_up_to {
            bump(&self.stats.duplicates_dropped);
            return state.delivered_up_to;
        }
        if sequence > state.delivered_up_to + 1 {
            tracing::warn!(
                peer = %sender,
                expected = state.delivered_up_to + 1,
                received = sequence,
                "reliable messages skipped by the sender"
            );
            bump(&self.stats.reliable_gaps);
            let handler = &self.handler;
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                handler.messages_lost(sender)
            }));
            if outcome.is_err() {
                tracing::error!(peer = %sender, "cluster message handler panicked");
            }
        }
        self.deliver(sender, payload);
        bump(&self.stats.reliable_delivered);
        state.delivered_up_to = sequence;
        state.delivered_up_to
    }

    fn deliver(&self, sender: &str, payload: &[u8]) {
        let message: ClusterMessage = match postcard::from_bytes(payload) {
            Ok(message) => ClusterMessage::from_any_version(message),
            Err(error) => {
                bump(&self.stats.undecodable_messages);
                tracing::debug!(peer = %sender, error = %error, "unknown cluster message ignored");
                return;
            }
        };
        let handler = &self.handler;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handler.handle(sender, message)
        }));
        if outcome.is_err() {
            tracing::error!(peer = %sender, "cluster message handler panicked");
        }
    }
}

/// Connections still in their handshake at most; more are closed at once. Peers open one
/// stream each, so this is only reached by something that is not a peer.
pub(crate) const MAX_PENDING_HANDSHAKES: usize = 64;
/// A connection that has not completed its handshake by then is closed.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections that are not peers are logged at most this often.
const JUNK_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Accepts streams until the task is aborted; dropping it closes every accepted stream too.
/// At most [`MAX_PENDING_HANDSHAKES`] connections wait in their handshake, each for at most
/// [`HANDSHAKE_TIMEOUT`], and failures are logged at most once a second (with how many were
/// not logged), so a port scanner or a flood of junk costs neither memory nor the log.
pub(crate) async fn run_listener(listener: TcpListener, inbound: Arc<Inbound>) {
    let mut connections = JoinSet::new();
    let pending_handshakes = Arc::new(tokio::sync::Semaphore::new(MAX_PENDING_HANDSHAKES));
    let junk_log = Arc::new(RateLimitedLog::new(JUNK_LOG_INTERVAL));
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer_address)) => {
                    if inbound.faults.is_isolated() {
                        continue;
                    }
                    let Ok(handshake_permit) = pending_handshakes.clone().try_acquire_owned() else {
                        bump(&inbound.stats.handshakes_refused);
                        if let Some(suppressed) = junk_log.allow() {
                            tracing::warn!(address = %peer_address, pending = MAX_PENDING_HANDSHAKES, suppressed, "too many cluster stream handshakes pending, connection dropped");
                        }
                        continue;
                    };
                    let inbound = inbound.clone();
                    let junk_log = junk_log.clone();
                    connections.spawn(async move {
                        let handshake = tokio::time::timeout(
                            HANDSHAKE_TIMEOUT,
                            wire::accept(stream, &inbound.secrets, &inbound.self_node_id),
                        )
                        .await;
                        drop(handshake_permit);
                        match handshake {
                            Ok(Ok((hello, reader, writer))) => {
                                bump(&inbound.stats.connections_accepted);
                                let _open = OpenStream::new(&inbound, &hello.sender);
                                let outcome = serve_stream(&inbound, &hello.sender, reader, writer).await;
                                tracing::debug!(peer = %hello.sender, address = %peer_address, outcome = %outcome, "stream from peer closed");
                            }
                            Ok(Err(WireError::WrongRecipient(recipient))) => {
                                tracing::debug!(address = %peer_address, recipient = %recipient, "stream meant for a previous process on this address refused");
                            }
                            Ok(Err(error)) => {
                                bump(&inbound.stats.handshakes_failed);
                                if let Some(suppressed) = junk_log.allow() {
                                    tracing::warn!(address = %peer_address, error = %error, suppressed, "stream handshake failed, connection dropped");
                                }
                            }
                            Err(_elapsed) => {
                                bump(&inbound.stats.handshakes_failed);
                                if let Some(suppressed) = junk_log.allow() {
                                    tracing::warn!(address = %peer_address, timeout = ?HANDSHAKE_TIMEOUT, suppressed, "stream handshake timed out, connection dropped");
                                }
                            }
                        }
                    });
                }
                Err(error) => {
                    tracing::warn!(error = %error, "accepting a cluster stream failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Lets one log line through per interval and counts the ones it held back.
struct RateLimitedLog {
    interval: Duration,
    state: Mutex<(Option<std::time::Instant>, u64)>,
}

impl RateLimitedLog {
    fn new(interval: Duration) -> RateLimitedLog {
        RateLimitedLog {
            interval,
            state: Mutex::new((None, 0)),
        }
    }

    /// `Some(lines held back since the last one)` when this line may be logged.
    fn allow(&self) -> Option<u64> {
        let now = std::time::Instant::now();
        let mut state = self.state.lock();
        let (last_logged, suppressed) = &mut *state;
        if last_logged.is_some_and(|last| now.duration_since(last) < self.interval) {
            *suppressed += 1;
            return None;
        }
        *last_logged = Some(now);
        Some(std::mem::take(suppressed))
    }
}

/// Counts a stream from a sender as open while it lives.
struct OpenStream<'a> {
    inbound: &'a Inbound,
    sender: String,
}

impl<'a> OpenStream<'a> {
    fn new(inbound: &'a Inbound, sender: &str) -> OpenStream<'a> {
        inbound.sender_state(sender).lock().open_streams += 1;
        OpenStream {
            inbound,
            sender: sender.to_string(),
        }
    }
}

impl Drop for OpenStream<'_> {
    fn drop(&mut self) {
        self.inbound.stream_closed(&self.sender);
    }
}

async fn serve_stream(
    inbound: &Inbound,
    sender: &str,
    mut reader: StreamReader,
    mut writer: StreamWriter,
) -> String {
    let (ack_sender, ack_receiver) = watch::channel::<u64>(0);
    let mut cut = inbound.faults.cut_signal();
    tokio::select! {
        outcome = read_loop(inbound, sender, &mut reader, &ack_sender) => match outcome {
            Ok(()) => "reader stopped".to_string(),
            Err(error) => format!("read: {error}"),
        },
        outcome = ack_loop(inbound, &mut writer, ack_receiver) => match outcome {
            Ok(()) => "acks stopped".to_string(),
            Err(error) => format!("write: {error}"),
        },
        _ = cut.changed() => "cut".to_string(),
    }
}

/// `sender`: the node that opened the stream (from its hello). Envelopes claiming another
/// sender are ignored.
async fn read_loop(
    inbound: &Inbound,
    sender: &str,
    reader: &mut StreamReader,
    acks: &watch::Sender<u64>,
) -> Result<(), WireError> {
    loop {
        let bytes = reader.next().await?;
        let Some(envelope) = Envelope::decode(&bytes) else {
            bump(&inbound.stats.undecodable_messages);
            tracing::debug!(peer = %sender, "undecodable envelope ignored");
            continue;
        };
        if envelope.sender != sender {
            tracing::warn!(peer = %sender, claimed = %envelope.sender, "envelope from another sender than the stream's ignored");
            continue;
        }
        match envelope.kind {
            wire::KIND_RELIABLE => {
                let delivered_up_to = inbound.receive_reliable(
                    &envelope.sender,
                    envelope.sequence,
                    &envelope.payload,
                );
                acks.send_replace(delivered_up_to);
            }
            wire::KIND_BEST_EFFORT => {
                inbound.deliver(&envelope.sender, &envelope.payload);
                bump(&inbound.stats.best_effort_delivered);
            }
            other => {
                tracing::debug!(kind = other, peer = %envelope.sender, "envelope of unknown kind ignored");
            }
        }
    }
}

async fn ack_loop(
    inbound: &Inbound,
    writer: &mut StreamWriter,
    mut acks: watch::Receiver<u64>,
) -> Result<(), WireError> {
    loop {
        if acks.changed().await.is_err() {
            return Ok(());
        }
        tokio::time::sleep(ACK_DELAY).await;
        let delivered_up_to = *acks.borrow_and_update();
        let envelope = Envelope {
            protocol_version: wire::PROTOCOL_VERSION,
            sender: inbound.self_node_id.clone(),
            kind: wire::KIND_ACK,
            sequence: delivered_up_to,
            payload: Vec::new(),
        };
        writer.send(&envelope.encode()).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Counting {
        handled: AtomicUsize,
        lost: AtomicUsize,
    }

    impl MessageHandler for Counting {
        fn handle(&self, _from_node: &str, _message: ClusterMessage) {
            self.handled.fetch_add(1, Ordering::SeqCst);
        }
        fn messages_lost(&self, _from_node: &str) {
            self.lost.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn inbound(handler: Arc<Counting>) -> Inbound {
        Inbound::new(
            "me".to_string(),
            StreamSecrets::new([7; 32], "test"),
            handler,
            Arc::new(Stats::default()),
            Arc::new(FaultState::new()),
        )
    }

    fn payload() -> Vec<u8> {
        postcard::to_stdvec(&ClusterMessage::ServerBusyChanged { expires_at: 0 }).unwrap()
    }

    /// A node leaving cleanly is reported left while it still flushes its queue: the messages
    /// that come after must go on from its numbering, not count as a gap (which would end
    /// every websocket of this node).
    #[test]
    fn a_cleanly_departed_sender_is_forgotten_only_once_its_streams_close() {
        let handler = Arc::new(Counting::default());
        let inbound = inbound(handler.clone());
        let stream = OpenStream::new(&inbound, "leaving");
        assert_eq!(inbound.receive_reliable("leaving", 1, &payload()), 1);
        assert_eq!(inbound.receive_reliable("leaving", 2, &payload()), 2);
        inbound.forget_sender("leaving");
        assert_eq!(inbound.receive_reliable("leaving", 3, &payload()), 3);
        assert_eq!(inbound.receive_reliable("leaving", 3, &payload()), 3);
        assert_eq!(handler.lost.load(Ordering::SeqCst), 0);
        assert_eq!(handler.handled.load(Ordering::SeqCst), 3);
        assert!(inbound.has_stream_from("leaving"));
        drop(stream);
        assert!(
            inbound.senders.lock().is_empty(),
            "forgotten once its stream closed"
        );
    }

    #[test]
    fn a_departed_sender_without_a_stream_is_forgotten_at_once_and_gaps_still_count() {
        let handler = Arc::new(Counting::default());
        let inbound = inbound(handler.clone());
        assert_eq!(inbound.receive_reliable("gone", 1, &payload()), 1);
        inbound.forget_sender("gone");
        assert!(inbound.senders.lock().is_empty());
        // A sender that skips numbers (it dropped messages) is still reported.
        inbound.receive_reliable("other", 1, &payload());
        inbound.receive_reliable("other", 3, &payload());
        assert_eq!(handler.lost.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn junk_is_logged_at_most_once_an_interval_with_the_count_held_back() {
        let log = RateLimitedLog::new(Duration::from_millis(200));
        assert_eq!(log.allow(), Some(0));
        assert_eq!(log.allow(), None);
        assert_eq!(log.allow(), None);
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(log.allow(), Some(2));
        assert_eq!(log.allow(), None);
    }
}

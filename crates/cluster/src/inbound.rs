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

    /// Forgets a sender that is gone for good.
    pub fn forget_sender(&self, node_id: &str) {
        self.senders.lock().remove(node_id);
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

/// Accepts streams until the task is aborted; dropping it closes every accepted stream too.
pub(crate) async fn run_listener(listener: TcpListener, inbound: Arc<Inbound>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer_address)) => {
                    if inbound.faults.is_isolated() {
                        continue;
                    }
                    let inbound = inbound.clone();
                    connections.spawn(async move {
                        match wire::accept(stream, &inbound.secrets, &inbound.self_node_id).await {
                            Ok((hello, reader, writer)) => {
                                bump(&inbound.stats.connections_accepted);
                                let _open = OpenStream::new(&inbound, &hello.sender);
                                let outcome = serve_stream(&inbound, &hello.sender, reader, writer).await;
                                tracing::debug!(peer = %hello.sender, address = %peer_address, outcome = %outcome, "stream from peer closed");
                            }
                            Err(WireError::WrongRecipient(recipient)) => {
                                tracing::debug!(address = %peer_address, recipient = %recipient, "stream meant for a previous process on this address refused");
                            }
                            Err(error) => {
                                bump(&inbound.stats.handshakes_failed);
                                tracing::warn!(address = %peer_address, error = %error, "stream handshake failed, connection dropped");
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

/// Counts a stream from a sender as open while it lives.
struct OpenStream {
    state: Arc<Mutex<SenderState>>,
}

impl OpenStream {
    fn new(inbound: &Inbound, sender: &str) -> OpenStream {
        let state = inbound.sender_state(sender);
        state.lock().open_streams += 1;
        OpenStream { state }
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.state.lock().open_streams -= 1;
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

//! The node-to-node stream format. Only this module knows it.
//!
//! A stream is a TCP connection from a sender to a receiver (each direction of a pair of nodes
//! has its own). It starts with a Noise `NNpsk0` handshake whose pre-shared key is derived from
//! the cluster key and whose prologue names the protocol and the cluster: only a holder of the
//! key, in the same cluster, completes it. After it, every TCP frame (u16 length prefix) is one
//! Noise transport message whose plaintext is a chunk: one byte (1 = last chunk of an envelope,
//! 0 = more follow) and up to 65 518 bytes of a postcard-encoded [`Envelope`].
//!
//! Envelopes flow sender → receiver (reliable and best-effort messages) and receiver → sender
//! (acknowledgements). Compatibility rules: fields are only ever appended to [`Envelope`]
//! (postcard ignores trailing bytes, so older nodes read the fields they know); an unknown
//! `kind` is ignored; an incompatible change bumps the version in [`NOISE_PROLOGUE_PREFIX`],
//! which makes old and new nodes fail the handshake instead of misreading each other.

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// Carried in every envelope; bumped (minor) when fields or kinds are added.
pub(crate) const PROTOCOL_VERSION: u16 = 2;

const NOISE_PATTERN: &str = "Noise_NNpsk0_25519_ChaChaPoly_SHA256";
/// Major protocol version: part of the handshake, so incompatible nodes never talk.
const NOISE_PROLOGUE_PREFIX: &[u8] = b"chorus-cluster-streams/1\0";
const NOISE_MAX_MESSAGE: usize = 65_535;
const NOISE_TAG: usize = 16;
const MAX_CHUNK: usize = NOISE_MAX_MESSAGE - NOISE_TAG - 1;
/// A larger envelope is a protocol violation and closes the connection.
const MAX_ENVELOPE: usize = 64 * 1024 * 1024;
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) const KIND_RELIABLE: u8 = 0;
pub(crate) const KIND_BEST_EFFORT: u8 = 1;
/// Receiver → sender: every reliable message up to `sequence` was delivered.
pub(crate) const KIND_ACK: u8 = 2;

/// One unit on a stream.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct Envelope {
    pub protocol_version: u16,
    /// Node id of the writer of this envelope.
    pub sender: String,
    pub kind: u8,
    /// Reliable: the message's number in the sender → receiver sequence (from 1).
    /// Ack: the highest number delivered. Best effort: 0.
    pub sequence: u64,
    /// A postcard-encoded [`crate::ClusterMessage`] (empty for acks). Kept as bytes so an
    /// envelope always decodes even when its message does not.
    pub payload: Vec<u8>,
}

impl Envelope {
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("serializing an envelope into memory cannot fail")
    }

    pub fn decode(bytes: &[u8]) -> Option<Envelope> {
        postcard::from_bytes(bytes).ok()
    }
}

/// Why a stream failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WireError {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("noise: {0}")]
    Noise(String),
    #[error("handshake timed out")]
    Timeout,
    #[error("connection closed")]
    Closed,
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
    /// The stream was meant for a previous process on this address.
    #[error("stream meant for node {0}")]
    WrongRecipient(String),
}

impl From<snow::Error> for WireError {
    fn from(error: snow::Error) -> Self {
        WireError::Noise(error.to_string())
    }
}

/// The secrets both ends of a stream must share.
#[derive(Clone)]
pub(crate) struct StreamSecrets {
    pub psk: [u8; 32],
    pub prologue: Vec<u8>,
}

impl StreamSecrets {
    pub fn new(psk: [u8; 32], cluster_name: &str) -> StreamSecrets {
        let mut prologue = NOISE_PROLOGUE_PREFIX.to_vec();
        prologue.extend_from_slice(cluster_name.as_bytes());
        StreamSecrets { psk, prologue }
    }
}

type FramedTcp = Framed<TcpStream, LengthDelimitedCodec>;

fn framed(stream: TcpStream) -> FramedTcp {
    let codec = LengthDelimitedCodec::builder()
        .length_field_length(2)
        .max_frame_length(NOISE_MAX_MESSAGE)
        .new_codec();
    Framed::new(stream, codec)
}

fn builder(secrets: &StreamSecrets) -> Result<snow::Builder<'_>, WireError> {
    let params = NOISE_PATTERN
        .parse()
        .map_err(|error: snow::Error| WireError::Noise(error.to_string()))?;
    Ok(snow::Builder::new(params)
        .prologue(&secrets.prologue)?
        .psk(0, &secrets.psk)?)
}

async fn next_frame(framed: &mut FramedTcp) -> Result<bytes::BytesMut, WireError> {
    match framed.next().await {
        Some(Ok(frame)) => Ok(frame),
        Some(Err(error)) => Err(error.into()),
        None => Err(WireError::Closed),
    }
}

/// Carried (encrypted) in the first handshake message: who opens the stream and for whom.
/// A node refuses a stream meant for another node id: after a restart on the same address, a
/// peer still trying to reach the previous process must not feed its sequence to the new one.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hello {
    pub protocol_version: u16,
    pub sender: String,
    /// The node id the stream is meant for; empty for a probe.
    pub recipient: String,
}

/// Opens the sender side: connects and runs the handshake as initiator.
pub(crate) async fn connect(
    address: std::net::SocketAddr,
    secrets: &StreamSecrets,
    hello: &Hello,
) -> Result<(StreamReader, StreamWriter), WireError> {
    let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, TcpStream::connect(address))
        .await
        .map_err(|_| WireError::Timeout)??;
    stream.set_nodelay(true)?;
    tokio::time::timeout(HANDSHAKE_TIMEOUT, initiate(framed(stream), secrets, hello))
        .await
        .map_err(|_| WireError::Timeout)?
}

async fn initiate(
    mut framed: FramedTcp,
    secrets: &StreamSecrets,
    hello: &Hello,
) -> Result<(StreamReader, StreamWriter), WireError> {
    let mut handshake = builder(secrets)?.build_initiator()?;
    let mut buffer = vec![0u8; NOISE_MAX_MESSAGE];
    let hello_bytes = postcard::to_stdvec(hello).map_err(|_| WireError::Protocol("hello"))?;
    let length = handshake.write_message(&hello_bytes, &mut buffer)?;
    framed
        .send(Bytes::copy_from_slice(&buffer[..length]))
        .await?;
    let reply = next_frame(&mut framed).await?;
    handshake.read_message(&reply, &mut buffer)?;
    let transport = handshake.into_stateless_transport_mode()?;
    Ok(split(framed, transport))
}

/// Runs the handshake as responder on an accepted connection; returns the sender's hello.
pub(crate) async fn accept(
    stream: TcpStream,
    secrets: &StreamSecrets,
    self_node_id: &str,
) -> Result<(Hello, StreamReader, StreamWriter), WireError> {
    stream.set_nodelay(true)?;
    tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        respond(framed(stream), secrets, self_node_id),
    )
    .await
    .map_err(|_| WireError::Timeout)?
}

async fn respond(
    mut framed: FramedTcp,
    secrets: &StreamSecrets,
    self_node_id: &str,
) -> Result<(Hello, StreamReader, StreamWriter), WireError> {
    let mut handshake = builder(secrets)?.build_responder()?;
    let mut buffer = vec![0u8; NOISE_MAX_MESSAGE];
    let first = next_frame(&mut framed).await?;
    // Fails here (the hello does not decrypt under the PSK) when the keys differ.
    let length = handshake.read_message(&first, &mut buffer)?;
    let hello: Hello =
        postcard::from_bytes(&buffer[..length]).map_err(|_| WireError::Protocol("bad hello"))?;
    if !hello.recipient.is_empty() && hello.recipient != self_node_id {
        return Err(WireError::WrongRecipient(hello.recipient));
    }
    let length = handshake.write_message(&[], &mut buffer)?;
    framed
        .send(Bytes::copy_from_slice(&buffer[..length]))
        .await?;
    let transport = handshake.into_stateless_transport_mode()?;
    let (reader, writer) = split(framed, transport);
    Ok((hello, reader, writer))
}

fn split(
    framed: FramedTcp,
    transport: snow::StatelessTransportState,
) -> (StreamReader, StreamWriter) {
    let transport = Arc::new(transport);
    let (sink, stream) = framed.split();
    (
        StreamReader {
            stream,
            transport: transport.clone(),
            nonce: 0,
            buffer: vec![0u8; NOISE_MAX_MESSAGE],
        },
        StreamWriter {
            sink,
            transport,
            nonce: 0,
            buffer: vec![0u8; NOISE_MAX_MESSAGE],
            plain: Vec::new(),
        },
    )
}

/// The reading half of an established stream.
pub(crate) struct StreamReader {
    stream: SplitStream<FramedTcp>,
    transport: Arc<snow::StatelessTransportState>,
    nonce: u64,
    buffer: Vec<u8>,
}

impl StreamReader {
    /// The next envelope's bytes; `Err(Closed)` at the end of the stream.
    pub async fn next(&mut self) -> Result<Vec<u8>, WireError> {
        let mut envelope = Vec::new();
        loop {
            let frame = match self.stream.next().await {
                Some(Ok(frame)) => frame,
                Some(Err(error)) => return Err(error.into()),
                None => return Err(WireError::Closed),
            };
            let length = self
                .transport
                .read_message(self.nonce, &frame, &mut self.buffer)?;
            self.nonce += 1;
            let Some((&last, chunk)) = self.buffer[..length].split_first() else {
                return Err(WireError::Protocol("empty chunk"));
            };
            if envelope.len() + chunk.len() > MAX_ENVELOPE {
                return Err(WireError::Protocol("envelope too large"));
            }
            envelope.extend_from_slice(chunk);
            if last == 1 {
                return Ok(envelope);
            }
        }
    }
}

/// The writing half of an established stream.
pub(crate) struct StreamWriter {
    sink: SplitSink<FramedTcp, Bytes>,
    transport: Arc<snow::StatelessTransportState>,
    nonce: u64,
    buffer: Vec<u8>,
    /// A chunk's plaintext, kept between envelopes: most are a few hundred bytes, and a
    /// fresh chunk-sized buffer each time cost a 64 KiB allocation per message.
    plain: Vec<u8>,
}

impl StreamWriter {
    /// Queues an envelope's bytes (call [`StreamWriter::flush`] to push them out).
    pub async fn feed(&mut self, envelope: &[u8]) -> Result<(), WireError> {
        if envelope.len() > MAX_ENVELOPE {
            return Err(WireError::Protocol("envelope too large"));
        }
        let mut plain = std::mem::take(&mut self.plain);
        let outcome = self.feed_chunks(envelope, &mut plain).await;
        self.plain = plain;
        outcome
    }

    async fn feed_chunks(&mut self, envelope: &[u8], plain: &mut Vec<u8>) -> Result<(), WireError> {
        let mut chunks = envelope.chunks(MAX_CHUNK).peekable();
        if chunks.peek().is_none() {
            plain.clear();
            plain.push(1);
            return self.feed_frame(plain).await;
        }
        while let Some(chunk) = chunks.next() {
            plain.clear();
            plain.push(if chunks.peek().is_none() { 1 } else { 0 });
            plain.extend_from_slice(chunk);
            self.feed_frame(plain).await?;
        }
        Ok(())
    }

    async fn feed_frame(&mut self, plain: &[u8]) -> Result<(), WireError> {
        let length = self
            .transport
            .write_message(self.nonce, plain, &mut self.buffer)?;
        self.nonce += 1;
        self.sink
            .feed(Bytes::copy_from_slice(&self.buffer[..length]))
            .await?;
        Ok(())
    }

    pub async fn flush(&mut self) -> Result<(), WireError> {
        self.sink.flush().await?;
        Ok(())
    }

    pub async fn send(&mut self, envelope: &[u8]) -> Result<(), WireError> {
        self.feed(envelope).await?;
        self.flush().await
    }
}

/// Tries a handshake with a node and closes the stream: `Ok` when `secrets` are the node's.
/// For tests and diagnostics.
pub(crate) async fn probe(
    address: std::net::SocketAddr,
    secrets: &StreamSecrets,
) -> Result<(), WireError> {
    let hello = Hello {
        protocol_version: PROTOCOL_VERSION,
        sender: String::new(),
        recipient: String::new(),
    };
    let (_reader, _writer) = connect(address, secrets, &hello).await?;
    Ok(())
}

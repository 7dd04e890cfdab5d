//! Chitchat's UDP transport with encryption and compression: chitchat itself sends plain
//! datagrams that anyone can read or forge.
//!
//! Datagram layout (`H` is one header byte: format version in the high nibble, flags below):
//!
//! ```text
//! plain:      H | body
//! encrypted:  H | nonce (12) | ChaCha20-Poly1305(body) with H as associated data | tag (16)
//! body:       chitchat message, or with the compressed flag: u32 LE length | zstd frame
//! ```
//!
//! A node with encryption on accepts only encrypted datagrams, so a process without the
//! cluster key can neither read the gossip nor join or inject into it. Garbage is dropped
//! silently (counted in stats). Replaying a captured datagram does no harm: chitchat ignores
//! state and heartbeats it has already seen.

use crate::faults::FaultState;
use crate::key::ClusterKey;
use crate::stats::{bump, Stats};
use async_trait::async_trait;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use chitchat::transport::{Socket, Transport};
use chitchat::{ChitchatMessage, Deserializable, Serializable};
use std::net::SocketAddr;
use std::sync::Arc;

const FORMAT_VERSION: u8 = 0x10;
const FORMAT_MASK: u8 = 0xF0;
const FLAG_COMPRESSED: u8 = 0x01;
const FLAG_ENCRYPTED: u8 = 0x02;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Largest UDP payload over IPv4.
const MAX_DATAGRAM: usize = 65_507;
/// Chitchat keeps its messages under [`MAX_DATAGRAM`]; a decompressed body larger than this is
/// not from a Chorus node.
const MAX_BODY: usize = 128 * 1024;
/// Skip compression for tiny messages: zstd's frame overhead would not pay off.
const COMPRESS_FROM: usize = 256;

/// Seals and opens gossip datagrams.
pub(crate) struct DatagramCodec {
    cipher: Option<ChaCha20Poly1305>,
    compress: bool,
}

impl DatagramCodec {
    pub fn new(key: Option<&ClusterKey>, cluster_name: &str, compress: bool) -> DatagramCodec {
        let cipher = key.map(|key| {
            let derived = key.gossip_key(cluster_name);
            ChaCha20Poly1305::new(Key::from_slice(&derived))
        });
        DatagramCodec { cipher, compress }
    }

    /// The datagram for a message, or None when it cannot be sent (too large).
    pub fn seal(&self, message: &ChitchatMessage) -> Option<Vec<u8>> {
        let mut plain = Vec::with_capacity(message.serialized_len());
        message.serialize(&mut plain);
        let mut header = FORMAT_VERSION;
        let mut body = plain;
        if self.compress && body.len() >= COMPRESS_FROM {
            if let Ok(compressed) = zstd::bulk::compress(&body, 1) {
                if compressed.len() + 4 < body.len() {
                    let mut framed = Vec::with_capacity(compressed.len() + 4);
                    framed.extend_from_slice(&(body.len() as u32).to_le_bytes());
                    framed.extend_from_slice(&compressed);
                    body = framed;
                    header |= FLAG_COMPRESSED;
                }
            }
        }
        let datagram = match &self.cipher {
            None => {
                let mut datagram = Vec::with_capacity(1 + body.len());
                datagram.push(header);
                datagram.extend_from_slice(&body);
                datagram
            }
            Some(cipher) => {
                header |= FLAG_ENCRYPTED;
                let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
                let aad = [header];
                let sealed = cipher
                    .encrypt(
                        &nonce,
                        Payload {
                            msg: &body,
                            aad: &aad,
                        },
                    )
                    .ok()?;
                let mut datagram = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
                datagram.push(header);
                datagram.extend_from_slice(&nonce);
                datagram.extend_from_slice(&sealed);
                datagram
            }
        };
        if datagram.len() > MAX_DATAGRAM {
            tracing::warn!(
                size = datagram.len(),
                "gossip datagram too large, not sent (enable gossip compression)"
            );
            return None;
        }
        Some(datagram)
    }

    /// The message in a datagram, or None when it does not authenticate or decode.
    pub fn open(&self, datagram: &[u8]) -> Option<ChitchatMessage> {
        let (&header, rest) = datagram.split_first()?;
        if header & FORMAT_MASK != FORMAT_VERSION {
            return None;
        }
        let encrypted = header & FLAG_ENCRYPTED != 0;
        let body: Vec<u8> = match (&self.cipher, encrypted) {
            (Some(cipher), true) => {
                if rest.len() < NONCE_LEN + TAG_LEN {
                    return None;
                }
                let (nonce, sealed) = rest.split_at(NONCE_LEN);
                let aad = [header];
                cipher
                    .decrypt(
                        Nonce::from_slice(nonce),
                        Payload {
                            msg: sealed,
                            aad: &aad,
                        },
                    )
                    .ok()?
            }
            (None, false) => rest.to_vec(),
            // Encryption on here and off there (or the reverse): refuse, never downgrade.
            _ => return None,
        };
        let plain = if header & FLAG_COMPRESSED != 0 {
            if body.len() < 4 {
                return None;
            }
            let declared = u32::from_le_bytes(body[..4].try_into().ok()?) as usize;
            if declared > MAX_BODY {
                return None;
            }
            zstd::bulk::decompress(&body[4..], declared).ok()?
        } else {
            body
        };
        let mut cursor: &[u8] = &plain;
        let message = ChitchatMessage::deserialize(&mut cursor).ok()?;
        if !cursor.is_empty() {
            return None;
        }
        Some(message)
    }
}

/// A chitchat [`Transport`] over UDP that encrypts (with the cluster key) and compresses.
///
/// Public so tests can run a bare chitchat instance with some key against a cluster.
pub struct GossipTransport {
    codec: Arc<DatagramCodec>,
    stats: Arc<Stats>,
    faults: Arc<FaultState>,
}

impl GossipTransport {
    /// `key: None` sends and accepts plain datagrams only (gossip encryption off).
    pub fn new(key: Option<&ClusterKey>, cluster_name: &str, compress: bool) -> GossipTransport {
        GossipTransport {
            codec: Arc::new(DatagramCodec::new(key, cluster_name, compress)),
            stats: Arc::new(Stats::default()),
            faults: Arc::new(FaultState::new()),
        }
    }

    pub(crate) fn with_hooks(
        key: Option<&ClusterKey>,
        cluster_name: &str,
        compress: bool,
        stats: Arc<Stats>,
        faults: Arc<FaultState>,
    ) -> GossipTransport {
        GossipTransport {
            codec: Arc::new(DatagramCodec::new(key, cluster_name, compress)),
            stats,
            faults,
        }
    }
}

#[async_trait]
impl Transport for GossipTransport {
    async fn open(&self, listen_addr: SocketAddr) -> anyhow::Result<Box<dyn Socket>> {
        let socket = tokio::net::UdpSocket::bind(listen_addr)
            .await
            .map_err(|error| {
                anyhow::anyhow!("cannot bind {listen_addr}/udp for gossip: {error}")
            })?;
        Ok(Box::new(GossipSocket {
            socket,
            codec: self.codec.clone(),
            stats: self.stats.clone(),
            faults: self.faults.clone(),
            receive_buffer: vec![0u8; MAX_DATAGRAM + 1].into_boxed_slice(),
        }))
    }
}

struct GossipSocket {
    socket: tokio::net::UdpSocket,
    codec: Arc<DatagramCodec>,
    stats: Arc<Stats>,
    faults: Arc<FaultState>,
    receive_buffer: Box<[u8]>,
}

#[async_trait]
impl Socket for GossipSocket {
    /// Never fails: chitchat would stop gossiping on an error, and a datagram that cannot be
    /// sent now is simply lost, as UDP datagrams may be.
    async fn send(&mut self, to: SocketAddr, message: ChitchatMessage) -> anyhow::Result<()> {
        if self.faults.is_isolated() {
            return Ok(());
        }
        let Some(datagram) = self.codec.seal(&message) else {
            return Ok(());
        };
        if let Err(error) = self.socket.send_to(&datagram, to).await {
            tracing::debug!(error = %error, peer = %to, "gossip send failed");
        }
        Ok(())
    }

    /// Cancellable (chitchat selects on it). Fails only when the socket itself is broken.
    async fn recv(&mut self) -> anyhow::Result<(SocketAddr, ChitchatMessage)> {
        loop {
            let (length, from) = match self.socket.recv_from(&mut self.receive_buffer).await {
                Ok(received) => received,
                Err(error) if is_transient(&error) => continue,
                Err(error) => return Err(anyhow::anyhow!("gossip socket broken: {error}")),
            };
            if self.faults.is_isolated() {
                continue;
            }
            match self.codec.open(&self.receive_buffer[..length]) {
                Some(message) => return Ok((from, message)),
                None => {
                    bump(&self.stats.gossip_datagrams_rejected);
                    tracing::debug!(peer = %from, length, "gossip datagram rejected");
                }
            }
        }
    }
}

fn is_transient(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::ConnectionRefused
            | ErrorKind::ConnectionReset
            | ErrorKind::Interrupted
            | ErrorKind::WouldBlock
            | ErrorKind::OutOfMemory
    )
}

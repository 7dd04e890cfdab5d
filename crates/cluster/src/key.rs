//! The cluster key: 32 random bytes shared by every node through the database, from which the
//! gossip cipher key and the stream pre-shared key are derived.

use crate::ClusterError;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chorus_store::Store;
use hkdf::Hkdf;
use rand::RngCore;
use sha2::Sha256;

/// The shared secret of a cluster (Systems row `ClusterEncryptionKey`, base64).
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterKey {
    secret: Vec<u8>,
}

impl std::fmt::Debug for ClusterKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("ClusterKey(..)")
    }
}

/// Domain separation for every key derived from the cluster key.
const DERIVATION_SALT: &[u8] = b"chorus-cluster-key-v1";

impl ClusterKey {
    /// A fresh random key (32 bytes).
    pub fn generate() -> ClusterKey {
        let mut secret = vec![0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        ClusterKey { secret }
    }

    /// Parses the stored form. Mattermost stores 16, 24 or 32 bytes; anything from 16 bytes on
    /// is accepted (derivation stretches it).
    pub fn from_base64(text: &str) -> Result<ClusterKey, ClusterError> {
        let secret = BASE64
            .decode(text.trim())
            .map_err(|error| ClusterError::InvalidClusterKey(error.to_string()))?;
        if secret.len() < 16 {
            return Err(ClusterError::InvalidClusterKey(format!(
                "{} bytes, at least 16 needed",
                secret.len()
            )));
        }
        Ok(ClusterKey { secret })
    }

    pub fn to_base64(&self) -> String {
        BASE64.encode(&self.secret)
    }

    /// ChaCha20-Poly1305 key of the gossip datagrams. The cluster name is part of the derivation,
    /// so two clusters sharing a database (and so a key) cannot read each other's gossip.
    pub(crate) fn gossip_key(&self, cluster_name: &str) -> [u8; 32] {
        self.derive("gossip", cluster_name)
    }

    /// Noise pre-shared key of the node-to-node streams.
    pub(crate) fn stream_psk(&self, cluster_name: &str) -> [u8; 32] {
        self.derive("streams", cluster_name)
    }

    fn derive(&self, purpose: &str, cluster_name: &str) -> [u8; 32] {
        let derivation = Hkdf::<Sha256>::new(Some(DERIVATION_SALT), &self.secret);
        let mut info = Vec::with_capacity(purpose.len() + 1 + cluster_name.len());
        info.extend_from_slice(purpose.as_bytes());
        info.push(0);
        info.extend_from_slice(cluster_name.as_bytes());
        let mut output = [0u8; 32];
        derivation
            .expand(&info, &mut output)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        output
    }
}

/// Reads the cluster key, creating it if this is the first node ever: every node proposes a
/// fresh key, exactly one insert wins (`ON CONFLICT DO NOTHING`) and all read back the winner.
pub async fn load_or_create_cluster_key(store: &Store) -> Result<ClusterKey, ClusterError> {
    let candidate = ClusterKey::generate().to_base64();
    let db = store.master().await?;
    let stored = chorus_store::cluster::get_or_create_cluster_key(&db, &candidate).await?;
    ClusterKey::from_base64(&stored)
}

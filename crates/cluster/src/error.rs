use chorus_store::StoreError;

/// Why the cluster could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Clustering is on but `ClusterSettings.ClusterName` is empty: nodes could not tell their
    /// cluster from another one sharing the database, so starting is refused.
    #[error("ClusterSettings.ClusterName must be set when clustering is enabled")]
    EmptyClusterName,
    #[error("invalid cluster options: {0}")]
    InvalidOptions(String),
    /// The Systems row `ClusterEncryptionKey` is not usable (not base64, or shorter than 16 bytes).
    #[error("invalid cluster key in Systems.ClusterEncryptionKey: {0}")]
    InvalidClusterKey(String),
    #[error("cannot resolve the advertised host {host}: {detail}")]
    Resolve { host: String, detail: String },
    #[error("cannot bind {address} for cluster traffic: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("gossip failed to start: {0}")]
    Gossip(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

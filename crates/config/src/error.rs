use std::io;
use std::path::PathBuf;

/// Everything that can go wrong loading, overriding, validating or saving the configuration.
/// Each message names the file, the environment variable or the `Section.Key` at fault, so an
/// operator can fix it without reading code.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("writing config file {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The file is not a JSON object at all (syntax error, or a top-level array, ...).
    #[error("config file {}: {message}", path.display())]
    Syntax { path: PathBuf, message: String },

    /// A key holds a value of the wrong JSON type, e.g. a string where a number belongs.
    /// `key` is a path such as `SqlSettings.MaxOpenConns` or `SqlSettings.ReplicaLagSettings[0]`.
    #[error("{key}: {message}")]
    WrongType { key: String, message: String },

    /// A value has the right type but is not acceptable, e.g. `MaxOpenConns` of 0.
    #[error("{key}: {reason}")]
    Invalid { key: String, reason: String },

    /// An `MM_*` variable names a known key but its value cannot be read as that key's type.
    #[error("environment variable {variable}: {reason}")]
    EnvVar { variable: String, reason: String },
}

impl ConfigError {
    pub(crate) fn invalid(key: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key: key.to_string(),
            reason: reason.into(),
        }
    }

    /// The `Section.Key` at fault, when the error is about one key of the configuration.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::WrongType { key, .. } | ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

//! The configuration of a Chorus node: config.json with Mattermost's section and key names and
//! defaults, `MM_<SECTION>_<KEY>` environment overrides on top, validation with errors that name
//! the key, the config hash nodes compare, the client config (GET /api/v4/config/client) and
//! the masked admin view (GET /api/v4/config).
//!
//! This crate owns the schema and the file; it does no network or database I/O and knows
//! nothing of HTTP, permissions or the cluster. Where the config lives at run time (an
//! `ArcSwap` in `app`), who may change it, and telling other nodes to reload are the callers'
//! business. The `MM_CONFIG` variable (which file to use) is read by the binary, not here.
//!
//! Layout: `settings` is the schema and defaults, `env` the overrides, `validate` the checks,
//! `store` the file layering, `secrets` masking, `client` the client config, `password` the
//! password policy, `unsupported` the keys read but not acted on.

mod client;
mod env;
mod error;
mod json;
mod password;
mod secrets;
mod settings;
mod store;
mod unsupported;
mod validate;

pub use client::MAX_POST_SIZE;
pub use error::ConfigError;
pub use password::{PASSWORD_MAXIMUM_LENGTH, PASSWORD_MINIMUM_LENGTH};
pub use settings::{
    ClusterSettings, Config, DataRetentionSettings, EmailSettings, FileSettings, JobSettings,
    LogSettings, PasswordSettings, RateLimitSettings, ReplicaLagSettings, ServiceSettings,
    SqlSettings, TeamSettings, DEFAULT_DATA_SOURCE,
};
pub use store::ConfigStore;
pub use unsupported::{UnsupportedSetting, UNSUPPORTED_SETTINGS};

/// What the admin view shows instead of a secret, and what comes back for an untouched secret
/// (Mattermost's `model.FakeSetting`).
pub const FAKE_SETTING: &str = "********************************";

impl Config {
    /// Reads a config from JSON, e.g. the body of PUT /api/v4/config. Missing keys take their
    /// defaults, unknown keys are ignored, a wrong-typed value is an error naming its key.
    /// Does not validate.
    pub fn from_value(tree: serde_json::Value) -> Result<Config, ConfigError> {
        json::config_from_value(tree)
    }

    /// SHA-256 (hex) of the canonical JSON (sorted keys, no whitespace) of this config without
    /// `ClusterSettings`, which may differ per node. Nodes whose hashes differ run different
    /// configurations; cluster status shows it.
    pub fn hash(&self) -> String {
        let mut tree = json::config_to_value(self);
        if let serde_json::Value::Object(sections) = &mut tree {
            sections.remove("ClusterSettings");
        }
        json::sha256_hex(&json::canonical_json(&tree))
    }

    /// SHA-256 (hex) of the client config (what a logged-in client reads from
    /// GET /api/v4/config/client) and nothing else: what `X-Version-Id` carries, like
    /// Mattermost's `ClientConfigHash`, so clients notice when to reload their config. Never a
    /// hash of the whole config, which would let anyone test guesses of a secret (the database
    /// password in `SqlSettings.DataSource`) against a header every response carries.
    pub fn client_config_hash(&self, version: &str) -> String {
        // A BTreeMap of strings: its JSON is already canonical (sorted keys).
        let client_config = serde_json::to_string(&self.client_config(version))
            .expect("a map of strings always serialises");
        json::sha256_hex(&client_config)
    }

    /// The `host:port` to bind for `ServiceSettings.ListenAddress`. An empty host (":8065")
    /// means every interface, "0.0.0.0:8065". An address that does not parse (only possible
    /// if `validate` was skipped) is returned unchanged for the bind to report.
    pub fn listen_address(&self) -> String {
        let configured = &self.service_settings.listen_address;
        match validate::split_listen_address(configured) {
            Some(("", port)) => format!("0.0.0.0:{port}"),
            _ => configured.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn hash_ignores_cluster_settings_but_not_the_rest() {
        let base = Config::default();
        let base_hash = base.hash();
        assert_eq!(base_hash.len(), 64);
        assert!(base_hash.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(base_hash, Config::default().hash(), "deterministic");

        let mut other_node = base.clone();
        other_node.cluster_settings.override_hostname = "node-b".to_string();
        other_node.cluster_settings.gossip_port = 9074;
        assert_eq!(other_node.hash(), base_hash);

        let mut changed = base.clone();
        changed.sql_settings.max_open_conns += 1;
        assert_ne!(changed.hash(), base_hash);

        let mut changed = base.clone();
        changed.team_settings.site_name = "Other".to_string();
        assert_ne!(changed.hash(), base_hash);
    }

    #[test]
    fn client_config_hash_covers_client_settings_and_no_secret() {
        let base = Config::default();
        let base_hash = base.client_config_hash("1.0.0");

        let mut other_password = base.clone();
        other_password.sql_settings.data_source =
            "postgres://mmuser:guess@localhost/mattermost".to_string();
        other_password.file_settings.public_link_salt = "another salt".to_string();
        assert_eq!(other_password.client_config_hash("1.0.0"), base_hash);

        let mut renamed = base.clone();
        renamed.team_settings.site_name = "Other".to_string();
        assert_ne!(renamed.client_config_hash("1.0.0"), base_hash);
    }

    #[test]
    fn listen_address_binds_all_interfaces_for_an_empty_host() {
        let mut config = Config::default();
        assert_eq!(config.listen_address(), "0.0.0.0:8065");
        config.service_settings.listen_address = "127.0.0.1:0".to_string();
        assert_eq!(config.listen_address(), "127.0.0.1:0");
        config.service_settings.listen_address = "[::1]:8065".to_string();
        assert_eq!(config.listen_address(), "[::1]:8065");
    }

    #[test]
    fn from_value_fills_defaults_and_names_wrong_types() {
        let config = Config::from_value(serde_json::json!({
            "TeamSettings": {"SiteName": "Ours"},
            "NoSuchSection": {"X": 1}
        }))
        .unwrap();
        assert_eq!(config.team_settings.site_name, "Ours");
        assert_eq!(config.sql_settings, SqlSettings::default());

        let error = Config::from_value(serde_json::json!({
            "FileSettings": {"AmazonS3SSL": "yes"}
        }))
        .unwrap_err();
        assert_eq!(error.key(), Some("FileSettings.AmazonS3SSL"));
    }

    /// Every key as Mattermost spells it in config.json; a typo in a serde rename fails here.
    #[test]
    fn json_keys_are_mattermost_names() {
        let expected: &[(&str, &[&str])] = &[
            (
                "ServiceSettings",
                &[
                    "SiteURL",
                    "WebsocketURL",
                    "ListenAddress",
                    "ConnectionSecurity",
                    "TLSCertFile",
                    "TLSKeyFile",
                    "ReadTimeout",
                    "WriteTimeout",
                    "IdleTimeout",
                    "MaxConnectionsPerNode",
                    "MaximumPayloadSizeBytes",
                    "MaximumLoginAttempts",
                    "EnableUserAccessTokens",
                    "EnableDeveloper",
                    "AllowCorsFrom",
                    "CorsExposedHeaders",
                    "CorsAllowCredentials",
                    "CorsDebug",
                    "TrustedProxyIPHeader",
                    "ExtendSessionLengthWithActivity",
                    "SessionLengthWebInHours",
                    "SessionLengthMobileInHours",
                    "SessionLengthSSOInHours",
                    "SessionCacheInMinutes",
                    "SessionIdleTimeoutInMinutes",
                    "EnableReliableWebSockets",
                    "EnableBotAccountCreation",
                    "EnablePostSearch",
                    "PostEditTimeLimit",
                    "TimeBetweenUserTypingUpdatesMilliseconds",
                    "EnableUserTypingMessages",
                    "EnableChannelViewedMessages",
                ],
            ),
            (
                "TeamSettings",
                &[
                    "SiteName",
                    "MaxUsersPerTeam",
                    "EnableUserCreation",
                    "EnableOpenServer",
                    "RestrictCreationToDomains",
                    "RestrictDirectMessage",
                    "TeammateNameDisplay",
                    "MaxChannelsPerTeam",
                    "MaxNotificationsPerChannel",
                    "EnableUserDeactivation",
                    "EnableCustomUserStatuses",
                ],
            ),
            (
                "SqlSettings",
                &[
                    "DriverName",
                    "DataSource",
                    "DataSourceReplicas",
                    "DataSourceSearchReplicas",
                    "MaxIdleConns",
                    "ConnMaxLifetimeMilliseconds",
                    "ConnMaxIdleTimeMilliseconds",
                    "MaxOpenConns",
                    "Trace",
                    "AtRestEncryptKey",
                    "QueryTimeout",
                    "DisableDatabaseSearch",
                    "MigrationsStatementTimeoutSeconds",
                    "ReplicaLagSettings",
                    "ReplicaMonitorIntervalSeconds",
                    // Chorus: the lag that takes a replica out of rotation.
                    "ReplicaMaxLagSeconds",
                ],
            ),
            (
                "LogSettings",
                &[
                    "EnableConsole",
                    "ConsoleLevel",
                    "ConsoleJson",
                    "EnableColor",
                    "EnableFile",
                    "FileLevel",
                    "FileJson",
                    "FileLocation",
                ],
            ),
            (
                "PasswordSettings",
                &[
                    "MinimumLength",
                    "Lowercase",
                    "Number",
                    "Uppercase",
                    "Symbol",
                    "EnableForgotLink",
                ],
            ),
            (
                "FileSettings",
                &[
                    "EnableFileAttachments",
                    "EnableMobileUpload",
                    "EnableMobileDownload",
                    "MaxFileSize",
                    "DriverName",
                    "Directory",
                    "EnablePublicLink",
                    "PublicLinkSalt",
                    "InitialFont",
                    "AmazonS3AccessKeyId",
                    "AmazonS3SecretAccessKey",
                    "AmazonS3Bucket",
                    "AmazonS3PathPrefix",
                    "AmazonS3Region",
                    "AmazonS3Endpoint",
                    "AmazonS3SSL",
                    "AmazonS3SignV2",
                    "AmazonS3SSE",
                    "AmazonS3Trace",
                    "MaxImageResolution",
                    "MaxImageDecoderConcurrency",
                ],
            ),
            (
                "EmailSettings",
                &[
                    "EnableSignUpWithEmail",
                    "EnableSignInWithEmail",
                    "EnableSignInWithUsername",
                    "SendEmailNotifications",
                    "RequireEmailVerification",
                ],
            ),
            (
                "RateLimitSettings",
                &[
                    "Enable",
                    "PerSec",
                    "MaxBurst",
                    "MemoryStoreSize",
                    "VaryByRemoteAddr",
                    "VaryByUser",
                    "VaryByHeader",
                ],
            ),
            (
                "ClusterSettings",
                &[
                    "Enable",
                    "ClusterName",
                    "OverrideHostname",
                    "NetworkInterface",
                    "BindAddress",
                    "AdvertiseAddress",
                    "UseIPAddress",
                    "EnableGossipCompression",
                    "EnableExperimentalGossipEncryption",
                    "EnableGossipEncryption",
                    "ReadOnlyConfig",
                    "GossipPort",
                ],
            ),
            (
                "JobSettings",
                &[
                    "RunJobs",
                    "RunScheduler",
                    "CleanupJobsThresholdDays",
                    "CleanupConfigThresholdDays",
                ],
            ),
            (
                "DataRetentionSettings",
                &[
                    "EnableMessageDeletion",
                    "EnableFileDeletion",
                    "MessageRetentionDays",
                    "FileRetentionDays",
                    "DeletionJobStartTime",
                    "BatchSize",
                ],
            ),
        ];

        let tree = json::config_to_value(&Config::default());
        let sections = tree.as_object().unwrap();
        let actual_sections: BTreeSet<&str> = sections.keys().map(String::as_str).collect();
        let expected_sections: BTreeSet<&str> = expected.iter().map(|(name, _)| *name).collect();
        assert_eq!(actual_sections, expected_sections);
        for (section, keys) in expected {
            let actual: BTreeSet<&str> = sections[*section]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            let wanted: BTreeSet<&str> = keys.iter().copied().collect();
            assert_eq!(actual, wanted, "keys of {section}");
        }
    }

    #[test]
    fn defaults_match_mattermost() {
        let tree = json::config_to_value(&Config::default());
        let check = |section: &str, key: &str, value: serde_json::Value| {
            assert_eq!(tree[section][key], value, "{section}.{key}");
        };
        check("ServiceSettings", "ListenAddress", ":8065".into());
        check("ServiceSettings", "MaximumPayloadSizeBytes", 300_000.into());
        check("ServiceSettings", "SessionLengthWebInHours", 720.into());
        check(
            "ServiceSettings",
            "SessionIdleTimeoutInMinutes",
            43_200.into(),
        );
        check("TeamSettings", "MaxUsersPerTeam", 50.into());
        check("TeamSettings", "EnableOpenServer", false.into());
        check("TeamSettings", "EnableUserDeactivation", false.into());
        check("TeamSettings", "EnableCustomUserStatuses", true.into());
        check("SqlSettings", "DriverName", "postgres".into());
        check("SqlSettings", "MaxIdleConns", 20.into());
        check("SqlSettings", "MaxOpenConns", 300.into());
        check(
            "SqlSettings",
            "ConnMaxLifetimeMilliseconds",
            3_600_000.into(),
        );
        check("SqlSettings", "DataSourceReplicas", serde_json::json!([]));
        check("PasswordSettings", "MinimumLength", 8.into());
        check("FileSettings", "MaxFileSize", 104_857_600.into());
        check(
            "FileSettings",
            "AmazonS3Endpoint",
            "s3.amazonaws.com".into(),
        );
        check("RateLimitSettings", "PerSec", 10.into());
        check("ClusterSettings", "GossipPort", 8074.into());
        check("ClusterSettings", "ReadOnlyConfig", true.into());
        check("JobSettings", "CleanupJobsThresholdDays", (-1).into());
        check(
            "DataRetentionSettings",
            "DeletionJobStartTime",
            "02:00".into(),
        );
    }
}

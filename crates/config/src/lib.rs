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
pub use env::process_env;
pub use error::ConfigError;
pub use password::{PASSWORD_MAXIMUM_LENGTH, PASSWORD_MINIMUM_LENGTH};
pub use settings::{
    ClusterSettings, Config, DataRetentionSettings, EmailSettings, FileSettings, JobSettings,
    LogSettings, MetricsSettings, PasswordSettings, RateLimitSettings, ReplicaLagSettings,
    ServiceSettings, SqlSettings, TeamSettings, DEFAULT_DATA_SOURCE,
};
pub use store::{write_config_file, ConfigSource, ConfigStore, PendingSave};
pub use unsupported::{UnsupportedSetting, UNSUPPORTED_SETTINGS};
pub use validate::inter_node_url_host_port;

/// The keys that may, and usually must, differ from node to node: where each node listens,
/// where it writes its log, and its whole ClusterSettings (hostnames, interfaces, gossip
/// port). [`Config::hash`] leaves them out, so nodes compare only what they must share;
/// a config saved on one node and adopted by the others keeps each node's own values of
/// these ([`Config::keep_node_local_keys`]). `Section` alone means the whole section.
pub const NODE_LOCAL_KEYS: &[&str] = &[
    "ServiceSettings.ListenAddress",
    "MetricsSettings.ListenAddress",
    "LogSettings.FileLocation",
    "ClusterSettings",
];

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
    /// the [`NODE_LOCAL_KEYS`]. Nodes whose hashes differ run different configurations;
    /// cluster status shows it.
    pub fn hash(&self) -> String {
        let mut tree = json::config_to_value(self);
        if let serde_json::Value::Object(sections) = &mut tree {
            for dotted in NODE_LOCAL_KEYS {
                match dotted.split_once('.') {
                    Some((section, key)) => {
                        if let Some(serde_json::Value::Object(keys)) = sections.get_mut(section) {
                            keys.remove(key);
                        }
                    }
                    None => {
                        sections.remove(*dotted);
                    }
                }
            }
        }
        json::sha256_hex(&json::canonical_json(&tree))
    }

    /// Takes this node's values of the [`NODE_LOCAL_KEYS`] from `own` (a config saved on
    /// another node carries that node's listen address, which this one must not adopt).
    pub fn keep_node_local_keys(&mut self, own: &Config) {
        self.service_settings.listen_address = own.service_settings.listen_address.clone();
        self.metrics_settings.listen_address = own.metrics_settings.listen_address.clone();
        self.log_settings.file_location = own.log_settings.file_location.clone();
        self.cluster_settings = own.cluster_settings.clone();
    }

    /// This node's [`NODE_LOCAL_KEYS`] as `MM_*` variables: with the configuration in the
    /// database every node reads the same tree, and gives its own listen addresses, log file
    /// and ClusterSettings in its environment (`chorus config node-env` prints them).
    pub fn node_local_env(&self) -> Vec<(String, String)> {
        let tree = json::config_to_value(self);
        let mut variables = Vec::new();
        let mut push = |section: &str, key: &str, value: &serde_json::Value| {
            // As the environment is read: lists of strings space-separated, others as JSON.
            let text = match value {
                serde_json::Value::String(text) => text.clone(),
                serde_json::Value::Array(items) if items.iter().all(|item| item.is_string()) => {
                    let items: Vec<&str> = items.iter().filter_map(|item| item.as_str()).collect();
                    items.join(" ")
                }
                other => other.to_string(),
            };
            let name = format!("MM_{}_{}", section.to_uppercase(), key.to_uppercase());
            variables.push((name, text));
        };
        for dotted in NODE_LOCAL_KEYS {
            match dotted.split_once('.') {
                Some((section, key)) => {
                    if let Some(value) = tree.get(section).and_then(|keys| keys.get(key)) {
                        push(section, key, value);
                    }
                }
                None => {
                    if let Some(serde_json::Value::Object(keys)) = tree.get(*dotted) {
                        for (key, value) in keys {
                            push(dotted, key, value);
                        }
                    }
                }
            }
        }
        variables
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
        bind_address_of(&self.service_settings.listen_address)
    }

    /// The `host:port` to bind for `MetricsSettings.ListenAddress`, by the same rule.
    pub fn metrics_listen_address(&self) -> String {
        bind_address_of(&self.metrics_settings.listen_address)
    }
}

fn bind_address_of(configured: &str) -> String {
    match validate::split_listen_address(configured) {
        Some(("", port)) => format!("0.0.0.0:{port}"),
        _ => configured.to_string(),
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

    /// With the configuration in the database, a node's own keys come from its environment:
    /// the variables `node_local_env` prints, read back over the shared tree, give back the
    /// node's config exactly.
    #[test]
    fn node_local_env_over_a_shared_tree_gives_back_the_nodes_config() {
        let shared = Config::default();
        let mut node = shared.clone();
        node.service_settings.listen_address = "127.0.0.1:8067".to_string();
        node.metrics_settings.listen_address = "127.0.0.1:9069".to_string();
        node.log_settings.file_location = "/var/log/chorus-2".to_string();
        node.cluster_settings.enable = true;
        node.cluster_settings.cluster_name = "production".to_string();
        node.cluster_settings.gossip_port = 8076;
        let env = node.node_local_env();
        assert!(env.contains(&(
            "MM_SERVICESETTINGS_LISTENADDRESS".into(),
            "127.0.0.1:8067".into()
        )));
        assert!(env.contains(&("MM_CLUSTERSETTINGS_ENABLE".into(), "true".into())));
        let store = ConfigStore::from_database(
            "postgres://chorus:secret@127.0.0.1/chorus",
            Some("some row".to_string()),
            Some(json::config_to_value(&shared)),
            env,
        )
        .expect("the variables are valid overrides");
        assert_eq!(store.config(), &node);
        assert_eq!(
            store.source().to_string(),
            "postgres://chorus:****@127.0.0.1/chorus",
            "the source never shows the password"
        );
    }

    /// Two nodes of one cluster (scripts/up.sh's, say) differ in every node-local key and
    /// nothing else: same hash. `keep_node_local_keys` copies exactly the keys the hash
    /// leaves out, so the two lists cannot drift apart.
    #[test]
    fn node_local_keys_are_left_out_of_the_hash_and_kept_on_adoption() {
        let node_1 = Config::default();
        let mut node_2 = node_1.clone();
        node_2.service_settings.listen_address = "127.0.0.1:8067".to_string();
        node_2.metrics_settings.listen_address = "127.0.0.1:8069".to_string();
        node_2.log_settings.file_location = "/var/log/chorus-2".to_string();
        node_2.cluster_settings.gossip_port = 8076;
        node_2.cluster_settings.inter_node_urls = vec!["http://10.0.0.1:8075".to_string()];
        assert_eq!(node_2.hash(), node_1.hash());

        let mut shared_change = node_1.clone();
        shared_change.metrics_settings.enable = true;
        assert_ne!(shared_change.hash(), node_1.hash());

        let mut adopted = node_1.clone();
        adopted.keep_node_local_keys(&node_2);
        assert_eq!(
            adopted, node_2,
            "every node-local key is copied, nothing else"
        );
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
                    "EnableIncomingWebhooks",
                    "EnableOutgoingWebhooks",
                    "EnableCommands",
                    "EnablePostUsernameOverride",
                    "EnablePostIconOverride",
                    "AllowedUntrustedInternalConnections",
                    "OutgoingIntegrationRequestsTimeout",
                    "EnablePostSearch",
                    "PostEditTimeLimit",
                    "TimeBetweenUserTypingUpdatesMilliseconds",
                    "EnableUserTypingMessages",
                    "EnableChannelViewedMessages",
                    "EnableCustomEmoji",
                    "CollapsedThreads",
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
                    // Chorus: rotation of the log file.
                    "FileMaxSizeMB",
                    "FileMaxBackups",
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
            ("MetricsSettings", &["Enable", "ListenAddress"]),
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
        check("ServiceSettings", "EnableCustomEmoji", true.into());
        check("ServiceSettings", "CollapsedThreads", "always_on".into());
        check("ServiceSettings", "MaximumPayloadSizeBytes", 300_000.into());
        check("ServiceSettings", "SessionLengthWebInHours", 720.into());
        check("ServiceSettings", "EnableIncomingWebhooks", true.into());
        check("ServiceSettings", "EnableOutgoingWebhooks", true.into());
        check("ServiceSettings", "EnableCommands", true.into());
        check(
            "ServiceSettings",
            "EnablePostUsernameOverride",
            false.into(),
        );
        check("ServiceSettings", "EnablePostIconOverride", false.into());
        check(
            "ServiceSettings",
            "AllowedUntrustedInternalConnections",
            "".into(),
        );
        check(
            "ServiceSettings",
            "OutgoingIntegrationRequestsTimeout",
            30.into(),
        );
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
        check("MetricsSettings", "Enable", false.into());
        check("MetricsSettings", "ListenAddress", ":8067".into());
        check("JobSettings", "CleanupJobsThresholdDays", (-1).into());
        check(
            "DataRetentionSettings",
            "DeletionJobStartTime",
            "02:00".into(),
        );
    }
}

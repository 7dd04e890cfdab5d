//! The schema of config.json: one struct per Mattermost section, with Mattermost's exact JSON
//! key names and defaults.
//!
//! Every field carries an explicit `#[serde(rename = "...")]` so that grepping for a key as it
//! appears in config.json (`MaxOpenConns`, `AmazonS3SSL`) lands here. Every struct is
//! `#[serde(default)]`: a file written by an older or newer server, with keys missing, still
//! loads and the missing keys take the defaults below. Keys we do not know are ignored on read
//! and kept in the file on save (see `store`).
//!
//! All integers are `i64` (Go's `int` on 64-bit): some keys use -1 as "unlimited", and one
//! integer type keeps env overrides and validation generic.

use serde::{Deserialize, Serialize};

/// The whole configuration. `Config::default()` is what a fresh install writes to config.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Config {
    #[serde(rename = "ServiceSettings")]
    pub service_settings: ServiceSettings,
    #[serde(rename = "TeamSettings")]
    pub team_settings: TeamSettings,
    #[serde(rename = "SqlSettings")]
    pub sql_settings: SqlSettings,
    #[serde(rename = "LogSettings")]
    pub log_settings: LogSettings,
    #[serde(rename = "PasswordSettings")]
    pub password_settings: PasswordSettings,
    #[serde(rename = "FileSettings")]
    pub file_settings: FileSettings,
    #[serde(rename = "EmailSettings")]
    pub email_settings: EmailSettings,
    #[serde(rename = "RateLimitSettings")]
    pub rate_limit_settings: RateLimitSettings,
    #[serde(rename = "ClusterSettings")]
    pub cluster_settings: ClusterSettings,
    #[serde(rename = "JobSettings")]
    pub job_settings: JobSettings,
    #[serde(rename = "DataRetentionSettings")]
    pub data_retention_settings: DataRetentionSettings,
    #[serde(rename = "MetricsSettings")]
    pub metrics_settings: MetricsSettings,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceSettings {
    /// The public URL users reach the site at, e.g. `https://chat.example.com`; "" means unset.
    #[serde(rename = "SiteURL")]
    pub site_url: String,
    #[serde(rename = "WebsocketURL")]
    pub websocket_url: String,
    /// `[host]:port`; an empty host (":8065") means every interface.
    #[serde(rename = "ListenAddress")]
    pub listen_address: String,
    /// "" (plain HTTP, usually behind a proxy) or "TLS".
    #[serde(rename = "ConnectionSecurity")]
    pub connection_security: String,
    #[serde(rename = "TLSCertFile")]
    pub tls_cert_file: String,
    #[serde(rename = "TLSKeyFile")]
    pub tls_key_file: String,
    /// Seconds.
    #[serde(rename = "ReadTimeout")]
    pub read_timeout: i64,
    /// Seconds.
    #[serde(rename = "WriteTimeout")]
    pub write_timeout: i64,
    /// Seconds.
    #[serde(rename = "IdleTimeout")]
    pub idle_timeout: i64,
    /// Chorus only: at most this many client connections (websockets included) open at once
    /// on a node; further ones wait in the listen backlog. Capped below the process's open
    /// file limit (RLIMIT_NOFILE), which the database, cluster and files need too.
    #[serde(rename = "MaxConnectionsPerNode")]
    pub max_connections_per_node: i64,
    #[serde(rename = "MaximumPayloadSizeBytes")]
    pub maximum_payload_size_bytes: i64,
    #[serde(rename = "MaximumLoginAttempts")]
    pub maximum_login_attempts: i64,
    #[serde(rename = "EnableUserAccessTokens")]
    pub enable_user_access_tokens: bool,
    #[serde(rename = "EnableDeveloper")]
    pub enable_developer: bool,
    /// Space-separated origins (`https://app.example.com`, `*`) other sites' pages may call the
    /// API and open websockets from, besides SiteURL's. Read when the node starts.
    #[serde(rename = "AllowCorsFrom")]
    pub allow_cors_from: String,
    /// Space-separated response headers cross-origin pages may read.
    #[serde(rename = "CorsExposedHeaders")]
    pub cors_exposed_headers: String,
    /// Whether cross-origin pages may send cookies (`Access-Control-Allow-Credentials`).
    #[serde(rename = "CorsAllowCredentials")]
    pub cors_allow_credentials: bool,
    /// Logs each cross-origin request and whether its origin was allowed.
    #[serde(rename = "CorsDebug")]
    pub cors_debug: bool,
    /// Request headers that carry the client's address when a proxy in front sets them, tried
    /// in order; the first address of the first one present is the client's (Mattermost's
    /// rule). Empty (the default): the peer address of the connection. Behind the NGINX of
    /// deploy/nginx, `["X-Real-IP"]`: NGINX sets it to the address it saw, where the first
    /// address of X-Forwarded-For is whatever the client sent.
    #[serde(rename = "TrustedProxyIPHeader")]
    pub trusted_proxy_ip_header: Vec<String>,
    #[serde(rename = "ExtendSessionLengthWithActivity")]
    pub extend_session_length_with_activity: bool,
    #[serde(rename = "SessionLengthWebInHours")]
    pub session_length_web_in_hours: i64,
    #[serde(rename = "SessionLengthMobileInHours")]
    pub session_length_mobile_in_hours: i64,
    #[serde(rename = "SessionLengthSSOInHours")]
    pub session_length_sso_in_hours: i64,
    #[serde(rename = "SessionCacheInMinutes")]
    pub session_cache_in_minutes: i64,
    #[serde(rename = "SessionIdleTimeoutInMinutes")]
    pub session_idle_timeout_in_minutes: i64,
    #[serde(rename = "EnableReliableWebSockets")]
    pub enable_reliable_websockets: bool,
    #[serde(rename = "EnableBotAccountCreation")]
    pub enable_bot_account_creation: bool,
    /// Integrations (issue 16): POST /hooks/{id} and /api/v4/hooks/incoming.
    #[serde(rename = "EnableIncomingWebhooks")]
    pub enable_incoming_webhooks: bool,
    /// /api/v4/hooks/outgoing, and whether posts queue deliveries at all.
    #[serde(rename = "EnableOutgoingWebhooks")]
    pub enable_outgoing_webhooks: bool,
    #[serde(rename = "EnableCommands")]
    pub enable_commands: bool,
    /// Webhook posts may show another name (`override_username`).
    #[serde(rename = "EnablePostUsernameOverride")]
    pub enable_post_username_override: bool,
    /// Webhook posts may show another picture (`override_icon_url`).
    #[serde(rename = "EnablePostIconOverride")]
    pub enable_post_icon_override: bool,
    /// Space-separated hosts, IP addresses and CIDR ranges on loopback or private networks
    /// that outgoing integration calls may reach; any other such address is refused.
    #[serde(rename = "AllowedUntrustedInternalConnections")]
    pub allowed_untrusted_internal_connections: String,
    /// Seconds an outgoing webhook call may take.
    #[serde(rename = "OutgoingIntegrationRequestsTimeout")]
    pub outgoing_integration_requests_timeout: i64,
    #[serde(rename = "EnablePostSearch")]
    pub enable_post_search: bool,
    /// Seconds a post stays editable; -1 means forever.
    #[serde(rename = "PostEditTimeLimit")]
    pub post_edit_time_limit: i64,
    #[serde(rename = "TimeBetweenUserTypingUpdatesMilliseconds")]
    pub time_between_user_typing_updates_milliseconds: i64,
    #[serde(rename = "EnableUserTypingMessages")]
    pub enable_user_typing_messages: bool,
    #[serde(rename = "EnableChannelViewedMessages")]
    pub enable_channel_viewed_messages: bool,
    /// Custom emoji may be created, listed and looked up (/emoji).
    #[serde(rename = "EnableCustomEmoji")]
    pub enable_custom_emoji: bool,
    /// "disabled", "default_off", "default_on" or "always_on": whether clients show collapsed
    /// reply threads; anything but "disabled" makes the server send thread events.
    #[serde(rename = "CollapsedThreads")]
    pub collapsed_threads: String,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        ServiceSettings {
            site_url: String::new(),
            websocket_url: String::new(),
            listen_address: ":8065".to_string(),
            connection_security: String::new(),
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
            read_timeout: 300,
            write_timeout: 300,
            idle_timeout: 60,
            max_connections_per_node: 20_000,
            maximum_payload_size_bytes: 300_000,
            maximum_login_attempts: 10,
            enable_user_access_tokens: false,
            enable_developer: false,
            allow_cors_from: String::new(),
            cors_exposed_headers: String::new(),
            cors_allow_credentials: false,
            cors_debug: false,
            trusted_proxy_ip_header: Vec::new(),
            extend_session_length_with_activity: true,
            session_length_web_in_hours: 720,
            session_length_mobile_in_hours: 720,
            session_length_sso_in_hours: 720,
            session_cache_in_minutes: 10,
            session_idle_timeout_in_minutes: 43_200,
            enable_reliable_websockets: true,
            enable_bot_account_creation: false,
            enable_incoming_webhooks: true,
            enable_outgoing_webhooks: true,
            enable_commands: true,
            enable_post_username_override: false,
            enable_post_icon_override: false,
            allowed_untrusted_internal_connections: String::new(),
            outgoing_integration_requests_timeout: 30,
            enable_post_search: true,
            post_edit_time_limit: -1,
            time_between_user_typing_updates_milliseconds: 5000,
            enable_user_typing_messages: true,
            enable_channel_viewed_messages: true,
            enable_custom_emoji: true,
            collapsed_threads: "always_on".to_string(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TeamSettings {
    #[serde(rename = "SiteName")]
    pub site_name: String,
    #[serde(rename = "MaxUsersPerTeam")]
    pub max_users_per_team: i64,
    #[serde(rename = "EnableUserCreation")]
    pub enable_user_creation: bool,
    /// Anyone may sign up without an invitation. Lives in TeamSettings in Mattermost too.
    #[serde(rename = "EnableOpenServer")]
    pub enable_open_server: bool,
    /// Comma-separated e-mail domains allowed to sign up; "" allows all.
    #[serde(rename = "RestrictCreationToDomains")]
    pub restrict_creation_to_domains: String,
    /// "any" or "team": who may open a direct message with whom.
    #[serde(rename = "RestrictDirectMessage")]
    pub restrict_direct_message: String,
    /// "username", "nickname_full_name" or "full_name".
    #[serde(rename = "TeammateNameDisplay")]
    pub teammate_name_display: String,
    #[serde(rename = "MaxChannelsPerTeam")]
    pub max_channels_per_team: i64,
    #[serde(rename = "MaxNotificationsPerChannel")]
    pub max_notifications_per_channel: i64,
    /// Users may deactivate their own account (admins always may).
    #[serde(rename = "EnableUserDeactivation")]
    pub enable_user_deactivation: bool,
    /// PUT/DELETE /users/{id}/status/custom; off answers 501 as Mattermost does.
    #[serde(rename = "EnableCustomUserStatuses")]
    pub enable_custom_user_statuses: bool,
}

impl Default for TeamSettings {
    fn default() -> Self {
        TeamSettings {
            site_name: "Chorus".to_string(),
            max_users_per_team: 50,
            enable_user_creation: true,
            enable_open_server: false,
            restrict_creation_to_domains: String::new(),
            restrict_direct_message: "any".to_string(),
            teammate_name_display: "username".to_string(),
            max_channels_per_team: 2000,
            max_notifications_per_channel: 1000,
            enable_user_deactivation: false,
            enable_custom_user_statuses: true,
        }
    }
}

/// The default `SqlSettings.DataSource`: Mattermost's, minus lib/pq's `binary_parameters`
/// option, which tokio-postgres rejects.
pub const DEFAULT_DATA_SOURCE: &str =
    "postgres://mmuser:mostest@localhost/mattermost_test?sslmode=disable&connect_timeout=10";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SqlSettings {
    /// Only "postgres" is supported.
    #[serde(rename = "DriverName")]
    pub driver_name: String,
    /// The primary. May name several hosts (`postgres://a,b/db`) so writes follow a promotion.
    #[serde(rename = "DataSource")]
    pub data_source: String,
    #[serde(rename = "DataSourceReplicas")]
    pub data_source_replicas: Vec<String>,
    #[serde(rename = "DataSourceSearchReplicas")]
    pub data_source_search_replicas: Vec<String>,
    #[serde(rename = "MaxIdleConns")]
    pub max_idle_conns: i64,
    #[serde(rename = "ConnMaxLifetimeMilliseconds")]
    pub conn_max_lifetime_milliseconds: i64,
    #[serde(rename = "ConnMaxIdleTimeMilliseconds")]
    pub conn_max_idle_time_milliseconds: i64,
    #[serde(rename = "MaxOpenConns")]
    pub max_open_conns: i64,
    #[serde(rename = "Trace")]
    pub trace: bool,
    /// "" or at least 32 characters. Mattermost leaves it empty in a fresh file.
    #[serde(rename = "AtRestEncryptKey")]
    pub at_rest_encrypt_key: String,
    /// Seconds.
    #[serde(rename = "QueryTimeout")]
    pub query_timeout: i64,
    #[serde(rename = "DisableDatabaseSearch")]
    pub disable_database_search: bool,
    #[serde(rename = "MigrationsStatementTimeoutSeconds")]
    pub migrations_statement_timeout_seconds: i64,
    #[serde(rename = "ReplicaLagSettings")]
    pub replica_lag_settings: Vec<ReplicaLagSettings>,
    /// How often an unreachable replica is tried again. Healthy ones are sampled every 100 ms.
    #[serde(rename = "ReplicaMonitorIntervalSeconds")]
    pub replica_monitor_interval_seconds: i64,
    /// Chorus: a replica whose replay lags more than this is taken out of rotation until it
    /// catches up. 0 = no bound.
    #[serde(rename = "ReplicaMaxLagSeconds")]
    pub replica_max_lag_seconds: i64,
}

impl Default for SqlSettings {
    fn default() -> Self {
        SqlSettings {
            driver_name: "postgres".to_string(),
            data_source: DEFAULT_DATA_SOURCE.to_string(),
            data_source_replicas: Vec::new(),
            data_source_search_replicas: Vec::new(),
            max_idle_conns: 20,
            conn_max_lifetime_milliseconds: 3_600_000,
            conn_max_idle_time_milliseconds: 300_000,
            max_open_conns: 300,
            trace: false,
            at_rest_encrypt_key: String::new(),
            query_timeout: 30,
            disable_database_search: false,
            migrations_statement_timeout_seconds: 100_000,
            replica_lag_settings: Vec::new(),
            replica_monitor_interval_seconds: 5,
            replica_max_lag_seconds: 10,
        }
    }
}

/// How to measure one replica's lag: `DataSource` names the replica, the two queries are run
/// on the primary and return the lag in bytes and in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ReplicaLagSettings {
    #[serde(rename = "DataSource")]
    pub data_source: String,
    #[serde(rename = "QueryAbsoluteLag")]
    pub query_absolute_lag: String,
    #[serde(rename = "QueryTimeLag")]
    pub query_time_lag: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogSettings {
    #[serde(rename = "EnableConsole")]
    pub enable_console: bool,
    /// "DEBUG", "INFO", "WARN" or "ERROR".
    #[serde(rename = "ConsoleLevel")]
    pub console_level: String,
    #[serde(rename = "ConsoleJson")]
    pub console_json: bool,
    #[serde(rename = "EnableColor")]
    pub enable_color: bool,
    #[serde(rename = "EnableFile")]
    pub enable_file: bool,
    #[serde(rename = "FileLevel")]
    pub file_level: String,
    #[serde(rename = "FileJson")]
    pub file_json: bool,
    /// A directory (the file is `chorus.log` in it) or a path ending in `.log`; relative to
    /// the working directory; "" means `./logs/chorus.log`.
    #[serde(rename = "FileLocation")]
    pub file_location: String,
    /// Chorus: the log file is rotated (renamed `chorus.log.1`, `.2`, ...) when it reaches this
    /// many megabytes. Mattermost rotates with fixed settings.
    #[serde(rename = "FileMaxSizeMB")]
    pub file_max_size_mb: i64,
    /// Chorus: how many rotated files are kept; the oldest is deleted.
    #[serde(rename = "FileMaxBackups")]
    pub file_max_backups: i64,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            enable_console: true,
            console_level: "INFO".to_string(),
            console_json: true,
            enable_color: false,
            enable_file: true,
            file_level: "INFO".to_string(),
            file_json: true,
            file_location: String::new(),
            file_max_size_mb: 100,
            file_max_backups: 10,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PasswordSettings {
    #[serde(rename = "MinimumLength")]
    pub minimum_length: i64,
    #[serde(rename = "Lowercase")]
    pub lowercase: bool,
    #[serde(rename = "Number")]
    pub number: bool,
    #[serde(rename = "Uppercase")]
    pub uppercase: bool,
    #[serde(rename = "Symbol")]
    pub symbol: bool,
    #[serde(rename = "EnableForgotLink")]
    pub enable_forgot_link: bool,
}

impl Default for PasswordSettings {
    fn default() -> Self {
        PasswordSettings {
            minimum_length: 8,
            lowercase: false,
            number: false,
            uppercase: false,
            symbol: false,
            enable_forgot_link: true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FileSettings {
    #[serde(rename = "EnableFileAttachments")]
    pub enable_file_attachments: bool,
    #[serde(rename = "EnableMobileUpload")]
    pub enable_mobile_upload: bool,
    #[serde(rename = "EnableMobileDownload")]
    pub enable_mobile_download: bool,
    #[serde(rename = "MaxFileSize")]
    pub max_file_size: i64,
    /// "local" or "amazons3".
    #[serde(rename = "DriverName")]
    pub driver_name: String,
    #[serde(rename = "Directory")]
    pub directory: String,
    #[serde(rename = "EnablePublicLink")]
    pub enable_public_link: bool,
    /// "" or at least 32 characters. Mattermost leaves it empty in a fresh file.
    #[serde(rename = "PublicLinkSalt")]
    pub public_link_salt: String,
    #[serde(rename = "InitialFont")]
    pub initial_font: String,
    #[serde(rename = "AmazonS3AccessKeyId")]
    pub amazon_s3_access_key_id: String,
    #[serde(rename = "AmazonS3SecretAccessKey")]
    pub amazon_s3_secret_access_key: String,
    #[serde(rename = "AmazonS3Bucket")]
    pub amazon_s3_bucket: String,
    #[serde(rename = "AmazonS3PathPrefix")]
    pub amazon_s3_path_prefix: String,
    #[serde(rename = "AmazonS3Region")]
    pub amazon_s3_region: String,
    /// Host (and optional port) of the S3 endpoint, without scheme: `AmazonS3SSL` picks it.
    #[serde(rename = "AmazonS3Endpoint")]
    pub amazon_s3_endpoint: String,
    #[serde(rename = "AmazonS3SSL")]
    pub amazon_s3_ssl: bool,
    #[serde(rename = "AmazonS3SignV2")]
    pub amazon_s3_sign_v2: bool,
    #[serde(rename = "AmazonS3SSE")]
    pub amazon_s3_sse: bool,
    #[serde(rename = "AmazonS3Trace")]
    pub amazon_s3_trace: bool,
    /// Pixels (width × height) of the largest image that gets previews; larger ones are stored
    /// without. Decoding costs about 4 bytes a pixel.
    #[serde(rename = "MaxImageResolution")]
    pub max_image_resolution: i64,
    /// How many images a node decodes at once; -1 means one per CPU.
    #[serde(rename = "MaxImageDecoderConcurrency")]
    pub max_image_decoder_concurrency: i64,
}

impl Default for FileSettings {
    fn default() -> Self {
        FileSettings {
            enable_file_attachments: true,
            enable_mobile_upload: true,
            enable_mobile_download: true,
            max_file_size: 100 * 1024 * 1024,
            driver_name: "local".to_string(),
            directory: "./data/".to_string(),
            enable_public_link: false,
            public_link_salt: String::new(),
            initial_font: "nunito-bold.ttf".to_string(),
            amazon_s3_access_key_id: String::new(),
            amazon_s3_secret_access_key: String::new(),
            amazon_s3_bucket: String::new(),
            amazon_s3_path_prefix: String::new(),
            amazon_s3_region: String::new(),
            amazon_s3_endpoint: "s3.amazonaws.com".to_string(),
            amazon_s3_ssl: true,
            amazon_s3_sign_v2: false,
            amazon_s3_sse: false,
            amazon_s3_trace: false,
            max_image_resolution: 7680 * 4320,
            max_image_decoder_concurrency: -1,
        }
    }
}

/// The sign-up and sign-in switches, which Mattermost keeps in EmailSettings. Chorus sends no
/// e-mail; the SMTP keys of a Mattermost file are kept in the file but not modelled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EmailSettings {
    #[serde(rename = "EnableSignUpWithEmail")]
    pub enable_sign_up_with_email: bool,
    #[serde(rename = "EnableSignInWithEmail")]
    pub enable_sign_in_with_email: bool,
    #[serde(rename = "EnableSignInWithUsername")]
    pub enable_sign_in_with_username: bool,
    #[serde(rename = "SendEmailNotifications")]
    pub send_email_notifications: bool,
    #[serde(rename = "RequireEmailVerification")]
    pub require_email_verification: bool,
}

impl Default for EmailSettings {
    fn default() -> Self {
        EmailSettings {
            enable_sign_up_with_email: true,
            enable_sign_in_with_email: true,
            enable_sign_in_with_username: true,
            send_email_notifications: true,
            require_email_verification: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitSettings {
    #[serde(rename = "Enable")]
    pub enable: bool,
    #[serde(rename = "PerSec")]
    pub per_sec: i64,
    #[serde(rename = "MaxBurst")]
    pub max_burst: i64,
    #[serde(rename = "MemoryStoreSize")]
    pub memory_store_size: i64,
    #[serde(rename = "VaryByRemoteAddr")]
    pub vary_by_remote_addr: bool,
    #[serde(rename = "VaryByUser")]
    pub vary_by_user: bool,
    /// A request header to key the limit on, e.g. "X-Real-IP"; "" for none.
    #[serde(rename = "VaryByHeader")]
    pub vary_by_header: String,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            enable: false,
            per_sec: 10,
            max_burst: 100,
            memory_store_size: 10_000,
            vary_by_remote_addr: true,
            vary_by_user: false,
            vary_by_header: String::new(),
        }
    }
}

/// High availability. May legitimately differ between nodes (hostnames, interfaces), which is
/// why `Config::hash` leaves this section out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterSettings {
    #[serde(rename = "Enable")]
    pub enable: bool,
    /// Only nodes with the same name join each other; must be set when `Enable` is true.
    #[serde(rename = "ClusterName")]
    pub cluster_name: String,
    #[serde(rename = "OverrideHostname")]
    pub override_hostname: String,
    #[serde(rename = "NetworkInterface")]
    pub network_interface: String,
    #[serde(rename = "BindAddress")]
    pub bind_address: String,
    #[serde(rename = "AdvertiseAddress")]
    pub advertise_address: String,
    /// Spelled `UseIPAddress` in Mattermost's config.json.
    #[serde(rename = "UseIPAddress")]
    pub use_ip_address: bool,
    #[serde(rename = "EnableGossipCompression")]
    pub enable_gossip_compression: bool,
    #[serde(rename = "EnableExperimentalGossipEncryption")]
    pub enable_experimental_gossip_encryption: bool,
    #[serde(rename = "EnableGossipEncryption")]
    pub enable_gossip_encryption: bool,
    #[serde(rename = "ReadOnlyConfig")]
    pub read_only_config: bool,
    #[serde(rename = "GossipPort")]
    pub gossip_port: i64,
    /// Mattermost 3.x: `[host]:port` the inter-node protocol listened on. When set (with
    /// `InterNodeUrls`), its port is the gossip port, so an old file keeps working. Not
    /// written to a fresh config.json.
    #[serde(
        rename = "InterNodeListenAddress",
        skip_serializing_if = "String::is_empty"
    )]
    pub inter_node_listen_address: String,
    /// Mattermost 3.x: the other nodes, `http://host:port`. They seed the gossip membership
    /// (the discovery table makes them unnecessary). Not written to a fresh config.json.
    #[serde(rename = "InterNodeUrls", skip_serializing_if = "Vec::is_empty")]
    pub inter_node_urls: Vec<String>,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            enable: false,
            cluster_name: String::new(),
            override_hostname: String::new(),
            network_interface: String::new(),
            bind_address: String::new(),
            advertise_address: String::new(),
            use_ip_address: true,
            enable_gossip_compression: true,
            enable_experimental_gossip_encryption: false,
            enable_gossip_encryption: true,
            read_only_config: true,
            gossip_port: 8074,
            inter_node_listen_address: String::new(),
            inter_node_urls: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobSettings {
    #[serde(rename = "RunJobs")]
    pub run_jobs: bool,
    #[serde(rename = "RunScheduler")]
    pub run_scheduler: bool,
    /// -1 keeps finished jobs forever.
    #[serde(rename = "CleanupJobsThresholdDays")]
    pub cleanup_jobs_threshold_days: i64,
    /// -1 keeps old configurations forever.
    #[serde(rename = "CleanupConfigThresholdDays")]
    pub cleanup_config_threshold_days: i64,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            run_jobs: true,
            run_scheduler: true,
            cleanup_jobs_threshold_days: -1,
            cleanup_config_threshold_days: -1,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DataRetentionSettings {
    #[serde(rename = "EnableMessageDeletion")]
    pub enable_message_deletion: bool,
    #[serde(rename = "EnableFileDeletion")]
    pub enable_file_deletion: bool,
    #[serde(rename = "MessageRetentionDays")]
    pub message_retention_days: i64,
    #[serde(rename = "FileRetentionDays")]
    pub file_retention_days: i64,
    /// "HH:MM", 24-hour clock, server time.
    #[serde(rename = "DeletionJobStartTime")]
    pub deletion_job_start_time: String,
    #[serde(rename = "BatchSize")]
    pub batch_size: i64,
}

impl Default for DataRetentionSettings {
    fn default() -> Self {
        DataRetentionSettings {
            enable_message_deletion: false,
            enable_file_deletion: false,
            message_retention_days: 365,
            file_retention_days: 365,
            deletion_job_start_time: "02:00".to_string(),
            batch_size: 3000,
        }
    }
}

/// Prometheus metrics, served on a port of their own on every node (Mattermost's section).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsSettings {
    #[serde(rename = "Enable")]
    pub enable: bool,
    /// `[host]:port` of the metrics listener; an empty host (":8067") means every interface.
    /// Read when the node starts; may differ per node.
    #[serde(rename = "ListenAddress")]
    pub listen_address: String,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            enable: false,
            listen_address: ":8067".to_string(),
        }
    }
}

//! `Config::validate`: the checks Mattermost's `Config.IsValid` makes on the keys Chorus
//! models, plus the ones Chorus needs (postgres only, a cluster name when clustering).
//! The first failing check is reported, naming its key; checks run section by section in the
//! order of config.json.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::password::{PASSWORD_MAXIMUM_LENGTH, PASSWORD_MINIMUM_LENGTH};
use crate::settings::{
    ClusterSettings, DataRetentionSettings, FileSettings, LogSettings, MetricsSettings,
    PasswordSettings, RateLimitSettings, ServiceSettings, SqlSettings, TeamSettings,
};
use crate::{Config, ConfigError, FAKE_SETTING};

const SITE_NAME_MAXIMUM_LENGTH: usize = 30;
const LOG_LEVELS: &[&str] = &["DEBUG", "INFO", "WARN", "ERROR"];

impl Config {
    /// Checks every modelled key; the error names the first key at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_service(&self.service_settings)?;
        validate_team(&self.team_settings)?;
        validate_sql(&self.sql_settings)?;
        validate_log(&self.log_settings)?;
        validate_password(&self.password_settings)?;
        validate_file(&self.file_settings)?;
        validate_rate_limit(&self.rate_limit_settings)?;
        validate_cluster(&self.cluster_settings)?;
        validate_metrics(&self.metrics_settings)?;
        validate_data_retention(&self.data_retention_settings)?;
        Ok(())
    }
}

fn validate_service(service: &ServiceSettings) -> Result<(), ConfigError> {
    if !service.site_url.is_empty() && !is_http_url(&service.site_url) {
        return Err(ConfigError::invalid(
            "ServiceSettings.SiteURL",
            format!(
                "must be an http:// or https:// URL (got {:?})",
                service.site_url
            ),
        ));
    }
    if !service.websocket_url.is_empty() && !service.websocket_url.contains("://") {
        return Err(ConfigError::invalid(
            "ServiceSettings.WebsocketURL",
            format!("must be an absolute URL (got {:?})", service.websocket_url),
        ));
    }
    if split_listen_address(&service.listen_address).is_none() {
        return Err(ConfigError::invalid(
            "ServiceSettings.ListenAddress",
            format!(
                "must be [host]:port, e.g. \":8065\" (got {:?})",
                service.listen_address
            ),
        ));
    }
    one_of(
        "ServiceSettings.CollapsedThreads",
        &service.collapsed_threads,
        &["disabled", "default_off", "default_on", "always_on"],
    )?;
    one_of(
        "ServiceSettings.ConnectionSecurity",
        &service.connection_security,
        &["", "TLS"],
    )?;
    if service.connection_security == "TLS" {
        if service.tls_cert_file.is_empty() {
            return Err(ConfigError::invalid(
                "ServiceSettings.TLSCertFile",
                "must be set when ServiceSettings.ConnectionSecurity is \"TLS\"",
            ));
        }
        if service.tls_key_file.is_empty() {
            return Err(ConfigError::invalid(
                "ServiceSettings.TLSKeyFile",
                "must be set when ServiceSettings.ConnectionSecurity is \"TLS\"",
            ));
        }
    }
    at_least("ServiceSettings.ReadTimeout", service.read_timeout, 1)?;
    at_least("ServiceSettings.WriteTimeout", service.write_timeout, 1)?;
    at_least("ServiceSettings.IdleTimeout", service.idle_timeout, 0)?;
    at_least(
        "ServiceSettings.MaxConnectionsPerNode",
        service.max_connections_per_node,
        1,
    )?;
    at_least(
        "ServiceSettings.MaximumPayloadSizeBytes",
        service.maximum_payload_size_bytes,
        1,
    )?;
    at_least(
        "ServiceSettings.MaximumLoginAttempts",
        service.maximum_login_attempts,
        1,
    )?;
    at_least(
        "ServiceSettings.SessionLengthWebInHours",
        service.session_length_web_in_hours,
        1,
    )?;
    at_least(
        "ServiceSettings.SessionLengthMobileInHours",
        service.session_length_mobile_in_hours,
        1,
    )?;
    at_least(
        "ServiceSettings.SessionLengthSSOInHours",
        service.session_length_sso_in_hours,
        1,
    )?;
    at_least(
        "ServiceSettings.SessionCacheInMinutes",
        service.session_cache_in_minutes,
        0,
    )?;
    at_least(
        "ServiceSettings.SessionIdleTimeoutInMinutes",
        service.session_idle_timeout_in_minutes,
        0,
    )?;
    at_least(
        "ServiceSettings.PostEditTimeLimit",
        service.post_edit_time_limit,
        -1,
    )?;
    // Mattermost's floor: typing events more often than once a second flood the websocket.
    at_least(
        "ServiceSettings.TimeBetweenUserTypingUpdatesMilliseconds",
        service.time_between_user_typing_updates_milliseconds,
        1000,
    )?;
    Ok(())
}

fn validate_team(team: &TeamSettings) -> Result<(), ConfigError> {
    let site_name_length = team.site_name.chars().count();
    if site_name_length > SITE_NAME_MAXIMUM_LENGTH {
        return Err(ConfigError::invalid(
            "TeamSettings.SiteName",
            format!(
                "must be at most {SITE_NAME_MAXIMUM_LENGTH} characters (got {site_name_length})"
            ),
        ));
    }
    at_least("TeamSettings.MaxUsersPerTeam", team.max_users_per_team, 1)?;
    at_least(
        "TeamSettings.MaxChannelsPerTeam",
        team.max_channels_per_team,
        1,
    )?;
    at_least(
        "TeamSettings.MaxNotificationsPerChannel",
        team.max_notifications_per_channel,
        1,
    )?;
    one_of(
        "TeamSettings.RestrictDirectMessage",
        &team.restrict_direct_message,
        &["any", "team"],
    )?;
    one_of(
        "TeamSettings.TeammateNameDisplay",
        &team.teammate_name_display,
        &["username", "nickname_full_name", "full_name"],
    )?;
    Ok(())
}

fn validate_sql(sql: &SqlSettings) -> Result<(), ConfigError> {
    one_of("SqlSettings.DriverName", &sql.driver_name, &["postgres"])?;
    postgres_url("SqlSettings.DataSource", &sql.data_source)?;
    for (index, replica) in sql.data_source_replicas.iter().enumerate() {
        postgres_url(&format!("SqlSettings.DataSourceReplicas[{index}]"), replica)?;
    }
    for (index, replica) in sql.data_source_search_replicas.iter().enumerate() {
        postgres_url(
            &format!("SqlSettings.DataSourceSearchReplicas[{index}]"),
            replica,
        )?;
    }
    for (index, lag) in sql.replica_lag_settings.iter().enumerate() {
        postgres_url(
            &format!("SqlSettings.ReplicaLagSettings[{index}].DataSource"),
            &lag.data_source,
        )?;
    }
    // Mattermost requires more than 0 idle connections; 0 simply disables the idle pool.
    at_least("SqlSettings.MaxIdleConns", sql.max_idle_conns, 0)?;
    at_least("SqlSettings.MaxOpenConns", sql.max_open_conns, 1)?;
    at_least(
        "SqlSettings.ConnMaxLifetimeMilliseconds",
        sql.conn_max_lifetime_milliseconds,
        0,
    )?;
    at_least(
        "SqlSettings.ConnMaxIdleTimeMilliseconds",
        sql.conn_max_idle_time_milliseconds,
        0,
    )?;
    at_least("SqlSettings.QueryTimeout", sql.query_timeout, 1)?;
    at_least(
        "SqlSettings.ReplicaMaxLagSeconds",
        sql.replica_max_lag_seconds,
        0,
    )?;
    at_least(
        "SqlSettings.MigrationsStatementTimeoutSeconds",
        sql.migrations_statement_timeout_seconds,
        1,
    )?;
    at_least(
        "SqlSettings.ReplicaMonitorIntervalSeconds",
        sql.replica_monitor_interval_seconds,
        1,
    )?;
    empty_or_long_secret("SqlSettings.AtRestEncryptKey", &sql.at_rest_encrypt_key)?;
    Ok(())
}

fn validate_log(log: &LogSettings) -> Result<(), ConfigError> {
    one_of("LogSettings.ConsoleLevel", &log.console_level, LOG_LEVELS)?;
    one_of("LogSettings.FileLevel", &log.file_level, LOG_LEVELS)?;
    at_least("LogSettings.FileMaxSizeMB", log.file_max_size_mb, 1)?;
    at_least("LogSettings.FileMaxBackups", log.file_max_backups, 0)?;
    Ok(())
}

fn validate_password(password: &PasswordSettings) -> Result<(), ConfigError> {
    between(
        "PasswordSettings.MinimumLength",
        password.minimum_length,
        PASSWORD_MINIMUM_LENGTH,
        PASSWORD_MAXIMUM_LENGTH,
    )
}

fn validate_file(file: &FileSettings) -> Result<(), ConfigError> {
    one_of(
        "FileSettings.DriverName",
        &file.driver_name,
        &["local", "amazons3"],
    )?;
    at_least("FileSettings.MaxFileSize", file.max_file_size, 1)?;
    at_least(
        "FileSettings.MaxImageResolution",
        file.max_image_resolution,
        1,
    )?;
    if file.max_image_decoder_concurrency == 0 || file.max_image_decoder_concurrency < -1 {
        return Err(ConfigError::invalid(
            "FileSettings.MaxImageDecoderConcurrency",
            format!(
                "must be -1 (one per CPU) or at least 1 (got {})",
                file.max_image_decoder_concurrency
            ),
        ));
    }
    if file.driver_name == "local" && file.directory.is_empty() {
        return Err(ConfigError::invalid(
            "FileSettings.Directory",
            "must be set when FileSettings.DriverName is \"local\"",
        ));
    }
    if file.driver_name == "amazons3" && file.amazon_s3_bucket.is_empty() {
        return Err(ConfigError::invalid(
            "FileSettings.AmazonS3Bucket",
            "must be set when FileSettings.DriverName is \"amazons3\"",
        ));
    }
    empty_or_long_secret("FileSettings.PublicLinkSalt", &file.public_link_salt)?;
    Ok(())
}

fn validate_rate_limit(rate_limit: &RateLimitSettings) -> Result<(), ConfigError> {
    at_least("RateLimitSettings.PerSec", rate_limit.per_sec, 1)?;
    at_least("RateLimitSettings.MaxBurst", rate_limit.max_burst, 1)?;
    at_least(
        "RateLimitSettings.MemoryStoreSize",
        rate_limit.memory_store_size,
        1,
    )?;
    Ok(())
}

fn validate_cluster(cluster: &ClusterSettings) -> Result<(), ConfigError> {
    // An empty name would let every cluster on the network join every other.
    if cluster.enable && cluster.cluster_name.trim().is_empty() {
        return Err(ConfigError::invalid(
            "ClusterSettings.ClusterName",
            "must be set when ClusterSettings.Enable is true",
        ));
    }
    between("ClusterSettings.GossipPort", cluster.gossip_port, 1, 65535)?;
    let inter_node = &cluster.inter_node_listen_address;
    if !inter_node.is_empty() && split_listen_address(inter_node).is_none() {
        return Err(ConfigError::invalid(
            "ClusterSettings.InterNodeListenAddress",
            "must be [host]:port",
        ));
    }
    for (index, url) in cluster.inter_node_urls.iter().enumerate() {
        if inter_node_url_host_port(url).is_none() {
            return Err(ConfigError::invalid(
                &format!("ClusterSettings.InterNodeUrls[{index}]"),
                "must be http://host[:port]",
            ));
        }
    }
    Ok(())
}

fn validate_metrics(metrics: &MetricsSettings) -> Result<(), ConfigError> {
    if split_listen_address(&metrics.listen_address).is_none() {
        return Err(ConfigError::invalid(
            "MetricsSettings.ListenAddress",
            "must be [host]:port",
        ));
    }
    Ok(())
}

fn validate_data_retention(retention: &DataRetentionSettings) -> Result<(), ConfigError> {
    at_least(
        "DataRetentionSettings.MessageRetentionDays",
        retention.message_retention_days,
        1,
    )?;
    at_least(
        "DataRetentionSettings.FileRetentionDays",
        retention.file_retention_days,
        1,
    )?;
    at_least("DataRetentionSettings.BatchSize", retention.batch_size, 1)?;
    if parse_clock_time(&retention.deletion_job_start_time).is_none() {
        return Err(ConfigError::invalid(
            "DataRetentionSettings.DeletionJobStartTime",
            format!(
                "must be a 24-hour time like \"02:00\" (got {:?})",
                retention.deletion_job_start_time
            ),
        ));
    }
    Ok(())
}

fn at_least(key: &str, value: i64, minimum: i64) -> Result<(), ConfigError> {
    if value < minimum {
        return Err(ConfigError::invalid(
            key,
            format!("must be at least {minimum} (got {value})"),
        ));
    }
    Ok(())
}

fn between(key: &str, value: i64, minimum: i64, maximum: i64) -> Result<(), ConfigError> {
    if value < minimum || value > maximum {
        return Err(ConfigError::invalid(
            key,
            format!("must be between {minimum} and {maximum} (got {value})"),
        ));
    }
    Ok(())
}

fn one_of(key: &str, value: &str, allowed: &[&str]) -> Result<(), ConfigError> {
    if allowed.contains(&value) {
        return Ok(());
    }
    let allowed_list: Vec<String> = allowed.iter().map(|item| format!("{item:?}")).collect();
    Err(ConfigError::invalid(
        key,
        format!("must be one of {} (got {value:?})", allowed_list.join(", ")),
    ))
}

/// Data sources hold passwords, so the message never repeats the value.
fn postgres_url(key: &str, value: &str) -> Result<(), ConfigError> {
    if value == FAKE_SETTING {
        return Err(ConfigError::invalid(
            key,
            "holds the masked placeholder from GET /config, not a data source; send the real value",
        ));
    }
    if value.starts_with("postgres://") || value.starts_with("postgresql://") {
        return Ok(());
    }
    if value.is_empty() {
        return Err(ConfigError::invalid(key, "must be set"));
    }
    Err(ConfigError::invalid(
        key,
        "must be a postgres:// or postgresql:// URL",
    ))
}

/// Mattermost's rule for generated secrets: empty (to be generated) or at least 32 characters.
/// The value is never repeated.
fn empty_or_long_secret(key: &str, value: &str) -> Result<(), ConfigError> {
    let length = value.chars().count();
    if length == 0 || length >= 32 {
        return Ok(());
    }
    Err(ConfigError::invalid(
        key,
        format!("must be empty or at least 32 characters (got {length})"),
    ))
}

fn is_http_url(value: &str) -> bool {
    let rest = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"));
    match rest {
        Some(host_and_path) => !host_and_path.is_empty() && !host_and_path.starts_with('/'),
        None => false,
    }
}

/// Host and port (None when the URL names none) of a 3.x `InterNodeUrls` entry,
/// `http://10.10.10.2:8075`; a bare `host:port` is taken too.
pub fn inter_node_url_host_port(url: &str) -> Option<(String, Option<u16>)> {
    let url = url.trim();
    let without_scheme = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    let authority = without_scheme.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return None;
    }
    if let Some((host, port)) = split_listen_address(authority) {
        if host.is_empty() {
            return None;
        }
        return Some((host.trim_matches(['[', ']']).to_string(), Some(port)));
    }
    if authority.contains(':') && !authority.starts_with('[') {
        return None;
    }
    Some((authority.trim_matches(['[', ']']).to_string(), None))
}

/// Splits `[host]:port` as Go's `net.SplitHostPort` would, checking the host is empty, an IP
/// address or a DNS name. Port 0 is allowed (the OS picks one, handy in tests).
pub(crate) fn split_listen_address(address: &str) -> Option<(&str, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    if port.is_empty() || !port.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let port: u16 = port.parse().ok()?;
    let host_is_valid = if let Some(bracketed) = host.strip_prefix('[') {
        let inner = bracketed.strip_suffix(']')?;
        inner.parse::<Ipv6Addr>().is_ok()
    } else {
        host.is_empty() || host.parse::<Ipv4Addr>().is_ok() || is_dns_name(host)
    };
    if host_is_valid {
        Some((host, port))
    } else {
        None
    }
}

fn is_dns_name(host: &str) -> bool {
    if host.len() > 253 {
        return false;
    }
    host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
    })
}

/// "H:MM" or "HH:MM" on a 24-hour clock, like Go's `time.Parse("15:04", ...)`.
pub(crate) fn parse_clock_time(text: &str) -> Option<(u8, u8)> {
    let (hours, minutes) = text.split_once(':')?;
    let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if !(1..=2).contains(&hours.len()) || minutes.len() != 2 {
        return None;
    }
    if !all_digits(hours) || !all_digits(minutes) {
        return None;
    }
    let hours: u8 = hours.parse().ok()?;
    let minutes: u8 = minutes.parse().ok()?;
    if hours < 24 && minutes < 60 {
        Some((hours, minutes))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(change: impl FnOnce(&mut Config)) -> String {
        let mut config = Config::default();
        change(&mut config);
        config.validate().unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn errors_name_the_key() {
        assert_eq!(
            error_of(|c| c.sql_settings.max_open_conns = 0),
            "SqlSettings.MaxOpenConns: must be at least 1 (got 0)"
        );
        assert_eq!(
            error_of(|c| c.cluster_settings.enable = true),
            "ClusterSettings.ClusterName: must be set when ClusterSettings.Enable is true"
        );
        assert_eq!(
            error_of(|c| c.sql_settings.driver_name = "mysql".into()),
            "SqlSettings.DriverName: must be one of \"postgres\" (got \"mysql\")"
        );
        assert!(error_of(|c| c.password_settings.minimum_length = 4)
            .starts_with("PasswordSettings.MinimumLength: must be between 5 and 72"));
        assert!(error_of(|c| c.password_settings.minimum_length = 73)
            .starts_with("PasswordSettings.MinimumLength:"));
        assert!(error_of(|c| c.file_settings.driver_name = "s3".into())
            .starts_with("FileSettings.DriverName:"));
        assert!(error_of(|c| c.log_settings.console_level = "LOUD".into())
            .starts_with("LogSettings.ConsoleLevel:"));
        assert!(error_of(|c| c.cluster_settings.gossip_port = 70000)
            .starts_with("ClusterSettings.GossipPort:"));
        assert!(
            error_of(|c| c.service_settings.maximum_payload_size_bytes = 0)
                .starts_with("ServiceSettings.MaximumPayloadSizeBytes:")
        );
        assert!(
            error_of(|c| c.service_settings.session_length_web_in_hours = 0)
                .starts_with("ServiceSettings.SessionLengthWebInHours:")
        );
        assert!(
            error_of(|c| c.data_retention_settings.deletion_job_start_time = "25:00".into())
                .starts_with("DataRetentionSettings.DeletionJobStartTime:")
        );
        assert!(
            error_of(|c| c.file_settings.driver_name = "amazons3".into())
                .starts_with("FileSettings.AmazonS3Bucket:")
        );
    }

    #[test]
    fn idle_connections_may_be_zero_but_not_negative() {
        let mut config = Config::default();
        config.sql_settings.max_idle_conns = 0;
        config.validate().unwrap();
        config.sql_settings.max_idle_conns = -1;
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("SqlSettings.MaxIdleConns:"));
    }

    #[test]
    fn data_sources_must_be_postgres_urls_and_are_not_echoed() {
        let message = error_of(|c| c.sql_settings.data_source = "mysql://u:secret@h/db".into());
        assert!(message.starts_with("SqlSettings.DataSource:"), "{message}");
        assert!(!message.contains("secret"), "{message}");

        let message = error_of(|c| {
            c.sql_settings.data_source_replicas =
                vec!["postgresql://ok/db".into(), "host=replica".into()]
        });
        assert!(
            message.starts_with("SqlSettings.DataSourceReplicas[1]:"),
            "{message}"
        );

        let message = error_of(|c| c.sql_settings.data_source = FAKE_SETTING.into());
        assert!(message.contains("masked placeholder"), "{message}");
    }

    #[test]
    fn listen_addresses() {
        for good in [
            ":8065",
            "0.0.0.0:8065",
            "127.0.0.1:0",
            "localhost:80",
            "[::1]:8065",
            "chat.example.com:443",
        ] {
            assert!(split_listen_address(good).is_some(), "{good}");
        }
        for bad in [
            "8065",
            ":",
            ":http",
            ":70000",
            "::1:8065",
            "[::1:8065",
            "bad host:1",
            "",
        ] {
            assert!(split_listen_address(bad).is_none(), "{bad}");
        }
        assert!(
            error_of(|c| c.service_settings.listen_address = "8065".into())
                .starts_with("ServiceSettings.ListenAddress:")
        );
    }

    #[test]
    fn clock_times() {
        assert_eq!(parse_clock_time("02:00"), Some((2, 0)));
        assert_eq!(parse_clock_time("2:30"), Some((2, 30)));
        assert_eq!(parse_clock_time("23:59"), Some((23, 59)));
        assert_eq!(parse_clock_time("24:00"), None);
        assert_eq!(parse_clock_time("12:5"), None);
        assert_eq!(parse_clock_time("noon"), None);
    }
}

//! The admin view of the config (GET /api/v4/config) hides secrets behind Mattermost's
//! placeholder; PUT /api/v4/config sends the placeholder back for secrets the admin did not
//! touch, and `unmask_from` puts the real values back.

use serde_json::Value;

use crate::{Config, FAKE_SETTING};

impl Config {
    /// The whole config as JSON with every secret replaced by [`FAKE_SETTING`]: data sources
    /// (they carry database passwords), the at-rest key, the public-link salt and the S3 secret.
    /// Like Mattermost, the S3 secret stays "" when unset so the console can show "not set".
    pub fn masked(&self) -> Value {
        let mut copy = self.clone();
        let sql = &mut copy.sql_settings;
        sql.data_source = FAKE_SETTING.to_string();
        sql.at_rest_encrypt_key = FAKE_SETTING.to_string();
        mask_all(&mut sql.data_source_replicas);
        mask_all(&mut sql.data_source_search_replicas);
        for lag in &mut sql.replica_lag_settings {
            lag.data_source = FAKE_SETTING.to_string();
        }

        let file = &mut copy.file_settings;
        file.public_link_salt = FAKE_SETTING.to_string();
        if !file.amazon_s3_secret_access_key.is_empty() {
            file.amazon_s3_secret_access_key = FAKE_SETTING.to_string();
        }
        crate::json::config_to_value(&copy)
    }

    /// Replaces every secret that arrives as [`FAKE_SETTING`] with its value in `current`.
    ///
    /// List entries (replicas) are restored by position only when the list kept its length:
    /// after an entry was added or removed, positions no longer say which placeholder stood for
    /// which data source, so the placeholders are left in place and `validate` rejects them
    /// rather than silently keeping a replica the admin meant to remove.
    pub fn unmask_from(&mut self, current: &Config) {
        let sql = &mut self.sql_settings;
        let current_sql = &current.sql_settings;
        restore(&mut sql.data_source, &current_sql.data_source);
        restore(
            &mut sql.at_rest_encrypt_key,
            &current_sql.at_rest_encrypt_key,
        );
        restore_list(
            &mut sql.data_source_replicas,
            &current_sql.data_source_replicas,
        );
        restore_list(
            &mut sql.data_source_search_replicas,
            &current_sql.data_source_search_replicas,
        );
        if sql.replica_lag_settings.len() == current_sql.replica_lag_settings.len() {
            let pairs = sql
                .replica_lag_settings
                .iter_mut()
                .zip(&current_sql.replica_lag_settings);
            for (lag, current_lag) in pairs {
                restore(&mut lag.data_source, &current_lag.data_source);
            }
        }

        let file = &mut self.file_settings;
        let current_file = &current.file_settings;
        restore(&mut file.public_link_salt, &current_file.public_link_salt);
        restore(
            &mut file.amazon_s3_secret_access_key,
            &current_file.amazon_s3_secret_access_key,
        );
    }
}

fn mask_all(values: &mut [String]) {
    for value in values {
        *value = FAKE_SETTING.to_string();
    }
}

fn restore(value: &mut String, current: &str) {
    if value == FAKE_SETTING {
        *value = current.to_string();
    }
}

fn restore_list(values: &mut [String], current: &[String]) {
    if values.len() != current.len() {
        return;
    }
    for (value, current_value) in values.iter_mut().zip(current) {
        restore(value, current_value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::ReplicaLagSettings;

    fn config_with_secrets() -> Config {
        let mut config = Config::default();
        config.sql_settings.data_source = "postgres://u:primary-pw@db/chorus".to_string();
        config.sql_settings.data_source_replicas = vec![
            "postgres://u:replica-pw-1@r1/chorus".to_string(),
            "postgres://u:replica-pw-2@r2/chorus".to_string(),
        ];
        config.sql_settings.data_source_search_replicas =
            vec!["postgres://u:search-pw@s1/chorus".to_string()];
        config.sql_settings.replica_lag_settings = vec![ReplicaLagSettings {
            data_source: "postgres://u:lag-pw@r1/chorus".to_string(),
            query_absolute_lag: "select 1".to_string(),
            query_time_lag: "select 2".to_string(),
        }];
        config.sql_settings.at_rest_encrypt_key = "k".repeat(32);
        config.file_settings.public_link_salt = "s".repeat(32);
        config.file_settings.amazon_s3_secret_access_key = "aws-secret".to_string();
        config
    }

    #[test]
    fn masked_hides_every_secret() {
        let config = config_with_secrets();
        let masked = config.masked();
        let text = masked.to_string();
        for secret in [
            "primary-pw",
            "replica-pw-1",
            "replica-pw-2",
            "search-pw",
            "lag-pw",
            "aws-secret",
            &"k".repeat(32),
            &"s".repeat(32),
        ] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert_eq!(masked["SqlSettings"]["DataSource"], FAKE_SETTING);
        assert_eq!(masked["SqlSettings"]["DataSourceReplicas"][1], FAKE_SETTING);
        // Non-secrets are shown as they are.
        assert_eq!(masked["SqlSettings"]["MaxOpenConns"], 300);
        assert_eq!(
            masked["SqlSettings"]["ReplicaLagSettings"][0]["QueryTimeLag"],
            "select 2"
        );
    }

    #[test]
    fn unset_s3_secret_stays_empty() {
        let masked = Config::default().masked();
        assert_eq!(masked["FileSettings"]["AmazonS3SecretAccessKey"], "");
    }

    #[test]
    fn unmask_restores_untouched_secrets_and_keeps_changed_ones() {
        let current = config_with_secrets();
        let mut incoming: Config = serde_json::from_value(current.masked()).unwrap();
        incoming.file_settings.amazon_s3_secret_access_key = "new-aws-secret".to_string();
        incoming.unmask_from(&current);

        let mut expected = current.clone();
        expected.file_settings.amazon_s3_secret_access_key = "new-aws-secret".to_string();
        assert_eq!(incoming, expected);
    }

    #[test]
    fn replica_placeholders_stay_when_the_list_changed_length() {
        let current = config_with_secrets();
        let mut incoming: Config = serde_json::from_value(current.masked()).unwrap();
        incoming.sql_settings.data_source_replicas.remove(0);
        incoming.unmask_from(&current);
        assert_eq!(
            incoming.sql_settings.data_source_replicas,
            vec![FAKE_SETTING.to_string()]
        );
        assert!(incoming.validate().is_err());
    }
}

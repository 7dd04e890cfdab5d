//! Keys Chorus reads from config.json but does not act on: [`UNSUPPORTED_SETTINGS`] names each
//! with the reason, and [`Config::unsupported_settings`] lists those set to something other
//! than their default, for `chorus config validate` to warn about. `docs/config-support.md`
//! is the same list for people; a key leaves both when Chorus starts enforcing it.

use serde_json::Value;

use crate::json::config_to_value;
use crate::Config;

/// A key Chorus accepts and keeps in the file but ignores, as `Section.Key`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnsupportedSetting {
    pub key: &'static str,
    /// What Chorus does instead, in a few words.
    pub reason: &'static str,
}

/// Every modelled key whose value changes nothing in Chorus.
pub const UNSUPPORTED_SETTINGS: &[UnsupportedSetting] = &[
    UnsupportedSetting {
        key: "ServiceSettings.ConnectionSecurity",
        reason: "Chorus serves plain HTTP; terminate TLS in the proxy in front of it",
    },
    UnsupportedSetting {
        key: "ServiceSettings.TLSCertFile",
        reason: "Chorus serves plain HTTP; terminate TLS in the proxy in front of it",
    },
    UnsupportedSetting {
        key: "ServiceSettings.TLSKeyFile",
        reason: "Chorus serves plain HTTP; terminate TLS in the proxy in front of it",
    },
    UnsupportedSetting {
        key: "ServiceSettings.SessionLengthSSOInHours",
        reason: "Chorus has no single sign-on",
    },
    UnsupportedSetting {
        key: "ServiceSettings.EnableReliableWebSockets",
        reason: "websockets are always resumable",
    },
    UnsupportedSetting {
        key: "ServiceSettings.EnableChannelViewedMessages",
        reason: "multiple_channels_viewed events are always sent",
    },
    UnsupportedSetting {
        key: "TeamSettings.MaxNotificationsPerChannel",
        reason: "Chorus sends no push or e-mail notifications",
    },
    UnsupportedSetting {
        key: "SqlSettings.AtRestEncryptKey",
        reason: "nothing is encrypted at rest by Chorus",
    },
    UnsupportedSetting {
        key: "SqlSettings.MigrationsStatementTimeoutSeconds",
        reason: "migrations run without a statement timeout",
    },
    UnsupportedSetting {
        key: "SqlSettings.ReplicaLagSettings",
        reason: "replica lag is measured by Chorus itself (ReplicaMaxLagSeconds)",
    },
    UnsupportedSetting {
        key: "LogSettings.EnableColor",
        reason: "console logs are never coloured",
    },
    UnsupportedSetting {
        key: "PasswordSettings.EnableForgotLink",
        reason: "Chorus sends no password-reset e-mail",
    },
    UnsupportedSetting {
        key: "FileSettings.EnableMobileUpload",
        reason: "uploads are allowed from every client",
    },
    UnsupportedSetting {
        key: "FileSettings.EnableMobileDownload",
        reason: "downloads are allowed from every client",
    },
    UnsupportedSetting {
        key: "FileSettings.EnablePublicLink",
        reason: "Chorus has no public file links",
    },
    UnsupportedSetting {
        key: "FileSettings.PublicLinkSalt",
        reason: "Chorus has no public file links",
    },
    UnsupportedSetting {
        key: "FileSettings.InitialFont",
        reason: "Chorus draws no default profile pictures",
    },
    UnsupportedSetting {
        key: "FileSettings.AmazonS3Trace",
        reason: "S3 requests are not traced",
    },
    UnsupportedSetting {
        key: "EmailSettings.SendEmailNotifications",
        reason: "Chorus sends no e-mail",
    },
    UnsupportedSetting {
        key: "EmailSettings.RequireEmailVerification",
        reason: "Chorus sends no e-mail, so none can be verified",
    },
    UnsupportedSetting {
        key: "JobSettings.CleanupConfigThresholdDays",
        reason: "configuration lives in the file, not in the database",
    },
    UnsupportedSetting {
        key: "DataRetentionSettings.EnableFileDeletion",
        reason: "only messages are deleted by data retention",
    },
    UnsupportedSetting {
        key: "DataRetentionSettings.FileRetentionDays",
        reason: "only messages are deleted by data retention",
    },
];

impl Config {
    /// The keys of [`UNSUPPORTED_SETTINGS`] this config sets to something other than their
    /// default: settings an administrator chose that Chorus will not honour.
    pub fn unsupported_settings(&self) -> Vec<UnsupportedSetting> {
        let configured = config_to_value(self);
        let defaults = config_to_value(&Config::default());
        UNSUPPORTED_SETTINGS
            .iter()
            .filter(|setting| {
                value_at(&configured, setting.key) != value_at(&defaults, setting.key)
            })
            .copied()
            .collect()
    }
}

fn value_at<'tree>(tree: &'tree Value, key: &str) -> Option<&'tree Value> {
    let (section, name) = key.split_once('.')?;
    tree.get(section)?.get(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_key_exists_in_the_schema() {
        let defaults = config_to_value(&Config::default());
        for setting in UNSUPPORTED_SETTINGS {
            assert!(
                value_at(&defaults, setting.key).is_some(),
                "{} is not a key of config.json",
                setting.key
            );
        }
    }

    #[test]
    fn only_keys_set_away_from_their_default_are_reported() {
        assert!(Config::default().unsupported_settings().is_empty());
        let mut config = Config::default();
        config.service_settings.connection_security = "TLS".to_string();
        config.email_settings.require_email_verification = true;
        // A supported key changed: not reported.
        config.service_settings.enable_post_search = false;
        let keys: Vec<&str> = config
            .unsupported_settings()
            .iter()
            .map(|setting| setting.key)
            .collect();
        assert_eq!(
            keys,
            [
                "ServiceSettings.ConnectionSecurity",
                "EmailSettings.RequireEmailVerification"
            ]
        );
    }

    #[test]
    fn the_documentation_lists_every_key() {
        let documentation = include_str!("../../../docs/config-support.md");
        for setting in UNSUPPORTED_SETTINGS {
            assert!(
                documentation.contains(&format!("`{}`", setting.key)),
                "docs/config-support.md does not mention {}",
                setting.key
            );
        }
    }
}

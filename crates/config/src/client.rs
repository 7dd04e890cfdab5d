//! GET /api/v4/config/client?format=old: the flat map of strings that Mattermost's webapp,
//! mobile apps and drivers read at start-up.
//!
//! Keys come from Mattermost's `GenerateLimitedClientConfig` (what anyone may see) and
//! `GenerateClientConfig` (what a logged-in user sees). Features Chorus does not have (SSO,
//! LDAP, plugins, webhooks, custom emoji, ...) are reported switched off with the values an
//! unlicensed Mattermost sends, so clients hide them instead of calling missing endpoints.

use std::collections::BTreeMap;

use crate::Config;

/// The longest post message accepted, in characters (Mattermost's `PostMessageMaxRunesV2`).
pub const MAX_POST_SIZE: usize = 16383;

/// Builds the client config one key at a time; values are always strings.
struct ClientConfigMap(BTreeMap<String, String>);

impl ClientConfigMap {
    fn text(&mut self, key: &str, value: &str) {
        self.0.insert(key.to_string(), value.to_string());
    }

    fn flag(&mut self, key: &str, value: bool) {
        self.text(key, if value { "true" } else { "false" });
    }

    fn number(&mut self, key: &str, value: i64) {
        self.text(key, &value.to_string());
    }
}

impl Config {
    /// The config any client may read, logged in or not. `version` is the server version
    /// (reported as Version and BuildNumber).
    pub fn limited_client_config(&self, version: &str) -> BTreeMap<String, String> {
        let mut map = ClientConfigMap(BTreeMap::new());
        let service = &self.service_settings;
        let team = &self.team_settings;
        let email = &self.email_settings;
        let password = &self.password_settings;

        map.text("Version", version);
        map.text("BuildNumber", version);
        map.text("BuildDate", "");
        map.text("BuildHash", "");
        map.text("BuildHashEnterprise", "");
        map.text("BuildEnterpriseReady", "false");
        map.text("ServiceEnvironment", "production");

        // Mattermost trims the trailing slash so clients can append paths.
        map.text("SiteURL", service.site_url.trim_end_matches('/'));
        map.text("SiteName", &team.site_name);
        map.text("WebsocketURL", service.websocket_url.trim_end_matches('/'));
        map.text("WebsocketPort", "80");
        map.text("WebsocketSecurePort", "443");
        map.flag("EnableUserCreation", team.enable_user_creation);
        map.flag("EnableOpenServer", team.enable_open_server);
        map.flag(
            "EnableBotAccountCreation",
            service.enable_bot_account_creation,
        );
        map.flag("EnableIncomingWebhooks", service.enable_incoming_webhooks);
        map.flag("EnableOutgoingWebhooks", service.enable_outgoing_webhooks);
        map.flag("EnableCommands", service.enable_commands);
        map.flag(
            "EnablePostUsernameOverride",
            service.enable_post_username_override,
        );
        map.flag("EnablePostIconOverride", service.enable_post_icon_override);
        map.flag("EnableFile", self.log_settings.enable_file);
        map.text("FileLevel", &self.log_settings.file_level);

        map.flag("EnableSignUpWithEmail", email.enable_sign_up_with_email);
        map.flag("EnableSignInWithEmail", email.enable_sign_in_with_email);
        map.flag(
            "EnableSignInWithUsername",
            email.enable_sign_in_with_username,
        );
        map.text("EmailLoginButtonColor", "#0000");
        map.text("EmailLoginButtonBorderColor", "#2389D7");
        map.text("EmailLoginButtonTextColor", "#2389D7");

        map.text(
            "PasswordMinimumLength",
            &password.minimum_length.to_string(),
        );
        map.flag("PasswordRequireLowercase", password.lowercase);
        map.flag("PasswordRequireUppercase", password.uppercase);
        map.flag("PasswordRequireNumber", password.number);
        map.flag("PasswordRequireSymbol", password.symbol);

        // Chorus sends no telemetry.
        map.flag("EnableDiagnostics", false);
        map.flag("DiagnosticsEnabled", false);
        map.text("DiagnosticId", "");
        map.text("TelemetryId", "");

        map.text("DefaultClientLocale", "en");
        map.text("DesktopLatestVersion", "");
        map.text("DesktopMinVersion", "");
        map.text("AndroidLatestVersion", "");
        map.text("AndroidMinVersion", "");
        map.text("IosLatestVersion", "");
        map.text("IosMinVersion", "");
        for link in [
            "TermsOfServiceLink",
            "PrivacyPolicyLink",
            "AboutLink",
            "HelpLink",
            "ReportAProblemLink",
            "ForgotPasswordLink",
            "SupportEmail",
            "AppDownloadLink",
            "AndroidAppDownloadLink",
            "IosAppDownloadLink",
            "CustomBrandText",
            "CustomDescriptionText",
            "CWSURL",
        ] {
            map.text(link, "");
        }

        // Features Chorus does not implement.
        for feature in [
            "EnableAskCommunityLink",
            "EnableComplianceExport",
            "EnableCustomBrand",
            "EnableLdap",
            "EnableSaml",
            "EnableSignUpWithGitLab",
            "EnableSignUpWithGoogle",
            "EnableSignUpWithOffice365",
            "EnableSignUpWithOpenId",
            "EnableMultifactorAuthentication",
            "EnforceMultifactorAuthentication",
            "EnableGuestAccounts",
            "GuestAccountsEnforceMultifactorAuthentication",
            // No password reset by email, no custom terms of service.
            "PasswordEnableForgotLink",
            "EnableCustomTermsOfService",
            "HasImageProxy",
            "PluginsEnabled",
        ] {
            map.flag(feature, false);
        }
        for empty_text in [
            "GitLabButtonColor",
            "GitLabButtonText",
            "LdapLoginFieldName",
            "LdapLoginButtonColor",
            "LdapLoginButtonBorderColor",
            "LdapLoginButtonTextColor",
            "SamlLoginButtonText",
            "SamlLoginButtonColor",
            "SamlLoginButtonBorderColor",
            "SamlLoginButtonTextColor",
            "OpenIdButtonText",
            "OpenIdButtonColor",
        ] {
            map.text(empty_text, "");
        }
        // Mattermost's feature flags that make the apps call endpoints of features Chorus
        // does not have (Apps framework, post priority, channel bookmarks, custom profile
        // attributes).
        for feature_flag in [
            "FeatureFlagAppsEnabled",
            "FeatureFlagPostPriority",
            "FeatureFlagChannelBookmarks",
            "FeatureFlagCustomProfileAttributes",
        ] {
            map.flag(feature_flag, false);
        }
        map.0
    }

    /// The config a logged-in client reads: the limited config plus the settings that shape
    /// the chat UI.
    pub fn client_config(&self, version: &str) -> BTreeMap<String, String> {
        let mut map = ClientConfigMap(self.limited_client_config(version));
        let service = &self.service_settings;
        let team = &self.team_settings;
        let file = &self.file_settings;
        let retention = &self.data_retention_settings;

        map.text("RestrictDirectMessage", &team.restrict_direct_message);
        map.text("TeammateNameDisplay", &team.teammate_name_display);
        map.flag("LockTeammateNameDisplay", false);
        map.text("ExperimentalPrimaryTeam", "");
        map.flag("ExperimentalViewArchivedChannels", true);
        map.number(
            "MaxNotificationsPerChannel",
            team.max_notifications_per_channel,
        );
        map.flag("EnableConfirmNotificationsToChannel", true);

        map.flag("EnableUserAccessTokens", service.enable_user_access_tokens);
        map.flag("EnableDeveloper", service.enable_developer);
        map.number("PostEditTimeLimit", service.post_edit_time_limit);
        map.flag(
            "ExtendSessionLengthWithActivity",
            service.extend_session_length_with_activity,
        );
        map.number(
            "TimeBetweenUserTypingUpdatesMilliseconds",
            service.time_between_user_typing_updates_milliseconds,
        );
        map.flag(
            "EnableUserTypingMessages",
            service.enable_user_typing_messages,
        );
        map.flag(
            "EnableChannelViewedMessages",
            service.enable_channel_viewed_messages,
        );
        map.flag(
            "EnableReliableWebSockets",
            service.enable_reliable_websockets,
        );
        map.flag("EnablePostSearch", service.enable_post_search);
        map.text("MaxPostSize", &MAX_POST_SIZE.to_string());
        map.text("MinimumHashtagLength", "3");
        // No limit on the Markdown nodes a client renders (Mattermost's default).
        map.text("MaxMarkdownNodes", "0");
        // Persistent notifications are off; these are Mattermost's defaults.
        map.text("PersistentNotificationMaxCount", "6");
        map.text("PersistentNotificationIntervalMinutes", "5");
        map.text("PersistentNotificationMaxRecipients", "5");

        map.flag("EnableFileAttachments", file.enable_file_attachments);
        map.flag("EnableMobileFileUpload", file.enable_mobile_upload);
        map.flag("EnableMobileFileDownload", file.enable_mobile_download);
        map.flag("EnablePublicLink", file.enable_public_link);
        map.number("MaxFileSize", file.max_file_size);

        map.flag(
            "SendEmailNotifications",
            self.email_settings.send_email_notifications,
        );
        map.flag(
            "RequireEmailVerification",
            self.email_settings.require_email_verification,
        );
        map.text("EmailNotificationContentsType", "full");
        map.flag("ShowEmailAddress", true);
        map.flag("ShowFullName", true);
        map.flag(
            "EnableUserDeactivation",
            self.team_settings.enable_user_deactivation,
        );
        map.flag(
            "EnableCustomUserStatuses",
            self.team_settings.enable_custom_user_statuses,
        );

        map.text("SQLDriverName", &self.sql_settings.driver_name);
        map.flag("RunJobs", self.job_settings.run_jobs);
        map.flag("EnableCluster", self.cluster_settings.enable);

        map.flag(
            "DataRetentionEnableMessageDeletion",
            retention.enable_message_deletion,
        );
        map.number(
            "DataRetentionMessageRetentionDays",
            retention.message_retention_days,
        );
        map.flag(
            "DataRetentionEnableFileDeletion",
            retention.enable_file_deletion,
        );
        map.number(
            "DataRetentionFileRetentionDays",
            retention.file_retention_days,
        );

        // Posts always carry metadata (reactions, files) in Chorus.
        map.flag("ExperimentalEnablePostMetadata", true);
        map.flag("ExperimentalTimezone", true);
        map.flag("ExperimentalEnableAuthenticationTransfer", true);
        map.flag("ExperimentalEnableDefaultChannelLeaveJoinMessages", true);
        map.text("ExperimentalGroupUnreadChannels", "disabled");
        map.text("CollapsedThreads", &service.collapsed_threads);
        map.flag("EnableCustomEmoji", service.enable_custom_emoji);
        map.flag("EnableEmojiPicker", true);
        map.flag("EnableThemeSelection", true);
        map.flag("AllowCustomThemes", true);
        map.text("DefaultTheme", "");
        map.text("AllowedThemes", "");
        map.text("AvailableLocales", "");
        map.text("CustomUrlSchemes", "");
        map.text("ManagedResourcePaths", "");
        map.text("GoogleDeveloperKey", "");
        map.text("CWSMock", "false");
        map.text("BannerText", "");
        map.text("BannerColor", "");
        map.text("BannerTextColor", "");

        // Features Chorus does not implement.
        for feature in [
            "EnableLastActiveTime",
            "EnableCrossTeamSearch",
            "EnablePreviewFeatures",
            "HideGuestTags",
            "EnableOAuthServiceProvider",
            "EnableLinkPreviews",
            "EnablePermalinkPreviews",
            "EnableTesting",
            "EnableClientPerformanceDebugging",
            "EnableTutorial",
            "EnableOnboardingFlow",
            "EnableSVGs",
            "EnableLatex",
            "EnableInlineLatex",
            "EnableMarketplace",
            "IsDefaultMarketplace",
            "DisableAppBar",
            "DisableRefetchingOnBrowserFocus",
            "DelayChannelAutocomplete",
            "ExperimentalEnableAutomaticReplies",
            "ExperimentalSharedChannels",
            "SendPushNotifications",
            "EnableEmailBatching",
            "EnablePreviewModeBanner",
            "EnableEmailInvitations",
            "EnableGifPicker",
            "EnableCompliance",
            "EnableMetrics",
            "EnableBanner",
            "AllowBannerDismissal",
            "EnableCustomGroups",
            "PostPriority",
            "AllowPersistentNotifications",
            "AllowPersistentNotificationsForGuests",
            "AllowSyncedDrafts",
            "DataRetentionEnableBoardsDeletion",
            "LdapNicknameAttributeSet",
            "LdapFirstNameAttributeSet",
            "LdapLastNameAttributeSet",
            "LdapPictureAttributeSet",
            "LdapPositionAttributeSet",
            "SamlFirstNameAttributeSet",
            "SamlLastNameAttributeSet",
            "SamlNicknameAttributeSet",
            "SamlPositionAttributeSet",
        ] {
            map.flag(feature, false);
        }
        map.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflects_settings_as_strings() {
        let mut config = Config::default();
        config.service_settings.site_url = "https://chat.example.com/".to_string();
        config.team_settings.enable_open_server = true;
        config.password_settings.minimum_length = 12;
        config.password_settings.symbol = true;
        config.file_settings.max_file_size = 1234;

        let client = config.client_config("10.5.0");
        assert_eq!(client["Version"], "10.5.0");
        assert_eq!(client["BuildEnterpriseReady"], "false");
        assert_eq!(client["SiteURL"], "https://chat.example.com");
        assert_eq!(client["SiteName"], "Chorus");
        assert_eq!(client["EnableOpenServer"], "true");
        assert_eq!(client["EnableUserCreation"], "true");
        assert_eq!(client["EnableSignUpWithEmail"], "true");
        assert_eq!(client["PasswordMinimumLength"], "12");
        assert_eq!(client["PasswordRequireSymbol"], "true");
        assert_eq!(client["PasswordRequireNumber"], "false");
        assert_eq!(client["MaxFileSize"], "1234");
        assert_eq!(client["MaxPostSize"], "16383");
        assert_eq!(client["DiagnosticsEnabled"], "false");
        // Keys the mobile app reads at start-up that switch off features Chorus lacks.
        assert_eq!(client["FeatureFlagAppsEnabled"], "false");
        assert_eq!(client["PasswordEnableForgotLink"], "false");
        assert_eq!(client["EnableCrossTeamSearch"], "false");
    }

    #[test]
    fn limited_config_is_a_subset_without_ui_settings() {
        let config = Config::default();
        let limited = config.limited_client_config("10.5.0");
        let full = config.client_config("10.5.0");
        for (key, value) in &limited {
            assert_eq!(full.get(key), Some(value), "{key}");
        }
        assert!(!limited.contains_key("MaxFileSize"));
        assert!(limited.contains_key("EnableSignInWithUsername"));
    }
}

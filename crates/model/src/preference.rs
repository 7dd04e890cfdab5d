//! Preferences (Mattermost's `Preference`): per-user settings the apps store as
//! `(category, name) → value` — theme, display settings, which direct channels to show, saved
//! ("flagged") posts, tutorial steps.

use crate::{is_valid_id, AppError, ErrorId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Saved posts: one preference per post, named by the post id.
pub const PREFERENCE_CATEGORY_FLAGGED_POST: &str = "flagged_post";
/// A channel the user marked as a favorite (kept in step with the favorites sidebar category).
pub const PREFERENCE_CATEGORY_FAVORITE_CHANNEL: &str = "favorite_channel";
/// The theme of a team (named by the team id, or empty for every team): a JSON object of
/// colours.
pub const PREFERENCE_CATEGORY_THEME: &str = "theme";
pub const PREFERENCE_CATEGORY_SIDEBAR_SETTINGS: &str = "sidebar_settings";
pub const PREFERENCE_NAME_LIMIT_VISIBLE_DMS_GMS: &str = "limit_visible_dms_gms";

/// Longest category and name, in bytes (the columns are varchar(32)).
pub const PREFERENCE_CATEGORY_MAX_LENGTH: usize = 32;
pub const PREFERENCE_NAME_MAX_LENGTH: usize = 32;
/// Longest value, in characters (Mattermost's `MaxPreferenceValueLength`).
pub const PREFERENCE_VALUE_MAX_LENGTH: usize = 20000;
/// Most direct and group channels the sidebar may be asked to show.
const LIMIT_VISIBLE_DMS_GMS_MAX: i64 = 40;

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Preference {
    pub user_id: String,
    pub category: String,
    pub name: String,
    pub value: String,
}

impl Preference {
    /// Mattermost's `PreUpdate`: colours of a theme that are not `#rgb` or `#rrggbb` become
    /// white (the image, type and code theme entries are kept as they are).
    pub fn sanitize_theme(&mut self) {
        if self.category != PREFERENCE_CATEGORY_THEME {
            return;
        }
        let Ok(mut theme) = serde_json::from_str::<BTreeMap<String, String>>(&self.value) else {
            return;
        };
        for (entry, colour) in theme.iter_mut() {
            let free_form = matches!(entry.as_str(), "image" | "type" | "codeTheme");
            if !free_form && !is_hex_colour(colour) {
                *colour = "#ffffff".to_string();
            }
        }
        if let Ok(sanitized) = serde_json::to_string(&theme) {
            self.value = sanitized;
        }
    }

    /// Mattermost's `Preference.IsValid`, with its error ids.
    pub fn validate(&self) -> Result<(), AppError> {
        if !is_valid_id(&self.user_id) {
            return Err(invalid(
                ErrorId::PreferenceInvalidUserId,
                "id",
                &self.user_id,
            ));
        }
        if self.category.is_empty() || self.category.len() > PREFERENCE_CATEGORY_MAX_LENGTH {
            return Err(invalid(
                ErrorId::PreferenceInvalidCategory,
                "category",
                &self.category,
            ));
        }
        if self.name.len() > PREFERENCE_NAME_MAX_LENGTH {
            return Err(invalid(ErrorId::PreferenceInvalidName, "name", &self.name));
        }
        if self.value.chars().count() > PREFERENCE_VALUE_MAX_LENGTH {
            return Err(invalid(ErrorId::PreferenceValueTooLong, "value", ""));
        }
        if self.category == PREFERENCE_CATEGORY_THEME
            && serde_json::from_str::<BTreeMap<String, String>>(&self.value).is_err()
        {
            return Err(invalid(
                ErrorId::PreferenceInvalidTheme,
                "theme",
                &self.value,
            ));
        }
        if self.category == PREFERENCE_CATEGORY_SIDEBAR_SETTINGS
            && self.name == PREFERENCE_NAME_LIMIT_VISIBLE_DMS_GMS
        {
            let in_range = self
                .value
                .parse::<i64>()
                .is_ok_and(|limit| (1..=LIMIT_VISIBLE_DMS_GMS_MAX).contains(&limit));
            if !in_range {
                return Err(invalid(
                    ErrorId::PreferenceInvalidVisibleDmsLimit,
                    "limit_visible_dms_gms",
                    &self.value,
                ));
            }
        }
        Ok(())
    }
}

fn invalid(entry: ErrorId, field: &str, value: &str) -> AppError {
    entry.with_detail(format!("{field}={value}"))
}

fn is_hex_colour(text: &str) -> bool {
    let Some(digits) = text.strip_prefix('#') else {
        return false;
    };
    (digits.len() == 3 || digits.len() == 6) && digits.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preference(category: &str, name: &str, value: &str) -> Preference {
        Preference {
            user_id: "a".repeat(26),
            category: category.to_string(),
            name: name.to_string(),
            value: value.to_string(),
        }
    }

    fn error_id(preference: &Preference) -> String {
        preference.validate().unwrap_err().id
    }

    #[test]
    fn lengths_are_checked_with_mattermost_ids() {
        assert!(preference("display_settings", "use_military_time", "true")
            .validate()
            .is_ok());
        assert_eq!(
            error_id(&preference("", "n", "v")),
            "model.preference.is_valid.category.app_error"
        );
        assert_eq!(
            error_id(&preference(&"c".repeat(33), "n", "v")),
            "model.preference.is_valid.category.app_error"
        );
        assert_eq!(
            error_id(&preference("c", &"n".repeat(33), "v")),
            "model.preference.is_valid.name.app_error"
        );
        assert_eq!(
            error_id(&preference("c", "n", &"v".repeat(20001))),
            "model.preference.is_valid.value.app_error"
        );
        let mut anonymous = preference("c", "n", "v");
        anonymous.user_id = "me".to_string();
        assert_eq!(
            error_id(&anonymous),
            "model.preference.is_valid.id.app_error"
        );
    }

    #[test]
    fn themes_must_be_objects_and_bad_colours_become_white() {
        assert_eq!(
            error_id(&preference("theme", "", "not json")),
            "model.preference.is_valid.theme.app_error"
        );
        let mut theme = preference(
            "theme",
            "",
            r##"{"sidebarBg":"#123","linkColor":"red","type":"Custom"}"##,
        );
        theme.sanitize_theme();
        assert_eq!(
            theme.value,
            r##"{"linkColor":"#ffffff","sidebarBg":"#123","type":"Custom"}"##
        );
    }

    #[test]
    fn visible_direct_channels_are_limited() {
        let limit = |value| preference("sidebar_settings", "limit_visible_dms_gms", value);
        assert!(limit("40").validate().is_ok());
        assert_eq!(
            error_id(&limit("41")),
            "model.preference.is_valid.limit_visible_dms_gms.app_error"
        );
        assert!(limit("zero").validate().is_err());
    }
}

//! The password policy of `PasswordSettings`, checked the way Mattermost checks it.

use crate::settings::PasswordSettings;

/// Mattermost's bounds on `PasswordSettings.MinimumLength`; the maximum is also the longest
/// password accepted (bcrypt's limit, kept so clients' checks agree with ours).
pub const PASSWORD_MINIMUM_LENGTH: i64 = 5;
pub const PASSWORD_MAXIMUM_LENGTH: i64 = 72;

/// The characters that count as symbols, as in Mattermost's `model.SYMBOLS`.
const SYMBOLS: &str = " !\"\\#$%&'()*+,-./:;<=>?@[]^_`|~";

impl PasswordSettings {
    /// Checks `password` against the policy. The error is the Mattermost error id naming what is
    /// missing, e.g. `model.user.is_valid.pwd_min_length.app_error` or
    /// `model.user.is_valid.pwd_uppercase_number.app_error`, ready to become an `AppError` id
    /// (clients translate it; the `Min` parameter is `minimum_length`).
    pub fn check(&self, password: &str) -> Result<(), String> {
        // Lengths are in bytes, as in Mattermost (Go's len).
        let length = password.len() as i64;
        if length < self.minimum_length {
            return Err("model.user.is_valid.pwd_min_length.app_error".to_string());
        }
        if length > PASSWORD_MAXIMUM_LENGTH {
            return Err("model.user.is_valid.pwd_max_length.app_error".to_string());
        }

        let mut missing = String::new();
        if self.lowercase && !password.chars().any(|c| c.is_ascii_lowercase()) {
            missing.push_str("_lowercase");
        }
        if self.uppercase && !password.chars().any(|c| c.is_ascii_uppercase()) {
            missing.push_str("_uppercase");
        }
        if self.number && !password.chars().any(|c| c.is_ascii_digit()) {
            missing.push_str("_number");
        }
        if self.symbol && !password.chars().any(|c| SYMBOLS.contains(c)) {
            missing.push_str("_symbol");
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!("model.user.is_valid.pwd{missing}.app_error"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict_policy() -> PasswordSettings {
        PasswordSettings {
            minimum_length: 8,
            lowercase: true,
            uppercase: true,
            number: true,
            symbol: true,
            enable_forgot_link: true,
        }
    }

    #[test]
    fn default_policy_only_checks_length() {
        let policy = PasswordSettings::default();
        assert_eq!(policy.check("abcdefgh"), Ok(()));
        assert_eq!(
            policy.check("abcdefg"),
            Err("model.user.is_valid.pwd_min_length.app_error".to_string())
        );
        assert_eq!(
            policy.check(&"a".repeat(73)),
            Err("model.user.is_valid.pwd_max_length.app_error".to_string())
        );
        assert_eq!(policy.check(&"a".repeat(72)), Ok(()));
    }

    #[test]
    fn names_only_the_missing_classes() {
        let policy = strict_policy();
        assert_eq!(policy.check("Abcdef1!"), Ok(()));
        assert_eq!(
            policy.check("abcdefgh"),
            Err("model.user.is_valid.pwd_uppercase_number_symbol.app_error".to_string())
        );
        assert_eq!(
            policy.check("ABCDEFG1"),
            Err("model.user.is_valid.pwd_lowercase_symbol.app_error".to_string())
        );
        assert_eq!(
            policy.check("Abcdefg 1"),
            Ok(()),
            "a space counts as a symbol, as in Mattermost"
        );
    }
}

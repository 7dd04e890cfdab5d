//! The password policy of `PasswordSettings`, checked the way Mattermost checks it.

use crate::settings::PasswordSettings;
use chorus_model::ErrorId;

/// Mattermost's bounds on `PasswordSettings.MinimumLength`; the maximum is also the longest
/// password accepted (bcrypt's limit, kept so clients' checks agree with ours).
pub const PASSWORD_MINIMUM_LENGTH: i64 = 5;
pub const PASSWORD_MAXIMUM_LENGTH: i64 = 72;

/// The characters that count as symbols, as in Mattermost's `model.SYMBOLS`.
const SYMBOLS: &str = " !\"\\#$%&'()*+,-./:;<=>?@[]^_`|~";

impl PasswordSettings {
    /// Checks `password` against the policy. The error is the catalogue entry naming what is
    /// missing, e.g. `model.user.is_valid.pwd_min_length.app_error` or
    /// `model.user.is_valid.pwd_uppercase_number.app_error` (clients translate the id; the `Min`
    /// parameter is `minimum_length`).
    pub fn check(&self, password: &str) -> Result<(), ErrorId> {
        // Lengths are in bytes, as in Mattermost (Go's len).
        let length = password.len() as i64;
        if length < self.minimum_length {
            return Err(ErrorId::PasswordTooShort);
        }
        if length > PASSWORD_MAXIMUM_LENGTH {
            return Err(ErrorId::PasswordTooLong);
        }

        let lowercase_missing = self.lowercase && !password.chars().any(|c| c.is_ascii_lowercase());
        let uppercase_missing = self.uppercase && !password.chars().any(|c| c.is_ascii_uppercase());
        let number_missing = self.number && !password.chars().any(|c| c.is_ascii_digit());
        let symbol_missing = self.symbol && !password.chars().any(|c| SYMBOLS.contains(c));
        let missing = match (
            lowercase_missing,
            uppercase_missing,
            number_missing,
            symbol_missing,
        ) {
            (false, false, false, false) => return Ok(()),
            (true, false, false, false) => ErrorId::PasswordNeedsLowercase,
            (false, true, false, false) => ErrorId::PasswordNeedsUppercase,
            (false, false, true, false) => ErrorId::PasswordNeedsNumber,
            (false, false, false, true) => ErrorId::PasswordNeedsSymbol,
            (true, true, false, false) => ErrorId::PasswordNeedsLowercaseUppercase,
            (true, false, true, false) => ErrorId::PasswordNeedsLowercaseNumber,
            (true, false, false, true) => ErrorId::PasswordNeedsLowercaseSymbol,
            (false, true, true, false) => ErrorId::PasswordNeedsUppercaseNumber,
            (false, true, false, true) => ErrorId::PasswordNeedsUppercaseSymbol,
            (false, false, true, true) => ErrorId::PasswordNeedsNumberSymbol,
            (true, true, true, false) => ErrorId::PasswordNeedsLowercaseUppercaseNumber,
            (true, true, false, true) => ErrorId::PasswordNeedsLowercaseUppercaseSymbol,
            (true, false, true, true) => ErrorId::PasswordNeedsLowercaseNumberSymbol,
            (false, true, true, true) => ErrorId::PasswordNeedsUppercaseNumberSymbol,
            (true, true, true, true) => ErrorId::PasswordNeedsLowercaseUppercaseNumberSymbol,
        };
        Err(missing)
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
            policy.check("abcdefg").map_err(ErrorId::id),
            Err("model.user.is_valid.pwd_min_length.app_error")
        );
        assert_eq!(
            policy.check(&"a".repeat(73)).map_err(ErrorId::id),
            Err("model.user.is_valid.pwd_max_length.app_error")
        );
        assert_eq!(policy.check(&"a".repeat(72)), Ok(()));
    }

    #[test]
    fn names_only_the_missing_classes() {
        let policy = strict_policy();
        assert_eq!(policy.check("Abcdef1!"), Ok(()));
        assert_eq!(
            policy.check("abcdefgh").map_err(ErrorId::id),
            Err("model.user.is_valid.pwd_uppercase_number_symbol.app_error")
        );
        assert_eq!(
            policy.check("ABCDEFG1").map_err(ErrorId::id),
            Err("model.user.is_valid.pwd_lowercase_symbol.app_error")
        );
        assert_eq!(
            policy.check("Abcdefg 1"),
            Ok(()),
            "a space counts as a symbol, as in Mattermost"
        );
    }
}

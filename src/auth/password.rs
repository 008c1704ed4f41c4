//! Password policy: 8 to 128 characters, no composition rules (NIST SP 800-63B), and
//! nothing from the shipped list of common and breached passwords.

use std::collections::HashSet;
use std::sync::LazyLock;

use secrecy::{ExposeSecret, SecretString};

pub(crate) const MIN_CHARS: usize = 8;
pub(crate) const MAX_CHARS: usize = 128;

/// Lower-cased, one a line; see data/README.md for where it comes from.
static COMMON: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("../../data/common-passwords.txt").lines().filter(|l| !l.is_empty()).collect());

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PolicyError {
    #[error("Password should be a string")]
    NotAString,
    #[error("Password must be at least 8 characters")]
    TooShort,
    #[error("Password must be at most 128 characters")]
    TooLong,
    #[error("Password is too common")]
    TooCommon,
}

/// Reads a password out of a provider input value, with the messages clients know.
/// Only the type is checked here: the policy applies to new passwords ([`check_new`]).
pub(crate) fn from_input(value: Option<&serde_json::Value>) -> Result<SecretString, PolicyError> {
    match value {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(SecretString::from(s.clone())),
        _ => Err(PolicyError::NotAString),
    }
}

/// The rule for a password being set (sign-up, change, reset).
pub(crate) fn check_new(password: &SecretString) -> Result<(), PolicyError> {
    let p = password.expose_secret();
    let chars = p.chars().count();
    if chars < MIN_CHARS {
        return Err(PolicyError::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(PolicyError::TooLong);
    }
    if is_common(p) {
        return Err(PolicyError::TooCommon);
    }
    Ok(())
}

/// Whether a password being presented could ever have been stored (no hashing otherwise:
/// a 10 MB "password" must not cost 10 MB of argon2 input).
pub(crate) fn within_limits(password: &SecretString) -> bool {
    password.expose_secret().chars().count() <= MAX_CHARS
}

fn is_common(p: &str) -> bool {
    COMMON.contains(p.to_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(p: &str) -> SecretString {
        SecretString::from(p.to_string())
    }

    #[test]
    fn list_is_large_enough() {
        assert!(COMMON.len() >= 10_000, "only {} entries", COMMON.len());
    }

    #[test]
    fn input_must_be_a_non_empty_string() {
        assert_eq!(from_input(None).unwrap_err(), PolicyError::NotAString);
        assert_eq!(from_input(Some(&json!(12345678))).unwrap_err(), PolicyError::NotAString);
        assert_eq!(from_input(Some(&json!(""))).unwrap_err(), PolicyError::NotAString);
        assert_eq!(from_input(Some(&json!(null))).unwrap_err(), PolicyError::NotAString);
        assert!(from_input(Some(&json!("x"))).is_ok());
    }

    #[test]
    fn length_bounds_count_characters() {
        assert_eq!(check_new(&s("short12")), Err(PolicyError::TooShort));
        assert_eq!(check_new(&s("ééééééé")), Err(PolicyError::TooShort));
        assert_eq!(check_new(&s("éééééééé")), Ok(()));
        assert_eq!(check_new(&s(&"q".repeat(128))), Ok(()));
        assert_eq!(check_new(&s(&"q".repeat(129))), Err(PolicyError::TooLong));
    }

    #[test]
    fn common_passwords_are_refused_whatever_the_case() {
        assert_eq!(check_new(&s("password")), Err(PolicyError::TooCommon));
        assert_eq!(check_new(&s("PassWord")), Err(PolicyError::TooCommon));
        assert_eq!(check_new(&s("12345678")), Err(PolicyError::TooCommon));
        assert_eq!(check_new(&s("correct horse battery staple 42")), Ok(()));
    }

    #[test]
    fn no_composition_rules() {
        assert_eq!(check_new(&s("lowercaseonlyphrase")), Ok(()));
    }
}

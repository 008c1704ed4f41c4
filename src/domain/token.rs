//! Opaque secrets handed to people (session, invite, reset tokens): 256 random bits,
//! base64url. Only their SHA-256 is stored, so a leaked table grants nothing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Length of an encoded token: 32 bytes in base64url without padding.
pub const TOKEN_LEN: usize = 43;

/// A freshly made token and the hash to store for it.
pub struct NewToken {
    pub token: String,
    pub hash: String,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewToken([redacted])")
    }
}

pub fn generate() -> NewToken {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&token);
    NewToken { token, hash }
}

/// Random URL-safe text for values that are not looked up by hash (OAuth state, nonce).
pub fn random_urlsafe(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Hex SHA-256 of a token, the form kept in the database.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Accepts only what [`generate`] could have made, so junk never reaches the database.
pub fn parse(candidate: &str) -> Option<&str> {
    let ok =
        candidate.len() == TOKEN_LEN && candidate.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then_some(candidate)
}

/// Equality that takes the same time wherever the inputs differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_base64url_and_distinct() {
        let a = generate();
        let b = generate();
        assert_eq!(a.token.len(), TOKEN_LEN);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a.token).expect("base64url").len(), 32);
        assert_ne!(a.token, b.token);
        assert_eq!(a.hash, hash(&a.token));
        assert_eq!(a.hash.len(), 64);
        assert!(!a.hash.contains(&a.token));
    }

    #[test]
    fn parse_rejects_what_generate_cannot_make() {
        let t = generate().token;
        assert_eq!(parse(&t), Some(t.as_str()));
        assert_eq!(parse(""), None);
        assert_eq!(parse(&t[1..]), None);
        assert_eq!(parse(&format!("{}=", &t[1..])), None);
        assert_eq!(parse(&"a".repeat(44)), None);
        assert_eq!(parse(&format!("{}'", &t[..42])), None);
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }

    #[test]
    fn debug_hides_the_token() {
        let t = generate();
        assert!(!format!("{t:?}").contains(&t.token));
    }
}

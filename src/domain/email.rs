//! [`Email`]: an address as authql stores it, trimmed and lower-cased, checked once.

use std::fmt;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Trims and lower-cases; refuses what cannot be an address (RFC 5321 lengths, one `@`,
    /// a dotted domain, no spaces or control characters).
    pub fn parse(raw: &str) -> Option<Email> {
        let s = raw.trim().to_lowercase();
        if s.is_empty() || s.len() > 254 {
            return None;
        }
        let (local, domain) = s.rsplit_once('@')?;
        let bad_char = |c: char| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '<' | '>' | '(' | ')' | ',' | ';' | ':' | '\\' | '"' | '[' | ']')
        };
        let domain_ok = !domain.is_empty()
            && domain.len() <= 253
            && domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.contains('@')
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && !local.chars().any(bad_char);
        (domain_ok && local_ok).then_some(Email(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn normalises() {
        assert_eq!(Email::parse("  Alice@Example.COM ").map(|e| e.0), Some("alice@example.com".into()));
    }

    #[test]
    fn refuses_non_addresses() {
        for bad in [
            "",
            " ",
            "alice",
            "alice@",
            "@example.com",
            "alice@example",
            "a b@example.com",
            "alice@@example.com",
            "alice@exa mple.com",
            ".alice@example.com",
            "al..ice@example.com",
            "alice@-example.com",
            "alice@example..com",
            "<alice@example.com>",
            "alice@example.com\n",
        ] {
            // A trailing newline is trimmed away, so that one is fine; the others are not.
            if bad == "alice@example.com\n" {
                assert!(Email::parse(bad).is_some());
                continue;
            }
            assert!(Email::parse(bad).is_none(), "{bad:?} should be refused");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_none());
    }

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in ["a@b.co", "first.last+tag@sub.example.org", "x_y-z@example.io", "jürgen@例え.jp"] {
            assert!(Email::parse(ok).is_some(), "{ok:?} should be accepted");
        }
    }
}

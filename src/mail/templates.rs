//! The words of each e-mail, in plain text and HTML. Every message carries exactly one link,
//! built on `AUTHQL_APP_URL`; the token in it is the only secret.

use crate::domain::Role;

/// One composed message, before it gets a sender and a recipient.
#[derive(Clone, PartialEq, Eq)]
pub struct Letter {
    /// What kind of message (for logs and metrics; never secret).
    pub kind: &'static str,
    pub subject: String,
    /// The link the recipient follows; holds the token.
    pub link: String,
    pub text: String,
    pub html: String,
}

// The link holds a live token: never print it by accident.
impl std::fmt::Debug for Letter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Letter").field("kind", &self.kind).field("subject", &self.subject).finish_non_exhaustive()
    }
}

/// `{app_url}{path}?token={token}`. Tokens are base64url, so they need no escaping.
pub(crate) fn link(app_url: &str, path: &str, token: &str) -> String {
    format!("{}{path}?token={token}", app_url.trim_end_matches('/'))
}

pub(crate) fn invite(app_url: &str, token: &str, role: Role) -> Letter {
    let link = link(app_url, "/invite", token);
    let role = match role {
        Role::Admin => "an administrator",
        Role::Member => "a member",
    };
    letter(
        "invite",
        "You are invited",
        &link,
        &[&format!("You have been invited to create an account, as {role}."), "To accept, open this link:"],
        &["If you were not expecting this invitation, you can ignore this e-mail."],
    )
}

pub(crate) fn password_reset(app_url: &str, token: &str, valid_for_minutes: u64) -> Letter {
    let link = link(app_url, "/reset-password", token);
    letter(
        "password_reset",
        "Reset your password",
        &link,
        &[
            "Someone asked to reset the password of the account with this e-mail address.",
            "To choose a new password, open this link:",
        ],
        &[
            &format!("The link works once, for {}.", minutes(valid_for_minutes)),
            "If you did not ask for this, ignore this e-mail: your password stays as it is.",
        ],
    )
}

pub(crate) fn email_verification(app_url: &str, token: &str) -> Letter {
    let link = link(app_url, "/verify-email", token);
    letter(
        "email_verification",
        "Confirm your e-mail address",
        &link,
        &["To confirm that this e-mail address belongs to your account, open this link:"],
        // An attacker may have signed up with someone else's address: confirming it would
        // hand them a verified account, so the owner is told not to.
        &["If you did not create an account, do not open the link; ignore this e-mail."],
    )
}

/// "1 minute", "15 minutes", "3 hours".
fn minutes(n: u64) -> String {
    match n {
        1 => "1 minute".into(),
        n if n >= 120 && n % 60 == 0 => format!("{} hours", n / 60),
        n => format!("{n} minutes"),
    }
}

fn letter(kind: &'static str, subject: &str, link: &str, before: &[&str], after: &[&str]) -> Letter {
    let mut text = String::new();
    for line in before {
        text.push_str(line);
        text.push('\n');
    }
    text.push('\n');
    text.push_str(link);
    text.push_str("\n\n");
    for line in after {
        text.push_str(line);
        text.push('\n');
    }

    let paragraphs = |lines: &[&str]| lines.iter().map(|l| format!("<p>{}</p>\n", escape(l))).collect::<String>();
    let html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head><body>\n{before}<p><a href=\"{href}\">{href}</a></p>\n{after}</body></html>\n",
        title = escape(subject),
        before = paragraphs(before),
        href = escape(link),
        after = paragraphs(after),
    );
    Letter { kind, subject: subject.to_string(), link: link.to_string(), text, html }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_built_on_the_app_url() {
        assert_eq!(link("https://app.example/", "/invite", "abc"), "https://app.example/invite?token=abc");
        assert_eq!(link("https://x.example/app", "/verify-email", "t"), "https://x.example/app/verify-email?token=t");
        assert_eq!(password_reset("http://a", "tok", 15).link, "http://a/reset-password?token=tok");
        assert_eq!(email_verification("http://a", "tok").link, "http://a/verify-email?token=tok");
        assert_eq!(invite("http://a", "tok", Role::Member).link, "http://a/invite?token=tok");
    }

    #[test]
    fn both_parts_carry_the_link() {
        for l in [
            password_reset("http://a", "tok", 15),
            email_verification("http://a", "tok"),
            invite("http://a", "tok", Role::Admin),
        ] {
            assert!(l.text.contains(&l.link), "{}", l.kind);
            assert!(l.html.contains(&format!("href=\"{}\"", l.link)), "{}", l.kind);
        }
        assert!(invite("http://a", "t", Role::Admin).text.contains("administrator"));
        assert!(password_reset("http://a", "t", 15).text.contains("for 15 minutes."));
        assert!(password_reset("http://a", "t", 1).text.contains("for 1 minute."));
        assert!(password_reset("http://a", "t", 180).text.contains("for 3 hours."));
    }

    #[test]
    fn html_is_escaped_and_debug_hides_the_link() {
        let l = letter("x", "a<b", "http://a/?token=1&x=\"2\"", &["<script>"], &[]);
        assert!(l.html.contains("a&lt;b") && l.html.contains("&lt;script&gt;"));
        assert!(l.html.contains("token=1&amp;x=&quot;2&quot;"));
        assert!(!format!("{l:?}").contains("token"));
    }
}

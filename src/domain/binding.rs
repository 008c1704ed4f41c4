//! The cookie that ties a started flow to the client that started it (API 6.1).
//!
//! A flow's `state` travels in URLs (the provider's redirect, a link in a mail, a log), so
//! holding it proves nothing. Without more, an attacker who starts a sign-in, lets the
//! provider redirect, and mails the victim that callback link gets the victim's browser
//! signed in as the attacker (login CSRF). So starting a flow also hands the client a random
//! value in an HttpOnly cookie, the flow stores only its SHA-256, and finishing needs it.
//!
//! One value serves all of a client's open flows: a start that presents a well-formed
//! binding reuses it, so a second tab does not orphan the first one's flow, and every flow a
//! single request starts (aliases, a batch) shares the one value that request made.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::domain::token;

/// The binding cookie's name.
pub const COOKIE: &str = "authql_flow";

/// A binding value: 256 random bits, base64url. Whoever holds it can finish the flows it
/// binds, so it is a secret: never logged, stored only as its hash.
#[derive(Clone)]
pub struct Binding(SecretString);

impl Binding {
    /// Accepts only what `Binding::generate` could have made.
    pub fn parse(raw: &str) -> Option<Binding> {
        token::parse(raw).map(|valid| Binding(SecretString::from(valid)))
    }

    fn generate() -> Binding {
        Binding(SecretString::from(token::generate().token))
    }

    /// What the server stores and looks flows up by.
    pub fn hash(&self) -> String {
        token::hash(self.0.expose_secret())
    }

    /// The value itself, for the Set-Cookie header and nothing else.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for Binding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Binding([redacted])")
    }
}

/// One request's side of the binding: what its cookie presented, and the value its new
/// flows get. Clones (one per operation of a batch) share the value made for the request.
#[derive(Clone, Default)]
pub struct ClientBinding {
    presented: Option<Binding>,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    made: OnceLock<Binding>,
    cookie_sent: AtomicBool,
}

impl ClientBinding {
    /// From the cookie's raw value, when the request may present one; junk counts as none.
    pub fn from_cookie(raw: Option<&str>) -> ClientBinding {
        ClientBinding { presented: raw.and_then(Binding::parse), shared: Arc::default() }
    }

    /// The binding the client proved it holds, if any: the only one a flow may be finished
    /// with.
    pub fn presented(&self) -> Option<&Binding> {
        self.presented.as_ref()
    }

    /// The binding for a flow this request starts: the client's own when it has one, else
    /// one made now, the same for every flow of the request.
    pub fn for_new_flow(&self) -> Binding {
        match &self.presented {
            Some(binding) => binding.clone(),
            None => self.shared.made.get_or_init(Binding::generate).clone(),
        }
    }

    /// True once per request: the first flow started asks for the cookie, the others would
    /// only repeat the same header.
    pub fn claim_cookie(&self) -> bool {
        !self.shared.cookie_sent.swap(true, Ordering::Relaxed)
    }
}

impl std::fmt::Debug for ClientBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBinding").field("presented", &self.presented.is_some()).finish_non_exhaustive()
    }
}

/// What a started flow asks the client to keep: the binding, for as long as the flow lives.
#[derive(Clone, Debug)]
pub struct BindingCookie {
    pub binding: Binding,
    pub max_age: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_values_are_presented() {
        let good = token::generate().token;
        for junk in [String::new(), "short".into(), format!("{}=", &good[1..]), "a".repeat(44)] {
            assert!(ClientBinding::from_cookie(Some(&junk)).presented().is_none(), "{junk:?}");
        }
        let client = ClientBinding::from_cookie(Some(&good));
        assert_eq!(client.presented().map(Binding::expose), Some(good.as_str()));
        assert_eq!(client.presented().map(Binding::hash), Some(token::hash(&good)));
    }

    #[test]
    fn a_client_with_a_binding_keeps_it_for_new_flows() {
        let good = token::generate().token;
        let client = ClientBinding::from_cookie(Some(&good));
        assert_eq!(client.for_new_flow().expose(), good);
        assert_eq!(client.clone().for_new_flow().expose(), good);
    }

    #[test]
    fn one_request_makes_one_binding_for_all_its_flows() {
        let request = ClientBinding::from_cookie(None);
        let operation = request.clone();
        let made = request.for_new_flow();
        assert_eq!(operation.for_new_flow().expose(), made.expose());
        assert!(operation.presented().is_none(), "a value made now proves nothing yet");
        assert!(request.claim_cookie());
        assert!(!operation.claim_cookie());
        // Another request makes its own.
        let other = ClientBinding::from_cookie(None);
        assert_ne!(other.for_new_flow().expose(), made.expose());
        assert!(other.claim_cookie());
    }

    #[test]
    fn debug_shows_no_secret() {
        let good = token::generate().token;
        let client = ClientBinding::from_cookie(Some(&good));
        assert!(!format!("{client:?} {:?}", client.for_new_flow()).contains(&good));
    }
}

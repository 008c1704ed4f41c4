//! Who signed in, as OpenID Connect states it: the standard claims a sign-in reads, the same
//! whether they come in the ID token or from the UserInfo endpoint.

use serde::Deserialize;
use serde_json::Value;

/// The standard claims authql reads (OpenID Connect Core §5.1).
#[derive(Clone, Debug, Deserialize)]
pub(super) struct Profile {
    pub sub: String,
    pub email: Option<String>,
    /// A boolean per the spec; some issuers have sent the string `"true"`.
    pub email_verified: Option<Value>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub picture: Option<String>,
}

impl Profile {
    /// Whether the issuer verified the address: only `true` (or the string some issuers send).
    pub(super) fn email_verified(&self) -> bool {
        let claim = self.email_verified.as_ref();
        matches!(claim, Some(Value::Bool(true))) || claim == Some(&Value::from("true"))
    }

    /// Whether the address and its verification are both stated (no UserInfo call needed).
    pub(super) fn has_email(&self) -> bool {
        self.email.is_some() && self.email_verified.is_some()
    }

    /// Fills what the ID token left out from UserInfo's answer for the same `sub`. The address
    /// and its verification travel together: a verification is only about the address stated
    /// beside it.
    pub(super) fn fill_gaps(&mut self, info: Profile) {
        if self.email.is_none() || self.email == info.email {
            if self.email.is_none() {
                self.email = info.email;
            }
            self.email_verified = self.email_verified.take().or(info.email_verified);
        }
        self.name = self.name.take().or(info.name);
        self.given_name = self.given_name.take().or(info.given_name);
        self.family_name = self.family_name.take().or(info.family_name);
        self.picture = self.picture.take().or(info.picture);
    }
}

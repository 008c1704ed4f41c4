//! What a provider is: something that, given a client's input, proves an identity, asks
//! for a redirect, or says why not. Providers never create users or sessions: that is the
//! user guard's and the session service's job, the same for every provider.

use async_trait::async_trait;
use serde_json::Value;

use crate::auth::AuthError;
use crate::auth::throttle::Refund;
use crate::db::models::auth_users::AuthUserRow;
use crate::domain::{BindingCookie, ClientInfo, Email};

/// The invite a flow runs under: which one, and the hash of the token it was presented
/// with. The token is part of it so that a refreshed (old token) or deleted invite ends
/// every flow started with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InviteRef {
    pub id: String,
    pub token_hash: String,
}

/// One call into a provider.
pub struct AuthRequest<'a> {
    pub input: &'a Value,
    pub client: &'a ClientInfo,
    /// False when the sign-up policy would refuse a new identity anyway: the provider then
    /// spends the time of a password check instead of hashing a new one.
    pub may_create: bool,
    /// The invite being accepted, for providers that must carry it through a redirect.
    pub invite: Option<&'a InviteRef>,
}

/// What a provider proved.
#[derive(Clone, Debug)]
pub struct Identity {
    pub provider: String,
    pub entity_id: String,
    /// The address the user is found or created by.
    pub email: Email,
    /// The stored identity, when it existed before this request.
    pub existing: Option<AuthUserRow>,
    /// What to store as provider_metadata when the identity is new (e.g. a password hash).
    pub new_provider_metadata: Option<Value>,
    /// Profile as the provider reported it.
    pub user_metadata: Option<Value>,
    /// The provider proved the person controls `email`.
    pub email_verified: bool,
    /// A new identity whose secret was set by this request (a password): if another request
    /// created the same identity first, this one must be checked again against that one.
    pub reverify_if_raced: bool,
    /// An invite that travelled with the provider's own state (OAuth redirects).
    pub invite: Option<InviteRef>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub avatar_url: Option<String>,
    /// What the throttle gives back for the password this identity was proven with. A right
    /// password is a success whatever the sign-in decides next (a session, a second-factor
    /// ticket, a refusal), so the sign-in's transaction applies it in every case: no
    /// transaction of its own. Plain data, so the layer above needs no reservation to do it.
    pub refund: Option<Refund>,
}

/// Where to send the browser, and the binding cookie that lets only this client come back.
#[derive(Debug)]
pub struct Redirect {
    pub location: String,
    pub binding: BindingCookie,
}

/// Why a credentials change (update or reset) did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The provider turned the input down; the reason is for people.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// Options for the browser to answer (a WebAuthn challenge), and the binding cookie that
/// lets only this client answer them.
#[derive(Debug)]
pub struct Challenge {
    pub options: Value,
    pub binding: BindingCookie,
}

/// A user the provider recognised by a credential they registered while signed in (a
/// passkey): no identity to find or create, no link to make, and no second factor to ask.
#[derive(Debug)]
pub struct KnownUser {
    pub user_id: String,
    /// The identity the session is issued under.
    pub auth_user_id: String,
}

pub enum Outcome {
    Authenticated(Box<Identity>),
    /// Send the browser elsewhere; no session yet.
    Redirect(Redirect),
    /// Let the browser answer a challenge and come back with `validateCallback`.
    Challenge(Challenge),
    /// Sign this existing user in as they are.
    KnownUser(KnownUser),
    /// Not authenticated, with a reason for people.
    Failed(String),
}

#[async_trait]
pub trait Provider: Send + Sync {
    /// The name clients pass as `provider` (configured providers have names of their own).
    fn name(&self) -> &str;

    async fn authenticate(&self, req: &AuthRequest<'_>) -> Result<Outcome, AuthError>;

    /// Fits `input` to an invite sent to `invited` before `authenticate` runs under it;
    /// `Err` with a reason for people when the input is for someone else. By default the
    /// input stands as it is.
    fn invited_input(&self, input: &Value, _invited: &str) -> Result<Value, String> {
        Ok(input.clone())
    }

    /// Completes a redirect flow (OAuth providers).
    async fn validate_callback(&self, _req: &AuthRequest<'_>) -> Result<Outcome, AuthError> {
        Ok(Outcome::Failed(format!("The {} provider has no callback", self.name())))
    }

    /// Changes the identity's credentials (e.g. a password), given the current ones; `client`
    /// is who asks (checks of the current ones are throttled per address too).
    async fn update(&self, _identity: &AuthUserRow, _input: &Value, _client: &ClientInfo) -> Result<(), ChangeError> {
        Err(ChangeError::Refused(format!("The {} provider has nothing to update", self.name())))
    }

    /// The identity key a reset link may be mailed for, normalized as the provider stores
    /// it; `Err` with a reason for people when this provider has no credentials to reset by
    /// mail, or `entity_id` is malformed. The link goes to the identity's entity id, so only
    /// providers whose entity ids are e-mail addresses can say yes.
    fn reset_entity(&self, _entity_id: &str) -> Result<String, String> {
        Err(format!("The {} provider cannot reset credentials", self.name()))
    }

    /// Sets new credentials after a reset link was followed (no current ones needed).
    async fn reset(&self, _identity: &AuthUserRow, _input: &Value) -> Result<(), ChangeError> {
        Err(ChangeError::Refused(format!("The {} provider cannot reset credentials", self.name())))
    }
}

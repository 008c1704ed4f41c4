//! The `passkey` provider (WebAuthn, API 6.5): `authenticate` hands out request options for
//! any discoverable credential, bound to the client through the flow store like a redirect;
//! `validateCallback` verifies the browser's assertion and names the passkey's user. It
//! proves no new identity: a passkey is registered by a signed-in user, so it can neither
//! create a user nor link to another one, and with user verification it is both factors.

pub(crate) mod relying_party;

use async_trait::async_trait;
use secrecy::SecretString;
use serde_json::Value;
use webauthn_rs::prelude::{Passkey as Credential, PublicKeyCredential};

use crate::auth::AuthError;
use crate::auth::flow::{FlowError, Flows, Pending};
use crate::auth::provider::{AuthRequest, Challenge, KnownUser, Outcome, Provider};
use crate::db::models::{passkeys, webauthn_challenges};
use crate::db::{self, Db, DbError};
use crate::domain::token;

pub(crate) use relying_party::RelyingParty;

pub(crate) const NAME: &str = "passkey";

/// Said for a credential this server does not hold (never registered, or removed).
const NOT_REGISTERED: &str = "This passkey is not registered here";

#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// The client's input is not what the API takes; the reason is for people.
    #[error("{0}")]
    Invalid(String),
    #[error("The authenticator's answer was refused: {0}")]
    Refused(String),
    #[error("No passkey registration is in progress for this session; call beginPasskeyRegistration first")]
    NotInProgress,
    #[error("The passkey registration has expired; call beginPasskeyRegistration again")]
    Expired,
    #[error("This passkey is already registered")]
    AlreadyRegistered,
    #[error("Passkey not found")]
    NotFound,
    #[error(
        "Passkeys are off: AUTHQL_APP_URL must name the app by a domain name (see AUTHQL_WEBAUTHN_RP_ID in README.md)"
    )]
    Off,
    /// A bug or an unreadable stored value; never the client's input.
    #[error("webauthn: {0}")]
    Internal(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl PasskeyError {
    /// A stored or generated value that does not (de)serialise: a bug, never the client's input.
    pub(crate) fn internal(e: impl std::fmt::Display) -> PasskeyError {
        PasskeyError::Internal(e.to_string())
    }
}

/// Reads the browser's credential JSON, saying what is wrong with it when it is not one.
pub(crate) fn parse_credential<T: serde::de::DeserializeOwned>(value: Option<&Value>) -> Result<T, PasskeyError> {
    let value = value.ok_or_else(|| {
        PasskeyError::Invalid("Pass the browser's PublicKeyCredential as JSON in `credential`".into())
    })?;
    serde_json::from_value(value.clone()).map_err(|e| {
        PasskeyError::Invalid(format!(
            "`credential` is not a PublicKeyCredential as JSON (binary fields in base64url): {e}"
        ))
    })
}

pub(crate) struct PasskeyProvider {
    db: Db,
    flows: Flows,
    rp: RelyingParty,
}

impl PasskeyProvider {
    pub(crate) fn new(db: Db, flows: Flows, rp: RelyingParty) -> PasskeyProvider {
        PasskeyProvider { db, flows, rp }
    }

    /// The checks of an assertion, in order; `Failed` reasons are for people.
    async fn verify(&self, req: &AuthRequest<'_>) -> Result<Outcome, PasskeyError> {
        let credential: PublicKeyCredential = parse_credential(req.input.get("credential"))?;
        let challenge = relying_party::answered_challenge(credential.response.client_data_json.as_slice())?;
        // The binding first: without this client's cookie nothing is spent.
        match self.flows.take(NAME, &challenge, req.client).await {
            Ok(_) => {}
            Err(FlowError::Db(e)) => return Err(e.into()),
            Err(refused) => return Ok(Outcome::Failed(refused.public_message())),
        }
        let hash = token::hash(&challenge);
        let Some(pending) = self.db.write(move |conn| webauthn_challenges::take_authentication(conn, &hash)).await?
        else {
            return Ok(Outcome::Failed(FlowError::Unknown.public_message()));
        };
        if pending.expires_at <= db::now() {
            return Ok(Outcome::Failed(FlowError::Expired.public_message()));
        }
        let credential_id = relying_party::encode_id(credential.raw_id.as_slice());
        let Some(stored) = self.db.read(move |conn| passkeys::find_by_credential_id(conn, &credential_id)).await?
        else {
            return Ok(Outcome::Failed(NOT_REGISTERED.into()));
        };
        // The handle the authenticator keeps is the owner's id: one that names anyone else
        // was not made by this registration.
        if self.rp.user_handle(&credential).map(|h| h.to_string()).as_deref() != Some(stored.user_id.as_str()) {
            return Ok(Outcome::Failed(NOT_REGISTERED.into()));
        }
        let mut key: Credential = serde_json::from_str(&stored.credential).map_err(PasskeyError::internal)?;
        let result = match self.rp.finish_sign_in(&credential, &pending.state, &key) {
            Ok(result) => result,
            Err(PasskeyError::Refused(reason)) => {
                return Ok(Outcome::Failed(format!("This passkey was refused: {reason}")));
            }
            Err(other) => return Err(other),
        };
        // The counter webauthn-rs just checked against is the one stored here: keep it.
        key.update_credential(&result);
        let updated = serde_json::to_string(&key).map_err(PasskeyError::internal)?;
        let (id, seen, now) = (stored.id.clone(), stored.sign_count, db::now());
        let new_count = i64::from(result.counter());
        if !self.db.write(move |conn| passkeys::record_use(conn, &id, seen, new_count, &updated, now)).await? {
            return Ok(Outcome::Failed(
                "This passkey was used by another sign-in at the same moment; try again".into(),
            ));
        }
        Ok(Outcome::KnownUser(KnownUser { user_id: stored.user_id, auth_user_id: stored.auth_user_id }))
    }
}

#[async_trait]
impl Provider for PasskeyProvider {
    fn name(&self) -> &str {
        NAME
    }

    async fn authenticate(&self, req: &AuthRequest<'_>) -> Result<Outcome, AuthError> {
        if req.invite.is_some() {
            return Ok(Outcome::Failed(
                "A passkey cannot accept an invite: accept it with another provider, then add a passkey".into(),
            ));
        }
        let begun = self.rp.begin_sign_in().map_err(into_auth)?;
        let challenge_hash = token::hash(&begun.challenge);
        // Only the flow's binding and its per-address bound matter here: a passkey
        // sign-in has no redirect, verifier or nonce.
        let pending = Pending {
            pkce_verifier: SecretString::from(String::new()),
            nonce: String::new(),
            redirect_uri: String::new(),
            invite: None,
        };
        let binding = match self.flows.start(NAME, challenge_hash.clone(), pending, req.client).await {
            Ok(binding) => binding,
            Err(FlowError::TooMany { retry_after }) => return Err(AuthError::RateLimited { retry_after }),
            Err(FlowError::Db(e)) => return Err(e.into()),
            Err(other) => return Ok(Outcome::Failed(other.public_message())),
        };
        let now = db::now();
        let row = webauthn_challenges::ChallengeRow {
            challenge_hash,
            purpose: webauthn_challenges::AUTHENTICATION.into(),
            user_id: None,
            session_id: None,
            state: begun.state,
            expires_at: now + challenge_ttl(),
            created_at: now,
        };
        self.db.write(move |conn| webauthn_challenges::insert(conn, &row)).await?;
        Ok(Outcome::Challenge(Challenge { options: begun.options, binding }))
    }

    async fn validate_callback(&self, req: &AuthRequest<'_>) -> Result<Outcome, AuthError> {
        self.verify(req).await.map_err(into_auth)
    }
}

/// How long a challenge may be answered, as stored.
pub(crate) fn challenge_ttl() -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(relying_party::CHALLENGE_TTL).unwrap_or(chrono::TimeDelta::minutes(5))
}

fn into_auth(e: PasskeyError) -> AuthError {
    match e {
        PasskeyError::Db(db) => AuthError::Db(db),
        PasskeyError::Invalid(reason) => AuthError::BadInput(reason),
        other => AuthError::Internal(other.to_string()),
    }
}

//! `emailpass`: an e-mail address and an argon2id password. The first authenticate for an
//! address creates the identity (sign-up); later ones verify the password (sign-in).

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::auth::AuthError;
use crate::auth::admission::Start;
use crate::auth::hasher::{HashError, Hasher};
use crate::auth::password::{self, PolicyError};
use crate::auth::provider::{AuthRequest, ChangeError, Identity, Outcome, Provider};
use crate::auth::throttle::{self, Refund, Throttle};
use crate::db::models::auth_users::{self, AuthUserRow};
use crate::db::{self, Db};
use crate::domain::ClientInfo;
use crate::domain::Email;

pub(crate) const NAME: &str = "emailpass";
pub(crate) const INVALID_CREDENTIALS: &str = "Invalid email or password";
const EMAIL_NOT_A_STRING: &str = "Email should be a string";
const NOT_THE_INVITED_EMAIL: &str = "Email does not match the invite";

pub(crate) struct EmailPass {
    db: Db,
    hasher: Hasher,
    throttle: Throttle,
}

/// A reservation held while its password check waits for a hashing worker. When the request
/// goes away first (its client disconnected) and no hash for it had begun, nothing was
/// checked: the attempt is given back instead of counting as a failure against the account.
struct Pending {
    reservation: Option<throttle::Reservation>,
    start: Start,
}

impl Drop for Pending {
    fn drop(&mut self) {
        let Some(reservation) = self.reservation.take() else { return };
        if !self.start.abandon() {
            // A password was (or is being) checked: the attempt stays spent.
            reservation.failed();
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            reservation.failed();
            return;
        };
        runtime.spawn(async move {
            if let Err(e) = reservation.release().await {
                tracing::warn!(error = %e, "could not give back an abandoned sign-in attempt");
            }
        });
    }
}

impl EmailPass {
    pub(crate) fn new(db: Db, hasher: Hasher, throttle: Throttle) -> EmailPass {
        EmailPass { db, hasher, throttle }
    }

    async fn find(&self, email: &Email) -> Result<Option<AuthUserRow>, AuthError> {
        let email = email.as_str().to_string();
        Ok(self.db.read(move |conn| auth_users::find(conn, NAME, &email)).await?)
    }

    /// Checks `password` against the identity's stored hash, re-hashing it when it was
    /// made with weaker parameters than configured.
    async fn password_matches(
        &self,
        hasher: &Hasher,
        row: &AuthUserRow,
        password: &SecretString,
    ) -> Result<bool, AuthError> {
        let Some(stored) = stored_hash(row) else {
            hasher.verify_dummy(password).await?;
            return Ok(false);
        };
        let verified = hasher.verify(password, &stored).await?;
        if verified.needs_rehash {
            match hasher.hash(password).await {
                Ok(rehashed) => self.store_hash(&row.id, &rehashed).await?,
                // The password is proven: a crowd must not turn that into a refusal. The
                // upgrade waits for the next sign-in.
                Err(HashError::Overloaded { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(verified.matches)
    }

    /// Checks `password` for the identity (`None`: there is none, and the check fails after
    /// as long as a real one takes) under a reservation on `keys`, taken before the check:
    /// `RATE_LIMITED` when they are at their limit, whoever else is checking at this moment.
    /// A right password returns what its success gives back, for the caller to apply with
    /// whatever the success writes; a wrong one returns `None` and stays counted.
    async fn checked(
        &self,
        keys: &[throttle::Key],
        identity: Option<&AuthUserRow>,
        password: &SecretString,
    ) -> Result<Option<Refund>, AuthError> {
        let start = Start::default();
        let mut pending = Pending { reservation: Some(self.throttle.reserve(keys).await?), start: start.clone() };
        let hasher = self.hasher.tracked(&start);
        let checked = match identity {
            // Longer than any password can be: wrong, after as long as a check takes.
            Some(row) if password::within_limits(password) => self.password_matches(&hasher, row, password).await,
            _ => hasher.verify_dummy(password).await.map(|()| false).map_err(AuthError::from),
        };
        let Some(reservation) = pending.reservation.take() else {
            return Err(AuthError::Hash(HashError::Internal("the attempt's reservation is gone".into())));
        };
        match checked {
            Ok(true) => Ok(Some(reservation.refund())),
            Ok(false) => {
                reservation.failed();
                Ok(None)
            }
            Err(e @ AuthError::Hash(HashError::Overloaded { .. })) => {
                // No password was looked at: the attempt is not spent.
                reservation.release().await?;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    async fn sign_in(
        &self,
        email: Email,
        found: Option<AuthUserRow>,
        password: &SecretString,
        req: &AuthRequest<'_>,
    ) -> Result<Outcome, AuthError> {
        let keys = self.throttle.password_check(NAME, email.as_str(), req.client.ip.as_deref());
        if let Some(refund) = self.checked(&keys, found.as_ref(), password).await? {
            // Given back by the sign-in's own transaction, whatever it decides (see
            // `Identity::refund`).
            return Ok(identity(email, found, None, Some(refund)));
        }
        if found.is_none() && req.invite.is_some() {
            // An invite under closed sign-up: the user guard refuses it in its own words.
            return Ok(identity(email, None, None, None));
        }
        // An unknown address (sign-up not open) gets the same answer, the same hash and the
        // same count as a wrong password: nothing tells whether the account exists.
        Ok(Outcome::Failed(INVALID_CREDENTIALS.into()))
    }

    async fn sign_up(
        &self,
        email: Email,
        password: &SecretString,
        req: &AuthRequest<'_>,
    ) -> Result<Outcome, AuthError> {
        if let Err(e) = password::check_new(password) {
            return Ok(Outcome::Failed(e.to_string()));
        }
        // The user guard takes the address's sign-up ration atomically with the new account
        // (not for an invite: that is a ration of its own); an address that spent it is
        // turned away here before a hash is spent.
        if req.invite.is_none()
            && let Some(ration) = self.throttle.signup(req.client.ip.as_deref())
        {
            self.throttle.check(std::slice::from_ref(&ration)).await?;
        }
        let hash = self.hasher.hash(password).await?;
        Ok(identity(email, None, Some(hash), None))
    }

    async fn store_hash(&self, auth_user_id: &str, hash: &str) -> Result<(), AuthError> {
        let (id, meta) = (auth_user_id.to_string(), metadata_for(hash));
        self.db.write(move |conn| auth_users::set_provider_metadata(conn, &id, &meta, db::now())).await?;
        Ok(())
    }
}

/// What a password proved: the identity as it was stored, or a new one with its hash.
fn identity(email: Email, existing: Option<AuthUserRow>, new_hash: Option<String>, refund: Option<Refund>) -> Outcome {
    Outcome::Authenticated(Box::new(Identity {
        provider: NAME.to_string(),
        entity_id: email.as_str().to_string(),
        email,
        existing,
        new_provider_metadata: new_hash.map(|h| json!({ "password_hash": h })),
        user_metadata: None,
        email_verified: false,
        reverify_if_raced: true,
        invite: None,
        first_name: None,
        last_name: None,
        avatar_url: None,
        refund,
    }))
}

fn metadata_for(hash: &str) -> String {
    json!({ "password_hash": hash }).to_string()
}

fn stored_hash(row: &AuthUserRow) -> Option<String> {
    let meta: Value = serde_json::from_str(row.provider_metadata.as_deref()?).ok()?;
    meta.get("password_hash")?.as_str().map(str::to_string)
}

/// Reads `{"email", "password"}`; the messages are the ones Medusa clients know.
fn parse_credentials(input: &Value) -> Result<(Email, SecretString), String> {
    let email = match input.get("email") {
        Some(Value::String(s)) => Email::parse(s).ok_or(EMAIL_NOT_A_STRING)?,
        _ => return Err(EMAIL_NOT_A_STRING.into()),
    };
    let password = password::from_input(input.get("password")).map_err(|e| e.to_string())?;
    Ok((email, password))
}

/// Reads a new password from `input[field]` and applies the policy.
pub(crate) fn parse_new_password(input: &Value, field: &str) -> Result<SecretString, PolicyError> {
    let password = password::from_input(input.get(field))?;
    password::check_new(&password)?;
    Ok(password)
}

#[async_trait]
impl Provider for EmailPass {
    /// The invite was sent to one address and is not transferable: a given e-mail must be
    /// that one, and a missing one is filled in with it.
    fn invited_input(&self, input: &Value, invited: &str) -> Result<Value, String> {
        let mut input = input.clone();
        if let Value::Object(map) = &mut input {
            match map.get("email") {
                Some(Value::String(given)) if Email::parse(given).is_some_and(|e| e.as_str() != invited) => {
                    return Err(NOT_THE_INVITED_EMAIL.into());
                }
                Some(Value::String(_)) => {}
                _ => {
                    map.insert("email".into(), Value::String(invited.to_string()));
                }
            }
        }
        Ok(input)
    }

    fn name(&self) -> &str {
        NAME
    }

    async fn authenticate(&self, req: &AuthRequest<'_>) -> Result<Outcome, AuthError> {
        let (email, password) = match parse_credentials(req.input) {
            Ok(c) => c,
            Err(message) => return Ok(Outcome::Failed(message)),
        };
        // Every path below hashes once; when the wait for a worker is already too long, say
        // so before any database work, so the excess of a crowd is turned away fast instead
        // of queueing on reads.
        self.hasher.admits()?;
        match self.find(&email).await? {
            None if req.may_create => self.sign_up(email, &password, req).await,
            found => self.sign_in(email, found, &password, req).await,
        }
    }

    async fn update(&self, identity: &AuthUserRow, input: &Value, client: &ClientInfo) -> Result<(), ChangeError> {
        let current = match password::from_input(input.get("currentPassword")) {
            Ok(p) => p,
            Err(_) => return Err(ChangeError::Refused("Current password should be a string".into())),
        };
        let new = match parse_new_password(input, "password") {
            Ok(p) => p,
            Err(e) => return Err(ChangeError::Refused(e.to_string())),
        };
        let keys = self.throttle.password_check(NAME, &identity.entity_id, client.ip.as_deref());
        let Some(refund) = self.checked(&keys, Some(identity), &current).await? else {
            return Err(ChangeError::Refused("Current password is incorrect".into()));
        };
        // Proven before the new password is looked at, as a check of its own: given back now.
        self.throttle.give_back(refund).await.map_err(AuthError::from)?;
        if new.expose_secret() == current.expose_secret() {
            return Err(ChangeError::Refused("New password must differ from the current one".into()));
        }
        let hash = self.hasher.hash(&new).await.map_err(AuthError::from)?;
        self.store_hash(&identity.id, &hash).await?;
        Ok(())
    }

    fn reset_entity(&self, entity_id: &str) -> Result<String, String> {
        Email::parse(entity_id).map(|e| e.as_str().to_string()).ok_or_else(|| EMAIL_NOT_A_STRING.to_string())
    }

    async fn reset(&self, identity: &AuthUserRow, input: &Value) -> Result<(), ChangeError> {
        let new = match parse_new_password(input, "password") {
            Ok(p) => p,
            Err(e) => return Err(ChangeError::Refused(e.to_string())),
        };
        let hash = self.hasher.hash(&new).await.map_err(AuthError::from)?;
        self.store_hash(&identity.id, &hash).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_messages_match_the_contract() {
        let err = |v: Value| parse_credentials(&v).unwrap_err();
        assert_eq!(err(json!({"password": "longenough1"})), EMAIL_NOT_A_STRING);
        assert_eq!(err(json!({"email": 5, "password": "longenough1"})), EMAIL_NOT_A_STRING);
        assert_eq!(err(json!({"email": "not-an-email", "password": "longenough1"})), EMAIL_NOT_A_STRING);
        assert_eq!(err(json!({"email": "", "password": "x"})), EMAIL_NOT_A_STRING);
        assert_eq!(err(json!({"email": "a@b.co", "password": 12345678})), "Password should be a string");
        assert_eq!(err(json!({"email": "a@b.co"})), "Password should be a string");
        assert_eq!(err(json!("just a string")), EMAIL_NOT_A_STRING);
        assert_eq!(err(json!([1, 2])), EMAIL_NOT_A_STRING);
        let (email, _) = parse_credentials(&json!({"email": " A@B.Co ", "password": "x"})).expect("valid");
        assert_eq!(email.as_str(), "a@b.co");
    }

    #[test]
    fn stored_hash_reads_provider_metadata() {
        let row = |meta: Option<&str>| AuthUserRow {
            id: "i".into(),
            provider: NAME.into(),
            entity_id: "a@b.co".into(),
            user_id: None,
            provider_metadata: meta.map(str::to_string),
            user_metadata: None,
            app_metadata: None,
            created_at: db::now(),
            updated_at: db::now(),
        };
        assert_eq!(stored_hash(&row(Some(&metadata_for("$argon2id$x")))), Some("$argon2id$x".into()));
        assert_eq!(stored_hash(&row(None)), None);
        assert_eq!(stored_hash(&row(Some("{}"))), None);
        assert_eq!(stored_hash(&row(Some("not json"))), None);
    }
}

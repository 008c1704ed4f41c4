//! Credentials after sign-up: changing them while signed in (`updateProvider`), and the
//! forgotten-password path (`requestPasswordReset` mails a single-use link,
//! `resetPassword` spends it). The providers own the credentials and the policy; this
//! service owns tokens, mail and the sessions a change must end.

use chrono::TimeDelta;

use serde_json::Value;

use crate::accounts::one_time_tokens::{self, Purpose};
use crate::accounts::sessions::CurrentSession;
use crate::accounts::sign_in::Authenticator;
use crate::auth::provider::ChangeError;
use crate::auth::{AuthError, Throttle};
use crate::db::models::auth_users;
use crate::db::models::{sessions, users};
use crate::db::{self, Db, DbError};
use crate::domain::ClientInfo;
use crate::mail::Mailer;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The input was refused, with a reason for people (policy, wrong current password).
    #[error("{0}")]
    Invalid(String),
    #[error("Reset link is invalid or has expired")]
    LinkInvalid,
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<ChangeError> for PasswordError {
    fn from(e: ChangeError) -> Self {
        match e {
            ChangeError::Refused(reason) => PasswordError::Invalid(reason),
            ChangeError::Auth(e) => PasswordError::Auth(e),
        }
    }
}

#[derive(Clone)]
pub struct Passwords {
    db: Db,
    authenticator: Authenticator,
    throttle: Throttle,
    mailer: Mailer,
    reset_ttl: TimeDelta,
    /// The window mails are rationed in (the throttle's).
    window: TimeDelta,
}

impl Passwords {
    pub fn new(
        db: Db,
        authenticator: Authenticator,
        throttle: Throttle,
        mailer: Mailer,
        reset_ttl: TimeDelta,
        window: TimeDelta,
    ) -> Passwords {
        Passwords { db, authenticator, throttle, mailer, reset_ttl, window }
    }

    /// Changes the caller's credentials with `provider` (for emailpass: the current password
    /// and a new one), then ends every other session of theirs and any reset link in flight.
    /// The provider throttles its check of the current credentials like a sign-in.
    pub async fn update(
        &self,
        caller: &CurrentSession,
        provider_name: &str,
        input: &Value,
        client: &ClientInfo,
    ) -> Result<(), PasswordError> {
        let provider = self.authenticator.provider(provider_name)?;
        let user_id = caller.user.id.clone();
        let identity = self
            .db
            .read(move |conn| auth_users::for_users(conn, &[user_id]))
            .await?
            .into_iter()
            .find(|a| a.provider == provider.name())
            .ok_or_else(|| PasswordError::Invalid(format!("You do not sign in with {}", provider.name())))?;
        provider.update(&identity, input, client).await?;

        let (user_id, keep, auth_user_id) = (caller.user.id.clone(), caller.session.id.clone(), identity.id.clone());
        let ended = self
            .db
            .write(move |conn| {
                one_time_tokens::revoke_for_auth_user(conn, Purpose::PasswordReset, &auth_user_id)?;
                sessions::delete_for_user_except(conn, &user_id, &keep)
            })
            .await?;
        tracing::info!(
            target: "audit",
            event = "credentials_changed",
            user_id = %caller.user.id,
            provider = provider.name(),
            other_sessions_ended = ended
        );
        Ok(())
    }

    /// Mails a reset link when `entity_id` names an identity of a live user. Says nothing
    /// either way, and does the same database work either way, so neither the answer nor its
    /// timing tells whether the identity exists; the mail itself goes through the queue.
    /// Rationed per identity and per client address ([`one_time_tokens::ration_in`]).
    pub async fn request_reset(
        &self,
        provider_name: &str,
        entity_id: &str,
        client: &ClientInfo,
    ) -> Result<(), PasswordError> {
        let provider = self.authenticator.provider(provider_name)?;
        let entity = provider.reset_entity(entity_id).map_err(PasswordError::Invalid)?;
        let name = provider.name().to_string();
        let (ttl, window, address, provider_name) = (self.reset_ttl, self.window, client.ip.clone(), name.clone());
        let outcome = self
            .db
            .write(move |conn| {
                let now = db::now();
                let identity = auth_users::find(conn, &provider_name, &entity)?;
                let user = match identity.as_ref().and_then(|a| a.user_id.as_deref()) {
                    Some(user_id) => users::find_live(conn, user_id)?,
                    None => None,
                };
                // Rationed whether or not the identity exists: the same work both ways.
                let recipient = format!("{provider_name}:{entity}");
                if !one_time_tokens::ration_in(conn, Purpose::PasswordReset, &recipient, address.as_deref(), window)? {
                    return Ok(Reset::Withheld);
                }
                match (identity, user) {
                    (Some(identity), Some(user)) => {
                        let token = one_time_tokens::issue_in(
                            conn,
                            Purpose::PasswordReset,
                            &user.id,
                            Some(&identity.id),
                            ttl,
                            now,
                        )?;
                        Ok(Reset::Mail { to: identity.entity_id, token, user_id: user.id })
                    }
                    _ => Ok(Reset::Nobody),
                }
            })
            .await?;
        match outcome {
            Reset::Mail { to, token, user_id } => {
                self.mailer.send_password_reset(&to, &token, ttl);
                tracing::info!(target: "audit", event = "password_reset_requested", %user_id, provider = %name);
            }
            Reset::Withheld => tracing::info!(target: "audit", event = "password_reset_withheld", provider = %name),
            Reset::Nobody => {}
        }
        Ok(())
    }

    /// Sets new credentials with a reset token, then ends every session of the user. The
    /// token is spent only when the new credentials were accepted.
    pub async fn reset(&self, raw_token: &str, input: &Value) -> Result<(), PasswordError> {
        let raw = raw_token.to_string();
        let taken = self
            .db
            .write(move |conn| {
                let Some(row) = one_time_tokens::take_in(conn, Purpose::PasswordReset, &raw, db::now())? else {
                    return Ok(None);
                };
                let identity = match row.auth_user_id.as_deref() {
                    Some(id) => auth_users::find_by_id(conn, id)?,
                    None => None,
                };
                let live = users::find_live(conn, &row.user_id)?.is_some();
                Ok(identity.filter(|a| live && a.user_id.as_deref() == Some(row.user_id.as_str())).map(|a| (row, a)))
            })
            .await?;
        let Some((row, identity)) = taken else { return Err(PasswordError::LinkInvalid) };
        let provider = self.authenticator.provider(&identity.provider).map_err(|_| PasswordError::LinkInvalid)?;

        if let Err(refused) = provider.reset(&identity, input).await {
            let error = PasswordError::from(refused);
            self.db.write(move |conn| one_time_tokens::restore_in(conn, &row)).await?;
            return Err(error);
        }

        let user_id = row.user_id.clone();
        let ended = self.db.write(move |conn| sessions::delete_for_user(conn, &user_id)).await?;
        // Whoever was locked out by failed sign-ins has just proved they own the account.
        self.throttle.forgive(&self.throttle.account(&identity.provider, &identity.entity_id)).await?;
        tracing::info!(
            target: "audit",
            event = "password_reset",
            user_id = %row.user_id,
            provider = %identity.provider,
            sessions_ended = ended
        );
        Ok(())
    }
}

enum Reset {
    Mail { to: String, token: String, user_id: String },
    Withheld,
    Nobody,
}

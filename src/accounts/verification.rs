//! E-mail verification: a signed-in user asks for a link (`requestEmailVerification`), and
//! following it (`verifyEmail`) proves they read mail at their address, which sets
//! `User.emailVerified`. Users who arrive through a verified provider or an invite are
//! verified already and get no mail.

use chrono::TimeDelta;

use crate::accounts::one_time_tokens::{self, Purpose};
use crate::db::models::users::{self, UserRow};
use crate::db::{self, Db, DbError};
use crate::mail::Mailer;

/// How long a verification link works.
pub const VERIFY_TTL: TimeDelta = TimeDelta::hours(24);

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("Verification link is invalid or has expired")]
    LinkInvalid,
    /// The link was mailed to someone else: only they, signed in, may use it.
    #[error("This verification link belongs to another account")]
    NotYours,
    #[error(transparent)]
    Db(#[from] DbError),
}

#[derive(Clone)]
pub struct Verification {
    db: Db,
    mailer: Mailer,
    /// The window mails are rationed in (the throttle's).
    window: TimeDelta,
}

impl Verification {
    pub fn new(db: Db, mailer: Mailer, window: TimeDelta) -> Verification {
        Verification { db, mailer, window }
    }

    /// Mails a verification link to the user's address, unless it is verified already (or
    /// too many went out lately). A new link replaces earlier ones.
    pub async fn request(&self, user: &UserRow) -> Result<(), DbError> {
        if user.email_verified {
            return Ok(());
        }
        let (user_id, window) = (user.id.clone(), self.window);
        let issued = self
            .db
            .write(move |conn| {
                let now = db::now();
                let Some(user) = users::find_live(conn, &user_id)? else { return Ok(None) };
                if user.email_verified
                    || !one_time_tokens::ration_in(conn, Purpose::EmailVerification, &user.id, None, window)?
                {
                    return Ok(None);
                }
                let token =
                    one_time_tokens::issue_in(conn, Purpose::EmailVerification, &user.id, None, VERIFY_TTL, now)?;
                Ok(Some((user.email, token)))
            })
            .await?;
        match issued {
            Some((to, token)) => {
                self.mailer.send_email_verification(&to, &token);
                tracing::info!(target: "audit", event = "email_verification_requested", user_id = %user.id);
            }
            None => {
                tracing::info!(target: "audit", event = "email_verification_withheld", user_id = %user.id)
            }
        }
        Ok(())
    }

    /// Spends a verification token of the signed-in `caller` and marks their address
    /// verified. A token issued to anyone else is refused and stays unspent.
    ///
    /// The session is what makes this safe: otherwise whoever set a password on an address
    /// they do not own could have the owner verify it by opening the mailed link (or a mail
    /// scanner do it for them), and a verified account keeps its password when the owner
    /// later signs in with a provider that proves the address (pre-account takeover).
    pub async fn verify(&self, caller: &UserRow, raw_token: &str) -> Result<(), VerifyError> {
        let (raw, caller_id) = (raw_token.to_string(), caller.id.clone());
        self.db
            .write(move |conn| {
                let now = db::now();
                match one_time_tokens::owner_in(conn, Purpose::EmailVerification, &raw)? {
                    None => return Ok(Err(VerifyError::LinkInvalid)),
                    Some(owner) if owner != caller_id => return Ok(Err(VerifyError::NotYours)),
                    Some(_) => {}
                }
                let Some(row) = one_time_tokens::take_in(conn, Purpose::EmailVerification, &raw, now)? else {
                    return Ok(Err(VerifyError::LinkInvalid));
                };
                let Some(user) = users::find_live(conn, &row.user_id)? else {
                    return Ok(Err(VerifyError::LinkInvalid));
                };
                users::mark_email_verified(conn, &user.id, now)?;
                Ok(Ok(()))
            })
            .await??;
        tracing::info!(target: "audit", event = "email_verified", user_id = %caller.id);
        Ok(())
    }
}

//! E-mail verification: a signed-in user asks for a link (`requestEmailVerification`), and
//! following it (`verifyEmail`) proves they read mail at their address, which sets
//! `User.emailVerified`. Users who arrive through a verified provider or an invite are
//! verified already and get no mail.

use std::time::Duration;

use crate::db::models::users::{self, UserRow};
use crate::db::{self, Db, DbError};
use crate::mail::Mailer;
use crate::mail_tokens::{self, Purpose};

/// How long a verification link works.
pub const VERIFY_TTL: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("Verification link is invalid or has expired")]
    LinkInvalid,
    #[error(transparent)]
    Db(#[from] DbError),
}

#[derive(Clone)]
pub struct Verification {
    db: Db,
    mailer: Mailer,
    /// The window mails are rationed in (the throttle's).
    window: Duration,
}

impl Verification {
    pub fn new(db: Db, mailer: Mailer, window: Duration) -> Verification {
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
                    || !mail_tokens::ration_in(conn, Purpose::EmailVerification, &user.id, None, window)?
                {
                    return Ok(None);
                }
                let token = mail_tokens::issue_in(conn, Purpose::EmailVerification, &user.id, None, VERIFY_TTL, now)?;
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

    /// Spends a verification token and marks its user's address verified.
    pub async fn verify(&self, raw_token: &str) -> Result<(), VerifyError> {
        let raw = raw_token.to_string();
        let verified = self
            .db
            .write(move |conn| {
                let now = db::now();
                let Some(row) = mail_tokens::take_in(conn, Purpose::EmailVerification, &raw, now)? else {
                    return Ok(None);
                };
                let Some(user) = users::find_live(conn, &row.user_id)? else { return Ok(None) };
                users::mark_email_verified(conn, &user.id, now)?;
                Ok(Some(user.id))
            })
            .await?;
        let user_id = verified.ok_or(VerifyError::LinkInvalid)?;
        tracing::info!(target: "audit", event = "email_verified", %user_id);
        Ok(())
    }
}

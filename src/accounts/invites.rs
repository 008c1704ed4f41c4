//! Invites: an admin offers an account to an address; the token (mailed, stored only as a
//! hash) is redeemed once through acceptInvite.

use chrono::TimeDelta;
use serde_json::Value;

use crate::db::models::invites::{self, InviteRow};
use crate::db::models::users;
use crate::db::{self, Db, DbError};
use crate::domain::Email;
use crate::domain::Role;
use crate::domain::token;
use crate::mail::Mailer;

#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    #[error("Invite not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// An invite as just made or refreshed: the token exists only here.
pub struct IssuedInvite {
    pub row: InviteRow,
    pub token: String,
}

#[derive(Clone)]
pub struct Invites {
    db: Db,
    ttl: TimeDelta,
    mailer: Mailer,
}

impl Invites {
    pub(crate) fn new(db: Db, ttl: TimeDelta, mailer: Mailer) -> Invites {
        Invites { db, ttl, mailer }
    }

    /// Mails the invite's link to its address (a refresh sends the new one: the old is dead).
    fn mail(&self, issued: &IssuedInvite) {
        self.mailer.send_invite(&issued.row.email, &issued.token, issued.row.role());
    }

    fn expiry(&self) -> chrono::NaiveDateTime {
        db::now() + self.ttl
    }

    pub async fn create(
        &self,
        email: &str,
        role: Role,
        metadata: Option<Value>,
        created_by: &str,
    ) -> Result<IssuedInvite, InviteError> {
        let email = Email::parse(email).ok_or_else(|| InviteError::Invalid("Email is not a valid address".into()))?;
        let metadata = metadata.map(|m| m.to_string());
        if metadata.as_ref().is_some_and(|m| m.len() > 16 * 1024) {
            return Err(InviteError::Invalid("metadata must be at most 16384 bytes of JSON".into()));
        }
        let new = token::generate();
        let now = db::now();
        let row = InviteRow {
            id: db::new_id(),
            email: email.as_str().to_string(),
            role: role.as_db().to_string(),
            token_hash: new.hash,
            accepted: false,
            expires_at: self.expiry(),
            metadata,
            created_by: Some(created_by.to_string()),
            created_at: now,
            updated_at: now,
        };
        let result = self
            .db
            .write({
                let row = row.clone();
                move |conn| {
                    if users::find_live_by_email(conn, &row.email)?.is_some() {
                        return Ok(Err(InviteError::Conflict("A user with this email already exists".into())));
                    }
                    invites::delete_expired_for_email(conn, &row.email, now)?;
                    invites::insert(conn, &row)?;
                    Ok(Ok(()))
                }
            })
            .await;
        match result {
            Ok(Ok(())) => {
                let issued = IssuedInvite { row, token: new.token };
                self.mail(&issued);
                Ok(issued)
            }
            Ok(Err(e)) => Err(e),
            // The partial unique index: an open invite for this address already exists.
            Err(DbError::Conflict(_)) => {
                Err(InviteError::Conflict("A pending invite for this email already exists".into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A new token and expiry; the old token stops working at once, and the new one is mailed.
    pub async fn refresh(&self, id: &str) -> Result<IssuedInvite, InviteError> {
        let new = token::generate();
        let (id, hash, expires_at) = (id.to_string(), new.hash.clone(), self.expiry());
        let row = self
            .db
            .write(move |conn| {
                let Some(invite) = invites::find(conn, &id)? else { return Ok(Err(InviteError::NotFound)) };
                if invite.accepted {
                    return Ok(Err(InviteError::Conflict("The invite was already accepted".into())));
                }
                invites::set_token(conn, &id, &hash, expires_at, db::now())?;
                Ok(Ok(invites::find(conn, &id)?.ok_or(DbError::NotFound)?))
            })
            .await??;
        let issued = IssuedInvite { row, token: new.token };
        self.mail(&issued);
        Ok(issued)
    }

    pub async fn delete(&self, id: &str) -> Result<(), InviteError> {
        let id = id.to_string();
        if self.db.write(move |conn| invites::delete(conn, &id)).await? { Ok(()) } else { Err(InviteError::NotFound) }
    }

    /// The open (unused, unexpired) invite a token stands for.
    pub async fn find_open_by_token(&self, raw: &str) -> Result<Option<InviteRow>, DbError> {
        let Some(valid) = token::parse(raw) else { return Ok(None) };
        let hash = token::hash(valid);
        self.db.read(move |conn| invites::find_open_by_token_hash(conn, &hash, db::now())).await
    }

    pub async fn list(&self, accepted: Option<bool>, skip: i64, take: i64) -> Result<(Vec<InviteRow>, i64), DbError> {
        self.db.read_consistent(move |conn| invites::list_and_count(conn, accepted, skip, take)).await
    }
}

//! Single-use tokens that travel by e-mail (password reset, e-mail verification): issued
//! replacing earlier ones of the same purpose, taken exactly once, and rationed per
//! recipient so that nobody can make the server flood a mailbox. Every function runs inside
//! the caller's transaction.

use chrono::{NaiveDateTime, TimeDelta};

use crate::auth::throttle::{self, Key};
use crate::db::models::one_time_tokens::{self, OneTimeTokenRow};
use crate::db::{self, DbConnection, DbError};
pub use crate::domain::Purpose;
use crate::domain::token;

/// At most this many mails of one purpose to one recipient per throttle window
/// (`AUTHQL_THROTTLE_WINDOW`); further requests are answered as usual and send nothing.
pub const MAILS_PER_WINDOW: u32 = 3;

/// At most this many mail requests of one purpose from one client address per throttle
/// window, whoever they name (so one client cannot mail a whole list of addresses); further
/// requests are answered as usual and send nothing.
pub const MAILS_PER_ADDRESS: u32 = 20;

/// The `auth_attempts` scope that counts a purpose's mails per recipient.
fn ration_scope(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::PasswordReset => "mail_password_reset",
        Purpose::EmailVerification => "mail_email_verification",
    }
}

/// The scope that counts a purpose's requests per client address.
fn address_scope(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::PasswordReset => "mail_password_reset_ip",
        Purpose::EmailVerification => "mail_email_verification_ip",
    }
}

/// Counts one more mail for `subject` (and from `address`, when known) and says whether it
/// may go: false once [`MAILS_PER_WINDOW`] went to the subject, or [`MAILS_PER_ADDRESS`] were
/// asked for from the address, within `window`. Counted with the throttle's reservation, so
/// concurrent requests (on any instance) cannot both take the last one.
pub fn ration_in(
    conn: &mut DbConnection,
    purpose: Purpose,
    subject: &str,
    address: Option<&str>,
    window: TimeDelta,
) -> Result<bool, DbError> {
    let recipient = Key::new(ration_scope(purpose), subject, MAILS_PER_WINDOW, window);
    let from = address.map(|ip| Key::new(address_scope(purpose), ip, MAILS_PER_ADDRESS, window));
    let keys: Vec<Key> = std::iter::once(recipient).chain(from).collect();
    Ok(throttle::reserve_in(conn, &keys)?.is_ok())
}

/// A new token for a user (and, for credentials, one identity); earlier tokens of the same
/// purpose stop working. Returns the token, which exists only in the mail from here on.
pub fn issue_in(
    conn: &mut DbConnection,
    purpose: Purpose,
    user_id: &str,
    auth_user_id: Option<&str>,
    ttl: TimeDelta,
    now: NaiveDateTime,
) -> Result<String, DbError> {
    match auth_user_id {
        Some(id) => one_time_tokens::delete_for_auth_user(conn, purpose, id)?,
        None => one_time_tokens::delete_for_user(conn, purpose, user_id)?,
    };
    let new = token::generate();
    let row = OneTimeTokenRow {
        id: db::new_id(),
        purpose: purpose.as_db().to_string(),
        token_hash: new.hash,
        user_id: user_id.to_string(),
        auth_user_id: auth_user_id.map(str::to_string),
        expires_at: now + ttl,
        created_at: now,
    };
    one_time_tokens::insert(conn, &row)?;
    Ok(new.token)
}

/// Spends a token: the row it stood for, if it was live; it never works again.
pub fn take_in(
    conn: &mut DbConnection,
    purpose: Purpose,
    raw: &str,
    now: NaiveDateTime,
) -> Result<Option<OneTimeTokenRow>, DbError> {
    let Some(valid) = token::parse(raw) else { return Ok(None) };
    one_time_tokens::take(conn, purpose, &token::hash(valid), now)
}

/// Whom a token was issued to, without spending it: `None` when it names no token of this
/// purpose (expired ones included: their owner is still who they were for).
pub fn owner_in(conn: &mut DbConnection, purpose: Purpose, raw: &str) -> Result<Option<String>, DbError> {
    let Some(valid) = token::parse(raw) else { return Ok(None) };
    Ok(one_time_tokens::find(conn, purpose, &token::hash(valid))?.map(|row| row.user_id))
}

/// Puts back a token taken by a request that then failed for a reason of its own (a
/// refused password), so the person can try again with the same link. Not when a newer
/// token of the same purpose was issued meanwhile: that one replaced it.
pub fn restore_in(conn: &mut DbConnection, row: &OneTimeTokenRow) -> Result<(), DbError> {
    let replaced = match &row.auth_user_id {
        Some(id) => one_time_tokens::exists_for_auth_user(conn, &row.purpose, id)?,
        None => one_time_tokens::exists_for_user(conn, &row.purpose, &row.user_id)?,
    };
    if !replaced {
        one_time_tokens::insert(conn, row)?;
    }
    Ok(())
}

/// Forgets every token of `purpose` for an identity (its credentials changed otherwise).
pub fn revoke_for_auth_user(conn: &mut DbConnection, purpose: Purpose, auth_user_id: &str) -> Result<(), DbError> {
    one_time_tokens::delete_for_auth_user(conn, purpose, auth_user_id)?;
    Ok(())
}

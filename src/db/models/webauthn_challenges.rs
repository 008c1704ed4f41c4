//! `webauthn_challenges`: the server side of WebAuthn ceremonies in flight, found by the
//! SHA-256 of their challenge (sign-in) or by the session that began them (registration),
//! and deleted when taken, so that each is answered at most once.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::webauthn_challenges;
use crate::db::{DbConnection, DbError};

pub const REGISTRATION: &str = "registration";
pub const AUTHENTICATION: &str = "authentication";

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webauthn_challenges)]
pub struct ChallengeRow {
    pub challenge_hash: String,
    pub purpose: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    /// webauthn-rs's ceremony state (the challenge and the policy it was issued under).
    pub state: String,
    pub expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

// The state holds the challenge; it stays out of logs with the rest.
impl std::fmt::Debug for ChallengeRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChallengeRow").field("purpose", &self.purpose).field("expires_at", &self.expires_at).finish()
    }
}

pub fn insert(conn: &mut DbConnection, row: &ChallengeRow) -> Result<(), DbError> {
    diesel::insert_into(webauthn_challenges::table).values(row).execute(conn)?;
    Ok(())
}

/// A session has at most one registration in flight: a new one replaces the last.
pub fn replace_registration(conn: &mut DbConnection, row: &ChallengeRow) -> Result<(), DbError> {
    diesel::delete(
        webauthn_challenges::table
            .filter(webauthn_challenges::purpose.eq(REGISTRATION))
            .filter(webauthn_challenges::session_id.eq(&row.session_id)),
    )
    .execute(conn)?;
    insert(conn, row)
}

/// Takes the registration the session began, for this user: `None` when there is none or a
/// concurrent request took it first (its delete is the one that counted).
pub fn take_registration(
    conn: &mut DbConnection,
    session_id: &str,
    user_id: &str,
) -> Result<Option<ChallengeRow>, DbError> {
    let mine = || {
        webauthn_challenges::table
            .filter(webauthn_challenges::purpose.eq(REGISTRATION))
            .filter(webauthn_challenges::session_id.eq(session_id))
            .filter(webauthn_challenges::user_id.eq(user_id))
    };
    let Some(row) = mine().select(ChallengeRow::as_select()).first(conn).optional()? else {
        return Ok(None);
    };
    let taken =
        diesel::delete(webauthn_challenges::table.filter(webauthn_challenges::challenge_hash.eq(&row.challenge_hash)))
            .execute(conn)?;
    Ok((taken == 1).then_some(row))
}

/// Takes the sign-in challenge with this hash; `None` as for [`take_registration`].
pub fn take_authentication(conn: &mut DbConnection, challenge_hash: &str) -> Result<Option<ChallengeRow>, DbError> {
    let mine = || {
        webauthn_challenges::table
            .filter(webauthn_challenges::purpose.eq(AUTHENTICATION))
            .filter(webauthn_challenges::challenge_hash.eq(challenge_hash))
    };
    let Some(row) = mine().select(ChallengeRow::as_select()).first(conn).optional()? else {
        return Ok(None);
    };
    let taken = diesel::delete(mine()).execute(conn)?;
    Ok((taken == 1).then_some(row))
}

pub fn delete_for_user(conn: &mut DbConnection, user_id: &str) -> Result<usize, DbError> {
    Ok(diesel::delete(webauthn_challenges::table.filter(webauthn_challenges::user_id.eq(user_id))).execute(conn)?)
}

pub fn delete_expired(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(webauthn_challenges::table.filter(webauthn_challenges::expires_at.le(now))).execute(conn)?)
}

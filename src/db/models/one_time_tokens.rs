//! `one_time_tokens`: single-use secrets mailed to people (password reset, e-mail
//! verification), found by the SHA-256 of the token.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::one_time_tokens;
use crate::db::{DbConnection, DbError};
use crate::domain::Purpose;

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = one_time_tokens)]
pub struct OneTimeTokenRow {
    pub id: String,
    pub purpose: String,
    pub token_hash: String,
    pub user_id: String,
    pub auth_user_id: Option<String>,
    pub expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, row: &OneTimeTokenRow) -> Result<(), DbError> {
    diesel::insert_into(one_time_tokens::table).values(row).execute(conn)?;
    Ok(())
}

/// Removes a user's tokens of one purpose (a new one replaces them, or they are spent).
pub fn delete_for_user(conn: &mut DbConnection, purpose: Purpose, user_id: &str) -> Result<usize, DbError> {
    Ok(diesel::delete(
        one_time_tokens::table
            .filter(one_time_tokens::purpose.eq(purpose.as_db()))
            .filter(one_time_tokens::user_id.eq(user_id)),
    )
    .execute(conn)?)
}

/// Removes an identity's tokens of one purpose.
pub fn delete_for_auth_user(conn: &mut DbConnection, purpose: Purpose, auth_user_id: &str) -> Result<usize, DbError> {
    Ok(diesel::delete(
        one_time_tokens::table
            .filter(one_time_tokens::purpose.eq(purpose.as_db()))
            .filter(one_time_tokens::auth_user_id.eq(auth_user_id)),
    )
    .execute(conn)?)
}

/// The token with this hash and purpose, live or expired, without spending it.
pub fn find(conn: &mut DbConnection, purpose: Purpose, token_hash: &str) -> Result<Option<OneTimeTokenRow>, DbError> {
    Ok(one_time_tokens::table
        .filter(one_time_tokens::token_hash.eq(token_hash))
        .filter(one_time_tokens::purpose.eq(purpose.as_db()))
        .select(OneTimeTokenRow::as_select())
        .first(conn)
        .optional()?)
}

/// Deletes the token with this hash and purpose and returns it, if it was still live.
/// Single use even under concurrency: of two transactions taking one token, only the one
/// whose delete removed the row gets it.
pub fn take(
    conn: &mut DbConnection,
    purpose: Purpose,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<OneTimeTokenRow>, DbError> {
    let found = one_time_tokens::table
        .filter(one_time_tokens::token_hash.eq(token_hash))
        .filter(one_time_tokens::purpose.eq(purpose.as_db()))
        .select(OneTimeTokenRow::as_select())
        .first(conn)
        .optional()?;
    let Some(row) = found else { return Ok(None) };
    let deleted = diesel::delete(one_time_tokens::table.filter(one_time_tokens::id.eq(&row.id))).execute(conn)?;
    // An expired token is removed all the same: it can never be used.
    Ok((deleted == 1 && row.expires_at > now).then_some(row))
}

pub fn delete_expired(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(one_time_tokens::table.filter(one_time_tokens::expires_at.le(now))).execute(conn)?)
}

/// Whether a token of this purpose (its stored form, as a row carries it) is out.
pub fn exists_for_user(conn: &mut DbConnection, stored_purpose: &str, user_id: &str) -> Result<bool, DbError> {
    let n: i64 = one_time_tokens::table
        .filter(one_time_tokens::purpose.eq(stored_purpose))
        .filter(one_time_tokens::user_id.eq(user_id))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Whether a token of this purpose (its stored form, as a row carries it) is out.
pub fn exists_for_auth_user(
    conn: &mut DbConnection,
    stored_purpose: &str,
    auth_user_id: &str,
) -> Result<bool, DbError> {
    let n: i64 = one_time_tokens::table
        .filter(one_time_tokens::purpose.eq(stored_purpose))
        .filter(one_time_tokens::auth_user_id.eq(auth_user_id))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

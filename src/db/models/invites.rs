//! `invites`: an admin's offer of an account to an address, redeemed once by its token.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::invites;
use crate::db::{DbConnection, DbError};
use crate::domain::Role;

#[derive(Clone, Debug, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = invites)]
pub struct InviteRow {
    pub id: String,
    pub email: String,
    pub role: String,
    pub token_hash: String,
    pub accepted: bool,
    pub expires_at: NaiveDateTime,
    pub metadata: Option<String>,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl InviteRow {
    /// The stored role, read the one way ([`Role::from_db`]).
    pub fn role(&self) -> Role {
        Role::from_db(&self.role)
    }
}

pub fn insert(conn: &mut DbConnection, row: &InviteRow) -> Result<(), DbError> {
    diesel::insert_into(invites::table).values(row).execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<InviteRow>, DbError> {
    Ok(invites::table.filter(invites::id.eq(id)).select(InviteRow::as_select()).first(conn).optional()?)
}

/// An invite that can still be accepted (not used, not expired) with the token whose hash
/// is `token_hash` (not an older one).
pub fn find_open(
    conn: &mut DbConnection,
    id: &str,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<InviteRow>, DbError> {
    Ok(invites::table
        .filter(invites::id.eq(id))
        .filter(invites::token_hash.eq(token_hash))
        .filter(invites::accepted.eq(false))
        .filter(invites::expires_at.gt(now))
        .select(InviteRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_open_by_token_hash(
    conn: &mut DbConnection,
    hash: &str,
    now: NaiveDateTime,
) -> Result<Option<InviteRow>, DbError> {
    Ok(invites::table
        .filter(invites::token_hash.eq(hash))
        .filter(invites::accepted.eq(false))
        .filter(invites::expires_at.gt(now))
        .select(InviteRow::as_select())
        .first(conn)
        .optional()?)
}

/// Marks an open invite used, if its token is still the one with hash `token_hash`; false
/// when someone else used it first or it was refreshed meanwhile (PostgreSQL checks the
/// condition again on the row a concurrent refresh left).
pub fn mark_accepted(conn: &mut DbConnection, id: &str, token_hash: &str, now: NaiveDateTime) -> Result<bool, DbError> {
    Ok(diesel::update(
        invites::table
            .filter(invites::id.eq(id))
            .filter(invites::token_hash.eq(token_hash))
            .filter(invites::accepted.eq(false)),
    )
    .set((invites::accepted.eq(true), invites::updated_at.eq(now)))
    .execute(conn)?
        == 1)
}

pub fn list_and_count(
    conn: &mut DbConnection,
    accepted: Option<bool>,
    skip: i64,
    take: i64,
) -> Result<(Vec<InviteRow>, i64), DbError> {
    let filtered = || {
        let mut q = invites::table.into_boxed::<crate::db::MultiBackend>();
        if let Some(a) = accepted {
            q = q.filter(invites::accepted.eq(a));
        }
        q
    };
    let total: i64 = filtered().count().get_result(conn)?;
    let rows = filtered()
        .order((invites::created_at.desc(), invites::id.desc()))
        .offset(skip)
        .limit(take)
        .select(InviteRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// Removes unaccepted invites for an address that can no longer be used.
pub fn delete_expired_for_email(conn: &mut DbConnection, email: &str, now: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(
        invites::table
            .filter(invites::email.eq(email))
            .filter(invites::accepted.eq(false))
            .filter(invites::expires_at.le(now)),
    )
    .execute(conn)?)
}

pub fn set_token(
    conn: &mut DbConnection,
    id: &str,
    token_hash: &str,
    expires_at: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(invites::table.filter(invites::id.eq(id)))
        .set((invites::token_hash.eq(token_hash), invites::expires_at.eq(expires_at), invites::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

pub fn delete(conn: &mut DbConnection, id: &str) -> Result<bool, DbError> {
    Ok(diesel::delete(invites::table.filter(invites::id.eq(id))).execute(conn)? == 1)
}

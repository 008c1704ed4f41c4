//! `invites`: an admin's offer of an account to an address, redeemed once by its token.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::invites;
use crate::db::{DbConnection, DbError};

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

pub fn insert(conn: &mut DbConnection, row: &InviteRow) -> Result<(), DbError> {
    diesel::insert_into(invites::table).values(row).execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<InviteRow>, DbError> {
    Ok(invites::table.filter(invites::id.eq(id)).select(InviteRow::as_select()).first(conn).optional()?)
}

/// An invite that can still be accepted (not used, not expired).
pub fn find_open(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> Result<Option<InviteRow>, DbError> {
    Ok(invites::table
        .filter(invites::id.eq(id))
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

/// Marks an open invite used; false when someone else used it first.
pub fn mark_accepted(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> Result<bool, DbError> {
    Ok(diesel::update(invites::table.filter(invites::id.eq(id)).filter(invites::accepted.eq(false)))
        .set((invites::accepted.eq(true), invites::updated_at.eq(now)))
        .execute(conn)?
        == 1)
}

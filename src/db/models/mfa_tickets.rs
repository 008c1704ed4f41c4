//! `mfa_tickets`: a passed first factor waiting for its second, found by the SHA-256 of
//! the ticket.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::mfa_tickets;
use crate::db::{DbConnection, DbError};

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = mfa_tickets)]
pub struct MfaTicketRow {
    pub ticket_hash: String,
    pub user_id: String,
    pub auth_user_id: String,
    pub expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, row: &MfaTicketRow) -> Result<(), DbError> {
    diesel::insert_into(mfa_tickets::table).values(row).execute(conn)?;
    Ok(())
}

/// The live ticket with this hash, without spending it.
pub fn find_live(
    conn: &mut DbConnection,
    ticket_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<MfaTicketRow>, DbError> {
    Ok(mfa_tickets::table
        .filter(mfa_tickets::ticket_hash.eq(ticket_hash))
        .filter(mfa_tickets::expires_at.gt(now))
        .select(MfaTicketRow::as_select())
        .first(conn)
        .optional()?)
}

/// Locks the live ticket with this hash for the rest of the transaction (a no-op UPDATE:
/// the one row lock both backends take alike); false when there is none. On PostgreSQL a
/// second transaction waits here and then sees what the first left: the ticket, or nothing.
pub fn lock_live(conn: &mut DbConnection, ticket_hash: &str, now: NaiveDateTime) -> Result<bool, DbError> {
    let n = diesel::update(
        mfa_tickets::table.filter(mfa_tickets::ticket_hash.eq(ticket_hash)).filter(mfa_tickets::expires_at.gt(now)),
    )
    .set(mfa_tickets::created_at.eq(mfa_tickets::created_at))
    .execute(conn)?;
    Ok(n == 1)
}

/// Spends the ticket: true only for the one transaction whose delete removed the row.
pub fn take(conn: &mut DbConnection, ticket_hash: &str) -> Result<bool, DbError> {
    Ok(diesel::delete(mfa_tickets::table.filter(mfa_tickets::ticket_hash.eq(ticket_hash))).execute(conn)? == 1)
}

pub fn delete_for_user(conn: &mut DbConnection, user_id: &str) -> Result<usize, DbError> {
    Ok(diesel::delete(mfa_tickets::table.filter(mfa_tickets::user_id.eq(user_id))).execute(conn)?)
}

pub fn delete_expired(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(mfa_tickets::table.filter(mfa_tickets::expires_at.le(now))).execute(conn)?)
}

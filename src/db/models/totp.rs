//! `totp_factors` and `recovery_codes`: a user's TOTP secret and the hashes of their
//! single-use recovery codes.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{recovery_codes, totp_factors};
use crate::db::{DbConnection, DbError};

/// Deliberately not `Debug`: the secret must never reach a log line.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = totp_factors)]
pub struct TotpRow {
    pub user_id: String,
    /// Base32; readable because verifying a code needs it.
    pub secret: String,
    pub confirmed_at: Option<NaiveDateTime>,
    pub last_used_step: Option<i64>,
    pub created_at: NaiveDateTime,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = recovery_codes)]
pub struct RecoveryCodeRow {
    pub id: String,
    pub user_id: String,
    pub code_hash: String,
    pub used_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

pub fn find(conn: &mut DbConnection, user_id: &str) -> Result<Option<TotpRow>, DbError> {
    Ok(totp_factors::table
        .filter(totp_factors::user_id.eq(user_id))
        .select(TotpRow::as_select())
        .first(conn)
        .optional()?)
}

/// Replaces the user's TOTP row, if it is not confirmed (an active factor is only ever
/// removed by `disable`). Returns whether the new row went in.
pub fn replace_unconfirmed(conn: &mut DbConnection, row: &TotpRow) -> Result<bool, DbError> {
    if find(conn, &row.user_id)?.is_some_and(|r| r.confirmed_at.is_some()) {
        return Ok(false);
    }
    diesel::delete(totp_factors::table.filter(totp_factors::user_id.eq(&row.user_id))).execute(conn)?;
    diesel::insert_into(totp_factors::table).values(row).execute(conn)?;
    Ok(true)
}

/// Marks the enrolment active; only an unconfirmed one, so two confirmations cannot both
/// hand out recovery codes.
pub fn confirm(conn: &mut DbConnection, user_id: &str, now: NaiveDateTime) -> Result<bool, DbError> {
    let n = diesel::update(
        totp_factors::table.filter(totp_factors::user_id.eq(user_id)).filter(totp_factors::confirmed_at.is_null()),
    )
    .set(totp_factors::confirmed_at.eq(now))
    .execute(conn)?;
    Ok(n == 1)
}

/// Takes time step `step` for the user: true only when it is newer than every step taken
/// before. One conditional UPDATE, so of two parallel uses of one code only one passes.
pub fn take_step(conn: &mut DbConnection, user_id: &str, step: i64) -> Result<bool, DbError> {
    let n = diesel::update(
        totp_factors::table
            .filter(totp_factors::user_id.eq(user_id))
            .filter(totp_factors::last_used_step.is_null().or(totp_factors::last_used_step.lt(step))),
    )
    .set(totp_factors::last_used_step.eq(step))
    .execute(conn)?;
    Ok(n == 1)
}

/// Whether each user has an active TOTP factor.
pub fn confirmed_among(conn: &mut DbConnection, user_ids: &[String]) -> Result<Vec<String>, DbError> {
    Ok(totp_factors::table
        .filter(totp_factors::user_id.eq_any(user_ids))
        .filter(totp_factors::confirmed_at.is_not_null())
        .select(totp_factors::user_id)
        .load(conn)?)
}

pub fn insert_codes(conn: &mut DbConnection, rows: &[RecoveryCodeRow]) -> Result<(), DbError> {
    // One statement a row: the MultiConnection has no batch insert that serves both backends.
    for row in rows {
        diesel::insert_into(recovery_codes::table).values(row).execute(conn)?;
    }
    Ok(())
}

/// Spends the user's unused recovery code with this hash: true only for the one
/// transaction whose UPDATE marked it.
pub fn spend_code(
    conn: &mut DbConnection,
    user_id: &str,
    code_hash: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = diesel::update(
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::code_hash.eq(code_hash))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(now))
    .execute(conn)?;
    Ok(n >= 1)
}

/// Removes every second-factor row of a user (disable, or the user is deleted).
pub fn delete_for_user(conn: &mut DbConnection, user_id: &str) -> Result<(), DbError> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id))).execute(conn)?;
    diesel::delete(totp_factors::table.filter(totp_factors::user_id.eq(user_id))).execute(conn)?;
    Ok(())
}

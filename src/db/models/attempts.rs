//! `auth_attempts`: sign-in attempts that count against the throttle.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::auth_attempts;
use crate::db::{DbConnection, DbError};

#[derive(Insertable)]
#[diesel(table_name = auth_attempts)]
pub struct NewAttempt<'a> {
    pub id: &'a str,
    pub scope: &'a str,
    pub subject: &'a str,
    pub attempted_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, row: &NewAttempt<'_>) -> Result<(), DbError> {
    diesel::insert_into(auth_attempts::table).values(row).execute(conn)?;
    Ok(())
}

/// When the attempts for `subject` since `since` were made, oldest first.
pub fn times_since(
    conn: &mut DbConnection,
    scope: &str,
    subject: &str,
    since: NaiveDateTime,
) -> Result<Vec<NaiveDateTime>, DbError> {
    Ok(auth_attempts::table
        .filter(auth_attempts::scope.eq(scope))
        .filter(auth_attempts::subject.eq(subject))
        .filter(auth_attempts::attempted_at.gt(since))
        .order(auth_attempts::attempted_at.asc())
        .select(auth_attempts::attempted_at)
        .load(conn)?)
}

pub fn delete_by_id(conn: &mut DbConnection, ids: &[&str]) -> Result<(), DbError> {
    diesel::delete(auth_attempts::table.filter(auth_attempts::id.eq_any(ids))).execute(conn)?;
    Ok(())
}

pub fn delete_subject(conn: &mut DbConnection, scope: &str, subject: &str) -> Result<(), DbError> {
    diesel::delete(
        auth_attempts::table.filter(auth_attempts::scope.eq(scope)).filter(auth_attempts::subject.eq(subject)),
    )
    .execute(conn)?;
    Ok(())
}

pub fn delete_older_than(conn: &mut DbConnection, before: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(auth_attempts::table.filter(auth_attempts::attempted_at.le(before))).execute(conn)?)
}

//! `auth_attempts`: attempts that count against the throttle and the rations (sign-ins,
//! sign-ups, mails), one row per attempt and key.

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

/// How many attempts for `subject` were made after `since`.
pub fn count_since(conn: &mut DbConnection, scope: &str, subject: &str, since: NaiveDateTime) -> Result<i64, DbError> {
    Ok(auth_attempts::table
        .filter(auth_attempts::scope.eq(scope))
        .filter(auth_attempts::subject.eq(subject))
        .filter(auth_attempts::attempted_at.gt(since))
        .count()
        .get_result(conn)?)
}

/// When the attempt at position `skip` (0: the oldest) among those after `since` was made.
pub fn time_at(
    conn: &mut DbConnection,
    scope: &str,
    subject: &str,
    since: NaiveDateTime,
    skip: i64,
) -> Result<Option<NaiveDateTime>, DbError> {
    Ok(auth_attempts::table
        .filter(auth_attempts::scope.eq(scope))
        .filter(auth_attempts::subject.eq(subject))
        .filter(auth_attempts::attempted_at.gt(since))
        .order(auth_attempts::attempted_at.asc())
        .offset(skip)
        .select(auth_attempts::attempted_at)
        .first(conn)
        .optional()?)
}

/// One statement per id rather than `IN (...)`: a list's length changes the SQL, so such a
/// statement is never cached (and this runs on every successful sign-in).
pub fn delete_by_id(conn: &mut DbConnection, ids: &[&str]) -> Result<(), DbError> {
    for id in ids {
        diesel::delete(auth_attempts::table.filter(auth_attempts::id.eq(*id))).execute(conn)?;
    }
    Ok(())
}

/// Forgets the attempts for `subject` made up to `until`.
pub fn delete_subject_until(
    conn: &mut DbConnection,
    scope: &str,
    subject: &str,
    until: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::delete(
        auth_attempts::table
            .filter(auth_attempts::scope.eq(scope))
            .filter(auth_attempts::subject.eq(subject))
            .filter(auth_attempts::attempted_at.le(until)),
    )
    .execute(conn)?;
    Ok(())
}

pub fn delete_older_than(conn: &mut DbConnection, before: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(auth_attempts::table.filter(auth_attempts::attempted_at.le(before))).execute(conn)?)
}

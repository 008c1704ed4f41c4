//! `auth_attempts`: attempts that count against the throttle and the rations (sign-ins,
//! sign-ups, mails), one row per attempt and key.
//!
//! A reservation names one or two keys (an account and an address; a recipient and an
//! address): its count, its insert and its refund are each one statement for such a pair.
//! Each is a fixed shape, so diesel prepares it once per connection; a list of any length
//! (`IN (...)`, a `Vec` of rows) would change the SQL with its length and never be cached.

use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::dsl;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Text, Timestamp};

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

/// The attempts on one subject after `since`: one key's window.
#[derive(Clone, Copy, Debug)]
pub struct Window<'a> {
    pub scope: &'a str,
    pub subject: &'a str,
    pub since: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, row: &NewAttempt<'_>) -> Result<(), DbError> {
    diesel::insert_into(auth_attempts::table).values(row).execute(conn)?;
    Ok(())
}

/// Writes the rows, two to a statement.
pub fn insert_all(conn: &mut DbConnection, rows: &[NewAttempt<'_>]) -> Result<(), DbError> {
    for chunk in rows.chunks(2) {
        match chunk {
            [a, b] => {
                InsertPair([a, b]).execute(conn)?;
            }
            _ => {
                for row in chunk {
                    insert(conn, row)?;
                }
            }
        }
    }
    Ok(())
}

/// `INSERT INTO auth_attempts (...) VALUES (...), (...)`, written out because the
/// MultiConnection has no multi-row insert (its backend does not take diesel's batch
/// insert, nor a `UNION` to insert from). The SQL is fixed and the values are typed binds,
/// so diesel prepares it once per connection like any other statement of the DSL.
struct InsertPair<'a>([&'a NewAttempt<'a>; 2]);

impl QueryId for InsertPair<'_> {
    type QueryId = InsertPair<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<DB> QueryFragment<DB> for InsertPair<'_>
where
    DB: Backend + HasSqlType<Text> + HasSqlType<Timestamp>,
    str: ToSql<Text, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("INSERT INTO ");
        out.push_identifier("auth_attempts")?;
        out.push_sql(" (");
        let columns = [
            auth_attempts::id::NAME,
            auth_attempts::scope::NAME,
            auth_attempts::subject::NAME,
            auth_attempts::attempted_at::NAME,
        ];
        for (i, column) in columns.into_iter().enumerate() {
            if i > 0 {
                out.push_sql(", ");
            }
            out.push_identifier(column)?;
        }
        out.push_sql(") VALUES ");
        for (i, row) in self.0.iter().enumerate() {
            out.push_sql(if i > 0 { ", (" } else { "(" });
            out.push_bind_param::<Text, str>(row.id)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, str>(row.scope)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, str>(row.subject)?;
            out.push_sql(", ");
            out.push_bind_param::<Timestamp, NaiveDateTime>(&row.attempted_at)?;
            out.push_sql(")");
        }
        Ok(())
    }
}

impl RunQueryDsl<DbConnection> for InsertPair<'_> {}

#[dsl::auto_type]
fn count_in<'a>(scope: &'a str, subject: &'a str, since: NaiveDateTime) -> _ {
    auth_attempts::table
        .filter(auth_attempts::scope.eq(scope))
        .filter(auth_attempts::subject.eq(subject))
        .filter(auth_attempts::attempted_at.gt(since))
        .count()
}

/// How many attempts for `subject` were made after `since`.
pub fn count_since(conn: &mut DbConnection, scope: &str, subject: &str, since: NaiveDateTime) -> Result<i64, DbError> {
    Ok(count_in(scope, subject, since).get_result(conn)?)
}

/// The count of each window, in order: two windows to a statement.
pub fn count_each(conn: &mut DbConnection, windows: &[Window<'_>]) -> Result<Vec<i64>, DbError> {
    let mut counts = Vec::with_capacity(windows.len());
    for chunk in windows.chunks(2) {
        match chunk {
            [a, b] => {
                let (first, second): (Option<i64>, Option<i64>) = diesel::select((
                    count_in(a.scope, a.subject, a.since).single_value(),
                    count_in(b.scope, b.subject, b.since).single_value(),
                ))
                .get_result(conn)?;
                // A COUNT always has a row; the subquery's type is only nullable by form.
                counts.extend([first.unwrap_or(0), second.unwrap_or(0)]);
            }
            _ => {
                for w in chunk {
                    counts.push(count_since(conn, w.scope, w.subject, w.since)?);
                }
            }
        }
    }
    Ok(counts)
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
/// statement is never cached.
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

/// What a success gives back: every attempt up to `until` on the `forgiven` subjects, and
/// the attempts `ids`. The usual success (an account forgiven, its address's attempt
/// returned) is one statement.
pub fn delete_refunded(
    conn: &mut DbConnection,
    forgiven: &[(&str, &str)],
    ids: &[&str],
    until: NaiveDateTime,
) -> Result<(), DbError> {
    if let ([(scope, subject)], [id]) = (forgiven, ids) {
        diesel::delete(
            auth_attempts::table.filter(
                auth_attempts::scope
                    .eq(*scope)
                    .and(auth_attempts::subject.eq(*subject))
                    .and(auth_attempts::attempted_at.le(until))
                    .or(auth_attempts::id.eq(*id)),
            ),
        )
        .execute(conn)?;
        return Ok(());
    }
    for (scope, subject) in forgiven {
        delete_subject_until(conn, scope, subject, until)?;
    }
    delete_by_id(conn, ids)
}

pub fn delete_older_than(conn: &mut DbConnection, before: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(auth_attempts::table.filter(auth_attempts::attempted_at.le(before))).execute(conn)?)
}

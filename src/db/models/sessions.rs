//! `sessions`: one row a signed-in device, found by the SHA-256 of its token.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::users::UserRow;
use crate::db::schema::{sessions, users};
use crate::db::{DbConnection, DbError};

#[derive(Clone, Debug, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id: String,
    pub token_hash: String,
    pub user_id: String,
    pub auth_user_id: String,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    /// When a use was last recorded (at most once per touch interval, so it can lag behind).
    pub last_seen_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, row: &SessionRow) -> Result<(), DbError> {
    diesel::insert_into(sessions::table).values(row).execute(conn)?;
    Ok(())
}

/// The one definition of the session lookup, for the pool's connections and (as SQL text)
/// for the pipelined one, so the two cannot drift apart.
macro_rules! active_by_hash {
    ($token_hash:expr, $now:expr) => {
        sessions::table
            .inner_join(users::table)
            .filter(sessions::token_hash.eq($token_hash))
            .filter(sessions::expires_at.gt($now))
            .filter(users::deleted_at.is_null())
            .select((SessionRow::as_select(), UserRow::as_select()))
    };
}

/// The live session with this token hash, with its user (one indexed lookup).
///
/// No `LIMIT` (`.first()`): `token_hash` is unique, so there is at most one row anyway, and
/// SQLite (3.48 and later) treats a bound `LIMIT ?` as an input to the query plan, so the
/// cached statement was re-prepared on every execution: 40% of the server's instructions
/// on a `me` request (callgrind). This runs on every authenticated request.
pub fn find_active_by_hash(
    conn: &mut DbConnection,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<(SessionRow, UserRow)>, DbError> {
    let rows: Vec<(SessionRow, UserRow)> = active_by_hash!(token_hash, now).load(conn)?;
    Ok(rows.into_iter().next())
}

/// [`find_active_by_hash`] as PostgreSQL text: `$1` the token hash, `$2` the time now; its
/// columns are the session's then the user's, in their rows' field order.
pub(crate) fn active_by_hash_pg_sql() -> Option<String> {
    use diesel::pg::{Pg, PgQueryBuilder};
    use diesel::query_builder::{QueryBuilder, QueryFragment};
    let query = active_by_hash!("", NaiveDateTime::default());
    let mut builder = PgQueryBuilder::default();
    QueryFragment::<Pg>::to_sql(&query, &mut builder, &Pg).ok()?;
    Some(builder.finish())
}

/// A row of [`active_by_hash_pg_sql`], read by position.
pub(crate) fn from_pg_row(row: &tokio_postgres::Row) -> Result<(SessionRow, UserRow), tokio_postgres::Error> {
    let session = SessionRow {
        id: row.try_get(0)?,
        token_hash: row.try_get(1)?,
        user_id: row.try_get(2)?,
        auth_user_id: row.try_get(3)?,
        user_agent: row.try_get(4)?,
        ip: row.try_get(5)?,
        created_at: row.try_get(6)?,
        expires_at: row.try_get(7)?,
        last_seen_at: row.try_get(8)?,
    };
    let user = UserRow {
        id: row.try_get(9)?,
        email: row.try_get(10)?,
        first_name: row.try_get(11)?,
        last_name: row.try_get(12)?,
        avatar_url: row.try_get(13)?,
        role: row.try_get(14)?,
        email_verified: row.try_get(15)?,
        metadata: row.try_get(16)?,
        created_at: row.try_get(17)?,
        updated_at: row.try_get(18)?,
        deleted_at: row.try_get(19)?,
    };
    Ok((session, user))
}

/// Records a use of the session at `now` and moves its expiry to `expires_at`, but only if
/// no use at or after `due_before` was recorded yet and the session is still live: one
/// conditional UPDATE, so requests that race to record the same use never both write (the
/// second finds the row already fresh: on PostgreSQL it waits for the first's row lock and
/// re-checks the condition; on SQLite writes take turns). True when the row changed.
pub fn touch(
    conn: &mut DbConnection,
    id: &str,
    now: NaiveDateTime,
    due_before: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> Result<bool, DbError> {
    let changed = diesel::update(
        sessions::table
            .filter(sessions::id.eq(id))
            .filter(sessions::last_seen_at.lt(due_before))
            // An expired session is not brought back by a request that read it just before.
            .filter(sessions::expires_at.gt(now)),
    )
    .set((sessions::last_seen_at.eq(now), sessions::expires_at.eq(expires_at)))
    .execute(conn)?;
    Ok(changed > 0)
}

pub fn list_active_for_user(
    conn: &mut DbConnection,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<Vec<SessionRow>, DbError> {
    Ok(sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::expires_at.gt(now))
        .order((sessions::created_at.desc(), sessions::id.desc()))
        .select(SessionRow::as_select())
        .load(conn)?)
}

pub fn find_by_id(conn: &mut DbConnection, id: &str) -> Result<Option<SessionRow>, DbError> {
    Ok(sessions::table.filter(sessions::id.eq(id)).select(SessionRow::as_select()).first(conn).optional()?)
}

pub fn delete(conn: &mut DbConnection, id: &str) -> Result<bool, DbError> {
    Ok(diesel::delete(sessions::table.filter(sessions::id.eq(id))).execute(conn)? > 0)
}

pub fn delete_for_user(conn: &mut DbConnection, user_id: &str) -> Result<usize, DbError> {
    Ok(diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn)?)
}

/// Revokes every session of a user but one (after a password change).
pub fn delete_for_user_except(conn: &mut DbConnection, user_id: &str, keep_id: &str) -> Result<usize, DbError> {
    Ok(diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id)).filter(sessions::id.ne(keep_id)))
        .execute(conn)?)
}

pub fn delete_expired(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(sessions::table.filter(sessions::expires_at.le(now))).execute(conn)?)
}

pub fn count_active(conn: &mut DbConnection, now: NaiveDateTime) -> Result<i64, DbError> {
    Ok(sessions::table.filter(sessions::expires_at.gt(now)).count().get_result(conn)?)
}

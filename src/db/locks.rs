//! PostgreSQL advisory locks, as statements diesel can prepare once per connection.
//!
//! `sql_query` text is never cached by diesel, so a lock taken that way is parsed and
//! planned again on every sign-in; a typed function call is an ordinary cached statement.

use diesel::PgConnection;
use diesel::RunQueryDsl;
use diesel::sql_types::BigInt;

use crate::db::DbError;

/// PostgreSQL's `void`, what the lock functions return: such a call is only ever executed,
/// never loaded, so no Rust value is read from it.
#[derive(diesel::sql_types::SqlType)]
#[diesel(postgres_type(name = "void"))]
pub struct Void;

diesel::define_sql_function! {
    fn pg_advisory_xact_lock(key: BigInt) -> Void;
}

/// Waits for the transaction-scoped advisory lock `key`; it is released when the
/// transaction ends, however it ends.
pub fn xact_lock(conn: &mut PgConnection, key: i64) -> Result<(), DbError> {
    diesel::select(pg_advisory_xact_lock(key)).execute(conn)?;
    Ok(())
}

/// Waits for every lock in `keys`, taken in ascending order whatever order they come in,
/// so two transactions that share some keys never each hold one the other waits for. Two
/// to a statement: PostgreSQL evaluates a select list from left to right, so
/// `SELECT lock($1), lock($2)` with `$1 < $2` keeps that order in one round trip.
pub fn xact_lock_all(conn: &mut PgConnection, mut keys: Vec<i64>) -> Result<(), DbError> {
    keys.sort_unstable();
    keys.dedup();
    for chunk in keys.chunks(2) {
        match *chunk {
            [first, second] => {
                diesel::select((pg_advisory_xact_lock(first), pg_advisory_xact_lock(second))).execute(conn)?;
            }
            [only] => xact_lock(conn, only)?,
            _ => {}
        }
    }
    Ok(())
}

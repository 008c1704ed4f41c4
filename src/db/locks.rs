//! PostgreSQL advisory locks, as a statement diesel can prepare once per connection.
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

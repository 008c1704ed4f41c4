//! `auth_users`: identities held by providers, each linked to one user.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::auth_users;
use crate::db::{DbConnection, DbError};

#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = auth_users)]
pub struct AuthUserRow {
    pub id: String,
    pub provider: String,
    pub entity_id: String,
    pub user_id: Option<String>,
    /// Provider secrets (a password hash, tokens): never leaves the server.
    pub provider_metadata: Option<String>,
    pub user_metadata: Option<String>,
    pub app_metadata: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = auth_users)]
pub struct NewAuthUser<'a> {
    pub id: &'a str,
    pub provider: &'a str,
    pub entity_id: &'a str,
    pub user_id: Option<&'a str>,
    pub provider_metadata: Option<&'a str>,
    pub user_metadata: Option<&'a str>,
    pub app_metadata: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, row: &NewAuthUser<'_>) -> Result<(), DbError> {
    diesel::insert_into(auth_users::table).values(row).execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConnection, provider: &str, entity_id: &str) -> Result<Option<AuthUserRow>, DbError> {
    Ok(auth_users::table
        .filter(auth_users::provider.eq(provider))
        .filter(auth_users::entity_id.eq(entity_id))
        .select(AuthUserRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_by_id(conn: &mut DbConnection, id: &str) -> Result<Option<AuthUserRow>, DbError> {
    Ok(auth_users::table.filter(auth_users::id.eq(id)).select(AuthUserRow::as_select()).first(conn).optional()?)
}

pub fn for_users(conn: &mut DbConnection, user_ids: &[String]) -> Result<Vec<AuthUserRow>, DbError> {
    Ok(auth_users::table
        .filter(auth_users::user_id.eq_any(user_ids))
        .order((auth_users::created_at.asc(), auth_users::id.asc()))
        .select(AuthUserRow::as_select())
        .load(conn)?)
}

pub fn link(conn: &mut DbConnection, id: &str, user_id: &str, now: NaiveDateTime) -> Result<(), DbError> {
    diesel::update(auth_users::table.filter(auth_users::id.eq(id)))
        .set((auth_users::user_id.eq(user_id), auth_users::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

pub fn set_provider_metadata(
    conn: &mut DbConnection,
    id: &str,
    provider_metadata: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(auth_users::table.filter(auth_users::id.eq(id)))
        .set((auth_users::provider_metadata.eq(provider_metadata), auth_users::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

/// Removes an identity; its sessions and passkey go with it (explicitly, not trusting the FK
/// cascade, which SQLite only honours with foreign_keys on).
pub fn delete(conn: &mut DbConnection, id: &str) -> Result<(), DbError> {
    use crate::db::schema::{one_time_tokens, passkeys, sessions};
    diesel::delete(passkeys::table.filter(passkeys::auth_user_id.eq(id))).execute(conn)?;
    diesel::delete(sessions::table.filter(sessions::auth_user_id.eq(id))).execute(conn)?;
    diesel::delete(one_time_tokens::table.filter(one_time_tokens::auth_user_id.eq(id))).execute(conn)?;
    diesel::delete(auth_users::table.filter(auth_users::id.eq(id))).execute(conn)?;
    Ok(())
}

pub fn find_many(conn: &mut DbConnection, ids: &[String]) -> Result<Vec<AuthUserRow>, DbError> {
    Ok(auth_users::table.filter(auth_users::id.eq_any(ids)).select(AuthUserRow::as_select()).load(conn)?)
}

/// Removes every identity of a user (a deleted user can no longer sign in, and their
/// identities are free for a future account).
pub fn delete_for_user(conn: &mut DbConnection, user_id: &str) -> Result<(), DbError> {
    for row in for_users(conn, &[user_id.to_string()])? {
        delete(conn, &row.id)?;
    }
    Ok(())
}

pub fn set_user_metadata(
    conn: &mut DbConnection,
    id: &str,
    user_metadata: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(auth_users::table.filter(auth_users::id.eq(id)))
        .set((auth_users::user_metadata.eq(user_metadata), auth_users::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

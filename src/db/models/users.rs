//! `users`: people, whatever they sign in with.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::users;
use crate::db::{DbConnection, DbError};

#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub avatar_url: Option<String>,
    pub role: String,
    pub email_verified: bool,
    pub metadata: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
    pub avatar_url: Option<&'a str>,
    pub role: &'a str,
    pub email_verified: bool,
    pub metadata: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, user: &NewUser<'_>) -> Result<(), DbError> {
    diesel::insert_into(users::table).values(user).execute(conn)?;
    Ok(())
}

/// A live (not deleted) user by id.
pub fn find_live(conn: &mut DbConnection, id: &str) -> Result<Option<UserRow>, DbError> {
    Ok(users::table
        .filter(users::id.eq(id))
        .filter(users::deleted_at.is_null())
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

/// Live users by id, in any order (for the data loader).
pub fn find_many_live(conn: &mut DbConnection, ids: &[String]) -> Result<Vec<UserRow>, DbError> {
    Ok(users::table
        .filter(users::id.eq_any(ids))
        .filter(users::deleted_at.is_null())
        .select(UserRow::as_select())
        .load(conn)?)
}

/// The live user holding an address (addresses are stored lower-cased).
pub fn find_live_by_email(conn: &mut DbConnection, email: &str) -> Result<Option<UserRow>, DbError> {
    Ok(users::table
        .filter(users::email.eq(email))
        .filter(users::deleted_at.is_null())
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn mark_email_verified(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> Result<(), DbError> {
    diesel::update(users::table.filter(users::id.eq(id)))
        .set((users::email_verified.eq(true), users::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

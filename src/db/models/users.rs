//! `users`: people, whatever they sign in with.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::users;
use crate::db::{DbConnection, DbError};
use crate::domain::Role;

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

impl UserRow {
    /// The stored role, read the one way ([`Role::from_db`]).
    pub fn role(&self) -> Role {
        Role::from_db(&self.role)
    }
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

diesel::define_sql_function! {
    /// SQL `lower` on a nullable text (the same function on both backends).
    #[sql_name = "lower"]
    fn lower_opt(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

/// How `users` may be narrowed.
#[derive(Clone, Debug, Default)]
pub struct UserQuery {
    /// Exact, already lower-cased.
    pub email: Option<String>,
    /// Substring of e-mail, first or last name; compared lower-cased.
    pub q: Option<String>,
    pub role: Option<&'static str>,
}

fn filtered(f: &UserQuery) -> users::BoxedQuery<'static, crate::db::MultiBackend> {
    let mut query = users::table.filter(users::deleted_at.is_null()).into_boxed();
    if let Some(email) = &f.email {
        query = query.filter(users::email.eq(email.clone()));
    }
    if let Some(q) = &f.q {
        let pattern = format!("%{}%", escape_like(&q.to_lowercase()));
        query = query.filter(
            users::email
                .like(pattern.clone())
                .escape('\\')
                .or(lower_opt(users::first_name).like(pattern.clone()).escape('\\'))
                .or(lower_opt(users::last_name).like(pattern).escape('\\')),
        );
    }
    if let Some(role) = f.role {
        query = query.filter(users::role.eq(role));
    }
    query
}

/// `%`, `_` and `\` in a search are meant literally.
fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The users `f` matches, newest first, `take` of them after the first `skip`.
fn page(f: &UserQuery, skip: i64, take: i64) -> users::BoxedQuery<'static, crate::db::MultiBackend> {
    filtered(f).order((users::created_at.desc(), users::id.desc())).offset(skip).limit(take)
}

/// One page, newest first, and the total that matches.
pub fn list_and_count(
    conn: &mut DbConnection,
    f: &UserQuery,
    skip: i64,
    take: i64,
) -> Result<(Vec<UserRow>, i64), DbError> {
    let total: i64 = filtered(f).count().get_result(conn)?;
    let rows = page(f, skip, take).select(UserRow::as_select()).load(conn)?;
    Ok((rows, total))
}

/// One page, newest first, with the total that matches, in one statement: its snapshot is
/// one, so the two agree without a transaction around them (on PostgreSQL that transaction
/// was four round trips of five). `None` for a page past the end, which has no row to carry
/// the total: [`list_and_count`] answers that one.
pub fn page_with_total(
    conn: &mut DbConnection,
    f: &UserQuery,
    skip: i64,
    take: i64,
) -> Result<Option<(Vec<UserRow>, i64)>, DbError> {
    let rows: Vec<(UserRow, Option<i64>)> =
        page(f, skip, take).select((UserRow::as_select(), filtered(f).count().single_value())).load(conn)?;
    let Some(total) = rows.first().map(|(_, total)| total.unwrap_or(0)) else { return Ok(None) };
    Ok(Some((rows.into_iter().map(|(row, _)| row).collect(), total)))
}

pub fn count_live_admins(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(users::table.filter(users::deleted_at.is_null()).filter(users::role.eq("admin")).count().get_result(conn)?)
}

/// The fields `updateUser` may change; `None` leaves a field, `Some(None)` clears it.
#[derive(AsChangeset, Default)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub avatar_url: Option<Option<String>>,
    pub metadata: Option<Option<String>>,
    pub role: Option<String>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn update(conn: &mut DbConnection, id: &str, changes: &UserChanges) -> Result<(), DbError> {
    diesel::update(users::table.filter(users::id.eq(id)).filter(users::deleted_at.is_null()))
        .set(changes)
        .execute(conn)?;
    Ok(())
}

pub fn soft_delete(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> Result<bool, DbError> {
    Ok(diesel::update(users::table.filter(users::id.eq(id)).filter(users::deleted_at.is_null()))
        .set((users::deleted_at.eq(now), users::updated_at.eq(now)))
        .execute(conn)?
        == 1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_wildcards_are_literal() {
        assert_eq!(super::escape_like("50%_a\\b"), "50\\%\\_a\\\\b");
    }
}

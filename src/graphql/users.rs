//! Users: one, a page of many, profile updates, soft deletion.

use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject};
use serde_json::Value;

use crate::accounts::users::ProfileUpdate;
use crate::db::models::users::UserQuery;
use crate::domain;
use crate::domain::Email;
use crate::graphql::context::ContextExt;
use crate::graphql::error::{ApiError, ApiResult, OrApi};
use crate::graphql::guards::{RequireAdmin, SelfOrAdmin};
use crate::graphql::types::{Role, User};

pub const MAX_TAKE: i32 = 100;

/// Narrows `users`; all given conditions must hold.
#[derive(InputObject, Default)]
pub struct UserFilter {
    /// Exact e-mail, case-insensitive.
    pub email: Option<String>,
    /// Substring of e-mail, first or last name, case-insensitive.
    pub q: Option<String>,
    /// Only users with this role.
    pub role: Option<Role>,
}

/// Fields `updateUser` may change. Omitted fields stay; `null` clears.
#[derive(InputObject, Default)]
pub struct UpdateUserInput {
    /// At most 100 characters.
    pub first_name: MaybeUndefined<String>,
    /// At most 100 characters.
    pub last_name: MaybeUndefined<String>,
    /// An http(s) URL.
    pub avatar_url: MaybeUndefined<String>,
    /// Any JSON, at most 16 KiB; replaces what was there.
    pub metadata: MaybeUndefined<Json<Value>>,
    /// Admins only.
    pub role: Option<Role>,
}

/// A page of users and how many match in all.
#[derive(SimpleObject)]
pub struct UserList {
    /// This page, newest first.
    pub nodes: Vec<User>,
    /// How many match the filter in all.
    pub total_count: i32,
}

/// Checks `skip`/`take` (shared with invites).
pub(crate) fn page(skip: i32, take: i32) -> ApiResult<(i64, i64)> {
    if skip < 0 {
        return Err(ApiError::BadInput("skip must not be negative".into()).into());
    }
    if !(0..=MAX_TAKE).contains(&take) {
        return Err(ApiError::BadInput(format!("take must be between 0 and {MAX_TAKE}")).into());
    }
    Ok((i64::from(skip), i64::from(take)))
}

fn maybe<T, U>(v: MaybeUndefined<T>, f: impl FnOnce(T) -> U) -> Option<Option<U>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(x) => Some(Some(f(x))),
    }
}

#[derive(Default)]
pub struct UserQueryRoot;

#[Object]
impl UserQueryRoot {
    /// One user: admins may read anyone, members only themselves. Null when there is none.
    #[graphql(guard = "SelfOrAdmin { id: &id }")]
    async fn user(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<User>> {
        Ok(ctx.state().users.get(&id).await.api()?.map(User::from))
    }

    /// A page of live users, newest first (admin).
    #[graphql(guard = "RequireAdmin")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        filter: Option<UserFilter>,
        #[graphql(default = 0)] skip: Option<i32>,
        #[graphql(default = 20)] take: Option<i32>,
    ) -> ApiResult<UserList> {
        let (skip, take) = page(skip.unwrap_or(0), take.unwrap_or(20))?;
        let filter = filter.unwrap_or_default();
        // An address that cannot exist matches nobody; it is not an error to ask.
        let email = filter
            .email
            .map(|e| Email::parse(&e).map(|e| e.as_str().to_string()).unwrap_or_else(|| e.trim().to_lowercase()));
        let query = UserQuery {
            email,
            q: filter.q.map(|q| q.trim().to_string()).filter(|q| !q.is_empty()),
            role: filter.role.map(|r| domain::Role::from(r).as_db()),
        };
        let (rows, total) = ctx.state().users.list(query, skip, take).await.api()?;
        Ok(UserList { nodes: rows.into_iter().map(User::from).collect(), total_count: clamp(total) })
    }
}

pub(crate) fn clamp(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[derive(Default)]
pub struct UserMutation;

#[Object]
impl UserMutation {
    /// Changes a profile: admins anyone's (role included), members their own (not the role).
    #[graphql(guard = "SelfOrAdmin { id: &id }")]
    async fn update_user(&self, ctx: &Context<'_>, id: ID, input: UpdateUserInput) -> ApiResult<User> {
        let caller = ctx.require_session().await?;
        let is_admin = caller.user.role().is_admin();
        if input.role.is_some() && !is_admin {
            return Err(ApiError::Forbidden.into());
        }
        let update = ProfileUpdate {
            first_name: maybe(input.first_name, |s| s),
            last_name: maybe(input.last_name, |s| s),
            avatar_url: maybe(input.avatar_url, |s| s),
            metadata: maybe(input.metadata, |j| j.0),
            role: input.role.map(domain::Role::from),
        };
        let row = ctx.state().users.update(&id, update).await.api()?;
        Ok(User::from(row))
    }

    /// Soft-deletes a user and revokes their sessions (admin).
    #[graphql(guard = "RequireAdmin")]
    async fn delete_user(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        let by = ctx.require_session().await?.user.id.clone();
        ctx.state().users.delete(&id).await.api()?;
        tracing::info!(target: "audit", event = "user_deleted", user_id = %id.as_str(), %by);
        Ok(true)
    }
}

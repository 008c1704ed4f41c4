//! Authorization as async-graphql guards, put on fields with `#[graphql(guard = ...)]`.
//! They only say who may call a field; what a call does is the resolver's business.

use async_graphql::{Context, Guard, ID};

use crate::graphql::context::ContextExt;
use crate::graphql::error::{ApiError, ApiResult};

/// The request carries a live session.
pub struct RequireSession;

impl Guard for RequireSession {
    async fn check(&self, ctx: &Context<'_>) -> ApiResult<()> {
        ctx.require_session().await.map(|_| ())
    }
}

/// The caller is an admin.
pub struct RequireAdmin;

impl Guard for RequireAdmin {
    async fn check(&self, ctx: &Context<'_>) -> ApiResult<()> {
        ctx.require_admin().await.map(|_| ())
    }
}

/// The caller is the user named by the field's `id` argument, or an admin.
pub struct SelfOrAdmin<'a> {
    pub id: &'a ID,
}

impl Guard for SelfOrAdmin<'_> {
    async fn check(&self, ctx: &Context<'_>) -> ApiResult<()> {
        let current = ctx.require_session().await?;
        if current.user.id == self.id.as_str() || current.user.role().is_admin() {
            Ok(())
        } else {
            Err(ApiError::Forbidden.into())
        }
    }
}

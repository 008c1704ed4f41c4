//! The caller's sessions: me, session, sessions, logout and revocation.

use async_graphql::{Context, ID, Object};

use crate::graphql::context::ContextExt;
use crate::graphql::cookies;
use crate::graphql::error::{ApiError, ApiResult, OrApi};
use crate::graphql::guards::RequireSession;
use crate::graphql::types::{Session, User};

#[derive(Default)]
pub struct SessionQuery;

#[Object]
impl SessionQuery {
    /// The signed-in user; null when the request carries no valid session.
    async fn me(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        Ok(ctx.current_session().await?.map(|c| User::from(c.user.clone())))
    }

    /// The request's own session (its token is never shown again).
    async fn session(&self, ctx: &Context<'_>) -> ApiResult<Option<Session>> {
        Ok(ctx.current_session().await?.map(|c| Session::from_row(c.session.clone(), None, Some(&c.session.id))))
    }

    /// The caller's active sessions, newest first.
    #[graphql(guard = "RequireSession")]
    async fn sessions(&self, ctx: &Context<'_>) -> ApiResult<Vec<Session>> {
        let current = ctx.require_session().await?;
        let rows = ctx.state().sessions.list_for_user(&current.user.id).await.api()?;
        Ok(rows.into_iter().map(|s| Session::from_row(s, None, Some(&current.session.id))).collect())
    }
}

#[derive(Default)]
pub struct SessionMutation;

#[Object]
impl SessionMutation {
    /// Revokes the request's session. False when there was none.
    async fn logout(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        let state = ctx.state();
        // Looked up first: a lookup that slides the session sends a refreshed cookie, and
        // the clearing one must come after it to be the one the browser keeps.
        let current = ctx.current_session().await?;
        cookies::clear_session(ctx, state);
        match current {
            Some(current) => {
                tracing::info!(target: "audit", event = "logout", user_id = %current.user.id, session_id = %current.session.id);
                state.sessions.revoke(&current.session.id).await.api()
            }
            None => Ok(false),
        }
    }

    /// Revokes one of the caller's sessions (an admin may revoke anyone's).
    #[graphql(guard = "RequireSession")]
    async fn revoke_session(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        let current = ctx.require_session().await?;
        match ctx.state().sessions.revoke_as(&current.user, &id).await.api()? {
            Some(revoked) => Ok(revoked),
            // Someone else's session looks exactly like a missing one: ids are not probed.
            None => Err(ApiError::NotFound("Session not found".into()).into()),
        }
    }

    /// Revokes every session of the caller, this one included; returns how many.
    #[graphql(guard = "RequireSession")]
    async fn revoke_all_sessions(&self, ctx: &Context<'_>) -> ApiResult<i32> {
        let current = ctx.require_session().await?;
        let state = ctx.state();
        cookies::clear_session(ctx, state);
        let n = state.sessions.revoke_all(&current.user.id).await.api()?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
}

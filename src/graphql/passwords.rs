//! Changing and resetting credentials: updateProvider, requestPasswordReset, resetPassword.

use async_graphql::{Context, Json, Object};
use serde_json::Value;

use crate::graphql::context::ContextExt;
use crate::graphql::error::{ApiResult, OrApi};
use crate::graphql::guards::RequireSession;

#[derive(Default)]
pub struct PasswordMutation;

#[Object]
impl PasswordMutation {
    /// Changes the caller's credentials with a provider (emailpass:
    /// `{"currentPassword", "password"}`); every other session of the caller ends.
    #[graphql(guard = "RequireSession")]
    async fn update_provider(&self, ctx: &Context<'_>, provider: String, input: Json<Value>) -> ApiResult<bool> {
        let caller = ctx.require_session().await?;
        ctx.state().passwords.update(caller, &provider, &input.0, &ctx.request().client).await.api()?;
        Ok(true)
    }

    /// Mails a single-use reset link (`AUTHQL_APP_URL/reset-password?token=...`) when the
    /// identity exists. Always true: the answer does not tell whether it does.
    async fn request_password_reset(&self, ctx: &Context<'_>, provider: String, entity_id: String) -> ApiResult<bool> {
        ctx.state().passwords.request_reset(&provider, &entity_id, &ctx.request().client).await.api()?;
        Ok(true)
    }

    /// Sets new credentials (emailpass: `{"password"}`) with a reset token; every session of
    /// the user ends. A refused password leaves the token usable.
    async fn reset_password(&self, ctx: &Context<'_>, token: String, input: Json<Value>) -> ApiResult<bool> {
        ctx.state().passwords.reset(&token, &input.0).await.api()?;
        Ok(true)
    }
}

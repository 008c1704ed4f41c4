//! E-mail verification: requestEmailVerification and verifyEmail.

use async_graphql::{Context, Object};

use crate::graphql::context::ContextExt;
use crate::graphql::error::{ApiResult, OrApi};
use crate::graphql::guards::RequireSession;

#[derive(Default)]
pub struct VerificationMutation;

#[Object]
impl VerificationMutation {
    /// Mails the caller a link `AUTHQL_APP_URL/verify-email?token=...`; sends nothing when
    /// the address is verified already.
    #[graphql(guard = "RequireSession")]
    async fn request_email_verification(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        let caller = ctx.require_session().await?;
        ctx.state().verification.request(&caller.user).await.api()?;
        Ok(true)
    }

    /// Spends a verification token; the caller's `emailVerified` becomes true. Needs the
    /// session of the user the link was mailed to (another user's session: FORBIDDEN, and
    /// the link stays usable).
    #[graphql(guard = "RequireSession")]
    async fn verify_email(&self, ctx: &Context<'_>, token: String) -> ApiResult<bool> {
        let caller = ctx.require_session().await?;
        ctx.state().verification.verify(&caller.user, &token).await.api()?;
        Ok(true)
    }
}

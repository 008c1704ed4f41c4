//! The TOTP second factor of the signed-in user: enrollTotp, confirmTotp, disableTotp.
//! verifySecondFactor belongs to sign-in and lives in `auth.rs`.

use async_graphql::{Context, Object, SimpleObject};

use crate::graphql::context::ContextExt;
use crate::graphql::error::{ApiResult, OrApi};
use crate::graphql::guards::RequireSession;

/// A started TOTP enrolment: shown once, never again. Add it to an authenticator app, then
/// call confirmTotp with a code it shows.
#[derive(SimpleObject)]
pub struct TotpEnrollment {
    /// The shared secret, base32 (RFC 4648), for typing into an authenticator app.
    pub secret: String,
    /// The same secret as an otpauth:// URL (SHA-1, 6 digits, 30 s), for a QR code.
    pub otpauth_url: String,
}

#[derive(Default)]
pub struct SecondFactorMutation;

#[Object]
impl SecondFactorMutation {
    /// Starts TOTP enrolment; nothing is active until confirmTotp. A new enrolment replaces
    /// an unconfirmed one; with TOTP on already: CONFLICT.
    #[graphql(guard = "RequireSession")]
    async fn enroll_totp(&self, ctx: &Context<'_>) -> ApiResult<TotpEnrollment> {
        let caller = ctx.require_session().await?;
        let enrollment = ctx.state().second_factor.enroll(&caller.user.id, &caller.user.email).await.api()?;
        Ok(TotpEnrollment { secret: enrollment.secret, otpauth_url: enrollment.otpauth_url })
    }

    /// Turns TOTP on with a code from the app; returns 10 single-use recovery codes, shown
    /// only here.
    #[graphql(guard = "RequireSession")]
    async fn confirm_totp(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A current 6-digit code from the authenticator app.")] code: String,
    ) -> ApiResult<Vec<String>> {
        let caller = ctx.require_session().await?;
        let codes = ctx.state().second_factor.confirm(&caller.user.id, &code).await.api()?;
        tracing::info!(target: "audit", event = "totp_enabled", user_id = %caller.user.id);
        Ok(codes)
    }

    /// Turns TOTP off and forgets its secret and recovery codes.
    #[graphql(guard = "RequireSession")]
    async fn disable_totp(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A current 6-digit code from the authenticator app, or an unused recovery code.")]
        code: String,
    ) -> ApiResult<bool> {
        let caller = ctx.require_session().await?;
        ctx.state().second_factor.disable(&caller.user.id, &code).await.api()?;
        tracing::info!(target: "audit", event = "totp_disabled", user_id = %caller.user.id);
        Ok(true)
    }
}

//! authenticate and validateCallback: thin wrappers over [`crate::accounts::Authenticator`],
//! turning its flow into an `AuthResult` and the session token into a cookie.

use async_graphql::{Context, Json, Object};
use serde_json::Value;

use crate::accounts::sign_in::{AuthFlow, SECOND_FACTOR_REQUIRED, Step};
use crate::auth::{AuthError, HashError};
use crate::graphql::context::ContextExt;
use crate::graphql::cookies;
use crate::graphql::error::{ApiError, ApiResult};
use crate::graphql::types::{AuthResult, AuthUser, Session, User};

#[derive(Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
    /// Names in the provider registry, sorted.
    async fn auth_providers(&self, ctx: &Context<'_>) -> Vec<String> {
        ctx.state().authenticator.registry().names()
    }
}

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Signs in, or signs up when the identity is new: one mutation for both.
    async fn authenticate(&self, ctx: &Context<'_>, provider: String, input: Json<Value>) -> ApiResult<AuthResult> {
        let flow = ctx.state().authenticator.run(&provider, Step::Authenticate, &input.0, &ctx.request().client).await;
        Ok(answer(ctx, &provider, flow)?)
    }

    /// Completes a redirect flow with what the provider sent back (`{code, state}`), or a
    /// passkey sign-in with the browser's answer (`{credential}`).
    async fn validate_callback(
        &self,
        ctx: &Context<'_>,
        provider: String,
        input: Json<Value>,
    ) -> ApiResult<AuthResult> {
        let flow = ctx.state().authenticator.run(&provider, Step::Callback, &input.0, &ctx.request().client).await;
        Ok(answer(ctx, &provider, flow)?)
    }

    /// Completes a sign-in that answered with an mfaTicket: on success the session is issued
    /// exactly as by a sign-in without a second factor (cookie included).
    async fn verify_second_factor(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mfaTicket of the sign-in's AuthResult; single use, 5 minutes.")] ticket: String,
        #[graphql(desc = "One of the AuthResult's mfaMethods: \"totp\" or \"recovery_code\".")] method: String,
        #[graphql(desc = "The 6-digit code of the authenticator app, or an unused recovery code.")] code: String,
    ) -> ApiResult<AuthResult> {
        let flow = ctx.state().authenticator.verify_second_factor(&ticket, &method, &code, &ctx.request().client).await;
        // Metrics and the audit log name the first factor's provider, as the sign-in would.
        let provider = match &flow {
            Ok(AuthFlow::SignedIn(signed_in)) => signed_in.auth_user.provider.clone(),
            _ => "second_factor".to_string(),
        };
        Ok(answer(ctx, &provider, flow)?)
    }
}

/// A sign-in's answer: metrics, the audit log, cookies, and the `AuthResult`; shared with
/// acceptInvite.
pub(crate) fn answer(ctx: &Context<'_>, provider: &str, flow: Result<AuthFlow, AuthError>) -> ApiResult<AuthResult> {
    let state = ctx.state();
    let ip = ctx.request().client.ip.as_deref().unwrap_or("-");
    // Only registered names become metric labels.
    let label = if matches!(flow, Err(AuthError::UnknownProvider { .. })) { "unknown" } else { provider };
    let flow = match flow {
        Ok(flow) => flow,
        Err(e) => {
            let outcome = match e {
                AuthError::RateLimited { .. } => "rate_limited",
                AuthError::Hash(HashError::Overloaded { .. }) => "unavailable",
                _ => "error",
            };
            state.metrics.observe_authentication(label, outcome);
            tracing::info!(target: "audit", event = "sign_in_refused", provider = label, ip, outcome);
            return Err(ApiError::from(e).into());
        }
    };
    Ok(match flow {
        AuthFlow::Unattempted(reason) => AuthResult::failed(reason),
        AuthFlow::Failed(reason) => {
            state.metrics.observe_authentication(label, "failure");
            tracing::info!(target: "audit", event = "sign_in_failed", provider = label, ip, reason = %reason);
            AuthResult::failed(reason)
        }
        AuthFlow::Redirect(redirect) => {
            state.metrics.observe_authentication(label, "redirect");
            cookies::set_flow_binding(ctx, state, &ctx.request().client.flow_binding, &redirect.binding);
            AuthResult { success: true, location: Some(redirect.location), ..Default::default() }
        }
        AuthFlow::Challenge(challenge) => {
            state.metrics.observe_authentication(label, "challenge");
            cookies::set_flow_binding(ctx, state, &ctx.request().client.flow_binding, &challenge.binding);
            AuthResult { options: Some(Json(challenge.options)), ..Default::default() }
        }
        AuthFlow::SecondFactorRequired(required) => {
            state.metrics.observe_authentication(label, "second_factor");
            tracing::info!(target: "audit", event = "second_factor_required", user_id = %required.user_id, provider = label, ip);
            AuthResult {
                error: Some(SECOND_FACTOR_REQUIRED.into()),
                mfa_ticket: Some(required.ticket),
                mfa_methods: Some(required.methods),
                ..Default::default()
            }
        }
        AuthFlow::SignedIn(signed_in) => {
            state.metrics.observe_authentication(label, "success");
            cookies::set_session(ctx, state, &signed_in.token, &signed_in.session);
            let event = if signed_in.new_user { "sign_up" } else { "sign_in" };
            tracing::info!(
                target: "audit",
                event,
                user_id = %signed_in.user.id,
                provider = label,
                ip,
                session_id = %signed_in.session.id
            );
            AuthResult {
                success: true,
                error: None,
                location: None,
                session: Some(Session::from_row(signed_in.session, Some(signed_in.token), None)),
                user: Some(User::from(signed_in.user)),
                auth_user: Some(AuthUser::from(signed_in.auth_user)),
                mfa_ticket: None,
                mfa_methods: None,
                options: None,
            }
        }
    })
}

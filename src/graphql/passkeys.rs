//! The signed-in user's passkeys: beginPasskeyRegistration, finishPasskeyRegistration,
//! passkeys, deletePasskey. Signing in with one is `authenticate`/`validateCallback` with
//! provider "passkey" (`auth.rs`).

use async_graphql::{Context, ID, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::db::models::passkeys::PasskeyRow;
use crate::db::to_utc;
use crate::graphql::context::ContextExt;
use crate::graphql::error::{ApiResult, OrApi};
use crate::graphql::guards::RequireSession;

/// A WebAuthn credential the user registered; it signs them in with provider "passkey".
#[derive(SimpleObject, Clone)]
pub struct Passkey {
    /// Stable identifier (a UUID), for deletePasskey.
    pub id: ID,
    /// What the user called it ("Laptop"), if anything.
    pub name: Option<String>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// The last sign-in with it.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<PasskeyRow> for Passkey {
    fn from(p: PasskeyRow) -> Self {
        Passkey {
            id: ID(p.id),
            name: p.name,
            created_at: to_utc(p.created_at),
            last_used_at: p.last_used_at.map(to_utc),
        }
    }
}

#[derive(Default)]
pub struct PasskeyQuery;

#[Object]
impl PasskeyQuery {
    /// The caller's passkeys, oldest first.
    #[graphql(guard = "RequireSession")]
    async fn passkeys(&self, ctx: &Context<'_>) -> ApiResult<Vec<Passkey>> {
        let caller = ctx.require_session().await?;
        let rows = ctx.state().passkeys.list(&caller.user.id).await.api()?;
        Ok(rows.into_iter().map(Passkey::from).collect())
    }
}

#[derive(Default)]
pub struct PasskeyMutation;

#[Object]
impl PasskeyMutation {
    /// Starts adding a passkey: PublicKeyCredentialCreationOptions as `{"publicKey": {...}}`
    /// (binary fields base64url) for navigator.credentials.create. Only this session can
    /// finish it, once, within 5 minutes; a new call replaces the last.
    #[graphql(guard = "RequireSession")]
    async fn begin_passkey_registration(&self, ctx: &Context<'_>) -> ApiResult<Json<Value>> {
        let caller = ctx.require_session().await?;
        let options = ctx.state().passkeys.begin_registration(&caller.session.id, &caller.user).await.api()?;
        Ok(Json(options))
    }

    /// Stores the passkey the browser made for this session's registration.
    #[graphql(guard = "RequireSession")]
    async fn finish_passkey_registration(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The PublicKeyCredential navigator.credentials.create returned, as JSON \
                          (rawId and response fields in base64url).")]
        credential: Json<Value>,
        #[graphql(desc = "A name to tell it apart, up to 64 characters.")] name: Option<String>,
    ) -> ApiResult<Passkey> {
        let caller = ctx.require_session().await?;
        let row = ctx
            .state()
            .passkeys
            .finish_registration(&caller.session.id, &caller.user.id, &credential.0, name)
            .await
            .api()?;
        tracing::info!(target: "audit", event = "passkey_added", user_id = %caller.user.id, passkey_id = %row.id);
        Ok(Passkey::from(row))
    }

    /// Removes one of the caller's passkeys; the sessions signed in with it end too.
    #[graphql(guard = "RequireSession")]
    async fn delete_passkey(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        let caller = ctx.require_session().await?;
        ctx.state().passkeys.delete(&caller.user.id, id.as_str()).await.api()?;
        tracing::info!(target: "audit", event = "passkey_deleted", user_id = %caller.user.id, passkey_id = %id.as_str());
        Ok(true)
    }
}

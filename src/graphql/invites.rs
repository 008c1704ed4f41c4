//! Invites: create, list, validate, refresh, delete, accept.

use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::db::models::invites::InviteRow;
use crate::db::to_utc;
use crate::domain;
use crate::graphql::auth::answer;
use crate::graphql::context::ContextExt;
use crate::graphql::error::{ApiResult, OrApi};
use crate::graphql::guards::RequireAdmin;
use crate::graphql::types::{AuthResult, Role, parse_json};
use crate::graphql::users::{clamp, page};

/// An offer of an account to an e-mail address, with a role.
#[derive(SimpleObject)]
pub struct Invite {
    /// Stable identifier (a UUID).
    pub id: ID,
    /// The invited address; the account is made with it.
    pub email: String,
    /// The role the account gets.
    pub role: Role,
    /// Whether it was used (an invite is single use).
    pub accepted: bool,
    /// After this the token no longer works (AUTHQL_INVITE_TTL after creation or refresh).
    pub expires_at: DateTime<Utc>,
    /// The secret; present only in the result of createInvite / refreshInviteToken.
    pub token: Option<String>,
    /// Copied to the new user's metadata.
    pub metadata: Option<Json<Value>>,
    /// When the invite was made.
    pub created_at: DateTime<Utc>,
}

impl Invite {
    fn from_row(r: InviteRow, token: Option<String>) -> Invite {
        Invite {
            id: ID(r.id),
            email: r.email,
            role: Role::from(domain::Role::from_db(&r.role)),
            accepted: r.accepted,
            expires_at: to_utc(r.expires_at),
            token,
            metadata: parse_json(r.metadata.as_deref()),
            created_at: to_utc(r.created_at),
        }
    }
}

/// A page of invites and how many match in all.
#[derive(SimpleObject)]
pub struct InviteList {
    /// This page, newest first.
    pub nodes: Vec<Invite>,
    /// How many match in all.
    pub total_count: i32,
}

/// What createInvite needs.
#[derive(InputObject)]
pub struct CreateInviteInput {
    /// The address to invite (trimmed, lower-cased).
    pub email: String,
    /// The role the account will get.
    #[graphql(default_with = "Role::Member")]
    pub role: Role,
    /// Copied to the new user's metadata.
    pub metadata: Option<Json<Value>>,
}

#[derive(Default)]
pub struct InviteQuery;

#[Object]
impl InviteQuery {
    /// A page of invites, newest first (admin).
    #[graphql(guard = "RequireAdmin")]
    async fn invites(
        &self,
        ctx: &Context<'_>,
        accepted: Option<bool>,
        #[graphql(default = 0)] skip: Option<i32>,
        #[graphql(default = 20)] take: Option<i32>,
    ) -> ApiResult<InviteList> {
        let (skip, take) = page(skip.unwrap_or(0), take.unwrap_or(20))?;
        let (rows, total) = ctx.state().invites.list(accepted, skip, take).await.api()?;
        Ok(InviteList {
            nodes: rows.into_iter().map(|r| Invite::from_row(r, None)).collect(),
            total_count: clamp(total),
        })
    }

    /// Public: the invite a token stands for, or null if it is invalid, expired or used.
    async fn invite(&self, ctx: &Context<'_>, token: String) -> ApiResult<Option<Invite>> {
        Ok(ctx.state().invites.find_open_by_token(&token).await.api()?.map(|r| Invite::from_row(r, None)))
    }
}

#[derive(Default)]
pub struct InviteMutation;

#[Object]
impl InviteMutation {
    /// Invites an address (admin). CONFLICT when it already has a user or an open invite.
    #[graphql(guard = "RequireAdmin")]
    async fn create_invite(&self, ctx: &Context<'_>, input: CreateInviteInput) -> ApiResult<Invite> {
        let caller = ctx.require_session().await?;
        let state = ctx.state();
        let issued = state
            .invites
            .create(&input.email, input.role.into(), input.metadata.map(|j| j.0), &caller.user.id)
            .await
            .api()?;
        tracing::info!(target: "audit", event = "invite_created", invite_id = %issued.row.id, by = %caller.user.id);
        Ok(Invite::from_row(issued.row, Some(issued.token)))
    }

    /// A new token and expiry for an open invite; the old token stops working (admin).
    #[graphql(guard = "RequireAdmin")]
    async fn refresh_invite_token(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Invite> {
        let issued = ctx.state().invites.refresh(&id).await.api()?;
        Ok(Invite::from_row(issued.row, Some(issued.token)))
    }

    /// Withdraws an invite; its token stops working (admin).
    #[graphql(guard = "RequireAdmin")]
    async fn delete_invite(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        ctx.state().invites.delete(&id).await.api()?;
        Ok(true)
    }

    /// Signs up through an invite: the provider flow runs as in authenticate, and the new
    /// user gets the invite's e-mail and role.
    async fn accept_invite(
        &self,
        ctx: &Context<'_>,
        token: String,
        provider: String,
        input: Json<Value>,
    ) -> ApiResult<AuthResult> {
        let flow = ctx.state().authenticator.accept_invite(&token, &provider, &input.0, &ctx.request().client).await;
        answer(ctx, &provider, flow)
    }
}

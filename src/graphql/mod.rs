//! The GraphQL schema, with no web-framework types: [`build_schema`] is shared by the
//! server, `authql schema` and the tests.

pub mod auth;
pub mod context;
pub mod cookies;
pub mod error;
pub mod guards;
pub mod invites;
pub mod limits;
pub mod loaders;
pub mod passkeys;
pub mod passwords;
pub mod second_factor;
pub mod sessions;
pub mod types;
pub mod users;
pub mod verification;

use async_graphql::dataloader::DataLoader;
use async_graphql::{EmptySubscription, MergedObject, Schema};

use crate::state::AppState;

/// Reads: the caller, their sessions, users, invites and passkeys, the provider registry.
#[derive(MergedObject, Default)]
pub struct Query(
    auth::AuthQuery,
    sessions::SessionQuery,
    users::UserQueryRoot,
    invites::InviteQuery,
    passkeys::PasskeyQuery,
);

/// Writes: authenticate and its companions, sessions, users, invites.
#[derive(MergedObject, Default)]
pub struct Mutation(
    auth::AuthMutation,
    sessions::SessionMutation,
    users::UserMutation,
    invites::InviteMutation,
    passwords::PasswordMutation,
    verification::VerificationMutation,
    second_factor::SecondFactorMutation,
    passkeys::PasskeyMutation,
);

pub type AuthqlSchema = Schema<Query, Mutation, EmptySubscription>;

/// Limits that keep one request from costing more than a page of work. The shape of a
/// request (nesting, fragments, tokens, aliases) is bounded before async-graphql sees it, in
/// [`limits`]; these two are also what async-graphql itself enforces.
///
/// Fields of the schema's own types may nest this deep.
pub const MAX_DEPTH: usize = 12;
/// Fields under `__schema` or `__type` may nest this deep: graphql-js's
/// `getIntrospectionQuery()` (what GraphiQL sends) reaches 15 with its 9 levels of `ofType`.
/// Introspection's lists are bounded apart ([`limits::MAX_INTROSPECTION_LISTS`]), so depth
/// alone cannot multiply its answer.
pub const MAX_INTROSPECTION_DEPTH: usize = 15;
pub const MAX_COMPLEXITY: usize = 2_000;

/// The schema with no state: enough to print the SDL. async-graphql counts depth without
/// telling introspection apart, so its limit is the larger one; [`limits`] holds the schema's
/// own fields to [`MAX_DEPTH`] first.
fn builder() -> async_graphql::SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .limit_depth(MAX_INTROSPECTION_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
}

pub fn build_schema(state: AppState) -> AuthqlSchema {
    let loader = DataLoader::new(loaders::StoreLoader { db: state.db.clone() }, tokio::spawn);
    let mut b = builder().data(loader);
    if !state.config.introspection {
        b = b.disable_introspection();
    }
    b.data(state).finish()
}

/// The SDL that `schema.graphql` holds.
pub fn sdl() -> String {
    builder().finish().sdl()
}

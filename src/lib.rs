//! authql: a GraphQL authentication server.
//!
//! One mutation, `authenticate(provider, input)`, signs people up and in through a registry
//! of providers ([`auth`]); a user guard turns the provider's identity into a User under
//! linking rules that prevent account takeover; [`sessions`] issues opaque tokens stored
//! only as hashes. The GraphQL schema ([`graphql`]) knows nothing of HTTP; the actix glue
//! lives in [`http`] and is assembled by [`server`], the one app used by `authql serve`
//! and by the tests.

pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod graphql;
pub mod http;
pub mod invites;
pub mod mail;
pub mod mail_tokens;
pub mod metrics;
pub mod net;
pub mod passwords;
pub mod server;
pub mod sessions;
pub mod telemetry;
pub mod users;
pub mod verification;

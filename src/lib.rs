//! authql: a GraphQL authentication server.
//!
//! One mutation, `authenticate(provider, input)`, signs people up and in through a registry
//! of providers (`auth`); a user guard turns the provider's identity into a User under
//! linking rules that prevent account takeover; [`accounts`] issues sessions as opaque
//! tokens stored only as hashes. The GraphQL schema ([`graphql`]) knows nothing of HTTP; the
//! actix glue lives in [`http`] and is assembled by [`server`], the one app used by
//! `authql serve` and by the tests. ARCHITECTURE.md draws the layers.

pub mod accounts;
pub(crate) mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod graphql;
// `pub` only while http/graphql.rs is being changed on another branch (its items are `pub`):
// make it pub(crate) after the merge, and let `cargo fix` narrow that file.
pub mod http;
pub(crate) mod mail;
pub(crate) mod metrics;
pub(crate) mod net;
pub mod server;
pub mod state;
pub(crate) mod telemetry;

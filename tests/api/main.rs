//! One integration test binary: the real server, real databases, GraphQL over HTTP.

// A test that cannot go on should stop loudly where it is.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;
#[allow(dead_code)]
mod peers;

mod authenticate;
mod cli;
mod faults;
mod foundation;
mod fuzz;
mod hardening;
mod instances;
mod invites;
mod sessions;
mod users;

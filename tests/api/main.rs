//! One integration test binary: the real server, real databases, GraphQL over HTTP.

// A test that cannot go on should stop loudly where it is.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// A test binary exports nothing: `pub` is how its modules share helpers.
#![expect(unreachable_pub, reason = "the modules of one test binary share helpers")]

mod fake_github;
mod fake_issuer;
mod helpers;
mod peers;
mod redirects;
mod server_process;
mod smtp;

mod admission;
mod authenticate;
mod cli;
mod client_address;
mod faults;
mod foundation;
mod fuzz;
mod github;
mod google;
mod hardening;
mod instances;
mod invites;
mod layers;
mod limits;
mod log_secrets;
mod mail;
mod mfa;
mod nesting;
mod oidc;
mod passkeys;
mod passwords;
mod sessions;
mod throttle;
mod transport;
mod users;
mod web_ui;

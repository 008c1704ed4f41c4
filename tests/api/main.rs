//! One integration test binary: the real server, real databases, GraphQL over HTTP.

mod helpers;
#[allow(dead_code)]
mod peers;

mod authenticate;
mod cli;
mod foundation;
mod sessions;

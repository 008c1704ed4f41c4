//! One integration test binary: the real server, real databases, GraphQL over HTTP.

mod helpers;

mod authenticate;
mod cli;
mod foundation;
mod sessions;

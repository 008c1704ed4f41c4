//! One module a table: the row, its insert form, and the queries on it, each taking
//! `&mut DbConnection` so callers decide the transaction.

pub mod attempts;
pub mod auth_users;
pub mod invites;
pub mod mfa_tickets;
pub mod oauth_states;
pub mod one_time_tokens;
pub mod passkeys;
pub mod sessions;
pub mod totp;
pub mod users;
pub mod webauthn_challenges;

//! Types every layer shares, with no behaviour beyond parsing and hashing: [`Email`],
//! [`Role`], token [`Purpose`]s, [`ClientInfo`], the flow [`binding`] values and opaque [`token`]s.

pub mod binding;
pub mod client;
pub mod email;
pub mod purpose;
pub mod role;
pub mod token;

pub use binding::{Binding, BindingCookie, ClientBinding};
pub use client::ClientInfo;
pub use email::Email;
pub use purpose::Purpose;
pub use role::Role;

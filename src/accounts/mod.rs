//! Account services, each over the database and the parts below it: [`sign_in`] (the
//! authenticate path), [`sessions`], [`users`], [`invites`], e-mail [`verification`], mailed
//! [`one_time_tokens`], [`credentials`] (change and reset), the TOTP [`second_factor`] and
//! [`passkeys`].

pub mod credentials;
pub mod invites;
pub mod one_time_tokens;
pub mod passkeys;
pub mod second_factor;
pub mod sessions;
pub mod sign_in;
pub mod users;
pub mod verification;

pub use credentials::Passwords;
pub use invites::Invites;
pub use passkeys::Passkeys;
pub use second_factor::SecondFactor;
pub use sessions::{Lifetime, Sessions};
pub use sign_in::Authenticator;
pub use users::Users;
pub use verification::Verification;

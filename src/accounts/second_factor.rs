//! The TOTP second factor (RFC 6238: SHA-1, 6 digits, 30 s steps, one step either side) with
//! single-use recovery codes, and the tickets a passed first factor gets instead of a session
//! while a second factor is on.
//!
//! Every code check is reserved with the throttle first (5 per user, and 5 per ticket, per
//! window), so parallel guesses cannot check more than that. A TOTP code is accepted once:
//! its time step must be newer than the last one taken, raised by one conditional UPDATE.

use chrono::TimeDelta;
use rand::{Rng, RngCore};
use totp_rs::{Algorithm, Builder, Secret};

use crate::auth::Throttle;
use crate::auth::throttle::{Key, Reservation, ThrottleError};
use crate::db::models::mfa_tickets::{self, MfaTicketRow};
use crate::db::models::totp::{self, RecoveryCodeRow, TotpRow};
use crate::db::{self, Db, DbConnection, DbError};
use crate::domain::token;

pub const METHOD_TOTP: &str = "totp";
pub const METHOD_RECOVERY_CODE: &str = "recovery_code";
/// What a ticket may be redeemed with, in the order offered.
pub const METHODS: [&str; 2] = [METHOD_TOTP, METHOD_RECOVERY_CODE];
/// How long a ticket waits for its second factor.
pub const TICKET_TTL: TimeDelta = TimeDelta::minutes(5);
/// Code checks allowed per user and per ticket within the throttle window (API 6.5).
pub const MAX_CHECKS: u32 = 5;
const RECOVERY_CODES: usize = 10;
const ISSUER: &str = "authql";
const STEP_SECONDS: u64 = 30;
/// Recovery code alphabet: no 0/o, 1/l/i, so a code read off paper is typed right.
const RECOVERY_ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";

#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    #[error("Start TOTP enrolment first")]
    NotEnrolled,
    #[error("TOTP is already on")]
    AlreadyEnabled,
    #[error("TOTP is not on")]
    NotEnabled,
    #[error("Invalid code")]
    InvalidCode,
    #[error("Invalid or expired ticket")]
    TicketInvalid,
    #[error("Unknown second factor method")]
    UnknownMethod,
    #[error("too many attempts; retry in {retry_after} s")]
    RateLimited { retry_after: u64 },
    /// The stored secret cannot be read back (never its value: this reaches logs).
    #[error("stored TOTP secret is unusable")]
    BadSecret,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<ThrottleError> for MfaError {
    fn from(e: ThrottleError) -> Self {
        match e {
            ThrottleError::Limited(l) => MfaError::RateLimited { retry_after: l.retry_after },
            ThrottleError::Db(db) => MfaError::Db(db),
        }
    }
}

/// A new enrolment: the only value that ever carries the secret out.
pub struct TotpEnrollment {
    pub secret: String,
    pub otpauth_url: String,
}

impl std::fmt::Debug for TotpEnrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnrollment([redacted])")
    }
}

#[derive(Clone)]
pub struct SecondFactor {
    db: Db,
    throttle: Throttle,
    window: TimeDelta,
}

impl SecondFactor {
    pub fn new(db: Db, throttle: Throttle, window: TimeDelta) -> SecondFactor {
        SecondFactor { db, throttle, window }
    }

    /// Code checks on one user, whichever ticket or mutation: as with a password, the
    /// owner's success forgives the failures before it (a guesser never has one).
    fn user_key(&self, user_id: &str) -> Key {
        Key::new("mfa_user", user_id, MAX_CHECKS, self.window).forgiven_by_success()
    }

    /// Starts (or restarts) enrolment: a new secret replaces an unconfirmed one.
    pub async fn enroll(&self, user_id: &str, email: &str) -> Result<TotpEnrollment, MfaError> {
        let mut bytes = [0u8; 20];
        rand::rng().fill_bytes(&mut bytes);
        let secret = Secret::from(bytes).to_base32();
        let row = TotpRow {
            user_id: user_id.to_string(),
            secret: secret.clone(),
            confirmed_at: None,
            last_used_step: None,
            created_at: db::now(),
        };
        if !self.db.write(move |conn| totp::replace_unconfirmed(conn, &row)).await? {
            return Err(MfaError::AlreadyEnabled);
        }
        let label = percent_encode(&format!("{ISSUER}:{email}"));
        let otpauth_url = format!(
            "otpauth://totp/{label}?secret={secret}&issuer={ISSUER}&algorithm=SHA1&digits=6&period={STEP_SECONDS}"
        );
        Ok(TotpEnrollment { secret, otpauth_url })
    }

    /// Activates the enrolment with a current code; returns the recovery codes, the only
    /// time they exist outside their hashes.
    pub async fn confirm(&self, user_id: &str, code: &str) -> Result<Vec<String>, MfaError> {
        let reservation = self.throttle.reserve(&[self.user_key(user_id)]).await?;
        let (user, code) = (user_id.to_string(), code.to_string());
        let result = self
            .db
            .write(move |conn| {
                let Some(row) = totp::find(conn, &user)? else { return Ok(Err(MfaError::NotEnrolled)) };
                if row.confirmed_at.is_some() {
                    return Ok(Err(MfaError::AlreadyEnabled));
                }
                match totp_step(&row, &code) {
                    Err(e) => return Ok(Err(e)),
                    Ok(Some(step)) if totp::take_step(conn, &user, step)? => {}
                    Ok(_) => return Ok(Err(MfaError::InvalidCode)),
                }
                if !totp::confirm(conn, &user, db::now())? {
                    return Ok(Err(MfaError::AlreadyEnabled));
                }
                let now = db::now();
                let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
                let rows: Vec<RecoveryCodeRow> = codes
                    .iter()
                    .map(|c| RecoveryCodeRow {
                        id: db::new_id(),
                        user_id: user.clone(),
                        code_hash: token::hash(&normalize(c)),
                        used_at: None,
                        created_at: now,
                    })
                    .collect();
                totp::insert_codes(conn, &rows)?;
                Ok(Ok(codes))
            })
            .await?;
        settle(reservation, &result).await?;
        result
    }

    /// Turns TOTP off with a current code or a recovery code.
    pub async fn disable(&self, user_id: &str, code: &str) -> Result<(), MfaError> {
        let reservation = self.throttle.reserve(&[self.user_key(user_id)]).await?;
        let (user, code) = (user_id.to_string(), code.to_string());
        let method = if code.trim().len() == 6 { METHOD_TOTP } else { METHOD_RECOVERY_CODE };
        let result = self
            .db
            .write(move |conn| {
                if !SecondFactor::enabled_in(conn, &user)? {
                    return Ok(Err(MfaError::NotEnabled));
                }
                match check_in(conn, &user, method, &code)? {
                    Ok(()) => {}
                    Err(e) => return Ok(Err(e)),
                }
                totp::delete_for_user(conn, &user)?;
                mfa_tickets::delete_for_user(conn, &user)?;
                Ok(Ok(()))
            })
            .await?;
        settle(reservation, &result).await?;
        result
    }

    /// Whether the user has an active TOTP factor.
    pub fn enabled_in(conn: &mut DbConnection, user_id: &str) -> Result<bool, DbError> {
        Ok(totp::find(conn, user_id)?.is_some_and(|r| r.confirmed_at.is_some()))
    }

    /// Issues a ticket for a passed first factor, inside the sign-in's transaction.
    pub fn issue_ticket_in(conn: &mut DbConnection, user_id: &str, auth_user_id: &str) -> Result<String, DbError> {
        let now = db::now();
        let new = token::generate();
        mfa_tickets::insert(
            conn,
            &MfaTicketRow {
                ticket_hash: new.hash,
                user_id: user_id.to_string(),
                auth_user_id: auth_user_id.to_string(),
                expires_at: now + TICKET_TTL,
                created_at: now,
            },
        )?;
        Ok(new.token)
    }

    /// Redeems a ticket with a second factor, then runs `then` (the session) in the same
    /// transaction: the ticket and the code are spent together with the session made, or
    /// not at all.
    pub async fn redeem<T, F>(&self, ticket: &str, method: &str, code: &str, then: F) -> Result<T, MfaError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection, &MfaTicketRow) -> Result<Option<T>, DbError> + Send + 'static,
    {
        if !METHODS.contains(&method) {
            return Err(MfaError::UnknownMethod);
        }
        let Some(valid) = token::parse(ticket) else { return Err(MfaError::TicketInvalid) };
        let hash = token::hash(valid);
        let lookup = hash.clone();
        let Some(found) = self.db.read(move |conn| mfa_tickets::find_live(conn, &lookup, db::now())).await? else {
            return Err(MfaError::TicketInvalid);
        };
        let ticket_key = Key::new("mfa_ticket", hash.clone(), MAX_CHECKS, self.window);
        let reservation = self.throttle.reserve(&[ticket_key, self.user_key(&found.user_id)]).await?;
        let (method, code) = (method.to_string(), code.to_string());
        let result = self
            .db
            .write(move |conn| {
                // Locked first, so uses of one ticket take turns: a wrong code leaves it for
                // another try, a right one spends it before the next use looks.
                if !mfa_tickets::lock_live(conn, &hash, db::now())? {
                    return Ok(Err(MfaError::TicketInvalid));
                }
                let Some(row) = mfa_tickets::find_live(conn, &hash, db::now())? else {
                    return Ok(Err(MfaError::TicketInvalid));
                };
                if let Err(e) = check_in(conn, &row.user_id, &method, &code)? {
                    return Ok(Err(e));
                }
                if !mfa_tickets::take(conn, &hash)? {
                    return Ok(Err(MfaError::TicketInvalid));
                }
                Ok(then(conn, &row)?.ok_or(MfaError::TicketInvalid))
            })
            .await?;
        settle(reservation, &result).await?;
        result
    }

    /// Forgets expired tickets (housekeeping).
    pub async fn prune(&self) -> Result<usize, DbError> {
        self.db.write(|conn| mfa_tickets::delete_expired(conn, db::now())).await
    }
}

/// A passed check gives its attempt back; anything else stays counted.
async fn settle<T>(reservation: Reservation, result: &Result<T, MfaError>) -> Result<(), DbError> {
    match result {
        Ok(_) => reservation.succeeded().await,
        Err(_) => {
            reservation.failed();
            Ok(())
        }
    }
}

/// Checks and spends one code of `method` for the user, inside the caller's transaction.
fn check_in(conn: &mut DbConnection, user_id: &str, method: &str, code: &str) -> Result<Result<(), MfaError>, DbError> {
    match method {
        METHOD_TOTP => {
            let Some(row) = totp::find(conn, user_id)?.filter(|r| r.confirmed_at.is_some()) else {
                return Ok(Err(MfaError::InvalidCode));
            };
            Ok(match totp_step(&row, code) {
                Err(e) => Err(e),
                Ok(Some(step)) if totp::take_step(conn, user_id, step)? => Ok(()),
                Ok(_) => Err(MfaError::InvalidCode),
            })
        }
        METHOD_RECOVERY_CODE => {
            let spent = totp::spend_code(conn, user_id, &token::hash(&normalize(code)), db::now())?;
            Ok(if spent { Ok(()) } else { Err(MfaError::InvalidCode) })
        }
        _ => Ok(Err(MfaError::UnknownMethod)),
    }
}

/// The time step `code` is valid for now (±1 step), if any.
fn totp_step(row: &TotpRow, code: &str) -> Result<Option<i64>, MfaError> {
    let secret = Secret::try_from_base32(&row.secret).map_err(|_| MfaError::BadSecret)?;
    let generator = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(STEP_SECONDS)
        .with_secret(secret)
        .build()
        .map_err(|_| MfaError::BadSecret)?;
    let now = u64::try_from(db::now().and_utc().timestamp()).unwrap_or(0);
    Ok(generator.check(code.trim(), now).and_then(|step| i64::try_from(step).ok()))
}

fn recovery_code() -> String {
    let mut rng = rand::rng();
    let mut pick = || char::from(RECOVERY_ALPHABET[rng.random_range(0..RECOVERY_ALPHABET.len())]);
    let first: String = (0..5).map(|_| pick()).collect();
    let second: String = (0..5).map(|_| pick()).collect();
    format!("{first}-{second}")
}

/// Recovery codes compare without case, dashes or spaces (as people copy them).
fn normalize(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
}

/// RFC 3986 unreserved characters pass; everything else is escaped (the label holds an
/// e-mail address, which may carry `+` or `%`).
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' | b':' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_two_groups_of_five_from_the_alphabet_and_compare_loosely() {
        let code = recovery_code();
        assert_eq!(code.len(), 11);
        assert_eq!(&code[5..6], "-");
        assert!(code.bytes().filter(|b| *b != b'-').all(|b| RECOVERY_ALPHABET.contains(&b)));
        assert_eq!(normalize(&code.to_uppercase()), normalize(&format!(" {} ", code.replace('-', ""))));
        assert_ne!(recovery_code(), recovery_code());
    }

    #[test]
    fn the_otpauth_label_escapes_what_an_address_may_hold() {
        assert_eq!(percent_encode("authql:a+b@x.io"), "authql:a%2Bb@x.io");
        assert_eq!(percent_encode("a b/c?d&e"), "a%20b%2Fc%3Fd%26e");
    }

    #[test]
    fn a_code_is_valid_for_its_step_and_one_either_side_only() {
        let row = TotpRow {
            user_id: "u".into(),
            secret: Secret::from([7u8; 20]).to_base32(),
            confirmed_at: None,
            last_used_step: None,
            created_at: db::now(),
        };
        let now = u64::try_from(db::now().and_utc().timestamp()).expect("after 1970") / STEP_SECONDS;
        let totp = Builder::new().with_secret(Secret::from([7u8; 20])).build().expect("defaults are RFC 6238");
        for step in [now - 1, now, now + 1] {
            let code = totp.generate(step * STEP_SECONDS).to_string();
            // Another step may share the code by chance; then it is still a valid step.
            let found = totp_step(&row, &code).expect("secret readable").expect("valid");
            assert!((now - 1..=now + 1).contains(&u64::try_from(found).expect("positive")), "{found}");
        }
        let far = totp.generate((now + 5) * STEP_SECONDS).to_string();
        let near: Vec<String> = (now - 1..=now + 1).map(|s| totp.generate(s * STEP_SECONDS).to_string()).collect();
        if !near.contains(&far) {
            assert_eq!(totp_step(&row, &far).expect("secret readable"), None);
        }
    }
}

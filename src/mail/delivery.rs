//! Handing one message to the world: an SMTP relay (`AUTHQL_SMTP_URL`), retried with
//! exponential backoff while the failure may pass, or, with no relay configured, the log.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::mail::MailError;
use crate::mail::templates::Letter;

/// A message ready to go, with what the log may say about it.
pub struct Outgoing {
    pub letter: Letter,
    pub to: Mailbox,
    pub message: Message,
}

/// How hard to try before giving up on a message.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
}

impl RetryPolicy {
    pub const DEFAULT: RetryPolicy = RetryPolicy { attempts: 5, first_delay: Duration::from_secs(1) };

    /// The pause after failed attempt `n` (1-based): doubling, capped at a minute.
    pub fn delay_after(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.saturating_sub(1));
        self.first_delay.saturating_mul(factor).min(Duration::from_secs(60))
    }
}

/// One SMTP exchange may not take longer than this, whatever the server does.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Connecting and each command (lettre's own timeout).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// Development: the message is written to the log.
    Log,
}

impl Transport {
    /// `smtp://[user:pass@]host[:port][/ehlo-name][?tls=required|opportunistic]` or
    /// `smtps://...` (lettre's connection URL); `None`: the log.
    pub fn from_url(url: Option<&str>) -> Result<Transport, MailError> {
        let Some(url) = url else { return Ok(Transport::Log) };
        // lettre's error would repeat the URL, and with it a password.
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|_| {
            MailError::Config(
                "AUTHQL_SMTP_URL: expected smtp://HOST[:PORT][?tls=required|opportunistic] or smtps://HOST[:PORT]"
                    .into(),
            )
        })?;
        Ok(Transport::Smtp(builder.timeout(Some(COMMAND_TIMEOUT)).build()))
    }

    /// Delivers `mail`, retrying transient failures; the outcome is logged, never returned,
    /// since no requester waits for it.
    pub async fn deliver(&self, mail: Outgoing, retry: RetryPolicy) {
        let kind = mail.letter.kind;
        let to = mail.to.email.to_string();
        let smtp = match self {
            Transport::Log => {
                // The documented development mode: the link (a live token) goes to the log,
                // which is why production must configure AUTHQL_SMTP_URL.
                tracing::info!(
                    target: "authql::mail",
                    kind,
                    to = %to,
                    subject = %mail.letter.subject,
                    link = %mail.letter.link,
                    "e-mail not sent (AUTHQL_SMTP_URL is unset); written here instead"
                );
                return;
            }
            Transport::Smtp(smtp) => smtp,
        };
        for attempt in 1..=retry.attempts.max(1) {
            let result = tokio::time::timeout(SEND_TIMEOUT, smtp.send(mail.message.clone())).await;
            let (error, permanent) = match result {
                Ok(Ok(_)) => {
                    tracing::info!(target: "authql::mail", kind, to = %to, attempt, "e-mail sent");
                    return;
                }
                Ok(Err(e)) => (e.to_string(), e.is_permanent()),
                Err(_) => ("timed out".to_string(), false),
            };
            if permanent || attempt >= retry.attempts {
                tracing::error!(
                    target: "authql::mail",
                    kind,
                    to = %to,
                    attempt,
                    %error,
                    "e-mail could not be sent; giving up"
                );
                return;
            }
            let wait = retry.delay_after(attempt);
            tracing::warn!(
                target: "authql::mail",
                kind,
                to = %to,
                attempt,
                %error,
                retry_in_ms = wait.as_millis() as u64,
                "e-mail not sent yet; will retry"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let r = RetryPolicy { attempts: 10, first_delay: Duration::from_secs(1) };
        let delays: Vec<u64> = (1..=8).map(|n| r.delay_after(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(r.delay_after(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn smtp_urls() {
        assert!(matches!(Transport::from_url(None), Ok(Transport::Log)));
        assert!(matches!(Transport::from_url(Some("smtp://127.0.0.1:2525")), Ok(Transport::Smtp(_))));
        assert!(matches!(Transport::from_url(Some("smtp://mail.example:587?tls=required")), Ok(Transport::Smtp(_))));
        assert!(matches!(Transport::from_url(Some("smtps://u:p@mail.example")), Ok(Transport::Smtp(_))));
        let err = Transport::from_url(Some("smtp://u:hunter2@mail.example?tls=maybe")).err().expect("refused");
        assert!(!err.to_string().contains("hunter2"));
    }
}

//! Outgoing e-mail: invites, password reset links and e-mail verification links.
//!
//! Sending never holds up a request: [`Mailer`] composes the message and puts it in a bounded
//! queue, which a background task ([`Mailer::start`]) drains, a few deliveries at a time,
//! each retried with backoff ([`delivery`]). A failure is logged, never shown to whoever
//! asked for the mail (they must not learn whether an address exists); when the queue is
//! full the message is dropped with a warning. The token in a link is never logged, except
//! in the development mode without `AUTHQL_SMTP_URL`, where the log is the mailbox.

pub(crate) mod delivery;
pub(crate) mod templates;

use std::sync::{Arc, Mutex};

use chrono::TimeDelta;
use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use secrecy::ExposeSecret;
use tokio::sync::{Semaphore, mpsc};

use crate::config::Config;
use crate::domain::Role;
use delivery::{Outgoing, RetryPolicy, Transport};
use templates::Letter;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("{0}")]
    Config(String),
}

/// Messages allowed to wait for delivery; past that, new ones are dropped.
pub(crate) const QUEUE_CAPACITY: usize = 1024;
/// Messages being delivered (or waiting to retry) at once.
const CONCURRENT_DELIVERIES: usize = 4;

/// The handle services hold to send mail. Cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

struct Inner {
    app_url: String,
    from: Mailbox,
    /// The right-hand side of Message-IDs: the sender's domain.
    domain: String,
    queue: mpsc::Sender<Outgoing>,
    /// Taken by [`Mailer::start`].
    worker: Mutex<Option<Worker>>,
}

struct Worker {
    queue: mpsc::Receiver<Outgoing>,
    transport: Transport,
    retry: RetryPolicy,
}

impl Mailer {
    /// The mailer the configuration asks for: SMTP at `AUTHQL_SMTP_URL`, or the log.
    pub fn from_config(config: &Config) -> Result<Mailer, MailError> {
        let url = config.smtp_url.as_ref().map(|s| s.expose_secret().to_string());
        let transport = Transport::from_url(url.as_deref())?;
        if matches!(transport, Transport::Log) {
            tracing::warn!(
                "AUTHQL_SMTP_URL is unset: e-mails (with their links) are written to the log; configure SMTP in production"
            );
        }
        Mailer::new(&config.app_url, &config.mail_from, transport, RetryPolicy::DEFAULT, QUEUE_CAPACITY)
    }

    pub fn new(
        app_url: &str,
        from: &str,
        transport: Transport,
        retry: RetryPolicy,
        capacity: usize,
    ) -> Result<Mailer, MailError> {
        let from: Mailbox =
            from.parse().map_err(|_| MailError::Config("AUTHQL_MAIL_FROM: not a valid e-mail address".into()))?;
        let domain = from.email.domain().to_string();
        let (tx, rx) = mpsc::channel(capacity.max(1));
        Ok(Mailer {
            inner: Arc::new(Inner {
                app_url: app_url.to_string(),
                from,
                domain,
                queue: tx,
                worker: Mutex::new(Some(Worker { queue: rx, transport, retry })),
            }),
        })
    }

    /// Starts the background delivery task (the first call; later ones do nothing). Needs a
    /// tokio runtime; until it runs, messages wait in the queue.
    pub fn start(&self) {
        let worker = self.inner.worker.lock().ok().and_then(|mut slot| slot.take());
        if let Some(worker) = worker {
            tokio::spawn(worker.run());
        }
    }

    /// Mails an invitation link, `AUTHQL_APP_URL/invite?token=...`. Returns whether the
    /// message was queued (false: bad address or full queue, already logged).
    pub fn send_invite(&self, to: &str, token: &str, role: Role) -> bool {
        self.enqueue(to, templates::invite(&self.inner.app_url, token, role))
    }

    /// Mails a password reset link, `AUTHQL_APP_URL/reset-password?token=...`.
    pub fn send_password_reset(&self, to: &str, token: &str, valid_for: TimeDelta) -> bool {
        let minutes = u64::try_from(valid_for.num_seconds()).unwrap_or(0).div_ceil(60).max(1);
        self.enqueue(to, templates::password_reset(&self.inner.app_url, token, minutes))
    }

    /// Mails an e-mail verification link, `AUTHQL_APP_URL/verify-email?token=...`.
    pub fn send_email_verification(&self, to: &str, token: &str) -> bool {
        self.enqueue(to, templates::email_verification(&self.inner.app_url, token))
    }

    fn enqueue(&self, to: &str, letter: Letter) -> bool {
        let kind = letter.kind;
        let Ok(recipient) = to.parse::<Mailbox>() else {
            tracing::warn!(target: "authql::mail", kind, "not a deliverable address; e-mail dropped");
            return false;
        };
        let message = match self.compose(&recipient, &letter) {
            Ok(m) => m,
            Err(error) => {
                tracing::error!(target: "authql::mail", kind, %error, "cannot compose e-mail; dropped");
                return false;
            }
        };
        match self.inner.queue.try_send(Outgoing { letter, to: recipient, message }) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(mail)) => {
                tracing::warn!(target: "authql::mail", kind, to = %mail.to.email, "mail queue is full; e-mail dropped");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!(target: "authql::mail", kind, "mail delivery has stopped; e-mail dropped");
                false
            }
        }
    }

    fn compose(&self, to: &Mailbox, letter: &Letter) -> Result<Message, lettre::error::Error> {
        Message::builder()
            .from(self.inner.from.clone())
            .to(to.clone())
            .subject(letter.subject.clone())
            .message_id(Some(format!("<{}@{}>", uuid::Uuid::new_v4().simple(), self.inner.domain)))
            .multipart(MultiPart::alternative_plain_html(letter.text.clone(), letter.html.clone()))
    }
}

impl Worker {
    async fn run(mut self) {
        let slots = Arc::new(Semaphore::new(CONCURRENT_DELIVERIES));
        while let Some(mail) = self.queue.recv().await {
            // Waiting here (not in the queue's sender) keeps the bound: at most
            // CONCURRENT_DELIVERIES in flight and QUEUE_CAPACITY waiting.
            let Ok(slot) = slots.clone().acquire_owned().await else { break };
            let (transport, retry) = (self.transport.clone(), self.retry);
            tokio::spawn(async move {
                transport.deliver(mail, retry).await;
                drop(slot);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailer(capacity: usize) -> Mailer {
        Mailer::new("http://app.test", "authql@example.com", Transport::Log, RetryPolicy::DEFAULT, capacity)
            .expect("valid")
    }

    #[test]
    fn a_full_queue_drops_instead_of_waiting() {
        let m = mailer(2);
        assert!(m.send_email_verification("a@example.com", "t1"));
        assert!(m.send_password_reset("b@example.com", "t2", TimeDelta::minutes(15)));
        assert!(!m.send_invite("c@example.com", "t3", Role::Member));
    }

    #[test]
    fn bad_addresses_are_dropped() {
        let m = mailer(8);
        assert!(!m.send_email_verification("not an address", "t"));
        assert!(!m.send_email_verification("a@example.com\r\nBcc: x@evil.example", "t"));
        assert!(m.send_email_verification("a@example.com", "t"));
    }

    #[test]
    fn the_sender_must_be_an_address() {
        let bad = Mailer::new("http://a", "nobody", Transport::Log, RetryPolicy::DEFAULT, 1);
        assert!(bad.is_err());
    }

    #[test]
    fn messages_have_both_parts_and_the_configured_sender() {
        let m = mailer(1);
        let to: Mailbox = "a@example.com".parse().expect("valid");
        let letter = templates::password_reset("http://app.test", "tok", 15);
        let raw = String::from_utf8(m.compose(&to, &letter).expect("composes").formatted()).expect("utf-8");
        assert!(raw.contains("From: authql@example.com"), "{raw}");
        assert!(raw.contains("To: a@example.com"));
        assert!(raw.contains("Subject: Reset your password"));
        assert!(raw.contains("multipart/alternative"));
        assert!(raw.contains("text/plain") && raw.contains("text/html"));
        assert!(raw.contains("Message-ID: <") && raw.contains("@example.com>"));
    }

    #[tokio::test]
    async fn start_runs_once() {
        let m = mailer(4);
        m.start();
        m.start();
        assert!(m.inner.worker.lock().expect("lock").is_none());
        assert!(m.send_email_verification("a@example.com", "t"));
    }
}

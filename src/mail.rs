//! Sending one e-mail: through the configured SMTP server with a bounded time, or (without
//! an SMTP host) to the log for a local trial. Knows nothing of what mails say or when
//! they go out: that is the outbox's (features::notify).

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::settings::SmtpSettings;

/// Sends mail, or (without an SMTP host) writes it to the log for a local trial.
#[derive(Clone)]
pub enum Mailer {
    Log,
    Smtp {
        transport: Box<AsyncSmtpTransport<Tokio1Executor>>,
        from: Mailbox,
        /// The most one delivery may take, from connecting to the server's last answer.
        limit: std::time::Duration,
    },
}

impl Mailer {
    pub fn from_settings(s: &SmtpSettings) -> anyhow::Result<Mailer> {
        if s.host.is_empty() {
            return Ok(Mailer::Log);
        }
        let mut b = match s.tls.as_str() {
            "implicit" => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host)?,
            "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)?,
            _ => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host),
        }
        .port(s.port)
        // Bounds each read and write; `send` bounds the whole delivery on top.
        .timeout(Some(std::time::Duration::from_secs(s.timeout_seconds)));
        if !s.username.is_empty() {
            b = b.credentials(Credentials::new(s.username.clone(), s.password.clone()));
        }
        Ok(Mailer::Smtp {
            transport: Box::new(b.build()),
            from: s.from.parse()?,
            limit: std::time::Duration::from_secs(s.timeout_seconds),
        })
    }

    /// The domain of the sender's address, for a Message-ID when the organisation's own
    /// address has no domain name.
    pub fn from_domain(&self) -> Option<String> {
        match self {
            Mailer::Log => None,
            Mailer::Smtp { from, .. } => Some(from.email.domain().to_string()),
        }
    }

    /// Sends one mail with a plain and an HTML part under `message_id` (`<...@...>`, the
    /// same for every attempt at the same mail); the error is for the outbox row.
    pub async fn send(
        &self,
        to: &str,
        subject: &str,
        text: String,
        html: String,
        message_id: &str,
    ) -> Result<(), SendError> {
        match self {
            Mailer::Log => {
                tracing::info!(to = %to, subject, message_id, "notification mail (no SMTP server configured)");
                Ok(())
            }
            Mailer::Smtp { transport, from, limit } => {
                let to: Mailbox = to
                    .parse()
                    .map_err(|e| SendError::refused(format!("invalid address: {e}")))?;
                let msg = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(subject)
                    // The caller's stable id: lettre's default would be new for every attempt.
                    .message_id(Some(message_id.to_string()))
                    .multipart(MultiPart::alternative_plain_html(text, html))
                    .map_err(|e| SendError::refused(e.to_string()))?;
                match tokio::time::timeout(*limit, transport.send(msg)).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(SendError {
                        // The server answered no (4xx, 5xx), or we never reached it: the mail
                        // is not there. Anything else may have broken after the mail was
                        // handed over.
                        maybe_delivered: !(e.is_transient() || e.is_permanent() || never_connected(&e)),
                        message: e.to_string(),
                    }),
                    Err(_) => Err(SendError {
                        maybe_delivered: true,
                        message: format!(
                            "the mail server did not finish within {} s (smtp.timeout_seconds)",
                            limit.as_secs()
                        ),
                    }),
                }
            }
        }
    }
}

/// Why a mail was not (known to be) delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    /// For the outbox row and the log.
    pub message: String,
    /// Whether the mail may have reached the server all the same: it went silent, or the
    /// connection broke, before its last answer.
    pub maybe_delivered: bool,
}

impl SendError {
    /// A mail that surely did not go out.
    pub fn refused(message: impl Into<String>) -> SendError {
        SendError {
            message: message.into(),
            maybe_delivered: false,
        }
    }
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Whether the connection to the server was refused (or its name not found): nothing was
/// sent.
fn never_connected(e: &lettre::transport::smtp::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
            );
        }
        source = err.source();
    }
    false
}

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

    /// Sends one mail with a plain and an HTML part; the error is for the outbox row.
    pub async fn send(&self, to: &str, subject: &str, text: String, html: String) -> Result<(), String> {
        match self {
            Mailer::Log => {
                tracing::info!(to = %to, subject, "notification mail (no SMTP server configured)");
                Ok(())
            }
            Mailer::Smtp { transport, from, limit } => {
                let to: Mailbox = to.parse().map_err(|e| format!("invalid address: {e}"))?;
                let msg = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(subject)
                    // Our own id on the sender's domain: lettre's default names this host.
                    .message_id(Some(format!("<{}@{}>", crate::ids::new_id().0, from.email.domain())))
                    .multipart(MultiPart::alternative_plain_html(text, html))
                    .map_err(|e| e.to_string())?;
                match tokio::time::timeout(*limit, transport.send(msg)).await {
                    Ok(sent) => sent.map(|_| ()).map_err(|e| e.to_string()),
                    Err(_) => Err(format!(
                        "the mail server did not finish within {} s (smtp.timeout_seconds)",
                        limit.as_secs()
                    )),
                }
            }
        }
    }
}

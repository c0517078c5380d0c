//! The mail outbox. Every e-mail is first a row written in the same transaction as the change
//! that caused it; a sender delivers due rows over SMTP with retries. With no SMTP configured
//! the rows wait, and Superusers read them in Settings → Outbox.
//!
//! Delivery claims a row with a lease (compare-and-swap), so two server processes never send
//! the same row at once; each message carries a stable Message-ID derived from its row.

use lettre::message::Mailbox;
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport, Message, Tokio1Executor};
use model::outbox::{MailStatus, OutboxMail};
use sqlx::AnyConnection;

use crate::clock::{HOUR_MS, MINUTE_MS, SECOND_MS};
use crate::{Db, DomainError, DomainResult};

pub const MAX_ATTEMPTS: i64 = 10;
const LEASE_MS: i64 = 2 * MINUTE_MS;

/// Wait before retry number `attempts` + 1: 30 s doubling, at most an hour.
pub fn backoff_ms(attempts: i64) -> i64 {
    let exp = attempts.clamp(1, 20) - 1;
    (30 * SECOND_MS).saturating_mul(1 << exp).min(HOUR_MS)
}

#[tracing::instrument(skip_all, fields(instance_id = ?instance_id))]
pub async fn enqueue(
    conn: &mut AnyConnection,
    instance_id: Option<i64>,
    recipient: &str,
    subject: &str,
    body: &str,
    now_ms: i64,
) -> DomainResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO outbox (instance_id, recipient, subject, body, status, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, 'queued', $5, $5) RETURNING id",
    )
    .bind(instance_id)
    .bind(recipient)
    .bind(subject)
    .bind(body)
    .bind(now_ms)
    .fetch_one(conn)
    .await?)
}

/// A mail about an alert; `reply_to` is the outbox row of the raise mail a resolve mail answers.
pub struct AlertMail<'a> {
    pub instance_id: Option<i64>,
    pub recipient: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub alert_id: i64,
    pub reply_to: Option<i64>,
}

#[tracing::instrument(skip_all)]
pub async fn enqueue_alert_mail(
    conn: &mut AnyConnection,
    mail: AlertMail<'_>,
    now_ms: i64,
) -> DomainResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO outbox (instance_id, recipient, subject, body, status, next_attempt_at, created_at, alert_id, reply_to)
         VALUES ($1, $2, $3, $4, 'queued', $5, $5, $6, $7) RETURNING id",
    )
    .bind(mail.instance_id)
    .bind(mail.recipient)
    .bind(mail.subject)
    .bind(mail.body)
    .bind(now_ms)
    .bind(mail.alert_id)
    .bind(mail.reply_to)
    .fetch_one(conn)
    .await?)
}

#[derive(sqlx::FromRow)]
struct MailRow {
    id: i64,
    recipient: String,
    subject: String,
    body: String,
    status: String,
    attempts: i64,
    last_error: Option<String>,
    created_at: i64,
    sent_at: Option<i64>,
}

impl From<MailRow> for OutboxMail {
    fn from(r: MailRow) -> Self {
        OutboxMail {
            id: r.id,
            recipient: r.recipient,
            subject: r.subject,
            body: r.body,
            status: MailStatus::parse(&r.status).unwrap_or(MailStatus::Failed),
            attempts: r.attempts,
            last_error: r.last_error,
            created_at: r.created_at,
            sent_at: r.sent_at,
        }
    }
}

/// The newest mails of one instance.
#[tracing::instrument(skip_all, fields(instance_id = instance_id))]
pub async fn list(conn: &mut AnyConnection, instance_id: i64, limit: i64) -> DomainResult<Vec<OutboxMail>> {
    let rows: Vec<MailRow> = sqlx::query_as(
        "SELECT id, recipient, subject, body, status, attempts, last_error, created_at, sent_at
         FROM outbox WHERE instance_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(instance_id)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(OutboxMail::from).collect())
}

/// An SMTP connection and the sender address.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// `url` as lettre reads it: `smtp://user:pass@host:587?tls=required`, `smtps://host`,
    /// or `smtp://127.0.0.1:2525` for a plain local relay.
    pub fn new(url: &str, from: &str) -> DomainResult<Mailer> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| {
                DomainError::internal(format!("SMTP URL {:?}: {e}", crate::secrets::redacted_url(url)))
            })?
            .build();
        let from = from
            .parse()
            .map_err(|e| DomainError::internal(format!("SMTP sender {from:?}: {e}")))?;
        Ok(Mailer { transport, from })
    }

    /// Each message's Message-ID derives from its outbox row, so a resend after a crash
    /// carries the same ID, and a reply names the raise mail it answers.
    async fn send(&self, mail: &Claimed) -> Result<(), String> {
        let Claimed {
            id,
            recipient,
            subject,
            body,
            reply_to,
            ..
        } = mail;
        let host = self.from.email.domain().to_owned();
        let mut message = Message::builder();
        if let Some(original) = reply_to {
            let original = format!("<outbox-{original}@{host}>");
            message = message.in_reply_to(original.clone()).references(original);
        }
        let message = message
            .from(self.from.clone())
            .to(recipient
                .parse()
                .map_err(|e| format!("recipient {recipient:?}: {e}"))?)
            .subject(subject)
            .message_id(Some(format!("<outbox-{id}@{host}>")))
            .body(body.clone())
            .map_err(|e| e.to_string())?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

struct Claimed {
    id: i64,
    recipient: String,
    subject: String,
    body: String,
    attempts: i64,
    reply_to: Option<i64>,
}

async fn claim(db: &Db, id: i64, now_ms: i64) -> DomainResult<Option<Claimed>> {
    let row: Option<(String, String, String, i64, Option<i64>)> = sqlx::query_as(
        "UPDATE outbox SET locked_until = $1, attempts = attempts + 1
         WHERE id = $2 AND status = 'queued' AND next_attempt_at <= $3 AND (locked_until IS NULL OR locked_until < $3)
         RETURNING recipient, subject, body, attempts, reply_to",
    )
    .bind(now_ms + LEASE_MS)
    .bind(id)
    .bind(now_ms)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|(recipient, subject, body, attempts, reply_to)| Claimed {
        id,
        recipient,
        subject,
        body,
        attempts,
        reply_to,
    }))
}

/// Sends every due mail once; returns how many were sent.
#[tracing::instrument(skip_all)]
pub async fn deliver_due(db: &Db, mailer: &Mailer, now_ms: i64) -> DomainResult<usize> {
    let due: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM outbox WHERE status = 'queued' AND next_attempt_at <= $1
           AND (locked_until IS NULL OR locked_until < $1) ORDER BY id LIMIT 50",
    )
    .bind(now_ms)
    .fetch_all(&db.pool)
    .await?;
    let mut sent = 0;
    for id in due {
        let Some(mail) = claim(db, id, now_ms).await? else {
            continue;
        };
        match mailer.send(&mail).await {
            Ok(()) => {
                sqlx::query("UPDATE outbox SET status = 'sent', sent_at = $1, locked_until = NULL, last_error = NULL WHERE id = $2")
                    .bind(now_ms)
                    .bind(mail.id)
                    .execute(&db.pool)
                    .await?;
                sent += 1;
            }
            Err(error) => {
                tracing::warn!(mail = mail.id, attempt = mail.attempts, %error, "mail delivery failed");
                let status = if mail.attempts >= MAX_ATTEMPTS {
                    "failed"
                } else {
                    "queued"
                };
                sqlx::query(
                    "UPDATE outbox SET status = $1, next_attempt_at = $2, locked_until = NULL, last_error = $3 WHERE id = $4",
                )
                .bind(status)
                .bind(now_ms + backoff_ms(mail.attempts))
                .bind(error)
                .bind(mail.id)
                .execute(&db.pool)
                .await?;
            }
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_an_hour() {
        assert_eq!(backoff_ms(1), 30 * SECOND_MS);
        assert_eq!(backoff_ms(2), 60 * SECOND_MS);
        assert_eq!(backoff_ms(4), 4 * MINUTE_MS);
        assert_eq!(backoff_ms(9), HOUR_MS);
    }
}

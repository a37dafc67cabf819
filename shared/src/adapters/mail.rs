//! Mailers: SES in AWS, and a local outbox that keeps every message for the
//! developer (console and the local mailbox route) and for tests.

use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_ses::types::{Body, Content, Destination, Message};

use crate::ports::{Mail, MailError, Mailer};

/// Sends through Amazon SES (`ses:SendEmail`) from a verified sender address.
pub struct SesMailer {
    client: aws_sdk_ses::Client,
    from: String,
}

impl SesMailer {
    pub fn new(client: aws_sdk_ses::Client, from: impl Into<String>) -> Self {
        Self { client, from: from.into() }
    }
}

fn content(text: &str) -> Result<Content, MailError> {
    Content::builder().data(text).charset("UTF-8").build().map_err(|e| MailError(e.to_string()))
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: Mail) -> Result<(), MailError> {
        let message = Message::builder()
            .subject(content(&mail.subject)?)
            .body(Body::builder().text(content(&mail.body)?).build())
            .build();
        self.client
            .send_email()
            .source(&self.from)
            .destination(Destination::builder().to_addresses(mail.to.as_str()).build())
            .message(message)
            .send()
            .await
            .map(|_| ())
            // The error names the operation and SES's code, never the recipient or the body.
            .map_err(|e| MailError(format!("SES SendEmail failed: {}", aws_sdk_ses::error::DisplayErrorContext(&e))))
    }
}

/// Keeps sent mail in memory; optionally prints each message to the console
/// (the developer's terminal, not the logs).
#[derive(Default)]
pub struct Outbox {
    sent: Mutex<Vec<Mail>>,
    print: bool,
}

impl Outbox {
    pub fn new() -> Self {
        Self::default()
    }

    /// An outbox that also prints every message to standard output.
    pub fn printing() -> Self {
        Self { sent: Mutex::new(Vec::new()), print: true }
    }

    pub fn messages(&self) -> Vec<Mail> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[async_trait]
impl Mailer for Outbox {
    async fn send(&self, mail: Mail) -> Result<(), MailError> {
        if self.print {
            println!(
                "\n──── mail to {} ────\nSubject: {}\n\n{}\n────────────────────\n",
                mail.to.as_str(),
                mail.subject,
                mail.body
            );
        }
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).push(mail);
        Ok(())
    }
}

//! Configuration, read from the environment once per cold start, and the
//! context each function builds from it with only the clients it needs.

use std::sync::Arc;

use crate::adapters::dynamo::DynamoTable;
use crate::adapters::mail::SesMailer;
use crate::adapters::system::{SecureRandom, SystemClock};
use crate::adapters::TableStore;
use crate::crypto::{Pepper, TokenSigner, TokenVerifier};
use crate::http::Group;
use crate::ports::Mailer;
use crate::services::Ctx;

pub const DEFAULT_ISSUER: &str = "member-portal";
pub const DEFAULT_AUDIENCE: &str = "member-portal";

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn required(name: &str) -> Result<String, ConfigError> {
    var(name).ok_or_else(|| ConfigError(format!("{name} is not set")))
}

/// Everything read from the environment. Secrets are only read by the groups that use them.
pub struct Config {
    /// `PORTAL_TABLE_NAME`.
    pub table_name: String,
    /// `PORTAL_DYNAMODB_ENDPOINT`: a local DynamoDB-compatible server instead of AWS.
    pub dynamodb_endpoint: Option<String>,
    /// `PORTAL_SES_ENDPOINT`: a local SES-compatible server instead of AWS.
    pub ses_endpoint: Option<String>,
    /// `PORTAL_MAIL_FROM`: the verified SES sender.
    pub mail_from: Option<String>,
    /// `PORTAL_URL`: the member portal's public address, for links in mail.
    pub portal_url: String,
    /// `PORTAL_JWT_ISSUER`, `PORTAL_JWT_AUDIENCE`.
    pub issuer: String,
    pub audience: String,
    /// `PORTAL_JWT_PUBLIC_KEY`: Ed25519 public key, PEM.
    pub jwt_public_key: String,
    /// `PORTAL_JWT_PRIVATE_KEY`: Ed25519 private key, PKCS#8 PEM (auth only).
    pub jwt_private_key: Option<String>,
    /// `PORTAL_CODE_PEPPER`: HMAC key for codes and rate-limit keys, ≥ 32 bytes (auth and members).
    pub code_pepper: Option<String>,
}

/// PEM keys may arrive with literal `\n` from a single-line environment variable.
fn pem(value: String) -> String {
    value.replace("\\n", "\n")
}

impl Config {
    /// Reads what `group` needs, failing clearly when something required is missing.
    pub fn from_env(group: Group) -> Result<Self, ConfigError> {
        let signs = group == Group::Auth;
        let hashes_codes = matches!(group, Group::Auth | Group::Members);
        let mails = matches!(group, Group::Auth | Group::Members | Group::Admin);
        Ok(Config {
            table_name: required("PORTAL_TABLE_NAME")?,
            dynamodb_endpoint: var("PORTAL_DYNAMODB_ENDPOINT"),
            ses_endpoint: var("PORTAL_SES_ENDPOINT"),
            mail_from: if mails { Some(required("PORTAL_MAIL_FROM")?) } else { None },
            portal_url: var("PORTAL_URL")
                .unwrap_or_else(|| "http://127.0.0.1:3000".into())
                .trim_end_matches('/')
                .to_owned(),
            issuer: var("PORTAL_JWT_ISSUER").unwrap_or_else(|| DEFAULT_ISSUER.into()),
            audience: var("PORTAL_JWT_AUDIENCE").unwrap_or_else(|| DEFAULT_AUDIENCE.into()),
            jwt_public_key: pem(required("PORTAL_JWT_PUBLIC_KEY")?),
            jwt_private_key: if signs { Some(pem(required("PORTAL_JWT_PRIVATE_KEY")?)) } else { None },
            code_pepper: if hashes_codes { Some(required("PORTAL_CODE_PEPPER")?) } else { None },
        })
    }

    /// The context for `group`: the table, and a mailer, signer and pepper only where its routes use them.
    pub async fn context(&self) -> Result<Ctx, ConfigError> {
        let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;

        let mut dynamo = aws_sdk_dynamodb::config::Builder::from(&aws);
        if let Some(endpoint) = &self.dynamodb_endpoint {
            dynamo = dynamo.endpoint_url(endpoint);
        }
        let table = DynamoTable::new(aws_sdk_dynamodb::Client::from_conf(dynamo.build()), &self.table_name);

        let mailer: Option<Arc<dyn Mailer>> = match &self.mail_from {
            Some(from) => {
                let mut ses = aws_sdk_ses::config::Builder::from(&aws);
                if let Some(endpoint) = &self.ses_endpoint {
                    ses = ses.endpoint_url(endpoint);
                }
                Some(Arc::new(SesMailer::new(aws_sdk_ses::Client::from_conf(ses.build()), from)))
            }
            None => None,
        };
        let verifier = TokenVerifier::from_pem(&self.jwt_public_key, &self.issuer, &self.audience)
            .map_err(|e| ConfigError(format!("PORTAL_JWT_PUBLIC_KEY: {e}")))?;
        let signer = self
            .jwt_private_key
            .as_deref()
            .map(|k| TokenSigner::from_pem(k, &self.issuer, &self.audience))
            .transpose()
            .map_err(|e| ConfigError(format!("PORTAL_JWT_PRIVATE_KEY: {e}")))?;
        let pepper = self
            .code_pepper
            .as_deref()
            .map(|p| Pepper::new(p.as_bytes()))
            .transpose()
            .map_err(|e| ConfigError(format!("PORTAL_CODE_PEPPER: {e}")))?;
        Ok(Ctx {
            store: Arc::new(TableStore::new(table)),
            clock: Arc::new(SystemClock),
            random: Arc::new(SecureRandom),
            verifier: Arc::new(verifier),
            signer: signer.map(Arc::new),
            mailer,
            pepper: pepper.map(Arc::new),
            portal_url: self.portal_url.clone(),
        })
    }
}

/// A context for local runs and tests: the given store, mailer and clock, a
/// fresh Ed25519 key pair and pepper (sessions do not outlive the process).
pub fn local_context(
    store: crate::ports::SharedStore,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn crate::ports::Clock>,
    portal_url: &str,
) -> Ctx {
    let (private, public) = crate::crypto::generate_ed25519_pem();
    let mut pepper = [0u8; 32];
    crate::ports::Random::fill(&SecureRandom, &mut pepper);
    Ctx {
        store,
        clock,
        random: Arc::new(SecureRandom),
        verifier: Arc::new(TokenVerifier::from_pem(&public, DEFAULT_ISSUER, DEFAULT_AUDIENCE).expect("generated key")),
        signer: Some(Arc::new(
            TokenSigner::from_pem(&private, DEFAULT_ISSUER, DEFAULT_AUDIENCE).expect("generated key"),
        )),
        mailer: Some(mailer),
        pepper: Some(Arc::new(Pepper::new(&pepper).expect("32 bytes"))),
        portal_url: portal_url.trim_end_matches('/').to_owned(),
    }
}

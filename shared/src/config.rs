//! Configuration, read from the environment once per cold start, and the
//! context each function builds from it with only the clients it needs.

use std::sync::Arc;

use crate::adapters::dynamo::DynamoTable;
use crate::adapters::mail::SesMailer;
use crate::adapters::sandbox::SandboxGateway;
use crate::adapters::stripe::StripeGateway;
use crate::adapters::system::{SecureRandom, SystemClock};
use crate::adapters::TableStore;
use crate::crypto::{Pepper, TokenSigner, TokenVerifier};
use crate::http::Group;
use crate::ports::{Mailer, PaymentGateway};
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
    /// The payment processor, for the billing functions.
    pub payments: Option<PaymentsConfig>,
}

/// `PORTAL_PAYMENTS` = `stripe` (default) with `PORTAL_STRIPE_SECRET_KEY` (and
/// `PORTAL_STRIPE_API_BASE` for a local fake), or `sandbox` for local runs.
#[derive(Debug, Clone)]
pub enum PaymentsConfig {
    Stripe { secret_key: String, api_base: String },
    Sandbox,
}

impl PaymentsConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        match var("PORTAL_PAYMENTS").as_deref() {
            Some("sandbox") => Ok(PaymentsConfig::Sandbox),
            None | Some("stripe") => Ok(PaymentsConfig::Stripe {
                secret_key: required("PORTAL_STRIPE_SECRET_KEY")?,
                api_base: var("PORTAL_STRIPE_API_BASE").unwrap_or_else(|| crate::adapters::stripe::API_BASE.into()),
            }),
            Some(other) => Err(ConfigError(format!("PORTAL_PAYMENTS must be stripe or sandbox, not {other}"))),
        }
    }

    pub fn gateway(&self) -> Result<Arc<dyn PaymentGateway>, ConfigError> {
        Ok(match self {
            PaymentsConfig::Sandbox => Arc::new(SandboxGateway::new()),
            PaymentsConfig::Stripe { secret_key, api_base } => Arc::new(
                StripeGateway::new(secret_key, api_base, std::time::Duration::from_secs(20))
                    .map_err(|e| ConfigError(format!("Stripe: {e}")))?,
            ),
        })
    }
}

/// What a function's routes use, so it reads and builds nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    pub signer: bool,
    pub pepper: bool,
    pub mailer: bool,
    pub gateway: bool,
}

impl Needs {
    pub fn of(group: Group) -> Needs {
        Needs {
            signer: group == Group::Auth,
            pepper: matches!(group, Group::Auth | Group::Members),
            mailer: matches!(group, Group::Auth | Group::Members | Group::Admin),
            gateway: matches!(group, Group::Payments | Group::PaymentSources),
        }
    }

    /// The scheduled reconciliation: the table and the processor.
    pub const RECONCILE: Needs = Needs { signer: false, pepper: false, mailer: false, gateway: true };
}

/// PEM keys may arrive with literal `\n` from a single-line environment variable.
fn pem(value: String) -> String {
    value.replace("\\n", "\n")
}

impl Config {
    /// Reads what a function needs, failing clearly when something required is missing.
    pub fn from_env(needs: Needs) -> Result<Self, ConfigError> {
        let (signs, hashes_codes, mails) = (needs.signer, needs.pepper, needs.mailer);
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
            payments: if needs.gateway { Some(PaymentsConfig::from_env()?) } else { None },
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
            gateway: self.payments.as_ref().map(PaymentsConfig::gateway).transpose()?,
            portal_url: self.portal_url.clone(),
        })
    }
}

/// A context for local runs and tests: the given store, mailer and clock, a
/// fresh Ed25519 key pair and pepper (sessions do not outlive the process).
pub fn local_context(
    store: crate::ports::SharedStore,
    mailer: Arc<dyn Mailer>,
    gateway: Arc<dyn PaymentGateway>,
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
        gateway: Some(gateway),
        portal_url: portal_url.trim_end_matches('/').to_owned(),
    }
}

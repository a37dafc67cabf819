//! Use cases, one module per area. Each takes the caller's identity and the
//! context of ports; it decides and records.

pub mod access;
pub mod admin;
pub mod agreements;
pub mod billing;
pub mod members;
pub mod memberships;
pub mod payment_sources;
pub mod payments;
pub mod statements;

use std::sync::Arc;

use crate::crypto::{Pepper, TokenSigner, TokenVerifier};
use crate::domain::ids::{MemberId, PracticeId, SessionId};
use crate::domain::FieldError;
use crate::ports::{Clock, MailError, Mailer, PaymentGateway, Random, SharedStore, StoreError};

/// Everything a use case may need. A function gets only the parts its routes
/// use: `signer`, `mailer` and `pepper` are absent where no route needs them.
#[derive(Clone)]
pub struct Ctx {
    pub store: SharedStore,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
    pub verifier: Arc<TokenVerifier>,
    pub signer: Option<Arc<TokenSigner>>,
    pub mailer: Option<Arc<dyn Mailer>>,
    pub pepper: Option<Arc<Pepper>>,
    pub gateway: Option<Arc<dyn PaymentGateway>>,
    /// The member portal's public address, for links in mail (no trailing slash).
    pub portal_url: String,
}

impl Ctx {
    fn signer(&self) -> Result<&TokenSigner> {
        self.signer.as_deref().ok_or_else(|| Error::Internal("this function holds no signing key".into()))
    }

    fn mailer(&self) -> Result<&dyn Mailer> {
        self.mailer.as_deref().ok_or_else(|| Error::Internal("this function has no mailer".into()))
    }

    fn pepper(&self) -> Result<&Pepper> {
        self.pepper.as_deref().ok_or_else(|| Error::Internal("this function holds no code pepper".into()))
    }
}

/// A signed-in member, as proven by a live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub practice_id: PracticeId,
    pub member_id: MemberId,
    pub session_id: SessionId,
}

/// A practice system, as proven by its API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminCaller {
    pub practice_id: PracticeId,
}

/// Why a one-time code was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRejection {
    Wrong { remaining: u32 },
    Expired,
    Used,
    Locked,
}

/// What can go wrong in a use case; `http::problem` maps each to one answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("not signed in: {0}")]
    Unauthenticated(&'static str),
    #[error("the access link is not valid")]
    LinkInvalid,
    #[error("the code was not accepted")]
    Code(CodeRejection),
    /// Name and date of birth are the practice's to change.
    #[error("only the practice can change {fields:?}")]
    ContactPractice { fields: Vec<&'static str>, contact: Box<members::PracticeContact> },
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("the last payment source cannot be removed")]
    LastSource(String),
    #[error("the idempotency key was used with another request")]
    IdempotencyKeyReused,
    #[error("a service the request needs is unavailable: {0}")]
    Unavailable(String),
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn field(field: &str, message: &str) -> Self {
        Error::Validation(vec![FieldError::new(field, message)])
    }
}

impl From<Vec<FieldError>> for Error {
    fn from(errors: Vec<FieldError>) -> Self {
        Error::Validation(errors)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidCursor => Error::field("cursor", "is not a cursor this feed handed out"),
            StoreError::Conflict => {
                Error::Conflict("the record was changed by another request; reload it and try again".into())
            }
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<MailError> for Error {
    fn from(e: MailError) -> Self {
        Error::Internal(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Error>;

//! What the services need from the world. Nothing here names AWS: the store,
//! mailer, clock and random source each have a production and a local adapter.

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::access::{AccessLink, Challenge, RateWindow, Session};
use crate::domain::agreements::{Agreement, AgreementDocument};
use crate::domain::audit::AuditEvent;
use crate::domain::billing::{BillingProfile, Decline, Invoice, Payment, PaymentSource, SourceDetails};
use crate::domain::contact::Email;
use crate::domain::household::EmailChange;
use crate::domain::ids::{
    AgreementId, ChallengeId, DocumentId, InvoiceId, MemberId, MembershipId, PaymentId, PracticeId, SessionId,
};
use crate::domain::member::Member;
use crate::domain::membership::Membership;
use crate::domain::practice::Practice;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A condition failed: the item exists, is missing, or changed since it was read.
    #[error("the write conflicts with the stored state")]
    Conflict,
    /// The store could not be reached or answered with an error.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A page cursor that this store did not hand out for this query.
    #[error("the cursor is not valid for this query")]
    InvalidCursor,
    /// A stored item could not be read back as its type.
    #[error("stored item is corrupt: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A practice API key, found by the hash of the secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApiKey {
    pub practice_id: PracticeId,
    /// A label for people (e.g. "EHR sync"); never the secret.
    pub label: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[async_trait]
pub trait PracticeRepo {
    async fn get_practice(&self, id: &PracticeId) -> StoreResult<Option<Practice>>;
    /// Creates a practice and its first API key together; `Conflict` if the practice exists.
    async fn create_practice(&self, practice: &Practice, key_hash: &str, key: &ApiKey) -> StoreResult<()>;
    async fn find_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKey>>;
}

#[async_trait]
pub trait MemberRepo {
    async fn get_member(&self, practice: &PracticeId, id: &MemberId) -> StoreResult<Option<Member>>;
    /// The members among `ids` that exist, in no particular order.
    async fn get_members(&self, practice: &PracticeId, ids: &[MemberId]) -> StoreResult<Vec<Member>>;
    /// Creates (when `previous` is `None`) or replaces a member whose stored version is
    /// `previous.version`, appending `audit` in the same transaction.
    async fn save_member(&self, member: &Member, previous: Option<&Member>, audit: &[AuditEvent]) -> StoreResult<()>;
    async fn members_with_email(&self, practice: &PracticeId, email: &Email) -> StoreResult<Vec<Member>>;

    /// Stores a pending email change, replacing any earlier one for the member.
    async fn put_email_change(&self, change: &EmailChange) -> StoreResult<()>;
    async fn get_email_change(&self, practice: &PracticeId, member: &MemberId) -> StoreResult<Option<EmailChange>>;
    /// Replaces a pending change whose stored version is `next.version - 1` (a counted try).
    async fn update_email_change(&self, next: &EmailChange) -> StoreResult<()>;
    /// Applies a confirmed change in one transaction: the member (conditional on
    /// `previous.version`), the spent change removed (conditional on its version), and `audit`.
    async fn complete_email_change(
        &self,
        member: &Member,
        previous: &Member,
        change: &EmailChange,
        audit: &[AuditEvent],
    ) -> StoreResult<()>;
}

/// One page of the audit feed.
#[derive(Debug, Clone, Default)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// Pass back to get the next page; `None` at the end.
    pub next_cursor: Option<String>,
}

#[async_trait]
pub trait AuditRepo {
    /// Events of the practice in time order, optionally for one member and from a time on.
    async fn audit_page(
        &self,
        practice: &PracticeId,
        member: Option<&MemberId>,
        since: Option<OffsetDateTime>,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<AuditPage>;
}

#[async_trait]
pub trait MembershipRepo {
    async fn get_membership(&self, practice: &PracticeId, id: &MembershipId) -> StoreResult<Option<Membership>>;
    /// Creates or replaces a membership (conditional on `previous.version`), keeping
    /// every participant's view of it in step in the same transaction.
    async fn save_membership(&self, membership: &Membership, previous: Option<&Membership>) -> StoreResult<()>;
    /// Every membership the member owns or is enrolled in.
    async fn memberships_of(&self, practice: &PracticeId, member: &MemberId) -> StoreResult<Vec<Membership>>;
}

/// A counter scope for rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateScope {
    Email,
    Link,
}

#[async_trait]
pub trait AccessRepo {
    async fn put_link(&self, token_hash: &str, link: &AccessLink) -> StoreResult<()>;
    async fn get_link(&self, token_hash: &str) -> StoreResult<Option<AccessLink>>;

    async fn get_rate_window(&self, scope: RateScope, key_hash: &str) -> StoreResult<Option<RateWindow>>;
    /// Stores `next` if the stored window still has `next.version - 1` (or is absent when 0).
    async fn put_rate_window(&self, scope: RateScope, key_hash: &str, next: &RateWindow) -> StoreResult<()>;

    async fn create_challenge(&self, challenge: &Challenge) -> StoreResult<()>;
    async fn get_challenge(&self, id: &ChallengeId) -> StoreResult<Option<Challenge>>;
    /// Replaces a challenge whose stored version is `next.version - 1`.
    async fn update_challenge(&self, next: &Challenge) -> StoreResult<()>;

    async fn create_session(&self, session: &Session) -> StoreResult<()>;
    async fn get_session(&self, id: &SessionId) -> StoreResult<Option<Session>>;
    /// Replaces a session whose stored version is `next.version - 1`.
    async fn update_session(&self, next: &Session) -> StoreResult<()>;
    async fn delete_session(&self, id: &SessionId) -> StoreResult<()>;
}

#[async_trait]
pub trait BillingRepo {
    /// The practice's last invoice number (0 before the first).
    async fn invoice_sequence(&self, practice: &PracticeId) -> StoreResult<u64>;
    /// Creates an invoice numbered `sequence`, conditional on the practice's counter still being `sequence - 1`.
    async fn create_invoice(&self, invoice: &Invoice, sequence: u64) -> StoreResult<()>;
    async fn get_invoice(
        &self,
        practice: &PracticeId,
        member: &MemberId,
        id: &InvoiceId,
    ) -> StoreResult<Option<Invoice>>;
    /// An invoice by id alone (the admin API), through its pointer.
    async fn find_invoice(&self, practice: &PracticeId, id: &InvoiceId) -> StoreResult<Option<Invoice>>;
    async fn invoices_of(&self, practice: &PracticeId, member: &MemberId) -> StoreResult<Vec<Invoice>>;
    /// The member's invoices among `ids` (others, and unknown ids, are simply absent).
    async fn get_invoices(
        &self,
        practice: &PracticeId,
        member: &MemberId,
        ids: &[InvoiceId],
    ) -> StoreResult<Vec<Invoice>>;
    /// Replaces an invoice whose stored version is `next.version - 1`.
    async fn save_invoice(&self, next: &Invoice) -> StoreResult<()>;

    async fn billing_profile(&self, practice: &PracticeId, member: &MemberId) -> StoreResult<Option<BillingProfile>>;
    /// Stores a profile whose stored version is `next.version - 1` (absent for version 1).
    async fn save_billing_profile(&self, next: &BillingProfile) -> StoreResult<()>;
    async fn sources_of(&self, practice: &PracticeId, member: &MemberId) -> StoreResult<Vec<PaymentSource>>;
    /// Adds a source and the profile that counts it, in one transaction.
    async fn add_source(&self, source: &PaymentSource, profile: &BillingProfile) -> StoreResult<()>;
    /// Removes a source and stores the profile that no longer counts it, in one transaction.
    async fn remove_source(&self, source: &PaymentSource, profile: &BillingProfile) -> StoreResult<()>;

    async fn get_payment(
        &self,
        practice: &PracticeId,
        member: &MemberId,
        id: &PaymentId,
    ) -> StoreResult<Option<Payment>>;
    /// The payment an idempotency key was first used for.
    async fn payment_for_key(
        &self,
        practice: &PracticeId,
        member: &MemberId,
        key: &str,
    ) -> StoreResult<Option<PaymentId>>;
    /// Records a pending payment, claims its idempotency key and stores the invoices holding its
    /// amounts (each conditional on its version), in one transaction.
    async fn start_payment(&self, payment: &Payment, invoices: &[Invoice]) -> StoreResult<()>;
    /// Records the outcome (conditional on the payment still being the pending version), the
    /// invoices after it, and a source saved with it, in one transaction.
    async fn settle_payment(
        &self,
        payment: &Payment,
        invoices: &[Invoice],
        saved: Option<(&PaymentSource, &BillingProfile)>,
    ) -> StoreResult<()>;
    /// Payments of every practice still pending and created before `before`, oldest first.
    async fn pending_payments(&self, before: OffsetDateTime) -> StoreResult<Vec<Payment>>;
}

#[async_trait]
pub trait AgreementRepo {
    /// Publishes a document; documents never change afterwards.
    async fn put_document(&self, document: &AgreementDocument) -> StoreResult<()>;
    async fn get_document(&self, practice: &PracticeId, id: &DocumentId) -> StoreResult<Option<AgreementDocument>>;
    async fn documents(&self, practice: &PracticeId) -> StoreResult<Vec<AgreementDocument>>;
    async fn create_agreement(&self, agreement: &Agreement) -> StoreResult<()>;
    async fn agreements_of(&self, practice: &PracticeId, member: &MemberId) -> StoreResult<Vec<Agreement>>;
    async fn get_agreement(
        &self,
        practice: &PracticeId,
        member: &MemberId,
        id: &AgreementId,
    ) -> StoreResult<Option<Agreement>>;
    /// Stores the signed agreement (conditional on the unsigned version read) with its audit event, in one transaction.
    async fn sign_agreement(&self, signed: &Agreement, audit: &AuditEvent) -> StoreResult<()>;
}

/// Every repository the services use.
pub trait Store:
    PracticeRepo + MemberRepo + MembershipRepo + AccessRepo + AuditRepo + BillingRepo + AgreementRepo + Send + Sync
{
}
impl<
        T: PracticeRepo + MemberRepo + MembershipRepo + AccessRepo + AuditRepo + BillingRepo + AgreementRepo + Send + Sync,
    > Store for T
{
}

/// One message to one address. Plain text: it reads well everywhere and
/// carries nothing a mail client could run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mail {
    pub to: Email,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
#[error("mail could not be sent: {0}")]
pub struct MailError(pub String);

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, mail: Mail) -> Result<(), MailError>;
}

pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// A cryptographically secure random source.
pub trait Random: Send + Sync {
    fn fill(&self, buf: &mut [u8]);

    fn bytes16(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        self.fill(&mut b);
        b
    }

    fn u32(&self) -> u32 {
        let mut b = [0u8; 4];
        self.fill(&mut b);
        u32::from_le_bytes(b)
    }
}

pub type SharedStore = Arc<dyn Store>;

// ---- payment processor ----------------------------------------------------------

/// A payment method as the processor describes it after attaching it to a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodInfo {
    /// The processor's id of the attached method (`pm_…`).
    pub processor_id: String,
    pub details: SourceDetails,
}

/// One off-session charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    pub customer: String,
    pub method: String,
    pub amount_cents: i64,
    /// ISO code, lowercase as processors take it.
    pub currency: String,
    /// Sent as the processor's idempotency key: the same key never charges twice.
    pub idempotency_key: String,
    pub payment_id: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    Succeeded {
        processor_id: String,
    },
    /// Accepted but not final (bank debits): settle later.
    Processing {
        processor_id: String,
    },
    Declined {
        processor_id: Option<String>,
        decline: Decline,
    },
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    /// No answer, or an answer that leaves the outcome unknown (timeouts, dropped connections).
    #[error("the processor's answer is unknown: {0}")]
    Uncertain(String),
    /// The payment method does not exist or cannot be used.
    #[error("the payment method cannot be used: {0}")]
    InvalidMethod(String),
    /// The processor refused the request for another reason.
    #[error("the processor refused the request: {0}")]
    Rejected(String),
}

#[async_trait]
pub trait PaymentGateway: Send + Sync {
    async fn create_customer(&self, practice: &PracticeId, member: &MemberId) -> Result<String, GatewayError>;
    /// What the front end's processor library needs to collect a card or bank account.
    async fn setup_intent(&self, customer: &str) -> Result<String, GatewayError>;
    async fn attach_method(&self, customer: &str, method: &str) -> Result<MethodInfo, GatewayError>;
    async fn detach_method(&self, method: &str) -> Result<(), GatewayError>;
    /// Charges off-session. Repeating a request with the same idempotency key returns the first outcome.
    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, GatewayError>;
    /// The current state of an earlier charge.
    async fn retrieve_charge(&self, processor_id: &str) -> Result<ChargeOutcome, GatewayError>;
}

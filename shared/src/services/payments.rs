//! Paying invoices, exactly once.
//!
//! 1. The payment is recorded as pending, its idempotency key claimed and its
//!    amounts held on the invoices, in one conditional transaction: a second
//!    request with the key, or a payment that would take more than is open, stops here.
//! 2. The processor is charged with an idempotency key derived from the payment.
//! 3. The outcome is recorded with the invoices in one conditional transaction.
//!
//! A crash or timeout between 2 and 3 leaves the payment pending; `reconcile`
//! asks the processor and finishes step 3, so no charge is lost or applied twice.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime};

use super::access::RETRIES;
use super::billing::InvoiceSummary;
use super::{Caller, Ctx, Error, Result};
use crate::crypto::sha256_hex;
use crate::domain::billing::{
    check_payable, to_cents, Allocation, BillingProfile, Decline, Invoice, Payment, PaymentRuleError, PaymentSource,
    PaymentStatus, SourceDetails,
};
use crate::domain::ids::{InvoiceId, MemberId, PaymentId, PracticeId, SourceId};
use crate::domain::money::Money;
use crate::domain::{FieldError, Fields};
use crate::ports::{ChargeOutcome, ChargeRequest, GatewayError, PaymentGateway, StoreError};

/// At most this many invoices in one payment (one transaction holds them all).
pub const MAX_ALLOCATIONS: usize = 50;
/// Reconciliation leaves younger pending payments to the request still handling them.
pub const RECONCILE_AFTER: Duration = Duration::minutes(2);

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocationInput {
    pub invoice_id: String,
    /// Decimal string with at most two places, more than zero and at most the invoice's balance.
    pub amount: String,
}

/// A payment request. The source is a saved one (`source_id`), a new one from
/// the processor's client library (`payment_method_id`, saved when
/// `save_source`), or, when neither is given, the default saved source.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    #[serde(default)]
    #[schema(value_type = Vec<AllocationInput>)]
    pub allocations: Vec<AllocationBody>,
    #[serde(default)]
    pub source_id: Option<String>,
    #[serde(default)]
    pub payment_method_id: Option<String>,
    #[serde(default)]
    pub save_source: bool,
    /// With a new payment method: also pay every other past-due invoice in full.
    #[serde(default)]
    pub include_past_due: bool,
}

/// An allocation as sent (kept raw so the request hash is exactly what was sent).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AllocationBody {
    pub invoice_id: String,
    pub amount: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PaymentView {
    pub id: PaymentId,
    pub status: PaymentStatus,
    pub amount: Money,
    #[schema(value_type = String, example = "USD")]
    pub currency: String,
    pub allocations: Vec<Allocation>,
    /// How the source is shown: "Visa •••• 4242".
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decline: Option<Decline>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// The invoices paid, as they stand after the payment.
    pub invoices: Vec<InvoiceSummary>,
}

fn gateway(ctx: &Ctx) -> Result<&dyn PaymentGateway> {
    ctx.gateway.as_deref().ok_or_else(|| Error::Internal("this function has no payment processor".into()))
}

/// The member's billing profile, with a customer at the processor.
pub(crate) async fn profile_with_customer(
    ctx: &Ctx,
    practice: &PracticeId,
    member: &MemberId,
) -> Result<(BillingProfile, String)> {
    for _ in 0..RETRIES {
        let profile = ctx
            .store
            .billing_profile(practice, member)
            .await?
            .unwrap_or_else(|| BillingProfile::new(practice.clone(), member.clone()));
        if let Some(customer) = profile.customer_id.clone() {
            return Ok((profile, customer));
        }
        let customer = gateway(ctx)?.create_customer(practice, member).await.map_err(processor_error)?;
        let next = BillingProfile { customer_id: Some(customer.clone()), version: profile.version + 1, ..profile };
        match ctx.store.save_billing_profile(&next).await {
            Ok(()) => return Ok((next, customer)),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict("the billing profile is busy; try again".into()))
}

pub(crate) fn processor_error(e: GatewayError) -> Error {
    match e {
        GatewayError::InvalidMethod(m) => Error::field("payment_method_id", &m),
        GatewayError::Rejected(m) => Error::Internal(format!("the processor refused: {m}")),
        GatewayError::Uncertain(m) => Error::Unavailable(format!("the payment processor did not answer: {m}")),
    }
}

/// The processor's idempotency key for a payment: one payment, one charge.
fn charge_key(payment: &PaymentId) -> String {
    format!("portal-{payment}")
}

fn charge_request(payment: &Payment, currency: &str) -> ChargeRequest {
    ChargeRequest {
        customer: payment.customer_id.clone(),
        method: payment.processor_method.clone(),
        amount_cents: to_cents(payment.amount),
        currency: currency.to_ascii_lowercase(),
        idempotency_key: charge_key(&payment.id),
        payment_id: payment.id.to_string(),
        description: format!("Member portal payment {}", payment.id),
    }
}

/// Validates the idempotency key a client sent.
pub fn parse_idempotency_key(value: Option<&str>) -> Result<String> {
    let key = value.map(str::trim).unwrap_or_default();
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::field(
            "Idempotency-Key",
            "send a unique Idempotency-Key header (1 to 255 visible characters) with every payment",
        ));
    }
    Ok(key.to_owned())
}

/// A source resolved for a payment.
struct Charging {
    method: String,
    details: SourceDetails,
    /// A new method: saved after a successful charge when asked, detached otherwise.
    new: bool,
    save: bool,
}

async fn resolve_source(
    ctx: &Ctx,
    caller: &Caller,
    request: &PaymentRequest,
    profile: &BillingProfile,
    customer: &str,
) -> Result<Charging> {
    match (&request.source_id, &request.payment_method_id) {
        (Some(_), Some(_)) => Err(Error::field("source_id", "send either source_id or payment_method_id, not both")),
        (None, Some(pm)) => {
            let info = gateway(ctx)?.attach_method(customer, pm.trim()).await.map_err(processor_error)?;
            Ok(Charging { method: info.processor_id, details: info.details, new: true, save: request.save_source })
        }
        (source, None) => {
            if request.save_source {
                return Err(Error::field("save_source", "applies only to a new payment_method_id"));
            }
            let id = match source {
                Some(s) => SourceId::parse(s.trim())
                    .map_err(|_| Error::field("source_id", "is not one of your payment sources"))?,
                None => profile.default_source.clone().ok_or_else(|| {
                    Error::field("source_id", "there is no payment source on file; add one or send payment_method_id")
                })?,
            };
            let sources = ctx.store.sources_of(&caller.practice_id, &caller.member_id).await?;
            let source = sources
                .into_iter()
                .find(|s| s.id == id)
                .ok_or_else(|| Error::field("source_id", "is not one of your payment sources"))?;
            Ok(Charging { method: source.processor_id, details: source.details, new: false, save: false })
        }
    }
}

/// The invoices a request touches, as they stand now: those it names, or all of the
/// member's when it also pays every past-due one.
async fn invoices_for(ctx: &Ctx, caller: &Caller, request: &PaymentRequest) -> Result<Vec<Invoice>> {
    if request.include_past_due {
        return Ok(ctx.store.invoices_of(&caller.practice_id, &caller.member_id).await?);
    }
    let mut ids: Vec<InvoiceId> =
        request.allocations.iter().filter_map(|a| InvoiceId::parse(a.invoice_id.trim()).ok()).collect();
    ids.sort();
    ids.dedup();
    Ok(ctx.store.get_invoices(&caller.practice_id, &caller.member_id, &ids).await?)
}

/// The allocations a request asks for, checked against the member's invoices as they stand now.
fn plan(request: &PaymentRequest, invoices: &[Invoice], today: Date) -> Result<Vec<Allocation>> {
    let mut f = Fields::new();
    if request.include_past_due && request.payment_method_id.is_none() {
        f.push(FieldError::new("include_past_due", "applies only when paying with a new payment_method_id"));
    }
    if request.allocations.len() > MAX_ALLOCATIONS {
        f.push(FieldError::new("allocations", format!("must hold at most {MAX_ALLOCATIONS} invoices")));
    }
    let mut planned: Vec<Allocation> = Vec::new();
    for (i, a) in request.allocations.iter().enumerate() {
        let at = |n: &str| format!("allocations[{i}].{n}");
        let id = f.take(&at("invoice_id"), InvoiceId::parse(a.invoice_id.trim()));
        let amount = f.take(&at("amount"), Money::parse(&a.amount));
        let (Some(id), Some(amount)) = (id, amount) else { continue };
        let Some(invoice) = invoices.iter().find(|inv| inv.id == id) else {
            f.push(FieldError::new(at("invoice_id"), "is not one of your invoices"));
            continue;
        };
        if planned.iter().any(|p| p.invoice_id == id) {
            f.push(FieldError::new(at("invoice_id"), "is listed twice"));
            continue;
        }
        match check_payable(invoice, amount) {
            Ok(()) => planned.push(Allocation { invoice_id: id, amount }),
            Err(PaymentRuleError::ExceedsBalance) => f.push(FieldError::new(
                at("amount"),
                format!("is more than the {} still open on invoice {}", invoice.payable(), invoice.number),
            )),
            Err(e) => f.push(FieldError::new(
                if matches!(e, PaymentRuleError::NotPayable | PaymentRuleError::TooManyPayments) {
                    at("invoice_id")
                } else {
                    at("amount")
                },
                e.to_string(),
            )),
        }
    }
    f.finish()?;
    if request.include_past_due {
        for invoice in invoices.iter().filter(|i| i.is_past_due(today) && !i.payable().is_zero()) {
            if !planned.iter().any(|p| p.invoice_id == invoice.id) {
                planned.push(Allocation { invoice_id: invoice.id.clone(), amount: invoice.payable() });
            }
        }
    }
    if planned.is_empty() {
        return Err(Error::field("allocations", "choose at least one invoice to pay"));
    }
    if planned.len() > MAX_ALLOCATIONS {
        return Err(Error::field("allocations", &format!("one payment covers at most {MAX_ALLOCATIONS} invoices")));
    }
    Ok(planned)
}

/// Pays invoices; `key` is the client's Idempotency-Key.
pub async fn pay(ctx: &Ctx, caller: &Caller, key: &str, request: &PaymentRequest) -> Result<PaymentView> {
    let request_hash = sha256_hex(serde_json::to_string(request).unwrap_or_default().as_bytes());
    if let Some(existing) = replay(ctx, caller, key, &request_hash).await? {
        return Ok(existing);
    }
    let practice = ctx.store.get_practice(&caller.practice_id).await?.ok_or(Error::NotFound("practice"))?;
    // Validate what needs no processor first: bad input never reaches (or waits on) the processor.
    let today = practice.today(ctx.clock.now());
    if let Err(e) = plan(request, &invoices_for(ctx, caller, request).await?, today) {
        // A concurrent request with this key may have just held these invoices: answer as it did.
        return match replay(ctx, caller, key, &request_hash).await? {
            Some(existing) => Ok(existing),
            None => Err(e),
        };
    }
    let (profile, customer) = profile_with_customer(ctx, &caller.practice_id, &caller.member_id).await?;
    let charging = resolve_source(ctx, caller, request, &profile, &customer).await?;

    let id = PaymentId::from_random(ctx.random.bytes16());
    let mut started = None;
    for attempt in 0..RETRIES * 3 {
        if attempt > 0 {
            // Back off a little, by a random amount, so racing payments do not collide again.
            let jitter = u64::from(ctx.random.u32() % 20);
            tokio::time::sleep(std::time::Duration::from_millis(5 * attempt as u64 + jitter)).await;
        }
        let invoices = invoices_for(ctx, caller, request).await?;
        let allocations = match plan(request, &invoices, today) {
            Ok(a) => a,
            Err(e) => {
                release_new_method(ctx, &charging).await;
                return match replay(ctx, caller, key, &request_hash).await? {
                    Some(existing) => Ok(existing),
                    None => Err(e),
                };
            }
        };
        let held: Vec<Invoice> = allocations
            .iter()
            .filter_map(|a| invoices.iter().find(|i| i.id == a.invoice_id).and_then(|i| i.reserve(a.amount).ok()))
            .collect();
        let amount = allocations.iter().fold(Money::ZERO, |t, a| t.checked_add(a.amount).unwrap_or(t));
        let payment = Payment {
            id: id.clone(),
            practice_id: caller.practice_id.clone(),
            member_id: caller.member_id.clone(),
            idempotency_key: key.to_owned(),
            request_hash: request_hash.clone(),
            allocations,
            amount,
            processor_method: charging.method.clone(),
            source: charging.details.clone(),
            save_source: charging.new && charging.save,
            customer_id: customer.clone(),
            status: PaymentStatus::Pending,
            processor_payment_id: None,
            decline: None,
            created_at: ctx.clock.now(),
            settled_at: None,
            version: 1,
        };
        match ctx.store.start_payment(&payment, &held).await {
            Ok(()) => {
                started = Some(payment);
                break;
            }
            Err(StoreError::Conflict) => {
                // Either this key was just used by a concurrent request, or an invoice changed: look again.
                if let Some(existing) = replay(ctx, caller, key, &request_hash).await? {
                    release_new_method(ctx, &charging).await;
                    return Ok(existing);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    let Some(payment) = started else {
        release_new_method(ctx, &charging).await;
        return Err(Error::Conflict("the invoices are being paid by another request; reload and try again".into()));
    };

    let outcome = gateway(ctx)?.charge(&charge_request(&payment, practice.currency.as_str())).await;
    let settled = match outcome {
        Ok(outcome) => record_outcome(ctx, &payment, outcome).await?.0,
        Err(GatewayError::Uncertain(cause)) => {
            // The charge may or may not have happened: reconciliation will ask the processor.
            tracing::warn!(payment = %payment.id, %cause, "processor answer unknown; payment left pending");
            payment
        }
        Err(GatewayError::InvalidMethod(m) | GatewayError::Rejected(m)) => {
            let decline = Decline { code: "processor_refused".into(), message: m };
            record_outcome(ctx, &payment, ChargeOutcome::Declined { processor_id: None, decline }).await?.0
        }
    };
    if settled.status != PaymentStatus::Succeeded || !settled.save_source {
        release_new_method(ctx, &charging).await;
    }
    view(ctx, &settled).await
}

/// Detaches a new payment method that is not being kept (best effort: it cannot be charged without us).
async fn release_new_method(ctx: &Ctx, charging: &Charging) {
    if charging.new && !charging.save {
        if let Some(g) = ctx.gateway.as_deref() {
            if let Err(e) = g.detach_method(&charging.method).await {
                tracing::warn!(error = %e, "could not detach an unsaved payment method");
            }
        }
    }
}

/// The answer already given for `key`, if it was used; refuses a key reused with another request.
async fn replay(ctx: &Ctx, caller: &Caller, key: &str, request_hash: &str) -> Result<Option<PaymentView>> {
    let Some(id) = ctx.store.payment_for_key(&caller.practice_id, &caller.member_id, key).await? else {
        return Ok(None);
    };
    // The first request may still be charging: give it a moment to finish.
    for _ in 0..60 {
        let payment = ctx
            .store
            .get_payment(&caller.practice_id, &caller.member_id, &id)
            .await?
            .ok_or_else(|| Error::Internal("an idempotency key points to no payment".into()))?;
        if payment.request_hash != request_hash {
            return Err(Error::IdempotencyKeyReused);
        }
        if payment.status != PaymentStatus::Pending {
            return view(ctx, &payment).await.map(Some);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let payment = ctx.store.get_payment(&caller.practice_id, &caller.member_id, &id).await?;
    match payment {
        Some(p) => view(ctx, &p).await.map(Some),
        None => Ok(None),
    }
}

/// Records what the processor said, unless another worker already did. Returns the payment as
/// stored, and whether this call was the one that settled it.
pub(crate) async fn record_outcome(ctx: &Ctx, payment: &Payment, outcome: ChargeOutcome) -> Result<(Payment, bool)> {
    for _ in 0..RETRIES * 2 {
        let current = ctx
            .store
            .get_payment(&payment.practice_id, &payment.member_id, &payment.id)
            .await?
            .ok_or_else(|| Error::Internal("a payment disappeared".into()))?;
        if current.status != PaymentStatus::Pending {
            return Ok((current, false));
        }
        let now = ctx.clock.now();
        let (status, processor_id, decline) = match &outcome {
            ChargeOutcome::Succeeded { processor_id } => (PaymentStatus::Succeeded, Some(processor_id.clone()), None),
            ChargeOutcome::Declined { processor_id, decline } => {
                (PaymentStatus::Failed, processor_id.clone(), Some(decline.clone()))
            }
            ChargeOutcome::Processing { processor_id } => {
                // Still in flight at the processor: remember where to ask, keep the hold.
                let next = Payment {
                    processor_payment_id: Some(processor_id.clone()),
                    version: current.version + 1,
                    ..current
                };
                match ctx.store.settle_payment(&next, &[], None).await {
                    Ok(()) => return Ok((next, false)),
                    Err(StoreError::Conflict) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let succeeded = status == PaymentStatus::Succeeded;
        let ids: Vec<InvoiceId> = current.allocations.iter().map(|a| a.invoice_id.clone()).collect();
        let stored = ctx.store.get_invoices(&current.practice_id, &current.member_id, &ids).await?;
        let mut invoices = Vec::with_capacity(current.allocations.len());
        for a in &current.allocations {
            let invoice = stored
                .iter()
                .find(|i| i.id == a.invoice_id)
                .ok_or_else(|| Error::Internal("a paid invoice disappeared".into()))?;
            invoices.push(invoice.settle(&current.id, a.amount, succeeded, now));
        }
        let saved = if succeeded && current.save_source {
            let profile = ctx
                .store
                .billing_profile(&current.practice_id, &current.member_id)
                .await?
                .unwrap_or_else(|| BillingProfile::new(current.practice_id.clone(), current.member_id.clone()));
            let source = PaymentSource {
                id: SourceId::from_random(ctx.random.bytes16()),
                practice_id: current.practice_id.clone(),
                member_id: current.member_id.clone(),
                processor_id: current.processor_method.clone(),
                details: current.source.clone(),
                created_at: now,
            };
            let profile = profile.with_added(&source.id, false);
            Some((source, profile))
        } else {
            None
        };
        let next = Payment {
            status,
            processor_payment_id: processor_id.or(current.processor_payment_id.clone()),
            decline,
            settled_at: Some(now),
            version: current.version + 1,
            ..current
        };
        match ctx.store.settle_payment(&next, &invoices, saved.as_ref().map(|(s, p)| (s, p))).await {
            Ok(()) => {
                tracing::info!(payment = %next.id, status = ?next.status, "payment settled");
                return Ok((next, true));
            }
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict("the payment is being settled elsewhere; try again".into()))
}

pub(crate) async fn view(ctx: &Ctx, payment: &Payment) -> Result<PaymentView> {
    let practice = ctx.store.get_practice(&payment.practice_id).await?.ok_or(Error::NotFound("practice"))?;
    let today = practice.today(ctx.clock.now());
    let ids: Vec<InvoiceId> = payment.allocations.iter().map(|a| a.invoice_id.clone()).collect();
    let stored = ctx.store.get_invoices(&payment.practice_id, &payment.member_id, &ids).await?;
    // In the order of the allocations.
    let invoices = ids
        .iter()
        .filter_map(|id| stored.iter().find(|i| &i.id == id))
        .map(|i| InvoiceSummary::of(i, today, practice.currency.as_str()))
        .collect();
    Ok(PaymentView {
        id: payment.id.clone(),
        status: payment.status,
        amount: payment.amount,
        currency: practice.currency.as_str().to_owned(),
        allocations: payment.allocations.clone(),
        source: payment.source.label(),
        decline: payment.decline.clone(),
        created_at: payment.created_at,
        invoices,
    })
}

/// What one reconciliation run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    pub examined: usize,
    pub already_settled: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub still_pending: usize,
}

/// Settles payments left pending by a crash or timeout, by asking the processor.
/// Known charges are retrieved; a charge whose answer was lost is repeated with
/// its idempotency key, which returns the first outcome instead of charging again.
pub async fn reconcile(ctx: &Ctx) -> Result<ReconcileReport> {
    let now = ctx.clock.now();
    let pending = ctx.store.pending_payments(now - RECONCILE_AFTER).await?;
    let mut report = ReconcileReport { examined: pending.len(), ..Default::default() };
    let mut currencies: BTreeMap<PracticeId, String> = BTreeMap::new();
    for payment in pending {
        if !currencies.contains_key(&payment.practice_id) {
            let p = ctx.store.get_practice(&payment.practice_id).await?.ok_or(Error::NotFound("practice"))?;
            currencies.insert(payment.practice_id.clone(), p.currency.as_str().to_owned());
        }
        let currency = &currencies[&payment.practice_id];
        let asked = match &payment.processor_payment_id {
            Some(pi) => gateway(ctx)?.retrieve_charge(pi).await,
            None => gateway(ctx)?.charge(&charge_request(&payment, currency)).await,
        };
        let (settled, by_us) = match asked {
            Ok(outcome) => record_outcome(ctx, &payment, outcome).await?,
            Err(GatewayError::Uncertain(cause)) => {
                tracing::warn!(payment = %payment.id, %cause, "processor still not answering");
                (payment, false)
            }
            Err(GatewayError::InvalidMethod(m) | GatewayError::Rejected(m)) => {
                let decline = Decline { code: "processor_refused".into(), message: m };
                record_outcome(ctx, &payment, ChargeOutcome::Declined { processor_id: None, decline }).await?
            }
        };
        match (settled.status, by_us) {
            (PaymentStatus::Succeeded, true) => report.succeeded += 1,
            (PaymentStatus::Failed, true) => report.failed += 1,
            (PaymentStatus::Pending, _) => report.still_pending += 1,
            // Settled meanwhile by the request itself or another run.
            (_, false) => report.already_settled += 1,
        }
    }
    Ok(report)
}

//! Saved payment sources: list, setup for the processor's client library, add
//! (optionally paying past-due invoices at once), default, remove.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::access::RETRIES;
use super::payments::{self, processor_error, profile_with_customer, PaymentRequest, PaymentView};
use super::{Caller, Ctx, Error, Result};
use crate::domain::billing::{PaymentSource, SourceDetails};
use crate::domain::ids::SourceId;
use crate::ports::StoreError;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SourceView {
    pub id: SourceId,
    #[serde(flatten)]
    pub details: SourceDetails,
    /// "Visa •••• 4242".
    pub label: String,
    pub is_default: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SourceList {
    /// Oldest first.
    pub sources: Vec<SourceView>,
    /// Removing is allowed only while more than one source is on file.
    pub can_remove: bool,
}

fn source_view(s: &PaymentSource, default: Option<&SourceId>) -> SourceView {
    SourceView {
        id: s.id.clone(),
        label: s.details.label(),
        details: s.details.clone(),
        is_default: default == Some(&s.id),
        created_at: s.created_at,
    }
}

pub async fn list(ctx: &Ctx, caller: &Caller) -> Result<SourceList> {
    let profile = ctx.store.billing_profile(&caller.practice_id, &caller.member_id).await?;
    let default = profile.as_ref().and_then(|p| p.default_source.as_ref());
    let mut sources = ctx.store.sources_of(&caller.practice_id, &caller.member_id).await?;
    sources.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(SourceList { can_remove: sources.len() > 1, sources: sources.iter().map(|s| source_view(s, default)).collect() })
}

/// What the front end's processor library needs to collect a card or bank account.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SourceSetup {
    /// Stripe SetupIntent client secret (`seti_…_secret_…`) for Stripe.js `confirmSetup`.
    pub client_secret: String,
}

pub async fn setup(ctx: &Ctx, caller: &Caller) -> Result<SourceSetup> {
    let (_, customer) = profile_with_customer(ctx, &caller.practice_id, &caller.member_id).await?;
    let gateway = ctx.gateway.as_deref().ok_or_else(|| Error::Internal("no payment processor".into()))?;
    let client_secret = gateway.setup_intent(&customer).await.map_err(processor_error)?;
    Ok(SourceSetup { client_secret })
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddSource {
    /// The processor's id for the card or bank account the front end collected (`pm_…`).
    pub payment_method_id: String,
    #[serde(default)]
    pub make_default: bool,
    /// Pay every past-due invoice with it right away (needs an `Idempotency-Key` header).
    #[serde(default)]
    pub pay_past_due: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SourceAdded {
    pub source: SourceView,
    /// The payment of past-due invoices, when asked for and there were any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentView>,
}

pub async fn add(ctx: &Ctx, caller: &Caller, body: &AddSource, idempotency_key: Option<&str>) -> Result<SourceAdded> {
    let key = if body.pay_past_due { Some(payments::parse_idempotency_key(idempotency_key)?) } else { None };
    let (_, customer) = profile_with_customer(ctx, &caller.practice_id, &caller.member_id).await?;
    let gateway = ctx.gateway.as_deref().ok_or_else(|| Error::Internal("no payment processor".into()))?;
    let info = gateway.attach_method(&customer, body.payment_method_id.trim()).await.map_err(processor_error)?;
    let source = PaymentSource {
        id: SourceId::from_random(ctx.random.bytes16()),
        practice_id: caller.practice_id.clone(),
        member_id: caller.member_id.clone(),
        processor_id: info.processor_id,
        details: info.details,
        created_at: ctx.clock.now(),
    };
    let mut saved = None;
    for _ in 0..RETRIES {
        let profile = ctx
            .store
            .billing_profile(&caller.practice_id, &caller.member_id)
            .await?
            .ok_or_else(|| Error::Internal("billing profile vanished".into()))?;
        let next = profile.with_added(&source.id, body.make_default);
        match ctx.store.add_source(&source, &next).await {
            Ok(()) => {
                saved = Some(next);
                break;
            }
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let profile = saved.ok_or_else(|| Error::Conflict("payment sources are being changed; try again".into()))?;
    let payment = match key {
        Some(key) => {
            let invoices = ctx.store.invoices_of(&caller.practice_id, &caller.member_id).await?;
            let practice = ctx.store.get_practice(&caller.practice_id).await?.ok_or(Error::NotFound("practice"))?;
            let today = practice.today(ctx.clock.now());
            let allocations: Vec<payments::AllocationBody> = invoices
                .iter()
                .filter(|i| i.is_past_due(today) && !i.payable().is_zero())
                .map(|i| payments::AllocationBody { invoice_id: i.id.to_string(), amount: i.payable().to_string() })
                .collect();
            if allocations.is_empty() {
                None
            } else {
                let request =
                    PaymentRequest { allocations, source_id: Some(source.id.to_string()), ..Default::default() };
                Some(payments::pay(ctx, caller, &key, &request).await?)
            }
        }
        None => None,
    };
    Ok(SourceAdded { source: source_view(&source, profile.default_source.as_ref()), payment })
}

async fn find(ctx: &Ctx, caller: &Caller, id: &SourceId) -> Result<(PaymentSource, Vec<PaymentSource>)> {
    let all = ctx.store.sources_of(&caller.practice_id, &caller.member_id).await?;
    let source = all.iter().find(|s| &s.id == id).cloned().ok_or(Error::NotFound("payment source"))?;
    Ok((source, all))
}

pub async fn set_default(ctx: &Ctx, caller: &Caller, id: &SourceId) -> Result<SourceList> {
    for _ in 0..RETRIES {
        find(ctx, caller, id).await?;
        let profile = ctx
            .store
            .billing_profile(&caller.practice_id, &caller.member_id)
            .await?
            .ok_or(Error::NotFound("payment source"))?;
        if profile.default_source.as_ref() == Some(id) {
            return list(ctx, caller).await;
        }
        let next = crate::domain::billing::BillingProfile {
            default_source: Some(id.clone()),
            version: profile.version + 1,
            ..profile
        };
        match ctx.store.save_billing_profile(&next).await {
            Ok(()) => return list(ctx, caller).await,
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict("payment sources are being changed; try again".into()))
}

/// Removes a source; the only one on file cannot be removed, even when two removals race.
pub async fn remove(ctx: &Ctx, caller: &Caller, id: &SourceId) -> Result<()> {
    for _ in 0..RETRIES {
        let (source, all) = find(ctx, caller, id).await?;
        let profile = ctx
            .store
            .billing_profile(&caller.practice_id, &caller.member_id)
            .await?
            .ok_or(Error::NotFound("payment source"))?;
        let fallback =
            all.iter().filter(|s| &s.id != id).min_by_key(|s| (s.created_at, s.id.clone())).map(|s| s.id.clone());
        let next = profile.with_removed(id, fallback.as_ref()).map_err(|m| Error::LastSource(m.into()))?;
        match ctx.store.remove_source(&source, &next).await {
            Ok(()) => {
                if let Some(g) = ctx.gateway.as_deref() {
                    if let Err(e) = g.detach_method(&source.processor_id).await {
                        tracing::warn!(error = %e, "removed source could not be detached at the processor");
                    }
                }
                return Ok(());
            }
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict("payment sources are being changed; try again".into()))
}

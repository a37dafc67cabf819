//! Invoices: the member's list and detail pages, and the practice issuing and voiding them.

use serde::Serialize;
use time::{Date, OffsetDateTime};

use super::access::RETRIES;
use super::{AdminCaller, Caller, Ctx, Error, Result};
use crate::domain::billing::{Invoice, InvoiceDetails, InvoiceInput, InvoiceStatus};
use crate::domain::ids::{InvoiceId, MemberId, PaymentId};
use crate::domain::money::Money;
use crate::domain::FieldError;
use crate::ports::StoreError;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InvoiceSummary {
    pub id: InvoiceId,
    pub number: String,
    #[serde(with = "crate::domain::date_format::iso")]
    #[schema(value_type = String, format = Date)]
    pub issue_date: Date,
    #[serde(with = "crate::domain::date_format::iso")]
    #[schema(value_type = String, format = Date)]
    pub due_date: Date,
    pub total: Money,
    pub paid: Money,
    /// What is still owed.
    pub balance: Money,
    /// Part of the balance a payment in flight is settling.
    pub pending: Money,
    pub status: InvoiceStatus,
    pub past_due: bool,
    #[schema(value_type = String, example = "USD")]
    pub currency: String,
}

impl InvoiceSummary {
    pub fn of(invoice: &Invoice, today: Date, currency: &str) -> Self {
        InvoiceSummary {
            id: invoice.id.clone(),
            number: invoice.number.clone(),
            issue_date: invoice.issue_date,
            due_date: invoice.due_date,
            total: invoice.total,
            paid: invoice.paid,
            balance: invoice.balance(),
            pending: invoice.reserved,
            status: invoice.status(),
            past_due: invoice.is_past_due(today),
            currency: currency.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceFilter {
    /// Open and partially paid.
    Open,
    Paid,
    #[default]
    All,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InvoiceList {
    /// Newest first.
    pub invoices: Vec<InvoiceSummary>,
    /// Everything still owed, whatever the filter.
    pub balance_due: Money,
    /// The part of it that is past due.
    pub past_due: Money,
}

async fn today_and_currency(ctx: &Ctx, practice: &crate::domain::ids::PracticeId) -> Result<(Date, String)> {
    let p = ctx.store.get_practice(practice).await?.ok_or(Error::NotFound("practice"))?;
    Ok((p.today(ctx.clock.now()), p.currency.as_str().to_owned()))
}

fn sum(values: impl Iterator<Item = Money>) -> Money {
    values.fold(Money::ZERO, |a, b| a.checked_add(b).unwrap_or(a))
}

/// The member's invoices (those billed to them), filtered.
pub async fn list(ctx: &Ctx, caller: &Caller, filter: InvoiceFilter) -> Result<InvoiceList> {
    let (today, currency) = today_and_currency(ctx, &caller.practice_id).await?;
    let mut invoices = ctx.store.invoices_of(&caller.practice_id, &caller.member_id).await?;
    invoices.sort_by(|a, b| (b.issue_date, &b.number).cmp(&(a.issue_date, &a.number)));
    let balance_due = sum(invoices.iter().map(Invoice::balance));
    let past_due = sum(invoices.iter().filter(|i| i.is_past_due(today)).map(Invoice::balance));
    let keep = |i: &&Invoice| match filter {
        InvoiceFilter::All => true,
        InvoiceFilter::Open => matches!(i.status(), InvoiceStatus::Open | InvoiceStatus::PartiallyPaid),
        InvoiceFilter::Paid => i.status() == InvoiceStatus::Paid,
    };
    Ok(InvoiceList {
        invoices: invoices.iter().filter(keep).map(|i| InvoiceSummary::of(i, today, &currency)).collect(),
        balance_due,
        past_due,
    })
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LineView {
    pub number: usize,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_id: Option<MemberId>,
    /// The member's name, for family invoices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_name: Option<String>,
    #[serde(with = "crate::domain::date_format::iso::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub service_start: Option<Date>,
    #[serde(with = "crate::domain::date_format::iso::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub service_end: Option<Date>,
    pub amount: Money,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PaymentLine {
    pub payment_id: PaymentId,
    pub amount: Money,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InvoiceDetail {
    #[serde(flatten)]
    pub summary: InvoiceSummary,
    pub member_id: MemberId,
    #[serde(with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub voided_at: Option<OffsetDateTime>,
    pub lines: Vec<LineView>,
    pub payments: Vec<PaymentLine>,
}

pub(crate) async fn detail_of(ctx: &Ctx, invoice: Invoice, today: Date, currency: &str) -> Result<InvoiceDetail> {
    let mut ids: Vec<MemberId> = invoice.lines.iter().filter_map(|l| l.member_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let people = ctx.store.get_members(&invoice.practice_id, &ids).await?;
    let name = |id: &MemberId| people.iter().find(|p| &p.id == id).map(|p| p.full_name());
    Ok(InvoiceDetail {
        summary: InvoiceSummary::of(&invoice, today, currency),
        member_id: invoice.member_id.clone(),
        voided_at: invoice.voided_at,
        lines: invoice
            .lines
            .iter()
            .enumerate()
            .map(|(n, l)| LineView {
                number: n + 1,
                description: l.description.clone(),
                member_name: l.member_id.as_ref().and_then(name),
                member_id: l.member_id.clone(),
                service_start: l.service_start,
                service_end: l.service_end,
                amount: l.amount,
            })
            .collect(),
        payments: invoice
            .payments
            .iter()
            .map(|p| PaymentLine { payment_id: p.payment_id.clone(), amount: p.amount, at: p.at })
            .collect(),
    })
}

/// One of the member's invoices; another member's is simply not found.
pub async fn detail(ctx: &Ctx, caller: &Caller, id: &InvoiceId) -> Result<InvoiceDetail> {
    let (today, currency) = today_and_currency(ctx, &caller.practice_id).await?;
    let invoice =
        ctx.store.get_invoice(&caller.practice_id, &caller.member_id, id).await?.ok_or(Error::NotFound("invoice"))?;
    detail_of(ctx, invoice, today, &currency).await
}

/// Issues an invoice with the practice's next number.
pub async fn issue(ctx: &Ctx, admin: &AdminCaller, input: &InvoiceInput) -> Result<InvoiceDetail> {
    let (today, currency) = today_and_currency(ctx, &admin.practice_id).await?;
    let details = InvoiceDetails::parse(input, today)?;
    let mut ids = vec![details.member_id.clone()];
    ids.extend(details.lines.iter().filter_map(|l| l.member_id.clone()));
    let found = ctx.store.get_members(&admin.practice_id, &ids).await?;
    let exists = |id: &MemberId| found.iter().any(|m| &m.id == id);
    let mut errors = Vec::new();
    if !exists(&details.member_id) {
        errors.push(FieldError::new("member_id", "is not a patient of this practice"));
    }
    for (i, l) in details.lines.iter().enumerate() {
        if l.member_id.as_ref().is_some_and(|m| !exists(m)) {
            errors.push(FieldError::new(format!("lines[{i}].member_id"), "is not a patient of this practice"));
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let id = InvoiceId::from_random(ctx.random.bytes16());
    for _ in 0..RETRIES * 4 {
        let sequence = ctx.store.invoice_sequence(&admin.practice_id).await? + 1;
        let invoice = Invoice {
            id: id.clone(),
            practice_id: admin.practice_id.clone(),
            member_id: details.member_id.clone(),
            number: crate::domain::billing::invoice_number(sequence),
            issue_date: details.issue_date,
            due_date: details.due_date,
            lines: details.lines.clone(),
            total: details.total,
            paid: Money::ZERO,
            reserved: Money::ZERO,
            payments: Vec::new(),
            voided_at: None,
            created_at: ctx.clock.now(),
            version: 1,
        };
        match ctx.store.create_invoice(&invoice, sequence).await {
            Ok(()) => return detail_of(ctx, invoice, today, &currency).await,
            // Another invoice took this number: take the next one.
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict("invoice numbers are busy; try again".into()))
}

/// Voids an invoice of the practice that nothing was paid on.
pub async fn void(ctx: &Ctx, admin: &AdminCaller, id: &InvoiceId) -> Result<InvoiceDetail> {
    let (today, currency) = today_and_currency(ctx, &admin.practice_id).await?;
    for _ in 0..RETRIES {
        let invoice = ctx.store.find_invoice(&admin.practice_id, id).await?.ok_or(Error::NotFound("invoice"))?;
        let next = invoice.void(ctx.clock.now()).map_err(|e| Error::Conflict(e.into()))?;
        match ctx.store.save_invoice(&next).await {
            Ok(()) => return detail_of(ctx, next, today, &currency).await,
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict("the invoice is being paid; try again".into()))
}

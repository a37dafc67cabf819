//! Invoices, payments and payment sources, and the rules that keep money right:
//! a payment never exceeds what is still open on an invoice, counting payments
//! in flight; the last payment source cannot be removed.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use super::ids::{InvoiceId, MemberId, PaymentId, PracticeId, SourceId};
use super::money::Money;
use super::{date, date_format, text, FieldError, Fields};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    pub description: String,
    /// The member the line is for (e.g. one person on a family membership).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<MemberId>,
    #[serde(default, with = "date_format::iso::option", skip_serializing_if = "Option::is_none")]
    pub service_start: Option<Date>,
    #[serde(default, with = "date_format::iso::option", skip_serializing_if = "Option::is_none")]
    pub service_end: Option<Date>,
    pub amount: Money,
}

/// A payment applied to an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedPayment {
    pub payment_id: PaymentId,
    pub amount: Money,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Open,
    PartiallyPaid,
    Paid,
    Void,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    pub id: InvoiceId,
    pub practice_id: PracticeId,
    /// Who is billed (usually the membership owner).
    pub member_id: MemberId,
    pub number: String,
    #[serde(with = "date_format::iso")]
    pub issue_date: Date,
    #[serde(with = "date_format::iso")]
    pub due_date: Date,
    pub lines: Vec<InvoiceLine>,
    pub total: Money,
    pub paid: Money,
    /// Held by payments whose charge is in flight: not yet paid, no longer payable.
    pub reserved: Money,
    pub payments: Vec<AppliedPayment>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub voided_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub version: u64,
}

impl Invoice {
    pub fn status(&self) -> InvoiceStatus {
        if self.voided_at.is_some() {
            InvoiceStatus::Void
        } else if self.balance().is_zero() {
            InvoiceStatus::Paid
        } else if self.paid.is_zero() {
            InvoiceStatus::Open
        } else {
            InvoiceStatus::PartiallyPaid
        }
    }

    /// What is still owed.
    pub fn balance(&self) -> Money {
        if self.voided_at.is_some() {
            return Money::ZERO;
        }
        self.total.checked_sub(self.paid).unwrap_or(Money::ZERO)
    }

    /// What a new payment may still take: the balance less payments in flight.
    pub fn payable(&self) -> Money {
        self.balance().checked_sub(self.reserved).unwrap_or(Money::ZERO)
    }

    pub fn is_past_due(&self, today: Date) -> bool {
        matches!(self.status(), InvoiceStatus::Open | InvoiceStatus::PartiallyPaid) && self.due_date < today
    }

    /// Holds `amount` for a payment about to be charged.
    pub fn reserve(&self, amount: Money) -> Result<Invoice, PaymentRuleError> {
        check_payable(self, amount)?;
        let mut next = self.clone();
        next.reserved = self.reserved.checked_add(amount).ok_or(PaymentRuleError::ExceedsBalance)?;
        next.version += 1;
        Ok(next)
    }

    /// Turns a reservation into a payment (succeeded) or lets it go (failed).
    pub fn settle(&self, payment: &PaymentId, amount: Money, succeeded: bool, at: OffsetDateTime) -> Invoice {
        let mut next = self.clone();
        next.reserved = self.reserved.checked_sub(amount).unwrap_or(Money::ZERO);
        if succeeded {
            next.paid = self.paid.checked_add(amount).unwrap_or(self.total);
            next.payments.push(AppliedPayment { payment_id: payment.clone(), amount, at });
        }
        next.version += 1;
        next
    }

    /// Voids an invoice nothing was paid on and nothing is being paid on.
    pub fn void(&self, at: OffsetDateTime) -> Result<Invoice, &'static str> {
        if self.voided_at.is_some() {
            return Err("the invoice is already void");
        }
        if !self.paid.is_zero() || !self.reserved.is_zero() {
            return Err("the invoice has payments; refund them before voiding it");
        }
        let mut next = self.clone();
        next.voided_at = Some(at);
        next.version += 1;
        Ok(next)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PaymentRuleError {
    #[error("must be more than zero")]
    NotPositive,
    #[error("is more than the invoice's open balance")]
    ExceedsBalance,
    #[error("is not open for payment")]
    NotPayable,
    #[error("has taken as many payments as one invoice holds; pay the rest in one payment or ask the practice")]
    TooManyPayments,
}

/// Payments one invoice records (keeps an invoice item well inside DynamoDB's 400 KB).
pub const MAX_PAYMENTS_PER_INVOICE: usize = 100;

/// Checks one amount against one invoice, counting payments in flight.
pub fn check_payable(invoice: &Invoice, amount: Money) -> Result<(), PaymentRuleError> {
    if amount.is_zero() {
        return Err(PaymentRuleError::NotPositive);
    }
    if !matches!(invoice.status(), InvoiceStatus::Open | InvoiceStatus::PartiallyPaid) {
        return Err(PaymentRuleError::NotPayable);
    }
    if amount > invoice.payable() {
        return Err(PaymentRuleError::ExceedsBalance);
    }
    if invoice.payments.len() >= MAX_PAYMENTS_PER_INVOICE {
        return Err(PaymentRuleError::TooManyPayments);
    }
    Ok(())
}

/// An invoice line as the admin API carries it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceLineInput {
    pub description: String,
    #[serde(default)]
    pub member_id: Option<String>,
    #[serde(default)]
    pub service_start: Option<String>,
    #[serde(default)]
    pub service_end: Option<String>,
    /// Decimal string, e.g. `"175.00"`.
    pub amount: String,
}

/// A new invoice as the admin API carries it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceInput {
    /// The patient billed (usually the membership owner).
    pub member_id: String,
    /// `YYYY-MM-DD`; defaults to today in the practice's time zone.
    #[serde(default)]
    pub issue_date: Option<String>,
    pub due_date: String,
    pub lines: Vec<InvoiceLineInput>,
}

/// A validated `InvoiceInput`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceDetails {
    pub member_id: MemberId,
    pub issue_date: Date,
    pub due_date: Date,
    pub lines: Vec<InvoiceLine>,
    pub total: Money,
}

pub const MAX_INVOICE_LINES: usize = 100;

impl InvoiceDetails {
    pub fn parse(input: &InvoiceInput, today: Date) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new();
        let member_id = f.take("member_id", MemberId::parse(input.member_id.trim()));
        let issue = match input.issue_date.as_deref().map(str::trim) {
            None | Some("") => Some(today),
            Some(d) => f.take("issue_date", date(d)),
        };
        let due = f.take("due_date", date(&input.due_date));
        if let (Some(i), Some(d)) = (issue, due) {
            if d < i {
                f.push(FieldError::new("due_date", "must not be before issue_date"));
            }
        }
        if input.lines.is_empty() || input.lines.len() > MAX_INVOICE_LINES {
            f.push(FieldError::new("lines", format!("must hold 1 to {MAX_INVOICE_LINES} lines")));
        }
        let mut lines = Vec::with_capacity(input.lines.len());
        let mut total = Some(Money::ZERO);
        for (i, l) in input.lines.iter().enumerate() {
            let at = |n: &str| format!("lines[{i}].{n}");
            let description = f.take(&at("description"), text(&l.description, 200));
            let member = match l.member_id.as_deref().map(str::trim) {
                None | Some("") => Some(None),
                Some(m) => f.take(&at("member_id"), MemberId::parse(m)).map(Some),
            };
            let optional = |f: &mut Fields, n: &str, v: &Option<String>| match v.as_deref().map(str::trim) {
                None | Some("") => Some(None),
                Some(d) => f.take(&at(n), date(d)).map(Some),
            };
            let start = optional(&mut f, "service_start", &l.service_start);
            let end = optional(&mut f, "service_end", &l.service_end);
            if let (Some(Some(s)), Some(Some(e))) = (start, end) {
                if e < s {
                    f.push(FieldError::new(at("service_end"), "must not be before service_start"));
                }
            }
            let amount = f.take(
                &at("amount"),
                Money::parse(&l.amount).and_then(|m| {
                    if m.is_zero() {
                        Err(FieldError::new("", "must be more than zero"))
                    } else {
                        Ok(m)
                    }
                }),
            );
            total = match (total, amount) {
                (Some(t), Some(a)) => t.checked_add(a),
                _ => None,
            };
            if let (Some(description), Some(member_id), Some(service_start), Some(service_end), Some(amount)) =
                (description, member, start, end, amount)
            {
                lines.push(InvoiceLine { description, member_id, service_start, service_end, amount });
            }
        }
        match (member_id, issue, due, total) {
            (Some(member_id), Some(issue_date), Some(due_date), Some(total)) if f.is_empty() => {
                Ok(InvoiceDetails { member_id, issue_date, due_date, lines, total })
            }
            (_, _, _, None) if f.is_empty() => {
                Err(vec![FieldError::new("lines", "add up to more than the portal accepts")])
            }
            _ => Err(f.finish().err().unwrap_or_default()),
        }
    }
}

/// Invoice numbers as practices print them: `INV-000042`.
pub fn invoice_number(sequence: u64) -> String {
    format!("INV-{sequence:06}")
}

/// A card or bank account, as the processor describes it (never its number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum SourceDetails {
    Card { brand: String, last4: String, exp_month: u8, exp_year: u16 },
    BankAccount { bank_name: String, last4: String },
}

impl SourceDetails {
    /// "Visa •••• 4242" / "STRIPE TEST BANK •••• 6789".
    pub fn label(&self) -> String {
        match self {
            SourceDetails::Card { brand, last4, .. } => format!("{} •••• {last4}", capitalise(brand)),
            SourceDetails::BankAccount { bank_name, last4 } => format!("{bank_name} •••• {last4}"),
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// A saved payment source. The processor holds the card or account; this is its id and description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentSource {
    pub id: SourceId,
    pub practice_id: PracticeId,
    pub member_id: MemberId,
    /// The processor's payment method id (`pm_…`).
    pub processor_id: String,
    pub details: SourceDetails,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A member's standing with the processor: their customer id, default source and how many sources they have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingProfile {
    pub practice_id: PracticeId,
    pub member_id: MemberId,
    #[serde(default)]
    pub customer_id: Option<String>,
    #[serde(default)]
    pub default_source: Option<SourceId>,
    pub source_count: u32,
    pub version: u64,
}

impl BillingProfile {
    pub fn new(practice_id: PracticeId, member_id: MemberId) -> Self {
        BillingProfile { practice_id, member_id, customer_id: None, default_source: None, source_count: 0, version: 0 }
    }

    /// The profile after adding a source; the first one becomes the default.
    pub fn with_added(&self, source: &SourceId, make_default: bool) -> BillingProfile {
        let mut next = self.clone();
        next.source_count += 1;
        if make_default || self.default_source.is_none() {
            next.default_source = Some(source.clone());
        }
        next.version += 1;
        next
    }

    /// The profile after removing a source; refused for the last one. When the
    /// default goes, `fallback` (another source) becomes the default.
    pub fn with_removed(&self, source: &SourceId, fallback: Option<&SourceId>) -> Result<BillingProfile, &'static str> {
        if self.source_count <= 1 {
            return Err("the only payment source on file cannot be removed; add another one first");
        }
        let mut next = self.clone();
        next.source_count -= 1;
        if self.default_source.as_ref() == Some(source) {
            next.default_source = fallback.cloned();
        }
        next.version += 1;
        Ok(next)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Recorded; the processor's answer is not known yet.
    Pending,
    Succeeded,
    Failed,
}

/// How much of a payment goes to which invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Allocation {
    pub invoice_id: InvoiceId,
    pub amount: Money,
}

/// Why the processor refused a charge, in its words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Decline {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub id: PaymentId,
    pub practice_id: PracticeId,
    pub member_id: MemberId,
    pub idempotency_key: String,
    /// SHA-256 of the request, so a reused key with another body is refused.
    pub request_hash: String,
    pub allocations: Vec<Allocation>,
    pub amount: Money,
    /// The processor's payment method id charged, and how to show it.
    pub processor_method: String,
    pub source: SourceDetails,
    /// Saved as a payment source once the charge succeeds.
    pub save_source: bool,
    /// The member's customer at the processor.
    pub customer_id: String,
    pub status: PaymentStatus,
    #[serde(default)]
    pub processor_payment_id: Option<String>,
    #[serde(default)]
    pub decline: Option<Decline>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub settled_at: Option<OffsetDateTime>,
    pub version: u64,
}

/// Amount in the currency's smallest unit, as processors take it.
pub fn to_cents(m: Money) -> i64 {
    let mut d = m.amount();
    d.rescale(2);
    i64::try_from(d.mantissa()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn invoice(total: &str) -> Invoice {
        Invoice {
            id: InvoiceId::parse("inv_a").unwrap(),
            practice_id: PracticeId::parse("prc_a").unwrap(),
            member_id: MemberId::parse("mbr_a").unwrap(),
            number: invoice_number(7),
            issue_date: date!(2026 - 01 - 01),
            due_date: date!(2026 - 01 - 15),
            lines: vec![],
            total: Money::parse(total).unwrap(),
            paid: Money::ZERO,
            reserved: Money::ZERO,
            payments: vec![],
            voided_at: None,
            created_at: datetime!(2026-01-01 0:00 UTC),
            version: 1,
        }
    }

    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    #[test]
    fn status_and_balance_follow_payments() {
        let inv = invoice("100.00");
        assert_eq!(inv.status(), InvoiceStatus::Open);
        let pay = PaymentId::parse("pay_a").unwrap();
        let part = inv.reserve(m("40")).unwrap().settle(&pay, m("40"), true, datetime!(2026-01-02 0:00 UTC));
        assert_eq!(part.status(), InvoiceStatus::PartiallyPaid);
        assert_eq!(part.balance(), m("60"));
        let full = part.reserve(m("60")).unwrap().settle(&pay, m("60"), true, datetime!(2026-01-03 0:00 UTC));
        assert_eq!(full.status(), InvoiceStatus::Paid);
        assert!(!full.is_past_due(date!(2026 - 02 - 01)));
        assert_eq!(full.payments.len(), 2);
    }

    #[test]
    fn payments_in_flight_count_against_the_balance() {
        let held = invoice("100.00").reserve(m("70")).unwrap();
        assert_eq!(held.payable(), m("30"));
        assert_eq!(held.reserve(m("30.01")).unwrap_err(), PaymentRuleError::ExceedsBalance);
        let released = held.settle(&PaymentId::parse("pay_a").unwrap(), m("70"), false, datetime!(2026-01-02 0:00 UTC));
        assert_eq!(released.payable(), m("100"));
        assert_eq!(released.status(), InvoiceStatus::Open);
    }

    #[test]
    fn zero_overpayment_and_void_invoices_are_refused() {
        let inv = invoice("10.00");
        assert_eq!(check_payable(&inv, Money::ZERO), Err(PaymentRuleError::NotPositive));
        assert_eq!(check_payable(&inv, m("10.01")), Err(PaymentRuleError::ExceedsBalance));
        let void = inv.void(datetime!(2026-01-02 0:00 UTC)).unwrap();
        assert_eq!(void.status(), InvoiceStatus::Void);
        assert_eq!(check_payable(&void, m("1")), Err(PaymentRuleError::NotPayable));
        assert!(inv.reserve(m("1")).unwrap().void(datetime!(2026-01-02 0:00 UTC)).is_err());
    }

    #[test]
    fn past_due_means_unpaid_after_the_due_date() {
        let inv = invoice("10.00");
        assert!(!inv.is_past_due(date!(2026 - 01 - 15)));
        assert!(inv.is_past_due(date!(2026 - 01 - 16)));
    }

    #[test]
    fn the_last_source_cannot_be_removed_and_the_default_moves_on() {
        let a = SourceId::parse("src_a").unwrap();
        let b = SourceId::parse("src_b").unwrap();
        let p = BillingProfile::new(PracticeId::parse("prc_a").unwrap(), MemberId::parse("mbr_a").unwrap());
        let one = p.with_added(&a, false);
        assert_eq!(one.default_source.as_ref(), Some(&a));
        assert!(one.with_removed(&a, None).is_err());
        let two = one.with_added(&b, false);
        assert_eq!(two.default_source.as_ref(), Some(&a));
        let after = two.with_removed(&a, Some(&b)).unwrap();
        assert_eq!(after.default_source.as_ref(), Some(&b));
        assert_eq!(after.source_count, 1);
    }

    #[test]
    fn invoices_parse_with_totals_and_every_bad_line_named() {
        let line = |amount: &str| InvoiceLineInput {
            description: "Family Membership — January".into(),
            member_id: None,
            service_start: Some("2026-01-01".into()),
            service_end: Some("2026-01-31".into()),
            amount: amount.into(),
        };
        let input = InvoiceInput {
            member_id: "mbr_a".into(),
            issue_date: None,
            due_date: "2026-01-15".into(),
            lines: vec![line("100"), line("75.5")],
        };
        let d = InvoiceDetails::parse(&input, date!(2026 - 01 - 01)).unwrap();
        assert_eq!(d.total, m("175.50"));
        let bad = InvoiceInput { lines: vec![line("0"), line("1.234")], due_date: "2025-12-31".into(), ..input };
        let errors = InvoiceDetails::parse(&bad, date!(2026 - 01 - 01)).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["due_date", "lines[0].amount", "lines[1].amount"]);
    }

    #[test]
    fn cents_are_exact() {
        assert_eq!(to_cents(m("49.99")), 4999);
        assert_eq!(to_cents(m("0.1")), 10);
        assert_eq!(to_cents(m("1200")), 120000);
    }

    #[test]
    fn source_labels_never_show_more_than_the_last_four() {
        let card = SourceDetails::Card { brand: "visa".into(), last4: "4242".into(), exp_month: 12, exp_year: 2030 };
        assert_eq!(card.label(), "Visa •••• 4242");
    }
}

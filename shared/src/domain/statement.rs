//! Account statements: every charge and payment in a period, with the balance
//! before, after and along the way. Opening + charges − payments = closing.

use serde::{Deserialize, Serialize};
use time::{Date, Duration, Month};

use super::billing::{Invoice, InvoiceStatus};
use super::money::Money;
use super::{date, FieldError, Fields};

/// The longest period one statement covers.
pub const MAX_YEARS: i32 = 7;

/// Periods the front end offers; `custom` takes `from` and `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    ThisMonth,
    LastMonth,
    ThisYear,
    LastYear,
    Custom,
}

fn first_of_month(d: Date) -> Date {
    d.replace_day(1).unwrap_or(d)
}

/// The inclusive date range a preset stands for, seen from `today` (the practice's date).
pub fn preset_range(preset: Preset, today: Date) -> Option<(Date, Date)> {
    let jan1 = |y: i32| Date::from_calendar_date(y, Month::January, 1).ok();
    let dec31 = |y: i32| Date::from_calendar_date(y, Month::December, 31).ok();
    match preset {
        Preset::ThisMonth => Some((first_of_month(today), today)),
        Preset::LastMonth => {
            let end = first_of_month(today) - Duration::days(1);
            Some((first_of_month(end), end))
        }
        Preset::ThisYear => Some((jan1(today.year())?, today)),
        Preset::LastYear => Some((jan1(today.year() - 1)?, dec31(today.year() - 1)?)),
        Preset::Custom => None,
    }
}

/// Checks a requested range: dates as `YYYY-MM-DD`, from ≤ to, not in the future, at most `MAX_YEARS`.
pub fn parse_range(from: Option<&str>, to: Option<&str>, today: Date) -> Result<(Date, Date), Vec<FieldError>> {
    let mut f = Fields::new();
    let required = || FieldError::new("", "is required (or choose a period)");
    let from = f.take("from", from.ok_or_else(required).and_then(date));
    let to = f.take("to", to.ok_or_else(required).and_then(date));
    let (Some(from), Some(to)) = (from, to) else {
        return Err(f.finish().err().unwrap_or_default());
    };
    if to > today {
        f.push(FieldError::new("to", "must not be in the future"));
    }
    if from > to {
        f.push(FieldError::new("from", "must not be after to"));
    } else if (to.year() - from.year()) * 12 + (to.month() as i32 - from.month() as i32) >= MAX_YEARS * 12 {
        f.push(FieldError::new("from", format!("a statement covers at most {MAX_YEARS} years")));
    }
    f.finish().map(|()| (from, to))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Charge,
    Payment,
}

/// One line of a statement, as the API and the documents show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Entry {
    #[serde(with = "super::date_format::iso")]
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    pub kind: EntryKind,
    /// The invoice number (and the payment id for payments).
    pub reference: String,
    pub description: String,
    pub amount: Money,
    /// The balance after this entry (never negative: payments never exceed invoices).
    pub balance: Money,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub from: Date,
    pub to: Date,
    pub opening_balance: Money,
    pub entries: Vec<Entry>,
    pub total_charges: Money,
    pub total_payments: Money,
    pub closing_balance: Money,
}

/// One movement before it is placed in the statement.
struct Movement {
    date: Date,
    kind: EntryKind,
    reference: String,
    description: String,
    amount: Money,
}

fn add(a: Money, b: Money) -> Money {
    a.checked_add(b).unwrap_or(a)
}

/// Builds the statement of `invoices` for `[from, to]`. `payment_date` turns a
/// payment's instant into the practice's calendar date. Void invoices were never
/// owed and do not appear.
pub fn build(
    invoices: &[Invoice],
    from: Date,
    to: Date,
    payment_date: impl Fn(time::OffsetDateTime) -> Date,
) -> Statement {
    let mut moves = Vec::new();
    for inv in invoices.iter().filter(|i| i.status() != InvoiceStatus::Void) {
        let what = inv.lines.first().map(|l| l.description.clone()).unwrap_or_default();
        let more = if inv.lines.len() > 1 { format!(" (+{} more)", inv.lines.len() - 1) } else { String::new() };
        moves.push(Movement {
            date: inv.issue_date,
            kind: EntryKind::Charge,
            reference: inv.number.clone(),
            description: format!("Invoice {}: {what}{more}", inv.number),
            amount: inv.total,
        });
        for p in &inv.payments {
            moves.push(Movement {
                date: payment_date(p.at),
                kind: EntryKind::Payment,
                reference: format!("{} / {}", inv.number, p.payment_id),
                description: format!("Payment on invoice {}", inv.number),
                amount: p.amount,
            });
        }
    }
    // Date order; on one day charges come before the payments that settle them.
    moves.sort_by(|a, b| {
        (a.date, a.kind == EntryKind::Payment, &a.reference).cmp(&(b.date, b.kind == EntryKind::Payment, &b.reference))
    });

    let (mut charges_before, mut payments_before) = (Money::ZERO, Money::ZERO);
    for m in moves.iter().filter(|m| m.date < from) {
        match m.kind {
            EntryKind::Charge => charges_before = add(charges_before, m.amount),
            EntryKind::Payment => payments_before = add(payments_before, m.amount),
        }
    }
    let opening = charges_before.checked_sub(payments_before).unwrap_or(Money::ZERO);
    let (mut balance, mut total_charges, mut total_payments) = (opening, Money::ZERO, Money::ZERO);
    let mut entries = Vec::new();
    for m in moves.into_iter().filter(|m| m.date >= from && m.date <= to) {
        match m.kind {
            EntryKind::Charge => {
                total_charges = add(total_charges, m.amount);
                balance = add(balance, m.amount);
            }
            EntryKind::Payment => {
                total_payments = add(total_payments, m.amount);
                balance = balance.checked_sub(m.amount).unwrap_or(Money::ZERO);
            }
        }
        entries.push(Entry {
            date: m.date,
            kind: m.kind,
            reference: m.reference,
            description: m.description,
            amount: m.amount,
            balance,
        });
    }
    Statement { from, to, opening_balance: opening, entries, total_charges, total_payments, closing_balance: balance }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::billing::{invoice_number, AppliedPayment, InvoiceLine};
    use crate::domain::ids::{InvoiceId, MemberId, PaymentId, PracticeId};
    use time::macros::{date, datetime};

    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    fn invoice(n: u64, issued: Date, total: &str, payments: &[(Date, &str)]) -> Invoice {
        Invoice {
            id: InvoiceId::parse(&format!("inv_{n}")).unwrap(),
            practice_id: PracticeId::parse("prc_a").unwrap(),
            member_id: MemberId::parse("mbr_a").unwrap(),
            number: invoice_number(n),
            issue_date: issued,
            due_date: issued,
            lines: vec![InvoiceLine {
                description: "Membership".into(),
                member_id: None,
                service_start: None,
                service_end: None,
                amount: m(total),
            }],
            total: m(total),
            paid: payments.iter().fold(Money::ZERO, |t, (_, a)| t.checked_add(m(a)).unwrap()),
            reserved: Money::ZERO,
            payments: payments
                .iter()
                .map(|(d, a)| AppliedPayment {
                    payment_id: PaymentId::parse("pay_a").unwrap(),
                    amount: m(a),
                    at: d.midnight().assume_utc(),
                })
                .collect(),
            voided_at: None,
            created_at: datetime!(2020-01-01 0:00 UTC),
            version: 1,
        }
    }

    #[test]
    fn opening_plus_charges_minus_payments_is_closing() {
        let invoices = [
            invoice(1, date!(2026 - 01 - 01), "100.00", &[(date!(2026 - 01 - 05), "100.00")]),
            invoice(2, date!(2026 - 02 - 01), "100.00", &[(date!(2026 - 03 - 02), "40.00")]),
            invoice(3, date!(2026 - 03 - 01), "100.00", &[]),
        ];
        let s = build(&invoices, date!(2026 - 02 - 15), date!(2026 - 03 - 31), |t| t.date());
        assert_eq!(s.opening_balance, m("100.00"));
        assert_eq!((s.total_charges, s.total_payments), (m("100.00"), m("40.00")));
        assert_eq!(s.closing_balance, m("160.00"));
        assert_eq!(s.entries.len(), 2);
        assert_eq!(s.entries[0].kind, EntryKind::Charge);
        assert_eq!(s.entries[1].balance, m("160.00"));
    }

    #[test]
    fn void_invoices_never_appear() {
        let mut void = invoice(1, date!(2026 - 01 - 01), "50.00", &[]);
        void.voided_at = Some(datetime!(2026-01-02 0:00 UTC));
        let s = build(&[void], date!(2025 - 12 - 01), date!(2026 - 01 - 31), |t| t.date());
        assert!(s.entries.is_empty());
        assert_eq!(s.closing_balance, Money::ZERO);
    }

    #[test]
    fn presets_cover_whole_months_and_years() {
        let today = date!(2026 - 03 - 15);
        assert_eq!(preset_range(Preset::ThisMonth, today), Some((date!(2026 - 03 - 01), today)));
        assert_eq!(preset_range(Preset::LastMonth, today), Some((date!(2026 - 02 - 01), date!(2026 - 02 - 28))));
        assert_eq!(preset_range(Preset::ThisYear, today), Some((date!(2026 - 01 - 01), today)));
        assert_eq!(preset_range(Preset::LastYear, today), Some((date!(2025 - 01 - 01), date!(2025 - 12 - 31))));
        assert_eq!(
            preset_range(Preset::LastMonth, date!(2026 - 01 - 10)),
            Some((date!(2025 - 12 - 01), date!(2025 - 12 - 31)))
        );
    }

    #[test]
    fn ranges_are_checked() {
        let today = date!(2026 - 03 - 15);
        assert!(parse_range(Some("2026-01-01"), Some("2026-03-15"), today).is_ok());
        let fields =
            |r: Result<(Date, Date), Vec<FieldError>>| r.unwrap_err().into_iter().map(|e| e.field).collect::<Vec<_>>();
        assert_eq!(fields(parse_range(Some("2026-03-01"), Some("2026-02-01"), today)), ["from"]);
        assert_eq!(fields(parse_range(Some("2026-03-01"), Some("2026-03-16"), today)), ["to"]);
        assert_eq!(fields(parse_range(Some("2018-01-01"), Some("2026-03-01"), today)), ["from"]);
        assert_eq!(fields(parse_range(Some("01/01/2026"), None, today)), ["from", "to"]);
    }
}

//! Invoice copies and account statements: JSON for the page, PDF and CSV to download.

use serde::Serialize;
use time::Date;

use super::billing::{detail_of, InvoiceDetail};
use super::{Caller, Ctx, Error, Result};
use crate::documents::csv;
use crate::documents::pdf::{Align, Column, Layout, MARGIN, PAGE_WIDTH};
use crate::domain::ids::InvoiceId;
use crate::domain::member::Member;
use crate::domain::money::Money;
use crate::domain::practice::Practice;
use crate::domain::statement::{self, Entry, EntryKind, Preset};

fn day(d: Date) -> String {
    d.to_string()
}

/// US-style money for documents: `$1,234.50`.
fn money(m: Money, currency: &str) -> String {
    let s = m.to_string();
    let (whole, cents) = s.split_once('.').unwrap_or((&s, "00"));
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let symbol = if currency == "USD" { "$".to_owned() } else { format!("{currency} ") };
    format!("{symbol}{grouped}.{cents}")
}

/// The letterhead every document starts with: practice, contact, document title and number.
fn letterhead(l: &mut Layout, practice: &Practice, title: &str, reference: &str) {
    l.line(MARGIN, &practice.name, 16.0, true);
    l.beside(MARGIN + 300.0, PAGE_WIDTH - 2.0 * MARGIN - 300.0, Align::Right, title, 16.0, true);
    l.line(MARGIN, &format!("{}  ·  {}", practice.contact_phone.as_str(), practice.contact_email.as_str()), 9.0, false);
    l.beside(MARGIN + 300.0, PAGE_WIDTH - 2.0 * MARGIN - 300.0, Align::Right, reference, 9.0, false);
    l.gap(6.0);
    l.rule();
    l.gap(6.0);
}

/// The member and billing address block.
fn addressee(l: &mut Layout, heading: &str, member: &Member) {
    l.line(MARGIN, heading, 8.0, true);
    l.line(MARGIN, &member.full_name(), 10.0, false);
    if let Some(a) = &member.address {
        l.line(MARGIN, &a.line1, 10.0, false);
        if let Some(l2) = &a.line2 {
            l.line(MARGIN, l2, 10.0, false);
        }
        l.line(MARGIN, &format!("{}, {} {}", a.city, a.region, a.postal_code), 10.0, false);
    }
}

fn totals(l: &mut Layout, rows: &[(&str, String)]) {
    let label = Column { x: PAGE_WIDTH - MARGIN - 260.0, width: 160.0, align: Align::Right };
    let value = Column { x: PAGE_WIDTH - MARGIN - 100.0, width: 100.0, align: Align::Right };
    for (i, (name, amount)) in rows.iter().enumerate() {
        l.table_row(&[label, value], &[(*name).to_owned(), amount.clone()], i + 1 == rows.len());
    }
}

async fn billed_member(ctx: &Ctx, caller: &Caller) -> Result<(Practice, Member)> {
    let practice = ctx.store.get_practice(&caller.practice_id).await?.ok_or(Error::NotFound("practice"))?;
    let member = ctx
        .store
        .get_member(&caller.practice_id, &caller.member_id)
        .await?
        .ok_or(Error::Unauthenticated("this member can no longer sign in"))?;
    Ok((practice, member))
}

/// A PDF file to download.
pub struct File {
    pub name: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// The invoice as a PDF, as the practice would print it.
pub async fn invoice_pdf(ctx: &Ctx, caller: &Caller, id: &InvoiceId) -> Result<File> {
    let (practice, member) = billed_member(ctx, caller).await?;
    let invoice =
        ctx.store.get_invoice(&caller.practice_id, &caller.member_id, id).await?.ok_or(Error::NotFound("invoice"))?;
    let today = practice.today(ctx.clock.now());
    let currency = practice.currency.as_str().to_owned();
    let d: InvoiceDetail = detail_of(ctx, invoice, today, &currency).await?;
    let s = &d.summary;
    let cur = |m: Money| money(m, &currency);

    let mut l = Layout::new(&format!("Invoice {}", s.number));
    letterhead(&mut l, &practice, "INVOICE", &s.number);
    addressee(&mut l, "BILL TO", &member);
    l.gap(8.0);
    let status = match s.status {
        crate::domain::billing::InvoiceStatus::Open if s.past_due => "Past due".to_owned(),
        other => format!("{other:?}").replace("PartiallyPaid", "Partially paid"),
    };
    for (k, v) in [("Invoice date", day(s.issue_date)), ("Due date", day(s.due_date)), ("Status", status)] {
        l.line(MARGIN, &format!("{k}: {v}"), 10.0, false);
    }
    l.gap(10.0);
    let cols = [
        Column { x: MARGIN, width: 20.0, align: Align::Left },
        Column { x: MARGIN + 24.0, width: 160.0, align: Align::Left },
        Column { x: MARGIN + 188.0, width: 90.0, align: Align::Left },
        Column { x: MARGIN + 282.0, width: 130.0, align: Align::Left },
        Column { x: PAGE_WIDTH - MARGIN - 70.0, width: 70.0, align: Align::Right },
    ];
    l.table_header(&cols, &["#", "Description", "Member", "Service period", "Amount"]);
    for line in &d.lines {
        let period = match (line.service_start, line.service_end) {
            (Some(a), Some(b)) => format!("{} – {}", day(a), day(b)),
            (Some(a), None) => day(a),
            _ => String::new(),
        };
        let cells = [
            line.number.to_string(),
            line.description.clone(),
            line.member_name.clone().unwrap_or_default(),
            period,
            cur(line.amount),
        ];
        l.table_row(&cols, &cells, false);
    }
    l.end_table();
    l.rule();
    totals(&mut l, &[("Total", cur(s.total)), ("Paid", cur(s.paid)), ("Balance due", cur(s.balance))]);
    if !d.payments.is_empty() {
        l.gap(12.0);
        l.line(MARGIN, "PAYMENTS", 8.0, true);
        let pcols = [
            Column { x: MARGIN, width: 120.0, align: Align::Left },
            Column { x: MARGIN + 124.0, width: 260.0, align: Align::Left },
            Column { x: PAGE_WIDTH - MARGIN - 70.0, width: 70.0, align: Align::Right },
        ];
        l.table_header(&pcols, &["Date", "Payment", "Amount"]);
        for p in &d.payments {
            let date = practice.time_zone.date_at(p.at);
            l.table_row(&pcols, &[day(date), p.payment_id.to_string(), cur(p.amount)], false);
        }
        l.end_table();
    }
    l.gap(14.0);
    l.line(
        MARGIN,
        &format!(
            "Questions about this invoice? Call {} or write to {}.",
            practice.contact_phone.as_str(),
            practice.contact_email.as_str()
        ),
        9.0,
        false,
    );
    let bytes = l.render().map_err(Error::Internal)?;
    Ok(File { name: format!("{}.pdf", s.number), content_type: "application/pdf", bytes })
}

/// A statement as the page shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatementView {
    #[serde(with = "crate::domain::date_format::iso")]
    #[schema(value_type = String, format = Date)]
    pub from: Date,
    #[serde(with = "crate::domain::date_format::iso")]
    #[schema(value_type = String, format = Date)]
    pub to: Date,
    #[schema(value_type = String, example = "USD")]
    pub currency: String,
    pub opening_balance: Money,
    pub total_charges: Money,
    pub total_payments: Money,
    pub closing_balance: Money,
    /// In date order; charges before payments on the same day.
    pub entries: Vec<Entry>,
}

/// The range a statement covers: a preset, or `from` and `to`.
pub struct Period<'a> {
    pub preset: Option<Preset>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
}

/// The member's statement for a period (dates in the practice's time zone).
pub async fn statement(ctx: &Ctx, caller: &Caller, period: Period<'_>) -> Result<(StatementView, Practice, Member)> {
    let (practice, member) = billed_member(ctx, caller).await?;
    let today = practice.today(ctx.clock.now());
    let (from, to) = match period.preset.and_then(|p| statement::preset_range(p, today)) {
        Some(range) if period.from.is_none() && period.to.is_none() => range,
        Some(_) => return Err(Error::field("period", "send either a period or from and to, not both")),
        None => statement::parse_range(period.from, period.to, today)?,
    };
    let invoices = ctx.store.invoices_of(&caller.practice_id, &caller.member_id).await?;
    let s = statement::build(&invoices, from, to, |at| practice.time_zone.date_at(at));
    let view = StatementView {
        from: s.from,
        to: s.to,
        currency: practice.currency.as_str().to_owned(),
        opening_balance: s.opening_balance,
        total_charges: s.total_charges,
        total_payments: s.total_payments,
        closing_balance: s.closing_balance,
        entries: s.entries,
    };
    Ok((view, practice, member))
}

/// The statement as a PDF.
pub fn statement_pdf(s: &StatementView, practice: &Practice, member: &Member) -> Result<File> {
    let cur = |m: Money| money(m, &s.currency);
    let mut l = Layout::new(&format!("Statement {} to {}", day(s.from), day(s.to)));
    letterhead(&mut l, practice, "ACCOUNT STATEMENT", &format!("{} to {}", day(s.from), day(s.to)));
    addressee(&mut l, "STATEMENT FOR", member);
    l.gap(10.0);
    totals(
        &mut l,
        &[
            ("Opening balance", cur(s.opening_balance)),
            ("Charges", cur(s.total_charges)),
            ("Payments", cur(s.total_payments)),
            ("Closing balance", cur(s.closing_balance)),
        ],
    );
    l.gap(12.0);
    let cols = [
        Column { x: MARGIN, width: 62.0, align: Align::Left },
        Column { x: MARGIN + 66.0, width: 170.0, align: Align::Left },
        Column { x: MARGIN + 240.0, width: 60.0, align: Align::Left },
        Column { x: PAGE_WIDTH - MARGIN - 200.0, width: 62.0, align: Align::Right },
        Column { x: PAGE_WIDTH - MARGIN - 134.0, width: 62.0, align: Align::Right },
        Column { x: PAGE_WIDTH - MARGIN - 68.0, width: 68.0, align: Align::Right },
    ];
    l.table_header(&cols, &["Date", "Description", "Reference", "Charges", "Payments", "Balance"]);
    l.table_row(
        &cols,
        &[day(s.from), "Opening balance".into(), String::new(), String::new(), String::new(), cur(s.opening_balance)],
        false,
    );
    for e in &s.entries {
        let (charge, payment) = match e.kind {
            EntryKind::Charge => (cur(e.amount), String::new()),
            EntryKind::Payment => (String::new(), cur(e.amount)),
        };
        let reference = e.reference.split(" / ").next().unwrap_or(&e.reference).to_owned();
        l.table_row(&cols, &[day(e.date), e.description.clone(), reference, charge, payment, cur(e.balance)], false);
    }
    l.rule();
    l.table_row(
        &cols,
        &[
            day(s.to),
            "Totals and closing balance".into(),
            String::new(),
            cur(s.total_charges),
            cur(s.total_payments),
            cur(s.closing_balance),
        ],
        true,
    );
    l.end_table();
    let bytes = l.render().map_err(Error::Internal)?;
    Ok(File { name: format!("statement-{}-{}.pdf", day(s.from), day(s.to)), content_type: "application/pdf", bytes })
}

/// The statement as CSV: one row per entry between opening and closing rows.
pub fn statement_csv(s: &StatementView) -> File {
    let mut out = csv::row(&["date", "kind", "reference", "description", "charge", "payment", "balance"]);
    out.push_str(&csv::row(&[
        &day(s.from),
        "opening_balance",
        "",
        "Opening balance",
        "",
        "",
        &s.opening_balance.to_string(),
    ]));
    for e in &s.entries {
        let (charge, payment) = match e.kind {
            EntryKind::Charge => (e.amount.to_string(), String::new()),
            EntryKind::Payment => (String::new(), e.amount.to_string()),
        };
        let kind = match e.kind {
            EntryKind::Charge => "charge",
            EntryKind::Payment => "payment",
        };
        out.push_str(&csv::row(&[
            &day(e.date),
            kind,
            &e.reference,
            &e.description,
            &charge,
            &payment,
            &e.balance.to_string(),
        ]));
    }
    out.push_str(&csv::row(&[
        &day(s.to),
        "closing_balance",
        "",
        "Closing balance",
        &s.total_charges.to_string(),
        &s.total_payments.to_string(),
        &s.closing_balance.to_string(),
    ]));
    File {
        name: format!("statement-{}-{}.csv", day(s.from), day(s.to)),
        content_type: "text/csv; charset=utf-8",
        bytes: out.into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_written_as_people_read_it() {
        assert_eq!(money(Money::parse("1234567.5").unwrap(), "USD"), "$1,234,567.50");
        assert_eq!(money(Money::parse("0").unwrap(), "USD"), "$0.00");
        assert_eq!(money(Money::parse("999").unwrap(), "EUR"), "EUR 999.00");
    }
}

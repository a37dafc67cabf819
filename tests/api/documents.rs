//! Invoice copies and statements: the PDFs and CSV say what the JSON says.

use std::str::FromStr;

use axum::http::{Method, StatusCode};
use portal::domain::billing::{InvoiceInput, InvoiceLineInput};
use portal::domain::ids::SessionId;
use portal::services::payments::{self, AllocationBody, PaymentRequest};
use portal::services::{billing, AdminCaller, Caller};
use portal_tests::{dollars, pdf_text, spawn_app, TestApp};
use rust_decimal::Decimal;
use serde_json::Value;
use time::Duration;

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().expect("an amount string")).expect("a decimal")
}

/// opening + charges − payments = closing, and each entry's running balance follows.
fn assert_balances(s: &Value) {
    let (opening, charges, payments, closing) =
        (dec(&s["opening_balance"]), dec(&s["total_charges"]), dec(&s["total_payments"]), dec(&s["closing_balance"]));
    assert_eq!(opening + charges - payments, closing, "{s}");
    let mut running = opening;
    let (mut c, mut p) = (Decimal::ZERO, Decimal::ZERO);
    for e in s["entries"].as_array().unwrap() {
        match e["kind"].as_str().unwrap() {
            "charge" => {
                running += dec(&e["amount"]);
                c += dec(&e["amount"]);
            }
            _ => {
                running -= dec(&e["amount"]);
                p += dec(&e["amount"]);
            }
        }
        assert_eq!(running, dec(&e["balance"]));
    }
    assert_eq!((c, p), (charges, payments));
}

#[tokio::test]
async fn the_invoice_pdf_says_what_the_invoice_says() {
    let app = spawn_app().await;
    let token = app.owner_token().await;
    let id = &app.demo.invoices.partially_paid;
    let json = app.get(&format!("/v1/invoices/{id}"), Some(&token)).await.json;
    let r = app.get(&format!("/v1/invoices/{id}/pdf"), Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type(), "application/pdf");
    let number = json["number"].as_str().unwrap();
    assert_eq!(r.headers["content-disposition"], format!("attachment; filename=\"{number}.pdf\""));
    let text = pdf_text(&r.bytes);
    for expected in [
        "Hillside Direct Primary Care",
        "INVOICE",
        number,
        "Maria Alvarez",
        "2417 Bluebonnet Lane",
        "Austin, TX 78704",
        json["issue_date"].as_str().unwrap(),
        json["due_date"].as_str().unwrap(),
        "Partially paid",
        "Daniel Alvarez",
        "Sofia Alvarez",
        &dollars(json["total"].as_str().unwrap()),
        &dollars(json["paid"].as_str().unwrap()),
        &dollars(json["balance"].as_str().unwrap()),
        json["payments"][0]["payment_id"].as_str().unwrap(),
        "page 1 of 1",
    ] {
        assert!(text.contains(expected), "the PDF lacks {expected:?}:\n{text}");
    }
    for line in json["lines"].as_array().unwrap() {
        assert!(text.contains(&dollars(line["amount"].as_str().unwrap())));
        assert!(text.contains(line["service_start"].as_str().unwrap()));
    }
}

#[tokio::test]
async fn another_members_invoice_pdf_is_not_found() {
    let app = spawn_app().await;
    let other = app.other_practice().await;
    let spouse = app.spouse_token().await;
    let owner = app.owner_token().await;
    for (token, id) in [(&spouse, &app.demo.invoices.paid), (&owner, &other.invoices.paid)] {
        let r = app.get(&format!("/v1/invoices/{id}/pdf"), Some(token)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.content_type(), "application/problem+json");
    }
    assert_eq!(
        app.get(&format!("/v1/invoices/{}/pdf", app.demo.invoices.paid), None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn pdfs_go_through_api_gateway_as_binary_and_json_as_text() {
    use lambda_http::IntoResponse;
    let app = spawn_app().await;
    let token = app.owner_token().await;
    for (path, binary) in
        [(format!("/v1/invoices/{}/pdf", app.demo.invoices.open), true), ("/v1/invoices".to_owned(), false)]
    {
        let request = axum::http::Request::builder()
            .uri(&path)
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .unwrap();
        let response = tower::ServiceExt::oneshot(app.app.clone(), request).await.unwrap();
        let lambda = response.into_response().await;
        let is_binary = matches!(lambda.body(), lambda_http::Body::Binary(_));
        assert_eq!(is_binary, binary, "{path}");
    }
}

#[tokio::test]
async fn the_demo_statement_balances_and_its_pdf_and_csv_agree_with_it() {
    let app = spawn_app().await;
    let token = app.owner_token().await;
    let r = app.get("/v1/statements?period=this_year", Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    let s = r.json;
    assert_balances(&s);
    assert!(!s["entries"].as_array().unwrap().is_empty());

    let last_year_start = format!("{}-01-01", time::OffsetDateTime::now_utc().year() - 1);
    let custom =
        app.get(&format!("/v1/statements?from={last_year_start}&to={}", s["to"].as_str().unwrap()), Some(&token)).await;
    assert_balances(&custom.json);
    assert_eq!(custom.json["closing_balance"], s["closing_balance"]);
    assert_eq!(custom.json["closing_balance"], "425.00", "what the member owes today");

    let pdf = app.get("/v1/statements?period=this_year&format=pdf", Some(&token)).await;
    assert_eq!(pdf.content_type(), "application/pdf");
    let text = pdf_text(&pdf.bytes);
    for key in ["opening_balance", "total_charges", "total_payments", "closing_balance"] {
        assert!(text.contains(&dollars(s[key].as_str().unwrap())), "PDF lacks {key}:\n{text}");
    }
    for e in s["entries"].as_array().unwrap() {
        assert!(text.contains(e["date"].as_str().unwrap()));
        assert!(text.contains(&dollars(e["balance"].as_str().unwrap())));
    }
    assert!(text.contains("ACCOUNT STATEMENT") && text.contains("Maria Alvarez"));

    let csv = app
        .request_with(Method::GET, "/v1/statements?period=this_year", None, Some(&token), &[("accept", "text/csv")])
        .await;
    assert!(csv.content_type().starts_with("text/csv"));
    let text = String::from_utf8(csv.bytes).unwrap();
    let rows: Vec<Vec<String>> = text.lines().map(|l| l.split(',').map(str::to_owned).collect()).collect();
    assert_eq!(rows[0], ["date", "kind", "reference", "description", "charge", "payment", "balance"]);
    assert_eq!(rows[1][6], s["opening_balance"].as_str().unwrap());
    let last = rows.last().unwrap();
    assert_eq!(
        (&last[4], &last[5], &last[6]),
        (
            &s["total_charges"].as_str().unwrap().to_owned(),
            &s["total_payments"].as_str().unwrap().to_owned(),
            &s["closing_balance"].as_str().unwrap().to_owned()
        )
    );
    assert_eq!(rows.len(), s["entries"].as_array().unwrap().len() + 3);
}

#[tokio::test]
async fn five_years_of_monthly_invoices_and_payments_make_a_balanced_multi_page_statement() {
    let app = spawn_app().await;
    let owner = generated_household(&app, 60).await;
    let r = app.get(&format!("/v1/statements?from={}&to={}", owner.1, owner.2), Some(&owner.0)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_balances(&r.json);
    assert_eq!(r.json["entries"].as_array().unwrap().iter().filter(|e| e["kind"] == "charge").count(), 60);
    let pdf = pdf_text(
        &app.get(&format!("/v1/statements?from={}&to={}&format=pdf", owner.1, owner.2), Some(&owner.0)).await.bytes,
    );
    assert!(pdf.contains("page 2 of"), "a long statement spans pages");
    assert!(pdf.contains(&dollars(r.json["closing_balance"].as_str().unwrap())));
    // The header repeats on every page.
    assert!(pdf.matches("Description").count() >= 2);
}

/// The demo spouse billed monthly for `months` months, each paid on its due date
/// except the last three; returns their token and a range covering it all.
async fn generated_household(app: &TestApp, months: i64) -> (String, String, String) {
    let practice = app.ctx.store.get_practice(&app.demo.practice_id).await.unwrap().unwrap();
    let today = practice.today(app.ctx.clock.now());
    let admin = AdminCaller { practice_id: app.demo.practice_id.clone() };
    let spouse = Caller {
        practice_id: app.demo.practice_id.clone(),
        member_id: app.demo.spouse.clone(),
        session_id: SessionId::parse("ses_test").unwrap(),
    };
    let added = portal::services::payment_sources::add(
        &app.ctx,
        &spouse,
        &portal::services::payment_sources::AddSource {
            payment_method_id: "pm_card_visa".into(),
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    let first = today - Duration::days(30 * months);
    for m in 0..months {
        let issued = first + Duration::days(30 * m);
        let input = InvoiceInput {
            member_id: spouse.member_id.to_string(),
            issue_date: Some(issued.to_string()),
            due_date: (issued + Duration::days(10)).to_string(),
            lines: vec![InvoiceLineInput {
                description: format!("Adult Membership, month {}", m + 1),
                member_id: None,
                service_start: None,
                service_end: None,
                amount: format!("{}.{:02}", 60 + m, m % 100),
            }],
        };
        let invoice = billing::issue(&app.ctx, &admin, &input).await.unwrap();
        if m < months - 3 {
            let request = PaymentRequest {
                allocations: vec![AllocationBody {
                    invoice_id: invoice.summary.id.to_string(),
                    amount: invoice.summary.total.to_string(),
                }],
                source_id: Some(added.source.id.to_string()),
                ..Default::default()
            };
            payments::pay(&app.ctx, &spouse, &format!("gen-{m}"), &request).await.unwrap();
        }
    }
    (app.spouse_token().await, first.to_string(), today.to_string())
}

#[tokio::test]
async fn statement_ranges_and_formats_are_checked() {
    let app = spawn_app().await;
    let token = app.owner_token().await;
    let today = app.get("/v1/statements?period=this_month", Some(&token)).await.json["to"].as_str().unwrap().to_owned();
    let cases = [
        ("?from=2026-05-01&to=2026-04-01".to_owned(), vec!["from"]),
        (format!("?from={}-01-01&to={}-12-31", &today[..4], today[..4].parse::<i32>().unwrap() + 1), vec!["to"]),
        ("?from=2010-01-01&to=2020-01-01".to_owned(), vec!["from"]),
        ("?from=05/01/2026".to_owned(), vec!["from", "to"]),
        ("?period=fortnight".to_owned(), vec!["period"]),
        (format!("?period=last_year&from={today}&to={today}"), vec!["period"]),
        ("?period=this_year&format=xlsx".to_owned(), vec!["format"]),
    ];
    for (query, fields) in cases {
        let r = app.get(&format!("/v1/statements{query}"), Some(&token)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {:?}", r.json);
        assert_eq!(r.fields(), fields, "{query}");
    }
    let r = app.get("/v1/statements?period=last_month", Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.json["from"].as_str().unwrap().ends_with("-01"));
}

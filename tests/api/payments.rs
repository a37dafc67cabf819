use axum::http::StatusCode;
use portal_tests::{spawn_app, TestApp};
use serde_json::{json, Value};
use time::Duration;

fn one(invoice: &impl std::fmt::Display, amount: &str) -> Value {
    json!({ "allocations": [{ "invoice_id": invoice.to_string(), "amount": amount }] })
}

async fn invoice(app: &TestApp, token: &str, id: &impl std::fmt::Display) -> Value {
    app.get(&format!("/v1/invoices/{id}"), Some(token)).await.json
}

async fn sources(app: &TestApp, token: &str) -> Vec<String> {
    app.get("/v1/payment-sources", Some(token)).await.json["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["label"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn paying_an_invoice_in_full_with_the_default_card() {
    let app = spawn_app().await;
    let token = app.owner_token().await;
    let before = app.gateway.charges_made();
    let r = app.pay(&token, "k-full", one(&app.demo.invoices.open, "175.00")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    assert_eq!(r.json["status"], "succeeded");
    assert_eq!(r.json["amount"], "175.00");
    assert_eq!(r.json["source"], "Visa •••• 4242");
    assert_eq!(r.json["invoices"][0]["status"], "paid");
    assert_eq!(app.gateway.charges_made(), before + 1);
    let inv = invoice(&app, &token, &app.demo.invoices.open).await;
    assert_eq!((&inv["balance"], &inv["status"]), (&json!("0.00"), &json!("paid")));
    assert_eq!(inv["payments"][0]["payment_id"], r.json["id"]);
}

#[tokio::test]
async fn paying_part_of_an_invoice_leaves_it_partially_paid() {
    let app = spawn_app().await;
    let token = app.owner_token().await;
    let r = app.pay(&token, "k-part", one(&app.demo.invoices.past_due, "50.25")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    let inv = invoice(&app, &token, &app.demo.invoices.past_due).await;
    assert_eq!((&inv["status"], &inv["balance"]), (&json!("partially_paid"), &json!("124.75")));
}

#[tokio::test]
async fn paying_several_invoices_at_once() {
    let app = spawn_app().await;
    let token = app.owner_token().await;
    let body = json!({ "allocations": [
        { "invoice_id": app.demo.invoices.partially_paid, "amount": "75.00" },
        { "invoice_id": app.demo.invoices.past_due, "amount": "175" },
        { "invoice_id": app.demo.invoices.open, "amount": "10" }
    ]});
    let r = app.pay(&token, "k-multi", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    assert_eq!(r.json["amount"], "260.00");
    let list = app.get("/v1/invoices", Some(&token)).await;
    assert_eq!(list.json["balance_due"], "165.00");
    assert_eq!(list.json["past_due"], "0.00");
}

#[tokio::test]
async fn a_new_card_is_saved_only_when_asked() {
    let app = spawn_app().await;
    let token = app.owner_token().await;
    let mut body = one(&app.demo.invoices.open, "10.00");
    body["payment_method_id"] = json!("pm_card_mastercard");
    let r = app.pay(&token, "k-new-unsaved", body.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    assert_eq!(r.json["source"], "Mastercard •••• 4444");
    assert_eq!(sources(&app, &token).await, ["Visa •••• 4242"]);
    body["save_source"] = json!(true);
    app.clock.advance(Duration::seconds(1));
    let r = app.pay(&token, "k-new-saved", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    assert_eq!(sources(&app, &token).await, ["Visa •••• 4242", "Mastercard •••• 4444"]);
}

#[tokio::test]
async fn a_new_card_can_also_pay_every_past_due_invoice() {
    let app = spawn_app().await;
    let token = app.owner_token().await;
    let body = json!({
        "allocations": [{ "invoice_id": app.demo.invoices.open, "amount": "175.00" }],
        "payment_method_id": "pm_usBankAccount",
        "include_past_due": true
    });
    let r = app.pay(&token, "k-past-due", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    assert_eq!(r.json["amount"], "425.00");
    assert_eq!(r.json["source"], "STRIPE TEST BANK •••• 6789");
    assert_eq!(app.get("/v1/invoices", Some(&token)).await.json["balance_due"], "0.00");
    let r = app.pay(&token, "k-past-due-2", json!({ "source_id": app.demo.card, "include_past_due": true })).await;
    assert_eq!(r.fields(), ["include_past_due"]);
}

#[tokio::test]
async fn adding_a_source_can_pay_the_past_due_invoices_right_away() {
    let app = spawn_app().await;
    let token = app.owner_token().await;
    let r = app
        .request_with(
            axum::http::Method::POST,
            "/v1/payment-sources",
            Some(json!({ "payment_method_id": "pm_card_mastercard", "pay_past_due": true, "make_default": true })),
            Some(&token),
            &[("idempotency-key", "k-add-and-pay")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    assert_eq!(r.json["source"]["is_default"], true);
    assert_eq!(r.json["payment"]["amount"], "250.00");
    assert_eq!(r.json["payment"]["status"], "succeeded");
    assert_eq!(app.get("/v1/invoices", Some(&token)).await.json["past_due"], "0.00");
    let no_key = app
        .post("/v1/payment-sources", json!({ "payment_method_id": "pm_card_visa", "pay_past_due": true }), Some(&token))
        .await;
    assert_eq!(no_key.fields(), ["Idempotency-Key"]);
}

#[tokio::test]
async fn a_declined_card_is_a_402_with_the_reason_and_changes_no_balance() {
    let app = spawn_app().await;
    let token = app.owner_token().await;
    for (method, code) in [
        ("pm_card_chargeDeclined", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
    ] {
        let mut body = one(&app.demo.invoices.open, "175.00");
        body["payment_method_id"] = json!(method);
        body["save_source"] = json!(true);
        let r = app.pay(&token, &format!("k-decline-{code}"), body).await;
        assert_eq!(r.status, StatusCode::PAYMENT_REQUIRED, "{:?}", r.json);
        assert_eq!(r.problem(), "/problems/payment-declined");
        assert_eq!(r.json["decline"]["code"], code);
        assert!(r.json["detail"].as_str().unwrap().contains("card"));
    }
    let inv = invoice(&app, &token, &app.demo.invoices.open).await;
    assert_eq!((&inv["balance"], &inv["pending"]), (&json!("175.00"), &json!("0.00")));
    assert_eq!(sources(&app, &token).await, ["Visa •••• 4242"], "a declined card is not saved");
}

#[tokio::test]
async fn wrong_amounts_and_foreign_invoices_are_refused_and_nothing_is_charged() {
    let app = spawn_app().await;
    let other = app.other_practice().await;
    let token = app.owner_token().await;
    let before = app.gateway.charges_made();
    let open = app.demo.invoices.open.to_string();
    let cases = [
        (json!([{ "invoice_id": open, "amount": "175.01" }]), "allocations[0].amount"),
        (json!([{ "invoice_id": open, "amount": "0" }]), "allocations[0].amount"),
        (json!([{ "invoice_id": open, "amount": "-5" }]), "allocations[0].amount"),
        (json!([{ "invoice_id": open, "amount": "1.005" }]), "allocations[0].amount"),
        (json!([{ "invoice_id": open, "amount": 5 }]), "allocations[0].amount"),
        (json!([{ "invoice_id": other.invoices.open, "amount": "1" }]), "allocations[0].invoice_id"),
        (json!([{ "invoice_id": app.demo.invoices.paid, "amount": "1" }]), "allocations[0].invoice_id"),
        (json!([{ "invoice_id": app.demo.invoices.void, "amount": "1" }]), "allocations[0].invoice_id"),
        (
            json!([{ "invoice_id": open, "amount": "1" }, { "invoice_id": open, "amount": "1" }]),
            "allocations[1].invoice_id",
        ),
        (json!([]), "allocations"),
    ];
    for (n, (allocations, field)) in cases.into_iter().enumerate() {
        let r = app.pay(&token, &format!("k-bad-{n}"), json!({ "allocations": allocations })).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "case {n}: {:?}", r.json);
        assert_eq!(r.fields(), [field], "case {n}");
    }
    let r = app
        .pay(
            &token,
            "k-bad-source",
            json!({ "allocations": [{ "invoice_id": open, "amount": "1" }], "source_id": other.card }),
        )
        .await;
    assert_eq!(r.fields(), ["source_id"]);
    let r = app
        .pay(
            &token,
            "k-bad-pm",
            json!({ "allocations": [{ "invoice_id": open, "amount": "1" }], "payment_method_id": "pm_nope" }),
        )
        .await;
    assert_eq!(r.fields(), ["payment_method_id"]);
    let r = app.request_with(axum::http::Method::POST, "/v1/payments", Some(one(&open, "1")), Some(&token), &[]).await;
    assert_eq!(r.fields(), ["Idempotency-Key"]);
    assert_eq!(app.gateway.charges_made(), before);
    assert_eq!(invoice(&app, &token, &open).await["balance"], "175.00");
}

#[tokio::test]
async fn a_retry_with_the_same_key_returns_the_first_answer_and_another_body_is_refused() {
    let app = spawn_app().await;
    let token = app.owner_token().await;
    let body = one(&app.demo.invoices.open, "20.00");
    let first = app.pay(&token, "k-retry", body.clone()).await;
    let again = app.pay(&token, "k-retry", body).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(again.status, first.status);
    assert_eq!(again.json["id"], first.json["id"]);
    assert_eq!(invoice(&app, &token, &app.demo.invoices.open).await["balance"], "155.00");
    let other_body = app.pay(&token, "k-retry", one(&app.demo.invoices.open, "21.00")).await;
    assert_eq!(other_body.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(other_body.problem(), "/problems/idempotency-key-reused");
    // A declined payment's retry is the same 402.
    let mut declined = one(&app.demo.invoices.open, "5.00");
    declined["payment_method_id"] = json!("pm_card_chargeDeclined");
    let d1 = app.pay(&token, "k-retry-declined", declined.clone()).await;
    let d2 = app.pay(&token, "k-retry-declined", declined).await;
    assert_eq!((d1.status, d2.status), (StatusCode::PAYMENT_REQUIRED, StatusCode::PAYMENT_REQUIRED));
    assert_eq!(d1.json["payment_id"], d2.json["payment_id"]);
}

#[tokio::test]
async fn another_members_session_cannot_pay_or_see_the_owners_invoices() {
    let app = spawn_app().await;
    let spouse = app.spouse_token().await;
    let r = app.pay(&spouse, "k-spouse", one(&app.demo.invoices.open, "1.00")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.fields(), ["allocations[0].invoice_id"]);
    let r = app.pay(&spouse, "k-spouse-2", json!({ "allocations": [], "source_id": app.demo.card })).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_processor_timeout_leaves_the_payment_pending_until_reconciliation_settles_it() {
    let app = spawn_app().await;
    let token = app.owner_token().await;
    app.gateway.time_out_before_charging(1);
    let r = app.pay(&token, "k-timeout", one(&app.demo.invoices.open, "175.00")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.json);
    assert_eq!(r.json["status"], "pending");
    let inv = invoice(&app, &token, &app.demo.invoices.open).await;
    assert_eq!((&inv["balance"], &inv["pending"]), (&json!("175.00"), &json!("175.00")));
    // The held amount cannot be paid twice meanwhile.
    let r2 = app.pay(&token, "k-timeout-2", one(&app.demo.invoices.open, "1.00")).await;
    assert_eq!(r2.fields(), ["allocations[0].amount"]);

    app.clock.advance(Duration::minutes(3));
    let report = portal::services::payments::reconcile(&app.ctx).await.unwrap();
    assert_eq!((report.succeeded, report.still_pending), (1, 0));
    let inv = invoice(&app, &token, &app.demo.invoices.open).await;
    assert_eq!((&inv["status"], &inv["pending"]), (&json!("paid"), &json!("0.00")));
    let retry = app.pay(&token, "k-timeout", one(&app.demo.invoices.open, "175.00")).await;
    assert_eq!(retry.status, StatusCode::CREATED);
}

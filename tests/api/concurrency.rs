//! Money under races: one key charges once; concurrent payments never
//! over-collect; a lost answer is settled exactly once; sources never reach zero.

use std::sync::Arc;

use axum::http::StatusCode;
use portal_tests::spawn_app;
use serde_json::json;
use time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_requests_with_one_key_charge_once() {
    let app = Arc::new(spawn_app().await);
    let token = app.owner_token().await;
    let before = app.gateway.charges_made();
    let body = json!({ "allocations": [{ "invoice_id": app.demo.invoices.open, "amount": "175.00" }] });
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (app, token, body) = (app.clone(), token.clone(), body.clone());
        tasks.push(tokio::spawn(async move { app.pay(&token, "one-key", body).await }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert!(r.status == StatusCode::CREATED || r.status == StatusCode::ACCEPTED, "{:?}", r.json);
        ids.push(r.json["id"].as_str().unwrap().to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every answer is the same payment");
    assert_eq!(app.gateway.charges_made(), before + 1);
    let inv = app.get(&format!("/v1/invoices/{}", app.demo.invoices.open), Some(&token)).await;
    assert_eq!((&inv.json["paid"], &inv.json["payments"].as_array().unwrap().len()), (&json!("175.00"), &1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_partial_payments_never_over_collect() {
    let app = Arc::new(spawn_app().await);
    let token = app.owner_token().await;
    let before = app.gateway.charges_made();
    let mut tasks = Vec::new();
    for n in 0..10 {
        let (app, token) = (app.clone(), token.clone());
        let body = json!({ "allocations": [{ "invoice_id": app.demo.invoices.open, "amount": "40.00" }] });
        tasks.push(tokio::spawn(async move { app.pay(&token, &format!("race-{n}"), body).await }));
    }
    let mut paid: u32 = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            StatusCode::CREATED => paid += 1,
            StatusCode::UNPROCESSABLE_ENTITY | StatusCode::CONFLICT => {}
            other => panic!("unexpected {other}: {:?}", r.json),
        }
    }
    assert_eq!(paid, 4, "175.00 holds four payments of 40.00");
    assert_eq!(app.gateway.charges_made(), before + 4);
    let inv = app.get(&format!("/v1/invoices/{}", app.demo.invoices.open), Some(&token)).await;
    assert_eq!(
        (&inv.json["paid"], &inv.json["balance"], &inv.json["pending"]),
        (&json!("160.00"), &json!("15.00"), &json!("0.00"))
    );
}

#[tokio::test]
async fn a_crash_after_the_charge_is_settled_by_reconciliation_exactly_once() {
    let app = spawn_app().await;
    let token = app.owner_token().await;
    let before = app.gateway.charges_made();
    app.gateway.time_out_after_charging(1);
    let r = app
        .pay(
            &token,
            "crash",
            json!({ "allocations": [{ "invoice_id": app.demo.invoices.past_due, "amount": "175.00" }] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.json);
    assert_eq!(app.gateway.charges_made(), before + 1, "the processor charged");

    // Too young: left to the request that may still be handling it.
    let early = portal::services::payments::reconcile(&app.ctx).await.unwrap();
    assert_eq!(early.examined, 0);
    app.clock.advance(Duration::minutes(3));
    let (a, b) =
        tokio::join!(portal::services::payments::reconcile(&app.ctx), portal::services::payments::reconcile(&app.ctx));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.succeeded + b.succeeded, 1, "{a:?} {b:?}");
    assert_eq!(portal::services::payments::reconcile(&app.ctx).await.unwrap().examined, 0);
    assert_eq!(app.gateway.charges_made(), before + 1, "never charged twice");
    let inv = app.get(&format!("/v1/invoices/{}", app.demo.invoices.past_due), Some(&token)).await;
    assert_eq!((&inv.json["status"], &inv.json["payments"].as_array().unwrap().len()), (&json!("paid"), &1));
    let retry = app
        .pay(
            &token,
            "crash",
            json!({ "allocations": [{ "invoice_id": app.demo.invoices.past_due, "amount": "175.00" }] }),
        )
        .await;
    assert_eq!(retry.status, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_removals_never_leave_zero_sources() {
    let app = Arc::new(spawn_app().await);
    let token = app.owner_token().await;
    let added =
        app.post("/v1/payment-sources", json!({ "payment_method_id": "pm_card_mastercard" }), Some(&token)).await;
    let second = added.json["source"]["id"].as_str().unwrap().to_owned();
    let (a, b) = {
        let (app1, t1, app2, t2) = (app.clone(), token.clone(), app.clone(), token.clone());
        let first = app.demo.card.to_string();
        tokio::join!(
            tokio::spawn(async move { app1.delete(&format!("/v1/payment-sources/{first}"), Some(&t1)).await }),
            tokio::spawn(async move { app2.delete(&format!("/v1/payment-sources/{second}"), Some(&t2)).await }),
        )
    };
    let statuses = [a.unwrap().status, b.unwrap().status];
    assert!(statuses.contains(&StatusCode::NO_CONTENT), "{statuses:?}");
    assert!(statuses.contains(&StatusCode::CONFLICT), "{statuses:?}");
    let list = app.get("/v1/payment-sources", Some(&token)).await;
    assert_eq!(list.json["sources"].as_array().unwrap().len(), 1);
    assert_eq!(list.json["sources"][0]["is_default"], true);
}

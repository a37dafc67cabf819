//! The Stripe adapter against a local fake that answers like Stripe's documented
//! responses: success, bank debits still processing, declines, errors and timeouts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use portal::adapters::stripe::{StripeGateway, API_VERSION};
use portal::domain::billing::SourceDetails;
use portal::domain::ids::{MemberId, PracticeId};
use portal::ports::{ChargeOutcome, ChargeRequest, GatewayError, PaymentGateway};
use serde_json::{json, Value};

type Fields = HashMap<String, String>;

/// Each request the fake received: path, headers, form fields.
#[derive(Default)]
struct Seen {
    requests: Vec<(String, Fields, Fields)>,
}

type Shared = Arc<Mutex<Seen>>;

fn form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn record(seen: &Shared, path: &str, headers: &HeaderMap, body: &str) -> HashMap<String, String> {
    let h = headers.iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())).collect();
    let f = form(body);
    seen.lock().unwrap().requests.push((path.to_owned(), h, f.clone()));
    f
}

fn unauthorised(headers: &HeaderMap) -> Option<(StatusCode, Json<Value>)> {
    (headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer sk_test_fake")).then(|| {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": { "type": "invalid_request_error", "message": "Invalid API Key provided" } })),
        )
    })
}

async fn fake_stripe() -> (String, Shared) {
    let seen: Shared = Arc::default();
    let app = Router::new()
        .route(
            "/v1/customers",
            post(|State(s): State<Shared>, h: HeaderMap, body: String| async move {
                if let Some(e) = unauthorised(&h) {
                    return e;
                }
                record(&s, "/v1/customers", &h, &body);
                (StatusCode::OK, Json(json!({ "id": "cus_fake1", "object": "customer" })))
            }),
        )
        .route(
            "/v1/setup_intents",
            post(|State(s): State<Shared>, h: HeaderMap, body: String| async move {
                record(&s, "/v1/setup_intents", &h, &body);
                Json(json!({ "id": "seti_1", "object": "setup_intent", "client_secret": "seti_1_secret_abc" }))
            }),
        )
        .route(
            "/v1/payment_methods/{pm}/attach",
            post(|State(s): State<Shared>, Path(pm): Path<String>, h: HeaderMap, body: String| async move {
                record(&s, "attach", &h, &body);
                match pm.as_str() {
                    "pm_card_visa" => (StatusCode::OK, Json(json!({ "id": "pm_1Visa", "object": "payment_method", "type": "card",
                        "card": { "brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034, "funding": "credit" } }))),
                    "pm_usBankAccount" => (StatusCode::OK, Json(json!({ "id": "pm_1Bank", "object": "payment_method", "type": "us_bank_account",
                        "us_bank_account": { "bank_name": "STRIPE TEST BANK", "last4": "6789", "account_type": "checking" } }))),
                    other => (StatusCode::NOT_FOUND, Json(json!({ "error": { "type": "invalid_request_error", "code": "resource_missing",
                        "param": "payment_method", "message": format!("No such PaymentMethod: '{other}'") } }))),
                }
            }),
        )
        .route(
            "/v1/payment_methods/{pm}/detach",
            post(|Path(pm): Path<String>| async move { Json(json!({ "id": pm, "object": "payment_method" })) }),
        )
        .route(
            "/v1/payment_intents",
            post(|State(s): State<Shared>, h: HeaderMap, body: String| async move {
                let f = record(&s, "/v1/payment_intents", &h, &body);
                match f.get("payment_method").map(String::as_str) {
                    Some("pm_decline") => (StatusCode::PAYMENT_REQUIRED, Json(json!({ "error": { "type": "card_error", "code": "card_declined",
                        "decline_code": "insufficient_funds", "message": "Your card has insufficient funds.",
                        "payment_intent": { "id": "pi_declined", "status": "requires_payment_method" } } }))),
                    Some("pm_slow") => {
                        tokio::time::sleep(Duration::from_secs(3)).await;
                        (StatusCode::OK, Json(json!({ "id": "pi_slow", "status": "succeeded" })))
                    }
                    Some("pm_500") => (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({ "error": { "type": "api_error", "message": "Something went wrong" } }))),
                    Some("pm_ach") => (StatusCode::OK, Json(json!({ "id": "pi_ach", "object": "payment_intent", "status": "processing" }))),
                    _ => (StatusCode::OK, Json(json!({ "id": "pi_ok", "object": "payment_intent", "status": "succeeded",
                        "amount": f.get("amount").and_then(|a| a.parse::<i64>().ok()) }))),
                }
            }),
        )
        .route(
            "/v1/payment_intents/{id}",
            get(|Path(id): Path<String>| async move { Json(json!({ "id": id, "object": "payment_intent", "status": "succeeded" })) }),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

fn charge(method: &str) -> ChargeRequest {
    ChargeRequest {
        customer: "cus_fake1".into(),
        method: method.into(),
        amount_cents: 17500,
        currency: "usd".into(),
        idempotency_key: "portal-pay_abc".into(),
        payment_id: "pay_abc".into(),
        description: "Member portal payment pay_abc".into(),
    }
}

async fn gateway() -> (StripeGateway, Shared) {
    let (base, seen) = fake_stripe().await;
    (StripeGateway::new("sk_test_fake", &base, Duration::from_millis(800)).unwrap(), seen)
}

#[tokio::test]
async fn customers_setup_and_attached_methods_are_read_from_stripe() {
    let (g, seen) = gateway().await;
    let practice = PracticeId::parse("prc_a").unwrap();
    let member = MemberId::parse("mbr_a").unwrap();
    assert_eq!(g.create_customer(&practice, &member).await.unwrap(), "cus_fake1");
    assert_eq!(g.setup_intent("cus_fake1").await.unwrap(), "seti_1_secret_abc");
    let card = g.attach_method("cus_fake1", "pm_card_visa").await.unwrap();
    assert_eq!(card.processor_id, "pm_1Visa");
    assert_eq!(
        card.details,
        SourceDetails::Card { brand: "visa".into(), last4: "4242".into(), exp_month: 12, exp_year: 2034 }
    );
    let bank = g.attach_method("cus_fake1", "pm_usBankAccount").await.unwrap();
    assert!(matches!(bank.details, SourceDetails::BankAccount { ref last4, .. } if last4 == "6789"));
    assert!(matches!(g.attach_method("cus_fake1", "pm_unknown").await, Err(GatewayError::InvalidMethod(_))));
    assert!(matches!(g.attach_method("cus_fake1", "4242424242424242").await, Err(GatewayError::InvalidMethod(_))));
    g.detach_method("pm_1Visa").await.unwrap();

    let seen = seen.lock().unwrap();
    let (_, headers, form) = &seen.requests[0];
    assert_eq!(headers["stripe-version"], API_VERSION);
    assert_eq!(form["metadata[member_id]"], "mbr_a");
    assert!(!form.keys().any(|k| k.contains("email") || k.contains("name")), "no personal data goes to the processor");
}

#[tokio::test]
async fn a_charge_sends_cents_an_idempotency_key_and_confirms_off_session() {
    let (g, seen) = gateway().await;
    let outcome = g.charge(&charge("pm_1Visa")).await.unwrap();
    assert_eq!(outcome, ChargeOutcome::Succeeded { processor_id: "pi_ok".into() });
    let seen = seen.lock().unwrap();
    let (_, headers, form) = seen.requests.iter().find(|(p, _, _)| p == "/v1/payment_intents").unwrap();
    assert_eq!(headers["idempotency-key"], "portal-pay_abc");
    assert_eq!(form["amount"], "17500");
    assert_eq!(form["currency"], "usd");
    assert_eq!(form["confirm"], "true");
    assert_eq!(form["off_session"], "true");
    assert_eq!(form["metadata[payment_id]"], "pay_abc");
    assert_eq!(form["description"], "Member portal payment pay_abc");
}

#[tokio::test]
async fn declines_processing_errors_and_timeouts_map_to_their_outcomes() {
    let (g, _) = gateway().await;
    match g.charge(&charge("pm_decline")).await.unwrap() {
        ChargeOutcome::Declined { processor_id, decline } => {
            assert_eq!(processor_id.as_deref(), Some("pi_declined"));
            assert_eq!(decline.code, "insufficient_funds");
            assert_eq!(decline.message, "Your card has insufficient funds.");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(g.charge(&charge("pm_ach")).await.unwrap(), ChargeOutcome::Processing { processor_id: "pi_ach".into() });
    assert!(matches!(g.charge(&charge("pm_500")).await, Err(GatewayError::Uncertain(_))));
    assert!(matches!(g.charge(&charge("pm_slow")).await, Err(GatewayError::Uncertain(_))));
    assert_eq!(g.retrieve_charge("pi_ach").await.unwrap(), ChargeOutcome::Succeeded { processor_id: "pi_ach".into() });
}

#[tokio::test]
async fn a_wrong_key_is_refused_and_plain_http_is_allowed_only_on_loopback() {
    let (base, _) = fake_stripe().await;
    let g = StripeGateway::new("sk_test_wrong", &base, Duration::from_secs(2)).unwrap();
    let practice = PracticeId::parse("prc_a").unwrap();
    let member = MemberId::parse("mbr_a").unwrap();
    assert!(matches!(g.create_customer(&practice, &member).await, Err(GatewayError::Rejected(_))));
    assert!(StripeGateway::new("sk", "http://api.stripe.example", Duration::from_secs(1)).is_err());
    assert!(StripeGateway::new("sk", "https://api.stripe.com", Duration::from_secs(1)).is_ok());
}

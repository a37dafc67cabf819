//! The real processor: a small typed client for the Stripe API calls the
//! portal makes (customers, SetupIntents, PaymentMethods attach/detach,
//! off-session PaymentIntents with idempotency keys, retrieval), over the
//! hyper/rustls stack the AWS SDK already brings — no extra HTTP client crate.

use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde_json::Value;

use crate::domain::billing::{Decline, SourceDetails};
use crate::domain::ids::{MemberId, PracticeId};
use crate::ports::{ChargeOutcome, ChargeRequest, GatewayError, MethodInfo, PaymentGateway};

pub const API_BASE: &str = "https://api.stripe.com";
/// The API version every request pins, so a dashboard upgrade cannot change responses under us.
pub const API_VERSION: &str = "2024-06-20";

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

pub struct StripeGateway {
    client: HttpsClient,
    base: String,
    secret_key: String,
    timeout: Duration,
}

impl StripeGateway {
    /// `base` is Stripe's API address (or a local fake in tests: plain HTTP is allowed on loopback only).
    pub fn new(secret_key: &str, base: &str, timeout: Duration) -> Result<Self, String> {
        let base = base.trim_end_matches('/').to_owned();
        let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"].iter().any(|p| base.starts_with(p));
        if !base.starts_with("https://") && !loopback {
            return Err("the Stripe API base must be https".into());
        }
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| format!("no TLS root certificates: {e}"))?;
        let connector = if loopback {
            builder.https_or_http().enable_http1().build()
        } else {
            builder.https_only().enable_http1().build()
        };
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(StripeGateway { client, base, secret_key: secret_key.to_owned(), timeout })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        form: &[(&str, String)],
        idempotency_key: Option<&str>,
    ) -> Result<Value, GatewayError> {
        let (status, json) = self.exchange(method, path, form, idempotency_key).await?;
        if (200..300).contains(&status) {
            Ok(json)
        } else {
            Err(StripeError { status, body: json }.into_gateway_error())
        }
    }

    /// One request; any answer with a JSON body is returned with its status.
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        form: &[(&str, String)],
        idempotency_key: Option<&str>,
    ) -> Result<(u16, Value), GatewayError> {
        let body = encode_form(form);
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.secret_key))
            .header("stripe-version", API_VERSION)
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| GatewayError::Rejected(format!("could not build the request: {e}")))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| GatewayError::Uncertain(e.to_string()))?;
            let status = response.status();
            let bytes =
                response.into_body().collect().await.map_err(|e| GatewayError::Uncertain(e.to_string()))?.to_bytes();
            Ok::<_, GatewayError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| GatewayError::Uncertain(format!("no answer within {:?}", self.timeout)))??;
        let json: Value = serde_json::from_slice(&bytes)
            .map_err(|_| GatewayError::Uncertain(format!("Stripe answered {status} with a body that is not JSON")))?;
        Ok((status.as_u16(), json))
    }
}

/// An error answer, kept whole so a declined PaymentIntent can be read from it.
struct StripeError {
    status: u16,
    body: Value,
}

impl StripeError {
    fn into_gateway_error(self) -> GatewayError {
        let e = &self.body["error"];
        let message = e["message"].as_str().unwrap_or("Stripe refused the request").to_owned();
        match (self.status, e["type"].as_str(), e["param"].as_str()) {
            (500.., _, _) | (429, _, _) => {
                GatewayError::Uncertain(format!("Stripe answered {}: {message}", self.status))
            }
            (_, Some("invalid_request_error"), Some(p)) if p.contains("payment_method") => {
                GatewayError::InvalidMethod(message)
            }
            (404, _, _) if message.contains("PaymentMethod") => GatewayError::InvalidMethod(message),
            _ => GatewayError::Rejected(message),
        }
    }
}

/// `application/x-www-form-urlencoded`, as Stripe takes requests.
fn encode_form(pairs: &[(&str, String)]) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

#[derive(Deserialize)]
struct Card {
    brand: String,
    last4: String,
    exp_month: u8,
    exp_year: u16,
}

#[derive(Deserialize)]
struct Bank {
    bank_name: Option<String>,
    last4: String,
}

fn method_info(pm: &Value) -> Result<MethodInfo, GatewayError> {
    let id = pm["id"].as_str().ok_or_else(|| GatewayError::Uncertain("PaymentMethod without an id".into()))?;
    let details = match pm["type"].as_str() {
        Some("card") => {
            let c: Card = serde_json::from_value(pm["card"].clone())
                .map_err(|e| GatewayError::Uncertain(format!("unexpected card: {e}")))?;
            SourceDetails::Card { brand: c.brand, last4: c.last4, exp_month: c.exp_month, exp_year: c.exp_year }
        }
        Some("us_bank_account") => {
            let b: Bank = serde_json::from_value(pm["us_bank_account"].clone())
                .map_err(|e| GatewayError::Uncertain(format!("unexpected bank account: {e}")))?;
            SourceDetails::BankAccount {
                bank_name: b.bank_name.unwrap_or_else(|| "Bank account".into()),
                last4: b.last4,
            }
        }
        other => {
            return Err(GatewayError::InvalidMethod(format!(
                "payment methods of type {} are not accepted; use a card or a US bank account",
                other.unwrap_or("unknown")
            )))
        }
    };
    Ok(MethodInfo { processor_id: id.to_owned(), details })
}

/// A PaymentIntent's state as a charge outcome.
fn outcome(pi: &Value) -> ChargeOutcome {
    let id = pi["id"].as_str().unwrap_or_default().to_owned();
    let decline = |code: &str, message: &str| {
        let e = &pi["last_payment_error"];
        Decline {
            code: e["decline_code"].as_str().or(e["code"].as_str()).unwrap_or(code).to_owned(),
            message: e["message"].as_str().unwrap_or(message).to_owned(),
        }
    };
    match pi["status"].as_str() {
        Some("succeeded") => ChargeOutcome::Succeeded { processor_id: id },
        Some("processing") => ChargeOutcome::Processing { processor_id: id },
        Some("requires_action") | Some("requires_confirmation") => ChargeOutcome::Declined {
            processor_id: Some(id),
            decline: decline(
                "authentication_required",
                "This payment needs the cardholder's approval; use another payment source.",
            ),
        },
        _ => ChargeOutcome::Declined {
            processor_id: Some(id),
            decline: decline("payment_failed", "The payment failed."),
        },
    }
}

#[async_trait]
impl PaymentGateway for StripeGateway {
    async fn create_customer(&self, practice: &PracticeId, member: &MemberId) -> Result<String, GatewayError> {
        // Only ids go to the processor: no names, addresses or health data.
        let form = [("metadata[practice_id]", practice.to_string()), ("metadata[member_id]", member.to_string())];
        let c = self.call(Method::POST, "/v1/customers", &form, Some(&format!("customer-{practice}-{member}"))).await?;
        c["id"].as_str().map(str::to_owned).ok_or_else(|| GatewayError::Uncertain("Customer without an id".into()))
    }

    async fn setup_intent(&self, customer: &str) -> Result<String, GatewayError> {
        let form = [("customer", customer.to_owned()), ("usage", "off_session".to_owned())];
        let si = self.call(Method::POST, "/v1/setup_intents", &form, None).await?;
        si["client_secret"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| GatewayError::Uncertain("SetupIntent without a client secret".into()))
    }

    async fn attach_method(&self, customer: &str, method: &str) -> Result<MethodInfo, GatewayError> {
        if !method.starts_with("pm_")
            || method.len() > 255
            || !method.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(GatewayError::InvalidMethod("a payment method id looks like pm_…".into()));
        }
        let pm = self
            .call(
                Method::POST,
                &format!("/v1/payment_methods/{method}/attach"),
                &[("customer", customer.to_owned())],
                None,
            )
            .await?;
        method_info(&pm)
    }

    async fn detach_method(&self, method: &str) -> Result<(), GatewayError> {
        self.call(Method::POST, &format!("/v1/payment_methods/{method}/detach"), &[], None).await.map(|_| ())
    }

    async fn charge(&self, r: &ChargeRequest) -> Result<ChargeOutcome, GatewayError> {
        let form = [
            ("amount", r.amount_cents.to_string()),
            ("currency", r.currency.clone()),
            ("customer", r.customer.clone()),
            ("payment_method", r.method.clone()),
            ("confirm", "true".to_owned()),
            ("off_session", "true".to_owned()),
            ("description", r.description.clone()),
            ("metadata[payment_id]", r.payment_id.clone()),
        ];
        let (status, json) =
            self.exchange(Method::POST, "/v1/payment_intents", &form, Some(&r.idempotency_key)).await?;
        let e = &json["error"];
        match status {
            200..=299 => Ok(outcome(&json)),
            // A declined card is a 402 card_error that carries the PaymentIntent it failed.
            402 if e["type"].as_str() == Some("card_error") => Ok(ChargeOutcome::Declined {
                processor_id: e["payment_intent"]["id"].as_str().map(str::to_owned),
                decline: Decline {
                    code: e["decline_code"].as_str().or(e["code"].as_str()).unwrap_or("card_declined").to_owned(),
                    message: e["message"].as_str().unwrap_or("The card was declined.").to_owned(),
                },
            }),
            _ => Err(StripeError { status, body: json }.into_gateway_error()),
        }
    }

    async fn retrieve_charge(&self, processor_id: &str) -> Result<ChargeOutcome, GatewayError> {
        let pi = self.call(Method::GET, &format!("/v1/payment_intents/{processor_id}"), &[], None).await?;
        Ok(outcome(&pi))
    }
}

//! `payments` group: paying invoices.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

use super::extract::{Json, Member};
use super::problem::Problem;
use super::AppState;
use crate::domain::billing::PaymentStatus;
use crate::services::payments::{self, PaymentRequest, PaymentView};

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/payments", post(create_payment))
}

/// How a payment is answered, the first time and on every retry with its key:
/// 201 paid, 202 still pending at the processor, 402 declined.
pub fn payment_response(view: PaymentView) -> Response {
    match view.status {
        PaymentStatus::Succeeded => (StatusCode::CREATED, axum::Json(view)).into_response(),
        PaymentStatus::Pending => (StatusCode::ACCEPTED, axum::Json(view)).into_response(),
        PaymentStatus::Failed => {
            let decline = view.decline.clone();
            let mut p = Problem::new(
                StatusCode::PAYMENT_REQUIRED,
                "payment-declined",
                "Payment declined",
                decline.as_ref().map_or("The payment was declined.".to_owned(), |d| d.message.clone()),
            );
            p.ext.decline = decline;
            p.ext.payment_id = Some(view.id);
            p.into_response()
        }
    }
}

/// Pay one invoice in full or in part, or several at once, with a saved source
/// (`source_id`, or the default when none is named) or a new one
/// (`payment_method_id`, kept when `save_source`); with a new one,
/// `include_past_due` adds every other past-due invoice. Requires an
/// `Idempotency-Key` header: a retry with the same key returns the first answer.
#[utoipa::path(post, path = "/v1/payments", tag = "payments", security(("member" = [])),
    params(("Idempotency-Key" = String, Header, description = "Unique per payment attempt; retries reuse it")),
    request_body = PaymentRequest,
    responses(
        (status = 201, description = "Paid", body = PaymentView),
        (status = 202, description = "Recorded; the processor's answer is pending", body = PaymentView),
        (status = 402, description = "Declined by the processor (its reason in `decline`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid amounts, invoices or source; or a reused key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The processor did not answer before anything was charged", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_payment(
    State(ctx): State<AppState>,
    Member(caller): Member,
    headers: HeaderMap,
    Json(body): Json<PaymentRequest>,
) -> Result<Response, Problem> {
    let key = payments::parse_idempotency_key(headers.get("idempotency-key").and_then(|v| v.to_str().ok()))?;
    Ok(payment_response(payments::pay(&ctx, &caller, &key, &body).await?))
}

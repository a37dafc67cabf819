//! `payment-sources` group: cards and bank accounts on file.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post, put};
use axum::Router;

use super::extract::{path_id, Json, Member};
use super::problem::Problem;
use super::AppState;
use crate::domain::ids::SourceId;
use crate::services::payment_sources::{self, AddSource, SourceAdded, SourceList, SourceSetup};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/payment-sources", get(list_sources).post(add_source))
        .route("/v1/payment-sources/setup", post(setup_source))
        .route("/v1/payment-sources/{id}/default", put(make_default))
        .route("/v1/payment-sources/{id}", delete(remove_source))
}

fn source_id(id: &str) -> Result<SourceId, Problem> {
    path_id(id, SourceId::parse, "payment source")
}

/// Cards and bank accounts on file: brand or bank, last four digits, expiry, which is the default.
#[utoipa::path(get, path = "/v1/payment-sources", tag = "payment-sources", security(("member" = [])),
    responses((status = 200, body = SourceList), (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json")))]
pub async fn list_sources(
    State(ctx): State<AppState>,
    Member(caller): Member,
) -> Result<axum::Json<SourceList>, Problem> {
    Ok(axum::Json(payment_sources::list(&ctx, &caller).await?))
}

/// What the front end's processor library needs to collect a new card or bank account.
#[utoipa::path(post, path = "/v1/payment-sources/setup", tag = "payment-sources", security(("member" = [])),
    responses((status = 200, body = SourceSetup), (status = 503, description = "Processor unavailable", body = Problem, content_type = "application/problem+json")))]
pub async fn setup_source(
    State(ctx): State<AppState>,
    Member(caller): Member,
) -> Result<axum::Json<SourceSetup>, Problem> {
    Ok(axum::Json(payment_sources::setup(&ctx, &caller).await?))
}

/// Add a card or bank account by the processor's id; optionally pay every past-due invoice with it
/// (`pay_past_due`, with an `Idempotency-Key` header).
#[utoipa::path(post, path = "/v1/payment-sources", tag = "payment-sources", security(("member" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Required with pay_past_due")),
    request_body = AddSource,
    responses(
        (status = 201, body = SourceAdded),
        (status = 422, description = "Unknown or unusable payment method", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_source(
    State(ctx): State<AppState>,
    Member(caller): Member,
    headers: HeaderMap,
    Json(body): Json<AddSource>,
) -> Result<(StatusCode, axum::Json<SourceAdded>), Problem> {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    Ok((StatusCode::CREATED, axum::Json(payment_sources::add(&ctx, &caller, &body, key).await?)))
}

/// Make a source the default for payments.
#[utoipa::path(put, path = "/v1/payment-sources/{id}/default", tag = "payment-sources", security(("member" = [])),
    params(("id" = String, Path, description = "Source id (`src_…`)")),
    responses((status = 200, body = SourceList), (status = 404, description = "Not one of the member's sources", body = Problem, content_type = "application/problem+json")))]
pub async fn make_default(
    State(ctx): State<AppState>,
    Member(caller): Member,
    Path(id): Path<String>,
) -> Result<axum::Json<SourceList>, Problem> {
    Ok(axum::Json(payment_sources::set_default(&ctx, &caller, &source_id(&id)?).await?))
}

/// Remove a source. The only source on file cannot be removed.
#[utoipa::path(delete, path = "/v1/payment-sources/{id}", tag = "payment-sources", security(("member" = [])),
    params(("id" = String, Path, description = "Source id (`src_…`)")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "Not one of the member's sources", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The only source on file", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove_source(
    State(ctx): State<AppState>,
    Member(caller): Member,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    payment_sources::remove(&ctx, &caller, &source_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! `agreements` group: documents to sign, signatures and signed copies.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use super::extract::{path_id, Client, Json, Member};
use super::problem::Problem;
use super::AppState;
use crate::domain::ids::AgreementId;
use crate::services::agreements::{self, AgreementDetail, AgreementList, SignBody};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/agreements", get(list_agreements))
        .route("/v1/agreements/{id}", get(read_agreement))
        .route("/v1/agreements/{id}/signature", post(sign_agreement))
        .route("/v1/agreements/{id}/pdf", get(agreement_pdf))
}

fn agreement_id(id: &str) -> Result<AgreementId, Problem> {
    path_id(id, AgreementId::parse, "agreement")
}

/// Agreements awaiting a signature and those signed, the member's own and, for
/// a membership owner, those of the minors on their memberships.
#[utoipa::path(get, path = "/v1/agreements", tag = "agreements", security(("member" = [])),
    responses((status = 200, body = AgreementList), (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json")))]
pub async fn list_agreements(
    State(ctx): State<AppState>,
    Member(caller): Member,
) -> Result<axum::Json<AgreementList>, Problem> {
    Ok(axum::Json(agreements::list(&ctx, &caller).await?))
}

/// One agreement with the exact text to sign and its SHA-256.
#[utoipa::path(get, path = "/v1/agreements/{id}", tag = "agreements", security(("member" = [])),
    params(("id" = String, Path, description = "Agreement id (`agr_…`)")),
    responses((status = 200, body = AgreementDetail), (status = 404, description = "Not an agreement the member handles", body = Problem, content_type = "application/problem+json")))]
pub async fn read_agreement(
    State(ctx): State<AppState>,
    Member(caller): Member,
    Path(id): Path<String>,
) -> Result<axum::Json<AgreementDetail>, Problem> {
    Ok(axum::Json(agreements::read(&ctx, &caller, &agreement_id(&id)?).await?))
}

/// Sign electronically: the typed full name must match the signer's name on
/// file and consent must be given; the time, IP address, user agent and the
/// SHA-256 of the text are recorded. A membership owner signs for a minor on
/// their membership. Signing happens once: a second attempt gets 409.
#[utoipa::path(post, path = "/v1/agreements/{id}/signature", tag = "agreements", security(("member" = [])),
    params(("id" = String, Path, description = "Agreement id (`agr_…`)")),
    request_body = SignBody,
    responses(
        (status = 201, body = AgreementDetail),
        (status = 404, description = "Not an agreement the member handles", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already signed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Name does not match, or no consent", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn sign_agreement(
    State(ctx): State<AppState>,
    Member(caller): Member,
    Client(client): Client,
    Path(id): Path<String>,
    Json(body): Json<SignBody>,
) -> Result<(StatusCode, axum::Json<AgreementDetail>), Problem> {
    Ok((StatusCode::CREATED, axum::Json(agreements::sign(&ctx, &caller, &agreement_id(&id)?, &body, &client).await?)))
}

/// The agreement as PDF: the signed copy with its signature block, or the unsigned text.
#[utoipa::path(get, path = "/v1/agreements/{id}/pdf", tag = "agreements", security(("member" = [])),
    params(("id" = String, Path, description = "Agreement id (`agr_…`)")),
    responses(
        (status = 200, description = "The agreement", content_type = "application/pdf", body = Vec<u8>),
        (status = 404, description = "Not an agreement the member handles", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn agreement_pdf(
    State(ctx): State<AppState>,
    Member(caller): Member,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    Ok(super::download(agreements::pdf(&ctx, &caller, &agreement_id(&id)?).await?))
}

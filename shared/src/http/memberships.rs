//! `memberships` group: read-only member pages and the API document.

use axum::extract::State;
use axum::routing::get;
use axum::Router;

use super::extract::Member;
use super::problem::Problem;
use super::AppState;
use crate::services::members::{self, Me};
use crate::services::memberships::{self, Memberships};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/me", get(show_me))
        .route("/v1/memberships", get(list_memberships))
        .route("/v1/openapi.json", get(openapi_document))
}

/// The signed-in member, their practice, and what they may do in the portal.
#[utoipa::path(get, path = "/v1/me", tag = "members", security(("member" = [])),
    responses(
        (status = 200, body = Me),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn show_me(State(ctx): State<AppState>, Member(caller): Member) -> Result<axum::Json<Me>, Problem> {
    Ok(axum::Json(members::me(&ctx, &caller).await?))
}

/// The member's current and previous memberships: plan, status, enrolled
/// members with their start and end dates, amount and period, next bill date.
#[utoipa::path(get, path = "/v1/memberships", tag = "memberships", security(("member" = [])),
    responses(
        (status = 200, body = Memberships),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_memberships(
    State(ctx): State<AppState>,
    Member(caller): Member,
) -> Result<axum::Json<Memberships>, Problem> {
    Ok(axum::Json(memberships::list(&ctx, &caller).await?))
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
pub async fn openapi_document() -> axum::Json<serde_json::Value> {
    axum::Json(super::openapi::document())
}

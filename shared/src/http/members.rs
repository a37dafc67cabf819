//! `members` group: the household's details, contact changes, insurance.

use axum::extract::{Path, State};
use axum::routing::{get, patch, post, put};
use axum::Router;
use serde::Deserialize;

use super::extract::{path_id, Client, Json, Member};
use super::problem::Problem;
use super::AppState;
use crate::domain::ids::MemberId;
use crate::services::members::{self, ContactPatch, ContactResult, Household, InsuranceBody, MemberView};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/members", get(list_household))
        .route("/v1/members/{id}/contact", patch(update_contact))
        .route("/v1/members/{id}/email-confirmation", post(confirm_email))
        .route("/v1/members/{id}/insurance", put(set_insurance))
}

fn member_id(id: &str) -> Result<MemberId, Problem> {
    path_id(id, MemberId::parse, "member")
}

/// The signed-in member and, for a membership owner, everyone on their memberships:
/// names, dates of birth, contact details, insurance, memberships with dates.
#[utoipa::path(get, path = "/v1/members", tag = "members", security(("member" = [])),
    responses(
        (status = 200, body = Household),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_household(
    State(ctx): State<AppState>,
    Member(caller): Member,
) -> Result<axum::Json<Household>, Problem> {
    Ok(axum::Json(members::list(&ctx, &caller).await?))
}

/// Change email, phone numbers and postal address. The owner may edit anyone on
/// their membership, a member only themselves. A new email address takes effect
/// once the code sent to it is confirmed; names and dates of birth are refused
/// with the practice's contact details.
#[utoipa::path(patch, path = "/v1/members/{id}/contact", tag = "members", security(("member" = [])),
    params(("id" = String, Path, description = "Member id (`mbr_…`)")),
    request_body = ContactPatch,
    responses(
        (status = 200, body = ContactResult),
        (status = 403, description = "Name or date of birth: contact the practice", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not a member the caller may edit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many codes for the new address", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_contact(
    State(ctx): State<AppState>,
    Member(caller): Member,
    Client(client): Client,
    Path(id): Path<String>,
    Json(body): Json<ContactPatch>,
) -> Result<axum::Json<ContactResult>, Problem> {
    Ok(axum::Json(members::update_contact(&ctx, &caller, &member_id(&id)?, body, &client).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailConfirmation {
    /// The 6-digit code sent to the new address.
    pub code: String,
}

/// Confirm a new email address with the code sent to it. The old address is told of the change.
#[utoipa::path(post, path = "/v1/members/{id}/email-confirmation", tag = "members", security(("member" = [])),
    params(("id" = String, Path, description = "Member id (`mbr_…`)")),
    request_body = EmailConfirmation,
    responses(
        (status = 200, body = MemberView),
        (status = 401, description = "Code incorrect, expired, used or locked", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not a member the caller may edit", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn confirm_email(
    State(ctx): State<AppState>,
    Member(caller): Member,
    Client(client): Client,
    Path(id): Path<String>,
    Json(body): Json<EmailConfirmation>,
) -> Result<axum::Json<MemberView>, Problem> {
    Ok(axum::Json(members::confirm_email(&ctx, &caller, &member_id(&id)?, &body.code, &client).await?))
}

/// Set insurance (provider, policy number, group number, subscriber ID), or `null` for none.
#[utoipa::path(put, path = "/v1/members/{id}/insurance", tag = "members", security(("member" = [])),
    params(("id" = String, Path, description = "Member id (`mbr_…`)")),
    request_body = InsuranceBody,
    responses(
        (status = 200, body = MemberView),
        (status = 404, description = "Not a member the caller may edit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_insurance(
    State(ctx): State<AppState>,
    Member(caller): Member,
    Client(client): Client,
    Path(id): Path<String>,
    Json(body): Json<InsuranceBody>,
) -> Result<axum::Json<MemberView>, Problem> {
    Ok(axum::Json(members::set_insurance(&ctx, &caller, &member_id(&id)?, body, &client).await?))
}

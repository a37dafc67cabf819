//! `admin` group: the practice API (patients, memberships, access emails).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::extract::{path_id, Admin, Json};
use super::problem::Problem;
use super::AppState;
use crate::domain::ids::{MemberId, MembershipId};
use crate::domain::member::PatientInput;
use crate::domain::membership::MembershipInput;
use crate::domain::{FieldError, Fields};
use crate::services::admin::{self, AccessEmailSent, AdminMembership, AuditFeed, AuditQuery, Patient};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/patients", post(create_patient))
        .route("/v1/admin/patients/{id}", get(show_patient).put(update_patient))
        .route("/v1/admin/patients/{id}/access-email", post(send_access_email))
        .route("/v1/admin/memberships", post(create_membership))
        .route("/v1/admin/memberships/{id}", get(show_membership).put(update_membership))
        .route("/v1/admin/audit", get(audit_feed))
        .route("/v1/admin/agreements", post(publish_document).get(list_documents))
        .route("/v1/admin/agreements/{id}", get(show_document))
        .route("/v1/admin/patients/{id}/agreement-requests", post(request_signature))
        .route("/v1/admin/invoices", post(issue_invoice))
        .route("/v1/admin/invoices/{id}/void", post(void_invoice))
}

fn member_id(id: &str) -> Result<MemberId, Problem> {
    path_id(id, MemberId::parse, "patient")
}

fn membership_id(id: &str) -> Result<MembershipId, Problem> {
    path_id(id, MembershipId::parse, "membership")
}

/// Add a patient.
#[utoipa::path(post, path = "/v1/admin/patients", tag = "admin", security(("practice_key" = [])),
    request_body = PatientInput,
    responses(
        (status = 201, body = Patient),
        (status = 401, description = "Missing or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_patient(
    State(ctx): State<AppState>,
    Admin(admin): Admin,
    Json(body): Json<PatientInput>,
) -> Result<(StatusCode, axum::Json<Patient>), Problem> {
    Ok((StatusCode::CREATED, axum::Json(admin::create_patient(&ctx, &admin, &body).await?)))
}

/// A patient of the calling practice.
#[utoipa::path(get, path = "/v1/admin/patients/{id}", tag = "admin", security(("practice_key" = [])),
    params(("id" = String, Path, description = "Patient id (`mbr_…`)")),
    responses(
        (status = 200, body = Patient),
        (status = 404, description = "No such patient in this practice", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn show_patient(
    State(ctx): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> Result<axum::Json<Patient>, Problem> {
    Ok(axum::Json(admin::get_patient(&ctx, &admin, &member_id(&id)?).await?))
}

/// Replace a patient's details (name and date of birth included: the practice owns them).
#[utoipa::path(put, path = "/v1/admin/patients/{id}", tag = "admin", security(("practice_key" = [])),
    params(("id" = String, Path, description = "Patient id (`mbr_…`)")),
    request_body = PatientInput,
    responses(
        (status = 200, body = Patient),
        (status = 404, description = "No such patient in this practice", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Changed by another request meanwhile", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_patient(
    State(ctx): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    Json(body): Json<PatientInput>,
) -> Result<axum::Json<Patient>, Problem> {
    Ok(axum::Json(admin::update_patient(&ctx, &admin, &member_id(&id)?, &body).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessEmailBody {
    /// A portal path to open after sign-in, e.g. `/agreements`.
    #[serde(default)]
    pub next: Option<String>,
}

/// Email the patient a link to the portal.
///
/// The link itself signs nobody in: opening it lets the patient ask for a
/// one-time code to the same address. Links work for 7 days.
#[utoipa::path(post, path = "/v1/admin/patients/{id}/access-email", tag = "admin", security(("practice_key" = [])),
    params(("id" = String, Path, description = "Patient id (`mbr_…`)")),
    request_body = AccessEmailBody,
    responses(
        (status = 202, body = AccessEmailSent),
        (status = 404, description = "No such patient in this practice", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No email on file, or an invalid `next`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn send_access_email(
    State(ctx): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    Json(body): Json<AccessEmailBody>,
) -> Result<(StatusCode, axum::Json<AccessEmailSent>), Problem> {
    let sent = admin::send_access_email(&ctx, &admin, &member_id(&id)?, body.next.as_deref()).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(sent)))
}

/// Add a membership.
#[utoipa::path(post, path = "/v1/admin/memberships", tag = "admin", security(("practice_key" = [])),
    request_body = MembershipInput,
    responses(
        (status = 201, body = AdminMembership),
        (status = 422, description = "Invalid fields, or members not of this practice", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_membership(
    State(ctx): State<AppState>,
    Admin(admin): Admin,
    Json(body): Json<MembershipInput>,
) -> Result<(StatusCode, axum::Json<AdminMembership>), Problem> {
    Ok((StatusCode::CREATED, axum::Json(admin::create_membership(&ctx, &admin, &body).await?)))
}

/// A membership of the calling practice.
#[utoipa::path(get, path = "/v1/admin/memberships/{id}", tag = "admin", security(("practice_key" = [])),
    params(("id" = String, Path, description = "Membership id (`msh_…`)")),
    responses(
        (status = 200, body = AdminMembership),
        (status = 404, description = "No such membership in this practice", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn show_membership(
    State(ctx): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> Result<axum::Json<AdminMembership>, Problem> {
    Ok(axum::Json(admin::get_membership(&ctx, &admin, &membership_id(&id)?).await?))
}

/// Replace a membership (plan, status, members and their dates, amount, billing).
#[utoipa::path(put, path = "/v1/admin/memberships/{id}", tag = "admin", security(("practice_key" = [])),
    params(("id" = String, Path, description = "Membership id (`msh_…`)")),
    request_body = MembershipInput,
    responses(
        (status = 200, body = AdminMembership),
        (status = 404, description = "No such membership in this practice", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Changed by another request meanwhile", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_membership(
    State(ctx): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    Json(body): Json<MembershipInput>,
) -> Result<axum::Json<AdminMembership>, Problem> {
    Ok(axum::Json(admin::update_membership(&ctx, &admin, &membership_id(&id)?, &body).await?))
}

/// Query parameters of the audit feed.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only changes to this patient's record.
    pub member_id: Option<String>,
    /// Only changes at or after this time (RFC 3339), or this date (`YYYY-MM-DD`, midnight UTC).
    pub since: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn parse_audit_params(p: AuditParams) -> Result<AuditQuery, Problem> {
    let mut f = Fields::new();
    let member_id = match p.member_id.as_deref().map(str::trim) {
        None | Some("") => Some(None),
        Some(m) => f.take("member_id", MemberId::parse(m)).map(Some),
    };
    let since = match p.since.as_deref().map(str::trim) {
        None | Some("") => Some(None),
        Some(s) => f
            .take(
                "since",
                OffsetDateTime::parse(s, &Rfc3339)
                    .or_else(|_| crate::domain::date(s).map(|d| d.midnight().assume_utc()))
                    .map_err(|_| FieldError::new("", "must be an RFC 3339 time or a date written as YYYY-MM-DD")),
            )
            .map(Some),
    };
    let limit = match p.limit.as_deref().map(str::trim) {
        None | Some("") => Some(admin::AUDIT_PAGE_DEFAULT),
        Some(l) => f.take(
            "limit",
            l.parse::<usize>().ok().filter(|n| (1..=admin::AUDIT_PAGE_MAX).contains(n)).ok_or_else(|| {
                FieldError::new("", format!("must be a whole number from 1 to {}", admin::AUDIT_PAGE_MAX))
            }),
        ),
    };
    match (member_id, since, limit) {
        (Some(member_id), Some(since), Some(limit)) if f.is_empty() => {
            Ok(AuditQuery { member_id, since, limit, cursor: p.cursor.filter(|c| !c.trim().is_empty()) })
        }
        _ => Err(Problem::validation(f.finish().err().unwrap_or_default())),
    }
}

/// Changes members made to their records (field, old and new value, who, for
/// whom, when, from where), oldest first, paginated. Another practice's events never appear.
#[utoipa::path(get, path = "/v1/admin/audit", tag = "admin", security(("practice_key" = [])),
    params(AuditParams),
    responses(
        (status = 200, body = AuditFeed),
        (status = 401, description = "Missing or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid filters or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn audit_feed(
    State(ctx): State<AppState>,
    Admin(admin): Admin,
    params: Result<Query<AuditParams>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<AuditFeed>, Problem> {
    let Query(params) = params.map_err(|e| Problem::validation(vec![FieldError::new("", e.body_text())]))?;
    let query = parse_audit_params(params)?;
    Ok(axum::Json(admin::audit_feed(&ctx, &admin, &query).await?))
}

/// Issue an invoice to a patient (numbered lines, optionally per member and service period).
#[utoipa::path(post, path = "/v1/admin/invoices", tag = "admin", security(("practice_key" = [])),
    request_body = crate::domain::billing::InvoiceInput,
    responses(
        (status = 201, body = crate::services::billing::InvoiceDetail),
        (status = 422, description = "Invalid fields, or patients not of this practice", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn issue_invoice(
    State(ctx): State<AppState>,
    Admin(admin): Admin,
    Json(body): Json<crate::domain::billing::InvoiceInput>,
) -> Result<(StatusCode, axum::Json<crate::services::billing::InvoiceDetail>), Problem> {
    Ok((StatusCode::CREATED, axum::Json(crate::services::billing::issue(&ctx, &admin, &body).await?)))
}

/// Void an invoice nothing was paid on.
#[utoipa::path(post, path = "/v1/admin/invoices/{id}/void", tag = "admin", security(("practice_key" = [])),
    params(("id" = String, Path, description = "Invoice id (`inv_…`)")),
    responses(
        (status = 200, body = crate::services::billing::InvoiceDetail),
        (status = 404, description = "No such invoice in this practice", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already void, or payments were made on it", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn void_invoice(
    State(ctx): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> Result<axum::Json<crate::services::billing::InvoiceDetail>, Problem> {
    let id = path_id(&id, crate::domain::ids::InvoiceId::parse, "invoice")?;
    Ok(axum::Json(crate::services::billing::void(&ctx, &admin, &id).await?))
}

/// Publish a document to sign. Documents never change: a new version is a new document.
#[utoipa::path(post, path = "/v1/admin/agreements", tag = "admin", security(("practice_key" = [])),
    request_body = crate::domain::agreements::DocumentInput,
    responses(
        (status = 201, body = crate::services::agreements::DocumentView),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn publish_document(
    State(ctx): State<AppState>,
    Admin(admin): Admin,
    Json(body): Json<crate::domain::agreements::DocumentInput>,
) -> Result<(StatusCode, axum::Json<crate::services::agreements::DocumentView>), Problem> {
    Ok((StatusCode::CREATED, axum::Json(crate::services::agreements::publish(&ctx, &admin, &body).await?)))
}

/// Every document the practice published, every version.
#[utoipa::path(get, path = "/v1/admin/agreements", tag = "admin", security(("practice_key" = [])),
    responses((status = 200, body = Vec<crate::services::agreements::DocumentView>)))]
pub async fn list_documents(
    State(ctx): State<AppState>,
    Admin(admin): Admin,
) -> Result<axum::Json<Vec<crate::services::agreements::DocumentView>>, Problem> {
    Ok(axum::Json(crate::services::agreements::documents(&ctx, &admin).await?))
}

/// One published document.
#[utoipa::path(get, path = "/v1/admin/agreements/{id}", tag = "admin", security(("practice_key" = [])),
    params(("id" = String, Path, description = "Document id (`doc_…`)")),
    responses(
        (status = 200, body = crate::services::agreements::DocumentView),
        (status = 404, description = "No such document in this practice", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn show_document(
    State(ctx): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> Result<axum::Json<crate::services::agreements::DocumentView>, Problem> {
    let id = path_id(&id, crate::domain::ids::DocumentId::parse, "document")?;
    Ok(axum::Json(crate::services::agreements::document(&ctx, &admin, &id).await?))
}

/// Ask a patient to sign a document, optionally emailing a direct link to it
/// (or to the portal's agreements section).
#[utoipa::path(post, path = "/v1/admin/patients/{id}/agreement-requests", tag = "admin", security(("practice_key" = [])),
    params(("id" = String, Path, description = "Patient id (`mbr_…`)")),
    request_body = crate::services::agreements::SignatureRequest,
    responses(
        (status = 201, body = crate::services::agreements::RequestSent),
        (status = 404, description = "No such patient in this practice", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown document, or no email to send to", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn request_signature(
    State(ctx): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    Json(body): Json<crate::services::agreements::SignatureRequest>,
) -> Result<(StatusCode, axum::Json<crate::services::agreements::RequestSent>), Problem> {
    let sent = crate::services::agreements::request_signature(&ctx, &admin, &member_id(&id)?, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(sent)))
}

//! `invoices` group: the member's invoices (read only).

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::extract::{path_id, Member};
use super::problem::Problem;
use super::AppState;
use crate::domain::ids::InvoiceId;
use crate::domain::FieldError;
use crate::services::billing::{self, InvoiceDetail, InvoiceFilter, InvoiceList};

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/invoices", get(list_invoices)).route("/v1/invoices/{id}", get(show_invoice))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvoiceParams {
    /// `open` (open and partially paid), `paid`, or `all` (default).
    pub status: Option<String>,
}

/// The member's invoices, newest first, with what is owed and past due.
#[utoipa::path(get, path = "/v1/invoices", tag = "invoices", security(("member" = [])),
    params(InvoiceParams),
    responses(
        (status = 200, body = InvoiceList),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown status filter", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_invoices(
    State(ctx): State<AppState>,
    Member(caller): Member,
    Query(params): Query<InvoiceParams>,
) -> Result<axum::Json<InvoiceList>, Problem> {
    let filter = match params.status.as_deref().map(str::trim) {
        None | Some("") | Some("all") => InvoiceFilter::All,
        Some("open") => InvoiceFilter::Open,
        Some("paid") => InvoiceFilter::Paid,
        Some(_) => return Err(Problem::validation(vec![FieldError::new("status", "must be open, paid or all")])),
    };
    Ok(axum::Json(billing::list(&ctx, &caller, filter).await?))
}

/// One invoice: numbered lines with member and service period, payments, balance.
#[utoipa::path(get, path = "/v1/invoices/{id}", tag = "invoices", security(("member" = [])),
    params(("id" = String, Path, description = "Invoice id (`inv_…`)")),
    responses(
        (status = 200, body = InvoiceDetail),
        (status = 404, description = "Not one of the member's invoices", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn show_invoice(
    State(ctx): State<AppState>,
    Member(caller): Member,
    Path(id): Path<String>,
) -> Result<axum::Json<InvoiceDetail>, Problem> {
    let id = path_id(&id, InvoiceId::parse, "invoice")?;
    Ok(axum::Json(billing::detail(&ctx, &caller, &id).await?))
}

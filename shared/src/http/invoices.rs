//! `invoices` group: the member's invoices (read only).

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::extract::{path_id, Member};
use super::problem::Problem;
use super::AppState;
use crate::domain::ids::InvoiceId;
use crate::domain::statement::Preset;
use crate::domain::FieldError;
use crate::services::billing::{self, InvoiceDetail, InvoiceFilter, InvoiceList};
use crate::services::statements::{self, StatementView};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/invoices", get(list_invoices))
        .route("/v1/invoices/{id}", get(show_invoice))
        .route("/v1/invoices/{id}/pdf", get(invoice_pdf))
        .route("/v1/statements", get(show_statement))
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

/// A copy of the invoice as PDF (binary; through API Gateway it is base64-encoded with `isBase64Encoded`).
#[utoipa::path(get, path = "/v1/invoices/{id}/pdf", tag = "invoices", security(("member" = [])),
    params(("id" = String, Path, description = "Invoice id (`inv_…`)")),
    responses(
        (status = 200, description = "The invoice", content_type = "application/pdf", body = Vec<u8>),
        (status = 404, description = "Not one of the member's invoices", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn invoice_pdf(
    State(ctx): State<AppState>,
    Member(caller): Member,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = path_id(&id, InvoiceId::parse, "invoice")?;
    Ok(super::download(statements::invoice_pdf(&ctx, &caller, &id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatementParams {
    /// `this_month`, `last_month`, `this_year`, `last_year`; or `custom` (the default) with `from` and `to`.
    pub period: Option<String>,
    /// First day, `YYYY-MM-DD` (practice time zone).
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD`; not in the future. At most 7 years after `from`.
    pub to: Option<String>,
    /// `json` (default), `pdf` or `csv`; an `Accept` of `application/pdf` or `text/csv` does the same.
    pub format: Option<String>,
}

/// An account statement: opening balance, every charge and payment in the
/// period in date order with the running balance, totals and closing balance.
#[utoipa::path(get, path = "/v1/statements", tag = "invoices", security(("member" = [])),
    params(StatementParams),
    responses(
        (status = 200, description = "The statement (JSON, PDF or CSV)", body = StatementView),
        (status = 422, description = "Invalid period, dates or format", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn show_statement(
    State(ctx): State<AppState>,
    Member(caller): Member,
    headers: HeaderMap,
    Query(params): Query<StatementParams>,
) -> Result<Response, Problem> {
    let preset = match params.period.as_deref().map(str::trim) {
        None | Some("") | Some("custom") => None,
        Some(p) => Some(serde_json::from_value::<Preset>(serde_json::Value::String(p.to_owned())).map_err(|_| {
            Problem::validation(vec![FieldError::new(
                "period",
                "must be this_month, last_month, this_year, last_year or custom",
            )])
        })?),
    };
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let format = match params.format.as_deref().map(str::trim) {
        Some("json") => "json",
        Some("pdf") => "pdf",
        Some("csv") => "csv",
        Some(_) => return Err(Problem::validation(vec![FieldError::new("format", "must be json, pdf or csv")])),
        None if accept.contains("application/pdf") => "pdf",
        None if accept.contains("text/csv") => "csv",
        None => "json",
    };
    let period = statements::Period { preset, from: params.from.as_deref(), to: params.to.as_deref() };
    let (view, practice, member) = statements::statement(&ctx, &caller, period).await?;
    Ok(match format {
        "pdf" => super::download(statements::statement_pdf(&view, &practice, &member)?),
        "csv" => super::download(statements::statement_csv(&view)),
        _ => axum::Json(view).into_response(),
    })
}

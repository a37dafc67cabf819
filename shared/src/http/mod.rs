//! The HTTP API: one router per route group (one deployed function each),
//! problem+json errors, request logs without PHI, and the OpenAPI document.

mod admin;
mod agreements;
mod auth;
pub mod extract;
mod invoices;
mod members;
mod memberships;
pub mod openapi;
mod payment_sources;
mod payments;
pub mod problem;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::services::Ctx;
use problem::Problem;

pub type AppState = Arc<Ctx>;

/// A route group: the routes one deployed function serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    Auth,
    Memberships,
    Members,
    Invoices,
    Payments,
    PaymentSources,
    Agreements,
    Admin,
}

impl Group {
    pub const ALL: [Group; 8] = [
        Group::Auth,
        Group::Memberships,
        Group::Members,
        Group::Invoices,
        Group::Payments,
        Group::PaymentSources,
        Group::Agreements,
        Group::Admin,
    ];

    /// The function's name in `functions/` and `template.yaml` (kebab-case).
    pub fn name(self) -> &'static str {
        match self {
            Group::Auth => "auth",
            Group::Memberships => "memberships",
            Group::Members => "members",
            Group::Invoices => "invoices",
            Group::Payments => "payments",
            Group::PaymentSources => "payment-sources",
            Group::Agreements => "agreements",
            Group::Admin => "admin",
        }
    }

    pub fn from_name(name: &str) -> Option<Group> {
        Group::ALL.into_iter().find(|g| g.name() == name)
    }

    fn routes(self) -> Router<AppState> {
        match self {
            Group::Auth => auth::routes(),
            Group::Memberships => memberships::routes(),
            Group::Members => members::routes(),
            Group::Invoices => invoices::routes(),
            Group::Payments => payments::routes(),
            Group::PaymentSources => payment_sources::routes(),
            Group::Agreements => agreements::routes(),
            Group::Admin => admin::routes(),
        }
    }
}

/// The router one function serves.
pub fn router(group: Group, state: AppState) -> Router {
    finish(group.routes(), state)
}

/// Every group in one router, as API Gateway routes them (local server, tests).
pub fn app(state: AppState) -> Router {
    let routes = Group::ALL.into_iter().fold(Router::new(), |r, g| r.merge(g.routes()));
    finish(routes, state)
}

fn finish(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .route_layer(middleware::from_fn(mark_route))
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(observe))
        .with_state(state)
}

async fn no_route(request: Request) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "no-route",
        "No such route",
        format!("There is no route for {} {}.", request.method(), request.uri().path()),
    )
}

async fn method_not_allowed(request: Request) -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        format!("{} is not allowed on {}.", request.method(), request.uri().path()),
    )
}

/// The route template that served a request (`/v1/admin/patients/{id}`): logs
/// name the route, never the concrete path.
#[derive(Clone)]
struct RouteName(String);

async fn mark_route(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(RouteName(route));
    }
    response
}

fn request_id(request: &Request) -> String {
    if let Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) =
        request.extensions().get::<lambda_http::request::RequestContext>()
    {
        if let Some(id) = &ctx.request_id {
            return id.clone();
        }
    }
    request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let mut b = [0u8; 8];
            aws_lc_rs::rand::fill(&mut b).ok();
            crate::crypto::hex(&b)
        })
}

/// Logs one line per request (id, method, route, status, latency) and marks
/// every answer uncacheable: they carry personal data.
async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(&request);
    let method = request.method().clone();
    let mut response = next.run(request).await.into_response();
    let route = response.extensions().get::<RouteName>().map(|r| r.0.clone()).unwrap_or_else(|| "unmatched".into());
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(request_id = %id, method = %method, route = %route, status, latency_ms, "request");
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert("x-request-id", v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// A file download: its bytes, type and a name for the browser to save it under.
/// (Through API Gateway, lambda_http base64-encodes such binary bodies.)
fn download(file: crate::services::statements::File) -> Response {
    let disposition = format!("attachment; filename=\"{}\"", file.name);
    let mut response = (StatusCode::OK, file.bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(file.content_type));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

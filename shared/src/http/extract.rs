//! Extractors: the signed-in member, the practice behind an API key, JSON
//! bodies and ids in paths, each failing with a problem answer.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use super::problem::Problem;
use super::AppState;
use crate::domain::audit::ClientInfo;
use crate::domain::FieldError;
use crate::services::{self, AdminCaller, Caller, Error};

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// The signed-in member (a valid access token whose session is live).
pub struct Member(pub Caller);

impl FromRequestParts<AppState> for Member {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(Error::Unauthenticated("sign in to use the portal"))?;
        Ok(Member(services::access::authenticate(state, token).await?))
    }
}

/// The practice calling the admin API with its key.
pub struct Admin(pub AdminCaller);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let key = bearer(parts).ok_or(Error::Unauthenticated("send the practice API key as a Bearer token"))?;
        Ok(Admin(services::admin::authenticate(state, key).await?))
    }
}

/// The peer address of a direct connection, set by the local server (API
/// Gateway's own record of the caller is used on Lambda).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub std::net::IpAddr);

/// Where the request came from: API Gateway's source IP and user agent on
/// Lambda, the connection's address locally. Forwarding headers are not trusted.
pub struct Client(pub ClientInfo);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let header_ua = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
        if let Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) =
            parts.extensions.get::<lambda_http::request::RequestContext>()
        {
            let ua = ctx.http.user_agent.as_deref().or(header_ua);
            return Ok(Client(ClientInfo::new(ctx.http.source_ip.clone(), ua)));
        }
        let ip = parts.extensions.get::<PeerAddr>().map(|p| p.0.to_string());
        Ok(Client(ClientInfo::new(ip, header_ua)))
    }
}

/// A JSON body, with malformed JSON (400), a wrong media type (415) and wrong
/// fields (422, naming the field) told apart.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "Send the body as JSON with `Content-Type: application/json`.",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e: BytesRejection| {
            Problem::new(e.status(), "unreadable-body", "Unreadable body", e.body_text())
        })?;
        parse_json(&bytes).map(Json)
    }
}

/// Parses JSON, naming the field at fault when the shape is wrong.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed-json",
                "Malformed JSON",
                format!("The body is not valid JSON: {inner}"),
            );
        }
        let message = inner.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
        // A missing field is named in the message, one level below the path where it was missed.
        let named = message.split('`').nth(1).filter(|_| message.starts_with("missing field"));
        let field = match (path.as_str(), named) {
            (".", Some(name)) => name.to_owned(),
            (p, Some(name)) => format!("{p}.{name}"),
            (p, None) => p.to_owned(),
        };
        Problem::validation(vec![FieldError::new(if field == "." { String::new() } else { field }, message)])
    })
}

/// Parses an id from a path. An id that cannot exist is simply not found:
/// the answer does not tell a malformed id from another member's.
pub fn path_id<T>(value: &str, parse: fn(&str) -> Result<T, FieldError>, what: &'static str) -> Result<T, Problem> {
    parse(value).map_err(|_| Problem::not_found(what))
}

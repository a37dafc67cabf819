//! RFC 9457 problem details: the one shape of every error answer.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::FieldError;
use crate::services::members::PracticeContact;
use crate::services::{CodeRejection, Error};

pub const CONTENT_TYPE: &str = "application/problem+json";

/// An error answer. `type` is stable and names the kind of problem; `detail`
/// says what happened in words a person can act on; `errors` lists the fields at fault.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A stable URI reference naming the kind of problem, e.g. `/problems/validation-failed`.
    #[serde(rename = "type", serialize_with = "problem_type")]
    #[schema(value_type = String, example = "/problems/validation-failed")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extension members of some problem types (absent when empty).
    #[serde(flatten)]
    pub ext: Box<Extensions>,
}

/// Extension members: each appears only on the problem types that use it.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Extensions {
    /// Wrong-code answers: tries left before a new code is needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining_tries: Option<u32>,
    /// Rate-limited answers: seconds to wait (also in `Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u32>,
    /// Declined payments: the processor's reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decline: Option<crate::domain::billing::Decline>,
    /// Declined payments: the payment recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<crate::domain::ids::PaymentId>,
    /// Contact-the-practice answers: whom to call or write.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<PracticeContact>,
}

fn problem_type<S: serde::Serializer>(slug: &&'static str, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("/problems/{slug}"))
}

impl Problem {
    pub fn new(status: StatusCode, slug: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            kind: slug,
            title,
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            ext: Box::default(),
        }
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("`{}` {}", one.field, one.message),
            _ => format!("{} fields are not valid; see `errors`", errors.len()),
        };
        Problem {
            errors,
            ..Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "validation-failed", "Invalid request", detail)
        }
    }

    fn with_contact(mut self, contact: PracticeContact) -> Self {
        self.ext.contact = Some(contact);
        self
    }

    pub fn not_found(what: &str) -> Self {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", format!("No such {what}."))
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry = self.ext.retry_after;
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if let Some(secs) = retry {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        use StatusCode as S;
        match e {
            Error::Validation(errors) => Problem::validation(errors),
            Error::NotFound(what) => Problem::not_found(what),
            Error::Unauthenticated(detail) => Problem::new(S::UNAUTHORIZED, "unauthenticated", "Not signed in", detail),
            Error::LinkInvalid => Problem::new(
                S::UNAUTHORIZED,
                "access-link-invalid",
                "Access link not valid",
                "This access link has expired or is not valid. Ask your practice for a new one, or sign in with your email address.",
            ),
            Error::Code(CodeRejection::Wrong { remaining }) => Problem {
                ext: Box::new(Extensions { remaining_tries: Some(remaining), ..Default::default() }),
                ..Problem::new(
                    S::UNAUTHORIZED,
                    "code-incorrect",
                    "Incorrect code",
                    if remaining == 0 {
                        "That code is not correct, and no tries are left. Request a new code.".to_owned()
                    } else {
                        format!("That code is not correct. {remaining} tries left.")
                    },
                )
            },
            Error::Code(CodeRejection::Expired) => Problem::new(
                S::UNAUTHORIZED,
                "code-expired",
                "Code expired",
                "This code has expired or is not valid. Request a new code.",
            ),
            Error::Code(CodeRejection::Used) => Problem::new(
                S::UNAUTHORIZED,
                "code-used",
                "Code already used",
                "This code was already used. Request a new code.",
            ),
            Error::Code(CodeRejection::Locked) => Problem::new(
                S::UNAUTHORIZED,
                "code-locked",
                "Too many tries",
                "Too many incorrect tries for this code. Request a new code.",
            ),
            Error::ContactPractice { fields, contact } => Problem {
                errors: fields
                    .iter()
                    .map(|f| FieldError::new(*f, "can only be changed by the practice"))
                    .collect(),
                ..Problem::new(
                    S::FORBIDDEN,
                    "contact-practice",
                    "Contact the practice",
                    format!(
                        "Names and dates of birth can only be changed by {}: call {} or write to {}.",
                        contact.name, contact.phone, contact.email
                    ),
                )
            }
            .with_contact(*contact),
            Error::LastSource(detail) => Problem::new(S::CONFLICT, "last-payment-source", "Last payment source", detail),
            Error::IdempotencyKeyReused => Problem::new(
                S::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency key reused",
                "This Idempotency-Key was already used for a different payment request. Use a new key for a new payment.",
            ),
            Error::Unavailable(cause) => {
                tracing::warn!(%cause, "dependency unavailable");
                Problem::new(
                    S::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Temporarily unavailable",
                    "The payment processor did not answer. Nothing was charged; please try again in a minute.",
                )
            }
            Error::Forbidden(detail) => Problem::new(S::FORBIDDEN, "forbidden", "Not allowed", detail),
            Error::Conflict(detail) => Problem::new(S::CONFLICT, "conflict", "Conflict", detail),
            Error::RateLimited { retry_after_secs } => Problem {
                ext: Box::new(Extensions {
                    retry_after: Some(u32::try_from(retry_after_secs).unwrap_or(u32::MAX)),
                    ..Default::default()
                }),
                ..Problem::new(
                    S::TOO_MANY_REQUESTS,
                    "rate-limited",
                    "Too many requests",
                    format!("Too many codes were requested. Try again in {} minutes.", retry_after_secs.div_ceil(60)),
                )
            },
            Error::Internal(cause) => {
                // The cause is for operators; the caller gets a generic answer.
                tracing::error!(%cause, "request failed");
                Problem::new(
                    S::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Something went wrong",
                    "The request could not be completed. Please try again; if it keeps failing, contact your practice.",
                )
            }
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}

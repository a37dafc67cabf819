//! `auth` group: codes, sessions, refresh, logout.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::Deserialize;

use super::extract::{Json, Member};
use super::problem::Problem;
use super::AppState;
use crate::domain::contact::Email;
use crate::domain::ids::{ChallengeId, MemberId, PracticeId};
use crate::domain::{FieldError, Fields};
use crate::services::access::{self, CodeRequest, CodeSent, SessionTokens, SignIn};
use crate::services::Error;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/code", post(request_code))
        .route("/v1/auth/session", post(create_session).delete(end_session))
        .route("/v1/auth/refresh", post(refresh_session))
}

/// Either `link_token`, or `practice_id` and `email`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequestBody {
    /// The token from the access link the practice emailed.
    #[serde(default)]
    pub link_token: Option<String>,
    #[serde(default)]
    pub practice_id: Option<String>,
    /// The email address on file with the practice.
    #[serde(default)]
    pub email: Option<String>,
}

/// Send a one-time code.
///
/// By access link: the code goes to the address on file for the link's member.
/// By practice and email: the answer is the same whether or not the address is
/// known, and unknown addresses get no mail.
#[utoipa::path(post, path = "/v1/auth/code", tag = "auth", request_body = CodeRequestBody,
    responses(
        (status = 202, description = "Code sent (if the address is on file)", body = CodeSent),
        (status = 401, description = "Access link expired or not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown practice", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many codes requested", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn request_code(State(ctx): State<AppState>, Json(body): Json<CodeRequestBody>) -> Result<Response, Problem> {
    let request = match (body.link_token, body.practice_id, body.email) {
        (Some(token), None, None) => CodeRequest::Link { token },
        (None, practice_id, email) => {
            let required = || FieldError::new("", "is required (or send link_token instead)");
            let mut f = Fields::new();
            let practice_id =
                f.take("practice_id", practice_id.ok_or_else(required).and_then(|p| PracticeId::parse(p.trim())));
            let email = f.take("email", email.ok_or_else(required).and_then(|e| Email::parse(&e)));
            match (practice_id, email) {
                (Some(practice_id), Some(email)) => CodeRequest::Email { practice_id, email },
                _ => return Err(Error::Validation(f.finish().err().unwrap_or_default()).into()),
            }
        }
        (Some(_), _, _) => {
            return Err(Error::field("link_token", "send either link_token, or practice_id and email, not both").into())
        }
    };
    let sent = access::request_code(&ctx, request).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(sent)).into_response())
}

/// Either `challenge_id` and `code` (optionally `member_id`), or `selection_token` and `member_id`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionRequestBody {
    #[serde(default)]
    pub challenge_id: Option<String>,
    /// The 6-digit code from the email.
    #[serde(default)]
    pub code: Option<String>,
    /// From a `choose_member` answer.
    #[serde(default)]
    pub selection_token: Option<String>,
    /// Whom to act as, when several members share the address.
    #[serde(default)]
    pub member_id: Option<String>,
}

/// Verify a code and open a session.
///
/// When several members share the mailbox and no `member_id` was given, the
/// answer is `choose_member`: send the `selection_token` back with the chosen `member_id`.
#[utoipa::path(post, path = "/v1/auth/session", tag = "auth", request_body = SessionRequestBody,
    responses(
        (status = 201, description = "Signed in", body = SignIn),
        (status = 200, description = "Code accepted; choose whom to act as", body = SignIn),
        (status = 401, description = "Code incorrect, expired, used or locked", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_session(
    State(ctx): State<AppState>,
    Json(body): Json<SessionRequestBody>,
) -> Result<Response, Problem> {
    let member_id = body
        .member_id
        .as_deref()
        .map(|m| MemberId::parse(m.trim()).map_err(|e| Error::Validation(vec![e.under("member_id")])))
        .transpose()?;
    let outcome = match (body.challenge_id, body.code, body.selection_token) {
        (Some(challenge), Some(code), None) => {
            let challenge =
                ChallengeId::parse(challenge.trim()).map_err(|e| Error::Validation(vec![e.under("challenge_id")]))?;
            access::verify_code(&ctx, &challenge, &code, member_id.as_ref()).await?
        }
        (None, None, Some(selection)) => {
            let member = member_id.ok_or_else(|| Error::field("member_id", "is required with selection_token"))?;
            SignIn::Session(access::choose_member(&ctx, &selection, &member).await?)
        }
        (Some(_), None, None) => return Err(Error::field("code", "is required").into()),
        (None, Some(_), None) => return Err(Error::field("challenge_id", "is required").into()),
        _ => {
            return Err(Error::Validation(vec![FieldError::new(
                "",
                "send challenge_id and code, or selection_token and member_id",
            )])
            .into())
        }
    };
    let status = match outcome {
        SignIn::Session(_) => StatusCode::CREATED,
        SignIn::ChooseMember(_) => StatusCode::OK,
    };
    Ok((status, axum::Json(outcome)).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    pub refresh_token: String,
}

/// Exchange a refresh token for new tokens (the old refresh token stops working).
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshBody,
    responses(
        (status = 200, description = "New tokens", body = SessionTokens),
        (status = 401, description = "Session ended", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn refresh_session(
    State(ctx): State<AppState>,
    Json(body): Json<RefreshBody>,
) -> Result<axum::Json<SessionTokens>, Problem> {
    Ok(axum::Json(access::refresh(&ctx, &body.refresh_token).await?))
}

/// Sign out: the session's access and refresh tokens stop working at once.
#[utoipa::path(delete, path = "/v1/auth/session", tag = "auth", security(("member" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn end_session(State(ctx): State<AppState>, Member(caller): Member) -> Result<StatusCode, Problem> {
    access::logout(&ctx, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! Magic-code sign-in, sessions and their tokens.

use serde::Serialize;
use time::OffsetDateTime;

use super::{Caller, CodeRejection, Ctx, Error, Result};
use crate::crypto::{constant_time_eq, random_token, sha256_hex};
use crate::domain::access::{
    code_from_random, normalise_code, AccessLink, Challenge, ChallengeOrigin, CodeCheck, OneTimeCode, RateWindow,
    Session, ACCESS_TOKEN_TTL, CODES_PER_EMAIL, CODES_PER_LINK, SELECTION_TTL, SESSION_TTL,
};
use crate::domain::contact::Email;
use crate::domain::ids::{ChallengeId, MemberId, PracticeId, SessionId};
use crate::domain::member::Member;
use crate::ports::{Mail, RateScope, StoreError};

/// How many times a read-decide-write cycle is retried when another request wrote first.
pub(crate) const RETRIES: usize = 5;

/// Who asks for a code.
#[derive(Debug, Clone)]
pub enum CodeRequest {
    /// The token from an access link the practice emailed.
    Link { token: String },
    /// The practice and the email address on file.
    Email { practice_id: PracticeId, email: Email },
}

/// The answer to a code request. It is the same whether or not the address is known.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CodeSent {
    /// Send this back with the code.
    pub challenge_id: ChallengeId,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
    /// For link requests: the mailbox the code went to, masked (`a•••@example.com`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_to: Option<String>,
    /// For link requests: where the link asks the portal to go after sign-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Tokens of a new or refreshed session.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionTokens {
    /// EdDSA-signed JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Single-use: each refresh returns a new one.
    pub refresh_token: String,
    pub member_id: MemberId,
    /// Where to go after sign-in, when the access link named a place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// A person a shared mailbox may act as.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MemberChoice {
    pub member_id: MemberId,
    pub first_name: String,
    pub last_name: String,
}

/// The code was right, and several members share the address: choose whom to act as.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChooseMember {
    /// Send back with the chosen `member_id` to open the session. Single use, 10 minutes.
    pub selection_token: String,
    pub members: Vec<MemberChoice>,
}

/// The outcome of a verified code.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignIn {
    Session(SessionTokens),
    ChooseMember(ChooseMember),
}

fn email_rate_key(ctx: &Ctx, practice: &PracticeId, email: &Email) -> Result<String> {
    Ok(ctx.pepper()?.hash(&["rate-email", practice.as_str(), email.as_str()]))
}

fn code_hash(ctx: &Ctx, challenge: &ChallengeId, code: &str) -> Result<String> {
    Ok(ctx.pepper()?.hash(&["code", challenge.as_str(), code]))
}

/// Counts one send against a rate limit, or says how long to wait.
pub(crate) async fn hit_rate_limit(ctx: &Ctx, scope: RateScope, key: &str, limit: u32) -> Result<()> {
    for _ in 0..RETRIES {
        let now = ctx.clock.now();
        let current = ctx.store.get_rate_window(scope, key).await?;
        match RateWindow::hit(current.as_ref(), limit, now) {
            Err(wait) => return Err(Error::RateLimited { retry_after_secs: wait.whole_seconds().max(1) as u64 }),
            Ok(next) => match ctx.store.put_rate_window(scope, key, &next).await {
                Ok(()) => return Ok(()),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            },
        }
    }
    Err(Error::RateLimited { retry_after_secs: 1 })
}

pub(crate) fn new_code(ctx: &Ctx) -> String {
    loop {
        if let Some(code) = code_from_random(ctx.random.u32()) {
            return code;
        }
    }
}

fn code_mail(to: Email, code: &str, practice_name: &str) -> Mail {
    Mail {
        to,
        subject: format!("{code} is your {practice_name} portal code"),
        body: format!(
            "Your code for the {practice_name} member portal is:\n\n    {code}\n\n\
             It works once, for 10 minutes. If you did not ask for it, you can ignore this message: \
             nobody can sign in without the code."
        ),
    }
}

/// Sends a 6-digit code to the mailbox of a link's member, or of an address on file.
pub async fn request_code(ctx: &Ctx, request: CodeRequest) -> Result<CodeSent> {
    let pepper = ctx.pepper()?;
    let now = ctx.clock.now();
    let (practice_id, email, candidates, origin, next) = match request {
        CodeRequest::Link { token } => {
            let token_hash = sha256_hex(token.trim().as_bytes());
            let link = ctx.store.get_link(&token_hash).await?.filter(|l| l.is_live(now)).ok_or(Error::LinkInvalid)?;
            hit_rate_limit(ctx, RateScope::Link, &token_hash, CODES_PER_LINK).await?;
            let member = ctx.store.get_member(&link.practice_id, &link.member_id).await?.ok_or(Error::LinkInvalid)?;
            let email = member.email.clone().ok_or(Error::LinkInvalid)?;
            (link.practice_id, email, vec![member.id], ChallengeOrigin::Link, link.next)
        }
        CodeRequest::Email { practice_id, email } => {
            let candidates = ctx.store.members_with_email(&practice_id, &email).await?;
            (practice_id, email, candidates.into_iter().map(|m| m.id).collect(), ChallengeOrigin::Email, None)
        }
    };
    let practice = ctx.store.get_practice(&practice_id).await?.ok_or(Error::NotFound("practice"))?;
    hit_rate_limit(ctx, RateScope::Email, &email_rate_key(ctx, &practice_id, &email)?, CODES_PER_EMAIL).await?;

    let id = ChallengeId::from_random(ctx.random.bytes16());
    let code = new_code(ctx);
    let challenge = Challenge {
        code: OneTimeCode::new(pepper.hash(&["code", id.as_str(), &code]), now),
        id: id.clone(),
        practice_id,
        origin: origin.clone(),
        candidates,
        selection_hash: None,
        selection_expires_at: None,
        selection_used: false,
        next: next.clone(),
        version: 0,
    };
    ctx.store.create_challenge(&challenge).await?;
    // Unknown addresses get a challenge no code can open, and no mail.
    if !challenge.candidates.is_empty() {
        ctx.mailer()?.send(code_mail(email.clone(), &code, &practice.name)).await?;
    }
    let from_link = origin == ChallengeOrigin::Link;
    Ok(CodeSent {
        challenge_id: id,
        expires_at: challenge.code.expires_at,
        sent_to: from_link.then(|| email.masked()),
        next,
    })
}

/// Checks a code. With one candidate, or a chosen one, it opens a session;
/// with several and no choice, it asks whom to act as.
pub async fn verify_code(
    ctx: &Ctx,
    challenge_id: &ChallengeId,
    code: &str,
    member_id: Option<&MemberId>,
) -> Result<SignIn> {
    let code = normalise_code(code).ok_or_else(|| Error::field("code", "must be the 6-digit code from the email"))?;
    for _ in 0..RETRIES {
        let now = ctx.clock.now();
        let challenge = ctx.store.get_challenge(challenge_id).await?.ok_or(Error::Code(CodeRejection::Expired))?;
        let right = constant_time_eq(&code_hash(ctx, challenge_id, &code)?, &challenge.code.code_hash);
        // Choosing someone the mailbox does not serve counts as a wrong try.
        let chosen_ok = member_id.is_none_or(|m| challenge.candidates.contains(m));
        let (mut next, outcome) = challenge.attempt(right && chosen_ok, now);

        let chosen = match (member_id, challenge.candidates.as_slice()) {
            (Some(m), _) => Some(m.clone()),
            (None, [only]) => Some(only.clone()),
            _ => None,
        };
        let selection = if outcome == CodeCheck::Accepted && chosen.is_none() {
            let token = random_token(ctx.random.as_ref());
            next.selection_hash = Some(sha256_hex(token.as_bytes()));
            next.selection_expires_at = Some(now + SELECTION_TTL);
            Some(token)
        } else {
            None
        };
        match ctx.store.update_challenge(&next).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
        return match outcome {
            CodeCheck::Accepted => match (chosen, selection) {
                (Some(member), _) => {
                    Ok(SignIn::Session(open_session(ctx, &next.practice_id, &member, next.next.clone()).await?))
                }
                (None, Some(selection_token)) => {
                    let mut members = ctx.store.get_members(&next.practice_id, &next.candidates).await?;
                    members.sort_by(|a, b| (&a.first_name, &a.id).cmp(&(&b.first_name, &b.id)));
                    Ok(SignIn::ChooseMember(ChooseMember {
                        selection_token: format!("{}.{selection_token}", next.id),
                        members: members.into_iter().map(choice).collect(),
                    }))
                }
                (None, None) => Err(Error::Internal("accepted code without a member or a selection".into())),
            },
            CodeCheck::Wrong { remaining } => Err(Error::Code(CodeRejection::Wrong { remaining })),
            CodeCheck::Locked => Err(Error::Code(CodeRejection::Locked)),
            CodeCheck::Expired => Err(Error::Code(CodeRejection::Expired)),
            CodeCheck::AlreadyUsed => Err(Error::Code(CodeRejection::Used)),
        };
    }
    Err(Error::Conflict("the code is being checked by another request; try again".into()))
}

fn choice(m: Member) -> MemberChoice {
    MemberChoice { member_id: m.id, first_name: m.first_name, last_name: m.last_name }
}

/// Completes a sign-in for a shared mailbox: the chosen member, with the selection token.
pub async fn choose_member(ctx: &Ctx, selection_token: &str, member_id: &MemberId) -> Result<SessionTokens> {
    let invalid = || Error::Unauthenticated("the selection has expired or was already used; sign in again");
    let (id, secret) = selection_token.split_once('.').ok_or_else(invalid)?;
    let id = ChallengeId::parse(id).map_err(|_| invalid())?;
    for _ in 0..RETRIES {
        let now = ctx.clock.now();
        let challenge = ctx.store.get_challenge(&id).await?.ok_or_else(invalid)?;
        let valid = challenge.code.used_at.is_some()
            && !challenge.selection_used
            && challenge.selection_expires_at.is_some_and(|e| now < e)
            && challenge.selection_hash.as_deref().is_some_and(|h| constant_time_eq(h, &sha256_hex(secret.as_bytes())));
        if !valid {
            return Err(invalid());
        }
        if !challenge.candidates.contains(member_id) {
            return Err(Error::field("member_id", "must be one of the members offered"));
        }
        let mut next = challenge.clone();
        next.selection_used = true;
        next.version += 1;
        match ctx.store.update_challenge(&next).await {
            Ok(()) => return open_session(ctx, &next.practice_id, member_id, next.next.clone()).await,
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(invalid())
}

fn refresh_token(session: &SessionId, secret: &str) -> String {
    format!("{session}.{secret}")
}

fn tokens(ctx: &Ctx, session: &Session, secret: &str, next: Option<String>) -> Result<SessionTokens> {
    let now = ctx.clock.now();
    let access_token = ctx.signer()?.sign(
        session.member_id.as_str(),
        session.practice_id.as_str(),
        session.id.as_str(),
        now,
        ACCESS_TOKEN_TTL,
    );
    Ok(SessionTokens {
        access_token,
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_TTL.whole_seconds(),
        refresh_token: refresh_token(&session.id, secret),
        member_id: session.member_id.clone(),
        next,
    })
}

async fn open_session(
    ctx: &Ctx,
    practice: &PracticeId,
    member: &MemberId,
    next: Option<String>,
) -> Result<SessionTokens> {
    // The member must still exist (a practice may have removed them since the code was sent).
    ctx.store.get_member(practice, member).await?.ok_or(Error::Unauthenticated("this member can no longer sign in"))?;
    let now = ctx.clock.now();
    let secret = random_token(ctx.random.as_ref());
    let session = Session {
        id: SessionId::from_random(ctx.random.bytes16()),
        practice_id: practice.clone(),
        member_id: member.clone(),
        created_at: now,
        expires_at: now + SESSION_TTL,
        refresh_hash: sha256_hex(secret.as_bytes()),
        previous_refresh_hash: None,
        version: 0,
    };
    ctx.store.create_session(&session).await?;
    tokens(ctx, &session, &secret, next)
}

/// Exchanges a refresh token for new tokens. Each refresh token works once;
/// presenting a spent one ends the session (it was copied).
pub async fn refresh(ctx: &Ctx, refresh_token: &str) -> Result<SessionTokens> {
    let ended = || Error::Unauthenticated("the session has ended; sign in again");
    let (sid, secret) = refresh_token.trim().split_once('.').ok_or_else(ended)?;
    let sid = SessionId::parse(sid).map_err(|_| ended())?;
    let presented = sha256_hex(secret.as_bytes());
    let now = ctx.clock.now();
    let session = ctx.store.get_session(&sid).await?.ok_or_else(ended)?;
    if !session.is_live(now) {
        ctx.store.delete_session(&sid).await?;
        return Err(ended());
    }
    if !constant_time_eq(&presented, &session.refresh_hash) {
        if session.previous_refresh_hash.as_deref().is_some_and(|h| constant_time_eq(h, &presented)) {
            tracing::warn!(session = %sid, "spent refresh token presented again; session ended");
            ctx.store.delete_session(&sid).await?;
        }
        return Err(ended());
    }
    let secret = random_token(ctx.random.as_ref());
    let next = Session {
        previous_refresh_hash: Some(session.refresh_hash.clone()),
        refresh_hash: sha256_hex(secret.as_bytes()),
        version: session.version + 1,
        ..session
    };
    match ctx.store.update_session(&next).await {
        Ok(()) => tokens(ctx, &next, &secret, None),
        // Another refresh with the same token won the race: this one is the copy.
        Err(StoreError::Conflict) => Err(ended()),
        Err(e) => Err(e.into()),
    }
}

/// Ends the caller's session: its access and refresh tokens stop working at once.
pub async fn logout(ctx: &Ctx, caller: &Caller) -> Result<()> {
    ctx.store.delete_session(&caller.session_id).await?;
    Ok(())
}

/// The member behind a bearer token, if its session is live.
pub async fn authenticate(ctx: &Ctx, bearer: &str) -> Result<Caller> {
    let invalid = Error::Unauthenticated("the access token is missing, invalid or expired");
    let now = ctx.clock.now();
    let claims = ctx.verifier.verify(bearer, now).ok_or(invalid)?;
    let parse = || -> Option<Caller> {
        Some(Caller {
            practice_id: PracticeId::parse(&claims.pid).ok()?,
            member_id: MemberId::parse(&claims.sub).ok()?,
            session_id: SessionId::parse(&claims.sid).ok()?,
        })
    };
    let caller = parse().ok_or(Error::Unauthenticated("the access token is missing, invalid or expired"))?;
    let live = ctx
        .store
        .get_session(&caller.session_id)
        .await?
        .filter(|s| s.is_live(now) && s.practice_id == caller.practice_id && s.member_id == caller.member_id);
    live.map(|_| caller).ok_or(Error::Unauthenticated("the session has ended; sign in again"))
}

/// Records an access link for a member and returns its secret token.
pub async fn create_link(ctx: &Ctx, member: &Member, next: Option<String>) -> Result<(String, AccessLink)> {
    let now = ctx.clock.now();
    let token = random_token(ctx.random.as_ref());
    let link = AccessLink {
        practice_id: member.practice_id.clone(),
        member_id: member.id.clone(),
        next,
        created_at: now,
        expires_at: now + crate::domain::access::LINK_TTL,
    };
    ctx.store.put_link(&sha256_hex(token.as_bytes()), &link).await?;
    Ok((token, link))
}

//! The practice's side: API keys, patients, memberships, access emails.

use serde::Serialize;
use time::OffsetDateTime;

use super::access::create_link;
use super::members::MemberView;
use super::{AdminCaller, Ctx, Error, Result};
use crate::crypto::{random_token, sha256_hex};
use crate::domain::access::parse_next_path;
use crate::domain::ids::{MemberId, MembershipId, PracticeId};
use crate::domain::member::{Member, PatientDetails, PatientInput};
use crate::domain::membership::{Membership, MembershipDetails, MembershipInput};
use crate::domain::practice::{Practice, PracticeInput};
use crate::domain::FieldError;
use crate::ports::{ApiKey, Mail};

/// Prefix of practice API keys, so a leaked key is recognisable in a scan.
pub const API_KEY_PREFIX: &str = "mpk_";

/// The practice behind an API key.
pub async fn authenticate(ctx: &Ctx, bearer: &str) -> Result<AdminCaller> {
    let invalid = Error::Unauthenticated("the API key is missing or not valid");
    if !bearer.starts_with(API_KEY_PREFIX) {
        return Err(invalid);
    }
    let key = ctx.store.find_api_key(&sha256_hex(bearer.as_bytes())).await?.ok_or(invalid)?;
    Ok(AdminCaller { practice_id: key.practice_id })
}

/// Creates a practice with its first API key; returns the practice and the key (shown once).
pub async fn create_practice(
    ctx: &Ctx,
    id: Option<PracticeId>,
    input: &PracticeInput,
    key_label: &str,
) -> Result<(Practice, String)> {
    let now = ctx.clock.now();
    let id = id.unwrap_or_else(|| PracticeId::from_random(ctx.random.bytes16()));
    let practice = Practice::parse(id, input, now)?;
    let secret = format!("{API_KEY_PREFIX}{}", random_token(ctx.random.as_ref()));
    create_practice_with_key(ctx, &practice, &secret, key_label, now).await?;
    Ok((practice, secret))
}

/// Stores a practice with a given key (the local demo uses a fixed, documented key).
pub async fn create_practice_with_key(
    ctx: &Ctx,
    practice: &Practice,
    secret: &str,
    key_label: &str,
    now: OffsetDateTime,
) -> Result<()> {
    let key = ApiKey { practice_id: practice.id.clone(), label: key_label.to_owned(), created_at: now };
    ctx.store.create_practice(practice, &sha256_hex(secret.as_bytes()), &key).await.map_err(|e| match e {
        crate::ports::StoreError::Conflict => Error::Conflict("a practice with this id already exists".into()),
        other => other.into(),
    })
}

/// A patient as the admin API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Patient {
    #[serde(flatten)]
    pub member: MemberView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl From<Member> for Patient {
    fn from(m: Member) -> Self {
        Patient { external_id: m.external_id.clone(), updated_at: m.updated_at, member: m.into() }
    }
}

async fn practice(ctx: &Ctx, admin: &AdminCaller) -> Result<Practice> {
    ctx.store.get_practice(&admin.practice_id).await?.ok_or(Error::NotFound("practice"))
}

pub async fn create_patient(ctx: &Ctx, admin: &AdminCaller, input: &PatientInput) -> Result<Patient> {
    let now = ctx.clock.now();
    let today = practice(ctx, admin).await?.today(now);
    let details = PatientDetails::parse(input, today)?;
    let member = details.into_member(MemberId::from_random(ctx.random.bytes16()), admin.practice_id.clone(), now);
    ctx.store.save_member(&member, None, &[]).await?;
    Ok(member.into())
}

async fn patient(ctx: &Ctx, admin: &AdminCaller, id: &MemberId) -> Result<Member> {
    ctx.store.get_member(&admin.practice_id, id).await?.ok_or(Error::NotFound("patient"))
}

pub async fn get_patient(ctx: &Ctx, admin: &AdminCaller, id: &MemberId) -> Result<Patient> {
    Ok(patient(ctx, admin, id).await?.into())
}

pub async fn update_patient(ctx: &Ctx, admin: &AdminCaller, id: &MemberId, input: &PatientInput) -> Result<Patient> {
    let now = ctx.clock.now();
    let today = practice(ctx, admin).await?.today(now);
    let details = PatientDetails::parse(input, today)?;
    let current = patient(ctx, admin, id).await?;
    let next = details.apply_to(&current, now);
    ctx.store.save_member(&next, Some(&current), &[]).await?;
    Ok(next.into())
}

/// A membership as the admin API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AdminMembership {
    pub id: MembershipId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub plan_name: String,
    pub status: crate::domain::membership::MembershipStatus,
    pub owner_id: MemberId,
    pub enrollments: Vec<AdminEnrollment>,
    pub amount: crate::domain::money::Money,
    pub billing_period: crate::domain::membership::BillingPeriod,
    #[schema(value_type = Option<String>, format = Date)]
    pub next_bill_date: Option<String>,
    #[schema(value_type = String, format = Date)]
    pub start_date: String,
    #[schema(value_type = Option<String>, format = Date)]
    pub end_date: Option<String>,
    pub version: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AdminEnrollment {
    pub member_id: MemberId,
    #[schema(value_type = String, format = Date)]
    pub start_date: String,
    #[schema(value_type = Option<String>, format = Date)]
    pub end_date: Option<String>,
}

fn iso(d: time::Date) -> String {
    d.to_string()
}

impl From<Membership> for AdminMembership {
    fn from(m: Membership) -> Self {
        AdminMembership {
            id: m.id,
            external_id: m.external_id,
            plan_name: m.plan_name,
            status: m.status,
            owner_id: m.owner_id,
            enrollments: m
                .enrollments
                .into_iter()
                .map(|e| AdminEnrollment {
                    member_id: e.member_id,
                    start_date: iso(e.start_date),
                    end_date: e.end_date.map(iso),
                })
                .collect(),
            amount: m.amount,
            billing_period: m.billing_period,
            next_bill_date: m.next_bill_date.map(iso),
            start_date: iso(m.start_date),
            end_date: m.end_date.map(iso),
            version: m.version,
        }
    }
}

/// Checks that the owner and every enrolled member are patients of this practice.
async fn check_members_exist(ctx: &Ctx, admin: &AdminCaller, details: &MembershipDetails) -> Result<()> {
    let mut ids: Vec<MemberId> = vec![details.owner_id.clone()];
    ids.extend(details.enrollments.iter().map(|e| e.member_id.clone()));
    let found = ctx.store.get_members(&admin.practice_id, &ids).await?;
    let exists = |id: &MemberId| found.iter().any(|m| &m.id == id);
    let mut errors = Vec::new();
    if !exists(&details.owner_id) {
        errors.push(FieldError::new("owner_id", "is not a patient of this practice"));
    }
    for (i, e) in details.enrollments.iter().enumerate() {
        if !exists(&e.member_id) {
            errors.push(FieldError::new(format!("enrollments[{i}].member_id"), "is not a patient of this practice"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(errors))
    }
}

pub async fn create_membership(ctx: &Ctx, admin: &AdminCaller, input: &MembershipInput) -> Result<AdminMembership> {
    let details = MembershipDetails::parse(input)?;
    check_members_exist(ctx, admin, &details).await?;
    let now = ctx.clock.now();
    let id = MembershipId::from_random(ctx.random.bytes16());
    let membership = details.into_membership(id, admin.practice_id.clone(), now, now, 1);
    ctx.store.save_membership(&membership, None).await?;
    Ok(membership.into())
}

pub async fn get_membership(ctx: &Ctx, admin: &AdminCaller, id: &MembershipId) -> Result<AdminMembership> {
    let m = ctx.store.get_membership(&admin.practice_id, id).await?.ok_or(Error::NotFound("membership"))?;
    Ok(m.into())
}

pub async fn update_membership(
    ctx: &Ctx,
    admin: &AdminCaller,
    id: &MembershipId,
    input: &MembershipInput,
) -> Result<AdminMembership> {
    let details = MembershipDetails::parse(input)?;
    let current = ctx.store.get_membership(&admin.practice_id, id).await?.ok_or(Error::NotFound("membership"))?;
    check_members_exist(ctx, admin, &details).await?;
    let now = ctx.clock.now();
    let next =
        details.into_membership(id.clone(), admin.practice_id.clone(), current.created_at, now, current.version + 1);
    ctx.store.save_membership(&next, Some(&current)).await?;
    Ok(next.into())
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccessEmailSent {
    /// The mailbox the link went to, masked.
    pub sent_to: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub link_expires_at: OffsetDateTime,
}

/// Emails a patient a link to the portal (optionally to a section of it, e.g. `/agreements`).
pub async fn send_access_email(
    ctx: &Ctx,
    admin: &AdminCaller,
    id: &MemberId,
    next: Option<&str>,
) -> Result<AccessEmailSent> {
    let next = next.map(parse_next_path).transpose().map_err(|e| Error::Validation(vec![e.under("next")]))?;
    let practice = practice(ctx, admin).await?;
    let member = patient(ctx, admin, id).await?;
    let email = member
        .email
        .clone()
        .ok_or_else(|| Error::field("email", "the patient has no email address on file; add one first"))?;
    let (token, link) = create_link(ctx, &member, next).await?;
    let url = format!("{}/access?token={token}", ctx.portal_url);
    ctx.mailer()?
        .send(Mail {
            to: email.clone(),
            subject: format!("Your {} member portal", practice.name),
            body: format!(
                "Hello {},\n\n{} invites you to the member portal, where you can review your membership, \
                 keep your details current and more.\n\nOpen the portal:\n{url}\n\n\
                 For your security we will email you a one-time code when you open it. The link works for 7 days.\n\n\
                 Questions? Call {} or write to {}.",
                member.first_name,
                practice.name,
                practice.contact_phone.as_str(),
                practice.contact_email.as_str()
            ),
        })
        .await?;
    Ok(AccessEmailSent { sent_to: email.masked(), link_expires_at: link.expires_at })
}

/// One change a member made, as the practice reads it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: crate::domain::ids::AuditId,
    /// Whose record changed.
    pub member_id: MemberId,
    /// Who changed it: the member, or the owner of their membership.
    pub actor_id: MemberId,
    pub field: String,
    #[schema(value_type = Object)]
    pub old_value: serde_json::Value,
    #[schema(value_type = Object)]
    pub new_value: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditFeed {
    /// Oldest first.
    pub events: Vec<AuditEntry>,
    /// Pass as `cursor` for the next page; absent at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Filters of the audit feed.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub member_id: Option<MemberId>,
    pub since: Option<OffsetDateTime>,
    pub limit: usize,
    pub cursor: Option<String>,
}

pub const AUDIT_PAGE_DEFAULT: usize = 50;
pub const AUDIT_PAGE_MAX: usize = 200;

/// Changes members made, oldest first, a page at a time.
pub async fn audit_feed(ctx: &Ctx, admin: &AdminCaller, query: &AuditQuery) -> Result<AuditFeed> {
    let page = ctx
        .store
        .audit_page(&admin.practice_id, query.member_id.as_ref(), query.since, query.limit, query.cursor.as_deref())
        .await?;
    Ok(AuditFeed {
        events: page
            .events
            .into_iter()
            .map(|e| AuditEntry {
                id: e.id,
                member_id: e.member_id,
                actor_id: e.actor_id,
                field: e.field,
                old_value: e.old_value,
                new_value: e.new_value,
                at: e.at,
                ip: e.client.ip,
                user_agent: e.client.user_agent,
            })
            .collect(),
        next_cursor: page.next_cursor,
    })
}

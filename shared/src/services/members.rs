//! The signed-in member's own view of themselves and their practice.

use serde::Serialize;
use time::{Date, OffsetDateTime};

use super::access::RETRIES;
use super::{Caller, CodeRejection, Ctx, Error, Result};
use crate::crypto::constant_time_eq;
use crate::domain::access::{normalise_code, CodeCheck, OneTimeCode, CODES_PER_EMAIL};
use crate::domain::audit::{AuditEvent, ClientInfo};
use crate::domain::contact::{Address, Email, Insurance, Phone};
use crate::domain::household::{apply_email, apply_insurance, household, ContactUpdate, EmailChange, FieldChange};
use crate::domain::ids::{AuditId, MemberId, MembershipId, PracticeId};
use crate::domain::member::{parse_phones, Member};
use crate::domain::membership::{Membership, MembershipStatus};
use crate::domain::practice::Practice;
use crate::domain::Fields;
use crate::ports::{Mail, RateScope, StoreError};

/// A member as the portal shows them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MemberView {
    pub id: MemberId,
    pub first_name: String,
    pub last_name: String,
    #[serde(with = "crate::domain::date_format::iso")]
    #[schema(value_type = String, format = Date)]
    pub date_of_birth: Date,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    pub phones: Vec<Phone>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insurance: Option<Insurance>,
}

impl From<Member> for MemberView {
    fn from(m: Member) -> Self {
        MemberView {
            id: m.id,
            first_name: m.first_name,
            last_name: m.last_name,
            date_of_birth: m.date_of_birth,
            email: m.email,
            phones: m.phones,
            address: m.address,
            insurance: m.insurance,
        }
    }
}

/// The practice, as members see it: where to turn when the portal cannot help.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PracticeView {
    pub id: PracticeId,
    pub name: String,
    #[schema(value_type = String, example = "America/Chicago")]
    pub time_zone: String,
    #[schema(value_type = String, example = "USD")]
    pub currency: String,
    #[schema(value_type = String, example = "+15125550100")]
    pub contact_phone: String,
    #[schema(value_type = String, example = "hello@practice.example")]
    pub contact_email: String,
}

impl From<Practice> for PracticeView {
    fn from(p: Practice) -> Self {
        PracticeView {
            id: p.id,
            name: p.name,
            time_zone: p.time_zone.as_str().to_owned(),
            currency: p.currency.as_str().to_owned(),
            contact_phone: p.contact_phone.as_str().to_owned(),
            contact_email: p.contact_email.as_str().to_owned(),
        }
    }
}

/// What the member may do in the portal, so the front end shows only what works.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Permissions {
    /// See their current and previous memberships.
    pub view_memberships: bool,
    /// Owns a membership: may see and edit everyone on it.
    pub manage_household: bool,
    /// Name and date of birth are changed by the practice only.
    pub edit_name_and_date_of_birth: bool,
    /// See invoices billed to them, download copies and statements.
    pub view_invoices: bool,
    /// Pay invoices and manage payment sources.
    pub pay_invoices: bool,
    /// Read and sign their agreements.
    pub sign_agreements: bool,
    /// Sign agreements for the minors on memberships they own.
    pub sign_for_minors: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Me {
    pub member: MemberView,
    pub practice: PracticeView,
    pub permissions: Permissions,
}

pub async fn me(ctx: &Ctx, caller: &Caller) -> Result<Me> {
    let member = ctx
        .store
        .get_member(&caller.practice_id, &caller.member_id)
        .await?
        .ok_or(Error::Unauthenticated("this member can no longer sign in"))?;
    let (practice, memberships, ids) = reach(ctx, caller).await?;
    let today = practice.today(ctx.clock.now());
    let owns_current = memberships.iter().any(|m| m.is_owner(&caller.member_id) && m.is_current(today));
    let others: Vec<MemberId> = ids.into_iter().filter(|id| id != &caller.member_id).collect();
    let has_minors = !others.is_empty()
        && ctx.store.get_members(&caller.practice_id, &others).await?.iter().any(|m| m.is_minor_on(today));
    Ok(Me {
        member: member.into(),
        practice: practice.into(),
        permissions: Permissions {
            view_memberships: true,
            manage_household: owns_current,
            edit_name_and_date_of_birth: false,
            view_invoices: true,
            pay_invoices: true,
            sign_agreements: true,
            sign_for_minors: has_minors,
        },
    })
}

// ---- household: list, contact, email, insurance --------------------------------

/// A membership a household member is on, as the members page shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MembershipPlace {
    pub membership_id: MembershipId,
    pub plan_name: String,
    pub status: MembershipStatus,
    #[serde(with = "crate::domain::date_format::iso")]
    #[schema(value_type = String, format = Date)]
    pub start_date: Date,
    #[serde(with = "crate::domain::date_format::iso::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub end_date: Option<Date>,
}

/// A new address waiting for its confirmation code.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PendingEmail {
    pub email: Email,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HouseholdMember {
    #[serde(flatten)]
    pub member: MemberView,
    /// True for the signed-in member.
    pub is_you: bool,
    pub memberships: Vec<MembershipPlace>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_email_change: Option<PendingEmail>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Household {
    /// The signed-in member first, then everyone on the memberships they own.
    pub members: Vec<HouseholdMember>,
    /// Name and date of birth are changed by the practice: whom to contact.
    pub practice_contact: PracticeContact,
}

/// Where to turn for what the portal does not change.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PracticeContact {
    pub name: String,
    #[schema(value_type = String)]
    pub phone: String,
    #[schema(value_type = String)]
    pub email: String,
}

impl From<&Practice> for PracticeContact {
    fn from(p: &Practice) -> Self {
        PracticeContact {
            name: p.name.clone(),
            phone: p.contact_phone.as_str().to_owned(),
            email: p.contact_email.as_str().to_owned(),
        }
    }
}

/// The practice, the caller's memberships, and whom the caller may see and edit.
pub(crate) async fn reach(ctx: &Ctx, caller: &Caller) -> Result<(Practice, Vec<Membership>, Vec<MemberId>)> {
    let practice = ctx.store.get_practice(&caller.practice_id).await?.ok_or(Error::NotFound("practice"))?;
    let today = practice.today(ctx.clock.now());
    let memberships = ctx.store.memberships_of(&caller.practice_id, &caller.member_id).await?;
    let ids = household(&caller.member_id, &memberships, today);
    Ok((practice, memberships, ids))
}

/// A member the caller may edit. Anyone else, in this practice or another, is simply not found.
async fn editable(ctx: &Ctx, caller: &Caller, target: &MemberId) -> Result<(Practice, Member)> {
    let (practice, _, ids) = reach(ctx, caller).await?;
    if !ids.contains(target) {
        return Err(Error::NotFound("member"));
    }
    let member = ctx.store.get_member(&caller.practice_id, target).await?.ok_or(Error::NotFound("member"))?;
    Ok((practice, member))
}

async fn pending_email(ctx: &Ctx, member: &Member) -> Result<Option<PendingEmail>> {
    let now = ctx.clock.now();
    Ok(ctx
        .store
        .get_email_change(&member.practice_id, &member.id)
        .await?
        .filter(|c| c.code.used_at.is_none() && now < c.code.expires_at)
        .map(|c| PendingEmail { email: c.new_email, expires_at: c.code.expires_at }))
}

/// Everyone whose details the caller may see: themselves, and if they own a
/// membership, everyone on it.
pub async fn list(ctx: &Ctx, caller: &Caller) -> Result<Household> {
    let (practice, own, ids) = reach(ctx, caller).await?;
    let mut people = ctx.store.get_members(&caller.practice_id, &ids).await?;
    people.sort_by_key(|m| ids.iter().position(|i| i == &m.id));
    let mut members = Vec::with_capacity(people.len());
    for person in people {
        // Places come from the caller's own memberships (owned ones list every member).
        let memberships = own
            .iter()
            .filter_map(|m| {
                let e = m.enrollments.iter().find(|e| e.member_id == person.id)?;
                Some(MembershipPlace {
                    membership_id: m.id.clone(),
                    plan_name: m.plan_name.clone(),
                    status: m.status,
                    start_date: e.start_date,
                    end_date: e.end_date,
                })
            })
            .collect();
        let pending_email_change = pending_email(ctx, &person).await?;
        members.push(HouseholdMember {
            is_you: person.id == caller.member_id,
            member: person.into(),
            memberships,
            pending_email_change,
        });
    }
    Ok(Household { members, practice_contact: (&practice).into() })
}

/// What a member may send to change contact details. Name and date of birth
/// are listed only to be refused with the practice's contact details.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactPatch {
    /// A new sign-in and contact address; it takes effect once a code sent to it is confirmed.
    #[serde(default)]
    pub email: Option<String>,
    /// Replaces every phone number.
    #[serde(default)]
    pub phones: Option<Vec<crate::domain::member::PhoneInput>>,
    /// A postal address, or `null` to remove it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::domain::contact::AddressInput>)]
    pub address: Option<Option<crate::domain::contact::AddressInput>>,
    /// Refused: only the practice changes names.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub first_name: Option<serde_json::Value>,
    /// Refused: only the practice changes names.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub last_name: Option<serde_json::Value>,
    /// Refused: only the practice changes dates of birth.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub date_of_birth: Option<serde_json::Value>,
}

/// Tells a field sent as `null` (`Some(None)`) from a field left out (`None`).
fn present<'de, D, T>(de: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(de).map(Some)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContactResult {
    pub member: MemberView,
    /// Set when a new email address awaits its code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_email_change: Option<PendingEmail>,
}

fn audit_events(
    ctx: &Ctx,
    caller: &Caller,
    target: &MemberId,
    changes: Vec<FieldChange>,
    client: &ClientInfo,
) -> Vec<AuditEvent> {
    let now = ctx.clock.now();
    changes
        .into_iter()
        .map(|c| AuditEvent {
            id: AuditId::from_random(ctx.random.bytes16()),
            practice_id: caller.practice_id.clone(),
            member_id: target.clone(),
            actor_id: caller.member_id.clone(),
            field: c.field.to_owned(),
            old_value: c.old_value,
            new_value: c.new_value,
            at: now,
            client: client.clone(),
        })
        .collect()
}

fn email_code_hash(ctx: &Ctx, change: &EmailChange, code: &str) -> Result<String> {
    Ok(ctx.pepper()?.hash(&[
        "email-change",
        change.practice_id.as_str(),
        change.member_id.as_str(),
        change.new_email.as_str(),
        code,
    ]))
}

/// Changes phones and address at once; a new email address waits for its code.
pub async fn update_contact(
    ctx: &Ctx,
    caller: &Caller,
    target: &MemberId,
    patch: ContactPatch,
    client: &ClientInfo,
) -> Result<ContactResult> {
    let mut refused = Vec::new();
    for (name, given) in
        [("first_name", &patch.first_name), ("last_name", &patch.last_name), ("date_of_birth", &patch.date_of_birth)]
    {
        if given.is_some() {
            refused.push(name);
        }
    }
    if !refused.is_empty() {
        let (practice, _) = editable(ctx, caller, target).await?;
        return Err(Error::ContactPractice { fields: refused, contact: Box::new((&practice).into()) });
    }

    let mut f = Fields::new();
    let email = match patch.email.as_deref().map(str::trim) {
        None => Some(None),
        Some(e) => f.take("email", Email::parse(e)).map(Some),
    };
    let phones = match &patch.phones {
        None => Some(None),
        Some(p) => f.take_all("phones", parse_phones(p)).map(Some),
    };
    let address = match &patch.address {
        None => Some(None),
        Some(None) => Some(Some(None)),
        Some(Some(a)) => f.take_all("address", Address::parse(a)).map(|a| Some(Some(a))),
    };
    let (Some(email), Some(phones), Some(address)) = (email, phones, address) else {
        return Err(Error::Validation(f.finish().err().unwrap_or_default()));
    };
    let update = ContactUpdate { phones, address };

    for _ in 0..RETRIES {
        let (practice, current) = editable(ctx, caller, target).await?;
        let now = ctx.clock.now();
        let (next, changes) = update.apply(&current, now);
        if !changes.is_empty() {
            let audit = audit_events(ctx, caller, target, changes, client);
            match ctx.store.save_member(&next, Some(&current), &audit).await {
                Ok(()) => {}
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        let pending = match &email {
            Some(new) if next.email.as_ref() != Some(new) => {
                Some(start_email_change(ctx, caller, &practice, &next, new).await?)
            }
            _ => pending_email(ctx, &next).await?,
        };
        return Ok(ContactResult { member: next.into(), pending_email_change: pending });
    }
    Err(Error::Conflict("the member was changed by another request; reload and try again".into()))
}

async fn start_email_change(
    ctx: &Ctx,
    caller: &Caller,
    practice: &Practice,
    member: &Member,
    new: &Email,
) -> Result<PendingEmail> {
    let rate_key = ctx.pepper()?.hash(&["rate-email", practice.id.as_str(), new.as_str()]);
    super::access::hit_rate_limit(ctx, RateScope::Email, &rate_key, CODES_PER_EMAIL).await?;
    let now = ctx.clock.now();
    let code = super::access::new_code(ctx);
    let mut change = EmailChange {
        practice_id: member.practice_id.clone(),
        member_id: member.id.clone(),
        new_email: new.clone(),
        requested_by: caller.member_id.clone(),
        code: OneTimeCode::new(String::new(), now),
        version: 0,
    };
    change.code.code_hash = email_code_hash(ctx, &change, &code)?;
    ctx.store.put_email_change(&change).await?;
    ctx.mailer()?
        .send(Mail {
            to: new.clone(),
            subject: format!("{code} confirms your new email for {}", practice.name),
            body: format!(
                "Enter this code in the {} member portal to use this address for {}:\n\n    {code}\n\n\
                 It works once, for 10 minutes. If you did not ask for this, ignore this message: \
                 nothing changes without the code.",
                practice.name, member.first_name
            ),
        })
        .await?;
    Ok(PendingEmail { email: change.new_email, expires_at: change.code.expires_at })
}

/// Confirms a new email address with the code sent to it; the old address is told.
pub async fn confirm_email(
    ctx: &Ctx,
    caller: &Caller,
    target: &MemberId,
    code: &str,
    client: &ClientInfo,
) -> Result<MemberView> {
    let code = normalise_code(code).ok_or_else(|| Error::field("code", "must be the 6-digit code from the email"))?;
    for _ in 0..RETRIES {
        let (practice, current) = editable(ctx, caller, target).await?;
        let now = ctx.clock.now();
        let change = ctx
            .store
            .get_email_change(&caller.practice_id, target)
            .await?
            .ok_or(Error::Code(CodeRejection::Expired))?;
        let right = constant_time_eq(&email_code_hash(ctx, &change, &code)?, &change.code.code_hash);
        let (code_state, check) = change.code.check(right, now);
        if check != CodeCheck::Accepted {
            let next = EmailChange { code: code_state, version: change.version + 1, ..change.clone() };
            match ctx.store.update_email_change(&next).await {
                Ok(()) => {}
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
            return Err(Error::Code(match check {
                CodeCheck::Wrong { remaining } => CodeRejection::Wrong { remaining },
                CodeCheck::Locked => CodeRejection::Locked,
                CodeCheck::AlreadyUsed => CodeRejection::Used,
                _ => CodeRejection::Expired,
            }));
        }
        let (next, changed) = apply_email(&current, &change.new_email, now);
        let audit = audit_events(ctx, caller, target, vec![changed], client);
        match ctx.store.complete_email_change(&next, &current, &change, &audit).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
        if let Some(old) = current.email.filter(|old| old != &change.new_email) {
            ctx.mailer()?
                .send(Mail {
                    to: old,
                    subject: format!("Your email address at {} was changed", practice.name),
                    body: format!(
                        "The email address on file for {} at {} was changed to {}. Codes for the member \
                         portal now go there.\n\nIf you did not make this change, call {} or write to {} right away.",
                        current.first_name,
                        practice.name,
                        change.new_email.masked(),
                        practice.contact_phone.as_str(),
                        practice.contact_email.as_str()
                    ),
                })
                .await?;
        }
        return Ok(next.into());
    }
    Err(Error::Conflict("the member was changed by another request; reload and try again".into()))
}

/// `{ "insurance": {…} }` to set, `{ "insurance": null }` for no insurance.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InsuranceBody {
    #[serde(deserialize_with = "present")]
    #[schema(value_type = Option<crate::domain::contact::InsuranceInput>)]
    pub insurance: Option<Option<crate::domain::contact::InsuranceInput>>,
}

/// Sets a member's insurance, or records that they have none.
pub async fn set_insurance(
    ctx: &Ctx,
    caller: &Caller,
    target: &MemberId,
    body: InsuranceBody,
    client: &ClientInfo,
) -> Result<MemberView> {
    let insurance = match body.insurance {
        None => return Err(Error::field("insurance", "is required: the insurance, or null for none")),
        Some(None) => None,
        Some(Some(i)) => Some(
            Insurance::parse(&i)
                .map_err(|e| Error::Validation(e.into_iter().map(|f| f.under("insurance")).collect()))?,
        ),
    };
    for _ in 0..RETRIES {
        let (_, current) = editable(ctx, caller, target).await?;
        let (next, changes) = apply_insurance(&current, insurance.clone(), ctx.clock.now());
        if changes.is_empty() {
            return Ok(next.into());
        }
        let audit = audit_events(ctx, caller, target, changes, client);
        match ctx.store.save_member(&next, Some(&current), &audit).await {
            Ok(()) => return Ok(next.into()),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict("the member was changed by another request; reload and try again".into()))
}

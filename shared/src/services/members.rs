//! The signed-in member's own view of themselves and their practice.

use serde::Serialize;
use time::Date;

use super::{Caller, Ctx, Error, Result};
use crate::domain::contact::{Address, Email, Insurance, Phone};
use crate::domain::ids::{MemberId, PracticeId};
use crate::domain::member::Member;
use crate::domain::practice::Practice;

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
    let practice = ctx.store.get_practice(&caller.practice_id).await?.ok_or(Error::NotFound("practice"))?;
    let today = practice.today(ctx.clock.now());
    let owns_current = ctx
        .store
        .memberships_of(&caller.practice_id, &caller.member_id)
        .await?
        .iter()
        .any(|m| m.is_owner(&caller.member_id) && m.is_current(today));
    Ok(Me {
        member: member.into(),
        practice: practice.into(),
        permissions: Permissions {
            view_memberships: true,
            manage_household: owns_current,
            edit_name_and_date_of_birth: false,
        },
    })
}

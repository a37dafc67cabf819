//! The memberships page.

use serde::Serialize;
use time::Date;

use super::{Caller, Ctx, Error, Result};
use crate::domain::ids::{MemberId, MembershipId};
use crate::domain::membership::{BillingPeriod, Membership, MembershipStatus};
use crate::domain::money::Money;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EnrolledMember {
    pub member_id: MemberId,
    pub first_name: String,
    pub last_name: String,
    #[serde(with = "crate::domain::date_format::iso")]
    #[schema(value_type = String, format = Date)]
    pub start_date: Date,
    #[serde(with = "crate::domain::date_format::iso::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub end_date: Option<Date>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MembershipView {
    pub id: MembershipId,
    pub plan_name: String,
    pub status: MembershipStatus,
    pub owner: EnrolledMemberRef,
    /// True when the signed-in member owns this membership.
    pub is_owner: bool,
    pub members: Vec<EnrolledMember>,
    pub amount: Money,
    #[schema(value_type = String, example = "USD")]
    pub currency: String,
    pub billing_period: BillingPeriod,
    #[serde(with = "crate::domain::date_format::iso::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub next_bill_date: Option<Date>,
    #[serde(with = "crate::domain::date_format::iso")]
    #[schema(value_type = String, format = Date)]
    pub start_date: Date,
    #[serde(with = "crate::domain::date_format::iso::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub end_date: Option<Date>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EnrolledMemberRef {
    pub member_id: MemberId,
    pub first_name: String,
    pub last_name: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Memberships {
    /// Memberships in force (active, paused or starting soon), newest first.
    pub current: Vec<MembershipView>,
    /// Ended or cancelled memberships, and those the member has left, most recent first.
    pub previous: Vec<MembershipView>,
}

/// The member's current and previous memberships.
pub async fn list(ctx: &Ctx, caller: &Caller) -> Result<Memberships> {
    let practice = ctx.store.get_practice(&caller.practice_id).await?.ok_or(Error::NotFound("practice"))?;
    let today = practice.today(ctx.clock.now());
    let memberships = ctx.store.memberships_of(&caller.practice_id, &caller.member_id).await?;

    let mut ids: Vec<MemberId> = memberships.iter().flat_map(Membership::participants).collect();
    ids.sort();
    ids.dedup();
    let people = ctx.store.get_members(&caller.practice_id, &ids).await?;
    let name = |id: &MemberId| {
        people.iter().find(|p| &p.id == id).map(|p| (p.first_name.clone(), p.last_name.clone())).unwrap_or_default()
    };

    let mut current = Vec::new();
    let mut previous = Vec::new();
    for m in memberships {
        let is_owner = m.is_owner(&caller.member_id);
        // A member who left a membership that goes on sees it among their previous ones.
        let still_enrolled =
            m.enrollments.iter().any(|e| e.member_id == caller.member_id && e.end_date.is_none_or(|end| end >= today));
        let is_current = m.is_current(today) && (is_owner || still_enrolled);
        let (first, last) = name(&m.owner_id);
        let view = MembershipView {
            id: m.id,
            plan_name: m.plan_name,
            status: m.status,
            owner: EnrolledMemberRef { member_id: m.owner_id, first_name: first, last_name: last },
            is_owner,
            members: m
                .enrollments
                .into_iter()
                .map(|e| {
                    let (first_name, last_name) = name(&e.member_id);
                    EnrolledMember {
                        member_id: e.member_id,
                        first_name,
                        last_name,
                        start_date: e.start_date,
                        end_date: e.end_date,
                    }
                })
                .collect(),
            amount: m.amount,
            currency: practice.currency.as_str().to_owned(),
            billing_period: m.billing_period,
            next_bill_date: m.next_bill_date,
            start_date: m.start_date,
            end_date: m.end_date,
        };
        if is_current {
            current.push(view);
        } else {
            previous.push(view);
        }
    }
    current.sort_by(|a, b| b.start_date.cmp(&a.start_date).then(a.id.cmp(&b.id)));
    previous.sort_by(|a, b| b.end_date.cmp(&a.end_date).then(b.start_date.cmp(&a.start_date)));
    Ok(Memberships { current, previous })
}

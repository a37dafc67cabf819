//! Who may see and edit whose details, and what a contact change changes.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{Date, OffsetDateTime};

use super::access::OneTimeCode;
use super::contact::{Address, Email, Insurance, Phone};
use super::ids::{MemberId, PracticeId};
use super::member::Member;
use super::membership::Membership;

/// The members `caller` may see and edit: themselves, and everyone currently
/// enrolled in a current membership the caller owns. Caller first.
pub fn household(caller: &MemberId, memberships: &[Membership], today: Date) -> Vec<MemberId> {
    let mut ids = vec![caller.clone()];
    for m in memberships.iter().filter(|m| m.is_owner(caller) && m.is_current(today)) {
        for e in &m.enrollments {
            let still_on = e.end_date.is_none_or(|end| end >= today);
            if still_on && !ids.contains(&e.member_id) {
                ids.push(e.member_id.clone());
            }
        }
    }
    ids
}

/// One changed field, for the audit feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: &'static str,
    pub old_value: Value,
    pub new_value: Value,
}

fn change<T: Serialize + PartialEq>(field: &'static str, old: &T, new: &T) -> Option<FieldChange> {
    (old != new).then(|| FieldChange {
        field,
        old_value: serde_json::to_value(old).unwrap_or(Value::Null),
        new_value: serde_json::to_value(new).unwrap_or(Value::Null),
    })
}

/// Contact details a member may change themselves (email goes through confirmation instead).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactUpdate {
    pub phones: Option<Vec<Phone>>,
    /// `Some(None)` clears the address.
    pub address: Option<Option<Address>>,
}

impl ContactUpdate {
    /// The member after the update, and what changed (nothing when the values are the same).
    pub fn apply(&self, member: &Member, now: OffsetDateTime) -> (Member, Vec<FieldChange>) {
        let mut next = member.clone();
        let mut changes = Vec::new();
        if let Some(phones) = &self.phones {
            changes.extend(change("phones", &member.phones, phones));
            next.phones = phones.clone();
        }
        if let Some(address) = &self.address {
            changes.extend(change("address", &member.address, address));
            next.address = address.clone();
        }
        if !changes.is_empty() {
            next.version += 1;
            next.updated_at = now;
        }
        (next, changes)
    }
}

/// Sets or clears insurance; returns the member after and what changed.
pub fn apply_insurance(
    member: &Member,
    insurance: Option<Insurance>,
    now: OffsetDateTime,
) -> (Member, Vec<FieldChange>) {
    let changes: Vec<FieldChange> = change("insurance", &member.insurance, &insurance).into_iter().collect();
    let mut next = member.clone();
    if !changes.is_empty() {
        next.insurance = insurance;
        next.version += 1;
        next.updated_at = now;
    }
    (next, changes)
}

/// A new email address waiting for its code. The sign-in address changes only
/// once the new mailbox proves it receives mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailChange {
    pub practice_id: PracticeId,
    pub member_id: MemberId,
    pub new_email: Email,
    /// Who asked for it (the member, or their membership's owner).
    pub requested_by: MemberId,
    #[serde(flatten)]
    pub code: OneTimeCode,
    pub version: u64,
}

/// Applies a confirmed email change; returns the member after and the change.
pub fn apply_email(member: &Member, email: &Email, now: OffsetDateTime) -> (Member, FieldChange) {
    let mut next = member.clone();
    next.email = Some(email.clone());
    next.version += 1;
    next.updated_at = now;
    let changed = FieldChange {
        field: "email",
        old_value: serde_json::to_value(&member.email).unwrap_or(Value::Null),
        new_value: Value::String(email.as_str().to_owned()),
    };
    (next, changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::{PhoneKind, PhoneNumber};
    use crate::domain::ids::MembershipId;
    use crate::domain::membership::{BillingPeriod, Enrollment, MembershipStatus};
    use crate::domain::money::Money;
    use time::macros::{date, datetime};

    fn id(s: &str) -> MemberId {
        MemberId::parse(s).unwrap()
    }

    fn membership(
        owner: &str,
        enrolled: &[(&str, Option<Date>)],
        status: MembershipStatus,
        end: Option<Date>,
    ) -> Membership {
        Membership {
            id: MembershipId::parse("msh_a").unwrap(),
            practice_id: PracticeId::parse("prc_a").unwrap(),
            external_id: None,
            plan_name: "Plan".into(),
            status,
            owner_id: id(owner),
            enrollments: enrolled
                .iter()
                .map(|(m, e)| Enrollment { member_id: id(m), start_date: date!(2025 - 01 - 01), end_date: *e })
                .collect(),
            amount: Money::parse("10").unwrap(),
            billing_period: BillingPeriod::Monthly,
            next_bill_date: None,
            start_date: date!(2025 - 01 - 01),
            end_date: end,
            created_at: datetime!(2025-01-01 0:00 UTC),
            updated_at: datetime!(2025-01-01 0:00 UTC),
            version: 1,
        }
    }

    const TODAY: Date = date!(2026 - 06 - 01);

    #[test]
    fn an_owner_reaches_everyone_currently_on_their_current_memberships() {
        let ms = [
            membership(
                "mbr_o",
                &[("mbr_o", None), ("mbr_s", None), ("mbr_left", Some(date!(2026 - 01 - 31)))],
                MembershipStatus::Active,
                None,
            ),
            membership("mbr_o", &[("mbr_ex", None)], MembershipStatus::Ended, Some(date!(2025 - 12 - 31))),
        ];
        assert_eq!(household(&id("mbr_o"), &ms, TODAY), [id("mbr_o"), id("mbr_s")]);
    }

    #[test]
    fn a_member_who_does_not_own_reaches_only_themselves() {
        let ms = [membership("mbr_o", &[("mbr_o", None), ("mbr_s", None)], MembershipStatus::Active, None)];
        assert_eq!(household(&id("mbr_s"), &ms, TODAY), [id("mbr_s")]);
    }

    fn member() -> Member {
        Member {
            id: id("mbr_a"),
            practice_id: PracticeId::parse("prc_a").unwrap(),
            external_id: None,
            first_name: "A".into(),
            last_name: "B".into(),
            date_of_birth: date!(1990 - 01 - 01),
            email: None,
            phones: vec![],
            address: None,
            insurance: None,
            created_at: datetime!(2025-01-01 0:00 UTC),
            updated_at: datetime!(2025-01-01 0:00 UTC),
            version: 3,
        }
    }

    #[test]
    fn a_contact_update_reports_only_what_changed() {
        let phone = Phone { kind: PhoneKind::Mobile, number: PhoneNumber::parse("+15125550123").unwrap() };
        let update = ContactUpdate { phones: Some(vec![phone]), address: Some(None) };
        let (next, changes) = update.apply(&member(), datetime!(2026-01-01 0:00 UTC));
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].field, "phones");
        assert_eq!(next.version, 4);
        let (same, none) = ContactUpdate { phones: Some(next.phones.clone()), address: None }
            .apply(&next, datetime!(2026-01-02 0:00 UTC));
        assert!(none.is_empty());
        assert_eq!(same.version, 4);
    }

    #[test]
    fn clearing_insurance_is_a_change_and_clearing_again_is_not() {
        let mut m = member();
        m.insurance = Some(Insurance {
            provider: "X".into(),
            policy_number: "1".into(),
            group_number: None,
            subscriber_id: None,
        });
        let (cleared, changes) = apply_insurance(&m, None, datetime!(2026-01-01 0:00 UTC));
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].new_value, Value::Null);
        assert!(apply_insurance(&cleared, None, datetime!(2026-01-01 0:00 UTC)).1.is_empty());
    }
}

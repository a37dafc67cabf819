//! Memberships: a plan one owner pays for, with one or more enrolled members.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use super::ids::{MemberId, MembershipId, PracticeId};
use super::money::Money;
use super::{date, date_format, text, FieldError, Fields};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MembershipStatus {
    /// Starts on a future date.
    Pending,
    Active,
    /// Temporarily not billed; still current.
    Paused,
    /// Cancelled before its natural end.
    Cancelled,
    Ended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BillingPeriod {
    Monthly,
    Quarterly,
    Annually,
}

/// One member's place on a membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrollment {
    pub member_id: MemberId,
    #[serde(with = "date_format::iso")]
    pub start_date: Date,
    #[serde(default, with = "date_format::iso::option", skip_serializing_if = "Option::is_none")]
    pub end_date: Option<Date>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub id: MembershipId,
    pub practice_id: PracticeId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub plan_name: String,
    pub status: MembershipStatus,
    /// The member who holds and pays for the membership.
    pub owner_id: MemberId,
    pub enrollments: Vec<Enrollment>,
    /// What one billing period costs.
    pub amount: Money,
    pub billing_period: BillingPeriod,
    #[serde(default, with = "date_format::iso::option", skip_serializing_if = "Option::is_none")]
    pub next_bill_date: Option<Date>,
    #[serde(with = "date_format::iso")]
    pub start_date: Date,
    #[serde(default, with = "date_format::iso::option", skip_serializing_if = "Option::is_none")]
    pub end_date: Option<Date>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: u64,
}

impl Membership {
    /// Current memberships are shown first; the rest are "previous".
    pub fn is_current(&self, today: Date) -> bool {
        let live =
            matches!(self.status, MembershipStatus::Active | MembershipStatus::Pending | MembershipStatus::Paused);
        live && self.end_date.is_none_or(|end| end >= today)
    }

    /// Everyone who may see this membership: the owner and every enrolled member.
    pub fn participants(&self) -> Vec<MemberId> {
        let mut ids = vec![self.owner_id.clone()];
        for e in &self.enrollments {
            if !ids.contains(&e.member_id) {
                ids.push(e.member_id.clone());
            }
        }
        ids
    }

    pub fn is_owner(&self, member: &MemberId) -> bool {
        &self.owner_id == member
    }
}

/// An enrollment as a request carries it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentInput {
    pub member_id: String,
    /// `YYYY-MM-DD`; defaults to the membership's start date.
    #[serde(default)]
    pub start_date: Option<String>,
    #[serde(default)]
    pub end_date: Option<String>,
}

/// Everything the practice sets about a membership through the admin API.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembershipInput {
    #[serde(default)]
    pub external_id: Option<String>,
    pub plan_name: String,
    pub status: MembershipStatus,
    pub owner_id: String,
    pub enrollments: Vec<EnrollmentInput>,
    /// Decimal string, e.g. `"79.00"`.
    pub amount: String,
    pub billing_period: BillingPeriod,
    #[serde(default)]
    pub next_bill_date: Option<String>,
    pub start_date: String,
    #[serde(default)]
    pub end_date: Option<String>,
}

/// A validated `MembershipInput` (member ids are checked against the store by the service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipDetails {
    pub external_id: Option<String>,
    pub plan_name: String,
    pub status: MembershipStatus,
    pub owner_id: MemberId,
    pub enrollments: Vec<Enrollment>,
    pub amount: Money,
    pub billing_period: BillingPeriod,
    pub next_bill_date: Option<Date>,
    pub start_date: Date,
    pub end_date: Option<Date>,
}

fn optional_date(f: &mut Fields, name: &str, v: &Option<String>) -> Option<Option<Date>> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Some(None),
        Some(s) => f.take(name, date(s)).map(Some),
    }
}

impl MembershipDetails {
    pub fn parse(input: &MembershipInput) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new();
        let external_id = match input.external_id.as_deref().map(str::trim) {
            None | Some("") => Some(None),
            Some(e) => f.take("external_id", text(e, 64)).map(Some),
        };
        let plan_name = f.take("plan_name", text(&input.plan_name, 120));
        let owner_id = f.take("owner_id", MemberId::parse(input.owner_id.trim()));
        let amount = f.take("amount", Money::parse(&input.amount));
        let start = f.take("start_date", date(&input.start_date));
        let end = optional_date(&mut f, "end_date", &input.end_date);
        let next_bill = optional_date(&mut f, "next_bill_date", &input.next_bill_date);

        if let (Some(s), Some(Some(e))) = (start, end) {
            if e < s {
                f.push(FieldError::new("end_date", "must not be before start_date"));
            }
        }
        let ended = matches!(input.status, MembershipStatus::Ended | MembershipStatus::Cancelled);
        if ended && matches!(end, Some(None)) {
            f.push(FieldError::new("end_date", "is required when the membership has ended or was cancelled"));
        }
        if ended && matches!(next_bill, Some(Some(_))) {
            f.push(FieldError::new("next_bill_date", "must be empty when the membership has ended or was cancelled"));
        }
        if input.enrollments.is_empty() {
            f.push(FieldError::new("enrollments", "must enrol at least one member"));
        }
        let mut enrollments: Vec<Enrollment> = Vec::with_capacity(input.enrollments.len());
        for (i, e) in input.enrollments.iter().enumerate() {
            let at = |field: &str| format!("enrollments[{i}].{field}");
            let member_id = f.take(&at("member_id"), MemberId::parse(e.member_id.trim()));
            let e_start = match e.start_date.as_deref().map(str::trim) {
                None | Some("") => start.map(Some),
                Some(s) => f.take(&at("start_date"), date(s)).map(Some),
            };
            let e_end = optional_date(&mut f, &at("end_date"), &e.end_date);
            if let (Some(Some(es)), Some(s)) = (e_start, start) {
                if es < s {
                    f.push(FieldError::new(at("start_date"), "must not be before the membership's start_date"));
                }
            }
            if let (Some(Some(es)), Some(Some(ee))) = (e_start, e_end) {
                if ee < es {
                    f.push(FieldError::new(at("end_date"), "must not be before its start_date"));
                }
            }
            if let (Some(id), Some(Some(start_date)), Some(end_date)) = (member_id, e_start, e_end) {
                if enrollments.iter().any(|x| x.member_id == id) {
                    f.push(FieldError::new(at("member_id"), "is enrolled twice"));
                } else {
                    enrollments.push(Enrollment { member_id: id, start_date, end_date });
                }
            }
        }
        match (external_id, plan_name, owner_id, amount, start, end, next_bill) {
            (
                Some(external_id),
                Some(plan_name),
                Some(owner_id),
                Some(amount),
                Some(start_date),
                Some(end_date),
                Some(next_bill_date),
            ) if f.is_empty() => Ok(MembershipDetails {
                external_id,
                plan_name,
                status: input.status,
                owner_id,
                enrollments,
                amount,
                billing_period: input.billing_period,
                next_bill_date,
                start_date,
                end_date,
            }),
            _ => Err(f.finish().expect_err("a field failed")),
        }
    }

    pub fn into_membership(
        self,
        id: MembershipId,
        practice_id: PracticeId,
        created_at: OffsetDateTime,
        now: OffsetDateTime,
        version: u64,
    ) -> Membership {
        Membership {
            id,
            practice_id,
            external_id: self.external_id,
            plan_name: self.plan_name,
            status: self.status,
            owner_id: self.owner_id,
            enrollments: self.enrollments,
            amount: self.amount,
            billing_period: self.billing_period,
            next_bill_date: self.next_bill_date,
            start_date: self.start_date,
            end_date: self.end_date,
            created_at,
            updated_at: now,
            version,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn input() -> MembershipInput {
        MembershipInput {
            external_id: None,
            plan_name: "Family Plan".into(),
            status: MembershipStatus::Active,
            owner_id: "mbr_owner".into(),
            enrollments: vec![
                EnrollmentInput { member_id: "mbr_owner".into(), start_date: None, end_date: None },
                EnrollmentInput {
                    member_id: "mbr_child".into(),
                    start_date: Some("2026-02-01".into()),
                    end_date: None,
                },
            ],
            amount: "129.00".into(),
            billing_period: BillingPeriod::Monthly,
            next_bill_date: Some("2027-01-01".into()),
            start_date: "2026-01-01".into(),
            end_date: None,
        }
    }

    fn build(i: &MembershipInput) -> Membership {
        MembershipDetails::parse(i).unwrap().into_membership(
            MembershipId::parse("msh_a").unwrap(),
            PracticeId::parse("prc_a").unwrap(),
            datetime!(2026-01-01 0:00 UTC),
            datetime!(2026-01-01 0:00 UTC),
            1,
        )
    }

    #[test]
    fn enrollments_default_to_the_membership_start() {
        let m = build(&input());
        assert_eq!(m.enrollments[0].start_date, date!(2026 - 01 - 01));
        assert_eq!(m.enrollments[1].start_date, date!(2026 - 02 - 01));
        assert_eq!(m.participants().len(), 2);
    }

    #[test]
    fn current_means_live_and_not_past_its_end() {
        let mut i = input();
        assert!(build(&i).is_current(date!(2026 - 06 - 01)));
        i.status = MembershipStatus::Ended;
        i.end_date = Some("2026-05-31".into());
        i.next_bill_date = None;
        assert!(!build(&i).is_current(date!(2026 - 06 - 01)));
        i.status = MembershipStatus::Active;
        assert!(build(&i).is_current(date!(2026 - 05 - 31)));
        assert!(!build(&i).is_current(date!(2026 - 06 - 01)));
    }

    #[test]
    fn inconsistent_dates_and_duplicates_are_rejected() {
        let mut i = input();
        i.end_date = Some("2025-12-31".into());
        i.status = MembershipStatus::Ended;
        i.enrollments.push(EnrollmentInput {
            member_id: "mbr_child".into(),
            start_date: Some("2025-01-01".into()),
            end_date: None,
        });
        let errors = MembershipDetails::parse(&i).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["end_date", "next_bill_date", "enrollments[2].start_date", "enrollments[2].member_id"]);
    }

    #[test]
    fn a_membership_needs_members_and_a_valid_amount() {
        let mut i = input();
        i.enrollments.clear();
        i.amount = "12.345".into();
        let errors = MembershipDetails::parse(&i).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["amount", "enrollments"]);
    }
}

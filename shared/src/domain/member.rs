//! Members (patients). Name and date of birth are the practice's to change:
//! pricing depends on age, and names flow to clinical systems.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use super::contact::{
    Address, AddressInput, Email, Insurance, InsuranceInput, Phone, PhoneKind, PhoneNumber, MAX_PHONES,
};
use super::ids::{MemberId, PracticeId};
use super::{date, date_format, text, FieldError, Fields};

/// Age at which a member signs for themselves.
pub const AGE_OF_MAJORITY: i32 = 18;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: MemberId,
    pub practice_id: PracticeId,
    /// The practice system's own id for this patient, if it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub first_name: String,
    pub last_name: String,
    #[serde(with = "date_format::iso")]
    pub date_of_birth: Date,
    /// The address codes are sent to. Family members may share one; a young child may have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    #[serde(default)]
    pub phones: Vec<Phone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insurance: Option<Insurance>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Optimistic-concurrency token: every write checks and bumps it.
    pub version: u64,
}

impl Member {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }

    /// Whole years of age on `on`.
    pub fn age_on(&self, on: Date) -> i32 {
        let mut age = on.year() - self.date_of_birth.year();
        if (on.month() as u8, on.day()) < (self.date_of_birth.month() as u8, self.date_of_birth.day()) {
            age -= 1;
        }
        age
    }

    pub fn is_minor_on(&self, on: Date) -> bool {
        self.age_on(on) < AGE_OF_MAJORITY
    }
}

/// A phone as a request carries it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneInput {
    pub kind: PhoneKind,
    pub number: String,
}

/// Parses a list of phones: each valid, at most `MAX_PHONES`, no number twice.
pub fn parse_phones(input: &[PhoneInput]) -> Result<Vec<Phone>, Vec<FieldError>> {
    let mut f = Fields::new();
    if input.len() > MAX_PHONES {
        f.push(FieldError::new("", format!("must hold at most {MAX_PHONES} numbers")));
    }
    let mut phones: Vec<Phone> = Vec::with_capacity(input.len());
    for (i, p) in input.iter().enumerate() {
        if let Some(number) = f.take(&format!("[{i}].number"), PhoneNumber::parse(&p.number)) {
            if phones.iter().any(|q| q.number == number) {
                f.push(FieldError::new(format!("[{i}].number"), "is listed twice"));
            }
            phones.push(Phone { kind: p.kind, number });
        }
    }
    f.finish().map(|()| phones)
}

/// Everything the practice sets about a patient through the admin API.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientInput {
    #[serde(default)]
    pub external_id: Option<String>,
    pub first_name: String,
    pub last_name: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phones: Vec<PhoneInput>,
    #[serde(default)]
    pub address: Option<AddressInput>,
    #[serde(default)]
    pub insurance: Option<InsuranceInput>,
}

/// A validated `PatientInput`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientDetails {
    pub external_id: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub date_of_birth: Date,
    pub email: Option<Email>,
    pub phones: Vec<Phone>,
    pub address: Option<Address>,
    pub insurance: Option<Insurance>,
}

impl PatientDetails {
    pub fn parse(input: &PatientInput, today: Date) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new();
        let external_id = match input.external_id.as_deref().map(str::trim) {
            None | Some("") => Some(None),
            Some(e) => f.take("external_id", text(e, 64)).map(Some),
        };
        let first_name = f.take("first_name", text(&input.first_name, 60));
        let last_name = f.take("last_name", text(&input.last_name, 60));
        let dob = f.take(
            "date_of_birth",
            date(&input.date_of_birth).and_then(|d| {
                if d > today {
                    Err(FieldError::new("", "must not be in the future"))
                } else if today.year() - d.year() > 130 {
                    Err(FieldError::new("", "is too far in the past"))
                } else {
                    Ok(d)
                }
            }),
        );
        let email = match input.email.as_deref().map(str::trim) {
            None | Some("") => Some(None),
            Some(e) => f.take("email", Email::parse(e)).map(Some),
        };
        let phones = f.take_all("phones", parse_phones(&input.phones));
        let address = match &input.address {
            None => Some(None),
            Some(a) => f.take_all("address", Address::parse(a)).map(Some),
        };
        let insurance = match &input.insurance {
            None => Some(None),
            Some(i) => f.take_all("insurance", Insurance::parse(i)).map(Some),
        };
        match (external_id, first_name, last_name, dob, email, phones, address, insurance) {
            (
                Some(external_id),
                Some(first_name),
                Some(last_name),
                Some(date_of_birth),
                Some(email),
                Some(phones),
                Some(address),
                Some(insurance),
            ) if f.is_empty() => Ok(PatientDetails {
                external_id,
                first_name,
                last_name,
                date_of_birth,
                email,
                phones,
                address,
                insurance,
            }),
            _ => Err(f.finish().expect_err("a field failed")),
        }
    }

    /// A new member from these details.
    pub fn into_member(self, id: MemberId, practice_id: PracticeId, now: OffsetDateTime) -> Member {
        Member {
            id,
            practice_id,
            external_id: self.external_id,
            first_name: self.first_name,
            last_name: self.last_name,
            date_of_birth: self.date_of_birth,
            email: self.email,
            phones: self.phones,
            address: self.address,
            insurance: self.insurance,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    /// Applies these details to an existing member, keeping its identity and history.
    pub fn apply_to(self, member: &Member, now: OffsetDateTime) -> Member {
        Member {
            updated_at: now,
            version: member.version + 1,
            ..self.into_member(member.id.clone(), member.practice_id.clone(), member.created_at)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn input() -> PatientInput {
        PatientInput {
            external_id: Some("EHR-1".into()),
            first_name: "Ann".into(),
            last_name: "Lee".into(),
            date_of_birth: "1990-05-17".into(),
            email: Some("ann@example.com".into()),
            phones: vec![PhoneInput { kind: PhoneKind::Mobile, number: "512-555-0123".into() }],
            address: None,
            insurance: None,
        }
    }

    #[test]
    fn a_valid_patient_parses() {
        let d = PatientDetails::parse(&input(), date!(2026 - 12 - 04)).unwrap();
        assert_eq!(d.phones[0].number.as_str(), "+15125550123");
        let id = MemberId::parse("mbr_a").unwrap();
        let pid = PracticeId::parse("prc_a").unwrap();
        let m = d.into_member(id, pid, datetime!(2026-12-04 0:00 UTC));
        assert_eq!(m.version, 1);
        assert_eq!(m.full_name(), "Ann Lee");
    }

    #[test]
    fn every_bad_field_is_reported() {
        let mut bad = input();
        bad.first_name = " ".into();
        bad.date_of_birth = "2030-01-01".into();
        bad.email = Some("nope".into());
        bad.phones.push(PhoneInput { kind: PhoneKind::Home, number: "(512) 555-0123".into() });
        let errors = PatientDetails::parse(&bad, date!(2026 - 12 - 04)).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["first_name", "date_of_birth", "email", "phones[1].number"]);
    }

    #[test]
    fn age_counts_whole_years() {
        let d = PatientDetails::parse(&input(), date!(2026 - 12 - 04)).unwrap();
        let m = d.into_member(
            MemberId::parse("mbr_a").unwrap(),
            PracticeId::parse("prc_a").unwrap(),
            datetime!(2026-12-04 0:00 UTC),
        );
        assert_eq!(m.age_on(date!(2008 - 05 - 16)), 17);
        assert_eq!(m.age_on(date!(2008 - 05 - 17)), 18);
        assert!(!m.is_minor_on(date!(2026 - 12 - 04)));
    }
}

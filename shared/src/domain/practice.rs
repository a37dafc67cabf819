//! The practice: the tenant every other record belongs to.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use super::contact::{Email, PhoneNumber};
use super::ids::PracticeId;
use super::money::Currency;
use super::{text, FieldError, Fields};

/// An IANA time zone name such as `America/Chicago`; the practice's "today" follows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "America/Chicago")]
pub struct TimeZoneName(String);

impl TimeZoneName {
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        let v = value.trim();
        if !v.is_empty() && v.len() <= 64 && jiff::tz::TimeZone::get(v).is_ok() {
            Ok(Self(v.to_owned()))
        } else {
            Err(FieldError::new("", "must be an IANA time zone such as America/Chicago"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The calendar date at `now` in this zone.
    pub fn date_at(&self, now: OffsetDateTime) -> Date {
        let zone = jiff::tz::TimeZone::get(&self.0).unwrap_or(jiff::tz::TimeZone::UTC);
        let local = jiff::Timestamp::from_second(now.unix_timestamp())
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
            .to_zoned(zone)
            .date();
        let month = time::Month::try_from(local.month() as u8).unwrap_or(time::Month::January);
        Date::from_calendar_date(local.year().into(), month, local.day() as u8).unwrap_or(now.date())
    }
}

impl TryFrom<String> for TimeZoneName {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        TimeZoneName::parse(&value).map_err(|e| e.message)
    }
}

impl From<TimeZoneName> for String {
    fn from(t: TimeZoneName) -> String {
        t.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Practice {
    pub id: PracticeId,
    pub name: String,
    pub time_zone: TimeZoneName,
    pub currency: Currency,
    /// Where members are sent when something must be changed by the practice.
    pub contact_phone: PhoneNumber,
    pub contact_email: Email,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The fields of a new practice, as given on the command line or by an operator.
#[derive(Debug, Clone, Deserialize)]
pub struct PracticeInput {
    pub name: String,
    pub time_zone: String,
    pub currency: String,
    pub contact_phone: String,
    pub contact_email: String,
}

impl Practice {
    pub fn parse(id: PracticeId, input: &PracticeInput, now: OffsetDateTime) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new();
        let name = f.take("name", text(&input.name, 120));
        let time_zone = f.take("time_zone", TimeZoneName::parse(&input.time_zone));
        let currency = f.take("currency", Currency::parse(&input.currency));
        let phone = f.take("contact_phone", PhoneNumber::parse(&input.contact_phone));
        let email = f.take("contact_email", Email::parse(&input.contact_email));
        match (name, time_zone, currency, phone, email) {
            (Some(name), Some(time_zone), Some(currency), Some(contact_phone), Some(contact_email)) => {
                Ok(Practice { id, name, time_zone, currency, contact_phone, contact_email, created_at: now })
            }
            _ => Err(f.finish().expect_err("a field failed")),
        }
    }

    /// The practice's calendar date at `now`.
    pub fn today(&self, now: OffsetDateTime) -> Date {
        self.time_zone.date_at(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn time_zones_must_exist() {
        assert!(TimeZoneName::parse("America/Chicago").is_ok());
        assert!(TimeZoneName::parse("Mars/Olympus").is_err());
        assert!(TimeZoneName::parse("").is_err());
    }

    #[test]
    fn today_follows_the_practice_time_zone() {
        let tz = TimeZoneName::parse("America/Chicago").unwrap();
        // 03:00 UTC on the 2nd is still the evening of the 1st in Chicago.
        assert_eq!(tz.date_at(datetime!(2026-03-02 03:00 UTC)), date!(2026 - 03 - 01));
        assert_eq!(tz.date_at(datetime!(2026-03-02 07:00 UTC)), date!(2026 - 03 - 02));
    }

    #[test]
    fn a_practice_reports_every_bad_field() {
        let input = PracticeInput {
            name: "".into(),
            time_zone: "Nowhere".into(),
            currency: "usd".into(),
            contact_phone: "12".into(),
            contact_email: "x".into(),
        };
        let id = PracticeId::parse("prc_demo").unwrap();
        let errors = Practice::parse(id, &input, datetime!(2026-01-01 0:00 UTC)).unwrap_err();
        assert_eq!(errors.len(), 5);
    }
}

//! Contact and insurance value types. Each is valid by construction.

use serde::{Deserialize, Serialize};

use super::{text, FieldError, Fields};

/// An email address, normalised to lowercase so lookups and comparisons agree.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, format = Email, example = "ann@example.com")]
pub struct Email(String);

impl Email {
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        let v = value.trim().to_ascii_lowercase();
        let bad = || FieldError::new("", "must be an email address like name@example.com");
        if v.len() > 254 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = v.split_once('@').ok_or_else(bad)?;
        if local.is_empty() || local.len() > 64 || domain.contains('@') {
            return Err(bad());
        }
        let local_ok =
            local.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c) || !c.is_ascii())
                && !local.starts_with('.')
                && !local.ends_with('.')
                && !local.contains("..");
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
            })
            && labels.last().is_some_and(|tld| tld.len() >= 2);
        if local_ok && domain_ok {
            Ok(Self(v))
        } else {
            Err(bad())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A hint that shows a person which mailbox was used without spelling it out: `a•••@example.com`.
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.split_once('@').unwrap_or((&self.0, ""));
        let first: String = local.chars().take(1).collect();
        format!("{first}•••@{domain}")
    }
}

impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Email::parse(&value).map_err(|e| e.message)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

/// What a phone number is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PhoneKind {
    Mobile,
    Home,
    Work,
    Other,
}

/// A phone number in E.164 form (`+15125550123`), validated against the
/// numbering plan of its country.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "+15125550123")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses a number as a person types it; numbers without a country code
    /// are read as US numbers (the practices served are in the US).
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        let v = value.trim();
        let bad = || FieldError::new("", "must be a valid phone number, e.g. +1 512 555 0123 or (512) 555-0123");
        if v.is_empty() || v.len() > 32 {
            return Err(bad());
        }
        let number = phonenumber::parse(Some(phonenumber::country::Id::US), v).map_err(|_| bad())?;
        if !phonenumber::is_valid(&number) {
            return Err(bad());
        }
        Ok(Self(number.format().mode(phonenumber::Mode::E164).to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        // Stored numbers are already E.164; parsing them again is idempotent.
        PhoneNumber::parse(&value).map_err(|e| e.message)
    }
}

impl From<PhoneNumber> for String {
    fn from(p: PhoneNumber) -> String {
        p.0
    }
}

/// A phone number with its kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Phone {
    pub kind: PhoneKind,
    pub number: PhoneNumber,
}

/// At most this many phone numbers per member.
pub const MAX_PHONES: usize = 5;

/// A postal address. US addresses need a state code and a ZIP code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Address {
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    /// State or region; a two-letter code in the US.
    pub region: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
}

/// An address as a request carries it, before validation.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    pub line1: String,
    #[serde(default)]
    pub line2: Option<String>,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    /// Defaults to `US`.
    #[serde(default)]
    pub country: Option<String>,
}

impl Address {
    pub fn parse(input: &AddressInput) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new();
        let line1 = f.take("line1", text(&input.line1, 100));
        let line2 = match input.line2.as_deref().map(str::trim) {
            None | Some("") => Some(None),
            Some(l) => f.take("line2", text(l, 100)).map(Some),
        };
        let city = f.take("city", text(&input.city, 60));
        let country = input.country.as_deref().unwrap_or("US").trim().to_ascii_uppercase();
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            f.push(FieldError::new("country", "must be a two-letter country code such as US"));
        }
        let region = input.region.trim().to_ascii_uppercase();
        let postal = input.postal_code.trim().to_ascii_uppercase();
        if country == "US" {
            if !(region.len() == 2 && region.bytes().all(|b| b.is_ascii_uppercase())) {
                f.push(FieldError::new("region", "must be a two-letter US state code such as TX"));
            }
            let zip_ok = match postal.split_once('-') {
                None => postal.len() == 5 && postal.bytes().all(|b| b.is_ascii_digit()),
                Some((five, four)) => {
                    five.len() == 5 && four.len() == 4 && five.bytes().chain(four.bytes()).all(|b| b.is_ascii_digit())
                }
            };
            if !zip_ok {
                f.push(FieldError::new("postal_code", "must be a ZIP code like 78701 or 78701-1234"));
            }
        } else {
            if text(&region, 60).is_err() {
                f.push(FieldError::new("region", "must not be empty"));
            }
            let ok = (2..=10).contains(&postal.len())
                && postal.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b'-');
            if !ok {
                f.push(FieldError::new("postal_code", "must be a postal code of 2 to 10 letters and digits"));
            }
        }
        f.finish()?;
        Ok(Address {
            line1: line1.unwrap_or_default(),
            line2: line2.flatten(),
            city: city.unwrap_or_default(),
            region,
            postal_code: postal,
            country,
        })
    }
}

/// Insurance on file for a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Insurance {
    pub provider: String,
    pub policy_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriber_id: Option<String>,
}

/// Insurance as a request carries it, before validation.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InsuranceInput {
    pub provider: String,
    pub policy_number: String,
    #[serde(default)]
    pub group_number: Option<String>,
    #[serde(default)]
    pub subscriber_id: Option<String>,
}

/// Identifiers on insurance cards: letters, digits, spaces, hyphens, 1–30 characters.
fn card_identifier(value: &str) -> Result<String, FieldError> {
    let v = value.trim().to_ascii_uppercase();
    if v.is_empty() || v.len() > 30 {
        return Err(FieldError::new("", "must be 1 to 30 characters"));
    }
    if !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b' ') {
        return Err(FieldError::new("", "may contain only letters, digits, spaces and hyphens"));
    }
    Ok(v)
}

impl Insurance {
    pub fn parse(input: &InsuranceInput) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new();
        let provider = f.take("provider", text(&input.provider, 100));
        let policy = f.take("policy_number", card_identifier(&input.policy_number));
        let mut optional = |name: &str, v: &Option<String>| match v.as_deref().map(str::trim) {
            None | Some("") => Some(None),
            Some(s) => f.take(name, card_identifier(s)).map(Some),
        };
        let group = optional("group_number", &input.group_number);
        let subscriber = optional("subscriber_id", &input.subscriber_id);
        f.finish()?;
        Ok(Insurance {
            provider: provider.unwrap_or_default(),
            policy_number: policy.unwrap_or_default(),
            group_number: group.flatten(),
            subscriber_id: subscriber.flatten(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(Email::parse(" Ann.Lee@Example.COM ").unwrap().as_str(), "ann.lee@example.com");
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a b@example.com",
            "ann@@example.com",
            "ann@-x.com",
            "a..b@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn emails_mask_their_local_part() {
        assert_eq!(Email::parse("ann@example.com").unwrap().masked(), "a•••@example.com");
    }

    #[test]
    fn phones_are_normalised_to_e164() {
        assert_eq!(PhoneNumber::parse("(512) 555-0123").unwrap().as_str(), "+15125550123");
        assert_eq!(PhoneNumber::parse("+1 512 555 0123").unwrap().as_str(), "+15125550123");
        assert_eq!(PhoneNumber::parse("+44 20 7946 0958").unwrap().as_str(), "+442079460958");
        for bad in ["", "123", "555-0123", "not a phone", "+1 000 000 0000"] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    fn address(postal: &str, region: &str, country: Option<&str>) -> AddressInput {
        AddressInput {
            line1: "1 Main St".into(),
            line2: None,
            city: "Austin".into(),
            region: region.into(),
            postal_code: postal.into(),
            country: country.map(Into::into),
        }
    }

    #[test]
    fn us_addresses_need_a_zip_and_state_code() {
        assert!(Address::parse(&address("78701", "tx", None)).is_ok());
        assert!(Address::parse(&address("78701-1234", "TX", Some("us"))).is_ok());
        let errors = Address::parse(&address("7870", "Texas", None)).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["region", "postal_code"]);
        assert!(Address::parse(&address("SW1A 1AA", "London", Some("GB"))).is_ok());
    }

    #[test]
    fn insurance_identifiers_are_checked() {
        let ok = InsuranceInput {
            provider: "Blue Cross".into(),
            policy_number: "abc-123".into(),
            group_number: Some("".into()),
            subscriber_id: Some("S 1".into()),
        };
        let ins = Insurance::parse(&ok).unwrap();
        assert_eq!(ins.policy_number, "ABC-123");
        assert_eq!(ins.group_number, None);
        let bad = InsuranceInput { policy_number: "12/34".into(), subscriber_id: Some("x".repeat(31)), ..ok };
        let errors = Insurance::parse(&bad).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["policy_number", "subscriber_id"]);
    }
}

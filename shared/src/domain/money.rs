//! Money: exact decimals with two places, never floating point. JSON carries
//! amounts as strings ("49.00") so no client rounds them.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

use super::FieldError;

/// A non-negative amount in the practice currency, with exactly two decimal places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Money(Decimal);

impl utoipa::PartialSchema for Money {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^\d{1,9}(\.\d{1,2})?$"))
            .description(Some("Amount in the practice currency, as a decimal string with two places"))
            .examples([serde_json::json!("49.00")])
            .into()
    }
}

impl utoipa::ToSchema for Money {}

/// The largest amount accepted anywhere (a guard against typos, not a business rule).
const MAX: Decimal = Decimal::from_parts(99_999_999, 0, 0, false, 0);

impl Money {
    pub const ZERO: Money = Money(Decimal::ZERO);

    /// Parses a decimal string with at most two places, e.g. `49`, `49.5`, `49.50`.
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        let v = value.trim();
        let well_formed = !v.is_empty()
            && v.chars().all(|c| c.is_ascii_digit() || c == '.')
            && v.matches('.').count() <= 1
            && !v.starts_with('.')
            && !v.ends_with('.');
        if !well_formed {
            return Err(FieldError::new("", "must be a non-negative amount written like \"49.00\""));
        }
        if v.split_once('.').is_some_and(|(_, frac)| frac.len() > 2) {
            return Err(FieldError::new("", "must have at most two decimal places"));
        }
        let d = Decimal::from_str(v).map_err(|_| FieldError::new("", "must be an amount written like \"49.00\""))?;
        Self::from_decimal(d)
    }

    /// From an exact decimal; refuses negatives and more than two places.
    pub fn from_decimal(d: Decimal) -> Result<Self, FieldError> {
        if d.is_sign_negative() && !d.is_zero() {
            return Err(FieldError::new("", "must not be negative"));
        }
        if d.normalize().scale() > 2 {
            return Err(FieldError::new("", "must have at most two decimal places"));
        }
        if d > MAX {
            return Err(FieldError::new("", "is larger than any amount the portal accepts"));
        }
        let mut d = d.abs();
        d.rescale(2);
        Ok(Money(d))
    }

    pub fn cents(cents: u64) -> Self {
        let mut d = Decimal::from(cents);
        d.set_scale(2).expect("scale 2 is valid");
        Money(d)
    }

    pub fn amount(&self) -> Decimal {
        self.0
    }

    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).and_then(|d| Money::from_decimal(d).ok())
    }

    /// `None` when the result would be negative.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).and_then(|d| Money::from_decimal(d).ok())
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}", self.0)
    }
}

impl TryFrom<String> for Money {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Money::parse(&value).map_err(|e| e.message)
    }
}

impl From<Money> for String {
    fn from(m: Money) -> String {
        m.to_string()
    }
}

/// An ISO 4217 currency code such as `USD`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "USD")]
pub struct Currency(String);

impl Currency {
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        let v = value.trim();
        if v.len() == 3 && v.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(v.to_owned()))
        } else {
            Err(FieldError::new("", "must be a three-letter ISO 4217 code such as USD"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Currency::parse(&value).map_err(|e| e.message)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_always_carry_two_places() {
        assert_eq!(Money::parse("49").unwrap().to_string(), "49.00");
        assert_eq!(Money::parse("49.5").unwrap().to_string(), "49.50");
        assert_eq!(Money::parse("0.01").unwrap().to_string(), "0.01");
        assert_eq!(Money::cents(4999).to_string(), "49.99");
    }

    #[test]
    fn malformed_negative_and_three_place_amounts_are_rejected() {
        for bad in ["", "-1", "1.234", "abc", "1e3", ".5", "5.", "1.2.3", "NaN", "1,00"] {
            assert!(Money::parse(bad).is_err(), "{bad} should be rejected");
        }
        assert!(Money::parse("100000000").is_err());
    }

    #[test]
    fn subtraction_never_goes_below_zero() {
        let a = Money::parse("10.00").unwrap();
        let b = Money::parse("10.01").unwrap();
        assert_eq!(b.checked_sub(a).unwrap().to_string(), "0.01");
        assert!(a.checked_sub(b).is_none());
        assert_eq!(a.checked_add(b).unwrap().to_string(), "20.01");
    }

    #[test]
    fn money_serialises_as_a_string() {
        let m = Money::parse("12.3").unwrap();
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"12.30\"");
        let back: Money = serde_json::from_str("\"12.30\"").unwrap();
        assert_eq!(back, m);
        assert!(serde_json::from_str::<Money>("\"-1\"").is_err());
    }

    #[test]
    fn currency_codes_are_three_capitals() {
        assert!(Currency::parse("USD").is_ok());
        assert!(Currency::parse("usd").is_err());
        assert!(Currency::parse("US").is_err());
    }
}

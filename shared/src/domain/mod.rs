//! Plain types and rules: no I/O, no async. A value that exists is valid:
//! constructors (`parse`) are the only way in, and deserialisation goes through them.

pub mod access;
pub mod agreements;
pub mod audit;
pub mod billing;
pub mod contact;
pub mod household;
pub mod ids;
pub mod member;
pub mod membership;
pub mod money;
pub mod practice;
pub mod statement;

use serde::Serialize;

/// A validation failure tied to the request field at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON path of the field, e.g. `address.postal_code` or `phones[1].number`.
    pub field: String,
    /// What is wrong with it, in words a person can act on.
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{} {}", self.field, self.message)
        }
    }
}

impl std::error::Error for FieldError {}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }

    /// The same error one level deeper, e.g. `postal_code` under `address`.
    pub fn under(mut self, parent: &str) -> Self {
        self.field = if self.field.is_empty() {
            parent.to_owned()
        } else if self.field.starts_with('[') {
            format!("{parent}{}", self.field)
        } else {
            format!("{parent}.{}", self.field)
        };
        self
    }
}

/// Collects field errors while a request is parsed, so a caller learns every
/// mistake at once instead of one per round trip.
#[derive(Debug, Default)]
pub struct Fields {
    errors: Vec<FieldError>,
}

impl Fields {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses one field; on failure records the error under `name` and returns `None`.
    pub fn take<T>(&mut self, name: &str, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.errors.push(error.under(name));
                None
            }
        }
    }

    /// Like `take`, for parsers that report several errors.
    pub fn take_all<T>(&mut self, name: &str, result: Result<T, Vec<FieldError>>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(errors) => {
                self.errors.extend(errors.into_iter().map(|e| e.under(name)));
                None
            }
        }
    }

    pub fn push(&mut self, error: FieldError) {
        self.errors.push(error);
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Ok(())` when nothing failed, otherwise every error collected.
    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}

/// Checks free text: trimmed, not empty, at most `max` characters, no control characters.
pub fn text(value: &str, max: usize) -> Result<String, FieldError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new("", "must not be empty"));
    }
    if trimmed.chars().count() > max {
        return Err(FieldError::new("", format!("must be at most {max} characters")));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(FieldError::new("", "must not contain control characters"));
    }
    Ok(trimmed.to_owned())
}

/// Parses a calendar date written as `YYYY-MM-DD`.
pub fn date(value: &str) -> Result<time::Date, FieldError> {
    time::Date::parse(value, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| FieldError::new("", "must be a date written as YYYY-MM-DD"))
}

/// Serde helpers that write dates as `YYYY-MM-DD`.
pub mod date_format {
    time::serde::format_description!(pub iso, Date, "[year]-[month]-[day]");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(text("  Ann ", 10).unwrap(), "Ann");
        assert!(text("   ", 10).is_err());
        assert!(text("abcdefghijk", 10).is_err());
        assert!(text("a\u{7}b", 10).is_err());
    }

    #[test]
    fn field_errors_nest_under_their_parent() {
        let e = FieldError::new("postal_code", "bad").under("address");
        assert_eq!(e.field, "address.postal_code");
        let e = FieldError::new("[1]", "bad").under("phones");
        assert_eq!(e.field, "phones[1]");
        let e = FieldError::new("", "bad").under("email");
        assert_eq!(e.field, "email");
    }

    #[test]
    fn dates_parse_in_iso_form_only() {
        assert!(date("2026-02-28").is_ok());
        assert!(date("2026-02-30").is_err());
        assert!(date("02/28/2026").is_err());
    }
}

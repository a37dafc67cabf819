//! Identifiers: a short type prefix and random lowercase hex, e.g. `mbr_3f9a…`.
//! The prefix makes a pasted id self-describing and stops one kind being
//! used where another is expected.

use std::fmt;

use super::FieldError;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(try_from = "String", into = "String")]
        #[schema(value_type = String, example = $prefix)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh id from 16 random bytes.
            pub fn from_random(bytes: [u8; 16]) -> Self {
                let mut s = String::with_capacity(Self::PREFIX.len() + 32);
                s.push_str(Self::PREFIX);
                for b in bytes {
                    s.push_str(&format!("{b:02x}"));
                }
                Self(s)
            }

            pub fn parse(value: &str) -> Result<Self, FieldError> {
                parse_id(value, Self::PREFIX).map(|s| Self(s.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value).map_err(|e| e.message)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

fn parse_id<'a>(value: &'a str, prefix: &str) -> Result<&'a str, FieldError> {
    let rest = value
        .strip_prefix(prefix)
        .ok_or_else(|| FieldError::new("", format!("must be an id starting with `{prefix}`")))?;
    let valid = !rest.is_empty()
        && value.len() <= 64
        && rest.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(value)
    } else {
        Err(FieldError::new(
            "",
            format!("must be an id starting with `{prefix}` followed by lowercase letters and digits"),
        ))
    }
}

id_type!(
    /// A practice (the tenant): every key of practice data starts with it.
    PracticeId, "prc_"
);
id_type!(
    /// A member (patient) of a practice.
    MemberId, "mbr_"
);
id_type!(
    /// A membership: a plan that one owner pays for and one or more members are enrolled in.
    MembershipId, "msh_"
);
id_type!(
    /// A signed-in session.
    SessionId, "ses_"
);
id_type!(
    /// A pending one-time-code challenge.
    ChallengeId, "chl_"
);

id_type!(
    /// An audit event.
    AuditId, "aud_"
);

id_type!(
    /// An invoice.
    InvoiceId, "inv_"
);
id_type!(
    /// A payment (one charge, applied to one or more invoices).
    PaymentId, "pay_"
);
id_type!(
    /// A saved payment source (card or bank account) of a member.
    SourceId, "src_"
);

id_type!(
    /// A document to sign (one version of it: documents never change once published).
    DocumentId, "doc_"
);
id_type!(
    /// A request that one member sign one document, and its signature.
    AgreementId, "agr_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix() {
        let id = MemberId::from_random([0xab; 16]);
        assert_eq!(id.as_str(), format!("mbr_{}", "ab".repeat(16)));
        assert_eq!(MemberId::parse(id.as_str()).unwrap(), id);
    }

    #[test]
    fn an_id_of_another_kind_is_rejected() {
        assert!(MemberId::parse("prc_abc").is_err());
        assert!(MemberId::parse("mbr_").is_err());
        assert!(MemberId::parse("mbr_ABC").is_err());
        assert!(MemberId::parse("mbr_a/b").is_err());
        assert!(MemberId::parse(&format!("mbr_{}", "a".repeat(80))).is_err());
    }
}

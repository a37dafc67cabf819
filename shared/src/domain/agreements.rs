//! Agreements: documents a practice asks members to sign, and signatures a
//! court would accept: the signer's typed name matching their name on file,
//! explicit consent to sign electronically, when and from where, and the
//! SHA-256 of the exact text signed. A document never changes once published;
//! a new version is a new document, so a signed copy always shows what was signed.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::audit::ClientInfo;
use super::ids::{AgreementId, DocumentId, MemberId, PracticeId};
use super::member::Member;
use super::{text, FieldError, Fields};

/// The longest document body accepted (characters).
pub const MAX_BODY: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgreementDocument {
    pub id: DocumentId,
    pub practice_id: PracticeId,
    pub title: String,
    /// The practice's label for this version, e.g. `2027-01`.
    pub version: String,
    /// The exact text members read and sign (plain text or Markdown).
    pub body: String,
    /// SHA-256 of `body`, hex.
    pub body_sha256: String,
    #[serde(with = "time::serde::rfc3339")]
    pub published_at: OffsetDateTime,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentInput {
    pub title: String,
    pub version: String,
    /// Plain text or Markdown; signed exactly as sent.
    pub body: String,
}

/// A validated `DocumentInput`: title, version label, body.
pub fn parse_document(input: &DocumentInput) -> Result<(String, String, String), Vec<FieldError>> {
    let mut f = Fields::new();
    let title = f.take("title", text(&input.title, 200));
    let version = f.take("version", text(&input.version, 40));
    let body = if input.body.trim().is_empty() {
        f.push(FieldError::new("body", "must not be empty"));
        None
    } else if input.body.chars().count() > MAX_BODY {
        f.push(FieldError::new("body", format!("must be at most {MAX_BODY} characters")));
        None
    } else {
        // Kept exactly as sent (but for line endings), since its hash is what gets signed.
        Some(input.body.replace("\r\n", "\n"))
    };
    match (title, version, body) {
        (Some(t), Some(v), Some(b)) if f.is_empty() => Ok((t, v, b)),
        _ => Err(f.finish().err().unwrap_or_default()),
    }
}

/// An electronic signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// Who signed (the member, or the owner of a minor's membership).
    pub signer_id: MemberId,
    /// The name the signer typed.
    pub typed_name: String,
    /// The signer agreed to sign electronically.
    pub consent: bool,
    /// Signed by a parent or guardian for a minor.
    pub on_behalf: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub signed_at: OffsetDateTime,
    pub client: ClientInfo,
    /// SHA-256 of the exact text signed.
    pub text_sha256: String,
}

/// One member asked to sign one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreement {
    pub id: AgreementId,
    pub practice_id: PracticeId,
    /// Whose agreement it is.
    pub member_id: MemberId,
    pub document_id: DocumentId,
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
    #[serde(default)]
    pub signature: Option<Signature>,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("this agreement was already signed")]
    AlreadySigned,
    #[error("consent to sign electronically is required")]
    NoConsent,
    #[error("the typed name must match the name on file: {expected}")]
    NameMismatch { expected: String },
}

/// Names compared as people type them: case, accents aside, and spacing do not matter.
pub fn same_name(typed: &str, on_file: &str) -> bool {
    let norm = |s: &str| s.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>().join(" ");
    !typed.trim().is_empty() && norm(typed) == norm(on_file)
}

impl Agreement {
    /// The agreement signed by `signer` (the member, or an owner for a minor:
    /// `signature.on_behalf`), if it is unsigned, consent was given and the typed name matches.
    pub fn sign(&self, signer: &Member, signature: Signature) -> Result<Agreement, SignError> {
        if self.signature.is_some() {
            return Err(SignError::AlreadySigned);
        }
        if !signature.consent {
            return Err(SignError::NoConsent);
        }
        if !same_name(&signature.typed_name, &signer.full_name()) {
            return Err(SignError::NameMismatch { expected: "first and last name as the practice has them".into() });
        }
        let mut next = self.clone();
        next.signature = Some(Signature {
            signer_id: signer.id.clone(),
            typed_name: signature.typed_name.trim().to_owned(),
            ..signature
        });
        next.version += 1;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::member::{PatientDetails, PatientInput};
    use time::macros::{date, datetime};

    fn member() -> Member {
        let input = PatientInput {
            external_id: None,
            first_name: "Maria".into(),
            last_name: "Alvarez".into(),
            date_of_birth: "1984-03-12".into(),
            email: None,
            phones: vec![],
            address: None,
            insurance: None,
        };
        PatientDetails::parse(&input, date!(2026 - 01 - 01)).unwrap().into_member(
            MemberId::parse("mbr_m").unwrap(),
            PracticeId::parse("prc_a").unwrap(),
            datetime!(2026-01-01 0:00 UTC),
        )
    }

    fn agreement() -> Agreement {
        Agreement {
            id: AgreementId::parse("agr_a").unwrap(),
            practice_id: PracticeId::parse("prc_a").unwrap(),
            member_id: MemberId::parse("mbr_m").unwrap(),
            document_id: DocumentId::parse("doc_a").unwrap(),
            requested_at: datetime!(2026-01-01 0:00 UTC),
            signature: None,
            version: 1,
        }
    }

    #[test]
    fn names_match_regardless_of_case_and_spacing() {
        assert!(same_name("  maria   ALVAREZ ", "Maria Alvarez"));
        assert!(!same_name("Maria", "Maria Alvarez"));
        assert!(!same_name("", ""));
    }

    fn signature(name: &str, consent: bool) -> Signature {
        Signature {
            signer_id: MemberId::parse("mbr_x").unwrap(),
            typed_name: name.into(),
            consent,
            on_behalf: false,
            signed_at: datetime!(2026-02-01 10:00 UTC),
            client: ClientInfo::default(),
            text_sha256: "h".into(),
        }
    }

    #[test]
    fn a_signature_needs_consent_and_the_right_name_and_happens_once() {
        let a = agreement();
        assert_eq!(a.sign(&member(), signature("Maria Alvarez", false)), Err(SignError::NoConsent));
        assert!(matches!(a.sign(&member(), signature("Mario Alvarez", true)), Err(SignError::NameMismatch { .. })));
        let signed = a.sign(&member(), signature("maria alvarez", true)).unwrap();
        assert_eq!(signed.signature.as_ref().unwrap().text_sha256, "h");
        assert_eq!(signed.signature.as_ref().unwrap().signer_id.as_str(), "mbr_m");
        assert_eq!(signed.version, 2);
        assert_eq!(signed.sign(&member(), signature("Maria Alvarez", true)), Err(SignError::AlreadySigned));
    }

    #[test]
    fn documents_keep_their_text_exactly() {
        let (t, v, b) = parse_document(&DocumentInput {
            title: " Consent ".into(),
            version: "1".into(),
            body: "Line 1\r\nLine 2  ".into(),
        })
        .unwrap();
        assert_eq!((t.as_str(), v.as_str(), b.as_str()), ("Consent", "1", "Line 1\nLine 2  "));
        let errors =
            parse_document(&DocumentInput { title: "".into(), version: "".into(), body: " ".into() }).unwrap_err();
        assert_eq!(errors.len(), 3);
    }
}

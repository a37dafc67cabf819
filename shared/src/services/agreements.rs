//! Agreements: the practice publishes documents and asks members to sign them;
//! members read and sign them (owners also for the minors on their memberships)
//! and download signed copies.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::access::{create_link, RETRIES};
use super::{AdminCaller, Caller, Ctx, Error, Result};
use crate::crypto::sha256_hex;
use crate::documents::pdf::{Layout, MARGIN};
use crate::domain::agreements::{parse_document, Agreement, AgreementDocument, DocumentInput, SignError, Signature};
use crate::domain::audit::{AuditEvent, ClientInfo};
use crate::domain::ids::{AgreementId, AuditId, DocumentId, MemberId};
use crate::domain::member::Member;
use crate::domain::practice::Practice;
use crate::ports::{Mail, StoreError};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DocumentView {
    pub id: DocumentId,
    pub title: String,
    pub version: String,
    pub body: String,
    /// SHA-256 of `body`: what a signature attests to.
    pub body_sha256: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub published_at: OffsetDateTime,
}

impl From<AgreementDocument> for DocumentView {
    fn from(d: AgreementDocument) -> Self {
        DocumentView {
            id: d.id,
            title: d.title,
            version: d.version,
            body: d.body,
            body_sha256: d.body_sha256,
            published_at: d.published_at,
        }
    }
}

/// Publishes a document (a new version is a new document: what was signed never changes).
pub async fn publish(ctx: &Ctx, admin: &AdminCaller, input: &DocumentInput) -> Result<DocumentView> {
    let (title, version, body) = parse_document(input)?;
    let document = AgreementDocument {
        id: DocumentId::from_random(ctx.random.bytes16()),
        practice_id: admin.practice_id.clone(),
        title,
        version,
        body_sha256: sha256_hex(body.as_bytes()),
        body,
        published_at: ctx.clock.now(),
    };
    ctx.store.put_document(&document).await?;
    Ok(document.into())
}

pub async fn documents(ctx: &Ctx, admin: &AdminCaller) -> Result<Vec<DocumentView>> {
    let mut docs = ctx.store.documents(&admin.practice_id).await?;
    docs.sort_by(|a, b| (&a.title, a.published_at).cmp(&(&b.title, b.published_at)));
    Ok(docs.into_iter().map(Into::into).collect())
}

pub async fn document(ctx: &Ctx, admin: &AdminCaller, id: &DocumentId) -> Result<DocumentView> {
    Ok(ctx.store.get_document(&admin.practice_id, id).await?.ok_or(Error::NotFound("document"))?.into())
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignatureRequest {
    pub document_id: String,
    /// Email the member a link to sign (default true).
    #[serde(default = "yes")]
    pub send_email: bool,
    /// Where the link opens: `agreement` (this one, the default) or `agreements` (the list).
    #[serde(default)]
    pub link_to: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RequestSent {
    pub agreement_id: AgreementId,
    /// The mailbox the request went to, masked; absent when no email was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_to: Option<String>,
}

/// Asks a patient to sign a document, optionally emailing a direct link to it.
/// Asking again for a document still unsigned reuses the open request.
pub async fn request_signature(
    ctx: &Ctx,
    admin: &AdminCaller,
    patient: &MemberId,
    body: &SignatureRequest,
) -> Result<RequestSent> {
    let document_id =
        DocumentId::parse(body.document_id.trim()).map_err(|e| Error::Validation(vec![e.under("document_id")]))?;
    let link_to = match body.link_to.as_deref() {
        None | Some("agreement") => "agreement",
        Some("agreements") => "agreements",
        Some(_) => return Err(Error::field("link_to", "must be agreement or agreements")),
    };
    let practice = ctx.store.get_practice(&admin.practice_id).await?.ok_or(Error::NotFound("practice"))?;
    let member = ctx.store.get_member(&admin.practice_id, patient).await?.ok_or(Error::NotFound("patient"))?;
    let document = ctx
        .store
        .get_document(&admin.practice_id, &document_id)
        .await?
        .ok_or_else(|| Error::field("document_id", "is not a document of this practice"))?;
    let existing = ctx
        .store
        .agreements_of(&admin.practice_id, patient)
        .await?
        .into_iter()
        .find(|a| a.document_id == document_id && a.signature.is_none());
    let agreement = match existing {
        Some(a) => a,
        None => {
            let a = Agreement {
                id: AgreementId::from_random(ctx.random.bytes16()),
                practice_id: admin.practice_id.clone(),
                member_id: patient.clone(),
                document_id: document_id.clone(),
                requested_at: ctx.clock.now(),
                signature: None,
                version: 1,
            };
            ctx.store.create_agreement(&a).await?;
            a
        }
    };
    let mut sent_to = None;
    if body.send_email {
        let email = member.email.clone().ok_or_else(|| {
            Error::field(
                "send_email",
                "the patient has no email address on file; ask their membership's owner to sign, or add one",
            )
        })?;
        let next = match link_to {
            "agreement" => format!("/agreements/{}", agreement.id),
            _ => "/agreements".to_owned(),
        };
        let (token, _) = create_link(ctx, &member, Some(next)).await?;
        ctx.mailer()?
            .send(Mail {
                to: email.clone(),
                subject: format!("Please sign: {} ({})", document.title, practice.name),
                body: format!(
                    "Hello {},\n\n{} asks you to read and sign \"{}\" in the member portal:\n{}/access?token={token}\n\n\
                     For your security we will email you a one-time code when you open the link. It works for 7 days.\n\n\
                     Questions? Call {} or write to {}.",
                    member.first_name,
                    practice.name,
                    document.title,
                    ctx.portal_url,
                    practice.contact_phone.as_str(),
                    practice.contact_email.as_str()
                ),
            })
            .await?;
        sent_to = Some(email.masked());
    }
    Ok(RequestSent { agreement_id: agreement.id, sent_to })
}

/// The members whose agreements the caller handles: themselves, and the minors
/// on memberships they own (a parent or guardian signs for them).
async fn signers_reach(ctx: &Ctx, caller: &Caller) -> Result<(Practice, Vec<Member>)> {
    let (practice, _, ids) = super::members::reach(ctx, caller).await?;
    let today = practice.today(ctx.clock.now());
    let members = ctx.store.get_members(&caller.practice_id, &ids).await?;
    let reach = members.into_iter().filter(|m| m.id == caller.member_id || m.is_minor_on(today)).collect();
    Ok((practice, reach))
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SignatureView {
    pub signed_by: MemberId,
    pub signer_name: String,
    /// Signed by a parent or guardian for a minor.
    pub on_behalf: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub signed_at: OffsetDateTime,
    pub text_sha256: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgreementSummary {
    pub id: AgreementId,
    pub title: String,
    pub version: String,
    /// Whose agreement it is.
    pub member_id: MemberId,
    pub member_name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub requested_at: OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<SignatureView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgreementList {
    /// Awaiting a signature, oldest request first.
    pub pending: Vec<AgreementSummary>,
    /// Signed, most recent first.
    pub signed: Vec<AgreementSummary>,
}

fn summary(a: &Agreement, d: &AgreementDocument, subject: &Member, signer_name: Option<String>) -> AgreementSummary {
    AgreementSummary {
        id: a.id.clone(),
        title: d.title.clone(),
        version: d.version.clone(),
        member_id: subject.id.clone(),
        member_name: subject.full_name(),
        requested_at: a.requested_at,
        signature: a.signature.as_ref().map(|s| SignatureView {
            signed_by: s.signer_id.clone(),
            signer_name: signer_name.clone().unwrap_or_else(|| s.typed_name.clone()),
            on_behalf: s.on_behalf,
            signed_at: s.signed_at,
            text_sha256: s.text_sha256.clone(),
        }),
    }
}

pub async fn list(ctx: &Ctx, caller: &Caller) -> Result<AgreementList> {
    let (_, reach) = signers_reach(ctx, caller).await?;
    let (mut pending, mut signed) = (Vec::new(), Vec::new());
    for subject in &reach {
        for a in ctx.store.agreements_of(&caller.practice_id, &subject.id).await? {
            let Some(d) = ctx.store.get_document(&caller.practice_id, &a.document_id).await? else { continue };
            let s = summary(&a, &d, subject, None);
            if a.signature.is_some() {
                signed.push(s);
            } else {
                pending.push(s);
            }
        }
    }
    pending.sort_by(|a, b| (a.requested_at, &a.id).cmp(&(b.requested_at, &b.id)));
    signed.sort_by(|a, b| b.signature.as_ref().map(|s| s.signed_at).cmp(&a.signature.as_ref().map(|s| s.signed_at)));
    Ok(AgreementList { pending, signed })
}

/// One agreement the caller handles, with its document and subject.
async fn find(
    ctx: &Ctx,
    caller: &Caller,
    id: &AgreementId,
) -> Result<(Practice, Agreement, AgreementDocument, Member)> {
    let (practice, reach) = signers_reach(ctx, caller).await?;
    for subject in reach {
        if let Some(a) = ctx.store.get_agreement(&caller.practice_id, &subject.id, id).await? {
            let d = ctx
                .store
                .get_document(&caller.practice_id, &a.document_id)
                .await?
                .ok_or(Error::NotFound("agreement"))?;
            return Ok((practice, a, d, subject));
        }
    }
    Err(Error::NotFound("agreement"))
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgreementDetail {
    #[serde(flatten)]
    pub summary: AgreementSummary,
    /// The exact text to sign.
    pub body: String,
    /// SHA-256 of `body`.
    pub body_sha256: String,
}

pub async fn read(ctx: &Ctx, caller: &Caller, id: &AgreementId) -> Result<AgreementDetail> {
    let (_, a, d, subject) = find(ctx, caller, id).await?;
    let signer = signer_name(ctx, &a).await?;
    Ok(AgreementDetail { summary: summary(&a, &d, &subject, signer), body: d.body, body_sha256: d.body_sha256 })
}

async fn signer_name(ctx: &Ctx, a: &Agreement) -> Result<Option<String>> {
    match &a.signature {
        Some(s) => Ok(ctx.store.get_member(&a.practice_id, &s.signer_id).await?.map(|m| m.full_name())),
        None => Ok(None),
    }
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignBody {
    /// The signer's full name, as the practice has it (the parent's or guardian's when signing for a minor).
    pub full_name: String,
    /// "I agree to sign this document electronically."
    pub consent: bool,
}

/// Signs an agreement: once, with the signer's name, consent, time, IP, user agent and the text's hash.
pub async fn sign(
    ctx: &Ctx,
    caller: &Caller,
    id: &AgreementId,
    body: &SignBody,
    client: &ClientInfo,
) -> Result<AgreementDetail> {
    for _ in 0..RETRIES {
        let (_, current, document, subject) = find(ctx, caller, id).await?;
        let signer = ctx
            .store
            .get_member(&caller.practice_id, &caller.member_id)
            .await?
            .ok_or(Error::Unauthenticated("this member can no longer sign in"))?;
        let on_behalf = subject.id != caller.member_id;
        // The hash of the text as stored now; documents never change, so it is what was read.
        let text_sha256 = sha256_hex(document.body.as_bytes());
        let now = ctx.clock.now();
        let draft = Signature {
            signer_id: signer.id.clone(),
            typed_name: body.full_name.clone(),
            consent: body.consent,
            on_behalf,
            signed_at: now,
            client: client.clone(),
            text_sha256: text_sha256.clone(),
        };
        let signed = current.sign(&signer, draft).map_err(|e| match e {
            SignError::AlreadySigned => Error::Conflict("this agreement was already signed".into()),
            SignError::NoConsent => Error::field("consent", "check the box to agree to sign electronically"),
            SignError::NameMismatch { .. } => Error::field(
                "full_name",
                "must match your first and last name as the practice has them; contact the practice if it is wrong",
            ),
        })?;
        let audit = AuditEvent {
            id: AuditId::from_random(ctx.random.bytes16()),
            practice_id: caller.practice_id.clone(),
            member_id: subject.id.clone(),
            actor_id: caller.member_id.clone(),
            field: "agreement_signature".into(),
            old_value: serde_json::Value::Null,
            new_value: serde_json::json!({
                "agreement_id": current.id,
                "document_id": document.id,
                "title": document.title,
                "version": document.version,
                "text_sha256": text_sha256,
                "on_behalf": on_behalf,
            }),
            at: now,
            client: client.clone(),
        };
        match ctx.store.sign_agreement(&signed, &audit).await {
            Ok(()) => {
                return Ok(AgreementDetail {
                    summary: summary(&signed, &document, &subject, Some(signer.full_name())),
                    body: document.body,
                    body_sha256: document.body_sha256,
                })
            }
            // Another signature won the race: the next look sees it signed.
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict("this agreement was already signed".into()))
}

/// The agreement as PDF: its text, then the signature block (or "not yet signed").
pub async fn pdf(ctx: &Ctx, caller: &Caller, id: &AgreementId) -> Result<super::statements::File> {
    let (practice, a, d, subject) = find(ctx, caller, id).await?;
    let signer = signer_name(ctx, &a).await?;
    let mut l = Layout::new(&format!("{} ({})", d.title, d.version));
    l.line(MARGIN, &practice.name, 14.0, true);
    l.line(MARGIN, &format!("{}  ·  {}", practice.contact_phone.as_str(), practice.contact_email.as_str()), 9.0, false);
    l.rule();
    l.gap(4.0);
    l.line(MARGIN, &d.title, 16.0, true);
    l.line(MARGIN, &format!("Version {} · for {}", d.version, subject.full_name()), 9.0, false);
    l.gap(8.0);
    for paragraph in d.body.split('\n') {
        match paragraph.trim_start().strip_prefix('#') {
            Some(heading) => {
                l.gap(4.0);
                l.paragraph(heading.trim_start_matches('#').trim(), 11.0, true);
            }
            None if paragraph.trim().is_empty() => l.gap(6.0),
            None => l.paragraph(paragraph, 10.0, false),
        }
    }
    l.gap(14.0);
    l.rule();
    match &a.signature {
        Some(s) => {
            l.line(MARGIN, "ELECTRONIC SIGNATURE", 9.0, true);
            let who = signer.unwrap_or_else(|| s.typed_name.clone());
            let mut rows = vec![
                format!("Signed by: {who} (typed name: {})", s.typed_name),
                format!(
                    "Signed for: {}{}",
                    subject.full_name(),
                    if s.on_behalf { " (a minor), by their parent or guardian" } else { "" }
                ),
                format!(
                    "Signed at: {} UTC",
                    s.signed_at
                        .to_offset(time::UtcOffset::UTC)
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default()
                ),
                format!(
                    "From: IP {} · {}",
                    s.client.ip.as_deref().unwrap_or("unknown"),
                    s.client.user_agent.as_deref().unwrap_or("unknown browser")
                ),
                "Consent: the signer agreed to sign electronically".to_owned(),
            ];
            rows.push(format!("Document SHA-256: {}", s.text_sha256));
            for r in rows {
                l.paragraph(&r, 9.0, false);
            }
        }
        None => l.line(MARGIN, "NOT YET SIGNED", 9.0, true),
    }
    let bytes = l.render().map_err(Error::Internal)?;
    let name = format!("{}-{}.pdf", d.title.to_lowercase().replace(|c: char| !c.is_ascii_alphanumeric(), "-"), a.id);
    Ok(super::statements::File { name, content_type: "application/pdf", bytes })
}

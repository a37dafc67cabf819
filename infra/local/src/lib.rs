//! The demo practice and household, seeded through the same services the
//! admin API uses, so demo data passes every rule real data does.

use portal::domain::agreements::DocumentInput;
use portal::domain::audit::ClientInfo;
use portal::domain::billing::{InvoiceInput, InvoiceLineInput};
use portal::domain::contact::{AddressInput, InsuranceInput, PhoneKind};
use portal::domain::ids::{AgreementId, DocumentId, InvoiceId, SessionId, SourceId};
use portal::domain::ids::{MemberId, MembershipId, PracticeId};
use portal::domain::member::{PatientInput, PhoneInput};
use portal::domain::membership::{BillingPeriod, EnrollmentInput, MembershipInput, MembershipStatus};
use portal::domain::practice::{Practice, PracticeInput};
use portal::services::agreements::{self, SignBody, SignatureRequest};
use portal::services::payment_sources::{self, AddSource};
use portal::services::payments::{self, AllocationBody, PaymentRequest};
use portal::services::{admin, billing, AdminCaller, Caller, Ctx, Error};
use time::{Date, Duration, Month};

pub const DEMO_PRACTICE_ID: &str = "prc_demo";
/// Works only against the local embedded store: never configure it anywhere else.
pub const DEMO_API_KEY: &str = "mpk_demo_local_only";
pub const DEMO_OWNER_EMAIL: &str = "maria.alvarez@example.com";
pub const DEMO_SPOUSE_EMAIL: &str = "daniel.alvarez@example.com";

/// Ids of what the demo created.
#[derive(Debug, Clone)]
pub struct Demo {
    pub practice_id: PracticeId,
    pub api_key: String,
    pub owner_email: String,
    pub spouse_email: String,
    pub owner: MemberId,
    pub spouse: MemberId,
    pub child: MemberId,
    pub family_membership: MembershipId,
    pub past_membership: MembershipId,
    /// Invoices billed to the owner, in every state.
    pub invoices: DemoInvoices,
    /// The owner's card on file.
    pub card: SourceId,
    pub agreements: DemoAgreements,
}

#[derive(Debug, Clone)]
pub struct DemoAgreements {
    /// The owner's membership agreement, signed.
    pub signed: AgreementId,
    /// The owner's privacy notice acknowledgement, awaiting her signature.
    pub pending_owner: AgreementId,
    /// The child's consent to treatment, for the owner to sign on her behalf.
    pub pending_child: AgreementId,
    pub membership_document: DocumentId,
}

const MEMBERSHIP_AGREEMENT: &str = "# Membership Agreement\n\nThis agreement is between Hillside Direct Primary Care (the practice) and the member named below. \
The membership covers unlimited office visits, same-day or next-day appointments, and direct messaging with your physician.\n\n\
# Fees\n\nThe membership fee is billed monthly in advance to the card or bank account on file. \
Either party may end the membership with 30 days' written notice.\n\n\
# Not insurance\n\nThis membership is not health insurance. Keep insurance for hospital, specialist and emergency care.";

const PRIVACY_NOTICE: &str = "# Acknowledgement of the Notice of Privacy Practices\n\n\
I acknowledge that I received Hillside Direct Primary Care's Notice of Privacy Practices, which describes how my health information may be used and disclosed and how I can get access to it.";

const MINOR_CONSENT: &str = "# Consent to Treat a Minor\n\n\
As the parent or legal guardian of the minor named below, I consent to routine examinations, vaccinations and treatment by the physicians of Hillside Direct Primary Care.";

/// Three documents: the owner's signed membership agreement, her pending privacy acknowledgement,
/// and her daughter's pending consent to treatment.
async fn seed_agreements(
    ctx: &Ctx,
    admin: &AdminCaller,
    owner: &MemberId,
    child: &MemberId,
) -> Result<DemoAgreements, Error> {
    let publish =
        |title: &str, body: &str| DocumentInput { title: title.into(), version: "2026-01".into(), body: body.into() };
    let membership = agreements::publish(ctx, admin, &publish("Membership Agreement", MEMBERSHIP_AGREEMENT)).await?.id;
    let privacy = agreements::publish(ctx, admin, &publish("Notice of Privacy Practices", PRIVACY_NOTICE)).await?.id;
    let consent = agreements::publish(ctx, admin, &publish("Consent to Treat a Minor", MINOR_CONSENT)).await?.id;
    let ask = |member: &MemberId, document: &DocumentId| {
        let body = SignatureRequest { document_id: document.to_string(), send_email: false, link_to: None };
        let member = member.clone();
        async move { agreements::request_signature(ctx, admin, &member, &body).await.map(|r| r.agreement_id) }
    };
    let signed = ask(owner, &membership).await?;
    let pending_owner = ask(owner, &privacy).await?;
    let pending_child = ask(child, &consent).await?;
    let as_owner = Caller {
        practice_id: admin.practice_id.clone(),
        member_id: owner.clone(),
        session_id: SessionId::parse("ses_seed").map_err(|e| Error::Validation(vec![e]))?,
    };
    let client = ClientInfo::new(Some("127.0.0.1".into()), Some("demo seed"));
    agreements::sign(ctx, &as_owner, &signed, &SignBody { full_name: "Maria Alvarez".into(), consent: true }, &client)
        .await?;
    Ok(DemoAgreements { signed, pending_owner, pending_child, membership_document: membership })
}

#[derive(Debug, Clone)]
pub struct DemoInvoices {
    pub paid: InvoiceId,
    pub partially_paid: InvoiceId,
    pub past_due: InvoiceId,
    pub open: InvoiceId,
    pub void: InvoiceId,
}

fn line(description: &str, member: &MemberId, start: Date, amount: &str) -> InvoiceLineInput {
    InvoiceLineInput {
        description: description.into(),
        member_id: Some(member.to_string()),
        service_start: Some(start.to_string()),
        service_end: Some((start + Duration::days(29)).to_string()),
        amount: amount.into(),
    }
}

/// A card on file for the owner and an invoice in every state: paid, partially paid, past due, open, void.
async fn seed_billing(
    ctx: &Ctx,
    admin: &AdminCaller,
    owner: &MemberId,
    spouse: &MemberId,
    child: &MemberId,
    today: Date,
) -> Result<(DemoInvoices, SourceId), Error> {
    let as_owner = Caller {
        practice_id: admin.practice_id.clone(),
        member_id: owner.clone(),
        session_id: SessionId::parse("ses_seed").map_err(|e| Error::Validation(vec![e]))?,
    };
    let card = payment_sources::add(
        ctx,
        &as_owner,
        &AddSource { payment_method_id: "pm_card_visa".into(), make_default: true, pay_past_due: false },
        None,
    )
    .await?
    .source
    .id;
    let monthly = |issued: Date| InvoiceInput {
        member_id: owner.to_string(),
        issue_date: Some(issued.to_string()),
        due_date: (issued + Duration::days(14)).to_string(),
        lines: vec![
            line("Family Membership — adult", owner, issued, "79.00"),
            line("Family Membership — adult", spouse, issued, "61.00"),
            line("Family Membership — child", child, issued, "35.00"),
        ],
    };
    let issue = |input: InvoiceInput| async move { billing::issue(ctx, admin, &input).await.map(|d| d.summary.id) };
    let paid = issue(monthly(today - Duration::days(90))).await?;
    let partially_paid = issue(monthly(today - Duration::days(60))).await?;
    let past_due = issue(monthly(today - Duration::days(30))).await?;
    let open = issue(monthly(today - Duration::days(2))).await?;
    let void = issue(InvoiceInput {
        member_id: owner.to_string(),
        issue_date: Some((today - Duration::days(45)).to_string()),
        due_date: (today - Duration::days(31)).to_string(),
        lines: vec![line("Lab panel (billed in error)", spouse, today - Duration::days(45), "42.00")],
    })
    .await?;
    billing::void(ctx, admin, &void).await?;
    let pay = |key: &'static str, invoice: &InvoiceId, amount: &str| {
        let request = PaymentRequest {
            allocations: vec![AllocationBody { invoice_id: invoice.to_string(), amount: amount.into() }],
            source_id: Some(card.to_string()),
            ..Default::default()
        };
        let caller = as_owner.clone();
        async move { payments::pay(ctx, &caller, key, &request).await }
    };
    pay("demo-paid", &paid, "175.00").await?;
    pay("demo-partial", &partially_paid, "100.00").await?;
    Ok((DemoInvoices { paid, partially_paid, past_due, open, void }, card))
}

fn phone(kind: PhoneKind, number: &str) -> PhoneInput {
    PhoneInput { kind, number: number.into() }
}

fn address() -> AddressInput {
    AddressInput {
        line1: "2417 Bluebonnet Lane".into(),
        line2: None,
        city: "Austin".into(),
        region: "TX".into(),
        postal_code: "78704".into(),
        country: Some("US".into()),
    }
}

fn first_of_next_month(today: Date) -> Date {
    let (y, m) = if today.month() == Month::December {
        (today.year() + 1, Month::January)
    } else {
        (today.year(), today.month().next())
    };
    Date::from_calendar_date(y, m, 1).unwrap_or(today + Duration::days(30))
}

/// Seeds the demo practice (id `prc_demo`) with a household: owner, spouse and
/// child (who shares the owner's email), a current family membership and an
/// ended individual one. `practice_id` and `email_tag` let tests seed several
/// isolated copies (the tag goes into the addresses: `maria.alvarez+tag@example.com`).
pub async fn seed(ctx: &Ctx, practice_id: &PracticeId, api_key: &str, email_tag: Option<&str>) -> Result<Demo, Error> {
    let now = ctx.clock.now();
    let tagged = |address: &str| match email_tag {
        Some(tag) => address.replacen('@', &format!("+{tag}@"), 1),
        None => address.to_owned(),
    };
    let (owner_email, spouse_email) = (tagged(DEMO_OWNER_EMAIL), tagged(DEMO_SPOUSE_EMAIL));
    let input = PracticeInput {
        name: "Hillside Direct Primary Care".into(),
        time_zone: "America/Chicago".into(),
        currency: "USD".into(),
        contact_phone: "+1 512 555 0100".into(),
        contact_email: "hello@hillside-dpc.example".into(),
    };
    let practice = Practice::parse(practice_id.clone(), &input, now)?;
    admin::create_practice_with_key(ctx, &practice, api_key, "local demo", now).await?;
    let today = practice.today(now);
    let as_admin = AdminCaller { practice_id: practice_id.clone() };

    let owner = admin::create_patient(
        ctx,
        &as_admin,
        &PatientInput {
            external_id: Some("HILL-1001".into()),
            first_name: "Maria".into(),
            last_name: "Alvarez".into(),
            date_of_birth: "1984-03-12".into(),
            email: Some(owner_email.clone()),
            phones: vec![phone(PhoneKind::Mobile, "(512) 555-0142"), phone(PhoneKind::Home, "(512) 555-0198")],
            address: Some(address()),
            insurance: Some(InsuranceInput {
                provider: "Blue Cross Blue Shield of Texas".into(),
                policy_number: "XJH884512377".into(),
                group_number: Some("GRP-20931".into()),
                subscriber_id: Some("XJH884512377".into()),
            }),
        },
    )
    .await?;
    let spouse = admin::create_patient(
        ctx,
        &as_admin,
        &PatientInput {
            external_id: Some("HILL-1002".into()),
            first_name: "Daniel".into(),
            last_name: "Alvarez".into(),
            date_of_birth: "1982-09-30".into(),
            email: Some(spouse_email.clone()),
            phones: vec![phone(PhoneKind::Mobile, "(512) 555-0167")],
            address: Some(address()),
            insurance: None,
        },
    )
    .await?;
    let child = admin::create_patient(
        ctx,
        &as_admin,
        &PatientInput {
            external_id: Some("HILL-1003".into()),
            first_name: "Sofia".into(),
            last_name: "Alvarez".into(),
            date_of_birth: "2015-06-02".into(),
            email: Some(owner_email.clone()),
            phones: vec![],
            address: Some(address()),
            insurance: None,
        },
    )
    .await?;
    let enrol = |id: &MemberId, start: Option<&str>| EnrollmentInput {
        member_id: id.to_string(),
        start_date: start.map(Into::into),
        end_date: None,
    };
    let family = admin::create_membership(
        ctx,
        &as_admin,
        &MembershipInput {
            external_id: None,
            plan_name: "Family Membership".into(),
            status: MembershipStatus::Active,
            owner_id: owner.member.id.to_string(),
            enrollments: vec![
                enrol(&owner.member.id, None),
                enrol(&spouse.member.id, None),
                enrol(&child.member.id, Some("2024-03-01")),
            ],
            amount: "175.00".into(),
            billing_period: BillingPeriod::Monthly,
            next_bill_date: Some(first_of_next_month(today).to_string()),
            start_date: "2024-01-01".into(),
            end_date: None,
        },
    )
    .await?;
    let past = admin::create_membership(
        ctx,
        &as_admin,
        &MembershipInput {
            external_id: None,
            plan_name: "Individual Membership".into(),
            status: MembershipStatus::Ended,
            owner_id: owner.member.id.to_string(),
            enrollments: vec![EnrollmentInput {
                member_id: owner.member.id.to_string(),
                start_date: None,
                end_date: Some("2023-12-31".into()),
            }],
            amount: "79.00".into(),
            billing_period: BillingPeriod::Monthly,
            next_bill_date: None,
            start_date: "2022-01-01".into(),
            end_date: Some("2023-12-31".into()),
        },
    )
    .await?;
    let (invoices, card) =
        seed_billing(ctx, &as_admin, &owner.member.id, &spouse.member.id, &child.member.id, today).await?;
    let agreements = seed_agreements(ctx, &as_admin, &owner.member.id, &child.member.id).await?;
    Ok(Demo {
        agreements,
        invoices,
        card,
        practice_id: practice_id.clone(),
        api_key: api_key.to_owned(),
        owner_email,
        spouse_email,
        owner: owner.member.id,
        spouse: spouse.member.id,
        child: child.member.id,
        family_membership: family.id,
        past_membership: past.id,
    })
}

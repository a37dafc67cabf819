//! The OpenAPI document, generated from the handlers and types.

use std::sync::OnceLock;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "member",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("Access token from POST /v1/auth/session"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "practice_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The practice's API key (`mpk_…`)"))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Member Portal API",
        description = "Self-serve portal for members of membership medical practices, and the admin API practices drive it with. Errors are RFC 9457 problem+json; amounts are decimal strings.",
    ),
    paths(
        super::auth::request_code,
        super::auth::create_session,
        super::auth::refresh_session,
        super::auth::end_session,
        super::memberships::show_me,
        super::memberships::list_memberships,
        super::memberships::openapi_document,
        super::members::list_household,
        super::members::update_contact,
        super::members::confirm_email,
        super::members::set_insurance,
        super::invoices::list_invoices,
        super::invoices::show_invoice,
        super::invoices::invoice_pdf,
        super::invoices::show_statement,
        super::payments::create_payment,
        super::payment_sources::list_sources,
        super::payment_sources::setup_source,
        super::payment_sources::add_source,
        super::payment_sources::make_default,
        super::payment_sources::remove_source,
        super::agreements::list_agreements,
        super::agreements::read_agreement,
        super::agreements::sign_agreement,
        super::agreements::agreement_pdf,
        super::admin::publish_document,
        super::admin::list_documents,
        super::admin::show_document,
        super::admin::request_signature,
        super::admin::issue_invoice,
        super::admin::void_invoice,
        super::admin::audit_feed,
        super::admin::create_patient,
        super::admin::show_patient,
        super::admin::update_patient,
        super::admin::send_access_email,
        super::admin::create_membership,
        super::admin::show_membership,
        super::admin::update_membership,
    ),
    modifiers(&Security),
)]
struct ApiDoc;

/// The document as JSON (built once).
pub fn document() -> serde_json::Value {
    static DOC: OnceLock<serde_json::Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises")).clone()
}

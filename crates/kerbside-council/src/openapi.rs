//! The OpenAPI 3 document, generated from the handlers' annotations and the wire types.

use crate::routes;
use kerbside_api::{ApiError, ErrorKind};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Kerbside council permit service",
        description = "Residents' annual visitor parking permits: accounts, permits, renewals, cancellations and payments. Errors are `{kind, message}`.",
        version = "1.0.0"
    ),
    paths(
        routes::openapi_document, routes::council, routes::register, routes::sign_in, routes::sign_out,
        routes::profile, routes::update_profile, routes::list_permits, routes::get_permit, routes::quote,
        routes::buy, routes::change_registration, routes::renew, routes::refund_quote, routes::cancel,
        routes::get_payment, routes::list_address_changes, routes::create_address_change,
        routes::upload_evidence, routes::submit_address_change, routes::officer_address_changes,
        routes::officer_address_change, routes::officer_evidence_file,
        routes::approve_address_change, routes::reject_address_change,
    ),
    components(schemas(ApiError, ErrorKind)),
    modifiers(&BearerAuth),
    tags(
        (name = "service", description = "About this council's service"),
        (name = "accounts", description = "Register, sign in and out, profile"),
        (name = "permits", description = "Buy, renew, re-register and cancel permits"),
        (name = "payments", description = "Payments taken on the hosted payment page (/pay/…)"),
        (name = "address", description = "Change of address with evidence (PDF, JPEG or PNG pages)"),
        (name = "officer", description = "Council officers: check evidence and decide changes of address")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

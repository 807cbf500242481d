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
        routes::profile, routes::update_profile, routes::change_password, routes::list_permits, routes::get_permit, routes::quote,
        routes::buy, routes::change_registration, routes::renew, routes::refund_quote, routes::cancel,
        routes::get_payment, routes::list_address_changes, routes::create_address_change,
        routes::upload_evidence, routes::submit_address_change, routes::officer_address_changes,
        routes::officer_address_change, routes::officer_evidence_file,
        routes::approve_address_change, routes::reject_address_change,
    ),
    components(schemas(ApiError, ErrorKind)),
    modifiers(&BearerAuth, &IdempotencyKeys, &JsonBodies, &Links),
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

/// The operations that change something (POST, PUT, PATCH, DELETE) of every path.
fn write_operations(
    openapi: &mut utoipa::openapi::OpenApi,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    openapi.paths.paths.values_mut().flat_map(|item| {
        [
            item.post.as_mut(),
            item.put.as_mut(),
            item.patch.as_mut(),
            item.delete.as_mut(),
        ]
        .into_iter()
        .flatten()
    })
}

/// The `Idempotency-Key` header is checked by [`crate::idempotency::middleware`] for every
/// operation that documents it, so what that check allows and answers is described here once:
/// 1 to 255 visible ASCII characters (else 400), a key already used for a different request
/// (422), a key whose first request is still running (409).
struct IdempotencyKeys;

impl Modify for IdempotencyKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ObjectBuilder, Type};
        let key_schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(crate::idempotency::MAX_KEY_LENGTH))
            .pattern(Some("^[!-~]+$"))
            .build();
        let answers = [
            ("400", "The Idempotency-Key is not 1 to 255 visible ASCII characters, or the request could not be read"),
            ("409", "The first request with this Idempotency-Key is still being processed"),
            ("422", "This Idempotency-Key was already used for a different request, or the request breaks a rule"),
        ];
        for operation in write_operations(openapi) {
            let Some(parameters) = operation.parameters.as_mut() else {
                continue;
            };
            let Some(key) = parameters
                .iter_mut()
                .find(|p| p.name == kerbside_api::IDEMPOTENCY_KEY_HEADER)
            else {
                continue;
            };
            key.schema = Some(key_schema.clone().into());
            add_error_answers(operation, &answers);
        }
    }
}

/// Every JSON body is read by [`crate::routes::ApiJson`], which answers 400 when the body is
/// not the JSON the operation takes and 422 when its text holds a NUL character; documented
/// here once for every operation with a JSON body.
struct JsonBodies;

impl Modify for JsonBodies {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let answers = [
            (
                "400",
                "The body is not the JSON this operation takes (the message says what is wrong)",
            ),
            (
                "422",
                "The request breaks a rule, e.g. text with a NUL character",
            ),
        ];
        for operation in write_operations(openapi) {
            let takes_json = operation
                .request_body
                .as_ref()
                .is_some_and(|body| body.content.contains_key("application/json"));
            if takes_json {
                add_error_answers(operation, &answers);
            }
        }
    }
}

/// OpenAPI links from what a purchase, a renewal or a new change of address returns to the
/// operations on it, so a client (and schemathesis's stateful phase) can follow a permit from
/// its purchase to its payment, renewal or cancellation.
struct Links;

impl Modify for Links {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::extensions::Extensions;
        use utoipa::openapi::link::LinkBuilder;
        use utoipa::openapi::RefOr;
        const ON_A_PERMIT: &[&str] = &[
            "get_permit",
            "change_registration",
            "renew",
            "refund_quote",
            "cancel",
        ];
        let follow: [(&str, &str, &[&str]); 5] = [
            ("/api/v1/permits", "$response.body#/permit/id", ON_A_PERMIT),
            (
                "/api/v1/permits",
                "$response.body#/payment/id",
                &["get_payment"],
            ),
            (
                "/api/v1/permits/{id}/renewal",
                "$response.body#/permit/id",
                ON_A_PERMIT,
            ),
            (
                "/api/v1/permits/{id}/renewal",
                "$response.body#/payment/id",
                &["get_payment"],
            ),
            (
                "/api/v1/address-changes",
                "$response.body#/id",
                &["upload_evidence", "submit_address_change"],
            ),
        ];
        for (path, id, operations) in follow {
            let Some(RefOr::T(created)) = openapi
                .paths
                .paths
                .get_mut(path)
                .and_then(|item| item.post.as_mut())
                .and_then(|post| post.responses.responses.get_mut("201"))
            else {
                continue;
            };
            for operation in operations {
                created.links.insert(
                    operation.to_string(),
                    RefOr::T(
                        // utoipa 5.5 writes `.operation_id()` as "operation_id"; the
                        // OpenAPI field is "operationId", so it is set as a raw field.
                        LinkBuilder::new()
                            .parameter("id", id)
                            .extensions(Some(Extensions::from_iter([("operationId", *operation)])))
                            .build(),
                    ),
                );
            }
        }
    }
}

/// Adds `{kind, message}` answers an operation does not document yet.
fn add_error_answers(operation: &mut utoipa::openapi::path::Operation, answers: &[(&str, &str)]) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    for (status, description) in answers {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| {
                RefOr::T(
                    ResponseBuilder::new()
                        .description(*description)
                        .content(
                            "application/json",
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("ApiError")))
                                .build(),
                        )
                        .build(),
                )
            });
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

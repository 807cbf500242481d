//! HTTP handlers: thin, each takes the request apart, calls [`crate::service`] and answers.
//! The `#[utoipa::path]` on each one is the OpenAPI document's source of truth.

use crate::auth::{ClientAddress, CurrentAccount, OfficerAccount, SessionToken};
use crate::error::{Error, Result};
use crate::{address_changes, idempotency, openapi, pay_page, service, views, AppState};
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::{get, post, put, MethodRouter};
use axum::{Json, Router};
use kerbside_api::types::*;
use kerbside_api::ApiError;
use kerbside_rules::{uk_local_date, RENEWAL_WINDOW_DAYS};

/// Largest JSON body accepted.
pub const MAX_JSON_BYTES: usize = 64 * 1024;

pub fn router(state: AppState) -> Router {
    // The Idempotency-Key middleware wraps each route's own methods, not the whole router: a
    // method the route does not have gets its 405, and an unknown path its 404, without the
    // key being looked at or reserved.
    let keyed = |methods: MethodRouter<AppState>| {
        methods.route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency::middleware,
        ))
    };
    let api = Router::new()
        .route("/openapi.json", get(openapi_document))
        .route("/council", get(council))
        .route("/accounts", keyed(post(register)))
        .route("/sessions/current", keyed(axum::routing::delete(sign_out)))
        .route("/me", keyed(get(profile).patch(update_profile)))
        .route("/permits", keyed(get(list_permits).post(buy)))
        .route("/permits/quote", keyed(post(quote)))
        .route("/permits/{id}", get(get_permit))
        .route(
            "/permits/{id}/registration",
            keyed(put(change_registration)),
        )
        .route("/permits/{id}/renewal", keyed(post(renew)))
        .route("/permits/{id}/refund-quote", get(refund_quote))
        .route("/permits/{id}/cancellation", keyed(post(cancel)))
        .route("/payments/{id}", get(get_payment))
        .route(
            "/address-changes",
            keyed(get(list_address_changes).post(create_address_change)),
        )
        .route(
            "/address-changes/{id}/submission",
            keyed(post(submit_address_change)),
        )
        .route("/officer/address-changes", get(officer_address_changes))
        .route("/officer/address-changes/{id}", get(officer_address_change))
        .route(
            "/officer/address-changes/{id}/files/{file_id}",
            get(officer_evidence_file),
        )
        .route(
            "/officer/address-changes/{id}/approval",
            keyed(post(approve_address_change)),
        )
        .route(
            "/officer/address-changes/{id}/rejection",
            keyed(post(reject_address_change)),
        )
        .fallback(api_not_found);
    // Uploads stream their body (up to 10 MB, capped while reading), so they skip the JSON
    // body limit and the idempotency middleware (which buffers bodies); a repeated upload of
    // the same bytes is recognised by its SHA-256 instead.
    let uploads = Router::new().route(
        "/address-changes/{id}/files",
        post(upload_evidence).layer(DefaultBodyLimit::disable()),
    );
    // Answers that carry a new bearer token skip the idempotency middleware too: it would keep
    // the answer (the token, readable) in the database to replay it. A retried sign-in simply
    // signs in again; a password change is not repeated (its old password no longer works).
    let credentials = Router::new()
        .route("/sessions", post(sign_in))
        .route("/me/password", put(change_password));
    Router::new()
        .nest(
            kerbside_api::API_PREFIX,
            api.merge(uploads).merge(credentials),
        )
        .merge(pay_page::router())
        .layer(axum::extract::DefaultBodyLimit::max(MAX_JSON_BYTES))
        .layer(axum::middleware::from_fn(refuse_nul_in_path))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// `Json<T>` whose rejections are our `{kind, message}` errors with a readable reason.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self> {
        // The body is read here (within the 64 KB limit) and handed to `Json` as it came, so
        // its text can be checked for NUL characters once it is known to be JSON.
        let content_type = req.headers().get(header::CONTENT_TYPE).cloned();
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| body_unreadable())?;
        let mut again = Request::new(Body::from(bytes.clone()));
        if let Some(content_type) = content_type {
            again
                .headers_mut()
                .insert(header::CONTENT_TYPE, content_type);
        }
        let value = match Json::<T>::from_request(again, state).await {
            Ok(Json(value)) => value,
            Err(rejection) => return Err(json_rejection(rejection)),
        };
        if json_text_has_nul(&bytes) {
            // PostgreSQL cannot store or even compare text holding U+0000 (SQLite can): refused
            // here, for every request, instead of failing in the database with a 500.
            return Err(Error::Validation(
                "Some text in this request contains a NUL character (\\u0000), which is not allowed. Remove it and send the request again.".into(),
            ));
        }
        Ok(ApiJson(value))
    }
}

fn body_unreadable() -> Error {
    Error::BadRequest(format!(
        "The request body could not be read; it must be under {} KB.",
        MAX_JSON_BYTES / 1024
    ))
}

/// Whether a string in `json` (already parsed, so well-formed) holds U+0000. JSON can only
/// write it as the escape `\u0000`; a backslash-escaped `\\u0000` is ordinary text.
fn json_text_has_nul(json: &[u8]) -> bool {
    let mut in_string = false;
    let mut i = 0;
    while i < json.len() {
        match (in_string, json[i]) {
            (false, b'"') => in_string = true,
            (true, b'"') => in_string = false,
            (true, b'\\') => {
                if json.get(i + 1..i + 6) == Some(&b"u0000"[..]) {
                    return true;
                }
                i += 1; // the escaped character
            }
            _ => {}
        }
        i += 1;
    }
    false
}

/// An id with a NUL character (`%00`) in it names nothing, and PostgreSQL cannot compare text
/// holding one: such a path is answered 404 before any handler looks it up.
async fn refuse_nul_in_path(request: Request, next: axum::middleware::Next) -> Response {
    if request.uri().path().contains("%00") {
        return Error::NotFound(
            "Nothing in the permit service has an id containing a NUL character.".into(),
        )
        .into_response();
    }
    next.run(request).await
}

fn json_rejection(rejection: JsonRejection) -> Error {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => Error::BadRequest(
            "Send the request body as JSON, with the header Content-Type: application/json.".into(),
        ),
        JsonRejection::JsonSyntaxError(e) => Error::BadRequest(format!(
            "The request body is not valid JSON: {}.",
            inner_reason(&e.body_text())
        )),
        JsonRejection::JsonDataError(e) => Error::BadRequest(format!(
            "The request body does not have the expected fields: {}.",
            inner_reason(&e.body_text())
        )),
        JsonRejection::BytesRejection(_) => body_unreadable(),
        other => Error::BadRequest(format!("The request could not be read: {other}.")),
    }
}

/// serde's reason without axum's prefix ("Failed to deserialize the JSON body into the target type: ").
fn inner_reason(text: &str) -> String {
    text.rsplit_once(": ")
        .map(|(_, r)| r)
        .unwrap_or(text)
        .trim_end_matches('.')
        .to_string()
}

async fn api_not_found() -> Error {
    Error::NotFound("There is no such address in the permit service's API.".into())
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "service",
    responses((status = 200, description = "This OpenAPI 3 document")))]
pub async fn openapi_document() -> impl IntoResponse {
    Json(openapi::document())
}

#[utoipa::path(get, path = "/api/v1/council", tag = "service",
    responses((status = 200, body = CouncilInfo)))]
pub async fn council(State(state): State<AppState>) -> Json<CouncilInfo> {
    let now = state.clock.now();
    let mut zones: Vec<ZoneView> = state
        .council
        .streets
        .streets
        .iter()
        .map(|s| ZoneView {
            code: s.zone.clone(),
            name: s.zone_name.clone(),
        })
        .collect();
    zones.sort_by(|a, b| a.code.cmp(&b.code));
    zones.dedup();
    Json(CouncilInfo {
        name: state.council.tariff.council_name.clone(),
        permit_types: state
            .council
            .tariff
            .permit_types
            .iter()
            .map(|t| PermitTypeInfo {
                permit_type: t.permit_type,
                label: t.permit_type.label().to_string(),
                price_pence: t.price.pence(),
                term_months: t.term_months,
                household_limit: t.household_limit,
                evidence: t
                    .evidence
                    .iter()
                    .map(|e| e.describe().to_string())
                    .collect(),
                needs_date_of_birth: t
                    .evidence
                    .contains(&kerbside_rules::EvidenceRequirement::StatePensionAge),
                needs_carer_evidence: t
                    .evidence
                    .contains(&kerbside_rules::EvidenceRequirement::CarerVisits),
                refund_terms: t.refund_policy.describe(),
            })
            .collect(),
        zones,
        renewal_window_days: RENEWAL_WINDOW_DAYS,
        now,
        today: uk_local_date(now),
    })
}

#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", request_body = RegisterRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first answer")),
    responses((status = 201, body = Profile), (status = 400, body = ApiError), (status = 409, body = ApiError, description = "Email already registered"), (status = 422, body = ApiError)))]
pub async fn register(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<Profile>)> {
    let account = service::register(&state, req).await?;
    Ok((StatusCode::CREATED, Json(views::profile(&state, &account))))
}

#[utoipa::path(post, path = "/api/v1/sessions", tag = "accounts", request_body = SignInRequest,
    description = "Signs in. Failed attempts are limited per account (5 in 15 minutes) and per client address (20 in 15 minutes); past a limit every attempt, even with the right password, is refused with 429 until the time the message gives.",
    responses((status = 201, body = Session), (status = 400, body = ApiError), (status = 401, body = ApiError, description = "Wrong email address or password (the answer does not say which)"),
        (status = 429, body = ApiError, description = "Too many failed attempts for this account or from this address; the message says when to try again")))]
pub async fn sign_in(
    State(state): State<AppState>,
    client: ClientAddress,
    ApiJson(req): ApiJson<SignInRequest>,
) -> Result<(StatusCode, Json<Session>)> {
    Ok((
        StatusCode::CREATED,
        Json(service::sign_in(&state, req, &client).await?),
    ))
}

#[utoipa::path(put, path = "/api/v1/me/password", tag = "accounts", security(("bearer" = [])), request_body = PasswordChange,
    description = "Changes the password. On success every session of the account is revoked, the caller's included, and a new session for the caller is returned: keep its token. A wrong current password counts as a failed sign-in attempt.",
    responses((status = 200, body = Session, description = "Changed; every earlier token of this account now gets 401"), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 409, body = ApiError, description = "The password was changed meanwhile by another request"),
        (status = 422, body = ApiError, description = "Current password not right, or the new one breaks the rules (10 to 128 characters, not the current one)"),
        (status = 429, body = ApiError, description = "Too many failed attempts for this account or from this address")))]
pub async fn change_password(
    State(state): State<AppState>,
    current: CurrentAccount,
    client: ClientAddress,
    ApiJson(req): ApiJson<PasswordChange>,
) -> Result<Json<Session>> {
    Ok(Json(
        service::change_password(&state, &current.account, req, &client).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/sessions/current", tag = "accounts", security(("bearer" = [])),
    responses((status = 204, description = "Signed out; the token no longer works"), (status = 401, body = ApiError)))]
pub async fn sign_out(
    State(state): State<AppState>,
    current: CurrentAccount,
) -> Result<StatusCode> {
    service::sign_out(&state, &current.token_hash).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Profile), (status = 401, body = ApiError)))]
pub async fn profile(State(state): State<AppState>, current: CurrentAccount) -> Json<Profile> {
    Json(views::profile(&state, &current.account))
}

#[utoipa::path(patch, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])), request_body = ProfileUpdate,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first answer")),
    responses((status = 200, body = Profile), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 422, body = ApiError)))]
pub async fn update_profile(
    State(state): State<AppState>,
    current: CurrentAccount,
    ApiJson(update): ApiJson<ProfileUpdate>,
) -> Result<Json<Profile>> {
    let account = service::update_profile(&state, &current.account, update).await?;
    Ok(Json(views::profile(&state, &account)))
}

#[utoipa::path(get, path = "/api/v1/permits", tag = "permits", security(("bearer" = [])),
    responses((status = 200, body = PermitList), (status = 401, body = ApiError)))]
pub async fn list_permits(
    State(state): State<AppState>,
    session: SessionToken,
) -> Result<Json<PermitList>> {
    let (permits, events) = service::permits_of_session(&state, &session.hash).await?;
    let permits = permits
        .iter()
        .map(|p| views::permit(&state, p, &events))
        .collect::<Result<Vec<_>>>()?;
    Ok(Json(PermitList {
        permits,
        as_of: state.clock.now(),
    }))
}

#[utoipa::path(get, path = "/api/v1/permits/{id}", tag = "permits", security(("bearer" = [])),
    params(("id" = String, Path, description = "Permit id")),
    responses((status = 200, body = Permit), (status = 401, body = ApiError), (status = 404, body = ApiError)))]
pub async fn get_permit(
    State(state): State<AppState>,
    session: SessionToken,
    Path(id): Path<String>,
) -> Result<Json<Permit>> {
    Ok(Json(
        service::permit_view_of_session(&state, &session.hash, &id).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/permits/quote", tag = "permits", security(("bearer" = [])), request_body = PermitRequest,
    responses((status = 200, body = PermitQuote, description = "Every rule checked; nothing bought"), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 422, body = ApiError)))]
pub async fn quote(
    State(state): State<AppState>,
    current: CurrentAccount,
    ApiJson(req): ApiJson<PermitRequest>,
) -> Result<Json<PermitQuote>> {
    Ok(Json(service::quote(&state, &current.account, &req).await?))
}

#[utoipa::path(post, path = "/api/v1/permits", tag = "permits", security(("bearer" = [])), request_body = PermitRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first answer and never buy twice")),
    responses((status = 201, body = Purchase, description = "Permit created; pay at payment.next_url unless free"), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 409, body = ApiError, description = "Household limit reached"), (status = 422, body = ApiError)))]
pub async fn buy(
    State(state): State<AppState>,
    current: CurrentAccount,
    ApiJson(req): ApiJson<PermitRequest>,
) -> Result<(StatusCode, Json<Purchase>)> {
    Ok((
        StatusCode::CREATED,
        Json(service::buy(&state, &current.account, &req).await?),
    ))
}

#[utoipa::path(put, path = "/api/v1/permits/{id}/registration", tag = "permits", security(("bearer" = [])), request_body = RegistrationChange,
    params(("id" = String, Path, description = "Permit id"), ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first answer")),
    responses((status = 200, body = Permit), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn change_registration(
    State(state): State<AppState>,
    current: CurrentAccount,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RegistrationChange>,
) -> Result<Json<Permit>> {
    Ok(Json(
        service::change_registration(&state, &current.account, &id, &req.registration).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/permits/{id}/renewal", tag = "permits", security(("bearer" = [])), request_body = RenewalRequest,
    params(("id" = String, Path, description = "Permit id"), ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first answer and never renew twice")),
    responses((status = 201, body = Purchase, description = "The renewal, starting the day after the permit expires"), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError, description = "Outside the renewal window (the message gives the date it opens) or already renewed")))]
pub async fn renew(
    State(state): State<AppState>,
    current: CurrentAccount,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RenewalRequest>,
) -> Result<(StatusCode, Json<Purchase>)> {
    Ok((
        StatusCode::CREATED,
        Json(service::renew(&state, &current.account, &id, &req).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/permits/{id}/refund-quote", tag = "permits", security(("bearer" = [])),
    params(("id" = String, Path, description = "Permit id")),
    responses((status = 200, body = RefundQuote), (status = 401, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn refund_quote(
    State(state): State<AppState>,
    session: SessionToken,
    Path(id): Path<String>,
) -> Result<Json<RefundQuote>> {
    Ok(Json(
        service::refund_quote(&state, &session.hash, &id).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/permits/{id}/cancellation", tag = "permits", security(("bearer" = [])), request_body = CancellationRequest,
    params(("id" = String, Path, description = "Permit id"), ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first answer and never refund twice")),
    responses((status = 200, body = Cancellation), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError, description = "Not cancellable, or the refund differs from expected_refund_pence")))]
pub async fn cancel(
    State(state): State<AppState>,
    current: CurrentAccount,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CancellationRequest>,
) -> Result<Json<Cancellation>> {
    Ok(Json(
        service::cancel(&state, &current.account, &id, &req).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/payments/{id}", tag = "payments", security(("bearer" = [])),
    params(("id" = String, Path, description = "Payment id")),
    responses((status = 200, body = Payment, description = "The council's own record: the only proof a payment succeeded"), (status = 401, body = ApiError), (status = 404, body = ApiError)))]
pub async fn get_payment(
    State(state): State<AppState>,
    session: SessionToken,
    Path(id): Path<String>,
) -> Result<Json<Payment>> {
    Ok(Json(
        service::payment_view_of_session(&state, &session.hash, &id).await?,
    ))
}

// ---------------------------------------------------------------- change of address

#[utoipa::path(get, path = "/api/v1/address-changes", tag = "address", security(("bearer" = [])),
    responses((status = 200, body = AddressChangeList, description = "The resident's changes of address, newest first"), (status = 401, body = ApiError)))]
pub async fn list_address_changes(
    State(state): State<AppState>,
    current: CurrentAccount,
) -> Result<Json<AddressChangeList>> {
    Ok(Json(
        address_changes::list_for_resident(&state, &current.account).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/address-changes", tag = "address", security(("bearer" = [])), request_body = AddressChangeRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first answer")),
    responses((status = 201, body = AddressChange, description = "Created, awaiting files: upload the pages, then submit"), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 422, body = ApiError)))]
pub async fn create_address_change(
    State(state): State<AppState>,
    current: CurrentAccount,
    ApiJson(req): ApiJson<AddressChangeRequest>,
) -> Result<(StatusCode, Json<AddressChange>)> {
    Ok((
        StatusCode::CREATED,
        Json(address_changes::create(&state, &current.account, &req).await?),
    ))
}

#[utoipa::path(post, path = "/api/v1/address-changes/{id}/files", tag = "address", security(("bearer" = [])),
    request_body(description = "One page of evidence: the file's raw bytes (at most 10 MB). Only PDF, JPEG and PNG are accepted, recognised by their content; a Content-Type that disagrees with the content is refused.",
        content(("application/pdf"), ("image/jpeg"), ("image/png"), ("application/octet-stream"))),
    params(("id" = String, Path, description = "Change of address id")),
    responses((status = 201, body = AddressChange, description = "The page was added"), (status = 200, body = AddressChange, description = "The same file was already a page of this change; nothing added"),
        (status = 401, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError, description = "Already submitted or decided, or 10 pages already"),
        (status = 413, body = ApiError, description = "Larger than 10 MB"), (status = 415, body = ApiError, description = "Not a PDF, JPEG or PNG, or not what its Content-Type says"), (status = 422, body = ApiError, description = "Empty file, an image over 10,000 pixels on a side or 40 megapixels, or a damaged image")))]
pub async fn upload_evidence(
    State(state): State<AppState>,
    current: CurrentAccount,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<AddressChange>)> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("invalid"));
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let (added, change) =
        address_changes::upload(&state, &current.account, &id, declared, length, body).await?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(change)))
}

#[utoipa::path(post, path = "/api/v1/address-changes/{id}/submission", tag = "address", security(("bearer" = [])),
    params(("id" = String, Path, description = "Change of address id"), ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first answer")),
    responses((status = 200, body = AddressChange, description = "Sent to the council's officers"), (status = 401, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError, description = "Already sent or decided, or another change is waiting"), (status = 422, body = ApiError, description = "No pages of evidence yet")))]
pub async fn submit_address_change(
    State(state): State<AppState>,
    current: CurrentAccount,
    Path(id): Path<String>,
) -> Result<Json<AddressChange>> {
    Ok(Json(
        address_changes::submit(&state, &current.account, &id).await?,
    ))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusFilter {
    /// awaiting_files, submitted (the default), approved or rejected.
    status: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/officer/address-changes", tag = "officer", security(("bearer" = [])),
    params(StatusFilter),
    responses((status = 200, body = OfficerAddressChangeList, description = "Changes in that status, oldest submission first"), (status = 401, body = ApiError), (status = 403, body = ApiError, description = "Not an officer"), (status = 422, body = ApiError)))]
pub async fn officer_address_changes(
    State(state): State<AppState>,
    _officer: OfficerAccount,
    Query(filter): Query<StatusFilter>,
) -> Result<Json<OfficerAddressChangeList>> {
    let status = match filter.status.as_deref() {
        None | Some("") => AddressChangeStatus::Submitted,
        Some(code) => AddressChangeStatus::from_code(code).ok_or_else(|| {
            Error::Validation(
                "status must be one of awaiting_files, submitted, approved or rejected.".into(),
            )
        })?,
    };
    Ok(Json(address_changes::officer_list(&state, status).await?))
}

#[utoipa::path(get, path = "/api/v1/officer/address-changes/{id}", tag = "officer", security(("bearer" = [])),
    params(("id" = String, Path, description = "Change of address id")),
    responses((status = 200, body = OfficerAddressChange), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn officer_address_change(
    State(state): State<AppState>,
    _officer: OfficerAccount,
    Path(id): Path<String>,
) -> Result<Json<OfficerAddressChange>> {
    Ok(Json(address_changes::officer_get(&state, &id).await?))
}

#[utoipa::path(get, path = "/api/v1/officer/address-changes/{id}/files/{file_id}", tag = "officer", security(("bearer" = [])),
    params(("id" = String, Path, description = "Change of address id"), ("file_id" = String, Path, description = "Evidence file id")),
    responses((status = 200, description = "The page as stored (application/pdf, image/jpeg or image/png), as an attachment"), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn officer_evidence_file(
    State(state): State<AppState>,
    _officer: OfficerAccount,
    Path((id, file_id)): Path<(String, String)>,
) -> Result<Response> {
    use futures_util::StreamExt;
    let (row, path) = address_changes::officer_file(&state, &id, &file_id).await?;
    let file = tokio::fs::File::open(&path).await.map_err(|e| {
        Error::Internal(format!("evidence file {} unreadable: {e}", path.display()))
    })?;
    let extension = crate::evidence::FileKind::from_content_type(&row.content_type)
        .map(|k| k.extension())
        .unwrap_or("bin");
    // Stream it in 64 KB pieces rather than reading up to 10 MB into memory.
    let chunks = futures_util::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buffer = vec![0u8; 64 * 1024];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some((Ok::<_, std::io::Error>(buffer), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    })
    .boxed();
    let mut response = Response::new(Body::from_stream(chunks));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&row.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(u64::try_from(row.size_bytes).unwrap_or(0)),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!(
            "attachment; filename=\"evidence-{}.{extension}\"",
            row.page_number
        ))
        .map_err(|e| Error::Internal(e.to_string()))?,
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[utoipa::path(post, path = "/api/v1/officer/address-changes/{id}/approval", tag = "officer", security(("bearer" = [])),
    params(("id" = String, Path, description = "Change of address id"), ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first answer")),
    responses((status = 200, body = OfficerAddressChange, description = "Approved: the account's address is now the new one (its permits keep theirs)"), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError, description = "Not submitted, or already decided")))]
pub async fn approve_address_change(
    State(state): State<AppState>,
    officer: OfficerAccount,
    Path(id): Path<String>,
) -> Result<Json<OfficerAddressChange>> {
    Ok(Json(
        address_changes::approve(&state, &officer.0, &id).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/officer/address-changes/{id}/rejection", tag = "officer", security(("bearer" = [])), request_body = RejectionRequest,
    params(("id" = String, Path, description = "Change of address id"), ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first answer")),
    responses((status = 200, body = OfficerAddressChange, description = "Rejected; the resident sees the reason"), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError, description = "No reason, or longer than 500 characters")))]
pub async fn reject_address_change(
    State(state): State<AppState>,
    officer: OfficerAccount,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RejectionRequest>,
) -> Result<Json<OfficerAddressChange>> {
    Ok(Json(
        address_changes::reject(&state, &officer.0, &id, &req).await?,
    ))
}

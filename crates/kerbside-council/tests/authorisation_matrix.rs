//! The authorisation matrix, generated from the served OpenAPI document.
//!
//! Every operation (path × method) in `GET /api/v1/openapi.json` is called by every caller who
//! must not get at resident A's things: no token, A's expired token (the clock moved past the
//! 30-day session), A's revoked token (signed out), another resident B, a resident on the
//! officer endpoints, and an officer on A's own objects. Path parameters are real ids of A's
//! permit, payment, change of address and page of evidence, so B really probes A's objects.
//!
//! It proves: 401 for no, expired or revoked token; 403 for residents on officer endpoints;
//! 404 (never 403, which would reveal that the thing exists) for anyone else on A's objects;
//! none of A's identifying data (email, name, address, date of birth, registration, ids,
//! payment page token) in any answer to those callers; every status seen is one the document
//! lists for that operation; an operation in the document with no row in [`TABLE`] (or a row
//! with no operation) fails the test; and, the other way round, every route in the router's
//! source is in the document (or listed here as not part of the API, with a reason), no
//! documented path answers an undocumented method, and likely-looking undocumented paths
//! answer 404 without data.

mod support;

use kerbside_api::types::*;
use kerbside_api::{CouncilClient, IDEMPOTENCY_KEY_HEADER};
use kerbside_rules::{EvidenceDocument, PermitStatus, PermitType};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use support::{leicester_address, Db, TestCouncil, PASSWORD};

/// 31 days before [`NOW`]: A signs in then, and that token has expired by [`NOW`].
const BEFORE: &str = "2027-01-29T09:00:00Z";
const NOW: &str = "2027-03-01T09:00:00Z";

const A_EMAIL: &str = "aurelia.quennell@example.org";
const A_NAME: &str = "Aurelia Quennell-Marsh";
const A_LINE1: &str = "Flat 7, Sandringham Mews";
const A_STREET: &str = "Walnut Street";
const A_POSTCODE: &str = "LE2 7JQ";
const A_BORN: &str = "1961-07-19";
const A_REGISTRATION: &str = "WA61 XKR";
const A_NEW_LINE1: &str = "Orchard Lodge";
const A_NEW_POSTCODE: &str = "LE3 5BX";

const B_EMAIL: &str = "bram.other@example.org";

fn pdf() -> Vec<u8> {
    b"%PDF-1.7\n% council tax bill\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
        .to_vec()
}

/// Who may call an operation, and so what everyone else gets.
#[derive(Clone, Copy, Debug)]
enum Access {
    /// Anyone, signed in or not; the status every caller below gets with the body we send.
    Public { status: u16, why: &'static str },
    /// A signed-in resident's own account, not addressed by id: another resident gets their
    /// own answer, with this status.
    Resident { other: u16 },
    /// One of A's objects by id: anyone else gets 404.
    Owned,
    /// Council officers only: residents get 403.
    Officer,
}

enum Body {
    None,
    Json(Value),
    Pdf,
    /// The payment page's card form, with the card that pays.
    CardForm,
}

struct Op {
    method: &'static str,
    path: &'static str,
    access: Access,
    body: fn() -> Body,
}

/// The table of expectations: one row per operation in the OpenAPI document.
#[rustfmt::skip]
const TABLE: &[Op] = &[
    Op { method: "get", path: "/api/v1/openapi.json",
        access: Access::Public { status: 200, why: "the API's own description: nothing in it belongs to anyone" },
        body: || Body::None },
    Op { method: "get", path: "/api/v1/council",
        access: Access::Public { status: 200, why: "the council's tariff and zones, shown before anyone signs in" },
        body: || Body::None },
    Op { method: "post", path: "/api/v1/accounts",
        access: Access::Public { status: 409, why: "registration: the caller has no account yet (A's email is taken: 409 without A's data)" },
        body: || Body::Json(register_body(A_EMAIL)) },
    Op { method: "post", path: "/api/v1/sessions",
        access: Access::Public { status: 201, why: "sign-in: this is how a token is got (B's own credentials: B's session)" },
        body: || Body::Json(json!({ "email": B_EMAIL, "password": PASSWORD })) },
    Op { method: "delete", path: "/api/v1/sessions/current", access: Access::Resident { other: 204 }, body: || Body::None },
    Op { method: "get", path: "/api/v1/me", access: Access::Resident { other: 200 }, body: || Body::None },
    Op { method: "patch", path: "/api/v1/me", access: Access::Resident { other: 200 }, body: || Body::Json(json!({})) },
    Op { method: "put", path: "/api/v1/me/password", access: Access::Resident { other: 422 },
        body: || Body::Json(json!({ "current_password": "not the current password", "new_password": "a brand new long password" })) },
    Op { method: "get", path: "/api/v1/permits", access: Access::Resident { other: 200 }, body: || Body::None },
    Op { method: "post", path: "/api/v1/permits", access: Access::Resident { other: 201 }, body: || Body::Json(b_permit()) },
    Op { method: "post", path: "/api/v1/permits/quote", access: Access::Resident { other: 200 }, body: || Body::Json(b_permit()) },
    Op { method: "get", path: "/api/v1/permits/{id}", access: Access::Owned, body: || Body::None },
    Op { method: "put", path: "/api/v1/permits/{id}/registration", access: Access::Owned,
        body: || Body::Json(json!({ "registration": "XY51 BCD" })) },
    Op { method: "post", path: "/api/v1/permits/{id}/renewal", access: Access::Owned, body: || Body::Json(json!({})) },
    Op { method: "get", path: "/api/v1/permits/{id}/refund-quote", access: Access::Owned, body: || Body::None },
    Op { method: "post", path: "/api/v1/permits/{id}/cancellation", access: Access::Owned, body: || Body::Json(json!({})) },
    Op { method: "get", path: "/api/v1/payments/{id}", access: Access::Owned, body: || Body::None },
    Op { method: "get", path: "/api/v1/address-changes", access: Access::Resident { other: 200 }, body: || Body::None },
    Op { method: "post", path: "/api/v1/address-changes", access: Access::Resident { other: 201 },
        body: || Body::Json(json!({
            "address": { "line1": "20", "street": "Briton Street", "town": "Leicester", "postcode": "LE3 0AA" },
            "document": "council_tax_bill" })) },
    Op { method: "post", path: "/api/v1/address-changes/{id}/files", access: Access::Owned, body: || Body::Pdf },
    Op { method: "post", path: "/api/v1/address-changes/{id}/submission", access: Access::Owned, body: || Body::None },
    Op { method: "get", path: "/api/v1/officer/address-changes", access: Access::Officer, body: || Body::None },
    Op { method: "get", path: "/api/v1/officer/address-changes/{id}", access: Access::Officer, body: || Body::None },
    Op { method: "get", path: "/api/v1/officer/address-changes/{id}/files/{file_id}", access: Access::Officer, body: || Body::None },
    Op { method: "post", path: "/api/v1/officer/address-changes/{id}/approval", access: Access::Officer, body: || Body::None },
    Op { method: "post", path: "/api/v1/officer/address-changes/{id}/rejection", access: Access::Officer,
        body: || Body::Json(json!({ "reason": "The bill is for a different address." })) },
];

/// Routes in the router's source that are not part of the API, so not in the document.
#[rustfmt::skip]
const NOT_API: &[(&str, &str, &str)] = &[
    ("get", "/pay/{payment_id}/{page_token}",
        "the hosted payment page (HTML for a browser): the random page token in its address is the credential, a wrong one is 404"),
    ("post", "/pay/{payment_id}/{page_token}",
        "the card form of the hosted payment page: the same page token, and it can only pay"),
];

fn register_body(email: &str) -> Value {
    json!({
        "email": email, "password": PASSWORD, "name": "Someone Else",
        "address": { "line1": "1", "street": "Bede Street", "town": "Leicester", "postcode": "LE3 5LD" },
    })
}

fn b_permit() -> Value {
    json!({ "permit_type": "annual_visitor", "registration": "XY51 BCD" })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    NoToken,
    Expired,
    Revoked,
    OtherResident,
    ResidentOnOfficerEndpoint,
    OfficerOnResidentObject,
}

const CALLERS: [Caller; 6] = [
    Caller::NoToken,
    Caller::Expired,
    Caller::Revoked,
    Caller::OtherResident,
    Caller::ResidentOnOfficerEndpoint,
    Caller::OfficerOnResidentObject,
];

/// A's things, and everything about A that no one else may see.
struct World {
    council: TestCouncil,
    a_id: String,
    a_token: String,
    a_expired: String,
    a_revoked: String,
    officer: String,
    permit_id: String,
    payment_id: String,
    change_id: String,
    file_id: String,
    a_secrets: Vec<String>,
}

async fn world(db: Db) -> World {
    let council = TestCouncil::start(db, BEFORE).await;
    let a_profile = council
        .client
        .register(
            &RegisterRequest {
                email: A_EMAIL.into(),
                password: PASSWORD.into(),
                name: A_NAME.into(),
                address: leicester_address(A_LINE1, A_STREET, A_POSTCODE),
                date_of_birth: Some(A_BORN.parse().unwrap()),
                reminder_email: Some(A_EMAIL.into()),
            },
            &CouncilClient::new_idempotency_key(),
        )
        .await
        .expect("A registers");
    council
        .resident_at(B_EMAIL, "4", "Bede Street", "LE3 5LD", None)
        .await;
    let a_expired = council.sign_in(A_EMAIL).await;

    // 31 days on: the first token has expired (sessions last 30 days).
    council.set_clock(NOW);
    let a_token = council.sign_in(A_EMAIL).await;
    let a_revoked = council.sign_in(A_EMAIL).await;
    council
        .client
        .sign_out(&a_revoked)
        .await
        .expect("signed out");
    let officer = council.officer("olu.officer@example.org").await;

    let purchase = council
        .client
        .buy(
            &a_token,
            &PermitRequest {
                permit_type: PermitType::AnnualVisitor,
                registration: A_REGISTRATION.into(),
                carer_evidence: None,
                return_url: None,
            },
            &CouncilClient::new_idempotency_key(),
        )
        .await
        .expect("A buys a permit");
    let payment = purchase.payment.clone().expect("the permit is paid for");
    let page_url = payment.next_url.clone().expect("a payment page");
    let page_token = page_url.rsplit('/').next().unwrap().to_string();
    council.pay(&payment, "4444333322221111").await;
    let permit = council
        .client
        .permit(&a_token, &purchase.permit.id)
        .await
        .unwrap();
    assert_eq!(permit.status, PermitStatus::Active);

    let change = council
        .client
        .create_address_change(
            &a_token,
            &AddressChangeRequest {
                address: leicester_address(A_NEW_LINE1, "Bath Lane", A_NEW_POSTCODE),
                document: EvidenceDocument::CouncilTaxBill,
            },
            &CouncilClient::new_idempotency_key(),
        )
        .await
        .expect("A starts a change of address");
    let change = council
        .client
        .upload_evidence(&a_token, &change.id, pdf(), "application/pdf")
        .await
        .expect("A adds a page");
    let file_id = change.files[0].id.clone();
    council
        .client
        .submit_address_change(&a_token, &change.id, &CouncilClient::new_idempotency_key())
        .await
        .expect("A sends the change");

    let a_secrets = vec![
        A_EMAIL.to_string(),
        A_NAME.to_string(),
        "Quennell".to_string(),
        A_LINE1.to_string(),
        A_STREET.to_string(),
        A_POSTCODE.to_string(),
        A_POSTCODE.replace(' ', ""),
        A_BORN.to_string(),
        A_REGISTRATION.to_string(),
        A_REGISTRATION.replace(' ', ""),
        A_NEW_LINE1.to_string(),
        A_NEW_POSTCODE.to_string(),
        a_profile.id.clone(),
        permit.id.clone(),
        permit.reference.clone(),
        payment.id.clone(),
        page_token,
        change.id.clone(),
        file_id.clone(),
    ];
    World {
        council,
        a_id: a_profile.id,
        a_token,
        a_expired,
        a_revoked,
        officer,
        permit_id: permit.id,
        payment_id: payment.id,
        change_id: change.id,
        file_id,
        a_secrets,
    }
}

impl World {
    /// The path with its parameters replaced by A's ids.
    fn fill(&self, path: &str) -> String {
        let id = if path.starts_with("/api/v1/permits/") {
            &self.permit_id
        } else if path.starts_with("/api/v1/payments/") || path.starts_with("/pay/") {
            &self.payment_id
        } else if path.starts_with("/api/v1/address-changes/")
            || path.starts_with("/api/v1/officer/address-changes/")
        {
            &self.change_id
        } else {
            "no-id"
        };
        let filled = path
            .replace("{id}", id)
            .replace("{payment_id}", id)
            .replace("{file_id}", &self.file_id)
            .replace("{page_token}", "not-the-page-token");
        assert!(
            !filled.contains('{'),
            "{path}: a path parameter with no rule in World::fill; add one (with an id of A's)"
        );
        filled
    }

    /// The pieces of A's data in `body`, if any.
    fn leaks(&self, body: &str) -> Vec<String> {
        self.a_secrets
            .iter()
            .filter(|s| body.contains(s.as_str()))
            .cloned()
            .collect()
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &Body,
    ) -> (u16, String) {
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let mutating = !matches!(method, reqwest::Method::GET | reqwest::Method::HEAD);
        let mut request = self.council.http.request(method, self.council.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if mutating {
            request = request.header(IDEMPOTENCY_KEY_HEADER, CouncilClient::new_idempotency_key());
        }
        request = match body {
            Body::None => request,
            Body::Json(value) => request.json(value),
            Body::Pdf => request
                .header("content-type", "application/pdf")
                .body(pdf()),
            Body::CardForm => request.form(&[
                ("card_number", "4444333322221111"),
                ("expiry_month", "12"),
                ("expiry_year", "2035"),
                ("cardholder_name", "Someone Else"),
                ("security_code", "123"),
            ]),
        };
        let response = request.send().await.expect("the council answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }
}

/// The operations of the served document: (method, path) → the operation's JSON.
async fn served_operations(council: &TestCouncil) -> Vec<(String, String, Value)> {
    let doc: Value = council.openapi_document().await;
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in [
            "get", "put", "post", "delete", "patch", "head", "options", "trace",
        ] {
            if let Some(op) = item.get(method) {
                ops.push((method.to_string(), path.clone(), op.clone()));
            }
        }
    }
    ops
}

fn documents(op: &Value, status: u16) -> bool {
    op["responses"].get(status.to_string()).is_some()
}

fn needs_bearer(op: &Value) -> bool {
    op["security"]
        .as_array()
        .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()))
}

/// What `caller` must get from `op`, or None where the cell does not apply.
fn expected(access: Access, caller: Caller) -> Option<u16> {
    match (access, caller) {
        (
            Access::Public { status, .. },
            Caller::NoToken | Caller::Expired | Caller::Revoked | Caller::OtherResident,
        ) => Some(status),
        (Access::Public { .. }, _) => None,
        (_, Caller::NoToken | Caller::Expired | Caller::Revoked) => Some(401),
        (Access::Resident { other }, Caller::OtherResident) => Some(other),
        (Access::Owned, Caller::OtherResident | Caller::OfficerOnResidentObject) => Some(404),
        (Access::Officer, Caller::OtherResident | Caller::ResidentOnOfficerEndpoint) => Some(403),
        _ => None,
    }
}

async fn matrix(db: Db) {
    let w = world(db).await;
    let served = served_operations(&w.council).await;

    // The table covers the document exactly: a new operation needs a row (and a decision about
    // who may call it) before this test passes again.
    let in_doc: BTreeSet<(String, String)> = served
        .iter()
        .map(|(m, p, _)| (m.clone(), p.clone()))
        .collect();
    let in_table: BTreeSet<(String, String)> = TABLE
        .iter()
        .map(|op| (op.method.to_string(), op.path.to_string()))
        .collect();
    let not_covered: Vec<_> = in_doc.difference(&in_table).collect();
    assert!(
        not_covered.is_empty(),
        "operations in the OpenAPI document with no row in TABLE: {not_covered:?}"
    );
    let stale: Vec<_> = in_table.difference(&in_doc).collect();
    assert!(
        stale.is_empty(),
        "rows in TABLE for operations the document no longer has: {stale:?}"
    );

    // Public operations are public on purpose, each with its reason.
    for row in TABLE {
        if let Access::Public { why, .. } = row.access {
            assert!(
                !why.trim().is_empty(),
                "{} {} is public without a reason",
                row.method,
                row.path
            );
            eprintln!("public: {} {}: {why}", row.method.to_uppercase(), row.path);
        }
    }

    let mut covered: BTreeSet<(String, String)> = BTreeSet::new();
    let mut cells = 0;
    let mut requests = 0;
    let mut leaks = Vec::new();
    let mut wrong = Vec::new();
    for (method, path, op) in &served {
        let row = TABLE
            .iter()
            .find(|r| r.method == method && r.path == path)
            .unwrap();
        let public = matches!(row.access, Access::Public { .. });
        assert_eq!(
            needs_bearer(op),
            !public,
            "{method} {path}: the document's security requirement disagrees with the table"
        );
        let url = w.fill(path);
        for caller in CALLERS {
            let Some(want) = expected(row.access, caller) else {
                continue;
            };
            // B gets a fresh token for each call: B's own sign-out (204) must not turn B's
            // later cells into 401s.
            let b_token;
            let token = match caller {
                Caller::NoToken => None,
                Caller::Expired => Some(w.a_expired.as_str()),
                Caller::Revoked => Some(w.a_revoked.as_str()),
                Caller::OtherResident => {
                    b_token = w.council.sign_in(B_EMAIL).await;
                    requests += 1;
                    Some(b_token.as_str())
                }
                Caller::ResidentOnOfficerEndpoint => Some(w.a_token.as_str()),
                Caller::OfficerOnResidentObject => Some(w.officer.as_str()),
            };
            let (status, body) = w.call(method, &url, token, &(row.body)()).await;
            cells += 1;
            requests += 1;
            if status != want {
                wrong.push(format!(
                    "{caller:?} {method} {path}: got {status}, expected {want}: {body}"
                ));
            }
            if !documents(op, status) {
                wrong.push(format!(
                    "{caller:?} {method} {path}: {status} is not among the document's responses"
                ));
            }
            if status >= 400 {
                let kind = serde_json::from_str::<Value>(&body)
                    .ok()
                    .and_then(|v| v["kind"].as_str().map(str::to_string));
                let want_kind = match status {
                    401 => Some("unauthorised"),
                    403 => Some("forbidden"),
                    404 => Some("not_found"),
                    _ => None,
                };
                if want_kind.is_some() && kind.as_deref() != want_kind {
                    wrong.push(format!(
                        "{caller:?} {method} {path}: {status} with kind {kind:?}"
                    ));
                }
            }
            let leaked = w.leaks(&body);
            if !leaked.is_empty() {
                leaks.push(format!(
                    "{caller:?} {method} {path} ({status}) shows {leaked:?}"
                ));
            }
            covered.insert((method.clone(), path.clone()));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cells wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(
        leaks.is_empty(),
        "A's data reached someone else:\n{}",
        leaks.join("\n")
    );
    assert_eq!(covered, in_doc, "every operation was called at least once");

    // The ids are real: A (and an officer) get A's things with them. And nothing the other
    // callers sent changed any of them.
    for row in TABLE.iter().filter(|r| r.method == "get") {
        let token = match row.access {
            Access::Owned => &w.a_token,
            Access::Officer => &w.officer,
            _ => continue,
        };
        let (status, _) = w
            .call(row.method, &w.fill(row.path), Some(token), &Body::None)
            .await;
        requests += 1;
        assert_eq!(status, 200, "the rightful caller of {} gets it", row.path);
    }
    let permit = w
        .council
        .client
        .permit(&w.a_token, &w.permit_id)
        .await
        .unwrap();
    assert_eq!(permit.status, PermitStatus::Active);
    assert_eq!(permit.registration, A_REGISTRATION);
    let changes = w.council.client.address_changes(&w.a_token).await.unwrap();
    assert_eq!(changes.changes.len(), 1);
    assert_eq!(changes.changes[0].status, AddressChangeStatus::Submitted);
    assert_eq!(changes.changes[0].files.len(), 1);
    let payment = w
        .council
        .client
        .payment(&w.a_token, &w.payment_id)
        .await
        .unwrap();
    assert_eq!(payment.status, PaymentStatus::Succeeded);
    requests += 4;

    eprintln!(
        "authorisation matrix: {} operations in the document, {} cells, {} requests, {} leaks",
        in_doc.len(),
        cells,
        requests,
        leaks.len()
    );
}

#[tokio::test]
async fn no_one_but_the_owner_gets_at_a_residents_things_on_sqlite() {
    matrix(Db::Sqlite).await;
}

#[tokio::test]
async fn no_one_but_the_owner_gets_at_a_residents_things_on_postgres() {
    matrix(Db::Postgres).await;
}

/// The `.route("path", get(…).post(…))` calls in a router's source: (method, path) pairs.
fn routes_in_source(source: &str, prefix: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find(".route(") {
        let after = &rest[start + ".route(".len()..];
        let mut depth = 1;
        let mut end = after.len();
        for (i, c) in after.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let args = &after[..end];
        let path = args
            .trim_start()
            .strip_prefix('"')
            .and_then(|p| p.split('"').next())
            .expect("a route's path is a string literal");
        for method in ["get", "post", "put", "patch", "delete"] {
            let call = format!("{method}(");
            let mut from = 0;
            while let Some(at) = args[from..].find(&call) {
                let at = from + at;
                let before = args[..at].chars().next_back();
                if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    found.push((method.to_string(), format!("{prefix}{path}")));
                    break;
                }
                from = at + call.len();
            }
        }
        rest = &after[end..];
    }
    found
}

#[tokio::test]
async fn every_route_that_needs_a_token_is_in_the_openapi_document() {
    let w = world(Db::Sqlite).await;
    let served = served_operations(&w.council).await;
    let in_doc: BTreeSet<(String, String)> = served
        .iter()
        .map(|(m, p, _)| (m.clone(), p.clone()))
        .collect();

    // 1. The router's source: every route under /api/v1 is documented; the rest are listed
    //    in NOT_API with the reason they need no token.
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let api = std::fs::read_to_string(format!("{src}/routes.rs")).unwrap();
    let pay = std::fs::read_to_string(format!("{src}/pay_page.rs")).unwrap();
    let mut routes = routes_in_source(&api, kerbside_api::API_PREFIX);
    routes.extend(routes_in_source(&pay, ""));
    assert!(
        routes.len() >= in_doc.len(),
        "the source scan found the routes: {routes:?}"
    );
    for (method, path) in &routes {
        let known = in_doc.contains(&(method.clone(), path.clone()))
            || NOT_API.iter().any(|(m, p, _)| m == method && p == path);
        assert!(
            known,
            "{method} {path} is routed but neither in the OpenAPI document nor in NOT_API"
        );
    }
    for (method, path, why) in NOT_API {
        assert!(
            routes.contains(&(method.to_string(), path.to_string())),
            "NOT_API lists {method} {path}, which is not routed"
        );
        assert!(!why.is_empty());
    }

    // 2. No documented path answers a method the document does not list (a handler added to
    //    a path without documenting it would answer 401 or 2xx here, not 405).
    let mut requests = 0;
    let paths: BTreeSet<&str> = served.iter().map(|(_, p, _)| p.as_str()).collect();
    for path in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            if in_doc.contains(&(method.to_string(), path.to_string())) {
                continue;
            }
            let (status, body) = w.call(method, &w.fill(path), None, &Body::None).await;
            requests += 1;
            assert_eq!(
                status, 405,
                "{method} {path} is not documented, yet answers {status}: {body}"
            );
            assert!(w.leaks(&body).is_empty());
        }
    }

    // 3. Paths that look like they might exist, with A's ids: 404 (or 405), and nothing of A's,
    //    whoever asks.
    let guesses = [
        "/api/v1/accounts/{account}",
        "/api/v1/accounts",
        "/api/v1/sessions",
        "/api/v1/me/sessions",
        "/api/v1/permits/{permit}/payments",
        "/api/v1/permits/{permit}/history",
        "/api/v1/payments",
        "/api/v1/address-changes/{change}",
        "/api/v1/address-changes/{change}/files/{file}",
        "/api/v1/evidence/{file}",
        "/api/v1/officer",
        "/api/v1/officer/accounts",
        "/api/v1/officer/permits",
        "/api/v1/officer/audit-log",
        "/api/v1/admin",
        "/api/v2/permits",
        "/pay/{payment}",
        "/evidence/{file}",
        "/",
    ];
    for guess in guesses {
        let url = guess
            .replace("{account}", &w.a_id)
            .replace("{permit}", &w.permit_id)
            .replace("{payment}", &w.payment_id)
            .replace("{change}", &w.change_id)
            .replace("{file}", &w.file_id);
        for token in [None, Some(w.a_expired.as_str()), Some(w.officer.as_str())] {
            for method in ["get", "post", "delete"] {
                if in_doc.contains(&(method.to_string(), guess.to_string())) {
                    continue;
                }
                let (status, body) = w.call(method, &url, token, &Body::None).await;
                requests += 1;
                assert!(
                    status == 404 || status == 405,
                    "{method} {guess} answered {status}, so something is routed there: {body}"
                );
                assert!(
                    w.leaks(&body).is_empty(),
                    "{method} {guess} shows A's data: {body}"
                );
            }
        }
    }
    // 4. The payment page (not API, no bearer token) with A's payment id but not its page
    //    token: 404 for looking and for paying, and nothing of A's.
    for (method, body) in [("get", Body::None), ("post", Body::CardForm)] {
        let (status, page) = w
            .call(
                method,
                &w.fill("/pay/{payment_id}/{page_token}"),
                None,
                &body,
            )
            .await;
        requests += 1;
        assert_eq!(
            status, 404,
            "{method} of the payment page without its token: {page}"
        );
        assert!(
            w.leaks(&page).is_empty(),
            "the payment page shows A's data: {page}"
        );
    }

    eprintln!(
        "reverse check: {} routes in the source, {} undocumented-method and guessed-path requests",
        routes.len(),
        requests
    );
}

//! Input that schemathesis found the council mishandling, kept as tests so it stays fixed (on
//! SQLite and on PostgreSQL, where NUL characters used to fail in the database with a 500):
//! text with a NUL character is refused with a reason, an id with one is not found, a method
//! a route does not have gets 405 whatever its Idempotency-Key, a missing token is a 401 before
//! the key is judged, a whole number of pence may be written `1500.0`, and the OpenAPI document
//! lists the values and answers the server really has.

mod support;

use kerbside_api::ApiError;
use serde_json::json;
use support::{Db, TestCouncil};

async fn start(db: Db) -> TestCouncil {
    TestCouncil::start(db, "2027-03-01T09:00:00Z").await
}

fn registration_with_name(name: &str) -> serde_json::Value {
    json!({
        "email": "nul@example.org",
        "password": "a long enough password",
        "name": name,
        "address": {"line1": "7", "street": "Hazel Street", "town": "Leicester", "postcode": "LE2 7JN"}
    })
}

/// Posts `body` to the sign-up endpoint, as the app's registration form does.
async fn sign_up(council: &TestCouncil, body: &serde_json::Value) -> reqwest::Response {
    council
        .http
        .post(council.url("/api/v1/accounts"))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Asks for a quote for `body` as `token`, sending `key` as the Idempotency-Key.
async fn quote_with_key(
    council: &TestCouncil,
    token: &str,
    key: &str,
    body: &serde_json::Value,
) -> reqwest::Response {
    council
        .http
        .post(council.url("/api/v1/permits/quote"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Cancels the permit as `token` with `body` sent as it is.
async fn cancel(
    council: &TestCouncil,
    token: &str,
    permit_id: &str,
    body: serde_json::Value,
) -> reqwest::Response {
    council
        .http
        .post(council.url(&format!("/api/v1/permits/{permit_id}/cancellation")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn text_with_a_nul_character_is_refused_with_a_reason(db: Db) {
    let council = start(db).await;
    let alice = council.resident("alice@example.org").await;

    // Sign-up: the name has a NUL in it.
    let response = sign_up(&council, &registration_with_name("Sam\u{0}Patel")).await;
    assert_eq!(response.status(), 422);
    let error: ApiError = response.json().await.unwrap();
    assert_eq!(
        error.message,
        "Some text in this request contains a NUL character (\\u0000), which is not allowed. Remove it and send the request again."
    );
    assert_eq!(
        council
            .count("SELECT COUNT(*) FROM accounts WHERE email = 'nul@example.org'")
            .await,
        0
    );

    // Sign-in looks the email up: the NUL never reaches the database.
    let response = council
        .http
        .post(council.url("/api/v1/sessions"))
        .json(&json!({"email": "alice@example.org\u{0}", "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);

    // A backslash followed by "u0000" is ordinary text, and the same name without the NUL works.
    let response = sign_up(&council, &registration_with_name("Sam \\u0000 Patel")).await;
    assert_eq!(response.status(), 201);

    // An officer's rejection reason, and an id in the path.
    let officer = council.officer("officer@council.example").await;
    let response = council
        .http
        .post(council.url("/api/v1/officer/address-changes/abc/rejection"))
        .bearer_auth(&officer)
        .json(&json!({"reason": "blurred\u{0}"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    for path in [
        "/api/v1/permits/%00",
        "/api/v1/payments/a%00b",
        "/api/v1/officer/address-changes/%00/files/%00",
    ] {
        let token = if path.contains("officer") {
            &officer
        } else {
            &alice
        };
        let response = council
            .http
            .get(council.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
        let error: ApiError = response.json().await.unwrap();
        assert_eq!(
            error.message,
            "Nothing in the permit service has an id containing a NUL character."
        );
    }
}

/// Control characters (tabs, line breaks, escapes) would be printed on permits and letters;
/// they are refused with a reason wherever a name or an address is typed, and nothing is kept.
#[tokio::test]
async fn names_and_addresses_with_control_characters_are_refused_with_a_reason() {
    let council = start(Db::Sqlite).await;
    let response = sign_up(&council, &registration_with_name("Sam\tPatel")).await;
    assert_eq!(response.status(), 422);
    let error: ApiError = response.json().await.unwrap();
    assert!(
        error.message.starts_with("Your name contains a tab"),
        "{}",
        error.message
    );

    let mut registration = registration_with_name("Sam Patel");
    registration["address"]["street"] = json!("Hazel\nStreet");
    let response = sign_up(&council, &registration).await;
    assert_eq!(response.status(), 422);
    let error: ApiError = response.json().await.unwrap();
    assert!(
        error
            .message
            .starts_with("The street of your address contains a tab, line break"),
        "{}",
        error.message
    );
    assert_eq!(
        council
            .count("SELECT COUNT(*) FROM accounts WHERE email = 'nul@example.org'")
            .await,
        0
    );

    let alice = council.resident("alice@example.org").await;
    let response = council
        .http
        .post(council.url("/api/v1/address-changes"))
        .bearer_auth(&alice)
        .json(&json!({
            "address": {"line1": "3", "street": "Oak Road", "town": "\u{2}Leicester", "postcode": "LE2 7JN"},
            "document": "council_tax_bill"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert_eq!(
        council.count("SELECT COUNT(*) FROM address_changes").await,
        0
    );
}

#[tokio::test]
async fn text_with_a_nul_character_is_refused_with_a_reason_on_sqlite() {
    text_with_a_nul_character_is_refused_with_a_reason(Db::Sqlite).await;
}

#[tokio::test]
async fn text_with_a_nul_character_is_refused_with_a_reason_on_postgres() {
    text_with_a_nul_character_is_refused_with_a_reason(Db::Postgres).await;
}

#[tokio::test]
async fn a_method_a_route_does_not_have_is_405_whatever_its_idempotency_key() {
    let council = start(Db::Sqlite).await;
    let alice = council.resident("alice@example.org").await;
    let buy = json!({"permit_type": "annual_visitor", "registration": "AB12 CDE"});
    let bought = quote_with_key(&council, &alice, "key-1", &buy).await;
    assert_eq!(bought.status(), 200);

    // The same key on a method the route does not have: 405, not "key already used".
    for method in ["PUT", "DELETE", "TRACE"] {
        let response = council
            .http
            .request(
                method.parse().unwrap(),
                council.url("/api/v1/permits/quote"),
            )
            .bearer_auth(&alice)
            .header("Idempotency-Key", "key-1")
            .json(&buy)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method}");
    }
    // And a key that is not visible ASCII is only judged on a route that takes it.
    let response = council
        .http
        .patch(council.url("/api/v1/permits"))
        .bearer_auth(&alice)
        .header("Idempotency-Key", "")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let response = quote_with_key(&council, &alice, "", &buy).await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn without_a_token_the_answer_is_401_before_the_key_is_judged() {
    let council = start(Db::Sqlite).await;
    for key in ["", "a key with spaces", "ok-key"] {
        let response = council
            .http
            .post(council.url("/api/v1/permits/quote"))
            .header("Idempotency-Key", key)
            .json(&json!({"permit_type": "care", "registration": "AB12 CDE"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "key {key:?}");
    }
    // Nothing was reserved for the anonymous caller: sign-up may use "ok-key" afterwards.
    assert_eq!(
        council.count("SELECT COUNT(*) FROM idempotency_keys").await,
        0
    );
    let response = council
        .http
        .post(council.url("/api/v1/accounts"))
        .header("Idempotency-Key", "ok-key")
        .json(&registration_with_name("Sam Patel"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn a_refund_in_whole_pence_may_be_written_with_a_decimal_point() {
    let council = start(Db::Sqlite).await;
    let alice = council.resident("alice@example.org").await;
    let permit = council
        .buy_and_pay(
            &alice,
            kerbside_rules::PermitType::AnnualVisitor,
            "AB12 CDE",
        )
        .await;
    let quote = council
        .client
        .refund_quote(&alice, &permit.id)
        .await
        .unwrap();
    let response = cancel(
        &council,
        &alice,
        &permit.id,
        json!({"expected_refund_pence": quote.refund_pence as f64}),
    )
    .await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let response = cancel(
        &council,
        &alice,
        &permit.id,
        json!({"expected_refund_pence": 10.5}),
    )
    .await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn the_openapi_document_lists_the_values_and_answers_the_server_has() {
    let council = start(Db::Sqlite).await;
    let document: serde_json::Value = council.openapi_document().await;
    let schemas = &document["components"]["schemas"];
    assert_eq!(
        schemas["PermitType"]["enum"],
        json!(["annual_visitor", "care", "over_state_pension_age"])
    );
    assert_eq!(
        schemas["EvidenceDocument"]["enum"],
        json!([
            "council_tax_bill",
            "tenancy_agreement",
            "completion_statement"
        ])
    );
    assert_eq!(
        schemas["PermitRequest"]["properties"]["permit_type"]["$ref"],
        "#/components/schemas/PermitType"
    );
    assert_eq!(
        schemas["RegisterRequest"]["properties"]["password"]["minLength"],
        10
    );
    let buy = &document["paths"]["/api/v1/permits"]["post"];
    let key = buy["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Idempotency-Key")
        .unwrap();
    assert_eq!(key["schema"]["maxLength"], 255);
    assert_eq!(key["schema"]["pattern"], "^[!-~]+$");
    for status in ["400", "409", "422"] {
        assert!(buy["responses"][status].is_object(), "{status}");
    }
    // Every operation with a JSON body documents the 400 and 422 its reader can give.
    let sign_in = &document["paths"]["/api/v1/sessions"]["post"];
    assert!(sign_in["responses"]["422"].is_object());
}

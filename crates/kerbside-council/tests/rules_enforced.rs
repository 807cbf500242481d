//! Each rule the service enforces, with the answer a resident (or the app) gets when it breaks.

mod support;

use kerbside_api::types::*;
use kerbside_api::{ApiError, CouncilClient, ErrorKind};
use kerbside_rules::{PermitStatus, PermitType};
use support::{visitor, Db, TestCouncil};

async fn start() -> TestCouncil {
    TestCouncil::start(Db::Sqlite, "2027-03-01T09:00:00Z").await
}

#[tokio::test]
async fn another_residents_permit_is_not_found_and_never_shown() {
    let council = start().await;
    let alice = council.resident("alice@example.org").await;
    let bob = council
        .resident_at("bob@example.org", "3", "Westcotes Drive", "LE3 0QT", None)
        .await;
    let alices = council
        .buy_and_pay(&alice, PermitType::AnnualVisitor, "AL11 CEE")
        .await;

    for path in [
        format!("/api/v1/permits/{}", alices.id),
        format!("/api/v1/permits/{}/refund-quote", alices.id),
    ] {
        let response = council
            .http
            .get(council.url(&path))
            .bearer_auth(&bob)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
        let body = response.text().await.unwrap();
        assert!(!body.contains("AL11"), "{path} leaked: {body}");
    }
    let cancel = council
        .client
        .cancel(&bob, &alices.id, &CancellationRequest::default(), "k1")
        .await
        .unwrap_err();
    assert_eq!(cancel.kind(), ErrorKind::NotFound);
    let change = council
        .client
        .change_registration(
            &bob,
            &alices.id,
            &RegistrationChange {
                registration: "BO12 BBB".into(),
            },
            "k2",
        )
        .await
        .unwrap_err();
    assert_eq!(change.kind(), ErrorKind::NotFound);
    assert!(council
        .client
        .permits(&bob)
        .await
        .unwrap()
        .permits
        .is_empty());
    let still = council.client.permit(&alice, &alices.id).await.unwrap();
    assert_eq!(still.registration, "AL11 CEE");
    assert_eq!(still.status, PermitStatus::Active);
}

/// On both databases: on PostgreSQL the session is checked and the key reserved by one
/// statement (docs/BENCHMARKS.md, fix 31), on SQLite by two.
#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_buys_once_and_returns_the_first_answer() {
    for db in [Db::Sqlite, Db::Postgres] {
        let council = TestCouncil::start(db, "2027-03-01T09:00:00Z").await;
        let token = council.resident("retry@example.org").await;
        let key = CouncilClient::new_idempotency_key();
        let first = council
            .client
            .buy(&token, &visitor("AB12CDE"), &key)
            .await
            .unwrap();
        let second = council
            .client
            .buy(&token, &visitor("AB12CDE"), &key)
            .await
            .unwrap();
        assert_eq!(first.permit.id, second.permit.id, "{db:?}");
        assert_eq!(
            first.payment.as_ref().unwrap().id,
            second.payment.as_ref().unwrap().id
        );
        assert_eq!(council.count("SELECT COUNT(*) FROM permits").await, 1);
        assert_eq!(council.count("SELECT COUNT(*) FROM payments").await, 1);

        // The same key for a different request is refused, and changes nothing.
        let reused = council
            .client
            .buy(&token, &visitor("XY34ZZZ"), &key)
            .await
            .unwrap_err();
        assert_eq!(reused.kind(), ErrorKind::Validation, "{db:?}");
        assert!(
            reused
                .to_string()
                .contains("already used for a different request"),
            "{reused}"
        );
        assert_eq!(council.count("SELECT COUNT(*) FROM permits").await, 1);
    }
}

/// Who is asking comes before the key: a session that has ended gets 401 whatever its key,
/// and reserves none, so the key still works once the resident signs in again. A live session
/// with a malformed key gets 400.
#[tokio::test]
async fn a_session_that_has_ended_reserves_no_key_and_is_told_to_sign_in() {
    for db in [Db::Sqlite, Db::Postgres] {
        let council = TestCouncil::start(db, "2027-03-01T09:00:00Z").await;
        let token = council.resident("ended@example.org").await;
        let malformed = council
            .client
            .buy(&token, &visitor("AB12CDE"), "a key with spaces")
            .await
            .unwrap_err();
        assert_eq!(
            malformed.kind(),
            ErrorKind::Validation,
            "{db:?}: {malformed}"
        );
        assert!(
            malformed.to_string().contains("Idempotency-Key"),
            "{malformed}"
        );

        council.client.sign_out(&token).await.unwrap();
        let key = CouncilClient::new_idempotency_key();
        for key in [key.as_str(), "a key with spaces"] {
            let refused = council
                .client
                .buy(&token, &visitor("AB12CDE"), key)
                .await
                .unwrap_err();
            assert_eq!(
                refused.kind(),
                ErrorKind::Unauthorised,
                "{db:?} {key}: {refused}"
            );
            assert!(refused.to_string().contains("signed out"), "{refused}");
        }
        let reserved = format!("SELECT COUNT(*) FROM idempotency_keys WHERE key = '{key}'");
        assert_eq!(council.count(&reserved).await, 0, "{db:?}");
        assert_eq!(council.count("SELECT COUNT(*) FROM permits").await, 0);

        let again = council.sign_in("ended@example.org").await;
        let bought = council
            .client
            .buy(&again, &visitor("AB12CDE"), &key)
            .await
            .unwrap();
        assert_eq!(bought.permit.registration, "AB12 CDE", "{db:?}");
    }
}

#[tokio::test]
async fn a_household_may_hold_only_one_annual_visitor_permit() {
    let council = start().await;
    let first = council.resident("first@example.org").await;
    council
        .buy_and_pay(&first, PermitType::AnnualVisitor, "AB12CDE")
        .await;
    // Another account at the same address is the same household.
    let second = council
        .resident_at("second@example.org", "12", "hazel street", "le27jn", None)
        .await;
    let refused = council
        .client
        .buy(&second, &visitor("XY34ZZZ"), "k")
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Conflict);
    assert!(refused.to_string().contains("already has"), "{refused}");
    assert_eq!(council.count("SELECT COUNT(*) FROM permits").await, 1);
}

/// An unpaid permit holds the household's place only while its payment page is open (90
/// minutes); once the page has closed the household may buy again at once, with no read in
/// between to fail the old payment first. Postgres too: the count is one query on both.
#[tokio::test]
async fn an_unpaid_permit_holds_the_households_place_only_while_its_payment_page_is_open() {
    for db in [Db::Sqlite, Db::Postgres] {
        let council = TestCouncil::start(db, "2027-03-01T09:00:00Z").await;
        let token = council.resident("unpaid@example.org").await;
        let first = council
            .client
            .buy(&token, &visitor("AB12CDE"), "first")
            .await
            .unwrap();
        assert_eq!(first.permit.status, PermitStatus::AwaitingPayment);

        council.set_clock("2027-03-01T10:29:00Z");
        let while_open = council
            .client
            .buy(&token, &visitor("XY34ZZZ"), "while-open")
            .await
            .unwrap_err();
        assert_eq!(while_open.kind(), ErrorKind::Conflict, "{db:?}");

        council.set_clock("2027-03-01T10:31:00Z");
        let after = council
            .client
            .buy(&token, &visitor("XY34ZZZ"), "after")
            .await
            .unwrap();
        assert_eq!(after.permit.status, PermitStatus::AwaitingPayment, "{db:?}");
        assert_eq!(council.count("SELECT COUNT(*) FROM permits").await, 2);
    }
}

#[tokio::test]
async fn an_invalid_registration_is_refused_with_the_reason() {
    let council = start().await;
    let token = council.resident("reg@example.org").await;
    let refused = council
        .client
        .buy(&token, &visitor("HELLO WORLD"), "k")
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Validation);
    assert!(refused.to_string().ends_with('.'), "a sentence: {refused}");
    assert_eq!(council.count("SELECT COUNT(*) FROM permits").await, 0);
}

#[tokio::test]
async fn the_over_state_pension_age_permit_is_refused_before_pension_age_with_the_date() {
    let council = start().await;
    // Born 6 April 1961: State Pension age 67, reached 6 April 2028.
    let token = council
        .resident_at(
            "young@example.org",
            "12",
            "Hazel Street",
            "LE2 7JN",
            Some("1961-04-06"),
        )
        .await;
    let request = PermitRequest {
        permit_type: PermitType::OverStatePensionAge,
        ..visitor("AB12CDE")
    };
    let refused = council.client.buy(&token, &request, "k").await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Validation);
    assert!(refused.to_string().contains("6 April 2028"), "{refused}");

    let older = council
        .resident_at(
            "older@example.org",
            "14",
            "Hazel Street",
            "LE2 7JN",
            Some("1955-01-01"),
        )
        .await;
    let bought = council.client.buy(&older, &request, "k").await.unwrap();
    assert_eq!(bought.permit.permit_type, PermitType::OverStatePensionAge);
}

#[tokio::test]
async fn an_address_in_no_zone_can_register_but_cannot_buy() {
    let council = start().await;
    let token = council
        .resident_at("far@example.org", "1", "Elm Road", "LE9 9ZZ", None)
        .await;
    let profile = council.client.profile(&token).await.unwrap();
    assert_eq!(profile.zone, None);
    let refused = council
        .client
        .buy(&token, &visitor("AB12CDE"), "k")
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Validation);
    assert!(
        refused.to_string().contains("not in a permit zone"),
        "{refused}"
    );
}

#[tokio::test]
async fn an_expired_session_is_refused_with_a_reason_to_sign_in_again() {
    let council = start().await;
    let token = council.resident("expiry@example.org").await;
    assert!(council.client.permits(&token).await.is_ok());
    council.set_clock("2027-04-01T09:00:01Z");
    let refused = council.client.permits(&token).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Unauthorised);
    assert!(refused.to_string().contains("expired"), "{refused}");
}

#[tokio::test]
async fn a_wrong_password_does_not_say_whether_the_account_exists() {
    let council = start().await;
    council.resident("known@example.org").await;
    let wrong = council
        .client
        .sign_in(&SignInRequest {
            email: "known@example.org".into(),
            password: "not the password".into(),
        })
        .await
        .unwrap_err();
    let unknown = council
        .client
        .sign_in(&SignInRequest {
            email: "nobody@example.org".into(),
            password: "not the password".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(wrong.kind(), ErrorKind::Unauthorised);
    assert_eq!(wrong.to_string(), unknown.to_string());
}

#[tokio::test]
async fn malformed_json_and_unknown_fields_get_a_clear_400_and_change_nothing() {
    let council = start().await;
    let token = council.resident("json@example.org").await;
    for body in [
        r#"{"permit_type": "annual_visitor", "registration": "#,
        r#"{"permit_type":"annual_visitor","registration":"AB12CDE","discount":true}"#,
        r#"{"permit_type":"gold","registration":"AB12CDE"}"#,
    ] {
        let response = council
            .http
            .post(council.url("/api/v1/permits"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let error: ApiError = response.json().await.unwrap();
        assert_eq!(error.kind, ErrorKind::Validation);
        assert!(
            error.message.starts_with("The request body"),
            "{}",
            error.message
        );
    }
    assert_eq!(council.count("SELECT COUNT(*) FROM permits").await, 0);
}

#[tokio::test]
async fn a_request_without_a_token_is_told_to_sign_in() {
    let council = start().await;
    let response = council
        .http
        .get(council.url("/api/v1/permits"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let error: ApiError = response.json().await.unwrap();
    assert_eq!(error.kind, ErrorKind::Unauthorised);
}

#[tokio::test]
async fn renewal_is_refused_after_expiry_and_allowed_on_the_last_day() {
    let council = start().await;
    let token = council.resident("window@example.org").await;
    let permit = council
        .buy_and_pay(&token, PermitType::AnnualVisitor, "AB12CDE")
        .await;
    assert_eq!(permit.expires_on.to_string(), "2028-02-29");
    // The day after expiry: too late.
    council.set_clock("2028-03-01T12:00:00Z");
    let token = council.sign_in("window@example.org").await;
    let late = council
        .client
        .renew(
            &token,
            &permit.id,
            &RenewalRequest { return_url: None },
            "late",
        )
        .await
        .unwrap_err();
    assert_eq!(late.kind(), ErrorKind::Conflict);
    assert!(late.to_string().contains("expired"), "{late}");
    // The last day (late evening UK time is still that day): allowed.
    council.set_clock("2028-02-29T23:30:00Z");
    let renewed = council
        .client
        .renew(
            &token,
            &permit.id,
            &RenewalRequest { return_url: None },
            "last",
        )
        .await
        .unwrap();
    assert_eq!(renewed.permit.starts_on.to_string(), "2028-03-01");
}

// Concurrent renewals (50 devices, one or two server instances) are in races.rs.

#[tokio::test]
async fn the_openapi_document_lists_every_endpoint_with_its_errors() {
    let council = start().await;
    let doc: serde_json::Value = council.openapi_document().await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/accounts",
        "/api/v1/sessions",
        "/api/v1/sessions/current",
        "/api/v1/me",
        "/api/v1/permits",
        "/api/v1/permits/quote",
        "/api/v1/permits/{id}",
        "/api/v1/permits/{id}/registration",
        "/api/v1/permits/{id}/renewal",
        "/api/v1/permits/{id}/refund-quote",
        "/api/v1/permits/{id}/cancellation",
        "/api/v1/payments/{id}",
        "/api/v1/council",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    let buy = &paths["/api/v1/permits"]["post"]["responses"];
    for status in ["201", "400", "401", "409", "422"] {
        assert!(buy.get(status).is_some(), "buy lacks {status}");
    }
}

/// A purchase or renewal answers with the permit and payment it wrote, built from the rows it
/// inserted rather than read back (docs/BENCHMARKS.md, fix 26): that answer must be exactly
/// what reading the permit and the payment gives a moment later, on both databases, for a
/// paid and a free permit type, bought and renewed.
#[tokio::test]
async fn a_purchase_answers_with_what_a_read_of_its_permit_and_payment_then_gives() {
    for db in [Db::Sqlite, Db::Postgres] {
        let council = TestCouncil::start(db, "2027-03-01T09:00:00Z").await;
        let email = "answers@example.org";
        let token = council
            .resident_at(email, "12", "Hazel Street", "LE2 7JN", Some("1950-01-01"))
            .await;
        let agrees = |token: String, purchase: Purchase| {
            let client = council.client.clone();
            async move {
                let read = client.permit(&token, &purchase.permit.id).await.unwrap();
                assert_eq!(
                    serde_json::to_value(&purchase.permit).unwrap(),
                    serde_json::to_value(&read).unwrap(),
                    "{db:?}: the answer's permit"
                );
                if let Some(payment) = &purchase.payment {
                    let read = client.payment(&token, &payment.id).await.unwrap();
                    assert_eq!(
                        serde_json::to_value(payment).unwrap(),
                        serde_json::to_value(&read).unwrap(),
                        "{db:?}: the answer's payment"
                    );
                }
                purchase
            }
        };
        let buy = |permit_type| PermitRequest {
            permit_type,
            registration: "AN12 SWR".into(),
            carer_evidence: None,
            return_url: None,
        };
        let paid = council
            .client
            .buy(&token, &buy(PermitType::AnnualVisitor), "buy-paid")
            .await
            .unwrap();
        let paid = agrees(token.clone(), paid).await;
        assert!(paid.payment.is_some(), "a visitor permit is paid for");
        council
            .pay(paid.payment.as_ref().unwrap(), "4444333322221111")
            .await;
        let free = council
            .client
            .buy(&token, &buy(PermitType::OverStatePensionAge), "buy-free")
            .await
            .unwrap();
        let free = agrees(token.clone(), free).await;
        assert!(free.payment.is_none(), "the pension-age permit is free");

        council.set_clock("2028-02-15T09:00:00Z");
        let token = council.sign_in(email).await;
        for (bought, paid_for) in [(&paid, true), (&free, false)] {
            let renewal = council.renew(&token, &bought.permit.id).await.unwrap();
            let renewal = agrees(token.clone(), renewal).await;
            assert_eq!(renewal.payment.is_some(), paid_for, "{db:?}");
            assert_eq!(
                renewal.permit.renewal_of.as_deref(),
                Some(bought.permit.id.as_str())
            );
        }
    }
}

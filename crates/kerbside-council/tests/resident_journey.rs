//! The whole resident journey through the real HTTP server and the app's real client, on
//! SQLite and on PostgreSQL: register, sign in, buy, pay on the hosted page, edit
//! registration, renew (refused before the window with its opening date), cancel with refund.

mod support;

use kerbside_api::types::*;
use kerbside_api::{ClientError, CouncilClient, ErrorKind};
use kerbside_rules::{PermitStatus, PermitType};
use support::{visitor, Db, TestCouncil};

async fn journey(db: Db) {
    // 1 March 2027, 09:00 UK time.
    let council = TestCouncil::start(db, "2027-03-01T09:00:00Z").await;
    let token = council.resident("sam@example.org").await;
    let mut token = token;

    // Buying makes a permit that is NOT live until the council has the payment.
    let purchase = council
        .client
        .buy(
            &token,
            &PermitRequest {
                permit_type: PermitType::AnnualVisitor,
                registration: " ab12  cde ".into(),
                carer_evidence: None,
                return_url: Some("kerbside://payment-done".into()),
            },
            &CouncilClient::new_idempotency_key(),
        )
        .await
        .unwrap();
    assert_eq!(purchase.permit.registration, "AB12 CDE");
    assert_eq!(purchase.permit.status, PermitStatus::AwaitingPayment);
    assert_eq!(purchase.permit.price_pence, 4000);
    assert_eq!(purchase.permit.zone.code, "B");
    let payment = purchase.payment.expect("a £40 permit needs paying for");
    assert_eq!(payment.status, PaymentStatus::Created);

    let page = council.pay(&payment, "4444 3333 2222 1111").await;
    assert!(page.contains("Payment received"), "{page}");
    assert!(
        page.contains("kerbside://payment-done?payment_id="),
        "return link offered"
    );
    let paid = council.client.payment(&token, &payment.id).await.unwrap();
    assert_eq!(paid.status, PaymentStatus::Succeeded);
    let permit = council
        .client
        .permit(&token, &purchase.permit.id)
        .await
        .unwrap();
    assert_eq!(permit.status, PermitStatus::Active);
    assert_eq!(permit.starts_on.to_string(), "2027-03-01");
    assert_eq!(permit.expires_on.to_string(), "2028-02-29");

    // Edit registration: shown canonically and in the history.
    let changed = council
        .client
        .change_registration(
            &token,
            &permit.id,
            &RegistrationChange {
                registration: "xy34zzz".into(),
            },
            &CouncilClient::new_idempotency_key(),
        )
        .await
        .unwrap();
    assert_eq!(changed.registration, "XY34 ZZZ");
    assert!(changed
        .history
        .iter()
        .any(|h| h.kind == "registration_changed"
            && h.detail.contains("AB12 CDE")
            && h.detail.contains("XY34 ZZZ")));

    // Renewal before the window: refused, with the date it opens.
    let early = council.renew(&token, &permit.id).await.unwrap_err();
    assert_eq!(early.kind(), ErrorKind::Conflict);
    assert!(early.to_string().contains("30 January 2028"), "{early}");
    assert!(!permit.renewal_open);

    // The window opens 30 days before the last day (29 Feb 2028 → 30 Jan 2028).
    council.set_clock("2028-01-30T10:00:00Z");
    let expired = council.client.permits(&token).await.unwrap_err();
    assert_eq!(
        expired.kind(),
        ErrorKind::Unauthorised,
        "sessions last 30 days"
    );
    token = council.sign_in("sam@example.org").await;
    let listed = council.client.permits(&token).await.unwrap();
    assert!(listed.permits[0].renewal_open);
    let renewal = council.renew(&token, &permit.id).await.unwrap();
    assert_eq!(
        renewal.permit.starts_on.to_string(),
        "2028-03-01",
        "cover is continuous"
    );
    assert_eq!(renewal.permit.expires_on.to_string(), "2029-02-28");
    assert_eq!(
        renewal.permit.registration, "XY34 ZZZ",
        "renewal starts from the current details"
    );
    council
        .pay(renewal.payment.as_ref().unwrap(), "4444333322221111")
        .await;
    let renewed = council
        .client
        .permit(&token, &renewal.permit.id)
        .await
        .unwrap();
    assert_eq!(renewed.status, PermitStatus::Upcoming);
    let original = council.client.permit(&token, &permit.id).await.unwrap();
    assert_eq!(original.renewed_by.as_deref(), Some(renewed.id.as_str()));
    assert!(
        !original.renewal_open,
        "renewed permits do not offer renewal again"
    );

    // Cancel: the refund quoted is the refund recorded.
    let quote = council
        .client
        .refund_quote(&token, &permit.id)
        .await
        .unwrap();
    assert!(quote.refund_pence >= 0 && quote.refund_pence <= quote.paid_pence);
    let cancelled = council
        .client
        .cancel(
            &token,
            &permit.id,
            &CancellationRequest {
                expected_refund_pence: Some(quote.refund_pence),
            },
            &CouncilClient::new_idempotency_key(),
        )
        .await
        .unwrap();
    assert_eq!(cancelled.refund_pence, quote.refund_pence);
    assert_eq!(cancelled.permit.status, PermitStatus::Cancelled);
    let refunds = council
        .count(&format!(
            "SELECT COUNT(*) FROM refunds WHERE permit_id = '{}' AND amount_pence = {}",
            permit.id, quote.refund_pence
        ))
        .await;
    assert_eq!(refunds, 1);

    // Sign out revokes the token.
    council.client.sign_out(&token).await.unwrap();
    let after = council.client.permits(&token).await.unwrap_err();
    assert_eq!(after.kind(), ErrorKind::Unauthorised);
    council.server.stop().await;
}

#[tokio::test]
async fn a_resident_can_buy_pay_reregister_renew_and_cancel_on_sqlite() {
    journey(Db::Sqlite).await;
}

#[tokio::test]
async fn a_resident_can_buy_pay_reregister_renew_and_cancel_on_postgres() {
    journey(Db::Postgres).await;
}

#[tokio::test]
async fn a_declined_card_leaves_no_live_permit_and_says_why() {
    let council = TestCouncil::start(Db::Sqlite, "2027-03-01T09:00:00Z").await;
    let token = council.resident("decline@example.org").await;
    let purchase = council
        .client
        .buy(
            &token,
            &visitor("AB12CDE"),
            &CouncilClient::new_idempotency_key(),
        )
        .await
        .unwrap();
    let payment = purchase.payment.unwrap();
    let page = council.pay(&payment, "4000000000000002").await;
    assert!(page.contains("Your card was declined"), "{page}");
    let failed = council.client.payment(&token, &payment.id).await.unwrap();
    assert_eq!(failed.status, PaymentStatus::Failed);
    assert!(failed.failure_reason.unwrap().contains("declined"));
    let permit = council
        .client
        .permit(&token, &purchase.permit.id)
        .await
        .unwrap();
    assert_eq!(permit.status, PermitStatus::PaymentFailed);
    // Paying again on the same page does not revive it.
    let again = council.pay(&payment, "4444333322221111").await;
    assert!(again.contains("was not taken"), "{again}");
    assert_eq!(
        council
            .client
            .permit(&token, &purchase.permit.id)
            .await
            .unwrap()
            .status,
        PermitStatus::PaymentFailed
    );
    // And the household can buy again.
    let retry = council
        .buy_and_pay(&token, PermitType::AnnualVisitor, "AB12CDE")
        .await;
    assert_eq!(retry.status, PermitStatus::Active);
}

#[tokio::test]
async fn an_unpaid_payment_expires_and_its_permit_is_never_issued() {
    let council = TestCouncil::start(Db::Sqlite, "2027-03-01T09:00:00Z").await;
    let token = council.resident("slow@example.org").await;
    let purchase = council
        .client
        .buy(
            &token,
            &visitor("AB12CDE"),
            &CouncilClient::new_idempotency_key(),
        )
        .await
        .unwrap();
    council.set_clock("2027-03-01T10:31:00Z");
    let payment = council
        .client
        .payment(&token, &purchase.payment.unwrap().id)
        .await
        .unwrap();
    assert_eq!(payment.status, PaymentStatus::Failed);
    assert!(payment.next_url.is_none());
    let permit = council
        .client
        .permit(&token, &purchase.permit.id)
        .await
        .unwrap();
    assert_eq!(permit.status, PermitStatus::PaymentFailed);
}

#[tokio::test]
async fn free_permits_are_live_at_once_without_a_payment() {
    let council = TestCouncil::start(Db::Sqlite, "2027-03-01T09:00:00Z").await;
    let token = council.resident("carer@example.org").await;
    let purchase = council
        .client
        .buy(
            &token,
            &PermitRequest {
                permit_type: PermitType::Care,
                registration: "CA51 RER".into(),
                carer_evidence: Some("Leicester Home Care, ref 4471".into()),
                return_url: None,
            },
            &CouncilClient::new_idempotency_key(),
        )
        .await
        .unwrap();
    assert!(purchase.payment.is_none());
    assert_eq!(purchase.permit.status, PermitStatus::Active);
    assert_eq!(council.count("SELECT COUNT(*) FROM payments").await, 0);
}

#[tokio::test]
async fn the_client_reports_an_unreachable_council_as_offline() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = CouncilClient::new(format!("http://{addr}")).unwrap();
    let err = client.council().await.unwrap_err();
    assert!(matches!(err, ClientError::Offline), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Offline);
    assert!(err.to_string().contains("cannot be reached"));
}

/// Reads judge "can this still be paid?" from the row they fetch; this shows that when the page
/// has closed they fail the payment before answering, on the list and on the permit's own page.
#[tokio::test]
async fn a_permit_whose_payment_page_closed_reads_payment_failed_without_asking_for_the_payment() {
    for read_the_list_first in [true, false] {
        let council = TestCouncil::start(Db::Sqlite, "2027-03-01T09:00:00Z").await;
        let token = council.resident("late@example.org").await;
        let purchase = council
            .client
            .buy(
                &token,
                &visitor("AB12CDE"),
                &CouncilClient::new_idempotency_key(),
            )
            .await
            .unwrap();
        let permit_id = purchase.permit.id.clone();
        let listed = council.client.permits(&token).await.unwrap();
        let before = listed.permits.iter().find(|p| p.id == permit_id).unwrap();
        assert_eq!(before.status, PermitStatus::AwaitingPayment);
        assert!(before.open_payment.is_some());

        council.set_clock("2027-03-01T10:31:00Z");
        let read_from_list = || async {
            let list = council.client.permits(&token).await.unwrap();
            list.permits
                .into_iter()
                .find(|p| p.id == permit_id)
                .unwrap()
        };
        let read_one = || async { council.client.permit(&token, &permit_id).await.unwrap() };
        let (first, second) = if read_the_list_first {
            (read_from_list().await, read_one().await)
        } else {
            (read_one().await, read_from_list().await)
        };
        for permit in [first, second] {
            assert_eq!(
                permit.status,
                PermitStatus::PaymentFailed,
                "list first: {read_the_list_first}"
            );
            assert!(permit.open_payment.is_none());
        }
        let payment = council
            .client
            .payment(&token, &purchase.payment.unwrap().id)
            .await
            .unwrap();
        assert_eq!(payment.status, PaymentStatus::Failed);
    }
}

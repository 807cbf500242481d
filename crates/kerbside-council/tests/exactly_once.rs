//! Exactly once, through a real TCP proxy that loses answers: for sign-up, buy, pay, edit
//! registration, renew and cancel, the proxy forwards the request to the real council, reads
//! its whole answer (so it has committed), and closes the app's connection without passing the
//! answer on. The app's real `CouncilClient` sends the request again with the same
//! Idempotency-Key; the council hands back its first answer. Afterwards the council's tables
//! (queried directly) and its API hold exactly one account, permit, payment, registration
//! change, renewal and refund. On SQLite and on PostgreSQL.

#[path = "support/fault_proxy.rs"]
mod fault_proxy;
mod support;

use fault_proxy::FaultProxy;
use kerbside_api::types::*;
use kerbside_api::{ClientError, CouncilClient, ErrorKind};
use kerbside_rules::PermitStatus;
use support::{card_form, leicester_address, visitor, Db, TestCouncil, PASSWORD};

fn key() -> String {
    CouncilClient::new_idempotency_key()
}

/// Sends the card form to the hosted page at `url` (through the proxy).
async fn submit_card(http: &reqwest::Client, url: &str) -> Result<String, reqwest::Error> {
    http.post(url)
        .form(&card_form("4444 3333 2222 1111"))
        .send()
        .await?
        .text()
        .await
}

async fn count(council: &TestCouncil, sql: &str) -> i64 {
    council.count(sql).await
}

/// How many rows of the council's `table` have `column` equal to `value`.
async fn rows_where(council: &TestCouncil, table: &str, column: &str, value: &str) -> i64 {
    count(
        council,
        &format!("SELECT COUNT(*) FROM {table} WHERE {column} = '{value}'"),
    )
    .await
}

/// How many `kind` events the permit's history holds in the council's table.
async fn events(council: &TestCouncil, permit_id: &str, kind: &str) -> i64 {
    count(
        council,
        &format!(
            "SELECT COUNT(*) FROM permit_events WHERE permit_id = '{permit_id}' AND kind = '{kind}'"
        ),
    )
    .await
}

/// Asks (through `client`) to renew the permit, under a new idempotency key.
async fn renew(
    client: &CouncilClient,
    token: &str,
    permit_id: &str,
) -> Result<Purchase, ClientError> {
    client
        .renew(
            token,
            permit_id,
            &RenewalRequest { return_url: None },
            &key(),
        )
        .await
}

async fn every_action_happens_once_although_its_answer_was_lost(db: Db) -> usize {
    let council = TestCouncil::start(db, "2027-03-01T09:00:00Z").await;
    let proxy = FaultProxy::start(council.server.addr).await;
    let client = CouncilClient::new(proxy.url.clone()).unwrap();

    // Sign-up: the account is created once; the resend gets the first answer.
    proxy.lose_answers("POST", "/api/v1/accounts", 1);
    let profile = client
        .register(
            &RegisterRequest {
                email: "once@example.org".into(),
                password: PASSWORD.into(),
                name: "Oona Once".into(),
                address: leicester_address("12", "Hazel Street", "LE2 7JN"),
                date_of_birth: None,
                reminder_email: None,
            },
            &key(),
        )
        .await
        .expect("the resend answers");
    assert_eq!(proxy.faults(), 1);
    assert_eq!(
        count(
            &council,
            "SELECT COUNT(*) FROM accounts WHERE email = 'once@example.org'"
        )
        .await,
        1
    );
    let account = profile.id;
    let token = council.sign_in("once@example.org").await;

    // Buy, with two answers lost in a row: the third attempt answers.
    proxy.lose_answers("POST", "/api/v1/permits", 2);
    let purchase = client
        .buy(&token, &visitor("AB12CDE"), &key())
        .await
        .expect("the second resend answers");
    assert_eq!(proxy.faults(), 3);
    let permit_id = purchase.permit.id.clone();
    let payment = purchase.payment.expect("a £40 permit needs paying for");
    assert_eq!(
        rows_where(&council, "permits", "account_id", &account).await,
        1,
        "one permit"
    );
    assert_eq!(
        rows_where(&council, "payments", "account_id", &account).await,
        1,
        "one payment"
    );
    let listed = council.client.permits(&token).await.unwrap().permits;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, permit_id);

    // Pay: the browser's answer from the hosted page is lost; the resident presses Pay again.
    let next_url = payment.next_url.clone().unwrap();
    let pay_path = next_url
        .strip_prefix(&council.server.url)
        .expect("the page is on the council")
        .to_string();
    let proxied_page = format!("{}{pay_path}", proxy.url);
    proxy.lose_answers("POST", &pay_path, 1);
    let browser = reqwest::Client::new();
    assert!(
        submit_card(&browser, &proxied_page).await.is_err(),
        "the first answer is lost"
    );
    let page = submit_card(&browser, &proxied_page).await.unwrap();
    assert!(page.contains("Payment received"), "{page}");
    assert_eq!(proxy.faults(), 4);
    assert_eq!(
        count(
            &council,
            &format!(
                "SELECT COUNT(*) FROM payments WHERE permit_id = '{permit_id}' AND status = 'succeeded'"
            )
        )
        .await,
        1
    );
    assert_eq!(events(&council, &permit_id, "paid").await, 1, "paid once");
    assert_eq!(
        client.payment(&token, &payment.id).await.unwrap().status,
        PaymentStatus::Succeeded
    );

    // Edit registration: one change in the history.
    let path = format!("/api/v1/permits/{permit_id}/registration");
    proxy.lose_answers("PUT", &path, 1);
    let changed = client
        .change_registration(
            &token,
            &permit_id,
            &RegistrationChange {
                registration: "xy34zzz".into(),
            },
            &key(),
        )
        .await
        .expect("the resend answers, not 'already for XY34 ZZZ'");
    assert_eq!(changed.registration, "XY34 ZZZ");
    assert_eq!(proxy.faults(), 5);
    assert_eq!(
        events(&council, &permit_id, "registration_changed").await,
        1
    );
    let history = council.client.permit(&token, &permit_id).await.unwrap();
    assert_eq!(
        history
            .history
            .iter()
            .filter(|h| h.kind == "registration_changed")
            .count(),
        1
    );

    // Renew inside the window: one renewal, one payment for it.
    council.set_clock("2028-02-01T09:00:00Z");
    let token = council.sign_in("once@example.org").await;
    let path = format!("/api/v1/permits/{permit_id}/renewal");
    proxy.lose_answers("POST", &path, 1);
    let renewal = renew(&client, &token, &permit_id)
        .await
        .expect("the resend answers");
    assert_eq!(proxy.faults(), 6);
    let renewal_id = renewal.permit.id.clone();
    assert_eq!(
        rows_where(&council, "permits", "renewal_of", &permit_id).await,
        1,
        "one renewal"
    );
    assert_eq!(
        rows_where(&council, "payments", "permit_id", &renewal_id).await,
        1,
        "one payment for it"
    );
    council
        .pay(renewal.payment.as_ref().unwrap(), "4444333322221111")
        .await;
    let original = council.client.permit(&token, &permit_id).await.unwrap();
    assert_eq!(original.renewed_by.as_deref(), Some(renewal_id.as_str()));

    // Cancel the renewal with its quoted refund: one refund.
    let quote = client.refund_quote(&token, &renewal_id).await.unwrap();
    assert_eq!(quote.refund_pence, 4000, "nothing of it used yet");
    let path = format!("/api/v1/permits/{renewal_id}/cancellation");
    proxy.lose_answers("POST", &path, 1);
    let cancelled = client
        .cancel(
            &token,
            &renewal_id,
            &CancellationRequest {
                expected_refund_pence: Some(quote.refund_pence),
            },
            &key(),
        )
        .await
        .expect("the resend answers, not 'already cancelled'");
    assert_eq!(proxy.faults(), 7);
    assert_eq!(cancelled.refund_pence, 4000);
    assert_eq!(cancelled.permit.status, PermitStatus::Cancelled);
    assert_eq!(
        rows_where(&council, "refunds", "permit_id", &renewal_id).await,
        1,
        "one refund"
    );
    assert_eq!(events(&council, &renewal_id, "cancelled").await, 1);
    let all = council.client.permits(&token).await.unwrap().permits;
    assert_eq!(all.len(), 2, "the permit and its (cancelled) renewal");

    // Each of the five keyed actions was finally answered with the council's replay of its
    // first answer (the hosted page is not keyed: its second submission finds the payment
    // already taken).
    assert_eq!(proxy.replayed(), 5);
    assert_eq!(proxy.armed(), 0, "every planned fault was injected");
    let faults = proxy.faults();
    council.server.stop().await;
    faults
}

/// When more answers are lost than the client resends, the resident is told the council is
/// offline — and what happened at the council is still done once: the same key later gets the
/// same permit back.
async fn after_too_many_lost_answers_the_same_key_still_buys_once(db: Db) -> usize {
    let council = TestCouncil::start(db, "2027-03-01T09:00:00Z").await;
    let proxy = FaultProxy::start(council.server.addr).await;
    let client = CouncilClient::new(proxy.url.clone()).unwrap();
    let token = council.resident("patient@example.org").await;
    proxy.lose_answers("POST", "/api/v1/permits", 3);
    let key = key();
    let error = client
        .buy(&token, &visitor("AB12CDE"), &key)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Offline);
    assert_eq!(proxy.faults(), 3, "one send and two resends, all lost");
    assert_eq!(count(&council, "SELECT COUNT(*) FROM permits").await, 1);
    assert_eq!(count(&council, "SELECT COUNT(*) FROM payments").await, 1);

    let later = client.buy(&token, &visitor("AB12CDE"), &key).await.unwrap();
    let stored: String = sqlx::query_scalar("SELECT id FROM permits")
        .fetch_one(council.server.state.store.pool())
        .await
        .unwrap();
    assert_eq!(later.permit.id, stored);
    assert_eq!(count(&council, "SELECT COUNT(*) FROM permits").await, 1);
    let faults = proxy.faults();
    council.server.stop().await;
    faults
}

#[tokio::test]
async fn on_sqlite_every_action_happens_once_although_its_answer_was_lost() {
    let faults = every_action_happens_once_although_its_answer_was_lost(Db::Sqlite).await;
    eprintln!("exactly once (SQLite): {faults} answers lost");
}

#[tokio::test]
async fn on_postgres_every_action_happens_once_although_its_answer_was_lost() {
    let faults = every_action_happens_once_although_its_answer_was_lost(Db::Postgres).await;
    eprintln!("exactly once (PostgreSQL): {faults} answers lost");
}

#[tokio::test]
async fn on_sqlite_after_too_many_lost_answers_the_same_key_still_buys_once() {
    after_too_many_lost_answers_the_same_key_still_buys_once(Db::Sqlite).await;
}

#[tokio::test]
async fn on_postgres_after_too_many_lost_answers_the_same_key_still_buys_once() {
    after_too_many_lost_answers_the_same_key_still_buys_once(Db::Postgres).await;
}

/// The open payment as the permit shows it to its owner, from the council's list (through the
/// proxy, as the app sees it).
async fn open_payment_in_list(client: &CouncilClient, token: &str, permit_id: &str) -> Permit {
    client
        .permits(token)
        .await
        .unwrap()
        .permits
        .into_iter()
        .find(|p| p.id == permit_id)
        .expect("the permit is listed")
}

/// When every answer to a purchase (and later to a renewal) is lost, the permit is at the
/// council awaiting payment and its hosted page was only in the lost answer. The permit itself
/// (list and detail, its owner only) now carries the open payment: paying through it makes the
/// permit active exactly once, and once the 90 minutes are up the link is gone and the permit
/// reads "payment failed".
async fn a_purchase_whose_answers_were_all_lost_can_still_be_paid_through_the_permit(
    db: Db,
) -> usize {
    let council = TestCouncil::start(db, "2027-03-01T09:00:00Z").await;
    let proxy = FaultProxy::start(council.server.addr).await;
    let client = CouncilClient::new(proxy.url.clone()).unwrap();
    let token = council.resident("lost@example.org").await;

    proxy.lose_answers("POST", "/api/v1/permits", 3);
    let error = client
        .buy(&token, &visitor("AB12CDE"), &key())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Offline, "every answer was lost");
    assert_eq!(proxy.faults(), 3);
    let (permit_id, payment_id): (String, String) =
        sqlx::query_as("SELECT permit_id, id FROM payments")
            .fetch_one(council.server.state.store.pool())
            .await
            .unwrap();

    // A sync finds the permit awaiting payment, with its page.
    let listed = open_payment_in_list(&client, &token, &permit_id).await;
    assert_eq!(listed.status, PermitStatus::AwaitingPayment);
    let link = listed
        .open_payment
        .clone()
        .expect("the list offers the open payment");
    assert_eq!(link.payment_id, payment_id);
    assert!(
        link.next_url
            .starts_with(&format!("{}/pay/{payment_id}/", council.server.url)),
        "{}",
        link.next_url
    );
    assert_eq!(link.expires_at, support::at("2027-03-01T10:30:00Z"));
    let detail = client.permit(&token, &permit_id).await.unwrap();
    assert_eq!(detail.open_payment, Some(link.clone()), "the detail too");

    // Only its owner sees it: to anyone else the permit does not exist.
    let stranger = council.resident("stranger@example.org").await;
    let refused = client.permit(&stranger, &permit_id).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::NotFound);
    assert!(client.permits(&stranger).await.unwrap().permits.is_empty());

    // Paying through the link (the resident presses Pay twice) makes it active once.
    let browser = reqwest::Client::new();
    let page = submit_card(&browser, &link.next_url).await.unwrap();
    assert!(page.contains("Payment received"), "{page}");
    submit_card(&browser, &link.next_url).await.unwrap();
    assert_eq!(
        client.payment(&token, &payment_id).await.unwrap().status,
        PaymentStatus::Succeeded
    );
    let paid = open_payment_in_list(&client, &token, &permit_id).await;
    assert_eq!(paid.status, PermitStatus::Active);
    assert_eq!(paid.open_payment, None, "nothing left to pay");
    assert_eq!(events(&council, &permit_id, "paid").await, 1, "paid once");
    assert_eq!(
        count(
            &council,
            "SELECT COUNT(*) FROM payments WHERE status = 'succeeded'"
        )
        .await,
        1
    );
    assert_eq!(count(&council, "SELECT COUNT(*) FROM permits").await, 1);

    // A lost purchase left unpaid: the link is offered until the deadline, then the permit
    // has failed and offers nothing.
    let late = council
        .resident_at("late@example.org", "14", "Hazel Street", "LE2 7JN", None)
        .await;
    proxy.lose_answers("POST", "/api/v1/permits", 3);
    client
        .buy(&late, &visitor("CD34EFG"), &key())
        .await
        .unwrap_err();
    let late_id: String =
        sqlx::query_scalar(&format!("SELECT id FROM permits WHERE id <> '{permit_id}'"))
            .fetch_one(council.server.state.store.pool())
            .await
            .unwrap();
    council.set_clock("2027-03-01T10:29:59Z");
    let before = client.permit(&late, &late_id).await.unwrap();
    assert!(before.open_payment.is_some(), "payable for one more second");
    council.set_clock("2027-03-01T10:30:00Z");
    let after = open_payment_in_list(&client, &late, &late_id).await;
    assert_eq!(after.status, PermitStatus::PaymentFailed);
    assert_eq!(after.open_payment, None);

    // A renewal whose answers were all lost is paid the same way.
    council.set_clock("2028-02-01T09:00:00Z");
    let token = council.sign_in("lost@example.org").await;
    let path = format!("/api/v1/permits/{permit_id}/renewal");
    proxy.lose_answers("POST", &path, 3);
    let error = renew(&client, &token, &permit_id).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Offline);
    let renewal = client
        .permits(&token)
        .await
        .unwrap()
        .permits
        .into_iter()
        .find(|p| p.renewal_of.as_deref() == Some(permit_id.as_str()))
        .expect("the renewal is listed");
    assert_eq!(renewal.status, PermitStatus::AwaitingPayment);
    let link = renewal
        .open_payment
        .expect("the renewal offers its payment");
    let page = submit_card(&browser, &link.next_url).await.unwrap();
    assert!(page.contains("Payment received"), "{page}");
    let original = client.permit(&token, &permit_id).await.unwrap();
    assert_eq!(original.renewed_by.as_deref(), Some(renewal.id.as_str()));
    assert_eq!(original.open_payment, None, "a paid permit offers nothing");
    assert_eq!(
        rows_where(&council, "permits", "renewal_of", &permit_id).await,
        1,
        "one renewal"
    );
    assert_eq!(
        events(&council, &renewal.id, "paid").await,
        1,
        "the renewal paid once"
    );
    assert_eq!(proxy.armed(), 0, "every planned fault was injected");
    let faults = proxy.faults();
    council.server.stop().await;
    faults
}

#[tokio::test]
async fn on_sqlite_a_purchase_whose_answers_were_all_lost_can_still_be_paid_through_the_permit() {
    let faults =
        a_purchase_whose_answers_were_all_lost_can_still_be_paid_through_the_permit(Db::Sqlite)
            .await;
    eprintln!("lost purchase paid through the permit (SQLite): {faults} answers lost");
}

#[tokio::test]
async fn on_postgres_a_purchase_whose_answers_were_all_lost_can_still_be_paid_through_the_permit() {
    let faults =
        a_purchase_whose_answers_were_all_lost_can_still_be_paid_through_the_permit(Db::Postgres)
            .await;
    eprintln!("lost purchase paid through the permit (PostgreSQL): {faults} answers lost");
}

/// A purchase and the answer recorded under its key commit together: when the answer cannot be
/// recorded, the purchase is undone too, the resident is told nothing was changed, and the same
/// key, sent again once the council can record answers, buys the permit once.
async fn a_purchase_whose_answer_cannot_be_recorded_is_undone_and_the_same_key_buys_later(db: Db) {
    let council = TestCouncil::start(db, "2027-03-01T09:00:00Z").await;
    let token = council.resident("careful@example.org").await;
    // Recording an answer updates the key's reserved row; a trigger refuses that update.
    let refuse_answers: &[&str] = match db {
        Db::Sqlite => &[
            "CREATE TRIGGER refuse_answers BEFORE UPDATE OF status ON idempotency_keys \
             WHEN NEW.status IS NOT NULL BEGIN SELECT RAISE(ABORT, 'answers refused'); END",
        ],
        Db::Postgres => &[
            "CREATE FUNCTION refuse_answers() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'answers refused'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_answers BEFORE UPDATE OF status ON idempotency_keys \
             FOR EACH ROW WHEN (NEW.status IS NOT NULL) EXECUTE FUNCTION refuse_answers()",
        ],
    };
    let pool = council.server.state.store.pool();
    for statement in refuse_answers {
        sqlx::query(statement).execute(pool).await.unwrap();
    }
    let key = key();
    let error = council
        .client
        .buy(&token, &visitor("AB12CDE"), &key)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Internal, "{error:?}");
    assert!(error.to_string().contains("nothing was changed"), "{error}");
    assert_eq!(count(&council, "SELECT COUNT(*) FROM permits").await, 0);
    assert_eq!(count(&council, "SELECT COUNT(*) FROM payments").await, 0);

    sqlx::query("DROP TRIGGER refuse_answers ON idempotency_keys")
        .execute(pool)
        .await
        .or(sqlx::query("DROP TRIGGER refuse_answers")
            .execute(pool)
            .await)
        .unwrap();
    let bought = council
        .client
        .buy(&token, &visitor("AB12CDE"), &key)
        .await
        .unwrap();
    let again = council
        .client
        .buy(&token, &visitor("AB12CDE"), &key)
        .await
        .unwrap();
    assert_eq!(again.permit.id, bought.permit.id);
    assert_eq!(count(&council, "SELECT COUNT(*) FROM permits").await, 1);
    assert_eq!(count(&council, "SELECT COUNT(*) FROM payments").await, 1);
    council.server.stop().await;
}

#[tokio::test]
async fn on_sqlite_a_purchase_whose_answer_cannot_be_recorded_is_undone_and_the_same_key_buys_later(
) {
    a_purchase_whose_answer_cannot_be_recorded_is_undone_and_the_same_key_buys_later(Db::Sqlite)
        .await;
}

#[tokio::test]
async fn on_postgres_a_purchase_whose_answer_cannot_be_recorded_is_undone_and_the_same_key_buys_later(
) {
    a_purchase_whose_answer_cannot_be_recorded_is_undone_and_the_same_key_buys_later(Db::Postgres)
        .await;
}

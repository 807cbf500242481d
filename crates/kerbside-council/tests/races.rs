//! Races between devices and between server instances, on SQLite (one server) and on
//! PostgreSQL (two servers sharing one database, requests alternated between them).
//!
//! The invariants come from the rules' state machine (kerbside-rules lifecycle.rs) and the
//! service: a permit has at most one renewal being paid for or paid (the household lock, and
//! the `permits_one_live_renewal` index behind it); a renewal is issued only by its one
//! succeeded payment; a permit is cancelled once, with exactly one refund of the amount quoted;
//! a cancelled permit cannot be renewed — so a renewal still awaiting payment when its permit
//! is cancelled is withdrawn and can no longer be paid. Each race runs several rounds, each on
//! a fresh household (3 and 6 rounds; 8 and 20 with `KERBSIDE_LONG_TESTS=1`, as scripts/test.sh
//! runs them).

mod support;

use kerbside_api::types::*;
use kerbside_api::{ClientError, CouncilClient, ErrorKind};
use kerbside_rules::{PermitStatus, PermitType};
use std::collections::{BTreeMap, HashSet};
use support::{card_form, fresh_postgres_database, Db, TestCouncil};

const RENEWALS: usize = 50;
const PAY_CLICKS: usize = 10;

/// Rounds of a race: `short` always, `long` when `KERBSIDE_LONG_TESTS=1` (scripts/test.sh).
fn rounds(short: usize, long: usize) -> usize {
    match std::env::var("KERBSIDE_LONG_TESTS").as_deref() {
        Ok("1") => long,
        _ => short,
    }
}

fn renewal_rounds() -> usize {
    rounds(3, 8)
}

/// The cancel-and-renew race is cheaper per round, and its outcome varies, so it runs more.
fn cancel_rounds() -> usize {
    rounds(6, 20)
}

/// One council (SQLite) or two sharing a database (PostgreSQL).
struct Instances {
    all: Vec<TestCouncil>,
}

impl Instances {
    async fn start(db: Db, now: &str) -> Instances {
        let all = match db {
            Db::Sqlite => vec![TestCouncil::start(Db::Sqlite, now).await],
            Db::Postgres => {
                let url = fresh_postgres_database().await;
                vec![
                    TestCouncil::start_on(&url, now, None).await,
                    TestCouncil::start_on(&url, now, None).await,
                ]
            }
        };
        Instances { all }
    }

    /// The instance the `i`th request goes to.
    fn nth(&self, i: usize) -> &TestCouncil {
        &self.all[i % self.all.len()]
    }

    fn first(&self) -> &TestCouncil {
        &self.all[0]
    }

    fn set_clock(&self, rfc3339: &str) {
        for council in &self.all {
            council.set_clock(rfc3339);
        }
    }

    async fn count(&self, sql: &str) -> i64 {
        self.first().count(sql).await
    }

    /// The hosted page's URL on instance `i` (the page lives on every instance).
    fn page_on(&self, payment: &Payment, i: usize) -> String {
        let url = payment.next_url.clone().expect("payable");
        let path = self
            .all
            .iter()
            .find_map(|c| url.strip_prefix(&c.server.url))
            .expect("the page is on one of the instances")
            .to_string();
        format!("{}{path}", self.nth(i).server.url)
    }
}

/// A resident of `house` Hazel Street (their own household) with a paid Annual Visitor
/// permit bought on 1 March 2027; the clock must be there.
async fn resident_with_permit(instances: &Instances, email: &str, house: usize) -> Permit {
    let council = instances.first();
    let token = council
        .resident_at(email, &house.to_string(), "Hazel Street", "LE2 7JN", None)
        .await;
    let permit = council
        .buy_and_pay(&token, PermitType::AnnualVisitor, "AB12CDE")
        .await;
    assert_eq!(permit.status, PermitStatus::Active);
    permit
}

/// `count` residents (`{prefix}{n}@example.org` at house `first_house + n`), each with a paid
/// Annual Visitor permit: (email, permit).
async fn residents_with_permits(
    instances: &Instances,
    prefix: &str,
    count: usize,
    first_house: usize,
) -> Vec<(String, Permit)> {
    let mut permits = Vec::new();
    for n in 0..count {
        let email = format!("{prefix}{n}@example.org");
        permits.push((
            email.clone(),
            resident_with_permit(instances, &email, first_house + n).await,
        ));
    }
    permits
}

/// How many renewals of the permit the database holds.
async fn renewals_of(instances: &Instances, permit_id: &str) -> i64 {
    instances
        .count(&format!(
            "SELECT COUNT(*) FROM permits WHERE renewal_of = '{permit_id}'"
        ))
        .await
}

async fn submit_card(url: String, card: &'static str) -> String {
    reqwest::Client::new()
        .post(url)
        .form(&card_form(card))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn client_of(instances: &Instances, i: usize) -> CouncilClient {
    instances.nth(i).client.clone()
}

/// `RENEWALS` devices (spread over the instances) ask at once to renew the permit, each with
/// its own idempotency key.
fn renew_from_every_device(
    instances: &Instances,
    token: &str,
    permit_id: &str,
) -> Vec<tokio::task::JoinHandle<Result<Purchase, ClientError>>> {
    (0..RENEWALS)
        .map(|i| {
            let client = client_of(instances, i);
            let (token, id) = (token.to_string(), permit_id.to_string());
            tokio::spawn(async move {
                client
                    .renew(
                        &token,
                        &id,
                        &RenewalRequest { return_url: None },
                        &CouncilClient::new_idempotency_key(),
                    )
                    .await
            })
        })
        .collect()
}

/// `RENEWALS` devices renew the same permit at once, each with its own key; then
/// `PAY_CLICKS` devices submit the renewal's payment page at once; then `RENEWALS` more try
/// to renew again. Returns the number of requests made.
async fn devices_renewing_one_permit_at_once_make_one_renewal(db: Db) -> usize {
    let instances = Instances::start(db, "2027-03-01T09:00:00Z").await;
    let permits = residents_with_permits(&instances, "renew", renewal_rounds(), 20).await;
    // Inside the 30-day window (the permits end on 29 February 2028).
    instances.set_clock("2028-02-01T09:00:00Z");
    let mut requests = 0;
    for (email, permit) in &permits {
        let token = instances.first().sign_in(email).await;
        let attempts = renew_from_every_device(&instances, &token, &permit.id);
        requests += RENEWALS;
        let mut renewals = HashSet::new();
        let mut payments = HashSet::new();
        for attempt in attempts {
            match attempt.await.unwrap() {
                Ok(purchase) => {
                    renewals.insert(purchase.permit.id);
                    payments.insert(purchase.payment.expect("a renewal is paid for").id);
                }
                Err(e) => panic!("a renewal awaiting payment is handed back, not refused: {e}"),
            }
        }
        assert_eq!(renewals.len(), 1, "every device is given the same renewal");
        assert_eq!(payments.len(), 1, "and the same payment");
        let renewal_id = renewals.into_iter().next().unwrap();
        assert_eq!(
            renewals_of(&instances, &permit.id).await,
            1,
            "one renewal in the database"
        );
        assert_eq!(
            instances
                .count(&format!(
                    "SELECT COUNT(*) FROM payments WHERE permit_id = '{renewal_id}'"
                ))
                .await,
            1,
            "one payment in the database"
        );

        // Several devices press Pay on the same page at once: one payment is taken.
        let payment = client_of(&instances, 0)
            .payment(&token, payments.iter().next().unwrap())
            .await
            .unwrap();
        let clicks: Vec<_> = (0..PAY_CLICKS)
            .map(|i| {
                tokio::spawn(submit_card(
                    instances.page_on(&payment, i),
                    "4444333322221111",
                ))
            })
            .collect();
        requests += PAY_CLICKS;
        for click in clicks {
            let page = click.await.unwrap();
            assert!(page.contains("Payment received"), "{page}");
        }
        for (sql, expected) in [
            (
                format!("SELECT COUNT(*) FROM payments WHERE permit_id = '{renewal_id}' AND status = 'succeeded'"),
                1,
            ),
            (
                format!("SELECT COUNT(*) FROM permit_events WHERE permit_id = '{renewal_id}' AND kind = 'paid'"),
                1,
            ),
            (
                format!("SELECT COUNT(*) FROM permit_events WHERE permit_id = '{}' AND kind = 'renewed'", permit.id),
                1,
            ),
        ] {
            assert_eq!(instances.count(&sql).await, expected, "{sql}");
        }

        // Once paid, every further renewal is refused and nothing new is made.
        let again = renew_from_every_device(&instances, &token, &permit.id);
        requests += RENEWALS;
        for attempt in again {
            let refused = attempt.await.unwrap().unwrap_err();
            assert_eq!(refused.kind(), ErrorKind::Conflict, "{refused}");
            assert!(
                refused.to_string().contains("already been renewed"),
                "{refused}"
            );
        }
        assert_eq!(renewals_of(&instances, &permit.id).await, 1);
        let original = client_of(&instances, 1)
            .permit(&token, &permit.id)
            .await
            .unwrap();
        assert_eq!(original.renewed_by.as_deref(), Some(renewal_id.as_str()));
    }
    for council in instances.all {
        council.server.stop().await;
    }
    requests
}

/// What one round of the cancel-and-renew race ended as.
#[derive(Debug, Default)]
struct RaceOutcome {
    cancelled_first: usize,
    renewed_first: usize,
}

/// One device cancels a live permit while another renews it (five of each, interleaved, each
/// with its own key); then the renewing device pays whatever renewal it was given. The end is
/// always a cancelled permit with one refund and no live renewal: a renewal made before the
/// cancellation is withdrawn by it and its page takes no money.
async fn cancelling_and_renewing_at_once_ends_cancelled_with_no_live_renewal(
    db: Db,
) -> (usize, RaceOutcome) {
    const EACH: usize = 5;
    let instances = Instances::start(db, "2027-03-01T09:00:00Z").await;
    let permits = residents_with_permits(&instances, "cancel", cancel_rounds(), 40).await;
    instances.set_clock("2028-02-01T09:00:00Z");
    let mut outcome = RaceOutcome::default();
    let mut requests = 0;
    for (round, (email, permit)) in permits.iter().enumerate() {
        let token = instances.first().sign_in(email).await;
        let quote = client_of(&instances, 0)
            .refund_quote(&token, &permit.id)
            .await
            .unwrap();
        let mut cancels = Vec::new();
        let mut renewals = Vec::new();
        for i in 0..EACH * 2 {
            let client = client_of(&instances, i);
            let (token, id) = (token.clone(), permit.id.clone());
            let key = CouncilClient::new_idempotency_key();
            // Alternate which kind is sent first from round to round.
            if (i + round) % 2 == 0 {
                let request = CancellationRequest {
                    expected_refund_pence: Some(quote.refund_pence),
                };
                cancels.push(tokio::spawn(async move {
                    client.cancel(&token, &id, &request, &key).await
                }));
            } else {
                renewals.push(tokio::spawn(async move {
                    client
                        .renew(&token, &id, &RenewalRequest { return_url: None }, &key)
                        .await
                }));
            }
        }
        requests += EACH * 2;
        let mut cancelled = 0;
        for cancel in cancels {
            match cancel.await.unwrap() {
                Ok(c) => {
                    cancelled += 1;
                    assert_eq!(c.refund_pence, quote.refund_pence);
                }
                Err(e) => assert_conflict(&e, "cancelled, so it cannot be cancelled"),
            }
        }
        assert_eq!(cancelled, 1, "exactly one cancellation takes effect");
        let mut given: BTreeMap<String, Payment> = BTreeMap::new();
        for renewal in renewals {
            match renewal.await.unwrap() {
                Ok(purchase) => {
                    given.insert(purchase.permit.id, purchase.payment.expect("paid type"));
                }
                Err(e) => assert_conflict(&e, "cancelled, so it cannot be renewed"),
            }
        }
        assert!(given.len() <= 1, "at most one renewal: {given:?}");
        if given.is_empty() {
            outcome.cancelled_first += 1;
        } else {
            outcome.renewed_first += 1;
        }
        // The renewing device now pays for what it was given: nothing is taken.
        for (renewal_id, payment) in &given {
            if payment.next_url.is_some() {
                let page = submit_card(instances.page_on(payment, 1), "4444333322221111").await;
                requests += 1;
                assert!(page.contains("Payment not taken"), "{page}");
            } else {
                // The cancellation came between the renewal's commit and its answer, which
                // already shows the payment withdrawn.
                assert_eq!(payment.status, PaymentStatus::Failed);
            }
            let renewal = client_of(&instances, 1)
                .permit(&token, renewal_id)
                .await
                .unwrap();
            assert_eq!(renewal.status, PermitStatus::PaymentFailed);
        }

        let id = &permit.id;
        for (sql, expected) in [
            (format!("SELECT COUNT(*) FROM permits WHERE id = '{id}' AND state = 'cancelled'"), 1),
            (
                format!("SELECT COUNT(*) FROM refunds WHERE permit_id = '{id}' AND amount_pence = {}", quote.refund_pence),
                1,
            ),
            (format!("SELECT COUNT(*) FROM refunds WHERE permit_id = '{id}'"), 1),
            (
                format!("SELECT COUNT(*) FROM permits WHERE renewal_of = '{id}' AND state IN ('awaiting_payment', 'active')"),
                0,
            ),
            (
                format!("SELECT COUNT(*) FROM payments y JOIN permits p ON p.id = y.permit_id WHERE p.renewal_of = '{id}' AND y.status <> 'failed'"),
                0,
            ),
            (
                format!("SELECT COUNT(*) FROM permits WHERE renewal_of = '{id}'"),
                i64::try_from(given.len()).unwrap(),
            ),
        ] {
            assert_eq!(instances.count(&sql).await, expected, "{sql}");
        }
        let seen = client_of(&instances, 0)
            .permit(&token, &permit.id)
            .await
            .unwrap();
        assert_eq!(seen.status, PermitStatus::Cancelled);
        assert_eq!(seen.renewed_by, None, "no live renewal");
        // A cancelled permit stays unrenewable.
        let later = client_of(&instances, 1)
            .renew(
                &token,
                &permit.id,
                &RenewalRequest { return_url: None },
                &CouncilClient::new_idempotency_key(),
            )
            .await
            .unwrap_err();
        assert_conflict(&later, "cancelled, so it cannot be renewed");
    }
    for council in instances.all {
        council.server.stop().await;
    }
    (requests, outcome)
}

fn assert_conflict(error: &ClientError, says: &str) {
    assert_eq!(error.kind(), ErrorKind::Conflict, "{error}");
    assert!(error.to_string().contains(says), "{error}");
}

#[tokio::test]
async fn on_sqlite_fifty_devices_renewing_one_permit_at_once_make_one_renewal_and_one_payment() {
    let requests = devices_renewing_one_permit_at_once_make_one_renewal(Db::Sqlite).await;
    eprintln!(
        "renewal race (SQLite, 1 instance): {} rounds, {requests} requests",
        renewal_rounds()
    );
}

#[tokio::test]
async fn on_postgres_fifty_devices_renewing_through_two_instances_make_one_renewal_and_one_payment()
{
    let requests = devices_renewing_one_permit_at_once_make_one_renewal(Db::Postgres).await;
    eprintln!(
        "renewal race (PostgreSQL, 2 instances): {} rounds, {requests} requests",
        renewal_rounds()
    );
}

#[tokio::test]
async fn on_sqlite_cancelling_and_renewing_at_once_ends_cancelled_with_no_live_renewal() {
    let (requests, outcome) =
        cancelling_and_renewing_at_once_ends_cancelled_with_no_live_renewal(Db::Sqlite).await;
    eprintln!("cancel/renew race (SQLite, 1 instance): {requests} requests, {outcome:?}");
}

#[tokio::test]
async fn on_postgres_cancelling_and_renewing_through_two_instances_ends_cancelled_with_no_live_renewal(
) {
    let (requests, outcome) =
        cancelling_and_renewing_at_once_ends_cancelled_with_no_live_renewal(Db::Postgres).await;
    eprintln!("cancel/renew race (PostgreSQL, 2 instances): {requests} requests, {outcome:?}");
}

/// The bug the cancel-and-renew race found, step by step: before the fix, a renewal made just
/// before its permit was cancelled could still be paid, issuing next year's permit for a
/// permit the resident had cancelled and been refunded for.
#[tokio::test]
async fn a_renewal_awaiting_payment_is_withdrawn_when_its_permit_is_cancelled() {
    let instances = Instances::start(Db::Sqlite, "2027-03-01T09:00:00Z").await;
    let permit = resident_with_permit(&instances, "withdrawn@example.org", 7).await;
    instances.set_clock("2028-02-01T09:00:00Z");
    let council = instances.first();
    let token = council.sign_in("withdrawn@example.org").await;
    let renewal = council.renew(&token, &permit.id).await.unwrap();
    council
        .client
        .cancel(
            &token,
            &permit.id,
            &CancellationRequest::default(),
            &CouncilClient::new_idempotency_key(),
        )
        .await
        .unwrap();
    let payment = renewal.payment.unwrap();
    let page = council.pay(&payment, "4444333322221111").await;
    assert!(page.contains("Payment not taken"), "{page}");
    let after = council.client.payment(&token, &payment.id).await.unwrap();
    assert_eq!(after.status, PaymentStatus::Failed);
    let withdrawn = council
        .client
        .permit(&token, &renewal.permit.id)
        .await
        .unwrap();
    assert_eq!(withdrawn.status, PermitStatus::PaymentFailed);
    assert!(
        withdrawn
            .history
            .iter()
            .any(|h| h.detail.contains("renewal was withdrawn")),
        "the resident is told why: {:?}",
        withdrawn.history
    );
}

/// The race a council crash test found on PostgreSQL: overdue payments used to be failed by
/// two statements that each chose their own rows (first the permits, then the payments). A
/// payment that became overdue-and-visible between them (a purchase committed late by an
/// instance that had died, say) was failed while its permit stayed "awaiting payment" for
/// ever, and the household could then buy a second permit. Here another transaction makes
/// household B's payment overdue and commits while household A's read is failing A's overdue
/// payment; triggers that pause every update of `permits` and `payments` hold the sweep
/// between its statements long enough to be sure the commit lands there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_failing_overdue_payments_never_fails_a_payment_without_its_permit() {
    use sqlx::{Connection, Executor};
    let url = fresh_postgres_database().await;
    let council = TestCouncil::start_on(&url, "2027-03-01T09:00:00Z", None).await;
    let unpaid = |token: String| {
        let client = council.client.clone();
        async move {
            client
                .buy(
                    &token,
                    &support::visitor("AB12CDE"),
                    &CouncilClient::new_idempotency_key(),
                )
                .await
                .unwrap()
                .permit
        }
    };
    let token_a = council
        .resident_at("a@example.org", "1", "Hazel Street", "LE2 7JN", None)
        .await;
    let permit_a = unpaid(token_a.clone()).await;
    council.set_clock("2027-03-01T10:00:00Z");
    let token_b = council
        .resident_at("b@example.org", "2", "Hazel Street", "LE2 7JN", None)
        .await;
    let permit_b = unpaid(token_b).await;
    // A's payment page closed at 10:30; B's is open until 11:30.
    council.set_clock("2027-03-01T10:40:00Z");

    let mut setup = sqlx::PgConnection::connect(&url).await.unwrap();
    setup
        .execute(
            "CREATE FUNCTION pause_a_second() RETURNS trigger AS \
             'BEGIN PERFORM pg_sleep(1); RETURN NULL; END' LANGUAGE plpgsql; \
             CREATE TRIGGER pause_permits AFTER UPDATE ON permits \
             FOR EACH STATEMENT EXECUTE FUNCTION pause_a_second(); \
             CREATE TRIGGER pause_payments AFTER UPDATE ON payments \
             FOR EACH STATEMENT EXECUTE FUNCTION pause_a_second();",
        )
        .await
        .unwrap();
    let mut other = sqlx::PgConnection::connect(&url).await.unwrap();
    let mut late = other.begin().await.unwrap();
    sqlx::query("UPDATE payments SET expires_at = expires_at - 7200000 WHERE permit_id = $1")
        .bind(&permit_b.id)
        .execute(&mut *late)
        .await
        .unwrap();

    let read_a = tokio::spawn({
        let client = council.client.clone();
        async move { client.permits(&token_a).await.unwrap() }
    });
    // The sweep is inside its first statement (paused by its trigger): its rows are chosen.
    loop {
        let pausing: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' \
             AND datname = current_database()",
        )
        .fetch_one(&mut setup)
        .await
        .unwrap();
        if pausing > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    late.commit().await.unwrap();
    let list = read_a.await.unwrap();

    let a = list.permits.iter().find(|p| p.id == permit_a.id).unwrap();
    assert_eq!(
        a.status,
        PermitStatus::PaymentFailed,
        "A's overdue payment is failed"
    );
    let state_of_b: (String, String) = sqlx::query_as(
        "SELECT p.state, y.status FROM permits p JOIN payments y ON y.permit_id = p.id \
         WHERE p.id = $1",
    )
    .bind(&permit_b.id)
    .fetch_one(&mut setup)
    .await
    .unwrap();
    assert!(
        matches!(
            (state_of_b.0.as_str(), state_of_b.1.as_str()),
            ("awaiting_payment", "created") | ("payment_failed", "failed")
        ),
        "B's permit and payment fail together or not at all: {state_of_b:?}"
    );
}

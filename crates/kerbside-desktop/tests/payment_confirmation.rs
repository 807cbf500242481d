//! Payment confirmation in the app's core: a permit is shown as live only when the council
//! says its payment succeeded. Coming back to the app after a declined, expired or failing
//! card, an abandoned payment page or a forged return never makes a permit live; a payment
//! finished on the hosted page after the app was closed is picked up by the next sync of a new
//! app on the same data folder.
//!
//! Real parts: the council server on 127.0.0.1:0 over a SQLite file, the hosted payment page
//! over HTTP, the app's SQLite cache, and the OS keyring (scripts/test.sh runs these tests in
//! a D-Bus session with an unlocked gnome-keyring).

use kerbside_api::types::*;
use kerbside_api::{ErrorKind, FixedClock};
use kerbside_council::RunningServer;
use kerbside_desktop::Kerbside;
use kerbside_rules::{PermitStatus, PermitType};
use std::sync::Arc;

mod support;
use support::world::{at, registration, start_app, start_council, unique_keyring_service};

// The council tests' answer-losing proxy, shared rather than copied.
#[path = "../../kerbside-council/tests/support/fault_proxy.rs"]
mod fault_proxy;

const PASSWORD: &str = "a long enough password";

struct World {
    council: RunningServer,
    clock: Arc<FixedClock>,
    app_dir: tempfile::TempDir,
    keyring_service: String,
    _council_dir: tempfile::TempDir,
}

impl World {
    async fn new() -> World {
        let council_dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FixedClock::new(at("2027-03-01T09:00:00Z")));
        let council = start_council(council_dir.path(), clock.clone(), None).await;
        World {
            council,
            clock,
            app_dir: tempfile::tempdir().unwrap(),
            keyring_service: unique_keyring_service(),
            _council_dir: council_dir,
        }
    }

    /// A new app core on this world's data folder and keyring service (as when the app is
    /// started again).
    async fn app(&self) -> Kerbside {
        self.app_through(&self.council.url).await
    }

    /// Asserts that the council's tables hold the permit in `state`, with its payments in
    /// `payments` (one entry a payment).
    async fn assert_council_holds(&self, permit_id: &str, state: &str, payments: &[&str]) {
        assert_eq!(
            self.council_row(permit_id).await,
            (
                state.to_string(),
                payments.iter().map(|p| p.to_string()).collect::<Vec<_>>()
            ),
            "the council's record of permit {permit_id}"
        );
    }

    /// The permit's state and its payments' statuses, read from the council's tables.
    async fn council_row(&self, permit_id: &str) -> (String, Vec<String>) {
        let pool = self.council.state.store.pool();
        let state: String = sqlx::query_scalar("SELECT state FROM permits WHERE id = $1")
            .bind(permit_id)
            .fetch_one(pool)
            .await
            .unwrap();
        let payments: Vec<String> =
            sqlx::query_scalar("SELECT status FROM payments WHERE permit_id = $1")
                .bind(permit_id)
                .fetch_all(pool)
                .await
                .unwrap();
        (state, payments)
    }
}

async fn signed_up(app: &Kerbside, email: &str, line1: &str) {
    let mut request = registration(email, PASSWORD, "Pat Payer");
    request.address.line1 = line1.into();
    app.register(request).await.unwrap();
}

/// Signs a new resident up in `app` and buys a visitor permit, leaving its payment open.
/// Returns the permit's id and the payment.
async fn bought_awaiting_payment(app: &Kerbside, email: &str, line1: &str) -> (String, Payment) {
    signed_up(app, email, line1).await;
    let purchase = app.buy(visitor_permit()).await.unwrap();
    (purchase.permit.id, purchase.payment.unwrap())
}

fn visitor_permit() -> PermitRequest {
    PermitRequest {
        permit_type: PermitType::AnnualVisitor,
        registration: "PY12 ABC".into(),
        carer_evidence: None,
        // Where the payment page sends the resident back to. Kerbside never trusts it.
        return_url: Some("kerbside://payment-done".into()),
    }
}

/// Submits the hosted page's card form at `url`; returns the status and the page.
async fn submit_card(url: &str, card: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(url)
        .form(&[
            ("card_number", card),
            ("expiry_month", "12"),
            ("expiry_year", "2035"),
            ("cardholder_name", "Pat Payer"),
            ("security_code", "123"),
        ])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The card shown for `permit_id`, from the cache only (no network).
async fn cached_status(app: &Kerbside, permit_id: &str) -> PermitStatus {
    app.cached_permits()
        .await
        .unwrap()
        .permits
        .into_iter()
        .find(|c| c.permit.id == permit_id)
        .expect("the permit is cached")
        .status
}

#[tokio::test]
async fn returning_after_a_declined_expired_or_failing_card_never_makes_the_permit_live() {
    let world = World::new().await;
    let app = world.app().await;
    for (n, (card, says)) in [
        ("4000 0000 0000 0002", "declined"),
        ("4000 0000 0000 0069", "expired"),
        ("4000 0000 0000 0119", "could not be processed"),
    ]
    .into_iter()
    .enumerate()
    {
        // One household per card: a failed purchase does not hold the household's place.
        if n > 0 {
            app.sign_out().await.unwrap();
        }
        let (permit_id, payment) = bought_awaiting_payment(
            &app,
            &format!("card{n}@example.org"),
            &format!("{}", 70 + n),
        )
        .await;
        let (status, page) = submit_card(payment.next_url.as_ref().unwrap(), card).await;
        assert_eq!(status, 200);
        assert!(page.contains("Payment not taken"), "{card}: {page}");

        // Back in the app: it asks the council, which says the payment failed.
        let answer = app.payment(&payment.id).await.unwrap();
        assert_eq!(answer.status, PaymentStatus::Failed, "{card}");
        let reason = answer.failure_reason.unwrap_or_default().to_lowercase();
        assert!(reason.contains(says), "{card}: {reason}");
        assert_eq!(
            cached_status(&app, &permit_id).await,
            PermitStatus::PaymentFailed
        );
        let synced = app.sync().await.unwrap();
        assert!(
            synced
                .permits
                .iter()
                .all(|c| c.status != PermitStatus::Active),
            "{card}: nothing is live after a sync"
        );
        world
            .assert_council_holds(&permit_id, "payment_failed", &["failed"])
            .await;
    }
}

#[tokio::test]
async fn an_abandoned_payment_page_never_makes_the_permit_live_and_fails_at_its_deadline() {
    let world = World::new().await;
    let app = world.app().await;
    let (permit_id, payment) = bought_awaiting_payment(&app, "abandon@example.org", "80").await;
    // The page is opened, then its window is closed without paying.
    let opened = reqwest::get(payment.next_url.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(opened.status(), 200);
    assert_eq!(
        app.payment(&payment.id).await.unwrap().status,
        PaymentStatus::Created
    );
    assert_eq!(
        cached_status(&app, &permit_id).await,
        PermitStatus::AwaitingPayment
    );
    assert_eq!(
        app.sync().await.unwrap().permits[0].status_label,
        "Awaiting payment"
    );

    // 90 minutes later the payment has failed, and the permit was never issued.
    world.clock.advance(chrono::Duration::minutes(91));
    let answer = app.payment(&payment.id).await.unwrap();
    assert_eq!(answer.status, PaymentStatus::Failed);
    assert!(
        answer
            .failure_reason
            .unwrap_or_default()
            .contains("not finished in time"),
        "the resident is told why"
    );
    assert_eq!(
        cached_status(&app, &permit_id).await,
        PermitStatus::PaymentFailed
    );
    // The page no longer takes the card.
    let (_, page) = submit_card(payment.next_url.as_ref().unwrap(), "4444333322221111").await;
    assert!(page.contains("Payment not taken"), "{page}");
    world
        .assert_council_holds(&permit_id, "payment_failed", &["failed"])
        .await;
}

#[tokio::test]
async fn a_forged_return_never_makes_the_permit_live() {
    let world = World::new().await;

    // Someone else's payment, paid: its id must not count for anyone else.
    let other = world.app_in_own_folder().await;
    let (_, others_payment) = bought_awaiting_payment(&other.0, "other@example.org", "91").await;
    submit_card(
        others_payment.next_url.as_ref().unwrap(),
        "4444333322221111",
    )
    .await;

    let app = world.app().await;
    let (permit_id, payment) = bought_awaiting_payment(&app, "forged@example.org", "90").await;

    // The return link ("kerbside://payment-done?payment_id=…") arrives without any payment:
    // the app asks the council, which has no payment yet.
    assert_eq!(
        app.payment(&payment.id).await.unwrap().status,
        PaymentStatus::Created
    );
    assert_eq!(
        cached_status(&app, &permit_id).await,
        PermitStatus::AwaitingPayment
    );

    // A return naming a made-up payment, or another resident's paid one, is not found.
    for forged in ["pay_0000000000000000", others_payment.id.as_str()] {
        let refused = app.payment(forged).await.unwrap_err().to_ui();
        assert_eq!(refused.kind, ErrorKind::NotFound, "{forged}");
        assert_eq!(
            cached_status(&app, &permit_id).await,
            PermitStatus::AwaitingPayment,
            "{forged}"
        );
    }

    // A card submitted to the page with a guessed page token takes nothing.
    let next_url = payment.next_url.clone().unwrap();
    let guessed = format!(
        "{}/{}",
        next_url.rsplit_once('/').unwrap().0,
        "0".repeat(43)
    );
    let (status, page) = submit_card(&guessed, "4444333322221111").await;
    assert_eq!(status, 404, "{page}");
    assert_eq!(
        app.payment(&payment.id).await.unwrap().status,
        PaymentStatus::Created
    );

    let synced = app.sync().await.unwrap();
    assert_eq!(synced.permits.len(), 1);
    assert_eq!(synced.permits[0].status, PermitStatus::AwaitingPayment);
    world
        .assert_council_holds(&permit_id, "awaiting_payment", &["created"])
        .await;
}

#[tokio::test]
async fn a_payment_finished_after_the_app_was_closed_is_picked_up_on_the_next_sync() {
    let world = World::new().await;
    let app = world.app().await;
    let (permit_id, payment) = bought_awaiting_payment(&app, "later@example.org", "100").await;
    app.shutdown().await;
    drop(app);

    // The payment window outlives the app: the resident pays there.
    let (_, page) = submit_card(payment.next_url.as_ref().unwrap(), "4444333322221111").await;
    assert!(page.contains("Payment received"), "{page}");

    let app = world.app().await;
    assert_eq!(
        cached_status(&app, &permit_id).await,
        PermitStatus::AwaitingPayment,
        "before syncing, the cache still holds what it last heard"
    );
    let synced = app.sync().await.unwrap();
    let card = synced
        .permits
        .iter()
        .find(|c| c.permit.id == permit_id)
        .unwrap();
    assert_eq!(card.status, PermitStatus::Active);
    assert_eq!(card.status_label, "Live");
    assert_eq!(cached_status(&app, &permit_id).await, PermitStatus::Active);

    // The next start shows it live from the cache, before any sync.
    drop(app);
    let app = world.app().await;
    assert_eq!(cached_status(&app, &permit_id).await, PermitStatus::Active);
    world
        .assert_council_holds(&permit_id, "active", &["succeeded"])
        .await;
}

impl World {
    /// A second resident's app: its own data folder and keyring service, same council.
    async fn app_in_own_folder(&self) -> (Kerbside, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let app = start_app(
            dir.path(),
            self.clock.clone(),
            &self.council.url,
            &unique_keyring_service(),
        )
        .await;
        (app, dir)
    }
}

impl World {
    /// An app core that reaches the council through `url` (a proxy in front of it).
    async fn app_through(&self, url: &str) -> Kerbside {
        start_app(
            self.app_dir.path(),
            self.clock.clone(),
            url,
            &self.keyring_service,
        )
        .await
    }
}

/// The card of `permit_id` from the cache only (no network).
async fn cached_card(app: &Kerbside, permit_id: &str) -> kerbside_desktop::PermitCard {
    app.cached_permits()
        .await
        .unwrap()
        .permits
        .into_iter()
        .find(|c| c.permit.id == permit_id)
        .expect("the permit is cached")
}

#[tokio::test]
async fn a_purchase_whose_answer_was_lost_is_offered_for_payment_after_a_sync_and_paying_makes_it_live(
) {
    let world = World::new().await;
    let proxy = fault_proxy::FaultProxy::start(world.council.addr).await;
    let app = world.app_through(&proxy.url).await;
    signed_up(&app, "lost@example.org", "120").await;

    // Every answer to the purchase is lost (the send and both resends): the app never sees
    // the payment page, but the council holds the permit awaiting payment.
    proxy.lose_answers("POST", "/api/v1/permits", 3);
    let error = app.buy(visitor_permit()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Offline);
    assert_eq!(proxy.faults(), 3);
    assert!(app.cached_permits().await.unwrap().permits.is_empty());

    // A sync brings the card, with its payment page.
    let synced = app.sync().await.unwrap();
    assert_eq!(synced.permits.len(), 1);
    let card = &synced.permits[0];
    let permit_id = card.permit.id.clone();
    assert_eq!(card.status, PermitStatus::AwaitingPayment);
    assert!(
        card.can_pay,
        "the card offers \u{201c}Continue to payment\u{201d}"
    );
    let link = card
        .permit
        .open_payment
        .clone()
        .expect("the council's link");
    assert!(
        link.next_url
            .starts_with(&format!("{}/pay/", world.council.url)),
        "{}",
        link.next_url
    );
    // The cache keeps it (it is shown offline too, where the UI disables the button).
    drop(app);
    let app = world.app_through(&proxy.url).await;
    assert!(cached_card(&app, &permit_id).await.can_pay);

    // "Continue to payment": the same payment as a purchase, for the Buy flow.
    let purchase = app.continue_payment(&permit_id).await.unwrap();
    assert_eq!(purchase.permit.id, permit_id);
    let payment = purchase.payment.expect("a payment to make");
    assert_eq!(payment.id, link.payment_id);
    assert_eq!(payment.status, PaymentStatus::Created);
    assert_eq!(payment.next_url.as_deref(), Some(link.next_url.as_str()));

    let (_, page) = submit_card(&link.next_url, "4444333322221111").await;
    assert!(page.contains("Payment received"), "{page}");
    assert_eq!(
        app.payment(&payment.id).await.unwrap().status,
        PaymentStatus::Succeeded
    );
    let paid = cached_card(&app, &permit_id).await;
    assert_eq!(paid.status, PermitStatus::Active);
    assert!(!paid.can_pay && paid.permit.open_payment.is_none());
    assert_eq!(
        world.council_row(&permit_id).await,
        ("active".to_string(), vec!["succeeded".to_string()]),
        "one permit, paid once"
    );
    let again = app.continue_payment(&permit_id).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Validation);
    assert_eq!(
        again.to_ui().message,
        "This permit is live: there is nothing to pay."
    );
}

#[tokio::test]
async fn a_lost_purchase_left_unpaid_stops_offering_its_payment_at_the_deadline() {
    let world = World::new().await;
    let proxy = fault_proxy::FaultProxy::start(world.council.addr).await;
    let app = world.app_through(&proxy.url).await;
    signed_up(&app, "slow@example.org", "122").await;
    proxy.lose_answers("POST", "/api/v1/permits", 3);
    app.buy(visitor_permit()).await.unwrap_err();
    let permit_id = app.sync().await.unwrap().permits[0].permit.id.clone();
    assert!(cached_card(&app, &permit_id).await.can_pay);

    // Past the deadline the cached card (no network) already stops offering the page…
    world.clock.advance(chrono::Duration::minutes(90));
    assert!(!cached_card(&app, &permit_id).await.can_pay);
    // …and the council has failed the payment: nothing to continue.
    let refused = app.continue_payment(&permit_id).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Validation);
    assert!(
        refused.to_ui().message.contains("run out"),
        "{}",
        refused.to_ui().message
    );
    assert_eq!(
        cached_card(&app, &permit_id).await.status,
        PermitStatus::PaymentFailed
    );
    world
        .assert_council_holds(&permit_id, "payment_failed", &["failed"])
        .await;
}

//! End-to-end scenarios in the real app window (see tests/support/mod.rs for the harness).
//! Each asserts what the resident sees and what the council's database or the computer holds.

mod support;

use kerbside_api::types::{PostalAddress, RegisterRequest};
use kerbside_api::CouncilClient;
use kerbside_desktop::{KeyringSecrets, SecretStore};
use support::{App, AppDirs, Council, NotificationWatch, PASSWORD};

const DEMO_EMAIL: &str = "demo@kerbside.example";
const DEMO_PASSWORD: &str = "kerbside-demo-2026";
const APPROVED_CARD: &str = "4444 3333 2222 1111";
const DECLINED_CARD: &str = "4000 0000 0000 0002";

/// Registers a resident at 20 Walnut Street (zone B, not the demo resident's household), born
/// in 1990, through the council's API; the app then signs in through its window.
async fn register_resident(council: &Council, email: &str) {
    council
        .client()
        .register(
            &RegisterRequest {
                email: email.into(),
                password: PASSWORD.into(),
                name: "Bea Buyer".into(),
                address: PostalAddress {
                    line1: "20".into(),
                    street: "Walnut Street".into(),
                    town: "Leicester".into(),
                    postcode: "LE2 7JN".into(),
                },
                date_of_birth: chrono::NaiveDate::from_ymd_opt(1990, 6, 1),
                reminder_email: None,
            },
            &CouncilClient::new_idempotency_key(),
        )
        .await
        .expect("the council registers the resident");
}

/// Counts the resident's permits (by type and state) in the council's database.
async fn permits_of(council: &Council, email: &str, permit_type: &str, state: &str) -> i64 {
    council
        .count(&format!(
            "SELECT COUNT(*) FROM permits p JOIN accounts a ON a.id = p.account_id \
             WHERE a.email = '{email}' AND p.permit_type = '{permit_type}' AND p.state = '{state}'"
        ))
        .await
}

async fn payments_of(council: &Council, email: &str, status: &str) -> i64 {
    council
        .count(&format!(
            "SELECT COUNT(*) FROM payments p JOIN accounts a ON a.id = p.account_id \
             WHERE a.email = '{email}' AND p.status = '{status}'"
        ))
        .await
}

/// Goes from "Your permits" through the wizard's first step to the eligibility step.
async fn start_buying(app: &mut App, permit_type: &str, shot: bool) {
    app.click("#buy-button").await;
    app.find(&format!("[data-testid=type-{permit_type}]")).await;
    if shot {
        app.screen("buy-type").await;
    }
    app.click(&format!("[data-testid=type-{permit_type}]"))
        .await;
    app.click("#continue-button").await;
    app.find("[data-testid=step-eligibility]").await;
}

/// Types a registration on the registration step and waits for the check's answer.
async fn type_registration(app: &App, typed: &str, expect_hint: &str) -> String {
    app.type_into("#registration-input", typed).await;
    type_hint_settles(app, expect_hint).await
}

fn keyring_token(council_url: &str) -> Option<String> {
    KeyringSecrets::new("uk.kerbside.app")
        .get(&format!("session:{council_url}"))
        .expect("the keyring answers")
}

async fn cached_permit_rows(dirs: &AppDirs) -> i64 {
    let path = dirs.data_dir().join("kerbside-cache.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", path.display()))
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM permits")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}

#[tokio::test(flavor = "multi_thread")]
async fn scenario_1_register_sign_in_and_sign_out_leaves_no_session_or_cache() {
    let _serial = support::one_at_a_time().await;
    let council = Council::start("2027-03-01T09:00:00Z").await;
    let dirs = AppDirs::new();
    let mut app = App::launch("s1-register", &dirs, &council.url, "2027-03-01T09:00:00Z").await;
    app.find("#sign-in-email").await;
    app.screen("sign-in").await;

    app.click("#go-register-button").await;
    app.type_into("#register-email", "new.resident@example.org")
        .await;
    app.type_into("#register-password", PASSWORD).await;
    app.type_into("#register-name", "New Resident").await;
    app.type_into("#register-line1", "14").await;
    app.type_into("#register-street", "Hazel Street").await;
    app.type_into("#register-town", "Leicester").await;
    app.type_into("#register-postcode", "le2 7jn").await;
    app.screen("register").await;
    app.click("#register-button").await;
    app.wait_for_text("Signed in as").await;
    app.find("[data-testid=empty-state]").await;
    app.screen("no-permits").await;
    assert_eq!(
        council
            .count("SELECT COUNT(*) FROM accounts WHERE email = 'new.resident@example.org'")
            .await,
        1
    );
    let token = keyring_token(&council.url).expect("the session is in the keyring");
    assert!(!token.is_empty());

    // Sign out, then sign in as the demo resident to fill the cache, then sign out again.
    app.click("#nav-sign-out").await;
    app.find("#sign-in-email").await;
    assert_eq!(keyring_token(&council.url), None);
    app.sign_in("demo@kerbside.example", "kerbside-demo-2026")
        .await;
    app.find("[data-testid=permit-card]").await;
    assert!(
        cached_permit_rows(&dirs).await >= 2,
        "the demo permits are cached"
    );
    app.click("#nav-sign-out").await;
    app.find("#sign-in-email").await;
    app.screen("signed-out").await;
    assert_eq!(
        keyring_token(&council.url),
        None,
        "the keyring entry is gone"
    );
    assert_eq!(cached_permit_rows(&dirs).await, 0, "the cache is empty");
    app.quit().await;
}

async fn wait_for_notifications(watch: &NotificationWatch, n: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while watch.notify_calls().len() < n && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // A moment more, so a duplicate would be seen.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    watch.notify_calls()
}

#[tokio::test(flavor = "multi_thread")]
async fn scenario_5_one_notification_per_permit_when_renewal_opens_and_none_after_a_restart() {
    let _serial = support::one_at_a_time().await;
    let watch = NotificationWatch::start();
    // The demo resident's care permit (LM68 XYZ) started 345 days before the council's first
    // day, so its window is open; the visitor permit (AB12 CDE) started 304 days before, so
    // its window opens 30 days later.
    let mut council = Council::start("2027-03-01T09:00:00Z").await;
    let dirs = AppDirs::new();
    let app = App::launch("s5-renewal", &dirs, &council.url, "2027-03-01T09:00:00Z").await;
    app.sign_in("demo@kerbside.example", "kerbside-demo-2026")
        .await;
    app.find("[data-testid=permit-card]").await;
    let text = app.wait_for_text("Renewal opens on").await;
    assert!(text.contains("Renewal opens on 31 March 2027"), "{text}");
    let calls = wait_for_notifications(&watch, 1).await;
    assert_eq!(
        calls.len(),
        1,
        "one notification, for the care permit: {calls:?}"
    );
    assert!(calls[0].contains("LM68 XYZ"), "{}", calls[0]);
    // A renewal forced past the app is refused by the council with the same date.
    let api = council.client();
    let token = api
        .sign_in(&kerbside_api::types::SignInRequest {
            email: "demo@kerbside.example".into(),
            password: "kerbside-demo-2026".into(),
        })
        .await
        .unwrap()
        .token;
    let visitor = api
        .permits(&token)
        .await
        .unwrap()
        .permits
        .into_iter()
        .find(|p| p.registration == "AB12 CDE")
        .unwrap();
    let forced = api
        .renew(
            &token,
            &visitor.id,
            &kerbside_api::types::RenewalRequest { return_url: None },
            "forced-early-renewal",
        )
        .await
        .unwrap_err();
    assert_eq!(forced.kind(), kerbside_api::ErrorKind::Conflict);
    assert!(
        forced
            .to_string()
            .contains("Renewal opens on 31 March 2027"),
        "{forced}"
    );
    app.quit().await;

    // 31 days later: the visitor permit's window is open (the care permit has expired).
    council.clock.set(support::at("2027-04-01T09:00:00Z"));
    council.restart().await;
    let mut app = App::launch("s5-renewal", &dirs, &council.url, "2027-04-01T09:00:00Z").await;
    // The 30-day session has ended: the app asks to sign in again.
    app.sign_in("demo@kerbside.example", "kerbside-demo-2026")
        .await;
    app.find("[data-testid=renewal-badge]").await;
    app.screen("renewal-open").await;
    let calls = wait_for_notifications(&watch, 2).await;
    assert_eq!(calls.len(), 2, "exactly one more notification: {calls:?}");
    assert!(calls[1].contains("AB12 CDE"), "{}", calls[1]);
    // Renew through the same payment flow: the new term follows on from 1 May 2027.
    app.open_permit("AB12 CDE").await;
    app.click("#renew-button").await;
    app.click("#confirm-renew-button").await;
    app.pay_in_payment_window("4444333322221111", "renew-pay")
        .await;
    app.find("[data-testid=purchase-success]").await;
    app.screen("renewed").await;
    let follow_on = format!(
        "SELECT COUNT(*) FROM permits WHERE renewal_of = '{}' AND state = 'active' \
         AND starts_on = '2027-05-01' AND expires_on = '2028-04-30'",
        visitor.id
    );
    let (held, query) = (&council, &follow_on);
    app.wait_until(
        "the council holds the paid renewal",
        std::time::Duration::from_secs(20),
        || async move { held.count(query).await == 1 },
    )
    .await;
    app.quit().await;

    // A restart in the same window raises no second one.
    let app = App::launch("s5-renewal", &dirs, &council.url, "2027-04-01T10:00:00Z").await;
    app.wait_for_text("Renewed: the next permit follows on")
        .await;
    let calls = wait_for_notifications(&watch, 3).await;
    assert_eq!(calls.len(), 2, "a restart raises no second notification");
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scenario_2_buy_visitor_after_a_declined_card_then_care_and_pension_age_refused() {
    let _serial = support::one_at_a_time().await;
    let council = Council::start("2027-03-01T09:00:00Z").await;
    let email = "bea.buyer@example.org";
    register_resident(&council, email).await;
    let dirs = AppDirs::new();
    let mut app = App::launch("s2-buy", &dirs, &council.url, "2027-03-01T09:00:00Z").await;
    app.find("#sign-in-email").await;
    app.screen("sign-in").await;
    app.sign_in(email, PASSWORD).await;
    app.find("[data-testid=empty-state]").await;
    app.screen("no-permits").await;

    // Annual Visitor: the declined card first.
    start_buying(&mut app, "annual_visitor", true).await;
    app.screen("buy-eligibility-visitor").await;
    app.click("#continue-button").await;
    app.find("[data-testid=step-registration]").await;
    type_registration(&app, "kx21 rty", "Will be shown as KX21 RTY").await;
    app.screen("buy-registration").await;
    app.click("#continue-button").await;
    assert_eq!(app.text("#pay-button").await, "Pay £40.00");
    app.screen("buy-review-visitor").await;
    app.click("#pay-button").await;
    app.find("[data-testid=payment-status]").await;
    app.screen("payment-waiting").await;
    app.pay_in_payment_window(DECLINED_CARD, "payment-page")
        .await;
    let reason = app.text("[data-testid=failure-reason]").await;
    assert!(reason.contains("Your card was declined"), "{reason}");
    app.screen("payment-failed").await;
    assert_eq!(
        permits_of(&council, email, "annual_visitor", "active").await,
        0
    );
    assert_eq!(
        permits_of(&council, email, "annual_visitor", "payment_failed").await,
        1
    );
    assert_eq!(payments_of(&council, email, "failed").await, 1);
    assert_eq!(payments_of(&council, email, "succeeded").await, 0);

    // Try again with the card that is approved.
    app.click("#try-again-button").await;
    app.click("#pay-button").await;
    app.find("[data-testid=payment-status]").await;
    app.pay_in_payment_window(APPROVED_CARD, "payment-page-again")
        .await;
    app.find("[data-testid=purchase-success]").await;
    let text = app.wait_for_text("Your permit is live").await;
    assert!(text.contains("KX21 RTY"), "{text}");
    app.screen("purchase-success-visitor").await;
    assert_eq!(
        permits_of(&council, email, "annual_visitor", "active").await,
        1
    );
    assert_eq!(payments_of(&council, email, "succeeded").await, 1);
    assert_eq!(
        council
            .count(
                "SELECT COUNT(*) FROM permits WHERE registration = 'KX21RTY' AND state = 'active' \
                 AND price_pence = 4000"
            )
            .await,
        1
    );

    // Care: free, with the carer visits described.
    app.click("#done-button").await;
    app.find("[data-testid=permit-card]").await;
    app.screen("permits-one-visitor").await;
    start_buying(&mut app, "care", false).await;
    app.type_into(
        "#carer-evidence",
        "Leicester Home Care visits daily, client ref 9912",
    )
    .await;
    app.screen("buy-eligibility-care").await;
    app.click("#continue-button").await;
    app.find("[data-testid=step-registration]").await;
    type_registration(&app, "BX19 KLM", "Will be shown as BX19 KLM").await;
    app.click("#continue-button").await;
    assert_eq!(app.text("#pay-button").await, "Get free permit");
    app.screen("buy-review-care").await;
    app.click("#pay-button").await;
    app.find("[data-testid=purchase-success]").await;
    let text = app.wait_for_text("Your permit is live").await;
    assert!(text.contains("BX19 KLM"), "{text}");
    app.screen("purchase-success-care").await;
    assert_eq!(permits_of(&council, email, "care", "active").await, 1);
    assert_eq!(
        council
            .count(
                "SELECT COUNT(*) FROM permits WHERE registration = 'BX19KLM' \
                 AND carer_evidence LIKE 'Leicester Home Care visits daily%'"
            )
            .await,
        1
    );
    assert_eq!(
        payments_of(&council, email, "succeeded").await,
        1,
        "care is free"
    );

    // Over State Pension Age, for a resident born in 1990: refused at the eligibility step.
    app.click("#done-button").await;
    app.find("[data-testid=permit-card]").await;
    start_buying(&mut app, "over_state_pension_age", false).await;
    app.click("#continue-button").await;
    let error = app.text("[data-testid=step-error] p").await;
    assert!(error.contains("You reach State Pension age on"), "{error}");
    app.screen("buy-refused-pension-age").await;
    assert_eq!(
        council
            .count(
                "SELECT COUNT(*) FROM permits p JOIN accounts a ON a.id = p.account_id \
                 WHERE a.email = 'bea.buyer@example.org' AND p.permit_type = 'over_state_pension_age'"
            )
            .await,
        0
    );
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scenario_3_invalid_registrations_are_refused_as_typed_and_a_valid_one_is_normalised() {
    let _serial = support::one_at_a_time().await;
    let council = Council::start("2027-03-01T09:00:00Z").await;
    let email = "reg.checker@example.org";
    register_resident(&council, email).await;
    let dirs = AppDirs::new();
    let mut app = App::launch(
        "s3-registration",
        &dirs,
        &council.url,
        "2027-03-01T09:00:00Z",
    )
    .await;
    app.sign_in(email, PASSWORD).await;
    app.find("[data-testid=empty-state]").await;
    start_buying(&mut app, "annual_visitor", false).await;
    app.click("#continue-button").await;
    app.find("[data-testid=step-registration]").await;

    let hint = type_registration(&app, "AB12-CDE", "only letters and numbers").await;
    assert_eq!(
        hint,
        "A registration number contains only letters and numbers, not \u{201c}-\u{201d}."
    );
    assert_eq!(
        app.attr("#registration-input", "aria-invalid")
            .await
            .as_deref(),
        Some("true")
    );
    app.screen("registration-invalid-character").await;
    // Continue does not move on with a refused registration.
    app.click("#continue-button").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(app.exists("[data-testid=step-registration]").await);

    let hint = type_registration(&app, "AB00 CDE", "No registration was issued").await;
    assert!(hint.contains("numbers 00"), "{hint}");
    app.screen("registration-never-issued").await;

    type_registration(&app, " ab12  cde ", "Will be shown as AB12 CDE").await;
    assert_eq!(app.attr("#registration-input", "aria-invalid").await, None);
    app.screen("registration-valid").await;
    app.click("#continue-button").await;
    assert_eq!(
        app.text("[data-testid=review-registration]").await,
        "AB12 CDE"
    );
    app.click("#pay-button").await;
    app.pay_in_payment_window(APPROVED_CARD, "payment-page")
        .await;
    app.wait_for_text("Your permit is live").await;
    assert_eq!(
        app.text("[data-testid=result-registration]").await,
        "AB12 CDE"
    );
    app.click("#done-button").await;
    app.find("[data-testid=permit-card]").await;
    assert_eq!(
        app.cards().await,
        vec![("AB12 CDE".to_string(), "active".to_string())]
    );
    app.screen("permits-normalised-registration").await;
    assert_eq!(
        council
            .count(&format!(
                "SELECT COUNT(*) FROM permits p JOIN accounts a ON a.id = p.account_id \
                 WHERE a.email = '{email}' AND p.registration = 'AB12CDE' AND p.state = 'active'"
            ))
            .await,
        1
    );
    assert_eq!(
        council
            .count(&format!(
                "SELECT COUNT(*) FROM permits p JOIN accounts a ON a.id = p.account_id \
                 WHERE a.email = '{email}'"
            ))
            .await,
        1,
        "the refused registrations made no permit"
    );

    app.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scenario_4_edit_registration_shows_on_the_card_and_in_the_history() {
    let _serial = support::one_at_a_time().await;
    let council = Council::start("2027-03-01T09:00:00Z").await;
    let dirs = AppDirs::new();
    let mut app = App::launch("s4-edit", &dirs, &council.url, "2027-03-01T09:00:00Z").await;
    app.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    app.find("[data-testid=permit-card]").await;
    app.screen("permits-demo").await;
    app.open_permit("AB12 CDE").await;
    app.find("#edit-registration-button").await;
    app.screen("detail-visitor").await;
    app.click("#edit-registration-button").await;
    assert_eq!(
        app.text("[data-testid=current-registration]").await,
        "AB12 CDE"
    );
    type_registration(&app, "yk21bnp", "Will be shown as YK21 BNP").await;
    app.screen("edit-registration").await;
    app.click("#save-registration-button").await;
    assert_eq!(
        app.text("[data-testid=flash]").await,
        "Registration changed to YK21 BNP."
    );
    assert_eq!(
        app.text("[data-testid=detail-registration]").await,
        "YK21 BNP"
    );
    let history: Vec<String> = serde_json::from_value(
        app.driver
            .execute(
                "return [...document.querySelectorAll('[data-testid=history-entry]')]\
                 .map((e) => e.textContent);",
                vec![],
            )
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(
        history
            .iter()
            .any(|h| h.contains("Registration changed from AB12 CDE to YK21 BNP")),
        "{history:?}"
    );
    app.screen("detail-after-edit").await;
    app.click("#back-button").await;
    app.wait_for_card("YK21 BNP", "active").await;
    assert!(!app.cards().await.iter().any(|(reg, _)| reg == "AB12 CDE"));
    app.screen("permits-after-edit").await;
    assert_eq!(
        council
            .count(
                "SELECT COUNT(*) FROM permits WHERE permit_type = 'annual_visitor' \
                 AND registration = 'YK21BNP' AND state = 'active'"
            )
            .await,
        1
    );
    assert_eq!(
        council
            .count("SELECT COUNT(*) FROM permits WHERE registration = 'AB12CDE'")
            .await,
        0
    );
    assert_eq!(
        council
            .count("SELECT COUNT(*) FROM permit_events WHERE kind = 'registration_changed'")
            .await,
        1
    );
    app.quit().await;
}

/// "£6.00" → 600.
fn pence(text: &str) -> i64 {
    let at = text
        .find('£')
        .unwrap_or_else(|| panic!("no amount in {text:?}"));
    let amount: String = text[at + '£'.len_utf8()..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',')
        .filter(|c| *c != ',')
        .collect();
    let amount = amount.trim_end_matches('.');
    let (pounds, p) = amount.split_once('.').unwrap_or((amount, "0"));
    pounds.parse::<i64>().unwrap() * 100 + format!("{p:0<2}")[..2].parse::<i64>().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn scenario_6_cancel_refunds_what_was_quoted() {
    let _serial = support::one_at_a_time().await;
    let council = Council::start("2027-03-01T09:00:00Z").await;
    let dirs = AppDirs::new();
    let mut app = App::launch("s6-cancel", &dirs, &council.url, "2027-03-01T09:00:00Z").await;
    app.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    app.find("[data-testid=permit-card]").await;
    app.open_permit("AB12 CDE").await;
    app.click("#cancel-button").await;
    let quoted = app.text("[data-testid=refund-amount]").await;
    assert!(quoted.starts_with("You will get back £"), "{quoted}");
    let quoted_pence = pence(&quoted);
    assert!(
        quoted_pence > 0 && quoted_pence < 4000,
        "a part of the £40: {quoted}"
    );
    assert_eq!(quoted_pence % 100, 0, "rounded down to the pound: {quoted}");
    assert_eq!(
        pence(&app.text("[data-testid=refund-value]").await),
        quoted_pence
    );
    assert_eq!(
        app.text("#confirm-cancel-button").await,
        format!(
            "Cancel permit and refund £{}.{:02}",
            quoted_pence / 100,
            quoted_pence % 100
        )
    );
    app.screen("cancel-quote").await;
    app.click("#confirm-cancel-button").await;
    let result = app.text("[data-testid=cancel-result]").await;
    assert!(result.contains("AB12 CDE"), "{result}");
    assert_eq!(
        pence(&result[result.find("refund").unwrap()..]),
        quoted_pence,
        "{result}"
    );
    app.screen("cancel-result").await;

    let recorded = council
        .count(
            "SELECT r.amount_pence FROM refunds r JOIN permits p ON p.id = r.permit_id \
             WHERE p.registration = 'AB12CDE'",
        )
        .await;
    assert_eq!(
        recorded, quoted_pence,
        "the council refunded what it quoted"
    );
    assert_eq!(
        council
            .count(
                "SELECT refund_pence FROM permits WHERE registration = 'AB12CDE' \
                 AND state = 'cancelled'"
            )
            .await,
        quoted_pence
    );
    assert_eq!(council.count("SELECT COUNT(*) FROM refunds").await, 1);

    app.click("#done-button").await;
    app.wait_for_card("AB12 CDE", "cancelled").await;
    app.screen("permits-after-cancel").await;
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scenario_9_carer_switch_shows_only_care_permits_and_is_kept_after_a_restart() {
    let _serial = support::one_at_a_time().await;
    let council = Council::start("2027-03-01T09:00:00Z").await;
    let dirs = AppDirs::new();
    let both = vec![
        ("AB12 CDE".to_string(), "active".to_string()),
        ("LM68 XYZ".to_string(), "active".to_string()),
    ];
    let sorted = |mut v: Vec<(String, String)>| {
        v.sort();
        v
    };
    let mut app = App::launch("s9-filter", &dirs, &council.url, "2027-03-01T09:00:00Z").await;
    app.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    app.find("[data-testid=permit-card]").await;
    app.wait_until(
        "both demo permits",
        std::time::Duration::from_secs(10),
        || async { sorted(app.cards().await) == both },
    )
    .await;
    app.click("label[for=filter-care]").await;
    app.wait_until(
        "only the care permit",
        std::time::Duration::from_secs(10),
        || async { app.cards().await == vec![("LM68 XYZ".to_string(), "active".to_string())] },
    )
    .await;
    assert!(
        app.text("[data-testid=hidden-by-filter]")
            .await
            .contains("1 permit is hidden"),
        "the resident is told what is hidden"
    );
    app.screen("filter-care").await;
    app.quit().await;

    let mut app = App::launch("s9-filter", &dirs, &council.url, "2027-03-01T10:00:00Z").await;
    app.find("[data-testid=permit-card]").await;
    // Give a start-up sync time to redraw: the filter must still hold after it.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(
        app.cards().await,
        vec![("LM68 XYZ".to_string(), "active".to_string())],
        "the choice survives a restart"
    );
    let checked = app
        .driver
        .execute(
            "return document.querySelector('[data-testid=filter-care]').checked;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(checked, serde_json::Value::Bool(true));
    app.screen("filter-care-after-restart").await;
    app.click("label[for=filter-all]").await;
    app.wait_until(
        "both permits again",
        std::time::Duration::from_secs(10),
        || async { sorted(app.cards().await) == both },
    )
    .await;
    assert!(!app.exists("[data-testid=hidden-by-filter]").await);
    app.screen("filter-all").await;
    // The switch only changes what is shown: the council still has both permits, live.
    assert_eq!(
        council
            .count(
                "SELECT COUNT(*) FROM permits WHERE state = 'active' \
                 AND registration IN ('AB12CDE', 'LM68XYZ')"
            )
            .await,
        2
    );
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scenario_8_offline_shows_cached_permits_and_comes_back_without_a_restart() {
    let _serial = support::one_at_a_time().await;
    let mut council = Council::start("2027-03-01T09:00:00Z").await;
    let dirs = AppDirs::new();
    let mut app = App::launch("s8-offline", &dirs, &council.url, "2027-03-01T09:00:00Z").await;
    app.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    app.find("[data-testid=permit-card]").await;
    app.wait_for_text("Last updated").await;
    assert!(!app.exists("[data-testid=offline-banner]").await);

    council.stop().await;
    // Going to "Your permits" syncs with the council, which finds it gone.
    app.click("#nav-permits").await;
    app.wait_until(
        "the offline banner",
        std::time::Duration::from_secs(20),
        || async { app.exists("[data-testid=offline-banner]").await },
    )
    .await;
    let banner = app.text("[data-testid=offline-banner]").await;
    assert!(
        banner.contains("You are offline") && banner.contains("last updated"),
        "{banner}"
    );
    app.wait_until(
        "the buy button to be disabled",
        std::time::Duration::from_secs(5),
        || async { app.attr("#buy-button", "aria-disabled").await.as_deref() == Some("true") },
    )
    .await;
    assert_eq!(
        app.text("#buy-button-offline").await,
        "Needs a connection to the council",
        "the reason is shown next to the disabled button"
    );
    let mut cards = app.cards().await;
    cards.sort();
    assert_eq!(
        cards,
        vec![
            ("AB12 CDE".to_string(), "active".to_string()),
            ("LM68 XYZ".to_string(), "active".to_string()),
        ]
    );
    app.screen("offline").await;
    // A disabled buy button does nothing.
    app.click("#buy-button").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(app.exists("[data-testid=permit-card]").await);
    assert!(!app.exists("[data-testid=permit-type-choices]").await);
    app.quit().await;

    // Started while the council is still down: the permits come from the cache.
    let mut app = App::launch("s8-offline", &dirs, &council.url, "2027-03-01T09:30:00Z").await;
    app.find("[data-testid=permit-card]").await;
    let mut cards = app.cards().await;
    cards.sort();
    assert_eq!(
        cards,
        vec![
            ("AB12 CDE".to_string(), "active".to_string()),
            ("LM68 XYZ".to_string(), "active".to_string()),
        ],
        "cached permits shown while offline"
    );
    app.wait_until(
        "the offline banner after a restart",
        std::time::Duration::from_secs(20),
        || async { app.exists("[data-testid=offline-banner]").await },
    )
    .await;
    assert!(app
        .text("[data-testid=offline-banner]")
        .await
        .contains("last updated"));
    app.screen("offline-after-restart").await;

    council.restart().await;
    app.wait_until(
        "the offline banner to go",
        std::time::Duration::from_secs(30),
        || async { !app.exists("[data-testid=offline-banner]").await },
    )
    .await;
    app.wait_until(
        "the buy button to be enabled",
        std::time::Duration::from_secs(5),
        || async { app.attr("#buy-button", "aria-disabled").await.is_none() },
    )
    .await;
    app.screen("back-online").await;
    assert_eq!(
        council
            .count(
                "SELECT COUNT(*) FROM permits WHERE state = 'active' \
                 AND registration IN ('AB12CDE', 'LM68XYZ')"
            )
            .await,
        2,
        "the council's permits are as they were"
    );
    assert_eq!(cached_permit_rows(&dirs).await, 2);
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scenario_10_care_permit_bought_with_the_keyboard_only() {
    use fantoccini::key::Key;
    let _serial = support::one_at_a_time().await;
    let council = Council::start("2027-03-01T09:00:00Z").await;
    let email = "keys.only@example.org";
    register_resident(&council, email).await;
    let dirs = AppDirs::new();
    let mut app = App::launch("s10-keyboard", &dirs, &council.url, "2027-03-01T09:00:00Z").await;

    app.tab_to("#sign-in-email").await;
    app.press(email).await;
    app.tab_to("#sign-in-password").await;
    app.press(PASSWORD).await;
    app.press(&Key::Enter).await;
    app.find("[data-testid=empty-state]").await;

    app.tab_to("#buy-button").await;
    app.press(&Key::Enter).await;
    app.find("[data-testid=type-care]").await;
    app.tab_to("input[name=permit-type]").await;
    for _ in 0..5 {
        if app.focused("#type-care").await {
            break;
        }
        app.press(&Key::Down).await;
    }
    assert!(app.focused("#type-care").await, "arrow keys reach Care");
    app.press(&Key::Space).await;
    let checked = app
        .driver
        .execute(
            "return document.getElementById('type-care').checked;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(checked, serde_json::Value::Bool(true));
    app.screen("keyboard-type").await;
    app.tab_to("#continue-button").await;
    app.press(&Key::Enter).await;

    app.find("[data-testid=step-eligibility]").await;
    app.tab_to("#carer-evidence").await;
    app.press("Visits from Leicester Home Care twice a day")
        .await;
    app.tab_to("#continue-button").await;
    app.press(&Key::Enter).await;

    app.find("[data-testid=step-registration]").await;
    app.tab_to("#registration-input").await;
    app.press("gh17 tuv").await;
    let hint = type_hint_settles(&app, "Will be shown as GH17 TUV").await;
    assert_eq!(hint, "Will be shown as GH17 TUV");
    app.screen("keyboard-registration").await;
    app.press(&Key::Enter).await;

    app.find("[data-testid=review-registration]").await;
    app.tab_to("#pay-button").await;
    app.screen("keyboard-review").await;
    app.press(&Key::Space).await;
    app.find("[data-testid=purchase-success]").await;
    let text = app.wait_for_text("Your permit is live").await;
    assert!(text.contains("GH17 TUV"), "{text}");
    app.screen("keyboard-success").await;
    assert_eq!(permits_of(&council, email, "care", "active").await, 1);
    assert_eq!(
        council
            .count(
                "SELECT COUNT(*) FROM permits WHERE registration = 'GH17TUV' \
                 AND carer_evidence = 'Visits from Leicester Home Care twice a day'"
            )
            .await,
        1
    );
    app.quit().await;
}

/// Waits for the registration hint to say `expect`.
async fn type_hint_settles(app: &App, expect: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = app.text("[data-testid=registration-hint]").await;
        if text.contains(expect) {
            return text;
        }
        if std::time::Instant::now() > deadline {
            panic!("the hint said {text:?}, not {expect:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_purchase_left_unpaid_can_be_paid_later_from_its_card() {
    let _serial = support::one_at_a_time().await;
    let council = Council::start("2027-03-01T09:00:00Z").await;
    let email = "una.paid@example.org";
    register_resident(&council, email).await;
    let dirs = AppDirs::new();
    let mut app = App::launch("unpaid", &dirs, &council.url, "2027-03-01T09:00:00Z").await;
    app.sign_in(email, PASSWORD).await;
    app.find("[data-testid=empty-state]").await;
    start_buying(&mut app, "annual_visitor", false).await;
    app.click("#continue-button").await;
    app.find("[data-testid=step-registration]").await;
    type_registration(&app, "KX21 RTY", "Will be shown as KX21 RTY").await;
    app.click("#continue-button").await;
    app.click("#pay-button").await;
    app.find("[data-testid=payment-status]").await;

    // The resident closes the payment window without paying.
    let main = app.driver.window().await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let payment = loop {
        let windows = app.driver.windows().await.unwrap();
        if let Some(w) = windows.into_iter().find(|w| *w != main) {
            break w;
        }
        assert!(std::time::Instant::now() < deadline, "no payment window");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    app.driver.switch_to_window(payment).await.unwrap();
    app.driver.close_window().await.unwrap();
    app.driver.switch_to_window(main).await.unwrap();
    app.click("#abandon-payment-button").await;
    app.wait_for_text("Not paid yet, so the permit is not valid")
        .await;
    assert_eq!(
        permits_of(&council, email, "annual_visitor", "active").await,
        0
    );

    // Later, from the list: the card says so and offers to pay.
    app.wait_for_card("KX21 RTY", "awaiting_payment").await;
    app.find("[data-testid=continue-payment-button]").await;
    app.screen("awaiting-payment-card").await;
    app.click("[data-testid=continue-payment-button]").await;
    app.pay_in_payment_window("4444333322221111", "continue-pay")
        .await;
    app.find("[data-testid=purchase-success]").await;
    app.screen("continued-payment-done").await;
    let held = &council;
    app.wait_until(
        "the council holds the paid permit",
        std::time::Duration::from_secs(20),
        || async move { permits_of(held, email, "annual_visitor", "active").await == 1 },
    )
    .await;
    assert_eq!(payments_of(&council, email, "succeeded").await, 1);
    app.click("#nav-permits").await;
    app.wait_for_card("KX21 RTY", "active").await;
    app.quit().await;
}

//! End-to-end scenarios in the real app window (see tests/support/mod.rs for the harness).
//! Each asserts what the resident sees and what the council's database or the computer holds.

mod support;

use kerbside_desktop::{KeyringSecrets, SecretStore};
use support::{App, AppDirs, Council, NotificationWatch, PASSWORD};

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
    app.screenshot("sign-in").await;

    app.click("#go-register-button").await;
    app.type_into("#register-email", "new.resident@example.org")
        .await;
    app.type_into("#register-password", PASSWORD).await;
    app.type_into("#register-name", "New Resident").await;
    app.type_into("#register-line1", "14").await;
    app.type_into("#register-street", "Hazel Street").await;
    app.type_into("#register-town", "Leicester").await;
    app.type_into("#register-postcode", "le2 7jn").await;
    app.screenshot("register").await;
    app.click("#register-button").await;
    app.wait_for_text("Signed in as").await;
    app.find("[data-testid=empty-state]").await;
    app.screenshot("no-permits").await;
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
    app.screenshot("signed-out").await;
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
    app.quit().await;

    // 31 days later: the visitor permit's window is open (the care permit has expired).
    council.clock.set(support::at("2027-04-01T09:00:00Z"));
    council.restart().await;
    let mut app = App::launch("s5-renewal", &dirs, &council.url, "2027-04-01T09:00:00Z").await;
    // The 30-day session has ended: the app asks to sign in again.
    app.sign_in("demo@kerbside.example", "kerbside-demo-2026")
        .await;
    app.find("[data-testid=renewal-badge]").await;
    app.screenshot("renewal-open").await;
    let calls = wait_for_notifications(&watch, 2).await;
    assert_eq!(calls.len(), 2, "exactly one more notification: {calls:?}");
    assert!(calls[1].contains("AB12 CDE"), "{}", calls[1]);
    app.quit().await;

    // A restart in the same window raises no second one.
    let app = App::launch("s5-renewal", &dirs, &council.url, "2027-04-01T10:00:00Z").await;
    app.find("[data-testid=renewal-badge]").await;
    let calls = wait_for_notifications(&watch, 3).await;
    assert_eq!(calls.len(), 2, "a restart raises no second notification");
    app.quit().await;
}

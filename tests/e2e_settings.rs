//! End-to-end: "Start Kerbside when I sign in to this computer" in Settings writes (and removes)
//! the login item, which starts Kerbside into the system tray so reminders survive a reboot.

mod support;

use support::{App, AppDirs, Council};

#[tokio::test(flavor = "multi_thread")]
async fn start_at_login_is_off_until_chosen_and_writes_a_login_item_that_starts_in_the_tray() {
    let _serial = support::one_at_a_time().await;
    let council = Council::start("2027-03-01T09:00:00Z").await;
    let dirs = AppDirs::new();
    let mut app = App::launch("settings", &dirs, &council.url, "2027-03-01T09:00:00Z").await;
    app.click("[data-testid=nav-settings]").await;
    let login_items = dirs.root.path().join("home/.config/autostart");
    let box_ = app.find("#autostart-checkbox").await;
    assert!(!box_.is_selected().await.unwrap(), "off by default");
    assert!(!login_items.exists() || std::fs::read_dir(&login_items).unwrap().next().is_none());

    app.click("label[for=autostart-checkbox]").await;
    app.wait_for_text("Kerbside will start when you sign in")
        .await;
    app.screen("settings-autostart-on").await;
    let entries: Vec<_> = std::fs::read_dir(&login_items)
        .expect("a login item folder")
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let item = std::fs::read_to_string(&entries[0]).unwrap();
    assert!(item.contains("--in-tray"), "{item}");

    app.click("label[for=autostart-checkbox]").await;
    app.wait_for_text("Kerbside will not start by itself").await;
    assert!(
        !entries[0].exists(),
        "turning it off removes the login item"
    );
    app.quit().await;
}

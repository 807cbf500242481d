//! End-to-end: how Kerbside fits the desktop it runs on.
//! - "Start Kerbside when I sign in to this computer" in Settings writes (and removes) the login
//!   item, which starts Kerbside into the system tray so reminders survive a reboot.
//! - A click on a renewal notification (invoked through the notification daemon itself) opens
//!   the app at that permit.
//! - The app follows the system's dark theme: with GTK asked for a dark theme (as the desktop's
//!   "dark style" setting does) the webview reports `prefers-color-scheme: dark`, pages are drawn
//!   light on dark, and every screen still passes axe's WCAG AA checks, colour contrast
//!   included. The light theme is covered by every other end-to-end test.

mod support;

use support::{App, AppDirs, Council, NotificationWatch};

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

/// Relative luminance (WCAG) of a CSS `rgb(r, g, b)` / `rgba(...)` colour.
fn luminance(css: &str) -> f64 {
    let inner = css
        .trim()
        .trim_start_matches("rgba(")
        .trim_start_matches("rgb(")
        .trim_end_matches(')');
    let channel = |v: &str| {
        let c = v
            .trim()
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("colour {css}"))
            / 255.0;
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let parts: Vec<&str> = inner.split(',').collect();
    0.2126 * channel(parts[0]) + 0.7152 * channel(parts[1]) + 0.0722 * channel(parts[2])
}

async fn page_colours(app: &App) -> (String, String) {
    let colours = app
        .driver
        .execute(
            "const s = getComputedStyle(document.documentElement); return [s.backgroundColor, s.color];",
            vec![],
        )
        .await
        .unwrap();
    (
        colours[0].as_str().unwrap().to_string(),
        colours[1].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dark_system_theme_gives_a_dark_app_that_still_meets_wcag_aa() {
    let _serial = support::one_at_a_time().await;
    let council = Council::start("2027-03-01T09:00:00Z").await;
    let dirs = AppDirs::new();
    let mut app = App::launch_with_env(
        "dark",
        &dirs,
        &council.url,
        "2027-03-01T09:00:00Z",
        &[("GTK_THEME", "Adwaita:dark")],
    )
    .await;

    let dark = app
        .driver
        .execute(
            "return window.matchMedia('(prefers-color-scheme: dark)').matches;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        dark.as_bool(),
        Some(true),
        "the webview reports the dark theme"
    );
    let (background, text) = page_colours(&app).await;
    assert!(
        luminance(&background) < 0.05 && luminance(&text) > 0.8,
        "light text on a dark page, got {text} on {background}"
    );

    app.find("#sign-in-email").await;
    app.screen("sign-in").await;
    app.sign_in("demo@kerbside.example", "kerbside-demo-2026")
        .await;
    app.find("[data-testid=renewal-badge]").await;
    app.screen("permits").await;
    app.open_permit("AB12 CDE").await;
    app.find("#renew-button").await;
    app.screen("permit-detail").await;
    app.click("#nav-buy").await;
    app.find("[data-testid=type-annual_visitor]").await;
    app.screen("buy-type").await;
    app.click("#nav-data").await;
    app.wait_for_text("Wipe").await;
    app.screen("your-data").await;
    app.click("#nav-profile").await;
    app.wait_for_text("Change your password").await;
    app.screen("profile").await;
    app.click("#nav-settings").await;
    app.find("#autostart-checkbox").await;
    app.screen("settings").await;
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn clicking_a_renewal_notification_opens_the_app_at_that_permit() {
    let _serial = support::one_at_a_time().await;
    let watch = NotificationWatch::start();
    // The demo care permit (LM68 XYZ) is in its renewal window on the council's first day.
    let council = Council::start("2027-03-01T09:00:00Z").await;
    let dirs = AppDirs::new();
    let mut app = App::launch(
        "notification-click",
        &dirs,
        &council.url,
        "2027-03-01T09:00:00Z",
    )
    .await;
    app.sign_in("demo@kerbside.example", "kerbside-demo-2026")
        .await;
    app.find("[data-testid=renewal-badge]").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while watch.notify_calls().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let calls = watch.notify_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].contains("LM68 XYZ"), "{}", calls[0]);
    // The click can open something: the notification offers its default action.
    assert!(calls[0].contains("\"default\""), "{}", calls[0]);

    // Somewhere else in the app when the resident clicks.
    app.click("#nav-data").await;
    app.wait_for_text("Wipe").await;
    let clicked = std::process::Command::new("dunstctl")
        .args(["action", "0"])
        .status()
        .expect("dunstctl runs (scripts/setup.sh installs dunst)");
    assert!(clicked.success());
    app.wait_for_text("Care Annual Visitor Permit").await;
    let shown = app.text("main").await;
    assert!(shown.contains("LM68 XYZ"), "{shown}");
    app.find("#renew-button").await;
    app.screen("opened-from-notification").await;
    app.click("#nav-profile").await;
    app.wait_for_text("Change your password").await;
    app.screen("profile").await;
    app.quit().await;
}

//! Closing the window keeps Kerbside running in the system tray, so renewal reminders still
//! arrive; "Quit Kerbside" in the tray menu exits. Where no tray can be created, closing the
//! window quits as usual (a hidden window with no tray would be unreachable). Opening from the
//! tray while a renewal reminder is unread shows that permit. The main window is created
//! hidden and first shown once its page has loaded ([`first_show`]).

use std::sync::atomic::{AtomicBool, Ordering};
use tauri::menu::{MenuBuilder, MenuItemBuilder};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Runtime, WindowEvent};

static TRAY_READY: AtomicBool = AtomicBool::new(false);
/// Whether the main window is yet to be shown for the first time.
static FIRST_SHOW_PENDING: AtomicBool = AtomicBool::new(true);

/// Whether a page load shows the main window: the first load of the main window's page, unless
/// Kerbside started in the tray (then the tray or a notification opens it).
///
/// The window is created hidden (tauri.conf.json) and shown here, once its page has loaded,
/// not at once. On Linux, WebKit's first draw of a shown window waits up to 500 ms for the
/// web process to paint; early in a start that paint can wait on the app's own main thread
/// (which serves the page's files), so the draw waits out the full 500 ms. Shown at once,
/// about one start in three of either app lost those 500 ms; shown when the page had started
/// loading, 9 of Kerbside's 32 starts still did; shown once it has loaded, 1 in 88, and that
/// one's delay came before the page started loading (docs/BENCHMARKS.md, fix 34). The
/// resident is also spared a blank window.
pub fn first_show(label: &str, started_in_tray: bool, pending: &AtomicBool) -> bool {
    label == "main" && !started_in_tray && pending.swap(false, Ordering::Relaxed)
}

/// Shows and focuses the main window when its page has first loaded (see [`first_show`]): a
/// window shown late must still take the keyboard, as one shown at creation would.
pub fn show_main_on_first_load<R: Runtime>(webview: &tauri::Webview<R>, started_in_tray: bool) {
    if first_show(webview.label(), started_in_tray, &FIRST_SHOW_PENDING) {
        show_main(webview.app_handle());
    }
}

/// A safety net: shows the main window if its page has not reported loading within `after`
/// (a page that never reports its load must not leave the resident with no window).
pub fn show_main_if_never_shown<R: Runtime>(app: AppHandle<R>, after: std::time::Duration) {
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(after).await;
        if first_show("main", false, &FIRST_SHOW_PENDING) {
            tracing::warn!("the main window's page had not finished loading: showing it anyway");
            show_main(&app);
        }
    });
}

/// Shows and focuses the main window.
pub fn show_main<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}

pub fn install<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let open = MenuItemBuilder::with_id("open", "Open Kerbside").build(app)?;
    let quit = MenuItemBuilder::with_id("quit", "Quit Kerbside").build(app)?;
    let menu = MenuBuilder::new(app).items(&[&open, &quit]).build()?;
    let mut builder = TrayIconBuilder::with_id("kerbside")
        .tooltip("Kerbside: your parking permits")
        .menu(&menu)
        .on_menu_event(|app, event| match event.id().as_ref() {
            "open" => crate::notify::open_app(app, None),
            "quit" => app.exit(0),
            _ => {}
        })
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                crate::notify::open_app(tray.app_handle(), None);
            }
        });
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    builder.build(app)?;
    TRAY_READY.store(true, Ordering::Relaxed);
    Ok(())
}

/// The main window's close button hides it while the tray is there.
pub fn on_window_event<R: Runtime>(window: &tauri::Window<R>, event: &WindowEvent) {
    if let WindowEvent::CloseRequested { api, .. } = event {
        if window.label() == "main" && TRAY_READY.load(Ordering::Relaxed) {
            api.prevent_close();
            let _ = window.hide();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::first_show;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn the_main_window_is_shown_by_its_first_page_load_only() {
        let pending = AtomicBool::new(true);
        assert!(first_show("main", false, &pending));
        assert!(
            !first_show("main", false, &pending),
            "a reload must not show it again"
        );
    }

    #[test]
    fn the_payment_window_never_shows_the_main_window() {
        let pending = AtomicBool::new(true);
        assert!(!first_show("payment", false, &pending));
        assert!(
            first_show("main", false, &pending),
            "still pending for the main window"
        );
    }

    #[test]
    fn started_in_the_tray_the_main_window_stays_hidden() {
        let pending = AtomicBool::new(true);
        assert!(!first_show("main", true, &pending));
    }
}

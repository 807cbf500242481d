//! Native notifications through tauri-plugin-notification (freedesktop Notify on Linux,
//! Notification Center on macOS, toast on Windows), and opening the app at the permit a
//! notification is about: a click on the notification opens that permit, and so does opening
//! Kerbside from the tray while a reminder is still unread.

use kerbside_desktop::{Notifier, RenewalNotice};
use std::sync::Mutex;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tauri_plugin_notification::NotificationExt;

/// The key under which a notification carries its permit, read back when it is clicked.
const PERMIT_KEY: &str = "permit_id";

/// The permit of the last reminder the resident has not opened yet.
#[derive(Default)]
pub struct UnreadReminder(Mutex<Option<String>>);

impl UnreadReminder {
    fn set(&self, permit_id: &str) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(permit_id.to_owned());
    }
    fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

pub struct NativeNotifier<R: Runtime>(pub AppHandle<R>);

impl<R: Runtime> Notifier for NativeNotifier<R> {
    fn notify(&self, notice: &RenewalNotice) -> Result<(), String> {
        if let Some(unread) = self.0.try_state::<UnreadReminder>() {
            unread.set(&notice.permit_id);
        }
        self.0
            .notification()
            .builder()
            .title(&notice.title)
            .body(&notice.body)
            .extra(PERMIT_KEY, &notice.permit_id)
            .show()
            .map_err(|e| e.to_string())
    }
}

/// Shows the main window; at `permit_id` if given, else at the unread reminder's permit if any.
pub fn open_app<R: Runtime>(app: &AppHandle<R>, permit_id: Option<String>) {
    crate::tray::show_main(app);
    let unread = app.try_state::<UnreadReminder>().and_then(|u| u.take());
    if let Some(id) = permit_id.or(unread) {
        let _ = app.emit_to("main", "open-permit", id);
    }
}

/// Opens the app at the permit when the resident clicks one of our notifications. Must run
/// before the first notification: the plugin reports clicks only on notifications shown while a
/// handler exists.
pub fn open_permit_on_click<R: Runtime>(app: &AppHandle<R>) {
    app.manage(UnreadReminder::default());
    let handle = app.clone();
    let registered = app.notification().on_action(move |performed| {
        if performed.action_id() != "tap" {
            return;
        }
        let permit_id = performed
            .notification()
            .and_then(|n| n.extra().get(PERMIT_KEY))
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        tracing::info!(permit = ?permit_id, "renewal notification clicked");
        let handle2 = handle.clone();
        // The handler runs on the plugin's thread; windows are shown from the main thread.
        let _ = handle.run_on_main_thread(move || open_app(&handle2, permit_id));
    });
    if let Err(error) = registered {
        tracing::warn!(%error, "notification clicks will not open the app");
    }
}

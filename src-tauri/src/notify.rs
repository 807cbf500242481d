//! Native notifications through tauri-plugin-notification (freedesktop Notify on Linux,
//! Notification Center on macOS, toast on Windows).

use kerbside_desktop::Notifier;
use tauri::{AppHandle, Runtime};
use tauri_plugin_notification::NotificationExt;

pub struct NativeNotifier<R: Runtime>(pub AppHandle<R>);

impl<R: Runtime> Notifier for NativeNotifier<R> {
    fn notify(&self, title: &str, body: &str) -> Result<(), String> {
        self.0
            .notification()
            .builder()
            .title(title)
            .body(body)
            .show()
            .map_err(|e| e.to_string())
    }
}

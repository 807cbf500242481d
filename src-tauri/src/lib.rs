//! The Kerbside desktop shell (Tauri 2). The UI in ui/ calls only the commands registered here.

mod commands;

use tauri::{Builder, Runtime};

/// Registers the commands and plugins; shared by [`run`] and the tests (which use a mock runtime).
fn with_handlers<R: Runtime>(builder: Builder<R>) -> Builder<R> {
    builder.invoke_handler(tauri::generate_handler![commands::app_version])
}

/// Starts the desktop app and blocks until it exits.
pub fn run() {
    with_handlers(tauri::Builder::default())
        .run(tauri::generate_context!())
        .expect("error while running Kerbside");
}

#[cfg(test)]
mod tests {
    use tauri::ipc::{CallbackFn, InvokeBody};
    use tauri::test::{mock_builder, INVOKE_KEY};
    use tauri::webview::InvokeRequest;

    fn invoke(cmd: &str) -> InvokeRequest {
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            // The origin of the app's own pages on Linux and macOS.
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::default(),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        }
    }

    #[test]
    fn app_version_answers_over_ipc() {
        // The real config and capabilities, with a mock runtime: this also checks that the
        // "main" window's capability lets the UI reach the command.
        let app = super::with_handlers(mock_builder())
            .build(tauri::generate_context!())
            .expect("build mock app");
        let webview = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .expect("main webview");

        tauri::test::assert_ipc_response(&webview, invoke("app_version"), Ok("0.1.0"));

        let unknown = tauri::test::get_ipc_response(&webview, invoke("no_such_command"));
        assert!(unknown.is_err(), "unknown commands must be refused");
    }
}

//! The Kerbside desktop shell (Tauri 2). It starts the core ([`kerbside_desktop::Kerbside`]),
//! registers the thin commands in [`commands`], raises renewal notifications and runs the
//! background sync. All rules, storage and council access live in crates/.

mod bench;
mod commands;
mod notify;
mod tray;

use kerbside_api::clock::{parse_clock_setting, OffsetClock, SystemClock};
use kerbside_api::SharedClock;
use kerbside_desktop::{Kerbside, KeyringSecrets, StartOptions};
use std::sync::Arc;
use std::time::Duration;
use tauri::webview::PageLoadEvent;
use tauri::{Builder, Emitter, Manager, Runtime};

/// The keyring service name: the app identifier.
pub const KEYRING_SERVICE: &str = "uk.kerbside.app";
/// The argument the login item starts Kerbside with: straight into the tray.
const START_IN_TRAY: &str = "--in-tray";
/// How often the background sync and renewal check run while the app is open.
const BACKGROUND_SYNC_EVERY: Duration = Duration::from_secs(60 * 60);
/// When the first background sync runs after start-up (see [`spawn_background_sync`]).
const FIRST_BACKGROUND_SYNC_AFTER: Duration = Duration::from_secs(5);
/// The latest the main window is shown after start-up if its page never reports having loaded
/// ([`tray::show_main_if_never_shown`]); normally it is shown once the page has loaded.
const SHOW_WINDOW_BY: Duration = Duration::from_secs(3);

/// Runs in the main window as each page starts, before the UI's script has loaded: asks for
/// the first screen (`app_start`) at once, so the answer is ready when the UI, once parsed,
/// takes it (`ui/src/api.ts`), rather than asked for only then (docs/BENCHMARKS.md, fix 14).
/// The answer is also kept as it arrives, so the UI can draw it without awaiting (fix 35).
/// Other webviews (the payment window shows the council's page) are left alone.
const ASK_FOR_FIRST_SCREEN: &str = r#"(function () {
  var tauri = window.__TAURI_INTERNALS__;
  var label = tauri && tauri.metadata && tauri.metadata.currentWebview && tauri.metadata.currentWebview.label;
  if (label !== "main" || window !== window.top) return;
  var asked = tauri.invoke("app_start");
  asked.then(function (answer) {
    // Kept only while the UI has not taken the promise (then it has the answer already).
    if (window.__KERBSIDE_START__ === asked) window.__KERBSIDE_START_ANSWER__ = answer;
  }, function () {});
  window.__KERBSIDE_START__ = asked;
})();"#;

/// Registers the commands; shared by [`run`] and the tests (which use a mock runtime).
fn with_handlers<R: Runtime>(builder: Builder<R>) -> Builder<R> {
    builder.invoke_handler(tauri::generate_handler![
        commands::app_version,
        commands::app_start,
        commands::app_snapshot,
        commands::council_info,
        commands::register,
        commands::sign_in,
        commands::sign_out,
        commands::cached_permits,
        commands::sync_permits,
        commands::permit_detail,
        commands::check_registration,
        commands::quote_permit,
        commands::buy_permit,
        commands::open_payment,
        commands::close_payment,
        commands::payment_status,
        commands::edit_registration,
        commands::renew_permit,
        commands::continue_payment,
        commands::refund_quote,
        commands::cancel_permit,
        commands::get_profile,
        commands::update_profile,
        commands::change_password,
        commands::set_permit_filter,
        commands::set_council_url,
        commands::data_summary,
        commands::wipe_local_data,
        commands::address_changes,
        commands::start_address_change,
        commands::upload_evidence,
        commands::submit_address_change,
        commands::autostart_enabled,
        commands::set_autostart,
        bench::bench_mark,
    ])
}

/// `KERBSIDE_CLOCK=2028-01-30T09:00:00Z` starts the app's clock (and the embedded council's)
/// at that instant, for demos and tests. Without it, the real clock.
fn clock_from_env() -> (SharedClock, bool) {
    match std::env::var("KERBSIDE_CLOCK") {
        Ok(value) if !value.trim().is_empty() => match parse_clock_setting(&value) {
            Ok(at) => {
                tracing::warn!(%at, "KERBSIDE_CLOCK is set: Kerbside is using a DEMO/TEST clock, not the real date");
                eprintln!("kerbside: WARNING: demo/test clock set to {at} (KERBSIDE_CLOCK)");
                (Arc::new(OffsetClock::starting_at(at)), true)
            }
            Err(problem) => {
                eprintln!("kerbside: ignoring KERBSIDE_CLOCK: {problem}");
                (Arc::new(SystemClock), false)
            }
        },
        _ => (Arc::new(SystemClock), false),
    }
}

/// Checks for due renewal notifications at once (from the cache, so offline too), then syncs
/// a few seconds after start-up and hourly after that, checking again each time.
///
/// The first sync waits because the window's permits screen syncs as soon as it has drawn the
/// cached permits; a second sync racing the webview's start-up for the same two cores made
/// "cached permits visible" later (docs/BENCHMARKS.md). Started in the tray, with no window,
/// this is the sync that runs.
fn spawn_background_sync<R: Runtime>(app: tauri::AppHandle<R>, core: Arc<Kerbside>) {
    let every = bench::sync_every(BACKGROUND_SYNC_EVERY);
    tauri::async_runtime::spawn(async move {
        commands::remind_from_cache(&app, &core).await;
        tokio::time::sleep(FIRST_BACKGROUND_SYNC_AFTER.min(every)).await;
        loop {
            commands::sync_and_remind(&app, &core).await.ok();
            if let Ok(view) = core.cached_permits().await {
                let _ = app.emit("permits-updated", view);
            }
            tokio::time::sleep(every).await;
        }
    });
}

/// Starts the desktop app and blocks until it exits.
pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KERBSIDE_LOG")
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let started_in_tray = std::env::args().any(|a| a == START_IN_TRAY);
    let mut builder = tauri::Builder::default();
    if let Some(marks) = bench::mark_plugin() {
        builder = builder.plugin(marks);
    }
    let app = with_handlers(builder)
        .plugin(
            tauri::plugin::Builder::<tauri::Wry>::new("kerbside-first-screen")
                .js_init_script(ASK_FOR_FIRST_SCREEN.to_string())
                .build(),
        )
        .plugin(tauri_plugin_notification::init())
        // Started at login with --in-tray: the window stays hidden, reminders still arrive.
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            Some(vec![START_IN_TRAY]),
        ))
        .on_window_event(tray::on_window_event)
        .on_page_load(move |webview, payload| {
            bench::page_load(webview.label(), payload.event());
            if payload.event() == PageLoadEvent::Finished {
                tray::show_main_on_first_load(webview, started_in_tray);
            }
        })
        .setup(move |app| {
            let data_dir = app.path().app_data_dir()?;
            let (clock, clock_is_set) = clock_from_env();
            let options = StartOptions {
                data_dir,
                clock,
                clock_is_set,
                council_url: std::env::var("KERBSIDE_COUNCIL_URL")
                    .ok()
                    .filter(|u| !u.trim().is_empty()),
                keyring_service: KEYRING_SERVICE.into(),
            };
            let secrets = Arc::new(KeyringSecrets::new(KEYRING_SERVICE));
            let core = tauri::async_runtime::block_on(Kerbside::start(options, secrets))
                .map_err(|e| e.to_ui().message)?;
            let core = Arc::new(core);
            app.manage(core.clone());
            notify::open_permit_on_click(app.handle());
            let tray = tray::install(app.handle());
            if let Err(error) = &tray {
                tracing::warn!(%error, "no system tray: closing the window will quit Kerbside");
            }
            // Started in the tray, the window (created hidden) stays hidden; without a tray it
            // is shown anyway, since a hidden window with no tray would be unreachable.
            if !started_in_tray {
                tray::show_main_if_never_shown(app.handle().clone(), SHOW_WINDOW_BY);
            } else if tray.is_err() {
                tray::show_main(app.handle());
            }
            spawn_background_sync(app.handle().clone(), core);
            Ok(())
        })
        .build(tauri::generate_context!())
        .expect("error while starting Kerbside");
    app.run(|handle, event| {
        if let tauri::RunEvent::Exit = event {
            if let Some(core) = handle.try_state::<Arc<Kerbside>>() {
                tauri::async_runtime::block_on(core.shutdown());
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use tauri::ipc::{CallbackFn, InvokeBody};
    use tauri::test::{mock_builder, INVOKE_KEY};
    use tauri::webview::InvokeRequest;

    fn invoke(cmd: &str, body: serde_json::Value) -> InvokeRequest {
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            // The origin of the app's own pages on Linux and macOS.
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(body),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        }
    }

    #[test]
    fn commands_answer_over_ipc_with_the_real_config_and_capabilities() {
        let app = super::with_handlers(mock_builder())
            .build(tauri::generate_context!())
            .expect("build mock app");
        let webview = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .expect("main webview");

        tauri::test::assert_ipc_response(
            &webview,
            invoke("app_version", serde_json::json!({})),
            Ok("0.1.0"),
        );
        tauri::test::assert_ipc_response(
            &webview,
            invoke(
                "check_registration",
                serde_json::json!({"typed": " ab12cde "}),
            ),
            Ok("AB12 CDE"),
        );
        let refused = tauri::test::get_ipc_response(
            &webview,
            invoke(
                "check_registration",
                serde_json::json!({"typed": "AB00 CDE"}),
            ),
        )
        .expect_err("an invalid registration is refused");
        assert_eq!(refused["kind"], "validation");
        assert!(refused["message"].as_str().unwrap().contains("00"));

        let unknown = tauri::test::get_ipc_response(
            &webview,
            invoke("no_such_command", serde_json::json!({})),
        );
        assert!(unknown.is_err(), "unknown commands must be refused");
    }
}

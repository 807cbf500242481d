//! Tauri commands: each takes the core from state, calls one method and maps the error to the
//! `{kind, message}` the UI branches on. Kept out of lib.rs because `#[tauri::command]` items
//! at the crate root clash with `generate_handler!` (E0255).
//!
//! All commands that touch the network or the database are `async`, so none runs on the UI
//! thread.

use crate::notify::NativeNotifier;
use kerbside_api::types::*;
use kerbside_api::{ApiError, ErrorKind};
use kerbside_desktop::{
    AppSnapshot, AppStart, DataSummary, Kerbside, PermitCard, PermitFilter, PermitsView,
};
use std::sync::Arc;
use tauri::{AppHandle, Emitter, Manager, Runtime, State, WebviewUrl, WebviewWindowBuilder};

type Core<'a> = State<'a, Arc<Kerbside>>;
type CmdResult<T> = Result<T, ApiError>;

const PAYMENT_WINDOW: &str = "payment";

fn ui(e: kerbside_desktop::Error) -> ApiError {
    e.to_ui()
}

/// Tells the UI when reachability changes, so the offline banner appears and clears by itself.
fn announce_connection<R: Runtime>(app: &AppHandle<R>, core: &Kerbside) {
    if let Some(online) = core.online() {
        let _ = app.emit(
            "connection-changed",
            serde_json::json!({ "online": online }),
        );
    }
}

/// Syncs with the council, then raises any renewal notification that has become due.
pub async fn sync_and_remind<R: Runtime>(
    app: &AppHandle<R>,
    core: &Kerbside,
) -> kerbside_desktop::Result<PermitsView> {
    let synced = core.sync().await;
    announce_connection(app, core);
    remind_from_cache(app, core).await;
    synced
}

/// Raises the renewal notifications now due. Reminders run from the cache, so they are raised
/// even when the council is unreachable.
pub async fn remind_from_cache<R: Runtime>(app: &AppHandle<R>, core: &Kerbside) {
    if let Err(error) = core
        .run_renewal_reminders(&NativeNotifier(app.clone()))
        .await
    {
        tracing::warn!(%error, "renewal reminder check failed");
    }
}

#[tauri::command]
pub fn app_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The first screen in one round trip (see [`Kerbside::start_view`]).
#[tauri::command]
pub async fn app_start(core: Core<'_>) -> CmdResult<AppStart> {
    crate::bench::append_mark("first-screen-asked");
    let answer = core.start_view().await.map_err(ui);
    crate::bench::append_mark("first-screen-answered");
    answer
}

#[tauri::command]
pub async fn app_snapshot(core: Core<'_>) -> CmdResult<AppSnapshot> {
    core.snapshot().await.map_err(ui)
}

#[tauri::command]
pub async fn council_info(core: Core<'_>) -> CmdResult<CouncilInfo> {
    core.council_info().await.map_err(ui)
}

#[tauri::command]
pub async fn register(core: Core<'_>, request: RegisterRequest) -> CmdResult<Profile> {
    core.register(request).await.map_err(ui)
}

#[tauri::command]
pub async fn sign_in(core: Core<'_>, request: SignInRequest) -> CmdResult<Profile> {
    core.sign_in(request).await.map_err(ui)
}

#[tauri::command]
pub async fn sign_out(core: Core<'_>) -> CmdResult<Option<String>> {
    core.sign_out().await.map_err(ui)
}

#[tauri::command]
pub async fn cached_permits(core: Core<'_>) -> CmdResult<PermitsView> {
    core.cached_permits().await.map_err(ui)
}

#[tauri::command]
pub async fn sync_permits<R: Runtime>(app: AppHandle<R>, core: Core<'_>) -> CmdResult<PermitsView> {
    sync_and_remind(&app, &core).await.map_err(ui)
}

#[tauri::command]
pub async fn permit_detail(core: Core<'_>, id: String) -> CmdResult<PermitCard> {
    core.permit(&id).await.map_err(ui)
}

/// Pure rules check, no state: the registration's canonical form or the reason it is refused.
#[tauri::command]
pub fn check_registration(typed: String) -> CmdResult<String> {
    kerbside_rules::Registration::parse(&typed)
        .map(|r| r.canonical())
        .map_err(|e| ApiError::new(ErrorKind::Validation, e.to_string()))
}

#[tauri::command]
pub async fn quote_permit(core: Core<'_>, request: PermitRequest) -> CmdResult<PermitQuote> {
    core.quote(request).await.map_err(ui)
}

#[tauri::command]
pub async fn buy_permit(core: Core<'_>, request: PermitRequest) -> CmdResult<Purchase> {
    core.buy(request).await.map_err(ui)
}

/// Opens the council's hosted payment page in its own window. Only the council's own `/pay/`
/// pages are opened, and that window gets no access to the app's commands (the capability
/// covers the main window only).
#[tauri::command]
pub async fn open_payment<R: Runtime>(
    app: AppHandle<R>,
    core: Core<'_>,
    url: String,
) -> CmdResult<()> {
    let allowed = format!("{}/pay/", core.council_url().await);
    if !url.starts_with(&allowed) {
        return Err(ApiError::new(
            ErrorKind::Validation,
            "That is not your council's payment page, so Kerbside will not open it.",
        ));
    }
    let target = url.parse().map_err(|_| {
        ApiError::new(
            ErrorKind::Validation,
            "The payment page address is not valid.",
        )
    })?;
    if let Some(existing) = app.get_webview_window(PAYMENT_WINDOW) {
        let _ = existing.destroy();
    }
    let window = WebviewWindowBuilder::new(&app, PAYMENT_WINDOW, WebviewUrl::External(target))
        .title("Pay for your permit – Kerbside")
        .inner_size(560.0, 760.0)
        .build()
        .map_err(|e| {
            tracing::error!(error = %e, "could not open the payment window");
            ApiError::new(
                ErrorKind::Internal,
                "Kerbside could not open the payment window. Try again.",
            )
        })?;
    let handle = app.clone();
    window.on_window_event(move |event| {
        if let tauri::WindowEvent::Destroyed = event {
            let _ = handle.emit("payment-window-closed", ());
        }
    });
    Ok(())
}

#[tauri::command]
pub async fn close_payment<R: Runtime>(app: AppHandle<R>) -> CmdResult<()> {
    if let Some(window) = app.get_webview_window(PAYMENT_WINDOW) {
        let _ = window.destroy();
    }
    Ok(())
}

#[tauri::command]
pub async fn payment_status(core: Core<'_>, payment_id: String) -> CmdResult<Payment> {
    core.payment(&payment_id).await.map_err(ui)
}

#[tauri::command]
pub async fn edit_registration(
    core: Core<'_>,
    permit_id: String,
    registration: String,
) -> CmdResult<PermitCard> {
    core.edit_registration(&permit_id, &registration)
        .await
        .map_err(ui)
}

#[tauri::command]
pub async fn renew_permit(core: Core<'_>, permit_id: String) -> CmdResult<Purchase> {
    core.renew(&permit_id).await.map_err(ui)
}

/// "Continue to payment" for a permit awaiting payment: its open payment at the council, for
/// the same flow as Buy (`open_payment`, then `payment_status`).
#[tauri::command]
pub async fn continue_payment(core: Core<'_>, permit_id: String) -> CmdResult<Purchase> {
    core.continue_payment(&permit_id).await.map_err(ui)
}

#[tauri::command]
pub async fn refund_quote(core: Core<'_>, permit_id: String) -> CmdResult<RefundQuote> {
    core.refund_quote(&permit_id).await.map_err(ui)
}

#[tauri::command]
pub async fn cancel_permit(
    core: Core<'_>,
    permit_id: String,
    expected_refund_pence: i64,
) -> CmdResult<Cancellation> {
    core.cancel(&permit_id, expected_refund_pence)
        .await
        .map_err(ui)
}

#[tauri::command]
pub async fn get_profile(core: Core<'_>) -> CmdResult<Profile> {
    core.profile().await.map_err(ui)
}

#[tauri::command]
pub async fn update_profile(core: Core<'_>, update: ProfileUpdate) -> CmdResult<Profile> {
    core.update_profile(update).await.map_err(ui)
}

/// The new token goes to the keyring inside the core; the UI gets the profile, never a token.
#[tauri::command]
pub async fn change_password(core: Core<'_>, change: PasswordChange) -> CmdResult<Profile> {
    core.change_password(change).await.map_err(ui)
}

#[tauri::command]
pub async fn set_permit_filter(core: Core<'_>, filter: PermitFilter) -> CmdResult<PermitsView> {
    core.set_permit_filter(filter).await.map_err(ui)
}

#[tauri::command]
pub async fn set_council_url(core: Core<'_>, url: Option<String>) -> CmdResult<AppSnapshot> {
    core.set_council_url(url).await.map_err(ui)
}

#[tauri::command]
pub async fn data_summary(core: Core<'_>) -> CmdResult<DataSummary> {
    core.data_summary().await.map_err(ui)
}

#[tauri::command]
pub async fn wipe_local_data(core: Core<'_>) -> CmdResult<DataSummary> {
    core.wipe_local_data().await.map_err(ui)
}

#[tauri::command]
pub async fn address_changes(core: Core<'_>) -> CmdResult<AddressChangeList> {
    core.address_changes().await.map_err(ui)
}

#[tauri::command]
pub async fn start_address_change(
    core: Core<'_>,
    request: AddressChangeRequest,
) -> CmdResult<AddressChange> {
    core.start_address_change(request).await.map_err(ui)
}

/// The file's bytes come as the raw IPC body (no JSON number arrays for a 10 MB scan); the
/// change id and the file's declared type come as headers.
#[tauri::command]
pub async fn upload_evidence(
    core: Core<'_>,
    request: tauri::ipc::Request<'_>,
) -> CmdResult<AddressChange> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let change_id = header("change-id").ok_or_else(|| {
        ApiError::new(ErrorKind::Validation, "Start the change of address first.")
    })?;
    let content_type = header("file-type").unwrap_or_else(|| "application/octet-stream".into());
    let tauri::ipc::InvokeBody::Raw(bytes) = request.body() else {
        return Err(ApiError::new(
            ErrorKind::Validation,
            "Choose the file to upload.",
        ));
    };
    core.upload_evidence(&change_id, bytes.clone(), &content_type)
        .await
        .map_err(ui)
}

#[tauri::command]
pub async fn submit_address_change(core: Core<'_>, change_id: String) -> CmdResult<AddressChange> {
    core.submit_address_change(&change_id).await.map_err(ui)
}

/// Whether Kerbside starts (into the tray) when the resident signs in to the computer.
#[tauri::command]
pub async fn autostart_enabled<R: Runtime>(app: AppHandle<R>) -> CmdResult<bool> {
    use tauri_plugin_autostart::ManagerExt;
    app.autolaunch().is_enabled().map_err(|e| {
        tracing::warn!(error = %e, "cannot read the start-at-login setting");
        ApiError::new(
            ErrorKind::Internal,
            "Kerbside could not read the start-at-login setting.",
        )
    })
}

#[tauri::command]
pub async fn set_autostart<R: Runtime>(app: AppHandle<R>, enabled: bool) -> CmdResult<bool> {
    use tauri_plugin_autostart::ManagerExt;
    let launcher = app.autolaunch();
    let result = if enabled {
        launcher.enable()
    } else {
        launcher.disable()
    };
    result.map_err(|e| {
        tracing::warn!(error = %e, "cannot change the start-at-login setting");
        ApiError::new(
            ErrorKind::Internal,
            "Kerbside could not change the start-at-login setting.",
        )
    })?;
    launcher.is_enabled().map_err(|_| {
        ApiError::new(
            ErrorKind::Internal,
            "Kerbside could not read the start-at-login setting.",
        )
    })
}

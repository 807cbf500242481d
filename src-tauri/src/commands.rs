//! Tauri commands: thin wrappers over the crates in crates/. Kept out of lib.rs because
//! `#[tauri::command]` items defined at the crate root clash with `generate_handler!` (E0255).

/// The app's version, from Cargo.toml.
#[tauri::command]
pub fn app_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

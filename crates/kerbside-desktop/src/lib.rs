//! The desktop app's core, with no `tauri` dependency: the offline permit cache (SQLite), the
//! session token in the OS keyring, the connection to a council (a URL, or the embedded demo
//! council started in-process), and the renewal reminder scheduler.
//!
//! The Tauri commands in `src-tauri/` are thin wrappers over [`Kerbside`]'s methods; errors
//! reach the UI as `{kind, message}` ([`kerbside_api::ApiError`]).

mod app;
pub mod cache;
mod error;
pub mod secrets;
pub mod views;

pub use app::{Kerbside, Notifier, RenewalNotice, StartOptions, EVIDENCE_MAX_BYTES};
pub use error::{Error, Result};
pub use secrets::{KeyringSecrets, SecretStore};
pub use views::{AppSnapshot, AppStart, DataSummary, PermitCard, PermitFilter, PermitsView};

//! The council permit service's contract, shared by the server and the desktop app.
//!
//! - [`types`]: request and response bodies exactly as they travel over HTTP/JSON.
//! - [`ApiError`] / [`ErrorKind`]: the `{kind, message}` body every error response carries.
//! - [`clock`]: the injectable clock both sides use, so demos and tests can set the date.
//! - [`client`]: the HTTP client the app uses, with timeouts and typed errors.
//!
//! Depends on `kerbside-rules` (never the other way round) and on nothing Tauri or axum.

pub mod client;
pub mod clock;
mod error;
pub mod types;

pub use client::{ClientError, CouncilClient, EvidenceDownload};
pub use clock::{Clock, FixedClock, OffsetClock, SharedClock, SystemClock};
pub use error::{ApiError, ErrorKind};

/// Prefix of every JSON endpoint.
pub const API_PREFIX: &str = "/api/v1";
/// Header carrying the client's idempotency key on mutating requests.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

/// The small set of error kinds clients branch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request broke a rule or was malformed; the message says which.
    Validation,
    /// No valid session: sign in (again).
    Unauthorised,
    /// Signed in, but this account may not do this.
    Forbidden,
    /// The thing does not exist, or is not yours.
    NotFound,
    /// The request clashes with the current state (e.g. already renewed, key reused).
    Conflict,
    /// Too many attempts; wait and try again.
    RateLimited,
    /// The council could not be reached (set by the client, never sent by the server).
    Offline,
    /// Something went wrong on the council's side; details are in its logs.
    Internal,
}

/// The body of every error response: `{"kind": "...", "message": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, thiserror::Error, TS)]
#[ts(export)]
#[error("{message}")]
pub struct ApiError {
    pub kind: ErrorKind,
    /// A sentence a resident can act on.
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

use kerbside_api::{ApiError, ClientError, ErrorKind};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in the app's core. The UI receives [`ApiError`] (`{kind, message}`);
/// internal details (SQL, keyring, HTTP) are logged, not shown.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Council(#[from] ClientError),
    #[error("Sign in to continue.")]
    NotSignedIn,
    #[error("{0}")]
    Validation(String),
    #[error("local cache: {0}")]
    Cache(#[from] sqlx::Error),
    #[error("local cache migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("cached data: {0}")]
    Json(#[from] serde_json::Error),
    #[error("keyring: {0}")]
    Keyring(String),
    #[error("embedded council: {0}")]
    EmbeddedCouncil(String),
}

impl From<kerbside_rules::RegistrationError> for Error {
    fn from(e: kerbside_rules::RegistrationError) -> Self {
        Error::Validation(e.to_string())
    }
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Council(e) => e.kind(),
            Error::NotSignedIn => ErrorKind::Unauthorised,
            Error::Validation(_) => ErrorKind::Validation,
            _ => ErrorKind::Internal,
        }
    }

    /// The `{kind, message}` the UI shows. Internal failures are logged with their detail and
    /// shown as a plain sentence.
    pub fn to_ui(&self) -> ApiError {
        let message = match self {
            Error::Cache(_) | Error::Migration(_) | Error::Json(_) => {
                tracing::error!(error = %self, "local data error");
                "Kerbside could not read or save its data on this computer. Restart the app; if it keeps happening, use \u{201c}Your data\u{201d} to wipe the local copy (your permits are safe with the council).".to_string()
            }
            Error::Keyring(_) => {
                tracing::error!(error = %self, "keyring error");
                "Kerbside could not use this computer's password store (keyring) to keep you signed in. Check that it is unlocked and try again.".to_string()
            }
            Error::EmbeddedCouncil(_) => {
                tracing::error!(error = %self, "embedded council error");
                "The built-in demo council could not start. Restart Kerbside.".to_string()
            }
            other => other.to_string(),
        };
        ApiError::new(self.kind(), message)
    }
}

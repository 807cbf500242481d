use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use kerbside_api::{ApiError, ErrorKind};

/// Every way a request can fail. Client-facing variants carry a sentence for the resident;
/// database and internal failures are logged in full and answered with a generic message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request could not be read (malformed JSON, unknown field, wrong content type).
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed, but breaks a rule about its content (registration, postcode, eligibility).
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    Unauthorised(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// Clashes with the current state: not yet renewable, already renewed, limit reached.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    RateLimited(String),
    /// A body over its size limit (an evidence file over 10 MB).
    #[error("{0}")]
    TooLarge(String),
    /// A file of a kind that is not accepted, or whose declared type disagrees with its bytes.
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// From the store's own SQLite reading connections (`store::SqliteReads`).
    #[error("database error: {0}")]
    SqliteRead(#[from] rusqlite::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn permit_not_found() -> Self {
        Error::NotFound("No permit with that reference was found on your account.".into())
    }

    pub fn status_and_body(&self) -> (StatusCode, ApiError) {
        let (status, kind) = match self {
            Error::BadRequest(_) => (StatusCode::BAD_REQUEST, ErrorKind::Validation),
            Error::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, ErrorKind::Validation),
            Error::Unauthorised(_) => (StatusCode::UNAUTHORIZED, ErrorKind::Unauthorised),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, ErrorKind::Forbidden),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, ErrorKind::NotFound),
            Error::Conflict(_) => (StatusCode::CONFLICT, ErrorKind::Conflict),
            Error::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, ErrorKind::RateLimited),
            Error::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, ErrorKind::Validation),
            Error::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, ErrorKind::Validation)
            }
            Error::Database(_) | Error::SqliteRead(_) | Error::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, ErrorKind::Internal)
            }
        };
        let message = match self {
            Error::Database(_) | Error::SqliteRead(_) | Error::Internal(_) => {
                "Something went wrong at the council's end, and nothing was changed. Try again in a few minutes.".to_string()
            }
            other => other.to_string(),
        };
        (status, ApiError::new(kind, message))
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, body) = self.status_and_body();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        (status, Json(body)).into_response()
    }
}

/// Rule breaches about the permit's state are conflicts; about the request's content, validation.
macro_rules! rule_error {
    ($variant:ident: $($rule:ty),+) => {
        $(impl From<$rule> for Error {
            fn from(error: $rule) -> Self {
                Error::$variant(error.to_string())
            }
        })+
    };
}

rule_error!(Conflict: kerbside_rules::RenewalError, kerbside_rules::HouseholdLimitError, kerbside_rules::IllegalTransition);
rule_error!(Validation: kerbside_rules::RegistrationError, kerbside_rules::EligibilityError, kerbside_rules::AddressError);

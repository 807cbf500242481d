//! The HTTP client the desktop app uses to talk to a council permit service.
//!
//! Every call has a timeout; every failure becomes a [`ClientError`] whose `kind()` is one of
//! the [`ErrorKind`]s the UI branches on. Mutating calls carry an idempotency key chosen by the
//! caller, so retrying a call whose answer was lost never buys, renews or cancels twice.

use crate::error::{ApiError, ErrorKind};
use crate::types::*;
use crate::{API_PREFIX, IDEMPOTENCY_KEY_HEADER};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Uploads and downloads of evidence (up to 10 MB) get longer than ordinary calls.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// Pauses before each resend of an idempotent request whose answer was lost; after the last,
/// the resident is told the council cannot be reached.
const RETRY_DELAYS_AFTER_LOST_ANSWER: [Duration; 2] =
    [Duration::from_millis(200), Duration::from_secs(1)];

/// True when the request may have reached the council but its answer did not come back: the
/// connection closed or was reset while sending or reading. Not for a refused connection (the
/// council is down; nothing was sent) nor a timeout (the council may still be working on it).
fn answer_lost(error: &reqwest::Error) -> bool {
    !error.is_connect() && !error.is_timeout() && (error.is_request() || error.is_body())
}

/// A page of evidence downloaded by an officer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceDownload {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("The council's permit service cannot be reached just now. Check your internet connection; your saved permits are still shown.")]
    Offline,
    #[error("{0}")]
    Api(ApiError),
    #[error(
        "The council's permit service sent an answer Kerbside did not understand. Try again later."
    )]
    UnexpectedResponse(String),
}

impl ClientError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ClientError::Offline => ErrorKind::Offline,
            ClientError::Api(e) => e.kind,
            ClientError::UnexpectedResponse(_) => ErrorKind::Internal,
        }
    }

    /// The `{kind, message}` form the UI receives.
    pub fn to_api_error(&self) -> ApiError {
        ApiError::new(self.kind(), self.to_string())
    }
}

/// A client for one council's service, e.g. `http://127.0.0.1:8080`.
#[derive(Clone, Debug)]
pub struct CouncilClient {
    http: reqwest::Client,
    base_url: String,
}

impl CouncilClient {
    /// Connection attempts give up after 5 s and whole requests after 20 s, so an unreachable
    /// council is reported as offline quickly instead of leaving the resident waiting.
    pub fn new(base_url: impl Into<String>) -> Result<Self, ClientError> {
        Self::with_timeouts(base_url, Duration::from_secs(5), Duration::from_secs(20))
    }

    pub fn with_timeouts(
        base_url: impl Into<String>,
        connect: Duration,
        total: Duration,
    ) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(connect)
            .timeout(total)
            .user_agent(concat!("kerbside/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::UnexpectedResponse(e.to_string()))?;
        Ok(Self {
            http,
            base_url: base_url.into().trim_end_matches('/').to_string(),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// A fresh key for one resident action; reuse it when retrying that same action.
    pub fn new_idempotency_key() -> String {
        uuid::Uuid::new_v4().to_string()
    }

    pub async fn council(&self) -> Result<CouncilInfo, ClientError> {
        self.send(self.request(Method::GET, "/council", None)).await
    }

    pub async fn register(
        &self,
        body: &RegisterRequest,
        key: &str,
    ) -> Result<Profile, ClientError> {
        self.send_idempotent(self.mutate(Method::POST, "/accounts", None, key).json(body))
            .await
    }

    pub async fn sign_in(&self, body: &SignInRequest) -> Result<Session, ClientError> {
        self.send(self.request(Method::POST, "/sessions", None).json(body))
            .await
    }

    pub async fn sign_out(&self, token: &str) -> Result<(), ClientError> {
        self.send_empty(self.request(Method::DELETE, "/sessions/current", Some(token)))
            .await
    }

    pub async fn profile(&self, token: &str) -> Result<Profile, ClientError> {
        self.send(self.request(Method::GET, "/me", Some(token)))
            .await
    }

    pub async fn update_profile(
        &self,
        token: &str,
        body: &ProfileUpdate,
        key: &str,
    ) -> Result<Profile, ClientError> {
        self.send_idempotent(
            self.mutate(Method::PATCH, "/me", Some(token), key)
                .json(body),
        )
        .await
    }

    /// Changes the password. Every session of the account is revoked, `token` included; the
    /// answer is a new session for this device. Not retried with an idempotency key: the answer
    /// carries a token, which the council must not store, and a lost answer leaves the resident
    /// to sign in with the new password.
    pub async fn change_password(
        &self,
        token: &str,
        body: &PasswordChange,
    ) -> Result<Session, ClientError> {
        self.send(
            self.request(Method::PUT, "/me/password", Some(token))
                .json(body),
        )
        .await
    }

    pub async fn permits(&self, token: &str) -> Result<PermitList, ClientError> {
        self.send(self.request(Method::GET, "/permits", Some(token)))
            .await
    }

    pub async fn permit(&self, token: &str, id: &str) -> Result<Permit, ClientError> {
        self.send(self.request(Method::GET, &format!("/permits/{id}"), Some(token)))
            .await
    }

    pub async fn quote(
        &self,
        token: &str,
        body: &PermitRequest,
    ) -> Result<PermitQuote, ClientError> {
        self.send(
            self.request(Method::POST, "/permits/quote", Some(token))
                .json(body),
        )
        .await
    }

    pub async fn buy(
        &self,
        token: &str,
        body: &PermitRequest,
        key: &str,
    ) -> Result<Purchase, ClientError> {
        self.send_idempotent(
            self.mutate(Method::POST, "/permits", Some(token), key)
                .json(body),
        )
        .await
    }

    pub async fn change_registration(
        &self,
        token: &str,
        id: &str,
        body: &RegistrationChange,
        key: &str,
    ) -> Result<Permit, ClientError> {
        let path = format!("/permits/{id}/registration");
        self.send_idempotent(self.mutate(Method::PUT, &path, Some(token), key).json(body))
            .await
    }

    pub async fn renew(
        &self,
        token: &str,
        id: &str,
        body: &RenewalRequest,
        key: &str,
    ) -> Result<Purchase, ClientError> {
        let path = format!("/permits/{id}/renewal");
        self.send_idempotent(
            self.mutate(Method::POST, &path, Some(token), key)
                .json(body),
        )
        .await
    }

    pub async fn refund_quote(&self, token: &str, id: &str) -> Result<RefundQuote, ClientError> {
        let path = format!("/permits/{id}/refund-quote");
        self.send(self.request(Method::GET, &path, Some(token)))
            .await
    }

    pub async fn cancel(
        &self,
        token: &str,
        id: &str,
        body: &CancellationRequest,
        key: &str,
    ) -> Result<Cancellation, ClientError> {
        let path = format!("/permits/{id}/cancellation");
        self.send_idempotent(
            self.mutate(Method::POST, &path, Some(token), key)
                .json(body),
        )
        .await
    }

    pub async fn payment(&self, token: &str, id: &str) -> Result<Payment, ClientError> {
        self.send(self.request(Method::GET, &format!("/payments/{id}"), Some(token)))
            .await
    }

    // ------------------------------------------------------------ change of address

    /// Starts a change of address; then upload its pages and submit it.
    pub async fn create_address_change(
        &self,
        token: &str,
        body: &AddressChangeRequest,
        key: &str,
    ) -> Result<AddressChange, ClientError> {
        self.send_idempotent(
            self.mutate(Method::POST, "/address-changes", Some(token), key)
                .json(body),
        )
        .await
    }

    /// Adds one page of evidence: the file's bytes and the content type it claims
    /// (`application/pdf`, `image/jpeg` or `image/png`; the council checks the bytes). Sending
    /// the same bytes again does not add a second page, so a retry is safe.
    pub async fn upload_evidence(
        &self,
        token: &str,
        change_id: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<AddressChange, ClientError> {
        let path = format!("/address-changes/{change_id}/files");
        self.send(
            self.request(Method::POST, &path, Some(token))
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .timeout(UPLOAD_TIMEOUT)
                .body(bytes),
        )
        .await
    }

    /// Sends the change (with at least one page) to the council's officers.
    pub async fn submit_address_change(
        &self,
        token: &str,
        change_id: &str,
        key: &str,
    ) -> Result<AddressChange, ClientError> {
        let path = format!("/address-changes/{change_id}/submission");
        self.send_idempotent(self.mutate(Method::POST, &path, Some(token), key))
            .await
    }

    /// The resident's changes of address, newest first, with any officer's reason and the
    /// permits to cancel after an approved move.
    pub async fn address_changes(&self, token: &str) -> Result<AddressChangeList, ClientError> {
        self.send(self.request(Method::GET, "/address-changes", Some(token)))
            .await
    }

    /// Officers only: changes in `status` (default: submitted, oldest first).
    pub async fn officer_address_changes(
        &self,
        token: &str,
        status: Option<AddressChangeStatus>,
    ) -> Result<OfficerAddressChangeList, ClientError> {
        let status = status.unwrap_or(AddressChangeStatus::Submitted).code();
        let path = format!("/officer/address-changes?status={status}");
        self.send(self.request(Method::GET, &path, Some(token)))
            .await
    }

    pub async fn officer_address_change(
        &self,
        token: &str,
        change_id: &str,
    ) -> Result<OfficerAddressChange, ClientError> {
        let path = format!("/officer/address-changes/{change_id}");
        self.send(self.request(Method::GET, &path, Some(token)))
            .await
    }

    /// Officers only: one page of evidence, as stored.
    pub async fn officer_evidence_file(
        &self,
        token: &str,
        change_id: &str,
        file_id: &str,
    ) -> Result<EvidenceDownload, ClientError> {
        let path = format!("/officer/address-changes/{change_id}/files/{file_id}");
        let response = Self::dispatch(
            self.request(Method::GET, &path, Some(token))
                .timeout(UPLOAD_TIMEOUT),
        )
        .await?;
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_string();
        let bytes = response.bytes().await.map_err(Self::transport_error)?;
        Ok(EvidenceDownload {
            content_type,
            bytes: bytes.to_vec(),
        })
    }

    pub async fn approve_address_change(
        &self,
        token: &str,
        change_id: &str,
        key: &str,
    ) -> Result<OfficerAddressChange, ClientError> {
        let path = format!("/officer/address-changes/{change_id}/approval");
        self.send_idempotent(self.mutate(Method::POST, &path, Some(token), key))
            .await
    }

    pub async fn reject_address_change(
        &self,
        token: &str,
        change_id: &str,
        body: &RejectionRequest,
        key: &str,
    ) -> Result<OfficerAddressChange, ClientError> {
        let path = format!("/officer/address-changes/{change_id}/rejection");
        self.send_idempotent(
            self.mutate(Method::POST, &path, Some(token), key)
                .json(body),
        )
        .await
    }

    fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let builder = self
            .http
            .request(method, format!("{}{}{}", self.base_url, API_PREFIX, path));
        match token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    fn mutate(&self, method: Method, path: &str, token: Option<&str>, key: &str) -> RequestBuilder {
        self.request(method, path, token)
            .header(IDEMPOTENCY_KEY_HEADER, key)
    }

    async fn send<T: DeserializeOwned>(&self, builder: RequestBuilder) -> Result<T, ClientError> {
        let response = Self::dispatch(builder).await?;
        let bytes = response.bytes().await.map_err(Self::transport_error)?;
        Self::parse(&bytes)
    }

    fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ClientError> {
        serde_json::from_slice(bytes).map_err(|e| {
            tracing::warn!(error = %e, "council response did not match the contract");
            ClientError::UnexpectedResponse(e.to_string())
        })
    }

    /// Sends a request that carries an `Idempotency-Key`. When the answer is lost on the way
    /// back (the connection drops after the request went out), the same request with the same
    /// key is sent again: the council either runs it for the first time or hands back its first
    /// answer, so nothing is bought, renewed or cancelled twice. Connection failures before
    /// sending and timeouts are not retried: they are reported as offline at once.
    async fn send_idempotent<T: DeserializeOwned>(
        &self,
        builder: RequestBuilder,
    ) -> Result<T, ClientError> {
        let mut delays = RETRY_DELAYS_AFTER_LOST_ANSWER.iter();
        loop {
            // JSON and empty bodies are held in memory, so the request can always be copied.
            let Some(attempt) = builder.try_clone() else {
                return self.send(builder).await;
            };
            let outcome = async {
                Ok(match Self::dispatch_raw(attempt).await? {
                    Ok(response) => Ok(response.bytes().await?),
                    Err(refused) => Err(refused),
                })
            }
            .await;
            match outcome {
                Ok(Ok(bytes)) => return Self::parse(&bytes),
                Ok(Err(error)) => return Err(error),
                Err(error) if answer_lost(&error) => match delays.next() {
                    Some(delay) => {
                        tracing::info!(error = %error, "council answer lost; sending again with the same idempotency key");
                        tokio::time::sleep(*delay).await;
                    }
                    None => return Err(Self::transport_error(error)),
                },
                Err(error) => return Err(Self::transport_error(error)),
            }
        }
    }

    async fn send_empty(&self, builder: RequestBuilder) -> Result<(), ClientError> {
        Self::dispatch(builder).await.map(|_| ())
    }

    async fn dispatch(builder: RequestBuilder) -> Result<reqwest::Response, ClientError> {
        Self::dispatch_raw(builder)
            .await
            .map_err(Self::transport_error)?
    }

    /// The outer error is the transport's (so a caller can tell a lost answer); the inner one
    /// is the council's refusal.
    async fn dispatch_raw(
        builder: RequestBuilder,
    ) -> Result<Result<reqwest::Response, ClientError>, reqwest::Error> {
        let response = builder.send().await?;
        let status = response.status();
        if status.is_success() {
            return Ok(Ok(response));
        }
        let bytes = response.bytes().await?;
        Ok(Err(match serde_json::from_slice::<ApiError>(&bytes) {
            Ok(api_error) => ClientError::Api(api_error),
            Err(_) => ClientError::Api(Self::error_for_bare_status(status)),
        }))
    }

    /// A proxy or a server that is starting up may answer without our JSON body.
    fn error_for_bare_status(status: StatusCode) -> ApiError {
        match status {
            StatusCode::UNAUTHORIZED => ApiError::new(
                ErrorKind::Unauthorised,
                "Your session has ended. Sign in again to continue.",
            ),
            StatusCode::NOT_FOUND => ApiError::new(ErrorKind::NotFound, "That was not found."),
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                ErrorKind::Validation,
                "This file is larger than 10 MB. Send a smaller scan or photo of the document.",
            ),
            StatusCode::TOO_MANY_REQUESTS => ApiError::new(
                ErrorKind::RateLimited,
                "Too many attempts. Wait a minute and try again.",
            ),
            StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
                ApiError::new(
                    ErrorKind::Offline,
                    "The council's permit service is not answering just now. Try again in a few minutes.",
                )
            }
            _ => ApiError::new(
                ErrorKind::Internal,
                "The council's permit service had a problem. Try again later.",
            ),
        }
    }

    fn transport_error(error: reqwest::Error) -> ClientError {
        if error.is_connect() || error.is_timeout() || error.is_request() {
            tracing::info!(error = %error, "council unreachable");
            ClientError::Offline
        } else {
            tracing::warn!(error = %error, "council transport error");
            ClientError::UnexpectedResponse(error.to_string())
        }
    }
}

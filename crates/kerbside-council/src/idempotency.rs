//! `Idempotency-Key` for every mutating endpoint.
//!
//! The first request with a key reserves it (a row with no answer yet), runs, and stores its
//! answer; a retry with the same key and the same request gets that answer back without running
//! again; the same key with a different request is refused. A handler that writes leaves its
//! transaction open for the answer (`WriteTransaction::commit_with_answer`), so the action and
//! its recorded answer commit together. The handler and the recording run on a task of their
//! own, so a client that disconnects mid-request (a dropped response) cannot cancel them
//! half-way.
//! Keys are scoped to the signed-in account (or to sign-up), so one resident's keys never
//! collide with another's.

use crate::auth::{self, bearer_token, sha256_hex, CurrentAccount};
use crate::error::Error;
use crate::sql::{query, query_as, Queries, Query};
use crate::store::{self, millis, Backend, WriteTransaction};
use crate::{service, AppState};
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kerbside_api::IDEMPOTENCY_KEY_HEADER;

pub const MAX_KEY_LENGTH: usize = 255;
/// Largest body the middleware reads to fingerprint; larger ones are refused by the body limit.
const MAX_BODY: usize = 1024 * 1024;

pub async fn middleware(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // Only the methods that change something; any other (TRACE, CONNECT, …) reaches the
    // router untouched and gets its 405.
    if !matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Some(key) = parts.headers.get(IDEMPOTENCY_KEY_HEADER) else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    // Who is asking comes before the key: a request that needs a signed-in account and has no
    // valid token gets the handler's 401 (not a 400 about its key), and reserves nothing.
    if bearer_token(&parts).is_none() && !open_to_anonymous(parts.uri.path()) {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let token_hash = bearer_token(&parts).map(auth::token_hash);
    let key = match key.to_str() {
        Ok(k)
            if !k.is_empty()
                && k.len() <= MAX_KEY_LENGTH
                && k.chars().all(|c| c.is_ascii_graphic()) =>
        {
            k.to_string()
        }
        _ => {
            let problem = Error::BadRequest(format!(
                "The Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} visible ASCII characters."
            ));
            return refuse(&state, token_hash, parts, next, problem).await;
        }
    };
    let bytes = match to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            let problem = Error::BadRequest("The request body is too large.".into());
            return refuse(&state, token_hash, parts, next, problem).await;
        }
    };
    let mut fingerprint_input = format!("{} {}\n", parts.method, parts.uri.path()).into_bytes();
    fingerprint_input.extend_from_slice(&bytes);
    let fingerprint = sha256_hex(&fingerprint_input);

    let (scope, signed_in, reserved) = match token_hash {
        None => ("anonymous".to_string(), None, None),
        Some(token_hash) => {
            // On PostgreSQL the session is checked and the key reserved in one statement.
            let found = match state.store.backend() {
                Backend::Postgres => {
                    service::account_reserving_key(&state, &token_hash, &key, &fingerprint)
                        .await
                        .map(|(account, new)| (account, Some(new)))
                }
                Backend::Sqlite => service::account_for_token(&state, &token_hash)
                    .await
                    .map(|account| (account, None)),
            };
            match found {
                Ok((account, reserved)) => (
                    account.id.clone(),
                    Some(CurrentAccount {
                        account,
                        token_hash,
                    }),
                    reserved,
                ),
                // Not signed in: let the handler give its 401; nothing was reserved.
                Err(_) => {
                    return next
                        .run(Request::from_parts(parts, Body::from(bytes)))
                        .await
                }
            }
        }
    };
    let reservation = match reserved {
        Some(true) => Ok(Reservation::New),
        Some(false) => earlier_use(&state, &scope, &key, &fingerprint).await,
        None => reserve(&state, &scope, &key, &fingerprint).await,
    };
    match reservation {
        Ok(Reservation::New) => {}
        Ok(Reservation::Replay(response)) => return response,
        Err(e) => return e.into_response(),
    }

    let mut request = Request::from_parts(parts, Body::from(bytes));
    // The handler's `CurrentAccount` takes the account found above instead of asking again.
    if let Some(signed_in) = signed_in {
        request.extensions_mut().insert(signed_in);
    }
    // The handler, and the answer's recording after it, run on a task of their own: a client
    // that disconnects (a dropped response) cannot stop them half-way.
    let handling = {
        let (state, scope, key) = (state.clone(), scope.clone(), key.clone());
        tokio::spawn(store::holding_answers(async move {
            let response = next.run(request).await;
            let (parts, body) = response.into_parts();
            let body = to_bytes(body, usize::MAX).await.unwrap_or_default();
            let held = store::take_held();
            record_answer(&state, &scope, &key, &fingerprint, held, parts, body).await
        }))
    };
    match handling.await {
        Ok((parts, body)) => Response::from_parts(parts, Body::from(body)),
        // The handler panicked; a transaction it held for its answer was dropped, rolled back.
        Err(join_error) => {
            release(&state, &scope, &key).await;
            Error::Internal(format!("handler task failed: {join_error}")).into_response()
        }
    }
}

/// Records the handler's answer with its key, so a repeat gets it back; a server error is not
/// recorded (nothing was committed, and a retry runs again). When the handler left its
/// transaction open for the answer ([`WriteTransaction::commit_with_answer`]), the answer is
/// written in it and both commit at once, or neither does and the resident is told nothing was
/// changed.
async fn record_answer(
    state: &AppState,
    scope: &str,
    key: &str,
    fingerprint: &str,
    held: Option<WriteTransaction>,
    parts: axum::http::response::Parts,
    body: axum::body::Bytes,
) -> (axum::http::response::Parts, axum::body::Bytes) {
    if parts.status.is_server_error() {
        drop(held);
        release(state, scope, key).await;
        return (parts, body);
    }
    let answer = answer(state, scope, key, fingerprint, parts.status, &body);
    let Some(mut transaction) = held else {
        if let Err(e) = state.store.execute_write(answer).await {
            tracing::error!(error = %e, "could not record idempotent response");
        }
        return (parts, body);
    };
    let committed = match transaction.execute(answer).await {
        Ok(_) => transaction.commit().await,
        Err(e) => {
            // Rolled back now: on SQLite it holds the writers' turn, which `release` needs.
            drop(transaction);
            Err(e)
        }
    };
    match committed {
        Ok(()) => (parts, body),
        Err(e) => {
            release(state, scope, key).await;
            let (parts, body) = Error::from(e).into_response().into_parts();
            (parts, to_bytes(body, usize::MAX).await.unwrap_or_default())
        }
    }
}

/// A request refused for its key or its body: a signed-in request whose session has ended
/// gets the handler's 401 instead, as it would have with a good key (who is asking comes
/// first). The handler refuses it before reading a body, so none is passed on.
async fn refuse(
    state: &AppState,
    token_hash: Option<String>,
    parts: axum::http::request::Parts,
    next: Next,
    problem: Error,
) -> Response {
    if let Some(token_hash) = token_hash {
        if service::account_for_token(state, &token_hash)
            .await
            .is_err()
        {
            return next.run(Request::from_parts(parts, Body::empty())).await;
        }
    }
    problem.into_response()
}

/// Sign-up and sign-in are the only changes made before signing in; their keys are scoped
/// to "anonymous".
fn open_to_anonymous(path: &str) -> bool {
    let path = path.strip_prefix(kerbside_api::API_PREFIX).unwrap_or(path);
    matches!(path, "/accounts" | "/sessions")
}

enum Reservation {
    New,
    Replay(Response),
}

async fn reserve(
    state: &AppState,
    scope: &str,
    key: &str,
    fingerprint: &str,
) -> Result<Reservation, Error> {
    let now = millis(state.clock.now());
    // A new key need not be committed before the request runs: the request's own writes and
    // the recorded answer commit after it (SQLite commits in order), and nothing is answered
    // before the recorded answer is committed. Should the key's batch fail, `record` writes
    // the key again with the answer. A key already there may still be in the open batch, so a
    // repeat waits for the commit before it reads the key through another connection.
    let inserted = state
        .store
        .execute_write_then(
            query(
                "INSERT INTO idempotency_keys (scope, key, fingerprint, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (scope, key) DO NOTHING",
            )
            .bind(scope)
            .bind(key)
            .bind(fingerprint)
            .bind(now),
            |inserted| inserted != 1,
        )
        .await?;
    if inserted == 1 {
        return Ok(Reservation::New);
    }
    earlier_use(state, scope, key, fingerprint).await
}

/// A key found already reserved: the recorded answer for a repeat of the same request, or why
/// it cannot run.
async fn earlier_use(
    state: &AppState,
    scope: &str,
    key: &str,
    fingerprint: &str,
) -> Result<Reservation, Error> {
    let (stored_fingerprint, status, body): (String, Option<i64>, Option<String>) = query_as(
        "SELECT fingerprint, status, body FROM idempotency_keys WHERE scope = $1 AND key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_one(&mut state.store.reader().await?)
    .await?;
    if stored_fingerprint != fingerprint {
        return Err(Error::Validation(
            "This Idempotency-Key was already used for a different request. Use a new key for a new request.".into(),
        ));
    }
    let Some(status) = status else {
        return Err(Error::Conflict(
            "The first request with this Idempotency-Key is still being processed. Try again in a moment.".into(),
        ));
    };
    let status = StatusCode::from_u16(u16::try_from(status).unwrap_or(500))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(Body::from(body.unwrap_or_default()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(Reservation::Replay(response))
}

/// The statement that records an answer with its key (written again if the key's own batch
/// failed; see `reserve`).
fn answer(
    state: &AppState,
    scope: &str,
    key: &str,
    fingerprint: &str,
    status: StatusCode,
    body: &[u8],
) -> Query<'static> {
    query(
        "INSERT INTO idempotency_keys (scope, key, fingerprint, created_at, status, body) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (scope, key) DO UPDATE SET status = excluded.status, body = excluded.body",
    )
    .bind(scope)
    .bind(key)
    .bind(fingerprint)
    .bind(millis(state.clock.now()))
    .bind(i64::from(status.as_u16()))
    .bind(String::from_utf8_lossy(body).into_owned())
}

async fn release(state: &AppState, scope: &str, key: &str) {
    let released = state
        .store
        .execute_write(
            query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND status IS NULL")
                .bind(scope)
                .bind(key),
        )
        .await;
    if let Err(error) = released {
        tracing::error!(%error, "could not release idempotency key");
    }
}

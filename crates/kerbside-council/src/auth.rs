//! Passwords (argon2id), bearer tokens (256 random bits, stored only as SHA-256), the
//! extractor that turns `Authorization: Bearer …` into the signed-in account, and the limits on
//! failed sign-ins per account and per client address.

use crate::error::{Error, Result};
use crate::service::{self, AccountRow};
use crate::sql::{from_sqlite_columns, query, query_as};
use crate::store::{from_millis, millis, new_id};
use crate::AppState;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use base64::Engine;
use chrono::{DateTime, Duration, Timelike, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::net::{IpAddr, SocketAddr};

/// How long a sign-in lasts.
pub const SESSION_DAYS: i64 = 30;

pub async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("argon2: {e}")))
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))?
}

/// Verifies against `stored`, or against a fixed dummy hash when there is no such account, so
/// the answer takes as long either way and does not reveal which emails have accounts.
pub async fn verify_password(password: String, stored: Option<String>) -> Result<bool> {
    tokio::task::spawn_blocking(move || {
        const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$J6V3SVuvr6UgDp2J1ImOBlaIEZjrBkUgJu4XovIUKbA";
        let found = stored.is_some();
        let hash_text = stored.unwrap_or_else(|| DUMMY.to_string());
        let parsed = PasswordHash::new(&hash_text).map_err(|e| Error::Internal(format!("argon2: {e}")))?;
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(found && ok)
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))?
}

/// A new bearer token: 32 random bytes from the OS, base64url.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Lower-case hex of the SHA-256 of `data`, written by the digest itself into one string:
/// formatting each byte as a string of its own cost 32 allocations per signed-in request
/// (1.4 % of the council's CPU in the read benchmark's profile, docs/BENCHMARKS.md, fix 24).
pub fn sha256_hex(data: &[u8]) -> String {
    format!("{:x}", Sha256::digest(data))
}

pub fn token_hash(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

/// The bearer token of a request, if it has one.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The signed-in account of a request; rejects with 401 and a reason otherwise.
#[derive(Clone)]
pub struct CurrentAccount {
    pub account: AccountRow,
    pub token_hash: String,
}

impl FromRequestParts<AppState> for CurrentAccount {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let SessionToken { hash } = SessionToken::from_request_parts(parts, state).await?;
        // The idempotency middleware has looked this token up already for a keyed write
        // (request extensions are set only by the server, never by a client).
        if let Some(known) = parts.extensions.get::<CurrentAccount>() {
            if known.token_hash == hash {
                return Ok(known.clone());
            }
        }
        let account = service::account_for_token(state, &hash).await?;
        Ok(CurrentAccount {
            account,
            token_hash: hash,
        })
    }
}

/// The bearer token of a request that must be signed in, not yet checked: for the reads that
/// check the session in the statement that reads their data (the permit list, one permit, a
/// payment's status and the refund quote), so a read is one read, not two
/// (`service::permits_of_session`). A request without a token
/// is rejected here with 401; [`CurrentAccount`] starts from it.
pub struct SessionToken {
    pub hash: String,
}

impl<S: Sync> FromRequestParts<S> for SessionToken {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self> {
        let token = bearer_token(parts)
            .ok_or_else(|| Error::Unauthorised("Sign in to continue.".into()))?;
        Ok(SessionToken {
            hash: token_hash(token),
        })
    }
}

/// A signed-in council officer. Every officer endpoint takes this, so the role is checked in
/// one place: a resident gets 403, someone not signed in 401.
pub struct OfficerAccount(pub AccountRow);

impl FromRequestParts<AppState> for OfficerAccount {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let current = CurrentAccount::from_request_parts(parts, state).await?;
        if current.account.role != "officer" {
            return Err(Error::Forbidden(
                "Only council officers can see or decide changes of address.".into(),
            ));
        }
        Ok(OfficerAccount(current.account))
    }
}

// ---------------------------------------------------------------- sign-in limits

/// Failed sign-ins allowed per account (email as typed, account or not) in one window.
pub const ACCOUNT_ATTEMPTS: usize = 5;
/// Failed sign-ins allowed from one client address (any accounts) in one window.
pub const ADDRESS_ATTEMPTS: usize = 20;
/// The sliding window the limits count over, by the council's clock.
pub const ATTEMPT_WINDOW_MINUTES: i64 = 15;

/// Where a request came from, as the key of the per-address limit: the TCP peer's IP address
/// (IPv4, or an IPv6 /64, the block one subscriber usually holds). `X-Forwarded-For` is not
/// trusted: anyone can send it. Behind a reverse proxy every client therefore shares the
/// proxy's address (and its limit); a council running one should limit sign-ins there too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientAddress(pub String);

impl ClientAddress {
    pub fn of(ip: IpAddr) -> ClientAddress {
        match ip.to_canonical() {
            IpAddr::V4(v4) => ClientAddress(v4.to_string()),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                ClientAddress(format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]))
            }
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> std::result::Result<Self, Self::Rejection> {
        // `spawn` serves with connect info; a router called directly (`oneshot`) has none, and
        // all such callers share one "unknown" address.
        Ok(parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| ClientAddress::of(peer.ip()))
            .unwrap_or_else(|| ClientAddress("unknown".into())))
    }
}

/// The per-account key: a hash of the email as typed, so a password typed into the email
/// field by mistake is never stored readable.
pub fn account_key(email: &str) -> String {
    sha256_hex(email.trim().to_lowercase().as_bytes())
}

/// One password check that passed the limits. It is recorded as a failure *before* the
/// password is verified, so concurrent attempts can never verify more passwords than the limit
/// allows (each one counts the others'); [`Attempt::succeeded`] takes it back.
#[must_use]
pub struct Attempt {
    account_key: String,
    client_key: String,
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    id: String,
    at: i64,
}

from_sqlite_columns!(AttemptRow { id, at });

fn window() -> Duration {
    Duration::minutes(ATTEMPT_WINDOW_MINUTES)
}

/// When the limit stops refusing, if `rows` (newest first, the window's failures) reach it.
fn lifted_at(rows: &[AttemptRow], own: Option<&str>, limit: usize) -> Option<DateTime<Utc>> {
    let others: Vec<&AttemptRow> = rows.iter().filter(|r| Some(r.id.as_str()) != own).collect();
    // With `limit` or more failures in the window, it lifts once the limit-th newest leaves it.
    others
        .get(limit - 1)
        .map(|row| from_millis(row.at) + window())
}

/// "10:45": the UK local time by which the limit has lifted (rounded up to the minute).
fn uk_time(at: DateTime<Utc>) -> String {
    let mut local = at.with_timezone(&kerbside_rules::UK_TIME_ZONE);
    if local.second() != 0 || local.nanosecond() != 0 {
        local += Duration::minutes(1);
    }
    local.format("%H:%M").to_string()
}

fn refused_for_account(until: DateTime<Utc>) -> Error {
    Error::RateLimited(format!(
        "Too many sign-in attempts for this account. Try again after {}.",
        uk_time(until)
    ))
}

fn refused_for_address(until: DateTime<Utc>) -> Error {
    Error::RateLimited(format!(
        "Too many sign-in attempts from this network. Try again after {}.",
        uk_time(until)
    ))
}

async fn recent(
    state: &AppState,
    column: &str,
    key: &str,
    since: i64,
    limit: usize,
) -> Result<Vec<AttemptRow>> {
    // `column` is one of two names chosen in this module, never input.
    Ok(query_as::<AttemptRow>(&format!(
        "SELECT id, at FROM sign_in_attempts WHERE {column} = $1 AND at > $2 \
         ORDER BY at DESC, id LIMIT $3"
    ))
    .bind(key)
    .bind(since)
    .bind(i64::try_from(limit + 1).unwrap_or(i64::MAX))
    .fetch_all(&mut state.store.reader().await?)
    .await?)
}

/// The limits as they stand, `own` (a provisional row) left out: Err(429) if either is reached.
async fn check_limits(
    state: &AppState,
    account_key: &str,
    client_key: &str,
    own: Option<&str>,
) -> Result<()> {
    let since = millis(state.clock.now() - window());
    let by_account = recent(state, "account_key", account_key, since, ACCOUNT_ATTEMPTS).await?;
    if let Some(until) = lifted_at(&by_account, own, ACCOUNT_ATTEMPTS) {
        return Err(refused_for_account(until));
    }
    let by_address = recent(state, "client_key", client_key, since, ADDRESS_ATTEMPTS).await?;
    if let Some(until) = lifted_at(&by_address, own, ADDRESS_ATTEMPTS) {
        return Err(refused_for_address(until));
    }
    Ok(())
}

/// Refuses (429, before any password hashing) if the account or the address has had too many
/// failures in the window; otherwise records this attempt as a failure until it succeeds.
pub async fn begin_attempt(
    state: &AppState,
    account_key: &str,
    client: &ClientAddress,
) -> Result<Attempt> {
    check_limits(state, account_key, &client.0, None).await?;
    let id = new_id();
    let statement = query(
        "INSERT INTO sign_in_attempts (id, account_key, client_key, at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&id)
    .bind(account_key)
    .bind(&client.0)
    .bind(millis(state.clock.now()));
    state.store.execute_write(statement).await?;
    // Attempts that raced this one have recorded themselves too: if, counting them and this
    // one, a limit is passed, take this one back and refuse it.
    let since = millis(state.clock.now() - window());
    let by_account = recent(state, "account_key", account_key, since, ACCOUNT_ATTEMPTS).await?;
    let by_address = recent(state, "client_key", &client.0, since, ADDRESS_ATTEMPTS).await?;
    let over = by_account.len() > ACCOUNT_ATTEMPTS || by_address.len() > ADDRESS_ATTEMPTS;
    if over {
        state
            .store
            .execute_write(query("DELETE FROM sign_in_attempts WHERE id = $1").bind(&id))
            .await?;
        let until = lifted_at(&by_account, Some(&id), ACCOUNT_ATTEMPTS);
        return Err(match until {
            Some(until) => refused_for_account(until),
            None => refused_for_address(
                lifted_at(&by_address, Some(&id), ADDRESS_ATTEMPTS)
                    .unwrap_or_else(|| state.clock.now() + window()),
            ),
        });
    }
    Ok(Attempt {
        account_key: account_key.to_string(),
        client_key: client.0.clone(),
    })
}

impl Attempt {
    /// The password was right: this account's failures from this address are forgotten (a
    /// resident's own typos). Other accounts' failures from this address still count.
    pub async fn succeeded(self, state: &AppState) -> Result<()> {
        state
            .store
            .execute_write(
                query("DELETE FROM sign_in_attempts WHERE account_key = $1 AND client_key = $2")
                    .bind(&self.account_key)
                    .bind(&self.client_key),
            )
            .await?;
        Ok(())
    }

    /// The password was wrong: the attempt stays recorded. Failures that have left the window
    /// are deleted now, so the table stays small without a background job.
    pub async fn failed(self, state: &AppState) {
        let cutoff = millis(state.clock.now() - window());
        let deleted = state
            .store
            .execute_write(query("DELETE FROM sign_in_attempts WHERE at <= $1").bind(cutoff))
            .await;
        if let Err(error) = deleted {
            tracing::warn!(%error, "deleting old sign-in attempts failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_written_as_the_lower_case_hex_already_stored() {
        // Stored session hashes, account keys and idempotency fingerprints are compared with
        // these strings: a different spelling would sign every resident out.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn tokens_carry_256_random_bits_and_never_repeat() {
        let a = new_token();
        let b = new_token();
        assert_eq!(a.len(), 43, "32 bytes in unpadded base64url");
        assert_ne!(a, b);
        assert_ne!(token_hash(&a), a, "only the hash is stored");
    }

    #[tokio::test]
    async fn a_password_verifies_only_against_its_own_hash() {
        let hash = hash_password("correct horse battery".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            verify_password("correct horse battery".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(!verify_password("wrong horse battery".into(), Some(hash))
            .await
            .unwrap());
        assert!(!verify_password("anything".into(), None).await.unwrap());
    }

    #[test]
    fn the_client_address_is_the_ip_or_its_ipv6_64() {
        let v4: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(ClientAddress::of(v4).0, "203.0.113.7");
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(ClientAddress::of(mapped).0, "203.0.113.7");
        let v6: IpAddr = "2001:db8:aa:bb:1:2:3:4".parse().unwrap();
        let same_64: IpAddr = "2001:db8:aa:bb:ffff::9".parse().unwrap();
        assert_eq!(ClientAddress::of(v6).0, "2001:db8:aa:bb::/64");
        assert_eq!(ClientAddress::of(v6), ClientAddress::of(same_64));
    }

    #[test]
    fn the_time_to_try_again_is_uk_local_and_rounded_up_to_the_minute() {
        let summer = DateTime::parse_from_rfc3339("2027-06-01T09:44:30Z")
            .unwrap()
            .to_utc();
        assert_eq!(uk_time(summer), "10:45", "BST is UTC+1; 10:44:30 rounds up");
        let winter = DateTime::parse_from_rfc3339("2027-01-10T09:45:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(uk_time(winter), "09:45", "GMT; already on the minute");
    }

    #[test]
    fn the_account_key_ignores_case_and_spaces_and_is_not_the_email() {
        assert_eq!(
            account_key(" Sam@Example.org "),
            account_key("sam@example.org")
        );
        assert!(!account_key("sam@example.org").contains("sam"));
    }

    #[test]
    fn a_limit_lifts_when_its_oldest_counted_failure_leaves_the_window() {
        let rows: Vec<AttemptRow> = (0..3)
            .map(|i| AttemptRow {
                id: format!("r{i}"),
                at: 1_000_000 - i * 60_000,
            })
            .collect();
        assert!(lifted_at(&rows, None, 4).is_none(), "3 failures, limit 4");
        let lifted = lifted_at(&rows, None, 3).unwrap();
        assert_eq!(millis(lifted), 1_000_000 - 2 * 60_000 + 15 * 60_000);
        assert!(
            lifted_at(&rows, Some("r0"), 3).is_none(),
            "own row not counted"
        );
    }
}

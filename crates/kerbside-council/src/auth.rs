//! Passwords (argon2id), bearer tokens (256 random bits, stored only as SHA-256) and the
//! extractor that turns `Authorization: Bearer …` into the signed-in account.

use crate::error::{Error, Result};
use crate::service::{self, AccountRow};
use crate::AppState;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

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

pub fn sha256_hex(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    digest.iter().map(|b| format!("{b:02x}")).collect()
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
pub struct CurrentAccount {
    pub account: AccountRow,
    pub token_hash: String,
}

impl FromRequestParts<AppState> for CurrentAccount {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let token = bearer_token(parts)
            .ok_or_else(|| Error::Unauthorised("Sign in to continue.".into()))?;
        let hash = token_hash(token);
        let account = service::account_for_token(state, &hash).await?;
        Ok(CurrentAccount {
            account,
            token_hash: hash,
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

//! The session token lives only in the OS keyring: Secret Service on Linux, Keychain on macOS,
//! Credential Manager on Windows. Never in SQLite, files, logs or the web view.

use crate::error::{Error, Result};

/// Where the session token is kept. The app uses [`KeyringSecrets`]; the trait exists so the
/// core can be driven by tests and so a missing keyring gives one clear error.
pub trait SecretStore: Send + Sync + std::fmt::Debug {
    fn get(&self, account: &str) -> Result<Option<String>>;
    fn set(&self, account: &str, secret: &str) -> Result<()>;
    fn delete(&self, account: &str) -> Result<()>;
}

/// The OS keyring, under one service name (the app identifier).
#[derive(Debug, Clone)]
pub struct KeyringSecrets {
    service: String,
}

impl KeyringSecrets {
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
        }
    }

    fn entry(&self, account: &str) -> Result<keyring::Entry> {
        keyring::Entry::new(&self.service, account).map_err(|e| Error::Keyring(e.to_string()))
    }
}

impl SecretStore for KeyringSecrets {
    fn get(&self, account: &str) -> Result<Option<String>> {
        let entry = self.entry(account)?;
        match retrying_platform_failures(|| entry.get_password(), std::thread::sleep) {
            Ok(secret) => Ok(Some(secret)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(Error::Keyring(e.to_string())),
        }
    }

    fn set(&self, account: &str, secret: &str) -> Result<()> {
        let entry = self.entry(account)?;
        retrying_platform_failures(|| entry.set_password(secret), std::thread::sleep)
            .map_err(|e| Error::Keyring(e.to_string()))
    }

    fn delete(&self, account: &str) -> Result<()> {
        let entry = self.entry(account)?;
        match retrying_platform_failures(|| entry.delete_credential(), std::thread::sleep) {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(Error::Keyring(e.to_string())),
        }
    }
}

/// Pauses before each retry of a keyring call that failed in the platform: 1.5 s in all.
const PLATFORM_FAILURE_PAUSES_MS: [u64; 4] = [100, 200, 400, 800];

/// Runs `call`, again after each pause while it fails with `PlatformFailure`.
///
/// Why: the Secret Service is another process. When it dies or restarts mid-call (seen with
/// gnome-keyring-daemon: "Message recipient disconnected from message bus without replying"),
/// the session restarts it within a fraction of a second, and the next call reaches the new
/// one. Signing a resident out for that blip would be wrong. Other errors (no entry, no
/// access, a locked keyring) are answers, not blips, and return at once.
fn retrying_platform_failures<T>(
    mut call: impl FnMut() -> keyring::Result<T>,
    mut pause: impl FnMut(std::time::Duration),
) -> keyring::Result<T> {
    for ms in PLATFORM_FAILURE_PAUSES_MS {
        match call() {
            Err(keyring::Error::PlatformFailure(e)) => {
                tracing::warn!(error = %e, "the keyring failed; trying again in {ms} ms");
                pause(std::time::Duration::from_millis(ms));
            }
            answer => return answer,
        }
    }
    call()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn platform_failure() -> keyring::Error {
        keyring::Error::PlatformFailure("Message recipient disconnected".into())
    }

    /// Calls that fail in the platform `failures` times, then answer `Ok(7)`.
    fn run_with_failures(failures: usize) -> (keyring::Result<u32>, usize, Vec<Duration>) {
        let mut calls = 0;
        let mut pauses = Vec::new();
        let answer = retrying_platform_failures(
            || {
                calls += 1;
                if calls <= failures {
                    Err(platform_failure())
                } else {
                    Ok(7)
                }
            },
            |d| pauses.push(d),
        );
        (answer, calls, pauses)
    }

    #[test]
    fn a_keyring_that_answers_at_once_is_called_once_without_a_pause() {
        let (answer, calls, pauses) = run_with_failures(0);
        assert_eq!(answer.unwrap(), 7);
        assert_eq!(calls, 1);
        assert!(pauses.is_empty());
    }

    #[test]
    fn a_keyring_that_restarts_mid_call_is_asked_again_after_growing_pauses() {
        let (answer, calls, pauses) = run_with_failures(3);
        assert_eq!(answer.unwrap(), 7);
        assert_eq!(calls, 4);
        let expected: Vec<Duration> = [100, 200, 400]
            .into_iter()
            .map(Duration::from_millis)
            .collect();
        assert_eq!(pauses, expected);
    }

    #[test]
    fn a_keyring_still_failing_after_a_second_and_a_half_gives_its_error() {
        let (answer, calls, pauses) = run_with_failures(usize::MAX);
        assert!(matches!(answer, Err(keyring::Error::PlatformFailure(_))));
        assert_eq!(calls, 5);
        assert_eq!(pauses.iter().sum::<Duration>(), Duration::from_millis(1500));
    }

    #[test]
    fn answers_that_are_not_platform_failures_return_at_once() {
        let mut calls = 0;
        let answer: keyring::Result<()> = retrying_platform_failures(
            || {
                calls += 1;
                Err(keyring::Error::NoEntry)
            },
            |_| panic!("no pause for an answer"),
        );
        assert!(matches!(answer, Err(keyring::Error::NoEntry)));
        assert_eq!(calls, 1);
    }
}

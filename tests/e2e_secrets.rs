//! End-to-end: after a resident signs in in the real app window and the app syncs, the session
//! token and the password are in the OS keyring only. Neither is in any file the app or its
//! webview writes: the app data folder (SQLite cache, -wal, -shm), WebKitGTK's storage and caches
//! (local storage, IndexedDB, HTTP cache, under the app's own XDG data, cache and config homes),
//! nor in the app's log at `KERBSIDE_LOG=trace` (its stderr). Searched as raw bytes in UTF-8,
//! UTF-16 (both byte orders), base64 and base64url at every alignment, and for the token also
//! its 32 raw bytes and their hex; once while the app runs and again after it has quit (when
//! WebKit has flushed its storage).

#[path = "../crates/kerbside-desktop/tests/support/secret_forms.rs"]
mod secret_forms;
mod support;

use kerbside_api::types::*;
use kerbside_api::CouncilClient;
use kerbside_desktop::{KeyringSecrets, SecretStore};
use kerbside_rules::PermitType;
use secret_forms::{files_under, find, forms, leaks, token_forms};
use std::time::Duration;
use support::{App, AppDirs, Council};

const NOW: &str = "2027-03-01T09:00:00Z";

/// 64 random bits (from std's random hash keys) and the time, so the password occurs nowhere
/// else and any occurrence found is a leak.
fn unique_password() -> String {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("Pw-{random:016x}{nanos:x}")
}

/// A resident with a live permit, made at the council directly (another device), so that the
/// app has something to sync. The session used here is signed out again.
async fn resident_with_a_permit(council: &Council, email: &str, password: &str) {
    let client = council.client();
    client
        .register(
            &RegisterRequest {
                email: email.into(),
                password: password.into(),
                name: "Sam Secret".into(),
                address: PostalAddress {
                    line1: "27".into(),
                    street: "Hazel Street".into(),
                    town: "Leicester".into(),
                    postcode: "LE2 7JN".into(),
                },
                date_of_birth: None,
                reminder_email: None,
            },
            &CouncilClient::new_idempotency_key(),
        )
        .await
        .unwrap();
    let other = client
        .sign_in(&SignInRequest {
            email: email.into(),
            password: password.into(),
        })
        .await
        .unwrap();
    client
        .buy(
            &other.token,
            &PermitRequest {
                permit_type: PermitType::Care,
                registration: "AB12CDE".into(),
                carer_evidence: Some("Daily visits from Acme Care".into()),
                return_url: None,
            },
            &CouncilClient::new_idempotency_key(),
        )
        .await
        .unwrap();
    client.sign_out(&other.token).await.unwrap();
}

/// The log targets (crates and modules) that wrote to the log, its colour codes removed.
fn log_targets(log: &str) -> std::collections::BTreeSet<String> {
    let mut plain = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // An escape sequence: ESC [ … letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let (_time, level) = (words.next()?, words.next()?);
            let target = words.next()?.strip_suffix(':')?;
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]
                .contains(&level)
                .then(|| target.split("::").next().unwrap_or(target).to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn after_sign_in_and_a_sync_the_token_and_password_are_in_no_file_storage_or_log() {
    let _serial = support::one_at_a_time().await;
    let council = Council::start(NOW).await;
    let email = "secrets@example.org";
    let password = unique_password();
    resident_with_a_permit(&council, email, &password).await;

    let dirs = AppDirs::new();
    let app = App::launch_with_env(
        "secrets",
        &dirs,
        &council.url,
        NOW,
        &[("KERBSIDE_LOG", "trace")],
    )
    .await;
    app.sign_in(email, &password).await;
    app.wait_for_card("AB12 CDE", "active").await;
    app.open_permit("AB12 CDE").await;
    app.find("[data-testid=history-entry]").await;
    app.click("[data-testid=nav-profile]").await;
    app.wait_for_text(email).await;
    app.click("[data-testid=nav-data]").await;
    app.find("[data-testid=cache-file]").await;

    let token = KeyringSecrets::new(kerbside_app::KEYRING_SERVICE)
        .get(&format!("session:{}", council.url))
        .unwrap()
        .expect("the app keeps its session in the keyring");
    // It is the app's live session: the council accepts it.
    assert_eq!(council.client().profile(&token).await.unwrap().email, email);
    let secrets = [
        ("session token", token_forms(&token)),
        ("password", forms(&password)),
    ];

    let while_running = files_under(dirs.root.path());
    let found = leaks(&while_running, &secrets);
    assert!(
        found.is_empty(),
        "while the app runs:\n{}",
        found.join("\n")
    );

    app.quit().await;
    // WebKit's network and storage processes flush and exit after the app.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_quit = files_under(dirs.root.path());
    let found = leaks(&after_quit, &secrets);
    assert!(found.is_empty(), "after quitting:\n{}", found.join("\n"));

    // The scan looked where it should: the cache (with the signed-in email in it, not a
    // secret), and the app's log at debug and trace level.
    let root = dirs.root.path().display().to_string();
    let names: Vec<String> = after_quit
        .iter()
        .map(|(n, _)| n.replacen(&root, "", 1))
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.ends_with("uk.kerbside.app/kerbside-cache.db")),
        "{names:?}"
    );
    assert!(
        after_quit.iter().any(|(_, b)| find(b, email.as_bytes())),
        "the email should be in the cache: {names:?}"
    );
    let log = std::fs::read_to_string(dirs.app_log()).expect("the app's stderr was captured");
    // (Levels may be wrapped in colour codes: the app's log is not told it goes to a file.)
    for expected in ["KERBSIDE_CLOCK", "DEBUG", "TRACE"] {
        assert!(
            log.contains(expected),
            "the app log should contain {expected:?}; it has {} bytes:\n{}",
            log.len(),
            log.chars().take(4000).collect::<String>()
        );
    }
    let targets = log_targets(&log);
    // The requests to the council were logged (their headers would carry the token).
    assert!(
        targets
            .iter()
            .any(|t| t.starts_with("hyper") || t.starts_with("reqwest")),
        "{targets:?}"
    );
    // WebKit's own storage (local storage, caches, their salts) is in the app's data folder,
    // next to the cache, so the scan covered it.
    let webview: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("/data/uk.kerbside.app/") && !n.contains("kerbside-cache.db"))
        .collect();
    assert!(!webview.is_empty(), "no webview storage found: {names:?}");
    // Where the files were, by folder (the shader cache alone has dozens).
    let mut folders = std::collections::BTreeMap::<String, usize>::new();
    for name in &names {
        let folder = name.rsplit_once('/').map(|(f, _)| f).unwrap_or("");
        let folder = if folder.starts_with("/cache/mesa_shader_cache") {
            "/cache/mesa_shader_cache"
        } else {
            folder
        };
        *folders.entry(folder.to_string()).or_default() += 1;
    }
    let bytes: usize = after_quit.iter().map(|(_, b)| b.len()).sum();
    eprintln!(
        "secrets scan (e2e): {} files, {} bytes (the log: {} lines, {} bytes, from {targets:?}) \
         searched for {} forms of the token and password, none found; files by folder: \
         {folders:?}; the webview's: {webview:?}",
        after_quit.len(),
        bytes,
        log.lines().count(),
        log.len(),
        secrets.iter().map(|(_, f)| f.len()).sum::<usize>(),
    );
    // Sign-out is covered by tests/e2e.rs; here the keyring entry is removed directly.
    KeyringSecrets::new(kerbside_app::KEYRING_SERVICE)
        .delete(&format!("session:{}", council.url))
        .unwrap();
}

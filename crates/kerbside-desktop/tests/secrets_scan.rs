//! The session token and the password are nowhere but the OS keyring: after registering,
//! signing in, buying, syncing and opening a permit, neither is in any file of the app data
//! folder (the SQLite cache, its -wal and -shm) nor in a single line of the log at TRACE level
//! for every crate (the app core, sqlx, reqwest, hyper, and the council server in this process),
//! in any of the forms a leak would take: UTF-8, UTF-16 (both byte orders), base64 and
//! base64url at every alignment, and for the token its raw 32 bytes and their hex.
//!
//! The real keyring (Secret Service) and a real council on 127.0.0.1:0; run under
//! scripts/with-desktop-session.sh. The end-to-end variant with the real webview's storage is
//! tests/e2e_secrets.rs at the workspace root.

use kerbside_api::types::*;
use kerbside_api::FixedClock;
use kerbside_desktop::{KeyringSecrets, SecretStore};
use kerbside_rules::PermitType;
use std::io::Write;
use std::sync::{Arc, Mutex};

mod support;
use support::secret_forms::{base64, files_under, find, forms, leaks, token_forms};
use support::world::{at, registration, start_app, start_council, unique_keyring_service};

/// Everything logged, by every thread (sqlx runs each SQLite connection on its own thread).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_forms_of_a_secret_are_found_wherever_it_is_written() {
    // The scan must catch each encoding it claims to: embed each at an odd offset and look.
    let secret = "Pw-3f1e0c7a9b";
    let encoded = [
        format!("xx{secret}yy").into_bytes(),
        format!("x{secret}")
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect(),
        format!("x{secret}")
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect(),
        base64(format!("{{\"password\":\"{secret}\"}}").as_bytes(), false).into_bytes(),
        base64(format!("ab{secret}").as_bytes(), true).into_bytes(),
        base64(format!("a{secret}").as_bytes(), false).into_bytes(),
    ];
    let forms = forms(secret);
    for bytes in encoded {
        assert!(
            forms.iter().any(|(_, needle)| find(&bytes, needle)),
            "missed: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    let token = base64(&[7u8; 32], true);
    let raw = [&b"abc"[..], &[7u8; 32], &b"def"[..]].concat();
    assert!(token_forms(&token).iter().any(|(_, n)| find(&raw, n)));
    assert!(!forms.iter().any(|(_, n)| find(b"nothing secret here", n)));
}

#[test]
fn neither_the_token_nor_the_password_is_in_the_app_data_folder_or_the_trace_log() {
    let log = Captured::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let council_dir = tempfile::tempdir().unwrap();
    let app_dir = tempfile::tempdir().unwrap();
    let service = unique_keyring_service();
    // A password that occurs nowhere else, so any occurrence is a leak.
    let password = format!("Pw-{}", uuid::Uuid::new_v4().simple());
    let email = "secrets@example.org";

    let (token, council_url) = runtime.block_on(async {
        let clock = Arc::new(FixedClock::new(at("2027-03-01T09:00:00Z")));
        let council = start_council(council_dir.path(), clock.clone(), None).await;
        let app = start_app(app_dir.path(), clock.clone(), &council.url, &service).await;
        app.register(registration(email, &password, "Sam Secret"))
            .await
            .unwrap();
        // A wrong password first: the refusal must not echo what was typed.
        let wrong = format!("{password}-typo");
        assert!(app
            .sign_in(SignInRequest {
                email: email.into(),
                password: wrong,
            })
            .await
            .is_err());
        app.sign_in(SignInRequest {
            email: email.into(),
            password: password.clone(),
        })
        .await
        .unwrap();
        let bought = app
            .buy(PermitRequest {
                permit_type: PermitType::Care,
                registration: "AB12CDE".into(),
                carer_evidence: Some("Daily visits from Acme Care".into()),
                return_url: None,
            })
            .await
            .unwrap();
        app.sync().await.unwrap();
        app.permit(&bought.permit.id).await.unwrap();
        app.profile().await.unwrap();
        app.data_summary().await.unwrap();
        let token = KeyringSecrets::new(&service)
            .get(&format!("session:{}", council.url))
            .unwrap()
            .expect("the session token is in the keyring");
        (token, council.url.clone())
    });

    let mut places = files_under(app_dir.path());
    let names: Vec<&str> = places.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.iter().any(|n| n.ends_with("kerbside-cache.db")),
        "the scan sees the cache: {names:?}"
    );
    // The scan reads the cache's content: the signed-in email is there (it is not a secret).
    assert!(
        places.iter().any(|(_, b)| find(b, email.as_bytes())),
        "the email should be found in the cache files {names:?}"
    );
    let logged = log.0.lock().unwrap().clone();
    let text = String::from_utf8_lossy(&logged).to_string();
    for expected in [" TRACE ", " DEBUG ", "sqlx::query", "kerbside_council"] {
        assert!(
            text.contains(expected),
            "the log should hold {expected:?} (proof it captured every level and crate)"
        );
    }
    places.push(("the TRACE log".into(), logged));
    let secrets = [
        ("session token", token_forms(&token)),
        ("password", forms(&password)),
    ];
    let found = leaks(&places, &secrets);
    assert!(found.is_empty(), "secrets leaked:\n{}", found.join("\n"));
    eprintln!(
        "secrets scan (core): {} files and {} bytes of TRACE log searched for {} forms of the \
         token and password; none found",
        places.len() - 1,
        places.last().unwrap().1.len(),
        secrets.iter().map(|(_, f)| f.len()).sum::<usize>()
    );

    // The keyring entry this test made.
    KeyringSecrets::new(&service)
        .delete(&format!("session:{council_url}"))
        .unwrap();
}

//! A Secret Service that dies does not sign the resident out. gnome-keyring-daemon was seen to
//! die mid-run (SIGTRAP, 2026-11-27): the call in flight failed with "Message recipient
//! disconnected from message bus without replying". Here the session's daemon is killed
//! outright, between two calls and in the middle of one, and the token stored before is read
//! back through the daemon D-Bus starts in its place: the first shows the session restarts it on
//! the same keyring, the second that the app asks again (`KeyringSecrets`' retry).
//!
//! Kills the session's keyring daemon, so it runs only inside the private session of
//! scripts/with-desktop-session.sh (which keeps one running, restarting it when it exits), and
//! alone in its test binary so no other test's keyring call meets the gap.

use kerbside_desktop::{KeyringSecrets, SecretStore};
use std::process::Command;

/// The process id of whoever owns `org.freedesktop.secrets` on the session bus.
fn secret_service_pid() -> u32 {
    let out = Command::new("dbus-send")
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.GetConnectionUnixProcessID",
            "string:org.freedesktop.secrets",
        ])
        .output()
        .expect("dbus-send runs");
    let reply = String::from_utf8_lossy(&out.stdout);
    reply
        .split_whitespace()
        .skip_while(|word| *word != "uint32")
        .nth(1)
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no Secret Service on the session bus: {reply}"))
}

fn kill(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} {pid}");
}

fn new_secrets() -> KeyringSecrets {
    KeyringSecrets::new(format!(
        "uk.kerbside.test.{}",
        uuid::Uuid::new_v4().simple()
    ))
}

fn assert_in_private_session() {
    assert!(
        std::env::var_os("KERBSIDE_PRIVATE_SESSION").is_some(),
        "this test kills the session's keyring daemon: run it under scripts/with-desktop-session.sh"
    );
}

#[test]
fn a_token_stored_before_the_keyring_daemon_died_is_read_from_the_one_started_after() {
    assert_in_private_session();
    let secrets = new_secrets();
    secrets.set("session", "token-before-the-crash").unwrap();

    for round in 0..3 {
        let daemon = secret_service_pid();
        kill("-KILL", daemon);
        assert_eq!(
            secrets.get("session").unwrap().as_deref(),
            Some("token-before-the-crash"),
            "round {round}: the token outlives the daemon"
        );
        assert_ne!(
            secret_service_pid(),
            daemon,
            "round {round}: a new daemon answered"
        );
    }

    // And a daemon that dies while a call waits for its answer: the call is asked again.
    for round in 0..3 {
        let daemon = secret_service_pid();
        kill("-STOP", daemon);
        let reading = std::thread::spawn({
            let secrets = secrets.clone();
            move || secrets.get("session")
        });
        // Long enough for the call to be on the bus, waiting for the stopped daemon.
        std::thread::sleep(std::time::Duration::from_millis(300));
        kill("-KILL", daemon);
        assert_eq!(
            reading.join().unwrap().unwrap().as_deref(),
            Some("token-before-the-crash"),
            "round {round}: the call in flight when the daemon died"
        );
    }
    secrets.delete("session").unwrap();
    assert_eq!(secrets.get("session").unwrap(), None);
}

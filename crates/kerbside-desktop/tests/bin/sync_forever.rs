//! Test helper for `tests/crash_safety.rs`, not part of the app: it writes syncs into the offline
//! cache in a loop, alternating between two whole states, until the test kills it with SIGKILL.
//!
//! ```text
//! kerbside-sync-forever setup   DATA_DIR COUNCIL_URL KEYRING_SERVICE
//! kerbside-sync-forever council DATA_DIR COUNCIL_URL KEYRING_SERVICE ROUND
//! kerbside-sync-forever cache   DATA_DIR ROUND ROWS
//! ```
//!
//! - `setup` registers a resident at the council, buys two free permits with the state-A
//!   registrations, syncs once and keeps a second session ("another device") in the keyring.
//! - `council` is the real sync path: each turn, the other device changes every permit's
//!   registration at the council to the next state (A ↔ B), then [`Kerbside::sync`] fetches the
//!   list over HTTP and replaces the cache in one transaction.
//! - `cache` drives [`Cache::replace_permits`] directly with `ROWS` permits per state, so the
//!   transaction is long and most kills land inside it.
//!
//! Every sync is announced on stdout before it starts (`sync N LETTER MILLIS`) and after it
//! returned (`synced N LETTER MILLIS`), MILLIS being the synced-at time it writes, so the test
//! knows which states the cache may hold when the kill lands.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use kerbside_api::types::*;
use kerbside_api::{CouncilClient, FixedClock, SharedClock};
use kerbside_desktop::cache::Cache;
use kerbside_desktop::{Kerbside, KeyringSecrets, SecretStore, StartOptions};
use kerbside_rules::PermitType;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const EMAIL: &str = "crash@example.org";
const PASSWORD: &str = "a long enough password";
/// The keyring entry (under the test's own service name) holding the other device's session.
const OTHER_DEVICE: &str = "other-device";

/// The registration of the `k`-th permit in state `letter`: "AA11 AAA", "BB12 BBB", …
fn registration(letter: char, k: usize) -> String {
    let l = letter.to_string();
    format!("{}{:02} {}", l.repeat(2), 11 + k, l.repeat(3))
}

/// Each round's syncs get synced-at times of their own, later than every earlier round's.
fn synced_at(round: u64, n: u64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 3, 1, 9, 0, 0).unwrap()
        + chrono::Duration::seconds((round * 100_000 + n) as i64)
}

fn letter(n: u64) -> char {
    if n.is_multiple_of(2) {
        'A'
    } else {
        'B'
    }
}

fn say(line: String) {
    // stdout is line-buffered: each line reaches the pipe before the next step starts.
    println!("{line}");
}

async fn app(data_dir: &Path, url: &str, service: &str, clock: Arc<FixedClock>) -> Kerbside {
    Kerbside::start(
        StartOptions {
            data_dir: data_dir.to_path_buf(),
            clock: clock as SharedClock,
            clock_is_set: true,
            council_url: Some(url.to_string()),
            keyring_service: service.to_string(),
        },
        Arc::new(KeyringSecrets::new(service)),
    )
    .await
    .expect("the app core starts")
}

async fn setup(data_dir: &Path, url: &str, service: &str) {
    let clock = Arc::new(FixedClock::new(synced_at(0, 0)));
    let app = app(data_dir, url, service, clock).await;
    app.register(RegisterRequest {
        email: EMAIL.into(),
        password: PASSWORD.into(),
        name: "Crash Test".into(),
        address: PostalAddress {
            line1: "12".into(),
            street: "Hazel Street".into(),
            town: "Leicester".into(),
            postcode: "LE2 7JN".into(),
        },
        // Over State Pension age, so both free permit types can be bought without a payment.
        date_of_birth: Some(NaiveDate::from_ymd_opt(1950, 1, 1).unwrap()),
        reminder_email: None,
    })
    .await
    .expect("registered");
    let kinds = [
        (
            PermitType::Care,
            Some("Daily visits from Acme Care".to_string()),
        ),
        (PermitType::OverStatePensionAge, None),
    ];
    for (k, (permit_type, carer_evidence)) in kinds.into_iter().enumerate() {
        app.buy(PermitRequest {
            permit_type,
            registration: registration('A', k),
            carer_evidence,
            return_url: None,
        })
        .await
        .expect("a free permit is issued");
    }
    let other = CouncilClient::new(url)
        .unwrap()
        .sign_in(&SignInRequest {
            email: EMAIL.into(),
            password: PASSWORD.into(),
        })
        .await
        .expect("the other device signs in");
    KeyringSecrets::new(service)
        .set(OTHER_DEVICE, &other.token)
        .expect("the keyring keeps the other device's session");
    say(format!("sync 0 A {}", synced_at(0, 0).timestamp_millis()));
    app.sync().await.expect("the first sync");
    say(format!("synced 0 A {}", synced_at(0, 0).timestamp_millis()));
}

/// The real path: the council's data flips, then `Kerbside::sync` copies it into the cache.
async fn council_loop(data_dir: &Path, url: &str, service: &str, round: u64) {
    let clock = Arc::new(FixedClock::new(synced_at(round, 0)));
    let app = app(data_dir, url, service, clock.clone()).await;
    let token = KeyringSecrets::new(service)
        .get(OTHER_DEVICE)
        .unwrap()
        .expect("setup stored the other device's session");
    let other = CouncilClient::new(url).unwrap();
    say("ready".into());
    for n in 1.. {
        let to = letter(n);
        let mut permits = other.permits(&token).await.expect("the list").permits;
        permits.sort_by(|a, b| a.id.cmp(&b.id));
        for (k, permit) in permits.iter().enumerate() {
            let wanted = registration(to, k);
            // A kill may have left the council half way through the previous flip.
            if permit.registration != wanted {
                let change = RegistrationChange {
                    registration: wanted,
                };
                other
                    .change_registration(
                        &token,
                        &permit.id,
                        &change,
                        &CouncilClient::new_idempotency_key(),
                    )
                    .await
                    .expect("the other device changes the registration");
            }
        }
        let at = synced_at(round, n);
        clock.set(at);
        say(format!("sync {n} {to} {}", at.timestamp_millis()));
        app.sync().await.expect("sync");
        say(format!("synced {n} {to} {}", at.timestamp_millis()));
    }
}

/// The cache's own write path, with `rows` permits per state: a long transaction.
async fn cache_loop(data_dir: &Path, round: u64, rows: usize) {
    let cache = Cache::open(&data_dir.join("kerbside-cache.db"))
        .await
        .expect("the cache opens");
    let account = cache
        .account()
        .await
        .unwrap()
        .expect("setup signed in")
        .account_id;
    let template = cache
        .permits(&account)
        .await
        .unwrap()
        .into_iter()
        .next()
        .expect("setup cached a permit");
    let state = |to: char| -> Vec<Permit> {
        (0..rows)
            .map(|k| Permit {
                id: format!("crash-{k:04}"),
                registration: registration(to, k % 80),
                ..template.clone()
            })
            .collect()
    };
    let states = [state('A'), state('B')];
    say("ready".into());
    for n in 1.. {
        let to = letter(n);
        let at = synced_at(round, n);
        say(format!("sync {n} {to} {}", at.timestamp_millis()));
        cache
            .replace_permits(&account, &states[(n % 2) as usize], at)
            .await
            .expect("replace");
        say(format!("synced {n} {to} {}", at.timestamp_millis()));
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> &str {
        args.get(i)
            .map(String::as_str)
            .expect("see the usage at the top of tests/bin/sync_forever.rs")
    };
    let data_dir = PathBuf::from(arg(1));
    match arg(0) {
        "setup" => setup(&data_dir, arg(2), arg(3)).await,
        "council" => council_loop(&data_dir, arg(2), arg(3), arg(4).parse().unwrap()).await,
        "cache" => cache_loop(&data_dir, arg(2).parse().unwrap(), arg(3).parse().unwrap()).await,
        other => panic!("unknown mode {other}"),
    }
}

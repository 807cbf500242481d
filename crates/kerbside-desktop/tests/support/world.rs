//! Starting a council and the app's core the same way in every test file of this crate: a real
//! council server on 127.0.0.1:0 over its own SQLite file, and `Kerbside` cores on a data folder
//! and an OS keyring service of their own.
// Each test binary uses only some of these helpers.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use kerbside_api::types::{PostalAddress, RegisterRequest};
use kerbside_api::SharedClock;
use kerbside_council::{spawn, CouncilConfig, RunningServer, Store};
use kerbside_desktop::{Kerbside, KeyringSecrets, StartOptions};
use std::path::Path;
use std::sync::Arc;

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The Leicester demo council over `dir/council.db`, on `port` (0: any free one).
pub async fn start_council(dir: &Path, clock: SharedClock, port: Option<u16>) -> RunningServer {
    let store = Store::connect(&format!("sqlite://{}", dir.join("council.db").display()))
        .await
        .unwrap();
    spawn(
        ([127, 0, 0, 1], port.unwrap_or(0)).into(),
        store,
        clock,
        CouncilConfig::leicester_demo(),
        None,
    )
    .await
    .unwrap()
}

/// A keyring service name no other test uses, so tests never see each other's secrets.
pub fn unique_keyring_service() -> String {
    format!("uk.kerbside.test.{}", uuid::Uuid::new_v4().simple())
}

/// An app core on `data_dir` and `keyring_service`, talking to the council at `council_url`
/// (as when the app is started, or started again on the same folder).
pub async fn start_app(
    data_dir: &Path,
    clock: SharedClock,
    council_url: &str,
    keyring_service: &str,
) -> Kerbside {
    Kerbside::start(
        StartOptions {
            data_dir: data_dir.to_path_buf(),
            clock,
            clock_is_set: true,
            council_url: Some(council_url.to_string()),
            keyring_service: keyring_service.to_string(),
        },
        Arc::new(KeyringSecrets::new(keyring_service)),
    )
    .await
    .expect("the app starts")
}

/// A resident at 12 Hazel Street, Leicester (inside the demo council's zone).
pub fn registration(email: &str, password: &str, name: &str) -> RegisterRequest {
    RegisterRequest {
        email: email.into(),
        password: password.into(),
        name: name.into(),
        address: PostalAddress {
            line1: "12".into(),
            street: "Hazel Street".into(),
            town: "Leicester".into(),
            postcode: "LE2 7JN".into(),
        },
        date_of_birth: None,
        reminder_email: None,
    }
}

//! Shared test set-up: a real council server on 127.0.0.1:0 over a fresh SQLite file or a
//! fresh PostgreSQL database, with a clock the test moves, and the real HTTP client.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use kerbside_api::types::*;
use kerbside_api::{CouncilClient, FixedClock};
use kerbside_council::{spawn, CouncilConfig, RunningServer, Store};
use std::sync::Arc;

pub const PASSWORD: &str = "a long enough password";

pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

pub enum Db {
    Sqlite,
    Postgres,
}

pub struct TestCouncil {
    pub server: RunningServer,
    pub clock: Arc<FixedClock>,
    pub client: CouncilClient,
    pub http: reqwest::Client,
    _dir: Option<tempfile::TempDir>,
}

/// The PostgreSQL server scripts/test.sh starts; its tests fail loudly without it rather than
/// passing vacuously.
pub fn postgres_admin_url() -> String {
    std::env::var("KERBSIDE_TEST_POSTGRES_URL").expect(
        "KERBSIDE_TEST_POSTGRES_URL is not set: run scripts/test.sh, which starts PostgreSQL \
         (or: bash scripts/pg.sh start && export KERBSIDE_TEST_POSTGRES_URL=$(bash scripts/pg.sh url))",
    )
}

/// A new, empty database on the test PostgreSQL server.
pub async fn fresh_postgres_database() -> String {
    use sqlx::Connection;
    let admin = postgres_admin_url();
    let name = format!("kerbside_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("connect to test PostgreSQL");
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create test database");
    match admin.rfind('/') {
        Some(slash) => format!("{}/{name}", &admin[..slash]),
        None => panic!("KERBSIDE_TEST_POSTGRES_URL must end with /DATABASE"),
    }
}

impl TestCouncil {
    pub async fn start(db: Db, now: &str) -> TestCouncil {
        let (url, dir) = match db {
            Db::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                (
                    format!("sqlite://{}", dir.path().join("council.db").display()),
                    Some(dir),
                )
            }
            Db::Postgres => (fresh_postgres_database().await, None),
        };
        Self::start_on(&url, now, dir).await
    }

    pub async fn start_on(url: &str, now: &str, dir: Option<tempfile::TempDir>) -> TestCouncil {
        let store = Store::connect(url)
            .await
            .expect("database opens and migrates");
        let clock = Arc::new(FixedClock::new(at(now)));
        let server = spawn(
            "127.0.0.1:0".parse().unwrap(),
            store,
            clock.clone(),
            CouncilConfig::leicester_demo(),
            None,
        )
        .await
        .unwrap();
        let client = CouncilClient::new(server.url.clone()).unwrap();
        TestCouncil {
            server,
            clock,
            client,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.server.url, path)
    }

    pub fn set_clock(&self, rfc3339: &str) {
        self.clock.set(at(rfc3339));
    }

    /// Registers and signs in a resident at `line1 street, postcode`; returns the token.
    pub async fn resident_at(
        &self,
        email: &str,
        line1: &str,
        street: &str,
        postcode: &str,
        dob: Option<&str>,
    ) -> String {
        self.client
            .register(
                &RegisterRequest {
                    email: email.into(),
                    password: PASSWORD.into(),
                    name: "Test Resident".into(),
                    address: PostalAddress {
                        line1: line1.into(),
                        street: street.into(),
                        town: "Leicester".into(),
                        postcode: postcode.into(),
                    },
                    date_of_birth: dob.map(|d| d.parse().unwrap()),
                    reminder_email: Some(email.into()),
                },
                &CouncilClient::new_idempotency_key(),
            )
            .await
            .expect("registration succeeds");
        self.client
            .sign_in(&SignInRequest {
                email: email.into(),
                password: PASSWORD.into(),
            })
            .await
            .expect("sign-in succeeds")
            .token
    }

    /// Signs in again (sessions last 30 days, so a test that moves the clock further needs one).
    pub async fn sign_in(&self, email: &str) -> String {
        self.client
            .sign_in(&SignInRequest {
                email: email.into(),
                password: PASSWORD.into(),
            })
            .await
            .expect("sign-in succeeds")
            .token
    }

    /// A resident of 12 Hazel Street (zone B), born 1990.
    pub async fn resident(&self, email: &str) -> String {
        self.resident_at(email, "12", "Hazel Street", "LE2 7JN", Some("1990-05-01"))
            .await
    }

    /// Submits the hosted payment page's form with `card`; returns the page's HTML.
    pub async fn pay(&self, payment: &Payment, card: &str) -> String {
        let next_url = payment.next_url.as_ref().expect("payment is payable");
        let response = self
            .http
            .post(next_url)
            .form(&[
                ("card_number", card),
                ("expiry_month", "12"),
                ("expiry_year", "2035"),
                ("cardholder_name", "Test Resident"),
                ("security_code", "123"),
            ])
            .send()
            .await
            .unwrap();
        response.text().await.unwrap()
    }

    pub async fn buy_and_pay(
        &self,
        token: &str,
        permit_type: kerbside_rules::PermitType,
        registration: &str,
    ) -> Permit {
        let purchase = self
            .client
            .buy(
                token,
                &PermitRequest {
                    permit_type,
                    registration: registration.into(),
                    carer_evidence: Some("Care agency letter ref 123".into()),
                    return_url: None,
                },
                &CouncilClient::new_idempotency_key(),
            )
            .await
            .expect("purchase accepted");
        if let Some(payment) = &purchase.payment {
            self.pay(payment, "4444333322221111").await;
        }
        self.client
            .permit(token, &purchase.permit.id)
            .await
            .unwrap()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(self.server.state.store.pool())
            .await
            .unwrap()
    }
}

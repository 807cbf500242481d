//! Shared test set-up: a real council server on 127.0.0.1:0 over a fresh SQLite file or a
//! fresh PostgreSQL database, with a clock the test moves, and the real HTTP client.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use kerbside_api::types::*;
use kerbside_api::{ClientError, CouncilClient, FixedClock};
use kerbside_council::{spawn, CouncilConfig, RunningServer, Store};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

pub const PASSWORD: &str = "a long enough password";

pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

/// The hosted payment page's form filled in with `card` (a valid expiry and security code).
pub fn card_form(card: &str) -> [(&'static str, &str); 5] {
    [
        ("card_number", card),
        ("expiry_month", "12"),
        ("expiry_year", "2035"),
        ("cardholder_name", "Test Resident"),
        ("security_code", "123"),
    ]
}

/// An address in Leicester.
pub fn leicester_address(line1: &str, street: &str, postcode: &str) -> PostalAddress {
    PostalAddress {
        line1: line1.into(),
        street: street.into(),
        town: "Leicester".into(),
        postcode: postcode.into(),
    }
}

/// An Annual Visitor permit for `registration`.
pub fn visitor(registration: &str) -> PermitRequest {
    PermitRequest {
        permit_type: kerbside_rules::PermitType::AnnualVisitor,
        registration: registration.into(),
        carer_evidence: None,
        return_url: None,
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub struct TestCouncil {
    pub server: RunningServer,
    pub clock: Arc<FixedClock>,
    pub client: CouncilClient,
    pub http: reqwest::Client,
    /// Where this instance keeps evidence files.
    pub evidence_dir: PathBuf,
    /// Where this instance files expiry emails (unless SMTP is configured).
    pub outbox: PathBuf,
    _dir: Option<tempfile::TempDir>,
    _files: tempfile::TempDir,
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
        Self::start_with(url, now, dir, CouncilConfig::leicester_demo()).await
    }

    /// With a council configured by the test. Unless it says otherwise, evidence and the
    /// outbox go beside a SQLite database (the default) or in a fresh folder for PostgreSQL.
    pub async fn start_with(
        url: &str,
        now: &str,
        dir: Option<tempfile::TempDir>,
        mut council: CouncilConfig,
    ) -> TestCouncil {
        let store = Store::connect(url)
            .await
            .expect("database opens and migrates");
        let files = tempfile::tempdir().unwrap();
        if store.sqlite_file().is_none() {
            council
                .evidence_dir
                .get_or_insert_with(|| files.path().join("evidence"));
            council
                .mail
                .outbox
                .get_or_insert_with(|| files.path().join("outbox"));
        }
        let evidence_dir = council
            .evidence_dir
            .clone()
            .unwrap_or_else(|| store.default_folder("evidence"));
        let outbox = council
            .mail
            .outbox
            .clone()
            .unwrap_or_else(|| store.default_folder("outbox"));
        let clock = Arc::new(FixedClock::new(at(now)));
        let server = spawn(
            "127.0.0.1:0".parse().unwrap(),
            store,
            clock.clone(),
            council,
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
            evidence_dir,
            outbox,
            _dir: dir,
            _files: files,
        }
    }

    /// Creates an officer account (as `kerbside-council officer add` does) and signs it in.
    pub async fn officer(&self, email: &str) -> String {
        kerbside_council::add_officer(
            &self.server.state.store,
            email,
            "Olu Officer",
            PASSWORD.into(),
            kerbside_api::Clock::now(self.clock.as_ref()),
        )
        .await
        .expect("officer added");
        self.sign_in(email).await
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
                    address: leicester_address(line1, street, postcode),
                    date_of_birth: dob.map(|d| d.parse().unwrap()),
                    reminder_email: Some(email.into()),
                },
                &CouncilClient::new_idempotency_key(),
            )
            .await
            .expect("registration succeeds");
        self.sign_in(email).await
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
            .form(&card_form(card))
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

    /// Asks to renew the permit, under a new idempotency key.
    pub async fn renew(&self, token: &str, permit_id: &str) -> Result<Purchase, ClientError> {
        self.client
            .renew(
                token,
                permit_id,
                &RenewalRequest { return_url: None },
                &CouncilClient::new_idempotency_key(),
            )
            .await
    }

    /// The OpenAPI document the server serves.
    pub async fn openapi_document(&self) -> serde_json::Value {
        self.http
            .get(self.url("/api/v1/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
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

/// The names of the files in `dir` (none if it does not exist), sorted.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// One message an [`SmtpSink`] received.
#[derive(Clone, Debug)]
pub struct SinkMessage {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The DATA, dot-unstuffed, with CRLF line ends.
    pub data: String,
}

/// A tiny SMTP server on 127.0.0.1 that accepts everything and keeps what it was sent:
/// 220 greeting, EHLO/HELO 250, MAIL/RCPT 250, DATA 354 … "." 250, QUIT 221.
pub struct SmtpSink {
    pub port: u16,
    pub messages: Arc<Mutex<Vec<SinkMessage>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let kept = messages.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let _ = smtp_session(socket, kept).await;
                });
            }
        });
        SmtpSink {
            port,
            messages,
            task,
        }
    }

    pub fn received(&self) -> Vec<SinkMessage> {
        self.messages.lock().unwrap().clone()
    }
}

async fn smtp_session(
    socket: tokio::net::TcpStream,
    kept: Arc<Mutex<Vec<SinkMessage>>>,
) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write
        .write_all(b"220 sink.test ESMTP test sink\r\n")
        .await?;
    let mut mail_from = String::new();
    let mut rcpt_to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" | "HELO" => write.write_all(b"250 sink.test\r\n").await?,
            "MAIL" => {
                mail_from = command.clone();
                write.write_all(b"250 OK\r\n").await?
            }
            "RCPT" => {
                rcpt_to.push(command.clone());
                write.write_all(b"250 OK\r\n").await?
            }
            "DATA" => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    let content = if line.starts_with("..") {
                        &line[1..]
                    } else {
                        &line[..]
                    };
                    data.push_str(content);
                }
                kept.lock().unwrap().push(SinkMessage {
                    mail_from: std::mem::take(&mut mail_from),
                    rcpt_to: std::mem::take(&mut rcpt_to),
                    data,
                });
                write.write_all(b"250 OK queued\r\n").await?
            }
            "RSET" | "NOOP" => write.write_all(b"250 OK\r\n").await?,
            "QUIT" => {
                write.write_all(b"221 Bye\r\n").await?;
                return Ok(());
            }
            _ => write.write_all(b"502 Command not implemented\r\n").await?,
        }
    }
}

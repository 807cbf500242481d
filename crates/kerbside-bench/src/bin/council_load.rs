//! Load generator for the council permit service: 64 concurrent clients on 127.0.0.1 against
//! the real server (`kerbside_council::spawn`, in this process), on SQLite or PostgreSQL.
//!
//! Set-up: `--background-permits` generated permits, each with its history and payment (so
//! queries run against council-sized tables, not empty ones), 64 residents registered and
//! signed in through the API (once per client: argon2 would dominate otherwise), each with a
//! paid Annual Visitor permit whose renewal window is open, and a pool of buyer accounts (one
//! household each, sessions created in SQL) so every purchase is a first purchase for its
//! household.
//!
//! Five phases of `--seconds` each:
//! - mix: list permits 35%, get a permit 35%, quote 10%, edit registration 8%, buy and pay on
//!   the sandbox page 7%, renew and pay 5% (the renewal is then cancelled so it can repeat);
//! - purchases: every client buys and pays, nothing else (purchases/s against the raw ceiling);
//! - reads after the mix: every client lists and gets its resident's permits, which by then
//!   carry every renewal and cancellation of the mix (~100 permits each, ~28 kB answers: the
//!   faster the council, the heavier these reads);
//! - reads: every client lists and gets the permits of the last household it bought for in
//!   the purchases phase, a resident as most are (one live permit and its history), so the
//!   figure does not depend on how much the earlier phases wrote (permit reads/s);
//! - then the same reads against a server that does no work (each client's two answers,
//!   captured from the council, served from memory): what the harness itself reaches on the same
//!   two cores, the bound on the reads row.
//!
//! Writes are durable: SQLite in WAL mode with synchronous=FULL (the council's settings),
//! PostgreSQL with its defaults (fsync on, synchronous_commit on).

// The council server binary's allocator, so the council measured here allocates as the one a
// council runs.
#[global_allocator]
static ALLOCATOR: kerbside_council::ServerAllocator = kerbside_council::ServerAllocator {};

use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Parser, ValueEnum};
use kerbside_api::types::*;
use kerbside_api::{CouncilClient, FixedClock, API_PREFIX};
use kerbside_bench::{
    fresh_dir, generate_history, generate_permits, ms, undo_index_fixes, Dialect, Latencies,
    Report, Row,
};
use kerbside_council::{spawn, CouncilConfig, Store};
use kerbside_rules::{Address, PermitType, Postcode};
use rand::Rng;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
enum DbKind {
    Sqlite,
    Postgres,
}

#[derive(Parser)]
#[command(about = "64 concurrent clients against the council service")]
struct Args {
    #[arg(long, value_enum, default_value = "sqlite")]
    db: DbKind,
    #[arg(long, default_value = "target/bench")]
    dir: PathBuf,
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Seconds per phase.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Generated permits already in the database before the run.
    #[arg(long, default_value_t = 100_000)]
    background_permits: u64,
    /// Buyer accounts per client (each buys once).
    #[arg(long, default_value_t = 600)]
    buyers_per_client: usize,
    /// PostgreSQL server for --db postgres (a fresh database is created on it).
    #[arg(
        long,
        env = "KERBSIDE_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:55432/postgres"
    )]
    postgres_admin_url: String,
    /// The raw SQLite ceiling (tx/s) from sqlite-ceiling, to compare purchases with.
    #[arg(long)]
    ceiling: Option<PathBuf>,
    /// Where the SQLite run leaves its mix throughput for the PostgreSQL run to compare with.
    #[arg(long)]
    sqlite_mix: Option<PathBuf>,
    #[arg(long)]
    report: Option<PathBuf>,
    /// Undo the indexes of migrations 20261210000001/2 first, to measure the council as it
    /// was before those fixes (docs/BENCHMARKS.md, before/after).
    #[arg(long)]
    without_fixes: bool,
}

/// The kinds of request, each with its own latency histogram.
const OPS: [&str; 10] = [
    "list permits",
    "get permit",
    "quote",
    "edit registration",
    "buy",
    "pay (sandbox page)",
    "payment status",
    "renew",
    "refund quote",
    "cancel",
];

#[derive(Default)]
struct Tally {
    latencies: BTreeMap<&'static str, Latencies>,
    errors: BTreeMap<&'static str, u64>,
    purchases: u64,
    renewals: u64,
    first_error: Option<String>,
    /// The process's CPU time over the phase ([`process_cpu_time`]).
    cpu: Option<Duration>,
    /// PostgreSQL's processes' CPU time over the phase ([`postgres_cpu_time`]).
    postgres_cpu: Option<Duration>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        for (op, l) in other.latencies {
            self.latencies.entry(op).or_default().merge(&l);
        }
        for (op, n) in other.errors {
            *self.errors.entry(op).or_default() += n;
        }
        self.purchases += other.purchases;
        self.renewals += other.renewals;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn requests(&self) -> usize {
        self.latencies.values().map(Latencies::count).sum()
    }

    fn errors(&self) -> u64 {
        self.errors.values().sum()
    }

    fn all(&self) -> Latencies {
        let mut all = Latencies::default();
        for l in self.latencies.values() {
            all.merge(l);
        }
        all
    }

    fn reads(&self) -> Latencies {
        let mut reads = Latencies::default();
        for op in ["list permits", "get permit"] {
            if let Some(l) = self.latencies.get(op) {
                reads.merge(l);
            }
        }
        reads
    }
}

/// One simulated resident app (a client): its resident and the buyers it uses.
struct Client {
    api: CouncilClient,
    http: reqwest::Client,
    email: String,
    token: String,
    permit_id: String,
    buyers: Vec<String>,
    /// The last household this client bought for and paid: its session and its permit.
    bought: Option<(String, String)>,
    edits: u64,
    tally: Tally,
}

impl Client {
    /// Times one request; an error is counted (and the first one kept) rather than timed.
    async fn timed<T, E: std::fmt::Debug>(
        &mut self,
        op: &'static str,
        call: impl std::future::Future<Output = Result<T, E>>,
    ) -> Option<T> {
        let started = Instant::now();
        let result = call.await;
        match result {
            Ok(value) => {
                self.tally
                    .latencies
                    .entry(op)
                    .or_default()
                    .record(started.elapsed());
                Some(value)
            }
            Err(error) => {
                *self.tally.errors.entry(op).or_default() += 1;
                if self.tally.first_error.is_none() {
                    self.tally.first_error = Some(format!("{op}: {error:?}"));
                }
                None
            }
        }
    }

    async fn list(&mut self) {
        let (api, token) = (self.api.clone(), self.token.clone());
        self.timed("list permits", api.permits(&token)).await;
    }

    async fn get(&mut self) {
        let (api, token, id) = (self.api.clone(), self.token.clone(), self.permit_id.clone());
        self.timed("get permit", api.permit(&token, &id)).await;
    }

    async fn quote(&mut self) {
        let (api, token) = (self.api.clone(), self.token.clone());
        let request = visitor_request("CD34 EFG");
        self.timed("quote", api.quote(&token, &request)).await;
    }

    async fn edit_registration(&mut self) {
        self.edits += 1;
        let registration = if self.edits.is_multiple_of(2) {
            "AB12 CDE"
        } else {
            "CD34 EFG"
        };
        let (api, token, id) = (self.api.clone(), self.token.clone(), self.permit_id.clone());
        let change = RegistrationChange {
            registration: registration.into(),
        };
        let key = CouncilClient::new_idempotency_key();
        self.timed(
            "edit registration",
            api.change_registration(&token, &id, &change, &key),
        )
        .await;
    }

    /// Pays on the sandbox page with the approved test card, then asks the API, as the app
    /// does, whether the payment succeeded.
    async fn pay(&mut self, token: &str, payment: &Payment) -> bool {
        let Some(url) = payment.next_url.clone() else {
            return false;
        };
        let http = self.http.clone();
        let submit = async move {
            let response = http
                .post(&url)
                .form(&[
                    ("card_number", "4444333322221111"),
                    ("expiry_month", "12"),
                    ("expiry_year", "2035"),
                    ("cardholder_name", "Bench Resident"),
                    ("security_code", "123"),
                ])
                .send()
                .await?
                .error_for_status()?;
            response.bytes().await
        };
        if self.timed("pay (sandbox page)", submit).await.is_none() {
            return false;
        }
        let api = self.api.clone();
        let status = self
            .timed("payment status", api.payment(token, &payment.id))
            .await;
        matches!(status, Some(p) if p.status == PaymentStatus::Succeeded)
    }

    /// A first purchase for a fresh household: buy, pay, check. False when out of buyers.
    async fn buy_and_pay(&mut self) -> bool {
        let Some(buyer) = self.buyers.pop() else {
            return false;
        };
        let api = self.api.clone();
        let key = CouncilClient::new_idempotency_key();
        let request = visitor_request("EF56 GHJ");
        let Some(purchase) = self.timed("buy", api.buy(&buyer, &request, &key)).await else {
            return true;
        };
        if let Some(payment) = purchase.payment {
            if self.pay(&buyer, &payment).await {
                self.tally.purchases += 1;
                self.bought = Some((buyer, purchase.permit.id));
            }
        }
        true
    }

    /// Renews the resident's permit and pays; then cancels the renewal (refund quote first,
    /// as the app does) so the next renewal in the run is allowed again.
    async fn renew_and_pay(&mut self) {
        let (api, token, id) = (self.api.clone(), self.token.clone(), self.permit_id.clone());
        let key = CouncilClient::new_idempotency_key();
        let request = RenewalRequest { return_url: None };
        let Some(renewal) = self
            .timed("renew", api.renew(&token, &id, &request, &key))
            .await
        else {
            return;
        };
        if let Some(payment) = &renewal.payment {
            if !self.pay(&token, payment).await {
                return;
            }
        }
        self.tally.renewals += 1;
        let new_id = renewal.permit.id.clone();
        let Some(quote) = self
            .timed("refund quote", api.refund_quote(&token, &new_id))
            .await
        else {
            return;
        };
        let cancel = CancellationRequest {
            expected_refund_pence: Some(quote.refund_pence),
        };
        let key = CouncilClient::new_idempotency_key();
        self.timed("cancel", api.cancel(&token, &new_id, &cancel, &key))
            .await;
    }
}

fn visitor_request(registration: &str) -> PermitRequest {
    PermitRequest {
        permit_type: PermitType::AnnualVisitor,
        registration: registration.into(),
        carer_evidence: None,
        return_url: None,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Phase {
    Mix,
    Purchases,
    /// Reads by the mix's own residents, whose lists the mix has grown.
    ReadsAfterMix,
    /// Reads by residents with one permit each.
    Reads,
    /// The reads again, against a server that does no work: the harness's own ceiling.
    ReadsNoWork,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Mix => "mix",
            Phase::Purchases => "purchases",
            Phase::ReadsAfterMix => "reads after the mix (the mix's residents)",
            Phase::Reads => "reads (residents with one permit)",
            Phase::ReadsNoWork => "reads from a server doing no work",
        }
    }
}

/// A server that answers the reads phase's requests with the council's own answers, captured
/// just before, from memory: no database, no session check, no JSON to write. Reading from it
/// with the same clients measures what this harness costs by itself on the same two cores
/// (the HTTP client, parsing the answers, hyper on both ends), the most that the reads phase
/// could show for any server.
async fn spawn_no_work_server(answers: Answers) -> Result<String, Box<dyn std::error::Error>> {
    let answers = Arc::new(answers);
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let answers = answers.clone();
        async move {
            let answer = headers
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .and_then(|token| answers.get(token))
                .and_then(|by_path| by_path.get(uri.path()));
            match answer {
                Some(body) => ([(CONTENT_TYPE, "application/json")], body.clone()).into_response(),
                None => StatusCode::NOT_FOUND.into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

/// The council's answers by session token, then by request path; looked up by `&str` so the
/// no-work server allocates nothing to find one.
type Answers = HashMap<String, HashMap<String, Bytes>>;

/// Each client's two read answers (its permit list, its permit) as the council sends them.
async fn capture_read_answers(
    clients: &[Client],
    council_url: &str,
) -> Result<Answers, Box<dyn std::error::Error>> {
    let mut answers = Answers::new();
    for client in clients {
        for path in [
            format!("{API_PREFIX}/permits"),
            format!("{API_PREFIX}/permits/{}", client.permit_id),
        ] {
            let body = client
                .http
                .get(format!("{council_url}{path}"))
                .bearer_auth(&client.token)
                .send()
                .await?
                .error_for_status()?
                .bytes()
                .await?;
            answers
                .entry(client.token.clone())
                .or_default()
                .insert(path, body);
        }
    }
    Ok(answers)
}

/// The average size of the captured answers, in bytes.
fn average_size(answers: &Answers) -> usize {
    let sizes: Vec<usize> = answers
        .values()
        .flat_map(|by_path| by_path.values().map(Bytes::len))
        .collect();
    sizes.iter().sum::<usize>() / sizes.len().max(1)
}

/// Runs every client for `seconds`; returns the clients (with their remaining buyers) and what
/// they measured, plus the wall time.
async fn run_phase(
    clients: Vec<Client>,
    phase: Phase,
    seconds: u64,
) -> (Vec<Client>, Tally, Duration) {
    let cpu_before = process_cpu_time();
    let postgres_before = postgres_cpu_time();
    let started = Instant::now();
    let window = Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for mut client in clients {
        tasks.push(tokio::spawn(async move {
            client.tally = Tally::default();
            while started.elapsed() < window {
                match phase {
                    Phase::Mix => {
                        let roll = rand::thread_rng().gen_range(0..100);
                        match roll {
                            0..=34 => client.list().await,
                            35..=69 => client.get().await,
                            70..=79 => client.quote().await,
                            80..=87 => client.edit_registration().await,
                            88..=94 => {
                                if !client.buy_and_pay().await {
                                    client.quote().await;
                                }
                            }
                            _ => client.renew_and_pay().await,
                        }
                    }
                    Phase::Purchases => {
                        if !client.buy_and_pay().await {
                            eprintln!("council-load: a client ran out of buyers; raise --buyers-per-client");
                            break;
                        }
                    }
                    Phase::ReadsAfterMix | Phase::Reads | Phase::ReadsNoWork => {
                        if rand::thread_rng().gen_bool(0.5) {
                            client.list().await
                        } else {
                            client.get().await
                        }
                    }
                }
            }
            client
        }));
    }
    let mut done = Vec::new();
    let mut tally = Tally::default();
    for task in tasks {
        let mut client = task.await.expect("client task");
        tally.merge(std::mem::take(&mut client.tally));
        done.push(client);
    }
    tally.cpu = cpu_before
        .zip(process_cpu_time())
        .map(|(before, after)| after.saturating_sub(before));
    tally.postgres_cpu = postgres_before
        .zip(postgres_cpu_time())
        .map(|(before, after)| after.saturating_sub(before))
        .filter(|cpu| !cpu.is_zero());
    (done, tally, started.elapsed())
}

/// User + system CPU time of this whole process so far (the council and its clients, every
/// thread; PostgreSQL's own processes are not in it). CPU per request moves far less than
/// requests per second when other work shares the cores, so A/B comparisons read it too.
#[cfg(unix)]
fn process_cpu_time() -> Option<Duration> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given and reads nothing else.
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return None;
        }
        usage.assume_init()
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Some(time(usage.ru_utime) + time(usage.ru_stime))
}

#[cfg(not(unix))]
fn process_cpu_time() -> Option<Duration> {
    None
}

/// User + system CPU time of every process named `postgres` on this machine (the server the
/// PostgreSQL runs use, its backends, and the backends that have exited, counted in their
/// parent's children's time), from /proc: Linux only. Zero over a SQLite phase.
#[cfg(target_os = "linux")]
fn postgres_cpu_time() -> Option<Duration> {
    // SAFETY: sysconf reads a constant of the system.
    let ticks_per_second = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).ok()?;
    let mut ticks = 0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The command name may hold spaces: the fields start after its closing bracket.
        let (Some(name), Some((_, rest))) = (stat.split_once('('), stat.rsplit_once(") ")) else {
            continue;
        };
        if !name.1.starts_with("postgres)") {
            continue;
        }
        // utime, stime, cutime, cstime: fields 14 to 17 of stat(5), 12 to 15 after the name.
        ticks += rest
            .split_whitespace()
            .skip(11)
            .take(4)
            .filter_map(|field| field.parse::<u64>().ok())
            .sum::<u64>();
    }
    Some(Duration::from_micros(
        ticks * 1_000_000 / ticks_per_second.max(1),
    ))
}

#[cfg(not(target_os = "linux"))]
fn postgres_cpu_time() -> Option<Duration> {
    None
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

async fn fresh_postgres(admin: &str) -> Result<String, Box<dyn std::error::Error>> {
    use sqlx::Connection;
    let name = format!("kerbside_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin).await?;
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str()).await?;
    with_database(admin, &name)
}

/// `url` (postgres://…/DATABASE, with or without a `?query` such as `host=/socket/dir`) naming
/// `database` instead.
fn with_database(url: &str, database: &str) -> Result<String, Box<dyn std::error::Error>> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let slash = base
        .rfind('/')
        .filter(|&at| at > "postgres://".len())
        .ok_or("the PostgreSQL URL must end with /DATABASE")?;
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    Ok(format!("{}/{database}{query}", &base[..slash]))
}

/// The database a postgres:// URL names.
fn database_of(url: &str) -> &str {
    let base = url.split_once('?').map_or(url, |(base, _)| base);
    base.rsplit('/').next().unwrap_or_default()
}

/// Buyer accounts with sessions, written straight into the database: registering and signing
/// in 16,000 accounts through the API would spend minutes in argon2, which is not what this
/// benchmark measures. Each buyer has its own household.
async fn seed_buyers(
    store: &Store,
    count: usize,
    now: DateTime<Utc>,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let mut tokens = Vec::with_capacity(count);
    let mut tx = store.pool().begin().await?;
    let now_ms = now.timestamp_millis();
    let expires_ms = (now + chrono::Duration::days(400)).timestamp_millis();
    for k in 0..count {
        let address = Address {
            line1: format!("B{k}"),
            street: "Walnut Street".into(),
            town: "Leicester".into(),
            postcode: Postcode::parse("LE2 7JN")?,
        };
        let id = format!("buyer{k}");
        sqlx::query(
            "INSERT INTO accounts (id, email, password_hash, name, address_line1, address_street, \
             address_town, address_postcode, household_key, date_of_birth, reminder_email, role, created_at) \
             VALUES ($1, $2, 'not-a-password-hash', $3, $4, 'Walnut Street', 'Leicester', 'LE2 7JN', $5, \
             NULL, NULL, 'resident', $6)",
        )
        .bind(&id)
        .bind(format!("buyer{k}@bench.example"))
        .bind(format!("Buyer {k}"))
        .bind(&address.line1)
        .bind(address.household_key())
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        let token = format!("bench-buyer-token-{k}-{}", uuid::Uuid::new_v4().simple());
        let hash: String = Sha256::digest(token.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        sqlx::query(
            "INSERT INTO sessions (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(hash)
        .bind(&id)
        .bind(now_ms)
        .bind(expires_ms)
        .execute(&mut *tx)
        .await?;
        tokens.push(token);
    }
    tx.commit().await?;
    Ok(tokens)
}

const RESIDENT_PASSWORD: &str = "a long enough bench password";

/// Registers and signs in one resident through the API and buys and pays for their permit.
async fn seed_resident(
    api: CouncilClient,
    http: reqwest::Client,
    i: usize,
) -> Result<Client, String> {
    let email = format!("resident{i}@bench.example");
    let password = RESIDENT_PASSWORD;
    api.register(
        &RegisterRequest {
            email: email.clone(),
            password: password.into(),
            name: format!("Resident {i}"),
            address: PostalAddress {
                line1: format!("{}", 200 + i),
                street: "Hazel Street".into(),
                town: "Leicester".into(),
                postcode: "LE2 7JN".into(),
            },
            date_of_birth: Some(NaiveDate::from_ymd_opt(1980, 5, 1).unwrap()),
            reminder_email: Some(email.clone()),
        },
        &CouncilClient::new_idempotency_key(),
    )
    .await
    .map_err(|e| format!("register: {e:?}"))?;
    let session = api
        .sign_in(&SignInRequest {
            email,
            password: password.into(),
        })
        .await
        .map_err(|e| format!("sign in: {e:?}"))?;
    let mut client = Client {
        api: api.clone(),
        http,
        email: format!("resident{i}@bench.example"),
        token: session.token.clone(),
        permit_id: String::new(),
        buyers: Vec::new(),
        bought: None,
        edits: 0,
        tally: Tally::default(),
    };
    let purchase = api
        .buy(
            &session.token,
            &visitor_request("AB12 CDE"),
            &CouncilClient::new_idempotency_key(),
        )
        .await
        .map_err(|e| format!("buy: {e:?}"))?;
    let payment = purchase
        .payment
        .ok_or("the visitor permit had no payment")?;
    if !client.pay(&session.token, &payment).await {
        return Err(format!(
            "seed payment failed: {:?}",
            client.tally.first_error
        ));
    }
    client.permit_id = purchase.permit.id;
    Ok(client)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let report = Report::new(args.report.clone()).before_fix(args.without_fixes);
    let db_name = match args.db {
        DbKind::Sqlite => "SQLite",
        DbKind::Postgres => "PostgreSQL",
    };
    let dir = fresh_dir(&args.dir, &format!("council-load-{db_name}").to_lowercase())?;
    let (url, dialect) = match args.db {
        DbKind::Sqlite => (
            format!("sqlite://{}", dir.join("council.db").display()),
            Dialect::Sqlite,
        ),
        DbKind::Postgres => (
            fresh_postgres(&args.postgres_admin_url).await?,
            Dialect::Postgres,
        ),
    };
    let store = Store::connect(&url).await?;
    if args.without_fixes {
        undo_index_fixes(store.pool()).await?;
    }
    // The seeded permits are bought on 10 January 2026; the run happens on 20 December 2026,
    // inside their renewal window (which opened on 10 December).
    let bought_at = at("2026-01-10T10:00:00Z");
    let run_at = at("2026-12-20T10:00:00Z");
    let started = Instant::now();
    generate_permits(
        store.pool(),
        dialect,
        "bg",
        args.background_permits,
        run_at.date_naive(),
    )
    .await?;
    generate_history(store.pool(), "bg").await?;
    let buyer_tokens =
        seed_buyers(&store, args.clients * args.buyers_per_client, bought_at).await?;
    println!(
        "{db_name}: {} background permits and {} buyers in {:.1} s",
        args.background_permits,
        buyer_tokens.len(),
        started.elapsed().as_secs_f64()
    );

    let clock = Arc::new(FixedClock::new(bought_at));
    let mut council = CouncilConfig::leicester_demo();
    council.evidence_dir = Some(dir.join("evidence"));
    council.mail.outbox = Some(dir.join("outbox"));
    let server = spawn(
        "127.0.0.1:0".parse()?,
        store.clone(),
        clock.clone(),
        council,
        None,
    )
    .await?;
    // Timeouts long enough that a slow request is measured rather than failed.
    let api = CouncilClient::with_timeouts(
        server.url.clone(),
        Duration::from_secs(10),
        Duration::from_secs(60),
    )
    .map_err(|e| format!("{e:?}"))?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;

    let started = Instant::now();
    // One after another: the council limits concurrent sign-ins from one network address,
    // and the load generator is one address.
    let mut clients = Vec::new();
    for i in 0..args.clients {
        clients.push(seed_resident(api.clone(), http.clone(), i).await?);
    }
    for (k, token) in buyer_tokens.into_iter().enumerate() {
        clients[k % args.clients].buyers.push(token);
    }
    println!(
        "{} residents registered, signed in and paid in {:.1} s",
        clients.len(),
        started.elapsed().as_secs_f64()
    );
    if matches!(args.db, DbKind::Postgres) {
        // As after any bulk load (PostgreSQL's advice after pg_restore): the tables were
        // filled in seconds, before autovacuum gathered statistics, and a statement planned
        // without them can scan a table it should search (docs/BENCHMARKS.md, fix 28).
        sqlx::query("ANALYZE").execute(store.pool()).await?;
    }
    clock.set(run_at);
    // Sessions last 30 days, and the clock has moved on 11 months: each resident signs in
    // again (once, one after another, like the seeding).
    for client in &mut clients {
        client.token = api
            .sign_in(&SignInRequest {
                email: client.email.clone(),
                password: RESIDENT_PASSWORD.into(),
            })
            .await
            .map_err(|e| format!("sign in again: {e:?}"))?
            .token;
    }

    let mut results = Vec::new();
    let mut answer_sizes = HashMap::new();
    // The reads phase's answers, served again by the no-work server.
    let mut answers = Answers::new();
    for phase in [
        Phase::Mix,
        Phase::Purchases,
        Phase::ReadsAfterMix,
        Phase::Reads,
    ] {
        if phase == Phase::Reads {
            // From now on each client is the last household it bought for.
            for client in &mut clients {
                let (token, permit_id) = client
                    .bought
                    .clone()
                    .ok_or("a client bought nothing in the purchases phase")?;
                client.token = token;
                client.permit_id = permit_id;
            }
        }
        let (back, tally, took) = run_phase(clients, phase, args.seconds).await;
        clients = back;
        print_phase(db_name, phase, &tally, took);
        if matches!(phase, Phase::ReadsAfterMix | Phase::Reads) {
            answers = capture_read_answers(&clients, &server.url).await?;
            let size = average_size(&answers);
            println!("(answers: {size} bytes on average)");
            answer_sizes.insert(phase, size);
        }
        results.push((phase, tally, took));
    }
    let no_work_api = CouncilClient::with_timeouts(
        spawn_no_work_server(answers).await?,
        Duration::from_secs(10),
        Duration::from_secs(60),
    )
    .map_err(|e| format!("{e:?}"))?;
    for client in &mut clients {
        client.api = no_work_api.clone();
    }
    let (_, tally, took) = run_phase(clients, Phase::ReadsNoWork, args.seconds).await;
    print_phase(db_name, Phase::ReadsNoWork, &tally, took);
    results.push((Phase::ReadsNoWork, tally, took));

    let ceiling: Option<f64> = args
        .ceiling
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| t.trim().parse().ok());
    let sqlite_mix: Option<f64> = match (args.db, &args.sqlite_mix) {
        (DbKind::Postgres, Some(p)) => std::fs::read_to_string(p)
            .ok()
            .and_then(|t| t.trim().parse().ok()),
        _ => None,
    };
    let mut failed_requests = 0;
    for (phase, tally, took) in &results {
        let rate = tally.requests() as f64 / took.as_secs_f64();
        let all = tally.all();
        failed_requests += tally.errors();
        match phase {
            Phase::Mix => {
                report.add(Row {
                    area: "Council",
                    measure: &format!(
                        "{db_name}, {} clients, realistic mix: throughput (requests/s; {} errors)",
                        args.clients,
                        tally.errors()
                    ),
                    target: if args.db == DbKind::Postgres {
                        "within 2× of SQLite"
                    } else {
                        "(reference for PostgreSQL)"
                    },
                    figure: format!("{rate:.0} req/s"),
                    ratio: sqlite_mix.map(|s| format!("{:.2}× SQLite", rate / s)),
                    met: sqlite_mix.map(|s| rate * 2.0 >= s),
                });
                report.add(Row {
                    area: "Council",
                    measure: &format!(
                        "{db_name}, {} clients, realistic mix: p50 / p99 latency",
                        args.clients
                    ),
                    target: "p99 < 50 ms",
                    figure: format!("{} / {}", ms(all.p50()), ms(all.p99())),
                    ratio: Some(format!(
                        "p99 {:.2}× budget",
                        all.p99().as_secs_f64() / 0.050
                    )),
                    met: Some(all.p99() < Duration::from_millis(50)),
                });
                if args.db == DbKind::Sqlite {
                    if let Some(path) = &args.sqlite_mix {
                        std::fs::write(path, format!("{rate:.1}\n"))?;
                    }
                }
            }
            Phase::Purchases => {
                let purchases = tally.purchases as f64 / took.as_secs_f64();
                let (target, ratio, met) = match (args.db, ceiling) {
                    (DbKind::Sqlite, Some(c)) => (
                        "≥ 50% of the raw ceiling",
                        Some(format!("{:.0}% of {c:.0} tx/s", 100.0 * purchases / c)),
                        Some(purchases >= 0.5 * c),
                    ),
                    _ => ("(no separate target)", None, None),
                };
                report.add(Row {
                    area: "Council",
                    measure: &format!(
                        "{db_name}, {} clients buying (buy + sandbox payment + status): purchases/s (p99 {})",
                        args.clients,
                        ms(all.p99())
                    ),
                    target,
                    figure: format!("{purchases:.0} purchases/s"),
                    ratio,
                    met,
                });
            }
            Phase::ReadsAfterMix | Phase::Reads | Phase::ReadsNoWork => {
                let reads = tally.reads();
                let reads_rate = reads.count() as f64 / took.as_secs_f64();
                let size = |phase| answer_sizes.get(phase).copied().unwrap_or_default();
                let (who, target, met) = match phase {
                    Phase::Reads => (
                        format!(
                            "{db_name}, {} clients reading (list + get permit) as residents with one permit ({} B answers): permit reads/s",
                            args.clients,
                            size(phase)
                        ),
                        "≥ 20,000 reads/s; p99 < 50 ms",
                        Some(reads_rate >= 20_000.0 && reads.p99() < Duration::from_millis(50)),
                    ),
                    Phase::ReadsAfterMix => (
                        format!(
                            "{db_name}, the same reads as the mix's residents, their lists grown by the mix ({} B answers)",
                            size(phase)
                        ),
                        "(no separate target)",
                        None,
                    ),
                    _ => (
                        format!("Same {} clients, same reads as residents with one permit, from a server doing no work (answers held in memory): the harness's own ceiling", args.clients),
                        "(bounds the reads row)",
                        None,
                    ),
                };
                report.add(Row {
                    area: "Council",
                    measure: &format!("{who}, p50 / p99 {} / {}", ms(reads.p50()), ms(reads.p99())),
                    target,
                    figure: format!("{reads_rate:.0} reads/s"),
                    ratio: Some(format!("{:.2}× target", reads_rate / 20_000.0)),
                    met,
                });
            }
        }
    }
    server.stop().await;
    store.close().await;
    if args.db == DbKind::Postgres {
        // The benchmark's database is its own; dropping it keeps the shared server small.
        use sqlx::Connection;
        let name = database_of(&url).to_string();
        let mut admin = sqlx::PgConnection::connect(&args.postgres_admin_url).await?;
        sqlx::Executor::execute(
            &mut admin,
            format!("DROP DATABASE IF EXISTS {name}").as_str(),
        )
        .await?;
    }
    if failed_requests > 0 {
        eprintln!("council-load: {failed_requests} requests failed");
    }
    Ok(())
}

fn print_phase(db: &str, phase: Phase, tally: &Tally, took: Duration) {
    let secs = took.as_secs_f64();
    println!(
        "\n== {db} / {}: {} requests in {secs:.1} s = {:.0} req/s; {} purchases ({:.0}/s); {} renewals; {} errors",
        phase.name(),
        tally.requests(),
        tally.requests() as f64 / secs,
        tally.purchases,
        tally.purchases as f64 / secs,
        tally.renewals,
        tally.errors()
    );
    println!(
        "{:<22} {:>8} {:>9} {:>10} {:>10}",
        "request", "count", "req/s", "p50", "p99"
    );
    for op in OPS {
        if let Some(l) = tally.latencies.get(op) {
            println!(
                "{op:<22} {:>8} {:>9.0} {:>10} {:>10}  errors {}",
                l.count(),
                l.count() as f64 / secs,
                ms(l.p50()),
                ms(l.p99()),
                tally.errors.get(op).copied().unwrap_or(0)
            );
        }
    }
    let all = tally.all();
    println!(
        "{:<22} {:>8} {:>9.0} {:>10} {:>10}",
        "all",
        all.count(),
        all.count() as f64 / secs,
        ms(all.p50()),
        ms(all.p99())
    );
    if let Some(error) = &tally.first_error {
        println!("first error: {error}");
    }
    if let Some(cpu) = tally.cpu.filter(|_| tally.requests() > 0) {
        println!(
            "CPU: {:.2} cores busy, {:.1} µs per request (this process: the council and its clients)",
            cpu.as_secs_f64() / secs,
            cpu.as_secs_f64() * 1e6 / tally.requests() as f64
        );
        if let Some(postgres) = tally.postgres_cpu {
            println!(
                "CPU: {:.2} cores busy, {:.1} µs per request (PostgreSQL's processes); {:.1} µs in all",
                postgres.as_secs_f64() / secs,
                postgres.as_secs_f64() * 1e6 / tally.requests() as f64,
                (cpu + postgres).as_secs_f64() * 1e6 / tally.requests() as f64
            );
        }
    }
}

//! The reference council permit service.
//!
//! An axum HTTP/JSON API (documented by the OpenAPI document at `/api/v1/openapi.json`) that
//! enforces every permit rule server-side with `kerbside-rules`, stores its data with sqlx on
//! SQLite (the default, also embedded in the desktop app) or PostgreSQL (several stateless
//! instances may share one database), and serves a sandbox hosted payment page.
//!
//! Tests build the router with [`app`] and call it with `oneshot`, or start a real server on
//! 127.0.0.1:0 with [`spawn`].

mod address_changes;
mod auth;
mod error;
mod evidence;
mod idempotency;
pub mod mail;
pub mod openapi;
mod pay_page;
mod routes;
pub mod seed;
mod service;
pub mod sql;
pub mod store;
mod views;

use axum::Router;
use kerbside_api::SharedClock;
use kerbside_rules::{PensionAgeSchedule, StreetList, Tariff};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use address_changes::add_officer;
pub use error::Error;
pub use mail::{send_expiry_reminders, MailConfig, Mailer, ReminderRun, SmtpConfig, SmtpTls};
pub use store::{default_postgres_connections, Store};

/// The allocator the council's server binary runs with (`#[global_allocator]` in `main.rs`);
/// the council benchmarks declare the same one through this name, so what they measure
/// allocates as the server does (docs/BENCHMARKS.md, fix 16).
#[cfg(feature = "mimalloc")]
pub type ServerAllocator = mimalloc::MiMalloc;

/// What the council is configured with: its tariff and street list (data, not code).
#[derive(Clone, Debug)]
pub struct CouncilConfig {
    pub tariff: Tariff,
    pub streets: StreetList,
    pub pension_ages: PensionAgeSchedule,
    /// Where evidence files are stored. Default: `<database>-evidence` beside the SQLite file.
    pub evidence_dir: Option<PathBuf>,
    /// Expiry emails: SMTP, or `.eml` files in an outbox (default `<database>-outbox`).
    pub mail: MailConfig,
    /// Run the expiry email job at start and then this often. `None`: never on its own (tests
    /// and the desktop app's embedded council call [`send_expiry_reminders`] when they want).
    pub reminder_every: Option<std::time::Duration>,
}

impl CouncilConfig {
    /// Leicester-like tariffs and zones, for the demo council and tests.
    pub fn leicester_demo() -> Self {
        Self {
            tariff: Tariff::leicester_demo(),
            streets: StreetList::leicester_demo(),
            pension_ages: PensionAgeSchedule::uk(),
            evidence_dir: None,
            mail: MailConfig::default(),
            reminder_every: None,
        }
    }
}

/// Everything a request handler needs. Cheap to clone; holds no state that matters between
/// requests beyond the database, so several instances can serve one PostgreSQL database.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub clock: SharedClock,
    pub council: Arc<CouncilConfig>,
    /// The address residents' browsers reach this server at, for hosted payment page links.
    pub public_url: Arc<str>,
    /// The folder evidence files are stored in (under generated names only).
    pub evidence_dir: Arc<PathBuf>,
    pub mailer: Arc<Mailer>,
}

/// The whole service as a router: the API under `/api/v1` and the hosted payment page.
pub fn app(state: AppState) -> Router {
    routes::router(state)
}

/// A server running on a background task.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub url: String,
    pub state: AppState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    sweeper: tokio::task::JoinHandle<()>,
    reminders: Option<tokio::task::JoinHandle<()>>,
}

impl RunningServer {
    /// Stops accepting connections and waits for the server task to end.
    pub async fn stop(mut self) {
        self.sweeper.abort();
        if let Some(reminders) = &self.reminders {
            reminders.abort();
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.sweeper.abort();
        if let Some(reminders) = &self.reminders {
            reminders.abort();
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Binds `bind` (port 0 picks a free port), serves `app` on it and returns at once.
/// `public_url` defaults to `http://<bound address>`.
pub async fn spawn(
    bind: SocketAddr,
    store: Store,
    clock: SharedClock,
    council: CouncilConfig,
    public_url: Option<String>,
) -> std::io::Result<RunningServer> {
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let state = prepare(listener.local_addr()?, store, clock, council, public_url)?;
    serve(listener, state)
}

/// The service's state for a server that will listen on `addr`: its evidence folder and mailer
/// made ready. Data can be put in (e.g. the demo seed) before [`serve`] takes requests; a caller
/// that binds its listener first knows the URL at once, and connections made before `serve`
/// wait in the listen backlog.
pub fn prepare(
    addr: SocketAddr,
    store: Store,
    clock: SharedClock,
    council: CouncilConfig,
    public_url: Option<String>,
) -> std::io::Result<AppState> {
    let url = public_url.unwrap_or_else(|| format!("http://{addr}"));
    let evidence_dir = council
        .evidence_dir
        .clone()
        .unwrap_or_else(|| store.default_folder("evidence"));
    std::fs::create_dir_all(&evidence_dir)?;
    let mailer = Mailer::new(&council.mail, store.default_folder("outbox"))
        .map_err(std::io::Error::other)?;
    tracing::info!(evidence = %evidence_dir.display(), mail = %mailer.describe(), "council storage");
    Ok(AppState {
        store,
        clock,
        council: Arc::new(council),
        public_url: Arc::from(url.as_str()),
        evidence_dir: Arc::new(evidence_dir),
        mailer: Arc::new(mailer),
    })
}

/// Serves `state` on `listener` on a task, with the payment sweeper and the expiry email job.
pub fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<RunningServer> {
    let addr = listener.local_addr()?;
    let url = state.public_url.to_string();
    let reminder_every = state.council.reminder_every;
    let router = app(state.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = rx.await;
        })
        .await;
        if let Err(error) = served {
            tracing::error!(%error, "council server stopped with an error");
        }
    });
    let sweeper = tokio::spawn(sweep_expired_payments(state.clone()));
    let reminders =
        reminder_every.map(|every| tokio::spawn(mail::reminder_loop(state.clone(), every)));
    Ok(RunningServer {
        addr,
        url,
        state,
        shutdown: Some(tx),
        task,
        sweeper,
        reminders,
    })
}

/// Fails payments left unpaid past their deadline once a minute, so a permit never sits
/// "awaiting payment" for ever. Safe on several instances: the update is conditional.
async fn sweep_expired_payments(state: AppState) {
    let mut every_minute = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        every_minute.tick().await;
        let swept = service::fail_expired_payments_in_turn(&state, state.clock.now()).await;
        if let Err(error) = swept {
            tracing::warn!(%error, "sweeping expired payments failed");
        }
    }
}

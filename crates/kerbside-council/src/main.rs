//! `kerbside-council`: runs the council permit service.

use clap::Parser;
use kerbside_api::clock::parse_clock_setting;
use kerbside_api::{OffsetClock, SharedClock, SystemClock};
use kerbside_council::{seed, spawn, CouncilConfig, Store};
use kerbside_rules::{StreetList, Tariff};
use std::net::SocketAddr;
use std::sync::Arc;

/// The Kerbside council permit service: residents' annual visitor parking permits over
/// HTTP/JSON (OpenAPI document at /api/v1/openapi.json) with a sandbox payment page.
#[derive(Parser, Debug)]
#[command(name = "kerbside-council", version)]
struct Options {
    /// Database: sqlite://FILE (created and migrated on start; WAL) or postgres://USER@HOST:PORT/DB.
    #[arg(
        long,
        env = "KERBSIDE_DATABASE_URL",
        default_value = "sqlite://kerbside-council.db"
    )]
    database: String,

    /// Address to listen on. Port 0 picks a free port; the bound address is printed.
    #[arg(long, env = "KERBSIDE_BIND", default_value = "127.0.0.1:8080")]
    bind: SocketAddr,

    /// Create the demo council's resident and permits (see the README) if they are missing.
    #[arg(long)]
    seed_demo: bool,

    /// FOR DEMOS AND TESTS ONLY: start the clock at this time (RFC 3339, e.g.
    /// 2027-03-01T09:00:00Z); it then ticks forward in real time. Production leaves it unset.
    #[arg(long, env = "KERBSIDE_CLOCK")]
    clock: Option<String>,

    /// The address residents' browsers use to reach this server (for payment page links).
    /// Defaults to http://<bound address>.
    #[arg(long, env = "KERBSIDE_PUBLIC_URL")]
    public_url: Option<String>,

    /// The council's tariff (TOML). Defaults to the Leicester-like demo tariff.
    #[arg(long)]
    tariff: Option<std::path::PathBuf>,

    /// The council's street list mapping streets to zones (TOML). Defaults to the demo list.
    #[arg(long)]
    streets: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "kerbside_council=info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Options::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("kerbside-council: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(options: Options) -> Result<(), String> {
    let clock: SharedClock = match &options.clock {
        Some(setting) => {
            let at = parse_clock_setting(setting)?;
            tracing::warn!("THE CLOCK IS SET: it started at {at} and is not the real time. For demos and tests only.");
            eprintln!("*** kerbside-council: CLOCK SET TO {at} (demo/test mode) ***");
            Arc::new(OffsetClock::starting_at(at))
        }
        None => Arc::new(SystemClock),
    };
    let mut council = CouncilConfig::leicester_demo();
    if let Some(path) = &options.tariff {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read tariff {}: {e}", path.display()))?;
        council.tariff =
            Tariff::from_toml(&text).map_err(|e| format!("tariff {}: {e}", path.display()))?;
    }
    if let Some(path) = &options.streets {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read street list {}: {e}", path.display()))?;
        council.streets = StreetList::from_toml(&text)
            .map_err(|e| format!("street list {}: {e}", path.display()))?;
    }
    let store = Store::connect(&options.database)
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?;
    let server = spawn(
        options.bind,
        store,
        clock,
        council,
        options.public_url.clone(),
    )
    .await
    .map_err(|e| format!("cannot listen on {}: {e}", options.bind))?;
    if options.seed_demo {
        let created = seed::seed_demo(&server.state)
            .await
            .map_err(|e| format!("seeding the demo failed: {e}"))?;
        if created {
            println!(
                "demo resident: {} / {} (officer: {} / {})",
                seed::DEMO_EMAIL,
                seed::DEMO_PASSWORD,
                seed::OFFICER_EMAIL,
                seed::OFFICER_PASSWORD
            );
        }
    }
    println!("kerbside-council listening on {}", server.url);
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    server.stop().await;
    Ok(())
}

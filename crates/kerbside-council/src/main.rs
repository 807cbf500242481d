//! `kerbside-council`: runs the council permit service.

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: kerbside_council::ServerAllocator = kerbside_council::ServerAllocator {};

use clap::{Parser, Subcommand};
use kerbside_api::clock::parse_clock_setting;
use kerbside_api::{OffsetClock, SharedClock, SystemClock};
use kerbside_council::{seed, spawn, CouncilConfig, SmtpConfig, SmtpTls, Store};
use kerbside_rules::{StreetList, Tariff};
use std::net::SocketAddr;
use std::sync::Arc;

/// The Kerbside council permit service: residents' annual visitor parking permits over
/// HTTP/JSON (OpenAPI document at /api/v1/openapi.json) with a sandbox payment page.
/// With no subcommand, serves (as `serve`).
#[derive(Parser, Debug)]
#[command(name = "kerbside-council", version)]
struct Cli {
    #[command(flatten)]
    options: Options,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the permit service (the default).
    Serve,
    /// Manage council officer accounts.
    Officer {
        #[command(subcommand)]
        action: OfficerAction,
    },
}

#[derive(Subcommand, Debug)]
enum OfficerAction {
    /// Create an officer account. The password comes from KERBSIDE_OFFICER_PASSWORD, or one is
    /// generated and printed once. Nothing is asked interactively.
    Add {
        /// The officer's email address (their sign-in).
        email: String,
        /// The officer's name.
        #[arg(long, default_value = "Council officer")]
        name: String,
    },
}

#[derive(clap::Args, Debug)]
struct Options {
    /// Database: sqlite://FILE (created and migrated on start; WAL) or postgres://USER@HOST:PORT/DB.
    #[arg(
        long,
        global = true,
        env = "KERBSIDE_DATABASE_URL",
        default_value = "sqlite://kerbside-council.db"
    )]
    database: String,

    /// Most connections this instance opens to PostgreSQL (default: four per core, 4 to 16).
    #[arg(long, global = true, env = "KERBSIDE_DATABASE_CONNECTIONS")]
    database_connections: Option<u32>,

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

    /// Folder for residents' evidence files (stored under generated names only). Defaults to
    /// <database>-evidence beside a SQLite database; set it for PostgreSQL (shared by instances).
    #[arg(long, env = "KERBSIDE_EVIDENCE_DIR")]
    evidence_dir: Option<std::path::PathBuf>,

    /// Without SMTP, expiry emails are written here as .eml files. Defaults to
    /// <database>-outbox beside a SQLite database.
    #[arg(long, env = "KERBSIDE_OUTBOX")]
    outbox: Option<std::path::PathBuf>,

    /// Send expiry emails through this SMTP server (instead of the outbox).
    #[arg(long, env = "KERBSIDE_SMTP_HOST")]
    smtp_host: Option<String>,

    /// SMTP port. Defaults to 587 for starttls, 465 for tls, 25 for none.
    #[arg(long, env = "KERBSIDE_SMTP_PORT")]
    smtp_port: Option<u16>,

    /// SMTP connection security: none, starttls or tls.
    #[arg(long, env = "KERBSIDE_SMTP_TLS", default_value = "starttls", value_parser = clap::value_parser!(SmtpTls))]
    smtp_tls: SmtpTls,

    /// SMTP user name; the password is read from the environment variable KERBSIDE_SMTP_PASSWORD.
    #[arg(long, env = "KERBSIDE_SMTP_USER")]
    smtp_user: Option<String>,

    /// The From address of the council's emails.
    #[arg(
        long,
        env = "KERBSIDE_MAIL_FROM",
        default_value = "Kerbside permits <permits@kerbside.example>"
    )]
    mail_from: String,

    /// Run the expiry email job at start and then every this many minutes (0: never).
    #[arg(long, env = "KERBSIDE_REMINDER_MINUTES", default_value_t = 60)]
    reminder_minutes: u64,
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
    let cli = Cli::parse();
    let outcome = match cli.command {
        None | Some(Command::Serve) => run(cli.options).await,
        Some(Command::Officer {
            action: OfficerAction::Add { email, name },
        }) => add_officer(&cli.options, &email, &name).await,
    };
    match outcome {
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
    council.evidence_dir = options.evidence_dir.clone();
    council.mail.from = options.mail_from.clone();
    council.mail.outbox = options.outbox.clone();
    if let Some(host) = &options.smtp_host {
        council.mail.smtp = Some(SmtpConfig {
            host: host.clone(),
            port: options.smtp_port.unwrap_or(match options.smtp_tls {
                SmtpTls::None => 25,
                SmtpTls::StartTls => 587,
                SmtpTls::Tls => 465,
            }),
            tls: options.smtp_tls,
            user: options.smtp_user.clone(),
            password: std::env::var("KERBSIDE_SMTP_PASSWORD").ok(),
        });
    }
    council.reminder_every = (options.reminder_minutes > 0)
        .then(|| std::time::Duration::from_secs(options.reminder_minutes * 60));
    let store = Store::connect_with_connections(&options.database, options.database_connections)
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

/// `kerbside-council officer add EMAIL`: creates the account and prints how to sign in.
async fn add_officer(options: &Options, email: &str, name: &str) -> Result<(), String> {
    let store = Store::connect(&options.database)
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?;
    let (password, generated) = match std::env::var("KERBSIDE_OFFICER_PASSWORD") {
        Ok(p) if !p.is_empty() => (p, false),
        _ => (generate_password(), true),
    };
    let now = match &options.clock {
        Some(setting) => parse_clock_setting(setting)?,
        None => chrono::Utc::now(),
    };
    kerbside_council::add_officer(&store, email, name, password.clone(), now)
        .await
        .map_err(|e| e.to_string())?;
    store.close().await;
    println!("officer account created: {}", email.trim().to_lowercase());
    if generated {
        println!("password (shown once; it is stored only as a hash): {password}");
    }
    Ok(())
}

/// 20 characters from an alphabet without look-alikes (about 115 bits).
fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

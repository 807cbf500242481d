//! The expiry email job over 1,000,000 generated permits on SQLite (target: under 2 s).
//!
//! Generates the permits in the council's own schema (migrations applied by `Store::connect`),
//! puts the database in the state a council that runs the job daily is in (every permit whose
//! window opened before today already has its claim), then runs the council's real
//! `send_expiry_reminders` with the outbox delivery and times it. A second run must send
//! nothing (each email once). Prints EXPLAIN QUERY PLAN of the job's query. With
//! `--catch-up`, also times the worst case: a first run ever, with the whole 31-day window due.

// The council server binary's allocator, so the council measured here allocates as the one a
// council runs.
#[global_allocator]
static ALLOCATOR: kerbside_council::ServerAllocator = kerbside_council::ServerAllocator {};

use chrono::{NaiveDate, TimeZone, Utc};
use clap::Parser;
use kerbside_api::FixedClock;
use kerbside_bench::{fresh_dir, generate_permits, undo_index_fixes, Dialect, Report, Row};
use kerbside_council::mail::DUE_REMINDERS_SQL;
use kerbside_council::{send_expiry_reminders, AppState, CouncilConfig, Mailer, Store};
use sqlx::Row as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Times the council's expiry email job over generated permits on SQLite")]
struct Args {
    /// Folder for the database and outbox (emptied first).
    #[arg(long, default_value = "target/bench")]
    dir: PathBuf,
    /// How many permits to generate.
    #[arg(long, default_value_t = 1_000_000)]
    permits: u64,
    /// The council's date for the run.
    #[arg(long, default_value = "2027-03-01")]
    today: NaiveDate,
    /// Also time a first run ever (the whole 31-day window due at once).
    #[arg(long)]
    catch_up: bool,
    /// Keep the generated database and outbox (removed by default: ~700 MB at 1M permits).
    #[arg(long)]
    keep: bool,
    /// Append the results table rows here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Undo the indexes of migrations 20261210000001/2 first, to measure the council as it
    /// was before those fixes (docs/BENCHMARKS.md, before/after).
    #[arg(long)]
    without_fixes: bool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let report = Report::new(args.report.clone()).before_fix(args.without_fixes);
    let dir = fresh_dir(&args.dir, "reminder-job")?;
    let db = dir.join("council.db");
    let store = Store::connect(&format!("sqlite://{}", db.display())).await?;
    if args.without_fixes {
        undo_index_fixes(store.pool()).await?;
    }
    let pool = store.pool().clone();

    let started = Instant::now();
    let made = generate_permits(&pool, Dialect::Sqlite, "g", args.permits, args.today).await?;
    println!(
        "generated {} permits for {} accounts in {:.1} s",
        made.permits,
        made.accounts,
        started.elapsed().as_secs_f64()
    );

    let today = args.today.format("%Y-%m-%d").to_string();
    let last_due = (args.today + chrono::Duration::days(kerbside_rules::RENEWAL_WINDOW_DAYS))
        .format("%Y-%m-%d")
        .to_string();
    // A council running the job daily has already claimed every permit whose window opened
    // before today; today's run finds the permits whose window opens today.
    let steady = sqlx::query(
        "INSERT INTO reminder_emails (permit_id, expires_on, sent_at) SELECT id, expires_on, 0 \
         FROM permits WHERE state = 'active' AND expires_on >= $1 AND expires_on < $2",
    )
    .bind(&today)
    .bind(&last_due)
    .execute(&pool)
    .await?;
    println!(
        "earlier days' claims: {} (windows opened before {today})",
        steady.rows_affected()
    );
    let expected: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM permits p JOIN accounts a ON a.id = p.account_id \
         WHERE p.state = 'active' AND p.expires_on = $1 AND a.reminder_email IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM permits r WHERE r.renewal_of = p.id AND r.state = 'active')",
    )
    .bind(&last_due)
    .fetch_one(&pool)
    .await?;

    let plan: Vec<String> = sqlx::query(&format!("EXPLAIN QUERY PLAN {DUE_REMINDERS_SQL}"))
        .bind(&today)
        .bind(&last_due)
        .fetch_all(&pool)
        .await?
        .iter()
        .map(|row| row.try_get::<String, _>("detail").unwrap_or_default())
        .collect();
    report.note(
        "EXPLAIN QUERY PLAN of the expiry email job's query (SQLite)",
        &plan.join("\n"),
    );
    let full_scan = plan.iter().any(|line| {
        line.starts_with("SCAN") || line.contains("USING INDEX permits_by_state_expiry (state=?)")
    });

    let outbox = dir.join("outbox");
    let mut council = CouncilConfig::leicester_demo();
    council.mail.outbox = Some(outbox.clone());
    let mailer = Mailer::new(&council.mail, outbox.clone())?;
    let nine_am = Utc
        .from_local_datetime(&args.today.and_hms_opt(9, 0, 0).unwrap())
        .unwrap();
    let state = AppState {
        store: store.clone(),
        clock: Arc::new(FixedClock::new(nine_am)),
        council: Arc::new(council),
        public_url: Arc::from("http://127.0.0.1:0"),
        evidence_dir: Arc::new(dir.join("evidence")),
        mailer: Arc::new(mailer),
    };

    let started = Instant::now();
    let first = send_expiry_reminders(&state).await?;
    let took = started.elapsed();
    let started = Instant::now();
    let second = send_expiry_reminders(&state).await?;
    let again = started.elapsed();
    let files = count_eml(&outbox)?;
    println!(
        "run 1: {first:?} in {:.3} s; run 2: {second:?} in {:.3} s; {files} .eml files; expected {expected}",
        took.as_secs_f64(),
        again.as_secs_f64()
    );
    let once = second.sent == 0 && files == first.sent && first.sent as i64 == expected;
    report.add(Row {
        area: "Council",
        measure: &format!(
            "Expiry email job, {} permits on SQLite, daily run ({} emails due today)",
            made.permits, first.sent
        ),
        target: "< 2 s",
        figure: format!("{:.3} s", took.as_secs_f64()),
        ratio: Some(format!("{:.2}× the budget", took.as_secs_f64() / 2.0)),
        met: Some(took < Duration::from_secs(2) && first.failed == 0),
    });
    report.add(Row {
        area: "Council",
        measure: "Expiry email job, second run the same day (each email once)",
        target: "0 sent; one .eml per claim",
        figure: format!(
            "{} sent in {:.3} s; {files} files for {} claims (expected {expected})",
            second.sent,
            again.as_secs_f64(),
            first.sent
        ),
        ratio: None,
        met: Some(once),
    });
    report.add(Row {
        area: "Council",
        measure: "Expiry email job's query uses indexes (EXPLAIN QUERY PLAN below)",
        target: "no scan of permits",
        figure: if full_scan {
            "scans".into()
        } else {
            "index searches only".into()
        },
        ratio: None,
        met: Some(!full_scan),
    });

    if args.catch_up {
        // Forget the earlier days' claims: the job now finds the whole window due at once.
        sqlx::query("DELETE FROM reminder_emails WHERE sent_at = 0")
            .execute(&pool)
            .await?;
        let started = Instant::now();
        let all = send_expiry_reminders(&state).await?;
        let took = started.elapsed();
        println!("catch-up: {all:?} in {:.1} s", took.as_secs_f64());
        report.add(Row {
            area: "Council",
            measure: &format!(
                "Expiry email job, first run ever: whole 31-day window ({} emails, each an fsynced .eml)",
                all.sent
            ),
            target: "(no target)",
            figure: format!(
                "{:.1} s ({:.0} emails/s)",
                took.as_secs_f64(),
                all.sent as f64 / took.as_secs_f64()
            ),
            ratio: None,
            met: None,
        });
    }
    store.close().await;
    if !args.keep {
        // About 700 MB at 1,000,000 permits.
        std::fs::remove_dir_all(&dir)?;
    }
    if !once {
        return Err("the expiry email job sent an email twice or missed one".into());
    }
    Ok(())
}

fn count_eml(dir: &std::path::Path) -> std::io::Result<usize> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".eml"))
        .count())
}

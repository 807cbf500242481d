//! The raw ceiling for durable writes: single-row INSERT transactions per second on a SQLite
//! file in the benchmark folder (the file system the council benchmark uses), opened by the
//! council's own `Store::connect` (same pool, WAL, `synchronous=FULL`, busy timeout).
//!
//! Writes the best figure to `--ceiling-out` for `council-load` to compare purchases with.

use clap::Parser;
use kerbside_bench::{fresh_dir, Report, Row};
use kerbside_council::Store;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Single-row insert transactions per second on SQLite (WAL, synchronous=FULL)")]
struct Args {
    #[arg(long, default_value = "target/bench")]
    dir: PathBuf,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrent writers in the second measurement.
    #[arg(long, default_value_t = 64)]
    writers: usize,
    #[arg(long)]
    report: Option<PathBuf>,
    /// Write the ceiling (transactions/s) here.
    #[arg(long)]
    ceiling_out: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let report = Report::new(args.report.clone());
    let dir = fresh_dir(&args.dir, "sqlite-ceiling")?;
    let store = Store::connect(&format!("sqlite://{}", dir.join("ceiling.db").display())).await?;
    let pool = store.pool().clone();
    sqlx::query(
        "CREATE TABLE ceiling (id TEXT PRIMARY KEY, payload TEXT NOT NULL, at BIGINT NOT NULL)",
    )
    .execute(&pool)
    .await?;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await?;
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&pool)
        .await?;
    println!("journal_mode={mode} synchronous={sync} (2 = FULL)");
    if mode != "wal" || sync != 2 {
        return Err("the store is not in WAL mode with synchronous=FULL".into());
    }
    let window = Duration::from_secs(args.seconds);

    // One writer: each INSERT is its own transaction, committed (and fsynced) before the next.
    let started = Instant::now();
    let mut one = 0u64;
    while started.elapsed() < window {
        insert(&pool, one).await?;
        one += 1;
    }
    let one_rate = one as f64 / started.elapsed().as_secs_f64();

    // Many writers through the pool, as the council's handlers write.
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..args.writers {
        let pool = pool.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while started.elapsed() < window {
                insert(&pool, 1_000_000_000 * (w as u64 + 1) + n).await?;
                n += 1;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, sqlx::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let many_rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    let ceiling = one_rate.max(many_rate);
    println!(
        "ceiling: {one_rate:.0} tx/s with 1 writer, {many_rate:.0} tx/s with {} writers",
        args.writers
    );

    report.add(Row {
        area: "Council",
        measure: "Raw ceiling: single-row INSERT transactions/s, SQLite WAL + synchronous=FULL, 1 writer",
        target: "(reference)",
        figure: format!("{one_rate:.0} tx/s"),
        ratio: None,
        met: None,
    });
    report.add(Row {
        area: "Council",
        measure: &format!(
            "Raw ceiling with {} writers through the council's pool (8 connections)",
            args.writers
        ),
        target: "(reference)",
        figure: format!("{many_rate:.0} tx/s"),
        ratio: Some(format!("{:.2}× 1 writer", many_rate / one_rate)),
        met: None,
    });
    if let Some(path) = &args.ceiling_out {
        std::fs::write(path, format!("{ceiling:.0}\n"))?;
    }
    store.close().await;
    Ok(())
}

async fn insert(pool: &sqlx::AnyPool, n: u64) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO ceiling (id, payload, at) VALUES ($1, $2, $3)")
        .bind(format!("{n:020}"))
        .bind("a permit-sized row of text, about the length of an address and a registration")
        .bind(n as i64)
        .execute(pool)
        .await?;
    Ok(())
}

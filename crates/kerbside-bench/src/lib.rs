//! Shared pieces of Kerbside's benchmarks (run them all with `bash scripts/bench.sh`; the
//! figures go into docs/BENCHMARKS.md).
//!
//! Each benchmark binary prints its figures and appends rows to a markdown report
//! (`--report FILE`), one row per target: what was measured, the target, the figure, the ratio
//! to the reference (the bare app or the raw SQLite ceiling) and whether the target was met.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Latencies of one kind of request, in microseconds.
#[derive(Clone, Debug, Default)]
pub struct Latencies {
    micros: Vec<u64>,
}

impl Latencies {
    pub fn record(&mut self, took: Duration) {
        self.micros
            .push(took.as_micros().min(u128::from(u64::MAX)) as u64);
    }

    pub fn merge(&mut self, other: &Latencies) {
        self.micros.extend_from_slice(&other.micros);
    }

    pub fn count(&self) -> usize {
        self.micros.len()
    }

    /// The `p`-quantile (0 < p ≤ 1) by the nearest-rank method; zero when empty.
    pub fn quantile(&self, p: f64) -> Duration {
        if self.micros.is_empty() {
            return Duration::ZERO;
        }
        let mut sorted = self.micros.clone();
        sorted.sort_unstable();
        let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        Duration::from_micros(sorted[rank - 1])
    }

    pub fn p50(&self) -> Duration {
        self.quantile(0.50)
    }

    pub fn p99(&self) -> Duration {
        self.quantile(0.99)
    }
}

/// Milliseconds with two decimals, for tables.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// One row of the results table.
pub struct Row<'a> {
    pub area: &'a str,
    pub measure: &'a str,
    pub target: &'a str,
    pub figure: String,
    /// The figure against its reference (bare app, raw ceiling, other database), if any.
    pub ratio: Option<String>,
    /// Whether the target was met; `None` for figures reported without a target.
    pub met: Option<bool>,
}

/// Appends rows to the markdown report and echoes them on stdout.
pub struct Report {
    file: Option<PathBuf>,
    before_fix: bool,
}

impl Report {
    pub fn new(file: Option<PathBuf>) -> Self {
        Self {
            file,
            before_fix: false,
        }
    }

    /// Marks every row as measured before a fix (the fix undone for the run).
    pub fn before_fix(mut self, before: bool) -> Self {
        self.before_fix = before;
        self
    }

    pub fn header() -> &'static str {
        "| Area | Measure | Target | Figure | Ratio | Met? |\n|---|---|---|---|---|---|\n"
    }

    pub fn add(&self, row: Row<'_>) {
        let met = match row.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "–",
        };
        let mut line = String::new();
        let _ = writeln!(
            line,
            "| {} | {}{} | {} | {} | {} | {} |",
            row.area,
            if self.before_fix {
                "BEFORE the fix: "
            } else {
                ""
            },
            row.measure,
            row.target,
            row.figure,
            row.ratio.as_deref().unwrap_or("–"),
            met
        );
        print!("RESULT {line}");
        if let Some(path) = &self.file {
            if let Some(parent) = path.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(line.as_bytes()));
            if let Err(error) = written {
                eprintln!("bench: cannot append to {}: {error}", path.display());
            }
        }
    }

    /// Free text (EXPLAIN QUERY PLAN, notes) appended below the table rows, in a code block.
    pub fn note(&self, title: &str, body: &str) {
        println!("{title}\n{body}");
        if let Some(path) = &self.file {
            let notes = path.with_extension("notes.md");
            let text = format!("\n**{title}**\n\n```text\n{}\n```\n", body.trim_end());
            let _ = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&notes)
                .and_then(|mut f| f.write_all(text.as_bytes()));
        }
    }
}

/// A fresh, empty folder for one benchmark's files (removed first if it exists).
pub fn fresh_dir(base: &Path, name: &str) -> std::io::Result<PathBuf> {
    let dir = base.join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Which SQL dialect a generated statement is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// `base + days` as 'YYYY-MM-DD' text, with `days` an SQL integer expression.
    fn date_plus(self, base: &str, days: &str) -> String {
        match self {
            Dialect::Sqlite => format!("date('{base}', CAST(({days}) AS TEXT) || ' days')"),
            Dialect::Postgres => {
                format!("to_char(DATE '{base}' + CAST(({days}) AS INTEGER), 'YYYY-MM-DD')")
            }
        }
    }

    /// A row source `n(i)` counting 0..count.
    fn numbers(self, count: u64) -> String {
        match self {
            Dialect::Sqlite => format!(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {count})"
            ),
            Dialect::Postgres => {
                format!("WITH n(i) AS (SELECT generate_series(0, {count} - 1)::BIGINT)")
            }
        }
    }
}

/// What [`generate_permits`] makes.
pub struct Generated {
    pub accounts: u64,
    pub permits: u64,
}

/// Undoes the two index fixes (migrations 20261210000001/2) for a "before" run (`--without-fixes`).
pub async fn undo_index_fixes(pool: &sqlx::AnyPool) -> Result<(), sqlx::Error> {
    for undo in [
        "DROP INDEX IF EXISTS permits_by_renewal_of",
        "DROP INDEX IF EXISTS permits_by_household_state",
        "CREATE INDEX IF NOT EXISTS permits_by_household ON permits(household_key, permit_type)",
    ] {
        sqlx::query(undo).execute(pool).await?;
    }
    println!("BEFORE THE FIXES: the indexes of migrations 20261210000001/2 undone");
    Ok(())
}

/// Generates `permits` permits (two per account: an Annual Visitor and a Care permit) with
/// statements run inside the database (a recursive CTE on SQLite, generate_series on
/// PostgreSQL), so a million rows take seconds, not the hours the API would.
///
/// Expiry dates are spread evenly over the 365 days from `today`, so 1/365 of the permits
/// reach their renewal window each day; one account in five has no reminder address; one
/// permit in twenty is cancelled; one in fifty is an active renewal of the permit before it.
/// Ids and references start with `prefix` so several batches can share a database.
pub async fn generate_permits(
    pool: &sqlx::AnyPool,
    dialect: Dialect,
    prefix: &str,
    permits: u64,
    today: chrono::NaiveDate,
) -> Result<Generated, sqlx::Error> {
    let accounts = permits.div_ceil(2);
    let today = today.format("%Y-%m-%d").to_string();
    let mut tx = pool.begin().await?;
    let account_sql = format!(
        "{numbers} INSERT INTO accounts (id, email, password_hash, name, address_line1, address_street, \
         address_town, address_postcode, household_key, date_of_birth, reminder_email, role, created_at) \
         SELECT '{prefix}a' || CAST(i AS TEXT), '{prefix}' || CAST(i AS TEXT) || '@bench.example', \
         'not-a-password-hash', 'Resident ' || CAST(i AS TEXT), CAST(i AS TEXT), 'Hazel Street', 'Leicester', \
         'LE2 7JN', '{prefix}' || CAST(i AS TEXT) || '|hazel street|LE2 7JN', NULL, \
         CASE WHEN i % 5 = 4 THEN NULL ELSE '{prefix}' || CAST(i AS TEXT) || '@bench.example' END, \
         'resident', 0 FROM n",
        numbers = dialect.numbers(accounts),
    );
    sqlx::query(&account_sql).execute(&mut *tx).await?;
    // Permit j belongs to account j / 2; even j are visitor permits, odd j care permits.
    // Expiry: today + (j * 7919) % 365, a permutation that spreads neighbours across the year.
    let offset = "(i * 7919) % 365";
    let renewal = "i % 50 = 1";
    let expires = format!(
        "CASE WHEN {renewal} THEN {} ELSE {} END",
        dialect.date_plus(&today, "((i - 1) * 7919) % 365 + 365"),
        dialect.date_plus(&today, offset)
    );
    let starts = format!(
        "CASE WHEN {renewal} THEN {} ELSE {} END",
        dialect.date_plus(&today, "((i - 1) * 7919) % 365 + 1"),
        dialect.date_plus(&today, &format!("{offset} - 364"))
    );
    let permit_sql = format!(
        "{numbers} INSERT INTO permits (id, reference, account_id, permit_type, registration, address_line1, \
         address_street, address_town, address_postcode, household_key, zone_code, zone_name, starts_on, \
         expires_on, state, price_pence, renewal_of, carer_evidence, created_at, updated_at) \
         SELECT '{prefix}p' || CAST(i AS TEXT), '{prefix}' || CAST(i AS TEXT), '{prefix}a' || CAST(i / 2 AS TEXT), \
         CASE WHEN i % 2 = 0 THEN 'annual_visitor' ELSE 'care' END, 'AB12CDE', CAST(i / 2 AS TEXT), \
         'Hazel Street', 'Leicester', 'LE2 7JN', '{prefix}' || CAST(i / 2 AS TEXT) || '|hazel street|LE2 7JN', \
         'B', 'Hazel Street', {starts}, {expires}, \
         CASE WHEN i % 20 = 3 THEN 'cancelled' ELSE 'active' END, \
         CASE WHEN i % 2 = 0 THEN 4000 ELSE 0 END, \
         CASE WHEN {renewal} THEN '{prefix}p' || CAST(i - 1 AS TEXT) ELSE NULL END, \
         CASE WHEN i % 2 = 1 THEN 'Care agency letter' ELSE NULL END, 0, 0 FROM n",
        numbers = dialect.numbers(permits),
    );
    sqlx::query(&permit_sql).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(Generated { accounts, permits })
}

/// Gives the permits [`generate_permits`] made with `prefix` what a council's permits have
/// beside them: a history (bought; paid, for a paid permit) and, for a paid permit, its
/// succeeded payment. Without them the history and payment tables hold only what a run writes,
/// and statistics gathered after seeding describe tables a few hundred rows long, which
/// PostgreSQL then plans as scans for the whole run (docs/BENCHMARKS.md, fix 29).
pub async fn generate_history(pool: &sqlx::AnyPool, prefix: &str) -> Result<(), sqlx::Error> {
    let generated = format!("FROM permits WHERE id LIKE '{prefix}p%'");
    let mut tx = pool.begin().await?;
    for statement in [
        format!(
            "INSERT INTO permit_events (id, permit_id, at, kind, detail) \
             SELECT id || 'b', id, created_at, 'bought', 'Bought online.' {generated}"
        ),
        format!(
            "INSERT INTO permit_events (id, permit_id, at, kind, detail) \
             SELECT id || 'y', id, created_at + 1, 'paid', 'Paid by card ending 1111.' \
             {generated} AND price_pence > 0"
        ),
        format!(
            "INSERT INTO payments (id, permit_id, account_id, amount_pence, status, page_token, \
             card_last4, created_at, expires_at, completed_at) \
             SELECT id || 'y', id, account_id, price_pence, 'succeeded', id || 'page', '1111', \
             created_at, created_at + 1800000, created_at + 1 {generated} AND price_pence > 0"
        ),
    ] {
        sqlx::query(&statement).execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// The machine the figures come from, for the report.
pub fn machine_summary() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let ram_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    format!("{cpu}, {cores} cores, {ram_gib:.1} GiB RAM")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let mut l = Latencies::default();
        for ms in 1..=100 {
            l.record(Duration::from_millis(ms));
        }
        assert_eq!(l.p50(), Duration::from_millis(50));
        assert_eq!(l.p99(), Duration::from_millis(99));
        assert_eq!(l.quantile(1.0), Duration::from_millis(100));
        assert_eq!(Latencies::default().p99(), Duration::ZERO);
    }
}

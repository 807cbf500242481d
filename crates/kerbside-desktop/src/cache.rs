//! The local cache: a SQLite file in the app data folder holding the permits the resident has
//! seen, so they can always be shown, even with no connection.
//!
//! A sync replaces an account's permits in one transaction (WAL, `synchronous=FULL`): after a
//! crash the file holds either the old or the new set, never a mix.

use crate::error::Result;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use kerbside_api::types::Permit;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use std::path::{Path, PathBuf};
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone, Debug)]
pub struct Cache {
    pool: SqlitePool,
    path: PathBuf,
}

/// Who is signed in on this computer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedAccount {
    pub account_id: String,
    pub email: String,
    pub last_synced_at: Option<DateTime<Utc>>,
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

impl Cache {
    /// Opens (creating if needed) the cache file and applies its migrations.
    pub async fn open(path: &Path) -> Result<Cache> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Cache {
            pool,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub async fn account(&self) -> Result<Option<CachedAccount>> {
        let row: Option<(String, String, Option<i64>)> = sqlx::query_as(
            "SELECT account_id, email, last_synced_at FROM account WHERE singleton = 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(account_id, email, synced)| CachedAccount {
            account_id,
            email,
            last_synced_at: synced.map(from_millis),
        }))
    }

    /// Records who signed in. Another account's cached permits are dropped first, so one
    /// resident never sees another's permits on a shared computer.
    pub async fn set_account(&self, account_id: &str, email: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM permits WHERE account_id <> ?1")
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO account (singleton, account_id, email, last_synced_at) VALUES (1, ?1, ?2, NULL) \
             ON CONFLICT (singleton) DO UPDATE SET email = excluded.email, \
             last_synced_at = CASE WHEN account.account_id = excluded.account_id THEN account.last_synced_at END, \
             account_id = excluded.account_id",
        )
        .bind(account_id)
        .bind(email)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces the account's cached permits with the council's current list, atomically.
    pub async fn replace_permits(
        &self,
        account_id: &str,
        permits: &[Permit],
        synced_at: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM permits WHERE account_id = ?1")
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        for permit in permits {
            sqlx::query(
                "INSERT INTO permits (id, account_id, body, synced_at) VALUES (?1, ?2, ?3, ?4)",
            )
            .bind(&permit.id)
            .bind(account_id)
            .bind(serde_json::to_string(permit)?)
            .bind(millis(synced_at))
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE account SET last_synced_at = ?1 WHERE account_id = ?2")
            .bind(millis(synced_at))
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores one permit the council just returned (after a purchase, edit or cancel).
    pub async fn upsert_permit(
        &self,
        account_id: &str,
        permit: &Permit,
        synced_at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO permits (id, account_id, body, synced_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (id) DO UPDATE SET body = excluded.body, synced_at = excluded.synced_at",
        )
        .bind(&permit.id)
        .bind(account_id)
        .bind(serde_json::to_string(permit)?)
        .bind(millis(synced_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The account's cached permits, newest expiry first.
    pub async fn permits(&self, account_id: &str) -> Result<Vec<Permit>> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT body FROM permits WHERE account_id = ?1")
            .bind(account_id)
            .fetch_all(&self.pool)
            .await?;
        let mut permits = Vec::with_capacity(rows.len());
        for (body,) in rows {
            match serde_json::from_str::<Permit>(&body) {
                Ok(p) => permits.push(p),
                // A row from an older app version is skipped, not fatal: the next sync rewrites it.
                Err(error) => tracing::warn!(%error, "skipping an unreadable cached permit"),
            }
        }
        permits.sort_by(|a, b| {
            b.expires_on
                .cmp(&a.expires_on)
                .then_with(|| a.reference.cmp(&b.reference))
        });
        Ok(permits)
    }

    /// Claims the one notification for this permit's term. True only the first time.
    pub async fn claim_renewal_notice(
        &self,
        permit_id: &str,
        expires_on: NaiveDate,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO renewal_notices (permit_id, expires_on, notified_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(permit_id)
        .bind(expires_on.to_string())
        .bind(millis(at))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as("SELECT value FROM settings WHERE key = ?1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|(v,)| v))
    }

    pub async fn set_setting(&self, key: &str, value: Option<&str>) -> Result<()> {
        match value {
            Some(v) => {
                sqlx::query(
                    "INSERT INTO settings (key, value) VALUES (?1, ?2) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )
                .bind(key)
                .bind(v)
                .execute(&self.pool)
                .await?
            }
            None => {
                sqlx::query("DELETE FROM settings WHERE key = ?1")
                    .bind(key)
                    .execute(&self.pool)
                    .await?
            }
        };
        Ok(())
    }

    pub async fn cached_permit_count(&self) -> Result<u64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM permits")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    /// Sign-out: the permits and who was signed in go; settings and the record of which
    /// renewal notices were raised (opaque ids) stay, so signing back in does not repeat them.
    pub async fn forget_account(&self) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM permits").execute(&mut *tx).await?;
        sqlx::query("DELETE FROM account").execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// "Wipe this computer's copy": everything, then the file is compacted so deleted rows do
    /// not linger in free pages.
    pub async fn wipe_everything(&self) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for table in ["permits", "account", "renewal_notices", "settings"] {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        sqlx::query("VACUUM").execute(&self.pool).await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

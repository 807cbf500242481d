//! Crash safety of the app's offline cache: the app is killed with SIGKILL in the middle of
//! syncs, 50 times for each write path, and after every kill the cache file passes
//! `PRAGMA integrity_check` and holds one whole state: every permit of the old sync or every
//! permit of the new one (same registrations letter, same synced-at, the account's synced-at
//! matching), never a mix, and never older than the last sync that had returned.
//!
//! The app is `kerbside-sync-forever` (tests/bin/sync_forever.rs), a separate process so the
//! kill is real: no destructor, no rollback, no flush runs. Two write paths:
//! - the real one: a council server on 127.0.0.1:0 (its own SQLite file) whose permits
//!   another device flips between registrations AA… and BB…, and `Kerbside::sync` fetching them
//!   over HTTP into the cache;
//! - the cache's `replace_permits` driven directly with 4000 permits per state, so the
//!   transaction takes long enough that most kills land inside it, and is bigger than SQLite's
//!   page cache, so it spills into the WAL before its commit and kills leave half-written
//!   transactions there.
//!
//! Each round waits a random few milliseconds after the helper is ready, kills it, reads the
//! WAL file as the kill left it (to count kills that left a transaction half-written in it),
//! then opens the file the way the app does after a crash and checks it. The next round goes on
//! from whatever the kill left. Run under scripts/with-desktop-session.sh (the real keyring).

use kerbside_api::FixedClock;
use kerbside_council::RunningServer;
use kerbside_desktop::{KeyringSecrets, SecretStore};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

const HELPER: &str = env!("CARGO_BIN_EXE_kerbside-sync-forever");
const ROUNDS: u32 = 50;
/// Permits per state when the cache's replace function is driven directly.
/// 4000 rows of a real permit's JSON are more than SQLite's page cache (2 MB by default) holds,
/// so pages spill into the WAL before the commit and a kill can leave a transaction half-written
/// there, which recovery must ignore.
const DIRECT_ROWS: usize = 4000;

mod support;
use support::world::{at, start_council, unique_keyring_service};

/// One whole state of the cache: which registrations (A… or B…), written by which sync
/// (its synced-at), and how many permits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct State {
    letter: char,
    synced_at: i64,
    rows: usize,
}

/// What the helper said before it died: the last sync that had returned, and the one under way.
#[derive(Debug, Default)]
struct Said {
    committed: Option<(char, i64)>,
    in_flight: Option<(char, i64)>,
    syncs_done: u32,
}

fn parse_said(lines: &[String]) -> Said {
    let mut said = Said::default();
    for line in lines {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let [word, _n, letter, millis] = parts.as_slice() {
            let state = (letter.chars().next().unwrap(), millis.parse().unwrap());
            match *word {
                "sync" => said.in_flight = Some(state),
                "synced" => {
                    said.committed = Some(state);
                    said.in_flight = None;
                    said.syncs_done += 1;
                }
                _ => {}
            }
        }
    }
    said
}

/// The WAL as the kill left it: frames of committed transactions, and frames written after the
/// last commit frame (a transaction the kill interrupted while SQLite was appending it).
#[derive(Debug, Default)]
struct WalTail {
    committed_frames: u32,
    unfinished_frames: u32,
}

/// Reads the WAL format (sqlite.org/fileformat.html#the_write_ahead_log): a frame counts only
/// if its salts match the header and its running checksum is right, as in SQLite's recovery.
fn read_wal(path: &Path) -> WalTail {
    let Ok(bytes) = std::fs::read(path) else {
        return WalTail::default();
    };
    if bytes.len() < 32 {
        return WalTail::default();
    }
    let be = |b: &[u8]| u32::from_be_bytes(b[..4].try_into().unwrap());
    let magic = be(&bytes[0..]);
    let big_endian_sums = match magic {
        0x377f0683 => true,
        0x377f0682 => false,
        _ => return WalTail::default(),
    };
    let page_size = be(&bytes[8..]) as usize;
    let (salt1, salt2) = (be(&bytes[16..]), be(&bytes[20..]));
    let checksum = |mut s: (u32, u32), data: &[u8]| {
        for pair in data.chunks_exact(8) {
            let word = |b: &[u8]| {
                let b: [u8; 4] = b.try_into().unwrap();
                if big_endian_sums {
                    u32::from_be_bytes(b)
                } else {
                    u32::from_le_bytes(b)
                }
            };
            s.0 = s.0.wrapping_add(word(&pair[..4])).wrapping_add(s.1);
            s.1 = s.1.wrapping_add(word(&pair[4..])).wrapping_add(s.0);
        }
        s
    };
    let mut sums = checksum((0, 0), &bytes[..24]);
    if sums != (be(&bytes[24..]), be(&bytes[28..])) {
        return WalTail::default();
    }
    let mut tail = WalTail::default();
    let mut since_commit = 0;
    let mut offset = 32;
    while offset + 24 + page_size <= bytes.len() {
        let header = &bytes[offset..offset + 24];
        if (be(&header[8..]), be(&header[12..])) != (salt1, salt2) {
            break;
        }
        sums = checksum(sums, &header[..8]);
        sums = checksum(sums, &bytes[offset + 24..offset + 24 + page_size]);
        if sums != (be(&header[16..]), be(&header[20..])) {
            break;
        }
        since_commit += 1;
        if be(&header[4..]) != 0 {
            tail.committed_frames += since_commit;
            since_commit = 0;
        }
        offset += 24 + page_size;
    }
    // A frame cut short by the kill is part of the unfinished transaction too.
    let partial = offset < bytes.len()
        && bytes.len() - offset < 24 + page_size
        && bytes.len() - offset >= 16
        && (be(&bytes[offset + 8..]), be(&bytes[offset + 12..])) == (salt1, salt2);
    tail.unfinished_frames = since_commit + u32::from(partial);
    tail
}

/// Opens the cache file as the app does after a crash (SQLite's recovery runs) and reads it.
async fn inspect(db: &Path) -> Result<State, String> {
    let mut conn = SqliteConnectOptions::new()
        .filename(db)
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let check: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    if check != ["ok"] {
        return Err(format!("integrity_check: {check:?}"));
    }
    let (account_id, account_synced): (String, Option<i64>) =
        sqlx::query_as("SELECT account_id, last_synced_at FROM account")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT account_id, body, synced_at FROM permits ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
    conn.close().await.map_err(|e| e.to_string())?;

    let mut letters = Vec::new();
    for (owner, body, synced_at) in &rows {
        let permit: kerbside_api::types::Permit =
            serde_json::from_str(body).map_err(|e| format!("unreadable row: {e}"))?;
        if owner != &account_id || Some(*synced_at) != account_synced {
            return Err(format!(
                "a row of another sync: row synced at {synced_at}, account synced at \
                 {account_synced:?}"
            ));
        }
        letters.push(permit.registration.chars().next().unwrap());
    }
    let letter = *letters.first().ok_or("no permits at all")?;
    if letters.iter().any(|l| *l != letter) {
        return Err(format!("a mix of states: {letters:?}"));
    }
    Ok(State {
        letter,
        synced_at: account_synced.ok_or("no synced-at")?,
        rows: rows.len(),
    })
}

#[derive(Debug, Default)]
struct Tally {
    kills: u32,
    /// The kill came between "sync" and "synced": inside the sync.
    mid_sync: u32,
    /// …and the cache still held the previous state (the transaction had not committed).
    mid_sync_rolled_back: u32,
    /// …and the cache held the new state (committed, the helper had not said so yet).
    mid_sync_committed: u32,
    /// The WAL held frames of a transaction the kill cut off while it was being appended.
    unfinished_in_wal: u32,
    /// The WAL held committed frames not yet copied into the database (so the check that
    /// followed read through SQLite's WAL recovery, and the WAL reader above works).
    committed_in_wal: u32,
    syncs_completed: u32,
}

/// Runs `ROUNDS` rounds of: start the helper with `args(round)`, wait a random 0..max_delay
/// ms after it is ready, SIGKILL it, check the cache. `known` is the state before round 1;
/// `rows_of` says how many permits a state written at that synced-at has.
async fn kill_rounds(
    data_dir: &Path,
    council: Option<&RunningServer>,
    args: impl Fn(u32) -> Vec<String>,
    mut known: State,
    rows_of: impl Fn(i64) -> usize,
    max_delay_ms: u64,
) -> Tally {
    let db = data_dir.join("kerbside-cache.db");
    let wal = data_dir.join("kerbside-cache.db-wal");
    let mut tally = Tally::default();
    for round in 1..=ROUNDS {
        // Every fifth round first lets one sync finish, so states are replaced even on a
        // machine too slow to finish one within the random delay.
        let (lines, delay) = run_and_kill(args(round), round % 5 == 0, max_delay_ms).await;
        if let Some(council) = council {
            until_answered(council).await;
        }
        let said = parse_said(&lines);
        let tail = read_wal(&wal);
        let found = inspect(&db)
            .await
            .unwrap_or_else(|e| panic!("round {round} (killed after {delay} ms): {e}"));

        let state = |(letter, synced_at): (char, i64)| State {
            letter,
            synced_at,
            rows: rows_of(synced_at),
        };
        let committed = said.committed.map(state).unwrap_or(known);
        let in_flight = said.in_flight.map(state);
        assert!(
            found == committed || Some(found) == in_flight,
            "round {round} (killed after {delay} ms): the cache holds {found:?}, but the last \
             sync that returned wrote {committed:?} and the one under way {in_flight:?}\n\
             helper said: {lines:?}"
        );
        tally.kills += 1;
        tally.syncs_completed += said.syncs_done;
        if in_flight.is_some() {
            tally.mid_sync += 1;
            if found == committed {
                tally.mid_sync_rolled_back += 1;
            } else {
                tally.mid_sync_committed += 1;
            }
        }
        if tail.unfinished_frames > 0 {
            tally.unfinished_in_wal += 1;
        }
        if tail.committed_frames > 0 {
            tally.committed_in_wal += 1;
        }
        known = found;
    }
    tally
}

/// Waits until the council has answered every registration change the killed helper sent.
/// The council finishes a request whose client is gone; one still running when the next
/// helper lists the permits would land after that list, and that helper would flip from a
/// state the council has already left (seen once, 2026-11-27: "This permit is already for
/// BB11 BBB"). A change in flight holds its Idempotency-Key reserved without an answer.
async fn until_answered(council: &RunningServer) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let in_flight: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM idempotency_keys WHERE status IS NULL")
                .fetch_one(council.state.store.pool())
                .await
                .unwrap();
        if in_flight == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the council did not answer the killed helper's {in_flight} requests in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Starts the helper, waits for "ready" (or, with `after_a_sync`, for its first completed
/// sync) and a random delay, kills it with SIGKILL and returns everything it printed.
async fn run_and_kill(
    args: Vec<String>,
    after_a_sync: bool,
    max_delay_ms: u64,
) -> (Vec<String>, u64) {
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(HELPER)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the helper starts");
        let stdout = child.stdout.take().unwrap();
        let (ready_tx, ready_rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let line = line.unwrap_or_default();
                if (!after_a_sync && line == "ready")
                    || (after_a_sync && line.starts_with("synced"))
                {
                    let _ = ready_tx.send(());
                }
                lines.push(line);
            }
            lines
        });
        if ready_rx.recv_timeout(Duration::from_secs(120)).is_err() {
            let _ = child.kill();
            panic!(
                "the helper never got ready ({:?}); it said {:?}",
                child.wait(),
                reader.join()
            );
        }
        let delay = uuid::Uuid::new_v4().as_u128() as u64 % (max_delay_ms + 1);
        std::thread::sleep(Duration::from_millis(delay));
        assert!(
            child.try_wait().unwrap().is_none(),
            "the helper stopped by itself before the kill; it said {:?}",
            reader.join()
        );
        // std's Child::kill is SIGKILL on Unix: no handler, no unwinding, no flush.
        child.kill().unwrap();
        child.wait().unwrap();
        (reader.join().unwrap(), delay)
    })
    .await
    .unwrap()
}

struct World {
    council: RunningServer,
    _council_dir: tempfile::TempDir,
    app_dir: tempfile::TempDir,
    keyring_service: String,
    setup_state: State,
}

impl World {
    /// A council, and a resident with two permits (state A) synced once by the helper.
    async fn new() -> World {
        let council_dir = tempfile::tempdir().unwrap();
        let council = start_council(
            council_dir.path(),
            Arc::new(FixedClock::new(at("2027-03-01T09:00:00Z"))),
            None,
        )
        .await;
        let app_dir = tempfile::tempdir().unwrap();
        let keyring_service = unique_keyring_service();
        let args = vec![
            "setup".to_string(),
            app_dir.path().display().to_string(),
            council.url.clone(),
            keyring_service.clone(),
        ];
        let out = tokio::task::spawn_blocking(move || Command::new(HELPER).args(args).output())
            .await
            .unwrap()
            .unwrap();
        assert!(
            out.status.success(),
            "setup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        let (letter, synced_at) = parse_said(&lines).committed.expect("setup synced");
        World {
            council,
            _council_dir: council_dir,
            app_dir,
            keyring_service,
            setup_state: State {
                letter,
                synced_at,
                rows: 2,
            },
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.app_dir.path().to_path_buf()
    }

    fn forget_sessions(&self) {
        let secrets = KeyringSecrets::new(&self.keyring_service);
        for key in [
            "other-device".to_string(),
            format!("session:{}", self.council.url),
        ] {
            secrets.delete(&key).unwrap();
        }
    }
}

fn report(path: &str, tally: &Tally, took: Duration) {
    eprintln!(
        "crash safety ({path}): {} kills in {:.1} s; {} landed mid-sync ({} before the commit, \
         {} after it), {} cut a transaction off while it was being written to the WAL, {} \
         left committed frames in the WAL; {} syncs completed between kills",
        tally.kills,
        took.as_secs_f64(),
        tally.mid_sync,
        tally.mid_sync_rolled_back,
        tally.mid_sync_committed,
        tally.unfinished_in_wal,
        tally.committed_in_wal,
        tally.syncs_completed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_app_during_a_sync_from_the_council_never_leaves_a_damaged_or_mixed_cache() {
    let world = World::new().await;
    let started = Instant::now();
    let (dir, url, service) = (
        world.data_dir().display().to_string(),
        world.council.url.clone(),
        world.keyring_service.clone(),
    );
    let tally = kill_rounds(
        &world.data_dir(),
        Some(&world.council),
        |round| {
            vec![
                "council".into(),
                dir.clone(),
                url.clone(),
                service.clone(),
                round.to_string(),
            ]
        },
        world.setup_state,
        |_| 2,
        250,
    )
    .await;
    report(
        "Kerbside::sync against a real council",
        &tally,
        started.elapsed(),
    );
    assert_eq!(tally.kills, ROUNDS);
    assert!(
        tally.mid_sync > 0 && tally.syncs_completed > 0,
        "no kill landed inside a sync, or no sync completed: {tally:?}"
    );
    // The WAL reader recognises SQLite's frames (else its count of half-written ones is moot).
    assert!(tally.committed_in_wal > 0, "{tally:?}");
    world.forget_sessions();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_app_inside_a_cache_transaction_that_spills_into_the_wal_never_leaves_a_mix() {
    let world = World::new().await;
    let started = Instant::now();
    let dir = world.data_dir().display().to_string();
    let setup = world.setup_state;
    let tally = kill_rounds(
        &world.data_dir(),
        None,
        |round| {
            vec![
                "cache".into(),
                dir.clone(),
                round.to_string(),
                DIRECT_ROWS.to_string(),
            ]
        },
        setup,
        |synced_at| {
            if synced_at == setup.synced_at {
                2
            } else {
                DIRECT_ROWS
            }
        },
        1000,
    )
    .await;
    report(
        "Cache::replace_permits, 4000 permits",
        &tally,
        started.elapsed(),
    );
    assert_eq!(tally.kills, ROUNDS);
    assert!(
        tally.mid_sync_rolled_back > 0 && tally.unfinished_in_wal > 0,
        "no kill landed inside a transaction before its commit: {tally:?}"
    );
    assert!(
        tally.syncs_completed > 0,
        "no sync completed, so no state was ever replaced: {tally:?}"
    );
    world.forget_sessions();
}

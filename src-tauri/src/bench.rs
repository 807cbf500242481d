//! Hooks for the desktop benchmarks (crates/kerbside-bench, `desktop-start`); inert unless
//! their environment variables are set, and logged loudly when they are.
//!
//! - `KERBSIDE_BENCH_MARK_FILE=PATH`: when the UI sets a performance mark (the permits screen
//!   sets `cached-permits-visible` once the first permit card is drawn), the time the next
//!   frame is painted is appended to PATH as `<unix nanoseconds> <mark name>`. An
//!   initialisation script wraps `performance.mark`, so the UI carries no benchmark code. For
//!   each start's timeline the same file also gets, unpainted: `page-load-started`,
//!   `page-load-finished`, `dom-content-loaded`, each mark's `<name>-set` (when the UI set
//!   it), and `first-screen-asked` / `first-screen-answered` around the `app_start` command.
//! - `KERBSIDE_BENCH_SYNC_EVERY_SECS=N`: the background sync and renewal check run every N
//!   seconds instead of hourly, to compress many hours of idle running into minutes.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tauri::plugin::TauriPlugin;
use tauri::Runtime;

const MARK_FILE: &str = "KERBSIDE_BENCH_MARK_FILE";
const SYNC_EVERY: &str = "KERBSIDE_BENCH_SYNC_EVERY_SECS";

/// Reports every performance mark after the frame that shows it has been painted, through the
/// `bench_mark` command. The count starts when the UI sets the mark (`performance.mark` is
/// wrapped), exactly as the bare app's page starts its own when its content is parsed: two
/// animation frames. (Until fix 35 a `PerformanceObserver` saw the mark; WebKit delivered it
/// ~29 ms late, after the first frame, so the count started a frame later than the bare app's.)
/// The times noted on the way are sent only after the mark, so the benchmark's own messages do
/// not compete with the start they measure.
const OBSERVE_MARKS: &str = r#"(function () {
  if (!window.__TAURI_INTERNALS__ || typeof performance.mark !== "function") return;
  var send = function (args) { window.__TAURI_INTERNALS__.invoke("bench_mark", args).catch(function () {}); };
  // Where a start's time goes, at the page's own clock: the document parsed, and each mark
  // when the UI set it (before it was painted).
  var noted = [];
  var note = function (name, ms) { noted.push({ name: name, atUnixMs: performance.timeOrigin + ms }); };
  document.addEventListener("DOMContentLoaded", function () { note("dom-content-loaded", performance.now()); });
  var seen = new Set();
  var setMark = performance.mark.bind(performance);
  performance.mark = function (name, options) {
    var entry = setMark(name, options);
    if (!seen.has(name)) {
      seen.add(name);
      note(name + "-set", entry.startTime);
      requestAnimationFrame(function () {
        requestAnimationFrame(function () {
          send({ name: name });
          noted.splice(0).forEach(send);
        });
      });
    }
    return entry;
  };
})();"#;

fn mark_file() -> Option<String> {
    std::env::var(MARK_FILE)
        .ok()
        .filter(|p| !p.trim().is_empty())
}

/// The plugin that injects the mark observer, when `KERBSIDE_BENCH_MARK_FILE` is set.
pub fn mark_plugin<R: Runtime>() -> Option<TauriPlugin<R>> {
    let file = mark_file()?;
    tracing::warn!(%file, "{MARK_FILE} is set: reporting the UI's performance marks for a benchmark");
    Some(
        tauri::plugin::Builder::new("kerbside-bench")
            .js_init_script(OBSERVE_MARKS.to_string())
            .build(),
    )
}

/// How often the background sync runs: hourly, unless a benchmark shortens it.
pub fn sync_every(default: Duration) -> Duration {
    match std::env::var(SYNC_EVERY)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
    {
        Some(secs) if secs > 0 => {
            tracing::warn!(
                secs,
                "{SYNC_EVERY} is set: background sync runs every {secs} s for a benchmark"
            );
            Duration::from_secs(secs)
        }
        _ => default,
    }
}

/// Appends `<unix nanoseconds> <name>` to the mark file; does nothing without one. `at_unix_ms`
/// is when the page saw it (its clock: `performance.timeOrigin + performance.now()`), for the
/// marks whose time is not when this command runs.
#[tauri::command]
pub async fn bench_mark(name: String, at_unix_ms: Option<f64>) {
    let at = at_unix_ms.filter(|ms| ms.is_finite() && *ms > 0.0);
    append_mark_at(&name, at.map(|ms| (ms * 1e6) as u128));
}

/// Records when the main window's page starts and finishes loading (`page-load-started`,
/// `page-load-finished`), so the benchmark can print each start's timeline; does nothing
/// without a mark file.
pub fn page_load(label: &str, event: tauri::webview::PageLoadEvent) {
    if label != "main" {
        return;
    }
    append_mark(match event {
        tauri::webview::PageLoadEvent::Started => "page-load-started",
        tauri::webview::PageLoadEvent::Finished => "page-load-finished",
    });
}

/// Appends `<unix nanoseconds> <name>` to the mark file, now, if there is one (on the start-up
/// path, so without one it only looks up the variable).
pub fn append_mark(name: &str) {
    append_mark_at(name, None);
}

/// [`append_mark`] at `at_nanos` (Unix nanoseconds) when given, else now.
fn append_mark_at(name: &str, at_nanos: Option<u128>) {
    let Some(file) = mark_file() else {
        return;
    };
    let nanos = at_nanos.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    });
    let name: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(64)
        .collect();
    // One write per line: marks sent together are written by concurrent commands, and
    // `writeln!` on a file may write a line in pieces that interleave.
    let line = format!("{nanos} {name}\n");
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(error) = written {
        tracing::warn!(%error, %file, "cannot write the benchmark mark");
    }
}

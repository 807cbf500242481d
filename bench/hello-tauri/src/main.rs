//! A bare Tauri 2 app: the reference for Kerbside's cold start, memory and size benchmarks.
//!
//! Its window starts as Kerbside's does: created hidden (tauri.conf.json) and shown when its
//! page has loaded. Shown at once, about one start in three of either app lost ~500 ms to a
//! wait inside WebKit's start-up (docs/BENCHMARKS.md, fix 34), and the comparison would
//! measure which app happened to lose it, not the work each app does.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Appends `<unix nanoseconds> <name>` to `KERBSIDE_BENCH_MARK_FILE`, as Kerbside's
/// `bench_mark` command does, so both apps are timed the same way.
#[tauri::command]
async fn bench_mark(name: String) {
    append_mark(&name);
}

fn append_mark(name: &str) {
    let Ok(file) = std::env::var("KERBSIDE_BENCH_MARK_FILE") else {
        return;
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
    {
        // One write per line, as Kerbside's marks: a line never interleaves with another's.
        let _ = f.write_all(format!("{nanos} {name}\n").as_bytes());
    }
}

fn main() {
    tauri::Builder::default()
        .invoke_handler(tauri::generate_handler![bench_mark])
        .on_page_load(|webview, payload| {
            // The same timeline marks as Kerbside's (src-tauri/src/bench.rs).
            let event = payload.event();
            let mark = match event {
                tauri::webview::PageLoadEvent::Started => "page-load-started",
                tauri::webview::PageLoadEvent::Finished => "page-load-finished",
            };
            append_mark(mark);
            if event == tauri::webview::PageLoadEvent::Finished {
                let _ = webview.window().show();
            }
        })
        .run(tauri::generate_context!())
        .expect("error while running the bare app");
}

//! A bare Tauri 2 app: the reference for Kerbside's cold start, memory and size benchmarks.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Appends `<unix nanoseconds> <name>` to `KERBSIDE_BENCH_MARK_FILE`, as Kerbside's
/// `bench_mark` command does, so both apps are timed the same way.
#[tauri::command]
async fn bench_mark(name: String) {
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
        let _ = writeln!(f, "{nanos} {name}");
    }
}

fn main() {
    tauri::Builder::default()
        .invoke_handler(tauri::generate_handler![bench_mark])
        .run(tauri::generate_context!())
        .expect("error while running the bare app");
}

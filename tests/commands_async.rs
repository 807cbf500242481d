//! Nothing slow runs on the UI thread: every Tauri command that touches the app's core (and
//! through it the council over the network, the SQLite cache or the keyring), the file system
//! or a database is `async`, so Tauri runs it on its async runtime rather than the main thread.
//!
//! Reads the shell's command sources (src-tauri/src/commands.rs and bench.rs) and checks each
//! `#[tauri::command]`. A synchronous command is allowed only if it does none of these things.

use std::path::Path;

/// What a command's text shows it uses, when it uses something that may block.
const BLOCKING_USES: [&str; 9] = [
    "Core<",
    "State<",
    "Kerbside",
    "core.",
    "sqlx",
    "reqwest",
    "CouncilClient",
    "std::fs",
    "keyring",
];

#[derive(Debug)]
struct Command {
    name: String,
    is_async: bool,
    text: String,
}

/// Each `#[tauri::command]` function: its name, whether it is async, and its full text.
fn commands(source: &str) -> Vec<Command> {
    let lines: Vec<&str> = source.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].trim().starts_with("#[tauri::command") {
            i += 1;
            continue;
        }
        // The signature: the first line after the attribute that declares the fn.
        let mut j = i + 1;
        while j < lines.len() && !lines[j].contains("fn ") {
            j += 1;
        }
        let Some(signature) = lines.get(j) else {
            break;
        };
        let before_fn = signature.split("fn ").next().unwrap_or_default();
        let name: String = signature
            .split("fn ")
            .nth(1)
            .unwrap_or_default()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // The body: up to the line where the braces opened at the signature close again.
        let mut depth = 0i32;
        let mut opened = false;
        let mut text = String::new();
        let mut k = j;
        while k < lines.len() {
            text.push_str(lines[k]);
            text.push('\n');
            for c in lines[k].chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if opened && depth <= 0 {
                break;
            }
            k += 1;
        }
        found.push(Command {
            name,
            is_async: before_fn.split_whitespace().any(|w| w == "async"),
            text,
        });
        i = k + 1;
    }
    found
}

/// The commands that may block but are not async, with what they use.
fn blocking_sync_commands(source: &str) -> Vec<(String, &'static str)> {
    commands(source)
        .into_iter()
        .filter(|c| !c.is_async)
        .filter_map(|c| {
            BLOCKING_USES
                .iter()
                .find(|u| c.text.contains(*u))
                .map(|u| (c.name, *u))
        })
        .collect()
}

fn shell_source(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src-tauri/src")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[test]
fn every_command_that_touches_the_core_network_or_database_is_async() {
    let source = shell_source("commands.rs");
    let all = commands(&source);
    assert!(
        all.len() >= 20,
        "expected the shell's commands in commands.rs, found {}: {all:?}",
        all.len()
    );
    let core_users = all.iter().filter(|c| c.text.contains("Core<")).count();
    assert!(core_users >= 15, "only {core_users} commands take the core");
    let offenders = blocking_sync_commands(&source);
    assert!(
        offenders.is_empty(),
        "these commands would block the UI thread; make them `async`: {offenders:?}"
    );
    let bench = shell_source("bench.rs");
    assert_eq!(commands(&bench).len(), 1, "bench.rs has its one command");
    assert!(blocking_sync_commands(&bench).is_empty());
}

#[test]
fn a_synchronous_command_that_uses_the_core_is_reported() {
    let source = r#"
#[tauri::command]
pub fn app_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[tauri::command]
pub fn cached_permits(core: Core<'_>) -> CmdResult<PermitsView> {
    tauri::async_runtime::block_on(core.cached_permits()).map_err(ui)
}

#[tauri::command]
pub async fn sync_permits(core: Core<'_>) -> CmdResult<PermitsView> {
    core.sync().await.map_err(ui)
}
"#;
    let found = commands(source);
    let names: Vec<&str> = found.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["app_version", "cached_permits", "sync_permits"]);
    assert_eq!(
        blocking_sync_commands(source),
        [("cached_permits".to_string(), "Core<")]
    );
}

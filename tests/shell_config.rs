//! The desktop shell's security configuration, read from the files the app is built from: the
//! content security policy in tauri.conf.json cannot be loosened, the capabilities in
//! src-tauri/capabilities/ grant the main window only what the UI uses (and no other window
//! anything), every command the UI invokes is registered in src-tauri/src/lib.rs and every
//! registered command is used, and Cargo.lock has a Tauri with the fixes we rely on.
//!
//! Each allowed set below is explicit: adding a source, a directive, a permission, a window or
//! a command without updating this file (and so without a review of why) fails the test.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: impl AsRef<Path>) -> String {
    let path = root().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn config() -> Value {
    serde_json::from_str(&read("tauri.conf.json")).expect("tauri.conf.json is JSON")
}

/// Every directive the policy may have, with every source it may list: exactly today's policy.
/// Notably no 'unsafe-eval'/'unsafe-inline', no `*`, no remote http(s) origin for scripts or
/// connections (the UI talks only to the Rust side over IPC; HTTP to the council is in Rust).
const ALLOWED_CSP: &[(&str, &[&str])] = &[
    ("default-src", &["'self'"]),
    ("script-src", &["'self'"]),
    ("style-src", &["'self'"]),
    ("img-src", &["'self'", "data:"]),
    ("connect-src", &["ipc:", "http://ipc.localhost"]),
    ("object-src", &["'none'"]),
    ("base-uri", &["'none'"]),
    ("frame-ancestors", &["'none'"]),
    ("form-action", &["'none'"]),
];

/// Directives that must be present: without them the browser falls back to something looser
/// (object-src, base-uri, frame-ancestors and form-action do not fall back to default-src).
const REQUIRED_CSP: &[&str] = &[
    "default-src",
    "script-src",
    "connect-src",
    "object-src",
    "base-uri",
    "frame-ancestors",
    "form-action",
];

/// Sources that loosen a policy whatever the directive.
const NEVER_IN_CSP: &[&str] = &[
    "*",
    "'unsafe-eval'",
    "'unsafe-inline'",
    "'wasm-unsafe-eval'",
    "'unsafe-hashes'",
    "'strict-dynamic'",
    "http:",
    "https:",
    "blob:",
    "filesystem:",
];

/// Parses a CSP string into directive → sources.
fn parse_csp(csp: &str) -> BTreeMap<String, Vec<String>> {
    let mut directives = BTreeMap::new();
    for part in csp.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let mut words = part.split_whitespace();
        let name = words.next().unwrap().to_ascii_lowercase();
        let sources: Vec<String> = words.map(String::from).collect();
        assert!(
            directives.insert(name.clone(), sources).is_none(),
            "the CSP names {name} twice (browsers use the first, which hides mistakes)"
        );
    }
    directives
}

/// Why the policy is not acceptable, if it is not.
fn csp_problems(csp: &str) -> Vec<String> {
    let directives = parse_csp(csp);
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED_CSP.iter().copied().collect();
    let mut problems = Vec::new();
    for name in REQUIRED_CSP {
        if !directives.contains_key(*name) {
            problems.push(format!("{name} is missing"));
        }
    }
    for (name, sources) in &directives {
        let Some(permitted) = allowed.get(name.as_str()) else {
            problems.push(format!("{name} is not in the reviewed policy"));
            continue;
        };
        for source in sources {
            if NEVER_IN_CSP.contains(&source.as_str())
                || source.contains('*')
                || !permitted.contains(&source.as_str())
            {
                problems.push(format!("{name} allows {source}"));
            }
        }
    }
    problems
}

#[test]
fn the_content_security_policy_is_exactly_the_reviewed_one() {
    let config = config();
    let security = &config["app"]["security"];
    let csp = security["csp"]
        .as_str()
        .expect("app.security.csp is set (without it the webview has no CSP at all)");
    assert_eq!(csp_problems(csp), Vec::<String>::new(), "{csp}");
    // devCsp would replace the policy in development builds; the e2e suite runs those.
    assert!(
        security.get("devCsp").is_none() || security["devCsp"] == security["csp"],
        "devCsp differs from csp"
    );
    // Tauri adds hashes and nonces for its own scripts; switching that off (for the CSP) means
    // someone wanted 'unsafe-inline'.
    assert!(
        security
            .get("dangerousDisableAssetCspModification")
            .is_none(),
        "dangerousDisableAssetCspModification is set"
    );
    assert_ne!(
        config["app"]["withGlobalTauri"], true,
        "withGlobalTauri would give any script in the page window.__TAURI__"
    );
}

#[test]
fn the_csp_check_refuses_each_kind_of_loosening() {
    // The check itself must fail on the changes it exists to catch.
    let good = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                connect-src ipc: http://ipc.localhost; object-src 'none'; base-uri 'none'; \
                frame-ancestors 'none'; form-action 'none'";
    assert!(csp_problems(good).is_empty(), "{:?}", csp_problems(good));
    let loosened = [
        good.replace("script-src 'self'", "script-src 'self' 'unsafe-eval'"),
        good.replace(
            "script-src 'self'",
            "script-src 'self' https://cdn.example.com",
        ),
        good.replace(
            "connect-src ipc:",
            "connect-src ipc: https://permits.example.gov.uk",
        ),
        good.replace("default-src 'self'", "default-src *"),
        good.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'"),
        good.replace("img-src 'self' data:", "img-src 'self' data: https:"),
        good.replace("; object-src 'none'", ""),
        format!("{good}; worker-src blob:"),
    ];
    for csp in loosened {
        assert!(!csp_problems(&csp).is_empty(), "not refused: {csp}");
    }
}

/// Every permission a capability may grant, with the UI code that needs it (its import in
/// ui/src). The app's own commands need no permission: they are allowed for the app's local
/// pages and the list of them is checked against the UI below. Not granted, because the UI does
/// not use them: `core:event:allow-unlisten` (the UI never calls the function `listen` resolves
/// to), `core:app:allow-version` (the version comes from the app's own `app_version` command).
const ALLOWED_PERMISSIONS: &[(&str, &str)] = &[
    // api.ts `on()`: listen to "permits-updated", "connection-changed", ….
    ("core:event:allow-listen", "listen<"),
];

/// Plugins that would reach the file system, run programs or make HTTP requests from the page.
const NEVER_GRANTED: &[&str] = &[
    "fs:",
    "shell:",
    "http:",
    "opener:",
    "process:",
    "updater:",
    "dialog:",
    "clipboard-manager:",
    "notification:",
    "autostart:",
];

fn capability_files() -> Vec<PathBuf> {
    let dir = root().join("src-tauri/capabilities");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// All UI sources (not the unit tests or their fakes) as one string.
fn ui_sources() -> String {
    fn walk(dir: &Path, out: &mut String) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                if name != "testing" && name != "bindings" {
                    walk(&path, out);
                }
            } else if name.ends_with(".ts") && !name.ends_with(".test.ts") {
                out.push_str(&std::fs::read_to_string(&path).unwrap());
                out.push('\n');
            }
        }
    }
    let mut all = String::new();
    walk(&root().join("ui/src"), &mut all);
    all
}

/// Why a set of capabilities (file name, JSON) grants more than the UI (`ui`, its sources)
/// uses, or less than it needs.
fn capability_problems(capabilities: &[(String, Value)], ui: &str) -> Vec<String> {
    let allowed: BTreeMap<&str, &str> = ALLOWED_PERMISSIONS.iter().copied().collect();
    let mut problems = Vec::new();
    let mut granted = BTreeSet::new();
    for (name, cap) in capabilities {
        if cap["windows"] != serde_json::json!(["main"]) {
            problems.push(format!(
                "{name}: windows {} (only the main window gets IPC; the payment window shows \
                 the council's page)",
                cap["windows"]
            ));
        }
        for key in ["webviews", "remote"] {
            if cap.get(key).is_some() {
                problems.push(format!("{name}: {key} gives IPC to other pages or origins"));
            }
        }
        for permission in cap["permissions"].as_array().into_iter().flatten() {
            // A permission given as an object (with scopes) is reviewed by its identifier.
            let id = permission
                .as_str()
                .or_else(|| permission["identifier"].as_str())
                .unwrap_or("(no identifier)");
            if NEVER_GRANTED.iter().any(|p| id.starts_with(p)) {
                problems.push(format!(
                    "{name}: {id} lets the page reach the system directly"
                ));
            } else if !allowed.contains_key(id) {
                problems.push(format!("{name}: {id} is not in the reviewed list"));
            }
            granted.insert(id.to_string());
        }
    }
    for id in &granted {
        if let Some(needs) = allowed.get(id.as_str()) {
            if !ui.contains(needs) {
                problems.push(format!(
                    "{id} is granted but the UI does not use it (nothing in ui/src has {needs})"
                ));
            }
        }
    }
    // The other way too: what the UI uses is granted (else it fails at run time).
    for (id, needs) in ALLOWED_PERMISSIONS {
        if ui.contains(needs) && !granted.contains(*id) {
            problems.push(format!("the UI uses {needs} but {id} is not granted"));
        }
    }
    problems
}

#[test]
fn capabilities_grant_the_main_window_only_what_the_ui_uses() {
    let files = capability_files();
    assert!(!files.is_empty(), "no capability files");
    let mut capabilities = Vec::new();
    for file in &files {
        assert_eq!(
            file.extension().and_then(|e| e.to_str()),
            Some("json"),
            "{}: capabilities are reviewed as JSON only",
            file.display()
        );
        let json = std::fs::read_to_string(file).unwrap();
        capabilities.push((
            file.display().to_string(),
            serde_json::from_str(&json).unwrap(),
        ));
    }
    let problems = capability_problems(&capabilities, &ui_sources());
    assert_eq!(problems, Vec::<String>::new());
    // The windows the config creates: the main one only (the payment window is made in Rust).
    let config = config();
    let labels: Vec<&str> = config["app"]["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["label"].as_str().unwrap_or("main"))
        .collect();
    assert_eq!(labels, ["main"]);
}

#[test]
fn the_capability_check_refuses_each_kind_of_extra_grant() {
    let ui = "return await listen<AppEvents[K]>(event, handler);";
    let cap = |json: Value| vec![("default.json".to_string(), json)];
    let good = serde_json::json!({"windows": ["main"], "permissions": ["core:event:allow-listen"]});
    assert_eq!(capability_problems(&cap(good), ui), Vec::<String>::new());
    let too_much = [
        serde_json::json!({"windows": ["main", "payment"], "permissions": ["core:event:allow-listen"]}),
        serde_json::json!({"windows": ["*"], "permissions": ["core:event:allow-listen"]}),
        serde_json::json!({"windows": ["main"], "remote": {"urls": ["https://*"]},
                           "permissions": ["core:event:allow-listen"]}),
        serde_json::json!({"windows": ["main"],
                           "permissions": ["core:event:allow-listen", "core:app:allow-version"]}),
        serde_json::json!({"windows": ["main"],
                           "permissions": ["core:event:allow-listen", "fs:default"]}),
        serde_json::json!({"windows": ["main"], "permissions": ["core:event:allow-listen",
                           {"identifier": "shell:allow-execute", "allow": []}]}),
    ];
    for json in too_much {
        assert!(
            !capability_problems(&cap(json.clone()), ui).is_empty(),
            "not refused: {json}"
        );
    }
    // Granted but unused by the UI is refused too.
    let unused =
        serde_json::json!({"windows": ["main"], "permissions": ["core:event:allow-listen"]});
    assert!(!capability_problems(&cap(unused), "no listening here").is_empty());
}

/// The command names invoked in `source`: the string right after `call(`/`invoke(` (with or
/// without type arguments, e.g. `call<string | null>("sign_out")`), after `prefix`.
fn invoked_commands(source: &str, prefixes: &[&str]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for prefix in prefixes {
        for (at, _) in source.match_indices(prefix) {
            let mut rest = &source[at + prefix.len()..];
            if let Some(generic) = rest.strip_prefix('<') {
                // Skip the type arguments, which may nest (`Promise<Array<T>>`).
                let mut depth = 1;
                let end = generic.find(|c| {
                    depth += match c {
                        '<' => 1,
                        '>' => -1,
                        _ => 0,
                    };
                    depth == 0
                });
                let Some(end) = end else { continue };
                rest = &generic[end + 1..];
            }
            if let Some(quoted) = rest.strip_prefix("(\"") {
                let name: String = quoted
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    names.insert(name);
                }
            }
        }
    }
    names
}

/// Everything the app's pages invoke: the UI's calls, and the calls of scripts the shell
/// injects into the page (src-tauri/src/*.rs, e.g. the benchmark's mark observer).
fn commands_the_pages_invoke() -> BTreeSet<String> {
    let mut used = invoked_commands(&ui_sources(), &["call", "invoke"]);
    for entry in std::fs::read_dir(root().join("src-tauri/src")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) == Some("rs") {
            let rust = std::fs::read_to_string(&path).unwrap();
            used.extend(invoked_commands(&rust, &["__TAURI_INTERNALS__.invoke"]));
        }
    }
    used
}

/// The commands registered in `generate_handler![…]` in src-tauri/src/lib.rs.
fn registered_commands() -> BTreeSet<String> {
    let lib = read("src-tauri/src/lib.rs");
    let start = lib
        .find("generate_handler![")
        .expect("lib.rs registers commands");
    let body = &lib[start + "generate_handler![".len()..];
    let body = &body[..body.find(']').unwrap()];
    body.split(',')
        .map(|s| s.trim().rsplit("::").next().unwrap().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[test]
fn every_command_the_ui_invokes_is_registered_and_every_registered_command_is_used() {
    let used = commands_the_pages_invoke();
    let registered = registered_commands();
    assert!(
        used.len() > 20 && registered.len() > 20,
        "{used:?} {registered:?}"
    );
    let unregistered: Vec<_> = used.difference(&registered).collect();
    let unused: Vec<_> = registered.difference(&used).collect();
    assert!(
        unregistered.is_empty(),
        "the UI invokes commands lib.rs does not register: {unregistered:?}"
    );
    assert!(
        unused.is_empty(),
        "lib.rs registers commands the UI never invokes (an attack surface with no use): {unused:?}"
    );
}

#[test]
fn the_command_scanner_finds_each_way_the_ui_writes_a_call() {
    let ui = r#"
      appVersion: () => call<string>("app_version"),
      signOut: () => call<string | null>("sign_out"),
      x: () => call("plain_call"),
      nested: () => call<Promise<Array<string>>>("nested_generics"),
      return await invoke<AddressChange>("upload_evidence", bytes, {
    "#;
    let found: Vec<String> = invoked_commands(ui, &["call", "invoke"])
        .into_iter()
        .collect();
    assert_eq!(
        found,
        [
            "app_version",
            "nested_generics",
            "plain_call",
            "sign_out",
            "upload_evidence"
        ]
    );
}

/// The version of `name` in Cargo.lock (the one package of that name).
fn locked_version(lock: &str, name: &str) -> Option<(u64, u64, u64)> {
    let mut versions = lock.split("[[package]]").filter_map(|block| {
        let mut lines = block.lines().map(str::trim);
        let found = lines.clone().any(|l| l == format!("name = \"{name}\""));
        let version = lines.find_map(|l| l.strip_prefix("version = \""))?;
        found.then(|| {
            let mut parts = version
                .trim_end_matches('"')
                .split(['.', '-'])
                .map(|p| p.parse::<u64>().unwrap_or(0));
            (
                parts.next().unwrap_or(0),
                parts.next().unwrap_or(0),
                parts.next().unwrap_or(0),
            )
        })
    });
    let first = versions.next();
    assert!(
        versions.next().is_none(),
        "two versions of {name} in Cargo.lock"
    );
    first
}

#[test]
fn cargo_lock_has_tauri_2_11_1_or_later_and_no_plugin_that_opens_the_system_to_the_page() {
    let lock = read("Cargo.lock");
    let tauri = locked_version(&lock, "tauri").expect("tauri is in Cargo.lock");
    assert!(
        tauri >= (2, 11, 1) && tauri.0 == 2,
        "tauri {tauri:?} in Cargo.lock: 2.11.1 or a later 2.x is required"
    );
    for plugin in [
        "tauri-plugin-fs",
        "tauri-plugin-shell",
        "tauri-plugin-http",
        "tauri-plugin-opener",
        "tauri-plugin-process",
    ] {
        assert_eq!(
            locked_version(&lock, plugin),
            None,
            "{plugin} is in Cargo.lock"
        );
    }
    assert_eq!(
        locked_version(
            "[[package]]\nname = \"tauri\"\nversion = \"2.10.9\"\n",
            "tauri"
        ),
        Some((2, 10, 9))
    );
}

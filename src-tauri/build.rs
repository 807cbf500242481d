//! tauri.conf.json sits at the repository top (the package root), so tauri-build finds it by
//! default; the capabilities live under src-tauri/ and need an explicit pattern.

use std::{env, fs, path::Path};

fn main() {
    ensure_frontend_dist();
    tauri_build::try_build(
        tauri_build::Attributes::new().capabilities_path_pattern("./src-tauri/capabilities/**/*"),
    )
    .expect("tauri-build failed");
}

const PLACEHOLDER_MARK: &str = "<!-- kerbside-placeholder -->";

/// `generate_context!()` refuses to compile when `build.frontendDist` (ui/dist) is missing, which
/// would break `cargo check/test/clippy --workspace` on a fresh clone. For dev builds, write a
/// placeholder page that says how to build the UI; for builds that serve the UI from the binary
/// (feature `custom-protocol`), insist on the real thing.
fn ensure_frontend_dist() {
    let root = env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let dist = Path::new(&root).join("ui/dist");
    println!(
        "cargo:rerun-if-changed={}",
        dist.join("index.html").display()
    );
    let index = fs::read_to_string(dist.join("index.html")).ok();
    let real_ui = index
        .as_deref()
        .is_some_and(|html| !html.contains(PLACEHOLDER_MARK));
    if real_ui {
        return;
    }
    if env::var_os("CARGO_FEATURE_CUSTOM_PROTOCOL").is_some() {
        panic!("ui/dist holds no built UI: run `npm --prefix ui ci && npm --prefix ui run build` first");
    }
    if index.is_some() {
        return; // our placeholder, already written
    }
    println!("cargo:warning=ui/dist is missing; using a placeholder page (run `npm --prefix ui run build`)");
    fs::create_dir_all(&dist).expect("create ui/dist");
    fs::write(
        dist.join("index.html"),
        "<!doctype html><html lang=\"en-GB\"><meta charset=\"utf-8\"><title>Kerbside</title>\
         <!-- kerbside-placeholder --><p>The Kerbside UI has not been built. Run <code>npm --prefix ui run build</code>.</p></html>\n",
    )
    .expect("write placeholder ui/dist/index.html");
}

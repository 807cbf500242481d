// `sqlx::migrate!` embeds ./migrations at compile time but does not tell cargo to watch the
// folder: without this, a new migration file is left out until the crate's sources change.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}

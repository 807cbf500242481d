#!/usr/bin/env bash
# Runs every test: UI unit tests, formatting and lints, then the whole Rust workspace (rules,
# API, council server on SQLite and PostgreSQL, the desktop core with the real keyring, the
# Tauri smoke test) inside a private desktop session (D-Bus, gnome-keyring, Xvfb).
# Installs what it needs first (scripts/setup.sh), so it works on a fresh Debian/Ubuntu machine.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
step() { printf '\n== %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }

step "setup"
bash scripts/setup.sh
[ -d ui/node_modules ] || npm --prefix ui ci --no-audit --no-fund --loglevel=error

step "ui: build and unit tests"
npm --prefix ui run build
npm --prefix ui test

step "PostgreSQL for the tests of the Postgres path"
KERBSIDE_TEST_POSTGRES_URL=$(bash scripts/pg.sh start)
export KERBSIDE_TEST_POSTGRES_URL
trap 'bash scripts/pg.sh stop' EXIT

step "cargo fmt"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
# The app embeds the council without its PostgreSQL and SMTP features; keep that build clean too.
cargo clippy -p kerbside-council --no-default-features --lib -- -D warnings

step "cargo test"
rm -f target/e2e-screenshots/axe-results.txt
# The long variants: more rounds of the race tests and more kills of the council server.
export KERBSIDE_LONG_TESTS=1
scripts/with-desktop-session.sh cargo test --workspace --no-fail-fast

step "schemathesis: the council against its own OpenAPI document (SQLite, PostgreSQL)"
bash scripts/schemathesis.sh

step "generated TypeScript types are current"
if git rev-parse --git-dir >/dev/null 2>&1; then
  if [ -n "$(git status --porcelain -- ui/src/bindings)" ]; then
    git status --porcelain -- ui/src/bindings
    echo "ui/src/bindings changed when the tests regenerated them: commit the new files" >&2
    exit 1
  fi
fi
step "all tests passed"

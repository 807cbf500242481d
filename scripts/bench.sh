#!/usr/bin/env bash
# Runs every Kerbside benchmark and writes target/bench/results.md (the figures that go into
# docs/BENCHMARKS.md). Speed is measured here, never in the tests.
#   bash scripts/bench.sh              everything (about 15 minutes after the release build)
#   BENCH_ONLY="council desktop" ...   a subset: ceiling, council, reminders, desktop
#   BENCH_SECONDS=15                   seconds per council load phase
# CARGO_TARGET_DIR is taken from the environment if set.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
only=" ${BENCH_ONLY:-ceiling council reminders desktop} "
want() { [[ "$only" == *" $1 "* ]]; }
seconds=${BENCH_SECONDS:-15}

bash scripts/setup.sh
[ -d ui/node_modules ] || npm --prefix ui ci --no-audit --no-fund --loglevel=error
# Rebuild the UI only when its sources' contents changed (tests rewrite ui/src/bindings with
# the same text): a new ui/dist makes cargo re-embed it and relink the app, minutes with LTO.
mkdir -p target/bench
ui_stamp=$(find ui/src ui/index.html ui/package.json ui/vite.config.ts -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64)
if [ ! -f ui/dist/index.html ] || [ "$(cat target/bench/ui-stamp 2>/dev/null)" != "$ui_stamp" ]; then
  npm --prefix ui run build >/dev/null
  echo "$ui_stamp" > target/bench/ui-stamp
fi

target=${CARGO_TARGET_DIR:-$here/target}
out=$here/target/bench
mkdir -p "$out"
report=$out/rows.md
rm -f "$report" "$out/rows.notes.md"

echo "bench: building the benchmarks (server profile) and the apps (release profile); the first build takes a while"
# The council and the load generator are built like a council server (`server` profile: speed);
# the two apps like the app residents install (`release`: size). See the root Cargo.toml.
cargo build --profile server -p kerbside-bench --bins
if want desktop; then
  cargo build --release --bin kerbside
  # The bare app: its own workspace, the same target dir, tauri version and release profile;
  # the root lock file pins the same dependency versions. Its dependencies' feature sets differ
  # from Kerbside's, so cargo compiles most of them again (about 10 minutes the first time).
  cp Cargo.lock bench/hello-tauri/Cargo.lock
  (cd bench/hello-tauri && CARGO_TARGET_DIR="$target" cargo build --release)
fi
bin=$target/release
server_bin=$target/server

if want ceiling || want council; then
  "$server_bin/sqlite-ceiling" --dir "$out" --report "$report" --ceiling-out "$out/ceiling.txt"
fi
if want council; then
  "$server_bin/council-load" --db sqlite --dir "$out" --seconds "$seconds" --report "$report" \
    --ceiling "$out/ceiling.txt" --sqlite-mix "$out/sqlite-mix.txt"
  bash scripts/pg.sh start >/dev/null
  # PostgreSQL runs on this machine, so the council reaches it as a council on the same
  # machine would: through its Unix socket (TCP on loopback costs ~10-25 % of the reads).
  # (TCP when this user cannot reach the socket).
  pg_url=$(bash scripts/pg.sh socket-url)
  psql -qAt "$pg_url" -c 'SELECT 1' >/dev/null 2>&1 || pg_url=$(bash scripts/pg.sh url)
  "$server_bin/council-load" --db postgres --postgres-admin-url "$pg_url" --dir "$out" \
    --seconds "$seconds" --report "$report" --sqlite-mix "$out/sqlite-mix.txt"
fi
if want reminders; then
  "$server_bin/reminder-job" --dir "$out" --report "$report" --catch-up
fi
if want desktop; then
  bash scripts/with-desktop-session.sh "$server_bin/desktop-start" --kerbside "$bin/kerbside" \
    --hello "$bin/hello-tauri" --ui-dist ui/dist --dir "$out" --report "$report"
fi

{
  echo "# Kerbside benchmark results"
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates src-tauri ui/src bench || echo ' (with local changes)')"
  echo "- Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB RAM, kernel $(uname -r)"
  echo "- Disk: $(df -hT "$out" | awk 'NR==2{print $2 " on " $1}')"
  [ -n "${pg_url:-}" ] && echo "- PostgreSQL reached at: $pg_url"
  echo "- Command: bash scripts/bench.sh"
  echo
  cat <<'HEADER'
| Area | Measure | Target | Figure | Ratio | Met? |
|---|---|---|---|---|---|
HEADER
  cat "$report"
  [ -f "$out/rows.notes.md" ] && cat "$out/rows.notes.md"
} > "$out/results.md"
echo
cat "$out/results.md"
echo
echo "bench: results in target/bench/results.md (copy the figures into docs/BENCHMARKS.md)"

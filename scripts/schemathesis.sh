#!/usr/bin/env bash
# Fuzzes the council permit service against its own OpenAPI document with schemathesis, on
# SQLite and then on PostgreSQL: every operation gets schema-valid and schema-breaking input
# (--mode all), as a signed-in resident and then as a council officer. It fails on any 5xx, any
# response that breaks the document (status, headers, body schema, content type), and any
# invalid input that is accepted.
#
#   bash scripts/schemathesis.sh            (PostgreSQL from KERBSIDE_TEST_POSTGRES_URL, or
#                                            scripts/pg.sh; KERBSIDE_FUZZ_DBS=sqlite for one)
#
# Seeded and bounded (KERBSIDE_FUZZ_EXAMPLES per operation, default 100) so a run is repeatable
# and takes a few minutes on 2 cores. Reports land in target/schemathesis/<db>-<role>/.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/kerbside-target}
venv=${KERBSIDE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/kerbside-venv}
st="$venv/bin/schemathesis"
[ -x "$st" ] || { echo "schemathesis.sh: $st missing; run scripts/setup.sh" >&2; exit 1; }
seed=${KERBSIDE_FUZZ_SEED:-20270301}
examples=${KERBSIDE_FUZZ_EXAMPLES:-100}
dbs=${KERBSIDE_FUZZ_DBS:-sqlite postgres}
reports="$here/target/schemathesis"
mkdir -p "$reports"

cargo build -q -p kerbside-council
bin="$CARGO_TARGET_DIR/debug/kerbside-council"
work=$(mktemp -d)
pid=""
stop_server() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; fi
}
trap 'stop_server; rm -rf "$work"' EXIT

start_server() { # $1 = database URL
  : >"$work/out.log"
  # A set clock, so the permits the fuzzer buys fall on the same dates every run; no reminder
  # job (its emails are not under test here). The demo seed brings the officer account.
  "$bin" --database "$1" --bind 127.0.0.1:0 --clock 2027-03-01T09:00:00Z --seed-demo \
    --evidence-dir "$work/evidence" --outbox "$work/outbox" --reminder-minutes 0 \
    >"$work/out.log" 2>"$work/err.log" &
  pid=$!
  for _ in $(seq 1 300); do
    url=$(sed -n 's/^kerbside-council listening on //p' "$work/out.log")
    [ -n "$url" ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "schemathesis.sh: the council did not start:" >&2; cat "$work/err.log" >&2; exit 1
}

token_for() { # $1 = email, $2 = password
  curl -sS -f -X POST "$url/api/v1/sessions" -H 'content-type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"$2\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}

fuzz() { # $1 = label, $2 = token, then extra schemathesis options
  local label=$1 token=$2; shift 2
  local out="$reports/$label"
  rm -rf "$out"; mkdir -p "$out"
  echo "-- schemathesis: $label (seed $seed, at most $examples examples per operation)"
  local started=$SECONDS rc=0
  # Run from the scratch folder: schemathesis keeps a cache in the current directory.
  (cd "$work" && "$st" --config-file "$here/scripts/schemathesis.toml" run "$url/api/v1/openapi.json" \
    --url "$url" \
    --mode all --checks all \
    --exclude-checks ignored_auth \
    --max-examples "$examples" --seed "$seed" \
    --generation-database none \
    --workers 2 --request-timeout 20 --no-color \
    -H "Authorization: Bearer $token" \
    --report junit,ndjson --report-dir "$out" \
    "$@") >"$out/output.txt" 2>&1 || rc=$?
  tail -n 25 "$out/output.txt"
  echo "-- $label: exit $rc in $((SECONDS - started)) s; full output in $out/output.txt"
  return "$rc"
}

failed=0
for db in $dbs; do
  case "$db" in
    sqlite) database="sqlite://$work/fuzz.db" ;;
    postgres)
      admin=${KERBSIDE_TEST_POSTGRES_URL:-$(bash scripts/pg.sh start)}
      name="kerbside_fuzz_$(date +%s)_$$"
      psql -q -d "$admin" -c "CREATE DATABASE $name" >/dev/null
      database="${admin%/*}/$name"
      ;;
    *) echo "schemathesis.sh: unknown database $db" >&2; exit 2 ;;
  esac
  start_server "$database"
  email="fuzz-resident@example.org"
  password="fuzzing-password-2027"
  curl -sS -f -o /dev/null -X POST "$url/api/v1/accounts" -H 'content-type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"$password\",\"name\":\"Fuzz Resident\",\"address\":{\"line1\":\"7\",\"street\":\"Hazel Street\",\"town\":\"Leicester\",\"postcode\":\"LE2 7JN\"},\"date_of_birth\":\"1950-01-01\"}"
  resident=$(token_for "$email" "$password")
  officer=$(token_for officer@kerbside.example kerbside-officer-2026)
  # Signing out ends the session the other operations use, so it is fuzzed last, on its own.
  fuzz "$db-resident" "$resident" --exclude-operation-id sign_out || failed=1
  fuzz "$db-officer" "$officer" --include-tag officer || failed=1
  fuzz "$db-sign-out" "$resident" --include-operation-id sign_out \
    --phases examples,coverage,fuzzing || failed=1
  stop_server
  if [ "$db" = postgres ]; then psql -q -d "$admin" -c "DROP DATABASE $name WITH (FORCE)" >/dev/null || true; fi
done
# Totals over this run's reports: requests sent, positive and negative cases, checks and the
# status codes seen.
python3 - "$reports" $dbs <<'PY'
import collections, glob, json, sys
reports, dbs = sys.argv[1], sys.argv[2:]
for db in dbs:
    requests, modes, checks, statuses = 0, collections.Counter(), collections.Counter(), collections.Counter()
    for path in glob.glob(f"{reports}/{db}-*/ndjson-*.ndjson"):
        for line in open(path):
            event = json.loads(line)
            recorder = (event.get("ScenarioFinished") or {}).get("recorder") or {}
            for case in (recorder.get("cases") or {}).values():
                modes[case["value"]["meta"]["generation"]["mode"]] += 1
            for results in (recorder.get("checks") or {}).values():
                for result in results:
                    checks[result["status"]] += 1
            for interaction in (recorder.get("interactions") or {}).values():
                requests += 1
                response = interaction.get("response")
                statuses[response["status_code"] if response else "no answer"] += 1
    seen = ", ".join(f"{code}: {n}" for code, n in sorted(statuses.items(), key=lambda x: str(x[0])))
    print(f"schemathesis.sh: {db}: {requests} requests ({modes['positive']} schema-valid cases, "
          f"{modes['negative']} schema-breaking), {sum(checks.values())} checks, "
          f"{checks['failure']} failing; statuses {seen}")
PY
if [ "$failed" != 0 ]; then
  echo "schemathesis.sh: failures found (see $reports)" >&2
  exit 1
fi
echo "schemathesis.sh: no failures"

#!/usr/bin/env bash
# Walks the council service's API with curl, as a resident would through the app:
# register, sign in, buy, pay on the sandbox page, edit registration, try to renew outside the
# window (refused with the date it opens), renew inside it, and cancel with a refund.
#
#   bash scripts/curl-walkthrough.sh [DATABASE_URL]      (default: a temporary SQLite file)
#
# It starts its own kerbside-council on a free port with a set clock, and stops it at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/kerbside-target}
work=$(mktemp -d)
db=${1:-sqlite://$work/council.db}
cargo build -q -p kerbside-council --manifest-path "$here/Cargo.toml"
bin="$CARGO_TARGET_DIR/debug/kerbside-council"

start_server() { # $1 = clock
  "$bin" --database "$db" --bind 127.0.0.1:0 --clock "$1" >"$work/out.log" 2>"$work/err.log" &
  pid=$!
  for _ in $(seq 1 100); do
    url=$(sed -n 's/^kerbside-council listening on //p' "$work/out.log")
    [ -n "$url" ] && return 0
    sleep 0.1
  done
  echo "server did not start:"; cat "$work/err.log"; exit 1
}
stop_server() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
trap 'stop_server; rm -rf "$work"' EXIT
step() { printf '\n== %s\n' "$*"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval('d'+sys.argv[1]))" "$1"; }

start_server 2027-03-01T09:00:00Z
api="$url/api/v1"
email="walk-$RANDOM@example.org"

step "register"
curl -sS -f -X POST "$api/accounts" -H 'content-type: application/json' -H "Idempotency-Key: reg-$email" \
  -d "{\"email\":\"$email\",\"password\":\"walkthrough-password\",\"name\":\"Walk Through\",\"address\":{\"line1\":\"7\",\"street\":\"Hazel Street\",\"town\":\"Leicester\",\"postcode\":\"LE2 7JN\"},\"reminder_email\":\"$email\"}"
step "sign in"
token=$(curl -sS -f -X POST "$api/sessions" -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"walkthrough-password\"}" | json "['token']")
auth=(-H "authorization: Bearer $token")
echo "token received (${#token} characters)"

step "an invalid registration is refused"
curl -sS -X POST "$api/permits" "${auth[@]}" -H 'content-type: application/json' -H 'Idempotency-Key: buy-bad' \
  -d '{"permit_type":"annual_visitor","registration":"NOT A PLATE"}'
step "buy an Annual Visitor permit"
purchase=$(curl -sS -f -X POST "$api/permits" "${auth[@]}" -H 'content-type: application/json' -H 'Idempotency-Key: buy-1' \
  -d '{"permit_type":"annual_visitor","registration":"ab12 cde"}')
permit=$(echo "$purchase" | json "['permit']['id']")
payment=$(echo "$purchase" | json "['payment']['id']")
next_url=$(echo "$purchase" | json "['payment']['next_url']")
echo "permit $permit: $(echo "$purchase" | json "['permit']['status_label']"), pay at $next_url"
step "pay on the hosted sandbox page with the test card 4444 3333 2222 1111"
curl -sS -f -X POST "$next_url" --data 'card_number=4444333322221111&expiry_month=12&expiry_year=2030&cardholder_name=Walk+Through&security_code=123' \
  | grep -o '<h1>[^<]*</h1>'
echo "payment: $(curl -sS -f "$api/payments/$payment" "${auth[@]}" | json "['status']")"
echo "permit:  $(curl -sS -f "$api/permits/$permit" "${auth[@]}" | json "['status_label']")"

step "edit registration"
curl -sS -f -X PUT "$api/permits/$permit/registration" "${auth[@]}" -H 'content-type: application/json' \
  -H 'Idempotency-Key: reg-change-1' -d '{"registration":"xy34zzz"}' | json "['history'][-1]['detail']"

step "renew outside the window (refused with the date it opens)"
curl -sS -X POST "$api/permits/$permit/renewal" "${auth[@]}" -H 'content-type: application/json' -H 'Idempotency-Key: renew-early' -d '{}'
echo

step "move the clock into the renewal window and renew"
stop_server
start_server 2028-02-10T09:00:00Z
api="$url/api/v1"
token=$(curl -sS -f -X POST "$api/sessions" -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"walkthrough-password\"}" | json "['token']")
auth=(-H "authorization: Bearer $token")
renewal=$(curl -sS -f -X POST "$api/permits/$permit/renewal" "${auth[@]}" -H 'content-type: application/json' -H 'Idempotency-Key: renew-1' -d '{}')
echo "renewal runs $(echo "$renewal" | json "['permit']['starts_on']") to $(echo "$renewal" | json "['permit']['expires_on']")"
curl -sS -f -X POST "$(echo "$renewal" | json "['payment']['next_url']")" \
  --data 'card_number=4444333322221111&expiry_month=12&expiry_year=2030&cardholder_name=Walk+Through&security_code=123' | grep -o '<h1>[^<]*</h1>'

step "cancel with a refund (quoted first)"
quote=$(curl -sS -f "$api/permits/$permit/refund-quote" "${auth[@]}")
echo "quote: $(echo "$quote" | json "['refund_pence']")p of $(echo "$quote" | json "['paid_pence']")p"
curl -sS -f -X POST "$api/permits/$permit/cancellation" "${auth[@]}" -H 'content-type: application/json' -H 'Idempotency-Key: cancel-1' \
  -d "{\"expected_refund_pence\": $(echo "$quote" | json "['refund_pence']")}" | json "['permit']['history'][-1]['detail']"

step "sign out"
curl -sS -f -o /dev/null -w 'HTTP %{http_code}\n' -X DELETE "$api/sessions/current" "${auth[@]}"
curl -sS -o /dev/null -w 'after sign-out: HTTP %{http_code}\n' "$api/permits" "${auth[@]}"
echo; echo "walkthrough finished against $db"

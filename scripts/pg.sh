#!/usr/bin/env bash
# A private PostgreSQL server for the tests of the Postgres path: 127.0.0.1:55432, trust auth,
# data in ${KERBSIDE_PG_DIR:-/tmp/kerbside-pg}. Usage: pg.sh start|stop|url|socket-url
# (socket-url: the same server through its Unix socket, as a council on the same machine would
# reach it; docs/BENCHMARKS.md, fix 23)
set -euo pipefail
port=${KERBSIDE_PG_PORT:-55432}
dir=${KERBSIDE_PG_DIR:-/tmp/kerbside-pg}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
url="postgres://postgres@127.0.0.1:${port}/postgres"
[ -n "$bin" ] || { echo "pg.sh: PostgreSQL is not installed; run scripts/setup.sh" >&2; exit 1; }
as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; elif [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}
case "${1:-start}" in
  start)
    if as_postgres "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then echo "$url"; exit 0; fi
    mkdir -p "$dir"; chown postgres "$dir" 2>/dev/null || true; chmod 700 "$dir"
    if [ ! -f "$dir/PG_VERSION" ]; then
      as_postgres "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    as_postgres "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=300 -c fsync=on" start >/dev/null
    echo "$url"
    ;;
  stop)
    as_postgres "$bin/pg_ctl" -D "$dir" -m fast stop >/dev/null 2>&1 || true
    ;;
  url) echo "$url" ;;
  socket-url) echo "postgres://postgres@localhost:${port}/postgres?host=${dir}" ;;
  *) echo "usage: pg.sh start|stop|url|socket-url" >&2; exit 2 ;;
esac

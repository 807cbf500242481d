#!/usr/bin/env bash
# Runs a command inside a private desktop session, as the app has on a real machine:
# a D-Bus session bus, an unlocked gnome-keyring (Secret Service) and, unless NO_DISPLAY=1,
# an Xvfb display with the dunst notification daemon. Everything started here stops with it.
# Usage: scripts/with-desktop-session.sh COMMAND [ARGS...]
set -euo pipefail
if [ -z "${KERBSIDE_IN_SESSION:-}" ]; then
  export KERBSIDE_IN_SESSION=1
  # The session's folders are made before its bus so the bus reads its services from them.
  KERBSIDE_SESSION_DIR=$(mktemp -d /tmp/kerbside-session.XXXXXX)
  export KERBSIDE_SESSION_DIR
  # The keyring keeps its files under XDG_DATA_HOME: a fresh one per session.
  export XDG_DATA_HOME="$KERBSIDE_SESSION_DIR/data" XDG_RUNTIME_DIR="$KERBSIDE_SESSION_DIR/run"
  mkdir -p "$XDG_DATA_HOME/dbus-1/services" "$XDG_RUNTIME_DIR"; chmod 700 "$XDG_RUNTIME_DIR"
  # The Secret Service is started by D-Bus on demand, unlocked, on this session's keyring file:
  # gnome-keyring-daemon has been seen to die mid-run (SIGTRAP, 2026-11-27), and the system's
  # own activation file would start one on another keyring, locked, so every later keyring use
  # failed. This file comes first ($XDG_DATA_HOME's services outrank the system's).
  cat >"$KERBSIDE_SESSION_DIR/keyring-daemon" <<SH
#!/bin/sh
printf 'kerbside-session' | exec gnome-keyring-daemon --foreground --replace --unlock \\
  --components=secrets >>"$KERBSIDE_SESSION_DIR/keyring.log" 2>&1
SH
  chmod +x "$KERBSIDE_SESSION_DIR/keyring-daemon"
  printf '[D-BUS Service]\nName=org.freedesktop.secrets\nExec=%s\n' \
    "$KERBSIDE_SESSION_DIR/keyring-daemon" >"$XDG_DATA_HOME/dbus-1/services/org.freedesktop.secrets.service"
  exec dbus-run-session -- "$0" "$@"
fi
tmp=$KERBSIDE_SESSION_DIR
pids=()
cleanup() {
  for p in "${pids[@]}"; do pkill -P "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
  org.freedesktop.DBus.StartServiceByName string:org.freedesktop.secrets uint32:0 >/dev/null
if [ "${NO_DISPLAY:-0}" != 1 ] && [ -z "${DISPLAY:-}" ]; then
  for n in $(seq 90 130); do [ -e "/tmp/.X11-unix/X$n" ] || { display=":$n"; break; }; done
  Xvfb "$display" -screen 0 1280x900x24 -nolisten tcp >"$tmp/xvfb.log" 2>&1 &
  pids+=($!)
  export DISPLAY="$display"
  for _ in $(seq 1 50); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done
  dunst >"$tmp/dunst.log" 2>&1 &
  pids+=($!)
fi
unset KERBSIDE_IN_SESSION
# Tells tests that may stop this session's daemons (tests/keyring_restart.rs) that they are
# not the developer's own.
export KERBSIDE_PRIVATE_SESSION=1
"$@"

#!/usr/bin/env bash
# Runs a command inside a private desktop session, as the app has on a real machine:
# a D-Bus session bus, an unlocked gnome-keyring (Secret Service) and, unless NO_DISPLAY=1,
# an Xvfb display with the dunst notification daemon. Everything started here stops with it.
# Usage: scripts/with-desktop-session.sh COMMAND [ARGS...]
set -euo pipefail
if [ -z "${KERBSIDE_IN_SESSION:-}" ]; then
  export KERBSIDE_IN_SESSION=1
  exec dbus-run-session -- "$0" "$@"
fi
tmp=$(mktemp -d /tmp/kerbside-session.XXXXXX)
pids=()
cleanup() {
  touch "$tmp/stopping"
  for p in "${pids[@]}"; do pkill -P "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
# The keyring keeps its files under XDG_DATA_HOME: a fresh one per session.
export XDG_DATA_HOME="$tmp/data" XDG_RUNTIME_DIR="$tmp/run"
mkdir -p "$XDG_DATA_HOME" "$XDG_RUNTIME_DIR"; chmod 700 "$XDG_RUNTIME_DIR"
# gnome-keyring-daemon has been seen to die mid-run (SIGTRAP, 2026-11-27); D-Bus then starts a
# locked one on demand and every later keyring use fails. So it is kept running, unlocked:
# started again (replacing any D-Bus-started one) whenever it exits, with the same keyring file.
(
  while [ ! -e "$tmp/stopping" ]; do
    printf 'kerbside-session' | gnome-keyring-daemon --foreground --replace --unlock \
      --components=secrets >>"$tmp/keyring.log" 2>&1 || true
    [ -e "$tmp/stopping" ] || echo "with-desktop-session: gnome-keyring-daemon exited; starting it again" >&2
    sleep 0.2
  done
) &
pids+=($!)
for _ in $(seq 1 50); do
  dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q true && break
  sleep 0.1
done
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
"$@"

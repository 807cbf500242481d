#!/usr/bin/env bash
# Builds the UI and runs the Kerbside desktop app (debug build serving ui/dist from the binary).
#   KERBSIDE_HEADLESS=1  run under xvfb-run (no display needed; useful for smoke checks)
# CARGO_TARGET_DIR is taken from the environment if set.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

bash scripts/setup.sh
[ -d ui/node_modules ] || npm --prefix ui ci --no-audit --no-fund --loglevel=error
npm --prefix ui run build

cmd=(cargo run --features custom-protocol --bin kerbside)
if [ "${KERBSIDE_HEADLESS:-0}" = 1 ]; then
  # WebKitGTK in a GPU-less X server: software rendering only.
  export WEBKIT_DISABLE_DMABUF_RENDERER=1 WEBKIT_DISABLE_COMPOSITING_MODE=1
  exec xvfb-run -a -s "-screen 0 1280x900x24" "${cmd[@]}"
fi
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "run-app: no display (DISPLAY/WAYLAND_DISPLAY unset): Kerbside opens a window and needs one." >&2
  echo "run-app: run it from a desktop session, or set KERBSIDE_HEADLESS=1 to use Xvfb." >&2
  exit 2
fi
exec "${cmd[@]}"

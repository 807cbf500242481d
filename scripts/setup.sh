#!/usr/bin/env bash
# Installs what Kerbside needs to build, run and test on a fresh Debian/Ubuntu machine.
# Idempotent: each step is skipped when its result is already present.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

apt_packages=(
  # Tauri 2 on Linux
  libwebkit2gtk-4.1-dev build-essential curl wget file libxdo-dev libssl-dev
  libayatana-appindicator3-dev librsvg2-dev pkg-config
  # keyring (Secret Service) and notifications over D-Bus
  libdbus-1-dev dbus-x11 gnome-keyring libsecret-tools libnotify-bin
  # headless window, screenshots, WebDriver
  xvfb xauth x11-utils imagemagick webkit2gtk-driver at-spi2-core dunst
  # PostgreSQL for the tests of the Postgres path
  postgresql
)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${#missing[@]} apt packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
if [ -f "$here/ui/package.json" ] && [ ! -d "$here/ui/node_modules" ]; then
  (cd "$here/ui" && npm ci --no-audit --no-fund --loglevel=error)
fi
if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; install Rust from rustup first" >&2; exit 1
fi
# The end-to-end suite drives the real app window through tauri-driver + WebKitWebDriver.
if ! command -v tauri-driver >/dev/null && [ ! -x "$HOME/.cargo/bin/tauri-driver" ]; then
  echo "setup: installing tauri-driver (cargo install, about 3 minutes)"
  cargo install tauri-driver --version '^2' --locked --quiet
fi
# schemathesis fuzzes the council's OpenAPI document (scripts/schemathesis.sh), from a private
# venv with a pinned version: a new release can change the CLI and what it checks.
schemathesis_version=4.32.5
venv=${KERBSIDE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/kerbside-venv}
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$schemathesis_version"; then
  echo "setup: installing schemathesis $schemathesis_version into $venv"
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"
fi
echo "setup: ok"

#!/usr/bin/env bash
# Installs what building and testing ChannelWatch needs on a fresh Debian machine, from
# package registries only (crates.io, npm, Debian). Skips whatever is already present.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# The CLI must equal the wasm-bindgen crate version in Cargo.lock exactly.
want=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  say "installing wasm-bindgen-cli $want (about 2.5 min)"
  # Not --locked: the registry may lack the newest transitive versions its lockfile names.
  cargo install wasm-bindgen-cli --version "$want"
fi

apt_pkgs=()
# SETUP_BUILD_ONLY=1 (the container build) skips what only the tests need.
build_only=${SETUP_BUILD_ONLY:-0}
[ "$build_only" = 1 ] || [ -x /usr/bin/chromium ] || apt_pkgs+=(chromium)
# promtool (Debian's prometheus package) checks the /metrics output in a test.
[ "$build_only" = 1 ] || command -v promtool >/dev/null || apt_pkgs+=(prometheus)
# A real mosquitto broker for the Home Assistant MQTT test.
[ "$build_only" = 1 ] || [ -x /usr/sbin/mosquitto ] || apt_pkgs+=(mosquitto)
command -v npm >/dev/null || apt_pkgs+=(nodejs npm)
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  say "installing ${apt_pkgs[*]} from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" >/dev/null
fi
# Debian's binaryen 108 silently breaks hydration of the optimised wasm: never use it.
if dpkg -s binaryen >/dev/null 2>&1; then
  say "removing Debian binaryen (its wasm-opt breaks hydration)"
  apt-get remove -y -qq binaryen >/dev/null
fi
if [ "$(wasm-opt --version 2>/dev/null | awk '{print $3}')" != "132" ]; then
  say "installing wasm-opt from npm binaryen@132.0.0"
  npm install -g --no-fund --no-audit binaryen@132.0.0 >/dev/null
fi

# The apprise_api provider is tested against the real apprise package (from PyPI).
apprise_py=target/apprise-venv/bin/python
if [ "$build_only" != 1 ] && ! "$apprise_py" -c 'import apprise' 2>/dev/null; then
  say "installing the apprise package into target/apprise-venv (PyPI)"
  python3 -m venv target/apprise-venv
  "$apprise_py" -m pip install -q --disable-pip-version-check apprise==2.3.0
fi

if [ "$build_only" != 1 ] && [ ! -d end2end/node_modules/@playwright/test ]; then
  say "installing the browser-test runner (npm ci; no browser download)"
  (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-fund --no-audit >/dev/null)
fi
say "done"

#!/usr/bin/env bash
# Runs every test on a fresh or warm machine: format and lint gates, unit and
# integration tests (real SQLite, real HTTP on loopback, the in-tree DVR simulator),
# then browser tests in Debian's Chromium against the debug and the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "setup"
scripts/setup.sh

step "format"
cargo fmt --all -- --check

step "build (debug)"
scripts/build.sh dev

step "unit and integration tests"
log=target/test-output.log
cargo test -p app -p wire -p domain -p engine -p storage -p sim -p testkit -p server --features app/ssr 2>&1 | tee "$log"

step "clippy (ssr and hydrate feature sets)"
cargo clippy -p app -p wire -p domain -p engine -p storage -p sim -p testkit -p server --features app/ssr --all-targets -- -D warnings
cargo clippy -p frontend -p app --target wasm32-unknown-unknown -- -D warnings
# The shipped build, without the tests' fault-injection seams.
cargo clippy -p server -- -D warnings

step "browser tests (debug)"
(cd end2end && CW_PROFILE=debug npx playwright test) 2>&1 | tee -a "$log"

step "build (release)"
scripts/build.sh release

step "browser tests (release)"
(cd end2end && CW_PROFILE=release npx playwright test) 2>&1 | tee -a "$log"

# One closing line over every runner: cargo's "N passed" and Playwright's "N passed".
passed=$( (grep -hoE '[0-9]+ passed' "$log" || true) | awk '{s += $1} END {print s + 0}')
step "all tests passed"
echo "${passed} passed, 0 failed"

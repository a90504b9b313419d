#!/usr/bin/env bash
# One command from a fresh machine to a running demo: installs what is missing, builds
# the release binary and web bundle, and serves with three simulated DVRs on :8501.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release
exec ./target/release/channelwatch serve --demo --data-dir "${CHANNELWATCH_DATA_DIR:-./data}" "$@"

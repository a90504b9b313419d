#!/usr/bin/env bash
# Builds the web bundle and the server with plain cargo + wasm-bindgen (no cargo-leptos):
#   scripts/build.sh [dev|release]
# Output: target/site (pkg/channelwatch.{js,wasm,css}) and target/{debug,release}/channelwatch.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-dev}
case "$profile" in
  dev) wprof=dev; wdir=debug; sprof=dev ;;
  release) wprof=wasm-release; wdir=wasm-release; sprof=release ;;
  *) echo "usage: scripts/build.sh [dev|release]" >&2; exit 2 ;;
esac

want=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  echo "wasm-bindgen $want is required (found: ${have:-none}); run scripts/setup.sh" >&2
  exit 1
fi

cargo build --locked -p frontend --lib --target wasm32-unknown-unknown --profile "$wprof"
# The splitter (a build tool with its own lockfile, built once for this machine).
cargo build --locked --release --quiet --manifest-path tools/wasm-split/Cargo.toml \
  --target-dir target/tools

site=target/site
tmp=target/site.tmp
rm -rf "$tmp"
mkdir -p "$tmp/pkg" "$tmp/split"
cp -r public/. "$tmp/"
# Split at the lazy routes: the main module (layout, dashboard, router) and one chunk
# per page, loaded when the page is first opened; then bind the main module.
target/tools/release/wasm-split "target/wasm32-unknown-unknown/$wdir/frontend.wasm" \
  "$tmp/split" ./channelwatch.js >/dev/null
wasm-bindgen --target web --no-typescript --keep-lld-exports --no-demangle \
  --out-dir "$tmp/pkg" --out-name channelwatch "$tmp/split/main.wasm"
mv "$tmp/pkg/channelwatch_bg.wasm" "$tmp/pkg/channelwatch.wasm"
rm "$tmp/split/main.wasm"
mv "$tmp/split"/* "$tmp/pkg/"
rmdir "$tmp/split"
if [ "$profile" = release ]; then
  # npm binaryen 132 (Debian's 108 breaks hydration silently; see DEVELOPERS.md).
  # No inlining of functions with one caller: -Oz alone inlines them, which makes the
  # file 80 KB larger once gzipped (measured: 615 → 534 KB).
  for w in "$tmp"/pkg/*.wasm; do
    wasm-opt -Oz --one-caller-inline-max-function-size=0 --low-memory-unused \
      --enable-bulk-memory --enable-nontrapping-float-to-int "$w" -o "$w"
  done
fi
cp style/main.css "$tmp/pkg/channelwatch.css"
rm -rf "$site"
mv "$tmp" "$site"

cargo build --locked -p server --bin channelwatch --profile "$sprof"
ls -l "$site/pkg"

#!/usr/bin/env bash
# Browser tests of the viewer and the review page in Debian's chromium
# (apt-get install chromium), driven by playwright-core from npm (no browser
# download). Builds tudi (debug) unless TUDI_BIN is set; screenshots and the
# server log go to target/browser-artifacts/. Called by .ci/run.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
if [ -z "${TUDI_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --locked --bin tudi)
  export TUDI_BIN="$ROOT/target/debug/tudi"
fi
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || { echo "chromium missing: apt-get install chromium"; exit 1; }
cd "$HERE"
if [ ! -d node_modules/playwright-core ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
rm -rf "$ROOT/target/browser-artifacts"
node --test --test-concurrency=1 browser.test.mjs

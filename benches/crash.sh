#!/usr/bin/env bash
# Crash test: CRASH_ROUNDS (50) rounds of `kill -9` at a random moment
# (0.1-3 s into the traffic) during a batch review and a loop of publishes,
# on one data folder, restarting each time; then every acknowledged review
# is there, `tudi audit verify` passes (after every kill), the catalog is
# consistent (version files on disk = files the catalog names, tmp/ empty,
# the republished layer serves its last acknowledged version or a later
# one, never a mix) and every layer's current version serves.
# Summary: target/crash/summary.json; server log: target/crash/server.log.
# Usage: bash benches/crash.sh   (TUDI_BIN=path to test a given binary)
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-3932}
OUT=target/crash
mkdir -p "$OUT"
: >"$OUT/server.log"
if [ -z "${TUDI_BIN:-}" ]; then
  cargo build --release --locked --quiet
  TUDI_BIN=target/release/tudi
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
DATA="$TMP/data"
key() { "$TUDI_BIN" keys create --role "$1" --label crash --data-dir "$DATA"; }
APPROVER=$(key approver); PUBLISHER=$(key publisher); ADMIN=$(key admin)
echo "crash: ${CRASH_ROUNDS:-50} rounds against $TUDI_BIN; $(nproc) cores; $(date -u +%FT%TZ)"
status=0
python3 benches/crash.py --bin "$TUDI_BIN" --data "$DATA" --port "$PORT" --rounds "${CRASH_ROUNDS:-50}" \
  --approver "$APPROVER" --publisher "$PUBLISHER" --admin "$ADMIN" \
  --applications fixtures/small/applications.geojson \
  --log "$OUT/server.log" --out "$OUT/summary.json" || status=$?
"$TUDI_BIN" audit verify --data-dir "$DATA" >"$OUT/audit.json" || { echo "FAIL: tudi audit verify"; status=1; }
if grep -q "panicked" "$OUT/server.log"; then
  echo "FAIL: the server log has a panic"; grep -m3 "panicked" "$OUT/server.log"; status=1
fi
if [ "$status" = 0 ]; then echo "crash: PASS"; else echo "crash: FAIL"; fi
exit $status

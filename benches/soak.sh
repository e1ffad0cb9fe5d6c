#!/usr/bin/env bash
# Soak test: 10 minutes (SOAK_SECONDS) of steady mixed traffic on loopback
# against a release build serving the bundled fixtures with a temporary
# data folder: tile viewports (~160 tiles/s), reviews (4/s, approver key),
# publish/rollback of a layer every 5 s (publisher key). Fails on any 5xx or
# 429, a lost request, a missing acknowledged review, a tile mixing two
# versions of the republished layer, or resident memory growing after
# warm-up. Summary: target/soak/summary.json; server log: target/soak/server.log.
# Usage: bash benches/soak.sh        (SOAK_SECONDS=60 for a short run;
#        TUDI_BIN=path to test a given binary instead of building one)
# Needs only python3 (standard library) and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-3931}
SECONDS_TOTAL=${SOAK_SECONDS:-600}
OUT=target/soak
mkdir -p "$OUT"
if [ -z "${TUDI_BIN:-}" ]; then
  cargo build --release --locked --quiet
  TUDI_BIN=target/release/tudi
fi
TMP=$(mktemp -d)
DATA="$TMP/data"
APPROVER=$("$TUDI_BIN" keys create --role approver --label soak --data-dir "$DATA")
PUBLISHER=$("$TUDI_BIN" keys create --role publisher --label soak --data-dir "$DATA")
"$TUDI_BIN" serve --bind 127.0.0.1:$PORT --layers layers --data-dir "$DATA" 2>"$OUT/server.log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 1 300); do curl -sf "127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.2; done
curl -sf "127.0.0.1:$PORT/health" >/dev/null || { echo "server did not become ready"; tail "$OUT/server.log"; exit 1; }
echo "soak: $SECONDS_TOTAL s against $TUDI_BIN (pid $PID) on port $PORT; $(nproc) cores; $(date -u +%FT%TZ)"
status=0
python3 benches/soak.py --port "$PORT" --pid "$PID" --seconds "$SECONDS_TOTAL" \
  --approver "$APPROVER" --publisher "$PUBLISHER" \
  --applications fixtures/small/applications.geojson --out "$OUT/summary.json" || status=$?
if grep -q "panicked" "$OUT/server.log"; then
  echo "FAIL: the server log has a panic"; grep -m3 "panicked" "$OUT/server.log"; status=1
fi
kill -TERM $PID; wait $PID || { echo "FAIL: the server did not shut down cleanly"; status=1; }
trap 'rm -rf "$TMP"' EXIT
"$TUDI_BIN" audit verify --data-dir "$DATA" >/dev/null || { echo "FAIL: tudi audit verify"; status=1; }
if [ "$status" = 0 ]; then echo "soak: PASS"; else echo "soak: FAIL"; fi
exit $status

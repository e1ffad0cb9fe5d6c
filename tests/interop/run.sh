#!/usr/bin/env bash
# Interoperability checks with clients nobody here wrote, against a running
# tudi over the bundled fixtures:
#   - GDAL's MVT driver (`ogrinfo`, Debian gdal-bin) reads a served tile, and
#     the TileJSON as its metadata (vector_layers, fields);
#   - @mapbox/vector-tile + pbf (npm) decode a composite tile with the
#     expected layers and features.
# Builds tudi (debug) unless TUDI_BIN is set; called by .ci/run.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"
if [ -z "${TUDI_BIN:-}" ]; then
  cargo build --locked --bin tudi
  TUDI_BIN="$ROOT/target/debug/tudi"
fi
command -v ogrinfo >/dev/null || { echo "ogrinfo missing: apt-get install gdal-bin"; exit 1; }

DATA="$(mktemp -d)"
LOG="$DATA/server.log"
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$DATA"
}
trap cleanup EXIT

KEY=""
if "$TUDI_BIN" --help | grep -qE '^\s+keys\s'; then
  # Restricted layers (parcels) need a key once access control is on.
  KEY="$("$TUDI_BIN" keys create --role approver --data-dir "$DATA" | tail -n 1)"
fi
"$TUDI_BIN" serve --bind 127.0.0.1:0 --data-dir "$DATA" >"$LOG" 2>&1 &
PID=$!
BASE=""
for _ in $(seq 1 600); do
  BASE="$(grep -oE 'listening on http://127\.0\.0\.1:[0-9]+' "$LOG" | head -n 1 | sed 's/listening on //' || true)"
  if [ -n "$BASE" ] && curl -fsS "$BASE/health" >/dev/null 2>&1; then break; fi
  kill -0 "$PID" 2>/dev/null || { cat "$LOG"; exit 1; }
  sleep 0.2
done
[ -n "$BASE" ] || { echo "tudi did not start"; cat "$LOG"; exit 1; }
echo "tudi at $BASE"

# The z15 tile over a fixture village with parcels (112.9369 E, 22.9630 N).
read -r X Y < <(python3 -c '
import math
lon, lat, z = 112.9369, 22.9630, 15
n = 2 ** z
x = int((lon + 180) / 360 * n)
y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
print(x, y)')
IDS="homestead_parcels,roads,villages,zoning"
TILE="$BASE/tiles/$IDS/15/$X/$Y.pbf"
AUTH=()
GDAL_AUTH=()
if [ -n "$KEY" ]; then
  AUTH=(--key "$KEY")
  GDAL_AUTH=(--config GDAL_HTTP_HEADERS "Authorization: Bearer $KEY")
fi
FAIL=0
check() { # name, command...
  local name="$1"; shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; FAIL=$((FAIL + 1)); fi
}

echo "== GDAL MVT driver: $TILE"
OUT="$DATA/ogrinfo-tile.txt"
ogrinfo "${GDAL_AUTH[@]}" -ro -so -al "MVT:$TILE" >"$OUT" 2>&1 || true
sed -n '1,60p' "$OUT"
for layer in homestead_parcels roads villages zoning; do
  check "ogrinfo reads layer $layer" grep -q "^Layer name: $layer" "$OUT"
done
check "ogrinfo: parcels have features" bash -c "awk '/^Layer name: homestead_parcels/{f=1} f&&/^Feature Count:/{print \$3; exit}' '$OUT' | grep -qE '^[1-9][0-9]*$'"
check "ogrinfo: Web Mercator" grep -qE 'Pseudo-Mercator|EPSG",3857|3857' "$OUT"

echo "== GDAL MVT driver with the TileJSON as metadata: $BASE/tiles/$IDS"
OUT="$DATA/ogrinfo-tilejson.txt"
ogrinfo "${GDAL_AUTH[@]}" -ro -so -oo "METADATA_FILE=/vsicurl/$BASE/tiles/$IDS" "MVT:$TILE" homestead_parcels >"$OUT" 2>&1 || true
sed -n '1,40p' "$OUT"
check "ogrinfo: zddm field of homestead_parcels" grep -qE '^zddm: String' "$OUT"
# Read from the tile alone, `floors` (integers) is typed Integer; declared
# "Number" in the TileJSON's vector_layers it is Real: GDAL used the TileJSON.
check "ogrinfo: field types from the TileJSON vector_layers" grep -qE '^floors: Real' "$OUT"
check "ogrinfo: no error reading the TileJSON" bash -c "! grep -qi 'error' '$OUT'"

echo "== @mapbox/vector-tile + pbf"
if [ ! -d "$HERE/node_modules/@mapbox/vector-tile" ] || [ "$HERE/package-lock.json" -nt "$HERE/node_modules/.package-lock.json" ]; then
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
fi
check "vector-tile decodes the composite tile" node "$HERE/decode.mjs" "$TILE" homestead_parcels:10 roads:1 villages:1 zoning:1 "${AUTH[@]}"
check "vector-tile decodes a public low-zoom tile" node "$HERE/decode.mjs" "$BASE/tiles/district_boundary,towns,rivers/8/208/111.pbf" district_boundary:1 towns:1 rivers:1 towns.label:7

if [ "$FAIL" -gt 0 ]; then echo "interop: $FAIL check(s) failed"; exit 1; fi
echo "interop: all checks passed"

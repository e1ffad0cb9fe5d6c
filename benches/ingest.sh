#!/usr/bin/env bash
# Ingest throughput: publishing the district's ~1 M homestead parcels as
# GeoJSON and as GeoPackage through tudi's HTTP API (validate, write the
# FlatGeobuf version, load and index it, commit, swap), against GDAL's
# ogr2ogr converting the same files to FlatGeobuf on the same machine, plus
# a 100k-parcel publish (the "served within 1 s" item of issue 4).
#
#   bash benches/ingest.sh            # prints a table; needs gdal-bin, curl
#
# Data: target/bench-data/district-42 (generated if missing, ~15 s) and
# GeoJSON/GeoPackage copies made once with ogr2ogr in target/bench-data/ingest.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v ogr2ogr >/dev/null || { echo "needs ogr2ogr (apt-get install gdal-bin)"; exit 1; }
cargo build --release --locked -q
BIN=target/release/tudi
DIST=target/bench-data/district-42
OUT=target/bench-data/ingest
mkdir -p "$OUT"
if [ ! -f "$DIST/homestead_parcels.fgb" ]; then
  "$BIN" fixtures --scale district --seed 42 --out "$DIST" >/dev/null
fi
[ -f "$OUT/parcels.geojson" ] || ogr2ogr -f GeoJSON "$OUT/parcels.geojson" "$DIST/homestead_parcels.fgb"
[ -f "$OUT/parcels.gpkg" ] || ogr2ogr -f GPKG "$OUT/parcels.gpkg" "$DIST/homestead_parcels.fgb"
[ -f "$OUT/parcels100k.geojson" ] || ogr2ogr -limit 100000 -f GeoJSON "$OUT/parcels100k.geojson" "$DIST/homestead_parcels.fgb"

secs() { python3 -c "import sys; print(f'{float(sys.argv[1]):.2f}')" "$1"; }

peer() { # ogr2ogr FILE -> FlatGeobuf, wall seconds
  local t0 t1
  rm -f "$OUT/peer.fgb"
  t0=$(date +%s.%N)
  ogr2ogr -f FlatGeobuf "$OUT/peer.fgb" "$1"
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1-$t0:.2f}')"
}

DATA=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; rm -rf "$DATA"' EXIT
KEY=$("$BIN" keys create --role publisher --data-dir "$DATA" 2>/dev/null)
PORT=3917
"$BIN" serve --no-review --bind 127.0.0.1:$PORT --data-dir "$DATA" --cache-mb 0 2>"$DATA/log" &
PID=$!
for _ in $(seq 100); do curl -sf localhost:$PORT/health >/dev/null && break; sleep 0.1; done

publish() { # FILE ID -> "seconds validate write load commit"
  local r
  r=$(curl -s -w '\n%{time_total}' -X POST -H "Authorization: Bearer $KEY" \
      -H 'content-type: application/octet-stream' --data-binary @"$1" \
      "localhost:$PORT/api/layers?id=$2&title=$2&category=bench")
  python3 - "$r" <<'EOF'
import json, sys
body, total = sys.argv[1].rsplit("\n", 1)
d = json.loads(body)
t = d.get("timings_ms") or {}
if "version" not in d:
    sys.exit("publish failed: " + body[:300])
print(f"{float(total):.2f} {t.get('validate_ms')} {t.get('write_ms')} {t.get('load_ms')} {t.get('commit_ms')} {d['report']['feature_count']}")
EOF
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%F)"
printf '%-28s %10s %9s %26s %12s\n' "input" "features" "tudi s" "(validate/write/load/commit ms)" "ogr2ogr s"
for f in parcels100k.geojson parcels.geojson parcels.gpkg; do
  id=$(echo "$f" | tr '.' '_' | tr 'A-Z' 'a-z')
  read -r total v w l c n < <(publish "$OUT/$f" "$id")
  p=$(peer "$OUT/$f")
  printf '%-28s %10s %9s %26s %12s\n' "$f ($(du -m "$OUT/$f" | cut -f1) MB)" "$n" "$total" "$v/$w/$l/$c" "$p"
done

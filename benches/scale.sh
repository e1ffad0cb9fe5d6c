#!/usr/bin/env bash
# District scale (issue 8, must-have 1): start-up time, load parallelism and
# resident memory of `tudi serve` over
#   (a) the 1 M-parcel layer alone (homestead_parcels of the district), and
#   (b) every service of the city scale: the district's 17 layers plus 602
#       thematic services (88 themes x 7 towns, 162 categories, ~3 M parcels)
#       from `tudi fixtures --scale city --seed 42` (generated on first run
#       into target/bench-data/city-42, ~1.3 GB, never committed).
# For each: seconds to `/health` ready (polled every 0.1 s; the progress it
# reports on the way is printed), layers, features, stored vertices (from the
# server's "layer loaded" log lines), VmRSS and VmHWM at ready, bytes of RSS
# per stored vertex, and CPU seconds / wall seconds of the load (cores used).
#
#   bash benches/scale.sh            # both runs
#   RUNS=city bash benches/scale.sh  # only (b)
#   RUNS=parcels TUDI_BIN=/tmp/tudi-old bash benches/scale.sh  # another build, not rebuilt
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
RUNS="${RUNS:-parcels city}"
DATA="${CITY_DATA:-$ROOT/target/bench-data/city-42}"
if [ -n "${TUDI_BIN:-}" ]; then
  BIN="$TUDI_BIN"
else
  cargo build --locked --release --bin tudi >&2
  BIN="$ROOT/target/release/tudi"
fi
if [ ! -f "$DATA/layers/homestead_parcels.toml" ] || [ ! -d "$DATA/thematic" ]; then
  echo "generating the city scale into $DATA" >&2
  "$BIN" fixtures --scale city --seed 42 --out "$DATA" >"$DATA.summary.json"
fi
TMP="$(mktemp -d)"
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# The parcels alone: a copy of their definition with an absolute source.
mkdir -p "$TMP/parcels-only"
sed "s|^source = \"\(.*\)\"|source = \"$DATA/layers/\1\"|" "$DATA/layers/homestead_parcels.toml" \
  >"$TMP/parcels-only/homestead_parcels.toml"

ticks_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

run() {
  local name="$1" layers="$2" log="$TMP/$1.log"
  rm -rf "$TMP/data"
  local t0; t0=$(date +%s.%N)
  "$BIN" serve --no-review --bind 127.0.0.1:0 --layers "$layers" --data-dir "$TMP/data" \
    >"$log" 2>&1 &
  PID=$!
  local base="" last="" ready=""
  for _ in $(seq 1 6000); do
    kill -0 "$PID" 2>/dev/null || { cat "$log" >&2; echo "server died" >&2; exit 1; }
    if [ -z "$base" ]; then
      base="$(grep -oE 'listening on http://127\.0\.0\.1:[0-9]+' "$log" | head -n 1 | sed 's/listening on //' || true)"
    fi
    if [ -n "$base" ]; then
      local code body
      body="$(curl -s -w ' %{http_code}' "$base/health" || true)"
      code="${body##* }"
      if [ "$code" = "200" ]; then ready=1; break; fi
      local p; p="$(sed -E 's/.*"progress":([0-9.e-]+).*/\1/' <<<"${body% *}")"
      if [ "$p" != "$last" ]; then
        printf '  %s: %6.1f s loading, progress %s\n' "$name" "$(echo "$(date +%s.%N) - $t0" | bc)" "$p" >&2
        last="$p"
      fi
    fi
    sleep 0.1
  done
  [ -n "$ready" ] || { echo "$name: not ready after 600 s" >&2; exit 1; }
  local t1; t1=$(date +%s.%N)
  local wall; wall=$(echo "$t1 - $t0" | bc)
  local cpu; cpu=$(echo "scale=2; $(ticks_of "$PID") / $(getconf CLK_TCK)" | bc)
  local rss hwm; rss=$(status_kb "$PID" VmRSS); hwm=$(status_kb "$PID" VmHWM)
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
  python3 - "$name" "$log" "$wall" "$cpu" "$rss" "$hwm" <<'PY'
import re, sys
name, log, wall, cpu, rss, hwm = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
layers = feats = verts = mem = 0
slowest = (0, "")
parcel_ms = None
for line in open(log, encoding="utf-8", errors="replace"):
    if "layer loaded" not in line:
        continue
    kv = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))
    layers += 1
    feats += int(kv["features"]); verts += int(kv["vertices"]); mem += int(kv["memory_bytes"])
    ms = int(kv["millis"])
    lid = kv["layer"].strip('"')
    if ms > slowest[0]:
        slowest = (ms, lid)
    if lid == "homestead_parcels":
        parcel_ms = ms
print(f"| {name} | {layers} | {feats:,} | {verts:,} | {wall:.1f} | {cpu / wall:.2f} | "
      f"{slowest[1]} {slowest[0] / 1000:.1f} s | {parcel_ms / 1000 if parcel_ms else 0:.1f} | "
      f"{rss / 1024:,.0f} | {hwm / 1024:,.0f} | {rss * 1024 / max(verts, 1):.0f} | {mem / max(verts, 1):.0f} |")
PY
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%F)"
echo
echo "| run | layers | features | stored vertices | s to ready | cores used | slowest layer | parcels layer s | VmRSS MiB | VmHWM MiB | RSS B/vertex | model B/vertex |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for r in $RUNS; do
  case "$r" in
    parcels) run "1 M parcels" "$TMP/parcels-only" ;;
    city) run "city: 619 services" "$DATA/layers" ;;
  esac
done

#!/usr/bin/env bash
# Load benchmark (issue 8, must-have 2): `wrk` (Debian, installed if missing)
# against a release `tudi serve` on the district data, over realistic tile
# lists: viewport grids (4 x 3 tiles of 512 px, a 1920 x 1080 screen) at each
# zoom z10-z17 around every town centre and every fourth village, each tile
# once, shuffled (seed 42). The layer is the 1 M-parcel `homestead_parcels`
# (as in the issue's anchors), requested with an approver's key (the layer
# is restricted: a viewer is answered 404).
#
#   cold: `--cache-mb 0`, every request renders;
#   warm: `--cache-mb 4096`, after one pass over the list, so every tile is
#         cached (raw and gzip);
# both with `Accept-Encoding: gzip`, at 1, 16 and 64 connections (one wrk
# thread), DUR seconds each (default 15). Prints one table: tiles/s,
# p50/p99/max latency, mean bytes per response, non-2xx answers, server RSS.
#
# Writes the lists to target/bench-data/tiles-z10-17.txt and tiles-z14-17.txt
# (generates target/bench-data/district-42 with `tudi fixtures --scale
# district --seed 42` if missing).
#
#   bash benches/load.sh                 # everything (~6 min plus priming)
#   DUR=30 CONC="16" bash benches/load.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
DUR="${DUR:-15}"
CONC="${CONC:-1 16 64}"
LISTS="${LISTS:-z14-17 z10-17}"
LAYER="${LAYER:-homestead_parcels}"
DATA="$ROOT/target/bench-data/district-42"
OUT="$ROOT/target/bench-data"
if ! command -v wrk >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
cargo build --locked --release --bin tudi >&2
BIN="$ROOT/target/release/tudi"
if [ ! -f "$DATA/layers/homestead_parcels.toml" ]; then
  "$BIN" fixtures --scale district --seed 42 --out "$DATA" --layers-dir "$DATA/layers" >/dev/null
fi

# The tile lists.
python3 - "$DATA" "$OUT" "$LAYER" <<'PY'
import json, math, random, sys
data, out, layer = sys.argv[1:4]

def centres(path, every):
    fc = json.load(open(f"{data}/{path}"))
    pts = []
    for i, f in enumerate(fc["features"]):
        if i % every:
            continue
        g = f["geometry"]
        polys = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
        ring = max((p[0] for p in polys), key=len)
        pts.append((sum(c[0] for c in ring) / len(ring), sum(c[1] for c in ring) / len(ring)))
    return pts

def tile(lon, lat, z):
    n = 2 ** z
    x = (lon + 180) / 360 * n
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return x, y

pts = centres("towns.geojson", 1) + centres("villages.geojson", 4)
tiles = set()
for lon, lat in pts:
    for z in range(10, 18):
        fx, fy = tile(lon, lat, z)
        x0, y0 = int(fx - 2), int(fy - 1.5)
        for dx in range(4):
            for dy in range(3):
                tiles.add((z, x0 + dx, y0 + dy))
full = sorted(tiles)
random.Random(42).shuffle(full)
for name, lo in (("z10-17", 10), ("z14-17", 14)):
    with open(f"{out}/tiles-{name}.txt", "w") as f:
        for z, x, y in full:
            if z >= lo:
                f.write(f"/tiles/{layer}/{z}/{x}/{y}.mvt\n")
    print(f"{name}: {sum(1 for t in full if t[0] >= lo)} tiles from {len(pts)} viewports", file=sys.stderr)
PY
# benches/compare.sh uses the lists only.
if [ "${LISTS_ONLY:-}" = 1 ]; then exit 0; fi

TMP="$(mktemp -d)"
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
KEY="$("$BIN" keys create --role approver --label load-bench --data-dir "$TMP/data" | tail -n 1)"


start_server() {
  "$BIN" serve --no-review --bind 127.0.0.1:0 --layers "$DATA/layers" --data-dir "$TMP/data" \
    --rate-limit 0 --cache-mb "$1" >"$TMP/server.log" 2>&1 &
  PID=$!
  BASE=""
  for _ in $(seq 1 3000); do
    kill -0 "$PID" 2>/dev/null || { cat "$TMP/server.log" >&2; exit 1; }
    [ -n "$BASE" ] || BASE="$(grep -oE 'listening on http://127\.0\.0\.1:[0-9]+' "$TMP/server.log" | head -n 1 | sed 's/listening on //' || true)"
    if [ -n "$BASE" ] && curl -sf "$BASE/health" >/dev/null; then return; fi
    sleep 0.2
  done
  echo "server not ready" >&2; exit 1
}
stop_server() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }
rss_mib() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$PID/status"; }

ROWS=()
bench() { # mode list conc
  local r
  r="$(TILE_LIST="$OUT/tiles-$2.txt" TUDI_KEY="$KEY" wrk -t1 -c"$3" -d"${DUR}s" --timeout 30s \
    -s "$ROOT/benches/tile_list.lua" "$BASE" | grep '^RESULT ' | sed 's/^RESULT //')"
  ROWS+=("$1|$2|$3|$(rss_mib)|$r")
  echo "  $1 $2 c=$3: $r" >&2
  # Refused requests measure the refusal, not the tiles.
  if ! grep -q '"non2xx":0,"errors":0' <<<"$r"; then echo "non-2xx answers or errors: stopping" >&2; exit 1; fi
}

echo "== cold (--cache-mb 0)" >&2
start_server 0
for l in $LISTS; do for c in $CONC; do bench cold "$l" "$c"; done; done
stop_server

echo "== warm (--cache-mb 4096, primed by one pass over each list)" >&2
start_server 4096
# One pass over each list, 8 at a time (wrk cannot do this: a thread's
# stop() ends its loop, but wrk still waits out its duration).
for l in $LISTS; do
  python3 - "$OUT/tiles-$l.txt" "$BASE" "$KEY" <<'PY'
import http.client, sys, threading, urllib.parse
lst, base, key = sys.argv[1:4]
u = urllib.parse.urlparse(base)
paths = [l.strip() for l in open(lst) if l.strip()]
def work(part):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    for p in part:
        c.request("GET", p, headers={"Accept-Encoding": "gzip", "Authorization": "Bearer " + key})
        c.getresponse().read()
ts = [threading.Thread(target=work, args=(paths[i::8],)) for i in range(8)]
for t in ts: t.start()
for t in ts: t.join()
PY
done
for l in $LISTS; do for c in $CONC; do bench warm "$l" "$c"; done; done
stop_server

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%F); wrk $(wrk -v 2>&1 | head -n 1 | awk '{print $2}'), ${DUR} s per row"
echo
echo "| cache | list | conns | tiles/s | p50 ms | p99 ms | max ms | bytes/tile | non-2xx | RSS MiB |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for row in "${ROWS[@]}"; do
  IFS='|' read -r mode list conc rss json <<<"$row"
  python3 - "$mode" "$list" "$conc" "$rss" "$json" <<'PY'
import json, sys
mode, lst, conc, rss, r = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
s = r["duration_us"] / 1e6
n = max(r["requests"], 1)
print(f"| {mode} | {lst} | {conc} | {r['requests'] / s:,.0f} | {r['p50_us'] / 1000:.1f} | {r['p99_us'] / 1000:.1f} | "
      f"{r['max_us'] / 1000:.0f} | {r['bytes'] / n:,.0f} | {r['non2xx'] + r['errors']} | {rss} |")
PY
done

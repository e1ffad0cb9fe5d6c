#!/usr/bin/env bash
# Peers side by side (issue 8, must-have 3): tudi, martin 1.14.0 and nginx on
# the same machine, in the same run, over the same data and tile lists.
#
# Data: the 1 M-parcel `homestead_parcels` layer of `tudi fixtures --scale
# district --seed 42` (generated into target/bench-data/district-42 if
# missing). Tile lists: the viewport grids of benches/load.sh (z14-z17 and
# z10-z17 around every town and every fourth village, shuffled, each tile
# once).
#
#   tudi            `tudi serve`, cold (--cache-mb 0) and warm (primed cache)
#   martin/PostGIS  martin 1.14.0 on a table loaded with ogr2ogr into a
#                   private PostgreSQL 15 + PostGIS 3.3 cluster (EPSG:4326,
#                   GiST index), cold (--cache-size 0) and warm (primed)
#   martin/GeoJSON  martin 1.14.0's in-memory GeoJSON source on the same
#                   parcels as GeoJSON (cold; seconds per tile: recorded)
#   nginx           the same tiles pre-rendered by tudi to files (raw and
#                   .gz, gzip_static), the ceiling for a cached tile
#
# Load: wrk, one thread, CONNS connections (default 16), DUR seconds per row
# (default 15), every request `Accept-Encoding: gzip` unless the row says
# "identity". The cold rows are measured twice: by wrk over a time window,
# and as complete passes over the list (benches/pass.py, CONNS at a time,
# every tile requested once per pass, tudi PASSES times (default 4), martin
# once): a wrk window leaves out whatever is still in flight when it ends,
# and martin's heaviest z10-z11 tiles take longer than the window (its
# slowest answer in a 15 s window was 3 s; the issue's anchor has 17 s). Installs wrk, nginx, PostgreSQL/PostGIS and ogr2ogr with
# apt-get and martin 1.14.0 with cargo (about 17 min on 2 cores, cached in
# target/bench-tools; MARTIN=/path/to/martin to use another binary).
#
#   bash benches/compare.sh
#   DUR=30 CONNS=64 bash benches/compare.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
DUR="${DUR:-15}"
CONNS="${CONNS:-16}"
GEOJSON_DUR="${GEOJSON_DUR:-30}"
PASSES="${PASSES:-4}"
DATA="$ROOT/target/bench-data/district-42"
OUT="$ROOT/target/bench-data"
TOOLS="$ROOT/target/bench-tools"
LAYER=homestead_parcels

# --- what it needs -----------------------------------------------------------
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v ogr2ogr >/dev/null || need+=(gdal-bin)
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
[ -f /usr/share/postgresql/15/extension/postgis.control ] || need+=(postgresql-15-postgis-3)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
MARTIN="${MARTIN:-$TOOLS/martin-1.14.0/bin/martin}"
if [ ! -x "$MARTIN" ]; then
  echo "building martin 1.14.0 (about 17 min on 2 cores, once)" >&2
  cargo install martin@1.14.0 --locked --no-default-features \
    --features postgres,geojson,mbtiles,pmtiles,styles,sprites,fonts,metrics,webui \
    --root "$TOOLS/martin-1.14.0" --target-dir "$TOOLS/martin-target" >&2
fi
cargo build --locked --release --bin tudi >&2
BIN="$ROOT/target/release/tudi"
if [ ! -f "$DATA/layers/homestead_parcels.toml" ]; then
  "$BIN" fixtures --scale district --seed 42 --out "$DATA" --layers-dir "$DATA/layers" >/dev/null
fi
# The tile lists (and nothing else) from load.sh's generator.
LISTS_ONLY=1 bash "$ROOT/benches/load.sh" >&2

TMP="$(mktemp -d)"
chmod 755 "$TMP"
PIDS=()
PG=""
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  if [ -n "$PG" ]; then pg_as /usr/lib/postgresql/15/bin/pg_ctl -D "$PG" -m immediate stop >/dev/null 2>&1 || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# PostgreSQL refuses to run as root: the cluster belongs to `postgres` then.
pg_as() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
rss_mib() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status" 2>/dev/null || echo "-"; }
wait_http() { # url pid
  for _ in $(seq 1 3000); do
    kill -0 "$2" 2>/dev/null || { echo "server for $1 died" >&2; exit 1; }
    curl -s -o /dev/null "$1" && return
    sleep 0.2
  done
  echo "$1 not up" >&2; exit 1
}

# --- the same parcels for every peer -----------------------------------------
SRC="$(realpath "$DATA/layers/$(sed -nE 's/^source = "(.*)"/\1/p' "$DATA/layers/homestead_parcels.toml" | head -n 1)")"
GJ="$OUT/homestead_parcels-4326.geojson"
if [ ! -f "$GJ" ]; then
  echo "writing $GJ for martin's GeoJSON source" >&2
  ogr2ogr -f GeoJSON -t_srs EPSG:4326 -lco RFC7946=YES "$GJ.part" "$SRC" -nln "$LAYER"
  mv "$GJ.part" "$GJ"
fi

# --- PostgreSQL + PostGIS, private cluster -----------------------------------
PG="$TMP/pg"
mkdir -p "$PG"
[ "$(id -u)" = 0 ] && chown postgres "$PG" "$TMP"
PGPORT="$(free_port)"
pg_as /usr/lib/postgresql/15/bin/initdb -D "$PG" -A trust -U postgres >/dev/null
pg_as /usr/lib/postgresql/15/bin/pg_ctl -D "$PG" -l "$PG/log" -w \
  -o "-p $PGPORT -k $TMP -c listen_addresses=127.0.0.1 -c shared_buffers=1GB -c max_connections=200" start >/dev/null
PGURL="postgresql://postgres@127.0.0.1:$PGPORT/postgres"
psql -q "$PGURL" -c "CREATE EXTENSION postgis" >/dev/null
t0=$(date +%s.%N)
ogr2ogr -f PostgreSQL "PG:host=127.0.0.1 port=$PGPORT user=postgres dbname=postgres" "$SRC" \
  -t_srs EPSG:4326 -nln "$LAYER" -lco GEOMETRY_NAME=geom -lco SPATIAL_INDEX=GIST -lco FID=gid \
  -nlt PROMOTE_TO_MULTI --config PG_USE_COPY YES
psql -q "$PGURL" -c "ANALYZE $LAYER" >/dev/null
echo "PostGIS: $(psql -tA "$PGURL" -c "SELECT count(*) FROM $LAYER") parcels loaded in $(echo "$(date +%s.%N) - $t0" | bc) s" >&2

# --- wrk over a list ---------------------------------------------------------
ROWS=()
# bench label cache list base prefix suffix pid [encoding] [duration]
bench() {
  local label="$1" cache="$2" list="$3" base="$4" prefix="$5" suffix="$6" pid="$7"
  local enc="${8:-gzip}" dur="${9:-$DUR}" r
  r="$(TILE_LIST="$OUT/tiles-$list.txt" PREFIX="$prefix" SUFFIX="$suffix" ENCODING="$enc" \
    wrk -t1 -c"$CONNS" -d"${dur}s" --timeout 60s -s "$ROOT/benches/tile_list.lua" "$base" | grep '^RESULT ' | sed 's/^RESULT //')"
  ROWS+=("$label|$cache|$list|$enc|wrk ${dur} s|$(rss_mib "$pid")|$r")
  echo "  $label $cache $list $enc: $r" >&2
}
# Complete passes over a list (every tile once per pass), CONNS at a time.
# pass_bench label cache list base prefix suffix pid passes
pass_bench() {
  local label="$1" cache="$2" list="$3" base="$4" prefix="$5" suffix="$6" pid="$7" passes="$8" r
  r="$(python3 "$ROOT/benches/pass.py" "$OUT/tiles-$list.txt" "$base" --prefix "$prefix" --suffix "$suffix" \
    --conns "$CONNS" --passes "$passes" --timeout 900 | grep '^RESULT ' | sed 's/^RESULT //')"
  local times="$passes passes"
  [ "$passes" = 1 ] && times="1 pass"
  ROWS+=("$label|$cache|$list|gzip|$times|$(rss_mib "$pid")|$r")
  echo "  $label $cache $list gzip, $times: $r" >&2
}
# One pass over a list, 8 at a time, gzip accepted (wrk cannot do this: a
# thread's stop() ends its loop, but wrk still waits out its duration).
prime() { # list base prefix suffix
  python3 - "$OUT/tiles-$1.txt" "$2" "$3" "$4" <<'PY'
import http.client, re, sys, threading, urllib.parse
lst, base, prefix, suffix = sys.argv[1:5]
u = urllib.parse.urlparse(base)
paths = []
for line in open(lst):
    m = re.search(r"/(\d+)/(\d+)/(\d+)\.mvt$", line.strip())
    if m:
        paths.append(f"{prefix}{m[1]}/{m[2]}/{m[3]}{suffix}")
def work(part):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    for p in part:
        c.request("GET", p, headers={"Accept-Encoding": "gzip"})
        c.getresponse().read()
ts = [threading.Thread(target=work, args=(paths[i::8],)) for i in range(8)]
for t in ts: t.start()
for t in ts: t.join()
PY
}

# --- tudi --------------------------------------------------------------------
tudi_up() {
  local port; port="$(free_port)"
  "$BIN" serve --no-review --bind "127.0.0.1:$port" --layers "$TMP/tudi-layers" --data-dir "$TMP/tudi" \
    --rate-limit 0 --cache-mb "$1" >"$TMP/tudi.log" 2>&1 &
  TPID=$!; PIDS+=("$TPID")
  TBASE="http://127.0.0.1:$port"
  for _ in $(seq 1 3000); do
    kill -0 "$TPID" 2>/dev/null || { cat "$TMP/tudi.log" >&2; exit 1; }
    curl -sf "$TBASE/health" >/dev/null && return
    sleep 0.2
  done
}
# The parcels alone, public (peers have no access control to compare with).
mkdir -p "$TMP/tudi-layers"
sed -e "s|^source = \"\(.*\)\"|source = \"$SRC\"|" -e 's|^access = .*|access = "public"|' -e '/^\[mask\]/,$d' \
  "$DATA/layers/homestead_parcels.toml" >"$TMP/tudi-layers/homestead_parcels.toml"
echo "== tudi cold" >&2
tudi_up 0
for l in z14-17 z10-17; do bench tudi cold "$l" "$TBASE" "/tiles/$LAYER/" ".mvt" "$TPID"; done
for l in z14-17 z10-17; do pass_bench tudi cold "$l" "$TBASE" "/tiles/$LAYER/" ".mvt" "$TPID" "$PASSES"; done
kill "$TPID"; wait "$TPID" 2>/dev/null || true
echo "== tudi warm" >&2
tudi_up 4096
for l in z14-17 z10-17; do prime "$l" "$TBASE" "/tiles/$LAYER/" ".mvt"; done
for l in z14-17 z10-17; do bench tudi warm "$l" "$TBASE" "/tiles/$LAYER/" ".mvt" "$TPID"; done
bench tudi warm z14-17 "$TBASE" "/tiles/$LAYER/" ".mvt" "$TPID" identity

# --- nginx: tudi's tiles as files ---------------------------------------------
echo "== writing the tiles to files for nginx" >&2
python3 - "$TBASE" "$TMP/www" "$OUT/tiles-z10-17.txt" "$LAYER" <<'PY'
import gzip, http.client, os, sys, urllib.parse
base, www, lst, layer = sys.argv[1:5]
u = urllib.parse.urlparse(base)
c = http.client.HTTPConnection(u.hostname, u.port)
n = 0
for line in open(lst):
    path = line.strip()
    if not path:
        continue
    c.request("GET", path, headers={"Accept-Encoding": "identity"})
    r = c.getresponse()
    body = r.read()
    z, x, y = path.rsplit("/", 3)[1:]
    d = os.path.join(www, "tiles", layer, z, x)
    os.makedirs(d, exist_ok=True)
    f = os.path.join(d, y)
    if r.status == 200:
        open(f, "wb").write(body)
        open(f + ".gz", "wb").write(gzip.compress(body, 6))
        n += 1
print(f"{n} tiles written", file=sys.stderr)
PY
kill "$TPID"; wait "$TPID" 2>/dev/null || true
NPORT="$(free_port)"
cat >"$TMP/nginx.conf" <<NGX
worker_processes auto;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on; tcp_nopush on; keepalive_requests 1000000;
  types { application/vnd.mapbox-vector-tile mvt; }
  default_type application/vnd.mapbox-vector-tile;
  server {
    listen 127.0.0.1:$NPORT;
    root $TMP/www;
    gzip_static on;
    location / { try_files \$uri =204; }
  }
}
NGX
"$NGINX" -c "$TMP/nginx.conf" -p "$TMP" &
NPID=$!; PIDS+=("$NPID")
wait_http "http://127.0.0.1:$NPORT/" "$NPID"
echo "== nginx" >&2
for l in z14-17 z10-17; do bench nginx files "$l" "http://127.0.0.1:$NPORT" "/tiles/$LAYER/" ".mvt" "$NPID"; done
bench nginx files z14-17 "http://127.0.0.1:$NPORT" "/tiles/$LAYER/" ".mvt" "$NPID" identity
kill "$NPID"; wait "$NPID" 2>/dev/null || true

# --- martin on PostGIS ----------------------------------------------------------
martin_up() { # cache-mb args...
  local port; port="$(free_port)"
  local cache="$1"; shift
  "$MARTIN" --listen-addresses "127.0.0.1:$port" --cache-size "$cache" --workers 2 "$@" >"$TMP/martin.log" 2>&1 &
  MPID=$!; PIDS+=("$MPID")
  MBASE="http://127.0.0.1:$port"
  wait_http "$MBASE/catalog" "$MPID"
}
echo "== martin + PostGIS cold" >&2
martin_up 0 --pool-size 20 "$PGURL"
for l in z14-17 z10-17; do bench "martin+PostGIS" cold "$l" "$MBASE" "/$LAYER/" "" "$MPID"; done
for l in z14-17 z10-17; do pass_bench "martin+PostGIS" cold "$l" "$MBASE" "/$LAYER/" "" "$MPID" 1; done
kill "$MPID"; wait "$MPID" 2>/dev/null || true
echo "== martin + PostGIS warm" >&2
martin_up 4096 --pool-size 20 "$PGURL"
prime z14-17 "$MBASE" "/$LAYER/" ""
bench "martin+PostGIS" warm z14-17 "$MBASE" "/$LAYER/" "" "$MPID"
bench "martin+PostGIS" warm z14-17 "$MBASE" "/$LAYER/" "" "$MPID" identity
kill "$MPID"; wait "$MPID" 2>/dev/null || true

# --- martin's GeoJSON source ---------------------------------------------------
echo "== martin GeoJSON (loading $(du -h "$GJ" | cut -f1))" >&2
t0=$(date +%s.%N)
martin_up 0 "$GJ"
echo "martin GeoJSON ready in $(echo "$(date +%s.%N) - $t0" | bc) s" >&2
GSRC="$(curl -s "$MBASE/catalog" | python3 -c 'import json,sys; print(next(iter(json.load(sys.stdin)["tiles"])))')"
bench "martin GeoJSON" cold z14-17 "$MBASE" "/$GSRC/" "" "$MPID" gzip "$GEOJSON_DUR"
kill "$MPID"; wait "$MPID" 2>/dev/null || true

# --- export: tudi export against martin-cp on the same box and zooms -------------
EXPORT_MINZOOM="${EXPORT_MINZOOM:-12}"
EXPORT_MAXZOOM="${EXPORT_MAXZOOM:-16}"
BBOX="$(psql -tA "$PGURL" -c "SELECT concat_ws(',', ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)) FROM (SELECT ST_Extent(geom) e FROM $LAYER) t")"
EXPORTS=()
echo "== export z$EXPORT_MINZOOM-$EXPORT_MAXZOOM over $BBOX" >&2
t0=$(date +%s.%N)
"$BIN" export "$TMP/tudi.mbtiles" --layers "$LAYER" --layers-dir "$TMP/tudi-layers" --bbox "$BBOX" \
  --minzoom "$EXPORT_MINZOOM" --maxzoom "$EXPORT_MAXZOOM" --quiet >"$TMP/tudi-export.json"
EXPORTS+=("tudi export (from the source file, layer load included)|$(echo "$(date +%s.%N) - $t0" | bc)|$TMP/tudi.mbtiles")
t0=$(date +%s.%N)
"$(dirname "$MARTIN")/martin-cp" --source "$LAYER" --output-file "$TMP/martin.mbtiles" --mbtiles-type flat \
  --bbox "$BBOX" --min-zoom "$EXPORT_MINZOOM" --max-zoom "$EXPORT_MAXZOOM" --concurrency 8 --pool-size 20 "$PGURL" >"$TMP/martin-cp.log" 2>&1
EXPORTS+=("martin-cp (PostGIS, 8 concurrent)|$(echo "$(date +%s.%N) - $t0" | bc)|$TMP/martin.mbtiles")

# --- the table -------------------------------------------------------------------
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%F %H:%M') UTC"
echo "wrk $(wrk -v 2>&1 | head -n 1 | awk '{print $2}'), 1 thread, $CONNS connections, ${DUR} s per row; $("$MARTIN" --version 2>&1 | head -n 1); $("$NGINX" -v 2>&1 | sed 's/.*: //'); PostGIS $(psql -tA "$PGURL" -c 'SELECT postgis_lib_version()'); lists: $(wc -l <"$OUT/tiles-z14-17.txt") tiles z14-17, $(wc -l <"$OUT/tiles-z10-17.txt") tiles z10-17"
echo
echo "| server | cache | list | encoding | run | answers | tiles/s | p50 ms | p99 ms | max ms | bytes/tile | non-2xx | RSS MiB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for row in "${ROWS[@]}"; do
  IFS='|' read -r label cache list enc run rss json <<<"$row"
  python3 - "$label" "$cache" "$list" "$enc" "$run" "$rss" "$json" <<'PY'
import json, sys
label, cache, lst, enc, run, rss, r = sys.argv[1:7] + [json.loads(sys.argv[7])]
s = r["duration_us"] / 1e6
n = max(r["requests"], 1)
print(f"| {label} | {cache} | {lst} | {enc} | {run} | {r['requests']:,} | {r['requests'] / s:,.0f} | {r['p50_us'] / 1000:.1f} | "
      f"{r['p99_us'] / 1000:.1f} | {r['max_us'] / 1000:.0f} | {r['bytes'] / n:,.0f} | {r['non2xx'] + r['errors']} | {rss} |")
PY
done
echo
# Ratios between rows of this run: cold tudi against martin+PostGIS (same
# list and method), warm tudi against nginx (same list and encoding).
printf '%s\n' "${ROWS[@]}" | python3 -c '
import json, sys
rate = {}
for line in sys.stdin:
    label, cache, lst, enc, run, rss, r = line.rstrip("\n").split("|", 6)
    r = json.loads(r)
    rate[(label, cache, lst, enc, "wrk window" if run.startswith("wrk") else "complete passes")] = r["requests"] / (r["duration_us"] / 1e6)
for (label, cache, lst, enc, how), v in sorted(rate.items()):
    if label != "tudi":
        continue
    if cache == "cold":
        m = rate.get(("martin+PostGIS", "cold", lst, enc, how))
        if m:
            print(f"cold {lst} ({how}): tudi {v:,.0f} / martin+PostGIS {m:,.0f} tiles/s = {v / m:.1f}x")
    else:
        n = rate.get(("nginx", "files", lst, enc, how))
        if n:
            print(f"warm {lst} {enc}: tudi {v:,.0f} / nginx {n:,.0f} = {100 * v / n:.0f}%")
'
echo
echo "Export of $LAYER, z$EXPORT_MINZOOM-$EXPORT_MAXZOOM over $BBOX into MBTiles:"
echo
echo "| tool | seconds | tiles | bytes |"
echo "|---|---|---|---|"
for row in "${EXPORTS[@]}"; do
  IFS='|' read -r label secs file <<<"$row"
  python3 - "$label" "$secs" "$file" <<'PY'
import os, sqlite3, sys
label, secs, f = sys.argv[1], float(sys.argv[2]), sys.argv[3]
n = sqlite3.connect(f).execute("SELECT count(*) FROM tiles").fetchone()[0]
print(f"| {label} | {secs:.1f} | {n:,} | {os.path.getsize(f):,} |")
PY
done

#!/usr/bin/env bash
# Two tudi instances on one PostgreSQL/PostGIS (issue 7): (a) publish
# propagation: a new version published on A, B's TileJSON polled every
# 10 ms until it serves the new version tag (N times, p50/max); (b) review
# throughput (POST /api/reviews, wrk, 16 connections in all, 15 s) on one
# instance, then on two at once (8 connections each, summed), then the audit
# chain verified (API and `tudi audit verify --store`). Prints one table.
#
# A private PostgreSQL 15 + PostGIS cluster (initdb/pg_ctl on a free port,
# as the `postgres` user when root; default settings, fsync and
# synchronous_commit on), removed at the end. Data: the district
# (target/bench-data/district-42, generated if missing; ~20 s to load per
# instance), or the small bundled fixtures with DATA=layers.
# Usage: bash benches/instances.sh   (N=10 publishes, DURATION=15s)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10}
DURATION=${DURATION:-15s}
DATA=${DATA:-target/bench-data/district-42}
PGBIN=/usr/lib/postgresql/15/bin
BIN=./target/release/tudi
if ! command -v wrk >/dev/null; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null; fi
cargo build --release --quiet
if [ "$DATA" = layers ]; then
  LAYERS=layers; APPS=""
else
  if [ ! -f "$DATA/layers/homestead_parcels.toml" ]; then
    $BIN fixtures --scale district --seed 42 --out "$DATA" --layers-dir "$DATA/layers" >/dev/null
  fi
  LAYERS="$DATA/layers"; APPS="$DATA/applications.geojson"
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

TMP=$(mktemp -d /tmp/tudi-bench-XXXXXX)
PIDS=()
AS=()
if [ "$(id -u)" = 0 ]; then chown postgres "$TMP"; AS=(runuser -u postgres --); fi
PGPORT=$(free_port)
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  "${AS[@]}" "$PGBIN/pg_ctl" -w -m immediate -D "$TMP/pg" stop >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
"${AS[@]}" "$PGBIN/initdb" -A trust -U postgres -E UTF8 -D "$TMP/pg" >/dev/null
"${AS[@]}" "$PGBIN/pg_ctl" -w -t 60 -l "$TMP/pg.log" -D "$TMP/pg" \
  -o "-p $PGPORT -k $TMP -c listen_addresses=127.0.0.1 -c max_connections=100" start >/dev/null
STORE="postgres://postgres@127.0.0.1:$PGPORT/postgres"

start_instance() { # name port
  mkdir -p "$TMP/$1"
  TUDI_STORE=$STORE $BIN serve --bind "127.0.0.1:$2" --layers "$LAYERS" --data-dir "$TMP/$1" \
    --rate-limit 0 2>"$TMP/$1.log" &
  PIDS+=($!)
}
wait_ready() { # port log
  for _ in $(seq 1 600); do
    curl -sf "127.0.0.1:$1/health" >/dev/null && return 0
    sleep 0.5
  done
  echo "instance on $1 not ready:" >&2; tail -5 "$2" >&2; exit 1
}
PA=$(free_port); PB=$(free_port)
t0=$(date +%s.%N)
start_instance a "$PA"; wait_ready "$PA" "$TMP/a.log"
t1=$(date +%s.%N)
start_instance b "$PB"; wait_ready "$PB" "$TMP/b.log"
t2=$(date +%s.%N)
KEY=$($BIN keys create --role admin --label bench --store "$STORE" 2>/dev/null)

# (a) publish propagation.
python3 - "$PA" "$PB" "$KEY" "$N" "$TMP/propagation.txt" <<'PY'
import http.client, json, sys, time
pa, pb, key, n, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
a = http.client.HTTPConnection("127.0.0.1", int(pa), timeout=60)
b = http.client.HTTPConnection("127.0.0.1", int(pb), timeout=60)
def body(i):
    x = 113.0 + 0.001 * i
    feats = [{"type": "Feature", "properties": {"n": j, "name": f"p{i}-{j}"},
              "geometry": {"type": "Polygon", "coordinates": [[[x + j * 1e-4, 23.0], [x + j * 1e-4 + 5e-5, 23.0],
                  [x + j * 1e-4 + 5e-5, 23.00005], [x + j * 1e-4, 23.00005], [x + j * 1e-4, 23.0]]]}}
             for j in range(200)]
    return json.dumps({"type": "FeatureCollection", "features": feats})
def post(path, data):
    a.request("POST", path, body=data, headers={"Authorization": "Bearer " + key,
              "Content-Type": "application/geo+json"})
    r = a.getresponse(); text = r.read()
    if r.status not in (200, 201): sys.exit(f"publish {path}: {r.status} {text[:300]}")
    return json.loads(text)
def tag_on_b():
    b.request("GET", "/tiles/bench_pub")
    r = b.getresponse(); text = r.read()
    if r.status != 200: return None
    url = json.loads(text)["tiles"][0]
    return url.split("?v=")[1] if "?v=" in url else None
post("/api/layers?id=bench_pub&title=Bench&category=Bench", body(0))
version, prop, pub = 1, [], []
for i in range(1, n + 1):
    version += 1
    s = time.monotonic()
    post("/api/layers/bench_pub/versions", body(i))
    done = time.monotonic()
    while True:
        t = tag_on_b()
        if t and t.startswith(f"{version}."): break
        if time.monotonic() - done > 30: sys.exit(f"B never served v{version}")
        time.sleep(0.01)
    seen = time.monotonic()
    pub.append(done - s); prop.append(seen - done)
def p50(v): v = sorted(v); return v[len(v) // 2]
with open(out, "w") as f:
    f.write(f"{p50(prop)*1000:.0f} {max(prop)*1000:.0f} {p50(pub)*1000:.0f} {max(pub)*1000:.0f}\n")
PY

# (b) review throughput.
python3 - "$APPS" "$TMP/body.json" <<'PY'
import json, sys
apps, out = sys.argv[1], sys.argv[2]
if apps:
    feats = json.load(open(apps))["features"]
    f = next(f for f in feats if f["properties"]["label"]["expect_outcome"] == "pass")
    body = {"plot": f["geometry"], "applicant": f["properties"]["applicant"],
            "application": f["properties"]["application"]}
else:
    x, y = 112.95, 22.93
    body = {"plot": {"type": "Polygon", "coordinates": [[[x, y], [x + 1e-4, y], [x + 1e-4, y + 1e-4], [x, y + 1e-4], [x, y]]]},
            "applicant": {"household_id": "H1", "name": "测试"},
            "application": {"terrain_class": "plain", "floors": 2, "floor_area_m2": 100}}
json.dump(body, open(out, "w"))
PY
cat > "$TMP/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
local f = io.open("$TMP/body.json", "r"); wrk.body = f:read("*a"); f:close()
LUA
run_wrk() { # port connections out
  wrk -t1 -c"$2" -d"$DURATION" --latency -s "$TMP/post.lua" "http://127.0.0.1:$1/api/reviews" >"$3"
  if grep -q 'Non-2xx\|Socket errors' "$3"; then echo "errors in $3:" >&2; cat "$3" >&2; exit 1; fi
}
rps() { awk '/^Requests\/sec/ {print $2}' "$1"; }
p50lat() { awk '/ 50%/ {print $2}' "$1"; }
p99lat() { awk '/ 99%/ {print $2}' "$1"; }
# Committed transactions in the database (all instances' audit group
# commits, plus a few key lookups and re-checks): reviews per commit.
commits() {
  "${AS[@]}" "$PGBIN/psql" -h "$TMP" -p "$PGPORT" -U postgres -d postgres -XAtq \
    -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'postgres'"
}
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
C0=$(commits)
run_wrk "$PA" 16 "$TMP/one.txt"
sleep 1; C1=$(commits)
run_wrk "$PA" 8 "$TMP/two-a.txt" & W1=$!
run_wrk "$PB" 8 "$TMP/two-b.txt" & W2=$!
wait $W1; wait $W2
sleep 1; C2=$(commits)
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
VERIFY=$(curl -sf -H "Authorization: Bearer $KEY" "127.0.0.1:$PB/api/audit/verify")
CLI=$($BIN audit verify --store "$STORE" 2>/dev/null || echo '{"ok": false}')

read -r PROP50 PROPMAX PUB50 PUBMAX <"$TMP/propagation.txt"
python3 - <<PY
one, a, b = float("$(rps "$TMP/one.txt")"), float("$(rps "$TMP/two-a.txt")"), float("$(rps "$TMP/two-b.txt")")
d = float("$DURATION".rstrip("s"))
c1, c2 = $C1 - $C0, $C2 - $C1
import json
v, c = json.loads('''$VERIFY'''), json.loads('''$CLI''')
print("data: $LAYERS; start-up A $(python3 -c "print(f'{$t1-$t0:.1f}')") s, B $(python3 -c "print(f'{$t2-$t1:.1f}')") s")
print("machine: $(nproc) cores; load average before the wrk runs $LOAD0, after $LOAD1")
print(f"| measurement | result |")
print(f"|---|---|")
print(f"| publish on A (200 polygons), request time p50 / max | $PUB50 / $PUBMAX ms |")
print(f"| publish on A served by B (TileJSON tag, polled every 10 ms), p50 / max of $N | $PROP50 / $PROPMAX ms |")
print(f"| reviews/s, 1 instance, 16 connections | {one:.0f} (p50 $(p50lat "$TMP/one.txt"), p99 $(p99lat "$TMP/one.txt")) |")
print(f"| reviews/s, 2 instances, 8 + 8 connections | {a+b:.0f} = {a:.0f} + {b:.0f} (p50 $(p50lat "$TMP/two-a.txt") / $(p50lat "$TMP/two-b.txt"), p99 $(p99lat "$TMP/two-a.txt") / $(p99lat "$TMP/two-b.txt")) |")
print(f"| reviews per database commit (audit group commit), 1 / 2 instances | {one*d/max(c1,1):.1f} / {(a+b)*d/max(c2,1):.1f} ({c1/d:.0f} / {c2/d:.0f} commits/s) |")
print(f"| audit chain after (API on B / tudi audit verify --store) | ok {v['ok']} / {c['ok']}, {v['entries']} entries |")
PY

#!/usr/bin/env bash
# A/B of two tudi binaries on cold tiles: serves the district parcels (public
# copy, --cache-mb 0) with each binary in turn and requests the z14-z17
# viewport list of benches/load.sh twice, one connection, timing the second
# pass per zoom, and the server's CPU seconds over that pass (steadier than
# wall time when other work shares the cores). Alternate the binaries and
# repeat: runs vary ~10% here. ENCODING=gzip (or br) asks for that encoding
# (the cold path then includes compression).
# CONNS=N instead runs wrk with N connections for DUR seconds (default 12)
# over the list, gzip accepted, and prints tiles/s, p50/p99/max latency,
# bytes per tile and the server's CPU seconds. SERVER_ARGS adds options to
# `tudi serve` (e.g. "--max-renders 2").
#
#   bash benches/tiles_ab.sh /tmp/tudi-old /tmp/tudi-new /tmp/tudi-old /tmp/tudi-new
#   CONNS=16 bash benches/tiles_ab.sh /tmp/tudi-old /tmp/tudi-new /tmp/tudi-old /tmp/tudi-new
# (needs target/bench-data from benches/load.sh or benches/compare.sh)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
DATA="$ROOT/target/bench-data/district-42"
LIST="$ROOT/target/bench-data/tiles-z14-17.txt"
[ -f "$LIST" ] || LISTS_ONLY=1 bash benches/load.sh >&2
for BIN in "$@"; do
  TMP=$(mktemp -d)
  mkdir -p "$TMP/layers"
  SRC=$(realpath "$DATA/layers/$(sed -nE 's/^source = "(.*)"/\1/p' "$DATA/layers/homestead_parcels.toml")")
  sed -e "s|^source = \"\(.*\)\"|source = \"$SRC\"|" -e 's|^access = .*|access = "public"|' -e '/^\[mask\]/,$d' \
    "$DATA/layers/homestead_parcels.toml" >"$TMP/layers/homestead_parcels.toml"
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$BIN" serve --no-review --bind "127.0.0.1:$PORT" --layers "$TMP/layers" --data-dir "$TMP/data" \
    --rate-limit 0 --cache-mb 0 ${SERVER_ARGS:-} 2>"$TMP/log" &
  PID=$!
  for _ in $(seq 1 300); do curl -sf "127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.5; done
  echo -n "$BIN: "
  if [ -n "${CONNS:-}" ]; then
    command -v wrk >/dev/null || { echo "CONNS needs wrk (benches/load.sh installs it)" >&2; exit 1; }
    c0=$(awk '{print $14 + $15}' "/proc/$PID/stat")
    r=$(TILE_LIST="$LIST" wrk -t1 -c"$CONNS" -d"${DUR:-12}s" --timeout 30s -s benches/tile_list.lua \
      "http://127.0.0.1:$PORT" | grep '^RESULT ' | sed 's/^RESULT //')
    c1=$(awk '{print $14 + $15}' "/proc/$PID/stat")
    python3 -c 'import json, os, sys
d = json.loads(sys.argv[1]); cpu = (int(sys.argv[3]) - int(sys.argv[2])) / os.sysconf("SC_CLK_TCK")
print("c=%s tiles/s %.0f p50 %.1f p99 %.1f max %.0f ms, %.0f B/tile, non-2xx %d, server cpu %.1fs" % (sys.argv[4],
      d["requests"] / d["duration_us"] * 1e6, d["p50_us"] / 1e3, d["p99_us"] / 1e3, d["max_us"] / 1e3,
      d["bytes"] / d["requests"], d["non2xx"], cpu))' "$r" "$c0" "$c1" "$CONNS"
    kill "$PID"; wait "$PID" 2>/dev/null || true; rm -rf "$TMP"
    continue
  fi
  python3 - "$PORT" "$LIST" "$PID" "${ENCODING:-identity}" <<'PY'
import http.client, os, sys, time
def cpu():
    f = open(f"/proc/{sys.argv[3]}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
paths = [l.strip() for l in open(sys.argv[2]) if l.strip()]
tot = {}
for rnd in range(2):
    if rnd == 1:
        c0 = cpu()
    for p in paths:
        z = int(p.split("/")[3])
        t = time.perf_counter()
        c.request("GET", p, headers={"Accept-Encoding": sys.argv[4]})
        r = c.getresponse(); r.read()
        if rnd == 1:
            tot[z] = tot.get(z, 0) + time.perf_counter() - t
print(" ".join(f"z{z}:{v:.2f}s" for z, v in sorted(tot.items())), f"total {sum(tot.values()):.2f}s",
      f"server cpu {cpu() - c0:.2f}s")
PY
  kill "$PID"; wait "$PID" 2>/dev/null || true; rm -rf "$TMP"
done

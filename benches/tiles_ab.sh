#!/usr/bin/env bash
# A/B of two tudi binaries on cold tiles: serves the district parcels (public
# copy, --cache-mb 0) with each binary in turn and requests the z14-z17
# viewport list of benches/load.sh twice, one connection, timing the second
# pass per zoom, and the server's CPU seconds over that pass (steadier than
# wall time when other work shares the cores). Alternate the binaries and
# repeat: runs vary ~10% here. ENCODING=gzip (or br) asks for that encoding
# (the cold path then includes compression).
#
#   bash benches/tiles_ab.sh /tmp/tudi-old /tmp/tudi-new /tmp/tudi-old /tmp/tudi-new
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
    --rate-limit 0 --cache-mb 0 2>"$TMP/log" &
  PID=$!
  for _ in $(seq 1 300); do curl -sf "127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.5; done
  echo -n "$BIN: "
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

#!/usr/bin/env bash
# Review through the HTTP API on the district data, durable audit write
# included: single-plot latency with wrk (1 and 16 connections) and batch
# throughput (20,000 plots in one POST /api/reviews/batch).
# Usage: bash benches/review_api.sh   (installs wrk with apt-get if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-3917}
DATA=target/bench-data/district-42
if ! command -v wrk >/dev/null; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null; fi
cargo build --release --quiet
if [ ! -f "$DATA/layers/homestead_parcels.toml" ]; then
  ./target/release/tudi fixtures --scale district --seed 42 --out "$DATA" --layers-dir "$DATA/layers" >/dev/null
fi
TMP=$(mktemp -d)
# Reviews need an approver's key.
KEY=$(./target/release/tudi keys create --role approver --label bench --data-dir "$TMP/data" 2>/dev/null)
./target/release/tudi serve --bind 127.0.0.1:$PORT --layers "$DATA/layers" --data-dir "$TMP/data" --rate-limit 0 2>"$TMP/server.log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 1 300); do curl -sf "127.0.0.1:$PORT/health" >/dev/null && break; sleep 1; done
python3 - "$DATA/applications.geojson" "$TMP" <<'PY'
import json, sys
fc = json.load(open(sys.argv[1]))
feats = fc["features"]
clean = next(f for f in feats if f["properties"]["label"]["expect_outcome"] == "pass")
body = {"plot": clean["geometry"], "applicant": clean["properties"]["applicant"],
        "application": clean["properties"]["application"]}
json.dump(body, open(sys.argv[2] + "/body.json", "w"))
batch = {"type": "FeatureCollection", "features": [feats[i % len(feats)] for i in range(20000)]}
json.dump(batch, open(sys.argv[2] + "/batch.json", "w"))
PY
cat > "$TMP/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
local f = io.open("$TMP/body.json", "r"); wrk.body = f:read("*a"); f:close()
LUA
echo "== POST /api/reviews, 1 connection"
# A run with refused requests (429, 5xx) measures the refusal, not the
# review: it stops the script.
run_wrk() {
  wrk -t1 -c"$1" -d15s --latency -s "$TMP/post.lua" "http://127.0.0.1:$PORT/api/reviews" | tee "$TMP/wrk.out" | sed -n '1,20p'
  if grep -q 'Non-2xx' "$TMP/wrk.out"; then echo "non-2xx answers: the figures above are not reviews" >&2; exit 1; fi
}
run_wrk 1
echo "== POST /api/reviews, 16 connections"
run_wrk 16
echo "== POST /api/reviews/batch, 20000 plots"
start=$(date +%s.%N)
lines=$(curl -sf -X POST -H "Authorization: Bearer $KEY" -H 'content-type: application/geo+json' --data-binary @"$TMP/batch.json" "http://127.0.0.1:$PORT/api/reviews/batch" | wc -l)
end=$(date +%s.%N)
python3 -c "import sys; n=$lines; t=$end-$start; print(f'{n} verdicts in {t:.2f} s = {n/t:.0f} plots/s')"
curl -sf -H "Authorization: Bearer $KEY" "127.0.0.1:$PORT/api/audit/verify" | python3 -c "import json,sys; r=json.load(sys.stdin); print('audit chain ok:', r['ok'], 'entries:', r['entries'])"

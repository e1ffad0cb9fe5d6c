#!/usr/bin/env bash
# `tudi export` archives opened by readers nobody here wrote:
#   - the `pmtiles` Python package (PyPI, protomaps' reference reader):
#     header, metadata with vector_layers, every tile gzip MVT;
#   - GDAL's MBTiles driver (`ogrinfo`, Debian gdal-bin): the vector layers
#     from the `json` metadata and their features, read from the tiles;
#   - GDAL's MVT driver on a tile taken out of the PMTiles archive.
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
python3 -c 'import pmtiles' 2>/dev/null || pip install --quiet --disable-pip-version-check pmtiles

OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
LAYERS="roads,villages,zoning,rivers"
BBOX="112.88,22.85,113.02,23.01"
for f in nanhai.pmtiles nanhai.mbtiles; do
  "$TUDI_BIN" export --quiet --layers "$LAYERS" --bbox "$BBOX" --minzoom 6 --maxzoom 15 \
    "$OUT/$f" >"$OUT/$f.json"
done
ls -l "$OUT"

echo "== pmtiles (Python)"
python3 - "$OUT/nanhai.pmtiles" "$OUT/nanhai.pmtiles.json" "$OUT/tile.mvt" <<'PY'
import gzip, json, sys
from pmtiles.reader import Reader, MmapSource, all_tiles
from pmtiles.tile import Compression, TileType

path, summary, sample = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3]
with open(path, "rb") as f:
    r = Reader(MmapSource(f))
    h = r.header()
    assert h["tile_type"] == TileType.MVT, h
    assert h["tile_compression"] == Compression.GZIP, h
    assert h["clustered"], h
    assert (h["min_zoom"], h["max_zoom"]) == (6, 15), h
    assert abs(h["min_lon_e7"] / 1e7 - 112.88) < 1e-6 and abs(h["max_lat_e7"] / 1e7 - 23.01) < 1e-6, h
    meta = r.metadata()
    ids = [l["id"] for l in meta["vector_layers"]]
    assert ids == ["roads", "villages", "villages.label", "zoning", "rivers"], ids
    n, biggest = 0, b""
    for (z, x, y), data in all_tiles(r.get_bytes):
        raw = gzip.decompress(data)
        assert len(raw) > 0 and raw[0] == 0x1A, (z, x, y)  # MVT: field 3 (layers)
        assert r.get(z, x, y) == data
        n += 1
        if z == 15 and len(raw) > len(biggest):
            biggest = raw
    assert n == summary["tiles_written"] == h["addressed_tiles_count"], (n, summary)
    open(sample, "wb").write(biggest)
    print(f"pmtiles: {n} tiles, zooms {h['min_zoom']}-{h['max_zoom']}, layers {ids}")
PY

echo "== GDAL MVT driver on a tile from the PMTiles archive"
ogrinfo -ro -al -so "MVT:$OUT/tile.mvt" | tee "$OUT/tile.txt" | grep -E '^(Layer name|Feature Count)'
grep -q 'Layer name: villages' "$OUT/tile.txt"

echo "== GDAL MBTiles driver"
ogrinfo -ro -so "$OUT/nanhai.mbtiles" | tee "$OUT/mb.txt"
for l in roads villages zoning rivers; do
  grep -qE "^[0-9]+: $l" "$OUT/mb.txt" || { echo "layer $l missing"; exit 1; }
done
grep -q 'format=pbf' "$OUT/mb.txt"
ogrinfo -ro -so "$OUT/nanhai.mbtiles" villages | tee "$OUT/villages.txt" | grep -E 'Feature Count|zldwdm'
COUNT="$(grep -oE 'Feature Count: [0-9]+' "$OUT/villages.txt" | grep -oE '[0-9]+')"
[ "$COUNT" -gt 0 ] || { echo "no village features read"; exit 1; }
grep -q 'zldwdm: String' "$OUT/villages.txt"
echo "== GDAL reads the villages' label points (label_points = true)"
# At the archive's top zoom GDAL reads every tile: each village seen in
# the polygon layer (however many tiles cut it) has exactly one point.
ogrinfo -ro -so "$OUT/nanhai.mbtiles" villages.label | tee "$OUT/labels.txt" | grep -E 'Feature Count|name'
grep -q 'name: String' "$OUT/labels.txt"
LABELS="$(grep -oE 'Feature Count: [0-9]+' "$OUT/labels.txt" | grep -oE '[0-9]+')"
SEEN="$(ogrinfo -ro -al -q "$OUT/nanhai.mbtiles" villages | grep -oE 'zldwdm \(String\) = [0-9]+' | sort -u | wc -l)"
echo "label points: $LABELS, villages seen: $SEEN"
[ "$SEEN" -gt 0 ] && [ "$LABELS" = "$SEEN" ] || { echo "label points do not match the villages"; exit 1; }
ogrinfo -ro -al -q "$OUT/nanhai.mbtiles" villages.label | grep -qE '^\s+POINT \(' || { echo "label points are not points"; exit 1; }
echo "export interop OK"

#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/) from
the committed fixtures plus hand-made edge cases. Run once from the repo
root before the first fuzzing run; the fuzzers then grow the corpora, which
are minimised (cargo fuzz cmin) and committed."""
import io, json, os, shutil, zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
C = os.path.join(ROOT, "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(C, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def fx(p):
    with open(os.path.join(ROOT, p), "rb") as f:
        return f.read()


# GeoJSON: small fixtures and shapes the pipeline must survive.
for p in ["fixtures/uploads/village.geojson", "fixtures/small/flood.geojson",
          "fixtures/small/power_lines.geojson", "fixtures/small/urban_boundary.geojson",
          "fixtures/small/heritage.geojson", "fixtures/small/levees.geojson"]:
    put("geojson", os.path.basename(p), fx(p))


def fc(*geoms, props=None):
    return json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props or {"name": "a", "fid": i + 1, "zddm": "X"},
         "geometry": g} for i, g in enumerate(geoms)]})


sq = [[113.1, 23.0], [113.101, 23.0], [113.101, 23.001], [113.1, 23.001], [113.1, 23.0]]
hole = [[113.1002, 23.0002], [113.1002, 23.0008], [113.1008, 23.0008], [113.1008, 23.0002], [113.1002, 23.0002]]
bow = [[113.1, 23.0], [113.101, 23.001], [113.101, 23.0], [113.1, 23.001], [113.1, 23.0]]
put("geojson", "hole.json", fc({"type": "Polygon", "coordinates": [sq, hole]}))
put("geojson", "multi.json", fc({"type": "MultiPolygon", "coordinates": [[sq], [hole]]}))
put("geojson", "bowtie.json", fc({"type": "Polygon", "coordinates": [bow]}))
put("geojson", "spike.json", fc({"type": "Polygon", "coordinates": [[[113.1, 23.0], [113.2, 23.0], [113.1, 23.0000001], [113.1, 23.0]]]}))
put("geojson", "lines.json", fc({"type": "LineString", "coordinates": sq},
                                {"type": "MultiLineString", "coordinates": [sq, hole]}))
put("geojson", "points.json", fc({"type": "Point", "coordinates": [113.1, 23.0]},
                                 {"type": "MultiPoint", "coordinates": sq}))
put("geojson", "mixed.json", fc({"type": "GeometryCollection", "geometries": [
    {"type": "Point", "coordinates": [1, 2]}, {"type": "Polygon", "coordinates": [sq]}]}, None))
put("geojson", "nulls.json", '{"type":"FeatureCollection","features":[{"type":"Feature","properties":null,"geometry":null},{"type":"Feature","geometry":{"type":"Point","coordinates":[1e400,-1e400]}}]}')
put("geojson", "antimeridian.json", fc({"type": "Polygon", "coordinates": [[[179.9, 85.1], [-179.9, 85.1], [-179.9, -89], [179.9, -89], [179.9, 85.1]]]}))
put("geojson", "feature.json", json.dumps({"type": "Feature", "properties": {"fid": 7}, "geometry": {"type": "Polygon", "coordinates": [sq]}}))

# FlatGeobuf.
put("flatgeobuf", "village.fgb", fx("fixtures/uploads/village.fgb"))
# GeoPackage.
put("gpkg", "village_4547.gpkg", fx("fixtures/uploads/village_4547.gpkg"))

# Zipped Shapefiles: the fixture, its parts in other arrangements, hostile archives.
z = fx("fixtures/uploads/village_4547_gbk.zip")
put("shp_zip", "village_4547_gbk.zip", z)
parts = {}
with zipfile.ZipFile(io.BytesIO(z)) as zf:
    for n in zf.namelist():
        parts[n] = zf.read(n)


def mkzip(entries, method=zipfile.ZIP_DEFLATED):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", method) as zf:
        for n, d in entries.items():
            zf.writestr(n, d)
    return b.getvalue()


put("shp_zip", "stored.zip", mkzip(parts, zipfile.ZIP_STORED))
put("shp_zip", "in_folder.zip", mkzip({"dir/" + os.path.basename(n): d for n, d in parts.items()}))
put("shp_zip", "no_prj_cpg.zip", mkzip({n: d for n, d in parts.items() if not n.endswith((".prj", ".cpg"))}))
put("shp_zip", "dotdot.zip", mkzip({"../" + n: d for n, d in parts.items()}))
put("shp_zip", "nested.zip", mkzip({"inner.zip": z}))
put("shp_zip", "bomb.zip", mkzip({"a.shp": b"\0" * 400000, "a.dbf": b"", "a.shx": b""}))

# Rule files and layer definitions.
put("rules", "homestead.toml", fx("rules/homestead.toml"))
for p in ["layers/homestead_parcels.toml", "layers/roads.toml", "layers/zoning.toml"]:
    put("rules", os.path.basename(p), fx(p))

# Tile URLs ({ids}/{z}/{x}/{y}).
for i, u in enumerate(["roads/14/13363/7150.mvt", "homestead_parcels,roads,zoning/14/13331/7118.pbf",
                       "roads,roads,roads/0/0/0", "zoning/-1/0/0", "roads/99999999999999999999/0/0",
                       "roads/3/8/0", "households/16/53455/28600", ",roads/1/0/0", "roads",
                       "roads%2Czoning/5/26/14", "farmland/12/3340/1787?v=1"]):
    put("tile_url", f"{i:02}", u)

# Review requests: single plots and a small batch, from the applications fixture.
apps = json.loads(fx("fixtures/small/applications.geojson"))
for i in [0, 5, 11, 23, 40]:
    f = apps["features"][i]
    p = f["properties"]
    put("review", f"app{i:02}.json", json.dumps({"plot": f["geometry"], "applicant": p["applicant"],
                                                 "application": p["application"]}, ensure_ascii=False))
put("review", "batch.json", json.dumps({"type": "FeatureCollection", "crs": "EPSG:4326",
                                        "features": apps["features"][:3]}, ensure_ascii=False))
put("review", "gk.json", json.dumps({"plot": {"type": "Polygon", "coordinates": [[[489000, 2540000], [489010, 2540000], [489010, 2540008], [489000, 2540008], [489000, 2540000]]]},
                                     "crs": "EPSG:4547", "applicant": {"household_id": "H1", "name": "x"},
                                     "application": {"terrain_class": "hilly", "floors": 2, "floor_area_m2": 100, "replaces_parcel": None}}))
put("review", "bad.json", '{"plot":{"type":"Polygon","coordinates":[[[0,0],[1,1],[1,0],[0,1],[0,0]]]},"crs":"EPSG:3857","application":{"floors":-1}}')

# Whole HTTP requests.
reqs = [
    "GET /catalog\n\n",
    "GET /tiles/roads\nAuthorization: Bearer @viewer\n\n",
    "GET /tiles/homestead_parcels,roads/14/13331/7118.mvt\nAuthorization: Bearer @approver\nAccept-Encoding: br, gzip\n\n",
    "GET /tiles/roads/14/13363/7150.mvt?v=1\nIf-None-Match: \"x\"\n\n",
    "GET /styles/land-review\nX-Forwarded-Host: a<b>\nX-Forwarded-Proto: https\n\n",
    "GET /fonts/Noto%20Sans%20Regular/0-255.pbf\n\n",
    "GET /health\n\n",
    "GET /api/me\nAuthorization: Bearer @viewer\n\n",
    "GET /api/reviews/00000000\nAuthorization: Bearer @approver\n\n",
    "GET /api/audit/verify\nAuthorization: Bearer @approver\n\n",
    "POST /api/reviews\nAuthorization: Bearer @viewer\nContent-Type: application/json\n\n{\"plot\":null}",
    "POST /api/layers?id=x&title=t&category=c\nAuthorization: Bearer @viewer\n\n{}",
    "DELETE /api/keys/k1\nAuthorization: Bearer tudi_0000\n\n",
    "GET /web/../../Cargo.toml\n\n",
    "GET /review\n\n",
    "OPTIONS /tiles/roads\nOrigin: http://x\nAccess-Control-Request-Method: GET\n\n",
]
for i, r in enumerate(reqs):
    put("http", f"{i:02}", r)

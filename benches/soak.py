#!/usr/bin/env python3
"""Soak driver (run by benches/soak.sh): steady mixed traffic against a
running tudi for a given time, then the verdict.

Traffic, each class on its own threads at a fixed rate:
  * tiles: viewport lists (4x3 tiles around seeded centres, z11-z16) over
    the fixtures, for composites of public layers, the restricted parcels
    (approver key) and the `soak` layer that is being republished;
  * reviews: POST /api/reviews with the labelled applications (approver);
  * publish/rollback: every few seconds a new version of layer `soak`
    (every feature carries `ver` = its publish number), every third step a
    rollback to the version before.

Checks: no 5xx (and no 429), no request lost (every request answered), every
acknowledged review readable afterwards, every decoded tile holding features
of exactly one `soak` version (one `ver` value, a published one), resident
memory of the server flat after warm-up. Writes a JSON summary and exits 1
on any failure.
"""

import argparse
import http.client
import json
import math
import os
import random
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from soak_mvt import decode_tile  # noqa: E402

LOCK = threading.Lock()


class Stats:
    def __init__(self):
        self.status = {}
        self.lost = []
        self.latency = {}
        self.late = {}

    def record(self, cls, status, ms):
        with LOCK:
            key = f"{cls}:{status}"
            self.status[key] = self.status.get(key, 0) + 1
            self.latency.setdefault(cls, []).append(ms)

    def lose(self, cls, what, err):
        with LOCK:
            self.lost.append(f"{cls} {what}: {err!r}")


def request(conn, method, path, body=None, headers=None):
    t = time.perf_counter()
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    return r.status, data, (time.perf_counter() - t) * 1000, r


def paced(stop_at, per_s, fn):
    """Calls fn(i) at a steady rate until stop_at; returns how late it ran."""
    start = time.monotonic()
    i, worst = 0, 0.0
    while True:
        due = start + i / per_s
        if due >= stop_at:
            return worst
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        else:
            worst = max(worst, now - due)
        fn(i)
        i += 1


def tile_list(rng, lon0, lat0, lon1, lat1, n, zooms):
    out = []
    for _ in range(n):
        lon, lat = rng.uniform(lon0, lon1), rng.uniform(lat0, lat1)
        z = rng.choice(zooms)
        nz = 2 ** z
        x = int((lon + 180) / 360 * nz)
        lr = math.radians(lat)
        y = int((1 - math.log(math.tan(lr) + 1 / math.cos(lr)) / math.pi) / 2 * nz)
        for dx in (-1, 0, 1, 2):
            for dy in (-1, 0, 1):
                out.append((z, x + dx, y + dy))
    return out


def cover(z, lon0=113.1, lat0=23.0, lon1=113.1089, lat1=23.0058):
    """(x, y) of the tiles at zoom z that the `soak` squares fall in."""
    def xy(lon, lat):
        nz = 2 ** z
        lr = math.radians(lat)
        return int((lon + 180) / 360 * nz), int((1 - math.log(math.tan(lr) + 1 / math.cos(lr)) / math.pi) / 2 * nz)
    (x0, y1), (x1, y0) = xy(lon0, lat0), xy(lon1, lat1)
    return {(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)}


def squares(ver, n=150, lon=113.10, lat=23.00):
    feats = []
    for i in range(n):
        x = lon + (i % 15) * 0.0006
        y = lat + (i // 15) * 0.0006
        ring = [[x, y], [x + 0.0004, y], [x + 0.0004, y + 0.0004], [x, y + 0.0004], [x, y]]
        feats.append({"type": "Feature", "properties": {"ver": ver, "i": i},
                      "geometry": {"type": "Polygon", "coordinates": [ring]}})
    return json.dumps({"type": "FeatureCollection", "features": feats}).encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--approver", required=True)
    ap.add_argument("--publisher", required=True)
    ap.add_argument("--applications", required=True)
    ap.add_argument("--tile-threads", type=int, default=4)
    ap.add_argument("--tile-rate", type=float, default=40, help="per thread, per second")
    ap.add_argument("--review-rate", type=float, default=4)
    ap.add_argument("--publish-every", type=float, default=5)
    ap.add_argument("--warmup", type=float, default=0.2, help="fraction of the run")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    host = "127.0.0.1"
    apps = json.load(open(a.applications))["features"]
    stats = Stats()
    problems = []
    approver = {"Authorization": f"Bearer {a.approver}"}
    publisher = {"Authorization": f"Bearer {a.publisher}"}

    # The layer that is republished during the run, version "0" first.
    c = http.client.HTTPConnection(host, a.port, timeout=120)
    st, body, _, _ = request(c, "POST", "/api/layers?id=soak&title=Soak&category=soak",
                             squares(0), {**publisher, "Content-Type": "application/geo+json"})
    if st != 201:
        print(f"creating layer soak: {st} {body[:300]!r}", file=sys.stderr)
        return 2
    published = {0}
    catalog = json.loads(request(c, "GET", "/catalog")[1])
    bounds = next(s["bounds"] for s in catalog["services"] if s["id"] == "district_boundary")
    c.close()

    # Viewports where people look: around the applications' plots (the
    # villages), z11-z16; the republished layer's tiles at z12-z16.
    rng = random.Random(42)
    public = []
    for f in rng.sample(apps, min(30, len(apps))):
        ring = f["geometry"]["coordinates"][0]
        lon, lat = ring[0]
        public += tile_list(rng, lon, lat, lon, lat, 1, [11, 12, 13, 14, 15, 16])
    near_soak = sorted((z, x, y) for z in (12, 13, 14, 15, 16) for x, y in cover(z))
    sources = [
        ("roads,zoning,rivers,village_boundary,farmland", public, None),
        ("villages,towns,eco_redline", public, None),
        ("homestead_parcels", public, approver),
        ("soak", near_soak, None),
        ("roads,soak", near_soak, None),
    ]

    stop_at = time.monotonic() + a.seconds
    seen_versions = {}
    tiles_checked = [0]
    review_ids = []
    lateness = {}

    def tile_worker(k):
        conn = http.client.HTTPConnection(host, a.port, timeout=60)
        wrng = random.Random(1000 + k)

        def one(i):
            ids, tiles, headers = sources[(i + k) % len(sources)]
            z, x, y = wrng.choice(tiles)
            path = f"/tiles/{ids}/{z}/{x}/{y}.mvt"
            try:
                st, data, ms, _ = request(conn, "GET", path, headers=headers)
            except Exception as e:  # noqa: BLE001
                stats.lose("tile", path, e)
                conn.close()
                return
            stats.record("tile", st, ms)
            if st == 200 and "soak" in ids.split(","):
                layer = decode_tile(data).get("soak", [])
                vers = {f.get("ver") for f in layer}
                with LOCK:
                    tiles_checked[0] += 1
                    for v in vers:
                        seen_versions[v] = seen_versions.get(v, 0) + 1
                    if len(vers) > 1 or not vers <= published:
                        problems.append(f"{path}: soak versions {sorted(vers, key=str)} (published {len(published)})")

        lateness[f"tile{k}"] = paced(stop_at, a.tile_rate, one)
        conn.close()

    def review_worker():
        conn = http.client.HTTPConnection(host, a.port, timeout=60)

        def one(i):
            f = apps[i % len(apps)]
            body = json.dumps({"plot": f["geometry"], "applicant": f["properties"]["applicant"],
                               "application": f["properties"]["application"]}).encode()
            try:
                st, data, ms, _ = request(conn, "POST", "/api/reviews", body,
                                          {**approver, "Content-Type": "application/json"})
            except Exception as e:  # noqa: BLE001
                stats.lose("review", i, e)
                conn.close()
                return
            stats.record("review", st, ms)
            if st == 201:
                with LOCK:
                    review_ids.append(json.loads(data)["id"])
            else:
                with LOCK:
                    problems.append(f"review {i}: {st} {data[:200]!r}")

        lateness["review"] = paced(stop_at, a.review_rate, one)
        conn.close()

    def publish_worker():
        state = {"n": 0}

        def one(i):
            # A fresh connection each time: the gaps are long.
            conn = http.client.HTTPConnection(host, a.port, timeout=300)
            try:
                if i % 3 == 2:
                    st, data, ms, _ = request(conn, "POST", "/api/layers/soak/rollback", b"", publisher)
                    stats.record("rollback", st, ms)
                    if st != 200:
                        with LOCK:
                            problems.append(f"rollback {i}: {st} {data[:200]!r}")
                else:
                    state["n"] += 1
                    ver = state["n"]
                    with LOCK:
                        published.add(ver)  # before: tiles may show it at once
                    st, data, ms, _ = request(conn, "POST", f"/api/layers/soak/versions?note=soak{ver}",
                                              squares(ver), {**publisher, "Content-Type": "application/geo+json"})
                    stats.record("publish", st, ms)
                    if st != 201:
                        with LOCK:
                            problems.append(f"publish {ver}: {st} {data[:200]!r}")
            except Exception as e:  # noqa: BLE001
                stats.lose("publish", i, e)
            finally:
                conn.close()

        lateness["publish"] = paced(stop_at, 1 / a.publish_every, one)

    rss = []

    def sampler():
        start = time.monotonic()
        while time.monotonic() < stop_at:
            try:
                with open(f"/proc/{a.pid}/status") as f:
                    kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
                rss.append((round(time.monotonic() - start, 1), kb))
            except (OSError, StopIteration):
                problems.append("the server process is gone")
                return
            time.sleep(5)

    threads = [threading.Thread(target=tile_worker, args=(k,)) for k in range(a.tile_threads)]
    threads += [threading.Thread(target=review_worker), threading.Thread(target=publish_worker),
                threading.Thread(target=sampler)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0

    # Every acknowledged review is readable.
    conn = http.client.HTTPConnection(host, a.port, timeout=60)
    missing = 0
    for rid in review_ids:
        while True:
            try:
                st, _, _, r = request(conn, "GET", f"/api/reviews/{rid}", headers=approver)
            except Exception as e:  # noqa: BLE001
                stats.lose("review-check", rid, e)
                conn.close()
                conn = http.client.HTTPConnection(host, a.port, timeout=60)
                st = None
                break
            if st != 429:  # the check asks faster than the rate limit
                break
            time.sleep(float(r.getheader("Retry-After") or 1))
        if st is not None and st != 200:
            missing += 1
    st, data, _, _ = request(conn, "GET", "/api/audit/verify", headers=approver)
    audit = json.loads(data)
    conn.close()

    # Memory after warm-up: the mean of the first and of the last minute.
    warm = a.seconds * a.warmup
    after = [kb for t, kb in rss if t >= warm]
    first = after[: max(1, 60 // 5)]
    last = after[-max(1, 60 // 5):]
    mem = {
        "samples": len(rss),
        "warmup_s": warm,
        "rss_mb_at_warmup_end": round(after[0] / 1024, 1) if after else None,
        "rss_mb_first_minute_after_warmup": round(statistics.mean(first) / 1024, 1) if after else None,
        "rss_mb_last_minute": round(statistics.mean(last) / 1024, 1) if after else None,
        "rss_mb_max_after_warmup": round(max(after) / 1024, 1) if after else None,
        "rss_mb_peak": round(max(kb for _, kb in rss) / 1024, 1) if rss else None,
    }
    growth = None
    if after:
        growth = (statistics.mean(last) - statistics.mean(first)) / 1024
        mem["growth_mb"] = round(growth, 1)
        if len(after) >= 3:
            ts = [t for t, _ in rss if t >= warm]
            tm, km = statistics.mean(ts), statistics.mean(after)
            den = sum((t - tm) ** 2 for t in ts) or 1
            mem["slope_mb_per_min"] = round(sum((t - tm) * (k - km) for t, k in zip(ts, after)) / den * 60 / 1024, 2)

    def pct(xs, p):
        xs = sorted(xs)
        return round(xs[min(len(xs) - 1, int(p * len(xs)))], 1) if xs else None

    five = {k: v for k, v in stats.status.items() if k.split(":")[1].startswith("5")}
    too_many = {k: v for k, v in stats.status.items() if k.endswith(":429")}
    total = sum(stats.status.values())
    summary = {
        "seconds": round(elapsed, 1),
        "requests": total,
        "requests_per_s": round(total / elapsed, 1),
        "by_status": dict(sorted(stats.status.items())),
        "latency_ms": {k: {"p50": pct(v, 0.5), "p99": pct(v, 0.99), "max": pct(v, 1.0), "n": len(v)}
                       for k, v in stats.latency.items()},
        "lost": len(stats.lost),
        "lost_examples": stats.lost[:10],
        "reviews_acknowledged": len(review_ids),
        "reviews_missing": missing,
        "audit": {"ok": audit.get("ok"), "entries": audit.get("entries")},
        "soak_tiles_checked": tiles_checked[0],
        "soak_versions_published": len(published),
        "soak_versions_seen_in_tiles": len(seen_versions),
        "worst_lateness_s": {k: round(v, 2) for k, v in lateness.items()},
        "memory": mem,
        "rss_kb": rss,
        "problems": problems[:20],
        "problem_count": len(problems),
    }
    ok = True
    fails = []
    if five:
        fails.append(f"5xx answers: {five}")
    if too_many:
        fails.append(f"429 answers: {too_many}")
    if stats.lost:
        fails.append(f"{len(stats.lost)} requests lost")
    if missing:
        fails.append(f"{missing} acknowledged reviews missing")
    if not audit.get("ok"):
        fails.append("audit chain does not verify")
    if problems:
        fails.append(f"{len(problems)} problems (tiles of two versions, failed reviews or publishes)")
    if tiles_checked[0] == 0:
        fails.append("no soak tile was checked")
    if growth is not None and growth > max(32.0, 0.10 * mem["rss_mb_first_minute_after_warmup"]):
        fails.append(f"resident memory grew by {growth:.1f} MB after warm-up")
    summary["ok"] = not fails
    summary["failures"] = fails
    ok = not fails
    with open(a.out, "w") as f:
        json.dump(summary, f, indent=1)
    printable = {k: v for k, v in summary.items() if k != "rss_kb"}
    print(json.dumps(printable, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

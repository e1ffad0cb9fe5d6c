#!/usr/bin/env python3
"""Crash driver (run by benches/crash.sh): rounds of start, traffic,
`kill -9` at a random moment, restart, check.

Each round starts `tudi serve` on the same data folder (rate limit off:
the checks read thousands of reviews back), checks what the
previous rounds left (below), then runs at once a batch review (POST
/api/reviews/batch, the NDJSON stream read line by line: an id read is an
acknowledged review) and a loop of publishes of layer `crash` (every feature
carries `ver` = its publish number; a 201 is an acknowledged version), and
kills the server with SIGKILL after a random 0.1-3 s.

Checked after every restart: every review acknowledged so far is there
(GET /api/reviews/{id}); the catalog is consistent: every version file on
disk is named by the catalog, no version file the catalog names is missing,
`tmp/` is empty, the current version of `crash` is at least the last
acknowledged one and its tiles hold exactly that version's features; every
layer's current version serves (TileJSON and a tile). Checked while the
server is down after each kill: `tudi audit verify` passes. Writes a JSON
summary; exits 1 on any failure.
"""

import argparse
import http.client
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from soak_mvt import decode_tile  # noqa: E402
from soak import squares  # noqa: E402


def req(port, method, path, body=None, headers=None, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def start(binary, port, data, log):
    p = subprocess.Popen([binary, "serve", "--bind", f"127.0.0.1:{port}", "--layers", "layers",
                          "--data-dir", data, "--rate-limit", "0"], stderr=log, stdout=subprocess.DEVNULL)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60:
        if p.poll() is not None:
            raise RuntimeError(f"server exited with {p.returncode} at start-up")
        try:
            if req(port, "GET", "/health", timeout=2)[0] == 200:
                return p, time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.05)
    p.kill()
    raise RuntimeError("server not ready after 60 s")


def tile_of(lon, lat, z):
    import math
    n = 2 ** z
    lr = math.radians(lat)
    return z, int((lon + 180) / 360 * n), int((1 - math.log(math.tan(lr) + 1 / math.cos(lr)) / math.pi) / 2 * n)


def check_catalog(data, problems, rnd):
    """Files on disk against the catalog; tmp/ empty. Returns {layer: current}."""
    db = sqlite3.connect(f"file:{data}/catalog.sqlite?mode=ro", uri=True, timeout=10)
    try:
        current = {r[0]: r[1] for r in db.execute(
            "SELECT id, current FROM layers WHERE deleted_at IS NULL")}
        named = {r[0] for r in db.execute("SELECT file FROM versions")}
    finally:
        db.close()
    on_disk = set()
    root = os.path.join(data, "layers")
    if os.path.isdir(root):
        for lid in os.listdir(root):
            for f in os.listdir(os.path.join(root, lid)):
                on_disk.add(f"layers/{lid}/{f}")
    published = {n for n in named if n.startswith("layers/")}
    for f in sorted(on_disk - published):
        problems.append(f"round {rnd}: {f} on disk but not in the catalog")
    for f in sorted(published - on_disk):
        problems.append(f"round {rnd}: {f} in the catalog but not on disk")
    tmp = os.path.join(data, "tmp")
    if os.path.isdir(tmp) and os.listdir(tmp):
        problems.append(f"round {rnd}: tmp/ not empty: {os.listdir(tmp)[:5]}")
    return current


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--approver", required=True)
    ap.add_argument("--publisher", required=True)
    ap.add_argument("--admin", required=True)
    ap.add_argument("--applications", required=True)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--log", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()

    rng = random.Random(a.seed)
    approver = {"Authorization": f"Bearer {a.approver}"}
    publisher = {"Authorization": f"Bearer {a.publisher}"}
    admin = {"Authorization": f"Bearer {a.admin}"}
    apps = json.load(open(a.applications))["features"]
    batch = json.dumps({"type": "FeatureCollection",
                        "features": [apps[i % len(apps)] for i in range(a.batch)]}).encode()
    log = open(a.log, "ab")
    problems = []
    acked_reviews = []
    acked_ver = {"n": 0, "last_acked": None}   # publish number; last acknowledged
    rounds = []
    next_ver = [1]
    last_round_start = [0]

    for rnd in range(a.rounds + 1):
        final = rnd == a.rounds
        # What the kill left behind (start-up removes it): version files no
        # catalog row names and uploads in tmp/.
        left = []
        if os.path.exists(os.path.join(a.data, "catalog.sqlite")):
            check_catalog(a.data, left, rnd)
        proc, ready_s = start(a.bin, a.port, a.data, log)
        info = {"round": rnd, "ready_s": round(ready_s, 2),
                "left_by_kill": len([p for p in left if "on disk" in p or "tmp/" in p])}
        # What the previous rounds left.
        current = check_catalog(a.data, problems, rnd)
        missing = 0
        todo = acked_reviews if final else acked_reviews[last_round_start[0]:]
        c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=30)
        for rid in todo:
            c.request("GET", f"/api/reviews/{rid}", headers=approver)
            r = c.getresponse()
            r.read()
            if r.status != 200:
                missing += 1
        c.close()
        if missing:
            problems.append(f"round {rnd}: {missing} acknowledged reviews missing")
        info["reviews_checked"] = len(todo)
        if "crash" in current:
            st, body = req(a.port, "GET", "/catalog", headers=admin)
            services = {s["id"]: s for s in json.loads(body)["services"]}
            served = services.get("crash", {}).get("version")
            if served != current["crash"]:
                problems.append(f"round {rnd}: crash serves version {served}, catalog says {current['crash']}")
            z, x, y = tile_of(113.104, 23.003, 15)
            st, body = req(a.port, "GET", f"/tiles/crash/{z}/{x}/{y}")
            vers = {f.get("ver") for f in decode_tile(body).get("crash", [])} if st == 200 else set()
            if len(vers) != 1:
                problems.append(f"round {rnd}: crash tile holds versions {vers} ({st})")
            else:
                ver = vers.pop()
                info["crash_ver_served"] = ver
                last = acked_ver["last_acked"]
                # Served: the last acknowledged publish or a later one whose
                # commit landed just before the kill (never an older one).
                if last is not None and ver < last:
                    problems.append(f"round {rnd}: serves ver {ver}, older than acknowledged {last}")
                if ver > acked_ver["n"]:
                    problems.append(f"round {rnd}: serves ver {ver}, never sent")
                # A later unacknowledged version that did land becomes the
                # floor for the next rounds.
                acked_ver["last_acked"] = max(ver, last or 0)
        if final:
            # Every layer's current version loads and serves.
            st, body = req(a.port, "GET", "/catalog", headers=admin)
            services = json.loads(body)["services"]
            for s in services:
                st1, _ = req(a.port, "GET", f"/tiles/{s['id']}", headers=admin)
                b = s["bounds"]
                z, x, y = tile_of((b[0] + b[2]) / 2, (b[1] + b[3]) / 2, 14)
                st2, _ = req(a.port, "GET", f"/tiles/{s['id']}/{z}/{x}/{y}", headers=admin)
                if st1 != 200 or st2 not in (200, 204):
                    problems.append(f"final: layer {s['id']} TileJSON {st1}, tile {st2}")
            info["layers_served"] = len(services)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            rounds.append(info)
            break
        if "crash" not in current:
            st, body = req(a.port, "POST", "/api/layers?id=crash&title=Crash&category=test",
                           squares(0), {**publisher, "Content-Type": "application/geo+json"}, timeout=120)
            if st != 201:
                problems.append(f"creating layer crash: {st} {body[:200]!r}")
            else:
                acked_ver["last_acked"] = 0

        # Traffic, then a kill at a random moment.
        last_round_start[0] = len(acked_reviews)
        stop = threading.Event()
        got = {"reviews": 0, "publishes": 0}

        def reviewer():
            c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=60)
            try:
                c.request("POST", "/api/reviews/batch", body=batch,
                          headers={**approver, "Content-Type": "application/geo+json"})
                r = c.getresponse()
                if r.status != 200:
                    problems.append(f"round {rnd}: batch answered {r.status}")
                    return
                while True:
                    line = r.readline()
                    if not line:
                        break
                    v = json.loads(line)
                    if "id" in v:
                        acked_reviews.append(v["id"])
                        got["reviews"] += 1
            except Exception:  # noqa: BLE001  (killed mid-stream)
                pass
            finally:
                c.close()

        def publisher_loop():
            while not stop.is_set():
                ver = next_ver[0]
                next_ver[0] += 1
                acked_ver["n"] = ver
                try:
                    st, _ = req(a.port, "POST", f"/api/layers/crash/versions?note=crash{ver}",
                                squares(ver), {**publisher, "Content-Type": "application/geo+json"}, timeout=60)
                except Exception:  # noqa: BLE001
                    return
                if st == 201:
                    acked_ver["last_acked"] = ver
                    got["publishes"] += 1
                elif not stop.is_set():
                    problems.append(f"round {rnd}: publish {ver} answered {st}")

        threads = [threading.Thread(target=reviewer), threading.Thread(target=publisher_loop)]
        for t in threads:
            t.start()
        delay = rng.uniform(0.1, 3.0)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        stop.set()
        for t in threads:
            t.join(timeout=30)
        info.update({"kill_after_s": round(delay, 2), "reviews_acked": got["reviews"],
                     "publishes_acked": got["publishes"]})
        # The audit chain right after the crash.
        v = subprocess.run([a.bin, "audit", "verify", "--data-dir", a.data], capture_output=True, text=True)
        if v.returncode != 0:
            problems.append(f"round {rnd}: audit verify failed: {v.stdout[:300]}{v.stderr[:300]}")
        rounds.append(info)
        print(json.dumps(info), flush=True)

    summary = {
        "rounds": a.rounds,
        "reviews_acknowledged": len(acked_reviews),
        "publishes_sent": acked_ver["n"],
        "publishes_acknowledged": sum(r.get("publishes_acked", 0) for r in rounds),
        "kill_after_s": {"min": min(r["kill_after_s"] for r in rounds if "kill_after_s" in r),
                         "max": max(r["kill_after_s"] for r in rounds if "kill_after_s" in r)},
        "restart_ready_s_max": max(r["ready_s"] for r in rounds),
        "rounds_with_leftovers_cleaned": sum(1 for r in rounds if r["left_by_kill"]),
        "problems": problems[:30],
        "problem_count": len(problems),
        "ok": not problems,
        "per_round": rounds,
    }
    with open(a.out, "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps({k: v for k, v in summary.items() if k != "per_round"}, indent=1))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())

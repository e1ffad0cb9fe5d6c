#!/usr/bin/env python3
"""Complete passes over a tile list (benches/compare.sh, benches/load.sh).

wrk measures a time window: a request still in flight when the window ends
is not counted, so a server's slowest tiles (martin's z10 parcel tiles take
seconds each) can stay out of its figures altogether. This driver requests
every tile of the list exactly once per pass, CONNS at a time (one
keep-alive connection per worker, each taking the next tile of the list),
and times the whole pass: tiles/s is tiles over the wall time from the first
request to the last answer, and every tile's latency is in p50/p99/max.

    pass.py LIST BASE [--prefix P --suffix S] [--conns 16] [--passes 1]
            [--encoding gzip|identity] [--timeout 600]

LIST holds tile paths (/tiles/{layer}/z/x/y.mvt); with --prefix each becomes
P + "z/x/y" + S (another server's URL scheme for the same tiles). Prints one
line `RESULT {json}` with the fields of benches/tile_list.lua.
"""

import argparse
import http.client
import json
import re
import threading
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("list")
    ap.add_argument("base")
    ap.add_argument("--prefix")
    ap.add_argument("--suffix", default="")
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--passes", type=int, default=1)
    ap.add_argument("--encoding", default="gzip")
    ap.add_argument("--timeout", type=float, default=600)
    a = ap.parse_args()
    paths = []
    for line in open(a.list):
        line = line.strip()
        if not line:
            continue
        if a.prefix is not None:
            m = re.search(r"/(\d+)/(\d+)/(\d+)\.mvt$", line)
            if m:
                paths.append(f"{a.prefix}{m[1]}/{m[2]}/{m[3]}{a.suffix}")
        else:
            paths.append(line)
    work = paths * a.passes
    u = urllib.parse.urlparse(a.base)
    headers = {"Accept-Encoding": a.encoding}
    lock = threading.Lock()
    state = {"next": 0, "bytes": 0, "non2xx": 0, "errors": 0}
    lat = []

    def worker():
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=a.timeout)
        mine = []
        while True:
            with lock:
                i = state["next"]
                state["next"] = i + 1
            if i >= len(work):
                break
            t = time.perf_counter()
            try:
                c.request("GET", work[i], headers=headers)
                r = c.getresponse()
                body = r.read()
            except (OSError, http.client.HTTPException):
                c.close()
                c = http.client.HTTPConnection(u.hostname, u.port, timeout=a.timeout)
                with lock:
                    state["errors"] += 1
                continue
            mine.append(time.perf_counter() - t)
            with lock:
                state["bytes"] += len(body)
                if not 200 <= r.status < 300:
                    state["non2xx"] += 1
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(a.conns)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat.sort()

    def pct(p):
        if not lat:
            return 0
        return int(lat[min(len(lat) - 1, int(len(lat) * p / 100))] * 1e6)

    print("RESULT " + json.dumps({
        "requests": len(lat),
        "duration_us": int(wall * 1e6),
        "bytes": state["bytes"],
        "non2xx": state["non2xx"],
        "errors": state["errors"],
        "p50_us": pct(50),
        "p99_us": pct(99),
        "max_us": int(lat[-1] * 1e6) if lat else 0,
    }))


if __name__ == "__main__":
    main()

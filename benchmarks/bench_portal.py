"""Benchmark of the residents' ``GET /api/public/nearby`` (issue 12) on the full-size demo city.

The platform is seeded from the full-size demo city (``build_demo_city()`` defaults; SYNTHETIC)
on a temporary SQLite database and served by uvicorn in a thread on 127.0.0.1. ``N`` random points
(on random streets, up to 40 m off them; a quarter at the older residents' speed) are requested at
a fixed rate (open loop: request ``i`` is sent at ``i / rate`` seconds by a pool of client
threads, whether or not the earlier ones have been answered), once without the isochrones
(``isochrone=false``: the formats, counts and outlets) and once with them (the default; each
point's isochrones are new, no cache hit). Printed per run: the latency from the scheduled send to
the full answer, median and 95th percentile (aim: p95 < 50 ms), the route's own time
(``Server-Timing``) and the achieved rate. Then every answer is checked against the ``access``
command's table (:func:`lifecircle.network.table.access_table`) for the same points, outlets and
speed: nearest metres of every format within the 15-minute bound (to the answer's 0.1 m rounding)
and the counts within 5/10/15 minutes, exactly.

Run:  .venv/bin/python benchmarks/bench_portal.py [--requests N] [--rate R] [--threads T] [--seed K]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import shapely

from _machine import describe_machine

sys.path.insert(0, str(Path(__file__).parent))
from fuzz_api import serve


def random_points(net: Any, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    e = rng.integers(net.n_edges, size=n)
    pts = shapely.line_interpolate_point(net.edge_geom[e], rng.random(n), normalized=True)
    x = shapely.get_x(pts) + rng.uniform(-40, 40, n)
    y = shapely.get_y(pts) + rng.uniform(-40, 40, n)
    lon, lat = net.to_wgs84.transform(x, y)
    return pd.DataFrame({"id": [f"P{i}" for i in range(n)], "lon": lon, "lat": lat, "elderly": rng.random(n) < 0.25})


def check(answers: list[dict], pts: pd.DataFrame, engine: Any, outlets: pd.DataFrame) -> tuple[int, list[str]]:
    """Compare every answer with the access table; returns (pairs compared, problems)."""
    from lifecircle.network.engine import WITHIN_RTOL, metres
    from lifecircle.network.table import access_table

    prof, bad, n = engine.profile, [], 0
    for elderly in (False, True):
        speed = prof.walking.elderly_speed_kmh if elderly else prof.walking.speed_kmh
        sel = pts[pts["elderly"] == elderly]
        tab = access_table(engine.net, sel[["id", "lon", "lat"]], outlets, prof, speed_kmh=speed).table
        bound = float(metres(15, speed)) * (1 + WITHIN_RTOL)
        by_origin = dict(tuple(tab.groupby("origin_id")))
        for i in sel.index:
            ref = by_origin[pts.at[i, "id"]].set_index("format")
            for f in answers[i]["formats"]:
                r = ref.loc[f["code"]]
                near = r["nearest_m"] if np.isfinite(r["nearest_m"]) and r["nearest_m"] <= bound else None
                ok = (f["nearest_m"] is None) if near is None else abs(f["nearest_m"] - near) <= 0.051
                ok = ok and all(f[f"n_{m}min"] == int(r[f"n_{m}min"]) for m in (5, 10, 15))
                n += 1
                if not ok:
                    bad.append(
                        f"{pts.at[i, 'id']} {f['code']}: {f} vs {near} {list(r[['n_5min', 'n_10min', 'n_15min']])}"
                    )
    return n, bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--rate", type=float, default=20.0, help="requests per second (open loop)")
    ap.add_argument("--threads", type=int, default=8, help="client threads")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from sqlalchemy import select

    from lifecircle.platform.db import transaction
    from lifecircle.platform.db_operations import Outlet
    from lifecircle.platform.seed import seed_demo
    from lifecircle.platform.settings import load_settings
    from lifecircle.web.app import create_app

    print(describe_machine())
    with tempfile.TemporaryDirectory(prefix="lc-portal-") as tmp:
        settings = load_settings(
            {"LIFECIRCLE_ENV": "test", "DATABASE_URL": f"sqlite:///{Path(tmp) / 'p.db'}", "LIFECIRCLE_DATA_DIR": tmp},
            argon2_time_cost=1,
            argon2_memory_kib=1024,
            public_burst=10**6,  # one address sends everything
        )
        app = create_app(settings)
        t0 = time.perf_counter()
        seed_demo(app.state.factory, settings, app.state.prog, passwords={"admin": "bench-password-123"})
        t1 = time.perf_counter()
        engine = app.state.live.engine(wait_s=600)
        t2 = time.perf_counter()
        with transaction(app.state.factory) as s:
            rows = [
                {"id": o.id, "name": o.name, "format": f, "lon": o.lon, "lat": o.lat}
                for o in s.scalars(select(Outlet).where(Outlet.status == "open"))
                for f in o.formats
            ]
        outlets = pd.DataFrame(rows)
        print(
            f"full-size demo city (SYNTHETIC): {len(engine.city.communities)} communities, "
            f"{outlets['id'].nunique()} open outlets, network {engine.net.n_nodes} nodes / {engine.net.n_edges} edges; "
            f"seeded in {t1 - t0:.0f} s, live city built in {t2 - t1:.0f} s"
        )
        pts = random_points(engine.net, args.requests, args.seed)
        answers: list[Any] = [None] * len(pts)
        lat_ms = np.zeros(len(pts))
        app_ms = np.zeros(len(pts))
        with serve(app) as base:
            local = threading.local()

            def client() -> httpx.Client:
                if getattr(local, "c", None) is None:
                    local.c = httpx.Client(base_url=base, timeout=60)
                return local.c

            t_first = time.perf_counter()
            warm = client().get("/api/public/nearby", params={"lon": pts.lon[0], "lat": pts.lat[0]})
            warm.raise_for_status()  # the index built, the kernels compiled
            print(f"first request (builds the index): {1000 * (time.perf_counter() - t_first):.0f} ms")

            def one(i: int, at: float, iso: bool) -> None:
                delay = at - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                params: dict[str, Any] = {"lon": pts.lon[i], "lat": pts.lat[i], "isochrone": iso}
                if pts.elderly[i]:
                    params["speed"] = "elderly"
                r = client().get("/api/public/nearby", params=params)
                lat_ms[i] = 1000 * (time.perf_counter() - at)
                r.raise_for_status()
                app_ms[i] = float(r.headers["server-timing"].split("dur=")[1])
                answers[i] = r.content  # parsed after the runs: a client's objects must not slow the server's GC

            for iso in (False, True):
                start = time.perf_counter() + 0.2
                with cf.ThreadPoolExecutor(args.threads) as pool:
                    futs = [pool.submit(one, i, start + i / args.rate, iso) for i in range(len(pts))]
                    for f in futs:
                        f.result()
                wall = time.perf_counter() - start
                p95 = float(np.percentile(lat_ms, 95))
                print(
                    f"GET /api/public/nearby ({'with' if iso else 'without'} isochrones), {len(pts)} random points "
                    f"at {args.rate:g} req/s offered ({len(pts) / wall:.1f} req/s achieved, {args.threads} client "
                    f"threads in the same process): median {statistics.median(lat_ms):.1f} ms, p95 {p95:.1f} ms, "
                    f"max {lat_ms.max():.1f} ms ({'under' if p95 < 50 else 'OVER'} the 50 ms aim); inside the "
                    f"route (Server-Timing): median {statistics.median(app_ms):.1f} ms, "
                    f"p95 {np.percentile(app_ms, 95):.1f} ms"
                )
        n, bad = check([json.loads(a) for a in answers], pts, engine, outlets)
        print(f"checked against the access table: {n} (point, format) pairs, {len(bad)} differ")
        for b in bad[:10]:
            print("  " + b)
        app.state.engine.dispose()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

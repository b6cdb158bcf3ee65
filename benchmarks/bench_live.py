"""Benchmark of the live indicators (:mod:`lifecircle.indicators.live`) on the full-size demo city.

Times, from an outlet change to every touched circle's indicators updated (``add_outlet`` /
``remove_outlet`` return): ``N`` random changes — registrations of 1-3 random formats at random
street points (up to 30 m off the street), and closures of random open outlets — median and 95th
percentile, against one full re-evaluation (``evaluate_city``, median of a few runs) in the same
run; the ratio is printed. At the end the live circles are checked equal to a full evaluation of
the changed city (the demo city is SYNTHETIC).

Run:  .venv/bin/python benchmarks/bench_live.py [--changes N] [--scale S] [--seed K]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np
import pandas as pd
import shapely

from lifecircle.city.demo import build_demo_city
from lifecircle.city.model import City
from lifecircle.indicators.evaluate import evaluate_city
from lifecircle.indicators.live import LiveIndicators
from lifecircle.profile import load_profile

from _machine import describe_machine


def _random_changes(live: LiveIndicators, n: int, rng: np.random.Generator) -> list[tuple]:
    """``n`` changes: ("add", id, lon, lat, formats, is_chain) or ("remove", None) (which open
    outlet is drawn when the change runs)."""
    net, codes = live.net, live.profile.codes
    out: list[tuple] = []
    for k in range(n):
        if rng.random() < 0.5:
            geom = net.edge_lines(np.array([rng.integers(net.n_edges)]))[0]
            p = shapely.line_interpolate_point(geom, float(rng.random()), normalized=True)
            dx, dy = rng.uniform(-30.0, 30.0, 2)
            lon, lat = (float(v) for v in net.to_wgs84.transform(p.x + dx, p.y + dy))
            fmt = sorted({codes[int(i)] for i in rng.integers(len(codes), size=int(rng.integers(1, 4)))})
            out.append(("add", f"BENCH{k:04d}", lon, lat, fmt, bool(rng.random() < 0.4)))
        else:
            out.append(("remove", None))
    return out


def _check(live: LiveIndicators, city: City, outlets: pd.DataFrame) -> int:
    """Circles whose live coverage or grade differs from a full evaluation of the changed city."""
    changed = City(city.name, city.profile, city.synthetic, {**city.tables, "outlets": outlets})
    ev = evaluate_city(changed, live.net, live.profile, rules=live.rules)
    fc = ev.format_coverage[ev.format_coverage["level"] == "circle"].set_index(["unit_id", "format"])
    bad = 0
    for cid, grade in zip(ev.circles["id"], ev.circles["grade_code"], strict=True):
        c = live.circle(cid)
        for f, v in c["coverage"].items():
            b = float(fc.loc[(cid, f), "share_within_layer"])
            bad += not ((v is None and math.isnan(b)) or v == b)
        bad += c["grade"]["code"] != grade
    return bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--changes", type=int, default=200)
    ap.add_argument("--scale", type=float, default=None, help="demo city scale (default: full size)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--full-runs", type=int, default=3)
    args = ap.parse_args()
    print(describe_machine())
    city = build_demo_city() if args.scale is None else build_demo_city(scale=args.scale)
    prof = load_profile(city.profile)
    t0 = time.perf_counter()
    live = LiveIndicators.build(city, prof)
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    live = LiveIndicators.build(city, prof, net=live.net)  # compiled kernels cached: the steady-state build
    t_build = time.perf_counter() - t0
    print(
        f"demo city (SYNTHETIC): {len(city.communities):,} communities, {len(city.outlets):,} outlets, "
        f"{len(live.circle_ids)} circles; network {live.net.n_nodes:,} nodes, {live.net.n_edges:,} edges"
    )
    print(f"build: {t_first:.2f} s first (network, compiling), {t_build:.2f} s again on the same network")
    full = []
    for _ in range(args.full_runs):
        t0 = time.perf_counter()
        evaluate_city(city, live.net, prof, rules=live.rules)
        full.append(time.perf_counter() - t0)
    t_full = statistics.median(full)
    rng = np.random.default_rng(args.seed)
    outlets = city.outlets.copy()
    open_ids = outlets["id"].astype(str).tolist()
    times, kinds, n_touched = [], [], []
    for ch in _random_changes(live, args.changes, rng):
        if ch[0] == "add":
            _, oid, lon, lat, fmt, chain = ch
            t0 = time.perf_counter()
            touched = live.add_outlet(oid, lon, lat, fmt, is_chain=chain)
            times.append(time.perf_counter() - t0)
            row = {"id": oid, "lon": lon, "lat": lat, "formats": ";".join(fmt), "is_chain": chain}
            outlets = pd.concat([outlets, pd.DataFrame([row])], ignore_index=True)
            open_ids.append(oid)
        else:
            oid = open_ids.pop(int(rng.integers(len(open_ids))))
            t0 = time.perf_counter()
            touched = live.remove_outlet(oid)
            times.append(time.perf_counter() - t0)
            outlets = outlets[outlets["id"].astype(str) != oid]
        kinds.append(ch[0])
        n_touched.append(len(touched))
    ms = np.array(times) * 1000.0
    med, p95 = float(np.median(ms)), float(np.percentile(ms, 95))
    adds = ms[np.array(kinds) == "add"]
    rms = ms[np.array(kinds) == "remove"]
    print(
        f"{len(ms)} changes ({len(adds)} registrations, {len(rms)} closures; "
        f"{len(live.unsnapped())} open outlets beyond snap_max_m): "
        f"median {med:.2f} ms, p95 {p95:.2f} ms, max {ms.max():.2f} ms; "
        f"registration median {np.median(adds):.2f} ms, closure median {np.median(rms):.2f} ms; "
        f"circles touched per change: median {np.median(n_touched):.0f}, max {max(n_touched)}"
    )
    print(
        f"full re-evaluation (evaluate_city, median of {len(full)}): {t_full * 1000:.0f} ms; "
        f"ratio full / live median: {t_full * 1000 / med:.0f}x, full / live p95: {t_full * 1000 / p95:.0f}x"
    )
    bad = _check(live, city, outlets.reset_index(drop=True))
    print(f"check against evaluate_city on the changed city: {'equal' if bad == 0 else f'{bad} DIFFERENCES'}")


if __name__ == "__main__":
    main()

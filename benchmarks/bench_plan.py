"""Benchmark: site recommendation (MCLP) — lifecircle's exact and heuristic solvers against PySAL
spopt's MCLP, in the same process, on the same coverage data.

The instance is SYNTHETIC: a generated street grid (100 m blocks), demand points and candidate
sites placed uniformly at random and snapped to it, residents drawn at random. Coverage is walking
distance on the network (lifecircle's coverage_matrix); spopt receives the same distances as a
dense cost matrix (absent pairs = inf) and the same radius, so both solve the same problem.

    .venv/bin/python benchmarks/bench_plan.py            # 5,000 demand, 500 candidates, k = 20
    .venv/bin/python benchmarks/bench_plan.py --k 40 --layer-min 10 --repeats 3

Needs the ``bench`` extra (spopt, pulp, highspy): ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
import scipy
import shapely
from pyproj import CRS

from lifecircle.network import WalkNetwork, snap_points
from lifecircle.plans.sites import SiteSettings, coverage_matrix, solve_mclp
from lifecircle.profile import load_profile

from _machine import cpu_model


def grid_network(n: int, spacing_m: float) -> WalkNetwork:
    """A synthetic n x n street grid with ``spacing_m`` metres between streets (UTM 49N)."""
    lines = []
    for i in range(n):
        lines.append(shapely.LineString([(j * spacing_m, i * spacing_m) for j in range(n)]))
        lines.append(shapely.LineString([(i * spacing_m, j * spacing_m) for j in range(n)]))
    return WalkNetwork.from_lines(np.array(lines, dtype=object), CRS.from_epsg(32649), source="synthetic grid")


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall seconds over ``repeats`` runs, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def covered_by(cover_bool: Any, w: np.ndarray, chosen: np.ndarray) -> float:
    """Residents covered by the chosen columns — one evaluation for every method."""
    if len(chosen) == 0:
        return 0.0
    hit = np.asarray(cover_bool[:, chosen].sum(axis=1)).ravel() > 0
    return float(w[hit].sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--demand", type=int, default=5000)
    ap.add_argument("--candidates", type=int, default=500)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--grid", type=int, default=81, help="streets per side (100 m apart)")
    ap.add_argument("--layer-min", type=float, default=15.0, help="walking layer in minutes")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--time-limit", type=float, default=300.0, help="seconds per exact solve")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-spopt", action="store_true")
    args = ap.parse_args()

    prof = load_profile()
    radius = prof.walking.metres(args.layer_min)
    print("lifecircle site recommendation benchmark (MCLP) — SYNTHETIC data")
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} logical cores, numba threads {numba.get_num_threads()}, "
        f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}"
    )

    rng = np.random.default_rng(args.seed)
    net = grid_network(args.grid, 100.0)
    ext = (args.grid - 1) * 100.0
    dem = snap_points(net, rng.uniform(0, ext, args.demand), rng.uniform(0, ext, args.demand))
    can = snap_points(net, rng.uniform(0, ext, args.candidates), rng.uniform(0, ext, args.candidates))
    w = rng.integers(50, 500, args.demand).astype(float)
    print(
        f"instance: synthetic {ext / 1000:.1f} x {ext / 1000:.1f} km grid ({net.n_nodes} nodes, {net.n_edges} edges), "
        f"{args.demand} demand points ({w.sum():,.0f} residents), {args.candidates} candidates, "
        f"k = {args.k}, radius {radius:.0f} m ({args.layer_min:g} min at {prof.walking.speed_kmh:g} km/h), "
        f"median of {args.repeats}"
    )

    coverage_matrix(net, dem.subset(np.arange(len(dem)) < 10), can.subset(np.arange(len(can)) < 10), radius)  # compile
    t_cov, cover = timed(lambda: coverage_matrix(net, dem, can, radius), args.repeats)
    A = cover.copy()
    A.data[:] = 1.0
    A = A.tocsc()
    print(
        f"coverage matrix: {t_cov:.3f} s, {cover.nnz:,} covered pairs "
        f"({cover.nnz / args.demand:.1f} candidates per demand point)"
    )

    rows: list[tuple[str, float, float, str]] = []
    exact_set = SiteSettings(time_limit_s=args.time_limit)
    runs: dict[str, Callable[[], Any]] = {
        "lifecircle exact (HiGHS MILP)": lambda: solve_mclp(cover, w, args.k, method="exact", settings=exact_set),
        "lifecircle heuristic (greedy+swap, LP bound)": lambda: solve_mclp(
            cover, w, args.k, method="heuristic", settings=exact_set
        ),
        "lifecircle heuristic (greedy+swap, no LP)": lambda: solve_mclp(
            cover, w, args.k, method="heuristic", settings=SiteSettings(lp_bound_max_nnz=0)
        ),
        "lifecircle auto": lambda: solve_mclp(cover, w, args.k, settings=exact_set),
    }
    for name, fn in runs.items():
        sec, res = timed(fn, args.repeats)
        val = covered_by(A, w, res.chosen_idx)
        assert abs(val - res.covered) <= 1e-6 * max(1.0, val)
        info = f"bound {res.bound:,.0f}, gap {100 * res.gap:.2f}%{' (optimal)' if res.optimal else ''}, {res.method}"
        rows.append((name, sec, val, info))

    if not args.no_spopt:
        import pulp
        from spopt.locate import MCLP

        dense = np.full(cover.shape, np.inf)
        coo = cover.tocoo()
        dense[coo.row, coo.col] = coo.data
        solvers: dict[str, Callable[[], Any]] = {
            "spopt MCLP + CBC": lambda: pulp.PULP_CBC_CMD(msg=False, timeLimit=args.time_limit)
        }
        if "HiGHS" in pulp.listSolvers(onlyAvailable=True):
            solvers["spopt MCLP + HiGHS"] = lambda: pulp.HiGHS(msg=False, timeLimit=args.time_limit)
        for name, make in solvers.items():
            build_t: list[float] = []

            def run(make: Callable[[], Any] = make, build_t: list[float] = build_t) -> Any:
                t0 = time.perf_counter()
                m = MCLP.from_cost_matrix(dense, w, service_radius=radius, p_facilities=args.k)
                build_t.append(time.perf_counter() - t0)
                m.solve(make(), results=False)
                return m

            sec, m = timed(run, args.repeats)
            chosen = np.array(
                [j for j, v in enumerate(m.fac_vars) if v.value() is not None and v.value() > 0.5], dtype=np.int64
            )
            val = covered_by(A, w, chosen)
            status = pulp.LpStatus[m.problem.status]
            rows.append((name, sec, val, f"status {status}, model build {statistics.median(build_t):.2f} s of it"))

    best = max(r[2] for r in rows)
    print()
    print(f"{'method':46s} {'median s':>9s} {'covered':>12s} {'share':>7s} {'vs best':>8s}  notes")
    for name, sec, val, info in rows:
        print(f"{name:46s} {sec:9.3f} {val:12,.0f} {val / w.sum():7.1%} {val / best:8.4f}  {info}")
    ref = {r[0]: r[1] for r in rows}
    ours = ref["lifecircle exact (HiGHS MILP)"]
    for other in ("spopt MCLP + HiGHS", "spopt MCLP + CBC"):
        if other in ref:
            print(
                f"time ratio {other} / lifecircle exact: {ref[other] / ours:.1f}x "
                f"(lifecircle heuristic: {ref[other] / ref['lifecircle heuristic (greedy+swap, no LP)']:.0f}x faster)"
            )


if __name__ == "__main__":
    main()

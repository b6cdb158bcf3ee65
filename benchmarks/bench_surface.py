"""Benchmark of the walking-time surface on the full-size (synthetic) demo city, against the
straight-line buffer the check-up apps draw.

Ours: for every H3 cell (resolution 9) over the streets, the minimum over the network nodes inside
it of the walking distance to the nearest outlet of each format (one engine pass for all formats),
with residents placed in cells (see :mod:`lifecircle.indicators.surface`).
Straight line: the Euclidean distance from each cell's centre to the nearest outlet of each format
(a KD-tree per format), as an app drawing circles around outlets does.

Misclassified residents: residents of cells that the straight line puts within a format's walking
layer while the network puts them beyond it (over-stated access), or the other way round.

The k-th nearest (``--k``, default 3): the surface with ``k`` against ``k = 1``, and the node-level
kernels alone (the k-nearest label-setting Dijkstra against the engine's nearest).

Run:  .venv/bin/python benchmarks/bench_surface.py [--scale 1.0] [--resolution 9] [--k 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.spatial import cKDTree

from lifecircle.city.demo import build_demo_city
from lifecircle.indicators.access import explode_outlets
from lifecircle.indicators.fairness import fairness_table
from lifecircle.indicators.surface import build_surface, node_distances, node_distances_k
from lifecircle.network.engine import metres, within
from lifecircle.profile import load_profile
from lifecircle.sources.network_loader import network_from_city

from _machine import describe_machine


def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak() -> None:
    """Reset the kernel's peak-RSS counter (VmHWM) so the next phase's peak can be read."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def straight_line_m(net, cells, outlets, profile) -> np.ndarray:
    """Metres from each cell centre to the nearest outlet of each format, as the crow flies."""
    cx, cy = net.project(cells["lon"].to_numpy(float), cells["lat"].to_numpy(float))
    ox, oy = net.project(outlets["lon"].to_numpy(float), outlets["lat"].to_numpy(float))
    ex = explode_outlets(outlets.reset_index(drop=True), profile)
    out = np.full((len(cells), len(profile.codes)), np.inf)
    pts = np.column_stack([cx, cy])
    for f in range(len(profile.codes)):
        sel = ex.outlet[ex.cat == f]
        if len(sel):
            out[:, f], _ = cKDTree(np.column_stack([ox[sel], oy[sel]])).query(pts)
    return out


def _best_of(n: int, fn) -> tuple[float, list[float]]:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), times


def bench_k(city, net, prof, resolution: int, k: int, t1: float) -> None:
    """Print the surface with the k-th nearest against k = 1 (``t1`` seconds), and the node kernels."""
    small = build_demo_city(2022, 0.02)
    build_surface(small, network_from_city(small), prof, k=k)  # compile
    tk, runs = _best_of(3, lambda: build_surface(city, net, prof, resolution=resolution, k=k))
    n1, _ = _best_of(3, lambda: node_distances(net, city.outlets, prof))
    nk, _ = _best_of(3, lambda: node_distances_k(net, city.outlets, prof, k))
    print(
        f"surface with the k-th nearest (k = {k}): best of 3 {tk:.2f} s (runs {', '.join(f'{x:.2f}' for x in runs)}) "
        f"vs {t1:.2f} s with k = 1 ({tk / t1:.1f}x); node kernels, all {len(prof.codes)} formats: "
        f"k-nearest (k = {k}) {nk:.2f} s vs nearest {n1:.2f} s ({nk / n1:.1f}x)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--resolution", type=int, default=9)
    ap.add_argument("--k", type=int, default=3, help="the k-th nearest timed against k = 1")
    a = ap.parse_args()
    print(describe_machine())
    t0 = time.perf_counter()
    city = build_demo_city(2022, a.scale)
    net = network_from_city(city)
    prof = load_profile(city.profile)
    print(
        f"demo city (synthetic) scale {a.scale:g}: {len(city.communities):,} communities, "
        f"{int(city.communities['population'].sum()):,} residents, {len(city.outlets):,} outlets, "
        f"{len(prof.codes)} formats; network {net.n_nodes:,} nodes, {net.n_edges:,} edges "
        f"(built in {time.perf_counter() - t0:.1f} s)"
    )
    build_surface(build_demo_city(2022, 0.02), network_from_city(build_demo_city(2022, 0.02)), prof)  # compile
    reset_peak()
    rss0 = _status_kb("VmRSS")
    times = []
    for _ in range(3):
        t = time.perf_counter()
        s = build_surface(city, net, prof, resolution=a.resolution)
        times.append(time.perf_counter() - t)
    peak = _status_kb("VmHWM")
    t = time.perf_counter()
    fair = fairness_table(s, prof)
    t_fair = time.perf_counter() - t
    print(
        f"surface, all {len(prof.codes)} formats, H3 res {a.resolution}: {len(s.cells):,} cells; "
        f"best of 3 {min(times):.2f} s (runs {', '.join(f'{x:.2f}' for x in times)}); "
        f"peak RSS {peak / 1024:.0f} MiB (+{(peak - rss0) / 1024:.0f} MiB over the loaded city); "
        f"fairness table {t_fair:.2f} s"
    )
    bench_k(city, net, prof, a.resolution, a.k, min(times))
    t = time.perf_counter()
    eu = straight_line_m(net, s.cells, city.outlets, prof)
    t_eu = time.perf_counter() - t
    print(f"straight line from cell centres, all formats: {t_eu:.2f} s")

    pop = s.cells["population"].to_numpy(float)
    total = pop.sum()
    limit = metres(s.layer_min, s.speed_kmh)[None, :]
    net_in = within(s.dist_m, limit)
    eu_in = within(eu, limit)
    over = (eu_in & ~net_in) * pop[:, None]
    under = (~eu_in & net_in) * pop[:, None]
    print(f"\nresidents misclassified by the straight line (within vs beyond the format's layer), of {total:,.0f}:")
    print(f"{'format':<22}{'layer':>6}{'net within':>12}{'line within':>12}{'over':>10}{'under':>10}{'share':>8}")
    for f, code in enumerate(prof.codes):
        wrong = over[:, f].sum() + under[:, f].sum()
        print(
            f"{code:<22}{s.layer_min[f]:>6g}{(net_in[:, f] * pop).sum():>12,.0f}{(eu_in[:, f] * pop).sum():>12,.0f}"
            f"{over[:, f].sum():>10,.0f}{under[:, f].sum():>10,.0f}{wrong / total:>8.1%}"
        )
    b = s.basic
    all_net, all_eu = net_in[:, b].all(axis=1), eu_in[:, b].all(axis=1)
    wrong_all = pop[all_net != all_eu].sum()
    print(
        f"all formats: {over.sum() + under.sum():,.0f} resident-format pairs of {total * len(prof.codes):,.0f} "
        f"({(over.sum() + under.sum()) / (total * len(prof.codes)):.1%}); over-stated {over.sum():,.0f}, "
        f"under-stated {under.sum():,.0f}"
    )
    print(
        f"every basic format within its layer: network {pop[all_net].sum():,.0f}, straight line "
        f"{pop[all_eu].sum():,.0f}; {wrong_all:,.0f} residents ({wrong_all / total:.1%}) classified differently"
    )
    ok = np.isfinite(s.dist_m) & (eu > 50)
    ratio = s.dist_m[ok] / eu[ok]
    print(
        f"network / straight-line distance (cells > 50 m from an outlet): median {np.median(ratio):.2f}, "
        f"p90 {np.quantile(ratio, 0.9):.2f}"
    )
    allb = fair[(fair["format"] == "all_basic") & (fair["group"] == "all")].iloc[0]
    print(
        f"city fairness, all basic formats: F15 {allb['f15']:.1%}, Gini {allb['gini']:.3f}, "
        f"mean {allb['mean_min']:.1f} min"
    )


if __name__ == "__main__":
    main()

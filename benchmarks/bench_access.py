"""Benchmark of the walking engine on a generated (synthetic) street grid, against scipy and pandana.

Queries, as the product runs them:
  (a) nearest walking distance from every node to every format (25 formats);
  (b) number of outlets of each format within 15 minutes (1,000 m at 4 km/h) of 2,000
      community origins.

The grid is synthetic: 500 x 500 nodes (250,000), blocks of 60-100 m with jittered corners and
8 % of the street segments removed; 50,000 synthetic outlets in 25 formats, placed at nodes so
every peer sees exactly the same problem. Our results are checked equal to
``scipy.sparse.csgraph.dijkstra`` (exactly) and to pandana (within its float32 / maxdist limits).
pandana's contraction hierarchy takes minutes on a grid this size, so pandana runs on a smaller
grid (200 x 200 by default), where our engine and scipy are timed again for the ratio.

Run:  .venv/bin/python benchmarks/bench_access.py [--small] [--runs N] [--pandana-size N | --no-pandana]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from pyproj import CRS
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from lifecircle.network import Snapped, WalkNetwork, count_within, nearest_per_category
from lifecircle.network.graph import line_lengths

from _machine import describe_machine

N_FORMATS = 25
OUTLETS_PER_NODE = 50_000 / 250_000
WALK_15_MIN_M = 1000.0  # 15 minutes at 4.0 km/h (GB 50180)


# ---------------------------------------------------------------------------- machine, memory
def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) so the next phase's peak can be read."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_mb() -> float:
    """Peak resident memory (MB) since the last :func:`reset_peak` (or process start)."""
    return _status_kb("VmHWM") / 1024.0


def rss_mb() -> float:
    return _status_kb("VmRSS") / 1024.0


@contextlib.contextmanager
def quiet_fd1():
    """Silence stdout at the file-descriptor level (pandana's C++ progress output)."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def timed(fn: Callable[[], object], runs: int, warmup: int = 1) -> tuple[float, list[float], object]:
    """Median wall time (s) of ``runs`` calls after ``warmup`` calls; also every time and the last result."""
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times, out


def fmt_times(ts: list[float]) -> str:
    return "[" + ", ".join(f"{t:.3f}" for t in ts) + "]"


# ---------------------------------------------------------------------------- synthetic problem
@dataclass
class Problem:
    net: WalkNetwork
    outlet_node: NDArray[np.int64]
    outlet_fmt: NDArray[np.int64]
    origin_node: NDArray[np.int64]


def synthetic_grid(n: int, seed: int = 0, drop: float = 0.08) -> WalkNetwork:
    """Synthetic n x n street grid in UTM 49N (metres): block sides 60-100 m, corners jittered by
    up to 8 m, ``drop`` of the segments removed at random."""
    rng = np.random.default_rng(seed)
    xs = np.concatenate([[0.0], np.cumsum(rng.uniform(60, 100, n - 1))])
    ys = np.concatenate([[0.0], np.cumsum(rng.uniform(60, 100, n - 1))])
    gx, gy = np.meshgrid(xs, ys)
    x = (gx + rng.uniform(-8, 8, gx.shape)).ravel() + 500_000.0
    y = (gy + rng.uniform(-8, 8, gy.shape)).ravel() + 3_390_000.0
    idx = np.arange(n * n).reshape(n, n)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    keep = rng.random(len(u)) >= drop
    u, v = u[keep], v[keep]
    xy = np.stack([np.column_stack([x[u], y[u]]), np.column_stack([x[v], y[v]])], axis=1).reshape(-1, 2)
    ptr = np.arange(0, 2 * len(u) + 1, 2)
    return WalkNetwork(
        crs=CRS.from_epsg(32649),
        node_x=x,
        node_y=y,
        edge_u=u,
        edge_v=v,
        edge_len=line_lengths(xy, ptr),
        edge_xy=xy,
        edge_ptr=ptr,
        source=f"synthetic {n}x{n} grid",
    )


def make_problem(n: int, n_origins: int, seed: int = 0) -> Problem:
    net = synthetic_grid(n, seed)
    rng = np.random.default_rng(seed + 1)
    deg = np.diff(net.csr[0])
    on_street = np.flatnonzero(deg > 0)  # a few corners lose all their streets
    n_out = round(OUTLETS_PER_NODE * n * n)
    outlet_node = rng.choice(on_street, n_out)
    outlet_fmt = rng.integers(0, N_FORMATS, n_out)
    origin_node = rng.choice(on_street, n_origins, replace=False)
    return Problem(net, outlet_node, outlet_fmt, origin_node)


# ---------------------------------------------------------------------------- the three engines
def ours_nearest(p: Problem, sources: Snapped) -> NDArray[np.float64]:
    d, _ = nearest_per_category(p.net, sources, p.outlet_fmt, N_FORMATS)
    return d


def ours_counts(p: Problem, sources: Snapped, origins: Snapped) -> NDArray[np.int32]:
    return count_within(p.net, sources, p.outlet_fmt, N_FORMATS, origins, [WALK_15_MIN_M])[:, :, 0]


def scipy_graph(net: WalkNetwork) -> csr_matrix:
    indptr, adj, w, _ = net.csr
    return csr_matrix((w, adj, indptr), shape=(net.n_nodes, net.n_nodes))


def scipy_nearest(g: csr_matrix, p: Problem) -> NDArray[np.float64]:
    out = np.empty((p.net.n_nodes, N_FORMATS))
    for c in range(N_FORMATS):
        out[:, c] = dijkstra(g, directed=True, indices=np.unique(p.outlet_node[p.outlet_fmt == c]), min_only=True)
    return out


def scipy_counts(g: csr_matrix, p: Problem, chunk: int = 50) -> NDArray[np.int64]:
    onehot = np.zeros((len(p.outlet_node), N_FORMATS))
    onehot[np.arange(len(p.outlet_node)), p.outlet_fmt] = 1.0
    out = np.empty((len(p.origin_node), N_FORMATS), dtype=np.int64)
    for a in range(0, len(p.origin_node), chunk):
        d = dijkstra(g, directed=True, indices=p.origin_node[a : a + chunk], limit=WALK_15_MIN_M)
        within = (d[:, p.outlet_node] <= WALK_15_MIN_M).astype(np.float64)
        out[a : a + chunk] = np.rint(within @ onehot).astype(np.int64)
    return out


# ---------------------------------------------------------------------------- report
def header(title: str) -> None:
    print()
    print(title)
    print("-" * len(title))


def run_main(p: Problem, runs: int) -> tuple[float, float]:
    net = p.net
    header(f"Our engine vs scipy on the {net.source} ({net.n_nodes:,} nodes, {net.n_edges:,} streets)")
    print(
        f"  {len(p.outlet_node):,} synthetic outlets in {N_FORMATS} formats at nodes; "
        f"{len(p.origin_node):,} community origins (at nodes)"
    )
    sources = Snapped.at_nodes(net, p.outlet_node)
    origins = Snapped.at_nodes(net, p.origin_node)

    # (a) nearest for every node and every format
    reset_peak()
    base = rss_mb()
    t_ours, ts_ours, d_ours = timed(lambda: ours_nearest(p, sources), runs)
    mem_ours = peak_mb() - base
    t = time.perf_counter()
    g = scipy_graph(net)
    t_build = time.perf_counter() - t
    reset_peak()
    base = rss_mb()
    t_sp, ts_sp, d_sp = timed(lambda: scipy_nearest(g, p), max(1, min(runs, 3)))
    mem_sp = peak_mb() - base
    same = np.array_equal(d_ours, d_sp)
    print(
        f"  (a) nearest distance, all {net.n_nodes:,} nodes x {N_FORMATS} formats "
        f"({np.isfinite(d_ours).mean():.4%} reachable):"
    )
    print(
        f"      ours  median {t_ours:.3f} s {fmt_times(ts_ours)}  peak +{mem_ours:.0f} MB "
        f"(the two {N_FORMATS} x {net.n_nodes:,} result arrays are {2 * d_ours.nbytes / 1e6:.0f} MB)"
    )
    print(
        f"      scipy median {t_sp:.3f} s {fmt_times(ts_sp)}  peak +{mem_sp:.0f} MB  "
        "(csgraph.dijkstra, multi-source, min_only=True, one call per format; "
        f"its matrix built once in {t_build:.3f} s)"
    )
    print(f"      ratio scipy / ours = {t_sp / t_ours:.1f}x;  results identical to scipy: {same}")
    target = "MET" if t_ours < 0.5 else "MISSED"
    print(
        f"      target < 0.5 s for all nearest distances: {target} by the median "
        f"(best run {min(ts_ours):.3f} s; runs slowed by other work on this shared machine show above)"
    )

    # (b) 15-minute counts for the community origins
    reset_peak()
    base = rss_mb()
    t_oc, ts_oc, c_ours = timed(lambda: ours_counts(p, sources, origins), runs)
    mem_oc = peak_mb() - base
    reset_peak()
    base = rss_mb()
    t_sc, ts_sc, c_sp = timed(lambda: scipy_counts(g, p), 1)
    mem_sc = peak_mb() - base
    same_c = np.array_equal(c_ours, c_sp)
    print(
        f"  (b) outlets per format within {WALK_15_MIN_M:.0f} m (15 min at 4 km/h) of "
        f"{len(p.origin_node):,} origins (mean {c_ours.sum(axis=1).mean():.1f} outlets each):"
    )
    print(f"      ours  median {t_oc:.3f} s {fmt_times(ts_oc)}  peak +{mem_oc:.0f} MB")
    print(
        f"      scipy median {t_sc:.3f} s {fmt_times(ts_sc)}  peak +{mem_sc:.0f} MB  "
        f"(csgraph.dijkstra with limit=1000, 50 origins per call, dense rows)"
    )
    print(f"      ratio scipy / ours = {t_sc / t_oc:.1f}x;  counts identical to scipy: {same_c}")
    if not (same and same_c):
        raise SystemExit("RESULTS DIFFER FROM SCIPY")
    return t_ours, t_oc


def run_pandana(p: Problem, runs: int) -> None:
    import pandana
    import pandas as pd

    net = p.net
    header(f"pandana {pandana.__version__} on a smaller {net.source} ({net.n_nodes:,} nodes, {net.n_edges:,} streets)")
    print("  SMALLER GRID FOR PANDANA: its contraction hierarchy is slow to build on grids; our engine and")
    print(
        f"  scipy are timed again on this same grid. {len(p.outlet_node):,} outlets in {N_FORMATS} formats, "
        f"{len(p.origin_node):,} origins."
    )
    sources = Snapped.at_nodes(net, p.outlet_node)
    origins = Snapped.at_nodes(net, p.origin_node)
    t_ours, ts_ours, d_ours = timed(lambda: ours_nearest(p, sources), runs)
    t_oc, ts_oc, c_ours = timed(lambda: ours_counts(p, sources, origins), runs)
    g = scipy_graph(net)
    t_sp, _, d_sp = timed(lambda: scipy_nearest(g, p), 1)
    assert np.array_equal(d_ours, d_sp), "ours differs from scipy on the pandana grid"

    reset_peak()
    base = rss_mb()
    t = time.perf_counter()
    with quiet_fd1():  # pandana prints progress
        pn = pandana.Network(
            pd.Series(net.node_x),
            pd.Series(net.node_y),
            pd.Series(net.edge_u),
            pd.Series(net.edge_v),
            pd.DataFrame({"m": net.edge_len}),
            twoway=True,
        )
    t_ch = time.perf_counter() - t
    t = time.perf_counter()
    with quiet_fd1():  # pandana prints progress
        pn.precompute(WALK_15_MIN_M)
    t_pre = time.perf_counter() - t
    mem_prep = peak_mb() - base
    # pandana's nearest search is bounded: give it a bound above every true nearest distance
    reach = d_ours[np.isfinite(d_ours)]
    maxdist = float(np.ceil(reach.max() / 100.0) * 100.0 + 100.0)
    xs, ys = net.node_x[p.outlet_node], net.node_y[p.outlet_node]

    def pandana_nearest() -> tuple[NDArray, float]:
        out = np.empty((net.n_nodes, N_FORMATS))
        t_set = 0.0
        with quiet_fd1():  # pandana prints progress
            for c in range(N_FORMATS):
                m = p.outlet_fmt == c
                t0 = time.perf_counter()
                pn.set_pois(f"f{c}", maxdist, 1, pd.Series(xs[m]), pd.Series(ys[m]))
                t_set += time.perf_counter() - t0
                out[:, c] = pn.nearest_pois(maxdist, f"f{c}", num_pois=1)[1].to_numpy()
        return out, t_set

    counts_at = np.zeros((net.n_nodes, N_FORMATS), dtype=np.int64)
    np.add.at(counts_at, (p.outlet_node, p.outlet_fmt), 1)

    def pandana_counts() -> NDArray:
        pairs = pn.nodes_in_range(p.origin_node, WALK_15_MIN_M)
        pos = pd.Series(np.arange(len(p.origin_node)), index=p.origin_node)
        row = pos.loc[pairs["source"].to_numpy()].to_numpy()
        out = np.zeros((len(p.origin_node), N_FORMATS), dtype=np.int64)
        np.add.at(out, row, counts_at[pairs["destination"].to_numpy()])
        return out

    reset_peak()
    base = rss_mb()
    # pandana's nearest search takes tens of seconds here: time it once, without a warm-up
    t_pn, ts_pn, (d_pn, t_set) = timed(pandana_nearest, 1, warmup=0)
    t_pc, ts_pc, c_pn = timed(pandana_counts, max(1, min(runs, 3)))
    mem_q = peak_mb() - base

    # checks: pandana keeps float32 distances and caps at maxdist
    fin = np.isfinite(d_ours)
    err = np.abs(d_pn[fin] - d_ours[fin])
    ok_near = bool((err <= 1e-5 * d_ours[fin] + 0.05).all() and (d_pn[~fin] >= maxdist - 0.05).all())
    # counts: differences allowed only for outlets within float32 rounding of 1,000 m
    bad = np.flatnonzero((c_pn != c_ours).any(axis=1))
    unexplained = 0
    if len(bad):
        dd = dijkstra(g, directed=True, indices=p.origin_node[bad], limit=WALK_15_MIN_M + 1.0)
        for i, o in enumerate(bad):
            near_edge = np.abs(dd[i, p.outlet_node] - WALK_15_MIN_M) <= 0.05
            diff = np.abs(c_pn[o] - c_ours[o]).sum()
            if diff > np.count_nonzero(near_edge):
                unexplained += 1
    print(
        f"  pandana preprocessing: Network() incl. contraction hierarchy {t_ch:.2f} s, "
        f"precompute({WALK_15_MIN_M:.0f}) {t_pre:.2f} s, peak +{mem_prep:.0f} MB"
    )
    print(f"  (a) nearest, all nodes x {N_FORMATS} formats (pandana maxdist {maxdist:.0f} m):")
    print(f"      ours    median {t_ours:.3f} s {fmt_times(ts_ours)}   scipy {t_sp:.3f} s")
    print(
        f"      pandana median {t_pn:.3f} s {fmt_times(ts_pn)} (of which set_pois {t_set:.3f} s)  "
        f"queries peak +{mem_q:.0f} MB"
    )
    print(
        f"      ratio pandana / ours = {t_pn / t_ours:.1f}x (with preprocessing "
        f"{(t_pn + t_ch + t_pre) / t_ours:.0f}x); "
        f"equal within float32: {ok_near} (max diff {err.max():.2e} m)"
    )
    print(f"  (b) counts within {WALK_15_MIN_M:.0f} m for {len(p.origin_node):,} origins:")
    print(f"      ours    median {t_oc:.3f} s {fmt_times(ts_oc)}")
    print(f"      pandana median {t_pc:.3f} s {fmt_times(ts_pc)} (nodes_in_range + join to outlets)")
    print(
        f"      ratio pandana / ours = {t_pc / t_oc:.1f}x; origins with equal counts "
        f"{len(p.origin_node) - len(bad):,}/{len(p.origin_node):,}"
        + (f" (the {len(bad) - unexplained} others differ only by outlets within 5 cm of 1,000 m)" if len(bad) else "")
    )
    if not ok_near or unexplained:
        raise SystemExit("PANDANA RESULTS DIFFER BEYOND ITS FLOAT32 LIMITS")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true", help="quick run: 150x150 grid (pandana 60x60), 500 origins")
    ap.add_argument("--runs", type=int, default=7, help="timed runs per query (median reported)")
    ap.add_argument("--pandana-size", type=int, default=None, help="grid side for the pandana comparison")
    ap.add_argument("--no-pandana", action="store_true", help="skip pandana")
    a = ap.parse_args(argv)
    side, n_orig = (150, 500) if a.small else (500, 2000)
    pside = a.pandana_size or (60 if a.small else 200)

    print("lifecircle walking-engine benchmark (SYNTHETIC street grid and outlets)")
    print(f"machine: {describe_machine()}")
    t = time.perf_counter()
    p = make_problem(side, n_orig)
    t_gen = time.perf_counter() - t
    print(
        f"grid and outlets generated in {t_gen:.1f} s (includes the network's one-off CSR adjacency); "
        f"each timed query gets one untimed warm-up call first (numba compile or cache load)"
    )
    run_main(p, a.runs)
    if not a.no_pandana:
        try:
            import pandana  # noqa: F401
        except ImportError:
            print("\npandana is not installed (pip install -e '.[bench]'): skipped")
        else:
            run_pandana(make_problem(pside, min(n_orig, pside * pside // 4), seed=1), a.runs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"\nwhole-process peak RSS {peak:.0f} MB (all engines, both grids); done.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

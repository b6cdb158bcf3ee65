"""Benchmarks of the engine at scale on generated (synthetic) street grids.

**The scale table** (default): grids of 0.25, 1 and 4 million nodes (blocks of about 90 m, 10 % of
the links removed), one outlet per five nodes in the profile's 25 formats; each size runs in its own
subprocess, so that its peak memory (ru_maxrss, the whole process: Python, numba, the network, the
outlets table) is its own. Timed: network build (grid + Hilbert renumbering), snap outlets
(projection, segment index, snapping), nearest x 25 (nearest distance to each format from every
node: ``nearest_distance_nodes``, float32 metres without outlet labels, what the surface needs,
searched as it is by default: tile by tile from :func:`lifecircle.network.tiled.cache_min_nodes`
nodes (200,000, or more where the machine's last-level cache holds more), whole below; the peak is
taken right after it). Then the same search over the whole city at once (``tiling=None``) and tile by
tile at any size, both checked equal, for the effect of the tiles. Then the same with labels
(``nearest_per_category``: float64 metres and int64 outlet ids, 4x the result memory), timed and
its peak printed apart.
Locality: nearest x 25 is also timed on the same network before renumbering (row-major nodes,
as generated) and with its nodes in random order, in the same run. Printed: time and peak memory
per million nodes, and the 4M / 1M time ratio.

    .venv/bin/python benchmarks/bench_scale.py [--sizes 0.25,1,4] [--runs 3] [--rounds 3]

The sizes are measured in turn, ``--rounds`` times (0.25M, 1M, 4M, 0.25M, ...), each in a fresh
subprocess: these virtual machines are noisy over minutes (a fresh process touches new memory at
350-9,000 MB/s depending on the host's state, see :func:`first_touch_speed`), so the 4M / 1M ratio
is given per round (runs made side by side) and as the median of those.

**The Dask layer** (``--dask``): the long accessibility table computed in one process vs.
partitioned on a LocalCluster of worker processes.

Problem (all synthetic): a ``side`` x ``side`` street grid (default 1000 x 1000 = 1,000,000
nodes, blocks of about 90 m, 10 % of the links removed), 200,000 outlets in the profile's 25
formats, 200,000 origins at random places; nearest distance per format and counts within
5/10/15 minutes for every origin (``access_table``, 5,000,000 rows).

Timed, median of ``--runs``:
  single   ``lifecircle.network.table.access_table`` in this process (numba on every core)
  single1  the same with numba on one thread (the work one worker thread does)
  dask     ``lifecircle.scale.access_table_dask`` on LocalCluster(``--workers`` processes x 1
           thread); the network is sent once (warm-up) and kept on the workers; the cluster
           start is reported apart. The dask table is checked equal to the single-process one.
Memory: peak RSS of this process and of each worker process (ru_maxrss); and the client's peak
RSS above its baseline during one dask run that gathers the table vs. one that streams it to
parquet parts (``out_dir``; the parts are checked equal to the single-process table). Since the
network stays on the workers between calls (DistributedNetwork), the timed dask runs after the
warm-up do not send it again.

HONESTY: this machine has 2 cores, shared with other work. Two worker processes on two cores can
at best match a single process whose numba kernels already use both cores; what this benchmark
shows is the *mechanism* (partitioning, broadcast, gather, identical results, the overhead it
costs), not cluster scaling, which needs more machines.

Run:  .venv/bin/python benchmarks/bench_scale.py --dask [--small] [--runs N] [--side N] [--origins N] [--workers N]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numba
import pandas as pd

from lifecircle.network.table import access_table
from lifecircle.network.tiled import DEFAULT_TILING, Tiling, last_level_cache_bytes
from lifecircle.profile import load_profile
from lifecircle.scale import access_table_dask, get_client, read_parts
from lifecircle.scale.cluster import close_client
from lifecircle.scale.synthetic import grid_network, random_outlets, random_points

from _machine import describe_machine


def peak_mb() -> float:
    """Peak resident memory of the calling process, MB (here and in every figure of this
    benchmark MB means MiB, 2**20 bytes, as ``ru_maxrss`` counts; the scale table also gives
    the 4M peak in GB of 10**9 bytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


class PeakRss:
    """Peak resident memory of this process while the block runs (sampled every 5 ms), MB."""

    def __enter__(self) -> PeakRss:
        import psutil

        self._p = psutil.Process()
        self.base_mb = self.peak_mb = self._p.memory_info().rss / 2**20
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak_mb = max(self.peak_mb, self._p.memory_info().rss / 2**20)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.peak_mb = max(self.peak_mb, self._p.memory_info().rss / 2**20)


def timed(fn, runs: int):
    times, out = [], None
    for _ in range(runs):
        out = None
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, out


def fmt(ts: list[float]) -> str:
    return "[" + ", ".join(f"{x:.2f}" for x in ts) + "]"


def one_size(n_nodes: int, locality: bool, runs: int = 3) -> dict[str, float]:
    """The scale table's row for a grid of about ``n_nodes`` nodes (run in a fresh process): build,
    snap and nearest each the median of ``runs``, every run from a cold network (the segment
    index and adjacency built again, as a first run builds them)."""
    import numpy as np

    from lifecircle.network.engine import nearest_distance_nodes, nearest_per_category
    from lifecircle.network.snap import snap_lonlat

    prof = load_profile("yichang-2022")
    warm = grid_network(20, 20, seed=1)  # loads the compiled kernels (cached on disk) outside the timings
    w_out = random_outlets(warm, prof, 80, seed=1)
    w_snap = snap_lonlat(warm, w_out["lon"].to_numpy(float), w_out["lat"].to_numpy(float), 300.0)
    nearest_per_category(warm, w_snap, np.arange(80) % len(prof.formats), len(prof.formats))
    w_tiles = Tiling(core_nodes=50, bound_m=200.0, min_nodes=0)  # the tiled kernels too
    nearest_distance_nodes(warm, w_snap, np.arange(80) % len(prof.formats), len(prof.formats), tiling=w_tiles)
    side = int(round(n_nodes**0.5))
    row: dict[str, float] = {"base_mb": peak_mb()}  # Python, numpy, numba, shapely, pyproj loaded
    codes = [f.code for f in prof.formats]

    def nearest_s(n) -> float:
        snapped = snap_lonlat(n, lon, lat, prof.walking.snap_max_m)
        gc.collect()
        t = time.perf_counter()
        nearest_distance_nodes(n, snapped, cat, len(codes))
        return time.perf_counter() - t

    build_times, net = [], None
    for i in range(runs):  # network build: the grid, then renumbered along a Hilbert curve
        net = None
        gc.collect()
        t0 = time.perf_counter()
        raw = grid_network(side, side, seed=1)
        t_grid = time.perf_counter() - t0
        if i == 0:
            outlets = random_outlets(raw, prof, raw.n_nodes // 5, seed=1)
            cat = outlets["format"].map({c: i for i, c in enumerate(codes)}).to_numpy(np.int64)
            lon, lat = outlets["lon"].to_numpy(float), outlets["lat"].to_numpy(float)
            del outlets
            if locality:
                row["nearest_rowmajor_s"] = nearest_s(raw)
                shuffled = raw.renumbered(np.random.default_rng(0).permutation(raw.n_nodes))
                row["nearest_random_s"] = nearest_s(shuffled)
                del shuffled
        gc.collect()
        t0 = time.perf_counter()
        net = raw.renumbered()  # what a network built from lines gets (WalkNetwork.from_lines)
        build_times.append(t_grid + time.perf_counter() - t0)
        del raw
    row["build_s"] = statistics.median(build_times)
    snap_times, near_times = [], []
    for _ in range(runs):  # each run from a cold network: its derived structures built again
        dist = snapped = None
        for derived in ("adjacency", "csr", "components", "edge_tree", "segment_index"):
            net.__dict__.pop(derived, None)
        gc.collect()
        t0 = time.perf_counter()
        snapped = snap_lonlat(net, lon, lat, prof.walking.snap_max_m)
        snap_times.append(time.perf_counter() - t0)
        row["peak_before_nearest_mb"] = peak_mb()
        gc.collect()
        t0 = time.perf_counter()
        dist = nearest_distance_nodes(net, snapped, cat, len(codes))  # float32 metres, no labels
        near_times.append(time.perf_counter() - t0)
    row["peak_mb"] = peak_mb()  # before the check below: its (nodes x formats) booleans are not the work's
    row["snap_s"] = statistics.median(snap_times)
    row["nearest_s"] = statistics.median(near_times)
    row["runs"] = runs
    assert np.isfinite(dist).mean() > 0.99
    row.update(
        nodes=net.n_nodes,
        edges=net.n_edges,
        outlets=len(lon),
        snapped=int(snapped.ok.sum()),
        network_mb=net.array_nbytes() / 2**20,
        result_mb=dist.nbytes / 2**20,
    )
    gc.collect()
    t0 = time.perf_counter()
    whole = nearest_distance_nodes(net, snapped, cat, len(codes), tiling=None)  # the whole-city search
    row["nearest_whole_s"] = time.perf_counter() - t0
    gc.collect()
    t0 = time.perf_counter()
    tiles = nearest_distance_nodes(net, snapped, cat, len(codes), tiling=Tiling(min_nodes=0))  # tiles at any size
    row["nearest_tiled_s"] = time.perf_counter() - t0
    assert np.array_equal(whole, tiles) and np.array_equal(whole, dist), "tiled and whole-city searches differ"
    del tiles
    del dist, whole
    gc.collect()
    t0 = time.perf_counter()
    full, lab = nearest_per_category(net, snapped, cat, len(codes))  # float64 metres and int64 labels
    row["nearest_labels_s"] = time.perf_counter() - t0
    row["peak_labels_mb"] = peak_mb()
    row["result_labels_mb"] = (full.nbytes + lab.nbytes) / 2**20
    return row


def first_touch_speed(mb: int = 400) -> float:
    """How fast a fresh process touches ``mb`` MB of new memory, MB/s.

    This machine is a virtual machine whose host backs guest memory lazily and takes freed memory
    back at once: new memory runs at about 400 MB/s on first touch, against 5-8 GB/s for memory a
    process reuses (measured here). Every array above glibc's 32 MB mmap limit is new memory each
    time it is allocated, so a 4M run pays this toll on more of its arrays than a 1M run (whose
    8-32 MB arrays are recycled inside the process): part of the 4M / 1M ratio is the host's
    paging, and its variation from run to run is most of the noise in the table. To see the
    engine without it, run the table with glibc keeping freed memory in the process
    (``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736``): 4M / 1M was 3.73x that way,
    against 4.1-4.8x by default, with a higher peak (2,044 MB, nothing given back)."""
    code = (
        f"import numpy as np, time; t = time.perf_counter(); a = np.ones({mb} * 2**17); "
        f"print({mb} / (time.perf_counter() - t))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return float(out.strip())


def _run_size(m: float, runs: int, locality: bool) -> dict:
    """One size's row, measured in its own subprocess."""
    cmd = [sys.executable, __file__, "--one", str(int(m * 1e6)), "--runs", str(runs)]
    if locality:
        cmd.append("--locality")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _print_row(r: dict) -> None:
    print(
        f"{r['nodes']:>10,} nodes {r['edges']:>10,} edges | build {r['build_s']:6.2f} s | snap "
        f"{r['outlets']:,} outlets {r['snap_s']:6.2f} s | nearest x 25 {r['nearest_s']:6.2f} s | "
        f"peak {r['peak_mb']:6.0f} MB (before the grid {r['base_mb']:.0f} MB; "
        f"network arrays {r['network_mb']:.0f} MB; result {r['result_mb']:.0f} MB float32)",
        flush=True,
    )
    tiled = (
        f"tile by tile (the default from {DEFAULT_TILING.min_nodes:,} nodes) is "
        f"{r['nearest_whole_s'] / r['nearest_tiled_s']:.2f}x faster ({r['nearest_tiled_s']:.2f} s)"
    )
    print(
        f"{'':>10}  whole-city search (tiling=None, same values checked equal): nearest x 25 "
        f"{r['nearest_whole_s']:6.2f} s; {tiled}",
        flush=True,
    )
    print(
        f"{'':>10}  with labels (float64 metres + int64 outlet ids, {r['result_labels_mb']:.0f} MB): "
        f"nearest x 25 {r['nearest_labels_s']:6.2f} s, peak {r['peak_labels_mb']:6.0f} MB",
        flush=True,
    )


def _all_three(r: dict) -> float:
    return r["build_s"] + r["snap_s"] + r["nearest_s"]


def _median_row(rows: list[dict]) -> dict:
    """The rows of one size over the rounds: times the median, peaks the largest."""
    out = dict(rows[0])
    for k, v in rows[0].items():
        if not all(k in r for r in rows):
            continue  # the locality timings: round 1 only
        if isinstance(v, float) and k.endswith("_s"):
            out[k] = statistics.median(r[k] for r in rows)
        elif k.startswith("peak"):
            out[k] = max(r[k] for r in rows)
    return out


def table_main(sizes: list[float], locality_at: float, runs: int, rounds: int) -> int:
    """Run every size in its own subprocess, ``rounds`` times in turn (1M, 4M, 1M, 4M, ...: the
    machine's noise drifts over minutes, so each round's 4M / 1M ratio compares runs made side by
    side), and print the scale table of the medians."""
    print(f"machine: {describe_machine()}")
    print(
        f"last-level cache {last_level_cache_bytes() / 2**20:.0f} MiB: nearest is searched tile by tile "
        f"from {DEFAULT_TILING.min_nodes:,} nodes, whole below (network/tiled.py cache_min_nodes)"
    )
    print(f"times: median of {runs} runs each (build, snap, nearest) in each of {rounds} rounds; the rest one run")
    print(f"first touch of new memory in a fresh process: {first_touch_speed():,.0f} MB/s (see first_touch_speed)")
    by_size: dict[float, list[dict]] = {m: [] for m in sizes}
    for k in range(rounds):
        print(f"round {k + 1} of {rounds}:", flush=True)
        for m in sizes:
            by_size[m].append(_run_size(m, runs, locality=(m == locality_at and k == 0)))
            _print_row(by_size[m][-1])
        if 1.0 in by_size and 4.0 in by_size:
            ratio = _all_three(by_size[4.0][k]) / _all_three(by_size[1.0][k])
            print(f"  round {k + 1}: 4M / 1M all three {ratio:.2f}x")
    medians = {m: _median_row(by_size[m]) for m in sizes}
    rows = list(medians.values())
    print(f"medians over {rounds} rounds (peaks: the largest):")
    for r in rows:
        _print_row(r)
    print("per million nodes:")
    for r in rows:
        mn = r["nodes"] / 1e6
        print(
            f"  {r['nodes']:>10,} nodes: build {r['build_s'] / mn:.2f} s, snap {r['snap_s'] / mn:.2f} s, "
            f"nearest x 25 {r['nearest_s'] / mn:.2f} s, all {_all_three(r) / mn:.2f} s; "
            f"peak {r['peak_mb'] / mn:.0f} MB "
            f"({(r['peak_mb'] - r['base_mb']) / mn:.0f} MB above the process before the grid), "
            f"network arrays {r['network_mb'] / mn:.0f} MB"
        )
    if 4.0 in medians:
        pk = medians[4.0]["peak_mb"] * 2**20
        n_out = medians[4.0]["outlets"]
        print(f"peak at 4M nodes with {n_out:,} outlets: {pk / 2**30:.3f} GiB = {pk / 1e9:.3f} GB (aim < 2)")
    if 1.0 in by_size and 4.0 in by_size:
        big, one = medians[4.0], medians[1.0]
        for key in ("build_s", "snap_s", "nearest_s", "nearest_whole_s", "nearest_tiled_s"):
            print(f"4M / 1M {key[:-2].replace('_', ', ')}: {big[key] / one[key]:.2f}x (medians)")
        paired = [_all_three(a) / _all_three(b) for a, b in zip(by_size[4.0], by_size[1.0], strict=True)]
        print(
            f"4M / 1M all three: {_all_three(big) / _all_three(one):.2f}x of the medians; rounds "
            f"{', '.join(f'{p:.2f}' for p in paired)}, median {statistics.median(paired):.2f}x (aim <= 4.6x)"
        )
    for r in by_size.get(locality_at, []):
        if "nearest_rowmajor_s" in r:
            print(
                f"locality at {r['nodes']:,} nodes, nearest x 25 (round 1): nodes in random order "
                f"{r['nearest_random_s']:.2f} s, row-major as generated {r['nearest_rowmajor_s']:.2f} s, "
                f"Hilbert order {r['nearest_s']:.2f} s"
            )
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dask", action="store_true", help="the Dask-layer benchmark instead of the scale table")
    ap.add_argument("--sizes", default="0.25,1,4", help="scale table: millions of nodes, comma-separated")
    ap.add_argument("--locality-at", type=float, default=1.0, help="scale table: size (millions) timed in 3 orders")
    ap.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--locality", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--small", action="store_true", help="quick run: 300 x 300 grid, 20,000 origins")
    ap.add_argument("--side", type=int, default=1000, help="grid side (nodes = side^2)")
    ap.add_argument("--origins", type=int, default=200_000)
    ap.add_argument("--outlets", type=int, default=200_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3, help="timed runs (median reported)")
    ap.add_argument("--rounds", type=int, default=3, help="scale table: every size measured this many times in turn")
    ap.add_argument("--chunk", type=int, default=None, help="origins per task (default automatic)")
    a = ap.parse_args(argv)
    if a.one is not None:
        print(json.dumps(one_size(a.one, a.locality, a.runs)))
        return 0
    if not a.dask:
        return table_main([float(v) for v in a.sizes.split(",")], a.locality_at, a.runs, a.rounds)
    if a.small:
        a.side, a.origins, a.outlets = 300, 20_000, 20_000
    prof = load_profile("yichang-2022")
    print(f"machine: {describe_machine()}")
    t0 = time.perf_counter()
    net = grid_network(a.side, a.side, seed=1)
    outlets = random_outlets(net, prof, a.outlets, seed=1)
    origins = random_points(net, a.origins, seed=2, prefix="h")
    print(
        f"synthetic grid: {net.n_nodes:,} nodes, {net.n_edges:,} edges; {len(outlets):,} outlets in "
        f"{len(prof.formats)} formats; {len(origins):,} origins (built in {time.perf_counter() - t0:.1f} s)"
    )
    print(f"this process before any run: {rss_mb():.0f} MB resident")

    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    t_single, ts_single, ref = timed(lambda: access_table(net, origins, outlets, prof), a.runs)
    print(
        f"single  ({numba.get_num_threads()} numba threads)  median {t_single:.2f} s {fmt(ts_single)}; "
        f"{len(ref.table):,} rows; peak {peak_mb():.0f} MB"
    )
    numba.set_num_threads(1)
    t_one, ts_one, _ = timed(lambda: access_table(net, origins, outlets, prof), a.runs)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    print(f"single1 (1 numba thread)   median {t_one:.2f} s {fmt(ts_one)}")

    t0 = time.perf_counter()
    client = get_client(n_workers=a.workers, threads_per_worker=1)
    t_start = time.perf_counter() - t0
    try:
        # warm-up: compiles nothing new (kernels are cached on disk) but loads numba in the workers
        access_table_dask(net, origins.head(1000), outlets, prof, client)
        t_dask, ts_dask, res = timed(
            lambda: access_table_dask(net, origins, outlets, prof, client, chunk=a.chunk), a.runs
        )
        pd.testing.assert_frame_equal(ref.table, res.table, check_exact=True)
        del res
        # client memory: gathering the table vs streaming it to parquet parts (out_dir)
        mem = {}
        with tempfile.TemporaryDirectory() as tmp:
            for mode in ("gather", "out_dir", "gather", "out_dir"):
                gc.collect()
                kw = {"out_dir": os.path.join(tmp, "parts")} if mode == "out_dir" else {}
                t0 = time.perf_counter()
                with PeakRss() as pk:
                    r = access_table_dask(net, origins, outlets, prof, client, chunk=a.chunk, **kw)
                mem.setdefault(mode, []).append((pk.peak_mb - pk.base_mb, time.perf_counter() - t0))
                if mode == "out_dir":
                    streamed = read_parts(r.out_dir)
                    pd.testing.assert_frame_equal(ref.table, streamed, check_exact=True)
                    del streamed
                del r
        peaks = client.run(peak_mb)
        now = client.run(rss_mb)
    finally:
        close_client(client)
    print(
        f"dask    ({a.workers} workers x 1 thread) median {t_dask:.2f} s {fmt(ts_dask)}; "
        f"cluster start {t_start:.1f} s; table equal to single: yes"
    )
    for i, (w, pk) in enumerate(sorted(peaks.items())):
        print(f"        worker {i} ({w}): peak {pk:.0f} MB, now {now[w]:.0f} MB")
    print(f"client process peak {peak_mb():.0f} MB (holds the network, the origins and the gathered table)")
    for mode, what in (("gather", "table gathered to the client"), ("out_dir", "parts written by the workers")):
        print(
            f"client peak above its baseline, {mode:7s} ({what}): "
            f"{max(m for m, _ in mem[mode]):.0f} MB; times {fmt([s for _, s in mem[mode]])} s"
        )
    print(f"speed-up dask vs single: {t_single / t_dask:.2f}x; vs single on one thread: {t_one / t_dask:.2f}x")
    print(
        "note: 2 shared cores. This shows the mechanism (same result, partitioned work, its overhead), "
        "not cluster scaling, which needs more machines."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

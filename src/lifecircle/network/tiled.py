"""Nearest distance per category searched tile by tile, so that each search's arrays fit the cache.

Why: the whole-city search (:func:`kernels.nearest_dist_nodes`) advances every outlet's wavefront
of a category at once, so each bucket of its queue touches nodes all over the city. Measured on
generated grids (``benchmarks/bench_scale.py``), it costs about 0.8-1.0 s per million nodes on
16,000-65,000 nodes, 2.7 s at 1 million and 4.3 s at 4 million: the difference is cache misses.
Searching a tile at a time keeps each search inside a few megabytes, and makes the cost linear.

The result is exact, equal to the whole-city search bit for bit (float64), by this argument:

1. **A bound.** ``bound_m`` metres (``B``). Every edge is at least ``r`` times the straight line
   between its ends (``r`` = the network's smallest such ratio, at most 1; measured here, not
   assumed), so a walk of at most ``B`` metres never leaves a disc of ``R = B / r`` metres around
   its start.
2. **Tiles.** Square tiles of ``side_m`` metres cut the nodes into cores; a tile's *region* is its
   core rectangle widened by ``R`` on every side. A search from the category's seeds inside the
   region, on the region's own streets only and bounded by ``B``, gives every core node whose
   nearest outlet is within ``B`` its exact distance: the shortest walk and its outlet lie inside
   the region. Core nodes it does not reach are *open* (their nearest outlet is farther than ``B``,
   or none is reachable).
3. **Fix-up.** On the shortest walk to an open node, the last node within ``B`` is some tile's
   core node ``u``, known exactly, and the next node ``v`` is open with ``d(v) = d(u) + w(u, v) > B``.
   The tile pass records every such ``(v, d(u) + w)`` (and every outlet seed already beyond ``B``).
   One search per category from those, through open nodes only (known nodes start at ``-1``
   metres, so no step improves them), gives every open node its exact distance.

Bounded searches (``max_m <= B``) need no fix-up. The plan falls back to the whole-city search
when one tile would do, or when some edge is much shorter than the straight line (``r`` below
:data:`MIN_RATIO`, where regions would cover the city).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from threading import local
from typing import NamedTuple

import numba as nb
import numpy as np
from numpy.typing import NDArray

from lifecircle.network import kernels

INF = np.inf
MIN_RATIO = 0.25  # below this edge-length / straight-line ratio, tiles do not pay: search whole
# at most about this many tiles over the nodes' extent (most of them empty where it is mostly empty
# land or sea): the per-tile arrays (tiles x categories) stay small whatever the coordinates
MAX_TILES = 1 << 16


# tiles pay once a whole-city search's arrays outgrow the last-level cache: measured, the whole search
# was as fast as the tiles at 1 million nodes with a 300 MiB cache (faster at 250k and 500k, 1.3x
# slower at 4M), and at 250k nodes with a 32 MiB one (tiles 2x faster at 1M): about this many bytes
# of cache per node
CACHE_BYTES_PER_NODE = 300
MIN_TILED_NODES = 200_000  # never fewer, whatever the cache: below it the tiles' overlap costs more


_CACHE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def last_level_cache_bytes(cache_dir: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> int:
    """The size in bytes of the CPU's last (highest) cache level as Linux lists it (``index*/level``
    and ``size``: ``307200K``; a unit of K, M or G in either case, or none for bytes), or 0 where it
    is not listed or cannot be read. Never raises: the engine reads it on import."""
    sizes = {}
    try:
        entries = list(cache_dir.glob("index*"))
    except OSError:  # e.g. a sandbox that denies /sys
        return 0
    for d in entries:
        try:
            level, size = int((d / "level").read_text()), (d / "size").read_text().strip().upper()
            unit = size[-1:] if size[-1:] in ("K", "M", "G") else ""
            sizes[level] = int(size[: len(size) - len(unit)]) * _CACHE_UNITS[unit]
        except (OSError, ValueError):
            continue
    return sizes[max(sizes)] if sizes else 0


def cache_min_nodes() -> int:
    """The smallest network (nodes) searched tile by tile on this machine: ``MIN_TILED_NODES``, or
    as many nodes as the last-level cache holds at ``CACHE_BYTES_PER_NODE`` if that is more."""
    return max(MIN_TILED_NODES, last_level_cache_bytes() // CACHE_BYTES_PER_NODE)


@dataclass(frozen=True)
class Tiling:
    """When and how to search tile by tile.

    ``core_nodes``: about how many nodes a tile's core holds (the tile side follows from the
    density around the average node, :func:`node_density`; at least twice the reach of a walk
    of ``bound_m``); ``bound_m``: the bound ``B`` in metres (walks up to it are found in
    the tile pass, longer ones by the fix-up); ``min_nodes``: networks with fewer nodes are
    searched whole (tiling only pays when the arrays outgrow the cache; by default
    :func:`cache_min_nodes`, from this machine's cache).

    The defaults were the fastest of core 16k / 32k / 64k nodes and bound 1,000 / 1,500 / 2,000 /
    2,500 m on generated grids of 1 million nodes (blocks of about 90 m, 25 formats): a smaller
    core fits the cache better but its region (core + 2 km each side) grows relative to it; a
    shorter bound leaves more nodes to the fix-up, which searches across the city.
    """

    core_nodes: int = 16_384
    bound_m: float = 2_000.0
    min_nodes: int = field(default_factory=cache_min_nodes)

    def __post_init__(self) -> None:
        if not math.isfinite(self.bound_m):  # inf made tiles of infinite side, NaN none
            raise ValueError(f"Tiling.bound_m must be a finite number of metres, not {self.bound_m}")
        if self.core_nodes < 1:
            raise ValueError(f"Tiling.core_nodes must be at least 1, not {self.core_nodes}")


DEFAULT_TILING = Tiling()


class TilePlan(NamedTuple):
    """Tiles of a network. Tile ``t`` is column ``t % n_x``, row ``t // n_x`` of a grid of squares
    of ``side_m`` metres from ``(x0, y0)``; its core nodes are ``core[core_ptr[t]:core_ptr[t+1]]``
    and its region's ``region[region_ptr[t]:region_ptr[t+1]]`` (both ascending); ``node_tile`` is
    each node's tile; ``reach_tiles`` how many tiles away a region reaches."""

    core_ptr: NDArray[np.int64]
    core: NDArray[np.int32]
    region_ptr: NDArray[np.int64]
    region: NDArray[np.int32]
    node_tile: NDArray[np.int32]
    n_x: int
    n_y: int
    reach_tiles: int
    bound_m: float


def edge_ratio(node_x: NDArray, node_y: NDArray, edge_u: NDArray, edge_v: NDArray, edge_len: NDArray) -> float:
    """The smallest ratio of an edge's length (metres) to the straight line between its ends,
    at most 1 (0 when an edge of no length joins two different points)."""
    return float(_edge_ratio(node_x, node_y, edge_u, edge_v, edge_len))


@nb.njit(cache=True, nogil=True)
def _edge_ratio(x, y, u, v, length):
    r = 1.0
    for e in range(u.shape[0]):
        straight = math.hypot(x[u[e]] - x[v[e]], y[u[e]] - y[v[e]])
        if straight > 0 and length[e] < r * straight:
            r = length[e] / straight
    return r


def plan_tiles(node_x: NDArray, node_y: NDArray, ratio: float, tiling: Tiling) -> TilePlan | None:
    """Cut the nodes (coordinates in metres) into tiles, or ``None`` when the network should be
    searched whole (too small, one tile, or edges much shorter than the straight line)."""
    n = len(node_x)
    if n < tiling.min_nodes or ratio < MIN_RATIO or n == 0:
        return None
    reach_m = tiling.bound_m / ratio * (1 + 1e-9) + 1e-6  # a hair wider: rounding never cuts a walk
    x0, y0 = float(node_x.min()), float(node_y.min())
    w, h = float(node_x.max()) - x0, float(node_y.max()) - y0
    density = node_density(node_x, node_y, x0, y0, w, h, 2 * reach_m)
    side = max(
        math.sqrt(tiling.core_nodes / density),
        2 * reach_m,
        math.sqrt(w * h / MAX_TILES),
    )
    n_x, n_y = int(w // side) + 1, int(h // side) + 1
    if n_x * n_y == 1:
        return None
    core_ptr, core, region_ptr, region, node_tile = _plan_arrays(node_x, node_y, x0, y0, side, n_x, n_y, reach_m)
    reach_tiles = int(math.ceil(reach_m / side))
    return TilePlan(core_ptr, core, region_ptr, region, node_tile, n_x, n_y, reach_tiles, float(tiling.bound_m))


def node_density(node_x: NDArray, node_y: NDArray, x0: float, y0: float, w: float, h: float, cell_m: float) -> float:
    """Nodes per square metre around the average node: the nodes counted in square cells of
    ``cell_m`` metres from ``(x0, y0)`` (the nodes' extent is ``w`` × ``h`` metres), each cell's
    density weighted by its nodes. Unlike the mean over the nodes' bounding box it ignores empty
    land, so a dense city with a few far-away islands or sparse suburbs still gets tiles of about
    ``core_nodes`` nodes where its nodes are."""
    n_cx, n_cy = int(w // cell_m) + 1, int(h // cell_m) + 1
    n = len(node_x)
    if n_cx * n_cy <= 4 * n + 1024:
        counts = _cell_counts(node_x, node_y, x0, y0, cell_m, n_cx, n_cy)
    else:  # a sparse extent (far-away nodes): count the occupied cells only
        counts = np.unique(_cell_keys(node_x, node_y, x0, y0, cell_m, n_cx, n_cy), return_counts=True)[1]
    counts = counts.astype(np.float64)
    return float(np.dot(counts, counts)) / (n * cell_m * cell_m)


@nb.njit(cache=True, nogil=True)
def _cell_of(x, y, x0, y0, cell, n_cx, n_cy):
    return min(int((y - y0) / cell), n_cy - 1) * n_cx + min(int((x - x0) / cell), n_cx - 1)


@nb.njit(cache=True, nogil=True)
def _cell_counts(x, y, x0, y0, cell, n_cx, n_cy):
    counts = np.zeros(n_cx * n_cy, dtype=np.int64)
    for i in range(x.shape[0]):
        counts[_cell_of(x[i], y[i], x0, y0, cell, n_cx, n_cy)] += 1
    return counts


@nb.njit(cache=True, nogil=True)
def _cell_keys(x, y, x0, y0, cell, n_cx, n_cy):
    key = np.empty(x.shape[0], dtype=np.int64)
    for i in range(x.shape[0]):
        key[i] = _cell_of(x[i], y[i], x0, y0, cell, n_cx, n_cy)
    return key


@nb.njit(cache=True, nogil=True)
def _tile_span(x, reach, x0, side, n):
    """The tiles ``lo..hi`` along one axis whose cores lie within ``reach`` metres of ``x``."""
    lo = max(int(math.floor((x - reach - x0) / side)), 0)
    hi = min(int(math.floor((x + reach - x0) / side)), n - 1)
    return lo, hi


@nb.njit(cache=True, nogil=True)
def _plan_arrays(x, y, x0, y0, side, n_x, n_y, reach):
    """Core and region lists of every tile by two counting passes over the nodes (in node order,
    so that every list is ascending). Returns ``(core_ptr, core, region_ptr, region, node_tile)``."""
    n = x.shape[0]
    n_t = n_x * n_y
    node_tile = np.empty(n, dtype=np.int32)
    core_ptr = np.zeros(n_t + 1, dtype=np.int64)
    region_ptr = np.zeros(n_t + 1, dtype=np.int64)
    for i in range(n):
        tx = min(int((x[i] - x0) / side), n_x - 1)
        ty = min(int((y[i] - y0) / side), n_y - 1)
        node_tile[i] = ty * n_x + tx
        core_ptr[ty * n_x + tx + 1] += 1
        ax, bx = _tile_span(x[i], reach, x0, side, n_x)
        ay, by = _tile_span(y[i], reach, y0, side, n_y)
        for ry in range(ay, by + 1):
            for rx in range(ax, bx + 1):
                region_ptr[ry * n_x + rx + 1] += 1
    for t in range(n_t):
        core_ptr[t + 1] += core_ptr[t]
        region_ptr[t + 1] += region_ptr[t]
    core = np.empty(core_ptr[n_t], dtype=np.int32)
    region = np.empty(region_ptr[n_t], dtype=np.int32)
    core_fill = core_ptr[:-1].copy()
    region_fill = region_ptr[:-1].copy()
    for i in range(n):
        t = node_tile[i]
        core[core_fill[t]] = i
        core_fill[t] += 1
        ax, bx = _tile_span(x[i], reach, x0, side, n_x)
        ay, by = _tile_span(y[i], reach, y0, side, n_y)
        for ry in range(ay, by + 1):
            for rx in range(ax, bx + 1):
                r = ry * n_x + rx
                region[region_fill[r]] = i
                region_fill[r] += 1
    return core_ptr, core, region_ptr, region, node_tile


@nb.njit(cache=True, nogil=True)
def _local_graph(g, region, loc):
    """The streets between the region's nodes (``loc[node]`` = its place in ``region``, ``-1``
    outside), renumbered in region order, as a :class:`kernels.Graph` (adjacency only)."""
    m = region.shape[0]
    indptr = np.zeros(m + 1, dtype=np.int64)
    for i in range(m):
        u = region[i]
        k = 0
        for q in range(g.indptr[u], g.indptr[u + 1]):
            if loc[g.nbr[q]] >= 0:
                k += 1
        indptr[i + 1] = indptr[i] + k
    nbr = np.empty(indptr[m], dtype=np.int32)
    weight = np.empty(indptr[m], dtype=np.float64)
    j = 0
    for i in range(m):
        u = region[i]
        for q in range(g.indptr[u], g.indptr[u + 1]):
            v = loc[g.nbr[q]]
            if v >= 0:
                nbr[j] = v
                weight[j] = g.edge_len_m[g.edge_id[q]]  # the graph may carry no weights
                j += 1
    no32 = np.empty(0, dtype=np.int32)
    return kernels.Graph(indptr, nbr, weight, no32, no32, no32, np.empty(0, dtype=np.float64))


@nb.njit(cache=True, nogil=True)
def _region_seeds(t, n_x, n_y, reach_tiles, seeds, tc_ptr, n_cat, loc):
    """The seeds (sorted by tile, then category: ``tc_ptr[tile * n_cat + c]``) whose node is in
    tile ``t``'s region, renumbered to the region and grouped by category (``ptr[c]:ptr[c+1]``)."""
    tx, ty = t % n_x, t // n_x
    x_lo, x_hi = max(tx - reach_tiles, 0), min(tx + reach_tiles, n_x - 1)
    y_lo, y_hi = max(ty - reach_tiles, 0), min(ty + reach_tiles, n_y - 1)
    ptr = np.zeros(n_cat + 1, dtype=np.int64)
    for c in range(n_cat):
        for ry in range(y_lo, y_hi + 1):
            for rx in range(x_lo, x_hi + 1):
                s = (ry * n_x + rx) * n_cat + c
                for i in range(tc_ptr[s], tc_ptr[s + 1]):
                    if loc[seeds.node[i]] >= 0:
                        ptr[c + 1] += 1
        ptr[c + 1] += ptr[c]
    node = np.empty(ptr[n_cat], dtype=np.int32)
    dist = np.empty(ptr[n_cat], dtype=np.float64)
    label = np.empty(ptr[n_cat], dtype=np.int64)
    j = 0
    for c in range(n_cat):
        for ry in range(y_lo, y_hi + 1):
            for rx in range(x_lo, x_hi + 1):
                s = (ry * n_x + rx) * n_cat + c
                for i in range(tc_ptr[s], tc_ptr[s + 1]):
                    if loc[seeds.node[i]] >= 0:
                        node[j] = loc[seeds.node[i]]
                        dist[j] = seeds.dist_m[i]
                        label[j] = seeds.label[i]
                        j += 1
    return kernels.Seeds(node, dist, label), ptr


@nb.njit(cache=True, nogil=True)
def _grow(a, n):
    """``a`` with room for twice as many entries, its first ``n`` kept."""
    b = np.empty(max(2 * a.shape[0], 16), dtype=a.dtype)
    b[:n] = a[:n]
    return b


@nb.njit(cache=True, nogil=True)
def _tile_pass(g, core, region, loc, t, n_x, n_y, reach_tiles, seeds, tc_ptr, bound, max_d, width, n_ring, out):
    """The tile pass of tile ``t`` (its ``core`` and ``region`` nodes; ``loc`` all ``-1`` on entry
    and on return): for every category, the exact distance (metres) of each core node within
    ``bound`` into ``out[c, node]``, ``inf`` for the open ones; returns the fix-up seeds
    ``(category, node, metres)`` when ``max_d > bound`` (see the module's docstring)."""
    n_cat = out.shape[0]
    m = region.shape[0]
    for i in range(m):
        loc[region[i]] = i
    lg = _local_graph(g, region, loc)
    local_seeds, ptr = _region_seeds(t, n_x, n_y, reach_tiles, seeds, tc_ptr, n_cat, loc)
    dist = np.empty(m)
    lab = np.empty(m, dtype=np.int8)  # labels are not kept: a byte of scratch each
    done = np.empty(m)
    head = np.empty(n_ring, dtype=np.int64)
    first_cap, full_cap = kernels._pool_caps(m, lg.nbr.shape[0], local_seeds.node.shape[0])
    pool = np.empty(first_cap, dtype=np.int64)
    search_d = bound if max_d > bound else max_d  # not min(): a NaN max_d reaches nothing, as whole
    fix = max_d > bound
    reach_out = np.empty(core.shape[0])  # a core node within bound - its longest edge adds no fix-up seed
    for j in range(core.shape[0]):
        r = 0.0
        for q in range(g.indptr[core[j]], g.indptr[core[j] + 1]):
            r = max(r, g.edge_len_m[g.edge_id[q]])
        reach_out[j] = bound - r
    f_cat = np.empty(0, dtype=np.int32)
    f_node = np.empty(0, dtype=np.int32)
    f_d = np.empty(0, dtype=np.float64)
    n_f = 0
    for c in range(n_cat):
        a, b = ptr[c], ptr[c + 1]
        if a == b:
            for v in core:
                out[c, v] = INF
            continue
        cs = kernels.Seeds(local_seeds.node[a:b], local_seeds.dist_m[a:b], local_seeds.label[a:b])
        pool = kernels._nearest_one_category(
            lg, cs, search_d, width, dist, lab, done, pool, head, full_cap, kernels._NO_START
        )
        for j in range(core.shape[0]):
            v = core[j]
            d = dist[loc[v]]
            out[c, v] = d
            if fix and d > reach_out[j] and d < INF:
                for q in range(g.indptr[v], g.indptr[v + 1]):
                    nd = d + g.edge_len_m[g.edge_id[q]]
                    lw = loc[g.nbr[q]]
                    if lw >= 0 and dist[lw] < INF:
                        continue  # the neighbour is within bound (a walk in the region): not open
                    if nd > bound and nd <= max_d:
                        if n_f == f_d.shape[0]:
                            f_cat, f_node, f_d = _grow(f_cat, n_f), _grow(f_node, n_f), _grow(f_d, n_f)
                        f_cat[n_f], f_node[n_f], f_d[n_f] = c, g.nbr[q], nd
                        n_f += 1
    for i in range(m):
        loc[region[i]] = -1
    return f_cat[:n_f].copy(), f_node[:n_f].copy(), f_d[:n_f].copy()  # not the grown buffers


@nb.njit(cache=True)
def _fix_few(g, cs, oc, n_open, loc, max_d, width, head):
    """The fix-up of one category whose open nodes (``inf`` in ``oc``) are few: searched on the
    streets between them only (renumbered, so its arrays are as small as the open part)."""
    nodes = np.empty(n_open, dtype=np.int32)
    k = 0
    for i in range(oc.shape[0]):
        if oc[i] == INF:
            nodes[k] = i
            loc[i] = k
            k += 1
    lg = _local_graph(g, nodes, loc)
    n_in = 0
    for i in range(cs.node.shape[0]):
        if loc[cs.node[i]] >= 0:
            n_in += 1
    ls = kernels.Seeds(np.empty(n_in, dtype=np.int32), np.empty(n_in), np.full(n_in, -1, dtype=np.int64))
    k = 0
    for i in range(cs.node.shape[0]):
        if loc[cs.node[i]] >= 0:
            ls.node[k] = loc[cs.node[i]]
            ls.dist_m[k] = cs.dist_m[i]
            k += 1
    dist, done, lab = np.empty(n_open), np.empty(n_open), np.empty(n_open, dtype=np.int8)
    first_cap, full_cap = kernels._pool_caps(n_open, lg.nbr.shape[0], n_in)
    pool = np.empty(first_cap, dtype=np.int64)
    kernels._nearest_one_category(lg, ls, max_d, width, dist, lab, done, pool, head, full_cap, kernels._NO_START)
    for j in range(n_open):
        oc[nodes[j]] = dist[j]
        loc[nodes[j]] = -1


@nb.njit(cache=True)
def _fix_many(g, cs, oc, n_open, max_d, width, head, dist, done, lab):
    """The fix-up of one category whose open nodes are many: searched on the whole network with
    the known nodes closed (``dist``, ``done``, ``lab``: work arrays, one per node)."""
    full_cap = g.nbr.shape[0] + cs.node.shape[0] + 1
    pool = np.empty(min(full_cap, n_open + n_open // 2 + cs.node.shape[0] + 1), dtype=np.int64)
    kernels._nearest_one_category(g, cs, max_d, width, dist, lab, done, pool, head, full_cap, oc)
    for i in range(oc.shape[0]):
        if dist[i] >= 0:  # an open node (closed ones stay at -1)
            oc[i] = dist[i]


@nb.njit(cache=True, nogil=True)
def _open_to_fix(oc, seed_node):
    """How many nodes of one category are open (``inf`` in ``oc``), or 0 when none of its fix-up
    seeds (``seed_node``) is at an open node: then nothing is left to fix."""
    n_in = 0
    for i in range(seed_node.shape[0]):
        if oc[seed_node[i]] == INF:
            n_in += 1
    if n_in == 0:
        return 0
    n_open = 0
    for i in range(oc.shape[0]):
        if oc[i] == INF:
            n_open += 1
    return n_open


@nb.njit(cache=True)
def _fix_walks_whole(out, fix_seeds, fix_ptr):
    """Whether :func:`_fix_up` will search some category on the whole network (more than a third
    of the nodes open): only then does it need every half-edge's length (metres)."""
    n = out.shape[1]
    for c in range(out.shape[0]):  # noqa: SIM110 - a generator in any() does not compile in numba
        if 3 * _open_to_fix(out[c], fix_seeds.node[fix_ptr[c] : fix_ptr[c + 1]]) > n:
            return True
    return False


@nb.njit(cache=True, parallel=True)
def _fix_up(g, fix_seeds, fix_ptr, max_d, width, n_ring, n_threads, out):
    """For each category ``c`` with fix-up seeds (``fix_ptr[c]:fix_ptr[c+1]`` of ``fix_seeds``),
    the exact distance (metres) of its open nodes (``inf`` in ``out[c]``) within ``max_d``,
    searched through open nodes only. Categories run in parallel. Where open nodes are at most a
    third of the network (the usual case) the search runs on them alone; else on the whole
    network with one set of node-sized work arrays per worker (``g`` must then carry its
    half-edges' weights: see :func:`nearest_dist_tiled`)."""
    n = g.indptr.shape[0] - 1
    n_cat = out.shape[0]
    n_work = max(1, min(n_cat, n_threads))
    for wk in nb.prange(n_work):
        loc = np.full(n, -1, dtype=np.int32)
        dist = np.empty(0)
        done = np.empty(0)
        lab = np.empty(0, dtype=np.int8)  # labels are not kept: a byte of scratch each
        head = np.empty(n_ring, dtype=np.int64)
        for c in range(wk, n_cat, n_work):
            oc = out[c]  # finite = known, inf = open
            a, b = fix_ptr[c], fix_ptr[c + 1]
            n_open = _open_to_fix(oc, fix_seeds.node[a:b])
            if n_open == 0:
                continue
            cs = kernels.Seeds(fix_seeds.node[a:b], fix_seeds.dist_m[a:b], fix_seeds.label[a:b])
            if 3 * n_open <= n:
                _fix_few(g, cs, oc, n_open, loc, max_d, width, head)
                continue
            if dist.shape[0] == 0:  # the first category that needs them
                dist, done, lab = np.empty(n), np.empty(n), np.empty(n, dtype=np.int8)
            _fix_many(g, cs, oc, n_open, max_d, width, head, dist, done, lab)
    return out


def _by_tile_and_category(seeds: kernels.Seeds, cat_ptr: NDArray, node_tile: NDArray, n_tiles: int):
    """The seeds re-sorted by (tile of their node, category), and the pointer ``tc_ptr`` of each
    (tile, category) pair's run."""
    n_cat = len(cat_ptr) - 1
    seed_cat = np.repeat(np.arange(n_cat, dtype=np.int64), np.diff(cat_ptr))
    key = node_tile[seeds.node].astype(np.int64) * n_cat + seed_cat
    order = kernels.counting_order(key, n_tiles * n_cat)
    tc_ptr = np.searchsorted(key[order], np.arange(n_tiles * n_cat + 1)).astype(np.int64)
    return kernels.Seeds(seeds.node[order], seeds.dist_m[order], seeds.label[order]), tc_ptr


def _fix_seeds(parts: list[tuple[NDArray, NDArray, NDArray]], seeds: kernels.Seeds, cat_ptr: NDArray, bound: float):
    """The fix-up seeds of every tile plus the outlet seeds already beyond ``bound`` metres,
    sorted by category: ``(Seeds, ptr)``."""
    n_cat = len(cat_ptr) - 1
    seed_cat = np.repeat(np.arange(n_cat, dtype=np.int32), np.diff(cat_ptr))
    far = seeds.dist_m > bound
    cat = np.concatenate([p[0] for p in parts] + [seed_cat[far]])
    node = np.concatenate([p[1] for p in parts] + [seeds.node[far]])
    dist = np.concatenate([p[2] for p in parts] + [seeds.dist_m[far]])
    order = kernels.counting_order(cat, n_cat)
    ptr = np.searchsorted(cat[order], np.arange(n_cat + 1)).astype(np.int64)
    label = np.full(len(order), -1, dtype=np.int64)  # labels are not kept
    return kernels.Seeds(node[order].astype(np.int32), dist[order], label), ptr


def _all_tiles(
    g: kernels.Graph,
    plan: TilePlan,
    seeds: kernels.Seeds,
    cat_ptr: NDArray,
    max_m: float,
    ring: tuple[float, int],
    out: NDArray,
    n_threads: int,
) -> list[tuple[NDArray, NDArray, NDArray]]:
    """The tile pass of every tile on ``n_threads`` threads (the kernel releases the GIL), largest
    region first, with the queue's bucket width (metres) and ring size ``ring``; returns each
    tile's fix-up seeds. Its work arrays are freed on return."""
    n_tiles = plan.n_x * plan.n_y
    n_nodes = len(plan.node_tile)
    by_tile, tc_ptr = _by_tile_and_category(seeds, cat_ptr, plan.node_tile, n_tiles)
    width, n_ring = ring
    busy = [t for t in range(n_tiles) if plan.core_ptr[t + 1] > plan.core_ptr[t]]
    busy.sort(key=lambda t: -(plan.region_ptr[t + 1] - plan.region_ptr[t]))
    per_thread = local()

    def one(t: int) -> tuple[NDArray, NDArray, NDArray]:
        if not hasattr(per_thread, "loc"):
            per_thread.loc = np.full(n_nodes, -1, dtype=np.int32)
        core = plan.core[plan.core_ptr[t] : plan.core_ptr[t + 1]]
        region = plan.region[plan.region_ptr[t] : plan.region_ptr[t + 1]]
        return _tile_pass(
            g, core, region, per_thread.loc, t, plan.n_x, plan.n_y, plan.reach_tiles,
            by_tile, tc_ptr, plan.bound_m, max_m, width, n_ring, out,
        )  # fmt: skip

    with ThreadPoolExecutor(max(1, n_threads)) as pool:
        return list(pool.map(one, busy))


def nearest_dist_tiled(
    g: kernels.Graph,
    plan: TilePlan,
    seeds: kernels.Seeds,
    cat_ptr: NDArray[np.int64],
    max_m: float,
    out: NDArray[np.floating],
    n_threads: int,
) -> NDArray[np.floating]:
    """:func:`kernels.nearest_dist_nodes` tile by tile (``plan``): the same distances (metres)
    into ``out[c, node]``, on ``n_threads`` threads. ``g`` may come without its half-edges'
    weights (:func:`lifecircle.network.engine.kernel_graph` with ``weights=False``): the tiles
    read each street's length by its edge, and the half-edge weights are made only for a fix-up
    that walks the whole network."""
    width, n_ring = kernels.bucket_width(g.edge_len_m)  # the tiles' and the fix-up's queue
    parts = _all_tiles(g, plan, seeds, cat_ptr, max_m, (width, n_ring), out, n_threads)
    if max_m > plan.bound_m:
        fix_seeds, fix_ptr = _fix_seeds(parts, seeds, cat_ptr, plan.bound_m)
        del parts
        if g.weight_m.shape[0] != g.nbr.shape[0] and _fix_walks_whole(out, fix_seeds, fix_ptr):
            g = g._replace(weight_m=g.edge_len_m[g.edge_id])  # made for this search only
        _fix_up(g, fix_seeds, fix_ptr, float(max_m), width, n_ring, n_threads, out)
    return out

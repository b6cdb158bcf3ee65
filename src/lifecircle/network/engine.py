"""Walking accessibility: nearest distance to each category of source (outlets of a format) and
the number of sources within given walking distances, from origins snapped to a network.

Distances are metres along the network, including the walk from each point to its street.
Unreachable is ``inf`` (never a sentinel number); convert to minutes with :func:`minutes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numba
import numpy as np
from numpy.typing import NDArray

from lifecircle.network import kernels
from lifecircle.network.graph import WalkNetwork
from lifecircle.network.snap import Snapped
from lifecircle.network.tiled import DEFAULT_TILING, Tiling, edge_ratio, nearest_dist_tiled, plan_tiles


def minutes(distance_m: NDArray | float, speed_kmh: float) -> NDArray[np.float64]:
    """Walking time in minutes for ``distance_m`` metres at ``speed_kmh`` km/h."""
    return np.asarray(distance_m, dtype=float) / (speed_kmh * 1000.0 / 60.0)


def metres(minutes_: NDArray | float, speed_kmh: float) -> NDArray[np.float64]:
    """Metres walked in ``minutes_`` minutes at ``speed_kmh`` km/h."""
    return np.asarray(minutes_, dtype=float) * speed_kmh * 1000.0 / 60.0


# Relative tolerance of every "within a walk" test: an outlet exactly at a layer's distance counts
# as within, whatever the float rounding of metres ↔ minutes. The one place this rule lives.
WITHIN_RTOL = 1e-9


def within(distance_m: NDArray | float, limit_m: NDArray | float) -> NDArray[np.bool_]:
    """True where ``distance_m`` (metres; NaN or inf = unreachable) is at most ``limit_m`` metres,
    with the relative tolerance :data:`WITHIN_RTOL`. Broadcasts like ``<=``."""
    d = np.asarray(distance_m, dtype=float)
    with np.errstate(invalid="ignore"):
        return d <= np.asarray(limit_m, dtype=float) * (1.0 + WITHIN_RTOL)


def kernel_graph(net: WalkNetwork, *, weights: bool = True) -> kernels.Graph:
    """The network as the kernels take it (:class:`kernels.Graph`): its CSR adjacency (both
    directions, weights in metres) and each edge's ends and length in metres. No copies.
    ``weights=False`` leaves the half-edge weights out (an empty array; the adjacency without
    them, :attr:`WalkNetwork.adjacency`): for the tiled search, which reads a street's length by
    its edge, 8 bytes per half-edge less."""
    if weights:
        indptr, nbr, weight_m, edge_id = net.csr
    else:
        (indptr, nbr, edge_id), weight_m = net.adjacency, np.empty(0, dtype=np.float64)
    return kernels.Graph(
        indptr,
        nbr,
        weight_m,
        edge_id,
        np.asarray(net.edge_u, dtype=np.int32),
        np.asarray(net.edge_v, dtype=np.int32),
        np.asarray(net.edge_len, dtype=np.float64),
    )


def edge_points(points: Snapped, n_edges: int, *, group: bool = True) -> kernels.EdgePoints:
    """Snapped points as the kernels take them (:class:`kernels.EdgePoints`): unsnapped points get
    edge ``-1`` and ``0`` metres along and off the street. ``group``: list the points by edge
    among the network's ``n_edges`` edges — needed where the points are *targets* (sources,
    demand); starts are never looked up by edge, so without ``group`` every list is empty."""
    ok = np.asarray(points.ok, dtype=np.bool_)
    edge = np.where(ok, points.edge, -1).astype(np.int64)
    pos = np.where(ok, points.pos_m, 0.0).astype(np.float64)
    off = np.where(ok, points.offset_m, 0.0).astype(np.float64)
    if group:
        by_edge_ptr, by_edge = points.group_by_edge(n_edges)
    else:
        by_edge_ptr, by_edge = np.zeros(n_edges + 1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return kernels.EdgePoints(edge, pos, off, ok, by_edge_ptr, by_edge)


@dataclass
class _Sources:
    """Sources grouped two ways: by category (multi-source ``seeds``, category ``c``'s being
    ``cat_ptr[c]:cat_ptr[c+1]``) and by edge (:attr:`points`, made on first use: the lean search
    of every node never needs it); ``cat`` is each source's category."""

    seeds: kernels.Seeds
    cat_ptr: NDArray[np.int64]
    cat: NDArray[np.int64]
    snapped: Snapped
    n_edges: int

    @cached_property
    def points(self) -> kernels.EdgePoints:
        return edge_points(self.snapped, self.n_edges)


def _prepare_sources(net: WalkNetwork, sources: Snapped, category: NDArray, n_cat: int) -> _Sources:
    cat = np.asarray(category, dtype=np.int64)
    if len(cat) != len(sources):
        raise ValueError("category must have one entry per source")
    if len(cat) and (cat.min() < 0 or cat.max() >= n_cat):
        raise ValueError("category values must be in 0..n_cat-1")
    ok = sources.ok
    idx = np.flatnonzero(ok)
    e = sources.edge[idx]
    pos = sources.pos_m[idx]
    off = sources.offset_m[idx]
    L = net.edge_len[e]
    # two seeds per source: the u end and the v end of its edge
    seed_node = np.concatenate([net.edge_u[e], net.edge_v[e]]).astype(np.int32)
    seed_dist = np.concatenate([off + pos, off + (L - pos)])
    seed_lab = np.concatenate([idx, idx]).astype(np.int64)
    seed_cat = np.concatenate([cat[idx], cat[idx]])
    order = kernels.counting_order(seed_cat, n_cat)
    cat_ptr = np.searchsorted(seed_cat[order], np.arange(n_cat + 1)).astype(np.int64)
    seeds = kernels.Seeds(seed_node[order], seed_dist[order].astype(np.float64), seed_lab[order])
    return _Sources(seeds, cat_ptr, cat, sources, net.n_edges)


def nearest_per_category(
    net: WalkNetwork,
    sources: Snapped,
    category: NDArray[np.integer],
    n_cat: int,
    origins: Snapped | None = None,
    *,
    max_m: float = np.inf,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Nearest walking distance (metres) from each origin to a source of each category.

    Returns ``(dist, source)`` of shape ``(n_origins, n_cat)``: the distance (``inf`` when no
    source is reachable within ``max_m``) and the index of that nearest source (``-1``).
    Without ``origins``, every network node (junction, dead end) is an origin (shape ``(n_nodes, n_cat)``, returned
    as Fortran-ordered arrays, i.e. transposed views of category-major results).
    """
    if origins is None:
        # a node's own distance is exact: a source on an edge is reached through an end of that
        # edge, which the seeds already express; the kernel never keeps a distance above max_m.
        # Transposed views (Fortran order), not copies: copying 2 x n_nodes x n_cat is slow.
        _, _, node_dist, node_lab = _node_pass(net, sources, category, n_cat, max_m)
        return node_dist.T, node_lab.T
    dist, lab, _ = nearest_per_category_nodes(net, sources, category, n_cat, origins, max_m=max_m)
    return dist, lab


def _node_pass(
    net: WalkNetwork, sources: Snapped, category: NDArray[np.integer], n_cat: int, max_m: float
) -> tuple[kernels.Graph, _Sources, NDArray[np.float64], NDArray[np.int64]]:
    """The kernel graph, the prepared sources, and the nearest distance (metres) and source of each
    category from every node (``[c, node]``, category-major)."""
    g = kernel_graph(net)
    src = _prepare_sources(net, sources, category, n_cat)
    width, n_ring = kernels.bucket_width(g.weight_m)
    node_dist, node_lab = kernels.nearest_all_nodes(
        g, src.seeds, src.cat_ptr, float(max_m), width, n_ring, numba.get_num_threads()
    )
    return g, src, node_dist, node_lab


def nearest_per_category_nodes(
    net: WalkNetwork,
    sources: Snapped,
    category: NDArray[np.integer],
    n_cat: int,
    origins: Snapped,
    *,
    max_m: float = np.inf,
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
    """:func:`nearest_per_category` from ``origins`` — ``(dist, source)``, shape ``(n_origins,
    n_cat)``, metres — and the per-node distances it resolved them from: metres from every network
    node to the nearest source of each category, ``(n_nodes, n_cat)`` float64, Fortran-ordered
    (``inf`` = none within ``max_m``). Those are the values :func:`nearest_distance_nodes` gives in
    float64 (the same search), so a caller needing both walks the network once."""
    g, src, node_dist, node_lab = _node_pass(net, sources, category, n_cat, max_m)
    starts = edge_points(origins, net.n_edges, group=False)
    dist, lab = kernels.resolve_origins(node_dist, node_lab, g, starts, src.points, src.cat, float(max_m))
    return dist, lab, node_dist.T


def nearest_distance_nodes(
    net: WalkNetwork,
    sources: Snapped,
    category: NDArray[np.integer],
    n_cat: int,
    *,
    max_m: float = np.inf,
    dtype: type[np.floating] = np.float32,
    tiling: Tiling | None = DEFAULT_TILING,
) -> NDArray[np.floating]:
    """Nearest walking distance (metres) from every network node to a source of each category,
    as :func:`nearest_per_category` without origins gives it but lean: no source labels, and the
    distances in ``dtype`` (float32 by default: a quarter of the memory of a float64 distance and
    an int64 label, within about 1 mm at 10 km). Shape ``(n_nodes, n_cat)``, Fortran-ordered
    (a transposed view of the category-major result); ``inf`` = no source within ``max_m``.

    A network of ``tiling.min_nodes`` nodes or more is searched tile by tile
    (:mod:`lifecircle.network.tiled`: the same values, about twice as fast once the network
    outgrows the cache); ``tiling=None`` always searches it whole."""
    src = _prepare_sources(net, sources, category, n_cat)
    out = np.empty((n_cat, net.n_nodes), dtype=dtype)
    n_threads = numba.get_num_threads()
    plan = None
    if tiling is not None and net.n_nodes >= tiling.min_nodes:
        ratio = edge_ratio(net.node_x, net.node_y, net.edge_u, net.edge_v, net.edge_len)
        plan = plan_tiles(net.node_x, net.node_y, ratio, tiling)
    if plan is not None:
        g = kernel_graph(net, weights=False)  # the tiles read lengths by edge: no half-edge weights made
        nearest_dist_tiled(g, plan, src.seeds, src.cat_ptr, float(max_m), out, n_threads)
        return out.T
    g = kernel_graph(net)
    width, n_ring = kernels.bucket_width(g.weight_m)
    kernels.nearest_dist_nodes(g, src.seeds, src.cat_ptr, float(max_m), width, n_ring, n_threads, out)
    return out.T


def nearest(
    net: WalkNetwork, sources: Snapped, origins: Snapped | None = None, *, max_m: float = np.inf
) -> NDArray[np.float64]:
    """Nearest walking distance (metres) from each origin to any source (one category)."""
    d, _ = nearest_per_category(net, sources, np.zeros(len(sources), dtype=np.int64), 1, origins, max_m=max_m)
    return d[:, 0]


def count_within(
    net: WalkNetwork,
    sources: Snapped,
    category: NDArray[np.integer],
    n_cat: int,
    origins: Snapped,
    thresholds_m: NDArray[np.floating] | list[float],
) -> NDArray[np.int32]:
    """Number of distinct sources of each category within each walking distance (metres).

    Returns ``counts[o, c, k]`` = sources of category ``c`` within ``thresholds_m[k]`` of origin
    ``o``. Thresholds are sorted ascending internally and returned in the given order.
    """
    thr = np.asarray(thresholds_m, dtype=np.float64)
    order = np.argsort(thr)
    src = _prepare_sources(net, sources, category, n_cat)
    starts = edge_points(origins, net.n_edges, group=False)
    n_chunks = max(1, min(len(origins), 8 * numba.get_num_threads()))
    counts = kernels.count_within_kernel(kernel_graph(net), starts, src.points, src.cat, n_cat, thr[order], n_chunks)
    out = np.empty_like(counts)
    out[:, :, order] = counts
    return out


@dataclass
class AccessResult:
    """Accessibility of origins to categories: nearest metres, the nearest source, and counts.

    ``nearest_m[o, c]`` (``inf`` = unreachable), ``nearest_source[o, c]`` (``-1``),
    ``counts[o, c, k]`` within ``thresholds_m[k]``.
    """

    nearest_m: NDArray[np.float64]
    nearest_source: NDArray[np.int64]
    counts: NDArray[np.int32]
    thresholds_m: NDArray[np.float64]


def accessibility(
    net: WalkNetwork,
    sources: Snapped,
    category: NDArray[np.integer],
    n_cat: int,
    origins: Snapped,
    thresholds_m: list[float],
    *,
    max_m: float = np.inf,
) -> AccessResult:
    """Nearest distance and counts within thresholds, in one call."""
    d, lab = nearest_per_category(net, sources, category, n_cat, origins, max_m=max_m)
    c = count_within(net, sources, category, n_cat, origins, thresholds_m)
    return AccessResult(d, lab, c, np.asarray(thresholds_m, dtype=float))

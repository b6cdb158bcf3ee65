"""The k nearest *distinct* sources of each category, from every network node (or from points on
edges): walking metres to the nearest, the second nearest, ... the k-th nearest outlet of a format.

The kernel is a multi-source label-setting Dijkstra whose heap entries are ``(metres, node,
source)``. A node accepts at most ``k`` labels, each from a different source, in the order they
leave the heap (so ascending metres); a node that already holds a source ignores later entries of
it, and a node holding ``k`` labels ignores everything. A label spreads to the neighbours only
when its node accepts it. That is exact: if node ``u`` turns down source ``s`` because it already
holds ``k`` others at most as far, those ``k`` reach every node beyond ``u`` at most as far as
``s`` would through ``u``, so ``s`` is not among the k nearest there (ties aside, where any of the
equally near sources may be named). Work: each node accepts ``k`` labels, so about ``k`` times a
one-label Dijkstra.

Seeds are those of :func:`lifecircle.network.engine.nearest_per_category`: two per source, one at
each end of its edge, with the metres along the edge and off the street already walked; both
carry the source's index as their label, so a source is counted once. With ``k = 1`` the result
is exactly :func:`~lifecircle.network.engine.nearest_per_category`'s (the same sums in the same
order). Distances are metres, ``inf`` = unreachable within ``max_m``, labels ``-1``.

Origins: every network node (what the surface uses), or points on edges, resolved from the k
labels of their edge's two ends plus the sources on their own edge (exact by the same argument).
"""

from __future__ import annotations

import numba
import numba as nb
import numpy as np
from numpy.typing import NDArray

from lifecircle.network.engine import _prepare_sources, edge_points, kernel_graph
from lifecircle.network.graph import WalkNetwork
from lifecircle.network.kernels import Seeds, _pop, _push  # the engine's 4-ary heap (payload here: source << 32 | node)
from lifecircle.network.snap import Snapped

INF = np.inf
MAX_K = 10  # the kernel works for any k; the heap grows with k (about k entries per half-edge)
_LOW = np.int64(0xFFFFFFFF)


@nb.njit(cache=True, inline="always")
def _holds(lab, node, n, src):
    """True if ``node`` already holds source ``src`` among its first ``n`` labels."""
    for j in range(n):  # noqa: SIM110 (a plain loop: numba compiles no generator into any())
        if lab[node, j] == src:
            return True
    return False


@nb.njit(cache=True, nogil=True)
def k_nearest_seeded(g, seeds, max_d, dist, lab, count, hd, hp):
    """The k nearest distinct seed labels of every node of graph ``g``, within ``max_d`` metres.

    ``dist`` (float64) and ``lab`` (int32) are ``(n_nodes, k)`` and must hold ``inf`` / ``-1`` on
    entry, ``count`` (int32, one per node) zeros; they receive, per node, the metres to and the
    label of its nearest, second nearest, ... source (ascending; ``count`` of them). ``hd`` /
    ``hp`` are the heap (at least ``k`` entries per half-edge plus one per seed). Labels must be
    below ``2**31``. Returns the number of labels accepted."""
    indptr, nbr, weight = g.indptr, g.nbr, g.weight_m
    k = dist.shape[1]
    size = 0
    for i in range(seeds.node.shape[0]):
        d = seeds.dist_m[i]
        if d <= max_d:
            size = _push(hd, hp, size, d, (np.int64(seeds.label[i]) << 32) | np.int64(seeds.node[i]))
    n_acc = 0
    while size > 0:
        d, p, size = _pop(hd, hp, size)
        u = p & _LOW
        src = p >> 32
        c = count[u]
        if c >= k or _holds(lab, u, c, src):
            continue
        dist[u, c] = d
        lab[u, c] = src
        count[u] = c + 1
        n_acc += 1
        for q in range(indptr[u], indptr[u + 1]):
            v = nbr[q]
            nd = d + weight[q]
            cv = count[v]
            if nd <= max_d and cv < k and not _holds(lab, v, cv, src):
                size = _push(hd, hp, size, nd, (src << 32) | np.int64(v))
    return n_acc


@nb.njit(cache=True, parallel=True)
def k_nearest_all_nodes(g, seeds, cat_ptr, k, max_d, n_threads):
    """For each category ``c`` (seeds ``cat_ptr[c]:cat_ptr[c+1]``), the metres from every node of
    ``g`` to its ``k`` nearest distinct seed labels and those labels, within ``max_d`` metres.
    Categories run in parallel (``n_threads`` workers, each taking every ``n_threads``-th).
    Returns ``(dist[c, node, j], label[c, node, j])``, ``j = 0`` the nearest."""
    n_nodes = g.indptr.shape[0] - 1
    n_cat = cat_ptr.shape[0] - 1
    dist = np.empty((n_cat, n_nodes, k))
    lab = np.empty((n_cat, n_nodes, k), dtype=np.int32)
    n_work = max(1, min(n_cat, n_threads))
    for wk in nb.prange(n_work):
        count = np.empty(n_nodes, dtype=np.int32)
        cap = 0
        for c in range(wk, n_cat, n_work):
            cap = max(cap, k * g.nbr.shape[0] + cat_ptr[c + 1] - cat_ptr[c] + 1)
        hd = np.empty(cap)
        hp = np.empty(cap, dtype=np.int64)
        for c in range(wk, n_cat, n_work):
            dc = dist[c]
            lc = lab[c]
            dc[:] = INF  # first touch inside the parallel loop
            lc[:] = -1
            a = cat_ptr[c]
            b = cat_ptr[c + 1]
            if b == a:
                continue
            count[:] = 0
            cat_seeds = Seeds(seeds.node[a:b], seeds.dist_m[a:b], seeds.label[a:b])
            k_nearest_seeded(g, cat_seeds, max_d, dc, lc, count, hd, hp)
    return dist, lab


@nb.njit(cache=True)
def k_resolve_origins(node_dist, node_lab, g, origins, sources, source_cat, max_d):
    """The k nearest distinct sources of each category from each of the ``origins``
    (:class:`~lifecircle.network.kernels.EdgePoints`), given every node's k nearest
    (``node_dist[c, node, j]``, ``node_lab[c, node, j]``): through either end of the origin's edge,
    or straight along it to a source on the same edge (``sources`` grouped by edge,
    ``source_cat[s]`` its category). Returns ``(dist[o, c, j], label[o, c, j])``; beyond ``max_d``
    metres is unreachable."""
    n_cat, _, k = node_dist.shape
    n_o = origins.edge.shape[0]
    out = np.full((n_o, n_cat, k), INF)
    lab = np.full((n_o, n_cat, k), -1, dtype=np.int32)
    for o in range(n_o):  # serial: cheap per origin, and a parallel loop costs seconds to compile
        if not origins.ok[o]:
            continue
        e = origins.edge[o]
        u = g.edge_u[e]
        v = g.edge_v[e]
        p = origins.pos_m[o]
        f = origins.offset_m[o]
        L = g.edge_len_m[e]
        r0 = sources.by_edge_ptr[e]
        r1 = sources.by_edge_ptr[e + 1]
        cand_d = np.empty(2 * k + r1 - r0)
        cand_l = np.empty(2 * k + r1 - r0, dtype=np.int64)
        for c in range(n_cat):
            n = 0
            for j in range(k):
                cand_d[n] = node_dist[c, u, j] + p + f
                cand_l[n] = node_lab[c, u, j]
                cand_d[n + 1] = node_dist[c, v, j] + (L - p) + f
                cand_l[n + 1] = node_lab[c, v, j]
                n += 2
            for r in range(r0, r1):
                s = sources.by_edge[r]
                if source_cat[s] == c:
                    cand_d[n] = abs(p - sources.pos_m[s]) + f + sources.offset_m[s]
                    cand_l[n] = s
                    n += 1
            order = np.argsort(cand_d[:n], kind="mergesort")
            m = 0
            for i in order:
                if m == k or cand_l[i] < 0 or cand_d[i] > max_d:
                    break
                s = cand_l[i]
                seen = False
                for j in range(m):
                    if lab[o, c, j] == s:
                        seen = True
                if not seen:
                    out[o, c, m] = cand_d[i]
                    lab[o, c, m] = s
                    m += 1
    return out, lab


def k_nearest_per_category(
    net: WalkNetwork,
    sources: Snapped,
    category: NDArray[np.integer],
    n_cat: int,
    k: int,
    origins: Snapped | None = None,
    *,
    max_m: float = np.inf,
) -> tuple[NDArray[np.float64], NDArray[np.int32]]:
    """Walking metres from each origin to its ``k`` nearest distinct sources of each category.

    Returns ``(dist, source)`` of shape ``(n_origins, n_cat, k)``, ascending along the last axis:
    ``dist[o, c, j]`` is the metres to the ``(j + 1)``-th nearest source of category ``c``
    (``inf`` when fewer than ``j + 1`` are reachable within ``max_m`` metres) and ``source`` its
    index (int32, ``-1``). Without ``origins``, every network node is an origin (shape
    ``(n_nodes, n_cat, k)``, a transposed view of the category-major result). ``k = 1`` gives
    :func:`~lifecircle.network.engine.nearest_per_category`'s distances exactly.
    """
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be 1..{MAX_K}, got {k}")
    if len(sources) >= 2**31:
        raise ValueError("too many sources for 32-bit labels")
    g = kernel_graph(net)
    src = _prepare_sources(net, sources, category, n_cat)
    node_dist, node_lab = k_nearest_all_nodes(g, src.seeds, src.cat_ptr, k, float(max_m), numba.get_num_threads())
    if origins is None:
        return node_dist.transpose(1, 0, 2), node_lab.transpose(1, 0, 2)
    starts = edge_points(origins, net.n_edges, group=False)
    return k_resolve_origins(node_dist, node_lab, g, starts, src.points, src.cat, float(max_m))

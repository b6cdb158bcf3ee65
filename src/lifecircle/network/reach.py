"""Which points one source reaches: a bounded Dijkstra from a single point on the network (an
outlet) to the points of a target set (communities), with each distance computed *exactly* as the
batch engine computes it, so that a live update agrees bit for bit with a full evaluation.

The batch engine (:func:`lifecircle.network.engine.nearest_per_category`) seeds every source at
both ends of its edge (``offset + pos`` and ``offset + (L - pos)`` metres), runs a multi-source
search to every node, and resolves each origin on edge ``(u, v)`` at ``p`` metres from ``u`` and
``f`` metres off the street as ``min(d[u] + p, d[v] + (L - p)) + f``, or straight along a shared
edge as ``|p - pos| + f + offset``. Float addition is monotone, so the multi-source result is
the minimum over sources of these single-source values — each computed here in the same order
by the same operations. Searching from one source, bounded at ``max_d`` metres, therefore gives
every target's exact batch distance to that source wherever it is at most ``max_d``.

Distances in metres; ``inf`` = unreachable.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numpy.typing import NDArray

from lifecircle.network import kernels
from lifecircle.network.engine import edge_points, kernel_graph
from lifecircle.network.graph import WalkNetwork
from lifecircle.network.snap import Snapped

INF = np.inf


@nb.njit(cache=True, nogil=True)
def _target_distance(g, targets, q, dist, e0, pos0, off0):
    """Batch-order distance (metres) from the source (edge ``e0``, ``pos0`` along, ``off0`` off the
    street; node distances ``dist``) to target ``q``: as :func:`kernels.resolve_origins` resolves it."""
    ee = targets.edge[q]
    p = targets.pos_m[q]
    f = targets.offset_m[q]
    du = dist[g.edge_u[ee]] + p
    dv = dist[g.edge_v[ee]] + (g.edge_len_m[ee] - p)
    d = (du if du <= dv else dv) + f
    if ee == e0:
        d2 = abs(p - pos0) + f + off0
        if d2 < d:
            d = d2
    return d


@nb.njit(cache=True, nogil=True)
def point_reach(g, starts, i, stamp_id, max_d, targets, w, keep_node, keep_dist):
    """The ``targets`` (:class:`kernels.EdgePoints`, grouped by edge) within ``max_d`` metres of
    start ``i`` of ``starts`` (it must be ``ok``) on graph ``g``, by a Dijkstra
    (:func:`kernels.dijkstra_seeded`) bounded at ``max_d`` from the start's two seeds.

    Fills ``w.best_m[q]`` with the exact batch distance (see the module docstring) of each target
    found and lists them in ``w.touched``; returns how many. Targets farther than ``max_d`` are left
    out. Touches are stamped with ``stamp_id`` (each call needs a new one, never ``-1``, so calls
    share ``w``); the Dijkstra arrays are reset before returning."""
    e0 = starts.edge[i]
    pos0 = starts.pos_m[i]
    off0 = starts.offset_m[i]
    heap = w.heap
    dist = heap.dist_m
    settled = heap.settled
    best, stamp, touched = w.best_m, w.stamp, w.touched
    q_ptr, q_list = targets.by_edge_ptr, targets.by_edge
    seeds = kernels.Seeds(np.empty(2, dtype=np.int32), np.empty(2, dtype=np.float64), np.zeros(2, dtype=np.int64))
    seeds.node[0] = g.edge_u[e0]
    seeds.node[1] = g.edge_v[e0]
    seeds.dist_m[0] = off0 + pos0  # as engine._prepare_sources seeds a source
    seeds.dist_m[1] = off0 + (g.edge_len_m[e0] - pos0)
    n_set, n_extra = kernels.dijkstra_seeded(g, seeds, max_d, heap)
    n_touch = 0
    for j in range(n_set + 1):
        if j < n_set:  # the edges at a settled node
            a = settled[j]
            k0 = g.indptr[a]
            k1 = g.indptr[a + 1]
        else:  # the start edge itself (reached straight along it, even with no end settled)
            k0 = -1
            k1 = 0
        for k in range(k0, k1):
            ee = g.edge_id[k] if k >= 0 else e0
            for r in range(q_ptr[ee], q_ptr[ee + 1]):
                q = q_list[r]
                if stamp[q] == stamp_id:
                    continue
                stamp[q] = stamp_id
                d = _target_distance(g, targets, q, dist, e0, pos0, off0)
                if d <= max_d:
                    best[q] = d
                    touched[n_touch] = q
                    n_touch += 1
    n_keep = min(n_set, keep_node.shape[0])
    for j in range(n_keep):
        keep_node[j] = settled[j]
        keep_dist[j] = dist[settled[j]]
    if keep_node.shape[0] > n_set:
        keep_node[n_set] = -1  # the end of the kept nodes
    cap_s = settled.shape[0]
    for j in range(n_extra):
        a = settled[cap_s - 1 - j]
        dist[a] = INF
        heap.label[a] = -1
    return n_touch


@nb.njit(cache=True, nogil=True)
def _reach_all(g, starts, max_d, targets):
    """:func:`point_reach` from every ``ok`` start: CSR ``(ptr, target, dist_m)``, start ``i``'s
    targets being ``ptr[i]:ptr[i + 1]``."""
    n_s = starts.edge.shape[0]
    n_t = targets.edge.shape[0]
    w = kernels.within_work(g, n_t)
    ptr = np.zeros(n_s + 1, dtype=np.int64)
    cap = max(16, 4 * n_s)
    tgt = np.empty(cap, dtype=np.int64)
    dst = np.empty(cap, dtype=np.float64)
    n = 0
    no_node = np.empty(0, dtype=np.int32)
    no_dist = np.empty(0, dtype=np.float64)
    for i in range(n_s):
        if starts.ok[i]:
            m = point_reach(g, starts, i, i, max_d, targets, w, no_node, no_dist)
            if n + m > cap:
                cap = max(2 * cap, n + m)
                t2 = np.empty(cap, dtype=np.int64)
                d2 = np.empty(cap, dtype=np.float64)
                t2[:n] = tgt[:n]
                d2[:n] = dst[:n]
                tgt, dst = t2, d2
            for j in range(m):
                q = w.touched[j]
                tgt[n + j] = q
                dst[n + j] = w.best_m[q]
            n += m
        ptr[i + 1] = n
    return ptr, tgt[:n].copy(), dst[:n].copy()


class Reach:
    """Exact bounded reach from single points to a fixed set of target points on one network.

    ``targets``: the snapped target points (communities); ``max_m``: the search bound in metres.
    Holds the compiled graph, the targets grouped by edge and one set of work arrays (not
    thread-safe: callers serialise)."""

    def __init__(self, net: WalkNetwork, targets: Snapped, max_m: float) -> None:
        self.net = net
        self.max_m = float(max_m)
        self.graph = kernel_graph(net)
        self.targets = edge_points(targets, net.n_edges)
        self._work = kernels.within_work(self.graph, len(targets))
        self._calls = 0

    def many(self, sources: Snapped) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
        """Targets within ``max_m`` metres of each source: CSR ``(ptr, target, dist_m)``; source
        ``i``'s are ``ptr[i]:ptr[i + 1]`` (none for an unsnapped source)."""
        starts = edge_points(sources, self.net.n_edges, group=False)
        ptr, tgt, dst = _reach_all(self.graph, starts, self.max_m, self.targets)
        return ptr, tgt, dst

    def one(self, source: Snapped) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Targets within ``max_m`` metres of the single (snapped) point ``source``: their indices
        and distances in metres (empty if it is not snapped)."""
        if len(source) != 1:
            raise ValueError("one() takes exactly one source point")
        if not bool(source.ok[0]):
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        starts = edge_points(source, self.net.n_edges, group=False)
        self._calls += 1  # a fresh stamp per call (the work arrays are shared); -1 is the unstamped mark
        w = self._work
        no_node, no_dist = np.empty(0, dtype=np.int32), np.empty(0, dtype=np.float64)
        n = point_reach(self.graph, starts, 0, -1 - self._calls, self.max_m, self.targets, w, no_node, no_dist)
        q = w.touched[:n].copy()
        return q, w.best_m[q].copy()

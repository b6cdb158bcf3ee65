"""Compiled shortest-path kernels (numba). Arrays (and named tuples of arrays) in, arrays out.

The kernels take their inputs as named structures (``typing.NamedTuple`` of arrays, which numba
compiles as plain tuples, so the compiled code is the same as with loose arrays) rather than
twenty positional arrays of the same dtype, where a swap would be type-correct and silently wrong:

* :class:`Graph` — the street network: CSR adjacency (``indptr, nbr, weight_m, edge_id``, both
  directions) and each edge's ends and length in metres;
* :class:`EdgePoints` — points on edges (origins, outlets, candidate sites): edge, metres along
  it from its ``u`` end, metres off the street, snapped or not, and the points grouped by edge;
* :class:`Seeds` — the starts of a multi-source search: node, metres already walked, label;
* work arrays (:class:`HeapWork`, :class:`BucketWork`, :class:`WithinWork`), reused between calls.

Build :class:`Graph` and :class:`EdgePoints` with :func:`lifecircle.network.engine.kernel_graph`
and :func:`lifecircle.network.engine.edge_points`. Distances are metres; ``inf`` means
unreachable (never a sentinel number).
"""

from __future__ import annotations

from typing import NamedTuple

import numba as nb
import numpy as np
from numpy.typing import NDArray

INF = np.inf
_NO_START = np.empty(0, dtype=np.float64)  # _nearest_one_category: no node known, all start at inf


class Graph(NamedTuple):
    """The street network as the kernels see it. Node ``a``'s half-edges are
    ``indptr[a]:indptr[a + 1]``; there are ``len(indptr) - 1`` nodes."""

    indptr: NDArray[np.int64]  # CSR row pointers, one per node and one more
    nbr: NDArray[np.int32]  # per half-edge: the node at its far end
    # per half-edge: its length, metres; empty from kernel_graph(weights=False), which only the tiled
    # search takes (it reads edge_len_m[edge_id]): every kernel here indexes it unchecked
    weight_m: NDArray[np.float64]
    edge_id: NDArray[np.int32]  # per half-edge: the edge (street) it runs along
    edge_u: NDArray[np.int32]  # per edge: its u end (node)
    edge_v: NDArray[np.int32]  # per edge: its v end (node)
    edge_len_m: NDArray[np.float64]  # per edge: its length, metres


class EdgePoints(NamedTuple):
    """Points attached to edges, one entry per point. A point that is not ``ok`` (too far from
    every street) has ``edge = -1``, ``pos_m = offset_m = 0`` and is on no edge's list. The points
    on edge ``e`` are ``by_edge[by_edge_ptr[e]:by_edge_ptr[e + 1]]`` (all lists are empty when
    the points were made without grouping)."""

    edge: NDArray[np.int64]  # the edge each point is on, -1 = not ok
    pos_m: NDArray[np.float64]  # metres along the edge from its u end
    offset_m: NDArray[np.float64]  # metres from the point to its street
    ok: NDArray[np.bool_]  # snapped to a street
    by_edge_ptr: NDArray[np.int64]  # one per edge and one more
    by_edge: NDArray[np.int64]  # point indices, grouped by edge


class Seeds(NamedTuple):
    """Starts of a multi-source search: at ``node`` with ``dist_m`` metres already walked; the
    nodes it reaches first carry its ``label``."""

    node: NDArray[np.int32]
    dist_m: NDArray[np.float64]
    label: NDArray[np.int64]


class HeapWork(NamedTuple):
    """Arrays of :func:`dijkstra_seeded`: its results ``dist_m`` (metres; ``inf`` on entry) and
    ``label`` (``-1`` on entry) per node, and its work space: the heap (``heap_d`` metres,
    ``heap_n`` nodes; at least one entry per half-edge and seed) and ``settled`` (``2 n + 1``)."""

    dist_m: NDArray[np.float64]
    label: NDArray[np.int64]
    heap_d: NDArray[np.float64]
    heap_n: NDArray[np.int32]
    settled: NDArray[np.int32]


class BucketWork(NamedTuple):
    """Arrays of :func:`dial_seeded`: its results ``dist_m`` (metres; ``inf`` on entry) and
    ``label`` (``-1`` on entry) per node, and its work space: ``done_m`` (metres each node was
    last expanded at; negative on entry), the entry ``pool`` and the ring of bucket ``head`` s."""

    dist_m: NDArray[np.float64]
    label: NDArray[np.int64]
    done_m: NDArray[np.float64]
    pool: NDArray[np.int64]
    head: NDArray[np.int64]


class WithinWork(NamedTuple):
    """Arrays of :func:`points_within`, one set per thread: the bounded Dijkstra's ``heap`` and,
    per target point, the best walking metres found (``best_m``), the start that last touched it
    (``stamp``) and the list of points touched (``touched``)."""

    heap: HeapWork
    best_m: NDArray[np.float64]
    stamp: NDArray[np.int64]
    touched: NDArray[np.int64]


@nb.njit(cache=True, inline="always")
def _push(hd, hn, size, d, node):
    """Push ``(d, node)`` on a 4-ary min-heap held in ``hd`` (keys) and ``hn`` (nodes)."""
    i = size
    while i > 0:
        p = (i - 1) >> 2
        if hd[p] <= d:
            break
        hd[i] = hd[p]
        hn[i] = hn[p]
        i = p
    hd[i] = d
    hn[i] = node
    return size + 1


@nb.njit(cache=True, inline="always")
def _pop(hd, hn, size):
    """Pop the smallest ``(d, node)`` of the 4-ary min-heap; returns ``(d, node, new_size)``."""
    d0 = hd[0]
    n0 = hn[0]
    size -= 1
    if size > 0:
        d = hd[size]
        node = hn[size]
        i = 0
        while True:
            c = 4 * i + 1
            if c >= size:
                break
            m = c
            dm = hd[c]
            e = min(c + 4, size)
            for j in range(c + 1, e):
                if hd[j] < dm:
                    dm = hd[j]
                    m = j
            if dm >= d:
                break
            hd[i] = dm
            hn[i] = hn[m]
            i = m
        hd[i] = d
        hn[i] = node
    return d0, n0, size


@nb.njit(cache=True)
def dijkstra_seeded(g, seeds, max_d, w):
    """Multi-source Dijkstra on graph ``g`` from ``seeds``, bounded by ``max_d`` metres.

    ``w`` (:class:`HeapWork`): ``w.dist_m`` and ``w.label`` must hold ``inf`` / ``-1`` on entry for
    every node; on return they hold the distance (metres) and the seed label of the nearest seed
    for every node within ``max_d``. ``w.settled`` receives the settled nodes in order; returns
    ``(n_settled, n_touched_extra)``. Nodes touched but not settled (beyond ``max_d``) are left
    with a finite dist > max_d, so callers reset via the touched nodes, which ``w.settled`` lists
    backwards from its end (``n_touched_extra`` of them, settled ones included).
    """
    indptr, nbr, weight = g.indptr, g.nbr, g.weight_m
    dist, lab, hd, hn, settled = w.dist_m, w.label, w.heap_d, w.heap_n, w.settled
    size = 0
    n_settled = 0
    n_touched_extra = 0
    cap = settled.shape[0]
    for i in range(seeds.node.shape[0]):
        s = seeds.node[i]
        d = seeds.dist_m[i]
        if d < dist[s] and d <= max_d:
            if dist[s] == INF:
                # record first touch at the back of `settled` for resetting
                n_touched_extra += 1
                settled[cap - n_touched_extra] = s
            dist[s] = d
            lab[s] = seeds.label[i]
            size = _push(hd, hn, size, d, s)
    while size > 0:
        d, u, size = _pop(hd, hn, size)
        if d > dist[u]:
            continue
        settled[n_settled] = u
        n_settled += 1
        for k in range(indptr[u], indptr[u + 1]):
            v = nbr[k]
            nd = d + weight[k]
            if nd < dist[v] and nd <= max_d:
                if dist[v] == INF:
                    n_touched_extra += 1
                    settled[cap - n_touched_extra] = v
                dist[v] = nd
                lab[v] = lab[u]
                size = _push(hd, hn, size, nd, v)
    return n_settled, n_touched_extra


@nb.njit(cache=True, nogil=True)
def heap_work(n_nodes, n_seeds_and_half_edges):
    """Fresh :class:`HeapWork` for ``n_nodes`` nodes (``dist_m`` all ``inf``, ``label`` all ``-1``),
    with a heap of ``n_seeds_and_half_edges`` entries."""
    cap = n_seeds_and_half_edges
    return HeapWork(
        np.full(n_nodes, INF),
        np.full(n_nodes, -1, dtype=np.int64),
        np.empty(cap, dtype=np.float64),
        np.empty(cap, dtype=np.int32),
        np.empty(2 * n_nodes + 1, dtype=np.int32),
    )


@nb.njit(cache=True)
def dial_seeded(g, seeds, max_d, w, width):
    """Multi-source shortest paths on graph ``g`` from ``seeds``, bounded by ``max_d`` metres, with
    a bucket queue (Dial's buckets of ``width`` metres).

    Within a bucket, nodes are taken in any order and a node improved after it was expanded is
    expanded again (label-correcting), so the result is the exact fixed point
    ``dist[v] = min(seed, min_u dist[u] + w(u, v))`` — bit for bit what Dijkstra computes — for
    any ``width``; a width near the shortest edges keeps re-expansions rare.

    ``w`` (:class:`BucketWork`): ``w.head`` (int64) is a ring of at least
    ``ceil(max(weight_m) / width) + 2`` buckets; ``w.pool`` (int64) holds queue entries as
    ``next << 32 | node``; ``w.done_m`` (float64, one per node) is the distance each node was last
    expanded at. ``w.dist_m`` / ``w.label`` must hold ``inf`` / ``-1`` and ``w.done_m`` a negative
    number on entry; they receive the results. Returns the number of expansions, or ``-1`` if the
    pool overflowed (``dist_m`` / ``label`` are then partial: reset them and use a heap).
    """
    indptr, nbr, weight = g.indptr, g.nbr, g.weight_m
    dist, lab, done, pool, head = w.dist_m, w.label, w.done_m, w.pool, w.head
    seed_node, seed_dist = seeds.node, seeds.dist_m
    n_ring = head.shape[0]
    inv = 1.0 / width
    cap = pool.shape[0]
    low = np.int64(0xFFFFFFFF)
    for r in range(n_ring):
        head[r] = -1
    n_pool = 0
    pending = 0
    cur = np.int64(1) << 62
    for i in range(seed_node.shape[0]):
        s = seed_node[i]
        d = seed_dist[i]
        if d < dist[s] and d <= max_d:
            dist[s] = d
            lab[s] = seeds.label[i]
            cur = min(cur, np.int64(d * inv))
    for i in range(seed_node.shape[0]):
        s = seed_node[i]
        d = seed_dist[i]
        if d == dist[s] and d <= max_d:
            if n_pool == cap:
                return -1
            r = np.int64(d * inv) % n_ring
            pool[n_pool] = (head[r] << 32) | np.int64(s)
            head[r] = n_pool
            n_pool += 1
            pending += 1
    n_exp = 0
    while pending > 0:
        r = cur % n_ring
        k = head[r]
        while k >= 0:
            e = pool[k]
            head[r] = e >> 32
            pending -= 1
            u = e & low
            d = dist[u]
            if d != done[u]:  # else: already expanded at this distance (a duplicate entry)
                done[u] = d
                n_exp += 1
                lu = lab[u]
                for q in range(indptr[u], indptr[u + 1]):
                    v = nbr[q]
                    nd = d + weight[q]
                    if nd < dist[v] and nd <= max_d:
                        dist[v] = nd
                        lab[v] = lu
                        if n_pool == cap:
                            return -1
                        r2 = max(np.int64(nd * inv), cur) % n_ring
                        pool[n_pool] = (head[r2] << 32) | np.int64(v)
                        head[r2] = n_pool
                        n_pool += 1
                        pending += 1
            k = head[r]
        cur += 1
    return n_exp


@nb.njit(cache=True, inline="always")
def _reset(dist, known):
    """``dist`` all ``inf`` — but ``-1`` (closed) where ``known`` (when not empty) is finite."""
    if known.shape[0] == 0:
        dist[:] = INF
    else:
        for i in range(dist.shape[0]):
            dist[i] = INF if known[i] == INF else -1.0


@nb.njit(cache=True)
def _nearest_one_category(g, cat_seeds, max_d, width, dist, lab, done, pool, head, max_pool, known):
    """:func:`dial_seeded` from ``cat_seeds`` into ``dist`` / ``lab`` (reset here), growing the
    entry ``pool`` to ``max_pool`` entries if it overflows, and falling back to a heap Dijkstra if
    even that does not do. Returns the pool (grown or not) for the next category.

    ``known`` (metres, one per node, any float dtype; or empty): nodes already known (finite)
    are closed — their ``dist`` starts at ``-1``, so the search never enters them — and the rest
    start at ``inf``; empty, every node starts at ``inf``. This is how
    :mod:`lifecircle.network.tiled` searches only the nodes its tiles left open."""
    while True:
        _reset(dist, known)
        lab[:] = -1
        done[:] = -1.0
        if dial_seeded(g, cat_seeds, max_d, BucketWork(dist, lab, done, pool, head), width) >= 0:
            return pool
        if pool.shape[0] >= max_pool:
            break
        pool = np.empty(max_pool, dtype=np.int64)
    _reset(dist, known)
    lab[:] = -1
    n_nodes = dist.shape[0]
    settled = np.empty(2 * n_nodes + 1, dtype=np.int32)
    heap_cap = g.nbr.shape[0] + cat_seeds.node.shape[0] + 1  # a heap entry per half-edge and seed at most
    hw = HeapWork(dist, lab, np.empty(heap_cap), np.empty(heap_cap, dtype=np.int32), settled)
    dijkstra_seeded(g, cat_seeds, max_d, hw)
    return pool


@nb.njit(cache=True)
def _pool_caps(n_nodes, n_half_edges, n_seeds):
    """Entry pools of :func:`dial_seeded`: ``(first, full)``. An entry is pushed per improvement
    of a node, which on street networks is about once per node (1.04-1.07 on generated grids), so
    the first pool holds one and a half per node plus the seeds; the full one (one per half-edge
    and seed) is enough unless nodes are expanded more than once."""
    full = n_half_edges + n_seeds + 1
    return min(full, n_nodes + n_nodes // 2 + n_seeds + 1), full


@nb.njit(cache=True, parallel=True)
def nearest_all_nodes(g, seeds, cat_ptr, max_d, width, n_ring, n_threads):
    """For each category ``c`` (seeds ``cat_ptr[c]:cat_ptr[c+1]`` of ``seeds``), the distance
    (metres) from every node of graph ``g`` to its nearest seed and that seed's label, within
    ``max_d`` metres. Categories run in parallel. Returns ``(dist[c, node], label[c, node])``.

    ``n_threads`` workers each take every ``n_threads``-th category.
    Uses :func:`dial_seeded` with buckets of ``width`` metres (``n_ring`` of them), falling back
    to a heap Dijkstra in the rare case its entry pool overflows. Both give identical results.
    """
    n_nodes = g.indptr.shape[0] - 1
    n_cat = cat_ptr.shape[0] - 1
    dist = np.empty((n_cat, n_nodes))
    lab = np.empty((n_cat, n_nodes), dtype=np.int64)
    first_cap, full_cap = _pool_caps(n_nodes, g.nbr.shape[0], seeds.node.shape[0])
    n_work = max(1, min(n_cat, n_threads))
    for wk in nb.prange(n_work):
        # one set of work arrays per worker, reused for its categories wk, wk + n_work, ...
        pool = np.empty(first_cap, dtype=np.int64)
        head = np.empty(n_ring, dtype=np.int64)
        done = np.empty(n_nodes, dtype=np.float64)
        for c in range(wk, n_cat, n_work):
            dc = dist[c]
            lc = lab[c]
            a = cat_ptr[c]
            b = cat_ptr[c + 1]
            if b == a:
                dc[:] = INF  # first touch inside the parallel loop
                lc[:] = -1
                continue
            cat_seeds = Seeds(seeds.node[a:b], seeds.dist_m[a:b], seeds.label[a:b])
            pool = _nearest_one_category(g, cat_seeds, max_d, width, dc, lc, done, pool, head, full_cap, _NO_START)
    return dist, lab


@nb.njit(cache=True, parallel=True)
def nearest_dist_nodes(g, seeds, cat_ptr, max_d, width, n_ring, n_threads, out):
    """:func:`nearest_all_nodes` without the labels, each category's distances (metres) written
    into ``out[c, node]`` — e.g. float32, 4 bytes a value (about 1 mm at 10 km) instead of the 16
    of a float64 distance and an int64 label. The search itself runs in float64 in one work array
    per worker, so every value is the float64 result rounded once. Returns ``out``."""
    n_nodes = g.indptr.shape[0] - 1
    n_cat = cat_ptr.shape[0] - 1
    first_cap, full_cap = _pool_caps(n_nodes, g.nbr.shape[0], seeds.node.shape[0])
    n_work = max(1, min(n_cat, n_threads))
    for wk in nb.prange(n_work):
        pool = np.empty(first_cap, dtype=np.int64)
        head = np.empty(n_ring, dtype=np.int64)
        done = np.empty(n_nodes, dtype=np.float64)
        dc = np.empty(n_nodes, dtype=np.float64)
        lc = np.empty(n_nodes, dtype=np.int32)  # labels not returned: the narrowest that holds them
        for c in range(wk, n_cat, n_work):
            oc = out[c]
            a = cat_ptr[c]
            b = cat_ptr[c + 1]
            if b == a:
                oc[:] = INF
                continue
            cat_seeds = Seeds(seeds.node[a:b], seeds.dist_m[a:b], seeds.label[a:b])
            pool = _nearest_one_category(g, cat_seeds, max_d, width, dc, lc, done, pool, head, full_cap, _NO_START)
            for i in range(n_nodes):
                oc[i] = dc[i]
    return out


@nb.njit(cache=True, nogil=True)
def counting_order(key, n_keys):
    """The order that sorts ``key`` (integers ``0..n_keys-1``) stably, as
    ``np.argsort(key, kind="stable")`` gives it, by a counting sort: linear in ``len(key) + n_keys``."""
    ptr = np.zeros(n_keys + 1, dtype=np.int64)
    for i in range(key.shape[0]):
        ptr[key[i] + 1] += 1
    for k in range(n_keys):
        ptr[k + 1] += ptr[k]
    order = np.empty(key.shape[0], dtype=np.int64)
    for i in range(key.shape[0]):
        order[ptr[key[i]]] = i
        ptr[key[i]] += 1
    return order


def bucket_width(weight_m: np.ndarray, max_buckets: int = 1 << 16) -> tuple[float, int]:
    """Bucket width (metres) and ring size for :func:`nearest_all_nodes`, from the half-edge
    lengths ``weight_m`` (metres): about the 5th percentile of the edge lengths (re-expansions
    stay rare), but wide enough that the ring of ``ceil(longest edge / width) + 2`` buckets stays
    under ``max_buckets``."""
    adj_w = weight_m
    step = max(1, adj_w.shape[0] // 8192)  # a regular sample is plenty: width only sets speed
    pos = adj_w[::step]
    pos = pos[pos > 0]
    if pos.size == 0:
        return 1.0, 3
    w_max = float(adj_w.max())
    width = max(float(np.quantile(pos, 0.05)), w_max / (max_buckets - 3), 1e-6)
    return width, int(np.ceil(w_max / width)) + 3


@nb.njit(cache=True, parallel=True)
def resolve_origins(node_dist, node_lab, g, origins, sources, source_cat, max_d):
    """Distance (metres) from each of the ``origins`` (:class:`EdgePoints`) to the nearest of the
    ``sources`` (:class:`EdgePoints`, grouped by edge) of each category, given node distances
    ``node_dist[c, node]`` and labels ``node_lab[c, node]`` on graph ``g``: through either end of
    the origin's edge, or straight along the edge to a source on the same edge
    (``source_cat[s]`` is source ``s``'s category). Distances beyond ``max_d`` metres are
    unreachable. Returns ``(dist[o, c], label[o, c])``."""
    n_cat = node_dist.shape[0]
    n_o = origins.edge.shape[0]
    out = np.full((n_o, n_cat), INF)
    lab = np.full((n_o, n_cat), -1, dtype=np.int64)
    for o in nb.prange(n_o):
        if not origins.ok[o]:
            continue
        e = origins.edge[o]
        u = g.edge_u[e]
        v = g.edge_v[e]
        p = origins.pos_m[o]
        f = origins.offset_m[o]
        L = g.edge_len_m[e]
        for c in range(n_cat):
            du = node_dist[c, u] + p
            dv = node_dist[c, v] + (L - p)
            if du <= dv:
                out[o, c] = du + f
                lab[o, c] = node_lab[c, u]
            else:
                out[o, c] = dv + f
                lab[o, c] = node_lab[c, v]
        for k in range(sources.by_edge_ptr[e], sources.by_edge_ptr[e + 1]):
            s = sources.by_edge[k]
            d = abs(p - sources.pos_m[s]) + f + sources.offset_m[s]
            c = source_cat[s]
            if d < out[o, c]:
                out[o, c] = d
                lab[o, c] = s
        for c in range(n_cat):
            if out[o, c] > max_d:
                out[o, c] = INF
                lab[o, c] = -1
    return out, lab


@nb.njit(cache=True, nogil=True)
def within_work(g, n_points):
    """Fresh :class:`WithinWork` for :func:`points_within` on graph ``g`` towards ``n_points``
    target points (one set per thread)."""
    return WithinWork(
        heap_work(g.indptr.shape[0] - 1, g.nbr.shape[0] + 3),
        np.full(n_points, INF),
        np.full(n_points, -1, dtype=np.int64),
        np.empty(n_points, dtype=np.int64),
    )


@nb.njit(cache=True, nogil=True)
def points_within(g, starts, i, max_d, targets, w):
    """The ``targets`` (:class:`EdgePoints`, grouped by edge) reachable on graph ``g`` from start
    ``i`` of ``starts`` (:class:`EdgePoints`; it must be ``ok``), by a Dijkstra bounded at
    ``max_d`` metres.

    Fills ``w.best_m[q]`` with the walking metres to each target ``q`` touched and lists them in
    ``w.touched``; returns how many. A touched target may lie beyond ``max_d`` (callers compare).
    Touches are stamped with ``i``, so calls for different starts share ``w``; its Dijkstra arrays
    are reset before returning, so the next call can reuse them.
    """
    e = starts.edge[i]
    p = starts.pos_m[i]
    f = starts.offset_m[i]
    heap = w.heap
    dist = heap.dist_m
    settled = heap.settled
    best, stamp, touched = w.best_m, w.stamp, w.touched
    q_ptr, q_list, q_pos, q_off = targets.by_edge_ptr, targets.by_edge, targets.pos_m, targets.offset_m
    edge_u, edge_len = g.edge_u, g.edge_len_m
    L = edge_len[e]
    seeds = Seeds(np.empty(2, dtype=np.int32), np.empty(2, dtype=np.float64), np.zeros(2, dtype=np.int64))
    seeds.node[0] = edge_u[e]
    seeds.node[1] = g.edge_v[e]
    seeds.dist_m[0] = f + p
    seeds.dist_m[1] = f + (L - p)
    n_set, n_extra = dijkstra_seeded(g, seeds, max_d, heap)
    n_touch = 0
    for j in range(n_set + 1):
        if j < n_set:  # through a settled street node, along each incident edge
            a = settled[j]
            da = dist[a]
            k0 = g.indptr[a]
            k1 = g.indptr[a + 1]
        else:  # straight along the start edge itself
            a = -1
            da = 0.0
            k0 = 0
            k1 = 1
        for k in range(k0, k1):
            ee = g.edge_id[k] if a >= 0 else e
            for r in range(q_ptr[ee], q_ptr[ee + 1]):
                q = q_list[r]
                if a < 0:
                    d = abs(p - q_pos[q]) + f + q_off[q]
                elif edge_u[ee] == a:
                    d = da + q_pos[q] + q_off[q]
                else:
                    d = da + edge_len[ee] - q_pos[q] + q_off[q]
                if stamp[q] != i:
                    stamp[q] = i
                    best[q] = d
                    touched[n_touch] = q
                    n_touch += 1
                elif d < best[q]:
                    best[q] = d
    cap_s = settled.shape[0]
    for j in range(n_extra):
        a = settled[cap_s - 1 - j]
        dist[a] = INF
        heap.label[a] = -1
    return n_touch


@nb.njit(cache=True, parallel=True)
def count_within_kernel(g, origins, sources, source_cat, n_cat, thresholds, n_chunks):
    """For each of the ``origins`` (:class:`EdgePoints`), the number of distinct ``sources``
    (:class:`EdgePoints`, grouped by edge) of each category (``source_cat[s]`` in ``0..n_cat-1``)
    within each threshold (metres, ascending) on graph ``g``, by a Dijkstra bounded at the largest
    threshold. Returns ``counts[o, c, k]``. Origins are split into ``n_chunks`` chunks run in
    parallel, each with its own work arrays."""
    n_o = origins.edge.shape[0]
    n_t = thresholds.shape[0]
    n_s = sources.edge.shape[0]
    counts = np.zeros((n_o, n_cat, n_t), dtype=np.int32)
    max_d = thresholds[n_t - 1]
    chunk = (n_o + n_chunks - 1) // n_chunks
    for ch in nb.prange(n_chunks):
        lo = ch * chunk
        hi = min(n_o, lo + chunk)
        if lo >= hi:
            continue
        w = within_work(g, n_s)
        for o in range(lo, hi):
            if not origins.ok[o]:
                continue
            n_touch = points_within(g, origins, o, max_d, sources, w)
            for j in range(n_touch):
                s = w.touched[j]
                d = w.best_m[s]
                c = source_cat[s]
                for k in range(n_t):
                    if d <= thresholds[k]:
                        counts[o, c, k] += 1
    return counts

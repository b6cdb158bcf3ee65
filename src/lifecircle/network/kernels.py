"""Compiled shortest-path kernels (numba). Plain arrays in, plain arrays out; no Python objects.

Graph: CSR adjacency ``indptr, adj_node, adj_w (metres), adj_edge``. Distances are metres;
``inf`` means unreachable (never a sentinel number). Points on edges are described by
``edge, pos (metres from the edge's u end), off (metres from the street)``.
"""

from __future__ import annotations

import numba as nb
import numpy as np

INF = np.inf


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
def dijkstra_seeded(indptr, adj_node, adj_w, seed_node, seed_dist, seed_lab, max_d, dist, lab, hd, hn, settled):
    """Multi-source Dijkstra from seeds with initial distances, bounded by ``max_d`` metres.

    ``dist`` and ``lab`` must hold ``inf`` / ``-1`` on entry for every node; on return they hold
    the distance and the seed label of the nearest seed for every node within ``max_d``.
    ``settled`` receives the settled nodes in order; returns their count. Nodes touched but not
    settled (beyond ``max_d``) are left with a finite dist > max_d, so callers reset via the
    returned ``touched`` count in ``settled`` too: entries after the settled ones list them.
    """
    size = 0
    n_settled = 0
    n_touched_extra = 0
    cap = settled.shape[0]
    for i in range(seed_node.shape[0]):
        s = seed_node[i]
        d = seed_dist[i]
        if d < dist[s] and d <= max_d:
            if dist[s] == INF:
                # record first touch at the back of `settled` for resetting
                n_touched_extra += 1
                settled[cap - n_touched_extra] = s
            dist[s] = d
            lab[s] = seed_lab[i]
            size = _push(hd, hn, size, d, s)
    while size > 0:
        d, u, size = _pop(hd, hn, size)
        if d > dist[u]:
            continue
        settled[n_settled] = u
        n_settled += 1
        for k in range(indptr[u], indptr[u + 1]):
            v = adj_node[k]
            nd = d + adj_w[k]
            if nd < dist[v] and nd <= max_d:
                if dist[v] == INF:
                    n_touched_extra += 1
                    settled[cap - n_touched_extra] = v
                dist[v] = nd
                lab[v] = lab[u]
                size = _push(hd, hn, size, nd, v)
    return n_settled, n_touched_extra


@nb.njit(cache=True)
def dial_seeded(indptr, adj_node, adj_w, seed_node, seed_dist, seed_lab, max_d, dist, lab, done, pool, head,
                width):
    """Multi-source shortest paths with a bucket queue (Dial's buckets of ``width`` metres).

    Within a bucket, nodes are taken in any order and a node improved after it was expanded is
    expanded again (label-correcting), so the result is the exact fixed point
    ``dist[v] = min(seed, min_u dist[u] + w(u, v))`` — bit for bit what Dijkstra computes — for
    any ``width``; a width near the shortest edges keeps re-expansions rare.

    Work arrays: ``head`` (int64) is a ring of at least ``ceil(max(adj_w) / width) + 2`` buckets;
    ``pool`` (int64) holds queue entries as ``next << 32 | node``; ``done`` (float64, one per node)
    is the distance each node was last expanded at. ``dist`` / ``lab`` must hold ``inf`` / ``-1``
    and ``done`` a negative number on entry. Returns the number of expansions, or ``-1`` if the
    pool overflowed (``dist`` / ``lab`` are then partial: reset them and use a heap).
    """
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
            lab[s] = seed_lab[i]
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
                    v = adj_node[q]
                    nd = d + adj_w[q]
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


@nb.njit(cache=True, parallel=True)
def nearest_all_nodes(indptr, adj_node, adj_w, n_nodes, seed_node, seed_dist, seed_lab, cat_ptr, max_d,
                      width, n_ring, n_threads):
    """For each category ``c`` (seeds ``cat_ptr[c]:cat_ptr[c+1]``), the distance from every node to
    its nearest seed and that seed's label. Categories run in parallel.

    ``n_threads`` workers each take every ``n_threads``-th category.
    Uses :func:`dial_seeded` with buckets of ``width`` metres (``n_ring`` of them), falling back
    to a heap Dijkstra in the rare case its entry pool overflows. Both give identical results.
    """
    n_cat = cat_ptr.shape[0] - 1
    dist = np.empty((n_cat, n_nodes))
    lab = np.empty((n_cat, n_nodes), dtype=np.int64)
    cap = adj_node.shape[0] + seed_node.shape[0] + 1
    n_work = max(1, min(n_cat, n_threads))
    for wk in nb.prange(n_work):
        # one set of work arrays per worker, reused for its categories wk, wk + n_work, ...
        pool = np.empty(cap, dtype=np.int64)
        head = np.empty(n_ring, dtype=np.int64)
        done = np.empty(n_nodes, dtype=np.float64)
        for c in range(wk, n_cat, n_work):
            dc = dist[c]
            lc = lab[c]
            dc[:] = INF  # first touch inside the parallel loop
            lc[:] = -1
            a = cat_ptr[c]
            b = cat_ptr[c + 1]
            if b == a:
                continue
            done[:] = -1.0
            res = dial_seeded(indptr, adj_node, adj_w, seed_node[a:b], seed_dist[a:b], seed_lab[a:b],
                              max_d, dc, lc, done, pool, head, width)
            if res < 0:
                dc[:] = INF
                lc[:] = -1
                settled = np.empty(2 * n_nodes + 1, dtype=np.int32)
                dijkstra_seeded(indptr, adj_node, adj_w, seed_node[a:b], seed_dist[a:b], seed_lab[a:b],
                                max_d, dc, lc, np.empty(cap), np.empty(cap, dtype=np.int32), settled)
    return dist, lab


def bucket_width(adj_w: np.ndarray, max_buckets: int = 1 << 16) -> tuple[float, int]:
    """Bucket width (metres) and ring size for :func:`nearest_all_nodes`: about the 5th percentile
    of the edge lengths (re-expansions stay rare), but wide enough that the ring of
    ``ceil(longest edge / width) + 2`` buckets stays under ``max_buckets``."""
    step = max(1, adj_w.shape[0] // 8192)  # a regular sample is plenty: width only sets speed
    pos = adj_w[::step]
    pos = pos[pos > 0]
    if pos.size == 0:
        return 1.0, 3
    w_max = float(adj_w.max())
    width = max(float(np.quantile(pos, 0.05)), w_max / (max_buckets - 3), 1e-6)
    return width, int(np.ceil(w_max / width)) + 3


@nb.njit(cache=True, parallel=True)
def resolve_origins(node_dist, node_lab, o_edge, o_pos, o_off, edge_u, edge_v, edge_len,
                    s_by_edge_ptr, s_by_edge, s_pos, s_off, s_cat, max_d):
    """Distance from each origin point to the nearest source of each category, given node
    distances ``node_dist[c, node]``: through either end of the origin's edge, or straight along
    the edge to a source on the same edge. Returns ``(dist[o, c], label[o, c])``."""
    n_cat = node_dist.shape[0]
    n_o = o_edge.shape[0]
    out = np.full((n_o, n_cat), INF)
    lab = np.full((n_o, n_cat), -1, dtype=np.int64)
    for o in nb.prange(n_o):
        e = o_edge[o]
        if e < 0:
            continue
        u = edge_u[e]
        v = edge_v[e]
        p = o_pos[o]
        f = o_off[o]
        L = edge_len[e]
        for c in range(n_cat):
            du = node_dist[c, u] + p
            dv = node_dist[c, v] + (L - p)
            if du <= dv:
                out[o, c] = du + f
                lab[o, c] = node_lab[c, u]
            else:
                out[o, c] = dv + f
                lab[o, c] = node_lab[c, v]
        for k in range(s_by_edge_ptr[e], s_by_edge_ptr[e + 1]):
            s = s_by_edge[k]
            d = abs(p - s_pos[s]) + f + s_off[s]
            c = s_cat[s]
            if d < out[o, c]:
                out[o, c] = d
                lab[o, c] = s
        for c in range(n_cat):
            if out[o, c] > max_d:
                out[o, c] = INF
                lab[o, c] = -1
    return out, lab


@nb.njit(cache=True, nogil=True)
def within_work_arrays(n_nodes, n_adj, n_points):
    """Fresh work arrays for :func:`points_within` (one set per thread):
    ``(dist, lab, hd, hn, settled, best, stamp, touched)``."""
    cap = n_adj + 3
    return (np.full(n_nodes, INF), np.full(n_nodes, -1, dtype=np.int64),
            np.empty(cap, dtype=np.float64), np.empty(cap, dtype=np.int32),
            np.empty(2 * n_nodes + 1, dtype=np.int32),
            np.full(n_points, INF), np.full(n_points, -1, dtype=np.int64), np.empty(n_points, dtype=np.int64))


@nb.njit(cache=True, nogil=True)
def points_within(indptr, adj_node, adj_w, adj_edge, edge_u, edge_v, edge_len, e, p, f, max_d,
                  q_by_edge_ptr, q_by_edge, q_pos, q_off, stamp_id,
                  dist, lab, hd, hn, settled, best, stamp, touched):
    """The points on edges (``q_*``, grouped by edge) reachable from the point at ``pos = p``
    metres along edge ``e``, ``f`` metres off the street, by a Dijkstra bounded at ``max_d``.

    Fills ``best[q]`` with the walking metres of each point touched and lists them in
    ``touched``; returns how many. A touched point may lie beyond ``max_d`` (callers compare).
    ``stamp_id`` must differ between calls that share ``stamp``. The work arrays ``dist``/``lab``
    are reset before returning, so the next call can reuse them.
    """
    L = edge_len[e]
    seed_node = np.empty(2, dtype=np.int32)
    seed_dist = np.empty(2, dtype=np.float64)
    seed_lab = np.zeros(2, dtype=np.int64)
    seed_node[0] = edge_u[e]
    seed_node[1] = edge_v[e]
    seed_dist[0] = f + p
    seed_dist[1] = f + (L - p)
    n_set, n_extra = dijkstra_seeded(indptr, adj_node, adj_w, seed_node, seed_dist, seed_lab, max_d,
                                     dist, lab, hd, hn, settled)
    n_touch = 0
    for i in range(n_set + 1):
        if i < n_set:  # through a settled street node, along each incident edge
            a = settled[i]
            da = dist[a]
            k0 = indptr[a]
            k1 = indptr[a + 1]
        else:  # straight along the start edge itself
            a = -1
            da = 0.0
            k0 = 0
            k1 = 1
        for k in range(k0, k1):
            ee = adj_edge[k] if a >= 0 else e
            for r in range(q_by_edge_ptr[ee], q_by_edge_ptr[ee + 1]):
                q = q_by_edge[r]
                if a < 0:
                    d = abs(p - q_pos[q]) + f + q_off[q]
                elif edge_u[ee] == a:
                    d = da + q_pos[q] + q_off[q]
                else:
                    d = da + edge_len[ee] - q_pos[q] + q_off[q]
                if stamp[q] != stamp_id:
                    stamp[q] = stamp_id
                    best[q] = d
                    touched[n_touch] = q
                    n_touch += 1
                elif d < best[q]:
                    best[q] = d
    cap_s = settled.shape[0]
    for i in range(n_extra):
        a = settled[cap_s - 1 - i]
        dist[a] = INF
        lab[a] = -1
    return n_touch


@nb.njit(cache=True, parallel=True)
def count_within_kernel(indptr, adj_node, adj_w, adj_edge, n_nodes, edge_u, edge_v, edge_len,
                        o_edge, o_pos, o_off, s_by_edge_ptr, s_by_edge, s_pos, s_off, s_cat, n_cat,
                        thresholds, n_chunks):
    """For each origin, the number of distinct sources of each category within each threshold
    (metres, ascending), by a Dijkstra bounded at the largest threshold. Origins are split into
    ``n_chunks`` chunks run in parallel, each with its own work arrays."""
    n_o = o_edge.shape[0]
    n_t = thresholds.shape[0]
    n_s = s_pos.shape[0]
    counts = np.zeros((n_o, n_cat, n_t), dtype=np.int32)
    max_d = thresholds[n_t - 1]
    chunk = (n_o + n_chunks - 1) // n_chunks
    for ch in nb.prange(n_chunks):
        lo = ch * chunk
        hi = min(n_o, lo + chunk)
        if lo >= hi:
            continue
        dist, lab, hd, hn, settled, best, stamp, touched = within_work_arrays(n_nodes, adj_node.shape[0], n_s)
        for o in range(lo, hi):
            e = o_edge[o]
            if e < 0:
                continue
            n_touch = points_within(indptr, adj_node, adj_w, adj_edge, edge_u, edge_v, edge_len,
                                    e, o_pos[o], o_off[o], max_d, s_by_edge_ptr, s_by_edge, s_pos, s_off, o,
                                    dist, lab, hd, hn, settled, best, stamp, touched)
            for i in range(n_touch):
                s = touched[i]
                d = best[s]
                c = s_cat[s]
                for k in range(n_t):
                    if d <= thresholds[k]:
                        counts[o, c, k] += 1
    return counts

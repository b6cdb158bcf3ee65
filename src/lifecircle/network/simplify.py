"""A lean network: chains of degree-2 vertices become one edge whose geometry is the whole chain
(as OSMnx ``simplify_graph`` does). Distances do not change; nodes and memory shrink.

A chain that comes back to where it started (a loop on a junction, or a ring road with no junction
at all) keeps one extra node halfway, so it becomes two edges and never a zero-length self-loop.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numpy.typing import NDArray


@nb.njit(cache=True)
def _walk(n_nodes, seg_u, seg_v, keep):
    """Walk every chain of segments between kept nodes. Returns ``(edge_ptr, seg, fwd, e_u, e_v)``:
    edge ``k`` is segments ``seg[edge_ptr[k]:edge_ptr[k + 1]]`` in order, each run forward (u→v)
    where ``fwd``, from node ``e_u[k]`` to node ``e_v[k]``. ``keep`` is updated in place."""
    n_seg = seg_u.shape[0]
    deg = np.zeros(n_nodes + 1, np.int64)
    for s in range(n_seg):
        deg[seg_u[s] + 1] += 1
        deg[seg_v[s] + 1] += 1
    indptr = np.cumsum(deg)
    fill = indptr[:-1].copy()
    adj = np.empty(2 * n_seg, np.int64)
    for s in range(n_seg):
        adj[fill[seg_u[s]]] = s
        fill[seg_u[s]] += 1
        adj[fill[seg_v[s]]] = s
        fill[seg_v[s]] += 1
    visited = np.zeros(n_seg, np.bool_)
    seg = np.empty(n_seg, np.int64)
    fwd = np.empty(n_seg, np.bool_)
    edge_ptr = np.zeros(n_seg + 1, np.int64)
    e_u = np.empty(n_seg, np.int64)
    e_v = np.empty(n_seg, np.int64)
    pos = 0
    ne = 0
    for phase in range(2):  # phase 1: rings with no kept node at all
        for x0 in range(n_seg if phase == 1 else n_nodes):
            if phase == 1:
                if visited[x0]:
                    continue
                x = seg_u[x0]
                keep[x] = True
            else:
                x = x0
                if not keep[x]:
                    continue
            for k in range(indptr[x], indptr[x + 1]):
                s = adj[k]
                if visited[s]:
                    continue
                start = pos
                cur = x
                while True:
                    visited[s] = True
                    f = seg_u[s] == cur
                    seg[pos] = s
                    fwd[pos] = f
                    pos += 1
                    nxt = seg_v[s] if f else seg_u[s]
                    if keep[nxt]:
                        break
                    a = adj[indptr[nxt]]
                    s = a if a != s else adj[indptr[nxt] + 1]
                    cur = nxt
                if nxt == x:  # back where it started: keep a node halfway, two edges
                    mid = start + (pos - start) // 2
                    sm = seg[mid - 1]
                    half = seg_v[sm] if fwd[mid - 1] else seg_u[sm]
                    keep[half] = True
                    e_u[ne] = x
                    e_v[ne] = half
                    edge_ptr[ne + 1] = mid
                    ne += 1
                    e_u[ne] = half
                else:
                    e_u[ne] = x
                e_v[ne] = nxt
                edge_ptr[ne + 1] = pos
                ne += 1
    return edge_ptr[: ne + 1], seg, fwd, e_u[:ne], e_v[:ne]


def chain_edges(
    n_nodes: int,
    seg_u: NDArray[np.integer],
    seg_v: NDArray[np.integer],
    seg_level: NDArray[np.integer] | None,
    *,
    simplify: bool = True,
) -> tuple[
    NDArray[np.int64], NDArray[np.int64], NDArray[np.bool_], NDArray[np.int64], NDArray[np.int64], NDArray[np.bool_]
]:
    """Group segments (``seg_u != seg_v``, no two between the same nodes) into edges.

    With ``simplify``, a node is kept where its degree is not 2 or where the level of the street
    changes (a bridge's end), and every chain between kept nodes is one edge; without, each segment
    is an edge. Returns ``(edge_ptr, seg, fwd, edge_u, edge_v, kept_node)`` as :func:`_walk`."""
    u = np.asarray(seg_u, np.int64)
    v = np.asarray(seg_v, np.int64)
    deg = np.bincount(np.concatenate([u, v]), minlength=n_nodes)
    keep = deg != 2 if simplify else np.ones(n_nodes, bool)
    if simplify and seg_level is not None and len(u):
        lev = np.asarray(seg_level, np.int64)
        lo = np.full(n_nodes, np.iinfo(np.int64).max)
        hi = np.full(n_nodes, np.iinfo(np.int64).min)
        for ends in (u, v):
            np.minimum.at(lo, ends, lev)
            np.maximum.at(hi, ends, lev)
        keep |= lo != hi
    keep = np.ascontiguousarray(keep)
    edge_ptr, seg, fwd, e_u, e_v = _walk(n_nodes, u, v, keep)
    return edge_ptr, seg, fwd, e_u, e_v, keep

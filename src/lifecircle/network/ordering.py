"""Orders of a network's nodes and edges, so that a search touches nearby memory: nodes along a
Hilbert curve over their coordinates, edges by their lower then higher end (what
:meth:`lifecircle.network.graph.WalkNetwork.renumbered` applies).

Compiled and linear (counting sorts, no argsort temporaries); each is tested equal to a numpy
reference (``tests/test_lean_kernels.py``, ``tests/test_snap_arrays.py``).
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numpy.typing import NDArray


@nb.njit(cache=True)
def _edge_order(n_nodes, u, v):
    """Edges ordered by their lower end, then their higher end (ties keep their order) — what
    ``np.lexsort((max(u, v), min(u, v)))`` gives, by a counting sort in linear time."""
    return _edge_order_as(n_nodes, u, v, np.empty(0, dtype=np.int32))


@nb.njit(cache=True, inline="always")
def _end(node, relabel):
    """``node`` under ``relabel`` (unchanged when it is empty)."""
    return node if relabel.shape[0] == 0 else relabel[node]


@nb.njit(cache=True)
def _edge_order_as(n_nodes, u, v, relabel):
    """:func:`_edge_order` of the edges with their ends relabelled (``relabel[node]``, or as they
    are when ``relabel`` is empty), reading the new labels on the fly rather than storing them."""
    m = u.shape[0]
    ptr = np.zeros(n_nodes + 1, dtype=np.int64)
    for e in range(m):
        ptr[min(_end(u[e], relabel), _end(v[e], relabel)) + 1] += 1
    for a in range(n_nodes):
        ptr[a + 1] += ptr[a]
    order = np.empty(m, dtype=np.int64)
    for e in range(m):  # ptr[a] walks through bucket a, ending where bucket a + 1 starts
        a = min(_end(u[e], relabel), _end(v[e], relabel))
        order[ptr[a]] = e
        ptr[a] += 1
    start = 0
    for a in range(n_nodes):  # insertion sort by the higher end within each (short) bucket
        for i in range(start + 1, ptr[a]):
            e = order[i]
            key = max(_end(u[e], relabel), _end(v[e], relabel))
            j = i - 1
            while j >= start and max(_end(u[order[j]], relabel), _end(v[order[j]], relabel)) > key:
                order[j + 1] = order[j]
                j -= 1
            order[j + 1] = e
        start = ptr[a]
    return order


@nb.njit(cache=True)
def renumber_edges(order, edge_u, edge_v):
    """Edge ends under the new node numbers (node ``order[i]`` becomes ``i``), the edges sorted by
    :func:`_edge_order`: ``(u, v, e_order)``, the ends int32 and already in the new edge order."""
    n = order.shape[0]
    new_index = np.empty(n, dtype=np.int32)
    for i in range(n):
        new_index[order[i]] = i
    e_order = _edge_order_as(n, edge_u, edge_v, new_index)
    m = edge_u.shape[0]
    su = np.empty(m, dtype=np.int32)
    sv = np.empty(m, dtype=np.int32)
    for e in range(m):
        su[e] = new_index[edge_u[e_order[e]]]
        sv[e] = new_index[edge_v[e_order[e]]]
    return su, sv, e_order


@nb.njit(cache=True)
def is_identity(a):
    """Whether ``a`` is ``0, 1, ..., n - 1``."""
    for i in range(a.shape[0]):  # noqa: SIM110 - compiled: a loop, not a generator
        if a[i] != i:
            return False
    return True


def hilbert_key(x: NDArray[np.float64], y: NDArray[np.float64], bits: int = 16) -> NDArray[np.int64]:
    """Position of each point along a Hilbert curve over the points' bounding box (``2**bits``
    cells a side): points near each other on the curve are near each other on the ground."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) == 0:
        return np.zeros(0, dtype=np.int64)
    x_lo, x_span = float(x.min()), float(np.ptp(x))
    y_lo, y_span = float(y.min()), float(np.ptp(y))
    return _hilbert_key(x, y, x_lo, x_span, y_lo, y_span, bits)


@nb.njit(cache=True, inline="always")
def _cell(a, lo, span, side):
    """The cell (``0..side``) of coordinate ``a`` along an axis from ``lo`` over ``span``."""
    return 0 if span == 0 else np.int64(np.floor((a - lo) / span * side))


@nb.njit(cache=True)
def _hilbert_key(x, y, x_lo, x_span, y_lo, y_span, bits):
    """:func:`hilbert_key` point by point (no temporaries): the classic quadrant walk, flipping and
    swapping the coordinates as the curve turns."""
    side = (np.int64(1) << bits) - 1
    out = np.empty(x.shape[0], dtype=np.int64)
    for i in range(x.shape[0]):
        xi = _cell(x[i], x_lo, x_span, side)
        yi = _cell(y[i], y_lo, y_span, side)
        d = np.int64(0)
        s = np.int64(1) << (bits - 1)
        while s > 0:
            rx = 1 if (xi & s) > 0 else 0
            ry = 1 if (yi & s) > 0 else 0
            d += s * s * ((3 * rx) ^ ry)
            if ry == 0:
                if rx == 1:
                    xi, yi = side - xi, side - yi
                xi, yi = yi, xi
            s >>= 1
        out[i] = d
    return out


def hilbert_order(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.int64]:
    """The points in Hilbert-curve order (ties in their own order): a stable sort of
    :func:`hilbert_key` by two 16-bit counting passes, linear in the number of points."""
    return _radix_order_32(hilbert_key(x, y))  # keys < 2**32 with 16 bits a side


@nb.njit(cache=True)
def _radix_order_32(key):
    """Stable order of ``key`` (integers below ``2**32``): a counting sort by the low 16 bits,
    then a stable one by the high 16 bits (least significant digit first)."""
    n = key.shape[0]
    first = np.empty(n, dtype=np.int64)
    order = np.empty(n, dtype=np.int64)
    for shift in (0, 16):
        ptr = np.zeros((1 << 16) + 1, dtype=np.int64)
        for i in range(n):
            ptr[((key[i] >> shift) & 0xFFFF) + 1] += 1
        for b in range(1 << 16):
            ptr[b + 1] += ptr[b]
        for i in range(n):
            j = i if shift == 0 else first[i]  # the first pass starts from the points' own order
            b = (key[j] >> shift) & 0xFFFF
            if shift == 0:
                first[ptr[b]] = j
            else:
                order[ptr[b]] = j
            ptr[b] += 1
    return order

"""Nearest edge of many points at once, over packed edge coordinates (no shapely object per edge).

The edges' straight segments are bucketed in a uniform grid (:class:`SegmentIndex`); a point's
nearest segment is found by visiting rings of cells around it until no closer segment can remain,
in compiled code, every point in parallel. Distances and positions along the edge are computed
with the same formulas as GEOS (``Distance::pointToSegment`` and
``LengthIndexOfPoint``, which shapely's ``STRtree.query_nearest`` and ``line_locate_point`` use),
so the results are those of shapely. Of segments exactly as near, the one whose nearest point comes
first (by x, then y) is chosen, and at the same point (a junction) the lowest edge index: the choice
depends on the geometry, not on how the nodes and edges are numbered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np
from numpy.typing import NDArray


@nb.njit(cache=True, inline="always")
def _seg_dist(px, py, ax, ay, bx, by):
    """GEOS ``Distance::pointToSegment``, with the segment's ends taken in (x, y) order so that the
    float result does not depend on which way the segment runs (exact ties stay exact)."""
    if bx < ax or (bx == ax and by < ay):
        ax, ay, bx, by = bx, by, ax, ay
    if ax == bx and ay == by:
        return np.sqrt((px - ax) * (px - ax) + (py - ay) * (py - ay))
    len2 = (bx - ax) * (bx - ax) + (by - ay) * (by - ay)
    r = ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / len2
    if r <= 0.0:
        return np.sqrt((px - ax) * (px - ax) + (py - ay) * (py - ay))
    if r >= 1.0:
        return np.sqrt((px - bx) * (px - bx) + (py - by) * (py - by))
    s = ((ay - py) * (bx - ax) - (ax - px) * (by - ay)) / len2
    return abs(s) * np.sqrt(len2)


@nb.njit(cache=True)
def _cell_range(lo, hi, origin, cell, n):
    a = int(np.floor((lo - origin) / cell))
    b = int(np.floor((hi - origin) / cell))
    return max(a, 0), min(b, n - 1)


@nb.njit(cache=True)
def _build(xy, seg, x0, y0, cell, nx, ny):
    count = np.zeros(nx * ny + 1, np.int64)
    for pas in range(2):
        if pas == 1:
            count = np.cumsum(count)
            fill = count[:-1].copy()
            out = np.empty(count[-1], np.int32)  # segment = coordinate row: < 2**31 rows
        for s in seg:
            ax, ay, bx, by = xy[s, 0], xy[s, 1], xy[s + 1, 0], xy[s + 1, 1]
            i0, i1 = _cell_range(min(ax, bx), max(ax, bx), x0, cell, nx)
            j0, j1 = _cell_range(min(ay, by), max(ay, by), y0, cell, ny)
            for j in range(j0, j1 + 1):
                for i in range(i0, i1 + 1):
                    c = j * nx + i
                    if pas == 0:
                        count[c + 1] += 1
                    else:
                        out[fill[c]] = s
                        fill[c] += 1
    return count, out


@nb.njit(cache=True)
def _segments(xy, ptr):
    """The segments of packed lines (a segment is its first coordinate row: every row but each
    line's last), the coordinates' bounds ``(x0, y0, x1, y1)`` and the segments' total length
    (metres), in one pass and with no temporaries the size of ``xy`` (numpy's ``min(axis=0)``
    over ``(n, 2)`` rows was most of the index's build time)."""
    n_rows = xy.shape[0]
    n_lines = ptr.shape[0] - 1
    seg = np.empty(max(n_rows - n_lines, 0), np.int64)
    x0 = y0 = np.inf
    x1 = y1 = -np.inf
    total = 0.0
    k = 0
    for e in range(n_lines):
        for r in range(ptr[e], ptr[e + 1]):
            x, y = xy[r, 0], xy[r, 1]
            x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
            if r + 1 < ptr[e + 1]:
                seg[k] = r
                k += 1
                total += np.sqrt((xy[r + 1, 0] - x) ** 2 + (xy[r + 1, 1] - y) ** 2)
    return seg[:k], (x0, y0, x1, y1), total


@nb.njit(cache=True)
def _edge_of(ptr, s):
    """The edge whose coordinates hold row ``s`` (binary search in ``ptr``)."""
    return np.searchsorted(ptr, s, side="right") - 1


@nb.njit(cache=True)
def _foot(px, py, ax, ay, bx, by):
    """The point of segment ``a b`` nearest to ``p``."""
    len2 = (bx - ax) * (bx - ax) + (by - ay) * (by - ay)
    if len2 == 0.0:
        return ax, ay
    r = min(max(((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / len2, 0.0), 1.0)
    return ax + r * (bx - ax), ay + r * (by - ay)


@nb.njit(cache=True)
def _before(px, py, xy, ptr, s, t):
    """Of two segments exactly as near to ``p``, whether ``s`` wins over ``t``: the one whose
    nearest point comes first (by x, then y), so that the choice depends on the geometry and not
    on how edges are numbered; at the same point (a junction) the lower edge index."""
    sx, sy = _foot(px, py, xy[s, 0], xy[s, 1], xy[s + 1, 0], xy[s + 1, 1])
    tx, ty = _foot(px, py, xy[t, 0], xy[t, 1], xy[t + 1, 0], xy[t + 1, 1])
    if sx != tx:
        return sx < tx
    if sy != ty:
        return sy < ty
    return _edge_of(ptr, s) < _edge_of(ptr, t)


@nb.njit(cache=True)
def _locate(xy, ptr, e, s, px, py):
    """Metres along edge ``e`` to the point's projection on its segment ``s`` (GEOS
    ``LengthIndexOfPoint``'s measure: the lengths of the segments before, summed in order, plus the
    projection factor times the segment's length)."""
    start = 0.0
    for k in range(ptr[e], s):
        start += np.sqrt((xy[k + 1, 0] - xy[k, 0]) ** 2 + (xy[k + 1, 1] - xy[k, 1]) ** 2)
    ax, ay, bx, by = xy[s, 0], xy[s, 1], xy[s + 1, 0], xy[s + 1, 1]
    seg_len = np.sqrt((bx - ax) * (bx - ax) + (by - ay) * (by - ay))
    if px == ax and py == ay:
        f = 0.0
    elif px == bx and py == by:
        f = 1.0
    else:
        len2 = (bx - ax) * (bx - ax) + (by - ay) * (by - ay)
        f = ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / len2 if len2 > 0.0 else np.nan
    if f <= 0.0:
        return start
    if f <= 1.0:
        return start + f * seg_len
    return start + seg_len


@nb.njit(cache=True, parallel=True)
def _nearest(xy, ptr, cell_ptr, cell_seg, x0, y0, cell, nx, ny, px, py, max_m):
    n = len(px)
    edge = np.full(n, -1, np.int64)
    dist = np.full(n, np.inf)
    pos = np.zeros(n)
    for i in nb.prange(n):
        x, y = px[i], py[i]
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        ci = int(min(max(np.floor((x - x0) / cell), -1e15), 1e15))
        cj = int(min(max(np.floor((y - y0) / cell), -1e15), 1e15))
        best = np.inf
        bseg = -1
        # rings nearer than k hold no cell of the grid
        k = max(0, -ci, ci - (nx - 1), -cj, cj - (ny - 1))
        while True:
            # every cell of ring k is at least (k - 1) cells away from the point
            if k >= 1 and (k - 1) * cell - 1e-6 > min(best, max_m):
                break
            for j in range(max(cj - k, 0), min(cj + k, ny - 1) + 1):
                edge_row = j == cj - k or j == cj + k
                i_step = 1 if edge_row else 2 * k
                for ii in range(ci - k, ci + k + 1, max(i_step, 1)):
                    if ii < 0 or ii >= nx:
                        continue
                    c = j * nx + ii
                    for q in range(cell_ptr[c], cell_ptr[c + 1]):
                        s = cell_seg[q]
                        d = _seg_dist(x, y, xy[s, 0], xy[s, 1], xy[s + 1, 0], xy[s + 1, 1])
                        if d < best:
                            best = d
                            bseg = s
                        elif d == best and s != bseg and _before(x, y, xy, ptr, s, bseg):
                            bseg = s
            if ci - k <= 0 and cj - k <= 0 and ci + k >= nx - 1 and cj + k >= ny - 1:
                break  # the whole grid has been visited
            k += 1
        if bseg >= 0 and best <= max_m:
            e = _edge_of(ptr, bseg)
            edge[i] = e
            dist[i] = best
            pos[i] = _locate(xy, ptr, e, bseg, x, y)
    return edge, dist, pos


@dataclass
class SegmentIndex:
    """Segments of packed lines bucketed in a grid of square cells ``cell`` metres wide, from
    ``(x0, y0)``, ``nx`` × ``ny`` cells: cell ``c = j * nx + i`` holds the segments
    ``cell_seg[cell_ptr[c]:cell_ptr[c + 1]]`` (a segment is its first coordinate row) whose
    bounding box meets it."""

    xy: NDArray[np.float64]
    ptr: NDArray[np.int64]
    x0: float
    y0: float
    cell: float
    nx: int
    ny: int
    cell_ptr: NDArray[np.int64]
    cell_seg: NDArray[np.int32]

    def nbytes_total(self) -> int:
        """Bytes of the index's own arrays (the coordinates belong to the network)."""
        return int(self.cell_ptr.nbytes + self.cell_seg.nbytes)

    @classmethod
    def build(cls, xy: NDArray[np.float64], ptr: NDArray[np.int64]) -> SegmentIndex:
        xy = np.ascontiguousarray(xy, dtype=np.float64)
        ptr = np.ascontiguousarray(ptr, dtype=np.int64)
        seg, (x0, y0, x1, y1), total_len = _segments(xy, ptr)
        n_seg = max(len(seg), 1)
        w, h = x1 - x0, y1 - y0
        mean_len = total_len / len(seg) if len(seg) else 1.0
        cell = max(mean_len, np.sqrt(max(w, 1.0) * max(h, 1.0) / n_seg), 1e-3)
        while (int(w / cell) + 1) * (int(h / cell) + 1) > 4 * n_seg + 16:
            cell *= 2
        nx, ny = int(w / cell) + 1, int(h / cell) + 1
        cell_ptr, cell_seg = _build(xy, seg, x0, y0, cell, nx, ny)
        return cls(xy, ptr, x0, y0, cell, nx, ny, cell_ptr, cell_seg)

    def nearest(
        self, x: NDArray[np.float64], y: NDArray[np.float64], max_m: float
    ) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
        """``(edge, distance_m, pos_m)`` of each point's nearest line within ``max_m`` metres
        (``-1, inf, 0`` where none): the distance to it and the metres along it to the point's
        projection (GEOS ``line_locate_point``). Many points are searched in the order of their
        cells (the results put back in the caller's order), so that neighbours in the search are
        neighbours in memory."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        y = np.ascontiguousarray(y, dtype=np.float64)
        order = None
        if len(x) > 10_000:
            with np.errstate(invalid="ignore"):
                ci = np.nan_to_num(np.clip((x - self.x0) / self.cell, -1, self.nx), nan=-1).astype(np.int64)
                cj = np.nan_to_num(np.clip((y - self.y0) / self.cell, -1, self.ny), nan=-1).astype(np.int64)
            order = np.argsort(cj * (self.nx + 2) + ci, kind="stable")
            x, y = x[order], y[order]
        args = (self.xy, self.ptr, self.cell_ptr, self.cell_seg, self.x0, self.y0, self.cell, self.nx, self.ny)
        edge, dist, pos = _nearest(*args, x, y, float(max_m))
        if order is None:
            return edge, dist, pos
        back = np.empty_like(order)
        back[order] = np.arange(len(order))
        return edge[back], dist[back], pos[back]
